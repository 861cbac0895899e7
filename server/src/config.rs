//! Command-line flags and environment variables of the server.

use crate::chat::limits::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the server can be told at start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`--addr`, `HEARTLINE_ADDR`), default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// Folder of the trunk-built app (`--dist`, `HEARTLINE_DIST`), default `dist`.
    pub dist: PathBuf,
    /// Enables the fault-injection endpoints under `/test/` (`--test-mode`). Never on by default.
    pub test_mode: bool,
    /// Origins allowed besides the server's own (`--allow-origin`, repeatable, or
    /// `HEARTLINE_ALLOWED_ORIGINS` comma-separated; `*` for any). Default: same origin only.
    pub allowed_origins: Vec<String>,
    /// Frame sizes, connections, flood guard, history size.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dist: PathBuf::from("dist"),
            test_mode: false,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl ServerConfig {
    /// Help text printed on a bad flag.
    pub const USAGE: &'static str =
        "usage: heartline-server [--addr HOST:PORT] [--dist DIR] [--test-mode]
  --addr       listen address (env HEARTLINE_ADDR, default 127.0.0.1:8080)
  --dist       folder of the built app (env HEARTLINE_DIST, default dist)
  --test-mode  enable the fault-injection endpoints under /test/ (tests only)
  --allow-origin ORIGIN   also accept chat connections from ORIGIN (repeatable; * for any)
                          (env HEARTLINE_ALLOWED_ORIGINS, comma-separated; default same origin)
  --history N             messages kept per room (env HEARTLINE_HISTORY, default 1000)
  --max-text-bytes N      largest text frame (default 65536)
  --max-binary-bytes N    largest binary frame (default 5242880)
  --max-connections N     most chat connections at once (default 10000)
  --flood-burst N         frames allowed at once per connection (default 20)
  --flood-per-second N    frames per second refilled (default 10)
  --liveness-timeout-ms N close a connection silent for this long, pings unanswered
                          (env HEARTLINE_LIVENESS_TIMEOUT_MS, default 45000)
  --test-announce-max-text-bytes N   (with --test-mode) announce this text limit in welcome
                          instead of the real one, to test how clients take a refusal";

    /// Reads the environment, then the flags (flags win).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut config = Self::default();
        if let Ok(addr) = std::env::var("HEARTLINE_ADDR") {
            config.addr = parse_addr(&addr)?;
        }
        if let Ok(dist) = std::env::var("HEARTLINE_DIST") {
            config.dist = PathBuf::from(dist);
        }
        if let Ok(origins) = std::env::var("HEARTLINE_ALLOWED_ORIGINS") {
            config.allowed_origins = origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
        }
        if let Ok(history) = std::env::var("HEARTLINE_HISTORY") {
            config.limits.history = number("HEARTLINE_HISTORY", &history)?;
        }
        if let Ok(ms) = std::env::var("HEARTLINE_LIVENESS_TIMEOUT_MS") {
            config.limits.liveness_timeout_ms = number("HEARTLINE_LIVENESS_TIMEOUT_MS", &ms)?;
        }
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--addr" => config.addr = parse_addr(&value(&flag, args.next())?)?,
                "--dist" => config.dist = PathBuf::from(value(&flag, args.next())?),
                "--test-mode" => config.test_mode = true,
                "--allow-origin" => config.allowed_origins.push(value(&flag, args.next())?),
                "--history" => config.limits.history = number(&flag, &value(&flag, args.next())?)?,
                "--max-text-bytes" => {
                    config.limits.max_text_bytes = number(&flag, &value(&flag, args.next())?)?
                }
                "--max-binary-bytes" => {
                    config.limits.max_binary_bytes = number(&flag, &value(&flag, args.next())?)?
                }
                "--max-connections" => {
                    config.limits.max_connections = number(&flag, &value(&flag, args.next())?)?
                }
                "--flood-burst" => {
                    config.limits.burst = number(&flag, &value(&flag, args.next())?)?
                }
                "--flood-per-second" => {
                    config.limits.per_second = number(&flag, &value(&flag, args.next())?)?
                }
                "--liveness-timeout-ms" => {
                    config.limits.liveness_timeout_ms = number(&flag, &value(&flag, args.next())?)?
                }
                "--test-announce-max-text-bytes" => {
                    config.limits.announce_max_text_bytes =
                        Some(number(&flag, &value(&flag, args.next())?)?)
                }
                "-h" | "--help" => return Err("help requested".into()),
                other => return Err(format!("unknown flag `{other}`")),
            }
        }
        if config.limits.announce_max_text_bytes.is_some() && !config.test_mode {
            return Err("`--test-announce-max-text-bytes` needs `--test-mode`".into());
        }
        Ok(config)
    }
}

fn value(flag: &str, value: Option<String>) -> Result<String, String> {
    value.ok_or_else(|| format!("`{flag}` needs a value"))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{flag}` needs a whole number, not `{text}`"))
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address like 127.0.0.1:8080"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_override_defaults() {
        let config =
            ServerConfig::from_args(args(&["--addr", "127.0.0.1:9999", "--test-mode"])).unwrap();
        assert_eq!(config.addr.port(), 9999);
        assert!(config.test_mode);
    }

    #[test]
    fn bad_flags_are_explained() {
        let error = ServerConfig::from_args(args(&["--addr", "nowhere"])).unwrap_err();
        assert!(error.contains("nowhere"), "{error}");
        let error = ServerConfig::from_args(args(&["--bogus"])).unwrap_err();
        assert!(error.contains("--bogus"), "{error}");
    }
}
