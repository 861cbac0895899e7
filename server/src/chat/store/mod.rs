//! Where rooms keep their messages: the [`RoomStore`] trait and what it promises, with one file
//! per backend ([`memory`], [`sqlite`], [`redis`](self::redis)). Every backend runs the same contract suite
//! ([`contract`], instantiated in each backend's tests).
//!
//! The promises:
//! - `append` returns only once the message is stored as durably as the backend can (for SQLite:
//!   committed and synced), so an `ack` sent after it never names an unsaved message;
//! - messages are stored in the order they were taken in ([`RoomStore::enqueue`] takes one in at
//!   once, before any await), so a session can keep several in flight and still see them stored,
//!   numbered and acked in the order its client sent them;
//! - seqs per room start at 1 and grow by one per stored message (or jump past the `above` of
//!   [`RoomStore::enqueue`], after a store went back), and continue across restarts for a
//!   durable backend (whose [`RoomStore::epoch`] then stays the same);
//! - `since` never hides a gap: when a message right after the asked seq is no longer kept,
//!   it says so;
//! - a resend (same client id and message id, same content) is not stored twice for as long as
//!   its dedup key is kept: the message is kept, or the dedup window has not passed, whichever is
//!   longer; the same ids with different content are a [`Appended::Conflict`];
//! - pictures are kept apart from the log, by id ([`RoomStore::media`]); the message carries the
//!   picture's URL, so history stays small;
//! - a client id's secret ([`RoomStore::claim_identity`]) is kept as durably as the messages, so
//!   the dedup keys of a durable store stay bound to the client that made them across restarts.

pub mod memory;
pub mod redis;
pub mod redis_link;
pub mod sqlite;

#[cfg(test)]
mod contract;

use async_trait::async_trait;
use heartline_protocol::{json_len, Body, ChatMessage};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

pub use self::redis::RedisStore;
pub use memory::MemoryStore;
pub use sqlite::{GroupCommit, OpenError, SqliteStore};

/// The path under which pictures are served: `GET /media/<id>`.
pub const MEDIA_PATH: &str = "/media/";

/// What a message carries, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Text.
    Text(String),
    /// An image or a sketch, stored apart from the log.
    Picture(Picture),
}

/// A picture's bytes and type. A sketch arrives as RGBA pixels and is stored as PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// MIME type of `bytes`.
    pub mime: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// `Some((width, height))` for a sketch.
    pub sketch: Option<(u32, u32)>,
}

impl Picture {
    /// The message body that refers to this picture by URL.
    fn body(&self, url: String) -> Body {
        match self.sketch {
            Some((width, height)) => Body::Sketch { width, height, url },
            None => Body::Image {
                mime: self.mime.clone(),
                url,
            },
        }
    }
}

/// A stored picture, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Its MIME type (one of the accepted image types, or `image/png` for sketches).
    pub mime: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A message to store: the server assigns seq and time.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Sender's nickname.
    pub from: String,
    /// Sender's stable client id.
    pub client_id: String,
    /// Sender's id of the message.
    pub client_msg_id: String,
    /// Content.
    pub content: Content,
}

impl Draft {
    /// A fingerprint of the content, to tell a resend (same) from a reused id (different).
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        match &self.content {
            Content::Text(text) => {
                hash.update(b"text\0");
                hash.update(text.as_bytes());
            }
            Content::Picture(picture) => {
                hash.update(b"picture\0");
                hash.update(picture.mime.as_bytes());
                if let Some((width, height)) = picture.sketch {
                    hash.update(width.to_be_bytes());
                    hash.update(height.to_be_bytes());
                }
                hash.update(b"\0");
                hash.update(&picture.bytes);
            }
        }
        hash.finalize().into()
    }
}

/// The outcome of [`RoomStore::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored under a new seq.
    New(ChatMessage),
    /// Already stored (same client id, message id and content): its seq.
    Duplicate(u64),
    /// The same client id and message id were used for different content (stored with this
    /// seq); the new content is not stored.
    Conflict(u64),
}

/// Messages after a seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// In seq order.
    pub messages: Vec<ChatMessage>,
    /// Some messages after the requested seq are no longer kept.
    pub gap: bool,
    /// The room's latest seq (0 before the first message).
    pub last_seq: u64,
}

/// How much one page of history may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Most messages.
    pub messages: usize,
    /// About the most bytes of JSON (a page holds at least one message, whatever its size).
    pub bytes: usize,
}

/// About the bytes of a message's JSON in a frame (escapes counted: what a page's bound is of).
pub(super) fn message_bytes(message: &ChatMessage) -> usize {
    // The fixed field names and numbers, plus what varies.
    96 + json_len(&message.room)
        + json_len(&message.from)
        + json_len(&message.client_msg_id)
        + message.body.size()
}

