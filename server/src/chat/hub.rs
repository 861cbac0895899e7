//! Live rooms: who is in them, and the broadcast every member listens to. Storing a message and
//! broadcasting it happen under the room's lock, so every member sees seqs in order.

use super::store::{Appended, Draft, History, RoomStore};
use heartline_protocol::{ChatMessage, ServerFrame};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// What a room broadcasts to its members.
#[derive(Debug, Clone)]
pub enum Live {
    /// A stored message (its JSON), to everyone, the sender included.
    Message {
        /// Its seq, to skip what a member already got from history.
        seq: u64,
        /// The `message` frame, serialized once for all members.
        json: Arc<str>,
    },
    /// Presence or typing, to everyone but `from`.
    Notice {
        /// Connection id of the member it is about.
        from: u64,
        /// The frame.
        json: Arc<str>,
    },
}

struct RoomLive {
    members: HashMap<u64, String>,
    sender: broadcast::Sender<Live>,
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinError {
    /// The nickname is in use in the room.
    NickTaken,
}

/// A member's place in a room.
pub struct Membership {
    /// The live feed.
    pub receiver: broadcast::Receiver<Live>,
    /// What the member missed, from the store.
    pub history: History,
    /// Everyone in the room, the new member included.
    pub members: Vec<String>,
}

/// All rooms, over a store.
pub struct Hub {
    store: Arc<dyn RoomStore>,
    rooms: Mutex<HashMap<String, RoomLive>>,
}

const FEED_CAPACITY: usize = 1024;

pub fn to_json(frame: &ServerFrame) -> Arc<str> {
    serde_json::to_string(frame).unwrap_or_default().into()
}

impl Hub {
    /// Rooms over `store`.
    pub fn new(store: Arc<dyn RoomStore>) -> Self {
        Self {
            store,
            rooms: Mutex::default(),
        }
    }

    /// The store (for catching up a member that lagged behind the feed).
    pub fn store(&self) -> &dyn RoomStore {
        &*self.store
    }

    /// Adds a member: checks the nick, reads history and subscribes in one step, so nothing
    /// falls between history and the live feed.
    pub fn join(
        &self,
        room: &str,
        id: u64,
        nick: &str,
        last_seq: Option<u64>,
    ) -> Result<Membership, JoinError> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let live = rooms.entry(room.to_owned()).or_insert_with(|| RoomLive {
            members: HashMap::new(),
            sender: broadcast::channel(FEED_CAPACITY).0,
        });
        if live.members.values().any(|member| member == nick) {
            return Err(JoinError::NickTaken);
        }
        let history = self.store.since(room, last_seq);
        let receiver = live.sender.subscribe();
        live.members.insert(id, nick.to_owned());
        let _ = live.sender.send(Live::Notice {
            from: id,
            json: to_json(&ServerFrame::Joined {
                nick: nick.to_owned(),
            }),
        });
        let mut members: Vec<String> = live.members.values().cloned().collect();
        members.sort();
        Ok(Membership {
            receiver,
            history,
            members,
        })
    }

    /// Stores and broadcasts a message; a resend gets its original seq and is not broadcast again.
    pub fn post(&self, room: &str, draft: Draft, now_ms: u64) -> Appended {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let appended = self.store.append(room, draft, now_ms);
        if let (Appended::New(message), Some(live)) = (&appended, rooms.get(room)) {
            let _ = live.sender.send(Live::Message {
                seq: message.seq,
                json: to_json(&ServerFrame::Message(message.clone())),
            });
        }
        appended
    }

    /// Tells the others in the room.
    pub fn notice(&self, room: &str, from: u64, frame: &ServerFrame) {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(live) = rooms.get(room) {
            let _ = live.sender.send(Live::Notice {
                from,
                json: to_json(frame),
            });
        }
    }

    /// Removes a member and tells the others; an empty room's feed is dropped (its history stays).
    pub fn leave(&self, room: &str, id: u64) {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(live) = rooms.get_mut(room) else {
            return;
        };
        if let Some(nick) = live.members.remove(&id) {
            let _ = live.sender.send(Live::Notice {
                from: id,
                json: to_json(&ServerFrame::Left { nick }),
            });
        }
        if live.members.is_empty() {
            rooms.remove(room);
        }
    }
}

/// Messages from history a member has not seen, for catching up after lag.
pub fn missed(hub: &Hub, room: &str, after: u64) -> Vec<ChatMessage> {
    hub.store().since(room, Some(after)).messages
}
