//! The cross-tab protocol with a fake clock and a fake channel: every tab's core, a bus that
//! hands each post to every other live tab in order, and one log of what went out on sockets.

use super::*;

type Core = SharedCore<String, String>;

/// The takeover time of every tab here, ms (a beat is a quarter of it).
const TAKEOVER: u64 = 400;
const BEAT: u64 = TAKEOVER / 4;

#[derive(Default)]
struct Conn {
    open: bool,
    /// Queued frames, each with whether this tab's application queued it (`send`), as the
    /// machine's outbox tells them apart for `discard_own`.
    outbox: Vec<(String, bool)>,
    open_requests: u32,
    closed_with: Option<(u16, String)>,
    /// Opened, its outbox not flushed yet: other tabs' frames queue behind it (`send_behind`).
    flushing: bool,
}

struct Tab {
    core: Core,
    conn: Option<Conn>,
    reports: Vec<Event>,
    delivered: Vec<String>,
    roles: Vec<Role>,
    /// A steal is planned (`StealIn`, for this time) or asked for (`Steal`).
    steal_planned: Option<u64>,
    steal_asked: bool,
    /// Frozen: what the channel brought waits here, unread.
    frozen: Option<Vec<Wire<String, String>>>,
    /// The code its connection was closed with when it stepped down.
    closed_with: Option<(u16, String)>,
    /// Out of the lock's queue (its application closed).
    withdrawn: bool,
}

struct World {
    tabs: Vec<Option<Tab>>,
    bus: VecDeque<(usize, Wire<String, String>)>,
    /// Every frame that went out on any socket, in order: what the server sees.
    server: Vec<String>,
    now: u64,
    /// The tab holding the lock, and the tabs whose lock was stolen and who have not heard.
    lock: Option<usize>,
    stolen_from: Vec<usize>,
}

impl World {
    fn new(tabs: usize) -> Self {
        Self::with_limits(tabs, OutboxLimits::default())
    }

    fn with_limits(tabs: usize, limits: OutboxLimits) -> Self {
        Self {
            tabs: (0..tabs)
                .map(|i| {
                    Some(Tab {
                        core: SharedCore::new(100 + i as u64, limits).with_takeover(TAKEOVER),
                        conn: None,
                        reports: Vec::new(),
                        delivered: Vec::new(),
                        roles: Vec::new(),
                        steal_planned: None,
                        steal_asked: false,
                        frozen: None,
                        closed_with: None,
                        withdrawn: false,
                    })
                })
                .collect(),
            bus: VecDeque::new(),
            server: Vec::new(),
            now: 0,
            lock: None,
            stolen_from: Vec::new(),
        }
    }

    fn tab(&mut self, i: usize) -> &mut Tab {
        self.tabs[i].as_mut().expect("a live tab")
    }

    fn execute(&mut self, i: usize, actions: Vec<Action<String, String>>) {
        for action in actions {
            match action {
                Action::Post(wire) => self.bus.push_back((i, wire)),
                Action::Transmit { tab, seq, payload } => {
                    let open = self.tab(i).conn.as_ref().is_some_and(|c| c.open);
                    if open {
                        let conn = self.tab(i).conn.as_mut().expect("open");
                        if conn.flushing && !conn.outbox.is_empty() {
                            conn.outbox.push((payload, false));
                        } else {
                            self.server.push(payload);
                        }
                        let more = self.tab(i).core.transmitted(tab, seq, None);
                        self.execute(i, more);
                    } else {
                        self.tab(i).core.not_writable(tab, seq, payload);
                    }
                }
                Action::Lead => self.tab(i).conn = Some(Conn::default()),
                Action::SendOwn(payload) => self.send_on_conn(i, payload),
                Action::Open => {
                    if let Some(conn) = self.tab(i).conn.as_mut() {
                        conn.open_requests += 1;
                        conn.closed_with = None;
                    }
                }
                Action::DiscardOwn => {
                    if let Some(conn) = self.tab(i).conn.as_mut() {
                        let before = conn.outbox.len();
                        conn.outbox.retain(|(_, own)| !own);
                        let frames = before - conn.outbox.len();
                        if frames > 0 {
                            self.tab(i).reports.push(Event::Discarded { frames });
                        }
                    }
                }
                Action::Close { code, reason } => {
                    if let Some(conn) = self.tab(i).conn.as_mut() {
                        conn.open = false;
                        conn.closed_with = Some((code, reason));
                    }
                }
                Action::Report(event) => self.tab(i).reports.push(event),
                Action::Deliver(frame) => self.tab(i).delivered.push(frame),
                Action::Role(role) => self.tab(i).roles.push(role),
                Action::StealIn { after_ms } => {
                    let at = self.now + after_ms;
                    self.tab(i).steal_planned = Some(at);
                }
                Action::Steal => self.tab(i).steal_asked = true,
                Action::Adopt(frames) => {
                    let conn = self
                        .tab(i)
                        .conn
                        .as_mut()
                        .expect("a leader has a connection");
                    if conn.open && !conn.flushing {
                        self.server.extend(frames);
                    } else {
                        conn.outbox
                            .splice(0..0, frames.into_iter().map(|frame| (frame, false)));
                    }
                }
                Action::StepDown {
                    code,
                    reason,
                    hand_over,
                    held,
                } => {
                    let mut rest = self.take_conn(i);
                    rest.extend(held);
                    self.tab(i).closed_with = Some((code, reason));
                    self.pass_on(i, rest, hand_over);
                }
                Action::Withdraw => {
                    if self.lock == Some(i) {
                        self.lock = None;
                    }
                    self.tab(i).withdrawn = true;
                }
                Action::Resign { hand_over } => {
                    let unsent = self.take_conn(i);
                    self.pass_on(i, unsent, hand_over);
                }
            }
        }
    }

    /// Takes tab `i`'s connection away; what its outbox still held, oldest first.
    fn take_conn(&mut self, i: usize) -> Vec<String> {
        self.tab(i)
            .conn
            .take()
            .map(|conn| conn.outbox.into_iter().map(|(frame, _)| frame).collect())
            .unwrap_or_default()
    }

    /// As the driver does: what a leader stepping aside held goes to the next leader (a copy
    /// kept) or back to its own core.
    fn pass_on(&mut self, i: usize, frames: Vec<String>, hand_over: bool) {
        if !hand_over {
            let more = self.tab(i).core.adopt_own(frames);
            self.execute(i, more);
        } else if !frames.is_empty() {
            let tab = self.tab(i).core.tab();
            self.bus.push_back((
                i,
                Wire::Orphans {
                    tab,
                    frames: frames.clone(),
                },
            ));
            self.tab(i).core.keep_handed_over(frames);
        }
    }

    fn send_on_conn(&mut self, i: usize, payload: String) {
        let conn = self
            .tab(i)
            .conn
            .as_mut()
            .expect("a leader has a connection");
        if conn.open {
            self.server.push(payload);
        } else {
            conn.outbox.push((payload, true));
        }
    }

    /// Hands every post to every other live tab, until the bus is empty.
    fn run(&mut self) {
        while let Some((from, wire)) = self.bus.pop_front() {
            for to in 0..self.tabs.len() {
                if to == from || self.tabs[to].is_none() {
                    continue;
                }
                if let Some(held) = self.tab(to).frozen.as_mut() {
                    held.push(wire.clone());
                    continue;
                }
                let now = self.now;
                let actions = self.tab(to).core.handle(wire.clone(), now);
                self.execute(to, actions);
            }
        }
    }