/// The first messages of `newest_first` (the newest of a range, newest first) that fit in
/// `limit`, in seq order, and whether any were left out.
pub fn newest_page<'a>(
    newest_first: impl Iterator<Item = &'a ChatMessage>,
    limit: PageLimit,
) -> (Vec<ChatMessage>, bool) {
    fill_page(newest_first, PageFill::new(limit, PageEnd::Newest))
}

/// The first messages of `oldest_first` (the oldest of a range, oldest first) that fit in
/// `limit`, in seq order, and whether any were left out.
pub fn oldest_page<'a>(
    oldest_first: impl Iterator<Item = &'a ChatMessage>,
    limit: PageLimit,
) -> (Vec<ChatMessage>, bool) {
    fill_page(oldest_first, PageFill::new(limit, PageEnd::Oldest))
}

fn fill_page<'a>(
    messages: impl Iterator<Item = &'a ChatMessage>,
    mut page: PageFill,
) -> (Vec<ChatMessage>, bool) {
    for message in messages {
        if !page.push(message.clone()) {
            break;
        }
    }
    page.finish()
}

/// Which end of a range a page is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageEnd {
    /// The newest messages ([`RoomStore::page`]): pushed newest first.
    Newest,
    /// The oldest messages ([`RoomStore::page_after`]): pushed oldest first.
    Oldest,
}

/// A page being filled from one end of a range: each backend reads its messages its own way,
/// and fills the page by the same rule.
pub(super) struct PageFill {
    limit: PageLimit,
    end: PageEnd,
    /// In the order they were pushed.
    messages: Vec<ChatMessage>,
    bytes: usize,
    more: bool,
}

impl PageFill {
    pub(super) fn new(limit: PageLimit, end: PageEnd) -> Self {
        Self {
            limit,
            end,
            messages: Vec::new(),
            bytes: 0,
            more: false,
        }
    }

    /// Adds the next message if it fits (a page holds at least one); false, and the page says
    /// there is more, once it does not.
    pub(super) fn push(&mut self, message: ChatMessage) -> bool {
        let size = message_bytes(&message);
        let full = !self.messages.is_empty()
            && (self.messages.len() >= self.limit.messages
                || self.bytes.saturating_add(size) > self.limit.bytes);
        if full {
            self.more = true;
            return false;
        }
        self.bytes += size;
        self.messages.push(message);
        true
    }

    /// The page in seq order, and whether messages of the range were left out.
    pub(super) fn finish(mut self) -> (Vec<ChatMessage>, bool) {
        if self.end == PageEnd::Newest {
            self.messages.reverse();
        }
        (self.messages, self.more)
    }
}

/// One page of history: the newest messages of the range asked for that fit the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The messages (in seq order), the gap flag and the room's last seq, as for `since`.
    pub history: History,
    /// Messages of the range are kept but were left out: older ones for [`RoomStore::page`],
    /// newer ones for [`RoomStore::page_after`].
    pub more: bool,
}

/// Most client ids whose secret a store of its own remembers; past it the oldest are forgotten
/// first (each is claimed again with the secret it presents at its next join), so fresh ids
/// cannot make the store grow without end. (A shared Redis store expires unused ids instead.)
pub const MAX_CLIENT_IDS: usize = 100_000;

/// How long rooms keep messages, and dedup keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most messages kept per room (at least 1; fewer once the store's bytes are spent).
    pub messages: usize,
    /// Messages older than this are dropped, ms (`None`: kept by count and bytes only).
    pub max_age_ms: Option<u64>,
    /// A dedup key is kept at least this long after its message was stored, ms, even once the
    /// message has left the history, so that a late resend is still recognised.
    pub dedup_window_ms: u64,
    /// About the most bytes of messages (their JSON bodies) and pictures the store keeps in
    /// all rooms together: past it the oldest messages leave first, whatever their room, with
    /// their pictures. Rooms are as many as clients name, so a count per room bounds nothing.
    /// What one append stores stays, even when it alone is over.
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            messages: 1_000,
            max_age_ms: None,
            dedup_window_ms: 24 * 60 * 60 * 1000,
            max_bytes: 1 << 30,
        }
    }
}

/// A store that could not do what was asked; nothing was stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StoreError(pub String);

/// How an error says the store is out of reach for now (a shared store's server is down) rather
/// than broken: the message starts with it.
const UNAVAILABLE: &str = "unavailable for now: ";

