//! The browser driver: the only module that touches `WebSocket`, timers and window events.
//! It turns browser events into [`Input`]s for the [`Machine`] and carries out its commands.
//! Every closure, listener and timer is a field here and goes away when its owner drops.

use crate::frame::{Inbound, Notice, Outgoing, Text};
use crate::machine::{
    CloseInfo, Command, Event, FrameRef, Input, Machine, Stats, Status, TimerKind,
};
use crate::outbox::{Payload, SendError};
use crate::{BinaryType, CloseError, Config};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Array, ArrayBuffer, JsString};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Blob, CloseEvent, MessageEvent, WebSocket};

/// The driver's clock: the page's monotonic
/// [`performance.now()`](https://developer.mozilla.org/docs/Web/API/Performance/now), in ms
/// (`Date.now()` where there is no `performance`). [`Status::Reconnecting`]'s `next_at_ms` is on
/// this clock, so a countdown is `next_at_ms - now_ms()`; it never jumps when the system clock
/// is changed.
///
/// ```no_run
/// if let heartline::Status::Reconnecting { next_at_ms, .. } = heartline::Status::Open {
///     let seconds = next_at_ms.saturating_sub(heartline::now_ms()) as f64 / 1000.0;
///     web_sys::console::log_1(&format!("reconnecting in {seconds:.1} s").into());
/// }
/// ```
pub fn now_ms() -> u64 {
    thread_local! {
        static PERFORMANCE: Option<web_sys::Performance> =
            web_sys::window().and_then(|window| window.performance());
    }
    PERFORMANCE.with(|performance| match performance {
        Some(performance) => performance.now() as u64,
        None => js_sys::Date::now() as u64,
    })
}

/// The longest delay `setTimeout` takes (2³¹−1 ms, about 24.8 days); longer ones would fire at
/// once, so they are clamped and the timer re-armed when it fires early.
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// A delay for a browser timer: clamped to what `setTimeout`/`setInterval` wait (gloo passes it
/// on as an `i32`, so more would wrap negative and fire at once).
pub(crate) fn browser_delay(ms: u64) -> u32 {
    ms.min(MAX_TIMEOUT_MS) as u32
}

/// [`Machine::send`] or [`Machine::send_behind`].
type MachineSend =
    fn(&mut Machine<Outgoing>, Outgoing) -> Result<Vec<Command<Outgoing>>, SendError>;

/// A live connection: a WebSocket that reconnects, beats, queues and reports.
///
/// Keep it: dropping it closes the socket with 1000 and removes every handler, listener and
/// timer. Delivery is at most once: frames already handed to the browser when a connection is
/// lost are gone (an application that needs more acknowledges and resends, as the chat does).
///
/// ```no_run
/// use heartline::{Config, Heartline, Notice};
/// let config = Config::new("ws://127.0.0.1:8080/echo").with_heartbeat_timing(10_000, 5_000);
/// let socket = Heartline::connect(config, |notice: Notice| web_sys::console::log_1(&format!("{notice:?}").into()));
/// socket.send_text("hello").unwrap();
/// socket.close(1000, "done").unwrap();
/// ```
pub struct Heartline {
    shared: Rc<Shared>,
}

type Notify = Rc<dyn Fn(Notice)>;

/// What both the handle and the browser callbacks reach.
struct Shared {
    state: RefCell<Inner>,
    /// Notices waiting to be told, in order; only the outermost delivery drains it, so a
    /// request made from a notice handler never overtakes notices already produced.
    notices: RefCell<VecDeque<Notice>>,
    delivering: Cell<bool>,
    /// The status after the last step, readable while the state is borrowed.
    status: Cell<Status>,
    notify: Notify,
}

struct Inner {
    machine: Machine<Outgoing>,
    /// The latest time a step gave the machine.
    latest_ms: u64,
    socket: Option<Socket>,
    timers: [Option<Timeout>; 5],
    _window_listeners: Vec<EventListener>,
    this: Weak<Shared>,
}

/// One browser `WebSocket` and the four closures it calls.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    close_with: (u16, String),
    in_flight: InFlight,
}

