//! Live rooms: who is in them, and the broadcast every member listens to. A message is
//! broadcast only after the store has it, and in seq order: appends run concurrently (so the
//! store can commit them in groups), and each room holds back a message until those before it
//! went out.
//!
//! A member is one client id with one nickname, however many connections (tabs) it has open:
//! presence lists it once, and `joined`/`left` go out for its first and last connection. A new
//! connection from the same client and tab replaces the old one at once, so a half-open
//! connection never holds a nickname against its own person.

use super::store::{Appended, Draft, History, PageLimit, RoomStore, StoreError};
use heartline_protocol::names::nick_skeleton;
use heartline_protocol::{ChatMessage, ServerFrame};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Tokio's clock, so a test with paused time sees the grace pass.
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

/// How long the room waits before telling that a member whose tab ended its connection left:
/// the member's other tab may be taking the connection over (a shared connection's next
/// leading tab joins with its tab id moments after the last one went), and the room would see
/// "left" and "joined" for someone who never went.
pub const DEPARTURE_GRACE: Duration = Duration::from_millis(heartline_protocol::DEPARTURE_GRACE_MS);

/// What a room broadcasts to its members.
#[derive(Debug, Clone)]
pub enum Live {
    /// A stored message (its JSON), to everyone, the sender included.
    Message {
        /// Its seq, to skip what a member already got from history.
        seq: u64,
        /// The `message` frame, serialized once for all members.
        json: Arc<str>,
        /// The connection that posted it, which sends its `ack` before its own copy.
        origin: u64,
        /// The room's broadcast bytes up to and including this one (see [`Feed::published`]).
        end: u64,
    },
    /// Presence or typing, to everyone but the member it is about (all of its tabs).
    Notice {
        /// Nickname of the member it is about.
        about: Arc<str>,
        /// The frame.
        json: Arc<str>,
        /// The room's broadcast bytes up to and including this one.
        end: u64,
    },
}

impl Live {
    /// The room's broadcast bytes up to and including this item: with [`Feed::published`], how
    /// many bytes a member has yet to be sent.
    pub fn end(&self) -> u64 {
        match self {
            Live::Message { end, .. } | Live::Notice { end, .. } => *end,
        }
    }

    fn set_end(&mut self, to: u64) {
        match self {
            Live::Message { end, .. } | Live::Notice { end, .. } => *end = to,
        }
    }

    fn len(&self) -> u64 {
        match self {
            Live::Message { json, .. } | Live::Notice { json, .. } => json.len() as u64,
        }
    }
}

/// How many bytes a room has broadcast so far (shared with its members' sessions).
#[derive(Debug, Clone, Default)]
pub struct Feed {
    published: Arc<AtomicU64>,
}

impl Feed {
    /// Bytes broadcast so far.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }
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
    /// Bytes broadcast so far.
    feed: Feed,
    /// The next seq to broadcast (set by the first join, from the store).
    next_seq: Option<u64>,
    /// Stored messages waiting for an earlier seq to be broadcast first.
    held: BTreeMap<u64, (ChatMessage, u64)>,
    /// Members connected to other instances of a shared store: nickname → client id (kept by
    /// `chat::cluster::presence`; empty with a store of one's own).
    remote: BTreeMap<String, String>,
    /// Members whose last connection their tab ended within the [`DEPARTURE_GRACE`]: nickname →
    /// (client id, when). Still members (listed, their nickname held) until it runs out.
    departing: BTreeMap<String, (String, Instant)>,
}

/// Most messages held back waiting for an earlier seq; past it they go out as they are (an
/// append whose task was cancelled after storing would otherwise hold the room forever). Each
/// member's session then reads the skipped seq from the store, and says a `gap` only if the
/// store does not have it.
const MAX_HELD: usize = 1024;

impl RoomLive {
    /// Nobody here and nobody departing: the room can go. A room kept for a departing member
    /// still claims it for the other instances (with a shared store), where the others may be.
    fn is_idle(&self) -> bool {
        self.connections.is_empty() && self.departing.is_empty()
    }

    fn has_nick(&self, nick: &str) -> bool {
        self.connections.values().any(|c| c.nick == nick)
    }

    fn members(&self) -> Vec<String> {
        let mut members: Vec<String> = self
            .connections
            .values()
            .map(|c| c.nick.clone())
            .chain(self.remote.keys().cloned())
            .chain(self.departing.keys().cloned())
            .collect();
        members.sort();
        members.dedup();
        members
    }

