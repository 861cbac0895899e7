//! Rooms in memory: lost at exit, so each start is a new epoch. For tests and benchmarks that
//! want no disk, and the reference the durable backends are held to.

use super::{
    has_gap, media_url, new_epoch, newest_page, oldest_page, unix_ms, Appended, Content, Draft,
    History, Media, Page, PageLimit, PendingAppend, Retention, RoomStore, StoreError,
    MAX_CLIENT_IDS,
};
use async_trait::async_trait;
use heartline_protocol::ChatMessage;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Rooms in memory, each keeping its messages by the [`Retention`] rules.
#[derive(Debug)]
pub struct MemoryStore {
    retention: Retention,
    epoch: String,
    state: Mutex<State>,
    identities: Mutex<Identities>,
}

/// Client ids' secrets, and the ids in the order they were claimed, to forget the oldest.
#[derive(Debug, Default)]
struct Identities {
    secrets: HashMap<String, String>,
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, Room>,
    /// Pictures by id, kept while their message is (the log holds only their URL).
    media: HashMap<String, Media>,
    next_media: u64,
    /// Every kept message's room, by when it was stored: the oldest of all rooms first (see
    /// [`Retention::max_bytes`]).
    stored_order: BTreeMap<u64, String>,
    next_order: u64,
    /// Bytes of the kept messages' bodies and pictures.
    stored_bytes: u64,
}

#[derive(Debug)]
struct Kept {
    message: ChatMessage,
    media: Option<String>,
    /// Its body's strings as written in JSON ([`heartline_protocol::Body::size`]) and its
    /// picture, in bytes.
    bytes: u64,
    /// Its key in [`State::stored_order`].
    order: u64,
}

#[derive(Debug)]
struct DedupKey {
    seq: u64,
    fingerprint: [u8; 32],
    ts: u64,
}

#[derive(Debug, Default)]
struct Room {
    messages: VecDeque<Kept>,
    last_seq: u64,
    /// (client id, client message id) → what was stored, kept by time (see [`Retention`]).
    seen: HashMap<(String, String), DedupKey>,
    /// The keys of `seen` in the order they were stored, to expire them.
    seen_order: VecDeque<(String, String)>,
}

