//! One connection for several tabs ([`Config::with_shared`]) in real browsers, against the real
//! server's test mode, which counts the connections it sees per key.
//!
//! wasm-bindgen-test runs every test in one page, so the "tabs" here are several `Heartline`
//! handles in that page with the same shared key. Each has its own `BroadcastChannel` object and
//! its own place in the Web Locks queue, so the browser APIs are exercised exactly as between
//! tabs (a channel never hands a message back to the object that posted it, and each lock
//! request is queued on its own); what this does not cover is a tab's process going away, which
//! the end-to-end test with several pages does.
#![cfg(target_arch = "wasm32")]

mod support;

use heartline::{Config, Inbound, Notice, Role, Status};
use support::{fast, server_until, stats, test_url, unique_key, until_true, Probe};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn shared(key: &str) -> Config {
    fast(test_url(key, "mode=echo")).with_shared(key)
}

/// Tabs all open, one of them leading.
async fn tabs(key: &str, count: usize) -> Vec<Probe> {
    let mut tabs: Vec<Probe> = (0..count).map(|_| Probe::connect(shared(key))).collect();
    for tab in &mut tabs {
        tab.status(5_000, |status| status == Status::Open).await;
    }
    tabs
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
    let stats = stats(&key).await;
    assert_eq!(
        (stats["opened"].as_u64(), stats["open_now"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
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
    server_until(&key, 5_000, |s| {
        s["received"].as_array().is_some_and(|r| {
            r.iter()
                .filter(|t| t.as_str().is_some_and(|t| t.starts_with("f-")))
                .count()
                >= 100
        })
    })
    .await;
    assert_eq!(received(&key, "f-").await, sent);
    assert_eq!(
        tabs[follower].socket().queued(),
        0,
        "every frame acknowledged"
    );
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
    let mut new_leader = None;
    for f in &followers {
        let (at, _) = tabs[*f].status(5_000, |s| s == Status::Open).await;
        if tabs[*f].socket().role() == Some(Role::Leader) {
            new_leader = Some((*f, at));
        }
    }
    let (_, opened_at) = new_leader.expect("a follower took over");
    web_sys::console::log_1(
        &format!(
            "handover: open again {:.0} ms after the leader closed",
            opened_at - closed_at
        )
        .into(),
    );
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
    let stats = stats(&key).await;
    assert_eq!(
        (stats["opened"].as_u64(), stats["open_now"].as_u64()),
        (Some(2), Some(1)),
        "{stats}"
    );
    for f in &followers {
        assert_eq!(tabs[*f].socket().queued(), 0);
    }
}

#[wasm_bindgen_test]
async fn a_tab_close_is_its_own_and_the_last_tab_closes_the_socket() {
    let key = unique_key("shared-last");
    let mut tabs = tabs(&key, 3).await;
    let first = leader(&tabs);
    let others: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    // The leader's own close: it stops, the others carry on over its socket.
    tabs[first].socket().close(1000, "this tab only").unwrap();
    assert_eq!(tabs[first].socket().status(), Status::Stopped);
    tabs[others[0]].socket().send_text("still-here").unwrap();
    tabs[others[0]]
        .until(3_000, "an echo", |n| {
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
    tabs[others[0]].socket().close(1000, "second").unwrap();
    assert_eq!(stats(&key).await["open_now"], 1);
    tabs[others[1]].socket().close(4000, "last").unwrap();
    let stats = server_until(&key, 3_000, |s| s["open_now"] == 0).await;
    assert_eq!(stats["opened"], 1, "{stats}");
    assert_eq!(
        stats["closes"][0]["code"], 4000,
        "closed with the last tab's code: {stats}"
    );
    // A tab that opens again reopens it.
    tabs[others[0]].socket().open();
    server_until(&key, 3_000, |s| s["open_now"] == 1).await;
}
