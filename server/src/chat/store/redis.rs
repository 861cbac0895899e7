//! Rooms in Redis, shared by every server instance pointed at the same database
//! (`--store redis://HOST:PORT/DB`).
//!
//! Each room's log is a Redis Stream whose entry ids are `<seq>-0`, so `since` is one `XRANGE`
//! and seqs are the same on every instance. An append is one Lua script, atomic in Redis: it
//! checks the dedup key (client id, message id → seq and content fingerprint, kept for the dedup
//! window), assigns the next seq (`INCR`), `XADD`s, stores the picture if there is one, trims
//! the room to its history count and the store to its byte bound, and `PUBLISH`es the message
//! for the other instances' members (see `chat::cluster::fanout`). `since` applies the exact
//! count and age rules, so clients see the same history and gaps as with the other stores.
//!
//! A dedup key expires with the dedup window (`SET … PX`), not later: with a window shorter than
//! a quiet room keeps its messages, a resend after the window is stored again (the other stores
//! also keep the key while its message is kept). Pictures leave with their message, by count or
//! by the byte bound; by age (`--retention-secs`) only `since` hides old messages, the stream
//! keeps up to `history` of them.
//!
//! The byte bound (`--max-stored-mib`, over all rooms): each entry carries the bytes it counts
//! and its place in the store's clock, and a sorted set ranks the rooms by their oldest entry,
//! so the oldest entry of all is found in one step. An append evicts at most 1024 entries (a
//! Lua script holds Redis); the next appends go on where it stopped. Entries written before
//! this bound existed count nothing; their room ranks first once ranked, at its next append
//! (a room nobody posts in again is not evicted by bytes).
//!
//! The epoch is a Redis key written once (`SET NX`): every instance and every restart of an
//! instance names the same one. If it disappears (Redis restarted without persistence, or the
//! database was flushed), appends fail instead of numbering a new history under the old epoch.
//! If it stays while the rest goes back (Redis restarted from an older snapshot, a failover to
//! a replica that lagged), the seq counter would give seqs already delivered: an append is
//! numbered above the last seq its instance delivered in the room, and the lost range is kept
//! (`hl:lost:<room>`) so a resume below it is a gap.
//!
//! A client id's secret is a key (`hl:secret:<client id>`) set once (`SET NX`) and renewed at
//! each join for 30 days, so a client that moves to another instance is the same client there.
//!
//! Durability is Redis's: run it with `appendonly yes` (and `appendfsync always` for an ack to
//! mean "on disk", as the SQLite store's does). A Redis that cannot be reached makes every
//! operation fail with [`StoreError::unavailable`]: the session closes with 1013 (try again
//! later), nothing is acked, and the connection manager reconnects by itself.