impl MemoryStore {
    /// A store keeping messages by `retention`.
    pub fn new(retention: Retention) -> Self {
        Self {
            retention: Retention {
                messages: retention.messages.max(1),
                ..retention
            },
            epoch: new_epoch(),
            state: Mutex::default(),
            identities: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole messages or none: the data stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One page of `room`'s kept messages, which `take` picks from all of them (oldest first),
    /// with the gap flag for `after`. Only the page is copied out: a room of 1 000 large
    /// messages is not.
    fn read_page(
        &self,
        room: &str,
        after: Option<u64>,
        take: impl FnOnce(&mut dyn DoubleEndedIterator<Item = &ChatMessage>) -> (Vec<ChatMessage>, bool),
    ) -> Page {
        let mut state = self.lock();
        state.evict(room, &self.retention, unix_ms());
        let Some(kept) = state.rooms.get(room) else {
            return Page {
                history: History {
                    messages: Vec::new(),
                    gap: after.is_some_and(|seq| seq > 0),
                    last_seq: 0,
                },
                more: false,
            };
        };
        let oldest_kept = kept
            .messages
            .front()
            .map_or(kept.last_seq + 1, |kept| kept.message.seq);
        let (messages, more) = take(&mut kept.messages.iter().map(|kept| &kept.message));
        Page {
            history: History {
                messages,
                gap: has_gap(after, oldest_kept, kept.last_seq),
                last_seq: kept.last_seq,
            },
            more,
        }
    }

    /// Stores (or recognises) a message at once.
    fn store_now(
        &self,
        room: &str,
        draft: Draft,
        now_ms: u64,
        above: u64,
    ) -> Result<Appended, StoreError> {
        let fingerprint = draft.fingerprint();
        let mut state = self.lock();
        let state = &mut *state;
        state.evict(room, &self.retention, now_ms);
        let media_id = match &draft.content {
            Content::Picture(_) => {
                state.next_media += 1;
                Some(format!("{}-{}", self.epoch, state.next_media))
            }
            Content::Text(_) => None,
        };
        let entry = state.rooms.entry(room.to_owned()).or_default();
        let key = (draft.client_id, draft.client_msg_id);
        if let Some(seen) = entry.seen.get(&key) {
            return Ok(if seen.fingerprint == fingerprint {
                Appended::Duplicate(seen.seq)
            } else {
                Appended::Conflict(seen.seq)
            });
        }
        entry.last_seq = entry.last_seq.max(above) + 1;
        let body = match draft.content {
            Content::Text(text) => heartline_protocol::Body::Text { text },
            Content::Picture(picture) => {
                let id = media_id.clone().unwrap_or_default();
                let body = picture.body(media_url(&id));
                state.media.insert(
                    id,
                    Media {
                        mime: picture.mime,
                        bytes: picture.bytes,
                    },
                );
                body
            }
        };
        let bytes = (body.size()
            + media_id
                .as_ref()
                .and_then(|id| state.media.get(id))
                .map_or(0, |media| media.bytes.len())) as u64;
        let message = ChatMessage {
            room: room.to_owned(),
            seq: entry.last_seq,
            from: draft.from,
            ts: now_ms,
            client_msg_id: key.1.clone(),
            body,
        };
        entry.seen.insert(
            key.clone(),
            DedupKey {
                seq: message.seq,
                fingerprint,
                ts: now_ms,
            },
        );
        entry.seen_order.push_back(key);
        let order = state.next_order;
        state.next_order += 1;
        state.stored_order.insert(order, room.to_owned());
        state.stored_bytes += bytes;
        entry.messages.push_back(Kept {
            message: message.clone(),
            media: media_id,
            bytes,
            order,
        });
        state.evict(room, &self.retention, now_ms);
        state.evict_bytes(self.retention.max_bytes);
        Ok(Appended::New(message))
    }
}

impl State {
    /// Takes a message that left its room out of the store's totals, with its picture.
    fn forget(&mut self, kept: &Kept) {
        if let Some(media) = &kept.media {
            self.media.remove(media);
        }
        self.stored_order.remove(&kept.order);
        self.stored_bytes = self.stored_bytes.saturating_sub(kept.bytes);
    }

    /// Drops the oldest messages of all rooms while the store holds over `max_bytes`; the
    /// newest stays.
    fn evict_bytes(&mut self, max_bytes: u64) {
        while self.stored_bytes > max_bytes && self.stored_order.len() > 1 {
            let Some((_, room)) = self.stored_order.pop_first() else {
                return;
            };
            // A room's messages are in storing order: its oldest is the one named.
            let Some(kept) = self
                .rooms
                .get_mut(&room)
                .and_then(|room| room.messages.pop_front())
            else {
                continue;
            };
            self.forget(&kept);
        }
    }

    /// Drops what the retention rules no longer keep, and expired dedup keys.
    fn evict(&mut self, room: &str, retention: &Retention, now_ms: u64) {
        let Some(state) = self.rooms.get_mut(room) else {
            return;
        };
        let too_old = |kept: &Kept| {
            retention
                .max_age_ms
                .is_some_and(|age| kept.message.ts.saturating_add(age) < now_ms)
        };
        let mut gone = Vec::new();
        while let Some(front) = state.messages.front() {
            if state.messages.len() <= retention.messages && !too_old(front) {
                break;
            }
            gone.extend(state.messages.pop_front());
        }
        let oldest_kept = state
            .messages
            .front()
            .map_or(state.last_seq + 1, |kept| kept.message.seq);
        while let Some(key) = state.seen_order.front() {
            let expired = state.seen.get(key).is_none_or(|entry| {
                entry.seq < oldest_kept
                    && entry.ts.saturating_add(retention.dedup_window_ms) < now_ms
            });
            if !expired {
                break;
            }
            if let Some(key) = state.seen_order.pop_front() {
                state.seen.remove(&key);
            }
        }
        for kept in gone {
            self.forget(&kept);
        }
    }
}

#[async_trait]
impl RoomStore for MemoryStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn enqueue(&self, room: &str, draft: Draft, now_ms: u64, above: u64) -> PendingAppend {
        // Stored before returning: call order is storing order.
        Box::pin(std::future::ready(
            self.store_now(room, draft, now_ms, above),
        ))
    }

    async fn since(&self, room: &str, after: Option<u64>) -> Result<History, StoreError> {
        let from = after.unwrap_or(0);
        let page = self.read_page(room, after, |kept| {
            (kept.filter(|m| m.seq > from).cloned().collect(), false)
        });
        Ok(page.history)
    }

    async fn page(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let (from, before) = (after.unwrap_or(0), before.unwrap_or(u64::MAX));
        Ok(self.read_page(room, after, |kept| {
            newest_page(kept.rev().filter(|m| m.seq > from && m.seq < before), limit)
        }))
    }

    async fn page_after(
        &self,
        room: &str,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        Ok(self.read_page(room, Some(after), |kept| {
            oldest_page(kept.filter(|m| m.seq > after), limit)
        }))
    }

    async fn claim_identity(&self, client_id: &str, candidate: &str) -> Result<String, StoreError> {
        let mut ids = self
            .identities
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = ids.secrets.get(client_id) {
            return Ok(known.clone());
        }
        ids.secrets
            .insert(client_id.to_owned(), candidate.to_owned());
        ids.order.push_back(client_id.to_owned());
        while ids.order.len() > MAX_CLIENT_IDS {
            if let Some(oldest) = ids.order.pop_front() {
                ids.secrets.remove(&oldest);
            }
        }
        Ok(candidate.to_owned())
    }

    async fn release_identity(&self, client_id: &str, secret: &str) -> Result<(), StoreError> {
        let mut ids = self
            .identities
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids
            .secrets
            .get(client_id)
            .is_some_and(|known| known == secret)
        {
            ids.secrets.remove(client_id);
            // Out of the eviction order too: a later claim of the id starts a new turn. Claimed
            // just now, it is searched for from the newest end.
            if let Some(at) = ids.order.iter().rposition(|id| id == client_id) {
                ids.order.remove(at);
            }
        }
        Ok(())
    }

    async fn media(&self, id: &str) -> Result<Option<Media>, StoreError> {
        Ok(self.lock().media.get(id).cloned())
    }

    async fn media_size(&self, id: &str) -> Result<Option<usize>, StoreError> {
        Ok(self.lock().media.get(id).map(|media| media.bytes.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Memory;

    impl super::super::contract::Backend for Memory {
        type Store = MemoryStore;
        async fn open(&mut self, retention: Retention) -> MemoryStore {
            MemoryStore::new(retention)
        }
        fn durable(&self) -> bool {
            false
        }
    }

    crate::contract_suite!(Memory);
}
