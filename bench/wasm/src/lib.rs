//! Heartline's side of the browser benchmarks (called from `bench/site/bench.js`). Each function
//! connects, does one measured job and resolves with milliseconds on the page's
//! `performance.now()` clock, timed at the moment the library reports each event.

use futures::channel::mpsc;
use futures::StreamExt;
use heartline::{Config, Event, Heartline, JsText, Notice, Outgoing, Role, Status};
use js_sys::{JsString, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|performance| {
            let now = js_sys::Reflect::get(&performance, &"now".into()).ok()?;
            now.dyn_ref::<js_sys::Function>()?
                .call0(&performance)
                .ok()?
                .as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// A connection and the stream of its notices, each with the time it arrived.
struct Probe {
    socket: Heartline,
    notices: mpsc::UnboundedReceiver<(f64, Notice)>,
}

impl Probe {
    fn connect(config: Config) -> Self {
        let (sender, notices) = mpsc::unbounded();
        let socket = Heartline::connect(config, move |notice| {
            let _ = sender.unbounded_send((now(), notice));
        });
        Self { socket, notices }
    }

    async fn until(&mut self, wanted: impl Fn(&Notice) -> bool) -> Result<(f64, Notice), JsValue> {
        while let Some((at, notice)) = self.notices.next().await {
            if wanted(&notice) {
                return Ok((at, notice));
            }
        }
        Err("notices ended".into())
    }

    async fn opened(&mut self) -> Result<f64, JsValue> {
        Ok(self.until(|n| *n == Notice::Event(Event::Opened)).await?.0)
    }

    async fn messages(&mut self, count: u32) -> Result<f64, JsValue> {
        let mut seen = 0;
        let mut last = 0.0;
        while seen < count {
            let (at, _) = self.until(|n| matches!(n, Notice::Message(_))).await?;
            seen += 1;
            last = at;
        }
        Ok(last)
    }
}

fn config(url: &str) -> Config {
    // The heartbeat stays on (its default interval does not fire within a run).
    Config::new(url).with_outbox_limits(1 << 20, 1 << 30)
}

/// A connection kept open through a round's bursts (the echo and binary benchmarks take turns
/// in bursts on one connection per client and round): opening and closing stay outside every
/// timed burst, its own and the other clients'.
#[wasm_bindgen]
pub struct BurstSocket {
    socket: Rc<Heartline>,
    burst: Rc<Burst>,
}

/// What the notice callback needs to time a burst and to tell the close.
#[derive(Default)]
struct Burst {
    seen: Cell<u32>,
    expected: Cell<u32>,
    /// The last burst's synchronous loop of sends, ms.
    send_loop_ms: Cell<f64>,
    opened: RefCell<Option<futures::channel::oneshot::Sender<()>>>,
    done: RefCell<Option<futures::channel::oneshot::Sender<f64>>>,
    closed: RefCell<Option<futures::channel::oneshot::Sender<()>>>,
}

impl Burst {
    fn tell(slot: &RefCell<Option<futures::channel::oneshot::Sender<()>>>) {
        if let Some(tx) = slot.take() {
            let _ = tx.send(());
        }
    }

    /// A message arrived: counted in the callback, as the JS peers count in `onmessage`.
    fn heard_message(&self) {
        self.seen.set(self.seen.get() + 1);
        if self.seen.get() == self.expected.get() {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(now());
            }
        }
    }

    /// Runs `send` `count` times without waiting; resolves with the ms until the `count`-th
    /// message (the last echo). The send loop's own ms are kept in `send_loop_ms`.
    fn run(
        self: &Rc<Self>,
        count: u32,
        send: impl Fn() -> Result<(), String> + 'static,
    ) -> Promise {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.seen.set(0);
        self.expected.set(count);
        self.done.replace(Some(tx));
        let burst = self.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let start = now();
            for _ in 0..count {
                send().map_err(JsValue::from)?;
            }
            burst.send_loop_ms.set(now() - start);
            let end = rx.await.map_err(|_| JsValue::from("closed early"))?;
            Ok(JsValue::from(end - start))
        })
    }

    /// Resolves once the close event came, after `close` (the request) succeeded.
    fn closing(&self, close: impl FnOnce() -> Result<(), String>) -> Promise {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.closed.replace(Some(tx));
        let result = close();
        wasm_bindgen_futures::future_to_promise(async move {
            result.map_err(JsValue::from)?;
            rx.await.map_err(|_| JsValue::from("no close event"))?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// Connects a [`BurstSocket`]; resolves with it once open.
#[wasm_bindgen]
pub async fn open_burst_socket(url: String) -> Result<BurstSocket, JsValue> {
    let burst = Rc::new(Burst::default());
    let (opened_tx, opened_rx) = futures::channel::oneshot::channel();
    burst.opened.replace(Some(opened_tx));
    let inner = burst.clone();
    let socket = Heartline::connect(config(&url), move |notice| match notice {
        Notice::Event(Event::Opened) => Burst::tell(&inner.opened),
        Notice::Message(_) => inner.heard_message(),
        Notice::Event(Event::Closed(_)) => Burst::tell(&inner.closed),
        _ => {}
    });
    opened_rx.await.map_err(|_| JsValue::from("never opened"))?;
    Ok(BurstSocket {
        socket: Rc::new(socket),
        burst,
    })
}

#[wasm_bindgen]
impl BurstSocket {
    /// Sends `frames` text frames of `size` bytes without waiting; resolves with the ms until
    /// the last echo.
    pub fn text_burst(&self, frames: u32, size: u32) -> Promise {
        let text = "x".repeat(size as usize);
        self.run(frames, move |socket| {
            socket.send_text(text.as_str()).map_err(|e| e.to_string())
        })
    }

    /// Like [`text_burst`](Self::text_burst), with the text made into one JavaScript string
    /// before the burst and sent as such ([`heartline::Outgoing::JsText`]), as the JS clients
    /// send one string.
    pub fn text_burst_js(&self, frames: u32, size: u32) -> Promise {
        let text = JsText::from(JsString::from("x".repeat(size as usize)));
        self.run(frames, move |socket| {
            socket
                .send(Outgoing::JsText(text.clone()))
                .map_err(|e| e.to_string())
        })
    }

    /// Sends `count` binary frames of `bytes` each without waiting; resolves with the ms until
    /// the last echo.
    pub fn binary_burst(&self, count: u32, bytes: u32) -> Promise {
        let buffer = Uint8Array::new_with_length(bytes).buffer();
        self.run(count, move |socket| {
            socket.send_array_buffer(&buffer).map_err(|e| e.to_string())
        })
    }

    /// Closes; resolves once the close handshake is over.
    pub fn close(&self) -> Promise {
        let socket = self.socket.clone();
        self.burst
            .closing(move || socket.close(1000, "done").map_err(|e| e.to_string()))
    }

    fn run(
        &self,
        count: u32,
        send: impl Fn(&Heartline) -> Result<(), String> + 'static,
    ) -> Promise {
        let socket = self.socket.clone();
        self.burst.run(count, move || send(&socket))
    }
}

/// `count` sequential round trips; resolves with each one's ms.
#[wasm_bindgen]
pub async fn heartline_round_trips(url: String, count: u32) -> Result<Vec<f64>, JsValue> {
    let mut probe = Probe::connect(config(&url));
    probe.opened().await?;
    let mut times = Vec::with_capacity(count as usize);
    for i in 0..count {
        let start = now();
        probe
            .socket
            .send_text(format!("rt{i}"))
            .map_err(|e| e.to_string())?;
        let end = probe.messages(1).await?;
        times.push(end - start);
    }
    Ok(times)
}

/// Against a silent server: ms from open to the loss being reported.
#[wasm_bindgen]
pub async fn heartline_detection(
    url: String,
    interval_ms: u32,
    timeout_ms: u32,
) -> Result<f64, JsValue> {
    let config = config(&url).with_heartbeat_timing(interval_ms as u64, timeout_ms as u64);
    let mut probe = Probe::connect(config);
    let opened = probe.opened().await?;
    let (lost, _) = probe
        .until(|n| *n == Notice::Event(Event::HeartbeatTimeout))
        .await?;
    Ok(lost - opened)
}

/// Against a server that drops the first connection: [scheduled delay, ms from the loss to OPEN].
#[wasm_bindgen]
pub async fn heartline_reconnect(url: String) -> Result<Vec<f64>, JsValue> {
    let config = config(&url)
        .with_reconnect_delays(200, 200, 1.0)
        .with_jitter(false);
    let mut probe = Probe::connect(config);
    probe.opened().await?;
    let (lost, notice) = probe
        .until(|n| matches!(n, Notice::Event(Event::ReconnectScheduled { .. })))
        .await?;
    let Notice::Event(Event::ReconnectScheduled { delay_ms, .. }) = notice else {
        return Err("unreachable".into());
    };
    let reopened = probe.opened().await?;
    Ok(vec![delay_ms as f64, reopened - lost])
}

/// `cycles` times: connect, wait for OPEN, close, wait for the close to finish.
#[wasm_bindgen]
pub async fn heartline_cycles(url: String, cycles: u32) -> Result<(), JsValue> {
    for _ in 0..cycles {
        let mut probe = Probe::connect(config(&url));
        probe.opened().await?;
        probe
            .socket
            .close(1000, "cycle")
            .map_err(|e| e.to_string())?;
        probe
            .until(|n| *n == Notice::Event(Event::Status(Status::Stopped)))
            .await?;
    }
    Ok(())
}

/// What one tab of the shared-socket benchmark is waiting for.
enum Waiter {
    /// The `count`-th inbound message: resolves with its time.
    Messages(u32, futures::channel::oneshot::Sender<f64>),
    /// The first `Opened` (or status `Open`) at or after this time: resolves with its time.
    OpenedAfter(f64, futures::channel::oneshot::Sender<f64>),
}

/// What a tab's connection reported, kept for the page to read.
#[derive(Default)]
struct TabLog {
    opened: RefCell<Vec<f64>>,
    messages: Cell<u32>,
    last_message: Cell<f64>,
    waiters: RefCell<Vec<Waiter>>,
}

impl TabLog {
    fn heard(&self, at: f64, notice: &Notice) {
        match notice {
            // A follower hears the leader's status (a tab joining an open socket hears no
            // `Opened`), so either counts.
            Notice::Event(Event::Opened | Event::Status(Status::Open)) => {
                self.opened.borrow_mut().push(at)
            }
            Notice::Message(_) => {
                self.messages.set(self.messages.get() + 1);
                self.last_message.set(at);
            }
            _ => return,
        }
        self.settle();
    }

    /// Resolves every waiter whose moment has come (also one registered after it came).
    fn settle(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let mut pending = Vec::with_capacity(waiters.len());
        for waiter in waiters {
            match waiter {
                Waiter::Messages(count, tx) if self.messages.get() >= count => {
                    let _ = tx.send(self.last_message.get());
                }
                Waiter::OpenedAfter(after, tx) => {
                    let opened = self.opened.borrow().iter().copied().find(|t| *t >= after);
                    match opened {
                        Some(at) => {
                            let _ = tx.send(at);
                        }
                        None => pending.push(Waiter::OpenedAfter(after, tx)),
                    }
                }
                waiter => pending.push(waiter),
            }
        }
        self.waiters.borrow_mut().extend(pending);
    }

    fn wait(
        self: &Rc<Self>,
        make: impl FnOnce(futures::channel::oneshot::Sender<f64>) -> Waiter,
    ) -> Promise {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.waiters.borrow_mut().push(make(tx));
        self.settle();
        wasm_bindgen_futures::future_to_promise(async move {
            rx.await
                .map(JsValue::from)
                .map_err(|_| JsValue::from("tab dropped"))
        })
    }
}

/// One tab of the shared-socket benchmark (`bench/modules/tabs.mjs`): a connection, shared with
/// the other tabs under `shared_key` or the tab's own, that logs when it opened and counts what
/// it received. Times are on this page's `performance.now()` clock.
#[wasm_bindgen]
pub struct BenchTab {
    socket: Heartline,
    log: Rc<TabLog>,
}

#[wasm_bindgen]
impl BenchTab {
    /// Connects to `url`; with `shared_key`, through the tabs' shared socket.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, shared_key: Option<String>) -> BenchTab {
        let log = Rc::new(TabLog::default());
        let heard = log.clone();
        let config = match shared_key {
            Some(key) => config(&url).with_shared(key),
            None => config(&url),
        };
        let socket = Heartline::connect(config, move |notice| heard.heard(now(), &notice));
        BenchTab { socket, log }
    }

    /// "leader", "follower", "alone" (sharing impossible here) or "own" (not shared).
    pub fn role(&self) -> String {
        match self.socket.role() {
            Some(Role::Leader) => "leader",
            Some(Role::Follower) => "follower",
            Some(Role::Alone { .. }) => "alone",
            None => "own",
        }
        .into()
    }

    /// Inbound messages so far.
    pub fn messages(&self) -> u32 {
        self.log.messages.get()
    }

    /// Resolves with the time of the first `Opened` at or after `after` ms.
    pub fn opened_after(&self, after: f64) -> Promise {
        self.log.wait(|tx| Waiter::OpenedAfter(after, tx))
    }

    /// Resolves with the time the `count`-th inbound message arrived.
    pub fn messages_reach(&self, count: u32) -> Promise {
        self.log.wait(|tx| Waiter::Messages(count, tx))
    }

    /// Sends `frames` text frames of `size` bytes without waiting; returns the time it started.
    pub fn send_texts(&self, frames: u32, size: u32) -> Result<f64, JsValue> {
        let text = "x".repeat(size as usize);
        let start = now();
        for _ in 0..frames {
            self.socket
                .send_text(text.as_str())
                .map_err(|e| e.to_string())?;
        }
        Ok(start)
    }
}

/// The size of this module's linear memory, bytes.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|memory| {
            memory
                .buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map_or(0.0, |b| b.byte_length() as f64)
        })
        .unwrap_or(0.0)
}