use super::redis_link::Link;
use super::{
    has_gap, media_url, new_epoch, unix_ms, Appended, Content, Draft, History, Media, Page,
    PageEnd, PageFill, PageLimit, PendingAppend, Retention, RoomStore, StoreError,
};
use async_trait::async_trait;
use heartline_protocol::{Body, ChatMessage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Key names, all under one prefix. Variable parts are length-prefixed, so no room name or
/// client id can make two keys collide.
pub mod keys {
    /// The epoch of this database's numbering.
    pub const EPOCH: &str = "hl:epoch";
    /// The channel every append is published on (see `chat::cluster::fanout`).
    pub const MESSAGES: &str = "hl:messages";
    /// Prefix of picture keys (`hl:media:<id>`: a hash of `mime` and `bytes`).
    pub const MEDIA: &str = "hl:media:";
    /// Prefix of rooms' logs.
    pub const LOG: &str = "hl:log:";
    /// The bytes counted against the store's bound (see `Retention::max_bytes`).
    pub const STORED_BYTES: &str = "hl:stored:bytes";
    /// Rooms by when their oldest entry was stored (a sorted set): the first leaves first when
    /// the store is over its bound.
    pub const STORED_ROOMS: &str = "hl:stored:rooms";
    /// The store's clock: each append's place among all rooms' (an entry's `o`).
    pub const STORED_CLOCK: &str = "hl:stored:clock";

    /// A room's seq counter.
    pub fn seq(room: &str) -> String {
        format!("hl:seq:{room}")
    }
    /// A room's log (a stream).
    pub fn log(room: &str) -> String {
        format!("{LOG}{room}")
    }
    /// The highest seq a room's messages lost when Redis went back to an older state (see
    /// the append): a client resuming below it missed messages nobody can send again.
    pub fn lost(room: &str) -> String {
        format!("hl:lost:{room}")
    }
    /// The pictures of a room's messages written before entries named their own (`p`), oldest
    /// first (`<seq>:<media id>`), to delete them when their message leaves the history.
    pub fn pictures(room: &str) -> String {
        format!("hl:pictures:{room}")
    }
    /// A dedup key: (room, client id, message id).
    pub fn dedup(room: &str, client_id: &str, client_msg_id: &str) -> String {
        format!(
            "hl:dedup:{}:{room}:{}:{client_id}:{client_msg_id}",
            room.len(),
            client_id.len()
        )
    }
    /// A picture.
    pub fn media(id: &str) -> String {
        format!("{MEDIA}{id}")
    }
    /// A client id's secret (the last part of the key, so no length prefix is needed).
    pub fn secret(client_id: &str) -> String {
        format!("hl:secret:{client_id}")
    }
}

/// How long an unused client id's secret is kept (each join renews it): 30 days.
const SECRET_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// Deletes a client id's secret only if it is the one given (KEYS[1], ARGV[1]).
const RELEASE_IDENTITY: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The append, atomic in Redis. KEYS: epoch, seq, log, dedup, pictures, media, lost, stored
/// bytes, rooms by their oldest entry, the store's clock.
/// ARGV: epoch, fingerprint, dedup window ms, history, from, ts, client_msg_id, body JSON,
/// media id ('' for text), mime, bytes, room, channel, media key prefix, instance, above (the
/// last seq the instance delivered in the room), the store's byte bound, log key prefix.
/// Returns {'new', seq} | {'dup', seq} | {'conflict', seq}, or an error when the epoch changed.
const APPEND: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply("HLEPOCH the epoch in Redis differs from this server's: the data was lost or replaced; restart the server")
end
local seen = redis.call('GET', KEYS[4])
if seen then
  local sep = string.find(seen, ':', 1, true)
  local seq = string.sub(seen, 1, sep - 1)
  if string.sub(seen, sep + 1) == ARGV[2] then return {'dup', seq} end
  return {'conflict', seq}
end
local seq = redis.call('INCR', KEYS[2])
if seq <= tonumber(ARGV[16]) then
  -- Redis went back to an older state (a restart from an older snapshot, a failover to a
  -- replica that lagged): seqs up to ARGV[16] were given and delivered already. Number past
  -- them, and keep the hole for clients that resume below it.
  seq = tonumber(ARGV[16]) + 1
  redis.call('SET', KEYS[2], seq)
  redis.call('SET', KEYS[7], ARGV[16])
end
-- Each entry keeps its picture's id (p), the bytes it counts against the store's bound (z:
-- body, picture and some overhead) and when it was stored among all rooms (o).
local size = #ARGV[8] + #ARGV[11] + 64
local clock = redis.call('INCR', KEYS[10])
redis.call('XADD', KEYS[3], seq .. '-0', 'f', ARGV[5], 't', ARGV[6], 'm', ARGV[7], 'b', ARGV[8],
  'p', ARGV[9], 'z', size, 'o', clock)
redis.call('SET', KEYS[4], seq .. ':' .. ARGV[2], 'PX', ARGV[3])
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[6], 'mime', ARGV[10], 'bytes', ARGV[11])
end
local total = redis.call('INCRBY', KEYS[8], size)
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
end
local function first(log)
  return redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
end
-- A room's oldest entry leaves, with its picture and its bytes.
local function leave(log, entry)
  redis.call('XDEL', log, entry[1])
  local picture = field(entry[2], 'p')
  if picture and picture ~= '' then redis.call('DEL', ARGV[14] .. picture) end
  total = redis.call('DECRBY', KEYS[8], tonumber(field(entry[2], 'z') or '0'))
end
-- Where a room stands among all rooms: by its oldest entry (entries written before the byte
-- bound have no 'o': oldest of all).
local function rank(room)
  local oldest = first(ARGV[18] .. room)
  if oldest then
    redis.call('ZADD', KEYS[9], tonumber(field(oldest[2], 'o') or '0'), room)
  else
    redis.call('ZREM', KEYS[9], room)
  end
end
-- The count: the history keeps the last ARGV[4] (one entry leaves per append, once full).
local oldest = seq - tonumber(ARGV[4]) + 1
while true do
  local entry = first(KEYS[3])
  if not entry or tonumber(string.match(entry[1], '^(%d+)')) >= oldest then break end
  leave(KEYS[3], entry)
