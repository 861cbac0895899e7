//! A session's messages in flight. The session goes on reading frames while earlier messages
//! are being stored, so one client's burst shares the store's commits (group commit) instead
//! of waiting for one synced commit per message; the answers (ack, or an error naming the
//! message) still go out strictly in the order the client sent the messages, each only once
//! its message's fate is known.
//!
//! Order of storing: each message is taken into the store's line as it is read
//! ([`super::hub::Hub::post`]), so seqs follow the client's order. Each post then runs in a task
//! of its own, so it is stored and broadcast even if the session is stuck sending to a client
//! that does not read, or has ended (the room holds later seqs back until it is broadcast).
//! Order of answers: a [`FuturesOrdered`] yields outcomes in the order they were pushed. The
//! number and the bytes of messages in flight are bounded; when full, the session stops reading
//! until the oldest is answered, which pushes back on the client through TCP.

use super::store::{Appended, StoreError};
use crate::budget::{MemoryBudget, Waiting};
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Most messages one session has in flight, whatever the flood burst (the store commits up to
/// 256 per transaction by default).
pub const MAX_IN_FLIGHT: usize = 256;

/// What became of one message, in the order the client sent it.
#[derive(Debug)]
pub enum Posted {
    /// The store's answer: stored, a resend, a conflict, or a failure.
    Stored {
        /// The client's id of the message.
        client_msg_id: String,
        /// The store's outcome.
        outcome: Result<Appended, StoreError>,
    },
    /// Refused before storing (empty, a sketch that could not be encoded): an error naming it.
    Refused {
        /// The client's id of the message.
        client_msg_id: String,
        /// The error code.
        code: &'static str,
        /// The error in words.
        message: String,
    },
    /// Not stored: the server is shutting down.
    ShuttingDown,
}

type InFlight = Pin<Box<dyn Future<Output = (usize, Posted)> + Send>>;

/// Messages in flight, answered in order.
pub struct Pipeline {
    in_flight: FuturesOrdered<InFlight>,
    bytes: usize,
    /// The same bytes, counted in the process's memory budget until answered: read whole,
    /// they are in memory (and in the store's queue) until stored, and new input waits.
    waiting: Waiting,
    max_count: usize,
    max_bytes: usize,
    /// The highest seq stored as new among the outcomes handed out.
    answered_through: u64,
}

impl Pipeline {
    /// At most `max_count` messages (at least 1, at most [`MAX_IN_FLIGHT`]) and `max_bytes` of
    /// content in flight; one message is always let through, however large. What is in flight
    /// is held against `budget`.
    pub fn new(max_count: usize, max_bytes: usize, budget: &Arc<MemoryBudget>) -> Self {
        Self {
            in_flight: FuturesOrdered::new(),
            bytes: 0,
            waiting: Waiting::new(budget),
            max_count: max_count.clamp(1, MAX_IN_FLIGHT),
            max_bytes,
            answered_through: 0,
        }
    }

    /// The highest seq of a new message whose outcome [`Pipeline::next`] has handed out: the
    /// session's own copy of a later one must wait for its ack to go first.
    pub fn answered_through(&self) -> u64 {
        self.answered_through
    }

    /// Whether the session should stop reading frames until the oldest message is answered.
    pub fn is_full(&self) -> bool {
        self.in_flight.len() >= self.max_count || (self.bytes >= self.max_bytes && self.bytes > 0)
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Adds a message of `bytes` that `post` stores (and broadcasts), in a task of its own.
    /// `post` must already hold the message's place in the store's line (see the module doc).
    pub fn push(
        &mut self,
        bytes: usize,
        client_msg_id: String,
        post: impl Future<Output = Result<Appended, StoreError>> + Send + 'static,
    ) {
        self.bytes += bytes;
        self.waiting.set(self.bytes);
        let task = tokio::spawn(post);
        self.in_flight.push_back(Box::pin(async move {
            let outcome = task.await.unwrap_or_else(|error| {
                Err(StoreError(format!("the task storing it failed: {error}")))
            });
            (
                bytes,
                Posted::Stored {
                    client_msg_id,
                    outcome,
                },
            )
        }));
    }

    /// Adds an outcome known at once; it is answered after the messages before it.
    pub fn push_ready(&mut self, posted: Posted) {
        self.in_flight
            .push_back(Box::pin(std::future::ready((0, posted))));
    }

    /// The oldest message's outcome, once known (pending forever when nothing is in flight:
    /// guard a `select!` branch with [`Pipeline::is_empty`]).
    pub async fn next(&mut self) -> Posted {
        match self.in_flight.next().await {
            Some((bytes, posted)) => {
                self.bytes -= bytes;
                self.waiting.set(self.bytes);
                if let Posted::Stored {
                    outcome: Ok(Appended::New(message)),
                    ..
                } = &posted
                {
                    self.answered_through = self.answered_through.max(message.seq);
                }
                posted
            }
            None => std::future::pending().await,
        }
    }

    /// Waits for every message in flight and returns the outcomes in order.
    pub async fn settle(&mut self) -> Vec<Posted> {
        let mut outcomes = Vec::with_capacity(self.in_flight.len());
        while let Some((bytes, posted)) = self.in_flight.next().await {
            self.bytes -= bytes;
            self.waiting.set(self.bytes);
            outcomes.push(posted);
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    async fn stored(seq: u64) -> Result<Appended, StoreError> {
        Ok(Appended::Duplicate(seq))
    }

    fn id_of(posted: &Posted) -> &str {
        match posted {
            Posted::Stored { client_msg_id, .. } | Posted::Refused { client_msg_id, .. } => {
                client_msg_id
            }
            Posted::ShuttingDown => "shutdown",
        }
    }

    #[tokio::test]
    async fn outcomes_come_in_the_order_pushed_even_when_later_ones_finish_first() {
        let mut pipeline = Pipeline::new(10, 1 << 20, &MemoryBudget::new(usize::MAX));
        let (first_tx, first_rx) = oneshot::channel::<()>();
        pipeline.push(1, "a".into(), async move {
            let _ = first_rx.await;
            stored(1).await
        });
        pipeline.push(1, "b".into(), stored(2));
        pipeline.push_ready(Posted::Refused {
            client_msg_id: "c".into(),
            code: "empty_text",
            message: "empty".into(),
        });
        // "b" and "c" are done; "a" is not, so nothing may be answered yet.
        let early = tokio::time::timeout(std::time::Duration::ZERO, pipeline.next()).await;
        assert!(early.is_err(), "nothing before the first is known");
        first_tx.send(()).unwrap();
        let order: Vec<String> = vec![
            id_of(&pipeline.next().await).into(),
            id_of(&pipeline.next().await).into(),
            id_of(&pipeline.next().await).into(),
        ];
        assert_eq!(order, ["a", "b", "c"]);
        assert!(pipeline.is_empty());
    }

    #[tokio::test]
    async fn answered_through_follows_new_messages_handed_out_not_resends() {
        let new = |seq: u64| async move {
            Ok(Appended::New(heartline_protocol::ChatMessage {
                room: "r".into(),
                seq,
                from: "ada".into(),
                ts: 0,
                client_msg_id: seq.to_string(),
                body: heartline_protocol::Body::Text { text: "hi".into() },
            }))
        };
        let mut pipeline = Pipeline::new(10, 1 << 20, &MemoryBudget::new(usize::MAX));
        pipeline.push(1, "7".into(), new(7));
        pipeline.push(1, "old".into(), stored(3));
        pipeline.push(1, "8".into(), new(8));
        assert_eq!(pipeline.answered_through(), 0, "nothing handed out yet");
        pipeline.next().await;
        assert_eq!(pipeline.answered_through(), 7);
        pipeline.next().await;
        assert_eq!(
            pipeline.answered_through(),
            7,
            "a resend's old seq does not count"
        );
        pipeline.next().await;
        assert_eq!(pipeline.answered_through(), 8);
    }

    #[tokio::test]
    async fn full_by_count_or_by_bytes_but_one_always_passes() {
        let budget = MemoryBudget::new(200);
        let mut pipeline = Pipeline::new(2, 100, &budget);
        assert!(!pipeline.is_full());
        pipeline.push(500, "big".into(), stored(1));
        assert!(pipeline.is_full(), "over the bytes");
        assert_eq!(budget.waiting(), 500, "counted in the budget, past it");
        pipeline.next().await;
        assert!(!pipeline.is_full(), "bytes released once answered");
        assert_eq!(budget.waiting(), 0, "and given back");
        pipeline.push(1, "a".into(), stored(2));
        pipeline.push(1, "b".into(), stored(3));
        assert!(pipeline.is_full(), "at the count");
        assert_eq!(pipeline.settle().await.len(), 2);
        assert!(pipeline.is_empty() && !pipeline.is_full());
    }
}
