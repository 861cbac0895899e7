//! Command-line flags and environment variables of the server (clap; flags win over env).

use crate::chat::limits::Limits;
use crate::chat::store::{GroupCommit, Retention};
use clap::Parser;
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
    /// Host names the server answers to besides IP addresses and `localhost` (`--public-host`,
    /// repeatable, `name` or `name:port`): any other `Host` is refused (DNS rebinding).
    pub public_hosts: Vec<String>,
    /// Frame sizes, connections, flood guard, history size.
    pub limits: Limits,
    /// Where and how rooms' messages are kept.
    pub store: StoreConfig,
}

/// Which store keeps the rooms' messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite database under the data dir: history survives restarts and crashes.
    Sqlite,
    /// Memory only: history is lost at exit (tests and benchmarks).
    Memory,
    /// A Redis database (`StoreConfig::redis_url`) shared by several instances: rooms, members
    /// and client ids are the same on all of them.
    Redis,
}

/// What `--store` names: a kind, with the URL for Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoreChoice(StoreKind, Option<String>);

fn parse_store(text: &str) -> Result<StoreChoice, String> {
    match text {
        "sqlite" => Ok(StoreChoice(StoreKind::Sqlite, None)),
        "memory" => Ok(StoreChoice(StoreKind::Memory, None)),
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(StoreChoice(StoreKind::Redis, Some(url.to_owned())))
        }
        other => Err(format!(
            "`{other}` is not a store: use sqlite, memory or redis://HOST:PORT/DB"
        )),
    }
}

/// The store's settings (the per-room message count is `Limits::history`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `--store`, default SQLite (Redis when only `HEARTLINE_REDIS_URL` is set).
    pub kind: StoreKind,
    /// `--store redis://HOST:PORT/DB` or `HEARTLINE_REDIS_URL`: the Redis database.
    pub redis_url: Option<String>,
    /// `--data-dir`, `HEARTLINE_DATA_DIR`, default `data` (created if missing).
    pub data_dir: PathBuf,
    /// `--retention-secs`: messages older than this are dropped (default: kept by count and
    /// bytes only).
    pub max_age_secs: Option<u64>,
    /// `--dedup-window-secs`: how long a resend is recognised after its message was stored.
    pub dedup_window_secs: u64,
    /// `--max-stored-mib` in bytes: about the most the store keeps of messages and pictures in
    /// all rooms (see [`Retention::max_bytes`]).
    pub max_stored_bytes: u64,
    /// `--commit-window-ms`, `--commit-batch`: group commit.
    pub commit: GroupCommit,
}

impl StoreConfig {
    /// The retention rules, with the per-room count from the limits.
    pub fn retention(&self, limits: &Limits) -> Retention {
        Retention {
            messages: limits.history,
            max_age_ms: self.max_age_secs.map(|secs| secs.saturating_mul(1000)),
            dedup_window_ms: self.dedup_window_secs.saturating_mul(1000),
            max_bytes: self.max_stored_bytes,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            redis_url: None,
            data_dir: PathBuf::from("data"),
            max_age_secs: None,
            dedup_window_secs: Retention::default().dedup_window_ms / 1000,
            max_stored_bytes: Retention::default().max_bytes,
            commit: GroupCommit::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dist: PathBuf::from("dist"),
            test_mode: false,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            public_hosts: Vec::new(),
            store: StoreConfig::default(),
        }
    }
}

