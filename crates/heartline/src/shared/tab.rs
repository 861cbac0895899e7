//! The browser side of a shared connection: the election
//! ([`navigator.locks.request`](https://developer.mozilla.org/docs/Web/API/LockManager/request)),
//! the channel ([`BroadcastChannel`](https://developer.mozilla.org/docs/Web/API/BroadcastChannel))
//! and, in the leader, the connection itself. It only translates: the rules are in
//! [`SharedCore`]. Every closure, listener and timer is a field and goes away with its owner.

use super::{Action, Role, SharedCore, TabId, Wire};
use crate::driver::{browser_delay, now_ms, Heartline as Connection};
use crate::frame::{Inbound, Notice, Outgoing, Text};
use crate::machine::{CloseInfo, Event, Stats, Status};
use crate::{CloseError, Config, SendError};
use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Function, JsString, Object, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, Blob, BroadcastChannel, MessageEvent};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`: web-sys has it only behind `--cfg=web_sys_unstable_apis`, which every
    /// application would then have to set, so the one method used is bound here.
    type LockManager;

    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, options: &JsValue, callback: &Function) -> Promise;
}

/// What a tab frozen by [`SharedTab::simulate_freeze`] has not read yet, in arrival order.
enum Held {
    Message(JsValue),
    Notice(Notice),
    LockLost(u64),
}

type Core = SharedCore<Outgoing, Inbound>;
type Actions = Vec<Action<Outgoing, Inbound>>;
type OnMessage = Closure<dyn FnMut(MessageEvent)>;

/// One tab's end of a shared connection.
pub(crate) struct SharedTab {
    inner: Rc<TabInner>,
}

struct TabInner {
    core: RefCell<Core>,
    /// The leader's connection (`Rc` so it is never borrowed across a call into it).
    conn: RefCell<Option<Rc<Connection>>>,
    config: Config,
    notify: Rc<dyn Fn(Notice)>,
    /// Replaced when the page comes back from the back/forward cache (closed while there).
    channel: RefCell<BroadcastChannel>,
    on_message: RefCell<Option<OnMessage>>,
    locks: LockManager,
    lock_name: String,
    election: RefCell<Option<Election>>,
    /// Which election is the current one (a late answer to an older one is ignored).
    election_id: Cell<u64>,
    /// Which connection is the current one (a late notice from a dropped one is ignored).
    conn_id: Cell<u64>,
    alive: RefCell<Option<Interval>>,
    /// The random wait before a steal.
    steal_timer: RefCell<Option<Timeout>>,
    /// Test hook: `Some` while the tab plays frozen (what arrives waits there).
    frozen: RefCell<Option<Vec<Held>>>,
    /// Test hook: the tab goes without a word.
    crashed: Cell<bool>,
    /// In the back/forward cache: out of the lock's queue until the page is shown again.
    cached: Cell<bool>,
    /// The document's `freeze` (Page Lifecycle): a leader with followers steps down; the
    /// window's `pagehide` and `pageshow`: a follower says goodbye, and hello again.
    lifecycle: RefCell<Vec<EventListener>>,
    /// The browser refused the lock (an opaque origin: a sandboxed frame; storage denied): the
    /// tab cannot agree with the others who leads, so it leads a connection of its own, deaf
    /// and mute to them. Why, for [`Role::Alone`].
    alone: RefCell<Option<String>>,
}

/// This tab's place in the lock's queue (or its steal); once granted, the lock is held by a
/// promise that only `release` settles.
struct Election {
    abort: AbortController,
    /// Also held by the wait for the request to settle: a steal cannot be withdrawn (it takes
    /// no signal), so the browser may call this after the election is replaced.
    _granted: Rc<Closure<dyn FnMut(JsValue) -> Promise>>,
    release: Rc<RefCell<Option<Function>>>,
}

impl Drop for Election {
    fn drop(&mut self) {
        // Leave the queue if still waiting; let the lock go if held.
        self.abort.abort();
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

impl Drop for TabInner {
    fn drop(&mut self) {
        let leading = self.core.borrow().is_leader();
        if self.crashed.get() {
            // As a crashed tab: the browser lets the lock go, then the socket goes down.
            self.election.borrow_mut().take();
            self.conn.borrow_mut().take();
        } else if leading {
            self.hand_over();
        } else {
            let mut actions = self
                .core
                .borrow_mut()
                .close(1000, "tab closed")
                .unwrap_or_default();
            // Kept on close or not, nothing will send them once the handle is gone.
            self.core.borrow_mut().discard_unacked(&mut actions);
            for action in actions {
                match action {
                    Action::Post(wire) => post(&self.channel.borrow(), wire),
                    // Frames not acknowledged yet go with this tab (the last ones may have
                    // gone out just now): said, not silent (the hook's handle replaced for a
                    // new config, a page's own teardown).
                    Action::Report(event @ Event::Discarded { .. }) => {
                        (self.notify)(Notice::Event(event))
                    }
                    _ => {}
                }
            }
        }
        // The socket goes before the lock, so the next leader's socket rarely overlaps it.
        let conn = self.conn.borrow_mut().take();
        drop(conn);
        let election = self.election.borrow_mut().take();
        drop(election);
        let channel = self.channel.borrow();
        channel.set_onmessage(None);
        channel.close();
        self.alive.borrow_mut().take();
        self.lifecycle.borrow_mut().clear();
    }
}

/// The format of the messages between tabs, in the channel's and the lock's names: tabs still
/// running an older bundle (open before a deploy) then share a connection among themselves
/// instead of misreading the newer tabs' messages. Bump it with any change to those messages.
const CHANNEL_FORMAT: u32 = 4;

impl SharedTab {
    /// Joins the tabs sharing `key`, or says what this browser lacks.
    pub(crate) fn new(
        key: &str,
        config: Config,
        notify: Rc<dyn Fn(Notice)>,
    ) -> Result<Self, String> {
        let window = web_sys::window().ok_or("no window")?;
        let locks = Reflect::get(&window.navigator(), &"locks".into())
            .ok()
            .filter(|locks| !locks.is_undefined() && !locks.is_null())
            .ok_or("no Web Locks API (navigator.locks)")?;
        let name = format!("heartline/{CHANNEL_FORMAT}:{key}");
        let channel =
            BroadcastChannel::new(&name).map_err(|_| "no BroadcastChannel".to_string())?;
        let tab = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let mut config = config;
        config.shared = None;
        let core = SharedCore::new(tab, config.outbox)
            .with_takeover(config.shared_takeover_ms)
            .with_kept_on_close(config.keep_outbox_on_close);
        let beat_ms = core.beat_ms();
        let inner = Rc::new(TabInner {
            core: RefCell::new(core),
            conn: RefCell::new(None),
            config,
            notify,
            channel: RefCell::new(channel),
            on_message: RefCell::new(None),
            locks: locks.unchecked_into(),
            lock_name: name,
            election: RefCell::new(None),
            election_id: Cell::new(0),
            conn_id: Cell::new(0),
            alive: RefCell::new(None),
            steal_timer: RefCell::new(None),
            frozen: RefCell::new(None),
            crashed: Cell::new(false),
            cached: Cell::new(false),
            lifecycle: RefCell::new(Vec::new()),
            alone: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.receive(event.data());
            }
        });
        inner
            .channel
            .borrow()
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *inner.on_message.borrow_mut() = Some(on_message);
        let weak = Rc::downgrade(&inner);
        *inner.alive.borrow_mut() = Some(Interval::new(browser_delay(beat_ms), move || {
            if let Some(inner) = weak.upgrade() {
                if inner.frozen.borrow().is_none() {
                    inner.run(|core, now| core.tick(now));
                }
            }
        }));
        // The page's lifecycle, for the core.
        let listen = |target: &web_sys::EventTarget,
                      name: &'static str,
                      change: fn(&mut Core, u64, &web_sys::Event) -> Actions| {
            let weak = Rc::downgrade(&inner);
            let listener = EventListener::new(target, name, move |event| {
                if let Some(inner) = weak.upgrade() {
                    inner.run(|core, now| change(core, now, event));
                }
            });
            inner.lifecycle.borrow_mut().push(listener);
        };
        // Chromium freezes hidden tabs to save power and says so first; Firefox has no such
        // event (nor such freezes). A freeze it does not announce (a hung loop) is noticed by
        // the followers' takeover time instead.
        if let Some(document) = window.document() {
            listen(&document, "freeze", |core, now, _| core.freezing(now));
        }
        let persisted = crate::driver::from_back_forward_cache;
        let weak = Rc::downgrade(&inner);
        let on_hide = EventListener::new(&window, "pagehide", move |event| {
            if let Some(inner) = weak.upgrade() {
                inner.page_hidden(persisted(event));
            }
        });
        let weak = Rc::downgrade(&inner);
        let on_show = EventListener::new(&window, "pageshow", move |event| {
            if let Some(inner) = weak.upgrade() {
                if persisted(event) {
                    inner.page_shown();
                }
            }
        });
        inner.lifecycle.borrow_mut().extend([on_hide, on_show]);
        inner.queue(false)?;
        Ok(Self { inner })
    }

    /// Test hook: the tab stops (or resumes) as a frozen page would: it reads nothing from the
    /// channel, its connection's notices and its lock's news wait, its timers do nothing, and
    /// it keeps its lock. On resume it reads what waited, in order.
    pub(crate) fn simulate_freeze(&self, frozen: bool) {
        if frozen {
            let mut slot = self.inner.frozen.borrow_mut();
            if slot.is_none() {
                *slot = Some(Vec::new());
            }
            return;
        }
        let Some(held) = self.inner.frozen.borrow_mut().take() else {
            return;
        };
        for item in held {
            match item {
                Held::Message(data) => self.inner.receive(data),
                Held::Notice(notice) => self.inner.relay(notice),
                Held::LockLost(id) => self.inner.lock_lost(id),
            }
        }
    }

    /// Test hook: when dropped, the tab says nothing (no goodbye, no resignation), as a crashed
    /// one: its lock goes, then its socket.
    pub(crate) fn simulate_crash(&self) {
        self.inner.crashed.set(true);
    }

    pub(crate) fn open(&self) {
        self.inner.run(|core, now| core.open(now));
        // A tab closed left the lock's queue: it queues again.
        if self.inner.election.borrow().is_none() {
            self.inner.requeue();
        }
    }

    pub(crate) fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        self.close_with(|core| core.close(code, reason))
    }

    pub(crate) fn close_all(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        self.close_with(|core| core.close_all(code, reason))
    }

    /// Runs one of the core's close requests and then its actions (a re-entrant call is `Busy`).
    fn close_with(
        &self,
        request: impl FnOnce(&mut Core) -> Result<Actions, CloseError>,
    ) -> Result<(), CloseError> {
        let actions = {
            let mut core = self
                .inner
                .core
                .try_borrow_mut()
                .map_err(|_| CloseError::Busy)?;
            request(&mut core)?
        };
        self.inner.execute(actions);
        Ok(())
    }

    pub(crate) fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        let leading = {
            let core = self.inner.core.try_borrow().map_err(|_| SendError::Busy)?;
            core.is_leader().then(|| core.status())
        };
        match (leading, self.inner.connection()) {
            (Some(Status::Stopped), _) => Err(SendError::NotOpen {
                status: Status::Stopped,
            }),
            (Some(_), Some(conn)) => conn.send(payload),
            _ => {
                let actions = {
                    let mut core = self
                        .inner
                        .core
                        .try_borrow_mut()
                        .map_err(|_| SendError::Busy)?;
                    core.send(payload)?
                };
                self.inner.execute(actions);
                Ok(())
            }
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.inner
            .core
            .try_borrow()
            .map(|core| core.status())
            .unwrap_or(Status::Closed)
    }

    pub(crate) fn role(&self) -> Role {
        if let Some(reason) = self.inner.alone.borrow().clone() {
            return Role::Alone { reason };
        }
        match self.inner.core.try_borrow() {
            Ok(core) if core.is_leader() => Role::Leader,
            _ => Role::Follower,
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        if let Some(conn) = self.leader_connection() {
            return conn.stats();
        }
        self.inner
            .core
            .try_borrow()
            .map(|core| Stats {
                rtt_ms: core.rtt_ms(),
                last_close: core.last_close().cloned(),
                ..Stats::default()
            })
            .unwrap_or_default()
    }

    pub(crate) fn queued(&self) -> usize {
        match self.leader_connection() {
            Some(conn) => conn.queued(),
            None => self
                .inner
                .core
                .try_borrow()
                .map_or(0, |core| core.unacked()),
        }
    }

    pub(crate) fn ready_state(&self) -> u16 {
        match self.leader_connection() {
            Some(conn) => conn.ready_state(),
            None => self.status().ready_state(),
        }
    }

    pub(crate) fn buffered_amount(&self) -> u32 {
        self.leader_connection()
            .map_or(0, |conn| conn.buffered_amount())
    }

    fn leader_connection(&self) -> Option<Rc<Connection>> {
        self.inner.connection()
    }
}

impl TabInner {
    fn connection(&self) -> Option<Rc<Connection>> {
        self.conn.try_borrow().ok().and_then(|conn| conn.clone())
    }

    /// A message from another tab. One that waited in this tab's queue longer than a beat
    /// (sent times are wall-clock, the one clock the tabs share) means this tab's loop was
    /// stopped: the core is told first.
    fn receive(self: &Rc<Self>, data: JsValue) {
        if let Some(held) = self.frozen.borrow_mut().as_mut() {
            held.push(Held::Message(data));
            return;
        }
        let Some(wire) = decode(&data) else { return };
        // Only a leader acts on a stop (followers' frames it holds): a follower, which receives
        // every inbound frame relayed, skips the look.
        let leading_beat = self
            .core
            .try_borrow()
            .ok()
            .filter(|core| core.is_leader())
            .map(|core| core.beat_ms());
        if let Some(beat_ms) = leading_beat {
            let sent_at = Reflect::get(&data, &"at".into())
                .ok()
                .and_then(|at| at.as_f64());
            if sent_at.is_some_and(|at| js_sys::Date::now() - at > beat_ms as f64) {
                self.run(|core, now| core.was_stopped(now));
            }
        }
        self.run(|core, now| core.handle(wire, now));
    }

    /// A notice of this tab's connection (as leader), for every tab.
    fn relay(self: &Rc<Self>, notice: Notice) {
        if let Some(held) = self.frozen.borrow_mut().as_mut() {
            held.push(Held::Notice(notice));
            return;
        }
        match notice {
            Notice::Message(frame) => self.run(|core, _| core.relay_frame(frame)),
            Notice::Event(event) => self.run(|core, _| core.relay_event(event)),
            Notice::Role(_) => {}
        }
    }

    /// The lock of election `id` was taken by another tab's steal.
    fn lock_lost(self: &Rc<Self>, id: u64) {
        if let Some(held) = self.frozen.borrow_mut().as_mut() {
            held.push(Held::LockLost(id));
            return;
        }
        if id == self.election_id.get() {
            self.run(|core, now| core.demote(now));
        }
    }

    /// Queues for the lock (or, `steal`, takes it from its holder now), replacing this tab's
    /// place in the queue.
    fn queue(self: &Rc<Self>, steal: bool) -> Result<(), String> {
        // Out of the old queue first (a held lock is let go), so this tab never waits twice.
        self.election.borrow_mut().take();
        let id = self.election_id.get() + 1;
        self.election_id.set(id);
        let election = elect(self, id, steal)?;
        *self.election.borrow_mut() = Some(election);
        Ok(())
    }

    /// The browser refused the lock request itself (not an abort, not a steal): no tab of this
    /// page can agree with the others who leads. It leads alone, on a connection of its own,
    /// its channel swapped for one nobody else listens to (a tab that led and heard the others
    /// would fight them for the lead, each refused the lock in turn).
    fn locks_refused(self: &Rc<Self>, reason: String) {
        if self.alone.borrow().is_none() {
            web_sys::console::warn_1(
                &format!("heartline: not sharing the connection: {reason}").into(),
            );
            *self.alone.borrow_mut() = Some(reason);
            match BroadcastChannel::new(&self.channel_name()) {
                Ok(channel) => {
                    let old = self.channel.replace(channel);
                    old.set_onmessage(None);
                    old.close();
                }
                Err(_) => self.channel.borrow().set_onmessage(None),
            }
        }
        self.run(|core, now| core.promote(now));
    }

    /// The channel this tab listens on: the other tabs', or, alone, one of its own.
    fn channel_name(&self) -> String {
        match self.alone.borrow().as_ref() {
            Some(_) => format!("heartline/alone/{}", self.core.borrow().tab()),
            None => self.lock_name.clone(),
        }
    }

    /// A steal that could not be made: wait for the lock in the queue, and watch again.
    fn steal_failed(self: &Rc<Self>) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.steal_failed(now_ms());
        }
        self.requeue();
    }

    /// `pagehide`. A page that goes runs no destructor: a follower says goodbye. A page put in
    /// the back/forward cache (`persisted`) also lets go of what Chromium evicts a cached page
    /// for: its lock, held or waited for, once another tab asks for it
    /// ("weblocks-contention"), and its channel, once another tab posts on it
    /// ("broadcastchannel-message"). A leader hands over now; the page queues and listens
    /// again when it is shown. Only a tab with nothing waiting does so: an acknowledgement that
    /// reached a closed channel would have the frame sent again when the page comes back, and
    /// a leader's queued frames have no next leader to go to yet. Such a tab keeps both, as
    /// before, and the browser evicts it when another tab needs them.
    fn page_hidden(self: &Rc<Self>, persisted: bool) {
        if !persisted && self.core.try_borrow().is_ok_and(|core| core.is_leader()) {
            // The page goes: a leader hands over what it holds, as its drop would.
            self.hand_over();
            return;
        }
        let waiting = match self.connection() {
            Some(conn) => conn.queued(),
            None => self.core.try_borrow().map_or(1, |core| core.unacked()),
        };
        if persisted && waiting == 0 {
            self.cached.set(true);
            self.run(|core, now| core.demote(now));
            self.withdraw();
        }
        self.run(|core, _| core.page_hidden());
        if self.cached.get() {
            // Deaf to the channel until shown: it would not hear which tab sent them.
            if let Ok(mut core) = self.core.try_borrow_mut() {
                core.forget_orphans();
            }
            let channel = self.channel.borrow();
            channel.set_onmessage(None);
            channel.close();
        }
    }

    /// `pageshow` from the back/forward cache: the tab listens and queues for the lock again,
    /// and follows whoever leads meanwhile.
    fn page_shown(self: &Rc<Self>) {
        if self.cached.replace(false) {
            match BroadcastChannel::new(&self.channel_name()) {
                Ok(channel) => {
                    if let Some(on_message) = self.on_message.borrow().as_ref() {
                        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                    }
                    *self.channel.borrow_mut() = channel;
                }
                Err(error) => web_sys::console::warn_2(
                    &"heartline: cannot listen to the other tabs again".into(),
                    &error,
                ),
            }
            self.requeue();
        }
        self.run(|core, now| core.page_shown(now));
    }

    /// Queues for the lock again (after a failed steal, or stepping down); not while the page
    /// is in the back/forward cache, nor while its application is closed.
    fn requeue(self: &Rc<Self>) {
        let wants = self.core.try_borrow().is_ok_and(|core| core.wants_lead());
        if self.cached.get() || !wants {
            return;
        }
        if let Err(error) = self.queue(false) {
            web_sys::console::warn_1(
                &format!("heartline: cannot queue for the lock: {error}").into(),
            );
        }
    }

    /// This tab no longer leads: its unsent frames go to the next leader, its socket closes,
    /// and it queues for the lock again.
    fn resign(self: &Rc<Self>, hand_over: bool) {
        let (conn, unsent) = self.take_connection();
        drop(conn);
        self.requeue();
        self.pass_on(unsent, hand_over);
    }

    /// Runs one change of the core, then its actions, with no borrow held while they run (they
    /// call the application and the connection, which may call back).
    fn run(self: &Rc<Self>, change: impl FnOnce(&mut Core, u64) -> Actions) {
        let actions = {
            let Ok(mut core) = self.core.try_borrow_mut() else {
                return;
            };
            change(&mut core, now_ms())
        };
        self.execute(actions);
    }

    fn execute(self: &Rc<Self>, actions: Actions) {
        for action in actions {
            match action {
                Action::Post(wire) => post(&self.channel.borrow(), wire),
                Action::Transmit { tab, seq, payload } => {
                    let conn = self.connection();
                    let writable = conn.as_ref().is_some_and(|conn| {
                        conn.status() == Status::Open
                            && conn.ready_state() == web_sys::WebSocket::OPEN
                    });
                    match conn {
                        Some(conn) if writable => {
                            let error = conn.send_behind(payload).err().map(|error| match error {
                                SendError::Browser(message) => message,
                                other => other.to_string(),
                            });
                            self.run(|core, _| core.transmitted(tab, seq, error));
                        }
                        _ => {
                            if let Ok(mut core) = self.core.try_borrow_mut() {
                                core.not_writable(tab, seq, payload);
                            }
                        }
                    }
                }
                Action::Lead => self.lead(),
                Action::SendOwn(payload) => {
                    if let Some(conn) = self.connection() {
                        if let Err(error) = conn.send(payload) {
                            (self.notify)(Notice::Event(Event::SendFailed {
                                error: error.to_string(),
                            }));
                        }
                    }
                }
                Action::Open => {
                    if let Some(conn) = self.connection() {
                        conn.open();
                    }
                }
                Action::DiscardOwn => self.discard_own(),
                Action::Close { code, reason } => {
                    if let Some(conn) = self.connection() {
                        let _ = conn.close(code, &reason);
                    }
                }
                Action::Report(event) => (self.notify)(Notice::Event(event)),
                Action::Deliver(frame) => (self.notify)(Notice::Message(frame)),
                Action::Role(role) => {
                    let role = match (role, self.alone.borrow().clone()) {
                        (Role::Leader, Some(reason)) => Role::Alone { reason },
                        (role, _) => role,
                    };
                    (self.notify)(Notice::Role(role))
                }
                Action::StealIn { after_ms } => {
                    let weak = Rc::downgrade(self);
                    let wait = browser_delay(after_ms);
                    *self.steal_timer.borrow_mut() = Some(Timeout::new(wait, move || {
                        let Some(inner) = weak.upgrade() else { return };
                        if inner.frozen.borrow().is_none() {
                            inner.run(|core, now| core.steal_due(now));
                        }
                    }));
                }
                Action::Steal => {
                    web_sys::console::info_1(
                        &"heartline: the leading tab is silent: this tab takes the lead".into(),
                    );
                    if self.queue(true).is_err() {
                        self.steal_failed();
                    }
                }
                Action::Resign { hand_over } => self.resign(hand_over),
                Action::StepDown {
                    code,
                    reason,
                    hand_over,
                    held,
                } => self.step_down(code, &reason, hand_over, held),
                Action::Withdraw => self.withdraw(),
                Action::Adopt(frames) => {
                    if let Some(conn) = self.connection() {
                        conn.adopt(frames);
                    }
                }
            }
        }
    }

    /// Leader going away (its handle dropped, or its page: no destructor runs then): what its
    /// application queued goes with it, said, not silent; what is left came back from a socket
    /// that never sent it (other tabs' frames, acknowledged already, among them) and goes to
    /// the next leader, to send first (with no other tab, it is reported `Discarded`); then the
    /// followers stop handing it frames, before the next leader is granted the lock.
    fn hand_over(&self) {
        let tab = self.core.borrow().tab();
        self.discard_own();
        let orphans = self
            .connection()
            .map(|conn| conn.take_queued())
            .unwrap_or_default();
        // No other tab to take them (its own frames, back from a dead socket): said, not
        // posted to nobody.
        let followed = self
            .core
            .try_borrow()
            .map_or(true, |core| core.has_followers());
        if followed || orphans.is_empty() {
            self.post_orphans(tab, orphans);
        } else {
            (self.notify)(Notice::Event(Event::Discarded {
                frames: orphans.len(),
            }));
        }
        post(&self.channel.borrow(), Wire::Resign { tab });
    }

    /// Posts what a leader going away (or stepping down) hands to the next leader, if anything.
    fn post_orphans(&self, tab: TabId, frames: Vec<Outgoing>) {
        if !frames.is_empty() {
            post(&self.channel.borrow(), Wire::Orphans { tab, frames });
        }
    }

    /// Leader whose application closed ([`Action::StepDown`]): what its connection still
    /// queues, then the followers' frames it `held`, go to the next leader (`hand_over`, a
    /// copy kept here) or back to this tab's core; the socket closes with the application's
    /// code; its notices are not heard any more.
    fn step_down(self: &Rc<Self>, code: u16, reason: &str, hand_over: bool, held: Vec<Outgoing>) {
        let (conn, mut rest) = self.take_connection();
        if let Some(conn) = conn {
            if let Err(error) = conn.close(code, reason) {
                web_sys::console::warn_1(&format!("heartline: closing the socket: {error}").into());
            }
        }
        rest.extend(held);
        self.pass_on(rest, hand_over);
    }

    /// What a leader stepping aside still held: to the next leader (`hand_over`, a copy kept
    /// in case this tab leads again first), or back to this tab's core as its own.
    fn pass_on(self: &Rc<Self>, frames: Vec<Outgoing>, hand_over: bool) {
        if hand_over {
            let tab = self.core.borrow().tab();
            self.post_orphans(tab, frames.clone());
            if let Ok(mut core) = self.core.try_borrow_mut() {
                core.keep_handed_over(frames);
            }
        } else {
            self.run(|core, _| core.adopt_own(frames));
        }
    }

    /// Takes the leader's connection (its notices are not heard any more) and the frames it
    /// still queues.
    fn take_connection(&self) -> (Option<Rc<Connection>>, Vec<Outgoing>) {
        self.conn_id.set(self.conn_id.get() + 1);
        let conn = self
            .conn
            .try_borrow_mut()
            .ok()
            .and_then(|mut conn| conn.take());
        let queued = conn
            .as_ref()
            .map(|conn| conn.take_queued())
            .unwrap_or_default();
        (conn, queued)
    }

    /// The application closed: out of the lock's queue (a held lock is let go) until its next
    /// `open()`; a steal on its way is ignored when granted.
    fn withdraw(&self) {
        self.steal_timer.borrow_mut().take();
        self.election_id.set(self.election_id.get() + 1);
        self.election.borrow_mut().take();
    }

    /// Leader: drops the frames this tab's application queued on the connection, and tells it
    /// how many.
    fn discard_own(&self) {
        let frames = self.connection().map_or(0, |conn| conn.discard_own());
        if frames > 0 {
            (self.notify)(Notice::Event(Event::Discarded { frames }));
        }
    }

    /// This tab won the election: it gets the connection, whose notices go to every tab.
    fn lead(self: &Rc<Self>) {
        let weak: Weak<TabInner> = Rc::downgrade(self);
        let id = self.conn_id.get() + 1;
        self.conn_id.set(id);
        let conn = Connection::new(self.config.clone(), move |notice| {
            let Some(inner) = weak.upgrade() else { return };
            if inner.conn_id.get() == id {
                inner.relay(notice);
            }
        });
        if let Ok(mut slot) = self.conn.try_borrow_mut() {
            *slot = Some(Rc::new(conn));
        }
    }
}

/// Queues for the tab's lock (election `id`), or with `steal` takes it from its holder at once;
/// when it is granted, this tab leads until it drops, resigns, or the lock is stolen.
fn elect(inner: &Rc<TabInner>, id: u64, steal: bool) -> Result<Election, String> {
    let abort = AbortController::new().map_err(|_| "no AbortController".to_string())?;
    let release: Rc<RefCell<Option<Function>>> = Rc::default();
    let weak = Rc::downgrade(inner);
    let held = release.clone();
    let granted = Rc::new(Closure::<dyn FnMut(JsValue) -> Promise>::new(
        move |_lock: JsValue| {
            let mut keep = |resolve: Function, _reject: Function| {
                *held.borrow_mut() = Some(resolve);
            };
            let promise = Promise::new(&mut keep);
            match weak.upgrade() {
                Some(inner) if inner.election_id.get() == id => {
                    inner.run(|core, now| core.promote(now))
                }
                _ => {
                    if let Some(resolve) = held.borrow_mut().take() {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                }
            }
            promise
        },
    ));
    let options = Object::new();
    if steal {
        // A steal cannot take a signal (the browser refuses the pair); it is granted at once.
        let _ = Reflect::set(&options, &"steal".into(), &JsValue::TRUE);
    } else {
        let _ = Reflect::set(&options, &"signal".into(), &abort.signal());
    }
    let request = inner.locks.request(
        &inner.lock_name,
        &options,
        granted.as_ref().as_ref().unchecked_ref(),
    );
    // Settles when the lock is let go (fulfilled), when the wait is aborted (an AbortError,
    // not granted), or when another tab steals the held lock (an AbortError, granted): that
    // one means this tab no longer leads. Awaited, so no rejection goes unhandled.
    let weak = Rc::downgrade(inner);
    let was_granted = release.clone();
    let callable = granted.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let settled = wasm_bindgen_futures::JsFuture::from(request).await;
        // Settled: the browser will not call the grant callback any more.
        drop(callable);
        let Some(inner) = weak.upgrade() else { return };
        let Err(error) = settled else { return };
        if inner.election_id.get() != id {
            return;
        }
        if was_granted.borrow().is_some() {
            inner.lock_lost(id);
        } else if steal {
            inner.steal_failed();
        } else if error_name(&error) != "AbortError" {
            // Refused outright: an opaque origin, or storage denied to the page.
            inner.locks_refused(crate::driver::describe_js_error(&error));
        }
    });
    Ok(Election {
        abort,
        _granted: granted,
        release,
    })
}

/// A thrown `DOMException`'s name ("AbortError"), or "".
fn error_name(error: &JsValue) -> String {
    Reflect::get(error, &"name".into())
        .ok()
        .and_then(|name| name.as_string())
        .unwrap_or_default()
}

fn post(channel: &BroadcastChannel, wire: Wire<Outgoing, Inbound>) {
    if let Err(error) = channel.post_message(&encode(wire)) {
        web_sys::console::warn_2(
            &"heartline: a shared-connection message was refused".into(),
            &error,
        );
    }
}

/// A frame as the channel carries it: a string, an `ArrayBuffer` (bytes too) or a `Blob`.
fn payload_to_js(payload: Outgoing) -> JsValue {
    match payload {
        Outgoing::Text(text) => text.into(),
        Outgoing::JsText(text) => text.as_js_string().into(),
        Outgoing::Bytes(bytes) => js_sys::Uint8Array::from(&bytes[..]).buffer().into(),
        Outgoing::ArrayBuffer(buffer) => buffer.into(),
        Outgoing::Blob(blob) => blob.into(),
    }
}

fn payload_from_js(payload: JsValue) -> Option<Outgoing> {
    // Text stays a JavaScript string: the leader sends another tab's text without a copy.
    Some(if payload.is_string() {
        Outgoing::from(payload.unchecked_into::<js_sys::JsString>())
    } else if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
        Outgoing::ArrayBuffer(buffer.clone())
    } else {
        Outgoing::Blob(payload.dyn_into::<Blob>().ok()?)
    })
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}

fn num(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// A message as a plain object: frames stay strings, `ArrayBuffer`s and `Blob`s, copied by
/// the channel's structured clone (no base64); events and statuses as nested plain objects
/// (no JSON text: its code would weigh more than these few fields).
fn encode(wire: Wire<Outgoing, Inbound>) -> JsValue {
    let object = Object::new();
    let kind = match wire {
        Wire::Hello { tab } => {
            set(&object, "tab", &num(tab));
            "hello"
        }
        Wire::Open { tab } => {
            set(&object, "tab", &num(tab));
            "open"
        }
        Wire::Alive { tab } => {
            set(&object, "tab", &num(tab));
            "alive"
        }
        Wire::Send {
            tab,
            to,
            seq,
            payload,
        } => {
            set(&object, "tab", &num(tab));
            set(&object, "to", &num(to));
            set(&object, "seq", &num(seq));
            set(&object, "payload", &payload_to_js(payload));
            "send"
        }
        Wire::Orphans { tab, frames } => {
            set(&object, "tab", &num(tab));
            let list: js_sys::Array = frames.into_iter().map(payload_to_js).collect();
            set(&object, "frames", &list);
            "orphans"
        }
        Wire::Bye { tab, code, reason } => {
            set(&object, "tab", &num(tab));
            set(&object, "code", &num(code.into()));
            set(&object, "reason", &reason.into());
            "bye"
        }
        Wire::CloseAll { code, reason } => {
            set(&object, "code", &num(code.into()));
            set(&object, "reason", &reason.into());
            "closeall"
        }
        Wire::Leader {
            tab,
            epoch,
            status,
            rtt_ms,
            last_close,
        } => {
            set(&object, "tab", &num(tab));
            set(&object, "epoch", &num(epoch));
            set(&object, "status", &status_js(status));
            if let Some(rtt_ms) = rtt_ms {
                set(&object, "rtt_ms", &num(rtt_ms));
            }
            if let Some(close) = last_close {
                set(&object, "last_close", &close_js(close));
            }
            "leader"
        }
        Wire::Ack { tab, seq, error } => {
            set(&object, "tab", &num(tab));
            set(&object, "seq", &num(seq));
            if let Some(error) = error {
                set(&object, "error", &error.into());
            }
            "ack"
        }
        Wire::Beat { tab, epoch } => {
            set(&object, "tab", &num(tab));
            set(&object, "epoch", &num(epoch));
            "beat"
        }
        Wire::Resign { tab } => {
            set(&object, "tab", &num(tab));
            "resign"
        }
        Wire::Event { from, event } => {
            set(&object, "tab", &num(from));
            set(&object, "event", &event_js(event));
            "event"
        }
        Wire::Frame { from, frame } => {
            set(&object, "tab", &num(from));
            let payload: JsValue = match frame {
                Inbound::Text(text) => text.to_js_string().into(),
                Inbound::ArrayBuffer(buffer) => buffer.into(),
                Inbound::Blob(blob) => blob.into(),
            };
            set(&object, "payload", &payload);
            "frame"
        }
    };
    set(&object, "t", &kind.into());
    // Wall-clock: how long a message waited in a stopped tab's queue.
    set(&object, "at", &JsValue::from_f64(js_sys::Date::now()));
    object.into()
}

fn decode(data: &JsValue) -> Option<Wire<Outgoing, Inbound>> {
    let get = |key: &str| field(data, key);
    let number = |key: &str| field_u64(data, key);
    let string = |key: &str| field_string(data, key);
    let code = || number("code").and_then(|code| u16::try_from(code).ok());
    let wire = match string("t")?.as_str() {
        "hello" => Wire::Hello {
            tab: number("tab")?,
        },
        "open" => Wire::Open {
            tab: number("tab")?,
        },
        "alive" => Wire::Alive {
            tab: number("tab")?,
        },
        "send" => Wire::Send {
            tab: number("tab")?,
            to: number("to")?,
            seq: number("seq")?,
            payload: payload_from_js(get("payload")?)?,
        },
        "orphans" => Wire::Orphans {
            tab: number("tab")?,
            frames: get("frames")?
                .dyn_into::<js_sys::Array>()
                .ok()?
                .iter()
                .map(payload_from_js)
                .collect::<Option<_>>()?,
        },
        "bye" => Wire::Bye {
            tab: number("tab")?,
            code: code()?,
            reason: string("reason").unwrap_or_default(),
        },
        "closeall" => Wire::CloseAll {
            code: code()?,
            reason: string("reason").unwrap_or_default(),
        },
        "leader" => Wire::Leader {
            tab: number("tab")?,
            epoch: number("epoch")?,
            status: status_from(&get("status")?)?,
            rtt_ms: number("rtt_ms"),
            last_close: get("last_close").and_then(|close| close_from(&close)),
        },
        "ack" => Wire::Ack {
            tab: number("tab")?,
            seq: number("seq")?,
            error: string("error"),
        },
        "beat" => Wire::Beat {
            tab: number("tab")?,
            epoch: number("epoch")?,
        },
        "resign" => Wire::Resign {
            tab: number("tab")?,
        },
        "event" => Wire::Event {
            from: number("tab")?,
            event: event_from(&get("event")?)?,
        },
        "frame" => {
            let payload = get("payload")?;
            let frame = if payload.is_string() {
                Inbound::Text(Text::from_js(payload.unchecked_into::<JsString>()))
            } else if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
                Inbound::ArrayBuffer(buffer.clone())
            } else {
                Inbound::Blob(payload.dyn_into::<Blob>().ok()?)
            };
            Wire::Frame {
                from: number("tab")?,
                frame,
            }
        }
        _ => return None,
    };
    Some(wire)
}

/// A field of a plain object.
fn field(object: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(object, &key.into())
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A whole number from another tab, up to 2^53 (what a JS number holds exactly): anything else
/// (a fraction, a negative, 1e30) makes the message malformed rather than a saturated value.
fn field_u64(object: &JsValue, key: &str) -> Option<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    let value = field(object, key)?.as_f64()?;
    (value.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&value)).then_some(value as u64)
}

fn field_u32(object: &JsValue, key: &str) -> Option<u32> {
    u32::try_from(field_u64(object, key)?).ok()
}

fn field_string(object: &JsValue, key: &str) -> Option<String> {
    field(object, key)?.as_string()
}

/// A plain object with these fields.
fn object_with(kind_key: &str, kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    set(&object, kind_key, &kind.into());
    for (key, value) in fields {
        set(&object, key, value);
    }
    object.into()
}

/// A status; a reconnect time goes as a delay, since each tab's clock has its own origin.
fn status_js(status: Status) -> JsValue {
    let (name, fields) = match status {
        Status::Connecting { attempt } => ("connecting", vec![("attempt", num(attempt.into()))]),
        Status::Reconnecting {
            attempt,
            next_at_ms,
        } => (
            "reconnecting",
            vec![
                ("attempt", num(attempt.into())),
                ("in_ms", num(next_at_ms.saturating_sub(now_ms()))),
            ],
        ),
        Status::Unreachable { attempts } => {
            ("unreachable", vec![("attempts", num(attempts.into()))])
        }
        Status::Open => ("open", vec![]),
        Status::Closing => ("closing", vec![]),
        Status::Closed => ("closed", vec![]),
        Status::Offline => ("offline", vec![]),
        Status::Stopped => ("stopped", vec![]),
        Status::Paused => ("paused", vec![]),
        Status::Failed => ("failed", vec![]),
    };
    object_with("s", name, &fields)
}

fn status_from(value: &JsValue) -> Option<Status> {
    Some(match field_string(value, "s")?.as_str() {
        "connecting" => Status::Connecting {
            attempt: field_u32(value, "attempt")?,
        },
        "reconnecting" => Status::Reconnecting {
            attempt: field_u32(value, "attempt")?,
            next_at_ms: now_ms().saturating_add(field_u64(value, "in_ms")?),
        },
        "unreachable" => Status::Unreachable {
            attempts: field_u32(value, "attempts")?,
        },
        "open" => Status::Open,
        "closing" => Status::Closing,
        "closed" => Status::Closed,
        "offline" => Status::Offline,
        "stopped" => Status::Stopped,
        "paused" => Status::Paused,
        "failed" => Status::Failed,
        _ => return None,
    })
}

fn close_js(close: CloseInfo) -> JsValue {
    let object = Object::new();
    set(&object, "code", &num(close.code.into()));
    set(&object, "reason", &close.reason.into());
    set(&object, "was_clean", &close.was_clean.into());
    object.into()
}

fn close_from(value: &JsValue) -> Option<CloseInfo> {
    Some(CloseInfo {
        code: u16::try_from(field_u64(value, "code")?).ok()?,
        reason: field_string(value, "reason")?,
        was_clean: field(value, "was_clean")?.as_bool()?,
    })
}

/// An event: its name (`e`) and its one value, if any, under a name that says what it is.
fn event_js(event: Event) -> JsValue {
    let count = |frames: usize| num(frames as u64);
    let (name, fields) = match event {
        Event::Status(status) => ("status", vec![("status", status_js(status))]),
        Event::Opened => ("opened", vec![]),
        Event::Error => ("error", vec![]),
        Event::Closed(close) => ("closed", vec![("close", close_js(close))]),
        Event::ReconnectScheduled { attempt, delay_ms } => (
            "reconnect",
            vec![
                ("attempt", num(attempt.into())),
                ("delay_ms", num(delay_ms)),
            ],
        ),
        Event::HeartbeatSent => ("hb_sent", vec![]),
        Event::HeartbeatReply { rtt_ms } => ("hb_reply", vec![("rtt_ms", num(rtt_ms))]),
        Event::HeartbeatExtended { buffered } => ("hb_extended", vec![("buffered", num(buffered))]),
        Event::HeartbeatTimeout => ("hb_timeout", vec![]),
        Event::Flushed { frames } => ("flushed", vec![("frames", count(frames))]),
        Event::Discarded { frames } => ("discarded", vec![("frames", count(frames))]),
        Event::Requeued { frames } => ("requeued", vec![("frames", count(frames))]),
        Event::SendFailed { error } => ("send_failed", vec![("error", error.into())]),
    };
    object_with("e", name, &fields)
}

fn event_from(value: &JsValue) -> Option<Event> {
    let frames = || usize::try_from(field_u64(value, "frames")?).ok();
    Some(match field_string(value, "e")?.as_str() {
        "status" => Event::Status(status_from(&field(value, "status")?)?),
        "opened" => Event::Opened,
        "error" => Event::Error,
        "closed" => Event::Closed(close_from(&field(value, "close")?)?),
        "reconnect" => Event::ReconnectScheduled {
            attempt: field_u32(value, "attempt")?,
            delay_ms: field_u64(value, "delay_ms")?,
        },
        "hb_sent" => Event::HeartbeatSent,
        "hb_reply" => Event::HeartbeatReply {
            rtt_ms: field_u64(value, "rtt_ms")?,
        },
        "hb_extended" => Event::HeartbeatExtended {
            buffered: field_u64(value, "buffered")?,
        },
        "hb_timeout" => Event::HeartbeatTimeout,
        "flushed" => Event::Flushed { frames: frames()? },
        "discarded" => Event::Discarded { frames: frames()? },
        "requeued" => Event::Requeued { frames: frames()? },
        "send_failed" => Event::SendFailed {
            error: field_string(value, "error")?,
        },
        _ => return None,
    })
}
