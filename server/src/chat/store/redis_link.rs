//! The connection to Redis that every shared part uses: redis-rs's self-reconnecting
//! `ConnectionManager`, replaced by a fresh one when a command gets no answer in time.
//!
//! The manager reconnects by itself only when the socket reports an error. A connection that
//! went silent (a NAT or firewall that forgot it, a network that drops its packets) reports
//! nothing for as long as the kernel keeps it, about 15 minutes: every command on it would time
//! out meanwhile, and every post be refused. So a timeout starts a new connection at once
//! (in the background; the command that timed out has failed), and the next command uses it.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A handle on the shared connection (cheap to clone; every clone uses the current one).
#[derive(Clone)]
pub struct Link {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    /// The connection in use, and how many times it was replaced.
    current: Mutex<(u64, ConnectionManager)>,
    replacing: AtomicBool,
}

impl Link {
    /// A link over `first`, which `client` made.
    pub fn new(client: redis::Client, first: ConnectionManager) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                current: Mutex::new((0, first)),
                replacing: AtomicBool::new(false),
            }),
        }
    }

    /// How many times the connection was replaced.
    pub fn replaced(&self) -> u64 {
        self.current().0
    }

    fn current(&self) -> (u64, ConnectionManager) {
        self.shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A command on connection `generation` failed with `error`: if Redis did not answer in
    /// time, a new connection replaces it (once, however many commands timed out on it).
    fn failed(&self, generation: u64, error: &RedisError) {
        // A timeout on a connection already replaced says nothing of the current one.
        if !error.is_timeout()
            || generation != self.replaced()
            || self.shared.replacing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            tracing::warn!("redis: no answer in time; connecting again");
            match super::redis::connect(&shared.client).await {
                Ok(fresh) => {
                    let mut current = shared
                        .current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if current.0 == generation {
                        *current = (generation + 1, fresh);
                    }
                }
                Err(error) => tracing::warn!(%error, "redis: connecting again failed"),
            }
            shared.replacing.store(false, Ordering::Release);
        });
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.current();
            let answer = conn.req_packed_command(cmd).await;
            if let Err(error) = &answer {
                self.failed(generation, error);
            }
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.current();
            let answer = conn.req_packed_commands(pipeline, offset, count).await;
            if let Err(error) = &answer {
                self.failed(generation, error);
            }
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.current().1.get_db()
    }
}
