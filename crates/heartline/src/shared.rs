//! One connection for all the tabs of an origin: the sans-IO core of the leader/follower
//! protocol ([`Config::with_shared`](crate::Config::with_shared)).
//!
//! One tab, the leader, owns the real connection; the others are followers and reach it through
//! a broadcast channel. The core never touches the browser: the driver (`shared/tab.rs`) feeds
//! it what the channel, the election and the connection said, and carries out its [`Action`]s.
//!
//! The rules, each a host test in `shared/tests.rs`:
//! - A follower numbers its frames (`seq`, from 1) and keeps each until the leader acknowledges
//!   it. The leader acknowledges a frame only once it went out on an open socket, and only
//!   frames addressed to it; a frame it has already seen from that follower is acknowledged
//!   again but not sent again.
//! - When a new leader is announced, each follower sends it its unacknowledged frames again,
//!   in order; a promoted follower sends its own through its new connection.
//! - A tab's `close()` ends its own subscription; the socket closes when the last subscriber
//!   leaves, or at once for a close-for-all. A closed tab leaves the lock's queue until it
//!   opens again, and a leading tab that closes steps down, handing what its connection still
//!   queues to the next leader, which opens a socket of its own: the tab that leads is one
//!   whose application wants the connection (and greets the server on it), or one whose
//!   application has not opened it yet (a handle made with `new`). A follower that vanishes without a word (a crash)
//!   stops counting after [`LEASE_MS`] without an `Alive`.
//! - A frozen leader (its page alive, its event loop stopped) keeps its lock, so the queue
//!   never moves: the leader beats every quarter of the takeover time
//!   ([`Config::with_shared_takeover`](crate::Config::with_shared_takeover)); a subscribed
//!   follower that has heard no leader for half of it asks (`Hello`, answered at once by a live
//!   leader, even one whose timers the browser throttles), and once the whole takeover time
//!   has passed without a word, it steals the lock at its turn (by tab id, half a beat apart,
//!   so the first one's announcement stands the others down) and leads with a higher epoch. A leader steps down when its lock is stolen or it
//!   hears a leader of a higher epoch; one that finds in its queue a message older than a beat
//!   (its loop was stopped) holds the followers' frames back for two beats, so a thawed leader
//!   never sends what the followers may have handed to its successor.

use crate::close_code::{validate_close, CloseError};
use crate::machine::{CloseInfo, Event, Status};
use crate::outbox::{Payload, SendError};
use crate::OutboxLimits;
use std::collections::VecDeque;

/// A tab's identity within a shared connection (random, below 2⁵³ so JavaScript keeps it exact).
///
/// ```
/// let tab: heartline::shared::TabId = 42;
/// assert!(tab < 1 << 53);
/// ```
pub type TabId = u64;

/// How often a follower tells the leader it is still there, ms.
///
/// ```
/// assert!(heartline::shared::ALIVE_MS < heartline::shared::LEASE_MS);
/// ```
pub const ALIVE_MS: u64 = 10_000;

/// A follower not heard from for this long no longer keeps the socket open, ms. Long, because
/// browsers run the timers of hidden tabs as rarely as once a minute.
///
/// ```
/// assert_eq!(heartline::shared::LEASE_MS, 150_000);
/// ```
pub const LEASE_MS: u64 = 150_000;

/// The default takeover time, ms: a follower takes the lead from a leader it has not heard for
/// this long (and that did not answer a direct question), at 1.25 times it.
///
/// ```
/// let tab: heartline::shared::SharedCore<String, String> =
///     heartline::shared::SharedCore::new(7, Default::default());
/// assert_eq!(tab.beat_ms(), heartline::shared::TAKEOVER_MS / 4);
/// ```
pub const TAKEOVER_MS: u64 = 4_000;

/// This tab's part in a shared connection, told as [`Notice::Role`](crate::Notice::Role).
///
/// ```
/// use heartline::Role;
/// assert!(Role::Alone { reason: "no BroadcastChannel".into() }.to_string().contains("own socket"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This tab owns the socket and serves the others.
    Leader,
    /// Another tab owns the socket; this one talks to it.
    Follower,
    /// Sharing is not possible in this browser (no Web Locks or `BroadcastChannel`, or the
    /// browser refuses the lock: an opaque origin, storage denied): this tab has its own socket.
    Alone {
        /// What is missing, or the browser's refusal.
        reason: String,
    },
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Leader => f.write_str("leader: this tab owns the shared socket"),
            Role::Follower => f.write_str("follower: another tab owns the shared socket"),
            Role::Alone { reason } => {
                write!(f, "not shared ({reason}): this tab has its own socket")
            }
        }
    }
}

