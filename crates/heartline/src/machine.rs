//! The sans-IO connection state machine. It never sleeps, spawns or touches the browser:
//! it is told what happened and what time it is, and answers with what to do.

use crate::close_code::{validate_close, CloseCode, CloseError};
use crate::config::{ClosePolicy, Config};
use crate::heartbeat::PingClock;
use crate::outbox::{Outbox, Payload, Queuer, SendError};
use crate::Rng;
use std::fmt;

/// The timers the machine asks the driver to keep.
///
/// A timer input that arrives before its due time does nothing (the driver may fire early, or
/// twice); [`Machine::timer_due`] says when each is due.
///
/// ```
/// use heartline::TimerKind;
/// assert_eq!(TimerKind::ALL.map(TimerKind::index), [0, 1, 2, 3, 4]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Time for the next reconnect attempt.
    Reconnect,
    /// An attempt has been CONNECTING for too long.
    OpenTimeout,
    /// Quiet for a heartbeat interval: time to ping.
    Ping,
    /// No frame since the ping, for the pong timeout.
    PongTimeout,
    /// The user's close got no closing handshake in time.
    CloseTimeout,
}

impl TimerKind {
    /// Every kind, for drivers that keep one slot each.
    ///
    /// ```
    /// assert_eq!(heartline::TimerKind::ALL.len(), 5);
    /// ```
    pub const ALL: [TimerKind; 5] = [
        TimerKind::Reconnect,
        TimerKind::OpenTimeout,
        TimerKind::Ping,
        TimerKind::PongTimeout,
        TimerKind::CloseTimeout,
    ];

    /// A stable index in `0..5`.
    ///
    /// ```
    /// assert_eq!(heartline::TimerKind::Ping.index(), 2);
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a connection ended, as the close event (or the machine, for losses it detects) tells it.
///
/// ```
/// use heartline::CloseInfo;
/// let close = CloseInfo { code: 1011, reason: "oops".into(), was_clean: true };
/// assert_eq!(close.code_name(), "Internal Error");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code.
    pub code: u16,
    /// The reason text.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

impl CloseInfo {
    /// The code as a [`CloseCode`], for its name and meaning.
    ///
    /// ```
    /// let close = heartline::CloseInfo { code: 1012, reason: String::new(), was_clean: true };
    /// assert_eq!(close.close_code().name(), "Service Restart");
    /// ```
    pub fn close_code(&self) -> CloseCode {
        CloseCode(self.code)
    }

    /// The code's name, e.g. "Going Away".
    ///
    /// ```
    /// let close = heartline::CloseInfo { code: 1000, reason: String::new(), was_clean: true };
    /// assert_eq!(close.code_name(), "Normal Closure");
    /// ```
    pub fn code_name(&self) -> &'static str {
        self.close_code().name()
    }
}

/// What an inbound frame looks like to the machine (the payload itself stays with the driver).
///
/// ```
/// use heartline::{Command, Config, FrameRef, Input, Machine};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host"));
/// machine.handle(Input::Connect, 0);
/// machine.handle(Input::Opened, 1);
/// assert!(machine.handle(Input::Frame(FrameRef::Binary(3)), 2).contains(&Command::Deliver));
/// ```
#[derive(Clone, Copy)]
pub enum FrameRef<'a> {
    /// A text frame.
    Text(&'a str),
    /// A text frame the driver has not copied out of the browser: its length in UTF-16 code
    /// units, and a way to read it. The machine reads it only when its length is the heartbeat
    /// reply's, so ordinary frames are never copied for the comparison.
    ///
    /// ```
    /// use heartline::{Command, Config, FrameRef, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://host"));
    /// machine.handle(Input::Connect, 0);
    /// machine.handle(Input::Opened, 1);
    /// let read = || unreachable!("a 5-unit frame cannot be the 4-unit \"pong\"");
    /// let frame = FrameRef::Unread { utf16_len: 5, read: &read };
    /// assert!(machine.handle(Input::Frame(frame), 2).contains(&Command::Deliver));
    /// ```
    Unread {
        /// Length in UTF-16 code units (JavaScript's `string.length`).
        utf16_len: usize,
        /// Copies the text out.
        read: &'a dyn Fn() -> String,
    },
    /// A binary frame of this many bytes.
    Binary(usize),
}

impl fmt::Debug for FrameRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameRef::Text(text) => f.debug_tuple("Text").field(text).finish(),
            FrameRef::Unread { utf16_len, .. } => f
                .debug_struct("Unread")
                .field("utf16_len", utf16_len)
                .finish_non_exhaustive(),
            FrameRef::Binary(bytes) => f.debug_tuple("Binary").field(bytes).finish(),
        }
    }
}

impl PartialEq for FrameRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FrameRef::Text(a), FrameRef::Text(b)) => a == b,
            (FrameRef::Binary(a), FrameRef::Binary(b)) => a == b,
            (
                FrameRef::Unread {
                    utf16_len: a,
                    read: ra,
                },
                FrameRef::Unread {
                    utf16_len: b,
                    read: rb,
                },
            ) => a == b && std::ptr::addr_eq(*ra, *rb),
            _ => false,
        }
    }
}

impl Eq for FrameRef<'_> {}

impl FrameRef<'_> {
    /// Whether this frame is the text `reply`; an unread frame is copied only if the lengths match.
    fn is_text(&self, reply: &str) -> bool {
        match self {
            FrameRef::Text(text) => *text == reply,
            FrameRef::Unread { utf16_len, read } => {
                // Cheap first: ASCII replies have as many UTF-16 units as bytes.
                *utf16_len == reply.encode_utf16().count() && read() == reply
            }
            FrameRef::Binary(_) => false,
        }
    }
}

