//! Who is in a room across instances. Each instance keeps, per room it serves, one hash field
//! per local member (`hl:members:<room>`: `<instance>\n<nick>` → client id) and a heartbeat
//! key of its own (`hl:instance:<id>`, expiring after [`INSTANCE_TTL`]), both renewed every
//! [`BEAT_EVERY`]. On the same beat it reads the rooms it serves: the fields of other instances
//! whose heartbeat is alive are the remote members, handed to the hub, which tells its members
//! who came and who left. Fields of an instance whose heartbeat expired (SIGKILLed, cut off)
//! are removed by whoever sees them: its members leave every list within
//! `INSTANCE_TTL + BEAT_EVERY` (6 s), well inside 15 s.
//!
//! Presence is polled rather than published: a beat reads the truth, so nothing is lost while
//! Redis or an instance is away, and there is no ordering between join and leave events to get
//! wrong. The price is up to a beat (1 s) before a member of another instance shows.

use crate::chat::hub::{Hub, Presence};
use crate::chat::store::redis_link::Link;
use crate::chat::store::StoreError;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How often an instance renews its heartbeat and members, and reads the others'.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// How long an instance counts as alive after its last beat.
pub const INSTANCE_TTL: Duration = Duration::from_secs(5);

fn members_key(room: &str) -> String {
    format!("hl:members:{room}")
}

fn instance_key(instance: &str) -> String {
    format!("hl:instance:{instance}")
}

/// Fields joins wrote between beats, per room, with when: a beat removes those at least a beat
/// old whose member is not here (one that joined and left within a beat); a younger one may
/// belong to a join still under way.
pub type Claims = Arc<std::sync::Mutex<HashMap<String, HashMap<String, std::time::Instant>>>>;

/// Beats until the server stops; a failed beat (Redis away) is retried on the next one.
pub async fn run(mut conn: Link, hub: Arc<Hub>, instance: String, claims: Claims) {
    // What this instance wrote, per room: to remove members that left.
    let mut written: HashMap<String, HashSet<String>> = HashMap::new();
    let mut beats = tokio::time::interval(BEAT_EVERY);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beats.tick().await;
        {
            let mut claims = claims.lock().unwrap_or_else(|p| p.into_inner());
            for (room, fields) in claims.iter_mut() {
                fields.retain(|field, at| {
                    let settled = at.elapsed() >= BEAT_EVERY;
                    if settled {
                        written
                            .entry(room.clone())
                            .or_default()
                            .insert(field.clone());
                    }
                    !settled
                });
            }
            claims.retain(|_, fields| !fields.is_empty());
        }
        if let Err(error) = beat(&mut conn, &hub, &instance, &mut written).await {
            tracing::warn!(%error, "presence beat failed; retrying");
        }
    }
}

async fn beat(
    conn: &mut Link,
    hub: &Hub,
    instance: &str,
    written: &mut HashMap<String, HashSet<String>>,
) -> redis::RedisResult<()> {
    let local = hub.local_members();
    let mut write = redis::pipe();
    write
        .cmd("SET")
        .arg(instance_key(instance))
        .arg(1)
        .arg("PX")
        .arg(INSTANCE_TTL.as_millis() as u64)
        .ignore();
    let mut now_written: HashMap<String, HashSet<String>> = HashMap::new();
    for (room, members) in &local {
        let fields: HashSet<String> = members
            .iter()
            .map(|(nick, _)| format!("{instance}\n{nick}"))
            .collect();
        for (nick, client_id) in members {
            write
                .hset(members_key(room), format!("{instance}\n{nick}"), client_id)
                .ignore();
        }
        now_written.insert(room.clone(), fields);
    }
    for (room, fields) in written.iter() {
        let now = now_written.get(room);
        for field in fields {
            if now.is_none_or(|now| !now.contains(field)) {
                write.hdel(members_key(room), field).ignore();
            }
        }
    }
    let () = write.query_async(conn).await?;
    *written = now_written;

    for (room, _) in &local {
        let remote = remote_members(conn, instance, room).await?;
        hub.set_remote_members(room, remote);
    }
    Ok(())
}

/// Who is in `room` through the other live instances (nickname → client id); fields of dead
/// instances are removed on the way.
async fn remote_members(
    conn: &mut Link,
    instance: &str,
    room: &str,
) -> redis::RedisResult<BTreeMap<String, String>> {
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(members_key(room))
        .query_async(conn)
        .await?;
    let others: Vec<&str> = fields
        .keys()
        .filter_map(|field| field.split_once('\n').map(|(id, _)| id))
        .filter(|id| *id != instance)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut alive = HashSet::new();
    for id in &others {
        let exists: bool = redis::cmd("EXISTS")
            .arg(instance_key(id))
            .query_async(conn)
            .await?;
        if exists {
            alive.insert(*id);
        }
    }
    let mut remote = BTreeMap::new();
    let mut dead = Vec::new();
    for (field, client_id) in &fields {
        let Some((id, nick)) = field.split_once('\n') else {
            continue;
        };
        if id == instance {
            continue;
        }
        if alive.contains(id) {
            remote.insert(nick.to_owned(), client_id.clone());
        } else {
            dead.push(field.clone());
        }
    }
    if !dead.is_empty() {
        let () = redis::cmd("HDEL")
            .arg(members_key(room))
            .arg(&dead)
            .query_async(conn)
            .await?;
    }
    Ok(remote)
}

/// The presence a join asks (see [`Presence`]): this instance's member written at once, then
/// the others read, so two instances admitting one nickname at the same moment do not both miss
/// each other (at worst both refuse it).
pub struct RedisPresence {
    /// A connection of the instance's own.
    pub conn: Link,
    /// This instance's id.
    pub instance: String,
    /// Shared with the beat ([`run`]).
    pub claims: Claims,
}

#[async_trait::async_trait]
impl Presence for RedisPresence {
    async fn claim(
        &self,
        room: &str,
        nick: &str,
        client_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        let field = format!("{}\n{nick}", self.instance);
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(room.to_owned())
            .or_default()
            .insert(field.clone(), std::time::Instant::now());
        let () = redis::cmd("HSET")
            .arg(members_key(room))
            .arg(field)
            .arg(client_id)
            .query_async(&mut conn)
            .await
            .map_err(|error| StoreError::unavailable(format!("presence: {error}")))?;
        remote_members(&mut conn, &self.instance, room)
            .await
            .map_err(|error| StoreError::unavailable(format!("presence: {error}")))
    }

    async fn release(&self, room: &str, nick: &str, holder: Option<String>) {
        let mut conn = self.conn.clone();
        let field = format!("{}\n{nick}", self.instance);
        let released: redis::RedisResult<()> = match holder {
            Some(holder) => {
                redis::cmd("HSET")
                    .arg(members_key(room))
                    .arg(field)
                    .arg(holder)
                    .query_async(&mut conn)
                    .await
            }
            None => {
                redis::cmd("HDEL")
                    .arg(members_key(room))
                    .arg(field)
                    .query_async(&mut conn)
                    .await
            }
        };
        if let Err(error) = released {
            // The next beat rewrites this instance's fields from its members: it goes then.
            tracing::warn!(%error, %room, "presence: a refused join's claim stays until the next beat");
        }
    }
}
