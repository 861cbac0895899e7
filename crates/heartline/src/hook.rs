//! `use_heartline`: the connection as a Yew hook (feature `yew`, on by default).

use crate::machine::{CloseInfo, Event, Status};
use crate::outbox::{Outbox, Payload, Queuer};
use crate::{CloseError, Config, Heartline, Notice, Outgoing, SendError, UrlSource};
use js_sys::ArrayBuffer;
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::Blob;
use yew::prelude::*;

/// What [`use_heartline`] returns: the status (the component re-renders when it changes, not on
/// every heartbeat), the last close, and the connection's methods.
///
/// ```no_run
/// # use heartline::UseHeartline;
/// fn bar(socket: &UseHeartline) -> String {
///     let close = socket.last_close.as_ref().map(|c| format!(", last close {} {}", c.code, c.code_name()));
///     format!("{}{}", socket.status.label(), close.unwrap_or_default())
/// }
/// ```
#[derive(Clone)]
pub struct UseHeartline {
    /// The status at the last render (see [`live_status`](Self::live_status) for now).
    pub status: Status,
    /// How the last connection ended.
    pub last_close: Option<CloseInfo>,
    slot: Rc<RefCell<Slot>>,
}

/// The hook's connection, and what waits for one.
struct Slot {
    /// From the hook's effect on (none before the first effect, between a config's connection
    /// and the next one's, and once the component is gone).
    socket: Option<Heartline>,
    /// Frames accepted while there is no connection: sent before the first effect ran (a child
    /// component's effects run before its parent's), or queued on a connection a new config
    /// replaced. They go on the next connection, within the latest config's outbox limits.
    waiting: Outbox<Outgoing>,
    /// `close()` (or `close_all()`, the `bool`) before the first effect, with its code and
    /// reason, and no `open()` since: the connection starts closed with it.
    closed: Option<(u16, String, bool)>,
    /// The application's close (code and reason), until its `open()`: the connection made for
    /// a new config starts closed too, not reopened behind the application's back. In a cell
    /// of its own: set and read while the slot is borrowed (a notice handler that calls
    /// `open()` during the close).
    stopped: RefCell<Option<(u16, String)>>,
    /// Frames such a close dropped (unless the config keeps them), to report as `Discarded`
    /// once the connection exists to report it.
    discarded: usize,
    /// The latest config's `keep_outbox_on_close`.
    keep_on_close: bool,
    /// The component is gone: nothing will send.
    gone: bool,
}

impl Slot {
    fn new(config: &Config) -> Self {
        Self {
            socket: None,
            waiting: Outbox::new(config.outbox),
            closed: None,
            stopped: RefCell::new(None),
            discarded: 0,
            keep_on_close: config.keep_outbox_on_close,
            gone: false,
        }
    }
}

impl PartialEq for UseHeartline {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status
            && self.last_close == other.last_close
            && Rc::ptr_eq(&self.slot, &other.slot)
    }
}