    fn notice(&self, about: &str, frame: &ServerFrame) {
        self.broadcast(Live::Notice {
            about: about.into(),
            json: to_json(frame),
            end: 0,
        });
    }

    /// Removes a connection; tells the room when it was its member's last one, or, with `hold`
    /// and a connection of a tab, holds that back as departing: returns the nickname to settle
    /// after the grace ([`Hub::settle_departure`]).
    fn remove(&mut self, id: u64, hold: bool) -> Option<String> {
        let gone = self.connections.remove(&id)?;
        if self.has_nick(&gone.nick) || self.remote.contains_key(&gone.nick) {
            return None;
        }
        if hold && gone.tab_id.is_some() {
            self.departing
                .insert(gone.nick.clone(), (gone.client_id, Instant::now()));
            return Some(gone.nick);
        }
        self.notice(
            &gone.nick,
            &ServerFrame::Left {
                nick: gone.nick.clone(),
            },
        );
        None
    }

    /// Sends `live` to every member, counting its bytes (under the hub's lock, so the counts
    /// follow the feed's order).
    fn broadcast(&self, live: Live) {
        broadcast(&self.sender, &self.feed, live);
    }

    /// Broadcasts `message` once every earlier seq has gone out.
    fn publish(&mut self, message: ChatMessage, origin: u64) {
        let Some(next) = self.next_seq.as_mut() else {
            self.broadcast(live_message(&message, origin));
            return;
        };
        if message.seq < *next {
            // Late: MAX_HELD let later ones pass before it. Send it rather than drop it.
            self.broadcast(live_message(&message, origin));
            return;
        }
        self.held.insert(message.seq, (message, origin));
        release_held(&mut self.held, &self.sender, &self.feed, next);
        if self.held.len() > MAX_HELD {
            tracing::warn!(
                waiting_for = *next,
                "a stored message never came to be broadcast; going on"
            );
            while let Some((seq, (message, origin))) = self.held.pop_first() {
                broadcast(&self.sender, &self.feed, live_message(&message, origin));
                *next = seq + 1;
            }
        }
    }
}

/// Broadcasts the held messages that follow on from `next`, in order, moving it past them.
fn release_held(
    held: &mut BTreeMap<u64, (ChatMessage, u64)>,
    sender: &broadcast::Sender<Live>,
    feed: &Feed,
    next: &mut u64,
) {
    while let Some((message, origin)) = held.remove(next) {
        broadcast(sender, feed, live_message(&message, origin));
        *next += 1;
    }
}

fn broadcast(sender: &broadcast::Sender<Live>, feed: &Feed, mut live: Live) {
    let len = live.len();
    let end = feed.published.fetch_add(len, Ordering::AcqRel) + len;
    live.set_end(end);
    let _ = sender.send(live);
}

impl RoomLive {
    /// Stops waiting for seqs below `seq` (the store lost them): what is held below it goes
    /// out as it is, in order, then what follows it.
    fn skip_to(&mut self, seq: u64) {
        let Some(next) = self.next_seq.as_mut() else {
            return;
        };
        if *next >= seq {
            return;
        }
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() >= seq {
                break;
            }
            let (message, origin) = entry.remove();
            broadcast(&self.sender, &self.feed, live_message(&message, origin));
        }
        *next = seq;
        release_held(&mut self.held, &self.sender, &self.feed, next);
    }

    /// When later messages are held back for a missing one: (the seq waited for, the first held).
    fn waiting(&self) -> Option<(u64, u64)> {
        let first_held = *self.held.keys().next()?;
        Some((self.next_seq?, first_held))
    }
}

fn live_message(message: &ChatMessage, origin: u64) -> Live {
    Live::Message {
        origin,
        seq: message.seq,
        json: to_json(&ServerFrame::Message(message.clone())),
        end: 0,
    }
}

/// Why a join was refused.
#[derive(Debug)]
pub enum JoinError {
    /// Another client uses the nickname in the room.
    NickTaken,
    /// The history could not be read.
    Store(StoreError),
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
    /// How much the feed has carried (to tell how far behind the member is, in bytes).
    pub feed: Feed,
    /// What it had carried when the member subscribed.
    pub subscribed_at: u64,
    /// What the member missed, from the store: its newest page.
    pub history: History,
    /// Older messages than the page's are kept.
    pub more: bool,
    /// Everyone in the room, the new member included, each nickname once.
    pub members: Vec<String>,
}

