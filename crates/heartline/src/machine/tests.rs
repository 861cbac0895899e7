//! Every rule of the machine, with a fake clock.

use super::*;
use crate::Heartbeat;

/// Drives a machine with a fake clock and remembers what it asked for.
struct Harness {
    machine: Machine<String>,
    now: u64,
    log: Vec<Command<String>>,
}

impl Harness {
    fn new(config: Config) -> Self {
        Self {
            machine: Machine::new(config.with_seed(7)),
            now: 0,
            log: Vec::new(),
        }
    }

    fn config() -> Config {
        Config::new("ws://test/ws")
            .with_heartbeat_timing(1_000, 500)
            .with_reconnect_delays(100, 2_000, 2.0)
            .with_jitter(false)
            .with_open_timeout(Some(3_000))
            .with_min_uptime(5_000)
    }

    fn input(&mut self, input: Input<'_>) -> Vec<Command<String>> {
        let out = self.machine.handle(input, self.now);
        self.log.extend(out.iter().cloned());
        out
    }

    fn at(&mut self, now: u64) -> &mut Self {
        assert!(now >= self.now, "the clock goes forward");
        self.now = now;
        self
    }

    /// Moves the clock to the timer's due time and fires it.
    fn fire(&mut self, kind: TimerKind) -> Vec<Command<String>> {
        let due = self
            .machine
            .timer_due(kind)
            .unwrap_or_else(|| panic!("{kind:?} is not armed"));
        self.now = self.now.max(due);
        self.input(Input::Timer(kind))
    }

    fn open(&mut self) {
        self.input(Input::Connect);
        self.input(Input::Opened);
        self.input(Input::Flush);
        assert_eq!(self.machine.status(), Status::Open);
    }

    fn lose(&mut self, code: u16) -> Vec<Command<String>> {
        self.input(Input::Closed(CloseInfo {
            code,
            reason: String::new(),
            was_clean: code != 1006,
        }))
    }

    fn opens(commands: &[Command<String>]) -> usize {
        commands
            .iter()
            .filter(|c| matches!(c, Command::OpenSocket { .. }))
            .count()
    }

    fn sent(commands: &[Command<String>]) -> Vec<String> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Send(text) | Command::Ping(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn connect_opens_and_arms_the_open_timeout() {
    let mut h = Harness::new(Harness::config());
    let out = h.input(Input::Connect);
    assert_eq!(
        out[0],
        Command::OpenSocket {
            url: "ws://test/ws".into()
        }
    );
    assert!(out.contains(&Command::ArmTimer(TimerKind::OpenTimeout, 3_000)));
    assert_eq!(h.machine.status(), Status::Connecting { attempt: 0 });
    assert_eq!(h.machine.status().ready_state(), 0);
    // A second connect while connecting opens nothing more.
    assert_eq!(Harness::opens(&h.input(Input::Connect)), 0);
}

#[test]
fn opened_disarms_open_timeout_and_arms_the_heartbeat() {
    let mut h = Harness::new(Harness::config());
    h.input(Input::Connect);
    let out = h.at(20).input(Input::Opened);
    assert!(out.contains(&Command::DisarmTimer(TimerKind::OpenTimeout)));
    assert!(out.contains(&Command::ArmTimer(TimerKind::Ping, 1_020)));
    assert!(out.contains(&Command::Report(Event::Opened)));
    assert_eq!(h.machine.status().ready_state(), 1);
}

#[test]
fn frames_sent_while_not_open_are_flushed_in_order_on_open() {
    let mut h = Harness::new(Harness::config());
    for text in ["one", "two", "three"] {
        assert!(
            h.machine.send(text.to_string()).unwrap().is_empty(),
            "queued, not sent"
        );
    }
    assert_eq!(h.machine.queued(), 3);
    h.input(Input::Connect);
    let out = h.input(Input::Opened);
    assert!(Harness::sent(&out).is_empty(), "the app hears Opened first");
    let out = h.input(Input::Flush);
    assert_eq!(Harness::sent(&out), ["one", "two", "three"]);
    assert!(out.contains(&Command::Report(Event::Flushed { frames: 3 })));
    assert_eq!(h.machine.queued(), 0);
    // Once open, a send goes straight out.
    assert_eq!(
        h.machine.send("four".into()).unwrap(),
        [Command::Send("four".to_string())]
    );
}

#[test]
fn frames_queued_during_a_reconnect_are_flushed_after_it() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.lose(1006);
    h.machine.send("a".into()).unwrap();
    h.machine.send("b".into()).unwrap();
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    let out = h.input(Input::Flush);
    assert_eq!(Harness::sent(&out), ["a", "b"]);
}

#[test]
fn outbox_overflow_is_an_error_naming_the_limit() {
    let mut h = Harness::new(Harness::config().with_outbox_limits(2, 10));
    h.machine.send("12345".into()).unwrap();
    let error = h.machine.send("123456".into()).unwrap_err();
    assert_eq!(
        error,
        SendError::OutboxBytes {
            max_bytes: 10,
            queued_bytes: 5,
            frame_bytes: 6
        }
    );
    assert!(error.to_string().contains("10 bytes"), "{error}");
    h.machine.send("1".into()).unwrap();
    let error = h.machine.send("2".into()).unwrap_err();
    assert_eq!(error, SendError::OutboxFull { max_frames: 2 });
    assert!(error.to_string().contains("2 frames"), "{error}");
    assert_eq!(h.machine.queued(), 2, "refused frames are not queued");
}

#[test]
fn error_then_close_schedules_exactly_one_reconnect() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.log.clear();
    let out = h.input(Input::Error);
    assert_eq!(
        out,
        [Command::Report(Event::Error)],
        "an error alone schedules nothing"
    );
    h.lose(1006);
    // A second close (e.g. a late event) is ignored.
    h.lose(1006);
    let arms = h
        .log
        .iter()
        .filter(|c| matches!(c, Command::ArmTimer(TimerKind::Reconnect, _)))
        .count();
    assert_eq!(arms, 1);
    assert_eq!(Harness::opens(&h.fire(TimerKind::Reconnect)), 1);
    assert_eq!(h.machine.stats().reconnects, 1);
}