/// A bare web-sys `WebSocket` from Rust, no library: a Rust closure counts each message (after
/// reading its data, as every client does), and a burst sends one JavaScript string. What any
/// Rust client's text echo costs at least: the page's calls into and out of wasm.
#[wasm_bindgen]
pub struct WebSysSocket {
    ws: web_sys::WebSocket,
    burst: Rc<Burst>,
    _on_open: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_close: Closure<dyn FnMut(JsValue)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

/// Connects a [`WebSysSocket`]; resolves with it once open, or fails if it errs first.
#[wasm_bindgen]
pub async fn open_web_sys_socket(url: String) -> Result<WebSysSocket, JsValue> {
    let ws = web_sys::WebSocket::new(&url)?;
    let burst = Rc::new(Burst::default());
    let (opened_tx, opened_rx) = futures::channel::oneshot::channel();
    burst.opened.replace(Some(opened_tx));
    let inner = burst.clone();
    let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| Burst::tell(&inner.opened));
    let inner = burst.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let _ = event.data();
            inner.heard_message();
        });
    let inner = burst.clone();
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| Burst::tell(&inner.closed));
    let inner = burst.clone();
    // An error before the open drops the open's sender, so the wait below fails at once.
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_| drop(inner.opened.take()));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    opened_rx.await.map_err(|_| JsValue::from("never opened"))?;
    Ok(WebSysSocket {
        ws,
        burst,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
        _on_error: on_error,
    })
}

