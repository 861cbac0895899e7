//! One connection for several tabs ([`Config::with_shared`]) in real browsers, against the real
//! server's test mode, which counts the connections it sees per key.
//!
//! wasm-bindgen-test runs every test in one page. Most "tabs" here are several `Heartline`
//! handles in that page with the same shared key. Each has its own `BroadcastChannel` object and
//! its own place in the Web Locks queue, so the browser APIs are exercised exactly as between
//! tabs (a channel never hands a message back to the object that posted it, and each lock
//! request is queued on its own). The frame tests (`FrameTab`) run each tab in a same-origin
//! iframe with its own instance of this module, document and global scope, and remove the
//! leading frame: the browser tears it down with no `Drop` run, lets its lock go and closes its
//! socket. A tab's process going away is left to the end-to-end test with several pages. A frozen tab (its page alive, its event loop
//! stopped) and a crashed one are played by the handle's test hooks
//! (`Heartline::simulate_freeze`, `Heartline::simulate_crash`).
#![cfg(target_arch = "wasm32")]

mod support;

use heartline::{Config, Event, Heartline, Inbound, Notice, Role, Status};
use js_sys::Reflect;
use support::{fast, server_until, stats, test_url, unique_key, until_true, Probe};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The takeover time of the takeover tests, ms: short, so the tests are quick, but not so
/// short that a loaded machine's slow channel looks like a frozen leader (the other tests keep
/// the default, 4 000 ms, for the same reason).
const TAKEOVER_MS: u64 = 1_000;

/// The bound on a handover, ms: the new leader's socket is open this long after the old leader
/// went (its lock is let go at once; then one connect on loopback).
const HANDOVER_MS: f64 = 1_000.0;

fn shared(key: &str) -> Config {
    fast(test_url(key, "mode=echo")).with_shared(key)
}

/// A shared connection whose first socket never reads, so a follower's 64 KiB frames pile up in
/// it until the heartbeat writes it off and the leader takes back what it still held; the
/// reconnect then waits 30 s (the leading tab goes away meanwhile), and later sockets echo.
fn held_by_a_deaf_socket(key: &str) -> Config {
    fast(test_url(key, "mode=deaf&then=echo&record_head=true"))
        .with_shared(key)
        .with_heartbeat_timing(300, 300)
        .with_reconnect_delays(30_000, 30_000, 1.0)
        .with_outbox_limits(4_096, 1 << 28)
}

/// Sends numbered 64 KiB texts through `send`, ten at a time, until `open` says the shared
/// socket left Open (the heartbeat wrote off the deaf one); returns their numbers, in order.
async fn send_until_written_off(send: impl Fn(String), open: impl Fn() -> bool) -> Vec<String> {
    let padding = "x".repeat(64 * 1024);
    let mut accepted = Vec::new();
    let start = js_sys::Date::now();
    while open() {
        for _ in 0..10 {
            let number = format!("f-{:04}", accepted.len());
            send(format!("{number} {padding}"));
            accepted.push(number);
        }
        gloo_timers::future::TimeoutFuture::new(0).await;
        assert!(
            js_sys::Date::now() - start < 15_000.0,
            "the deaf socket was never written off"
        );
    }
    accepted
}

/// The numbered texts (`f-0001 ...`, recorded by their first word) the server received.
fn numbers_received(stats: &serde_json::Value) -> Vec<String> {
    stats["received"].as_array().map_or(Vec::new(), |texts| {
        texts
            .iter()
            .filter_map(|t| t.as_str())
            .filter(|t| t.starts_with("f-"))
            .map(String::from)
            .collect()
    })
}

/// After the leading tab went with frames its dead socket gave back (`requeued`) and the
/// follower's `unacked`: the server gets every frame from the first one held on, once, in
/// order, and no fewer than those.
async fn handed_over(key: &str, accepted: &[String], requeued: usize, unacked: usize) {
    let last = accepted.last().expect("frames accepted").clone();
    server_until(key, 15_000, |s| numbers_received(s).contains(&last)).await;
    let got = numbers_received(&stats(key).await);
    let first = got.first().expect("frames arrived");
    let first = accepted
        .iter()
        .position(|number| number == first)
        .expect("a frame that was sent");
    assert_eq!(
        got,
        accepted[first..],
        "every frame from the first one held, once, in order"
    );
    assert!(
        got.len() >= requeued + unacked,
        "{} arrived: the {requeued} frames the dead socket gave back were lost ({unacked} were \
         not acknowledged yet)",
        got.len()
    );
}

/// Tabs all open, one of them leading.
async fn tabs(key: &str, count: usize) -> Vec<Probe> {
    tabs_with(key, count, shared).await
}

/// Tabs all open with a short takeover time.
async fn quick_tabs(key: &str, count: usize) -> Vec<Probe> {
    tabs_with(key, count, |key| {
        shared(key).with_shared_takeover(TAKEOVER_MS)
    })
    .await
}

async fn tabs_with(key: &str, count: usize, config: impl Fn(&str) -> Config) -> Vec<Probe> {
    let mut tabs: Vec<Probe> = (0..count).map(|_| Probe::connect(config(key))).collect();
    for tab in &mut tabs {
        tab.status(5_000, |status| status == Status::Open).await;
    }
    tabs
}

/// Waits until exactly one of `candidates` leads (polling the roles, which fire no event of
/// their own across handles), and returns it.
async fn new_leader(tabs: &[Probe], candidates: &[usize], deadline_ms: u32) -> usize {
    until_true(deadline_ms, "a tab took the lead", || {
        candidates
            .iter()
            .any(|i| tabs[*i].socket().role() == Some(Role::Leader))
    })
    .await;
    let leaders: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| tabs[*i].socket().role() == Some(Role::Leader))
        .collect();
    assert_eq!(leaders.len(), 1, "one new leader: {leaders:?}");
    leaders[0]
}

/// Waits for one of `followers` to lead and then for its own socket's open (an earlier `Opened`
/// in its notices is the shared socket's first one); returns it and when it opened.
async fn new_leader_open(
    tabs: &mut [Probe],
    followers: &[usize],
    deadline_ms: u32,
) -> (usize, f64) {
    let new = new_leader(tabs, followers, deadline_ms).await;
    tabs[new]
        .until(1_000, "the lead", |n| *n == Notice::Role(Role::Leader))
        .await;
    let (opened_at, _) = tabs[new]
        .until(deadline_ms, "the new leader's open", |n| {
            *n == Notice::Event(heartline::Event::Opened)
        })
        .await;
    (new, opened_at)
}

