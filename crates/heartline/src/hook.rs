//! `use_heartline`: the connection as a Yew hook (feature `yew`, on by default).

use crate::machine::{CloseInfo, Event, Status};
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
    socket: Rc<RefCell<Option<Heartline>>>,
}

impl PartialEq for UseHeartline {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status
            && self.last_close == other.last_close
            && Rc::ptr_eq(&self.socket, &other.socket)
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
        match &*self.socket.borrow() {
            Some(socket) => socket.send_json(value),
            None => Err(SendError::NotStarted),
        }
    }

    /// Sends any frame (bytes, `ArrayBuffer`, `Blob`), or queues it.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// let _ = socket.send(heartline::Outgoing::Text("hi".into()));
    /// # }
    /// ```
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        match &*self.socket.borrow() {
            Some(socket) => socket.send(payload),
            None => Err(SendError::NotStarted),
        }
    }

    /// Opens again after a close; reconnects now if waiting.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// socket.open();
    /// # }
    /// ```
    pub fn open(&self) {
        if let Some(socket) = &*self.socket.borrow() {
            socket.open();
        }
    }

    /// Closes with a validated code and reason and stops reconnecting.
    ///
    /// ```no_run
    /// # fn f(socket: heartline::UseHeartline) {
    /// socket.close(1000, "bye").unwrap();
    /// # }
    /// ```
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        match &*self.socket.borrow() {
            Some(socket) => socket.close(code, reason),
            None => crate::validate_close(code, reason),
        }
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
        match &*self.socket.borrow() {
            Some(socket) => socket.close_all(code, reason),
            None => crate::validate_close(code, reason),
        }
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
        self.socket.borrow().as_ref().map(f)
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

/// Connects while the component is mounted; a new `config` reconnects, unmounting closes.
/// Every [`Notice`] goes to `on_notice`. A URL provider may be built inline: a new closure
/// does not reconnect, and the newest one is asked before each attempt.
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
    let socket = use_mut_ref(|| None::<Heartline>);
    // The latest callback, so a re-render with a new closure does not reconnect.
    let on_notice_ref = use_mut_ref(|| on_notice.clone());
    *on_notice_ref.borrow_mut() = on_notice;
    // The latest config, for its URL provider.
    let latest_config = use_mut_ref(|| config.clone());
    *latest_config.borrow_mut() = config.clone();
    // Frames the application queued on a connection its new config replaced: they were
    // accepted (`send` said Ok), so they go on the next one instead of being dropped unsaid.
    let carried = use_mut_ref(Vec::<Outgoing>::new);

    {
        let socket = socket.clone();
        let set_status = status.setter();
        let set_last_close = last_close.setter();
        use_effect_with(ConnectionKey(config), move |ConnectionKey(config)| {
            let mut config = config.clone();
            if let UrlSource::Provider(_) = config.url {
                config = config.with_url_provider(move || latest_config.borrow().next_url());
            }
            set_last_close.set(None);
            let tell = on_notice_ref.clone();
            let connection = Heartline::connect(config, move |notice| {
                match &notice {
                    Notice::Event(Event::Status(status)) => set_status.set(*status),
                    Notice::Event(Event::Closed(close)) => set_last_close.set(Some(close.clone())),
                    _ => {}
                }
                let callback = on_notice_ref.borrow().clone();
                callback.emit(notice);
            });
            for frame in carried.borrow_mut().drain(..) {
                if let Err(error) = connection.send(frame) {
                    // Only the outbox's limits could refuse here (the connection is starting).
                    tell.borrow().emit(Notice::Event(Event::SendFailed {
                        error: error.to_string(),
                    }));
                }
            }
            *socket.borrow_mut() = Some(connection);
            move || {
                // Dropping the connection closes it and removes every handler and timer; what it
                // still queued waits for the next config's connection (on unmount, it goes with
                // the component).
                let old = socket.borrow_mut().take();
                if let Some(old) = old {
                    *carried.borrow_mut() = old.take_queued();
                }
            }
        });
    }

    UseHeartline {
        status: *status,
        last_close: (*last_close).clone(),
        socket,
    }
}