impl Socket {
    /// Hands a frame to the browser, keeping it until the browser has sent it. A heartbeat
    /// ping (`resend` false) is kept only for its bytes: it is never taken back.
    fn send(&mut self, payload: Outgoing, resend: bool) -> Result<(), String> {
        send_on(&self.ws, &payload)?;
        // An `ArrayBuffer` is kept by reference, not copied: a copy of every binary frame cost
        // about 4 % of binary throughput (BENCH_ONLY=binary, 30 rounds: 0.972x against 1.017x
        // raw JS). One taken back from a socket given up as dead goes again with what the
        // buffer holds then (documented on `Outgoing::ArrayBuffer`).
        self.in_flight.push(payload, resend, &self.ws);
        Ok(())
    }

    /// The frames this socket accepted and never sent: still in its `bufferedAmount`.
    fn take_unsent(&mut self) -> Vec<Outgoing> {
        self.in_flight.unsent(u64::from(self.ws.buffered_amount()))
    }
}

/// Frames handed to one socket that its `bufferedAmount` may still hold, oldest first. A
/// browser takes a frame with `send` and may still discard it: after the server's close frame
/// reached its network side but before the page hears of it (Firefox dropped hundreds in a
/// burst), or when the link dies. Those bytes stay in `bufferedAmount` (it only shrinks as
/// data is sent), so the newest frames covering it are the ones never sent.
struct InFlight {
    /// Each frame's bytes, and the frame itself unless it is a heartbeat ping.
    frames: VecDeque<(u64, Option<Outgoing>)>,
    bytes: u64,
    /// Look at `bufferedAmount` again once this many bytes are kept: doubling after each look,
    /// so a sender the browser cannot keep up with costs one look per doubling, not per frame.
    look_at: u64,
}

/// Frames are kept without looking at `bufferedAmount` up to this many bytes.
const IN_FLIGHT_LOOK_MIN: u64 = 64 * 1024;

impl InFlight {
    fn new() -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            look_at: IN_FLIGHT_LOOK_MIN,
        }
    }

    fn push(&mut self, payload: Outgoing, resend: bool, ws: &WebSocket) {
        let bytes = payload.byte_len() as u64;
        self.bytes += bytes;
        self.frames.push_back((bytes, resend.then_some(payload)));
        if self.bytes >= self.look_at {
            self.trim(u64::from(ws.buffered_amount()));
            self.look_at = self.bytes.saturating_mul(2).max(IN_FLIGHT_LOOK_MIN);
        }
    }

    /// Forgets the frames the browser has sent: all but the newest `buffered` bytes' worth.
    fn trim(&mut self, buffered: u64) {
        while let Some(&(bytes, _)) = self.frames.front() {
            if self.bytes - bytes < buffered {
                break;
            }
            self.bytes -= bytes;
            self.frames.pop_front();
        }
    }

    /// The frames still held (`buffered` bytes), oldest first, heartbeat pings left out; a
    /// frame partly sent counts as unsent (the peer cannot have read it whole).
    fn unsent(&mut self, buffered: u64) -> Vec<Outgoing> {
        if buffered == 0 {
            self.frames.clear();
            self.bytes = 0;
            return Vec::new();
        }
        self.trim(buffered);
        self.bytes = 0;
        self.look_at = IN_FLIGHT_LOOK_MIN;
        self.frames
            .drain(..)
            .filter_map(|(_, payload)| payload)
            .collect()
    }
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

/// Why a step did not run its change.
enum StepError<E> {
    /// Called from inside another step (user code run by the machine: a URL provider).
    Busy,
    /// The change itself refused.
    Refused(E),
}

/// Feeds a browser or timer input, carries out the commands, then tells the application.
fn feed(shared: &Rc<Shared>, input: Input<'_>) {
    let result = step::<std::convert::Infallible>(shared, None, |inner, _, clock| {
        let now = clock.now();
        let mut commands = inner.note_buffered(now);
        commands.extend(inner.machine.handle(input, now));
        Ok(commands)
    });
    report_unasked(shared, result);
}

/// The socket's `close` event: first the frames it accepted and never sent go back to the
/// machine, then the close.
fn feed_closed(this: &Weak<Shared>, close: CloseInfo) {
    let Some(shared) = this.upgrade() else { return };
    let result = step::<std::convert::Infallible>(&shared, None, |inner, _, clock| {
        let unsent = inner.socket.as_mut().map(Socket::take_unsent);
        let mut commands = inner.requeue_unsent(unsent);
        commands.extend(inner.machine.handle(Input::Closed(close), clock.now()));
        Ok(commands)
    });
    report_unasked(&shared, result);
}

