//! A server restart, in a test binary of its own: the outage drops every connection and takes
//! the listener away, so no other test may be using the server meanwhile.
#![cfg(target_arch = "wasm32")]

mod support;

use heartline::{Event, Inbound, Notice};
use support::{fast, test_url, unique_key, Probe};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn server_restart_reconnects_with_backoff() {
    let key = unique_key("restart");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    support::get("/test/outage?ms=700").await;
    let (_, notice) = probe
        .until(3_000, "close", |n| {
            matches!(n, Notice::Event(Event::Closed(_)))
        })
        .await;
    let Notice::Event(Event::Closed(close)) = notice else {
        unreachable!()
    };
    assert_eq!(close.code, 1006);
    probe.opened().await;
    let delays: Vec<u64> = probe
        .seen
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Event(Event::ReconnectScheduled { delay_ms, .. }) => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert!(
        delays.len() >= 2,
        "the server was down for several attempts: {delays:?}"
    );
    assert!(delays.iter().all(|d| (100..=400).contains(d)), "{delays:?}");
    probe.socket().send_text("back").unwrap();
    let (_, notice) = probe
        .until(3_000, "echo", |n| matches!(n, Notice::Message(_)))
        .await;
    assert_eq!(notice, Notice::Message(Inbound::Text("back".into())));
}