end
-- Pictures of entries written before entries named theirs (p): listed apart then, and still
-- deleted by count from that list (a new entry's picture leaves with it, above).
while true do
  local head = redis.call('LINDEX', KEYS[5], 0)
  if not head then break end
  local sep = string.find(head, ':', 1, true)
  if tonumber(string.sub(head, 1, sep - 1)) >= oldest then break end
  redis.call('LPOP', KEYS[5])
  redis.call('DEL', ARGV[14] .. string.sub(head, sep + 1))
end
rank(ARGV[12])
-- The bound over all rooms: the oldest entries of all leave first, whatever their room, a
-- bounded number per append (Redis runs nothing else meanwhile); the next appends go on.
local evictions = 0
while total > tonumber(ARGV[17]) and evictions < 1024 do
  local room = redis.call('ZRANGE', KEYS[9], 0, 0)[1]
  if not room then break end
  local entry = first(ARGV[18] .. room)
  -- The newest stays, even alone over the bound. It is then all the store counts (every other
  -- room ranks before it): a count that drifted (entries removed by other means) starts over.
  if room == ARGV[12] and entry and entry[1] == seq .. '-0' then
    redis.call('SET', KEYS[8], size)
    break
  end
  if entry then leave(ARGV[18] .. room, entry) end
  rank(room)
  evictions = evictions + 1
end
redis.call('PUBLISH', ARGV[13], cjson.encode({r = ARGV[12], s = tostring(seq), f = ARGV[5],
  t = ARGV[6], m = ARGV[7], b = ARGV[8], i = ARGV[15]}))
return {'new', tostring(seq)}
"#;

/// Raises a room's seq counter to ARGV[1] (a seq its instance delivered) if it is below, and
/// keeps the lost range; nothing when the epoch is not ARGV[2] (a flushed database fails the
/// appends instead). KEYS: seq, lost, epoch. Returns 1 when it raised.
const RAISE_SEQ: &str = r"
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
local delivered = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= delivered then return 0 end
redis.call('SET', KEYS[1], delivered)
if tonumber(redis.call('GET', KEYS[2]) or '0') < delivered then
  redis.call('SET', KEYS[2], delivered)
end
return 1
";

/// After Redis came back in an older state: raises `room`'s seq counter past `delivered` (the
/// last seq this instance delivered there), so that no instance numbers a post with a seq
/// already delivered; the seqs it skips are lost (see [`keys::lost`]).
pub async fn raise_seq(
    conn: &mut Link,
    room: &str,
    delivered: u64,
    epoch: &str,
) -> redis::RedisResult<()> {
    static RAISE: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(RAISE_SEQ));
    if delivered == 0 {
        return Ok(());
    }
    let raised: i64 = RAISE
        .key(keys::seq(room))
        .key(keys::lost(room))
        .key(keys::EPOCH)
        .arg(delivered)
        .arg(epoch)
        .invoke_async(conn)
        .await?;
    if raised == 1 {
        tracing::warn!(
            %room,
            delivered,
            "Redis's seq counter was behind what this instance delivered (Redis came back in an \
             older state): raised; the messages in between are lost"
        );
    }
    Ok(())
}

/// How long one Redis command may take before it counts as failed (and is not acked).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Rooms in a Redis database.
pub struct RedisStore {
    /// The URL without its password, for messages.
    shown: String,
    client: redis::Client,
    conn: Link,
    retention: Retention,
    epoch: String,
    /// This process's name among the instances (in what it publishes, and its presence).
    instance: String,
    /// The appends, in the order they were taken in, to the task that runs them one by one.
    jobs: mpsc::UnboundedSender<Job>,
}

struct Job {
    room: String,
    draft: Draft,
    now_ms: u64,
    above: u64,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// What runs the appends: one at a time, in the order taken in, so a session's messages are
/// numbered in the order it sent them (one round trip each; Redis runs scripts one at a time
/// anyway).
struct Appender {
    conn: Link,
    retention: Retention,
    epoch: String,
    instance: String,
    script: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The URL as it may be logged: without a password.
pub fn shown_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…{}", &url[at..]),
        _ => url.to_owned(),
    }
}

/// A connection manager that reconnects by itself, with bounded waits.
pub async fn connect(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client.clone(), config).await
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::unavailable(format!("redis: {error}"))
}

