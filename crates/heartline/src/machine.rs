//! The sans-IO connection state machine. It never sleeps, spawns or touches the browser:
//! it is told what happened and what time it is, and answers with what to do.

use crate::close_code::{validate_close, CloseCode, CloseError};
use crate::config::{ClosePolicy, Config};
use crate::heartbeat::PingClock;
use crate::outbox::{Outbox, Payload, SendError};
use crate::Rng;

/// The timers the machine asks the driver to keep.
///
/// ```
/// use heartline::TimerKind;
/// assert_eq!(TimerKind::ALL.map(TimerKind::index), [0, 1, 2, 3]);
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
}

impl TimerKind {
    /// Every kind, for drivers that keep one slot each.
    pub const ALL: [TimerKind; 4] = [
        TimerKind::Reconnect,
        TimerKind::OpenTimeout,
        TimerKind::Ping,
        TimerKind::PongTimeout,
    ];

    /// A stable index in `0..4`.
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
    pub fn close_code(&self) -> CloseCode {
        CloseCode(self.code)
    }

    /// The code's name, e.g. "Going Away".
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame of this many bytes.
    Binary(usize),
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
    /// The socket's `message` event.
    Frame(FrameRef<'a>),
    /// The socket's `error` event.
    Error,
    /// The socket's `close` event.
    Closed(CloseInfo),
    /// A timer the machine armed has fired.
    Timer(TimerKind),
    /// The browser went offline.
    Offline,
    /// The browser came back online.
    Online,
    /// The page became visible again.
    Visible,
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
    /// The user's close is in progress.
    Closing,
    /// Closed and not reconnecting: never opened, reconnect off, or the close code's policy.
    Closed,
    /// Lost; the next attempt is scheduled.
    Reconnecting {
        /// The attempt that will be made.
        attempt: u32,
        /// When, in the clock's ms.
        next_at_ms: u64,
    },
    /// Lost while the browser is offline; retries wait for `online`.
    Offline,
    /// Closed by the user; nothing reopens it but `open()`.
    Stopped,
    /// Gave up after the maximum number of retries.
    Failed,
}

impl Status {
    /// The browser's [`readyState`](https://developer.mozilla.org/docs/Web/API/WebSocket/readyState)
    /// this status corresponds to: CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3.
    pub fn ready_state(self) -> u16 {
        match self {
            Status::Connecting { .. } => 0,
            Status::Open => 1,
            Status::Closing => 2,
            _ => 3,
        }
    }

