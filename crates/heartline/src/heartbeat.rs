//! Heartbeat settings and the bookkeeping of one outstanding ping.

use std::collections::VecDeque;

/// Pings whose send time is kept for their replies; past it the oldest's time is let go (a
/// server that never replies must not grow the list), and its reply, if it comes, is not timed.
const TIMED_PINGS: usize = 4;

/// Heartbeat settings: send `message` after `interval_ms` without inbound traffic; if no frame
/// arrives within `pong_timeout_ms` of the ping, the connection is treated as lost. A frame equal
/// to `reply` is swallowed (not delivered) and measured as the round-trip time.
///
/// ```
/// use heartline::Heartbeat;
/// let heartbeat = Heartbeat { interval_ms: 5_000, ..Heartbeat::default() };
/// assert_eq!(heartbeat.message, "ping");
/// assert_eq!(heartbeat.reply.as_deref(), Some("pong"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Text sent as the ping. Default `"ping"`.
    pub message: String,
    /// Quiet time before a ping, in ms. Default 20 000.
    pub interval_ms: u64,
    /// How long to wait for any frame after a ping, in ms. Default 10 000.
    pub pong_timeout_ms: u64,
    /// The server's reply text, swallowed and timed. Default `Some("pong")`.
    pub reply: Option<String>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            message: "ping".into(),
            interval_ms: 20_000,
            pong_timeout_ms: 10_000,
            reply: Some("pong".into()),
        }
    }
}

/// The state of the heartbeat on one open connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct PingClock {
    /// When each ping still unreplied went out, oldest first: replies come in order, so the
    /// round-trip time is measured from a ping to its own reply, whatever arrives in between
    /// (another frame may prove the link alive and let a probe go before the first reply).
    /// `None` for a ping whose reply cannot be timed (it went before the page slept).
    sent_at: VecDeque<Option<u64>>,
    /// Pings out before those in `sent_at`, whose times were let go to keep it bounded: their
    /// replies come first, and are not timed.
    untimed_ahead: u64,
    /// A ping is waiting for any frame (proof of life).
    outstanding: bool,
    /// This ping was sent because a timer fired late; a second late timeout writes off.
    probe: bool,
    /// The socket's `bufferedAmount` when the ping went out (or at the last extension).
    buffered_mark: u64,
    handed_mark: u64,
}

impl PingClock {
    pub(crate) fn sent(&mut self, now_ms: u64, buffered: u64, handed: u64) {
        if self.sent_at.len() == TIMED_PINGS {
            self.sent_at.pop_front();
            self.untimed_ahead += 1;
        }
        self.sent_at.push_back(Some(now_ms));
        self.outstanding = true;
        self.probe = false;
        self.set_buffered_mark(buffered, handed);
    }

    pub(crate) fn outstanding(&self) -> bool {
        self.outstanding
    }

    /// Any inbound frame answers the ping; returns whether one was outstanding.
    pub(crate) fn answered(&mut self) -> bool {
        self.probe = false;
        std::mem::take(&mut self.outstanding)
    }

    /// A reply arrived: the round-trip time of the oldest ping still unreplied, if any and if
    /// it can be timed.
    pub(crate) fn replied(&mut self, now_ms: u64) -> Option<u64> {
        if self.untimed_ahead > 0 {
            self.untimed_ahead -= 1;
            return None;
        }
        self.sent_at
            .pop_front()
            .flatten()
            .map(|sent| now_ms.saturating_sub(sent))
    }

    /// The page slept past the pong timeout: the pings out are no longer waited for, so a probe
    /// can go. Their replies still come first (the browser may have held one while the page
    /// slept, and its time is then when the page woke), so they are kept in line, untimed: the
    /// probe's reply is timed from the probe, and nothing from it.
    pub(crate) fn slept(&mut self) {
        self.sent_at.iter_mut().for_each(|sent| *sent = None);
        self.outstanding = false;
        self.probe = false;
    }

    pub(crate) fn probing(&self) -> bool {
        self.probe
    }

    pub(crate) fn mark_probe(&mut self) {
        self.probe = true;
    }

    /// Whether the browser sent anything since the mark: what it holds now (`buffered`) is
    /// less than what it held then plus what was handed to it since.
    pub(crate) fn drained_since(&self, buffered: u64, handed: u64) -> bool {
        let added = handed.saturating_sub(self.handed_mark);
        buffered < self.buffered_mark.saturating_add(added)
    }

    pub(crate) fn set_buffered_mark(&mut self, buffered: u64, handed: u64) {
        self.buffered_mark = buffered;
        self.handed_mark = handed;
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}