    fn promote(&mut self, i: usize) {
        assert!(
            self.tab(i).core.wants_lead(),
            "tab {i} is out of the lock's queue"
        );
        self.lock = Some(i);
        let now = self.now;
        let actions = self.tab(i).core.promote(now);
        self.execute(i, actions);
        self.run();
    }

    fn open(&mut self, i: usize) {
        self.tab(i).withdrawn = false;
        let now = self.now;
        let actions = self.tab(i).core.open(now);
        self.execute(i, actions);
        self.run();
    }

    /// The application of tab `i` sends: the leader on its connection, a follower through the core.
    fn send(&mut self, i: usize, text: &str) {
        if self.tab(i).core.is_leader() {
            self.send_on_conn(i, text.into());
        } else {
            let actions = self.tab(i).core.send(text.into()).expect("accepted");
            self.execute(i, actions);
        }
        self.run();
    }

    /// The leader's connection reports an event.
    fn event(&mut self, i: usize, event: Event) {
        let actions = self.tab(i).core.relay_event(event);
        self.execute(i, actions);
        self.run();
    }

    /// The leader's socket opens. As the real driver does it: `Opened` is told first (the
    /// leader's greeting, sent from its handler, goes first); other tabs' frames passed on
    /// meanwhile queue behind the outbox, which is flushed after the notices.
    fn connect(&mut self, i: usize) {
        let conn = self.tab(i).conn.as_mut().expect("a connection");
        conn.open = true;
        conn.flushing = true;
        self.event(i, Event::Status(Status::Open));
        self.event(i, Event::Opened);
        let conn = self.tab(i).conn.as_mut().expect("a connection");
        conn.flushing = false;
        let queued: Vec<String> = conn.outbox.drain(..).map(|(frame, _)| frame).collect();
        self.server.extend(queued);
    }

    /// The leader's socket ends holding its last `held` frames unsent (`bufferedAmount`): the
    /// driver puts them back at the head of its outbox, for the next connection.
    fn lose_holding(&mut self, i: usize, held: usize) {
        let unsent = self.server.split_off(self.server.len() - held);
        let conn = self.tab(i).conn.as_mut().expect("a connection");
        // Whose they were is not known any more: they count as others'.
        conn.outbox
            .splice(0..0, unsent.into_iter().map(|frame| (frame, false)));
        self.lose(i);
    }

    /// The leader's socket is lost (the connection will retry).
    fn lose(&mut self, i: usize) {
        self.tab(i).conn.as_mut().expect("a connection").open = false;
        self.event(
            i,
            Event::Status(Status::Reconnecting {
                attempt: 1,
                next_at_ms: 1_000,
            }),
        );
    }

    /// The tab vanishes without a word (crash, or closed with the lock released).
    fn tick(&mut self, i: usize) -> Vec<Action<String, String>> {
        let now = self.now;
        self.tab(i).core.tick(now)
    }

    fn kill(&mut self, i: usize) {
        self.tabs[i] = None;
    }

    /// The leading tab goes away (its handle dropped), as the driver does it: what its own
    /// application queued is dropped, what is left of the outbox (given back by a dead socket)
    /// handed over, then it resigns and lets the lock go. Its posts are read after it is gone.
    fn leave(&mut self, i: usize) {
        let tab = self.tab(i).core.tab();
        let orphans: Vec<String> = self
            .tab(i)
            .conn
            .take()
            .map(|conn| {
                conn.outbox
                    .into_iter()
                    .filter(|(_, own)| !own)
                    .map(|(frame, _)| frame)
                    .collect()
            })
            .unwrap_or_default();
        if !orphans.is_empty() {
            self.bus.push_back((
                i,
                Wire::Orphans {
                    tab,
                    frames: orphans,
                },
            ));
        }
        self.bus.push_back((i, Wire::Resign { tab }));
        self.kill(i);
        self.lock = None;
    }

    fn close(&mut self, i: usize, code: u16) {
        let actions = self.tab(i).core.close(code, "bye").expect("valid");
        self.execute(i, actions);
        self.run();
    }

    /// How tab `i`'s connection was closed: the one it has, or the one it closed stepping down.
    fn closed_with(&mut self, i: usize) -> Option<(u16, String)> {
        let tab = self.tab(i);
        match tab.conn.as_ref() {
            Some(conn) => conn.closed_with.clone(),
            None => tab.closed_with.clone(),
        }
    }

    /// Tab `i`'s loop stops: the channel's messages wait for it, its timers do not run.
    fn freeze(&mut self, i: usize) {
        self.tab(i).frozen = Some(Vec::new());
    }

    /// Tab `i`'s loop runs again: it finds old messages in its queue (so it knows it was
    /// stopped), reads them in order, and only then learns that its lock was stolen, if it was
    /// (the worst order for it).
    fn thaw(&mut self, i: usize) {
        let held = self.tab(i).frozen.take().unwrap_or_default();
        let now = self.now;
        if !held.is_empty() {
            let actions = self.tab(i).core.was_stopped(now);
            self.execute(i, actions);
        }
        for wire in held {
            let actions = self.tab(i).core.handle(wire, now);
            self.execute(i, actions);
        }
        self.run();
        self.deliver_stolen();
    }

    /// Tells the tabs whose lock was stolen and who are not frozen.
    fn deliver_stolen(&mut self) {
        let stolen: Vec<usize> = self.stolen_from.drain(..).collect();
        for i in stolen {
            if self.tabs[i].is_none() {
                continue;
            }
            if self.tab(i).frozen.is_some() {
                self.stolen_from.push(i);
                continue;
            }
            let now = self.now;
            let actions = self.tab(i).core.demote(now);
            self.execute(i, actions);
            self.run();
        }
    }

    /// Tab `i`'s steal is granted: the lock is taken from its holder.
    fn grant_steal(&mut self, i: usize) {
        self.tab(i).steal_asked = false;
        if let Some(holder) = self.lock {
            self.stolen_from.push(holder);
        }
        self.promote(i);
        self.deliver_stolen();
    }

    /// One beat, in steps of a quarter beat: every live, unfrozen tab ticks on the beat;
    /// planned steals come due at their time, and are granted at once (announcing the new
    /// leader before the next step).
    fn beat(&mut self) {
        for _ in 0..4 {
            self.now += BEAT / 4;
            let now = self.now;
            if now.is_multiple_of(BEAT) {
                for i in 0..self.tabs.len() {
                    if self.tabs[i].is_none() || self.tab(i).frozen.is_some() {
                        continue;
                    }
                    let actions = self.tab(i).core.tick(now);
                    self.execute(i, actions);
                    self.run();
                }
            }
            for i in 0..self.tabs.len() {
                let due = self.tabs[i]
                    .as_ref()
                    .and_then(|t| t.steal_planned)
                    .is_some_and(|at| at <= now);
                if !due || self.tab(i).frozen.is_some() {
                    continue;
                }
                self.tab(i).steal_planned = None;
                let actions = self.tab(i).core.steal_due(now);
                self.execute(i, actions);
                if self.tab(i).steal_asked {
                    self.grant_steal(i);
                }
            }
        }
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|i| self.tabs[*i].as_ref().is_some_and(|t| t.core.is_leader()))
            .collect()
    }

    /// Leader 0 elected, every tab open, the socket open.
    /// Tab 0 leads without ever being opened by its application (a handle made with `new`,
    /// not opened yet); the others are open, and its socket is open for them.
    fn headless(tabs: usize) -> Self {
        let mut world = Self::new(tabs);
        world.promote(0);
        for i in 1..tabs {
            world.open(i);
        }
        world.connect(0);
        world
    }

    fn started(tabs: usize) -> Self {
        let mut world = Self::new(tabs);
        world.promote(0);
        for i in 0..tabs {
            world.open(i);
        }
        world.connect(0);
        world
    }
}

