//! The public handle: this tab's own connection, or its end of a connection shared by the tabs
//! of the origin ([`Config::with_shared`]). The API is the same either way.

use crate::driver::Heartline as Connection;
use crate::frame::{Notice, Outgoing};
use crate::machine::{Stats, Status};
use crate::shared::Role;
#[cfg(feature = "shared")]
use crate::shared::SharedTab;
use crate::{CloseError, Config, SendError};
use js_sys::ArrayBuffer;
use std::rc::Rc;
use web_sys::Blob;

/// A live connection: a WebSocket that reconnects, beats, queues and reports.
///
/// Keep it: dropping it closes the socket with 1000 and removes every handler, listener and
/// timer (in a shared connection, it ends this tab's part; the socket closes with the last
/// tab). A handle dropped with frames still queued (or, shared, not acknowledged yet) tells
/// `on_notice` ([`Event::Discarded`](crate::Event::Discarded)) before `drop` returns: a
/// handler must not need a borrow that the code dropping the handle still holds. Delivery is at most once:
/// frames already handed to the browser when a connection is lost are gone (an application
/// that needs more acknowledges and resends, as the chat does).
///
/// ```no_run
/// use heartline::{Config, Heartline, Notice};
/// let config = Config::new("ws://127.0.0.1:8080/echo").with_heartbeat_timing(10_000, 5_000);
/// let socket = Heartline::connect(config, |notice: Notice| web_sys::console::log_1(&format!("{notice:?}").into()));
/// socket.send_text("hello").unwrap();
/// socket.close(1000, "done").unwrap();
/// ```
pub struct Heartline {
    kind: Kind,
    /// Why a connection meant to be shared is this tab's own.
    alone: Option<String>,
}

impl Drop for Heartline {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Own(conn) => conn.discard_queued(),
            // A shared tab's own drop reports what it leaves.
            #[cfg(feature = "shared")]
            Kind::Shared(_) => {}
        }
    }
}

enum Kind {
    Own(Connection),
    #[cfg(feature = "shared")]
    Shared(SharedTab),
}

impl Heartline {
    /// Connects now and reports everything to `on_notice`.
    ///
    /// ```no_run
    /// let socket = heartline::Heartline::connect(heartline::Config::new("ws://127.0.0.1:8080/echo"), |_| {});
    /// # drop(socket);
    /// ```
    pub fn connect(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        if config.shared.is_none() {
            return Self {
                kind: Kind::Own(Connection::connect(config, on_notice)),
                alone: None,
            };
        }
        let heartline = Self::new(config, on_notice);
        heartline.open();
        heartline
    }

    /// Sets everything up without connecting; call [`open`](Self::open) to start. Frames sent
    /// before that are queued for the first connection. With [`Config::with_shared`], this tab
    /// joins the others (or, where the browser cannot share, is told so by a
    /// [`Notice::Role`] and gets its own socket).
    ///
    /// ```no_run
    /// let socket = heartline::Heartline::new(heartline::Config::new("ws://127.0.0.1:8080/echo"), |_| {});
    /// socket.send_text("queued until open").unwrap();
    /// socket.open();
    /// ```
    pub fn new(config: Config, on_notice: impl Fn(Notice) + 'static) -> Self {
        let Some(key) = config.shared.clone() else {
            return Self {
                kind: Kind::Own(Connection::new(config, on_notice)),
                alone: None,
            };
        };
        let notify: Rc<dyn Fn(Notice)> = Rc::new(on_notice);
        #[cfg(feature = "shared")]
        let reason = match SharedTab::new(&key, config.clone(), notify.clone()) {
            Ok(tab) => {
                return Self {
                    kind: Kind::Shared(tab),
                    alone: None,
                }
            }
            Err(reason) => reason,
        };
        #[cfg(not(feature = "shared"))]
        let reason = {
            let _ = key;
            "heartline was built without its `shared` feature".to_owned()
        };
        let mut config = config;
        config.shared = None;
        let forward = notify.clone();
        let own = Connection::new(config, move |notice| forward(notice));
        notify(Notice::Role(Role::Alone {
            reason: reason.clone(),
        }));
        Self {
            kind: Kind::Own(own),
            alone: Some(reason),
        }
    }