/// What crosses the channel between the tabs of one shared connection. `P` is an outgoing
/// frame, `I` an inbound one.
///
/// ```
/// use heartline::shared::{SharedCore, Wire};
/// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
/// tab.promote(0);
/// // A follower's frame, addressed to this leader: it waits for the socket to open.
/// let send = Wire::Send { tab: 9, to: 7, seq: 1, payload: "hi".to_string() };
/// tab.handle(send, 1);
/// assert_eq!(tab.subscribers(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Wire<P, I> {
    /// A follower subscribes (at `open()`, or to a newly announced leader), or asks a silent
    /// leader whether it is there: a leader answers with [`Wire::Leader`].
    Hello {
        /// The follower.
        tab: TabId,
    },
    /// A follower's application called `open()`: it subscribes, and the connection opens now
    /// whatever its state (a reconnect waiting on its backoff, one given up, or one the
    /// server's close code stopped): as `open()` does in a tab of its own. A [`Wire::Hello`]
    /// only asks, and reopens only a connection closed for want of tabs.
    Open {
        /// The follower.
        tab: TabId,
    },
    /// A subscribed follower is still there.
    Alive {
        /// The follower.
        tab: TabId,
    },
    /// A follower's frame for the leader `to`.
    Send {
        /// The follower.
        tab: TabId,
        /// The leader it is for: a frame addressed to an old leader is never sent by a new one.
        to: TabId,
        /// Its number, from 1, per follower.
        seq: u64,
        /// The frame.
        payload: P,
    },
    /// A follower's `close()` or drop: if it was the last subscriber, the socket closes with
    /// this code and reason.
    Bye {
        /// The follower.
        tab: TabId,
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Close for every tab.
    CloseAll {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The leader, and its connection's state (on election and in answer to `Hello`).
    Leader {
        /// The leader.
        tab: TabId,
        /// Its term: one more than any it had heard of when it took the lead.
        epoch: u64,
        /// Its connection's status.
        status: Status,
        /// The latest heartbeat round trip, ms.
        rtt_ms: Option<u64>,
        /// How its connection last ended.
        last_close: Option<CloseInfo>,
    },
    /// The follower `tab`'s frame `seq` went out (or the browser refused it: `error`).
    Ack {
        /// The follower.
        tab: TabId,
        /// The frame.
        seq: u64,
        /// The browser's refusal, if it refused.
        error: Option<String>,
    },
    /// The leader is alive (every quarter of the takeover time).
    Beat {
        /// The leader.
        tab: TabId,
        /// Its term.
        epoch: u64,
    },
    /// The leader `tab` no longer leads (its lock was stolen, or it heard a newer leader, or
    /// it is going away).
    Resign {
        /// The former leader.
        tab: TabId,
    },
    /// A leading tab going away (or whose application closed) hands over the frames its
    /// connection still held: a socket that never sent them gave them back before the next
    /// open (other tabs' frames among them, acknowledged already), and, from a close, the
    /// followers' frames that waited for the socket. The next leader sends them before anything.
    Orphans {
        /// The former leader.
        tab: TabId,
        /// The frames, oldest first.
        frames: Vec<P>,
    },
    /// An event of the leader's connection.
    Event {
        /// The leader (a follower heeds only its own leader's: not a thawed former one's).
        from: TabId,
        /// The event.
        event: Event,
    },
    /// A frame the leader's connection received.
    Frame {
        /// The leader.
        from: TabId,
        /// The frame.
        frame: I,
    },
}

/// What the driver must do.
///
/// ```
/// use heartline::shared::{Action, SharedCore};
/// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
/// assert!(tab.promote(0).contains(&Action::Lead));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Action<P, I> {
    /// Post on the channel (every other tab receives it).
    Post(Wire<P, I>),
    /// Leader: send a follower's frame on the connection, then call
    /// [`SharedCore::transmitted`] (or [`SharedCore::not_writable`] if the socket is not open).
    Transmit {
        /// The follower.
        tab: TabId,
        /// The frame's number.
        seq: u64,
        /// The frame.
        payload: P,
    },
    /// Leader: this tab became the leader: create the connection (not opened yet).
    Lead,
    /// Leader: send this tab's own frame on its connection (a promoted follower's backlog).
    SendOwn(P),
    /// Leader: open the connection (no-op if open).
    Open,
    /// Leader: its application closed: drop the frames it queued on the connection
    /// ([`Machine::discard_own`](crate::Machine::discard_own)), and tell it how many
    /// ([`Event::Discarded`]).
    DiscardOwn,
    /// Leader: its application closed, so it stops leading: a tab whose application still
    /// wants the connection leads it next (an application greets the server from the tab that
    /// leads: one whose application is gone would leave the others on a connection nobody
    /// greets again). Take what the connection still queues; with `hand_over` (other tabs
    /// are subscribed) post it, then `held`, as [`Wire::Orphans`] for the next leader, and give
    /// the same to [`SharedCore::keep_handed_over`]; else give it to
    /// [`SharedCore::adopt_own`] (kept for this tab's next `open()`, or reported discarded).
    /// Then close the connection with this code and reason, and drop it.
    StepDown {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
        /// Other tabs are subscribed: what is left goes to the next leader.
        hand_over: bool,
        /// Followers' frames that waited for the socket, in order (acknowledged to them now).
        held: Vec<P>,
    },
    /// This tab's application no longer wants the connection: let the lock go (or leave its
    /// queue) until its next `open()`, so that a tab closed never leads the others.
    Withdraw,
    /// Leader: close the connection with this code and reason.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Leader: a former leader's frames ([`Wire::Orphans`]): send them before anything queued
    /// ([`Machine::adopt`](crate::Machine::adopt)).
    Adopt(Vec<P>),
    /// Tell this tab's application.
    Report(Event),
    /// Hand this frame to this tab's application.
    Deliver(I),
    /// Tell this tab's application its role.
    Role(Role),
    /// Follower: the leader has been silent for the takeover time: wait `after_ms`, then call
    /// [`SharedCore::steal_due`]. The followers that noticed steal in turn, by tab id, half a
    /// beat apart, so the first one's announcement stands the others down.
    StealIn {
        /// The wait, ms.
        after_ms: u64,
    },
    /// Follower: take the lock from the silent leader (`navigator.locks.request` with
    /// `steal: true`), then call [`SharedCore::promote`] when it is granted (or
    /// [`SharedCore::steal_failed`]).
    Steal,
    /// Leader: this tab no longer leads: take back the frames its connection has not sent (give
    /// them to [`SharedCore::adopt_own`]), drop the connection, let the lock go and queue for
    /// it again if its application wants the connection ([`SharedCore::wants_lead`]). With
    /// `hand_over` (the page is about to freeze, and may be discarded without running again),
    /// post them as [`Wire::Orphans`] for the next leader instead, and give them to
    /// [`SharedCore::keep_handed_over`].
    Resign {
        /// The frames go to the next leader now, not to this tab's own queue.
        hand_over: bool,
    },
}

/// What the leader keeps per follower.
#[derive(Debug)]
struct Subscriber<P> {
    /// The next frame number expected (frames below it were sent already).
    expected: Option<u64>,
    /// Frames waiting for the socket to open, in order.
    pending: VecDeque<(u64, P)>,
    last_seen: u64,
}

impl<P> Subscriber<P> {
    fn new(now: u64) -> Self {
        Self {
            expected: None,
            pending: VecDeque::new(),
            last_seen: now,
        }
    }
}

/// The leader's followers, ordered by tab id. A sorted `Vec` rather than a `BTreeMap`: a
/// handful of tabs, and the map's node code weighed several KiB in the bundle.
#[derive(Debug)]
struct Subscribers<P>(Vec<(TabId, Subscriber<P>)>);

impl<P> Subscribers<P> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn get_mut(&mut self, tab: &TabId) -> Option<&mut Subscriber<P>> {
        let at = self.0.binary_search_by_key(tab, |(id, _)| *id).ok()?;
        Some(&mut self.0[at].1)
    }

    /// The follower `tab`, added (as seen at `now`) if new.
    fn entry(&mut self, tab: TabId, now: u64) -> &mut Subscriber<P> {
        let at = match self.0.binary_search_by_key(&tab, |(id, _)| *id) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (tab, Subscriber::new(now)));
                at
            }
        };
        &mut self.0[at].1
    }

    fn remove(&mut self, tab: &TabId) -> Option<Subscriber<P>> {
        let at = self.0.binary_search_by_key(tab, |(id, _)| *id).ok()?;
        Some(self.0.remove(at).1)
    }
}

/// The cross-tab state of one tab: follower or leader. `P` is an outgoing frame, `I` an
/// inbound one.
///
/// ```
/// use heartline::{shared::{Action, SharedCore, Wire}, OutboxLimits, Status};
/// let mut tab: SharedCore<String, String> = SharedCore::new(1, OutboxLimits::default());
/// tab.open(0);
/// tab.send("hi".into()).unwrap();
/// // The leader (tab 2) announces itself: the frame goes to it.
/// let out = tab.handle(Wire::Leader { tab: 2, epoch: 1, status: Status::Open, rtt_ms: None, last_close: None }, 1);
/// assert!(out.contains(&Action::Post(Wire::Send { tab: 1, to: 2, seq: 1, payload: "hi".into() })));
/// ```
#[derive(Debug)]
pub struct SharedCore<P, I> {
    tab: TabId,
    limits: OutboxLimits,
    /// This tab's application wants the connection (`open()` and no `close()` since).
    subscribed: bool,
    /// `open()` was called at least once (before that, sends are queued).
    started: bool,
    /// Follower: said goodbye when its page was hidden ([`page_hidden`](Self::page_hidden)).
    hidden: bool,
    leading: bool,
    /// Follower: the leader, once announced.
    leader: Option<TabId>,
    // Follower: frames handed to the leader and not acknowledged yet, in order.
    next_seq: u64,
    unacked: VecDeque<(u64, P)>,
    unacked_bytes: usize,
    // The connection's state: mirrored from the leader, or the leader's own.
    status: Status,
    rtt_ms: Option<u64>,
    last_close: Option<CloseInfo>,
    // Leader: the followers that want the connection.
    subscribers: Subscribers<P>,
    writable: bool,
    // Takeover.
    takeover_ms: u64,
    /// A follower's `close()` keeps its unacknowledged frames for its next `open()`
    /// ([`Config::with_outbox_kept_on_close`](crate::Config::with_outbox_kept_on_close)).
    keep_on_close: bool,
    /// Leader: its term; follower: the term of the leader it follows.
    epoch: u64,
    /// The highest term heard of.
    max_epoch: u64,
    /// Follower: when a leader last said anything.
    heard_at: u64,
    /// Follower: when it last asked a silent leader.
    probe_at: Option<u64>,
    /// Follower: a steal is on its way (jitter wait or lock request).
    stealing: bool,
    /// Follower: when it last said it was alive.
    alive_at: u64,
    /// Follower: the other followers it heard, and when (their turn to steal comes before this
    /// tab's if their id is lower).
    peers: Vec<(TabId, u64)>,
    /// Leader: its loop was stopped; followers' frames wait until this time.
    suspect_until: Option<u64>,
    /// A former leader's [`Wire::Orphans`] (this tab's own, if it stepped down): sent if this
    /// tab leads next, dropped once another tab leads (it has them too).
    orphans: Option<Orphans<P>>,
    _inbound: std::marker::PhantomData<I>,
}