impl RedisStore {
    /// Connects, and reads (or sets, on a fresh database) the epoch. An unreachable Redis is an
    /// error that names the URL.
    pub async fn open(url: &str, retention: Retention) -> Result<Self, String> {
        let shown = shown_url(url);
        let client = redis::Client::open(url).map_err(|error| {
            format!("`{shown}` is not a Redis URL (redis://HOST:PORT/DB): {error}")
        })?;
        let cannot = |error: redis::RedisError| {
            format!("cannot reach Redis at {shown}: {error}; is redis-server running there?")
        };
        let mut conn = Link::new(client.clone(), connect(&client).await.map_err(cannot)?);
        let _: () = conn
            .set_nx(keys::EPOCH, new_epoch())
            .await
            .map_err(cannot)?;
        let epoch: String = conn.get(keys::EPOCH).await.map_err(cannot)?;
        let instance: String = new_media_id().chars().take(16).collect();
        tracing::info!(url = %shown, %epoch, %instance, "redis store opened");
        let retention = Retention {
            messages: retention.messages.max(1),
            ..retention
        };
        let (jobs, queue) = mpsc::unbounded_channel();
        let appender = Appender {
            conn: conn.clone(),
            retention,
            epoch: epoch.clone(),
            instance: instance.clone(),
            script: Script::new(APPEND),
        };
        // Ends when the store is dropped (the queue closes).
        tokio::spawn(appender.run(queue));
        Ok(Self {
            shown,
            client,
            conn,
            retention,
            epoch,
            instance,
            jobs,
        })
    }

    /// This process's name among the instances on the database.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The client, for the connections of the other shared parts (fan-out, presence).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A handle on the shared, self-reconnecting connection.
    pub fn connection(&self) -> Link {
        self.conn.clone()
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }
}

/// A random id for a picture (hex), made before the append so the message's URL is known.
fn new_media_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough without the OS generator: time and process.
        return new_epoch();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message from a stream entry's id and fields.
pub fn decode_entry(room: &str, id: &str, fields: &[String]) -> Option<ChatMessage> {
    let seq = id.split_once('-')?.0.parse().ok()?;
    let mut from = None;
    let mut ts = None;
    let mut client_msg_id = None;
    let mut body = None;
    for pair in fields.chunks(2) {
        let [name, value] = pair else { break };
        match name.as_str() {
            "f" => from = Some(value.clone()),
            "t" => ts = value.parse().ok(),
            "m" => client_msg_id = Some(value.clone()),
            "b" => body = serde_json::from_str::<Body>(value).ok(),
            _ => {}
        }
    }
    Some(ChatMessage {
        room: room.to_owned(),
        seq,
        from: from?,
        ts: ts?,
        client_msg_id: client_msg_id?,
        body: body?,
    })
}

/// Stream entries as Redis returns them: (id, [field, value, …]).
type Entries = Vec<(String, Vec<String>)>;

/// What [`read_log`] read of a room.
pub struct LogRead {
    /// The room's latest seq (0 for a room this database never had).
    pub last_seq: u64,
    /// The highest seq the room lost when Redis went back to an older state (0: none).
    pub lost: u64,
    /// The messages after the seq asked for.
    pub messages: Vec<ChatMessage>,
}

/// Whether a client that resumes after `after` missed messages Redis lost (see [`keys::lost`]).
fn resumes_below_lost(after: Option<u64>, lost: u64) -> bool {
    after.is_some_and(|seq| seq < lost)
}

/// Reads a room's log after `after` with its latest seq, in one `MULTI` so they agree.
pub async fn read_log(
    conn: &mut Link,
    room: &str,
    after: Option<u64>,
) -> redis::RedisResult<LogRead> {
    let start = match after {
        Some(seq) => format!("{}-0", seq.saturating_add(1)),
        None => "-".to_owned(),
    };
    let (last_seq, lost, entries): (Option<u64>, Option<u64>, Entries) = redis::pipe()
        .atomic()
        .get(keys::seq(room))
        .get(keys::lost(room))
        .xrange(keys::log(room), start, "+")
        .query_async(conn)
        .await?;
    let messages = entries
        .iter()
        .filter_map(|(id, fields)| {
            let message = decode_entry(room, id, fields);
            if message.is_none() {
                tracing::warn!(%room, %id, "an unreadable entry in the room's log; skipped");
            }
            message
        })
        .collect();
    Ok(LogRead {
        last_seq: last_seq.unwrap_or(0),
        lost: lost.unwrap_or(0),
        messages,
    })
}

impl Appender {
    async fn run(self, mut queue: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = queue.recv().await {
            let outcome = self
                .append(&job.room, job.draft, job.now_ms, job.above)
                .await;
            let _ = job.reply.send(outcome);
        }
    }