#[test]
fn user_close_never_reconnects_even_with_a_timer_in_flight() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.lose(1006);
    assert!(matches!(h.machine.status(), Status::Reconnecting { .. }));
    let due = h.machine.timer_due(TimerKind::Reconnect).unwrap();
    let out = h.machine.close(1000, "bye", h.now).unwrap();
    assert!(out.contains(&Command::DisarmTimer(TimerKind::Reconnect)));
    assert_eq!(h.machine.status(), Status::Stopped);
    // The driver's old timer fires anyway: nothing opens.
    h.at(due);
    assert!(h.input(Input::Timer(TimerKind::Reconnect)).is_empty());
    assert!(h.input(Input::Online).is_empty());
    assert!(h.input(Input::Visible).is_empty());
    assert_eq!(h.machine.status(), Status::Stopped);
}

#[test]
fn user_close_of_an_open_socket_ends_stopped() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let out = h.machine.close(4000, "bye", h.now).unwrap();
    assert!(out.contains(&Command::CloseSocket {
        code: 4000,
        reason: "bye".into()
    }));
    assert_eq!(h.machine.status(), Status::Closing);
    assert_eq!(h.machine.status().ready_state(), 2);
    let out = h.input(Input::Closed(CloseInfo {
        code: 4000,
        reason: "bye".into(),
        was_clean: true,
    }));
    assert!(
        !out.iter().any(|c| matches!(c, Command::ArmTimer(..))),
        "{out:?}"
    );
    assert_eq!(h.machine.status(), Status::Stopped);
    assert_eq!(
        h.machine.stats().last_close.as_ref().map(|c| c.code),
        Some(4000)
    );
}

#[test]
fn open_after_a_user_close_clears_the_stop_flag() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.machine.close(1000, "", h.now).unwrap();
    h.input(Input::Closed(CloseInfo {
        code: 1000,
        reason: String::new(),
        was_clean: true,
    }));
    assert_eq!(Harness::opens(&h.input(Input::Connect)), 1);
    h.input(Input::Opened);
    // Lost again: now it reconnects.
    h.lose(1006);
    assert!(matches!(
        h.machine.status(),
        Status::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn invalid_close_is_refused_and_changes_nothing() {
    let mut h = Harness::new(Harness::config());
    h.open();
    assert_eq!(
        h.machine.close(1001, "", h.now),
        Err(CloseError::CodeNotSendable { code: 1001 })
    );
    assert!(matches!(
        h.machine.close(1000, &"x".repeat(124), h.now),
        Err(CloseError::ReasonTooLong { bytes: 124 })
    ));
    assert_eq!(h.machine.status(), Status::Open);
    h.lose(1006);
    assert!(
        matches!(h.machine.status(), Status::Reconnecting { .. }),
        "stop flag not set"
    );
}

#[test]
fn heartbeat_pings_after_a_quiet_interval_and_swallows_the_reply() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let out = h.fire(TimerKind::Ping);
    assert_eq!(h.now, 1_000);
    // A ping, not a Send: a dead socket does not hand it back, while an application's "ping" is.
    assert!(out.contains(&Command::Ping("ping".to_string())));
    assert_eq!(Harness::sent(&out), ["ping"]);
    assert!(out.contains(&Command::ArmTimer(TimerKind::PongTimeout, 1_500)));
    let out = h.at(1_042).input(Input::Frame(FrameRef::Text("pong")));
    assert!(!out.contains(&Command::Deliver), "the reply is swallowed");
    assert!(out.contains(&Command::Report(Event::HeartbeatReply { rtt_ms: 42 })));
    assert!(out.contains(&Command::DisarmTimer(TimerKind::PongTimeout)));
    assert_eq!(h.machine.stats().rtt_ms, Some(42));
    // Application frames are delivered.
    assert!(h
        .input(Input::Frame(FrameRef::Text("hello")))
        .contains(&Command::Deliver));
    assert!(h
        .input(Input::Frame(FrameRef::Binary(3)))
        .contains(&Command::Deliver));
}

#[test]
fn any_inbound_frame_counts_as_life() {
    let mut h = Harness::new(Harness::config());
    h.open();
    // Traffic at 600 ms: the ping due at 1 000 is moved to 1 600 instead of being sent.
    h.at(600).input(Input::Frame(FrameRef::Text("chat")));
    let out = h.fire(TimerKind::Ping);
    assert!(Harness::sent(&out).is_empty());
    assert!(out.contains(&Command::ArmTimer(TimerKind::Ping, 1_600)));
    // After a ping, an ordinary frame answers it just as well as the reply.
    h.fire(TimerKind::Ping);
    let out = h.at(1_700).input(Input::Frame(FrameRef::Text("chat")));
    assert!(out.contains(&Command::DisarmTimer(TimerKind::PongTimeout)));
    assert!(out.contains(&Command::Deliver));
    assert_eq!(h.machine.status(), Status::Open);
}

#[test]
fn silence_is_detected_within_interval_plus_pong_timeout_then_reconnects_once() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping);
    let out = h.fire(TimerKind::PongTimeout);
    assert_eq!(h.now, 1_500, "interval + pong timeout");
    assert!(out.contains(&Command::Report(Event::HeartbeatTimeout)));
    // Given up as dead: what it still holds would not arrive, so it is taken back.
    assert!(out.iter().any(|c| matches!(
        c,
        Command::AbandonSocket {
            take_back: true,
            ..
        }
    )));
    let close = h.machine.stats().last_close.clone().unwrap();
    assert_eq!((close.code, close.was_clean), (1006, false));
    assert!(
        close.reason.contains("heartbeat timeout"),
        "{}",
        close.reason
    );
    // The abandoned socket's own close event arrives later: still one loss.
    h.lose(1006);
    let arms = h
        .log
        .iter()
        .filter(|c| matches!(c, Command::ArmTimer(TimerKind::Reconnect, _)))
        .count();
    assert_eq!(arms, 1);
    assert_eq!(Harness::opens(&h.fire(TimerKind::Reconnect)), 1);
}

