//! The browser driver: the only module that touches `WebSocket`, timers and window events.
//! It turns browser events into [`Input`]s for the [`Machine`] and carries out its commands.
//! Every closure, listener and timer is a field here and goes away when its owner drops.

use crate::machine::{CloseInfo, Command, Event, FrameRef, Input, Machine, Stats, Status};
use crate::outbox::{Payload, SendError};
use crate::{BinaryType, CloseError, Config};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Array, ArrayBuffer, Uint8Array};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Blob, CloseEvent, MessageEvent, WebSocket};

/// A frame to send. Text and bytes are counted in bytes against the outbox limit, a `Blob` by
/// its size.
///
/// ```
/// use heartline::{Outgoing, Payload};
/// assert_eq!(Outgoing::Bytes(vec![1, 2, 3]).byte_len(), 3);
/// ```
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// A binary frame from bytes.
    Bytes(Vec<u8>),
    /// A binary frame from an `ArrayBuffer` (e.g. canvas `ImageData`'s buffer).
    ArrayBuffer(ArrayBuffer),
    /// A binary frame from a `Blob` (e.g. a `File` from `<input type=file>`).
    Blob(Blob),
}

impl Payload for Outgoing {
    fn from_text(text: String) -> Self {
        Outgoing::Text(text)
    }

    fn byte_len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Bytes(bytes) => bytes.len(),
            Outgoing::ArrayBuffer(buffer) => buffer.byte_length() as usize,
            Outgoing::Blob(blob) => blob.size() as usize,
        }
    }
}

/// A frame received. Binary frames come as `ArrayBuffer` or `Blob` per [`BinaryType`].
///
/// ```
/// use heartline::Inbound;
/// let frame = Inbound::Text("hi".into());
/// assert_eq!((frame.as_text(), frame.byte_len(), frame.is_binary()), (Some("hi"), 2, false));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A text frame.
    Text(String),
    /// A binary frame (binary type `ArrayBuffer`).
    ArrayBuffer(ArrayBuffer),
    /// A binary frame (binary type `Blob`).
    Blob(Blob),
}

impl Inbound {
    /// Whether this is a binary frame.
    ///
    /// ```
    /// use heartline::Inbound;
    /// assert!(!Inbound::Text("hi".into()).is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        !matches!(self, Inbound::Text(_))
    }

    /// The text of a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Inbound::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The bytes of an `ArrayBuffer` frame, copied out (a `Blob` must be read asynchronously).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Inbound::ArrayBuffer(buffer) => Some(Uint8Array::new(buffer).to_vec()),
            _ => None,
        }
    }

    /// Size in bytes (UTF-8 for text).
    pub fn byte_len(&self) -> usize {
        match self {
            Inbound::Text(text) => text.len(),
            Inbound::ArrayBuffer(buffer) => buffer.byte_length() as usize,
            Inbound::Blob(blob) => blob.size() as usize,
        }
    }
}

/// What the application is told: frames, and the machine's [`Event`]s.
///
/// ```
/// use heartline::{Event, Notice, Status};
/// let notice = Notice::Event(Event::Status(Status::Open));
/// assert!(matches!(notice, Notice::Event(Event::Status(Status::Open))));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An application frame (heartbeat replies are not delivered).
    Message(Inbound),
    /// A change of state, a heartbeat, a close, a scheduled reconnect...
    Event(Event),
}

/// A live connection: a WebSocket that reconnects, beats, queues and reports.
///
/// Dropping it closes the socket with 1000 and removes every handler, listener and timer.
///
/// ```no_run
/// use heartline::{Config, Heartline, Notice};
/// let config = Config::new("ws://127.0.0.1:8080/echo").with_heartbeat_timing(10_000, 5_000);
/// let socket = Heartline::connect(config, |notice: Notice| web_sys::console::log_1(&format!("{notice:?}").into()));
/// socket.send_text("hello").unwrap();
/// socket.close(1000, "done").unwrap();
/// ```
pub struct Heartline {
    inner: Rc<RefCell<Inner>>,
}