    async fn append(
        &self,
        room: &str,
        draft: Draft,
        now_ms: u64,
        above: u64,
    ) -> Result<Appended, StoreError> {
        let fingerprint = hex(&draft.fingerprint());
        let (body, media) = match &draft.content {
            Content::Text(text) => (Body::Text { text: text.clone() }, None),
            Content::Picture(picture) => {
                let id = new_media_id();
                (picture.body(media_url(&id)), Some((id, picture)))
            }
        };
        let body = serde_json::to_string(&body)
            .map_err(|error| StoreError(format!("cannot encode the body: {error}")))?;
        let media_id = media.as_ref().map(|(id, _)| id.clone()).unwrap_or_default();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(keys::EPOCH)
            .key(keys::seq(room))
            .key(keys::log(room))
            .key(keys::dedup(room, &draft.client_id, &draft.client_msg_id))
            .key(keys::pictures(room))
            .key(keys::media(&media_id))
            .key(keys::lost(room))
            .key(keys::STORED_BYTES)
            .key(keys::STORED_ROOMS)
            .key(keys::STORED_CLOCK)
            .arg(&self.epoch)
            .arg(&fingerprint)
            // `SET PX 0` is an error; a zero window keeps the key for a moment.
            .arg(self.retention.dedup_window_ms.max(1))
            .arg(self.retention.messages)
            .arg(&draft.from)
            .arg(now_ms)
            .arg(&draft.client_msg_id)
            .arg(&body)
            .arg(&media_id);
        match media {
            Some((_, picture)) => invocation.arg(&picture.mime).arg(&picture.bytes[..]),
            None => invocation.arg("").arg(""),
        };
        invocation
            .arg(room)
            .arg(keys::MESSAGES)
            .arg(keys::MEDIA)
            .arg(&self.instance)
            .arg(above)
            .arg(self.retention.max_bytes)
            .arg(keys::LOG);
        let mut conn = self.conn.clone();
        let (outcome, seq): (String, u64) =
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|error| match error.code() {
                    Some("HLEPOCH") => StoreError(format!("redis: {error}")),
                    _ => unavailable(error),
                })?;
        Ok(match outcome.as_str() {
            "dup" => Appended::Duplicate(seq),
            "conflict" => Appended::Conflict(seq),
            _ => Appended::New(ChatMessage {
                room: room.to_owned(),
                seq,
                from: draft.from,
                ts: now_ms,
                client_msg_id: draft.client_msg_id,
                body: serde_json::from_str(&body)
                    .map_err(|error| StoreError(format!("cannot decode the body: {error}")))?,
            }),
        })
    }
}