/// The followers of `tabs`' leader and their prefixes, a, b, c...
fn followers_of(tabs: &[Probe]) -> (usize, Vec<usize>, Vec<(usize, &'static str)>) {
    let old = leader(tabs);
    let followers: Vec<usize> = (0..tabs.len()).filter(|i| *i != old).collect();
    let senders = followers.iter().copied().zip(["a", "b", "c"]).collect();
    (old, followers, senders)
}

/// How many of the server's received texts start with one of `prefixes` and are short (the
/// tests' numbered frames).
fn count_numbered(stats: &serde_json::Value, prefixes: &[&str]) -> usize {
    stats["received"].as_array().map_or(0, |r| {
        r.iter()
            .filter(|t| {
                t.as_str()
                    .is_some_and(|t| t.len() <= 4 && prefixes.iter().any(|p| t.starts_with(p)))
            })
            .count()
    })
}

/// Logs how long after the leader `what` (closed, froze...) the socket was open again, and
/// asserts it was within `bound_ms`.
fn open_again_within(what: &str, from: f64, opened_at: f64, bound_ms: f64) {
    let took = opened_at - from;
    web_sys::console::log_1(&format!("open again {took:.0} ms after the leader {what}").into());
    assert!(
        took <= bound_ms,
        "open again {took:.0} ms after the leader {what} (bound {bound_ms} ms)"
    );
}

/// The server has accepted `opened` connections for `key` in all, and `open_now` are open.
async fn connections_are(key: &str, opened: u64, open_now: u64) {
    let stats = stats(key).await;
    assert_eq!(
        (stats["opened"].as_u64(), stats["open_now"].as_u64()),
        (Some(opened), Some(open_now)),
        "{stats}"
    );
}

/// One handover in all: the server saw two connections, one open now, and no follower holds a
/// frame unsent.
async fn after_one_handover(key: &str, tabs: &[Probe], followers: &[usize]) {
    connections_are(key, 2, 1).await;
    for f in followers {
        assert_eq!(tabs[*f].socket().queued(), 0, "tab {f}");
    }
}

/// Waits until the server has received `count` texts starting with `prefix`.
async fn until_received(key: &str, prefix: &str, count: usize, deadline_ms: u32) {
    server_until(key, deadline_ms, |s| {
        s["received"].as_array().is_some_and(|r| {
            r.iter()
                .filter(|t| t.as_str().is_some_and(|t| t.starts_with(prefix)))
                .count()
                >= count
        })
    })
    .await;
}

/// Sends `{prefix}{n}` for every n in `range` from each (tab, prefix) pair.
fn send_numbered(tabs: &[Probe], senders: &[(usize, &str)], range: std::ops::Range<u32>) {
    for n in range {
        for (tab, prefix) in senders {
            tabs[*tab]
                .socket()
                .send_text(format!("{prefix}{n}"))
                .unwrap();
        }
    }
}

/// Every prefix's frames arrived once each, in order, `0..count`.
async fn assert_once_in_order(key: &str, prefixes: &[&str], count: u32) {
    server_until(key, 5_000, |s| {
        count_numbered(s, prefixes) >= prefixes.len() * count as usize
    })
    .await;
    for prefix in prefixes {
        let expected: Vec<String> = (0..count).map(|n| format!("{prefix}{n}")).collect();
        let got: Vec<String> = received(key, prefix)
            .await
            .into_iter()
            .filter(|t| t.len() <= 4)
            .collect();
        assert_eq!(
            got, expected,
            "frames of {prefix}: none lost, none twice, in order"
        );
    }
}

fn leader(tabs: &[Probe]) -> usize {
    let leaders: Vec<usize> = (0..tabs.len())
        .filter(|i| tabs[*i].socket().role() == Some(Role::Leader))
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader");
    leaders[0]
}

fn text(notice: &Notice) -> Option<String> {
    match notice {
        Notice::Message(Inbound::Text(text)) => Some(text.to_string()),
        _ => None,
    }
}

/// The texts the server received that start with `prefix`, in order.
async fn received(key: &str, prefix: &str) -> Vec<String> {
    stats(key).await["received"]
        .as_array()
        .map(|texts| {
            texts
                .iter()
                .filter_map(|t| t.as_str())
                .filter(|t| t.starts_with(prefix))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn three_tabs_make_one_connection_and_every_frame_reaches_every_tab_once() {
    let key = unique_key("shared-three");
    let mut tabs = tabs(&key, 3).await;
    leader(&tabs);
    server_until(&key, 3_000, |s| s["opened"] == 1 && s["open_now"] == 1).await;
    for (i, tab) in tabs.iter().enumerate() {
        tab.socket().send_text(format!("from-{i}")).unwrap();
    }
    for (i, tab) in tabs.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < 3 {
            let (_, notice) = tab.until(3_000, "an echo", |n| text(n).is_some()).await;
            got.extend(text(&notice));
        }
        // Nothing more: no frame twice.
        let more: Vec<String> = tab.quiet_for(300).await.iter().filter_map(text).collect();
        assert!(more.is_empty(), "tab {i} got frames twice: {more:?}");
        got.sort();
        assert_eq!(got, ["from-0", "from-1", "from-2"], "tab {i}");
    }
    connections_are(&key, 1, 1).await;
}

#[wasm_bindgen_test]
async fn a_followers_sends_keep_their_order() {
    let key = unique_key("shared-order");
    let tabs = tabs(&key, 2).await;
    let follower = 1 - leader(&tabs);
    let sent: Vec<String> = (0..100).map(|n| format!("f-{n:03}")).collect();
    for text in &sent {
        tabs[follower].socket().send_text(text.clone()).unwrap();
    }
    until_received(&key, "f-", 100, 5_000).await;
    assert_eq!(received(&key, "f-").await, sent);
    assert_eq!(
        tabs[follower].socket().queued(),
        0,
        "every frame acknowledged"
    );
}

#[wasm_bindgen_test]
async fn a_followers_frames_the_last_socket_never_sent_go_out_before_later_ones() {
    // The first connection never reads: the follower's 64 KiB frames pile up in the leader's
    // socket until the heartbeat writes it off. The driver puts what the socket still held
    // back at the head of the leader's outbox; the follower's frames sent while it reconnects
    // must go out behind them, not ahead.
    let key = unique_key("shared-requeue-order");
    let mode = "mode=deaf&then=echo&record_head=true";
    let mut tabs = tabs_with(&key, 2, |key| {
        fast(test_url(key, mode))
            .with_shared(key)
            .with_heartbeat_timing(300, 300)
            .with_outbox_limits(4_096, 1 << 28)
    })
    .await;
    let lead = leader(&tabs);
    let follower = 1 - lead;
    let padding = "x".repeat(64 * 1024);
    let mut accepted = Vec::new();
    let mut n = 0u32;
    let start = js_sys::Date::now();
    let (mut left_open, mut reopened) = (false, false);
    while !reopened || n < 300 {
        for _ in 0..10 {
            let number = format!("f-{n:04}");
            n += 1;
            let text = format!("{number} {padding}");
            tabs[follower].socket().send_text(text).expect("accepted");
            accepted.push(number);
        }
        gloo_timers::future::TimeoutFuture::new(0).await;
        let open = tabs[follower].socket().status() == Status::Open;
        left_open |= !open;
        reopened |= left_open && open;
        assert!(
            js_sys::Date::now() - start < 15_000.0,
            "never reconnected: {:?}",
            tabs[follower].socket().status()
        );
    }
    let last = accepted.last().expect("frames accepted").clone();
    let numbers = |stats: &serde_json::Value| -> Vec<String> {
        stats["received"].as_array().map_or(Vec::new(), |texts| {
            texts
                .iter()
                .filter_map(|t| t.as_str())
                .filter(|t| t.starts_with("f-"))
                .map(String::from)
                .collect()
        })
    };
    server_until(&key, 15_000, |s| numbers(s).contains(&last)).await;
    let got = numbers(&stats(&key).await);
    tabs[lead].quiet_for(50).await;
    let requeued: usize = tabs[lead]
        .seen
        .iter()
        .map(|(_, notice)| match notice {
            Notice::Event(Event::Requeued { frames }) => *frames,
            _ => 0,
        })
        .sum();
    assert!(
        requeued > 0,
        "the written-off socket held no frame: nothing tested"
    );
    let out_of_order: Vec<(&String, &String)> = got
        .windows(2)
        .filter(|pair| pair[0] >= pair[1])
        .map(|pair| (&pair[0], &pair[1]))
        .collect();
    assert!(
        out_of_order.is_empty(),
        "{} of {} frames arrived out of order or twice ({requeued} put back), e.g. {:?}",
        out_of_order.len(),
        got.len(),
        &out_of_order[..out_of_order.len().min(5)]
    );
    // What the dead connection took is gone with it (no client can tell); from the first frame
    // the socket still held on, every one arrives, once, in order.
    let first = accepted
        .iter()
        .position(|number| *number == got[0])
        .expect("a frame that was sent");
    assert_eq!(
        got,
        accepted[first..],
        "every frame from the first one held"
    );
    assert!(
        accepted.len() - first >= requeued,
        "{first} of {} lost: more than the dead connection took",
        accepted.len()
    );
}

#[wasm_bindgen_test]
async fn a_leader_closed_before_its_next_open_hands_what_its_dead_socket_held_to_the_next() {
    // The leader puts what its written-off socket still held back in its outbox, acknowledged
    // already; its tab then closes while it waits out its backoff: the tab that takes over sends
    // those frames first, then the follower's unacknowledged ones, each once.
    let key = unique_key("shared-orphans");
    let mut tabs = tabs_with(&key, 2, held_by_a_deaf_socket).await;
    let lead = leader(&tabs);
    let follower = 1 - lead;
    let accepted = send_until_written_off(
        |text| tabs[follower].socket().send_text(text).expect("accepted"),
        || tabs[follower].socket().status() == Status::Open,
    )
    .await;
    let (_, notice) = tabs[lead]
        .until(5_000, "the frames the dead socket held put back", |n| {
            matches!(n, Notice::Event(Event::Requeued { .. }))
        })
        .await;
    let Notice::Event(Event::Requeued { frames: requeued }) = notice else {
        unreachable!()
    };
    let unacked = tabs[follower].socket().queued();
    assert!(
        matches!(tabs[lead].socket().status(), Status::Reconnecting { .. }),
        "the leader waits out its backoff: {:?}",
        tabs[lead].socket().status()
    );
    tabs[lead].drop_socket();
    handed_over(&key, &accepted, requeued, unacked).await;
}

#[wasm_bindgen_test]
async fn a_lone_leader_dropped_with_what_its_dead_socket_held_reports_it_discarded() {
    // No other tab: the frames its written-off socket gave back have nobody to go to.
    let key = unique_key("shared-lone-orphans");
    let mut tabs = tabs_with(&key, 1, held_by_a_deaf_socket).await;
    send_until_written_off(
        |text| tabs[0].socket().send_text(text).expect("accepted"),
        || tabs[0].socket().status() == Status::Open,
    )
    .await;
    let (_, notice) = tabs[0]
        .until(5_000, "the frames the dead socket held put back", |n| {
            matches!(n, Notice::Event(Event::Requeued { .. }))
        })
        .await;
    let Notice::Event(Event::Requeued { frames: requeued }) = notice else {
        unreachable!()
    };
    tabs[0].drop_socket();
    tabs[0]
        .until(2_000, "the frames reported discarded", |n| {
            *n == Notice::Event(Event::Discarded { frames: requeued })
        })
        .await;
}

#[wasm_bindgen_test]
async fn a_leading_frame_navigated_from_before_its_next_open_hands_what_its_dead_socket_held_on() {
    // As above, but the leading tab's page goes (the frame navigates: `pagehide`, and no
    // destructor runs): the handover is made from `pagehide`.
    let key = unique_key("frame-orphans");
    let mut tabs = frame_tabs_with(&key, 2, true).await;
    let lead = frame_leader(&tabs);
    let follower = 1 - lead;
    let accepted = send_until_written_off(
        |text| tabs[follower].send(&text),
        || tabs[follower].is_open(),
    )
    .await;
    until_true(5_000, "the frames the dead socket held put back", || {
        tabs[lead].field("tabRequeued").as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let requeued = tabs[lead].field("tabRequeued").as_f64().unwrap_or(0.0) as usize;
    let unacked = tabs[follower].queued();
    tabs[lead].navigate_away();
    handed_over(&key, &accepted, requeued, unacked).await;
    drop(tabs.remove(lead));
}

#[wasm_bindgen_test]
async fn closing_the_leader_hands_over_with_no_frame_lost_or_doubled() {
    let key = unique_key("shared-handover");
    let mut tabs = tabs(&key, 3).await;
    let old = leader(&tabs);
    let followers: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let prefixes = ["a", "b"];
    for n in 0..5 {
        for (f, prefix) in followers.iter().zip(prefixes) {
            tabs[*f].socket().send_text(format!("{prefix}{n}")).unwrap();
        }
    }
    // Sent and acknowledged by the old leader: the next one must not send them again.
    server_until(&key, 3_000, |s| {
        s["received"].as_array().is_some_and(|r| r.len() >= 10)
    })
    .await;
    for f in &followers {
        until_true(3_000, "every frame acknowledged", || {
            tabs[*f].socket().queued() == 0
        })
        .await;
    }
    // These are posted to the leader, which is gone before it can read them: the next leader
    // must send them, once.
    for n in 5..10 {
        for (f, prefix) in followers.iter().zip(prefixes) {
            tabs[*f].socket().send_text(format!("{prefix}{n}")).unwrap();
        }
    }
    let closed_at = js_sys::Date::now();
    tabs[old].drop_socket();
    // And these go to whichever tab leads now.
    for n in 10..15 {
        for (f, prefix) in followers.iter().zip(prefixes) {
            tabs[*f].socket().send_text(format!("{prefix}{n}")).unwrap();
        }
    }
    let (_, opened_at) = new_leader_open(&mut tabs, &followers, 5_000).await;
    open_again_within("closed", closed_at, opened_at, HANDOVER_MS);
    server_until(&key, 5_000, |s| {
        s["received"].as_array().map_or(0, |r| {
            r.iter()
                .filter(|t| {
                    t.as_str()
                        .is_some_and(|t| t.len() <= 3 && (t.starts_with('a') || t.starts_with('b')))
                })
                .count()
        }) >= 30
    })
    .await;
    for prefix in prefixes {
        let expected: Vec<String> = (0..15).map(|n| format!("{prefix}{n}")).collect();
        let got: Vec<String> = received(&key, prefix).await;
        assert_eq!(
            got, expected,
            "frames of follower {prefix}: none lost, none twice, in order"
        );
    }
    after_one_handover(&key, &tabs, &followers).await;
}

#[wasm_bindgen_test]
async fn a_tab_close_is_its_own_and_the_last_tab_closes_the_socket() {
    let key = unique_key("shared-last");
    let mut tabs = tabs(&key, 3).await;
    let first = leader(&tabs);
    let others: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    // The leader's own close: it stops, and one of the others leads with a socket of its own
    // (a tab whose application is there leads), so they carry on.
    tabs[first].socket().close(1000, "this tab only").unwrap();
    assert_eq!(tabs[first].socket().status(), Status::Stopped);
    let next = new_leader(&tabs, &others, 5_000).await;
    tabs[others[0]].socket().send_text("still-here").unwrap();
    tabs[others[0]]
        .until(5_000, "an echo", |n| {
            text(n).as_deref() == Some("still-here")
        })
        .await;
    let heard: Vec<String> = tabs[first]
        .quiet_for(300)
        .await
        .iter()
        .filter_map(text)
        .collect();
    assert!(heard.is_empty(), "a closed tab hears nothing: {heard:?}");
    server_until(&key, 3_000, |s| s["open_now"] == 1).await;
    // A follower's close is its own: the leader keeps the socket.
    let follower = if next == others[0] {
        others[1]
    } else {
        others[0]
    };
    tabs[follower].socket().close(1000, "second").unwrap();
    tabs[next].socket().send_text("after-second").unwrap();
    tabs[next]
        .until(3_000, "an echo", |n| {
            text(n).as_deref() == Some("after-second")
        })
        .await;
    assert_eq!(stats(&key).await["open_now"], 1);
    tabs[next].socket().close(4000, "last").unwrap();
    let stats = server_until(&key, 3_000, |s| s["open_now"] == 0).await;
    assert_eq!(stats["opened"], 2, "{stats}");
    let closes = stats["closes"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        closes.last().map(|close| close["code"].clone()),
        Some(serde_json::json!(4000)),
        "closed with the last tab's code: {stats}"
    );
    // A tab that opens again reopens it.
    tabs[follower].socket().open();
    server_until(&key, 3_000, |s| s["open_now"] == 1).await;
}

/// A following tab dropped while the leader still holds its frames (the socket cannot open):
/// they go with it, and its application is told, not left to guess (the hook's handle is
/// replaced this way when its config changes). The same for the leading tab's own.
#[wasm_bindgen_test]
async fn a_tab_dropped_with_frames_not_sent_yet_reports_them_discarded() {
    // Kept on close or not: once the handle is gone, nothing will send them.
    for keep in [false, true] {
        dropped_with_frames_not_sent_yet(keep).await;
    }
}

async fn dropped_with_frames_not_sent_yet(keep: bool) {
    let key = unique_key("shared-drop-unacked");
    // Every upgrade refused, and retried for ever: nothing a follower hands the leader goes out.
    let config = || {
        fast(test_url(&key, "mode=reject"))
            .with_shared(key.clone())
            .with_unreachable_after(None)
            .with_outbox_kept_on_close(keep)
    };
    let mut tabs: Vec<Probe> = (0..2).map(|_| Probe::connect(config())).collect();
    let follower = 1 - new_leader(&tabs, &[0, 1], 5_000).await;
    until_true(5_000, "the follower knows it follows", || {
        tabs[follower].socket().role() == Some(Role::Follower)
    })
    .await;
    for text in ["never sent", "nor this"] {
        tabs[follower].socket().send_text(text).unwrap();
    }
    tabs[follower].drop_socket();
    tabs[follower]
        .until(
            2_000,
            &format!("the dropped frames reported (kept: {keep})"),
            |n| *n == Notice::Event(Event::Discarded { frames: 2 }),
        )
        .await;
    let leader = 1 - follower;
    for text in ["queued", "by", "the leader"] {
        tabs[leader].socket().send_text(text).unwrap();
    }
    tabs[leader].drop_socket();
    tabs[leader]
        .until(2_000, "the leader's dropped frames reported", |n| {
            *n == Notice::Event(Event::Discarded { frames: 3 })
        })
        .await;
    assert_eq!(stats(&key).await["received"], serde_json::json!([]));
}

/// A leading tab whose application closes while another tab still wants the connection: what it
/// queued while the connection was down is dropped and reported, not sent at the next open (the
/// app did not ask to keep it); the other tab leads, on a socket of its own, and its frame goes
/// out.
#[wasm_bindgen_test]
async fn a_leaders_close_drops_what_it_queued_and_the_next_leader_sends_the_others() {
    let key = unique_key("shared-leader-close");
    // The first connection drops (1006) after a second; the next ones echo. A reconnect waits
    // 1 s, so the sends and the close below happen while it is down.
    let mut tabs = tabs_with(&key, 2, |key| {
        Config::new(test_url(key, "mode=drop&after_ms=1000&then=echo"))
            .with_reconnect_delays(1_000, 1_000, 1.0)
            .with_jitter(false)
            .with_shared(key)
    })
    .await;
    let first = leader(&tabs);
    let other = 1 - first;
    tabs[first]
        .status(5_000, |s| matches!(s, Status::Reconnecting { .. }))
        .await;
    tabs[first].socket().send_text("a-queued").unwrap();
    tabs[other].socket().send_text("b-queued").unwrap();
    tabs[first].socket().close(1000, "this tab only").unwrap();
    tabs[first]
        .until(1_000, "the discard reported", |n| {
            *n == Notice::Event(Event::Discarded { frames: 1 })
        })
        .await;
    new_leader(&tabs, &[other], 5_000).await;
    // At an open the leader's queued frames go first and the others' behind them: once the
    // other tab's frame arrived, the leader's would have.
    until_received(&key, "b-", 1, 5_000).await;
    assert_eq!(received(&key, "a-").await, Vec::<String>::new());
    connections_are(&key, 2, 1).await;
}

#[wasm_bindgen_test]
async fn a_frozen_leader_is_taken_over_by_one_follower_in_time_and_nothing_is_lost_or_doubled() {
    let key = unique_key("shared-frozen");
    let mut tabs = quick_tabs(&key, 4).await;
    let (old, followers, senders) = followers_of(&tabs);
    let prefixes = ["a", "b", "c"];
    send_numbered(&tabs, &senders, 0..5);
    server_until(&key, 3_000, |s| count_numbered(s, &prefixes) >= 15).await;
    for f in &followers {
        until_true(3_000, "every frame acknowledged", || {
            tabs[*f].socket().queued() == 0
        })
        .await;
    }
    // The leader's loop stops: it keeps its lock and its socket, and reads nothing.
    tabs[old].socket().simulate_freeze(true);
    let frozen_at = js_sys::Date::now();
    // Handed to the frozen leader: the next one must send them, once.
    send_numbered(&tabs, &senders, 5..10);
    // The three followers notice the silence at about the same time; one takes over.
    let bound_ms = TAKEOVER_MS as f64 * 1.5 + HANDOVER_MS;
    let (new, opened_at) = new_leader_open(&mut tabs, &followers, bound_ms as u32 + 2_000).await;
    open_again_within("froze", frozen_at, opened_at, bound_ms);
    send_numbered(&tabs, &senders, 10..15);
    // The server sees the new connection beside the frozen tab's socket, and no third.
    server_until(&key, 3_000, |s| s["opened"] == 2).await;
    // The old leader thaws: it reads what waited (the frames handed to it among them), finds
    // its lock stolen and steps down, without sending any of them, and closes its socket.
    tabs[old].socket().simulate_freeze(false);
    tabs[old]
        .until(3_000, "the old leader follows", |n| {
            *n == Notice::Role(Role::Follower)
        })
        .await;
    server_until(&key, 3_000, |s| s["open_now"] == 1).await;
    assert_once_in_order(&key, &prefixes, 15).await;
    // And it goes on as a follower.
    tabs[old].socket().send_text("z0").unwrap();
    assert_once_in_order(&key, &["z"], 1).await;
    let leaders: Vec<usize> = (0..4)
        .filter(|i| tabs[*i].socket().role() == Some(Role::Leader))
        .collect();
    assert_eq!(leaders, [new]);
    after_one_handover(&key, &tabs, &followers).await;
}

#[wasm_bindgen_test]
async fn a_crashed_leader_is_replaced_in_time_and_nothing_is_lost_or_doubled() {
    let key = unique_key("shared-crash");
    let mut tabs = tabs(&key, 3).await;
    let (old, followers, senders) = followers_of(&tabs);
    let prefixes = ["a", "b"];
    send_numbered(&tabs, &senders, 0..5);
    server_until(&key, 3_000, |s| count_numbered(s, &prefixes) >= 10).await;
    // Its loop stops with frames waiting for it, then it dies without a word: no goodbye, no
    // acknowledgement, its lock let go by the browser.
    tabs[old].socket().simulate_freeze(true);
    send_numbered(&tabs, &senders, 5..10);
    let crashed_at = js_sys::Date::now();
    tabs[old]
        .take_socket()
        .expect("the probe is its socket's only owner")
        .simulate_crash();
    send_numbered(&tabs, &senders, 10..15);
    let (_, opened_at) = new_leader_open(&mut tabs, &followers, 3_000).await;
    open_again_within("crashed", crashed_at, opened_at, HANDOVER_MS);
    assert_once_in_order(&key, &prefixes, 15).await;
    let stats = server_until(&key, 3_000, |s| s["open_now"] == 1).await;
    assert_eq!(stats["opened"], 2, "{stats}");
}

/// The browser's own freeze of a hidden tab cannot be caused from a page; what the library sees
/// of it is the `freeze` event the browser sends first, dispatched here. It reaches every handle
/// of the page: the followers keep going, the leader steps down at once, long before the
/// followers' takeover time (the default, 4 s, here) would have run out.
#[wasm_bindgen_test]
async fn a_leader_told_it_will_be_frozen_hands_over_at_once_and_nothing_is_lost_or_doubled() {
    let key = unique_key("shared-freeze-event");
    let mut tabs = tabs(&key, 3).await;
    let (old, followers, senders) = followers_of(&tabs);
    let prefixes = ["a", "b"];
    send_numbered(&tabs, &senders, 0..5);
    // Acknowledged: the leader knows both followers (a leader alone keeps its socket).
    for f in &followers {
        until_true(3_000, "every frame acknowledged", || {
            tabs[*f].socket().queued() == 0
        })
        .await;
    }
    // The leader's own frame, just before: sent by its socket, or handed on with its unsent ones.
    tabs[old].socket().send_text("o0").unwrap();
    let froze_at = js_sys::Date::now();
    run_js("document.dispatchEvent(new Event('freeze'))");
    // And then it is frozen, as the browser would: what it posted while stepping down is out;
    // what reaches it now waits.
    tabs[old].socket().simulate_freeze(true);
    send_numbered(&tabs, &senders, 5..10);
    let (_, opened_at) = new_leader_open(&mut tabs, &followers, HANDOVER_MS as u32 + 2_000).await;
    open_again_within(
        "was told it will be frozen",
        froze_at,
        opened_at,
        HANDOVER_MS,
    );
    send_numbered(&tabs, &senders, 10..15);
    assert_once_in_order(&key, &prefixes, 15).await;
    // It thaws a follower of the new leader.
    tabs[old].socket().simulate_freeze(false);
    assert_eq!(tabs[old].socket().role(), Some(Role::Follower));
    tabs[old].socket().send_text("z0").unwrap();
    assert_once_in_order(&key, &["z", "o"], 1).await;
    let stats = server_until(&key, 3_000, |s| s["open_now"] == 1).await;
    assert_eq!(stats["opened"], 2, "{stats}");
}

fn bytes_of(notice: &Notice) -> Option<Vec<u8>> {
    match notice {
        Notice::Message(Inbound::ArrayBuffer(buffer)) => {
            Some(js_sys::Uint8Array::new(buffer).to_vec())
        }
        _ => None,
    }
}

#[wasm_bindgen_test]
async fn binary_frames_cross_the_channel_both_ways_as_bytes() {
    let key = unique_key("shared-binary");
    let mut tabs = tabs(&key, 2).await;
    let follower = 1 - leader(&tabs);
    // Every byte value, and one frame past the structured-clone-free path of a short string.
    let all: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..70_000u32).map(|n| (n * 7 % 251) as u8).collect();
    tabs[follower].socket().send_bytes(&all).unwrap();
    let buffer = js_sys::Uint8Array::from(&big[..]).buffer();
    tabs[follower].socket().send_array_buffer(&buffer).unwrap();
    until_received(&key, "<binary", 2, 3_000).await;
    let got: Vec<String> = received(&key, "<binary").await;
    assert_eq!(got, ["<binary 256 bytes>", "<binary 70000 bytes>"]);
    // The echoes reach both tabs, the follower's through the channel, byte for byte.
    for tab in [follower, 1 - follower] {
        let mut echoes = Vec::new();
        while echoes.len() < 2 {
            let (_, notice) = tabs[tab]
                .until(3_000, "a binary echo", |n| bytes_of(n).is_some())
                .await;
            echoes.extend(bytes_of(&notice));
        }
        assert_eq!(echoes, [all.clone(), big.clone()], "tab {tab}");
        let more: Vec<Vec<u8>> = tabs[tab]
            .quiet_for(300)
            .await
            .iter()
            .filter_map(bytes_of)
            .collect();
        assert!(more.is_empty(), "tab {tab} got a binary frame twice");
    }
    assert_eq!(tabs[follower].socket().queued(), 0);
}

/// Hides `navigator.locks` while it lives, as in a browser without Web Locks.
struct NoWebLocks;

impl NoWebLocks {
    fn hide() -> Self {
        run_js(
            "Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true })",
        );
        Self
    }
}

impl Drop for NoWebLocks {
    fn drop(&mut self) {
        run_js("delete navigator.locks");
    }
}

fn run_js(code: &str) {
    js_sys::Function::new_no_args(code)
        .call0(&JsValue::NULL)
        .expect("the script runs");
}

#[wasm_bindgen_test]
async fn without_web_locks_each_tab_is_told_it_is_alone_and_has_its_own_socket() {
    let key = unique_key("shared-alone");
    let mut tabs: Vec<Probe> = {
        let _hidden = NoWebLocks::hide();
        (0..2).map(|_| Probe::connect(shared(&key))).collect()
    };
    for (i, tab) in tabs.iter_mut().enumerate() {
        let (_, notice) = tab
            .until(1_000, "the alone notice", |n| matches!(n, Notice::Role(_)))
            .await;
        match notice {
            Notice::Role(Role::Alone { reason }) => {
                assert!(reason.contains("Web Locks"), "tab {i}: {reason}")
            }
            other => panic!("tab {i}: {other:?}"),
        }
        assert!(
            matches!(tab.socket().role(), Some(Role::Alone { .. })),
            "tab {i}"
        );
        tab.status(5_000, |s| s == Status::Open).await;
        tab.socket().send_text(format!("alone-{i}")).unwrap();
    }
    // Each has its own socket, and hears its own echo only.
    for (i, tab) in tabs.iter_mut().enumerate() {
        let (_, notice) = tab.until(3_000, "its echo", |n| text(n).is_some()).await;
        assert_eq!(text(&notice), Some(format!("alone-{i}")));
        let more: Vec<String> = tab.quiet_for(300).await.iter().filter_map(text).collect();
        assert!(more.is_empty(), "tab {i} heard another's frames: {more:?}");
    }
    connections_are(&key, 2, 2).await;
    // Web Locks back: a new handle shares again.
    let shared_again = Probe::connect(shared(&unique_key("shared-again")));
    assert!(
        matches!(
            shared_again.socket().role(),
            Some(Role::Leader | Role::Follower)
        ),
        "{:?}",
        shared_again.socket().role()
    );
}

// Tabs as frames: each same-origin iframe runs its own instance of this test module, with its
// own document and global scope (its own channel object and lock requests, as a tab has), and
// the browser tears it down when the frame is removed: no `Drop` runs, the browser itself lets
// the frame's lock go and closes its socket, as for a closed tab.

/// In a frame: its tab, and the `tabSend`, `tabClose` and `tabQueued` functions it put on its
/// window.
type InFrame = (
    std::rc::Rc<Heartline>,
    Closure<dyn Fn(String)>,
    Closure<dyn Fn()>,
    Closure<dyn Fn() -> f64>,
);

thread_local! {
    static FRAME_TAB: std::cell::RefCell<Option<InFrame>> = const { std::cell::RefCell::new(None) };
}

/// Runs in a frame's own instance of this module (see [`FrameTab`]): one tab of `key` (on a
/// deaf first socket: [`held_by_a_deaf_socket`]). What it receives (`tabLog`), its status
/// (`tabStatus`), its role (`tabRole`) and the frames put back in its outbox (`tabRequeued`) go
/// on its window; `tabSend(text)` sends, `tabQueued()` counts what waits.
#[wasm_bindgen]
pub fn frame_tab(key: String, deaf: bool) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let log = js_sys::Array::new();
    let _ = Reflect::set(&window, &"tabLog".into(), &log);
    let shown = window.clone();
    let config = if deaf {
        held_by_a_deaf_socket(&key)
    } else {
        shared(&key)
    };
    let requeued = std::cell::Cell::new(0usize);
    let socket = Heartline::new(config, move |notice| {
        let (name, value): (&str, JsValue) = match notice {
            Notice::Message(Inbound::Text(text)) => {
                log.push(&text.to_string().into());
                return;
            }
            Notice::Role(role) => ("tabRole", format!("{role:?}").into()),
            Notice::Event(Event::Status(status)) => ("tabStatus", format!("{status:?}").into()),
            Notice::Event(Event::Requeued { frames }) => {
                requeued.set(requeued.get() + frames);
                ("tabRequeued", (requeued.get() as f64).into())
            }
            _ => return,
        };
        let _ = Reflect::set(&shown, &name.into(), &value);
    });
    socket.open();
    let socket = std::rc::Rc::new(socket);
    let sender = socket.clone();
    let send = Closure::<dyn Fn(String)>::new(move |text: String| {
        if let Err(error) = sender.send_text(text) {
            web_sys::console::error_1(&format!("frame tab: {error}").into());
        }
    });
    let _ = Reflect::set(&window, &"tabSend".into(), send.as_ref());
    let closer = socket.clone();
    let close = Closure::<dyn Fn()>::new(move || {
        if let Err(error) = closer.close(1000, "closed by the page") {
            web_sys::console::error_1(&format!("frame tab: {error}").into());
        }
    });
    let _ = Reflect::set(&window, &"tabClose".into(), close.as_ref());
    let counted = socket.clone();
    let queued = Closure::<dyn Fn() -> f64>::new(move || counted.queued() as f64);
    let _ = Reflect::set(&window, &"tabQueued".into(), queued.as_ref());
    FRAME_TAB.with(|slot| *slot.borrow_mut() = Some((socket, send, close, queued)));
}

/// A tab in a same-origin iframe of the test page.
struct FrameTab {
    frame: web_sys::Element,
}

impl FrameTab {
    fn open(key: &str, deaf: bool) -> Self {
        Self::open_after(key, deaf, "")
    }

    /// Like [`open`](Self::open), with `prelude` run in the frame first (to take something from
    /// its browser).
    fn open_after(key: &str, deaf: bool, prelude: &str) -> Self {
        let window = web_sys::window().expect("a window");
        let document = window.document().expect("a document");
        let origin = Reflect::get(&window, &"location".into())
            .and_then(|location| Reflect::get(&location, &"origin".into()))
            .ok()
            .and_then(|origin| origin.as_string())
            .expect("the test page's origin");
        let frame = document.create_element("iframe").expect("an iframe");
        // The runner serves this module's glue at /wasm-bindgen-test.js.
        let page = format!(
            "<script>{prelude}</script><script type=module>import('{origin}/wasm-bindgen-test.js')\
             .then(async (glue) => {{ await glue.default('{origin}/wasm-bindgen-test_bg.wasm'); glue.frame_tab('{key}', {deaf}); }})\
             .catch((error) => {{ window.tabError = String((error && error.stack) || error); }});</script>"
        );
        frame.set_attribute("srcdoc", &page).expect("srcdoc");
        document
            .body()
            .expect("a body")
            .append_child(&frame)
            .expect("the frame is added");
        Self { frame }
    }

    fn field(&self, name: &str) -> JsValue {
        Reflect::get(&self.frame, &"contentWindow".into())
            .and_then(|window| Reflect::get(&window, &name.into()))
            .unwrap_or(JsValue::UNDEFINED)
    }

    fn role(&self) -> Option<String> {
        self.field("tabRole").as_string()
    }

    fn is_open(&self) -> bool {
        self.field("tabStatus").as_string().as_deref() == Some("Open")
    }

    fn log(&self) -> Vec<String> {
        js_sys::Array::from(&self.field("tabLog"))
            .iter()
            .filter_map(|text| text.as_string())
            .collect()
    }

    /// The frame goes to another page (its document is unloaded: `pagehide`, then gone).
    fn navigate_away(&self) {
        self.frame
            .set_attribute("srcdoc", "<p>another page</p>")
            .expect("srcdoc");
    }

    /// The frame's application closes its subscription.
    fn close(&self) {
        let close: js_sys::Function = self.field("tabClose").into();
        close.call0(&JsValue::NULL).expect("the frame's close runs");
    }

    fn queued(&self) -> usize {
        let queued: js_sys::Function = self.field("tabQueued").into();
        queued
            .call0(&JsValue::NULL)
            .ok()
            .and_then(|count| count.as_f64())
            .expect("the frame's count runs") as usize
    }

    fn send(&self, text: &str) {
        let send: js_sys::Function = self.field("tabSend").into();
        send.call1(&JsValue::NULL, &text.into())
            .expect("the frame's send runs");
    }
}

/// The browser tears the frame down: its document, its instance, its lock and its socket (at the
/// end of a test too, passed or failed, so no frame outlives its test).
impl Drop for FrameTab {
    fn drop(&mut self) {
        self.frame.remove();
    }
}

async fn frame_tabs(key: &str, count: usize) -> Vec<FrameTab> {
    frame_tabs_with(key, count, false).await
}

/// Frame tabs, on a deaf first socket ([`held_by_a_deaf_socket`]) or an echo.
async fn frame_tabs_with(key: &str, count: usize, deaf: bool) -> Vec<FrameTab> {
    let tabs: Vec<FrameTab> = (0..count).map(|_| FrameTab::open(key, deaf)).collect();
    let start = js_sys::Date::now();
    while !tabs.iter().all(FrameTab::is_open) {
        // Each frame fetches and compiles this module: generous for a loaded machine.
        if js_sys::Date::now() - start > 30_000.0 {
            let seen: Vec<String> = tabs
                .iter()
                .map(|tab| {
                    format!(
                        "status {:?}, role {:?}, ran {}, error {:?}",
                        tab.field("tabStatus"),
                        tab.role(),
                        !tab.field("tabLog").is_undefined(),
                        tab.field("tabError").as_string()
                    )
                })
                .collect();
            panic!("the frame tabs did not all open within 30 s: {seen:?}");
        }
        gloo_timers::future::TimeoutFuture::new(10).await;
    }
    tabs
}

#[wasm_bindgen_test]
async fn tabs_whose_browser_refuses_the_lock_each_connect_on_their_own() {
    // As in an opaque origin (a sandboxed frame): `navigator.locks` is there, and refuses.
    let key = unique_key("shared-no-locks");
    let refuse = "Object.defineProperty(navigator, 'locks', { value: { request: () => \
                  Promise.reject(new DOMException('denied here', 'SecurityError')) } });";
    let tabs: Vec<FrameTab> = (0..2)
        .map(|_| FrameTab::open_after(&key, false, refuse))
        .collect();
    until_true(30_000, "each frame open", || {
        tabs.iter().all(FrameTab::is_open)
    })
    .await;
    for tab in &tabs {
        let role = tab.role().unwrap_or_default();
        assert!(
            role.starts_with("Alone") && role.contains("SecurityError"),
            "told why it does not share: {role}"
        );
    }
    // Each its own connection, each frame's text on it.
    tabs[0].send("one");
    tabs[1].send("two");
    let stats = server_until(&key, 5_000, |s| {
        s["received"].as_array().is_some_and(|r| r.len() >= 2)
    })
    .await;
    assert_eq!(stats["opened"], 2, "{stats}");
    let mut received: Vec<String> = stats["received"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    received.sort();
    assert_eq!(received, ["one", "two"]);
}

fn frame_leader(tabs: &[FrameTab]) -> usize {
    let leaders: Vec<usize> = (0..tabs.len())
        .filter(|i| tabs[*i].role().as_deref() == Some("Leader"))
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leading frame: {leaders:?}");
    leaders[0]
}

/// Every frame tab received each of `expected`; none of the numbered texts of `prefixes` twice,
/// and each prefix's in order.
async fn frames_received(tabs: &[FrameTab], prefixes: &[&str], expected: &[String]) {
    let ours = |tab: &FrameTab| -> Vec<String> {
        tab.log()
            .into_iter()
            .filter(|t| t.len() <= 4 && prefixes.iter().any(|p| t.starts_with(p)))
            .collect()
    };
    until_true(5_000, "every echo in every frame", || {
        tabs.iter()
            .all(|tab| expected.iter().all(|text| ours(tab).contains(text)))
    })
    .await;
    for (i, tab) in tabs.iter().enumerate() {
        let got = ours(tab);
        for prefix in prefixes {
            let numbers: Vec<u32> = got
                .iter()
                .filter(|t| t.starts_with(prefix))
                .filter_map(|t| t[prefix.len()..].parse().ok())
                .collect();
            assert!(
                numbers.windows(2).all(|pair| pair[0] < pair[1]),
                "frame {i}: the echoes of {prefix} once each, in order: {numbers:?}"
            );
        }
    }
}

fn numbered(prefixes: &[&str], range: std::ops::Range<u32>) -> Vec<String> {
    prefixes
        .iter()
        .flat_map(|p| range.clone().map(move |n| format!("{p}{n}")))
        .collect()
}

#[wasm_bindgen_test]
async fn three_frames_make_one_connection_and_every_frame_reaches_every_tab_once() {
    let key = unique_key("shared-frames");
    let tabs = frame_tabs(&key, 3).await;
    frame_leader(&tabs);
    for n in 0..10 {
        for (tab, prefix) in tabs.iter().zip(["a", "b", "c"]) {
            tab.send(&format!("{prefix}{n}"));
        }
    }
    assert_once_in_order(&key, &["a", "b", "c"], 10).await;
    frames_received(&tabs, &["a", "b", "c"], &numbered(&["a", "b", "c"], 0..10)).await;
    connections_are(&key, 1, 1).await;
    drop(tabs);
    server_until(&key, 3_000, |s| s["open_now"] == 0).await;
}

#[wasm_bindgen_test]
async fn removing_the_leading_frame_hands_over_with_no_frame_lost_or_doubled() {
    let key = unique_key("shared-frames-gone");
    let mut tabs = frame_tabs(&key, 3).await;
    let old = frame_leader(&tabs);
    let followers: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    // Followers a and b: at these places now, and at 0 and 1 once the leader's frame is gone.
    let send = |tabs: &[FrameTab], places: [usize; 2], range: std::ops::Range<u32>| {
        for n in range {
            for (place, prefix) in places.iter().zip(["a", "b"]) {
                tabs[*place].send(&format!("{prefix}{n}"));
            }
        }
    };
    send(&tabs, [followers[0], followers[1]], 0..5);
    // Mid-conversation: the leader has sent the first, and the rest wait in its channel queue.
    until_received(&key, "a0", 1, 3_000).await;
    let gone_at = js_sys::Date::now();
    drop(tabs.remove(old));
    send(&tabs, [0, 1], 5..10);
    until_true(HANDOVER_MS as u32 + 2_000, "a frame took the lead", || {
        tabs.iter()
            .any(|tab| tab.role().as_deref() == Some("Leader"))
    })
    .await;
    frame_leader(&tabs);
    server_until(&key, HANDOVER_MS as u32 + 2_000, |s| {
        s["opened"] == 2 && s["open_now"] == 1
    })
    .await;
    // Seen by the server's count (polled), so a little later than the open itself.
    open_again_within(
        "frame was removed",
        gone_at,
        js_sys::Date::now(),
        HANDOVER_MS,
    );
    send(&tabs, [0, 1], 10..15);
    assert_once_in_order(&key, &["a", "b"], 15).await;
    // The echoes of what was sent after the handover reach both remaining tabs (earlier ones
    // came back on the old leader's socket, and may have gone with it); none twice, in order.
    frames_received(&tabs, &["a", "b"], &numbered(&["a", "b"], 10..15)).await;
    connections_are(&key, 2, 1).await;
}

/// A page that goes runs no destructor: the leading frame's application closes and the other
/// frame leads; when its page goes, its `pagehide` hands over (nobody is left) and the socket
/// closes with the page, not after a follower's lease (150 s).
#[wasm_bindgen_test]
async fn when_the_last_frame_using_the_socket_goes_the_socket_closes() {
    let key = unique_key("shared-frames-last");
    let tabs = frame_tabs(&key, 2).await;
    let leader = frame_leader(&tabs);
    let follower = 1 - leader;
    // The leading frame's application closes; the other frame still uses the connection, and
    // leads it now.
    tabs[leader].close();
    tabs[follower].send("f0");
    frames_received(&tabs[follower..=follower], &["f"], &["f0".to_string()]).await;
    server_until(&key, 3_000, |s| s["open_now"] == 1).await;
    // That page goes: the last tab using the connection.
    tabs[follower].navigate_away();
    let stats = server_until(&key, 3_000, |s| s["open_now"] == 0).await;
    assert_eq!(stats["opened"], 2, "{stats}");
}