type Notify = Rc<dyn Fn(Notice)>;

struct Inner {
    machine: Machine<Outgoing>,
    socket: Option<Socket>,
    timers: [Option<Timeout>; 4],
    _window_listeners: Vec<EventListener>,
    notify: Notify,
    this: Weak<RefCell<Inner>>,
}

/// One browser `WebSocket` and the four closures it calls.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    close_with: (u16, String),
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Detach first, so a late event from this socket can never reach the machine.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        if self.ws.ready_state() <= WebSocket::OPEN {
            let (code, reason) = &self.close_with;
            let _ = self.ws.close_with_code_and_reason(*code, reason);
        }
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Feeds an input, carries out the commands, then tells the application.
fn feed(inner: &Rc<RefCell<Inner>>, input: Input<'_>) {
    let _ = step::<std::convert::Infallible>(inner, None, |machine, _| {
        Ok(machine.handle(input, now_ms()))
    });
}

/// Feeds an inbound frame: the machine sees its text or size, then the frame itself is handed
/// on (not copied) if the machine says to deliver it.
fn feed_frame(inner: &Rc<RefCell<Inner>>, frame: Inbound) {
    let _ = step::<std::convert::Infallible>(inner, Some(frame), |machine, frame| {
        let seen = match frame {
            Some(Inbound::Text(text)) => FrameRef::Text(text),
            Some(other) => FrameRef::Binary(other.byte_len()),
            None => FrameRef::Binary(0),
        };
        Ok(machine.handle(Input::Frame(seen), now_ms()))
    });
}

fn feed_weak(inner: &Weak<RefCell<Inner>>, input: Input<'_>) {
    if let Some(inner) = inner.upgrade() {
        feed(&inner, input);
    }
}

impl Inner {
    fn execute(
        &mut self,
        commands: Vec<Command<Outgoing>>,
        mut frame: Option<Inbound>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let mut queue = std::collections::VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            match command {
                Command::OpenSocket { url } => {
                    // The old socket (closed or written off) goes first, handlers and all.
                    self.socket = None;
                    match self.open_socket(&url) {
                        Ok(socket) => self.socket = Some(socket),
                        Err(message) => {
                            // The constructor threw (bad URL, blocked port): report it like the
                            // browser would report a failed connection.
                            let close = CloseInfo {
                                code: 1006,
                                reason: message,
                                was_clean: false,
                            };
                            queue.extend(self.machine.handle(Input::Error, now_ms()));
                            queue.extend(self.machine.handle(Input::Closed(close), now_ms()));
                        }
                    }
                }
                Command::Send(payload) => {
                    if let Some(socket) = &self.socket {
                        if let Err(error) = send_on(&socket.ws, &payload) {
                            web_sys::console::warn_1(&format!("heartline: {error}").into());
                        }
                    }
                }
                Command::CloseSocket { code, reason } => {
                    if let Some(socket) = &self.socket {
                        let _ = socket.ws.close_with_code_and_reason(code, &reason);
                    }
                }
                Command::AbandonSocket { code, reason } => {
                    if let Some(mut socket) = self.socket.take() {
                        socket.close_with = (code, reason);
                    }
                }
                Command::ArmTimer(kind, at_ms) => {
                    let delay = at_ms.saturating_sub(now_ms()).min(u32::MAX as u64) as u32;
                    let this = self.this.clone();
                    // Replacing the slot drops, and so cancels, the previous timer of this kind.
                    self.timers[kind.index()] = Some(Timeout::new(delay, move || {
                        feed_weak(&this, Input::Timer(kind))
                    }));
                }
                Command::DisarmTimer(kind) => self.timers[kind.index()] = None,
                Command::Deliver => {
                    if let Some(frame) = frame.take() {
                        notices.push(Notice::Message(frame));
                    }
                }
                Command::Report(event) => notices.push(Notice::Event(event)),
            }
        }
        notices
    }

    fn open_socket(&self, url: &str) -> Result<Socket, String> {
        let config = self.machine.config();
        let ws = if config.protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let protocols: Array = config
                .protocols
                .iter()
                .map(|p| wasm_bindgen::JsValue::from_str(p))
                .collect();
            WebSocket::new_with_str_sequence(url, &protocols)
        }
        .map_err(|error| describe_js_error(&error, url))?;
        ws.set_binary_type(match config.binary_type {
            BinaryType::ArrayBuffer => web_sys::BinaryType::Arraybuffer,
            BinaryType::Blob => web_sys::BinaryType::Blob,
        });

        let this = self.this.clone();
        let on_open =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| feed_weak(&this, Input::Opened));
        let this = self.this.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = this.upgrade() else { return };
            let data = event.data();
            let frame = if let Some(text) = data.as_string() {
                Inbound::Text(text)
            } else if let Ok(buffer) = data.clone().dyn_into::<ArrayBuffer>() {
                Inbound::ArrayBuffer(buffer)
            } else if let Ok(blob) = data.dyn_into::<Blob>() {
                Inbound::Blob(blob)
            } else {
                return;
            };
            feed_frame(&inner, frame);
        });
        let this = self.this.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            let close = CloseInfo {
                code: event.code(),
                reason: event.reason(),
                was_clean: event.was_clean(),
            };
            feed_weak(&this, Input::Closed(close));
        });
        let this = self.this.clone();
        let on_error =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| feed_weak(&this, Input::Error));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
            close_with: (1000, "client dropped".into()),
        })
    }
}