/// What happened: browser events, timers and the user's requests.
///
/// ```
/// use heartline::{CloseInfo, Config, Input, Machine, Status};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host"));
/// machine.handle(Input::Connect, 0);
/// machine.handle(Input::Opened, 5);
/// let lost = CloseInfo { code: 1006, reason: String::new(), was_clean: false };
/// machine.handle(Input::Closed(lost), 9);
/// assert!(matches!(machine.status(), Status::Reconnecting { attempt: 1, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// The user asked to connect (also clears the stop flag).
    Connect,
    /// The socket's `open` event.
    Opened,
    /// Feed after the notices of an [`Opened`](Input::Opened) step were delivered: sends the
    /// outbox. Frames the application sends from its `Opened` handler (a join, an auth frame)
    /// therefore go out ahead of the queued ones.
    Flush,
    /// The socket's `message` event.
    Frame(FrameRef<'a>),
    /// The socket's `error` event.
    Error,
    /// The socket's `close` event.
    Closed(CloseInfo),
    /// The `WebSocket` constructor refused the URL (bad scheme, mixed content, blocked port):
    /// retrying cannot help. Carries the browser's message.
    Refused(String),
    /// The socket's `readyState` is CLOSING although nobody here closed it: the server started
    /// the closing handshake. Frames sent from now on are queued for the next connection.
    PeerClosing,
    /// The socket's `bufferedAmount` now, in bytes: data handed to the browser and not yet sent.
    /// While it shrinks the link is alive, so a pong timeout is postponed.
    Buffered(u64),
    /// A timer the machine armed has fired.
    Timer(TimerKind),
    /// The browser went offline.
    Offline,
    /// The browser came back online.
    Online,
    /// The page became visible again.
    Visible,
    /// The page is being hidden for navigation (`pagehide`): close now, reopen on
    /// [`PageShow`](Input::PageShow). Not a stop: nothing of it is permanent.
    PageHide,
    /// The page is about to unload (`beforeunload`); like `PageHide`, but the unload may still be
    /// cancelled, so the driver feeds `PageShow` if the page is still alive a moment later.
    Unload,
    /// The page is shown again (`pageshow` from the back/forward cache, or a cancelled unload).
    PageShow,
}

/// The connection's state as the application sees it.
///
/// ```
/// use heartline::Status;
/// let status = Status::Reconnecting { attempt: 2, next_at_ms: 1_000 };
/// assert_eq!((status.label(), status.ready_state()), ("Reconnecting", 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An attempt is under way (`attempt` 0 is the first connect).
    Connecting {
        /// Reconnect attempt number, 0 for a first connect.
        attempt: u32,
    },
    /// Open: frames flow.
    Open,
    /// The user's close is in progress (at most the close timeout).
    Closing,
    /// Closed and not reconnecting: not started yet, reconnect off, or the close code's policy.
    Closed,
    /// Lost; the next attempt is scheduled.
    Reconnecting {
        /// The attempt that will be made.
        attempt: u32,
        /// When, on the machine's clock (in the browser, `heartline::now_ms()`, which is
        /// monotonic): a countdown is `next_at_ms - now_ms()`.
        next_at_ms: u64,
    },
    /// Lost while the browser is offline; retries wait for `online`.
    Offline,
    /// Closed by the user; nothing reopens it but `open()`.
    Stopped,
    /// Closed because the page was hidden or is unloading; reopens by itself when the page is
    /// shown again (back/forward cache, cancelled unload).
    Paused,
    /// Gave up: the maximum number of retries, or a URL the browser refuses.
    Failed,
    /// This many attempts in a row never opened (nothing listening, or the upgrade refused, e.g.
    /// HTTP 401: the browser reports both as 1006). Retries stop until `open()` or `online`.
    Unreachable {
        /// Consecutive attempts that never opened.
        attempts: u32,
    },
}

impl Status {
    /// The browser's [`readyState`](https://developer.mozilla.org/docs/Web/API/WebSocket/readyState)
    /// this status corresponds to: CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3.
    ///
    /// ```
    /// assert_eq!(heartline::Status::Open.ready_state(), 1);
    /// ```
    pub fn ready_state(self) -> u16 {
        match self {
            Status::Connecting { .. } => 0,
            Status::Open => 1,
            Status::Closing => 2,
            _ => 3,
        }
    }

    /// A short English label, e.g. "Reconnecting".
    ///
    /// ```
    /// assert_eq!(heartline::Status::Unreachable { attempts: 3 }.label(), "Unreachable");
    /// ```
    pub fn label(self) -> &'static str {
        match self {
            Status::Connecting { .. } => "Connecting",
            Status::Open => "Open",
            Status::Closing => "Closing",
            Status::Closed => "Closed",
            Status::Reconnecting { .. } => "Reconnecting",
            Status::Offline => "Offline",
            Status::Stopped => "Stopped",
            Status::Paused => "Paused",
            Status::Failed => "Failed",
            Status::Unreachable { .. } => "Unreachable",
        }
    }
}

/// Something the application is told.
///
/// ```
/// use heartline::{Config, Event, Input, Machine, Command};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host"));
/// machine.handle(Input::Connect, 0);
/// let commands = machine.handle(Input::Opened, 1);
/// assert!(commands.contains(&Command::Report(Event::Opened)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The status changed.
    Status(Status),
    /// The socket opened. Frames sent from this notice's handler go out before the outbox.
    Opened,
    /// The socket reported an error (a close follows).
    Error,
    /// The connection closed (for losses the machine detects itself, with code 1006).
    Closed(CloseInfo),
    /// A reconnect attempt is scheduled.
    ReconnectScheduled {
        /// Its number.
        attempt: u32,
        /// Its delay, ms.
        delay_ms: u64,
    },
    /// A heartbeat ping was sent.
    HeartbeatSent,
    /// The heartbeat reply arrived and was swallowed; round-trip time in ms from the ping to
    /// this reply (other frames in between do not shorten it).
    HeartbeatReply {
        /// Round-trip time, ms.
        rtt_ms: u64,
    },
    /// No frame within the pong timeout, but the socket is still sending earlier data (its
    /// `bufferedAmount` shrank): the link is alive, so the timeout was extended.
    HeartbeatExtended {
        /// Bytes still waiting in the browser.
        buffered: u64,
    },
    /// No frame within the pong timeout: the connection is treated as lost.
    HeartbeatTimeout,
    /// The outbox was flushed on open.
    Flushed {
        /// Frames sent.
        frames: usize,
    },
    /// Frames were dropped: queued when the user closed the connection (see
    /// [`Config::with_outbox_kept_on_close`]), or still held by the browser when a connection
    /// ended, with [`Config::with_unsent_requeued`] off.
    Discarded {
        /// Frames dropped.
        frames: usize,
    },
    /// Frames handed to the browser that it still held, unsent, when the connection ended
    /// (its `bufferedAmount`; e.g. sent while the server was already closing) were put back at
    /// the head of the outbox, for the next connection.
    Requeued {
        /// Frames put back.
        frames: usize,
    },
    /// The browser refused a frame the outbox flushed (frames the application sends directly
    /// get the error from `send` instead).
    SendFailed {
        /// The browser's message.
        error: String,
    },
}