type Actions<P, I> = Vec<Action<P, I>>;

/// Frames a former leader handed over ([`Wire::Orphans`]), kept until a leader is known.
#[derive(Debug, PartialEq)]
struct Orphans<P> {
    /// The tab that handed them over.
    from: TabId,
    /// The highest term heard of when they were kept: that tab announcing itself again in a
    /// later term leads again, and sends its own copy.
    epoch: u64,
    frames: Vec<P>,
}

impl<P: Payload + Clone, I> SharedCore<P, I> {
    /// A follower with no leader known, not subscribed.
    ///
    /// ```
    /// let tab: heartline::shared::SharedCore<String, String> = heartline::shared::SharedCore::new(7, Default::default());
    /// assert!(!tab.is_leader());
    /// ```
    pub fn new(tab: TabId, limits: OutboxLimits) -> Self {
        Self {
            tab,
            limits,
            subscribed: false,
            started: false,
            hidden: false,
            leading: false,
            leader: None,
            next_seq: 1,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            status: Status::Closed,
            rtt_ms: None,
            last_close: None,
            subscribers: Subscribers(Vec::new()),
            writable: false,
            takeover_ms: TAKEOVER_MS,
            keep_on_close: false,
            epoch: 0,
            max_epoch: 0,
            heard_at: 0,
            probe_at: None,
            stealing: false,
            alive_at: 0,
            peers: Vec::new(),
            suspect_until: None,
            orphans: None,
            _inbound: std::marker::PhantomData,
        }
    }

    /// The takeover time, ms (default [`TAKEOVER_MS`]; at least 40, at most 2³¹−1: the longest
    /// a browser timer waits, so a huge value cannot wrap into a timer that fires at once).
    ///
    /// ```
    /// let tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default()).with_takeover(1_000);
    /// assert_eq!(tab.beat_ms(), 250);
    /// ```
    pub fn with_takeover(mut self, takeover_ms: u64) -> Self {
        self.takeover_ms = takeover_ms.clamp(40, i32::MAX as u64);
        self
    }

    /// Whether a follower's `close()` keeps its unacknowledged frames for its next `open()`
    /// (as a connection of its own keeps its outbox), instead of dropping them.
    ///
    /// ```
    /// use heartline::shared::SharedCore;
    /// let mut tab: SharedCore<String, String> =
    ///     SharedCore::new(7, Default::default()).with_kept_on_close(true);
    /// tab.open(0);
    /// tab.send("kept".into()).unwrap();
    /// tab.close(1000, "").unwrap();
    /// assert_eq!(tab.unacked(), 1);
    /// ```
    pub fn with_kept_on_close(mut self, keep: bool) -> Self {
        self.keep_on_close = keep;
        self
    }

    /// How often the leader beats and a follower checks on it: a quarter of the takeover time.
    ///
    /// ```
    /// let tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert_eq!(tab.beat_ms(), heartline::shared::TAKEOVER_MS / 4);
    /// ```
    pub fn beat_ms(&self) -> u64 {
        self.takeover_ms / 4
    }

    /// This tab's term as leader, or its leader's: each new leader's is one more than any it
    /// heard of.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// assert_eq!(tab.epoch(), 1);
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// This tab's id.
    ///
    /// ```
    /// let tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert_eq!(tab.tab(), 7);
    /// ```
    pub fn tab(&self) -> TabId {
        self.tab
    }