/// The flags as clap reads them; turned into a [`ServerConfig`].
#[derive(Debug, Parser)]
#[command(
    name = "heartline-server",
    version,
    about = "The Heartline chat server: serves the app, the chat on /ws and /echo."
)]
struct Flags {
    /// listen address
    #[arg(long, env = "HEARTLINE_ADDR", value_name = "HOST:PORT", default_value = "127.0.0.1:8080",
          value_parser = parse_addr)]
    addr: SocketAddr,
    /// folder of the built app
    #[arg(
        long,
        env = "HEARTLINE_DIST",
        value_name = "DIR",
        default_value = "dist"
    )]
    dist: PathBuf,
    /// enable the fault-injection endpoints under /test/ (tests only)
    #[arg(long)]
    test_mode: bool,
    /// also accept chat connections from ORIGIN (repeatable; * for any; default same origin)
    #[arg(
        long = "allow-origin",
        env = "HEARTLINE_ALLOWED_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// a host name this server answers to (repeatable; NAME or NAME:PORT); IP addresses and
    /// localhost always work, other names get 421 (against DNS rebinding)
    #[arg(long = "public-host", value_name = "NAME")]
    public_hosts: Vec<String>,
    /// most messages kept per room (fewer once --max-stored-mib is spent)
    #[arg(long, env = "HEARTLINE_HISTORY", value_name = "N", default_value_t = Limits::default().history)]
    history: usize,
    /// largest text frame
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_text_bytes)]
    max_text_bytes: usize,
    /// largest binary frame
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_binary_bytes)]
    max_binary_bytes: usize,
    /// most chat connections at once
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// frames allowed at once per connection
    #[arg(long, value_name = "N", default_value_t = Limits::default().burst)]
    flood_burst: u32,
    /// frames per second refilled
    #[arg(long, value_name = "N", default_value_t = Limits::default().per_second)]
    flood_per_second: u32,
    /// an IP address may send this many clients' worth of frames (0: no per-address budget)
    #[arg(long, value_name = "N", default_value_t = Limits::default().ip_share)]
    flood_ip_share: u32,
    /// close a connection silent for this long (pings unanswered), or that takes no frame for
    /// this long
    #[arg(long, env = "HEARTLINE_LIVENESS_TIMEOUT_MS", value_name = "N",
          default_value_t = Limits::default().liveness_timeout_ms)]
    liveness_timeout_ms: u64,
    /// close a connection whose message is begun and not complete after this long
    #[arg(long, value_name = "MS", default_value_t = Limits::default().frame_timeout_ms)]
    frame_timeout_ms: u64,
    /// most messages in a history page (the welcome's, or one a client asks for)
    #[arg(long, value_name = "N", default_value_t = Limits::default().history_page_messages)]
    history_page_messages: usize,
    /// about the most bytes of a history page (at least one message is sent)
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().history_page_bytes >> 10)]
    history_page_kib: usize,
    /// close a member with 1008 once this many KiB wait to be sent to it (it reads too slowly);
    /// at least --history-page-kib
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().max_unsent_bytes >> 10)]
    max_unsent_kib: usize,
    /// what clients may make the server hold in all (buffered input, outbound queues, history
    /// pages); past it new work is refused with 1013; at least twice --max-binary-bytes
    #[arg(long, env = "HEARTLINE_MEMORY_BUDGET_MB", value_name = "MIB",
          default_value_t = Limits::default().memory_budget_bytes >> 20)]
    memory_budget_mb: usize,
    /// (with --test-mode) announce this text limit in welcome instead of the real one, to test
    /// how clients take a refusal
    #[arg(long, value_name = "N", requires = "test_mode")]
    test_announce_max_text_bytes: Option<usize>,
    /// where messages are kept: sqlite (durable, under --data-dir), memory (lost at exit), or
    /// redis://HOST:PORT/DB (shared by every instance on that database; default sqlite, or
    /// HEARTLINE_REDIS_URL when set)
    #[arg(long, env = "HEARTLINE_STORE", value_name = "sqlite|memory|redis://HOST:PORT/DB",
          value_parser = parse_store)]
    store: Option<StoreChoice>,
    /// the Redis database when --store is not given (a redis:// URL)
    #[arg(long, env = "HEARTLINE_REDIS_URL", value_name = "URL", hide = true)]
    redis_url: Option<String>,
    /// folder of the SQLite database (heartline.db) and its lock; created if missing
    #[arg(
        long,
        env = "HEARTLINE_DATA_DIR",
        value_name = "DIR",
        default_value = "data"
    )]
    data_dir: PathBuf,
    /// also drop messages older than this many seconds (default: kept by --history and
    /// --max-stored-mib only)
    #[arg(long, env = "HEARTLINE_RETENTION_SECS", value_name = "SECS")]
    retention_secs: Option<u64>,
    /// how long a resent message is recognised as already stored, even after it left the history
    #[arg(long, value_name = "SECS", default_value_t = StoreConfig::default().dedup_window_secs)]
    dedup_window_secs: u64,
    /// about the most MiB of messages and pictures kept in all rooms together; past it the
    /// oldest messages leave first, whatever their room; at least twice --max-binary-bytes
    #[arg(long, env = "HEARTLINE_MAX_STORED_MIB", value_name = "MIB",
          default_value_t = StoreConfig::default().max_stored_bytes >> 20)]
    max_stored_mib: u64,
    /// group commit: wait this long for more messages before a commit (0: take what is waiting)
    #[arg(long, value_name = "MS", default_value_t = GroupCommit::default().window_ms)]
    commit_window_ms: u64,
    /// group commit: most messages in one transaction
    #[arg(long, value_name = "N", default_value_t = GroupCommit::default().max_batch,
          value_parser = clap::value_parser!(usize))]
    commit_batch: usize,
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address like 127.0.0.1:8080"))
}

