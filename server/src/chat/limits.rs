//! Per-connection limits: frame sizes and the flood guard.

use std::time::Instant;

/// Limits of the chat endpoint (flags and env in [`crate::ServerConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest text frame, bytes (default 64 KiB). Over → close 1009.
    pub max_text_bytes: usize,
    /// Largest binary frame, bytes (default 5 MiB). Over → close 1009.
    pub max_binary_bytes: usize,
    /// Most simultaneous chat connections (default 10 000). Over → close 1013.
    pub max_connections: usize,
    /// Flood guard: burst of frames allowed at once (default 20).
    pub burst: u32,
    /// Flood guard: frames per second refilled (default 10).
    pub per_second: u32,
    /// Flood guard: an IP address may send this many clients' worth of frames (default 32;
    /// 0 turns the per-address budget off, e.g. behind a reverse proxy).
    pub ip_share: u32,
    /// Most messages kept per room (default 1 000; fewer once the store's bytes are spent).
    pub history: usize,
    /// How long a connection may take to send its HTTP request head (the WebSocket handshake
    /// included), ms (default 10 000). Over → the TCP connection is closed.
    pub header_timeout_ms: u64,
    /// How long a connection may stay without joining, ms (default 30 000). Over → close 4004.
    pub join_timeout_ms: u64,
    /// A connection that sends nothing, not even a pong to the server's pings, for this long is
    /// closed, ms (default 45 000): a half-open peer leaves presence within this time. It is
    /// also the connection's write deadline (at least 1 s): one that takes no byte of what is
    /// written to it for this long (a member whose welcome is stuck in a room too quiet for a
    /// backlog, a response nobody reads) is cut off.
    pub liveness_timeout_ms: u64,
    /// A message begun must be complete within this, ms (default 30 000). Over → close 4007
    /// (its bytes would be held meanwhile).
    pub frame_timeout_ms: u64,
    /// Most messages in a history page (the welcome's, or one asked for), default 200.
    pub history_page_messages: usize,
    /// About the most bytes of a history page's frame, default 1 MiB (one message may go
    /// over: a page holds at least one).
    pub history_page_bytes: usize,
    /// Most bytes waiting to be sent to one member (what its room broadcast that it has not
    /// taken, and the frame being written), bytes (default 4 MiB). Over → close 1008.
    pub max_unsent_bytes: usize,
    /// What clients may make the whole process hold (input being buffered, outbound queues,
    /// history pages), bytes (default 512 MiB). Over → new work refused with 1013.
    pub memory_budget_bytes: usize,
    /// Test mode only: the text limit the welcome announces instead of the real one, so a test
    /// can make the server refuse what the client was told it may send (as when a client moves
    /// to a server with smaller limits).
    pub announce_max_text_bytes: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_bytes: 64 * 1024,
            max_binary_bytes: 5 * 1024 * 1024,
            max_connections: 10_000,
            burst: 20,
            per_second: 10,
            ip_share: 32,
            history: 1_000,
            header_timeout_ms: 10_000,
            join_timeout_ms: 30_000,
            liveness_timeout_ms: 45_000,
            frame_timeout_ms: 30_000,
            max_unsent_bytes: 4 << 20,
            history_page_messages: 200,
            history_page_bytes: 1 << 20,
            memory_budget_bytes: 512 << 20,
            announce_max_text_bytes: None,
        }
    }
}

impl Limits {
    /// How much a history page may hold.
    pub fn page(&self) -> super::store::PageLimit {
        super::store::PageLimit {
            messages: self.history_page_messages.max(1),
            bytes: self.history_page_bytes,
        }
    }

    /// What a `welcome` announces.
    pub fn announced(&self) -> heartline_protocol::ServerLimits {
        heartline_protocol::ServerLimits {
            max_text_bytes: self.announce_max_text_bytes.unwrap_or(self.max_text_bytes),
            max_binary_bytes: self.max_binary_bytes,
            burst: self.burst,
            per_second: self.per_second,
            history_page_messages: self.history_page_messages,
            history_page_bytes: self.history_page_bytes,
            message_deadline_ms: self.frame_timeout_ms,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug)]
pub struct FloodGuard {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl FloodGuard {
    /// A full bucket.
    pub fn new(limits: &Limits) -> Self {
        Self {
            tokens: limits.burst as f64,
            burst: limits.burst as f64,
            per_second: limits.per_second as f64,
            last: Instant::now(),
        }
    }

    /// The bucket's level at `now`: what it held, refilled since, at most `burst`.
    fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Whether the bucket would be full at `now` (nothing to remember about this client).
    pub fn is_full(&self, now: Instant) -> bool {
        self.level(now) >= self.burst
    }

    /// Whole tokens in the bucket at `now`.
    pub fn tokens(&self, now: Instant) -> u32 {
        self.level(now) as u32
    }

    /// Takes one token; false when the client is flooding.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.tokens = self.level(now);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let limits = Limits {
            burst: 3,
            per_second: 2,
            ..Limits::default()
        };
        let mut guard = FloodGuard::new(&limits);
        let start = guard.last;
        assert!((0..3).all(|_| guard.allow(start)));
        assert!(!guard.allow(start));
        assert!(guard.allow(start + Duration::from_millis(500)));
        assert!(!guard.allow(start + Duration::from_millis(500)));
    }
}