#[async_trait]
impl RoomStore for RedisStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn enqueue(&self, room: &str, draft: Draft, now_ms: u64, above: u64) -> PendingAppend {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            room: room.to_owned(),
            draft,
            now_ms,
            above,
            reply,
        };
        let queued = self.jobs.send(job).is_ok();
        Box::pin(async move {
            if !queued {
                return Err(StoreError("the store is closed".into()));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError("the store is closed".into())))
        })
    }

    async fn since(&self, room: &str, after: Option<u64>) -> Result<History, StoreError> {
        let mut conn = self.conn.clone();
        let LogRead {
            last_seq,
            lost,
            mut messages,
        } = read_log(&mut conn, room, after)
            .await
            .map_err(unavailable)?;
        if last_seq == 0 {
            // A room this database never had: any seq the client names is missing here.
            return Ok(History {
                messages: Vec::new(),
                gap: after.is_some_and(|seq| seq > 0),
                last_seq,
            });
        }
        let kept = self.kept(last_seq, unix_ms());
        messages.retain(|message| kept(message));
        let oldest_kept = messages.first().map_or(last_seq + 1, |m| m.seq);
        Ok(History {
            gap: has_gap(after, oldest_kept, last_seq) || resumes_below_lost(after, lost),
            messages,
            last_seq,
        })
    }

    /// Reads only the page, newest first, a chunk at a time: a join or a history request no
    /// longer reads the whole log (up to a thousand 64 KiB messages) to keep a page of it.
    async fn page(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let mut conn = self.conn.clone();
        let top = before.map_or("+".to_owned(), |before| {
            before.saturating_sub(1).to_string()
        });
        // The room's last seq and the newest chunk in one atomic read, so the page never holds
        // a seq beyond the last seq it reports.
        let (last_seq, lost, mut chunk): (Option<u64>, Option<u64>, Entries) = redis::pipe()
            .atomic()
            .get(keys::seq(room))
            .get(keys::lost(room))
            .add_command(newest_entries(&keys::log(room), &top, CHUNK))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let last_seq = last_seq.unwrap_or(0);
        let empty = |gap| Page {
            history: History {
                messages: Vec::new(),
                gap,
                last_seq,
            },
            more: false,
        };
        if last_seq == 0 {
            // A room this database never had: any seq the client names is missing here.
            return Ok(empty(after.is_some_and(|seq| seq > 0)));
        }
        let kept = self.kept(last_seq, unix_ms());
        let floor = after.map_or(1, |seq| seq.saturating_add(1));
        let mut page = PageFill::new(limit, PageEnd::Newest);
        'read: loop {
            let fetched = chunk.len();
            for (id, fields) in &chunk {
                let Some(message) = decode_entry(room, id, fields) else {
                    tracing::warn!(%room, %id, "an unreadable entry in the room's log; skipped");
                    continue;
                };
                // Older ones are out of range, or past retention (seqs and times only grow).
                if message.seq < floor || !kept(&message) {
                    break 'read;
                }
                if !page.push(message) {
                    break 'read;
                }
            }
            // On from the oldest entry fetched, read or not: a run of entries this version
            // cannot read (written by a newer one) must not make the same chunk come back.
            let Some(oldest) = chunk.last().map(|(id, _)| id.clone()) else {
                break;
            };
            let below_floor = oldest
                .split_once('-')
                .and_then(|(seq, _)| seq.parse::<u64>().ok())
                .is_none_or(|seq| seq <= floor);
            if fetched < CHUNK || below_floor {
                break;
            }
            chunk = newest_entries(&keys::log(room), &format!("({oldest}"), CHUNK)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        let (messages, more) = page.finish();
        // A gap: the first message after `after` is no longer kept (or never was).
        let gap = match after {
            Some(seq) if seq < last_seq => {
                let first: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
                    .arg(keys::log(room))
                    .arg(format!("{}", seq.saturating_add(1)))
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                !first
                    .first()
                    .and_then(|(id, fields)| decode_entry(room, id, fields))
                    .is_some_and(|message| message.seq == seq + 1 && kept(&message))
            }
            _ => false,
        };
        Ok(Page {
            history: History {
                messages,
                gap: gap || resumes_below_lost(after, lost.unwrap_or(0)),
                last_seq,
            },
            more,
        })
    }

    /// Reads only the page, oldest first, a chunk at a time: a member caught up after lagging
    /// behind the feed does not make the server read the whole log it missed.
    async fn page_after(
        &self,
        room: &str,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let mut conn = self.conn.clone();
        let log = keys::log(room);
        // The room's last seq and the oldest chunk in one atomic read; later chunks stop at
        // that seq, so the page never holds a seq beyond the last seq it reports.
        let (last_seq, lost, mut chunk): (Option<u64>, Option<u64>, Entries) = redis::pipe()
            .atomic()
            .get(keys::seq(room))
            .get(keys::lost(room))
            .add_command(oldest_entries(
                &log,
                &format!("{}-0", after.saturating_add(1)),
                CHUNK,
            ))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let last_seq = last_seq.unwrap_or(0);
        if last_seq == 0 {
            // A room this database never had: any seq the client names is missing here.
            return Ok(Page {
                history: History {
                    messages: Vec::new(),
                    gap: after > 0,
                    last_seq,
                },
                more: false,
            });
        }
        let kept = self.kept(last_seq, unix_ms());
        let mut page = PageFill::new(limit, PageEnd::Oldest);
        let mut oldest_kept = None;
        'read: loop {
            for (id, fields) in &chunk {
                let Some(message) = decode_entry(room, id, fields) else {
                    tracing::warn!(%room, %id, "an unreadable entry in the room's log; skipped");
                    continue;
                };
                if message.seq > last_seq {
                    break 'read;
                }
                // Past retention but not trimmed yet: gone for readers (seqs and times only grow,
                // so these come first).
                if !kept(&message) {
                    continue;
                }
                oldest_kept.get_or_insert(message.seq);
                if !page.push(message) {
                    break 'read;
                }
            }
            // On from the newest entry fetched, read or not (see `page`).
            let newest = match chunk.last() {
                Some((id, _)) if chunk.len() == CHUNK => id.clone(),
                _ => break,
            };
            chunk = oldest_entries(&log, &format!("({newest}"), CHUNK)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        let (messages, more) = page.finish();
        let after = Some(after);
        Ok(Page {
            history: History {
                messages,
                gap: has_gap(after, oldest_kept.unwrap_or(last_seq + 1), last_seq)
                    || resumes_below_lost(after, lost.unwrap_or(0)),
                last_seq,
            },
            more,
        })
    }

    async fn claim_identity(&self, client_id: &str, candidate: &str) -> Result<String, StoreError> {
        let key = keys::secret(client_id);
        let mut conn = self.conn.clone();
        // GETEX renews the expiry of a known id; SET NX claims an unknown one, and if another
        // instance claimed it in between, that secret is the one to match.
        let known: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("EX")
            .arg(SECRET_TTL_SECS)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if let Some(known) = known {
            return Ok(known);
        }
        let claimed: bool = redis::cmd("SET")
            .arg(&key)
            .arg(candidate)
            .arg("NX")
            .arg("EX")
            .arg(SECRET_TTL_SECS)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if claimed {
            return Ok(candidate.to_owned());
        }
        let known: Option<String> = conn.get(&key).await.map_err(unavailable)?;
        known.ok_or_else(|| StoreError::unavailable("a client id's secret vanished"))
    }

    async fn release_identity(&self, client_id: &str, secret: &str) -> Result<(), StoreError> {
        // Compared and deleted in one step: another instance may have claimed the id again.
        let mut conn = self.conn.clone();
        static RELEASE: std::sync::LazyLock<Script> =
            std::sync::LazyLock::new(|| Script::new(RELEASE_IDENTITY));
        let _: i64 = RELEASE
            .key(keys::secret(client_id))
            .arg(secret)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn media(&self, id: &str) -> Result<Option<Media>, StoreError> {
        if !media_id_is_ours(id) {
            return Ok(None);
        }
        let mut conn = self.conn.clone();
        let (mime, bytes): (Option<String>, Option<Vec<u8>>) = redis::pipe()
            .hget(keys::media(id), "mime")
            .hget(keys::media(id), "bytes")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(match (mime, bytes) {
            (Some(mime), Some(bytes)) => Some(Media { mime, bytes }),
            _ => None,
        })
    }

    async fn media_size(&self, id: &str) -> Result<Option<usize>, StoreError> {
        if !media_id_is_ours(id) {
            return Ok(None);
        }
        let mut conn = self.conn.clone();
        // 0 for a missing field: no picture is empty (an upload needs a payload).
        let size: usize = redis::cmd("HSTRLEN")
            .arg(keys::media(id))
            .arg("bytes")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok((size > 0).then_some(size))
    }
}