/// What the driver must do.
///
/// ```
/// use heartline::{Command, Config, Input, Machine, TimerKind};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host").with_open_timeout(Some(500)));
/// let commands = machine.handle(Input::Connect, 100);
/// assert!(commands.contains(&Command::ArmTimer(TimerKind::OpenTimeout, 600)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<P> {
    /// Open a new socket to this URL (the previous one is already gone).
    OpenSocket {
        /// Where.
        url: String,
    },
    /// Send on the open socket.
    Send(P),
    /// Send a heartbeat ping on the open socket: like [`Send`](Command::Send), but a socket
    /// given up as dead does not hand it back to [`Machine::requeue`] (the next connection
    /// pings on its own). Kept apart so an application frame that happens to equal the ping
    /// message is resent like any other.
    Ping(P),
    /// Start the closing handshake and keep listening for the close event.
    CloseSocket {
        /// Close code (already validated).
        code: u16,
        /// Close reason (already validated).
        reason: String,
    },
    /// Detach every handler from the socket, then close it: the machine is done with it
    /// (written off as dead, or closed cleanly on its way out: a page hidden, a reopen).
    AbandonSocket {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
        /// Take back the frames the socket still holds (its `bufferedAmount`) and give them to
        /// [`Machine::requeue`]: the socket is given up as dead, so they would not arrive. When
        /// `false`, the socket is closed cleanly and sends them before its close frame (a
        /// browser's `close()` discards nothing), so sending them again would double them.
        take_back: bool,
    },
    /// Arm (or re-arm, replacing) a timer to fire at this time.
    ArmTimer(TimerKind, u64),
    /// Cancel a timer.
    DisarmTimer(TimerKind),
    /// Hand the frame just received to the application.
    Deliver,
    /// Tell the application.
    Report(Event),
}

/// Counters and the latest facts, for display.
///
/// ```
/// use heartline::{Config, Input, Machine};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host"));
/// machine.handle(Input::Connect, 0);
/// machine.handle(Input::Opened, 1);
/// machine.send("hi".to_string()).unwrap();
/// assert_eq!(machine.stats().frames_out, 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received (heartbeat replies included).
    pub frames_in: u64,
    /// Frames sent (heartbeat pings included).
    pub frames_out: u64,
    /// Reconnect attempts made.
    pub reconnects: u64,
    /// The latest heartbeat round-trip time, ms.
    pub rtt_ms: Option<u64>,
    /// How the last connection ended (for [`Status::Unreachable`] and [`Status::Failed`], the
    /// last error).
    pub last_close: Option<CloseInfo>,
}

/// A timer that fires this much later than due means the page was asleep or throttled: the
/// connection is probed at once instead of trusting what the timer was for.
const LATE_MS: u64 = 2_000;

/// After `beforeunload`, the connection is reopened this long later if the page is still there
/// (the unload was cancelled, or it was a download link); a real unload ends the page first,
/// and `pagehide` cancels the timer on the way into the back/forward cache.
pub(crate) const UNLOAD_GRACE_MS: u64 = 1_000;

/// The connection state machine. `P` is the driver's payload type.
///
/// ```
/// use heartline::{Command, Config, Input, Machine, Status};
/// let mut machine: Machine<String> = Machine::new(Config::new("ws://host/ws"));
/// let commands = machine.handle(Input::Connect, 0);
/// assert!(commands.contains(&Command::OpenSocket { url: "ws://host/ws".into() }));
/// machine.handle(Input::Opened, 10);
/// assert_eq!(machine.status(), Status::Open);
/// ```
#[derive(Debug)]
pub struct Machine<P> {
    config: Config,
    status: Status,
    started: bool,
    stopped: bool,
    offline: bool,
    /// The server began closing: sends are queued for the next connection.
    peer_closing: bool,
    /// Opened, and the outbox not yet flushed (waits for [`Input::Flush`]).
    flush_pending: bool,
    attempt: u32,
    /// Consecutive attempts that ended before `open`.
    failed_opens: u32,
    /// Until when the server asked to wait (a close under [`ClosePolicy::WaitMax`], such as
    /// 1013 Try Again Later): the page coming back or the network does not cut the wait short.
    server_wait_until: Option<u64>,
    opened_at: Option<u64>,
    last_inbound_ms: u64,
    ping: PingClock,
    buffered: u64,
    /// Bytes handed to sockets so far: with `buffered`, how much the browser has sent since a
    /// ping (what it still holds shrinks by that, and grows by what the application adds).
    handed: u64,
    armed: [Option<u64>; 5],
    outbox: Outbox<P>,
    rng: Rng,
    stats: Stats,
}

type Commands<P> = Vec<Command<P>>;

impl<P: Payload> Machine<P> {
    /// A machine in status `Closed`; feed it [`Input::Connect`] to start. Frames sent before
    /// that are queued.
    ///
    /// ```
    /// let machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// assert_eq!(machine.status(), heartline::Status::Closed);
    /// ```
    pub fn new(config: Config) -> Self {
        let rng = Rng::new(config.seed.unwrap_or(1));
        Self {
            outbox: Outbox::new(config.outbox),
            config,
            status: Status::Closed,
            started: false,
            stopped: false,
            offline: false,
            peer_closing: false,
            flush_pending: false,
            attempt: 0,
            failed_opens: 0,
            server_wait_until: None,
            opened_at: None,
            last_inbound_ms: 0,
            ping: PingClock::default(),
            buffered: 0,
            handed: 0,
            armed: [None; 5],
            rng,
            stats: Stats::default(),
        }
    }