fn send_on(ws: &WebSocket, payload: &Outgoing) -> Result<(), SendError> {
    match payload {
        Outgoing::Text(text) => ws.send_with_str(text),
        Outgoing::Bytes(bytes) => ws.send_with_u8_array(bytes),
        Outgoing::ArrayBuffer(buffer) => ws.send_with_array_buffer(buffer),
        Outgoing::Blob(blob) => ws.send_with_blob(blob),
    }
    .map_err(|error| SendError::Browser(describe_js_error(&error, "")))
}

fn describe_js_error(error: &wasm_bindgen::JsValue, url: &str) -> String {
    let message = error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".into());
    if url.is_empty() {
        message
    } else {
        format!("cannot open {url}: {message}")
    }
}

impl Heartline {
    /// Connects now and reports everything to `on_notice`.
    pub fn connect(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        let heartline = Self::new(config, on_notice);
        heartline.open();
        heartline
    }

    /// Sets everything up without connecting; call [`open`](Self::open) to start.
    pub fn new(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        let seed = config
            .seed
            .unwrap_or_else(|| (js_sys::Math::random() * u64::MAX as f64) as u64);
        let mut machine = Machine::new(config);
        machine.reseed(seed);
        let inner = Rc::new_cyclic(|this: &Weak<RefCell<Inner>>| {
            RefCell::new(Inner {
                machine,
                socket: None,
                timers: Default::default(),
                _window_listeners: window_listeners(this),
                notify: Rc::new(on_notice),
                this: this.clone(),
            })
        });
        Self { inner }
    }

    /// Opens (or reopens after [`close`](Self::close)); clears the stop flag. No-op while open.
    pub fn open(&self) {
        feed(&self.inner, Input::Connect);
    }

