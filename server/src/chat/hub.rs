//! Live rooms: who is in them, and the broadcast every member listens to. Storing a message and
//! broadcasting it happen under the room's lock, so every member sees seqs in order.
//!
//! A member is one client id with one nickname, however many connections (tabs) it has open:
//! presence lists it once, and `joined`/`left` go out for its first and last connection. A new
//! connection from the same client and tab replaces the old one at once, so a half-open
//! connection never holds a nickname against its own person.

use super::store::{Appended, Draft, History, RoomStore};
use heartline_protocol::{ChatMessage, ServerFrame};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, oneshot};

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
    /// Presence or typing, to everyone but the member it is about (all of its tabs).
    Notice {
        /// Nickname of the member it is about.
        about: Arc<str>,
        /// The frame.
        json: Arc<str>,
    },
}

/// One connection in a room.
struct Connection {
    nick: String,
    client_id: String,
    tab_id: Option<String>,
    /// Fired when a newer connection of the same tab takes this one's place.
    replaced: Option<oneshot::Sender<()>>,
}

struct RoomLive {
    connections: HashMap<u64, Connection>,
    sender: broadcast::Sender<Live>,
}

impl RoomLive {
    fn has_nick(&self, nick: &str) -> bool {
        self.connections.values().any(|c| c.nick == nick)
    }

    fn members(&self) -> Vec<String> {
        let mut members: Vec<String> = self.connections.values().map(|c| c.nick.clone()).collect();
        members.sort();
        members.dedup();
        members
    }

    fn notice(&self, about: &str, frame: &ServerFrame) {
        let _ = self.sender.send(Live::Notice {
            about: about.into(),
            json: to_json(frame),
        });
    }

    /// Removes a connection; tells the room when it was its member's last one.
    fn remove(&mut self, id: u64) -> Option<Connection> {
        let gone = self.connections.remove(&id)?;
        if !self.has_nick(&gone.nick) {
            self.notice(
                &gone.nick,
                &ServerFrame::Left {
                    nick: gone.nick.clone(),
                },
            );
        }
        Some(gone)
    }
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinError {
    /// Another client uses the nickname in the room.
    NickTaken,
}

/// Who is joining, over which connection.
pub struct Joiner<'a> {
    /// The connection's id.
    pub id: u64,
    /// Nickname (already checked).
    pub nick: &'a str,
    /// The authenticated client id.
    pub client_id: &'a str,
    /// The tab the connection comes from, if the client said.
    pub tab_id: Option<&'a str>,
    /// Fired if a newer connection of the same tab replaces this one.
    pub replaced: oneshot::Sender<()>,
}

/// A member's place in a room.
pub struct Membership {
    /// The live feed.
    pub receiver: broadcast::Receiver<Live>,
    /// What the member missed, from the store.
    pub history: History,
    /// Everyone in the room, the new member included, each nickname once.
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

    /// Adds a connection: checks the nick, replaces the same tab's old connection, reads history
    /// and subscribes in one step, so nothing falls between history and the live feed.
    pub fn join(
        &self,
        room: &str,
        joiner: Joiner<'_>,
        last_seq: Option<u64>,
    ) -> Result<Membership, JoinError> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let live = rooms.entry(room.to_owned()).or_insert_with(|| RoomLive {
            connections: HashMap::new(),
            sender: broadcast::channel(FEED_CAPACITY).0,
        });
        if live
            .connections
            .values()
            .any(|c| c.nick == joiner.nick && c.client_id != joiner.client_id)
        {
            return Err(JoinError::NickTaken);
        }
        let same_tab: Vec<u64> = match joiner.tab_id {
            Some(tab) => live
                .connections
                .iter()
                .filter(|(_, c)| {
                    c.client_id == joiner.client_id && c.tab_id.as_deref() == Some(tab)
                })
                .map(|(id, _)| *id)
                .collect(),
            None => Vec::new(),
        };
        let was_member = live.has_nick(joiner.nick);
        for old in same_tab {
            if let Some(mut gone) = live.connections.remove(&old) {
                tracing::info!(conn = old, by = joiner.id, nick = %gone.nick, "replaced by the same tab");
                if let Some(replaced) = gone.replaced.take() {
                    let _ = replaced.send(());
                }
                if gone.nick != joiner.nick && !live.has_nick(&gone.nick) {
                    live.notice(
                        &gone.nick,
                        &ServerFrame::Left {
                            nick: gone.nick.clone(),
                        },
                    );
                }
            }
        }
        let history = self.store.since(room, last_seq);
        let receiver = live.sender.subscribe();
        live.connections.insert(
            joiner.id,
            Connection {
                nick: joiner.nick.to_owned(),
                client_id: joiner.client_id.to_owned(),
                tab_id: joiner.tab_id.map(str::to_owned),
                replaced: Some(joiner.replaced),
            },
        );
        if !was_member {
            live.notice(
                joiner.nick,
                &ServerFrame::Joined {
                    nick: joiner.nick.to_owned(),
                },
            );
        }
        Ok(Membership {
            receiver,
            history,
            members: live.members(),
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

    /// Tells the others in the room about `nick`.
    pub fn notice(&self, room: &str, nick: &str, frame: &ServerFrame) {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(live) = rooms.get(room) {
            live.notice(nick, frame);
        }
    }

    /// Removes a connection (if a newer one has not replaced it already) and tells the others
    /// when it was its member's last; an empty room's feed is dropped (its history stays).
    pub fn leave(&self, room: &str, id: u64) {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(live) = rooms.get_mut(room) else {
            return;
        };
        live.remove(id);
        if live.connections.is_empty() {
            rooms.remove(room);
        }
    }

    /// Everyone in a room, each nickname once.
    pub fn members(&self, room: &str) -> Vec<String> {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rooms.get(room).map(RoomLive::members).unwrap_or_default()
    }
}

/// Messages from history a member has not seen, for catching up after lag.
pub fn missed(hub: &Hub, room: &str, after: u64) -> Vec<ChatMessage> {
    hub.store().since(room, Some(after)).messages
}
