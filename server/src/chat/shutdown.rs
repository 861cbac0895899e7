//! Stopping without acking what cannot be delivered. At shutdown the gate closes first: posts
//! in flight finish (stored and broadcast), later ones are refused with 1012, and only then are
//! sessions told to stop. Each member drains its feed before its 1012 close, so every message
//! that was acked has reached every member still connected.

use std::future::Future;
use tokio::sync::RwLock;

/// Lets posts through until [`PostGate::close`].
#[derive(Debug, Default)]
pub struct PostGate {
    closed: RwLock<bool>,
}

impl PostGate {
    /// Runs `post` (store and broadcast) unless the gate is closed; `None` when refused.
    pub async fn pass<F: Future>(&self, post: F) -> Option<F::Output> {
        // The read guard is held across the post, so `close` waits for posts in flight.
        let closed = self.closed.read().await;
        if *closed {
            return None;
        }
        Some(post.await)
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
        assert_eq!(gate.pass(async { 1 }).await, Some(1));
        gate.close().await;
        assert_eq!(gate.pass(async { 2 }).await, None);
    }
}