#[test]
fn no_heartbeat_when_turned_off() {
    let mut h = Harness::new(Harness::config().with_heartbeat(None));
    h.open();
    assert_eq!(h.machine.timer_due(TimerKind::Ping), None);
    assert!(h
        .input(Input::Frame(FrameRef::Text("pong")))
        .contains(&Command::Deliver));
}

#[test]
fn custom_heartbeat_texts() {
    let heartbeat = Heartbeat {
        message: "{\"t\":\"hb\"}".into(),
        reply: Some("ok".into()),
        interval_ms: 10,
        pong_timeout_ms: 10,
    };
    let mut h = Harness::new(Harness::config().with_heartbeat(Some(heartbeat)));
    h.open();
    assert_eq!(Harness::sent(&h.fire(TimerKind::Ping)), ["{\"t\":\"hb\"}"]);
    assert!(!h
        .input(Input::Frame(FrameRef::Text("ok")))
        .contains(&Command::Deliver));
    assert!(h
        .input(Input::Frame(FrameRef::Text("pong")))
        .contains(&Command::Deliver));
}

#[test]
fn backoff_grows_per_attempt_and_caps() {
    let mut h = Harness::new(Harness::config().with_open_timeout(None));
    h.open();
    let mut delays = Vec::new();
    for _ in 0..6 {
        let out = h.lose(1006);
        delays.extend(out.iter().filter_map(|c| match c {
            Command::Report(Event::ReconnectScheduled { delay_ms, .. }) => Some(*delay_ms),
            _ => None,
        }));
        h.fire(TimerKind::Reconnect);
    }
    assert_eq!(delays, [200, 400, 800, 1_600, 2_000, 2_000]);
    assert_eq!(h.machine.stats().reconnects, 6);
}

#[test]
fn a_connection_that_stayed_up_resets_the_attempt_counter() {
    let mut h = Harness::new(Harness::config().with_heartbeat(None));
    h.open();
    h.lose(1006);
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    // Short uptime: the counter keeps growing.
    h.at(h.now + 100).lose(1006);
    assert!(matches!(
        h.machine.status(),
        Status::Reconnecting { attempt: 2, .. }
    ));
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    // Up for min_uptime: back to attempt 1.
    h.at(h.now + 5_000).lose(1006);
    assert!(matches!(
        h.machine.status(),
        Status::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn retries_exhausted_fails() {
    let mut h = Harness::new(
        Harness::config()
            .with_max_retries(Some(2))
            .with_open_timeout(None),
    );
    h.open();
    h.lose(1006);
    h.fire(TimerKind::Reconnect);
    h.lose(1006);
    h.fire(TimerKind::Reconnect);
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Failed);
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), None);
    // open() starts over.
    assert_eq!(Harness::opens(&h.input(Input::Connect)), 1);
}

#[test]
fn close_codes_that_retrying_cannot_help_do_not_reconnect() {
    for code in [1002, 1003, 1007, 1008, 1009, 1010, 4000, 4001, 4999] {
        let mut h = Harness::new(Harness::config());
        h.open();
        h.lose(code);
        assert_eq!(h.machine.status(), Status::Closed, "code {code}");
        assert_eq!(
            h.machine.timer_due(TimerKind::Reconnect),
            None,
            "code {code}"
        );
    }
    for code in [1000, 1001, 1006, 1011, 1012, 3000] {
        let mut h = Harness::new(Harness::config());
        h.open();
        h.lose(code);
        assert!(
            matches!(h.machine.status(), Status::Reconnecting { .. }),
            "code {code}"
        );
    }
}

#[test]
fn try_again_later_waits_the_maximum_delay() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let out = h.at(10).lose(1013);
    assert!(out.contains(&Command::Report(Event::ReconnectScheduled {
        attempt: 1,
        delay_ms: 2_000
    })));
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(2_010));
    // The page shown again, or the network back, does not cut the server's wait short.
    for (input, name) in [
        (Input::Visible, "visible"),
        (Input::PageShow, "pageshow"),
        (Input::Online, "online"),
    ] {
        assert_eq!(Harness::opens(&h.at(20).input(input)), 0, "{name}");
    }
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(2_010));
    // Nor does the network going and coming back meanwhile: the rest of the wait, then a try.
    h.at(30).input(Input::Offline);
    assert_eq!(h.machine.status(), Status::Offline);
    assert_eq!(Harness::opens(&h.at(40).input(Input::Online)), 0);
    assert_eq!(
        h.machine.status(),
        Status::Reconnecting {
            attempt: 1,
            next_at_ms: 2_010
        }
    );
    // Nor the page going into the back/forward cache and coming back.
    h.at(50).input(Input::PageHide);
    assert_eq!(h.machine.status(), Status::Paused);
    assert_eq!(Harness::opens(&h.at(60).input(Input::PageShow)), 0);
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(2_010));
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    // An ordinary loss after it: a resume retries at once again.
    h.at(3_000).lose(1006);
    assert_eq!(Harness::opens(&h.at(3_010).input(Input::Visible)), 1);
}

#[test]
fn close_policy_can_be_overridden() {
    let config = Harness::config()
        .with_close_policy(4000..=4099, ClosePolicy::Reconnect)
        .with_close_policy(1006..=1006, ClosePolicy::Stop);
    let mut h = Harness::new(config);
    h.open();
    h.lose(4001);
    assert!(matches!(h.machine.status(), Status::Reconnecting { .. }));
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Closed);
}

#[test]
fn reconnect_off_stays_closed() {
    let mut h = Harness::new(Harness::config().with_reconnect(false));
    h.open();
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Closed);
}

#[test]
fn open_timeout_abandons_the_attempt_and_retries() {
    let mut h = Harness::new(Harness::config());
    h.input(Input::Connect);
    let out = h.fire(TimerKind::OpenTimeout);
    assert_eq!(h.now, 3_000);
    assert!(out
        .iter()
        .any(|c| matches!(c, Command::AbandonSocket { .. })));
    assert!(matches!(
        h.machine.status(),
        Status::Reconnecting { attempt: 1, .. }
    ));
    // The abandoned socket's late open is ignored.
    assert!(h.input(Input::Opened).is_empty());
}