fn sent_by<'a>(server: &'a [String], prefix: &str) -> Vec<&'a str> {
    server
        .iter()
        .filter(|f| f.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

#[test]
fn three_tabs_share_one_socket_and_follower_frames_go_out_once_in_order() {
    let mut world = World::started(3);
    for n in 0..5 {
        world.send(1, &format!("a{n}"));
        world.send(2, &format!("b{n}"));
    }
    world.send(0, "leader");
    assert_eq!(sent_by(&world.server, "a"), ["a0", "a1", "a2", "a3", "a4"]);
    assert_eq!(sent_by(&world.server, "b"), ["b0", "b1", "b2", "b3", "b4"]);
    assert_eq!(world.server.len(), 11);
    assert_eq!(
        (world.tab(1).core.unacked(), world.tab(2).core.unacked()),
        (0, 0)
    );
    assert_eq!(world.tab(0).core.subscribers(), 2);
    assert!(world.tab(1).conn.is_none() && world.tab(2).conn.is_none());
    assert_eq!(world.tab(1).roles, [Role::Follower]);
    assert_eq!(world.tab(0).roles, [Role::Leader]);
}

#[test]
fn every_inbound_frame_reaches_every_tab_once() {
    let mut world = World::started(3);
    let actions = world.tab(0).core.relay_frame("hello".into());
    world.execute(0, actions);
    world.run();
    for i in 0..3 {
        assert_eq!(world.tab(i).delivered, ["hello"], "tab {i}");
    }
}

#[test]
fn frames_sent_before_the_leader_is_known_wait_and_go_in_order() {
    let mut world = World::new(2);
    world.open(1);
    world.send(1, "early-1");
    world.send(1, "early-2");
    assert!(world.server.is_empty());
    world.promote(0);
    world.open(0);
    world.connect(0);
    assert_eq!(world.server, ["early-1", "early-2"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
}

#[test]
fn closing_the_leader_hands_over_with_no_frame_lost_or_doubled() {
    let mut world = World::started(3);
    // Acknowledged by the old leader: must never be sent again.
    world.send(1, "a1");
    world.send(2, "b1");
    // The socket drops; frames now wait at the leader, unacknowledged.
    world.lose(0);
    world.send(1, "a2");
    world.send(2, "b2");
    world.send(1, "a3");
    assert_eq!(world.tab(1).core.unacked(), 2);
    // The leader tab closes; tab 1 takes the lock.
    world.kill(0);
    world.promote(1);
    world.send(1, "a4"); // its own, on its own connection
    world.send(2, "b3");
    world.connect(1);
    assert_eq!(sent_by(&world.server, "a"), ["a1", "a2", "a3", "a4"]);
    assert_eq!(sent_by(&world.server, "b"), ["b1", "b2", "b3"]);
    assert_eq!(world.tab(2).core.unacked(), 0);
    assert_eq!(world.tab(2).roles, [Role::Follower, Role::Follower]);
}

#[test]
fn a_frame_addressed_to_the_old_leader_is_not_sent_by_the_new_one() {
    let mut world = World::started(3);
    // Tab 1 posts a frame for leader 100 that tab 2 sees only after it became leader.
    let stale = Wire::Send {
        tab: 101,
        to: 100,
        seq: 1,
        payload: "a1".to_string(),
    };
    world.kill(0);
    world.promote(2);
    world.connect(2);
    let actions = world.tab(2).core.handle(stale, 0);
    world.execute(2, actions);
    world.run();
    assert!(world.server.is_empty(), "sent: {:?}", world.server);
}

#[test]
fn a_resend_to_the_same_leader_is_acknowledged_but_not_sent_twice() {
    let mut world = World::started(2);
    world.lose(0);
    world.send(1, "a1");
    world.send(1, "a2");
    // open() again re-subscribes and posts the unacknowledged frames again.
    world.open(1);
    world.connect(0);
    assert_eq!(world.server, ["a1", "a2"]);
    // And once more after they went out: acknowledged again, nothing sent.
    let resend = Wire::Send {
        tab: 101,
        to: 100,
        seq: 1,
        payload: "a1".to_string(),
    };
    let actions = world.tab(0).core.handle(resend, 0);
    assert_eq!(
        actions,
        [Action::Post(Wire::Ack {
            tab: 101,
            seq: 1,
            error: None
        })]
    );
    assert_eq!(world.server, ["a1", "a2"]);
}

#[test]
fn frames_the_socket_could_not_take_wait_in_order_for_the_next_open() {
    let mut world = World::started(2);
    // The driver found the socket CLOSING (the server began closing): not writable.
    world.tab(0).conn.as_mut().unwrap().open = false;
    world.send(1, "a1");
    world.send(1, "a2");
    world.send(1, "a3");
    assert!(world.server.is_empty());
    world.lose(0);
    world.connect(0);
    assert_eq!(world.server, ["a1", "a2", "a3"]);
}

#[test]
fn a_tab_close_ends_its_subscription_and_the_last_tab_closes_the_socket() {
    let mut world = World::headless(3);
    world.close(1, 1000);
    assert_eq!(world.closed_with(0), None, "tab 2 still wants it");
    assert!(world
        .tab(1)
        .reports
        .contains(&Event::Status(Status::Stopped)));
    // Still open for tab 2, whose frames still flow.
    world.send(2, "b1");
    assert_eq!(world.server, ["b1"]);
    world.close(2, 4000);
    assert_eq!(world.closed_with(0), Some((4000, "bye".into())));
    // A closed tab's sends are refused, not queued for ever.
    assert!(matches!(
        world.tab(1).core.send("late".into()),
        Err(SendError::NotOpen { .. })
    ));
}

#[test]
fn a_leaders_close_hands_the_lead_to_a_tab_that_still_wants_the_connection() {
    let mut world = World::started(3);
    world.close(0, 1000);
    // Its socket closes and it leaves the lock: a tab whose application is there leads, and
    // greets the server on a connection of its own.
    assert_eq!(world.closed_with(0), Some((1000, "bye".into())));
    assert!(world.tab(0).withdrawn);
    assert!(!world.tab(0).core.is_leader());
    assert_eq!(world.tab(0).core.status(), Status::Stopped);
    world.send(1, "a1");
    world.promote(1);
    world.connect(1);
    world.send(2, "b1");
    assert_eq!(world.server, ["a1", "b1"]);
    assert_eq!(world.leaders(), [1]);
    // Opened again, the tab follows the new leader.
    world.open(0);
    assert!(world.tab(0).core.wants_lead());
    world.send(0, "c1");
    assert_eq!(world.server, ["a1", "b1", "c1"]);
    assert_eq!(world.tab(0).core.status(), Status::Open);
    assert_eq!(world.leaders(), [1]);
}

#[test]
fn a_tab_closed_before_it_was_ever_opened_stops_and_drops_what_it_queued() {
    let mut tab = Core::new(7, OutboxLimits::default());
    tab.send("before the close".into()).unwrap();
    let out = tab.close(4000, "logged out").unwrap();
    assert!(out.contains(&Action::Report(Event::Discarded { frames: 1 })));
    assert!(out.contains(&Action::Report(Event::Status(Status::Stopped))));
    assert_eq!(tab.status(), Status::Stopped);
    assert_eq!(
        tab.send("after the close".into()),
        Err(SendError::NotOpen {
            status: Status::Stopped
        })
    );
    // A later open sends nothing from before the close.
    tab.open(0);
    assert_eq!(tab.unacked(), 0);
    // A tab granted the lead before its first open holds its frames on its connection: they
    // are dropped there.
    let mut tab = Core::new(8, OutboxLimits::default());
    tab.send("before the close".into()).unwrap();
    tab.promote(0);
    let out = tab.close(4000, "logged out").unwrap();
    assert!(out.contains(&Action::DiscardOwn), "{out:?}");
    assert_eq!(tab.status(), Status::Stopped);
}

#[test]
fn a_follower_that_reopens_reopens_the_socket() {
    let mut world = World::headless(2);
    world.close(1, 1000);
    assert!(world.closed_with(0).is_some());
    let requests = world.tab(0).conn.as_ref().unwrap().open_requests;
    world.open(1);
    assert_eq!(
        world.tab(0).conn.as_ref().unwrap().open_requests,
        requests + 1
    );
}

#[test]
fn close_for_all_stops_every_tab_and_the_socket() {
    let mut world = World::started(3);
    let actions = world.tab(2).core.close_all(4001, "logout").unwrap();
    world.execute(2, actions);
    world.run();
    assert_eq!(world.closed_with(0), Some((4001, "logout".into())));
    for i in 0..3 {
        assert_eq!(world.tab(i).core.status(), Status::Stopped, "tab {i}");
    }
    assert!(world.tab(1).core.close_all(1001, "").is_err(), "validated");
}

#[test]
fn a_crashed_follower_stops_keeping_the_socket_after_its_lease() {
    let mut world = World::headless(3);
    world.close(1, 1000);
    world.kill(2); // never says goodbye
    world.now = LEASE_MS - 1;
    let actions = world.tick(0);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Close { .. })),
        "the lease has not run out"
    );
    world.now = LEASE_MS;
    let actions = world.tick(0);
    world.execute(0, actions);
    assert_eq!(world.closed_with(0).map(|c| c.0), Some(1000));
}