    /// Replaces the jitter's seed (the driver seeds from `Math.random()` unless the config
    /// has a seed).
    ///
    /// ```
    /// let mut machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// machine.reseed(42);
    /// ```
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// The configuration.
    ///
    /// ```
    /// let machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// assert!(machine.config().reconnect);
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current status.
    ///
    /// ```
    /// let machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// assert_eq!(machine.status(), heartline::Status::Closed);
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// Counters, RTT and the last close.
    ///
    /// ```
    /// let machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// assert_eq!(machine.stats().reconnects, 0);
    /// ```
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Frames waiting for the socket to open.
    ///
    /// ```
    /// let mut machine: heartline::Machine<String> = heartline::Machine::new(heartline::Config::new("ws://h"));
    /// machine.send("early".into()).unwrap();
    /// assert_eq!(machine.queued(), 1);
    /// ```
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// When a timer is due, if armed.
    ///
    /// ```
    /// use heartline::{Config, Input, Machine, TimerKind};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h").with_open_timeout(Some(50)));
    /// machine.handle(Input::Connect, 10);
    /// assert_eq!(machine.timer_due(TimerKind::OpenTimeout), Some(60));
    /// ```
    pub fn timer_due(&self, kind: TimerKind) -> Option<u64> {
        self.armed[kind.index()]
    }

    /// Sends now if open, else queues (bounded) for the next open. A full outbox, or a
    /// connection that nothing will reopen (stopped, closing, closed after a start, failed,
    /// unreachable), is an error naming the reason: never a silent drop.
    ///
    /// ```
    /// use heartline::{Config, Machine, SendError, Status};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.close(1000, "", 0).unwrap();
    /// assert_eq!(machine.send("x".into()), Err(SendError::NotOpen { status: Status::Stopped }));
    /// ```
    pub fn send(&mut self, payload: P) -> Result<Commands<P>, SendError> {
        self.send_as(payload, Queuer::Own)
    }

    fn send_as(&mut self, payload: P, queuer: Queuer) -> Result<Commands<P>, SendError> {
        match self.status {
            Status::Open if !self.peer_closing => {
                self.stats.frames_out += 1;
                self.handed = self.handed.saturating_add(payload.byte_len() as u64);
                return Ok(vec![Command::Send(payload)]);
            }
            Status::Closed if !self.started => {}
            Status::Stopped
            | Status::Closing
            | Status::Closed
            | Status::Failed
            | Status::Unreachable { .. } => {
                return Err(SendError::NotOpen {
                    status: self.status,
                })
            }
            _ => {}
        }
        self.outbox.push(payload.detached(), queuer)?;
        Ok(Vec::new())
    }

    /// Like [`send`](Self::send), but behind everything queued: in the moment after `Opened`
    /// while the outbox waits to be flushed, the frame joins the queue's tail instead of going
    /// first as a greeting does. The shared connection sends the other tabs' frames this way,
    /// so that frames the last socket never sent, put back in the outbox, still go out first.
    ///
    /// ```
    /// use heartline::{Command, Config, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.handle(Input::Connect, 0);
    /// machine.send("queued".into()).unwrap();
    /// machine.handle(Input::Opened, 1);
    /// assert_eq!(machine.send_behind("later".into()), Ok(vec![]));
    /// assert_eq!(
    ///     machine.handle(Input::Flush, 1)[..2],
    ///     [Command::Send("queued".into()), Command::Send("later".into())]
    /// );
    /// ```
    pub fn send_behind(&mut self, payload: P) -> Result<Commands<P>, SendError> {
        let waiting = self.flush_pending && self.outbox.len() > 0;
        if waiting && self.status == Status::Open && !self.peer_closing {
            self.outbox.push(payload.detached(), Queuer::Others)?;
            return Ok(Vec::new());
        }
        self.send_as(payload, Queuer::Others)
    }

    /// Drops the frames queued with [`send`](Self::send), keeping those queued with
    /// [`send_behind`](Self::send_behind) and those [requeued](Self::requeue) (which may be
    /// either); returns how many were dropped. A shared connection's leading tab whose
    /// application closes drops its own this way before it steps down: they must not go out
    /// on the next leader's connection, nor at its own next open.
    ///
    /// ```
    /// use heartline::{Config, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.send("mine".into()).unwrap();
    /// machine.send_behind("another tab's".into()).unwrap();
    /// assert_eq!(machine.discard_own(), 1);
    /// assert_eq!(machine.take_outbox(), vec!["another tab's".to_string()]);
    /// ```
    pub fn discard_own(&mut self) -> usize {
        self.outbox.discard_own()
    }

    /// Takes back frames the driver handed to a socket that never sent them (they were still in
    /// its `bufferedAmount` when it ended), oldest first: they go back to the head of the
    /// outbox, ahead of anything queued since, whatever its limits (they were accepted
    /// already), and are reported as [`Event::Requeued`]. After a user close they are dropped
    /// like the rest of the outbox ([`Event::Discarded`]) unless the config keeps it, and
    /// always when the config does not requeue unsent frames
    /// ([`Config::with_unsent_requeued`]).
    ///
    /// ```
    /// use heartline::{Command, Config, Event, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.send("queued".into()).unwrap();
    /// let commands = machine.requeue(vec!["unsent".into()]);
    /// assert_eq!(commands, vec![Command::Report(Event::Requeued { frames: 1 })]);
    /// assert_eq!(machine.queued(), 2);
    /// ```
    pub fn requeue(&mut self, frames: Vec<P>) -> Commands<P> {
        let count = frames.len();
        if count == 0 {
            return Vec::new();
        }
        self.stats.frames_out = self.stats.frames_out.saturating_sub(count as u64);
        let dropped = self.stopped && !self.config.keep_outbox_on_close;
        let event = if dropped || !self.config.requeue_unsent {
            Event::Discarded { frames: count }
        } else {
            self.outbox
                .push_front(frames.into_iter().map(Payload::detached));
            Event::Requeued { frames: count }
        };
        vec![Command::Report(event)]
    }