fn feed_weak(this: &Weak<Shared>, input: Input<'_>) {
    if let Some(shared) = this.upgrade() {
        feed(&shared, input);
    }
}

/// A timer fired: early (clamped delays, drivers that round) re-arms instead.
fn fire(this: &Weak<Shared>, kind: TimerKind) {
    let Some(shared) = this.upgrade() else { return };
    let result = step::<std::convert::Infallible>(&shared, None, |inner, _, clock| {
        let now = clock.now();
        if let Some(due) = inner.machine.timer_due(kind) {
            if due > now {
                inner.arm(kind, due, now);
                return Ok(Vec::new());
            }
        }
        let mut commands = inner.note_buffered(now);
        commands.extend(inner.machine.handle(Input::Timer(kind), now));
        Ok(commands)
    });
    report_unasked(&shared, result);
}

/// Feeds an inbound frame that arrived at `at_ms`: the machine sees its length (and its text
/// only if it could be the heartbeat reply), then the frame itself is handed on, uncopied, if
/// the machine says so.
fn feed_frame(shared: &Rc<Shared>, frame: Inbound, at_ms: u64) {
    let clock = Clock(Cell::new(Some(at_ms)));
    let result =
        step_on::<std::convert::Infallible>(shared, Some(frame), clock, |inner, frame, clock| {
            let now = clock.now();
            let commands = match frame {
                Some(Inbound::Text(text)) => {
                    let read = || String::from(text.as_str());
                    let seen = FrameRef::Unread {
                        utf16_len: text.utf16_len(),
                        read: &read,
                    };
                    inner.machine.handle(Input::Frame(seen), now)
                }
                Some(other) => inner
                    .machine
                    .handle(Input::Frame(FrameRef::Binary(other.byte_len())), now),
                None => Vec::new(),
            };
            Ok(commands)
        });
    report_unasked(shared, result);
}

/// A browser refusal of a frame nobody asked to send just now (the outbox flush, a ping) is
/// told as an event, since there is no caller to return it to.
fn report_unasked<E>(shared: &Rc<Shared>, result: Result<Vec<String>, StepError<E>>) {
    match result {
        Ok(errors) if !errors.is_empty() => {
            shared.notices.borrow_mut().extend(
                errors
                    .into_iter()
                    .map(|error| Notice::Event(Event::SendFailed { error })),
            );
            deliver(shared);
        }
        Ok(_) | Err(StepError::Refused(_)) => {}
        Err(StepError::Busy) => {
            // Browser events and timers run on their own turns; only a bug gets here.
            debug_assert!(false, "heartline: a browser event arrived inside a step");
        }
    }
}

/// Applies an input or a user request to the machine, carries out the commands, then tells
/// the application with no borrow held (it may call back into the handle, or drop it).
/// Returns the browser's refusals of frames sent in this step.
fn step<E>(
    shared: &Rc<Shared>,
    frame: Option<Inbound>,
    change: impl FnOnce(&mut Inner, Option<&Inbound>, &Clock) -> Result<Vec<Command<Outgoing>>, E>,
) -> Result<Vec<String>, StepError<E>> {
    step_on(shared, frame, Clock::default(), change)
}

/// [`step`] on a clock already read.
fn step_on<E>(
    shared: &Rc<Shared>,
    frame: Option<Inbound>,
    clock: Clock,
    change: impl FnOnce(&mut Inner, Option<&Inbound>, &Clock) -> Result<Vec<Command<Outgoing>>, E>,
) -> Result<Vec<String>, StepError<E>> {
    let send_errors = {
        let Ok(mut inner) = shared.state.try_borrow_mut() else {
            return Err(StepError::Busy);
        };
        // A frame's stamp can be older than a time the machine has seen (events the browser
        // held while the page was paused): its clock never goes back.
        if let Some(at) = clock.0.get() {
            clock.0.set(Some(at.max(inner.latest_ms)));
        }
        let commands = change(&mut inner, frame.as_ref(), &clock).map_err(StepError::Refused)?;
        let send_errors = inner.execute(commands, frame, &clock, &shared.notices);
        if let Some(now) = clock.0.get() {
            inner.latest_ms = inner.latest_ms.max(now);
        }
        shared.status.set(inner.machine.status());
        send_errors
    };
    deliver(shared);
    Ok(send_errors)
}

