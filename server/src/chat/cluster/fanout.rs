//! Messages stored by any instance, delivered to this instance's members.
//!
//! Why pub/sub plus a stream read, and not `XREAD BLOCK`: the append script `PUBLISH`es every
//! message it stores, in the same atomic step, so one subscription (one connection, whatever
//! the number of rooms) hears every message in seq order about a millisecond after it is
//! stored, with its content, without a read per message. `XREAD BLOCK` would need the list of
//! served rooms in the blocked command, and rooms come and go with their members: each change
//! would have to interrupt the read (`CLIENT UNBLOCK` from another connection), and a blocked
//! read's latency is paid again after every interruption. Pub/sub alone is at most once: what
//! is published while this instance is not subscribed (Redis restarting, a network cut) is not
//! heard. The stream fills that in: after every (re)subscription each served room is read from
//! the seq it waits for, and whenever a room holds messages back for a missing one (heard out
//! of turn, or posted here before the other instances' earlier seq arrived) that one is read
//! from the stream (`XRANGE`). The hub orders by seq and drops what already went out, so a
//! message heard twice (published, and read back) is delivered once. Seqs the stream no longer
//! has (they left by count or by the byte bound meanwhile, or Redis lost them) are not waited
//! for ([`Hub::skip_gone`]); the members are told with a `gap` frame. Each (re)subscription
//! first raises Redis's seq counter past what this instance delivered ([`raise_seq`]), in case
//! Redis came back in an older state.
//!
//! Every instance hears every room's messages and drops those of rooms it does not serve, as
//! Socket.IO's Redis adapter does: one channel, no subscription bookkeeping; the cost is the
//! messages of other rooms on the wire to each instance.

use crate::chat::hub::Hub;
use crate::chat::store::redis::{keys, raise_seq, read_log};
use crate::chat::store::redis_link::Link;
use futures_util::StreamExt;
use heartline_protocol::{Body, ChatMessage};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How often held-back rooms are filled from the stream and the subscription is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest wait between attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often a room's catch-up after a (re)subscription is tried, and how long apart.
const CATCH_UP_ATTEMPTS: u32 = 5;
const CATCH_UP_RETRY: Duration = Duration::from_millis(200);

/// What the append script publishes (all strings: Lua's JSON numbers are doubles).
#[derive(Deserialize)]
struct Published {
    r: String,
    s: String,
    f: String,
    t: String,
    m: String,
    b: String,
    /// The instance that stored it.
    i: String,
}

impl Published {
    fn message(self) -> Option<ChatMessage> {
        Some(ChatMessage {
            room: self.r,
            seq: self.s.parse().ok()?,
            from: self.f,
            ts: self.t.parse().ok()?,
            client_msg_id: self.m,
            body: serde_json::from_str::<Body>(&self.b).ok()?,
        })
    }
}

/// How long connecting and subscribing may take together.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Follows the published messages for as long as the server runs, subscribing again after
/// every loss of the connection.
pub async fn follow(client: redis::Client, mut conn: Link, hub: Arc<Hub>, instance: String) {
    let mut backoff = Duration::from_millis(50);
    loop {
        // Bounded: redis-rs sets no timeout on either, and a network gone silent during a
        // reconnect would hold this loop (and every message from the other instances) for
        // as long as the kernel keeps the connection.
        let subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(keys::MESSAGES).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                tracing::info!("following the other instances' messages");
                catch_up(&mut conn, &hub).await;
                listen(pubsub, &mut conn, &hub, &instance).await;
                tracing::warn!("lost the subscription to the other instances' messages");
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot subscribe to the messages"),
            Err(_) => tracing::warn!("no answer from Redis while subscribing to the messages"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Delivers what is heard until the subscription ends.
async fn listen(pubsub: redis::aio::PubSub, conn: &mut Link, hub: &Hub, instance: &str) {
    let (mut sink, mut stream) = pubsub.split();
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            heard = stream.next() => {
                let Some(heard) = heard else { return };
                let Ok(published) = serde_json::from_slice::<Published>(heard.get_payload_bytes())
                else {
                    tracing::warn!("an unreadable published message; ignored");
                    continue;
                };
                // This instance's own posts go out from their post, which also tells the posting
                // connection (its ack goes before its copy).
                if published.i == instance {
                    continue;
                }
                let Some(message) = published.message() else {
                    tracing::warn!("an unreadable published message; ignored");
                    continue;
                };
                let room = message.room.clone();
                if let Some((missing, _)) = hub.deliver(message) {
                    let _ = fill(conn, hub, &room, missing).await;
                }
            }
            _ = checks.tick() => {
                // A subscription whose server stopped answering (SIGSTOP, a cut cable) ends
                // nothing by itself: ask.
                let alive = tokio::time::timeout(CHECK_EVERY * 2, sink.ping::<redis::Value>()).await;
                if !matches!(alive, Ok(Ok(_))) {
                    return;
                }
                for (room, next) in hub.live_rooms() {
                    if let Some(next) = next {
                        if hub.has_held(&room) {
                            let _ = fill(conn, hub, &room, next).await;
                        }
                    }
                }
            }
        }
    }
}

/// Reads every served room from the seq it waits for: what was published unheard. First,
/// if Redis came back in an older state (a restart from an older snapshot, a failover), its
/// seq counter is raised past what this instance delivered in each room: an instance whose
/// room had nobody in it before would otherwise number posts with seqs already delivered here.
/// Each room is tried a few times: after a Redis restart the first command on the shared
/// connection fails (its socket died with Redis) and the connection manager reconnects.
async fn catch_up(conn: &mut Link, hub: &Hub) {
    for (room, next) in hub.live_rooms() {
        let Some(next) = next else { continue };
        let mut attempts = 0;
        loop {
            let caught_up =
                match raise_seq(conn, &room, next.saturating_sub(1), hub.store().epoch()).await {
                    Ok(()) => fill(conn, hub, &room, next).await,
                    Err(error) => {
                        tracing::warn!(%room, %error, "cannot check the room's seq counter");
                        false
                    }
                };
            attempts += 1;
            if caught_up || attempts == CATCH_UP_ATTEMPTS {
                break;
            }
            tokio::time::sleep(CATCH_UP_RETRY).await;
        }
    }
}

/// Reads a room's log from `from` on and delivers it; false when it could not be read.
async fn fill(conn: &mut Link, hub: &Hub, room: &str, from: u64) -> bool {
    match read_log(conn, room, Some(from.saturating_sub(1))).await {
        Ok(read) => {
            // Seqs from `from` on that the log does not have will never come: they left by
            // count or by the store's bound while this instance was not listening, or Redis
            // lost them (read with the log, atomically). What the log has below the lost ones
            // goes first, then the wait ends, then what came after.
            let first_read = read
                .messages
                .first()
                .map_or(read.last_seq.saturating_add(1), |m| m.seq);
            let gone = read.lost.max(first_read.saturating_sub(1));
            let (below, after): (Vec<_>, Vec<_>) =
                read.messages.into_iter().partition(|m| m.seq <= read.lost);
            for message in below {
                hub.deliver(message);
            }
            if gone >= from {
                hub.skip_gone(room, gone);
            }
            for message in after {
                hub.deliver(message);
            }
        }
        Err(error) => {
            tracing::warn!(%room, %error, "cannot read the room's log to fill a gap");
            return false;
        }
    }
    true
}