    /// Takes every queued frame out, oldest first, without reporting anything: for a driver
    /// that hands them to someone else (a shared connection's leader tab stepping down gives
    /// its unsent frames to the next leader).
    ///
    /// ```
    /// use heartline::{Config, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.send("queued".into()).unwrap();
    /// assert_eq!(machine.take_outbox(), vec!["queued".to_string()]);
    /// assert_eq!(machine.queued(), 0);
    /// ```
    pub fn take_outbox(&mut self) -> Vec<P> {
        self.outbox.drain().collect()
    }

    /// Takes frames another connection accepted and never sent (a shared connection's former
    /// leader tab's, handed over as it went away): sent now if the socket is open and flushed,
    /// else put at the head of the outbox, ahead of anything queued and past its limits (they
    /// were accepted already). Their arrival is not reported (they are not this application's),
    /// but from then on they are the outbox's: a browser refusal is reported as
    /// [`Event::SendFailed`], and a user close drops them with the rest ([`Event::Discarded`]).
    ///
    /// ```
    /// use heartline::{Command, Config, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.send("mine".into()).unwrap();
    /// assert_eq!(machine.adopt(vec!["theirs".into()]), vec![]);
    /// machine.handle(Input::Connect, 0);
    /// machine.handle(Input::Opened, 1);
    /// let flushed = machine.handle(Input::Flush, 1);
    /// assert_eq!(flushed[..2], [Command::Send("theirs".into()), Command::Send("mine".into())]);
    /// ```
    pub fn adopt(&mut self, frames: Vec<P>) -> Commands<P> {
        if self.status == Status::Open && !self.peer_closing && !self.flush_pending {
            self.stats.frames_out += frames.len() as u64;
            let handed = &mut self.handed;
            return frames
                .into_iter()
                .map(|payload| {
                    *handed = handed.saturating_add(payload.byte_len() as u64);
                    Command::Send(payload)
                })
                .collect();
        }
        self.outbox
            .push_front(frames.into_iter().map(Payload::detached));
        Vec::new()
    }

    /// The browser refused a frame the machine told the driver to send (`send` threw): it was
    /// not sent, so it is not counted.
    ///
    /// ```
    /// use heartline::{Config, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.handle(Input::Connect, 0);
    /// machine.handle(Input::Opened, 1);
    /// machine.send("refused".into()).unwrap();
    /// machine.send_refused();
    /// assert_eq!(machine.stats().frames_out, 0);
    /// ```
    pub fn send_refused(&mut self) {
        self.stats.frames_out = self.stats.frames_out.saturating_sub(1);
    }

    /// Whether the outbox waits for [`Input::Flush`] (a driver can skip feeding it otherwise).
    ///
    /// ```
    /// use heartline::{Config, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.handle(Input::Connect, 0);
    /// machine.handle(Input::Opened, 1);
    /// assert!(machine.wants_flush());
    /// machine.handle(Input::Flush, 1);
    /// assert!(!machine.wants_flush());
    /// ```
    pub fn wants_flush(&self) -> bool {
        self.flush_pending
    }