impl UseHeartline {
    /// Sends a text frame, or queues it until open.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send_text("hi");
    /// # }
    /// ```
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.send(Outgoing::Text(text.into()))
    }

    /// Sends a binary frame of these bytes, or queues it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send_bytes(&[1, 2, 3]);
    /// # }
    /// ```
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.send(Outgoing::Bytes(bytes.to_vec()))
    }

    /// Sends an `ArrayBuffer`, or queues a copy of it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send_array_buffer(&js_sys::ArrayBuffer::new(4));
    /// # }
    /// ```
    pub fn send_array_buffer(&self, buffer: &ArrayBuffer) -> Result<(), SendError> {
        self.send(Outgoing::ArrayBuffer(buffer.clone()))
    }

    /// Sends a `Blob` (e.g. a `File`), or queues it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline, blob: web_sys::Blob) {
    /// let _ = socket.send_blob(&blob);
    /// # }
    /// ```
    pub fn send_blob(&self, blob: &Blob) -> Result<(), SendError> {
        self.send(Outgoing::Blob(blob.clone()))
    }

    /// Sends a value as JSON text, or queues it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send_json(&serde_json::json!({ "type": "ping" }));
    /// # }
    /// ```
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        self.send(Outgoing::Text(crate::outbox::encode_json(value)?))
    }

    /// Sends any frame (bytes, `ArrayBuffer`, `Blob`), or queues it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send(heartline::Outgoing::Text("hi".into()));
    /// # }
    /// ```
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        // A shared borrow while the connection sends: a notice handler it calls may send too.
        if let Some(socket) = &self.slot.borrow().socket {
            return socket.send(payload);
        }
        let mut slot = self.slot.borrow_mut();
        if slot.gone {
            return Err(SendError::Unmounted);
        }
        if slot.closed.is_some() {
            // As the connection will say once it exists.
            return Err(SendError::NotOpen {
                status: Status::Stopped,
            });
        }
        // Copied now, as the connection's own outbox copies an `ArrayBuffer` it queues.
        slot.waiting.push(payload.detached(), Queuer::Own)
    }

    /// Opens again after a close; reconnects now if waiting.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// socket.open();
    /// # }
    /// ```
    pub fn open(&self) {
        self.slot.borrow().stopped.replace(None);
        if let Some(socket) = &self.slot.borrow().socket {
            return socket.open();
        }
        self.slot.borrow_mut().closed = None;
    }

    /// Closes with a validated code and reason and stops reconnecting.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// socket.close(1000, "bye").unwrap();
    /// # }
    /// ```
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        self.close_with(code, reason, false)
    }

    /// The close, remembered until `open()`: set first, so an `open()` from a notice handler
    /// during the close wins; taken back if the close is refused.
    fn close_with(&self, code: u16, reason: &str, all: bool) -> Result<(), CloseError> {
        crate::validate_close(code, reason)?;
        let before = self
            .slot
            .borrow()
            .stopped
            .replace(Some((code, reason.to_owned())));
        // The borrow ends before `close_unstarted`, which takes the slot mutably.
        let started = self.slot.borrow().socket.as_ref().map(|socket| match all {
            false => socket.close(code, reason),
            true => socket.close_all(code, reason),
        });
        let closed = started.unwrap_or_else(|| self.close_unstarted(code, reason, all));
        if closed.is_err() {
            self.slot.borrow().stopped.replace(before);
        }
        closed
    }

    /// A close before the first effect: what waited is dropped now (reported once the
    /// connection exists), as a close drops what a connection queued, so an `open()` before
    /// the effect does not send it; the connection starts closed unless `open()` follows.
    fn close_unstarted(&self, code: u16, reason: &str, all: bool) -> Result<(), CloseError> {
        crate::validate_close(code, reason)?;
        let mut slot = self.slot.borrow_mut();
        if !slot.keep_on_close {
            let dropped = slot.waiting.drain().count();
            slot.discarded += dropped;
        }
        slot.closed = Some((code, reason.to_owned(), all));
        Ok(())
    }

    /// Closes for every tab sharing the connection ([`Config::with_shared`]); the same as
    /// [`close`](Self::close) otherwise.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// socket.close_all(4000, "logged out").unwrap();
    /// # }
    /// ```
    pub fn close_all(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        self.close_with(code, reason, true)
    }

    /// The status now, not as of the last render (for callbacks that outlive a render, e.g.
    /// after an `await`).
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let open = socket.live_status() == heartline::Status::Open;
    /// # }
    /// ```
    pub fn live_status(&self) -> Status {
        self.with(Heartline::status).unwrap_or(self.status)
    }

    /// Runs `f` with the underlying connection, if started (for stats, RTT, queue length).
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let rtt = socket.with(|connection| connection.stats().rtt_ms).flatten();
    /// # }
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&Heartline) -> R) -> Option<R> {
        self.slot.borrow().socket.as_ref().map(f)
    }
}

/// The part of a [`Config`] that decides whether the hook reconnects. A URL provider counts as
/// the same whatever closure it is: a closure built inline in the component is new on every
/// render, and reconnecting each time would loop (each status change re-renders). The running
/// connection always asks the newest provider.
#[derive(Clone)]
struct ConnectionKey(Config);

impl PartialEq for ConnectionKey {
    fn eq(&self, other: &Self) -> bool {
        fn without_provider(config: &Config) -> Config {
            let mut config = config.clone();
            if let UrlSource::Provider(_) = config.url {
                config.url = UrlSource::Fixed(String::new());
            }
            config
        }
        match (&self.0.url, &other.0.url) {
            (UrlSource::Provider(_), UrlSource::Provider(_)) => {
                without_provider(&self.0) == without_provider(&other.0)
            }
            _ => self.0 == other.0,
        }
    }
}

