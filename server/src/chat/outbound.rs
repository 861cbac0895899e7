//! One member's outbound queue, bounded by bytes: what the room has broadcast that the member
//! has not been sent yet, plus the frame being written. A member over the bound (one that does
//! not read, or reads too slowly) is closed with 1008 instead of making the server hold more
//! for it; the frame being written is also taken from the process's memory budget (1013 when
//! it has not got it). A member that takes nothing at all (in a room too quiet for a backlog)
//! is cut off by the connection's write deadline ([`crate::metered`]), which ends the send here.

use super::hub::{Feed, Live};
use crate::budget::{Held, MemoryBudget};
use axum::extract::ws::{Message, WebSocket};
use std::sync::Arc;
use std::time::Duration;

/// How often a send that is waiting on the network checks the member's backlog.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// How a slow member's close reason begins.
pub const TOO_SLOW: &str = "too slow";

/// How long a slow member's close frame may take to be written: it is behind what the
/// member has still to read (the server holds nothing more for it meanwhile).
pub const SLOW_CLOSE_SEND: Duration = Duration::from_secs(10);

/// Why a member's queue was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// More than the bound is waiting for the member.
    TooSlow {
        /// Bytes waiting.
        unsent: u64,
        /// The bound.
        bound: u64,
    },
    /// The process's memory budget has not got the frame.
    Budget,
}

impl Overflow {
    /// The close code and reason.
    pub fn close(&self) -> (u16, String) {
        match self {
            Overflow::TooSlow { unsent, bound } => (
                1008,
                format!(
                    "{TOO_SLOW}: {unsent} bytes waiting to be sent to you, over the bound of {bound}"
                ),
            ),
            Overflow::Budget => (
                1013,
                "server busy: its memory budget is spent; try again later".into(),
            ),
        }
    }
}

/// A member's outbound queue (see the module doc).
pub struct Outbound {
    feed: Option<Feed>,
    /// The feed's byte count at the last item this member received.
    consumed: u64,
    bound: u64,
    held: Held,
}

impl Outbound {
    /// A queue bounded at `bound` bytes; the frame being written is taken from `budget`.
    pub fn new(budget: &Arc<MemoryBudget>, bound: usize) -> Self {
        Self {
            feed: None,
            consumed: 0,
            bound: bound as u64,
            held: Held::new(budget),
        }
    }

    /// The member joined: its feed, and the feed's byte count when it subscribed.
    pub fn joined(&mut self, feed: Feed, subscribed_at: u64) {
        self.feed = Some(feed);
        self.consumed = subscribed_at;
    }

    /// The member's session took `live` off the feed.
    pub fn received(&mut self, live: &Live) {
        self.consumed = self.consumed.max(live.end());
    }

    /// Bytes the room broadcast that the member has not taken off the feed.
    fn backlog(&self) -> u64 {
        self.feed
            .as_ref()
            .map_or(0, |feed| feed.published().saturating_sub(self.consumed))
    }

    fn over(&self, frame: u64) -> Result<(), Overflow> {
        let unsent = self.backlog() + frame;
        if unsent > self.bound {
            Err(Overflow::TooSlow {
                unsent,
                bound: self.bound,
            })
        } else {
            Ok(())
        }
    }

    /// Sends `message`, giving up when the member's queue goes over the bound while it waits.
    /// `Err(None)`: the connection is gone (or cut off by its write deadline).
    pub async fn send(
        &mut self,
        socket: &mut WebSocket,
        message: Message,
    ) -> Result<(), Option<Overflow>> {
        let size = match &message {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) => bytes.len(),
            _ => 0,
        };
        // The frame, and the WebSocket library's copy of it while it is written.
        if !self.held.set(size.saturating_mul(2)) {
            return Err(Some(Overflow::Budget));
        }
        let frame = size as u64;
        let sending = socket.send(message);
        tokio::pin!(sending);
        let mut checks = tokio::time::interval(CHECK_EVERY);
        checks.reset();
        let sent = loop {
            tokio::select! {
                sent = &mut sending => break sent.map_err(|_| None),
                _ = checks.tick() => {
                    if let Err(overflow) = self.over(frame) {
                        break Err(Some(overflow));
                    }
                }
            }
        };
        // Given back on every way out: a member being closed holds none of the budget.
        self.held.set(0);
        sent
    }
}