/// All rooms, over a store.
pub struct Hub {
    store: Arc<dyn RoomStore>,
    rooms: Mutex<HashMap<String, RoomLive>>,
    /// Who is in a room through other instances, asked at each join (with a shared store).
    presence: std::sync::OnceLock<Arc<dyn Presence>>,
}

/// Presence across instances, as a join needs it ([`crate::chat::cluster::presence`]).
#[async_trait::async_trait]
pub trait Presence: Send + Sync {
    /// Puts `nick` (of `client_id`) in `room` for this instance at once, so that an instance
    /// admitting the same nickname at this moment sees it, then reads who is in `room` through
    /// the other live instances: nickname → client id.
    async fn claim(
        &self,
        room: &str,
        nick: &str,
        client_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError>;
    /// Takes back a claim whose join was refused: the field goes, or, if another client of
    /// this instance holds the nickname here (`holder`), is its again.
    async fn release(&self, room: &str, nick: &str, holder: Option<String>);
}

const FEED_CAPACITY: usize = 1024;

/// Whether `nick`, wanted by `client_id`, clashes with `held` held by `holder`: nicknames that
/// look alike clash (UTS #39 skeletons), not only equal ones, unless the same client holds both.
fn clashes(held: &str, holder: &str, nick: &str, client_id: &str) -> bool {
    nick_skeleton(held) == nick_skeleton(nick) && holder != client_id
}

pub fn to_json(frame: &ServerFrame) -> Arc<str> {
    serde_json::to_string(frame).unwrap_or_default().into()
}

impl Hub {
    /// Rooms over `store`.
    pub fn new(store: Arc<dyn RoomStore>) -> Self {
        Self {
            store,
            rooms: Mutex::default(),
            presence: std::sync::OnceLock::new(),
        }
    }

    /// From now on each join first asks `presence` who is in the room on other instances: a
    /// room new here knows nothing of them until the next presence beat otherwise.
    pub fn set_presence(&self, presence: Arc<dyn Presence>) {
        let _ = self.presence.set(presence);
    }

    /// The store (for catching up a member that lagged behind the feed).
    pub fn store(&self) -> &dyn RoomStore {
        &*self.store
    }

    /// Adds a connection: checks the nick, replaces the same tab's old connection and
    /// subscribes, then reads the history. Subscribing first means nothing falls between history
    /// and the live feed; what comes both ways (stored after the subscription, read with the
    /// history) the session skips by seq.
    pub async fn join(
        &self,
        room: &str,
        joiner: Joiner<'_>,
        last_seq: Option<u64>,
        page: PageLimit,
    ) -> Result<Membership, JoinError> {
        let id = joiner.id;
        let presence = self.presence.get();
        // Refused here already: nothing to tell the other instances.
        if presence.is_some() && self.clashes_here(room, joiner.nick, joiner.client_id) {
            return Err(JoinError::NickTaken);
        }
        let remote = match presence {
            Some(presence) => Some(
                presence
                    .claim(room, joiner.nick, joiner.client_id)
                    .await
                    .map_err(JoinError::Store)?,
            ),
            None => None,
        };
        let nick = joiner.nick.to_owned();
        let (receiver, subscribed_at) = match self.enter(room, joiner, remote) {
            Ok(entered) => entered,
            Err(refused) => {
                if let Some(presence) = presence {
                    let holder = self.lock().get(room).and_then(|live| {
                        live.connections
                            .values()
                            .find(|c| c.nick == nick)
                            .map(|c| c.client_id.clone())
                    });
                    presence.release(room, &nick, holder).await;
                }
                return Err(refused);
            }
        };
        let (history, more) = match self.store.page(room, last_seq, None, page).await {
            Ok(page) => (page.history, page.more),
            Err(error) => {
                self.leave(room, id);
                return Err(JoinError::Store(error));
            }
        };
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(room) else {
            return Err(JoinError::Store(StoreError("the room closed".into())));
        };
        // Nobody can post in a room before its first welcome, so the first join's history ends
        // where the room's broadcasts start.
        live.next_seq.get_or_insert(history.last_seq + 1);
        Ok(Membership {
            more,
            receiver,
            feed: live.feed.clone(),
            subscribed_at,
            history,
            members: live.members(),
        })
    }