impl ServerConfig {
    /// Reads the environment and the flags (without the program name; flags win). The error
    /// prints as clap's usage message; `--help` and `--version` come back as errors too, to
    /// print with [`clap::Error::exit`].
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        let flags =
            Flags::try_parse_from(std::iter::once("heartline-server".to_owned()).chain(args))?;
        let StoreChoice(kind, redis_url) = match (flags.store, flags.redis_url) {
            (Some(choice), _) => choice,
            (None, Some(url)) => parse_store(&url).map_err(|error| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("HEARTLINE_REDIS_URL: {error}\n"),
                )
            })?,
            (None, None) => StoreChoice(StoreKind::Sqlite, None),
        };
        // An upload at the announced limit is held whole while it is read, and the budget holds
        // other work meanwhile (outbound frames, pages, pictures served): under twice its size,
        // such an upload could be refused (1013) after being announced as allowed.
        let budget = flags.memory_budget_mb.saturating_mul(1 << 20);
        if budget < flags.max_binary_bytes.saturating_mul(2) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--memory-budget-mb {} is less than twice --max-binary-bytes {}: an upload \
                     the server allows could be refused while other work is held\n",
                    flags.memory_budget_mb, flags.max_binary_bytes
                ),
            ));
        }
        // A welcome carries a page of history: a bound on what waits for a member under a page
        // would close every joiner whose link is slower than the page is long (1008, and again
        // at each reconnect).
        if flags.max_unsent_kib < flags.history_page_kib {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--max-unsent-kib {} is less than --history-page-kib {}: a member could be \
                     closed as too slow for its welcome alone\n",
                    flags.max_unsent_kib, flags.history_page_kib
                ),
            ));
        }
        // Under that, the newest picture could push out every other message, itself included.
        let max_stored = flags.max_stored_mib.saturating_mul(1 << 20);
        if max_stored < (flags.max_binary_bytes as u64).saturating_mul(2) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--max-stored-mib {} is less than twice --max-binary-bytes {}: one picture \
                     could push the whole history out\n",
                    flags.max_stored_mib, flags.max_binary_bytes
                ),
            ));
        }
        Ok(Self {
            addr: flags.addr,
            dist: flags.dist,
            test_mode: flags.test_mode,
            allowed_origins: flags
                .allowed_origins
                .into_iter()
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            public_hosts: flags.public_hosts,
            limits: Limits {
                max_text_bytes: flags.max_text_bytes,
                max_binary_bytes: flags.max_binary_bytes,
                max_connections: flags.max_connections,
                burst: flags.flood_burst,
                per_second: flags.flood_per_second,
                ip_share: flags.flood_ip_share,
                history: flags.history,
                liveness_timeout_ms: flags.liveness_timeout_ms,
                frame_timeout_ms: flags.frame_timeout_ms,
                max_unsent_bytes: flags.max_unsent_kib.saturating_mul(1 << 10),
                history_page_messages: flags.history_page_messages.max(1),
                history_page_bytes: flags.history_page_kib.saturating_mul(1 << 10),
                memory_budget_bytes: budget,
                announce_max_text_bytes: flags.test_announce_max_text_bytes,
                ..Limits::default()
            },
            store: StoreConfig {
                kind,
                redis_url,
                data_dir: flags.data_dir,
                max_age_secs: flags.retention_secs,
                dedup_window_secs: flags.dedup_window_secs,
                max_stored_bytes: max_stored,
                commit: GroupCommit {
                    max_batch: flags.commit_batch.max(1),
                    window_ms: flags.commit_window_ms,
                },
            },
        })
    }
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
        assert_eq!(config.store.kind, StoreKind::Sqlite, "durable by default");
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn every_flag_is_read() {
        let config = ServerConfig::from_args(args(&[
            "--dist",
            "app",
            "--allow-origin",
            "http://a.example",
            "--allow-origin",
            "*",
            "--history",
            "7",
            "--max-text-bytes",
            "100",
            "--max-binary-bytes",
            "200",
            "--max-connections",
            "3",
            "--flood-burst",
            "4",
            "--flood-per-second",
            "5",
            "--store",
            "memory",
            "--data-dir",
            "/tmp/x",
            "--retention-secs",
            "60",
            "--dedup-window-secs",
            "9",
            "--commit-window-ms",
            "2",
            "--commit-batch",
            "64",
            "--liveness-timeout-ms",
            "1500",
        ]))
        .unwrap();
        assert_eq!(config.dist, PathBuf::from("app"));
        assert_eq!(config.allowed_origins, ["http://a.example", "*"]);
        let limits = &config.limits;
        assert_eq!(
            (
                limits.history,
                limits.max_text_bytes,
                limits.max_binary_bytes,
                limits.max_connections,
                limits.burst,
                limits.per_second
            ),
            (7, 100, 200, 3, 4, 5)
        );
        assert_eq!(limits.liveness_timeout_ms, 1500);
        assert_eq!(config.store.kind, StoreKind::Memory);
        assert_eq!(config.store.data_dir, PathBuf::from("/tmp/x"));
        let retention = config.store.retention(limits);
        assert_eq!(
            (
                retention.messages,
                retention.max_age_ms,
                retention.dedup_window_ms
            ),
            (7, Some(60_000), 9_000)
        );
        assert_eq!(
            config.store.commit,
            GroupCommit {
                max_batch: 64,
                window_ms: 2
            }
        );
    }

    #[test]
    fn bad_flags_are_explained() {
        let error = ServerConfig::from_args(args(&["--addr", "nowhere"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("nowhere"), "{error}");
        let error = ServerConfig::from_args(args(&["--bogus"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--bogus"), "{error}");
        let error = ServerConfig::from_args(args(&["--test-announce-max-text-bytes", "9"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--test-mode"), "{error}");
        let error = ServerConfig::from_args(args(&["--memory-budget-mb", "4"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--max-binary-bytes 5242880"), "{error}");
        assert!(ServerConfig::from_args(args(&["--memory-budget-mb", "9"])).is_err());
        assert!(ServerConfig::from_args(args(&["--memory-budget-mb", "10"])).is_ok());
        let error = ServerConfig::from_args(args(&["--max-unsent-kib", "1023"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--history-page-kib 1024"), "{error}");
        assert!(ServerConfig::from_args(args(&["--max-unsent-kib", "1024"])).is_ok());
        let error = ServerConfig::from_args(args(&["--max-stored-mib", "9"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--max-binary-bytes 5242880"), "{error}");
        let config = ServerConfig::from_args(args(&["--max-stored-mib", "10"])).unwrap();
        assert_eq!(config.store.max_stored_bytes, 10 << 20);
        let error = ServerConfig::from_args(args(&["--store", "paper"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sqlite") && error.contains("memory") && error.contains("redis://"),
            "{error}"
        );
    }

    #[test]
    fn a_redis_url_selects_the_shared_store() {
        let config =
            ServerConfig::from_args(args(&["--store", "redis://127.0.0.1:6379/2"])).unwrap();
        assert_eq!(config.store.kind, StoreKind::Redis);
        assert_eq!(
            config.store.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/2")
        );
        let config = ServerConfig::from_args(args(&["--redis-url", "redis://h:1/0"])).unwrap();
        assert_eq!(
            config.store.kind,
            StoreKind::Redis,
            "the URL alone is enough"
        );
        let config =
            ServerConfig::from_args(args(&["--store", "memory", "--redis-url", "redis://h:1/0"]))
                .unwrap();
        assert_eq!(config.store.kind, StoreKind::Memory, "--store wins");
        assert!(ServerConfig::from_args(args(&["--redis-url", "http://h"])).is_err());
    }
}