/// When a frame arrived, on [`now_ms`]'s clock: its event's `timeStamp`, which browsers keep
/// on that clock and which costs less to read than the clock (in a loop of reads, 0.11 against
/// 0.44 µs in Chromium, next to nothing against 0.16 µs in Firefox), once per frame. Checked
/// against `now_ms()` once per page, for a browser that stamps events on another clock.
fn arrival_ms(stamp: f64) -> u64 {
    thread_local! {
        static SAME_CLOCK: Cell<Option<bool>> = const { Cell::new(None) };
    }
    let same_clock = SAME_CLOCK.with(|same| match same.get() {
        Some(known) => known,
        None => {
            let now = now_ms() as f64;
            // Rounded clocks (Firefox's timer precision) may put the stamp a little ahead.
            let known = stamp.is_finite() && stamp <= now + 100.0 && now - stamp < 10_000.0;
            same.set(Some(known));
            known
        }
    });
    if same_clock {
        stamp as u64
    } else {
        now_ms()
    }
}

/// `now_ms()` read at most once per step, and only if something needs the time: a send on an
/// open socket does not.
#[derive(Default)]
struct Clock(Cell<Option<u64>>);

impl Clock {
    fn now(&self) -> u64 {
        match self.0.get() {
            Some(now) => now,
            None => {
                let now = now_ms();
                self.0.set(Some(now));
                now
            }
        }
    }
}

/// Tells queued notices in order, then lets the machine flush its outbox: after the
/// application heard `Opened` and could send its greeting.
fn deliver(shared: &Rc<Shared>) {
    if shared.delivering.replace(true) {
        return;
    }
    struct Done<'a>(&'a Cell<bool>);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }
    let _done = Done(&shared.delivering);
    loop {
        let next = shared.notices.borrow_mut().pop_front();
        if let Some(notice) = next {
            (shared.notify)(notice);
            continue;
        }
        let Ok(mut inner) = shared.state.try_borrow_mut() else {
            break;
        };
        // Checked first: the usual case (no open just happened) costs no clock read.
        if !inner.machine.wants_flush() {
            break;
        }
        let clock = Clock::default();
        let commands = inner.machine.handle(Input::Flush, clock.now());
        if commands.is_empty() {
            break;
        }
        let errors = inner.execute(commands, None, &clock, &shared.notices);
        shared.notices.borrow_mut().extend(
            errors
                .into_iter()
                .map(|error| Notice::Event(Event::SendFailed { error })),
        );
        shared.status.set(inner.machine.status());
    }
}

impl Inner {
    /// Tells the machine how much the socket still has to send, before a timer or a resume.
    fn note_buffered(&mut self, now: u64) -> Vec<Command<Outgoing>> {
        match &mut self.socket {
            Some(socket) => {
                let buffered = u64::from(socket.ws.buffered_amount());
                socket.in_flight.trim(buffered);
                self.machine.handle(Input::Buffered(buffered), now)
            }
            None => Vec::new(),
        }
    }

    /// Gives the machine back the frames a socket never sent.
    fn requeue_unsent(&mut self, unsent: Option<Vec<Outgoing>>) -> Vec<Command<Outgoing>> {
        match unsent.filter(|unsent| !unsent.is_empty()) {
            Some(unsent) => self.machine.requeue(unsent),
            None => Vec::new(),
        }
    }

    fn send(&mut self, payload: Outgoing, resend: bool, send_errors: &mut Vec<String>) {
        let result = match &mut self.socket {
            Some(socket) => socket.send(payload, resend),
            None => Err("no socket".into()),
        };
        if let Err(error) = result {
            self.machine.send_refused();
            send_errors.push(error);
        }
    }

    fn arm(&mut self, kind: TimerKind, at_ms: u64, now: u64) {
        let delay = browser_delay(at_ms.saturating_sub(now));
        let this = self.this.clone();
        // Replacing the slot drops, and so cancels, the previous timer of this kind.
        self.timers[kind.index()] = Some(Timeout::new(delay, move || fire(&this, kind)));
    }

