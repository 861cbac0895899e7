//! Helpers for the browser tests: the test server's address, its stats, and waiting on
//! notices with a deadline (never a fixed sleep).

#![allow(dead_code)]

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use heartline::{Config, Event, Heartline, Notice, Status};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// `host:port` of the real server the test command started, learned at compile time.
pub fn server() -> &'static str {
    match option_env!("HEARTLINE_TEST_SERVER") {
        Some(server) => server,
        None => panic!(
            "HEARTLINE_TEST_SERVER is not set: run the browser tests through scripts/test.sh"
        ),
    }
}

/// A key no other test uses, so server stats are per test.
pub fn unique_key(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// The URL of a test-mode socket.
pub fn test_url(key: &str, query: &str) -> String {
    format!("ws://{}/test/ws?key={key}&{query}", server())
}

/// GETs a test-mode endpoint and parses its JSON (or returns the text as a JSON string).
pub async fn get(path: &str) -> Value {
    let window = web_sys::window().expect("a window");
    let response = JsFuture::from(window.fetch_with_str(&format!("http://{}{path}", server())))
        .await
        .expect("fetch");
    let response: web_sys::Response = response.dyn_into().expect("a Response");
    let text = JsFuture::from(response.text().expect("text()"))
        .await
        .expect("body");
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// What the server saw on a key's connections.
pub async fn stats(key: &str) -> Value {
    get(&format!("/test/stats?key={key}")).await
}

/// How many connections the server accepted for a key.
pub async fn opened(key: &str) -> u64 {
    stats(key).await["opened"].as_u64().unwrap_or(0)
}

/// Waits until the server's stats for `key` satisfy `check`, polling the endpoint (the
/// server has no push channel to the test), up to `deadline_ms`.
pub async fn server_until(key: &str, deadline_ms: u32, check: impl Fn(&Value) -> bool) -> Value {
    let start = js_sys::Date::now();
    loop {
        let stats = stats(key).await;
        if check(&stats) {
            return stats;
        }
        if js_sys::Date::now() - start > deadline_ms as f64 {
            panic!("server stats for {key} never matched within {deadline_ms} ms: {stats}");
        }
        TimeoutFuture::new(25).await;
    }
}

/// Waits until `check` holds, looking every few ms, up to `deadline_ms` (for browser state that
/// fires no event, such as `readyState` turning CLOSING).
pub async fn until_true(deadline_ms: u32, what: &str, check: impl Fn() -> bool) {
    let start = js_sys::Date::now();
    while !check() {
        if js_sys::Date::now() - start > deadline_ms as f64 {
            panic!("{what} did not happen within {deadline_ms} ms");
        }
        TimeoutFuture::new(5).await;
    }
}

/// A connection whose notices are recorded with the time they arrived.
pub struct Probe {
    socket: Option<std::rc::Rc<Heartline>>,
    receiver: mpsc::UnboundedReceiver<(f64, Notice)>,
    pub seen: Vec<(f64, Notice)>,
}

impl Probe {
    /// Connects now.
    pub fn connect(config: Config) -> Self {
        let probe = Self::new(config);
        probe.socket().open();
        probe
    }

    /// Sets up without connecting.
    pub fn new(config: Config) -> Self {
        Self::with_handler(config, |_, _| {})
    }

    /// Sets up without connecting; `handler` also sees every notice, with the connection, as
    /// an application's handler would (to send or close from inside a notice).
    pub fn with_handler(config: Config, handler: impl Fn(&Heartline, &Notice) + 'static) -> Self {
        let (sender, receiver) = mpsc::unbounded();
        let slot: std::rc::Rc<std::cell::RefCell<Option<std::rc::Weak<Heartline>>>> =
            Default::default();
        let seen_slot = slot.clone();
        let socket = Heartline::new(config, move |notice| {
            let _ = sender.unbounded_send((js_sys::Date::now(), notice.clone()));
            let socket = seen_slot.borrow().as_ref().and_then(std::rc::Weak::upgrade);
            if let Some(socket) = socket {
                handler(&socket, &notice);
            }
        });
        let socket = std::rc::Rc::new(socket);
        *slot.borrow_mut() = Some(std::rc::Rc::downgrade(&socket));
        Self {
            socket: Some(socket),
            receiver,
            seen: Vec::new(),
        }
    }

    /// The connection (until [`drop_socket`](Self::drop_socket)).
    pub fn socket(&self) -> &Heartline {
        self.socket.as_ref().expect("the socket was dropped")
    }

    /// Drops the connection, keeping the notice receiver to see that nothing follows.
    pub fn drop_socket(&mut self) {
        self.socket = None;
    }

    /// Takes the connection out (to drop it in a particular way), keeping the notice receiver.
    pub fn take_socket(&mut self) -> Option<Heartline> {
        self.socket
            .take()
            .and_then(|socket| std::rc::Rc::try_unwrap(socket).ok())
    }

    /// Waits for the next notice matching `wanted`, failing after `deadline_ms`.
    pub async fn until(
        &mut self,
        deadline_ms: u32,
        what: &str,
        wanted: impl Fn(&Notice) -> bool,
    ) -> (f64, Notice) {
        let mut deadline = TimeoutFuture::new(deadline_ms).fuse();
        loop {
            futures::select! {
                next = self.receiver.next() => {
                    let Some((at, notice)) = next else { panic!("notices ended while waiting for {what}") };
                    self.seen.push((at, notice.clone()));
                    if wanted(&notice) {
                        return (at, notice);
                    }
                }
                () = deadline => panic!("no {what} within {deadline_ms} ms; seen: {:?}", self.seen.iter().map(|(_, n)| n).collect::<Vec<_>>()),
            }
        }
    }

    /// Waits for a status.
    pub async fn status(
        &mut self,
        deadline_ms: u32,
        wanted: impl Fn(Status) -> bool,
    ) -> (f64, Status) {
        let (at, notice) = self
            .until(
                deadline_ms,
                "status",
                |notice| matches!(notice, Notice::Event(Event::Status(status)) if wanted(*status)),
            )
            .await;
        match notice {
            Notice::Event(Event::Status(status)) => (at, status),
            _ => unreachable!(),
        }
    }

    /// Waits for the socket to open.
    pub async fn opened(&mut self) -> f64 {
        self.until(5_000, "open", |notice| {
            *notice == Notice::Event(Event::Opened)
        })
        .await
        .0
    }

    /// Collects every notice arriving in the next `window_ms` (for asserting that nothing happens).
    pub async fn quiet_for(&mut self, window_ms: u32) -> Vec<Notice> {
        let mut window = TimeoutFuture::new(window_ms).fuse();
        let mut got = Vec::new();
        loop {
            futures::select! {
                next = self.receiver.next() => match next {
                    Some((at, notice)) => {
                        self.seen.push((at, notice.clone()));
                        got.push(notice);
                    }
                    None => return got,
                },
                () = window => return got,
            }
        }
    }
}

/// A config for tests: short delays, fixed seed.
pub fn fast(url: String) -> Config {
    Config::new(url)
        .with_reconnect_delays(100, 400, 2.0)
        .with_seed(11)
        .with_open_timeout(Some(3_000))
}

/// Whether this runs in Firefox (some browser behaviours differ, and are documented).
pub fn is_firefox() -> bool {
    web_sys::window()
        .and_then(|window| window.navigator().user_agent().ok())
        .is_some_and(|agent| agent.contains("Firefox"))
}
