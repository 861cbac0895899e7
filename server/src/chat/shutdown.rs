//! Stopping without acking what cannot be delivered. At shutdown the gate closes first: posts
//! in flight finish (stored and broadcast), later ones are refused with 1012, and only then are
//! sessions told to stop. Each member drains its feed before its 1012 close, so every message
//! that was acked has reached every member still connected.

use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};

/// Lets posts through until [`PostGate::close`].
#[derive(Debug, Default)]
pub struct PostGate {
    closed: Arc<RwLock<bool>>,
}

impl PostGate {
    /// A pass for one post, at once: `None` once the gate is closed or closing. Hold the pass
    /// until the post is stored and broadcast, so [`PostGate::close`] waits for it. Never waits,
    /// so a session can hold passes for the posts it has in flight and still ask for another.
    pub fn try_enter(&self) -> Option<OwnedRwLockReadGuard<bool>> {
        self.closed
            .clone()
            .try_read_owned()
            .ok()
            .filter(|closed| !**closed)
    }

    /// Refuses every later post; returns once the posts in flight are done.
    pub async fn close(&self) {
        *self.closed.write().await = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_gate_refuses() {
        let gate = PostGate::default();
        drop(gate.try_enter().expect("open"));
        gate.close().await;
        assert!(gate.try_enter().is_none());
    }

    #[tokio::test]
    async fn close_waits_for_passes_held_and_later_ones_are_refused() {
        let gate = Arc::new(PostGate::default());
        let pass = gate.try_enter().expect("open");
        let second = gate.try_enter().expect("several passes at once");
        let closing = tokio::spawn({
            let gate = gate.clone();
            async move { gate.close().await }
        });
        tokio::task::yield_now().await;
        assert!(!closing.is_finished(), "close waits for the passes held");
        assert!(gate.try_enter().is_none(), "no new pass while closing");
        drop((pass, second));
        closing.await.unwrap();
        assert!(gate.try_enter().is_none());
    }
}