    /// Carries out commands in order; notices go to the shared queue. Returns the browser's
    /// refusals of frames, in order.
    fn execute(
        &mut self,
        commands: Vec<Command<Outgoing>>,
        mut frame: Option<Inbound>,
        clock: &Clock,
        notices: &RefCell<VecDeque<Notice>>,
    ) -> Vec<String> {
        let mut send_errors = Vec::new();
        let mut queue = VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            match command {
                Command::OpenSocket { url } => {
                    // The old socket (closed or written off) goes first, handlers and all.
                    self.socket = None;
                    match self.open_socket(&url) {
                        Ok(socket) => self.socket = Some(socket),
                        // The constructor threw (bad scheme, mixed content): permanent.
                        Err(message) => {
                            queue.extend(self.machine.handle(Input::Refused(message), clock.now()))
                        }
                    }
                }
                Command::Send(payload) => self.send(payload, true, &mut send_errors),
                Command::Ping(payload) => self.send(payload, false, &mut send_errors),
                Command::CloseSocket { code, reason } => {
                    if let Some(socket) = &self.socket {
                        let _ = socket.ws.close_with_code_and_reason(code, &reason);
                    }
                }
                Command::AbandonSocket {
                    code,
                    reason,
                    take_back,
                } => {
                    if let Some(mut socket) = self.socket.take() {
                        socket.close_with = (code, reason);
                        let unsent = take_back.then(|| socket.take_unsent());
                        drop(socket);
                        queue.extend(self.requeue_unsent(unsent));
                    }
                }
                Command::ArmTimer(kind, at_ms) => self.arm(kind, at_ms, clock.now()),
                Command::DisarmTimer(kind) => self.timers[kind.index()] = None,
                Command::Deliver => {
                    if let Some(frame) = frame.take() {
                        notices.borrow_mut().push_back(Notice::Message(frame));
                    }
                }
                Command::Report(event) => notices.borrow_mut().push_back(Notice::Event(event)),
            }
        }
        send_errors
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
        .map_err(|error| format!("cannot open {url}: {}", describe_js_error(&error)))?;
        ws.set_binary_type(match config.binary_type {
            BinaryType::ArrayBuffer => web_sys::BinaryType::Arraybuffer,
            BinaryType::Blob => web_sys::BinaryType::Blob,
        });

        let this = self.this.clone();
        let on_open =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| feed_weak(&this, Input::Opened));
        let this = self.this.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(shared) = this.upgrade() else { return };
            let at_ms = arrival_ms(event.time_stamp());
            let data = event.data();
            // Text stays a JavaScript string: copied only if the application reads it.
            let frame = if data.is_string() {
                Inbound::Text(Text::from_js(data.unchecked_into::<JsString>()))
            } else if let Ok(buffer) = data.clone().dyn_into::<ArrayBuffer>() {
                Inbound::ArrayBuffer(buffer)
            } else if let Ok(blob) = data.dyn_into::<Blob>() {
                Inbound::Blob(blob)
            } else {
                return;
            };
            feed_frame(&shared, frame, at_ms);
        });
        let this = self.this.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            let close = CloseInfo {
                code: event.code(),
                reason: event.reason(),
                was_clean: event.was_clean(),
            };
            feed_closed(&this, close);
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
            in_flight: InFlight::new(),
        })
    }

    /// The machine thinks the socket is open, but the server began the closing handshake
    /// (`readyState` CLOSING): the browser would accept a frame and discard it.
    fn check_ready_state(&mut self, clock: &Clock) -> Vec<Command<Outgoing>> {
        let closing = self
            .socket
            .as_ref()
            .is_some_and(|socket| socket.ws.ready_state() != WebSocket::OPEN);
        if closing && self.machine.status() == Status::Open {
            self.machine.handle(Input::PeerClosing, clock.now())
        } else {
            Vec::new()
        }
    }
}

fn send_on(ws: &WebSocket, payload: &Outgoing) -> Result<(), String> {
    let refused = match payload {
        Outgoing::Text(text) => send_str(ws, text),
        Outgoing::JsText(text) => send_value(ws, text.as_js_string()),
        Outgoing::Bytes(bytes) => send_u8(ws, bytes),
        Outgoing::ArrayBuffer(buffer) => send_value(ws, buffer),
        Outgoing::Blob(blob) => send_value(ws, blob),
    };
    match refused {
        None => Ok(()),
        Some(error) => Err(describe_js_error(&error)),
    }
}