    /// The user's close: validated first, then sets the stop flag so nothing reconnects. Frames
    /// still queued are dropped (reported as [`Event::Discarded`]) unless the config keeps them.
    /// If the server does not finish the closing handshake within the close timeout, the
    /// socket is written off.
    ///
    /// ```
    /// use heartline::{Config, Input, Machine, Status};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// machine.handle(Input::Connect, 0);
    /// machine.close(1000, "bye", 5).unwrap();
    /// assert_eq!(machine.status(), Status::Closing);
    /// ```
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
        now_ms: u64,
    ) -> Result<Commands<P>, CloseError> {
        validate_close(code, reason)?;
        let mut out = Vec::new();
        self.stopped = true;
        // A second close while closing (a double click) leaves the first's timeout running.
        if self.status != Status::Closing {
            self.disarm_all(&mut out);
            self.ping.reset();
        }
        if !self.config.keep_outbox_on_close && self.outbox.len() > 0 {
            let frames = self.outbox.drain().count();
            out.push(Command::Report(Event::Discarded { frames }));
        }
        match self.status {
            Status::Connecting { .. } | Status::Open => {
                out.push(Command::CloseSocket {
                    code,
                    reason: reason.to_owned(),
                });
                if let Some(timeout) = self.config.close_timeout_ms {
                    self.arm(
                        TimerKind::CloseTimeout,
                        now_ms.saturating_add(timeout),
                        &mut out,
                    );
                }
                self.set_status(Status::Closing, &mut out);
            }
            Status::Closing => {}
            _ => self.set_status(Status::Stopped, &mut out),
        }
        Ok(out)
    }

    /// Feeds one input at time `now_ms` (a monotonic clock, in ms); returns what to do, in order.
    ///
    /// ```
    /// use heartline::{Command, Config, Input, Machine};
    /// let mut machine: Machine<String> = Machine::new(Config::new("ws://h"));
    /// assert!(matches!(machine.handle(Input::Connect, 0)[0], Command::OpenSocket { .. }));
    /// ```
    pub fn handle(&mut self, input: Input<'_>, now_ms: u64) -> Commands<P> {
        let mut out = Vec::new();
        match input {
            Input::Connect => self.on_connect(now_ms, &mut out),
            Input::Opened => self.on_opened(now_ms, &mut out),
            Input::Flush => self.on_flush(&mut out),
            Input::Frame(frame) => self.on_frame(frame, now_ms, &mut out),
            Input::Error => {
                // A close always follows an error; only the close decides about reconnecting,
                // so an error and its close make one loss, never two attempts.
                if self.has_socket() {
                    out.push(Command::Report(Event::Error));
                }
            }
            Input::Closed(info) => self.on_closed(info, now_ms, &mut out),
            Input::Refused(message) => self.on_refused(message, &mut out),
            Input::PeerClosing => {
                if self.status == Status::Open {
                    self.peer_closing = true;
                }
            }
            Input::Buffered(bytes) => self.buffered = bytes,
            Input::Timer(kind) => self.on_timer(kind, now_ms, &mut out),
            Input::Offline => {
                self.offline = true;
                match self.status {
                    Status::Reconnecting { .. } => {
                        self.disarm(TimerKind::Reconnect, &mut out);
                        self.set_status(Status::Offline, &mut out);
                    }
                    // The socket may be dead without knowing it: ask now.
                    Status::Open => self.ping_now(now_ms, &mut out),
                    _ => {}
                }
            }
            Input::Online => {
                // Tries that failed while offline say nothing of the server: a fresh run.
                if std::mem::take(&mut self.offline) {
                    self.failed_opens = 0;
                }
                match self.status {
                    Status::Reconnecting { .. } if self.server_waits(now_ms) => {}
                    Status::Offline if self.server_waits(now_ms) => {
                        self.wait_for_server(now_ms, &mut out)
                    }
                    Status::Offline | Status::Reconnecting { .. } => {
                        self.retry_now(now_ms, &mut out)
                    }
                    Status::Unreachable { .. } => {
                        self.failed_opens = 0;
                        self.retry_now(now_ms, &mut out);
                    }
                    // Back online: is the old socket still alive? Ask at once.
                    Status::Open => self.ping_now(now_ms, &mut out),
                    _ => {}
                }
            }
            Input::Visible | Input::PageShow => match self.status {
                // The server's wait is not the page's to cut short.
                Status::Reconnecting { .. } if self.server_waits(now_ms) => {}
                // Back from the back/forward cache (or a hidden page) inside the wait too.
                Status::Offline | Status::Paused if !self.stopped && self.server_waits(now_ms) => {
                    self.wait_for_server(now_ms, &mut out)
                }
                // Offline too: the `online` event may have been missed (bfcache, some VPNs).
                Status::Reconnecting { .. } | Status::Offline | Status::Paused if !self.stopped => {
                    self.retry_now(now_ms, &mut out)
                }
                Status::Open => self.ping_now(now_ms, &mut out),
                _ => {}
            },
            Input::PageHide => self.pause("page hidden", None, now_ms, &mut out),
            // If the page is still here after the grace delay, the unload was cancelled; a
            // wait the server asked for (1013) still runs to its end.
            Input::Unload => {
                let grace_over = now_ms.saturating_add(UNLOAD_GRACE_MS);
                let resume_at = self
                    .server_wait_until
                    .map_or(grace_over, |until| until.max(grace_over));
                self.pause("page unload", Some(resume_at), now_ms, &mut out)
            }
        }
        out
    }

    fn has_socket(&self) -> bool {
        matches!(
            self.status,
            Status::Connecting { .. } | Status::Open | Status::Closing
        )
    }

    fn on_connect(&mut self, now_ms: u64, out: &mut Commands<P>) {
        self.stopped = false;
        self.started = true;
        self.failed_opens = 0;
        match self.status {
            Status::Connecting { .. } | Status::Open => {}
            Status::Closing => {
                // Reopened before the old close finished: write the old socket off.
                out.push(Command::AbandonSocket {
                    code: 1000,
                    reason: "reopened".into(),
                    take_back: false,
                });
                self.disarm(TimerKind::CloseTimeout, out);
                self.attempt = 0;
                self.open_socket(now_ms, out);
            }
            _ => {
                self.disarm(TimerKind::Reconnect, out);
                self.attempt = 0;
                self.open_socket(now_ms, out);
            }
        }
    }

    fn open_socket(&mut self, now_ms: u64, out: &mut Commands<P>) {
        self.server_wait_until = None;
        self.peer_closing = false;
        self.flush_pending = false;
        out.push(Command::OpenSocket {
            url: self.config.next_url(),
        });
        if let Some(timeout) = self.config.open_timeout_ms {
            self.arm(TimerKind::OpenTimeout, now_ms.saturating_add(timeout), out);
        }
        self.set_status(
            Status::Connecting {
                attempt: self.attempt,
            },
            out,
        );
    }

    fn on_opened(&mut self, now_ms: u64, out: &mut Commands<P>) {
        if !matches!(self.status, Status::Connecting { .. }) {
            return;
        }
        self.disarm(TimerKind::OpenTimeout, out);
        self.opened_at = Some(now_ms);
        self.failed_opens = 0;
        // A socket opened: the browser is online, though an `online` event may have been
        // missed (the back/forward cache, some VPNs), or `navigator.onLine` was wrong.
        self.offline = false;
        self.last_inbound_ms = now_ms;
        self.ping.reset();
        self.set_status(Status::Open, out);
        out.push(Command::Report(Event::Opened));
        // The outbox waits for `Input::Flush`, fed once the application has heard `Opened`.
        self.flush_pending = true;
        self.arm_ping(now_ms, out);
    }

    fn on_flush(&mut self, out: &mut Commands<P>) {
        if !self.flush_pending || self.status != Status::Open || self.peer_closing {
            return;
        }
        self.flush_pending = false;
        let queued = self.outbox.len();
        if queued > 0 {
            let handed = &mut self.handed;
            out.extend(self.outbox.drain().map(|payload| {
                *handed = handed.saturating_add(payload.byte_len() as u64);
                Command::Send(payload)
            }));
            self.stats.frames_out += queued as u64;
            out.push(Command::Report(Event::Flushed { frames: queued }));
        }
    }

    fn on_frame(&mut self, frame: FrameRef<'_>, now_ms: u64, out: &mut Commands<P>) {
        if self.status != Status::Open {
            return;
        }
        self.stats.frames_in += 1;
        // Any frame is proof of life: it answers an outstanding ping and restarts the interval.
        // The ping timer is not re-armed per frame (that would be a timer per message); when it
        // fires early it re-arms itself from the last inbound frame.
        self.last_inbound_ms = now_ms;
        if self.ping.answered() {
            self.disarm(TimerKind::PongTimeout, out);
            self.arm_ping(now_ms, out);
        }
        let reply = self
            .config
            .heartbeat
            .as_ref()
            .and_then(|heartbeat| heartbeat.reply.as_deref());
        match reply {
            Some(reply) if frame.is_text(reply) => {
                // Timed from the ping to its reply; a reply with no ping out is swallowed quietly.
                if let Some(rtt_ms) = self.ping.replied(now_ms) {
                    self.stats.rtt_ms = Some(rtt_ms);
                    out.push(Command::Report(Event::HeartbeatReply { rtt_ms }));
                }
            }
            _ => out.push(Command::Deliver),
        }
    }

    fn on_closed(&mut self, info: CloseInfo, now_ms: u64, out: &mut Commands<P>) {
        match self.status {
            Status::Closing | Status::Stopped => {
                self.disarm_all(out);
                self.stats.last_close = Some(info.clone());
                out.push(Command::Report(Event::Closed(info)));
                self.set_status(Status::Stopped, out);
            }
            Status::Connecting { .. } | Status::Open => self.lost(info, now_ms, out),
            // Already written off (heartbeat or open timeout) or not ours: one loss, one attempt.
            _ => {}
        }
    }

    fn on_refused(&mut self, message: String, out: &mut Commands<P>) {
        if !matches!(self.status, Status::Connecting { .. }) {
            return;
        }
        self.disarm_all(out);
        self.opened_at = None;
        let close = CloseInfo {
            code: 1006,
            reason: message,
            was_clean: false,
        };
        self.stats.last_close = Some(close.clone());
        out.push(Command::Report(Event::Error));
        out.push(Command::Report(Event::Closed(close)));
        self.set_status(Status::Failed, out);
    }

    fn on_timer(&mut self, kind: TimerKind, now_ms: u64, out: &mut Commands<P>) {
        // A timer that is no longer armed (cancelled, or replaced) or not yet due does nothing.
        let due = match self.armed[kind.index()] {
            Some(due) if now_ms >= due => due,
            _ => return,
        };
        self.armed[kind.index()] = None;
        let late = now_ms - due >= LATE_MS;
        match (kind, self.status) {
            (TimerKind::Reconnect, Status::Reconnecting { .. } | Status::Paused)
                if !self.stopped =>
            {
                self.stats.reconnects += 1;
                self.open_socket(now_ms, out);
            }
            (TimerKind::OpenTimeout, Status::Connecting { .. }) => {
                let timeout = self.config.open_timeout_ms.unwrap_or(0);
                let detail = format!("not open after {timeout} ms");
                self.write_off("open timeout", &detail, now_ms, out);
            }
            (TimerKind::Ping, Status::Open) => {
                let interval = self.heartbeat_ms(|heartbeat| heartbeat.interval_ms);
                // `min` keeps a clock that went backwards from postponing the ping past one
                // interval (the browser driver's clock is monotonic, but a host's may not be).
                let quiet_until = self
                    .last_inbound_ms
                    .saturating_add(interval)
                    .min(now_ms.saturating_add(interval));
                if now_ms < quiet_until && now_ms >= self.last_inbound_ms {
                    self.arm(TimerKind::Ping, quiet_until, out);
                } else {
                    self.ping_now(now_ms, out);
                }
            }
            (TimerKind::PongTimeout, Status::Open) => {
                let timeout = self.heartbeat_ms(|heartbeat| heartbeat.pong_timeout_ms);
                if late && !self.ping.probing() {
                    // The page slept past the deadline (laptop lid, throttled tab): silence
                    // proves nothing yet. Ask again and wait one pong timeout from now.
                    self.ping.slept();
                    self.ping_now(now_ms, out);
                    self.ping.mark_probe();
                    return;
                }
                if self.ping.drained_since(self.buffered, self.handed) {
                    // Still sending earlier data (a big upload): the ping waits behind it, and
                    // a buffer that shrank since the last look (counting what the application
                    // added to it meanwhile, as a throttled upload does) proves the link
                    // alive. Once it is empty, one more timeout lets the network's own buffers
                    // drain.
                    self.ping.set_buffered_mark(self.buffered, self.handed);
                    out.push(Command::Report(Event::HeartbeatExtended {
                        buffered: self.buffered,
                    }));
                    self.arm(TimerKind::PongTimeout, now_ms.saturating_add(timeout), out);
                    return;
                }
                out.push(Command::Report(Event::HeartbeatTimeout));
                let detail = format!("no frame within {timeout} ms of the ping");
                self.write_off("heartbeat timeout", &detail, now_ms, out);
            }
            (TimerKind::CloseTimeout, Status::Closing) => {
                let timeout = self.config.close_timeout_ms.unwrap_or(0);
                out.push(Command::AbandonSocket {
                    code: 1000,
                    reason: "close timeout".into(),
                    take_back: true,
                });
                let close = CloseInfo {
                    code: 1006,
                    reason: format!("close timeout: no closing handshake within {timeout} ms"),
                    was_clean: false,
                };
                self.disarm_all(out);
                self.stats.last_close = Some(close.clone());
                out.push(Command::Report(Event::Closed(close)));
                self.set_status(Status::Stopped, out);
            }
            _ => {}
        }
    }

    fn heartbeat_ms(&self, field: impl Fn(&crate::Heartbeat) -> u64) -> u64 {
        self.config.heartbeat.as_ref().map_or(0, field)
    }

    /// The page goes away (for now): close without waiting, and come back on `PageShow`.
    fn pause(&mut self, why: &str, resume_at: Option<u64>, now_ms: u64, out: &mut Commands<P>) {
        if self.stopped || !self.started {
            return;
        }
        let had_socket = matches!(self.status, Status::Connecting { .. } | Status::Open);
        self.disarm_all(out);
        self.ping.reset();
        self.forget_open(now_ms);
        if had_socket {
            // A clean close: the browser sends what it holds first.
            out.push(Command::AbandonSocket {
                code: 1000,
                reason: why.into(),
                take_back: false,
            });
            let close = CloseInfo {
                code: 1000,
                reason: why.into(),
                was_clean: false,
            };
            self.stats.last_close = Some(close.clone());
            out.push(Command::Report(Event::Closed(close)));
        }
        if matches!(
            self.status,
            Status::Connecting { .. }
                | Status::Open
                | Status::Reconnecting { .. }
                | Status::Offline
                | Status::Paused
        ) {
            self.set_status(Status::Paused, out);
            if let Some(at) = resume_at {
                self.arm(TimerKind::Reconnect, at, out);
            }
        }
    }

    /// The machine itself gives up on the socket (no open, no heartbeat reply): the driver
    /// detaches and closes it, and the loss is reported as an abnormal closure (1006), as the
    /// browser would report a dead connection.
    fn write_off(&mut self, why: &str, detail: &str, now_ms: u64, out: &mut Commands<P>) {
        out.push(Command::AbandonSocket {
            code: 1000,
            reason: why.into(),
            take_back: true,
        });
        let close = CloseInfo {
            code: 1006,
            reason: format!("{why}: {detail}"),
            was_clean: false,
        };
        self.lost(close, now_ms, out);
    }

    /// The connection is gone without the user asking: decide whether and when to retry.
    fn lost(&mut self, info: CloseInfo, now_ms: u64, out: &mut Commands<P>) {
        let never_opened = matches!(self.status, Status::Connecting { .. });
        self.disarm_all(out);
        self.ping.reset();
        self.peer_closing = false;
        self.flush_pending = false;
        if never_opened {
            self.failed_opens = self.failed_opens.saturating_add(1);
        }
        self.forget_open(now_ms);
        let policy = self.config.policy_for(info.code);
        self.stats.last_close = Some(info.clone());
        out.push(Command::Report(Event::Closed(info)));
        if self.stopped || !self.config.reconnect || policy == ClosePolicy::Stop {
            self.set_status(Status::Closed, out);
            return;
        }
        if self.offline {
            self.set_status(Status::Offline, out);
            return;
        }
        if self
            .config
            .unreachable_after
            .is_some_and(|limit| self.failed_opens >= limit)
        {
            let attempts = self.failed_opens;
            self.set_status(Status::Unreachable { attempts }, out);
            return;
        }
        if self
            .config
            .max_retries
            .is_some_and(|max| self.attempt >= max)
        {
            self.set_status(Status::Failed, out);
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay_ms = match policy {
            ClosePolicy::WaitMax => self.config.backoff.max_ms,
            _ => self.config.backoff.delay_ms(self.attempt, &mut self.rng),
        };
        let next_at_ms = now_ms.saturating_add(delay_ms);
        self.server_wait_until = (policy == ClosePolicy::WaitMax).then_some(next_at_ms);
        self.arm(TimerKind::Reconnect, next_at_ms, out);
        out.push(Command::Report(Event::ReconnectScheduled {
            attempt: self.attempt,
            delay_ms,
        }));
        self.set_status(
            Status::Reconnecting {
                attempt: self.attempt,
                next_at_ms,
            },
            out,
        );
    }

    /// The connection is over: one that stayed up `min_uptime_ms` starts the backoff afresh.
    fn forget_open(&mut self, now_ms: u64) {
        if let Some(opened_at) = self.opened_at.take() {
            if now_ms.saturating_sub(opened_at) >= self.config.min_uptime_ms {
                self.attempt = 0;
            }
        }
    }

    /// Whether the wait the server asked for is still running.
    fn server_waits(&self, now_ms: u64) -> bool {
        self.server_wait_until.is_some_and(|until| until > now_ms)
    }

    /// Back from `Offline` inside the server's wait: the rest of it, then the next try.
    fn wait_for_server(&mut self, now_ms: u64, out: &mut Commands<P>) {
        let next_at_ms = self.server_wait_until.unwrap_or(now_ms);
        self.arm(TimerKind::Reconnect, next_at_ms, out);
        self.set_status(
            Status::Reconnecting {
                attempt: self.attempt.max(1),
                next_at_ms,
            },
            out,
        );
    }

    fn retry_now(&mut self, now_ms: u64, out: &mut Commands<P>) {
        self.disarm(TimerKind::Reconnect, out);
        if self.attempt == 0 {
            self.attempt = 1;
        }
        self.stats.reconnects += 1;
        self.open_socket(now_ms, out);
    }

    fn ping_now(&mut self, now_ms: u64, out: &mut Commands<P>) {
        let Some(heartbeat) = &self.config.heartbeat else {
            return;
        };
        if self.ping.outstanding() {
            return;
        }
        let message = heartbeat.message.clone();
        let deadline = now_ms.saturating_add(heartbeat.pong_timeout_ms);
        // The ping's own bytes are not counted as drained when they go: they are after the mark.
        self.handed = self.handed.saturating_add(message.len() as u64);
        self.ping.sent(now_ms, self.buffered, self.handed);
        self.stats.frames_out += 1;
        out.push(Command::Ping(P::from_text(message)));
        out.push(Command::Report(Event::HeartbeatSent));
        self.disarm(TimerKind::Ping, out);
        self.arm(TimerKind::PongTimeout, deadline, out);
    }

    fn arm_ping(&mut self, now_ms: u64, out: &mut Commands<P>) {
        if let Some(heartbeat) = &self.config.heartbeat {
            let at = now_ms.saturating_add(heartbeat.interval_ms);
            self.arm(TimerKind::Ping, at, out);
        }
    }

    fn arm(&mut self, kind: TimerKind, at_ms: u64, out: &mut Commands<P>) {
        self.armed[kind.index()] = Some(at_ms);
        out.push(Command::ArmTimer(kind, at_ms));
    }

    fn disarm(&mut self, kind: TimerKind, out: &mut Commands<P>) {
        if self.armed[kind.index()].take().is_some() {
            out.push(Command::DisarmTimer(kind));
        }
    }

    fn disarm_all(&mut self, out: &mut Commands<P>) {
        for kind in TimerKind::ALL {
            self.disarm(kind, out);
        }
    }

    fn set_status(&mut self, status: Status, out: &mut Commands<P>) {
        if self.status != status {
            self.status = status;
            out.push(Command::Report(Event::Status(status)));
        }
    }
}

#[cfg(test)]
mod tests;