#[test]
fn offline_pauses_retries_and_online_retries_at_once() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.lose(1006);
    let out = h.input(Input::Offline);
    assert!(out.contains(&Command::DisarmTimer(TimerKind::Reconnect)));
    assert_eq!(h.machine.status(), Status::Offline);
    let out = h.at(50).input(Input::Online);
    assert_eq!(Harness::opens(&out), 1);
    assert!(matches!(h.machine.status(), Status::Connecting { .. }));
}

#[test]
fn a_loss_while_offline_waits_for_online() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let out = h.input(Input::Offline);
    assert_eq!(
        Harness::sent(&out),
        ["ping"],
        "offline while open: check the socket now"
    );
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Offline);
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), None);
}

#[test]
fn becoming_visible_retries_now_or_pings_now() {
    let mut h = Harness::new(Harness::config());
    h.open();
    assert_eq!(Harness::sent(&h.at(10).input(Input::Visible)), ["ping"]);
    // Not twice while a ping is out.
    assert!(Harness::sent(&h.input(Input::Visible)).is_empty());
    h.lose(1006);
    assert_eq!(Harness::opens(&h.input(Input::Visible)), 1);
}

#[test]
fn the_url_provider_is_asked_before_every_attempt() {
    let counter = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = counter.clone();
    let config = Harness::config().with_url_provider(move || {
        count.set(count.get() + 1);
        format!("ws://test/ws?token={}", count.get())
    });
    let mut h = Harness::new(config);
    assert!(h.input(Input::Connect).contains(&Command::OpenSocket {
        url: "ws://test/ws?token=1".into()
    }));
    h.input(Input::Opened);
    h.lose(1006);
    assert!(h.fire(TimerKind::Reconnect).contains(&Command::OpenSocket {
        url: "ws://test/ws?token=2".into()
    }));
    assert_eq!(counter.get(), 2);
}

#[test]
fn status_changes_are_reported_once_each() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping);
    h.input(Input::Frame(FrameRef::Text("pong")));
    let statuses: Vec<Status> = h
        .log
        .iter()
        .filter_map(|c| match c {
            Command::Report(Event::Status(status)) => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [Status::Connecting { attempt: 0 }, Status::Open],
        "heartbeats change no status"
    );
}

#[test]
fn frames_and_closes_of_a_written_off_socket_are_ignored() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping);
    h.fire(TimerKind::PongTimeout);
    assert!(h.input(Input::Frame(FrameRef::Text("late"))).is_empty());
    assert!(h.input(Input::Error).is_empty());
}

// ---- 0.2: silent losses and dead ends ----

#[test]
fn send_after_a_user_close_is_refused_and_queued_frames_do_not_leak_into_a_later_open() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.lose(1006);
    h.machine.send("queued before the close".into()).unwrap();
    let out = h.machine.close(1000, "", h.now).unwrap();
    assert!(out.contains(&Command::Report(Event::Discarded { frames: 1 })));
    assert_eq!(
        h.machine.send("after".into()),
        Err(SendError::NotOpen {
            status: Status::Stopped
        })
    );
    assert_eq!(h.machine.queued(), 0);
    h.input(Input::Connect);
    h.input(Input::Opened);
    assert!(Harness::sent(&h.input(Input::Flush)).is_empty());
}

#[test]
fn the_outbox_survives_a_user_close_when_the_app_asks() {
    let mut h = Harness::new(Harness::config().with_outbox_kept_on_close(true));
    h.open();
    h.lose(1006);
    h.machine.send("kept".into()).unwrap();
    h.machine.close(1000, "", h.now).unwrap();
    h.input(Input::Connect);
    h.input(Input::Opened);
    assert_eq!(Harness::sent(&h.input(Input::Flush)), ["kept"]);
}

#[test]
fn send_is_refused_in_every_state_nothing_will_leave() {
    // Before the first connect, frames are queued for it.
    let mut h = Harness::new(Harness::config().with_reconnect(false));
    assert!(h.machine.send("early".into()).is_ok());
    h.open();
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Closed);
    assert_eq!(
        h.machine.send("x".into()),
        Err(SendError::NotOpen {
            status: Status::Closed
        })
    );
    let mut h = Harness::new(Harness::config().with_max_retries(Some(0)));
    h.open();
    h.lose(1006);
    assert_eq!(
        h.machine.send("x".into()),
        Err(SendError::NotOpen {
            status: Status::Failed
        })
    );
    // Closing by the user's request: nothing will send it either.
    let mut h = Harness::new(Harness::config());
    h.open();
    h.machine.close(1000, "", h.now).unwrap();
    let error = h.machine.send("x".into()).unwrap_err();
    assert!(error.to_string().contains("call open()"), "{error}");
}

#[test]
fn sends_after_the_server_began_closing_wait_for_the_next_connection() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.input(Input::PeerClosing);
    assert!(h.machine.send("late".into()).unwrap().is_empty(), "queued");
    assert_eq!(h.machine.queued(), 1);
    h.lose(1012);
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    assert_eq!(Harness::sent(&h.input(Input::Flush)), ["late"]);
}

#[test]
fn frames_the_socket_never_sent_go_out_first_on_the_next_connection() {
    let mut h = Harness::new(Harness::config().with_outbox_limits(2, 1 << 20));
    h.open();
    for text in ["a", "b", "c"] {
        h.machine.send(text.into()).unwrap();
    }
    assert_eq!(h.machine.stats().frames_out, 3);
    // The browser still held "b" and "c" when the server's close came.
    let out = h.machine.requeue(vec!["b".into(), "c".into()]);
    assert_eq!(out, [Command::Report(Event::Requeued { frames: 2 })]);
    assert_eq!(h.machine.stats().frames_out, 1, "not counted as sent");
    h.lose(1012);
    h.machine.send("d".into()).unwrap_err(); // the limit of 2 still holds for new frames...
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    // ...but the requeued ones were accepted already, and go first, in order.
    assert_eq!(Harness::sent(&h.input(Input::Flush)), ["b", "c"]);
}