#[test]
fn a_live_follower_keeps_its_lease() {
    let mut world = World::headless(2);
    for step in 1..=5 {
        world.now = step * ALIVE_MS * 5;
        let alive = world.tick(1);
        world.execute(1, alive);
        world.run();
        let leader = world.tick(0);
        assert!(!leader.iter().any(|a| matches!(a, Action::Close { .. })));
    }
    assert_eq!(world.tab(0).core.subscribers(), 1);
}

#[test]
fn status_and_rtt_are_mirrored_to_followers() {
    let mut world = World::started(2);
    assert_eq!(world.tab(1).core.status(), Status::Open);
    world.event(0, Event::HeartbeatReply { rtt_ms: 42 });
    assert_eq!(world.tab(1).core.rtt_ms(), Some(42));
    assert!(world
        .tab(1)
        .reports
        .contains(&Event::HeartbeatReply { rtt_ms: 42 }));
    world.lose(0);
    assert!(matches!(
        world.tab(1).core.status(),
        Status::Reconnecting { .. }
    ));
    // A status is told once per change.
    let opens = world
        .tab(1)
        .reports
        .iter()
        .filter(|e| **e == Event::Status(Status::Open))
        .count();
    assert_eq!(opens, 1);
}

#[test]
fn a_follower_outbox_is_bounded_and_says_so() {
    let mut world = World::with_limits(
        2,
        OutboxLimits {
            max_frames: 2,
            max_bytes: 1_000,
        },
    );
    world.open(1);
    world.send(1, "1");
    world.send(1, "2");
    assert_eq!(
        world.tab(1).core.send("3".into()),
        Err(SendError::OutboxFull { max_frames: 2 })
    );
}

#[test]
fn a_refused_frame_is_reported_to_its_follower() {
    let mut world = World::started(2);
    world.execute(
        0,
        vec![Action::Post(Wire::Ack {
            tab: 101,
            seq: 1,
            error: Some("too big".into()),
        })],
    );
    world.tab(1).core.send("x".into()).unwrap();
    world.run();
    assert!(world.tab(1).reports.contains(&Event::SendFailed {
        error: "too big".into()
    }));
}

#[test]
fn a_frozen_leader_is_replaced_by_one_follower_within_the_takeover_bound_and_nothing_goes_twice() {
    let mut world = World::started(4);
    world.lock = Some(0);
    world.send(1, "a1");
    world.send(2, "b1");
    world.freeze(0);
    let frozen_at = world.now;
    // Handed to the frozen leader, which never reads them.
    world.send(1, "a2");
    world.send(2, "b2");
    world.send(3, "c1");
    let mut took_over_at = None;
    while world.now < frozen_at + 10 * TAKEOVER {
        world.beat();
        let leaders: Vec<usize> = world.leaders().into_iter().filter(|l| *l != 0).collect();
        assert!(leaders.len() <= 1, "one new leader: {leaders:?}");
        if let [new] = leaders[..] {
            took_over_at.get_or_insert((new, world.now));
            break;
        }
    }
    let (new, at) = took_over_at.expect("a follower took over");
    // The last word was at `frozen_at`; a follower steals between 1 and 1.5 takeover times.
    assert!(
        at - frozen_at >= TAKEOVER && at - frozen_at <= TAKEOVER * 3 / 2 + BEAT,
        "took over {} ms after the last beat",
        at - frozen_at
    );
    world.connect(new);
    for i in 1..4 {
        if i != new {
            world.send(i, &format!("{}3", ["", "a", "b", "c"][i]));
        }
    }
    // The old leader wakes up with its socket still open, reads what waited, then finds its
    // lock gone: it must not send what the followers gave to the new leader.
    world.thaw(0);
    for _ in 0..4 {
        world.beat();
    }
    assert_eq!(world.leaders(), [new], "the old leader stepped down");
    assert!(world.tab(0).conn.is_none(), "its connection is gone");
    let mut expected = vec![vec!["a1", "a2"], vec!["b1", "b2"], vec!["c1"]];
    for (i, frames) in expected.iter_mut().enumerate() {
        if i + 1 != new {
            frames.push(["a3", "b3", "c3"][i]);
        }
    }
    for (prefix, frames) in ["a", "b", "c"].iter().zip(&expected) {
        assert_eq!(
            &sent_by(&world.server, prefix),
            frames,
            "{prefix}: once each, in order"
        );
    }
    for i in 1..4 {
        assert_eq!(world.tab(i).core.unacked(), 0, "tab {i}");
    }
    // The old leader follows the new one, and its sends go through it.
    world.send(0, "z1");
    assert_eq!(sent_by(&world.server, "z"), ["z1"]);
}