    /// Closes with a code (1000 or 3000–4999) and a reason (≤ 123 bytes) and sets the stop flag:
    /// nothing reconnects until [`open`](Self::open). Refused, untouched, if the code or reason is
    /// invalid.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        self.run(|machine| machine.close(code, reason))
    }

    /// Sends a text frame, or queues it until open.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.send(Outgoing::Text(text.into()))
    }

    /// Sends a binary frame of these bytes, or queues it.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.send(Outgoing::Bytes(bytes.to_vec()))
    }

    /// Sends an `ArrayBuffer` as a binary frame, or queues it.
    pub fn send_array_buffer(&self, buffer: &ArrayBuffer) -> Result<(), SendError> {
        self.send(Outgoing::ArrayBuffer(buffer.clone()))
    }

    /// Sends a `Blob` (e.g. a `File`) as a binary frame, or queues it.
    pub fn send_blob(&self, blob: &Blob) -> Result<(), SendError> {
        self.send(Outgoing::Blob(blob.clone()))
    }

    /// Sends a value as a JSON text frame, or queues it.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        let text =
            serde_json::to_string(value).map_err(|error| SendError::Encode(error.to_string()))?;
        self.send_text(text)
    }

    /// Sends any [`Outgoing`] frame, or queues it.
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        self.run(|machine| machine.send(payload))
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.inner.borrow().machine.status()
    }

    /// Counters, the last RTT and the last close.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().machine.stats().clone()
    }

    /// Frames waiting for the socket to open.
    pub fn queued(&self) -> usize {
        self.inner.borrow().machine.queued()
    }

    /// The browser socket's own [`bufferedAmount`](https://developer.mozilla.org/docs/Web/API/WebSocket/bufferedAmount).
    pub fn buffered_amount(&self) -> u32 {
        self.inner
            .borrow()
            .socket
            .as_ref()
            .map_or(0, |socket| socket.ws.buffered_amount())
    }

    fn run<E>(
        &self,
        change: impl FnOnce(&mut Machine<Outgoing>) -> Result<Vec<Command<Outgoing>>, E>,
    ) -> Result<(), E> {
        step(&self.inner, None, |machine, _| change(machine))
    }
}

/// Applies an input or a user request to the machine, carries out the commands, then tells
/// the application with no borrow held (it may call back into the handle, or drop it).
fn step<E>(
    inner: &Rc<RefCell<Inner>>,
    frame: Option<Inbound>,
    change: impl FnOnce(&mut Machine<Outgoing>, Option<&Inbound>) -> Result<Vec<Command<Outgoing>>, E>,
) -> Result<(), E> {
    let (notices, notify) = {
        // Never borrowed here already: browser events and timers run on their own turns.
        let Ok(mut state) = inner.try_borrow_mut() else {
            return Ok(());
        };
        let commands = change(&mut state.machine, frame.as_ref())?;
        let notices = state.execute(commands, frame);
        (notices, state.notify.clone())
    };
    for notice in notices {
        notify(notice);
    }
    Ok(())
}

impl std::fmt::Debug for Heartline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartline")
            .field("status", &self.status())
            .finish()
    }
}

/// `online`, `offline`, `visibilitychange` and `beforeunload`, owned by the connection.
fn window_listeners(this: &Weak<RefCell<Inner>>) -> Vec<EventListener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let mut listeners = Vec::new();
    let weak = this.clone();
    listeners.push(EventListener::new(&window, "online", move |_| {
        feed_weak(&weak, Input::Online)
    }));
    let weak = this.clone();
    listeners.push(EventListener::new(&window, "offline", move |_| {
        feed_weak(&weak, Input::Offline)
    }));
    let weak = this.clone();
    listeners.push(EventListener::new(&window, "beforeunload", move |_| {
        if let Some(inner) = weak.upgrade() {
            let _ = step(&inner, None, |machine, _| {
                machine.close(1000, "page unload")
            });
        }
    }));
    if let Some(document) = window.document() {
        let weak = this.clone();
        let doc = document.clone();
        listeners.push(EventListener::new(
            &document,
            "visibilitychange",
            move |_| {
                if doc.visibility_state() == web_sys::VisibilityState::Visible {
                    feed_weak(&weak, Input::Visible);
                }
            },
        ));
    }
    listeners
}
