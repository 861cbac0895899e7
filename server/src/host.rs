//! DNS rebinding guard: every request's `Host` must name this server. A page on
//! `evil.example` whose name is re-pointed at this machine sends `Host: evil.example` (and a
//! matching `Origin`, so the origin check alone passes); it is refused here with 421.
//!
//! Accepted: the names given with `--public-host` (`name` for any port, `name:port` for one),
//! `localhost`, and IP literals — an address cannot be re-pointed, so it cannot be rebound.
//! A request without `Host` (HTTP/1.0 tools; browsers always send it) is let through.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The names this server answers to.
#[derive(Debug, Clone, Default)]
pub struct PublicHosts {
    names: Vec<(String, Option<u16>)>,
}

impl PublicHosts {
    /// From `--public-host` values (`name` or `name:port`).
    pub fn new(hosts: &[String]) -> Self {
        Self {
            names: hosts.iter().map(|host| split(host)).collect(),
        }
    }

    /// Whether a `Host` header value names this server.
    pub fn allows(&self, host: &str) -> bool {
        let (name, port) = split(host);
        if name.parse::<IpAddr>().is_ok() || name == "localhost" {
            return true;
        }
        self.names.iter().any(|(allowed, allowed_port)| {
            *allowed == name && allowed_port.is_none_or(|p| Some(p) == port)
        })
    }
}

/// `Host` value → (lower-case name without brackets, port).
fn split(host: &str) -> (String, Option<u16>) {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        // A bare IPv6 address has colons but no brackets and no port.
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => {
            (name.to_owned(), port.parse().ok())
        }
        _ => (host.clone(), None),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    (name.trim_end_matches('.').to_owned(), port)
}

/// Middleware: 421 for a request whose `Host` is not one of ours.
pub async fn check(
    State(hosts): State<Arc<PublicHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned());
    match host {
        Some(host) if !hosts.allows(&host) => {
            tracing::warn!(%host, "refused: unknown Host (DNS rebinding?)");
            (
                StatusCode::MISDIRECTED_REQUEST,
                "this server does not answer to that host name; start it with --public-host NAME",
            )
                .into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_public_names_pass() {
        let hosts = PublicHosts::new(&["chat.example.com".into(), "other.example:8443".into()]);
        for ok in [
            "127.0.0.1:8080",
            "[::1]:9000",
            "::1",
            "10.0.0.7",
            "localhost:8080",
            "LOCALHOST",
            "chat.example.com",
            "Chat.Example.com.:443",
            "other.example:8443",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "other.example:80",
            "",
            "\u{fffd}",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }
}