#[test]
fn two_followers_stealing_at_once_leave_one_leader_and_every_frame_once() {
    let mut world = World::started(3);
    world.lock = Some(0);
    world.freeze(0);
    world.send(1, "a1");
    world.send(2, "b1");
    // Both plan to steal.
    while !(world.tab(1).steal_planned.is_some() && world.tab(2).steal_planned.is_some()) {
        world.now += BEAT;
        let now = world.now;
        for i in 1..3 {
            let actions = world.tab(i).core.tick(now);
            world.execute(i, actions);
            world.run();
        }
        assert!(world.now < 10 * TAKEOVER);
    }
    // Tab 1's news comes late: both waits end before either steal is granted: both ask.
    world.now += TAKEOVER;
    for i in 1..3 {
        world.tab(i).steal_planned = None;
        let now = world.now;
        let actions = world.tab(i).core.steal_due(now);
        world.execute(i, actions);
        assert!(world.tab(i).steal_asked, "tab {i} steals");
    }
    world.grant_steal(1);
    world.connect(1);
    world.send(2, "b2");
    // The last steal wins: tab 1's lock is taken, it steps down.
    world.grant_steal(2);
    world.connect(2);
    world.send(1, "a2");
    world.thaw(0);
    for _ in 0..4 {
        world.beat();
    }
    assert_eq!(world.leaders(), [2]);
    assert_eq!(sent_by(&world.server, "a"), ["a1", "a2"]);
    assert_eq!(sent_by(&world.server, "b"), ["b1", "b2"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
}

#[test]
fn a_live_leader_whose_timers_are_throttled_answers_and_keeps_the_lead_and_its_backoff() {
    let mut world = World::started(2);
    // Its connection lost, a reconnect waits its backoff.
    world.lose(0);
    let requests = world.tab(0).conn.as_ref().unwrap().open_requests;
    // The leader's timers never run (a hidden tab throttled to a tick a minute), but it reads
    // the channel: a follower's question, every half takeover time, is answered at once.
    for _ in 0..40 {
        world.now += BEAT;
        let now = world.now;
        let actions = world.tab(1).core.tick(now);
        world.execute(1, actions);
        world.run();
        assert!(
            world.tab(1).steal_planned.is_none(),
            "no takeover at {now} ms"
        );
    }
    assert_eq!(world.leaders(), [0]);
    assert_eq!(
        world.tab(0).conn.as_ref().unwrap().open_requests,
        requests,
        "a question reopened the connection at once (no backoff, never Unreachable)"
    );
}

/// Two tabs; the leader (0) stopped for a beat while its follower sent "a1"; thawed, it holds
/// the frame (nobody may have taken over yet).
fn leader_stopped_for_a_beat_with_a_followers_frame() -> World {
    let mut world = World::started(2);
    world.lock = Some(0);
    world.freeze(0);
    world.send(1, "a1");
    world.now += BEAT;
    world.thaw(0);
    assert!(
        world.server.is_empty(),
        "held: nobody may have taken over yet"
    );
    world
}

#[test]
fn a_throttled_leaders_hold_ends_with_the_next_channel_message() {
    let mut world = leader_stopped_for_a_beat_with_a_followers_frame();
    // Its timers now throttled: no tick for a minute. Two beats on, the follower's next word
    // (here its next frame) ends the hold.
    world.now += 2 * BEAT;
    world.send(1, "a2");
    assert_eq!(world.server, ["a1", "a2"]);
}

#[test]
fn a_leader_stopped_briefly_holds_followers_frames_for_two_beats_then_sends_them_once() {
    let mut world = leader_stopped_for_a_beat_with_a_followers_frame();
    world.beat();
    world.beat();
    world.beat();
    assert_eq!(world.server, ["a1"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
    assert_eq!(world.leaders(), [0]);
}

#[test]
fn a_leader_that_hears_a_newer_leader_steps_down_and_hands_back_its_unsent_frames() {
    let mut world = World::started(2);
    world.lose(0);
    // The leader's own frame, queued on its connection while it reconnects.
    world.send(0, "own");
    let newer = Wire::Leader {
        tab: 101,
        epoch: 9,
        status: Status::Open,
        rtt_ms: None,
        last_close: None,
    };
    let actions = world.tab(0).core.handle(newer, 0);
    world.execute(0, actions);
    assert!(!world.tab(0).core.is_leader());
    assert!(world.tab(0).conn.is_none());
    // Kept for the next leader, not lost.
    assert_eq!(world.tab(0).core.unacked(), 1);
    assert_eq!(world.tab(0).roles, [Role::Leader]);
}

#[test]
fn a_former_leaders_socket_is_not_heard_by_the_followers_of_the_new_one() {
    let mut world = World::started(3);
    world.lock = Some(0);
    world.freeze(0);
    while world.leaders().len() < 2 {
        world.beat();
        assert!(world.now < 10 * TAKEOVER, "a follower took over");
    }
    let new = world.leaders()[1];
    world.connect(new);
    let other = 3 - new;
    // The thawed leader's first task: its old socket's loss (the server replaced it), and a
    // frame it had received; it has not heard of the new leader yet.
    world.tab(0).frozen = None;
    world.lose(0);
    let actions = world.tab(0).core.relay_frame("stale".into());
    world.execute(0, actions);
    world.run();
    assert_eq!(world.tab(other).core.status(), Status::Open);
    assert!(world.tab(other).delivered.is_empty());
}

#[test]
fn followers_noticing_at_once_steal_in_turn_by_tab_id_and_only_the_first_does() {
    let mut world = World::started(4);
    world.lock = Some(0);
    world.freeze(0);
    let mut planned = [None; 4];
    while world.leaders().len() < 2 {
        world.beat();
        for (i, at) in planned.iter_mut().enumerate().skip(1) {
            *at = at.or(world.tab(i).steal_planned);
        }
        assert!(world.now < 10 * TAKEOVER, "a follower took over");
    }
    // Tab 1 (the lowest id) first, the others half a beat apart after it; only tab 1 stole.
    assert_eq!(world.leaders(), [0, 1]);
    let (first, second, third) = (
        planned[1].unwrap(),
        planned[2].unwrap(),
        planned[3].unwrap(),
    );
    assert_eq!((second - first, third - first), (BEAT / 2, BEAT));
    for _ in 0..8 {
        world.beat();
    }
    assert!(!world.tab(2).core.is_leader() && !world.tab(3).core.is_leader());
    assert!(!world.tab(2).steal_asked && !world.tab(3).steal_asked);
}

#[test]
fn a_leader_that_goes_says_so_and_followers_keep_their_frames_for_the_next() {
    let mut world = World::started(3);
    world.lose(0);
    world.send(1, "a1");
    // The leader's handle drops: it resigns on the channel before its lock goes.
    world.bus.push_back((0, Wire::Resign { tab: 100 }));
    world.kill(0);
    world.run();
    // Frames written now are kept, not posted to a leader that is gone.
    let posted = world.tab(1).core.send("a2".into()).unwrap();
    assert!(posted.is_empty(), "{posted:?}");
    world.execute(1, posted);
    world.promote(2);
    world.connect(2);
    assert_eq!(sent_by(&world.server, "a"), ["a1", "a2"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
}

#[test]
fn freezing_hands_the_lead_over_only_when_another_tab_could_take_it() {
    // Alone, a leader keeps its socket: nobody could take it over.
    let mut alone = World::started(1);
    let actions = alone.tab(0).core.freezing(0);
    assert!(actions.is_empty(), "{actions:?}");
    assert!(alone.tab(0).core.is_leader());

    let mut world = World::started(3);
    world.lose(0);
    world.send(0, "own1");
    world.send(1, "a1");
    // The browser says it will freeze the leader: it resigns before the followers' takeover
    // time has even begun, and its lock goes to the next in the queue.
    let now = world.now;
    let actions = world.tab(0).core.freezing(now);
    world.execute(0, actions);
    world.run();
    assert!(!world.tab(0).core.is_leader());
    world.promote(1);
    world.connect(1);
    world.send(2, "b1");
    assert_eq!(sent_by(&world.server, "own"), ["own1"]);
    assert_eq!(sent_by(&world.server, "a"), ["a1"]);
    assert_eq!(sent_by(&world.server, "b"), ["b1"]);
    assert_eq!(world.leaders(), [1]);
}

#[test]
fn a_leader_about_to_freeze_hands_what_its_dead_socket_held_to_the_next_leader() {
    let mut world = World::started(3);
    world.send(2, "b0");
    // The socket dies holding the follower's frame (acknowledged already), and the leader
    // queues one of its own.
    world.lose_holding(0, 1);
    world.send(0, "own1");
    let now = world.now;
    let actions = world.tab(0).core.freezing(now);
    world.execute(0, actions);
    // Frozen from here on (and perhaps discarded by the browser): it sends nothing more.
    world.freeze(0);
    world.run();
    world.promote(1);
    world.connect(1);
    world.run();
    assert_eq!(sent_by(&world.server, "b"), ["b0"]);
    assert_eq!(sent_by(&world.server, "own"), ["own1"]);
}

#[test]
fn a_leaders_close_drops_its_own_queued_frames_and_the_next_leader_sends_the_others() {
    let mut world = World::started(3);
    world.send(2, "b0");
    // The socket dies holding the follower's frame (acknowledged already).
    world.lose_holding(0, 1);
    world.send(0, "a1");
    world.send(1, "b1");
    world.close(0, 1000);
    assert!(world
        .tab(0)
        .reports
        .contains(&Event::Discarded { frames: 1 }));
    world.promote(1);
    world.connect(1);
    assert_eq!(world.server, ["b0", "b1"]);
}

#[test]
fn a_leader_that_keeps_its_outbox_on_close_sends_its_frames_at_the_next_open() {
    for tabs in [1, 2] {
        let mut world = World::started(tabs);
        let leader = world.tab(0);
        let core = std::mem::replace(&mut leader.core, Core::new(0, Default::default()));
        leader.core = core.with_kept_on_close(true);
        world.lose(0);
        world.send(0, "a1");
        world.close(0, 1000);
        assert!(world
            .tab(0)
            .reports
            .iter()
            .all(|r| !matches!(r, Event::Discarded { .. })));
        // Alone, it keeps them for its own next open; else they go out on the connection the
        // other tab leads now, as on the one they were queued on.
        let next = tabs - 1;
        if next == 0 {
            world.open(0);
        }
        world.promote(next);
        world.connect(next);
        assert_eq!(sent_by(&world.server, "a"), ["a1"], "{tabs} tabs");
    }
}

/// Ticks `tab` a beat at a time from `from` until it plans a steal; the time it did, if
/// within `bound` ms.
fn plans_a_steal(tab: &mut Core, from: u64, bound: u64) -> Option<u64> {
    (from..=from + bound).step_by(BEAT as usize).find(|now| {
        tab.tick(*now)
            .iter()
            .any(|action| matches!(action, Action::StealIn { .. }))
    })
}

#[test]
fn a_follower_cached_while_it_planned_a_steal_watches_the_leader_again_when_shown() {
    let mut world = World::started(2);
    world.freeze(0);
    let now = world.now;
    let planned = plans_a_steal(&mut world.tab(1).core, now, 3 * TAKEOVER);
    let planned = planned.expect("the silent leader is noticed");
    // Into the back/forward cache before the steal: the lock request (and the steal) go.
    world.tab(1).core.page_hidden();
    world.tab(1).core.page_shown(planned + BEAT);
    let again = plans_a_steal(&mut world.tab(1).core, planned + BEAT, 3 * TAKEOVER);
    assert!(
        again.is_some(),
        "the follower never watched the leader again"
    );
}

#[test]
fn a_follower_whose_page_goes_is_not_counted_so_the_last_tab_closes_the_socket() {
    let mut world = World::headless(2);
    assert_eq!(world.closed_with(0), None);
    // The follower's page goes: it says goodbye (no destructor runs), and the socket closes.
    let actions = world.tab(1).core.page_hidden();
    world.execute(1, actions);
    world.run();
    assert_eq!(world.closed_with(0), Some((1000, "page hidden".into())));
}

#[test]
fn a_follower_put_in_the_back_forward_cache_is_paused_until_the_leader_answers_it_again() {
    let mut world = World::started(3);
    let actions = world.tab(1).core.page_hidden();
    world.execute(1, actions);
    world.run();
    // Paused, as a tab of its own is: what is said meanwhile does not reach a cached page.
    assert_eq!(world.tab(1).core.status(), Status::Paused);
    assert_eq!(
        world.tab(1).reports.last(),
        Some(&Event::Status(Status::Paused))
    );
    // Shown again: the leader's answer tells the status afresh, so the application catches up.
    let now = world.now;
    let actions = world.tab(1).core.page_shown(now);
    world.execute(1, actions);
    world.run();
    assert_eq!(world.tab(1).core.status(), Status::Open);
    assert_eq!(
        world.tab(1).reports.last(),
        Some(&Event::Status(Status::Open))
    );
    assert_eq!(
        world.tab(2).core.status(),
        Status::Open,
        "the other follower was not paused"
    );
}

#[test]
fn a_follower_whose_frames_the_leader_still_holds_stays_counted_when_its_page_goes() {
    let mut world = World::headless(2);
    world.lose(0);
    world.send(1, "a1");
    let actions = world.tab(1).core.page_hidden();
    assert_eq!(actions, [Action::Report(Event::Status(Status::Paused))]);
    // Still counted: its frame goes out when the socket is back.
    world.connect(0);
    assert_eq!(sent_by(&world.server, "a"), ["a1"]);
}

#[test]
fn a_frame_sent_after_the_pages_goodbye_reopens_the_socket_and_goes_out() {
    let mut world = World::headless(2);
    let actions = world.tab(1).core.page_hidden();
    world.execute(1, actions);
    world.run();
    assert!(world.closed_with(0).is_some());
    // A later `unload` handler of the page sends one more frame: the leader opens again.
    let opens = |world: &mut World| world.tab(0).conn.as_ref().map_or(0, |c| c.open_requests);
    let before = opens(&mut world);
    world.send(1, "a1");
    assert_eq!(opens(&mut world), before + 1);
    world.connect(0);
    assert_eq!(sent_by(&world.server, "a"), ["a1"]);
}

#[test]
fn a_page_shown_again_hands_its_unacknowledged_frames_to_the_leader() {
    let mut world = World::started(2);
    world.lose(0);
    world.send(1, "a1");
    // The page goes into the back/forward cache with its frame held; meanwhile its lease
    // runs out, but not while the leader still holds its frame: it goes out on the next open.
    let actions = world.tab(1).core.page_hidden();
    assert_eq!(actions, [Action::Report(Event::Status(Status::Paused))]);
    world.now += LEASE_MS;
    let actions = world.tick(0);
    world.execute(0, actions);
    world.run();
    world.connect(0);
    assert_eq!(sent_by(&world.server, "a"), ["a1"]);
    // Shown again: the frame does not go out twice.
    let now = world.now;
    let actions = world.tab(1).core.page_shown(now);
    world.execute(1, actions);
    world.run();
    assert_eq!(sent_by(&world.server, "a"), ["a1"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
}

#[test]
fn a_huge_takeover_time_is_clamped_to_what_a_browser_timer_can_wait() {
    // Over 2³¹−1 ms a browser timer's delay wraps negative and fires at once: a busy loop.
    let tab = Core::new(1, Default::default()).with_takeover(u64::MAX);
    assert_eq!(tab.beat_ms(), i32::MAX as u64 / 4);
    let tab = Core::new(1, Default::default()).with_takeover(1);
    assert_eq!(tab.beat_ms(), 10);
}

#[test]
fn a_follower_silent_past_its_lease_keeps_the_frames_that_wait_for_the_socket() {
    // A laptop asleep through a long reconnect: the follower's frame waits in the leader for
    // the socket while the follower says nothing for longer than its lease.
    let mut world = World::started(2);
    world.lose(0);
    world.send(1, "a1");
    world.now += LEASE_MS;
    let actions = world.tick(0);
    world.execute(0, actions);
    world.run();
    let actions = world.tick(1);
    world.execute(1, actions);
    world.run();
    world.connect(0);
    world.send(1, "a2");
    assert_eq!(sent_by(&world.server, "a"), ["a1", "a2"]);
    assert_eq!(world.tab(1).core.unacked(), 0);
    // Once its frames are out, the lease applies again.
    world.tab(1).frozen = Some(Vec::new());
    world.now += LEASE_MS;
    let actions = world.tick(0);
    world.execute(0, actions);
    assert_eq!(world.tab(0).core.subscribers(), 0);
}

#[test]
fn frames_the_last_socket_never_sent_go_out_before_the_ones_passed_on_after_it() {
    // The follower's a2 and a3 were acknowledged (handed to the socket) but still in its
    // buffer when the server closed: the driver puts them back in the leader's outbox. a4,
    // sent while reconnecting, waits in the leader; on the next open it must not overtake them.
    let mut world = World::started(2);
    for n in 1..=3 {
        world.send(1, &format!("a{n}"));
    }
    world.lose_holding(0, 2);
    world.send(1, "a4");
    world.connect(0);
    assert_eq!(sent_by(&world.server, "a"), ["a1", "a2", "a3", "a4"]);
}

fn open_requests(world: &mut World, i: usize) -> u32 {
    world
        .tab(i)
        .conn
        .as_ref()
        .map_or(0, |conn| conn.open_requests)
}

#[test]
fn a_followers_open_reconnects_now_whatever_the_state_as_in_a_tab_of_its_own() {
    let mut world = World::started(2);
    // A reconnect waiting on its backoff ("Reconnect now" in a follower tab).
    world.lose(0);
    let before = open_requests(&mut world, 0);
    world.open(1);
    assert_eq!(open_requests(&mut world, 0), before + 1);
    // Given up: only an open() revives it, from any tab.
    world.event(0, Event::Status(Status::Failed));
    assert_eq!(
        world.tab(1).core.send("lost?".into()),
        Err(SendError::NotOpen {
            status: Status::Failed
        }),
        "a frame nothing would send is refused, as a connection of its own refuses it"
    );
    world.open(1);
    assert_eq!(open_requests(&mut world, 0), before + 2);
}

/// Two tabs whose connection (tab 0's) the server closed with a code the policy does not retry
/// (4001: application-defined).
fn stopped_by_the_servers_close_code() -> World {
    let mut world = World::started(2);
    world.tab(0).conn.as_mut().expect("a connection").open = false;
    let close = CloseInfo {
        code: 4001,
        reason: "go away".into(),
        was_clean: true,
    };
    world.event(0, Event::Closed(close));
    world.event(0, Event::Status(Status::Closed));
    world
}

#[test]
fn a_followers_question_does_not_reopen_what_the_servers_close_code_stopped() {
    let mut world = stopped_by_the_servers_close_code();
    let before = open_requests(&mut world, 0);
    // A follower whose leader seems quiet asks it (every half takeover time while the
    // leader's beats are throttled).
    for _ in 0..8 {
        world.now += TAKEOVER / 2;
        world.bus.push_back((1, Wire::Hello { tab: 101 }));
        world.run();
    }
    assert_eq!(
        open_requests(&mut world, 0),
        before,
        "asked, never reopened"
    );
    // The application's own open() does reopen it.
    world.open(1);
    assert_eq!(open_requests(&mut world, 0), before + 1);
}

#[test]
fn a_followers_send_is_refused_while_the_servers_close_code_keeps_the_connection_closed() {
    let mut world = stopped_by_the_servers_close_code();
    world.run();
    // Nothing would send it until an open(): refused, as in a tab of its own.
    assert_eq!(
        world.tab(1).core.send("x".into()).err(),
        Some(SendError::NotOpen {
            status: Status::Closed
        })
    );
    // The follower's own open() reopens the connection, and its sends are taken again.
    world.open(1);
    world.run();
    assert!(world.tab(1).core.send("y".into()).is_ok());
}

#[test]
fn a_leading_tab_opened_by_its_application_after_it_was_granted_the_lock_is_told_connecting() {
    let mut world = World::new(2);
    world.promote(0);
    let now = world.now;
    let actions = world.tab(0).core.open(now);
    assert!(actions.contains(&Action::Open), "{actions:?}");
    // Its connection reports the status as it opens; nothing stale is told after it.
    let told: Vec<&Action<String, String>> = actions
        .iter()
        .filter(|action| matches!(action, Action::Report(Event::Status(_))))
        .collect();
    assert!(told.is_empty(), "{told:?}");
    assert_eq!(
        world.tab(0).core.status(),
        Status::Connecting { attempt: 0 }
    );

    // Opened for a follower first: the application that opens then is told it is open.
    let mut world = World::new(2);
    world.promote(0);
    world.open(1);
    world.connect(0);
    let now = world.now;
    let actions = world.tab(0).core.open(now);
    assert!(
        actions.contains(&Action::Report(Event::Status(Status::Open))),
        "{actions:?}"
    );
}

#[test]
fn a_follower_sends_on_while_a_tab_that_never_opened_takes_the_lead() {
    let mut world = World::new(3);
    world.promote(0);
    world.open(0);
    // Tab 1 is made and never opened; tab 2 follows.
    world.open(2);
    world.connect(0);
    // A loss and a reconnect: every tab has heard of a close.
    let lost = CloseInfo {
        code: 1006,
        reason: String::new(),
        was_clean: false,
    };
    world.event(0, Event::Closed(lost));
    world.lose(0);
    world.connect(0);
    world.close(0, 1000);
    // Tab 1 is granted the lock; tab 2 hears its announcement before tab 1 hears its hello.
    world.lock = Some(1);
    let now = world.now;
    let actions = world.tab(1).core.promote(now);
    let announcement = actions.iter().find_map(|action| match action {
        Action::Post(wire @ Wire::Leader { .. }) => Some(wire.clone()),
        _ => None,
    });
    let announcement = announcement.expect("the new leader announces itself");
    let heard = world.tab(2).core.handle(announcement, now);
    // Its hello opens the connection: connecting, not stopped as by its own close.
    assert!(
        !heard.contains(&Action::Report(Event::Status(Status::Stopped))),
        "{heard:?}"
    );
    assert_eq!(
        world.tab(2).core.status(),
        Status::Connecting { attempt: 0 }
    );
    world.execute(2, heard);
    assert!(
        world.tab(2).core.send("x".into()).is_ok(),
        "refused while the new leader waits for a hello: {:?}",
        world.tab(2).core.status()
    );
}

#[test]
fn a_followers_close_keeps_its_unsent_frames_for_its_next_open_when_configured_so() {
    for keep in [false, true] {
        let mut world = World::started(2);
        let core = std::mem::replace(&mut world.tab(1).core, Core::new(0, Default::default()));
        world.tab(1).core = core.with_kept_on_close(keep);
        world.lose(0);
        world.send(1, "a1");
        world.close(1, 1000);
        world.connect(0);
        assert!(sent_by(&world.server, "a").is_empty(), "closed: not sent");
        let discarded = world
            .tab(1)
            .reports
            .contains(&Event::Discarded { frames: 1 });
        assert_eq!(discarded, !keep, "keep {keep}");
        world.open(1);
        let expected: &[&str] = if keep { &["a1"] } else { &[] };
        assert_eq!(sent_by(&world.server, "a"), expected, "keep {keep}");
    }
}

/// The leader's socket died holding frames (its own and a follower's, given back to its outbox),
/// then the leading tab closed before the next open: the next leader sends them, first.
fn leader_leaves_with_frames_its_dead_socket_gave_back() -> World {
    let mut world = World::started(3);
    world.send(1, "a1");
    world.send(2, "b1");
    world.send(1, "a2");
    world.lose_holding(0, 2);
    world.send(1, "a3");
    world.send(0, "own");
    world.leave(0);
    world
}

#[test]
fn a_leader_leaving_hands_the_frames_its_dead_socket_gave_back_to_the_next_leader() {
    let mut world = leader_leaves_with_frames_its_dead_socket_gave_back();
    world.run();
    world.promote(1);
    world.send(2, "b2");
    world.connect(1);
    assert_eq!(world.server, ["a1", "b1", "a2", "a3", "b2"]);
    assert_eq!(world.tab(2).core.orphans, None);
}

#[test]
fn a_follower_that_hears_another_leader_drops_the_frames_handed_over() {
    let mut world = leader_leaves_with_frames_its_dead_socket_gave_back();
    world.run();
    assert!(world.tab(1).core.orphans.is_some());
    world.promote(2);
    assert_eq!(world.tab(1).core.orphans, None, "tab 2 sends them");
    world.connect(2);
    world.send(1, "a4");
    assert_eq!(world.server, ["a1", "b1", "a2", "a3", "a4"]);
}

#[test]
fn a_tab_granted_the_lead_before_the_handover_arrives_still_sends_it_first() {
    let mut world = leader_leaves_with_frames_its_dead_socket_gave_back();
    // The lock is granted before the channel brings the former leader's posts.
    world.lock = Some(1);
    let now = world.now;
    let actions = world.tab(1).core.promote(now);
    world.execute(1, actions);
    world.run();
    world.connect(1);
    assert_eq!(world.server, ["a1", "b1", "a2", "a3"]);
}

#[test]
fn a_tab_closed_while_it_planned_a_takeover_watches_the_leader_again_when_reopened() {
    let mut world = World::started(2);
    world.freeze(0);
    let now = world.now;
    let planned = plans_a_steal(&mut world.tab(1).core, now, 3 * TAKEOVER);
    let planned = planned.expect("the silent leader is noticed");
    // Closed before the steal: the lock's queue, and the steal with it, are left.
    world.close(1, 1000);
    world.now = planned;
    world.open(1);
    let again = plans_a_steal(&mut world.tab(1).core, planned + BEAT, 3 * TAKEOVER);
    assert!(
        again.is_some(),
        "the reopened tab never watched the leader again"
    );
}

#[test]
fn a_leaders_close_hands_over_the_frames_a_gone_followers_page_left_with_it() {
    let mut world = World::started(3);
    world.lose(0);
    world.send(1, "a1");
    // Tab 1's page goes with its frame still held by the leader: it stays counted, and is gone.
    let actions = world.tab(1).core.page_hidden();
    world.execute(1, actions);
    world.run();
    world.kill(1);
    world.send(2, "b1");
    world.close(0, 1000);
    world.promote(2);
    world.connect(2);
    assert_eq!(world.server, ["a1", "b1"], "each once, in order");
}

/// Tab 1's frame is held by the leader's dead socket when the leader's application closes.
fn leader_closes_with_a_frame_its_dead_socket_gave_back() -> World {
    let mut world = World::started(2);
    world.send(1, "a1");
    world.lose_holding(0, 1);
    world
}

#[test]
fn a_leader_that_closed_sends_what_it_handed_over_if_it_leads_again_first() {
    let mut world = leader_closes_with_a_frame_its_dead_socket_gave_back();
    // The only other tab crashed: still counted (its lease), it will never lead.
    world.kill(1);
    world.close(0, 1000);
    world.open(0);
    world.promote(0);
    world.connect(0);
    assert_eq!(world.server, ["a1"]);
}

#[test]
fn a_tab_that_heard_a_handover_drops_it_when_the_tab_that_made_it_leads_again() {
    let mut world = leader_closes_with_a_frame_its_dead_socket_gave_back();
    world.close(0, 1000);
    // Tab 1 keeps the handover, but its application closes too before it leads.
    world.close(1, 1000);
    world.open(0);
    world.promote(0);
    world.connect(0);
    assert_eq!(world.server, ["a1"]);
    // Tab 1 opens again, and then leads: what tab 0 sent again is not sent a second time.
    world.open(1);
    world.close(0, 1000);
    world.promote(1);
    world.connect(1);
    assert_eq!(world.server, ["a1"], "sent once");
}

#[test]
fn a_promoted_tab_hears_it_leads_after_its_own_frames_are_on_its_connection() {
    // A follower whose frames were not acknowledged yet is promoted: its application hears
    // `Role(Leader)` last, so a send or a close made on hearing it comes after those frames
    // (a close made between them found no connection for the rest, and they were lost unsaid).
    let mut tab = Core::new(8, OutboxLimits::default());
    tab.open(0);
    tab.send("first".into()).unwrap();
    tab.send("second".into()).unwrap();
    let out = tab.promote(0);
    let told = out
        .iter()
        .position(|action| *action == Action::Role(Role::Leader))
        .expect("told it leads");
    assert_eq!(told, out.len() - 1, "{out:?}");
    let own: Vec<_> = out
        .iter()
        .filter(|action| matches!(action, Action::SendOwn(_)))
        .collect();
    assert_eq!(own.len(), 2, "{out:?}");
    assert!(out.contains(&Action::Open) && out.contains(&Action::Lead));
}