    /// Whether another client connected here holds `nick` (or a look-alike) in `room`.
    fn clashes_here(&self, room: &str, nick: &str, client_id: &str) -> bool {
        self.lock().get(room).is_some_and(|live| {
            live.connections
                .values()
                .any(|c| clashes(&c.nick, &c.client_id, nick, client_id))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomLive>> {
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The locked part of a join: presence and the live feed.
    fn enter(
        &self,
        room: &str,
        joiner: Joiner<'_>,
        remote: Option<BTreeMap<String, String>>,
    ) -> Result<(broadcast::Receiver<Live>, u64), JoinError> {
        let mut rooms = self.lock();
        let live = rooms.entry(room.to_owned()).or_insert_with(|| RoomLive {
            connections: HashMap::new(),
            sender: broadcast::channel(FEED_CAPACITY).0,
            feed: Feed::default(),
            next_seq: None,
            held: BTreeMap::new(),
            remote: BTreeMap::new(),
            departing: BTreeMap::new(),
        });
        // A room new here starts from what the other instances said just now; a room served
        // here already keeps its beat's view (and its joined/left notices).
        let fresh = remote.unwrap_or_default();
        if live.connections.is_empty() && live.remote.is_empty() {
            live.remote = fresh.clone();
        }
        if live
            .connections
            .values()
            .map(|c| (&c.nick, &c.client_id))
            .chain(live.remote.iter())
            .chain(
                live.departing
                    .iter()
                    .map(|(nick, (client_id, _))| (nick, client_id)),
            )
            .chain(fresh.iter())
            .any(|(nick, client_id)| clashes(nick, client_id, joiner.nick, joiner.client_id))
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
        // Back within the grace (its other tab took the connection over): never gone.
        let was_departing = live.departing.remove(joiner.nick).is_some();
        let was_member =
            was_departing || live.has_nick(joiner.nick) || live.remote.contains_key(joiner.nick);
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
        let receiver = live.sender.subscribe();
        let subscribed_at = live.feed.published();
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
        Ok((receiver, subscribed_at))
    }

    /// Stores a message posted by connection `origin`, then broadcasts it in seq order; a resend
    /// gets its original seq and is not broadcast again, nor is a conflict. Nothing is broadcast
    /// unless stored.
    ///
    /// The message is in the store's line when this returns (see [`RoomStore::enqueue`]), so
    /// posts made one after another are numbered in that order however their futures are
    /// awaited. The broadcast happens when the future completes: drive it to the end (a room
    /// holds later seqs back until then), e.g. in a task of its own.
    pub fn post(
        self: &Arc<Self>,
        room: &str,
        draft: Draft,
        now_ms: u64,
        origin: u64,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send + 'static {
        let pending = self
            .store
            .enqueue(room, draft, now_ms, self.last_delivered(room));
        let hub = Arc::clone(self);
        let room = room.to_owned();
        async move {
            let appended = pending.await?;
            match &appended {
                // The same once-in-seq-order path as other instances' messages (with a shared
                // store this one may have been read back from it already).
                Appended::New(message) => {
                    hub.deliver_from(message.clone(), origin);
                }
                // A resend of a message stored but not delivered here: with a shared store, the
                // first post's reply can be lost after the message was stored (the client got
                // 1013 and sent it again). Deliver it from the store now rather than wait for a
                // later message to reveal the hole.
                Appended::Duplicate(seq) if hub.undelivered(&room, *seq) => {
                    let history = hub.store.since(&room, Some(seq.saturating_sub(1))).await?;
                    if let Some(message) = history.messages.into_iter().find(|m| m.seq == *seq) {
                        hub.deliver_from(message, origin);
                    }
                }
                Appended::Duplicate(_) | Appended::Conflict(_) => {}
            }
            Ok(appended)
        }
    }

    /// The highest seq of `room` this instance broadcast or holds back (0 when none): a new
    /// message must be numbered above it, whatever state the store came back in.
    fn last_delivered(&self, room: &str) -> u64 {
        self.lock().get(room).map_or(0, |live| {
            let held = live.held.last_key_value().map_or(0, |(seq, _)| *seq);
            live.next_seq
                .map_or(0, |next| next.saturating_sub(1))
                .max(held)
        })
    }

    /// Whether the room has members here who have not been sent `seq` (nor is it held back).
    fn undelivered(&self, room: &str, seq: u64) -> bool {
        let rooms = self.lock();
        rooms.get(room).is_some_and(|live| {
            live.next_seq.is_some_and(|next| seq >= next) && !live.held.contains_key(&seq)
        })
    }

    /// Delivers a message another instance stored (seen through a shared store, see
    /// `chat::cluster`) to this instance's members of its room, through the same seq-ordered
    /// path as local posts: what already went out is dropped, what comes early is held back.
    /// Returns `(missing, first_held)` when messages are held back for an earlier one, which the
    /// caller then reads from the store and delivers.
    pub fn deliver(&self, message: ChatMessage) -> Option<(u64, u64)> {
        // No connection here posted it (connection ids start at 1).
        self.deliver_from(message, 0)
    }

    /// [`Hub::deliver`] of a message posted by connection `origin`.
    fn deliver_from(&self, message: ChatMessage, origin: u64) -> Option<(u64, u64)> {
        let mut rooms = self.lock();
        let live = rooms.get_mut(&message.room)?;
        let sent = live.next_seq.is_some_and(|next| message.seq < next);
        if !sent && !live.held.contains_key(&message.seq) {
            live.publish(message, origin);
        }
        live.waiting()
    }

    /// `room`'s seqs up to `gone` will never be heard (they left the store by count or by its
    /// bound before this instance read them, or the store went back to an older state, see
    /// [`RoomStore::enqueue`]): a member here waiting for one of them would wait for ever, and
    /// every later message with it. Members are told the hole (see the session's `forward`).
    pub fn skip_gone(&self, room: &str, gone: u64) {
        if let Some(live) = self.lock().get_mut(room) {
            live.skip_to(gone.saturating_add(1));
        }
    }

    /// The rooms with members here, with the next seq each will broadcast (`None` while its
    /// first join reads the history): what a shared store's follower catches up on.
    pub fn live_rooms(&self) -> Vec<(String, Option<u64>)> {
        self.lock()
            .iter()
            .map(|(room, live)| (room.clone(), live.next_seq))
            .collect()
    }

    /// Each room's members connected here, (nickname, client id), for other instances to see.
    pub fn local_members(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.lock()
            .iter()
            .map(|(room, live)| {
                // A departing member is still one, for the other instances too.
                let mut members: Vec<(String, String)> = live
                    .connections
                    .values()
                    .map(|c| (c.nick.clone(), c.client_id.clone()))
                    .chain(
                        live.departing
                            .iter()
                            .map(|(nick, (client_id, _))| (nick.clone(), client_id.clone())),
                    )
                    .collect();
                members.sort();
                members.dedup();
                (room.clone(), members)
            })
            .collect()
    }

    /// Sets who is in a room through other instances; tells the members here who came and
    /// who left (a SIGKILLed instance's members leave when its heartbeat expires).
    pub fn set_remote_members(&self, room: &str, remote: BTreeMap<String, String>) {
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(room) else {
            return;
        };
        let old = std::mem::replace(&mut live.remote, remote);
        for nick in live.remote.keys() {
            // One departing here and now on another instance (its other tab took over there).
            let was_departing = live.departing.remove(nick).is_some();
            if !old.contains_key(nick) && !live.has_nick(nick) && !was_departing {
                live.notice(nick, &ServerFrame::Joined { nick: nick.clone() });
            }
        }
        for nick in old.keys() {
            if !live.remote.contains_key(nick)
                && !live.has_nick(nick)
                && !live.departing.contains_key(nick)
            {
                live.notice(nick, &ServerFrame::Left { nick: nick.clone() });
            }
        }
    }

    /// Whether a room holds messages back for an earlier one.
    pub fn has_held(&self, room: &str) -> bool {
        self.lock()
            .get(room)
            .is_some_and(|live| live.waiting().is_some())
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
        self.remove_connection(room, id, false);
    }

    /// As [`leave`](Self::leave), for a connection its tab ended itself: the room hears that
    /// its member left only once the [`DEPARTURE_GRACE`] has passed without the member back.
    pub fn leave_held(self: &Arc<Self>, room: &str, id: u64) {
        if let Some(nick) = self.remove_connection(room, id, true) {
            let (hub, room) = (Arc::clone(self), room.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(DEPARTURE_GRACE).await;
                hub.settle_departure(&room, &nick);
            });
        }
    }

    fn remove_connection(&self, room: &str, id: u64, hold: bool) -> Option<String> {
        let mut rooms = self.lock();
        let live = rooms.get_mut(room)?;
        let departing = live.remove(id, hold);
        // Kept while a member departs; it goes once the grace settles.
        if live.is_idle() {
            rooms.remove(room);
        }
        departing
    }

    /// The grace of a departing member ran out: unless it came back, the room hears it left.
    fn settle_departure(&self, room: &str, nick: &str) {
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(room) else {
            return;
        };
        // Not one that left again since (its own grace settles it).
        let due = live
            .departing
            .get(nick)
            .is_some_and(|(_, since)| since.elapsed() >= DEPARTURE_GRACE);
        if due
            && live.departing.remove(nick).is_some()
            && !live.has_nick(nick)
            && !live.remote.contains_key(nick)
        {
            live.notice(
                nick,
                &ServerFrame::Left {
                    nick: nick.to_owned(),
                },
            );
        }
        if live.is_idle() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::store::{Content, MemoryStore, Retention};

    fn draft() -> Draft {
        Draft {
            from: "ada".into(),
            client_id: "c1".into(),
            client_msg_id: "m1".into(),
            content: Content::Text("hello".into()),
        }
    }

    /// Connection 1 joins room "r" as `nick` of `client_id`.
    async fn join_r(hub: &Hub, nick: &str, client_id: &str, tab_id: Option<&str>) -> Membership {
        let (replaced, _) = oneshot::channel();
        let joiner = Joiner {
            id: 1,
            nick,
            client_id,
            tab_id,
            replaced,
        };
        let page = PageLimit {
            messages: 10,
            bytes: 1 << 20,
        };
        match hub.join("r", joiner, None, page).await {
            Ok(membership) => membership,
            Err(error) => panic!("{nick} joins: {error:?}"),
        }
    }

    /// The messages (seq, origin) waiting in a member's feed; notices are skipped.
    fn delivered(receiver: &mut broadcast::Receiver<Live>) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Ok(live) = receiver.try_recv() {
            if let Live::Message { seq, origin, .. } = live {
                out.push((seq, origin));
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_departing_alone_on_this_instance_stays_claimed_until_the_grace_settles() {
        let hub = Arc::new(Hub::new(Arc::new(MemoryStore::new(Retention::default()))));
        join_r(&hub, "ada", "c1", Some("t1")).await;
        // Her tab ends its connection, the room's last here: the others (on other instances)
        // must still see her claimed while her next tab may take over.
        hub.leave_held("r", 1);
        let claimed = |hub: &Hub| {
            hub.local_members()
                .into_iter()
                .any(|(room, members)| room == "r" && members.iter().any(|(nick, _)| nick == "ada"))
        };
        assert!(claimed(&hub), "ada still claimed within the grace");
        tokio::time::sleep(DEPARTURE_GRACE + Duration::from_millis(10)).await;
        assert!(!claimed(&hub), "gone once the grace settled");
        assert!(hub.live_rooms().is_empty(), "and the room with her");
    }

    #[tokio::test]
    async fn seqs_the_store_lost_are_not_waited_for() {
        let hub = Arc::new(Hub::new(Arc::new(MemoryStore::new(Retention::default()))));
        let mut member = join_r(&hub, "bob", "c2", None).await;
        let message = |seq: u64| ChatMessage {
            room: "r".into(),
            seq,
            from: "ada".into(),
            ts: 0,
            client_msg_id: seq.to_string(),
            body: heartline_protocol::Body::Text { text: "hi".into() },
        };
        for seq in [1, 3, 5] {
            hub.deliver(message(seq));
        }
        assert_eq!(
            delivered(&mut member.receiver),
            vec![(1, 0)],
            "3 and 5 wait for 2"
        );
        // 2 to 4 were lost: 3, stored before, goes out as it is, and 5 after it.
        hub.skip_gone("r", 4);
        assert_eq!(delivered(&mut member.receiver), vec![(3, 0), (5, 0)]);
        hub.deliver(message(6));
        assert_eq!(delivered(&mut member.receiver), vec![(6, 0)]);
    }

    #[tokio::test]
    async fn a_resend_of_a_message_stored_but_never_delivered_here_is_delivered_once() {
        let store = Arc::new(MemoryStore::new(Retention::default()));
        let hub = Arc::new(Hub::new(store.clone()));
        let mut member = join_r(&hub, "bob", "c2", None).await;
        // Stored, but its post's reply was lost (as with a shared store): the hub never saw it.
        let first = store.append("r", draft(), 1).await.unwrap();
        assert!(matches!(first, Appended::New(_)));
        assert_eq!(
            delivered(&mut member.receiver),
            vec![],
            "nothing delivered yet"
        );

        let resent = hub.post("r", draft(), 2, 7).await.unwrap();
        assert_eq!(resent, Appended::Duplicate(1));
        assert_eq!(
            delivered(&mut member.receiver),
            vec![(1, 7)],
            "the resend delivers it"
        );
        // A second resend finds it delivered: nothing more.
        hub.post("r", draft(), 3, 7).await.unwrap();
        assert_eq!(
            delivered(&mut member.receiver),
            vec![],
            "delivered once only"
        );
    }
}