impl Drop for WebSysSocket {
    fn drop(&mut self) {
        // Detached before its closures go, so no late event calls a dropped one.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
    }
}

#[wasm_bindgen]
impl WebSysSocket {
    /// Sends `frames` copies of one JavaScript string of `size` bytes without waiting; resolves
    /// with the ms until the last echo.
    pub fn text_burst_js(&self, frames: u32, size: u32) -> Promise {
        let text = JsString::from("x".repeat(size as usize));
        let ws: JsStringSocket = self.ws.clone().unchecked_into();
        self.burst.run(frames, move || {
            ws.send_js_string(&text);
            Ok(())
        })
    }

    /// Like [`text_burst_js`](Self::text_burst_js), passing a Rust `&str` at each send (made
    /// into a new JavaScript string by the glue).
    pub fn text_burst_str(&self, frames: u32, size: u32) -> Promise {
        let text = "x".repeat(size as usize);
        let ws = self.ws.clone();
        self.burst.run(frames, move || {
            ws.send_with_str(&text)
                .map_err(|_| "send refused".to_string())
        })
    }

    /// Closes; resolves once the close handshake is over.
    pub fn close(&self) -> Promise {
        let ws = self.ws.clone();
        self.burst.closing(move || {
            ws.close_with_code(1000)
                .map_err(|_| "close refused".to_string())
        })
    }
}