#[test]
fn discarding_its_own_keeps_frames_sent_behind_and_requeued_in_order() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.machine.send("requeued".into()).unwrap();
    h.machine.requeue(vec!["requeued".into()]);
    h.lose(1012);
    h.machine.send("mine-1".into()).unwrap();
    h.machine.send_behind("theirs".into()).unwrap();
    h.machine.send("mine-2".into()).unwrap();
    assert_eq!(h.machine.discard_own(), 2);
    assert_eq!(h.machine.queued(), 2);
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    assert_eq!(
        Harness::sent(&h.input(Input::Flush)),
        ["requeued", "theirs"]
    );
}

#[test]
fn frames_the_socket_never_sent_are_dropped_as_reported_when_the_application_resends_itself() {
    let mut h = Harness::new(Harness::config().with_unsent_requeued(false));
    h.open();
    h.machine.send("a".into()).unwrap();
    h.machine.send("b".into()).unwrap();
    // The browser still held "b" when the server's close came.
    let out = h.machine.requeue(vec!["b".into()]);
    assert_eq!(out, [Command::Report(Event::Discarded { frames: 1 })]);
    assert_eq!(h.machine.queued(), 0);
    assert_eq!(h.machine.stats().frames_out, 1, "not counted as sent");
    h.lose(1012);
    h.fire(TimerKind::Reconnect);
    h.input(Input::Opened);
    assert!(Harness::sent(&h.input(Input::Flush)).is_empty());
}

#[test]
fn frames_never_sent_before_a_user_close_are_discarded_as_reported() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.machine.send("a".into()).unwrap();
    h.machine.close(1000, "bye", h.now).unwrap();
    let out = h.machine.requeue(vec!["a".into()]);
    assert_eq!(out, [Command::Report(Event::Discarded { frames: 1 })]);
    assert_eq!(h.machine.queued(), 0);
}

#[test]
fn a_url_the_browser_refuses_fails_once_and_is_never_retried() {
    let mut h = Harness::new(Harness::config());
    h.input(Input::Connect);
    let out = h.input(Input::Refused("SyntaxError: bad scheme".into()));
    assert!(out.contains(&Command::Report(Event::Closed(CloseInfo {
        code: 1006,
        reason: "SyntaxError: bad scheme".into(),
        was_clean: false
    }))));
    assert_eq!(h.machine.status(), Status::Failed);
    assert!(
        (0..TimerKind::ALL.len()).all(|i| h.machine.armed[i].is_none()),
        "no timer"
    );
    assert!(h.at(60_000).input(Input::Online).is_empty());
}

#[test]
fn attempts_that_never_open_end_unreachable_until_open_or_online() {
    let mut h = Harness::new(Harness::config().with_unreachable_after(Some(3)));
    h.input(Input::Connect);
    h.lose(1006); // 1: e.g. HTTP 401 on the upgrade
    h.fire(TimerKind::Reconnect);
    h.lose(1006); // 2
    h.fire(TimerKind::Reconnect);
    h.input(Input::Error);
    h.lose(1006); // 3
    assert_eq!(h.machine.status(), Status::Unreachable { attempts: 3 });
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), None);
    assert!(
        h.input(Input::Visible).is_empty(),
        "waits for open() or online"
    );
    assert_eq!(
        h.machine.send("x".into()),
        Err(SendError::NotOpen {
            status: Status::Unreachable { attempts: 3 }
        })
    );
    assert_eq!(Harness::opens(&h.input(Input::Online)), 1);
    h.lose(1006);
    assert!(
        matches!(h.machine.status(), Status::Reconnecting { .. }),
        "the count starts over"
    );
    h.fire(TimerKind::Reconnect);
    h.lose(1006);
    h.fire(TimerKind::Reconnect);
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Unreachable { attempts: 3 });
    assert_eq!(Harness::opens(&h.input(Input::Connect)), 1);
}

#[test]
fn a_connection_that_opened_does_not_count_towards_unreachable() {
    let mut h = Harness::new(Harness::config().with_unreachable_after(Some(2)));
    for _ in 0..5 {
        h.input(Input::Connect);
        h.input(Input::Opened);
        h.lose(1006);
        assert!(matches!(h.machine.status(), Status::Reconnecting { .. }));
        h.fire(TimerKind::Reconnect);
        h.input(Input::Opened);
        h.lose(1006);
    }
    assert!(matches!(h.machine.status(), Status::Reconnecting { .. }));
}

#[test]
fn a_close_the_server_never_answers_ends_stopped_after_the_close_timeout() {
    let mut h = Harness::new(Harness::config().with_close_timeout(Some(1_500)));
    h.open();
    h.at(100);
    let out = h.machine.close(1000, "bye", h.now).unwrap();
    assert!(out.contains(&Command::ArmTimer(TimerKind::CloseTimeout, 1_600)));
    let out = h.fire(TimerKind::CloseTimeout);
    assert!(out
        .iter()
        .any(|c| matches!(c, Command::AbandonSocket { .. })));
    assert_eq!(h.machine.status(), Status::Stopped);
    let close = h.machine.stats().last_close.clone().unwrap();
    assert_eq!((close.code, close.was_clean), (1006, false));
    assert!(close.reason.contains("close timeout"), "{}", close.reason);
    // The late close event of the written-off socket changes nothing.
    h.lose(1000);
    assert_eq!(h.machine.status(), Status::Stopped);
}

#[test]
fn a_second_close_while_closing_keeps_the_first_closes_timeout() {
    // A double click on Disconnect, on a dead link.
    let mut h = Harness::new(Harness::config().with_close_timeout(Some(1_500)));
    h.open();
    h.at(100);
    h.machine.close(1000, "bye", h.now).unwrap();
    h.at(200);
    h.machine.close(1000, "bye", h.now).unwrap();
    assert_eq!(h.machine.timer_due(TimerKind::CloseTimeout), Some(1_600));
    h.fire(TimerKind::CloseTimeout);
    assert_eq!(h.machine.status(), Status::Stopped);
}