// `send` with its own try/catch, returning what it threw. web-sys's `send_with_*` catch through
// wasm-bindgen's shared wrapper, which makes a closure and an `arguments` object at every call.
// In Firefox, on a real socket, that wrapper added 0.3-0.9 µs to a send of 3-4 µs, and this
// try/catch -0.2-0.4 µs (a web-sys send loop of 500 texts against the same loop with no catch,
// paired medians of 100 bursts, 7 runs): at about 38 µs a frame, over 1 % of a text echo.
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function send(socket, data) {
    try {
        socket.send(data);
    } catch (error) {
        // Never `undefined`, which would read as sent.
        return error ?? new Error(`send threw ${error}`);
    }
}
"#)]
extern "C" {
    /// A JavaScript string, `ArrayBuffer` or `Blob`, as it is.
    #[wasm_bindgen(js_name = send)]
    fn send_value(
        socket: &WebSocket,
        data: &wasm_bindgen::JsValue,
    ) -> Option<wasm_bindgen::JsValue>;
    /// Rust text, made into a new JavaScript string by the glue.
    #[wasm_bindgen(js_name = send)]
    fn send_str(socket: &WebSocket, text: &str) -> Option<wasm_bindgen::JsValue>;
    /// Bytes, passed as a view of wasm memory (the browser copies them at `send`).
    #[wasm_bindgen(js_name = send)]
    fn send_u8(socket: &WebSocket, bytes: &[u8]) -> Option<wasm_bindgen::JsValue>;
}

pub(crate) fn describe_js_error(error: &wasm_bindgen::JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => format!(
            "{}: {}",
            String::from(error.name()),
            String::from(error.message())
        ),
        None => error.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}

impl Heartline {
    /// Connects now and reports everything to `on_notice`.
    ///
    /// ```no_run
    /// let socket = heartline::Heartline::connect(heartline::Config::new("ws://127.0.0.1:8080/echo"), |_| {});
    /// # drop(socket);
    /// ```
    pub fn connect(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        let heartline = Self::new(config, on_notice);
        heartline.open();
        heartline
    }

    /// Sets everything up without connecting; call [`open`](Self::open) to start. Frames sent
    /// before that are queued for the first connection.
    ///
    /// ```no_run
    /// let socket = heartline::Heartline::new(heartline::Config::new("ws://127.0.0.1:8080/echo"), |_| {});
    /// socket.send_text("queued until open").unwrap();
    /// socket.open();
    /// ```
    pub fn new(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        let seed = config
            .seed
            .unwrap_or_else(|| (js_sys::Math::random() * u64::MAX as f64) as u64);
        let mut machine = Machine::new(config);
        machine.reseed(seed);
        // Start from what the browser knows: a loss while offline then waits for `online`.
        let offline = web_sys::window().is_some_and(|window| !window.navigator().on_line());
        if offline {
            machine.handle(Input::Offline, now_ms());
        }
        let status = machine.status();
        let shared = Rc::new_cyclic(|this: &Weak<Shared>| Shared {
            state: RefCell::new(Inner {
                machine,
                latest_ms: 0,
                socket: None,
                timers: Default::default(),
                _window_listeners: window_listeners(this),
                this: this.clone(),
            }),
            notices: RefCell::default(),
            delivering: Cell::new(false),
            status: Cell::new(status),
            notify: Rc::new(on_notice),
        });
        Self { shared }
    }

    /// Opens (or reopens after [`close`](Self::close), or when `Unreachable` or `Failed`);
    /// clears the stop flag. No-op while open.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.open();
    /// ```
    pub fn open(&self) {
        let result = step::<std::convert::Infallible>(&self.shared, None, |inner, _, clock| {
            Ok(inner.machine.handle(Input::Connect, clock.now()))
        });
        if let Err(StepError::Busy) = result {
            // From a URL provider: there is nothing to open that is not being opened already.
            web_sys::console::warn_1(
                &"heartline: open() from inside a URL provider is ignored".into(),
            );
        } else {
            report_unasked(&self.shared, result);
        }
    }

