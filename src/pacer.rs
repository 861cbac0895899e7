//! Sends no faster than the server allows: a token bucket under the server's announced flood
//! guard (its burst and rate, with a margin), so a backlog after a reconnect drains at the
//! allowed pace instead of tripping the guard. Pure: time is an input.

use heartline_protocol::ServerLimits;

/// Frames of the server's burst left for the app's other frames (join, typing, heartbeat).
const BURST_MARGIN: u32 = 3;
/// Share of the server's rate used, so clock drift between the two never trips the guard.
const RATE_SHARE: f64 = 0.8;

/// A token bucket following the server's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    tokens: f64,
    burst: f64,
    per_ms: f64,
    last_ms: f64,
}

impl Pacer {
    /// A full bucket for these limits, at `now_ms`.
    ///
    /// ```
    /// use heartline_chat::pacer::Pacer;
    /// use heartline_protocol::ServerLimits;
    /// let limits = ServerLimits { max_text_bytes: 65_536, max_binary_bytes: 1 << 20, burst: 20, per_second: 10, history_page_messages: 200, history_page_bytes: 1 << 20, message_deadline_ms: 30_000 };
    /// let mut pacer = Pacer::new(&limits, 0.0);
    /// assert!((0..17).all(|_| pacer.take(0.0)));
    /// assert!(!pacer.take(0.0));
    /// ```
    pub fn new(limits: &ServerLimits, now_ms: f64) -> Self {
        let burst = f64::from(limits.burst.saturating_sub(BURST_MARGIN).max(1));
        let per_ms = (f64::from(limits.per_second) * RATE_SHARE / 1000.0).max(1e-4);
        Self {
            tokens: burst,
            burst,
            per_ms,
            last_ms: now_ms,
        }
    }

    /// Starts from what the server says this client may send at once now (its welcome's
    /// `tokens`: the client id's budget is shared with its other connections, and outlives a
    /// reload), less the margin, when that is less than a full bucket.
    ///
    /// ```
    /// use heartline_chat::pacer::Pacer;
    /// use heartline_protocol::ServerLimits;
    /// let limits = ServerLimits { max_text_bytes: 65_536, max_binary_bytes: 1 << 20, burst: 20, per_second: 10, history_page_messages: 200, history_page_bytes: 1 << 20, message_deadline_ms: 30_000 };
    /// let mut pacer = Pacer::new(&limits, 0.0).with_tokens(Some(5));
    /// assert!((0..2).all(|_| pacer.take(0.0)));
    /// assert!(!pacer.take(0.0));
    /// ```
    pub fn with_tokens(mut self, tokens: Option<u32>) -> Self {
        if let Some(tokens) = tokens {
            self.tokens = self
                .tokens
                .min(f64::from(tokens.saturating_sub(BURST_MARGIN)));
        }
        self
    }

    fn refill(&mut self, now_ms: f64) {
        // A clock that steps back refills nothing, never a negative amount.
        let elapsed = (now_ms - self.last_ms).max(0.0);
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.burst);
        self.last_ms = now_ms;
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now_ms: f64) -> bool {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Milliseconds until the next token.
    pub fn wait_ms(&mut self, now_ms: f64) -> u32 {
        self.refill(now_ms);
        ((1.0 - self.tokens).max(0.0) / self.per_ms).ceil() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, per_second: u32) -> ServerLimits {
        ServerLimits {
            max_text_bytes: 65_536,
            max_binary_bytes: 5 << 20,
            burst,
            per_second,
            history_page_messages: 200,
            history_page_bytes: 1 << 20,
            message_deadline_ms: 30_000,
        }
    }

    #[test]
    fn a_backlog_never_exceeds_the_servers_guard() {
        // Simulate the server's own bucket (burst 20, 10/s) against 200 paced sends.
        let mut pacer = Pacer::new(&limits(20, 10), 0.0);
        let (mut server_tokens, mut server_last) = (20.0_f64, 0.0_f64);
        let mut now = 0.0;
        let mut sent = 0;
        while sent < 200 {
            if pacer.take(now) {
                server_tokens = (server_tokens + (now - server_last) / 100.0).min(20.0);
                server_last = now;
                assert!(
                    server_tokens >= 1.0,
                    "the server would close at send {sent}"
                );
                server_tokens -= 1.0;
                sent += 1;
            } else {
                now += f64::from(pacer.wait_ms(now));
            }
        }
        // 17 at once, then 8 a second: about 23 s for 200.
        assert!((20_000.0..26_000.0).contains(&now), "{now}");
    }

    #[test]
    fn the_wait_is_until_the_next_token() {
        let mut pacer = Pacer::new(&limits(4, 10), 0.0);
        assert!(pacer.take(0.0));
        assert!(!pacer.take(0.0));
        assert_eq!(pacer.wait_ms(0.0), 125);
        assert!(!pacer.take(124.0));
        assert!(pacer.take(126.0));
    }

    #[test]
    fn a_client_with_part_of_its_budget_spent_elsewhere_starts_from_what_is_left() {
        // The server announced 7 of 20 left (a reload right after a burst): 4 now, the margin
        // kept, then the rate.
        let mut pacer = Pacer::new(&limits(20, 10), 0.0).with_tokens(Some(7));
        assert_eq!((0..10).filter(|_| pacer.take(0.0)).count(), 4);
        assert_eq!(pacer.wait_ms(0.0), 125);
        // Fewer than the margin left: nothing until the bucket refills.
        let mut pacer = Pacer::new(&limits(20, 10), 0.0).with_tokens(Some(2));
        assert!(!pacer.take(0.0));
        // A full budget (or a server that does not say) changes nothing.
        let mut pacer = Pacer::new(&limits(20, 10), 0.0).with_tokens(Some(20));
        assert_eq!((0..20).filter(|_| pacer.take(0.0)).count(), 17);
        assert_eq!(
            Pacer::new(&limits(20, 10), 0.0).with_tokens(None),
            Pacer::new(&limits(20, 10), 0.0)
        );
    }

    #[test]
    fn a_clock_step_back_does_not_drain_or_overfill() {
        let mut pacer = Pacer::new(&limits(4, 10), 10_000.0);
        assert!(pacer.take(10_000.0));
        assert!(!pacer.take(5_000.0));
        assert!(pacer.take(5_200.0));
    }
}