#[test]
fn a_socket_that_opens_proves_the_browser_online_though_online_was_never_heard() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.input(Input::Offline);
    h.input(Input::PageHide);
    // The network came back while the page was in the back/forward cache: no `online` event.
    h.at(10_000).input(Input::PageShow);
    h.input(Input::Opened);
    h.input(Input::Flush);
    // A server restart, much later: retried, not parked until an `online` that never comes.
    h.at(20_000).lose(1012);
    assert!(
        matches!(h.machine.status(), Status::Reconnecting { .. }),
        "{:?}",
        h.machine.status()
    );
}

#[test]
fn attempts_that_failed_while_offline_do_not_count_once_online() {
    let mut h = Harness::new(Harness::config().with_unreachable_after(Some(3)));
    h.input(Input::Connect);
    h.input(Input::Offline);
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Offline);
    // The tab shown twice while offline: a try each time, failing.
    for at in [1_000, 2_000] {
        assert_eq!(Harness::opens(&h.at(at).input(Input::Visible)), 1);
        h.lose(1006);
    }
    // Online: the first try fails (common just after the network is back), and a fresh run
    // of tries follows.
    assert_eq!(Harness::opens(&h.at(3_000).input(Input::Online)), 1);
    h.lose(1006);
    assert!(
        matches!(h.machine.status(), Status::Reconnecting { .. }),
        "{:?}",
        h.machine.status()
    );
}

#[test]
fn a_connection_up_past_min_uptime_then_hidden_starts_its_backoff_afresh() {
    let mut h = Harness::new(Harness::config().with_max_retries(Some(2)));
    h.input(Input::Connect);
    // Two quick losses: attempt 2.
    for _ in 0..2 {
        h.lose(1006);
        h.fire(TimerKind::Reconnect);
    }
    h.input(Input::Opened);
    h.input(Input::Flush);
    // Up an hour, then the page is hidden and shown again.
    h.at(3_600_000).input(Input::PageHide);
    h.at(3_700_000).input(Input::PageShow);
    // The reopen is the first try of a fresh run, and a quick loss after it is retried (with
    // the old count, two tries were spent: given up).
    assert_eq!(h.machine.status(), Status::Connecting { attempt: 1 });
    h.lose(1006);
    assert!(
        matches!(h.machine.status(), Status::Reconnecting { attempt: 2, .. }),
        "{:?}",
        h.machine.status()
    );
}

#[test]
fn a_cancelled_unload_does_not_cut_short_the_wait_the_server_asked_for() {
    let mut h = Harness::new(Harness::config());
    h.open();
    // 1013, try again later: the longest delay (2 000).
    h.lose(1013);
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(2_000));
    h.at(100).input(Input::Unload);
    // The unload was cancelled; the page resumes when the server's wait is over, not before.
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(2_000));
    let out = h.fire(TimerKind::Reconnect);
    assert_eq!((Harness::opens(&out), h.now), (1, 2_000));
}

#[test]
fn pagehide_closes_and_pageshow_reopens() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let out = h.input(Input::PageHide);
    assert!(out.contains(&Command::AbandonSocket {
        code: 1000,
        reason: "page hidden".into(),
        take_back: false,
    }));
    assert_eq!(h.machine.status(), Status::Paused);
    assert!(
        (0..TimerKind::ALL.len()).all(|i| h.machine.armed[i].is_none()),
        "no timer runs in the back/forward cache"
    );
    assert!(h.machine.send("while hidden".into()).is_ok(), "queued");
    assert_eq!(Harness::opens(&h.at(5_000).input(Input::PageShow)), 1);
    h.input(Input::Opened);
    assert_eq!(Harness::sent(&h.input(Input::Flush)), ["while hidden"]);
}

#[test]
fn an_unload_followed_by_pagehide_waits_for_pageshow() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.input(Input::Unload);
    h.input(Input::PageHide);
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), None);
    assert_eq!(Harness::opens(&h.at(90_000).input(Input::PageShow)), 1);
}

#[test]
fn an_unload_is_not_a_stop() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.input(Input::Unload);
    assert_eq!(h.machine.status(), Status::Paused);
    // The unload was cancelled (a "Leave site?" answered Stay, a download link): the page
    // is still here after the grace delay, so it reopens.
    let out = h.fire(TimerKind::Reconnect);
    assert_eq!(Harness::opens(&out), 1);
    assert_eq!(h.now, UNLOAD_GRACE_MS);
    // The user's own close stays a stop through page events.
    h.input(Input::Opened);
    h.machine.close(1000, "", h.now).unwrap();
    h.lose(1000);
    h.input(Input::Unload);
    assert!(h.input(Input::PageShow).is_empty());
    assert_eq!(h.machine.status(), Status::Stopped);
}

// ---- 0.2: time and liveness ----

#[test]
fn a_clock_step_back_never_delays_the_ping_past_one_interval() {
    let mut h = Harness::new(Harness::config());
    h.at(3_600_000).open();
    // A driver fed a wall clock that stepped back an hour.
    h.machine.armed[TimerKind::Ping.index()] = Some(0);
    h.now = 1_000;
    let out = h.input(Input::Timer(TimerKind::Ping));
    let pinged = !Harness::sent(&out).is_empty();
    let rearmed_soon = out
        .iter()
        .any(|c| matches!(c, Command::ArmTimer(TimerKind::Ping, at) if *at <= 2_000));
    assert!(pinged || rearmed_soon, "{out:?}");
}

#[test]
fn timer_inputs_before_their_due_time_do_nothing() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.lose(1006); // Reconnect due at 200
    assert!(h
        .at(10)
        .input(Input::Timer(TimerKind::Reconnect))
        .is_empty());
    assert_eq!(h.machine.timer_due(TimerKind::Reconnect), Some(200));
    assert_eq!(Harness::opens(&h.fire(TimerKind::Reconnect)), 1);
    // Early heartbeat and open timeouts too.
    let mut h = Harness::new(Harness::config());
    h.open();
    assert!(h.at(999).input(Input::Timer(TimerKind::Ping)).is_empty());
    h.fire(TimerKind::Ping);
    assert!(h
        .at(1_499)
        .input(Input::Timer(TimerKind::PongTimeout))
        .is_empty());
    assert_eq!(h.machine.status(), Status::Open);
}