    /// A short English label, e.g. "Reconnecting".
    pub fn label(self) -> &'static str {
        match self {
            Status::Connecting { .. } => "Connecting",
            Status::Open => "Open",
            Status::Closing => "Closing",
            Status::Closed => "Closed",
            Status::Reconnecting { .. } => "Reconnecting",
            Status::Offline => "Offline",
            Status::Stopped => "Stopped",
            Status::Failed => "Failed",
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
pub enum Event {
    /// The status changed.
    Status(Status),
    /// The socket opened.
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
    /// The heartbeat reply arrived and was swallowed; round-trip time in ms.
    HeartbeatReply {
        /// Round-trip time, ms.
        rtt_ms: u64,
    },
    /// No frame within the pong timeout: the connection is treated as lost.
    HeartbeatTimeout,
    /// The outbox was flushed on open.
    Flushed {
        /// Frames sent.
        frames: usize,
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
    /// Start the closing handshake and keep listening for the close event.
    CloseSocket {
        /// Close code (already validated).
        code: u16,
        /// Close reason (already validated).
        reason: String,
    },
    /// Detach every handler from the socket, then close it: the machine has written it off.
    AbandonSocket {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
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
    /// How the last connection ended.
    pub last_close: Option<CloseInfo>,
}

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
    stopped: bool,
    offline: bool,
    attempt: u32,
    opened_at: Option<u64>,
    last_inbound_ms: u64,
    ping: PingClock,
    armed: [Option<u64>; 4],
    outbox: Outbox<P>,
    rng: Rng,
    stats: Stats,
}

type Commands<P> = Vec<Command<P>>;

impl<P: Payload> Machine<P> {
    /// A machine in status `Closed`; feed it [`Input::Connect`] to start.
    pub fn new(config: Config) -> Self {
        let rng = Rng::new(config.seed.unwrap_or(1));
        Self {
            outbox: Outbox::new(config.outbox),
            config,
            status: Status::Closed,
            stopped: false,
            offline: false,
            attempt: 0,
            opened_at: None,
            last_inbound_ms: 0,
            ping: PingClock::default(),
            armed: [None; 4],
            rng,
            stats: Stats::default(),
        }
    }

    /// Replaces the jitter's seed (the driver seeds from `Math.random()`).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Counters, RTT and the last close.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Frames waiting for the socket to open.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// When a timer is due, if armed.
    pub fn timer_due(&self, kind: TimerKind) -> Option<u64> {
        self.armed[kind.index()]
    }

    /// Sends now if open, else queues (bounded). A full outbox is an error, never a silent drop.
    pub fn send(&mut self, payload: P) -> Result<Commands<P>, SendError> {
        if self.status == Status::Open {
            self.stats.frames_out += 1;
            return Ok(vec![Command::Send(payload)]);
        }
        self.outbox.push(payload)?;
        Ok(Vec::new())
    }

    /// The user's close: validated first, then sets the stop flag so nothing reconnects.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<Commands<P>, CloseError> {
        validate_close(code, reason)?;
        let mut out = Vec::new();
        self.stopped = true;
        self.disarm_all(&mut out);
        self.ping.reset();
        match self.status {
            Status::Connecting { .. } | Status::Open => {
                out.push(Command::CloseSocket {
                    code,
                    reason: reason.to_owned(),
                });
                self.set_status(Status::Closing, &mut out);
            }
            Status::Closing => {}
            _ => self.set_status(Status::Stopped, &mut out),
        }
        Ok(out)
    }

    /// Feeds one input at time `now_ms`; returns what to do, in order.
    pub fn handle(&mut self, input: Input<'_>, now_ms: u64) -> Commands<P> {
        let mut out = Vec::new();
        match input {
            Input::Connect => self.on_connect(now_ms, &mut out),
            Input::Opened => self.on_opened(now_ms, &mut out),
            Input::Frame(frame) => self.on_frame(frame, now_ms, &mut out),
            Input::Error => {
                // A close always follows an error; only the close decides about reconnecting,
                // so an error and its close make one loss, never two attempts.
                if self.has_socket() {
                    out.push(Command::Report(Event::Error));
                }
            }
            Input::Closed(info) => self.on_closed(info, now_ms, &mut out),
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
                self.offline = false;
                if matches!(self.status, Status::Offline | Status::Reconnecting { .. }) {
                    self.retry_now(now_ms, &mut out);
                }
            }
            Input::Visible => match self.status {
                Status::Reconnecting { .. } if !self.offline => self.retry_now(now_ms, &mut out),
                Status::Open => self.ping_now(now_ms, &mut out),
                _ => {}
            },
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
        match self.status {
            Status::Connecting { .. } | Status::Open => {}
            Status::Closing => {
                // Reopened before the old close finished: write the old socket off.
                out.push(Command::AbandonSocket {
                    code: 1000,
                    reason: "reopened".into(),
                });
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
        out.push(Command::OpenSocket {
            url: self.config.next_url(),
        });
        if let Some(timeout) = self.config.open_timeout_ms {
            self.arm(TimerKind::OpenTimeout, now_ms + timeout, out);
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
        self.last_inbound_ms = now_ms;
        self.ping.reset();
        self.set_status(Status::Open, out);
        out.push(Command::Report(Event::Opened));
        let queued = self.outbox.len();
        if queued > 0 {
            for payload in self.outbox.drain() {
                out.push(Command::Send(payload));
            }
            self.stats.frames_out += queued as u64;
            out.push(Command::Report(Event::Flushed { frames: queued }));
        }
        self.arm_ping(now_ms, out);
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
        let rtt = self.ping.answered(now_ms);
        if rtt.is_some() {
            self.disarm(TimerKind::PongTimeout, out);
            self.arm_ping(now_ms, out);
        }
        let reply = self
            .config
            .heartbeat
            .as_ref()
            .and_then(|heartbeat| heartbeat.reply.as_deref());
        match (frame, reply) {
            (FrameRef::Text(text), Some(reply)) if text == reply => {
                let rtt_ms = rtt.unwrap_or(0);
                if rtt.is_some() {
                    self.stats.rtt_ms = Some(rtt_ms);
                }
                out.push(Command::Report(Event::HeartbeatReply { rtt_ms }));
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

    fn on_timer(&mut self, kind: TimerKind, now_ms: u64, out: &mut Commands<P>) {
        // A timer that is no longer armed (cancelled, or replaced) does nothing.
        if self.armed[kind.index()].take().is_none() {
            return;
        }
        match (kind, self.status) {
            (TimerKind::Reconnect, Status::Reconnecting { .. }) if !self.stopped => {
                self.stats.reconnects += 1;
                self.open_socket(now_ms, out);
            }
            (TimerKind::OpenTimeout, Status::Connecting { .. }) => {
                let timeout = self.config.open_timeout_ms.unwrap_or(0);
                let detail = format!("not open after {timeout} ms");
                self.write_off("open timeout", &detail, now_ms, out);
            }
            (TimerKind::Ping, Status::Open) => {
                let interval = self
                    .config
                    .heartbeat
                    .as_ref()
                    .map_or(0, |heartbeat| heartbeat.interval_ms);
                let quiet_until = self.last_inbound_ms + interval;
                if now_ms < quiet_until {
                    self.arm(TimerKind::Ping, quiet_until, out);
                } else {
                    self.ping_now(now_ms, out);
                }
            }
            (TimerKind::PongTimeout, Status::Open) => {
                let timeout = self
                    .config
                    .heartbeat
                    .as_ref()
                    .map_or(0, |heartbeat| heartbeat.pong_timeout_ms);
                out.push(Command::Report(Event::HeartbeatTimeout));
                let detail = format!("no frame within {timeout} ms of the ping");
                self.write_off("heartbeat timeout", &detail, now_ms, out);
            }
            _ => {}
        }
    }

    /// The machine itself gives up on the socket (no open, no heartbeat reply): the driver
    /// detaches and closes it, and the loss is reported as an abnormal closure (1006), as the
    /// browser would report a dead connection.
    fn write_off(&mut self, why: &str, detail: &str, now_ms: u64, out: &mut Commands<P>) {
        out.push(Command::AbandonSocket {
            code: 1000,
            reason: why.into(),
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
        self.disarm_all(out);
        self.ping.reset();
        if let Some(opened_at) = self.opened_at.take() {
            if now_ms.saturating_sub(opened_at) >= self.config.min_uptime_ms {
                self.attempt = 0;
            }
        }
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
            .max_retries
            .is_some_and(|max| self.attempt >= max)
        {
            self.set_status(Status::Failed, out);
            return;
        }
        self.attempt += 1;
        let delay_ms = match policy {
            ClosePolicy::WaitMax => self.config.backoff.max_ms,
            _ => self.config.backoff.delay_ms(self.attempt, &mut self.rng),
        };
        let next_at_ms = now_ms + delay_ms;
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
        let deadline = now_ms + heartbeat.pong_timeout_ms;
        self.ping.sent(now_ms);
        self.stats.frames_out += 1;
        out.push(Command::Send(P::from_text(message)));
        out.push(Command::Report(Event::HeartbeatSent));
        self.disarm(TimerKind::Ping, out);
        self.arm(TimerKind::PongTimeout, deadline, out);
    }

    fn arm_ping(&mut self, now_ms: u64, out: &mut Commands<P>) {
        if let Some(heartbeat) = &self.config.heartbeat {
            let at = now_ms + heartbeat.interval_ms;
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