    /// Opens (or reopens after [`close`](Self::close), or when `Unreachable` or `Failed`);
    /// clears the stop flag. No-op while open.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.open();
    /// ```
    pub fn open(&self) {
        match &self.kind {
            Kind::Own(conn) => conn.open(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.open(),
        }
    }

    /// Closes with a code (1000 or 3000–4999) and a reason (≤ 123 bytes) and sets the stop flag:
    /// nothing reconnects until [`open`](Self::open). Refused, untouched, if the code or reason is
    /// invalid. Frames still queued are dropped unless the config keeps them. If the server
    /// does not answer the closing handshake within the close timeout, the socket is written
    /// off ([MDN: `close`](https://developer.mozilla.org/docs/Web/API/WebSocket/close)).
    ///
    /// In a shared connection this ends this tab's part only; the socket closes, with this code,
    /// when the last tab leaves (see [`close_all`](Self::close_all)).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.close(1000, "bye").unwrap();
    /// assert!(socket.close(1001, "").is_err(), "browsers cannot send 1001");
    /// ```
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        match &self.kind {
            Kind::Own(conn) => conn.close(code, reason),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.close(code, reason),
        }
    }

    /// Closes the connection for every tab that shares it (e.g. at logout); the same as
    /// [`close`](Self::close) for a connection of one's own.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h").with_shared("ws://h"), |_| {});
    /// socket.close_all(4000, "logged out").unwrap();
    /// ```
    pub fn close_all(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        match &self.kind {
            Kind::Own(conn) => conn.close(code, reason),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.close_all(code, reason),
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
        match &self.kind {
            Kind::Own(conn) => conn.send_text(text),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.send(Outgoing::Text(text.into())),
        }
    }

    /// Sends a binary frame of these bytes, or queues it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_bytes(&[1, 2, 3]).unwrap();
    /// ```
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), SendError> {
        match &self.kind {
            Kind::Own(conn) => conn.send_bytes(bytes),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.send(Outgoing::Bytes(bytes.to_vec())),
        }
    }

    /// Sends an `ArrayBuffer` as a binary frame, or queues a copy of it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_array_buffer(&js_sys::ArrayBuffer::new(8)).unwrap();
    /// ```
    pub fn send_array_buffer(&self, buffer: &ArrayBuffer) -> Result<(), SendError> {
        match &self.kind {
            Kind::Own(conn) => conn.send_array_buffer(buffer),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.send(Outgoing::ArrayBuffer(buffer.clone())),
        }
    }

    /// Sends a `Blob` (e.g. a `File`) as a binary frame, or queues it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// let blob = web_sys::Blob::new().unwrap();
    /// socket.send_blob(&blob).unwrap();
    /// ```
    pub fn send_blob(&self, blob: &Blob) -> Result<(), SendError> {
        match &self.kind {
            Kind::Own(conn) => conn.send_blob(blob),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.send(Outgoing::Blob(blob.clone())),
        }
    }