#[test]
fn huge_delays_saturate_instead_of_overflowing() {
    let config = Harness::config()
        .with_open_timeout(Some(u64::MAX))
        .with_reconnect_delays(0, u64::MAX, 2.0)
        .with_jitter(true)
        .with_heartbeat_timing(u64::MAX, u64::MAX)
        .with_close_timeout(Some(u64::MAX));
    let mut h = Harness::new(config);
    h.at(10);
    let out = h.input(Input::Connect);
    assert!(out.contains(&Command::ArmTimer(TimerKind::OpenTimeout, u64::MAX)));
    h.input(Input::Opened);
    for _ in 0..70 {
        h.lose(1006);
        assert!(h.machine.timer_due(TimerKind::Reconnect).unwrap() >= h.now);
        assert_eq!(Harness::opens(&h.fire(TimerKind::Reconnect)), 1);
        h.input(Input::Opened);
    }
    let out = h.machine.close(1000, "", h.now).unwrap();
    assert!(out.contains(&Command::ArmTimer(TimerKind::CloseTimeout, u64::MAX)));
}

#[test]
fn probe_on_resume_pings_at_once() {
    for resume in [Input::Visible, Input::Online, Input::PageShow] {
        let mut h = Harness::new(Harness::config());
        h.open();
        let out = h.at(10).input(resume.clone());
        assert_eq!(Harness::sent(&out), ["ping"], "{resume:?}");
        assert!(out.contains(&Command::ArmTimer(TimerKind::PongTimeout, 510)));
    }
}

#[test]
fn a_late_pong_timeout_probes_once_before_writing_off() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping); // ping at 1 000, pong due at 1 500
                             // The laptop slept: the timer fires a minute late.
    let out = h.at(61_500).input(Input::Timer(TimerKind::PongTimeout));
    assert_eq!(
        Harness::sent(&out),
        ["ping"],
        "asked again, not written off"
    );
    assert_eq!(h.machine.status(), Status::Open);
    assert_eq!(h.machine.timer_due(TimerKind::PongTimeout), Some(62_000));
    // An answer keeps it; silence writes it off within one pong timeout.
    let out = h.fire(TimerKind::PongTimeout);
    assert!(out.contains(&Command::Report(Event::HeartbeatTimeout)));
    assert_eq!(h.now, 62_000);
}

#[test]
fn after_a_late_pong_timeout_each_reply_is_timed_from_its_own_ping_or_not_at_all() {
    let mut h = Harness::new(Harness::config());
    h.open();
    // A ping at 1 000; the laptop slept, and the probe goes at 61 500.
    h.fire(TimerKind::Ping);
    let out = h.at(61_500).input(Input::Timer(TimerKind::PongTimeout));
    assert_eq!(Harness::sent(&out), ["ping"]);
    // The first ping's reply (held by the browser while the page slept) comes first: proof of
    // life, but its time is the wake's, so no round trip is told.
    let out = h.at(61_502).input(Input::Frame(FrameRef::Text("pong")));
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::Report(Event::HeartbeatReply { .. }))),
        "{out:?}"
    );
    assert_eq!(h.machine.stats().rtt_ms, None);
    // The probe's reply is timed from the probe.
    let out = h.at(61_530).input(Input::Frame(FrameRef::Text("pong")));
    assert!(
        out.contains(&Command::Report(Event::HeartbeatReply { rtt_ms: 30 })),
        "{out:?}"
    );
    assert_eq!(h.machine.stats().rtt_ms, Some(30));
}

#[test]
fn a_reply_to_a_ping_whose_time_was_not_kept_is_not_timed_and_later_ones_are_timed_from_their_own()
{
    // Other traffic keeps proving the link alive, so pings go on while their replies lag: more
    // pings are out than the heartbeat keeps times for.
    let mut h = Harness::new(Harness::config());
    h.open();
    let mut pinged_at = Vec::new();
    for _ in 0..6 {
        let out = h.fire(TimerKind::Ping);
        assert_eq!(Harness::sent(&out), ["ping"]);
        pinged_at.push(h.now);
        let now = h.now + 10;
        h.at(now).input(Input::Frame(FrameRef::Text("traffic")));
    }
    let mut told = Vec::new();
    for _ in 0..6 {
        let now = h.now + 7;
        let out = h.at(now).input(Input::Frame(FrameRef::Text("pong")));
        told.push(out.iter().find_map(|c| match c {
            Command::Report(Event::HeartbeatReply { rtt_ms }) => Some(*rtt_ms),
            _ => None,
        }));
    }
    // The first two pings' times were let go: their replies prove life only. Each later reply
    // is timed from its own ping, not from the one before it.
    let start = h.now - 6 * 7;
    let expected: Vec<Option<u64>> = (0..6)
        .map(|i| (i >= 2).then(|| start + 7 * (i as u64 + 1) - pinged_at[i]))
        .collect();
    assert_eq!(told, expected);
}

#[test]
fn a_draining_send_buffer_extends_the_pong_timeout() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.at(900).input(Input::Buffered(5_000_000)); // a big upload under way
    h.fire(TimerKind::Ping);
    h.at(1_500).input(Input::Buffered(4_000_000));
    let out = h.fire(TimerKind::PongTimeout);
    assert!(out.contains(&Command::Report(Event::HeartbeatExtended {
        buffered: 4_000_000
    })));
    assert_eq!(h.machine.status(), Status::Open);
    h.at(2_000).input(Input::Buffered(3_000_000));
    h.fire(TimerKind::PongTimeout);
    assert_eq!(h.machine.status(), Status::Open);
    // Emptied since the last look: one more timeout for the network's own buffers.
    h.at(2_500).input(Input::Buffered(0));
    h.fire(TimerKind::PongTimeout);
    assert_eq!(h.machine.status(), Status::Open);
    // A buffer that stops shrinking is a dead link after all.
    h.at(3_000).input(Input::Buffered(0));
    let out = h.fire(TimerKind::PongTimeout);
    assert!(out.contains(&Command::Report(Event::HeartbeatTimeout)));
}