    /// Closes with a code (1000 or 3000–4999) and a reason (≤ 123 bytes) and sets the stop flag:
    /// nothing reconnects until [`open`](Self::open). Refused, untouched, if the code or reason is
    /// invalid. Frames still queued are dropped unless the config keeps them. If the server
    /// does not answer the closing handshake within the close timeout, the socket is written
    /// off ([MDN: `close`](https://developer.mozilla.org/docs/Web/API/WebSocket/close)).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.close(1000, "bye").unwrap();
    /// assert!(socket.close(1001, "").is_err(), "browsers cannot send 1001");
    /// ```
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        match step(&self.shared, None, |inner, _, clock| {
            inner.machine.close(code, reason, clock.now())
        }) {
            Ok(_) => Ok(()),
            Err(StepError::Refused(error)) => Err(error),
            Err(StepError::Busy) => Err(CloseError::Busy),
        }
    }

    /// Sends a text frame, or queues it until open
    /// ([MDN: `send`](https://developer.mozilla.org/docs/Web/API/WebSocket/send)).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_text("hello").unwrap();
    /// ```
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.send(Outgoing::Text(text.into()))
    }

    /// Sends a binary frame of these bytes, or queues it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_bytes(&[1, 2, 3]).unwrap();
    /// ```
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.send(Outgoing::Bytes(bytes.to_vec()))
    }

    /// Sends an `ArrayBuffer` as a binary frame, or queues a copy of it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_array_buffer(&js_sys::ArrayBuffer::new(8)).unwrap();
    /// ```
    pub fn send_array_buffer(&self, buffer: &ArrayBuffer) -> Result<(), SendError> {
        self.send(Outgoing::ArrayBuffer(buffer.clone()))
    }

    /// Sends a `Blob` (e.g. a `File`) as a binary frame, or queues it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// let blob = web_sys::Blob::new().unwrap();
    /// socket.send_blob(&blob).unwrap();
    /// ```
    pub fn send_blob(&self, blob: &Blob) -> Result<(), SendError> {
        self.send(Outgoing::Blob(blob.clone()))
    }

    /// Sends any [`Outgoing`] frame, or queues it. Errors say why nothing would send it: the
    /// outbox is full, the connection is stopped/closed/failed/unreachable, or the browser
    /// refused the frame.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send(heartline::Outgoing::Bytes(vec![0xff])).unwrap();
    /// ```
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        self.send_with(payload, Machine::send)
    }

    /// [`Machine::send_behind`]: the shared connection's path for other tabs' frames, which
    /// must not overtake frames put back in the outbox when the last socket ended.
    #[cfg(feature = "shared")]
    pub(crate) fn send_behind(&self, payload: Outgoing) -> Result<(), SendError> {
        self.send_with(payload, Machine::send_behind)
    }

    fn send_with(&self, payload: Outgoing, send: MachineSend) -> Result<(), SendError> {
        match step(&self.shared, None, |inner, _, clock| {
            let mut commands = inner.check_ready_state(clock);
            let sent = send(&mut inner.machine, payload)?;
            // Usually nothing came before: the send's own list, not a second allocation.
            if commands.is_empty() {
                return Ok(sent);
            }
            commands.extend(sent);
            Ok(commands)
        }) {
            Ok(errors) => match errors.into_iter().next() {
                None => Ok(()),
                Some(error) => Err(SendError::Browser(error)),
            },
            Err(StepError::Refused(error)) => Err(error),
            Err(StepError::Busy) => Err(SendError::Busy),
        }
    }

    /// The current status (also from inside a URL provider).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.status(), heartline::Status::Closed);
    /// ```
    pub fn status(&self) -> Status {
        self.shared.status.get()
    }

    /// Milliseconds until the scheduled reconnect, while `Reconnecting`: for a countdown.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.reconnect_in_ms(), None);
    /// ```
    pub fn reconnect_in_ms(&self) -> Option<u64> {
        match self.status() {
            Status::Reconnecting { next_at_ms, .. } => Some(next_at_ms.saturating_sub(now_ms())),
            _ => None,
        }
    }

    /// Counters, the last RTT and the last close (defaults from inside a URL provider).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.stats().rtt_ms, None);
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared
            .state
            .try_borrow()
            .map(|inner| inner.machine.stats().clone())
            .unwrap_or_default()
    }

    /// Frames waiting for the socket to open.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.shared
            .state
            .try_borrow()
            .map_or(0, |inner| inner.machine.queued())
    }

    /// The browser socket's own [`readyState`](https://developer.mozilla.org/docs/Web/API/WebSocket/readyState)
    /// (3, CLOSED, when there is no socket). It can be CLOSING while the status is still
    /// `Open`: the server began closing; sends are then queued for the next connection.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.ready_state(), 3);
    /// ```
    pub fn ready_state(&self) -> u16 {
        self.with_socket(|ws| ws.ready_state())
            .unwrap_or(WebSocket::CLOSED)
    }

    /// The browser socket's own [`bufferedAmount`](https://developer.mozilla.org/docs/Web/API/WebSocket/bufferedAmount).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.buffered_amount(), 0);
    /// ```
    pub fn buffered_amount(&self) -> u32 {
        self.with_socket(|ws| ws.buffered_amount()).unwrap_or(0)
    }

    /// Takes the frames still queued (not handed to a socket) out of this connection.
    pub(crate) fn take_queued(&self) -> Vec<Outgoing> {
        self.shared
            .state
            .try_borrow_mut()
            .map(|mut inner| inner.machine.take_outbox())
            .unwrap_or_default()
    }

    /// [`Machine::adopt`]: frames a former leader tab's connection never sent, to go first.
    #[cfg(feature = "shared")]
    pub(crate) fn adopt(&self, frames: Vec<Outgoing>) {
        // Called from the tab's own actions, never inside a step: `Busy` cannot happen here.
        let result = step::<std::convert::Infallible>(&self.shared, None, |inner, _, _| {
            Ok(inner.machine.adopt(frames))
        });
        report_unasked(&self.shared, result);
    }

    /// [`Machine::discard_own`]: drops the frames this tab's application queued; returns how many.
    #[cfg(feature = "shared")]
    pub(crate) fn discard_own(&self) -> usize {
        self.shared
            .state
            .try_borrow_mut()
            .map(|mut inner| inner.machine.discard_own())
            .unwrap_or_default()
    }

    /// The handle is going: the frames still queued will never be sent, and the application
    /// is told how many ([`Event::Discarded`]), as a shared handle's drop tells it.
    pub(crate) fn discard_queued(&self) {
        let frames = self.take_queued().len();
        if frames > 0 {
            (self.shared.notify)(Notice::Event(Event::Discarded { frames }));
        }
    }

    fn with_socket<R>(&self, f: impl FnOnce(&WebSocket) -> R) -> Option<R> {
        let inner = self.shared.state.try_borrow().ok()?;
        inner.socket.as_ref().map(|socket| f(&socket.ws))
    }
}