/// The synchronous loop of `frames` text sends of `size` bytes through heartline, alone: its ms
/// (then it waits for the echoes and the close, so the next run starts from a quiet page). With
/// `js_string`, the text is one JavaScript string made before the loop (`Outgoing::JsText`).
#[wasm_bindgen]
pub async fn heartline_send_loop(
    url: String,
    frames: u32,
    size: u32,
    js_string: bool,
) -> Result<f64, JsValue> {
    let socket = open_burst_socket(url).await?;
    let burst = if js_string {
        socket.text_burst_js(frames, size)
    } else {
        socket.text_burst(frames, size)
    };
    send_loop_then_close(burst, &socket.burst, || socket.close()).await
}

/// Awaits a burst, then the close: the burst's send loop, ms.
async fn send_loop_then_close(
    burst: Promise,
    state: &Burst,
    close: impl FnOnce() -> Promise,
) -> Result<f64, JsValue> {
    wasm_bindgen_futures::JsFuture::from(burst).await?;
    let sent = state.send_loop_ms.get();
    wasm_bindgen_futures::JsFuture::from(close()).await?;
    Ok(sent)
}

#[wasm_bindgen]
extern "C" {
    /// A `WebSocket` seen through a binding that sends a JavaScript string as it is (web-sys's
    /// `send_with_str` takes a Rust `&str`, which the glue decodes into a new string each call).
    type JsStringSocket;
    #[wasm_bindgen(method, js_name = send)]
    fn send_js_string(this: &JsStringSocket, data: &js_sys::JsString);
}

/// The same loop on a bare web-sys `WebSocket` from Rust ([`WebSysSocket`]): with `convert`,
/// each send passes a Rust `&str` (decoded into a JavaScript string by the glue, as every Rust
/// client's send is); without, one JavaScript string made before the loop (the call from wasm
/// alone).
#[wasm_bindgen]
pub async fn web_sys_send_loop(
    url: String,
    frames: u32,
    size: u32,
    convert: bool,
) -> Result<f64, JsValue> {
    let socket = open_web_sys_socket(url).await?;
    let burst = if convert {
        socket.text_burst_str(frames, size)
    } else {
        socket.text_burst_js(frames, size)
    };
    send_loop_then_close(burst, &socket.burst, || socket.close()).await
}