/// Connects while the component is mounted; a new `config` reconnects (unless the application
/// closed it: it stays closed until `open()`), unmounting closes, reporting the frames still
/// queued as [`Event::Discarded`].
/// Every [`Notice`] goes to `on_notice`. A URL provider may be built inline: a new closure
/// does not reconnect, and the newest one is asked before each attempt.
///
/// The connection is made in the hook's effect, but the handle works from the first render:
/// frames sent before (a child component's effects run before its parent's) are queued for
/// the first connection, and a close before it stops that connection before it starts (what
/// was queued is dropped and reported, as at any close). When a new `config` replaces a
/// connection of its own, the frames it still queued go on the next one; a shared one
/// ([`Config::with_shared`]) drops them as at any drop of a shared handle, reported
/// [`Event::Discarded`] (a follower's last ones may have gone out just before). Once the component
/// is gone, sends return [`SendError::Unmounted`].
///
/// ```no_run
/// use heartline::{use_heartline, Config, Notice, Inbound};
/// use yew::prelude::*;
///
/// #[function_component]
/// fn Echo() -> Html {
///     let last = use_state(String::new);
///     let on_notice = {
///         let last = last.clone();
///         Callback::from(move |notice| {
///             if let Notice::Message(Inbound::Text(text)) = notice {
///                 last.set(text.into());
///             }
///         })
///     };
///     let socket = use_heartline(Config::new("ws://127.0.0.1:8080/echo"), on_notice);
///     let send = {
///         let socket = socket.clone();
///         Callback::from(move |_| { let _ = socket.send_text("hi"); })
///     };
///     html! { <p>{ socket.status.label() }{ " " }{ &*last }<button onclick={send}>{"Send"}</button></p> }
/// }
/// ```
#[hook]
pub fn use_heartline(config: Config, on_notice: Callback<Notice>) -> UseHeartline {
    let status = use_state_eq(|| Status::Closed);
    let last_close = use_state_eq(|| None::<CloseInfo>);
    let slot = use_mut_ref(|| Slot::new(&config));
    slot.borrow_mut().keep_on_close = config.keep_outbox_on_close;
    // The latest callback, so a re-render with a new closure does not reconnect.
    let on_notice_ref = use_mut_ref(|| on_notice.clone());
    *on_notice_ref.borrow_mut() = on_notice;
    // The latest config, for its URL provider.
    let latest_config = use_mut_ref(|| config.clone());
    *latest_config.borrow_mut() = config.clone();

    {
        // Its cleanup runs only when the component goes: what still waits for a connection
        // (the last one's queue, moved here if its cleanup ran first) will never be sent.
        let (slot, tell) = (slot.clone(), on_notice_ref.clone());
        use_effect_with((), move |()| {
            move || {
                let frames = {
                    let mut slot = slot.borrow_mut();
                    slot.gone = true;
                    slot.waiting.drain().count()
                };
                if frames > 0 {
                    let callback = tell.borrow().clone();
                    callback.emit(Notice::Event(Event::Discarded { frames }));
                }
            }
        });
    }
    {
        let slot = slot.clone();
        let set_status = status.setter();
        let set_last_close = last_close.setter();
        use_effect_with(ConnectionKey(config), move |ConnectionKey(config)| {
            let mut config = config.clone();
            let limits = config.outbox;
            if let UrlSource::Provider(_) = config.url {
                config = config.with_url_provider(move || latest_config.borrow().next_url());
            }
            set_last_close.set(None);
            let tell = on_notice_ref.clone();
            let connection = Heartline::new(config, move |notice| {
                match &notice {
                    Notice::Event(Event::Status(status)) => set_status.set(*status),
                    Notice::Event(Event::Closed(close)) => set_last_close.set(Some(close.clone())),
                    _ => {}
                }
                let callback = on_notice_ref.borrow().clone();
                callback.emit(notice);
            });
            // In the slot before anything can tell the application: a notice handler that
            // sends through the handle reaches this connection, not the waiting queue.
            let (waiting, closed, discarded) = {
                let mut slot = slot.borrow_mut();
                slot.socket = Some(connection);
                let waiting: Vec<Outgoing> = slot.waiting.drain().collect();
                (
                    waiting,
                    slot.closed.take(),
                    std::mem::take(&mut slot.discarded),
                )
            };
            // Every waiting frame is handed over before the application hears anything, so a
            // frame it sends from a notice goes after them.
            let refused: Vec<SendError> = waiting
                .into_iter()
                .filter_map(|frame| {
                    let sent = slot
                        .borrow()
                        .socket
                        .as_ref()
                        .map(|socket| socket.send(frame));
                    sent.and_then(Result::err)
                })
                .collect();
            let tell = |event: Event| tell.borrow().clone().emit(Notice::Event(event));
            if discarded > 0 {
                tell(Event::Discarded { frames: discarded });
            }
            for error in refused {
                // Only the outbox's limits could refuse here (the connection is not open).
                tell(Event::SendFailed {
                    error: error.to_string(),
                });
            }
            // Read now, after the notices above: an `open()` from one of them counts.
            let stopped = slot.borrow().stopped.borrow().clone();
            if let Some(socket) = &slot.borrow().socket {
                match closed {
                    // Validated when it was asked for.
                    Some((code, reason, false)) => drop(socket.close(code, &reason)),
                    Some((code, reason, true)) => drop(socket.close_all(code, &reason)),
                    // Closed by the application on the last config's connection: this tab's
                    // connection only (the other tabs heard a `close_all` then, and may have
                    // opened since).
                    None => match stopped {
                        Some((code, reason)) => drop(socket.close(code, &reason)),
                        None => socket.open(),
                    },
                }
            }
            move || {
                // Dropping the connection closes it and removes every handler and timer; what it
                // still queued waits, ahead of anything sent since, for the next config's
                // connection. On unmount it is dropped with the connection, reported (here if
                // the component's own cleanup ran first, else by that cleanup).
                let old = slot.borrow_mut().socket.take();
                if let Some(old) = old {
                    if slot.borrow().gone {
                        drop(old);
                        return;
                    }
                    let queued = old.take_queued();
                    drop(old);
                    let mut slot = slot.borrow_mut();
                    let since: Vec<Outgoing> = slot.waiting.drain().collect();
                    slot.waiting = Outbox::new(limits);
                    slot.waiting.push_front(queued.into_iter().chain(since));
                }
            }
        });
    }

    UseHeartline {
        status: *status,
        last_close: (*last_close).clone(),
        slot,
    }
}
