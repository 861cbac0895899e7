//! The browser side of a shared connection: the election
//! ([`navigator.locks.request`](https://developer.mozilla.org/docs/Web/API/LockManager/request)),
//! the channel ([`BroadcastChannel`](https://developer.mozilla.org/docs/Web/API/BroadcastChannel))
//! and, in the leader, the connection itself. It only translates: the rules are in
//! [`SharedCore`]. Every closure, listener and timer is a field and goes away with its owner.

use super::{Action, Role, SharedCore, Wire, ALIVE_MS};
use crate::driver::{now_ms, Heartline as Connection};
use crate::frame::{Inbound, Notice, Outgoing, Text};
use crate::machine::{CloseInfo, Event, Stats, Status};
use crate::{CloseError, Config, SendError};
use gloo_timers::callback::Interval;
use js_sys::{ArrayBuffer, Function, JsString, Object, Promise, Reflect};
use serde_json::{json, Value};
use std::cell::RefCell;
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
    channel: BroadcastChannel,
    on_message: RefCell<Option<OnMessage>>,
    election: RefCell<Option<Election>>,
    alive: RefCell<Option<Interval>>,
}

/// This tab's place in the lock's queue; once granted, the lock is held by a promise that only
/// `release` settles.
struct Election {
    abort: AbortController,
    _granted: Closure<dyn FnMut(JsValue) -> Promise>,
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
        if !leading {
            if let Ok(actions) = self.core.borrow_mut().close(1000, "tab closed") {
                for action in actions {
                    if let Action::Post(wire) = action {
                        post(&self.channel, wire);
                    }
                }
            }
        }
        // The socket goes before the lock, so the next leader's socket rarely overlaps it.
        let conn = self.conn.borrow_mut().take();
        drop(conn);
        let election = self.election.borrow_mut().take();
        drop(election);
        self.channel.set_onmessage(None);
        self.channel.close();
        self.alive.borrow_mut().take();
    }
}

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
        let channel = BroadcastChannel::new(&format!("heartline:{key}"))
            .map_err(|_| "no BroadcastChannel".to_string())?;
        let tab = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let mut config = config;
        config.shared = None;
        let core = SharedCore::new(tab, config.outbox);
        let inner = Rc::new(TabInner {
            core: RefCell::new(core),
            conn: RefCell::new(None),
            config,
            notify,
            channel,
            on_message: RefCell::new(None),
            election: RefCell::new(None),
            alive: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(wire) = decode(&event.data()) {
                inner.run(|core, now| core.handle(wire, now));
            }
        });
        inner
            .channel
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *inner.on_message.borrow_mut() = Some(on_message);
        let weak = Rc::downgrade(&inner);
        *inner.alive.borrow_mut() = Some(Interval::new(ALIVE_MS as u32, move || {
            if let Some(inner) = weak.upgrade() {
                inner.run(|core, now| core.tick(now));
            }
        }));
        let election = elect(&locks.unchecked_into(), &format!("heartline:{key}"), &inner)?;
        *inner.election.borrow_mut() = Some(election);
        Ok(Self { inner })
    }

    pub(crate) fn open(&self) {
        self.inner.run(|core, now| core.open(now));
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
                Action::Post(wire) => post(&self.channel, wire),
                Action::Transmit { tab, seq, payload } => {
                    let conn = self.connection();
                    let writable = conn.as_ref().is_some_and(|conn| {
                        conn.status() == Status::Open
                            && conn.ready_state() == web_sys::WebSocket::OPEN
                    });
                    match conn {
                        Some(conn) if writable => {
                            let error = conn.send(payload).err().map(|error| match error {
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
                Action::Close { code, reason } => {
                    if let Some(conn) = self.connection() {
                        let _ = conn.close(code, &reason);
                    }
                }
                Action::Report(event) => (self.notify)(Notice::Event(event)),
                Action::Deliver(frame) => (self.notify)(Notice::Message(frame)),
                Action::Role(role) => (self.notify)(Notice::Role(role)),
            }
        }
    }

    /// This tab won the election: it gets the connection, whose notices go to every tab.
    fn lead(self: &Rc<Self>) {
        let weak: Weak<TabInner> = Rc::downgrade(self);
        let conn = Connection::new(self.config.clone(), move |notice| {
            let Some(inner) = weak.upgrade() else { return };
            match notice {
                Notice::Message(frame) => inner.run(|core, _| core.relay_frame(frame)),
                Notice::Event(event) => inner.run(|core, _| core.relay_event(event)),
                Notice::Role(_) => {}
            }
        });
        if let Ok(mut slot) = self.conn.try_borrow_mut() {
            *slot = Some(Rc::new(conn));
        }
    }
}

/// Queues for the lock named `name`; when it is granted, this tab leads until it drops.
fn elect(locks: &LockManager, name: &str, inner: &Rc<TabInner>) -> Result<Election, String> {
    let abort = AbortController::new().map_err(|_| "no AbortController".to_string())?;
    let release: Rc<RefCell<Option<Function>>> = Rc::default();
    let weak = Rc::downgrade(inner);
    let held = release.clone();
    let granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock: JsValue| {
        let mut keep = |resolve: Function, _reject: Function| {
            *held.borrow_mut() = Some(resolve);
        };
        let promise = Promise::new(&mut keep);
        match weak.upgrade() {
            Some(inner) => inner.run(|core, now| core.promote(now)),
            None => {
                if let Some(resolve) = held.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
        }
        promise
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"signal".into(), &abort.signal());
    let request = locks.request(name, &options, granted.as_ref().unchecked_ref());
    // Settles when the lock is let go or the wait is aborted (an AbortError): awaited so that
    // neither is reported as an unhandled rejection.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(request).await;
    });
    Ok(Election {
        abort,
        _granted: granted,
        release,
    })
}

fn post(channel: &BroadcastChannel, wire: Wire<Outgoing, Inbound>) {
    if let Err(error) = channel.post_message(&encode(wire)) {
        web_sys::console::warn_2(
            &"heartline: a shared-connection message was refused".into(),
            &error,
        );
    }
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}

fn num(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// A message as a plain object: frames stay strings, `ArrayBuffer`s and `Blob`s, copied by
/// the channel's structured clone (no base64); events and statuses as JSON text.
fn encode(wire: Wire<Outgoing, Inbound>) -> JsValue {
    let object = Object::new();
    let kind = match wire {
        Wire::Hello { tab } => {
            set(&object, "tab", &num(tab));
            "hello"
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
            let payload: JsValue = match payload {
                Outgoing::Text(text) => text.into(),
                Outgoing::Bytes(bytes) => js_sys::Uint8Array::from(&bytes[..]).buffer().into(),
                Outgoing::ArrayBuffer(buffer) => buffer.into(),
                Outgoing::Blob(blob) => blob.into(),
            };
            set(&object, "payload", &payload);
            "send"
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
            status,
            rtt_ms,
            last_close,
        } => {
            set(&object, "tab", &num(tab));
            let state = json!({
                "status": status_json(status),
                "rtt_ms": rtt_ms,
                "last_close": last_close.map(|close| close_json(&close)),
            });
            set(&object, "state", &state.to_string().into());
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
        Wire::Event(event) => {
            set(&object, "event", &event_json(&event).to_string().into());
            "event"
        }
        Wire::Frame(frame) => {
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
    object.into()
}

fn decode(data: &JsValue) -> Option<Wire<Outgoing, Inbound>> {
    let get = |key: &str| Reflect::get(data, &key.into()).ok();
    let number = |key: &str| get(key).and_then(|v| v.as_f64()).map(|v| v as u64);
    let string = |key: &str| get(key).and_then(|v| v.as_string());
    let json = |key: &str| string(key).and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let code = || number("code").and_then(|code| u16::try_from(code).ok());
    let wire = match string("t")?.as_str() {
        "hello" => Wire::Hello {
            tab: number("tab")?,
        },
        "alive" => Wire::Alive {
            tab: number("tab")?,
        },
        "send" => {
            let payload = get("payload")?;
            let payload = if let Some(text) = payload.as_string() {
                Outgoing::Text(text)
            } else if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
                Outgoing::ArrayBuffer(buffer.clone())
            } else {
                Outgoing::Blob(payload.dyn_into::<Blob>().ok()?)
            };
            Wire::Send {
                tab: number("tab")?,
                to: number("to")?,
                seq: number("seq")?,
                payload,
            }
        }
        "bye" => Wire::Bye {
            tab: number("tab")?,
            code: code()?,
            reason: string("reason").unwrap_or_default(),
        },
        "closeall" => Wire::CloseAll {
            code: code()?,
            reason: string("reason").unwrap_or_default(),
        },
        "leader" => {
            let state = json("state")?;
            Wire::Leader {
                tab: number("tab")?,
                status: status_from(&state["status"])?,
                rtt_ms: state["rtt_ms"].as_u64(),
                last_close: close_from(&state["last_close"]),
            }
        }
        "ack" => Wire::Ack {
            tab: number("tab")?,
            seq: number("seq")?,
            error: string("error"),
        },
        "event" => Wire::Event(event_from(&json("event")?)?),
        "frame" => {
            let payload = get("payload")?;
            Wire::Frame(if payload.is_string() {
                Inbound::Text(Text::from_js(payload.unchecked_into::<JsString>()))
            } else if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
                Inbound::ArrayBuffer(buffer.clone())
            } else {
                Inbound::Blob(payload.dyn_into::<Blob>().ok()?)
            })
        }
        _ => return None,
    };
    Some(wire)
}

/// A status as JSON; a reconnect time goes as a delay, since each tab's clock has its own origin.
fn status_json(status: Status) -> Value {
    match status {
        Status::Connecting { attempt } => json!({ "s": "connecting", "attempt": attempt }),
        Status::Reconnecting {
            attempt,
            next_at_ms,
        } => {
            json!({ "s": "reconnecting", "attempt": attempt, "in_ms": next_at_ms.saturating_sub(now_ms()) })
        }
        Status::Unreachable { attempts } => json!({ "s": "unreachable", "attempts": attempts }),
        Status::Open => json!({ "s": "open" }),
        Status::Closing => json!({ "s": "closing" }),
        Status::Closed => json!({ "s": "closed" }),
        Status::Offline => json!({ "s": "offline" }),
        Status::Stopped => json!({ "s": "stopped" }),
        Status::Paused => json!({ "s": "paused" }),
        Status::Failed => json!({ "s": "failed" }),
    }
}

fn status_from(value: &Value) -> Option<Status> {
    let count = |key: &str| value[key].as_u64().and_then(|n| u32::try_from(n).ok());
    Some(match value["s"].as_str()? {
        "connecting" => Status::Connecting {
            attempt: count("attempt")?,
        },
        "reconnecting" => Status::Reconnecting {
            attempt: count("attempt")?,
            next_at_ms: now_ms().saturating_add(value["in_ms"].as_u64()?),
        },
        "unreachable" => Status::Unreachable {
            attempts: count("attempts")?,
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

fn close_json(close: &CloseInfo) -> Value {
    json!({ "code": close.code, "reason": close.reason, "was_clean": close.was_clean })
}

fn close_from(value: &Value) -> Option<CloseInfo> {
    Some(CloseInfo {
        code: u16::try_from(value["code"].as_u64()?).ok()?,
        reason: value["reason"].as_str()?.to_owned(),
        was_clean: value["was_clean"].as_bool()?,
    })
}

fn event_json(event: &Event) -> Value {
    match event {
        Event::Status(status) => json!({ "e": "status", "status": status_json(*status) }),
        Event::Opened => json!({ "e": "opened" }),
        Event::Error => json!({ "e": "error" }),
        Event::Closed(close) => json!({ "e": "closed", "close": close_json(close) }),
        Event::ReconnectScheduled { attempt, delay_ms } => {
            json!({ "e": "reconnect", "attempt": attempt, "delay_ms": delay_ms })
        }
        Event::HeartbeatSent => json!({ "e": "hb_sent" }),
        Event::HeartbeatReply { rtt_ms } => json!({ "e": "hb_reply", "rtt_ms": rtt_ms }),
        Event::HeartbeatExtended { buffered } => {
            json!({ "e": "hb_extended", "buffered": buffered })
        }
        Event::HeartbeatTimeout => json!({ "e": "hb_timeout" }),
        Event::Flushed { frames } => json!({ "e": "flushed", "frames": frames }),
        Event::Discarded { frames } => json!({ "e": "discarded", "frames": frames }),
        Event::Requeued { frames } => json!({ "e": "requeued", "frames": frames }),
        Event::SendFailed { error } => json!({ "e": "send_failed", "error": error }),
    }
}

fn event_from(value: &Value) -> Option<Event> {
    let count = |key: &str| value[key].as_u64();
    Some(match value["e"].as_str()? {
        "status" => Event::Status(status_from(&value["status"])?),
        "opened" => Event::Opened,
        "error" => Event::Error,
        "closed" => Event::Closed(close_from(&value["close"])?),
        "reconnect" => Event::ReconnectScheduled {
            attempt: u32::try_from(count("attempt")?).ok()?,
            delay_ms: count("delay_ms")?,
        },
        "hb_sent" => Event::HeartbeatSent,
        "hb_reply" => Event::HeartbeatReply {
            rtt_ms: count("rtt_ms")?,
        },
        "hb_extended" => Event::HeartbeatExtended {
            buffered: count("buffered")?,
        },
        "hb_timeout" => Event::HeartbeatTimeout,
        "flushed" => Event::Flushed {
            frames: usize::try_from(count("frames")?).ok()?,
        },
        "discarded" => Event::Discarded {
            frames: usize::try_from(count("frames")?).ok()?,
        },
        "requeued" => Event::Requeued {
            frames: usize::try_from(count("frames")?).ok()?,
        },
        "send_failed" => Event::SendFailed {
            error: value["error"].as_str()?.to_owned(),
        },
        _ => return None,
    })
}