    /// Whether this tab is the leader.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert!(!tab.is_leader());
    /// tab.promote(0);
    /// assert!(tab.is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leading
    }

    /// The status this tab's application sees.
    ///
    /// ```
    /// use heartline::Status;
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert_eq!(tab.status(), Status::Closed);
    /// tab.open(0);
    /// assert_eq!(tab.status(), Status::Connecting { attempt: 0 });
    /// ```
    pub fn status(&self) -> Status {
        if !self.subscribed && self.started {
            Status::Stopped
        } else if !self.started {
            Status::Closed
        } else {
            self.status
        }
    }

    /// The latest heartbeat round trip (the leader's), ms.
    ///
    /// ```
    /// use heartline::Event;
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// tab.relay_event(Event::HeartbeatReply { rtt_ms: 12 });
    /// assert_eq!(tab.rtt_ms(), Some(12));
    /// ```
    pub fn rtt_ms(&self) -> Option<u64> {
        self.rtt_ms
    }

    /// How the shared connection last ended.
    ///
    /// ```
    /// let tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert!(tab.last_close().is_none());
    /// ```
    pub fn last_close(&self) -> Option<&CloseInfo> {
        self.last_close.as_ref()
    }

    /// Follower: frames not acknowledged by the leader yet.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// tab.open(0);
    /// tab.send("queued".into()).unwrap();
    /// assert_eq!(tab.unacked(), 1);
    /// ```
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Leader: the followers subscribed now.
    ///
    /// ```
    /// use heartline::shared::{SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// tab.handle(Wire::Hello { tab: 9 }, 1);
    /// assert_eq!(tab.subscribers(), 1);
    /// ```
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// This tab's application opens (or reopens) the connection.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// assert!(tab.open(0).contains(&Action::Post(Wire::Open { tab: 7 })));
    /// ```
    pub fn open(&mut self, now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        let before = self.status();
        if !self.subscribed {
            // The leader's silence counts from now: an unsubscribed tab does not watch it.
            self.heard(now);
        }
        self.started = true;
        self.subscribed = true;
        if self.leading {
            // A connection that opens now tells this tab its status itself (`relay_event`);
            // one already open for the other tabs says nothing new, so its status is told here.
            if !self.open_connection(&mut out) {
                self.report_status_change(before, &mut out);
            }
            return out;
        }
        out.push(Action::Post(Wire::Open { tab: self.tab }));
        // The leader opens for it, as a tab of its own would now.
        if self.leader.is_none() || self.connection_stopped() {
            self.status = Status::Connecting { attempt: 0 };
        }
        self.post_unacked(&mut out);
        self.report_status_change(before, &mut out);
        out
    }

    /// This tab's `close()`: only its own subscription ends; the socket closes if it was the
    /// last. Frames this follower has not had acknowledged are dropped (reported as
    /// `Discarded`, as a single connection's close drops its queue), unless it keeps them
    /// ([`with_kept_on_close`](Self::with_kept_on_close)): then they go to the leader again at
    /// its next `open()`. A closed tab leaves the lock's queue until its next `open()`
    /// ([`Action::Withdraw`]). A leading tab steps down ([`Action::StepDown`]): its own frames
    /// still queued are dropped the same way ([`Action::DiscardOwn`]), what else its
    /// connection holds goes to the next leader, and a tab whose application wants the
    /// connection leads it from then on, with a connection of its own.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.open(0);
    /// let bye = Wire::Bye { tab: 7, code: 1000, reason: "done".into() };
    /// let out = tab.close(1000, "done").unwrap();
    /// assert!(out.contains(&Action::Post(bye)) && out.contains(&Action::Withdraw));
    /// ```
    pub fn close(&mut self, code: u16, reason: &str) -> Result<Actions<P, I>, CloseError> {
        validate_close(code, reason)?;
        let mut out = Vec::new();
        let before = self.status();
        if self.started && !self.subscribed {
            return Ok(out);
        }
        let was_subscribed = self.subscribed;
        self.unsubscribe();
        if !self.keep_on_close {
            self.discard_unacked(&mut out);
        }
        if self.leading {
            self.step_down(code, reason, &mut out);
        } else if was_subscribed {
            out.push(Action::Post(Wire::Bye {
                tab: self.tab,
                code,
                reason: reason.to_owned(),
            }));
        }
        out.push(Action::Withdraw);
        self.report_status_change(before, &mut out);
        Ok(out)
    }

    /// Whether this tab's application wants the connection (it was never closed, or opened
    /// again since): only such a tab queues for the lock, so the tab that leads is one whose
    /// application is there to greet the server.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// assert!(tab.wants_lead());
    /// tab.close(1000, "").unwrap();
    /// assert!(!tab.wants_lead());
    /// tab.open(0);
    /// assert!(tab.wants_lead());
    /// ```
    pub fn wants_lead(&self) -> bool {
        self.subscribed || !self.started
    }

    /// Closes the connection for every tab.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// let all = Wire::CloseAll { code: 4000, reason: "logged out".into() };
    /// assert!(tab.close_all(4000, "logged out").unwrap().contains(&Action::Post(all)));
    /// ```
    pub fn close_all(&mut self, code: u16, reason: &str) -> Result<Actions<P, I>, CloseError> {
        validate_close(code, reason)?;
        let mut out = vec![Action::Post(Wire::CloseAll {
            code,
            reason: reason.to_owned(),
        })];
        self.on_close_all(code, reason, &mut out);
        Ok(out)
    }

    /// The application sends a frame. The leader's own frames go to its connection directly
    /// (the driver does that); a follower's are numbered, kept until acknowledged and posted
    /// to the leader if one is known.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(7, Default::default());
    /// tab.open(0);
    /// tab.send("hello".into()).unwrap();
    /// assert_eq!(tab.unacked(), 1, "kept until the leader acknowledges it");
    /// ```
    pub fn send(&mut self, payload: P) -> Result<Actions<P, I>, SendError> {
        if self.started && !self.subscribed {
            return Err(SendError::NotOpen {
                status: Status::Stopped,
            });
        }
        // As a connection of its own refuses: nothing sends until an `open()` (or, offline,
        // the network's return), so the frame would wait with no end in sight.
        if !self.leading && self.connection_stopped() {
            return Err(SendError::NotOpen {
                status: self.status,
            });
        }
        if self.unacked.len() >= self.limits.max_frames {
            return Err(SendError::OutboxFull {
                max_frames: self.limits.max_frames,
            });
        }
        let frame_bytes = payload.byte_len();
        if self.unacked_bytes + frame_bytes > self.limits.max_bytes {
            return Err(SendError::OutboxBytes {
                max_bytes: self.limits.max_bytes,
                queued_bytes: self.unacked_bytes,
                frame_bytes,
            });
        }
        let payload = payload.detached();
        let mut out = Vec::new();
        // Sent after its page said goodbye (from a later `pagehide` or `unload` handler): say
        // hello first, so a leader that closed for want of tabs opens again for this frame. (A
        // page going into the back/forward cache has closed its channel by then: the frame
        // waits, unacknowledged, until the page is shown again.)
        if std::mem::take(&mut self.hidden) && self.subscribed && !self.leading {
            out.push(Action::Post(Wire::Hello { tab: self.tab }));
        }
        self.enqueue(payload, &mut out);
        Ok(out)
    }

    /// Leader: opens its connection. Its status until the connection tells is `Connecting`, not
    /// a resting one (what the followers hear in the same announcement would otherwise refuse
    /// their sends, or say the connection is closed when it is opening). Whether it was resting
    /// (the connection reports its opening; one already open or opening says nothing new).
    fn open_connection(&mut self, out: &mut Actions<P, I>) -> bool {
        out.push(Action::Open);
        let resting = matches!(
            self.status,
            Status::Closed | Status::Stopped | Status::Failed | Status::Unreachable { .. }
        );
        if resting {
            self.status = Status::Connecting { attempt: 0 };
        }
        resting
    }

    /// Follower: a leader with no connection (`Stopped`: no tab wanted one) opens it for this
    /// tab's hello, so a subscribed follower is `Connecting`, not stopped as by its own close.
    fn see_idle_leader_opening(&mut self) {
        if self.subscribed && !self.leading && self.status == Status::Stopped {
            self.status = Status::Connecting { attempt: 0 };
        }
    }

    /// Follower: the leader's connection waits for an `open()`: given up (`Failed`,
    /// `Unreachable`), or closed by the server's close code (`Closed`: a leader with no
    /// connection open yet is `Stopped`, and opens for a follower's hello).
    fn connection_stopped(&self) -> bool {
        match self.status {
            Status::Failed | Status::Unreachable { .. } => true,
            Status::Closed => self.leader.is_some(),
            _ => false,
        }
    }

    /// The election made this tab the leader (its lock was granted). Its own unacknowledged
    /// frames go out through its new connection; the followers are told.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.open(0);
    /// let actions = tab.promote(1);
    /// assert!(actions.contains(&Action::Lead) && actions.contains(&Action::Open));
    /// ```
    pub fn promote(&mut self, _now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        self.stealing = false;
        if self.leading {
            return out;
        }
        self.leading = true;
        self.leader = Some(self.tab);
        self.writable = false;
        self.suspect_until = None;
        self.max_epoch = self.max_epoch.saturating_add(1);
        self.epoch = self.max_epoch;
        // Idle until a tab wants the connection (a hello opens it); `Closed` would read, to
        // the followers, as stopped by the server's close code.
        self.status = Status::Stopped;
        out.push(Action::Lead);
        // A former leader's frames were sent before this tab's unacknowledged ones.
        if let Some(orphans) = self.orphans.take() {
            out.push(Action::Adopt(orphans.frames));
        }
        self.unacked_bytes = 0;
        for (_, payload) in self.unacked.drain(..) {
            out.push(Action::SendOwn(payload));
        }
        if self.subscribed {
            self.open_connection(&mut out);
        }
        out.push(Action::Post(self.announcement()));
        // Told last, once this tab leads in full: what its application does on hearing it (a
        // send, a close) comes after the frames above, not between them.
        out.push(Action::Role(Role::Leader));
        out
    }

    /// Leader: an event of its connection. The followers are told; so is this tab, if it is
    /// subscribed. Frames waiting for the socket go out once it is open.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore};
    /// use heartline::{Event, Status};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.open(0);
    /// tab.promote(1);
    /// tab.relay_event(Event::Status(Status::Open));
    /// assert_eq!(tab.status(), Status::Open);
    /// ```
    pub fn relay_event(&mut self, event: Event) -> Actions<P, I> {
        let mut out = Vec::new();
        self.mirror(&event);
        match &event {
            // After `Opened` has been told, so the leader's greeting goes first.
            Event::Opened => {}
            Event::Status(status) if *status != Status::Open => self.writable = false,
            _ => {}
        }
        let opened = event == Event::Opened;
        let local = matches!(
            event,
            Event::Flushed { .. }
                | Event::Discarded { .. }
                | Event::Requeued { .. }
                | Event::SendFailed { .. }
        );
        if !local {
            out.push(Action::Post(Wire::Event {
                from: self.tab,
                event: event.clone(),
            }));
        }
        if self.subscribed {
            out.push(Action::Report(event));
        }
        if opened {
            self.writable = true;
        }
        if self.may_transmit() {
            self.transmit_pending(&mut out);
        }
        out
    }

    /// Leader: a frame its connection received, for every tab.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// let post = Action::Post(Wire::Frame { from: 7, frame: "hi".to_string() });
    /// assert!(tab.relay_frame("hi".to_string()).contains(&post));
    /// ```
    pub fn relay_frame(&mut self, frame: I) -> Actions<P, I>
    where
        I: Clone,
    {
        let mut out = vec![Action::Post(Wire::Frame {
            from: self.tab,
            frame: frame.clone(),
        })];
        if self.subscribed {
            out.push(Action::Deliver(frame));
        }
        out
    }

    /// Leader: the driver sent (or the browser refused) a follower's frame.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// let ack = Wire::Ack { tab: 9, seq: 3, error: None };
    /// assert_eq!(tab.transmitted(9, 3, None), vec![Action::Post(ack)]);
    /// ```
    pub fn transmitted(&mut self, tab: TabId, seq: u64, error: Option<String>) -> Actions<P, I> {
        vec![Action::Post(Wire::Ack { tab, seq, error })]
    }

    /// Leader: the socket was not open after all (the server began closing): the frame waits,
    /// first in its follower's line, for the next open.
    ///
    /// ```
    /// use heartline::shared::{SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// tab.handle(Wire::Hello { tab: 9 }, 1);
    /// tab.not_writable(9, 1, "later".into());
    /// assert_eq!(tab.subscribers(), 1);
    /// ```
    pub fn not_writable(&mut self, tab: TabId, seq: u64, payload: P) {
        self.writable = false;
        if let Some(subscriber) = self.subscribers.get_mut(&tab) {
            let at = subscriber
                .pending
                .iter()
                .position(|(queued, _)| *queued > seq)
                .unwrap_or(subscriber.pending.len());
            subscriber.pending.insert(at, (seq, payload));
        }
    }

    /// Every [`beat_ms`](Self::beat_ms). Leader: beats, ends a hold after a stop, forgets
    /// followers not heard from for [`LEASE_MS`] (once none of their frames waits for the
    /// socket); follower: says it is alive every
    /// [`ALIVE_MS`], and watches the leader's silence (asks it, then plans to take over).
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// let beat = Action::Post(Wire::Beat { tab: 7, epoch: tab.epoch() });
    /// assert!(tab.tick(1_000).contains(&beat));
    /// ```
    pub fn tick(&mut self, now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        if self.leading {
            self.end_hold(now, &mut out);
            out.push(Action::Post(Wire::Beat {
                tab: self.tab,
                epoch: self.epoch,
            }));
            let before = self.subscribers.len();
            // A follower whose frames still wait for the socket stays until they are out (a
            // laptop asleep through a long reconnect): forgetting it would drop them, and its
            // next frame's acknowledgement would clear them from its side too.
            self.subscribers.0.retain(|(_, subscriber)| {
                now.saturating_sub(subscriber.last_seen) < LEASE_MS
                    || !subscriber.pending.is_empty()
            });
            if before > 0 && self.subscribers.is_empty() && !self.subscribed {
                out.push(Action::Close {
                    code: 1000,
                    reason: "no tab left".into(),
                });
            }
        } else if self.subscribed && !self.hidden {
            if now.saturating_sub(self.alive_at) >= ALIVE_MS {
                self.alive_at = now;
                out.push(Action::Post(Wire::Alive { tab: self.tab }));
            }
            self.watch_leader(now, &mut out);
        }
        out
    }

    /// Follower: the random wait after [`Action::StealIn`] is over: steal if the leader is
    /// still silent (nobody else took over meanwhile: that one would have announced itself).
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default()).with_takeover(400);
    /// tab.open(0);
    /// let mut planned = false;
    /// for now in (100..=600).step_by(100) {
    ///     planned |= tab.tick(now).contains(&Action::StealIn { after_ms: 100 });
    /// }
    /// assert!(planned, "no leader heard for 400 ms, its question unanswered");
    /// assert_eq!(tab.steal_due(650), vec![Action::Steal]);
    /// ```
    pub fn steal_due(&mut self, now: u64) -> Actions<P, I> {
        if !self.stealing || self.leading {
            return Vec::new();
        }
        if self.subscribed && now.saturating_sub(self.heard_at) >= self.takeover_ms {
            vec![Action::Steal]
        } else {
            self.stealing = false;
            Vec::new()
        }
    }

    /// Follower: the steal could not be made (the browser refused it): wait a takeover time again.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default()).with_takeover(400);
    /// tab.open(0);
    /// tab.steal_failed(1_000);
    /// assert!(!tab.tick(1_100).iter().any(|a| matches!(a, Action::StealIn { .. })));
    /// ```
    pub fn steal_failed(&mut self, now: u64) {
        self.stealing = false;
        self.heard(now);
    }

    /// Leader: the driver found a message that waited in this tab's queue longer than a beat,
    /// so this tab's loop was stopped (frozen, or blocked) and a follower may have taken over
    /// meanwhile. The followers' frames wait two beats, time for a stolen lock's rejection and
    /// a successor's beat to arrive, instead of going out on a socket that may no longer be
    /// the one the others use; the followers hear this tab again at once.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(1, Default::default()).with_takeover(400);
    /// tab.promote(0);
    /// let out = tab.was_stopped(5_000);
    /// assert_eq!(out, vec![Action::Post(Wire::Beat { tab: 1, epoch: 1 })]);
    /// ```
    pub fn was_stopped(&mut self, now: u64) -> Actions<P, I> {
        if !self.leading || self.suspect_until.is_some() {
            return Vec::new();
        }
        self.suspect_until = Some(now + 2 * self.beat_ms());
        vec![Action::Post(Wire::Beat {
            tab: self.tab,
            epoch: self.epoch,
        })]
    }

    /// Leader: this tab no longer leads (its lock was stolen or it heard a newer leader). The
    /// followers' frames it holds are dropped unacknowledged (they send them to the next
    /// leader); the driver takes back its own unsent frames ([`Action::Resign`], then
    /// [`adopt_own`](Self::adopt_own)); it follows whoever leads now.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(1, Default::default());
    /// tab.promote(0);
    /// let out = tab.demote(5);
    /// assert!(out.contains(&Action::Resign { hand_over: false }));
    /// assert!(out.contains(&Action::Post(Wire::Resign { tab: 1 })));
    /// assert!(!tab.is_leader());
    /// ```
    pub fn demote(&mut self, now: u64) -> Actions<P, I> {
        self.step_aside(now, false)
    }

    /// [`demote`](Self::demote), the frames its connection has not sent handed over or not.
    fn step_aside(&mut self, now: u64, hand_over: bool) -> Actions<P, I> {
        let mut out = Vec::new();
        if !self.leading {
            return out;
        }
        let before = self.status();
        self.stop_leading();
        self.heard(now);
        self.status = Status::Connecting { attempt: 0 };
        out.push(Action::Resign { hand_over });
        out.push(Action::Post(Wire::Resign { tab: self.tab }));
        if self.subscribed {
            out.push(Action::Post(Wire::Hello { tab: self.tab }));
        }
        self.report_status_change(before, &mut out);
        out
    }

    /// Follower: its page is going away (`pagehide`: closed, navigated from, or put in the
    /// back/forward cache). A page that goes drops nothing (no destructor runs), so without a
    /// word the leader would count it for its whole lease (and a leader whose application never
    /// opened would keep the socket open for it). A follower whose frames were all acknowledged says goodbye
    /// (1000, "page hidden": the code the leader closes with if it was the last; a page may
    /// send only 1000 or 3000-4999); one whose frames the leader still holds stays counted, so
    /// they still go out. Its status is [`Status::Paused`] until the leader answers
    /// [`page_shown`](Self::page_shown)'s hello.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// use heartline::{Event, Status};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(2, Default::default());
    /// tab.open(0);
    /// let bye = Wire::Bye { tab: 2, code: 1000, reason: "page hidden".into() };
    /// let paused = Action::Report(Event::Status(Status::Paused));
    /// assert_eq!(tab.page_hidden(), vec![paused, Action::Post(bye)]);
    /// assert_eq!(tab.page_shown(5), vec![Action::Post(Wire::Hello { tab: 2 })]);
    /// ```
    pub fn page_hidden(&mut self) -> Actions<P, I> {
        if self.leading || !self.subscribed || self.hidden {
            return Vec::new();
        }
        // Paused, as a tab of its own: what is said while the page is in the back/forward
        // cache never reaches it, and the leader's answer to its hello when it is shown again
        // reports the status afresh, so the application knows to catch up.
        let mut out = Vec::new();
        let before = self.status();
        self.status = Status::Paused;
        self.report_status_change(before, &mut out);
        if self.unacked.is_empty() {
            self.hidden = true;
            out.push(Action::Post(Wire::Bye {
                tab: self.tab,
                code: 1000,
                reason: "page hidden".into(),
            }));
        }
        out
    }

    /// Leader: other tabs are subscribed (or counted until their lease ends), so frames it
    /// hands over have a tab to go to.
    #[cfg(feature = "shared")]
    pub(crate) fn has_followers(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// Follower: drops a former leader's [`Wire::Orphans`] it keeps (its page goes into the
    /// back/forward cache, deaf to the announcement that would tell it another tab sent them).
    #[cfg(feature = "shared")]
    pub(crate) fn forget_orphans(&mut self) {
        self.orphans = None;
    }

    /// A tab that stepped down ([`Action::StepDown`]): the frames it handed over. It keeps a
    /// copy: the tabs it counted may never lead (one crashed within its lease, a page gone with
    /// frames waiting), so if it leads again before another tab does, it sends them itself;
    /// once another tab leads, it drops them (that tab has them).
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.keep_handed_over(vec!["handed over".into()]);
    /// assert!(tab.promote(0).contains(&Action::Adopt(vec!["handed over".into()])));
    /// ```
    pub fn keep_handed_over(&mut self, frames: Vec<P>) {
        if !frames.is_empty() {
            self.keep_orphans(self.tab, frames);
        }
    }

    fn keep_orphans(&mut self, from: TabId, frames: Vec<P>) {
        let epoch = self.max_epoch;
        match &mut self.orphans {
            Some(orphans) => {
                orphans.from = from;
                orphans.epoch = epoch;
                orphans.frames.extend(frames);
            }
            None => {
                self.orphans = Some(Orphans {
                    from,
                    epoch,
                    frames,
                })
            }
        }
    }

    /// Follower: its page is shown again from the back/forward cache (`pageshow`, persisted):
    /// it subscribes again and hands the leader every frame not acknowledged yet (a leader
    /// that dropped them when the lease ran out sends them; one that still has them skips
    /// what it holds), and its watch on the leader starts afresh.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(2, Default::default());
    /// tab.open(0);
    /// tab.page_hidden();
    /// assert_eq!(tab.page_shown(5), vec![Action::Post(Wire::Hello { tab: 2 })]);
    /// ```
    pub fn page_shown(&mut self, now: u64) -> Actions<P, I> {
        self.hidden = false;
        if self.leading || !self.subscribed {
            return Vec::new();
        }
        // A steal planned before the page was cached was given up with its lock request: the
        // watch on the leader starts afresh, and may plan another.
        self.stealing = false;
        self.heard(now);
        let mut out = vec![Action::Post(Wire::Hello { tab: self.tab })];
        self.post_unacked(&mut out);
        out
    }

    /// The browser is about to freeze this tab (the Page Lifecycle `freeze` event: a hidden tab
    /// put to sleep to save power). A frozen leader reads nothing and answers nobody, and the
    /// others would wait a whole takeover time to notice: a leader with followers steps down
    /// now instead ([`demote`](Self::demote)), so the next one is granted the lock at once. A
    /// leader that knows of no follower keeps its socket (nobody could take it over), as does
    /// a follower.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(1, Default::default());
    /// tab.open(0);
    /// tab.promote(0);
    /// assert!(tab.freezing(5).is_empty(), "alone: nobody could take over");
    /// tab.handle(Wire::Hello { tab: 2 }, 10);
    /// assert!(tab.freezing(20).contains(&Action::Resign { hand_over: true }));
    /// assert!(!tab.is_leader());
    /// ```
    pub fn freezing(&mut self, now: u64) -> Actions<P, I> {
        if self.leading && !self.subscribers.is_empty() {
            // What its connection never sent (other tabs' frames among them, acknowledged to
            // them) goes to the next leader now: the page may never run again to hand it on.
            self.step_aside(now, true)
        } else {
            Vec::new()
        }
    }

    /// A former leader's own frames its connection never sent: they become this follower's,
    /// numbered after the others, for the next leader (outside the outbox limits: they were
    /// accepted already). A tab whose application closed reports them discarded, unless it
    /// keeps its outbox on close ([`with_kept_on_close`](Self::with_kept_on_close)): then they
    /// go at its next `open()`.
    ///
    /// ```
    /// let mut tab: heartline::shared::SharedCore<String, String> =
    ///     heartline::shared::SharedCore::new(1, Default::default());
    /// tab.open(0);
    /// tab.adopt_own(vec!["unsent".into()]);
    /// assert_eq!(tab.unacked(), 1);
    /// ```
    pub fn adopt_own(&mut self, frames: Vec<P>) -> Actions<P, I> {
        let mut out = Vec::new();
        if frames.is_empty() {
            return out;
        }
        if !self.subscribed && !self.keep_on_close {
            out.push(Action::Report(Event::Discarded {
                frames: frames.len(),
            }));
            return out;
        }
        for payload in frames {
            self.enqueue(payload, &mut out);
        }
        out
    }

    /// Numbers a frame this tab accepted, keeps it until the leader acknowledges it, and hands
    /// it to the leader if one is known and this tab is subscribed and not leading itself.
    fn enqueue(&mut self, payload: P, out: &mut Actions<P, I>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked_bytes += payload.byte_len();
        self.unacked.push_back((seq, payload.clone()));
        if let Some(leader) = self.leader.filter(|_| self.subscribed && !self.leading) {
            out.push(Action::Post(Wire::Send {
                tab: self.tab,
                to: leader,
                seq,
                payload,
            }));
        }
    }

    /// Leader: two beats after a stop and no lock lost, no newer leader heard: nobody took
    /// over, so the followers' frames go out.
    fn end_hold(&mut self, now: u64, out: &mut Actions<P, I>) {
        if self.leading && self.suspect_until.is_some_and(|until| now >= until) {
            self.suspect_until = None;
            if self.writable {
                self.transmit_pending(out);
            }
        }
    }

    fn may_transmit(&self) -> bool {
        self.writable && self.suspect_until.is_none()
    }

    fn heard(&mut self, now: u64) {
        self.heard_at = now;
        self.probe_at = None;
    }

    /// Follower: half the takeover time without a word: ask; the whole of it, the question
    /// unanswered for a beat: take over, in turn. Several followers notice at once (they all
    /// heard the leader's last word at about the same moment), so each steals at a time
    /// counted from that word: the takeover time and a beat (by then every watching follower
    /// has planned), plus half a beat per follower of a lower tab id heard asking or alive
    /// within the takeover time. The first in line steals and announces itself long before the
    /// next one's turn, which stands down (`steal_due`); a random jitter could not promise that
    /// (the announcement takes a lock round trip and a channel hop). If two still steal (the
    /// first one's news came later than half a beat), the last steal holds the lock and the
    /// other's is taken from it, so it steps down (`demote`): one leader.
    fn watch_leader(&mut self, now: u64, out: &mut Actions<P, I>) {
        if self.stealing {
            return;
        }
        let silence = now.saturating_sub(self.heard_at);
        if silence < self.takeover_ms / 2 {
            self.probe_at = None;
            return;
        }
        match self.probe_at {
            None => {
                self.probe_at = Some(now);
                out.push(Action::Post(Wire::Hello { tab: self.tab }));
            }
            Some(asked)
                if silence >= self.takeover_ms && now.saturating_sub(asked) >= self.beat_ms() =>
            {
                self.stealing = true;
                let ahead = self
                    .peers
                    .iter()
                    .filter(|(tab, at)| {
                        *tab < self.tab && now.saturating_sub(*at) < self.takeover_ms
                    })
                    .count() as u64;
                let turn = self.heard_at
                    + self.takeover_ms
                    + self.beat_ms()
                    + ahead * (self.beat_ms() / 2);
                out.push(Action::StealIn {
                    after_ms: turn.saturating_sub(now),
                });
            }
            Some(_) => {}
        }
    }

    /// Something another tab posted on the channel.
    ///
    /// ```
    /// use heartline::shared::{Action, SharedCore, Wire};
    /// let mut tab: SharedCore<String, String> = SharedCore::new(7, Default::default());
    /// tab.promote(0);
    /// // A new tab's hello opens the connection for it.
    /// assert!(tab.handle(Wire::Hello { tab: 9 }, 1).contains(&Action::Open));
    /// ```
    pub fn handle(&mut self, wire: Wire<P, I>, now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        // The hold after a stop ends on time even when this tab's timers are throttled (a
        // hidden tab ticks once a minute); the followers' messages still arrive at once.
        self.end_hold(now, &mut out);
        match wire {
            Wire::Hello { tab }
            | Wire::Open { tab }
            | Wire::Alive { tab }
            | Wire::Send { tab, .. }
                if !self.leading =>
            {
                match self.peers.iter_mut().find(|(peer, _)| *peer == tab) {
                    Some((_, at)) => *at = now,
                    None => self.peers.push((tab, now)),
                }
            }
            Wire::Bye { tab, .. } if !self.leading => {
                self.peers.retain(|(peer, _)| *peer != tab);
            }
            // The five arms below run only while leading: the two above take a follower's case.
            Wire::Hello { tab } => {
                // A new tab opens the connection (as `open()` would in its own tab); a known
                // one only asks whether this tab still leads, and must not cut a reconnect's
                // backoff short (hidden followers ask every few seconds), nor reopen what the
                // server's close code stopped. A connection closed for want of tabs (stopped
                // here) or never opened opens for it.
                let new = self.subscribers.get_mut(&tab).is_none();
                self.subscribers.entry(tab, now).last_seen = now;
                let idle = self.status == Status::Stopped
                    || (self.status == Status::Closed && self.last_close.is_none());
                if new || idle {
                    self.open_connection(&mut out);
                }
                out.push(Action::Post(self.announcement()));
            }
            Wire::Open { tab } => {
                self.subscribers.entry(tab, now).last_seen = now;
                self.open_connection(&mut out);
                out.push(Action::Post(self.announcement()));
            }
            Wire::Alive { tab } => {
                self.subscribers.entry(tab, now).last_seen = now;
            }
            Wire::Send {
                tab,
                to,
                seq,
                payload,
            } => {
                if to == self.tab {
                    self.on_follower_frame(tab, seq, payload, now, &mut out);
                }
            }
            Wire::Bye { tab, code, reason } => {
                if self.subscribers.remove(&tab).is_some()
                    && self.subscribers.is_empty()
                    && !self.subscribed
                {
                    out.push(Action::Close { code, reason });
                }
            }
            Wire::CloseAll { code, reason } => self.on_close_all(code, &reason, &mut out),
            Wire::Leader {
                tab,
                epoch,
                status,
                rtt_ms,
                last_close,
            } => {
                self.max_epoch = self.max_epoch.max(epoch);
                if self.leading {
                    self.on_rival(tab, epoch, now, &mut out);
                } else if self.follows(tab, epoch) {
                    self.heard(now);
                    self.epoch = epoch;
                    self.on_leader(tab, status, rtt_ms, last_close, &mut out);
                }
            }
            Wire::Beat { tab, epoch } => {
                self.max_epoch = self.max_epoch.max(epoch);
                if self.leading {
                    self.on_rival(tab, epoch, now, &mut out);
                } else if self.follows(tab, epoch) {
                    self.heard(now);
                    if self.leader != Some(tab) && self.subscribed {
                        // A leader this tab has not heard announce itself: ask it to.
                        out.push(Action::Post(Wire::Hello { tab: self.tab }));
                    }
                }
            }
            Wire::Orphans { tab, frames } => {
                if self.leading {
                    out.push(Action::Adopt(frames));
                } else if self.leader.is_none_or(|leader| leader == tab) {
                    // Kept until this tab leads, or another does.
                    self.keep_orphans(tab, frames);
                }
            }
            Wire::Resign { tab } => {
                if !self.leading && self.leader == Some(tab) {
                    // Stop handing frames to it; the next leader announces itself.
                    self.leader = None;
                    if self.subscribed {
                        out.push(Action::Post(Wire::Hello { tab: self.tab }));
                    }
                }
            }
            Wire::Ack { tab, seq, error } => {
                if !self.leading {
                    self.heard(now);
                }
                if !self.leading && tab == self.tab {
                    self.on_ack(seq, error, &mut out);
                }
            }
            Wire::Event { from, event } => {
                if !self.leading && self.is_my_leader(from) {
                    self.heard(now);
                    let before = self.status();
                    self.mirror(&event);
                    self.see_idle_leader_opening();
                    if self.subscribed {
                        match event {
                            // Told once, from the mirrored status below.
                            Event::Status(_) => {}
                            event => out.push(Action::Report(event)),
                        }
                    }
                    self.report_status_change(before, &mut out);
                }
            }
            Wire::Frame { from, frame } => {
                if !self.leading && self.is_my_leader(from) {
                    self.heard(now);
                    if self.subscribed {
                        out.push(Action::Deliver(frame));
                    }
                }
            }
        }
        out
    }

    /// Follower: whether an event or frame comes from the leader this tab follows (or any,
    /// while it knows none: a tab that just opened hears frames before the leader's answer).
    /// A thawed former leader's socket may still report (e.g. its close, once the server
    /// replaced it): that is not the connection the tabs share now.
    fn is_my_leader(&self, tab: TabId) -> bool {
        self.leader.is_none_or(|leader| leader == tab)
    }

    /// Follower: whether a leader's announcement or beat is to be followed: any, when none is
    /// known; else the same leader, or one of a later term (a thawed former leader's beats, of
    /// an older term, are not). Two that stole at once share a term: the follower stays with
    /// the one it has until that one resigns, rather than flipping and handing its unacked
    /// frames to both.
    fn follows(&self, tab: TabId, epoch: u64) -> bool {
        match self.leader {
            None => true,
            Some(leader) => leader == tab || epoch > self.epoch,
        }
    }

    /// Leader: another tab says it leads. One of a higher term took the lead after this one
    /// (it stole the lock while this tab was stopped): step down. One of the same term stole
    /// at the same moment: the lock decides (the loser's is stolen). An older one is a thawed
    /// former leader about to find its lock gone.
    fn on_rival(&mut self, tab: TabId, epoch: u64, now: u64, out: &mut Actions<P, I>) {
        if tab != self.tab && epoch > self.epoch {
            out.extend(self.demote(now));
        }
    }

    fn announcement(&self) -> Wire<P, I> {
        Wire::Leader {
            tab: self.tab,
            epoch: self.epoch,
            status: self.status,
            rtt_ms: self.rtt_ms,
            last_close: self.last_close.clone(),
        }
    }

    fn mirror(&mut self, event: &Event) {
        match event {
            Event::Status(status) => self.status = *status,
            Event::HeartbeatReply { rtt_ms } => self.rtt_ms = Some(*rtt_ms),
            Event::Closed(close) => self.last_close = Some(close.clone()),
            _ => {}
        }
    }

    fn report_status_change(&self, before: Status, out: &mut Actions<P, I>) {
        let now = self.status();
        if now != before {
            out.push(Action::Report(Event::Status(now)));
        }
    }

    fn post_unacked(&self, out: &mut Actions<P, I>) {
        let Some(leader) = self.leader else { return };
        for (seq, payload) in &self.unacked {
            out.push(Action::Post(Wire::Send {
                tab: self.tab,
                to: leader,
                seq: *seq,
                payload: payload.clone(),
            }));
        }
    }

    fn discard_unacked(&mut self, out: &mut Actions<P, I>) {
        if !self.unacked.is_empty() {
            let frames = self.unacked.len();
            self.unacked.clear();
            self.unacked_bytes = 0;
            out.push(Action::Report(Event::Discarded { frames }));
        }
    }

    fn on_close_all(&mut self, code: u16, reason: &str, out: &mut Actions<P, I>) {
        let before = self.status();
        self.unsubscribe();
        self.discard_unacked(out);
        if self.leading {
            // Every tab closes: nothing is handed over.
            self.subscribers.clear();
            self.step_down(code, reason, out);
        }
        out.push(Action::Withdraw);
        self.report_status_change(before, out);
    }

    /// This tab's application no longer wants the connection (closed, or closed for all): nor a
    /// takeover of it, planned or asked for, which goes with the lock's queue
    /// ([`Action::Withdraw`]).
    fn unsubscribe(&mut self) {
        self.subscribed = false;
        self.started = true;
        self.stealing = false;
        self.probe_at = None;
    }

    /// Leader whose application closed: it stops leading, and hands what its connection holds
    /// to the next leader if other tabs are subscribed ([`Action::StepDown`]).
    fn step_down(&mut self, code: u16, reason: &str, out: &mut Actions<P, I>) {
        if !self.keep_on_close {
            out.push(Action::DiscardOwn);
        }
        // Followers' frames waiting for the socket go in the handover too (a follower whose
        // page went has them nowhere else); their tabs are told they went, so a live one does
        // not hand them to the next leader a second time.
        let mut held = Vec::new();
        for (tab, subscriber) in &mut self.subscribers.0 {
            if let Some(&(last, _)) = subscriber.pending.back() {
                held.extend(subscriber.pending.drain(..).map(|(_, payload)| payload));
                out.push(Action::Post(Wire::Ack {
                    tab: *tab,
                    seq: last,
                    error: None,
                }));
            }
        }
        out.push(Action::StepDown {
            code,
            reason: reason.to_owned(),
            hand_over: !self.subscribers.is_empty(),
            held,
        });
        self.stop_leading();
        self.status = Status::Closed;
        out.push(Action::Post(Wire::Resign { tab: self.tab }));
    }

    /// Leader no more: it follows no one until a leader announces itself.
    fn stop_leading(&mut self) {
        self.leading = false;
        self.leader = None;
        self.writable = false;
        self.suspect_until = None;
        self.subscribers.clear();
        self.stealing = false;
    }

    fn on_leader(
        &mut self,
        tab: TabId,
        status: Status,
        rtt_ms: Option<u64>,
        last_close: Option<CloseInfo>,
        out: &mut Actions<P, I>,
    ) {
        let before = self.status();
        let new_leader = self.leader != Some(tab);
        self.leader = Some(tab);
        let sent = |orphans: &Orphans<P>| orphans.from != tab || self.epoch > orphans.epoch;
        if self.orphans.as_ref().is_some_and(sent) {
            // The new leader heard the same handover, or is the tab that made it, leading
            // again: it sends them.
            self.orphans = None;
        }
        self.status = status;
        self.see_idle_leader_opening();
        self.rtt_ms = rtt_ms.or(self.rtt_ms);
        self.last_close = last_close.or(self.last_close.take());
        if new_leader {
            out.push(Action::Role(Role::Follower));
            if self.subscribed {
                // A new leader knows nothing of us: subscribe again, and hand it every frame
                // the old one never acknowledged.
                out.push(Action::Post(Wire::Hello { tab: self.tab }));
                self.post_unacked(out);
            }
        }
        if self.subscribed {
            self.report_status_change(before, out);
        }
    }

    fn on_ack(&mut self, seq: u64, error: Option<String>, out: &mut Actions<P, I>) {
        while let Some((first, _)) = self.unacked.front() {
            if *first > seq {
                break;
            }
            if let Some((_, payload)) = self.unacked.pop_front() {
                self.unacked_bytes = self.unacked_bytes.saturating_sub(payload.byte_len());
            }
        }
        if let Some(error) = error {
            if self.subscribed {
                out.push(Action::Report(Event::SendFailed { error }));
            }
        }
    }

    fn on_follower_frame(
        &mut self,
        tab: TabId,
        seq: u64,
        payload: P,
        now: u64,
        out: &mut Actions<P, I>,
    ) {
        let subscriber = self.subscribers.entry(tab, now);
        subscriber.last_seen = now;
        let already = subscriber.expected.is_some_and(|expected| seq < expected)
            || subscriber.pending.iter().any(|(queued, _)| *queued == seq);
        if already {
            // A resend of a frame sent (or waiting) already: acknowledge, never send twice.
            if subscriber.expected.is_some_and(|expected| seq < expected)
                && !subscriber.pending.iter().any(|(queued, _)| *queued <= seq)
            {
                out.push(Action::Post(Wire::Ack {
                    tab,
                    seq,
                    error: None,
                }));
            }
            return;
        }
        subscriber.expected = Some(seq.saturating_add(1));
        subscriber.pending.push_back((seq, payload));
        if self.may_transmit() {
            self.transmit_pending(out);
        }
    }

    fn transmit_pending(&mut self, out: &mut Actions<P, I>) {
        for (tab, subscriber) in &mut self.subscribers.0 {
            for (seq, payload) in subscriber.pending.drain(..) {
                out.push(Action::Transmit {
                    tab: *tab,
                    seq,
                    payload,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(feature = "shared")]
mod tab;
#[cfg(feature = "shared")]
pub(crate) use tab::SharedTab;