impl std::fmt::Debug for Heartline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartline")
            .field("status", &self.status())
            .finish()
    }
}

/// `online`, `offline`, `visibilitychange`, `beforeunload`, `pagehide` and `pageshow`, owned by
/// the connection. No `unload` listener: it would keep the page out of the back/forward cache.
fn window_listeners(this: &Weak<Shared>) -> Vec<EventListener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let mut listeners = Vec::new();
    let mut on = |target: &web_sys::EventTarget,
                  name: &'static str,
                  input: fn(&web_sys::Event) -> Option<Input<'static>>| {
        let weak = this.clone();
        listeners.push(EventListener::new(target, name, move |event| {
            if let Some(input) = input(event) {
                feed_weak(&weak, input);
            }
        }));
    };
    on(&window, "online", |_| Some(Input::Online));
    on(&window, "offline", |_| Some(Input::Offline));
    on(&window, "beforeunload", |_| Some(Input::Unload));
    // Close before the page goes into the back/forward cache (an open socket keeps it out)...
    on(&window, "pagehide", |_| Some(Input::PageHide));
    // ...and reopen when it comes back from there (`persisted`); a first load is not a resume.
    on(&window, "pageshow", |event| {
        from_back_forward_cache(event).then_some(Input::PageShow)
    });
    if let Some(document) = window.document() {
        on(&document, "visibilitychange", |_| {
            let visible = web_sys::window()
                .and_then(|window| window.document())
                .is_some_and(|document| {
                    document.visibility_state() == web_sys::VisibilityState::Visible
                });
            visible.then_some(Input::Visible)
        });
    }
    listeners
}

/// Whether a `pagehide` puts the page into the back/forward cache, or a `pageshow` takes it
/// out (`persisted`); a first load or a page closed for good is not.
pub(crate) fn from_back_forward_cache(event: &web_sys::Event) -> bool {
    event
        .dyn_ref::<web_sys::PageTransitionEvent>()
        .is_some_and(|event| event.persisted())
}