impl RedisStore {
    /// The retention rules, by count then by age, over the stream (which the append trims by
    /// count and by the byte bound, not by age), for a room whose last seq is `last_seq`, at
    /// `now`.
    fn kept(&self, last_seq: u64, now: u64) -> impl Fn(&ChatMessage) -> bool + '_ {
        let oldest_by_count = last_seq.saturating_sub(self.retention.messages as u64) + 1;
        move |message| {
            message.seq >= oldest_by_count
                && self
                    .retention
                    .max_age_ms
                    .is_none_or(|age| message.ts.saturating_add(age) >= now)
        }
    }
}

/// How many log entries a page read fetches at a time.
const CHUNK: usize = 32;

/// `XRANGE log start + COUNT count`: the oldest `count` entries from `start`.
fn oldest_entries(log: &str, start: &str, count: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(log).arg(start).arg("+").arg("COUNT").arg(count);
    cmd
}

/// `XREVRANGE log end - COUNT count`: the newest `count` entries up to `end`.
fn newest_entries(log: &str, end: &str, count: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("XREVRANGE");
    cmd.arg(log).arg(end).arg("-").arg("COUNT").arg(count);
    cmd
}

/// Whether `id` could name a picture of this store (and is safe in a key).
fn media_id_is_ours(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// A redis-server of its own on a free loopback port, in a temp dir; killed on drop.
    pub struct TestRedis {
        child: Child,
        pub port: u16,
        _dir: tempfile::TempDir,
    }

    impl TestRedis {
        pub fn start() -> Self {
            let dir = tempfile::tempdir().expect("a temp dir");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .chain(["/usr/bin".into()])
                .map(|dir| dir.join("redis-server"))
                .find(|path| path.is_file())
                .expect(
                    "redis-server must be installed for these tests (apt-get install redis-server, \
                     or bash scripts/install.sh)",
                );
            let mut command = Command::new(found);
            // A daemon must not keep the fds this test inherited (the shared build lock).
            // SAFETY: close(2) is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                    for fd in 3..1024 {
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
            let child = command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "redis-server must be installed for these tests (apt-get install redis-server, \
                     or bash scripts/install.sh)",
                );
            let redis = Self {
                child,
                port,
                _dir: dir,
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            redis
        }

        pub fn url(&self, db: u8) -> String {
            format!("redis://127.0.0.1:{}/{db}", self.port)
        }
    }

    impl Drop for TestRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A redis-server of the test's own, with a fresh database; a reopen keeps it (a restart
    /// of the server), and it is killed when the test ends.
    struct Redis {
        url: String,
        _server: TestRedis,
    }

    fn backend() -> Redis {
        let server = TestRedis::start();
        Redis {
            url: server.url(0),
            _server: server,
        }
    }

    impl super::super::contract::Backend for Redis {
        type Store = RedisStore;
        async fn open(&mut self, retention: Retention) -> RedisStore {
            RedisStore::open(&self.url, retention).await.unwrap()
        }
        fn durable(&self) -> bool {
            true
        }
    }

    crate::contract_suite!(backend());

    /// Bytes counted for entries removed by other means (an older instance's trimming during
    /// an upgrade, an operator's `DEL`) would make every append empty the store; once only the
    /// newest is left, the count starts over from it.
    #[tokio::test]
    async fn a_byte_count_that_drifted_starts_over() {
        let mut backend = backend();
        let store = super::super::contract::Backend::open(
            &mut backend,
            Retention {
                max_bytes: 4096,
                ..Retention::default()
            },
        )
        .await;
        let draft = |id: &str| Draft {
            from: "ada".into(),
            client_id: "c".into(),
            client_msg_id: id.into(),
            content: Content::Text("x".repeat(1000)),
        };
        store.append("a", draft("a1"), 0).await.unwrap();
        let client = redis::Client::open(backend.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: i64 = conn.incr(keys::STORED_BYTES, 1_000_000).await.unwrap();
        for id in ["b1", "b2", "b3"] {
            store.append("b", draft(id), 0).await.unwrap();
        }
        let kept = store.since("b", None).await.unwrap();
        let seqs: Vec<u64> = kept.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_resume_below_what_redis_lost_is_a_gap() {
        use crate::chat::store::PageLimit;
        let mut backend = backend();
        let store = super::super::contract::Backend::open(&mut backend, Retention::default()).await;
        let draft = |id: &str| Draft {
            from: "ada".into(),
            client_id: "c".into(),
            client_msg_id: id.into(),
            content: Content::Text(id.into()),
        };
        store.append("r", draft("1"), 0).await.unwrap();
        store.append("r", draft("2"), 0).await.unwrap();
        // Seqs 3 and 4 were delivered, then lost with Redis's state: 5 is next.
        let Appended::New(next) = store.enqueue("r", draft("5"), 0, 4).await.unwrap() else {
            panic!("a new message");
        };
        assert_eq!(next.seq, 5);
        let page = PageLimit {
            messages: 10,
            bytes: 1 << 20,
        };
        // After 1: 2 is there and next, so only the kept lost range tells the gap.
        for (after, gap) in [
            (None, false),
            (Some(1), true),
            (Some(2), true),
            (Some(3), true),
            (Some(4), false),
        ] {
            let since = store.since("r", after).await.unwrap();
            assert_eq!(since.gap, gap, "since {after:?}");
            let paged = store.page("r", after, None, page).await.unwrap();
            assert_eq!(paged.history.gap, gap, "page after {after:?}");
        }
    }

    #[tokio::test]
    async fn a_run_of_entries_this_version_cannot_read_is_skipped_not_read_forever() {
        use crate::chat::store::PageLimit;
        let mut backend = backend();
        let store = super::super::contract::Backend::open(&mut backend, Retention::default()).await;
        for n in 1..=5 {
            let id = n.to_string();
            let draft = Draft {
                from: "ada".into(),
                client_id: "c".into(),
                client_msg_id: id.clone(),
                content: Content::Text(id),
            };
            store.append("r", draft, 0).await.unwrap();
        }
        // 40 entries a newer server wrote, whose body this one cannot read, after seq 5.
        let mut conn = store.connection();
        for seq in 6..=45u64 {
            let () = redis::cmd("XADD")
                .arg(keys::log("r"))
                .arg(format!("{seq}-0"))
                .arg("b")
                .arg("{\"kind\":\"hologram\"}")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        let () = redis::cmd("SET")
            .arg(keys::seq("r"))
            .arg(45)
            .query_async(&mut conn)
            .await
            .unwrap();
        let limit = PageLimit {
            messages: 10,
            bytes: 1 << 20,
        };
        let page = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.page("r", None, None, limit),
        )
        .await
        .expect("a page, not a loop")
        .unwrap();
        let seqs: Vec<u64> = page.history.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "the readable ones behind them");
        assert!(!page.more);
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let error = RedisStore::open(&format!("redis://127.0.0.1:{port}/0"), Retention::default())
            .await
            .unwrap_err();
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(error.contains("cannot reach Redis"), "{error}");
        let error = RedisStore::open("http://nope", Retention::default())
            .await
            .unwrap_err();
        assert!(error.contains("not a Redis URL"), "{error}");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown_url("redis://user:secret@host:6379/0"),
            "redis://…@host:6379/0"
        );
        assert_eq!(shown_url("redis://host:6379/2"), "redis://host:6379/2");
    }
}
