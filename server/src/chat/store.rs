//! Where rooms keep their messages. The server uses [`MemoryStore`]; a shared store (for
//! several servers side by side) implements [`RoomStore`] too.

use heartline_protocol::{Body, ChatMessage};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

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
    pub body: Body,
}

/// The outcome of [`RoomStore::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored under a new seq.
    New(ChatMessage),
    /// Already stored (same client id and message id): its seq.
    Duplicate(u64),
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

/// Storage of rooms' messages, with deduplication by (client id, message id).
pub trait RoomStore: Send + Sync + 'static {
    /// Stores a message under the room's next seq, unless it is a resend.
    fn append(&self, room: &str, draft: Draft, now_ms: u64) -> Appended;
    /// The messages after `after` (all kept ones for `None`).
    fn since(&self, room: &str, after: Option<u64>) -> History;
    /// Names this store's numbering of seqs: it changes when the history is lost (a restart of
    /// an in-memory store), so clients know their old seqs mean nothing here.
    fn epoch(&self) -> &str;
}

/// Rooms in memory, each keeping its last `capacity` messages.
#[derive(Debug)]
pub struct MemoryStore {
    capacity: usize,
    epoch: String,
    rooms: Mutex<HashMap<String, Room>>,
}

#[derive(Debug, Default)]
struct Room {
    messages: VecDeque<ChatMessage>,
    last_seq: u64,
    /// (client id, client message id) → seq, for the messages still kept.
    seen: HashMap<(String, String), u64>,
    /// client id of each kept message, to forget `seen` entries on eviction.
    senders: VecDeque<String>,
}

impl MemoryStore {
    /// A store keeping `capacity` messages per room (at least 1).
    pub fn new(capacity: usize) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            capacity: capacity.max(1),
            epoch: format!("{:x}", started.as_nanos()),
            rooms: Mutex::default(),
        }
    }
}

impl RoomStore for MemoryStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn append(&self, room: &str, draft: Draft, now_ms: u64) -> Appended {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = rooms.entry(room.to_owned()).or_default();
        let key = (draft.client_id, draft.client_msg_id);
        if let Some(seq) = state.seen.get(&key) {
            return Appended::Duplicate(*seq);
        }
        state.last_seq += 1;
        let message = ChatMessage {
            room: room.to_owned(),
            seq: state.last_seq,
            from: draft.from,
            ts: now_ms,
            client_msg_id: key.1.clone(),
            body: draft.body,
        };
        state.seen.insert(key.clone(), message.seq);
        state.senders.push_back(key.0);
        state.messages.push_back(message.clone());
        while state.messages.len() > self.capacity {
            if let (Some(old), Some(sender)) =
                (state.messages.pop_front(), state.senders.pop_front())
            {
                state.seen.remove(&(sender, old.client_msg_id));
            }
        }
        Appended::New(message)
    }

    fn since(&self, room: &str, after: Option<u64>) -> History {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(state) = rooms.get(room) else {
            return History {
                messages: Vec::new(),
                gap: after.is_some_and(|seq| seq > 0),
                last_seq: 0,
            };
        };
        let oldest_kept = state.messages.front().map_or(state.last_seq + 1, |m| m.seq);
        // A resume has a gap when a message right after its seq was evicted.
        let gap = after.is_some_and(|seq| seq + 1 < oldest_kept && seq < state.last_seq);
        let after = after.unwrap_or(0);
        History {
            messages: state
                .messages
                .iter()
                .filter(|m| m.seq > after)
                .cloned()
                .collect(),
            gap,
            last_seq: state.last_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(client: &str, id: &str) -> Draft {
        Draft {
            from: "ada".into(),
            client_id: client.into(),
            client_msg_id: id.into(),
            body: Body::Text { text: id.into() },
        }
    }

    #[test]
    fn seqs_grow_and_resends_are_deduplicated() {
        let store = MemoryStore::new(10);
        let Appended::New(first) = store.append("r", draft("c", "1"), 5) else {
            panic!()
        };
        assert_eq!((first.seq, first.ts), (1, 5));
        assert_eq!(
            store.append("r", draft("c", "1"), 6),
            Appended::Duplicate(1)
        );
        assert!(
            matches!(store.append("r", draft("other", "1"), 7), Appended::New(m) if m.seq == 2)
        );
        assert!(
            matches!(store.append("elsewhere", draft("c", "1"), 7), Appended::New(m) if m.seq == 1)
        );
    }

    #[test]
    fn since_returns_exactly_what_came_after() {
        let store = MemoryStore::new(10);
        for id in ["1", "2", "3"] {
            store.append("r", draft("c", id), 0);
        }
        let history = store.since("r", Some(1));
        assert_eq!(
            history.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(!history.gap);
        assert!(store.since("r", Some(3)).messages.is_empty());
        assert_eq!(store.since("r", None).messages.len(), 3);
    }

    #[test]
    fn history_is_bounded_and_reports_the_gap() {
        let store = MemoryStore::new(2);
        for id in ["1", "2", "3", "4"] {
            store.append("r", draft("c", id), 0);
        }
        let history = store.since("r", Some(1));
        assert_eq!(
            history.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [3, 4]
        );
        assert!(history.gap, "seq 2 is gone");
        assert!(!store.since("r", Some(2)).gap);
        assert!(
            !store.since("r", None).gap,
            "a first join has no gap to report"
        );
        // An evicted message can be stored again (its dedup entry went with it).
        assert!(matches!(
            store.append("r", draft("c", "1"), 0),
            Appended::New(_)
        ));
    }
}