#[test]
fn a_send_buffer_kept_full_by_a_throttled_upload_still_extends_while_it_drains() {
    // The application tops the buffer up to 1 MB whenever it drains (a throttled upload): the
    // buffer looks no smaller at each look, yet 100 kB went out each time.
    let mut h = Harness::new(Harness::config());
    h.open();
    h.at(900).input(Input::Buffered(1_000_000));
    h.fire(TimerKind::Ping);
    for at in [1_500, 2_000, 2_500] {
        h.machine.send("x".repeat(100_000)).unwrap();
        h.at(at).input(Input::Buffered(1_000_000));
        let out = h.fire(TimerKind::PongTimeout);
        assert!(
            out.contains(&Command::Report(Event::HeartbeatExtended {
                buffered: 1_000_000
            })),
            "at {at}: {out:?}"
        );
    }
    // Topped up, but nothing went out: the buffer holds all it was given. A dead link.
    h.machine.send("x".repeat(100_000)).unwrap();
    h.at(3_000).input(Input::Buffered(1_100_000));
    let out = h.fire(TimerKind::PongTimeout);
    assert!(out.contains(&Command::Report(Event::HeartbeatTimeout)));
}

#[test]
fn an_empty_send_buffer_does_not_extend() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping);
    h.input(Input::Buffered(0));
    let out = h.fire(TimerKind::PongTimeout);
    assert!(out.contains(&Command::Report(Event::HeartbeatTimeout)));
}

#[test]
fn rtt_is_measured_from_the_ping_to_its_own_reply() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.fire(TimerKind::Ping); // at 1 000
    h.at(1_005).input(Input::Frame(FrameRef::Text("chat")));
    let out = h.at(1_040).input(Input::Frame(FrameRef::Text("pong")));
    assert!(out.contains(&Command::Report(Event::HeartbeatReply { rtt_ms: 40 })));
    assert_eq!(h.machine.stats().rtt_ms, Some(40));
    // A reply with no ping out is swallowed and not reported.
    let out = h.at(1_100).input(Input::Frame(FrameRef::Text("pong")));
    assert!(out.is_empty(), "{out:?}");
    // A frame proves the link alive before the reply, and a probe goes (the network back)
    // while the first ping's reply is on its way: each reply is timed from its own ping.
    let ping = Command::Ping("ping".to_string());
    // The timer re-arms itself once from the last frame (the reply above) before it pings.
    let mut fired = h.fire(TimerKind::Ping);
    if !fired.contains(&ping) {
        fired = h.fire(TimerKind::Ping);
    }
    assert!(fired.contains(&ping), "{fired:?}");
    let pinged = h.now;
    h.at(pinged + 5).input(Input::Frame(FrameRef::Text("chat")));
    let probe = h.at(pinged + 10).input(Input::Online);
    assert!(
        probe.contains(&Command::Ping("ping".to_string())),
        "{probe:?}"
    );
    let out = h
        .at(pinged + 40)
        .input(Input::Frame(FrameRef::Text("pong")));
    assert!(
        out.contains(&Command::Report(Event::HeartbeatReply { rtt_ms: 40 })),
        "{out:?}"
    );
    let out = h
        .at(pinged + 60)
        .input(Input::Frame(FrameRef::Text("pong")));
    assert!(
        out.contains(&Command::Report(Event::HeartbeatReply { rtt_ms: 50 })),
        "{out:?}"
    );
}

#[test]
fn an_unread_text_frame_is_read_only_when_its_length_is_the_reply_s() {
    let mut h = Harness::new(Harness::config());
    h.open();
    let reads = std::cell::Cell::new(0);
    let long = || {
        reads.set(reads.get() + 1);
        "a long chat message".to_string()
    };
    let out = h.input(Input::Frame(FrameRef::Unread {
        utf16_len: 19,
        read: &long,
    }));
    assert!(out.contains(&Command::Deliver));
    assert_eq!(reads.get(), 0, "not copied for the comparison");
    h.fire(TimerKind::Ping);
    let pong = || "pong".to_string();
    let out = h.input(Input::Frame(FrameRef::Unread {
        utf16_len: 4,
        read: &pong,
    }));
    assert!(!out.contains(&Command::Deliver), "the reply is swallowed");
    let pang = || "pang".to_string();
    let out = h.input(Input::Frame(FrameRef::Unread {
        utf16_len: 4,
        read: &pang,
    }));
    assert!(out.contains(&Command::Deliver));
}

#[test]
fn visible_while_offline_retries_in_case_online_was_missed() {
    let mut h = Harness::new(Harness::config());
    h.open();
    h.input(Input::Offline);
    h.lose(1006);
    assert_eq!(h.machine.status(), Status::Offline);
    assert_eq!(Harness::opens(&h.at(600_000).input(Input::Visible)), 1);
}

// ---- 0.2: order ----

#[test]
fn frames_sent_on_opened_go_ahead_of_the_outbox() {
    let mut h = Harness::new(Harness::config());
    h.machine.send("queued".into()).unwrap();
    h.input(Input::Connect);
    h.input(Input::Opened);
    // The app's Opened handler sends its greeting: straight out.
    assert_eq!(
        h.machine.send("hello".into()).unwrap(),
        [Command::Send("hello".to_string())]
    );
    assert_eq!(Harness::sent(&h.input(Input::Flush)), ["queued"]);
    // A second flush sends nothing twice.
    assert!(h.input(Input::Flush).is_empty());
}

#[test]
fn a_close_from_the_opened_handler_keeps_the_outbox_from_a_closing_socket() {
    let mut h = Harness::new(Harness::config().with_outbox_kept_on_close(true));
    h.machine.send("queued".into()).unwrap();
    h.input(Input::Connect);
    h.input(Input::Opened);
    h.machine.close(1000, "", h.now).unwrap();
    assert!(Harness::sent(&h.input(Input::Flush)).is_empty());
    assert_eq!(h.machine.queued(), 1);
}