    /// Sends a value as a JSON text frame, or queues it.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send_json(&serde_json::json!({ "type": "join", "room": "lobby" })).unwrap();
    /// ```
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        self.send(Outgoing::Text(crate::outbox::encode_json(value)?))
    }

    /// Sends any [`Outgoing`] frame, or queues it. Errors say why nothing would send it: the
    /// outbox is full, the connection is stopped/closed/failed/unreachable, or the browser
    /// refused the frame. In a shared follower tab the frame is kept until the leader tab has
    /// sent it (bounded by the same outbox limits).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// socket.send(heartline::Outgoing::Bytes(vec![0xff])).unwrap();
    /// ```
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        match &self.kind {
            Kind::Own(conn) => conn.send(payload),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.send(payload),
        }
    }

    /// The current status (also from inside a URL provider); in a shared follower tab, the
    /// leader's, mirrored.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.status(), heartline::Status::Closed);
    /// ```
    pub fn status(&self) -> Status {
        match &self.kind {
            Kind::Own(conn) => conn.status(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.status(),
        }
    }

    /// This tab's part: `None` for a connection of its own, else leader or follower (or
    /// alone, where the browser cannot share).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.role(), None);
    /// ```
    pub fn role(&self) -> Option<Role> {
        match &self.kind {
            Kind::Own(_) => self.alone.clone().map(|reason| Role::Alone { reason }),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => Some(tab.role()),
        }
    }

    /// Test hook (not part of the supported API): a shared tab behaves as if the browser froze
    /// its page (`true`) or thawed it (`false`): it reads nothing, its timers do nothing, it
    /// keeps its Web Lock, and on thaw it reads what waited, in order. No-op for a connection of
    /// its own.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h").with_shared("k"), |_| {});
    /// socket.simulate_freeze(true);
    /// socket.simulate_freeze(false);
    /// ```
    #[doc(hidden)]
    pub fn simulate_freeze(&self, frozen: bool) {
        #[cfg(feature = "shared")]
        if let Kind::Shared(tab) = &self.kind {
            tab.simulate_freeze(frozen);
        }
        let _ = frozen;
    }

    /// Test hook (not part of the supported API): drops the handle as if its tab crashed: no
    /// goodbye to the other tabs; the lock goes, then the socket.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h").with_shared("k"), |_| {});
    /// socket.simulate_crash();
    /// ```
    #[doc(hidden)]
    pub fn simulate_crash(self) {
        #[cfg(feature = "shared")]
        if let Kind::Shared(tab) = &self.kind {
            tab.simulate_crash();
        }
    }

    /// Milliseconds until the scheduled reconnect, while `Reconnecting`: for a countdown.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.reconnect_in_ms(), None);
    /// ```
    pub fn reconnect_in_ms(&self) -> Option<u64> {
        match &self.kind {
            Kind::Own(conn) => conn.reconnect_in_ms(),
            // A follower knows the leader's schedule from the mirrored status.
            #[cfg(feature = "shared")]
            Kind::Shared(_) => match self.status() {
                Status::Reconnecting { next_at_ms, .. } => {
                    Some(next_at_ms.saturating_sub(crate::now_ms()))
                }
                _ => None,
            },
        }
    }

    /// Counters, the last RTT and the last close (defaults from inside a URL provider). A
    /// shared follower tab has the leader's RTT and last close, and no counters.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.stats().rtt_ms, None);
    /// ```
    pub fn stats(&self) -> Stats {
        match &self.kind {
            Kind::Own(conn) => conn.stats(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.stats(),
        }
    }

    /// Frames waiting for the socket to open (a shared follower tab: frames the leader has not
    /// sent yet).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        match &self.kind {
            Kind::Own(conn) => conn.queued(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.queued(),
        }
    }

    /// Takes the frames still queued out of a connection of this tab's own, for the one that
    /// replaces it (the hook's next config). A shared connection's are not carried over: they
    /// go as at any drop of a shared handle (dropped and reported `Discarded`: a leading tab's
    /// own with its connection, a following tab's the leader has not sent).
    #[cfg(feature = "yew")]
    pub(crate) fn take_queued(&self) -> Vec<Outgoing> {
        match &self.kind {
            Kind::Own(conn) => conn.take_queued(),
            #[cfg(feature = "shared")]
            Kind::Shared(_) => Vec::new(),
        }
    }

    /// The browser socket's own [`readyState`](https://developer.mozilla.org/docs/Web/API/WebSocket/readyState)
    /// (3, CLOSED, when there is no socket; a shared follower tab: the one its status means).
    /// It can be CLOSING while the status is still `Open`: the server began closing; sends are
    /// then queued for the next connection.
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.ready_state(), 3);
    /// ```
    pub fn ready_state(&self) -> u16 {
        match &self.kind {
            Kind::Own(conn) => conn.ready_state(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.ready_state(),
        }
    }

    /// The browser socket's own [`bufferedAmount`](https://developer.mozilla.org/docs/Web/API/WebSocket/bufferedAmount)
    /// (0 in a shared follower tab).
    ///
    /// ```no_run
    /// # let socket = heartline::Heartline::new(heartline::Config::new("ws://h"), |_| {});
    /// assert_eq!(socket.buffered_amount(), 0);
    /// ```
    pub fn buffered_amount(&self) -> u32 {
        match &self.kind {
            Kind::Own(conn) => conn.buffered_amount(),
            #[cfg(feature = "shared")]
            Kind::Shared(tab) => tab.buffered_amount(),
        }
    }
}

impl std::fmt::Debug for Heartline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartline")
            .field("status", &self.status())
            .field("role", &self.role())
            .finish()
    }
}
