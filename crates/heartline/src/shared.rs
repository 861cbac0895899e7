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
//!   leaves, or at once for a close-for-all. A follower that vanishes without a word (a crash)
//!   stops counting after [`LEASE_MS`] without an `Alive`.

use crate::close_code::{validate_close, CloseError};
use crate::machine::{CloseInfo, Event, Status};
use crate::outbox::{Payload, SendError};
use crate::OutboxLimits;
use std::collections::VecDeque;

/// A tab's identity within a shared connection (random, below 2⁵³ so JavaScript keeps it exact).
pub type TabId = u64;

/// How often a follower tells the leader it is still there, ms.
pub const ALIVE_MS: u64 = 10_000;

/// A follower not heard from for this long no longer keeps the socket open, ms. Long, because
/// browsers run the timers of hidden tabs as rarely as once a minute.
pub const LEASE_MS: u64 = 150_000;

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
    /// Sharing is not possible in this browser: this tab has its own socket.
    Alone {
        /// What is missing.
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
#[derive(Debug, Clone, PartialEq)]
pub enum Wire<P, I> {
    /// A follower subscribes (at `open()`, or to a newly announced leader).
    Hello {
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
    /// An event of the leader's connection.
    Event(Event),
    /// A frame the leader's connection received.
    Frame(I),
}

/// What the driver must do.
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
    /// Leader: close the connection with this code and reason.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Tell this tab's application.
    Report(Event),
    /// Hand this frame to this tab's application.
    Deliver(I),
    /// Tell this tab's application its role.
    Role(Role),
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
/// let out = tab.handle(Wire::Leader { tab: 2, status: Status::Open, rtt_ms: None, last_close: None }, 1);
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
    _inbound: std::marker::PhantomData<I>,
}

type Actions<P, I> = Vec<Action<P, I>>;

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
            _inbound: std::marker::PhantomData,
        }
    }

    /// This tab's id.
    pub fn tab(&self) -> TabId {
        self.tab
    }

    /// Whether this tab is the leader.
    pub fn is_leader(&self) -> bool {
        self.leading
    }

    /// The status this tab's application sees.
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
    pub fn rtt_ms(&self) -> Option<u64> {
        self.rtt_ms
    }

    /// How the shared connection last ended.
    pub fn last_close(&self) -> Option<&CloseInfo> {
        self.last_close.as_ref()
    }

    /// Follower: frames not acknowledged by the leader yet.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Leader: the followers subscribed now.
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// This tab's application opens (or reopens) the connection.
    pub fn open(&mut self, _now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        let before = self.status();
        self.started = true;
        self.subscribed = true;
        if self.leading {
            out.push(Action::Open);
        } else {
            out.push(Action::Post(Wire::Hello { tab: self.tab }));
            if self.leader.is_none() {
                self.status = Status::Connecting { attempt: 0 };
            }
            self.post_unacked(&mut out);
        }
        self.report_status_change(before, &mut out);
        out
    }

    /// This tab's `close()`: only its own subscription ends; the socket closes if it was the
    /// last. Frames this follower has not had acknowledged are dropped (reported as
    /// `Discarded`, as a single connection's close drops its queue).
    pub fn close(&mut self, code: u16, reason: &str) -> Result<Actions<P, I>, CloseError> {
        validate_close(code, reason)?;
        let mut out = Vec::new();
        if !self.subscribed {
            return Ok(out);
        }
        let before = self.status();
        self.subscribed = false;
        self.started = true;
        self.discard_unacked(&mut out);
        if self.leading {
            if self.subscribers.is_empty() {
                out.push(Action::Close {
                    code,
                    reason: reason.to_owned(),
                });
            }
        } else {
            out.push(Action::Post(Wire::Bye {
                tab: self.tab,
                code,
                reason: reason.to_owned(),
            }));
        }
        self.report_status_change(before, &mut out);
        Ok(out)
    }

    /// Closes the connection for every tab.
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
    pub fn send(&mut self, payload: P) -> Result<Actions<P, I>, SendError> {
        if self.started && !self.subscribed {
            return Err(SendError::NotOpen {
                status: Status::Stopped,
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
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked_bytes += frame_bytes;
        self.unacked.push_back((seq, payload.clone()));
        let mut out = Vec::new();
        if let (Some(leader), true) = (self.leader, self.subscribed) {
            out.push(Action::Post(Wire::Send {
                tab: self.tab,
                to: leader,
                seq,
                payload,
            }));
        }
        Ok(out)
    }

    /// The election made this tab the leader (its lock was granted). Its own unacknowledged
    /// frames go out through its new connection; the followers are told.
    pub fn promote(&mut self, _now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        if self.leading {
            return out;
        }
        self.leading = true;
        self.leader = Some(self.tab);
        self.writable = false;
        self.status = Status::Closed;
        out.push(Action::Lead);
        out.push(Action::Role(Role::Leader));
        self.unacked_bytes = 0;
        for (_, payload) in self.unacked.drain(..) {
            out.push(Action::SendOwn(payload));
        }
        if self.subscribed {
            out.push(Action::Open);
        }
        out.push(Action::Post(self.announcement()));
        out
    }

    /// Leader: an event of its connection. The followers are told; so is this tab, if it is
    /// subscribed. Frames waiting for the socket go out once it is open.
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
            out.push(Action::Post(Wire::Event(event.clone())));
        }
        if self.subscribed {
            out.push(Action::Report(event));
        }
        if opened {
            self.writable = true;
        }
        if self.writable {
            self.transmit_pending(&mut out);
        }
        out
    }

    /// Leader: a frame its connection received, for every tab.
    pub fn relay_frame(&mut self, frame: I) -> Actions<P, I>
    where
        I: Clone,
    {
        let mut out = vec![Action::Post(Wire::Frame(frame.clone()))];
        if self.subscribed {
            out.push(Action::Deliver(frame));
        }
        out
    }

    /// Leader: the driver sent (or the browser refused) a follower's frame.
    pub fn transmitted(&mut self, tab: TabId, seq: u64, error: Option<String>) -> Actions<P, I> {
        vec![Action::Post(Wire::Ack { tab, seq, error })]
    }

    /// Leader: the socket was not open after all (the server began closing): the frame waits,
    /// first in its follower's line, for the next open.
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

    /// Leader: forgets followers not heard from for [`LEASE_MS`]; follower: says it is alive.
    pub fn tick(&mut self, now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        if self.leading {
            let before = self.subscribers.len();
            self.subscribers
                .0
                .retain(|(_, subscriber)| now.saturating_sub(subscriber.last_seen) < LEASE_MS);
            if before > 0 && self.subscribers.is_empty() && !self.subscribed {
                out.push(Action::Close {
                    code: 1000,
                    reason: "no tab left".into(),
                });
            }
        } else if self.subscribed {
            out.push(Action::Post(Wire::Alive { tab: self.tab }));
        }
        out
    }

    /// Something another tab posted on the channel.
    pub fn handle(&mut self, wire: Wire<P, I>, now: u64) -> Actions<P, I> {
        let mut out = Vec::new();
        match wire {
            Wire::Hello { tab } => {
                if self.leading {
                    self.subscribers.entry(tab, now).last_seen = now;
                    out.push(Action::Open);
                    out.push(Action::Post(self.announcement()));
                }
            }
            Wire::Alive { tab } => {
                if self.leading {
                    self.subscribers.entry(tab, now).last_seen = now;
                }
            }
            Wire::Send {
                tab,
                to,
                seq,
                payload,
            } => {
                if self.leading && to == self.tab {
                    self.on_follower_frame(tab, seq, payload, now, &mut out);
                }
            }
            Wire::Bye { tab, code, reason } => {
                if self.leading
                    && self.subscribers.remove(&tab).is_some()
                    && self.subscribers.is_empty()
                    && !self.subscribed
                {
                    out.push(Action::Close { code, reason });
                }
            }
            Wire::CloseAll { code, reason } => self.on_close_all(code, &reason, &mut out),
            Wire::Leader {
                tab,
                status,
                rtt_ms,
                last_close,
            } => {
                if !self.leading {
                    self.on_leader(tab, status, rtt_ms, last_close, &mut out);
                }
            }
            Wire::Ack { tab, seq, error } => {
                if !self.leading && tab == self.tab {
                    self.on_ack(seq, error, &mut out);
                }
            }
            Wire::Event(event) => {
                if !self.leading {
                    let before = self.status();
                    self.mirror(&event);
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
            Wire::Frame(frame) => {
                if !self.leading && self.subscribed {
                    out.push(Action::Deliver(frame));
                }
            }
        }
        out
    }

    fn announcement(&self) -> Wire<P, I> {
        Wire::Leader {
            tab: self.tab,
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
        self.started = true;
        self.subscribed = false;
        self.discard_unacked(out);
        if self.leading {
            self.subscribers.clear();
            out.push(Action::Close {
                code,
                reason: reason.to_owned(),
            });
        }
        self.report_status_change(before, out);
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
        self.status = status;
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
        subscriber.expected = Some(seq + 1);
        subscriber.pending.push_back((seq, payload));
        if self.writable {
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