impl StoreError {
    /// The store cannot be reached at the moment; trying again later may work (clients get
    /// 1013 instead of 1011).
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self(format!("{UNAVAILABLE}{detail}"))
    }

    /// Whether this is [`StoreError::unavailable`].
    pub fn is_unavailable(&self) -> bool {
        self.0.starts_with(UNAVAILABLE)
    }
}

/// An append taken in by [`RoomStore::enqueue`]: resolves once the message is stored (or not).
/// Dropping it does not take the message back.
pub type PendingAppend =
    Pin<Box<dyn Future<Output = Result<Appended, StoreError>> + Send + 'static>>;

/// Storage of rooms' messages, with deduplication by (client id, message id).
#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    /// Takes a message in for storing, in call order, and returns at once (no await happens
    /// before it is in line): messages are stored, and numbered, in the order of the calls. The
    /// future resolves as [`RoomStore::append`] returns.
    ///
    /// A new message's seq is above `above`, the last seq the caller already delivered in the
    /// room: a store that went back to an older state while the server ran (Redis restarted
    /// from an older snapshot, a failover to a replica that lagged) would otherwise number new
    /// messages with seqs clients hold for others, and every member would drop them as seen.
    fn enqueue(&self, room: &str, draft: Draft, now_ms: u64, above: u64) -> PendingAppend;
    /// Stores a message under the room's next seq, unless it is a resend or a conflict.
    /// Returns once the message is stored (durably, for a durable backend).
    async fn append(&self, room: &str, draft: Draft, now_ms: u64) -> Result<Appended, StoreError> {
        self.enqueue(room, draft, now_ms, 0).await
    }
    /// The messages after `after` (all kept ones for `None`).
    async fn since(&self, room: &str, after: Option<u64>) -> Result<History, StoreError>;
    /// The newest messages with `after < seq < before` (either bound optional) that fit in
    /// `limit`, with `since`'s gap flag and last seq for `after`. Backends override this to
    /// read only the page; the default reads all of `since` first.
    async fn page(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let mut history = self.since(room, after).await?;
        let before = before.unwrap_or(u64::MAX);
        let (messages, more) = newest_page(
            history.messages.iter().rev().filter(|m| m.seq < before),
            limit,
        );
        history.messages = messages;
        Ok(Page { history, more })
    }
    /// The oldest messages after `after` that fit in `limit`, with `since`'s gap flag and last
    /// seq: a member that lagged behind the live feed is caught up a page at a time, so the
    /// read holds a page, not all the history it missed (up to the history's count of 64 KiB
    /// messages). Backends override this to read only the page; the default reads all of
    /// `since` first.
    async fn page_after(
        &self,
        room: &str,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let mut history = self.since(room, Some(after)).await?;
        let (messages, more) = oldest_page(history.messages.iter(), limit);
        history.messages = messages;
        Ok(Page { history, more })
    }
    /// The secret of `client_id`: the one stored, or `candidate` when none is, which is then
    /// stored (as durably as an append) before this returns. Comparing it with what a client
    /// presented is the caller's job ([`crate::chat::identity`]).
    async fn claim_identity(&self, client_id: &str, candidate: &str) -> Result<String, StoreError>;
    /// Forgets `client_id`'s secret if it is still `secret`: the claim of a join that was then
    /// refused (a taken nickname), whose minted secret never reached the client, so the id is
    /// not left bound to a secret nobody holds.
    async fn release_identity(&self, client_id: &str, secret: &str) -> Result<(), StoreError>;
    /// A stored picture by the id in its URL (`None` when unknown or no longer kept).
    async fn media(&self, id: &str) -> Result<Option<Media>, StoreError>;
    /// The size of a stored picture's bytes, without reading them (`None` when unknown): what
    /// serving it will hold of the memory budget.
    async fn media_size(&self, id: &str) -> Result<Option<usize>, StoreError>;
    /// Names this store's numbering of seqs: it changes when the history is lost (a restart of
    /// an in-memory store, or a fresh database), so clients know their old seqs mean nothing here.
    fn epoch(&self) -> &str;
}

/// The URL of the picture with this id.
pub fn media_url(id: &str) -> String {
    format!("{MEDIA_PATH}{id}")
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new epoch name: the time in ns and the process id, in hex, so two stores made in the same
/// instant by two processes still differ.
pub fn new_epoch() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}{:x}", now.as_nanos(), std::process::id())
}

/// Whether a resume after `after` misses messages that are no longer kept, given the room's
/// latest seq and its oldest kept seq (`last_seq + 1` when none is kept). A first join (`None`)
/// has nothing to miss.
fn has_gap(after: Option<u64>, oldest_kept: u64, last_seq: u64) -> bool {
    after.is_some_and(|seq| seq.saturating_add(1) < oldest_kept && seq < last_seq)
}
