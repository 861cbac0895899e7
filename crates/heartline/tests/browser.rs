//! The library in real browsers against the real server's test modes.
#![cfg(target_arch = "wasm32")]

mod support;

use heartline::{BinaryType, CloseError, Event, Inbound, Notice, SendError, Status};
use js_sys::{Array, Uint8Array};
use support::{fast, opened, server_until, stats, test_url, unique_key, Probe};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn is_message(notice: &Notice) -> bool {
    matches!(notice, Notice::Message(_))
}

fn closed(notice: &Notice) -> Option<&heartline::CloseInfo> {
    match notice {
        Notice::Event(Event::Closed(close)) => Some(close),
        _ => None,
    }
}

#[wasm_bindgen_test]
async fn text_round_trip() {
    let key = unique_key("text");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    probe.socket().send_text("héllo, 世界").unwrap();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    assert_eq!(notice, Notice::Message(Inbound::Text("héllo, 世界".into())));
}

#[wasm_bindgen_test]
async fn json_is_sent_as_text() {
    let key = unique_key("json");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe
        .socket()
        .send_json(&serde_json::json!({"n": 1, "s": "x"}))
        .unwrap();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    let Notice::Message(Inbound::Text(text)) = notice else {
        panic!("text expected: {notice:?}")
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value, serde_json::json!({"n": 1, "s": "x"}));
}

#[wasm_bindgen_test]
async fn binary_round_trip_as_array_buffer() {
    let key = unique_key("bin-ab");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    let bytes: Vec<u8> = (0..=255).collect();
    probe.socket().send_bytes(&bytes).unwrap();
    // An ArrayBuffer (as canvas ImageData gives one) goes out as binary too.
    let buffer = Uint8Array::from(&[9u8, 8, 7][..]).buffer();
    probe.socket().send_array_buffer(&buffer).unwrap();
    let (_, first) = probe.until(3_000, "first echo", is_message).await;
    let Notice::Message(first) = first else {
        unreachable!()
    };
    assert!(first.is_binary(), "binary frames are told from text");
    assert_eq!(first.to_bytes(), Some(bytes));
    let (_, second) = probe.until(3_000, "second echo", is_message).await;
    let Notice::Message(second) = second else {
        unreachable!()
    };
    assert_eq!(second.to_bytes(), Some(vec![9, 8, 7]));
}

async fn blob_bytes(blob: &web_sys::Blob) -> Vec<u8> {
    let buffer = JsFuture::from(blob.array_buffer()).await.unwrap();
    Uint8Array::new(&buffer).to_vec()
}

#[wasm_bindgen_test]
async fn binary_round_trip_as_blob() {
    let key = unique_key("bin-blob");
    let config = fast(test_url(&key, "mode=echo")).with_binary_type(BinaryType::Blob);
    let mut probe = Probe::connect(config);
    probe.socket().send_bytes(&[1, 2, 3, 250]).unwrap();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    let Notice::Message(Inbound::Blob(blob)) = notice else {
        panic!("a Blob expected: {notice:?}")
    };
    assert_eq!(blob_bytes(&blob).await, [1, 2, 3, 250]);
}

#[wasm_bindgen_test]
async fn blob_upload_reaches_the_server_whole() {
    let key = unique_key("blob-up");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    // A Blob built like a File from <input type=file>: several parts, 100 KiB in all.
    let part = Uint8Array::from(&vec![0x5a; 50 * 1024][..]);
    let parts = Array::of2(&part, &part);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap();
    probe.socket().send_blob(&blob).unwrap();
    let (_, notice) = probe.until(5_000, "echo", is_message).await;
    let Notice::Message(echo) = notice else {
        unreachable!()
    };
    assert_eq!(echo.byte_len(), 100 * 1024);
    server_until(&key, 3_000, |s| s["received"][0] == "<binary 102400 bytes>").await;
}

#[wasm_bindgen_test]
async fn server_close_4001_is_reported_by_name_and_not_retried() {
    let key = unique_key("close4001");
    let mut probe = Probe::connect(fast(test_url(
        &key,
        "mode=close&code=4001&reason=kicked&after_ms=50",
    )));
    let (_, notice) = probe.until(3_000, "close", |n| closed(n).is_some()).await;
    let close = closed(&notice).unwrap();
    assert_eq!(
        (close.code, close.reason.as_str(), close.was_clean),
        (4001, "kicked", true)
    );
    assert_eq!(close.code_name(), "Application");
    probe.status(1_000, |s| s == Status::Closed).await;
    // Policy: 4xxx is not retried; longer than the max delay shows no new connection.
    probe.quiet_for(800).await;
    assert_eq!(opened(&key).await, 1);
}

#[wasm_bindgen_test]
async fn server_close_1011_is_reported_and_retried() {
    let key = unique_key("close1011");
    let mut probe = Probe::connect(fast(test_url(
        &key,
        "mode=close&code=1011&reason=boom&after_ms=50&then=echo",
    )));
    let (_, notice) = probe.until(3_000, "close", |n| closed(n).is_some()).await;
    let close = closed(&notice).unwrap();
    assert_eq!(
        (
            close.code,
            close.code_name(),
            close.reason.as_str(),
            close.was_clean
        ),
        (1011, "Internal Error", "boom", true)
    );
    probe
        .status(1_000, |s| {
            matches!(s, Status::Reconnecting { attempt: 1, .. })
        })
        .await;
    probe.opened().await;
    assert_eq!(opened(&key).await, 2);
}

#[wasm_bindgen_test]
async fn silent_server_is_detected_within_interval_plus_timeout_then_reconnected() {
    let key = unique_key("silent");
    let config = fast(test_url(&key, "mode=silent")).with_heartbeat_timing(300, 300);
    let mut probe = Probe::connect(config);
    let opened_at = probe.opened().await;
    let (lost_at, _) = probe
        .until(3_000, "heartbeat timeout", |n| {
            *n == Notice::Event(Event::HeartbeatTimeout)
        })
        .await;
    let took = lost_at - opened_at;
    assert!(
        (600.0..=600.0 + 250.0).contains(&took),
        "detected after {took} ms, expected 600 ms + slack"
    );
    let (_, notice) = probe.until(500, "close", |n| closed(n).is_some()).await;
    assert_eq!(closed(&notice).map(|c| c.code), Some(1006));
    probe
        .status(1_000, |s| matches!(s, Status::Connecting { attempt: 1 }))
        .await;
    probe.opened().await;
    assert_eq!(opened(&key).await, 2);
}

#[wasm_bindgen_test]
async fn pong_is_swallowed_and_measured() {
    let key = unique_key("pong");
    let config = fast(test_url(&key, "mode=echo")).with_heartbeat_timing(100, 1_000);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    let (_, notice) = probe
        .until(2_000, "heartbeat reply", |n| {
            matches!(n, Notice::Event(Event::HeartbeatReply { .. }))
        })
        .await;
    let Notice::Event(Event::HeartbeatReply { rtt_ms }) = notice else {
        unreachable!()
    };
    assert!(rtt_ms < 1_000);
    assert_eq!(probe.socket().stats().rtt_ms, Some(rtt_ms));
    assert!(
        !probe.seen.iter().any(|(_, n)| is_message(n)),
        "pong was delivered as a message"
    );
}

#[wasm_bindgen_test]
async fn dropped_tcp_is_reported_as_1006_and_reconnected() {
    let key = unique_key("drop");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=drop&after_ms=100&then=echo")));
    probe.opened().await;
    let (_, notice) = probe.until(3_000, "close", |n| closed(n).is_some()).await;
    let close = closed(&notice).unwrap();
    assert_eq!(
        (close.code, close.code_name(), close.was_clean),
        (1006, "Abnormal Closure", false)
    );
    probe.opened().await;
    assert_eq!(opened(&key).await, 2);
}

#[wasm_bindgen_test]
async fn error_then_close_makes_exactly_one_new_connection() {
    let key = unique_key("once");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=drop&after_ms=100&then=echo")));
    probe.opened().await;
    probe.until(3_000, "close", |n| closed(n).is_some()).await;
    probe.opened().await;
    // Longer than twice the max delay: a second scheduled attempt would show here.
    let later = probe.quiet_for(900).await;
    assert!(
        !later.iter().any(|n| *n == Notice::Event(Event::Opened)),
        "{later:?}"
    );
    assert_eq!(opened(&key).await, 2, "exactly one reconnect");
    assert_eq!(probe.socket().stats().reconnects, 1);
}

#[wasm_bindgen_test]
async fn user_close_never_reconnects() {
    let key = unique_key("userclose");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    probe.socket().close(4000, "bye").unwrap();
    probe.status(2_000, |s| s == Status::Stopped).await;
    // Longer than the max delay (400 ms) with no new connection.
    let later = probe.quiet_for(1_000).await;
    assert!(later.is_empty(), "{later:?}");
    let stats = stats(&key).await;
    assert_eq!(stats["opened"], 1);
    assert_eq!(stats["closes"][0]["code"], 4000);
    assert_eq!(stats["closes"][0]["reason"], "bye");
}

#[wasm_bindgen_test]
async fn user_close_while_reconnecting_cancels_the_attempt() {
    let key = unique_key("closewait");
    let config = fast(test_url(&key, "mode=drop&after_ms=50&then=echo"))
        .with_reconnect_delays(300, 300, 1.0);
    let mut probe = Probe::connect(config);
    probe
        .status(3_000, |s| matches!(s, Status::Reconnecting { .. }))
        .await;
    probe.socket().close(1000, "").unwrap();
    probe.status(100, |s| s == Status::Stopped).await;
    probe.quiet_for(800).await;
    assert_eq!(opened(&key).await, 1);
}

#[wasm_bindgen_test]
async fn outbox_is_flushed_in_order_after_reconnect() {
    let key = unique_key("outbox");
    let config = fast(test_url(&key, "mode=drop&after_ms=50&then=echo")).with_heartbeat(None);
    let mut probe = Probe::connect(config);
    probe
        .status(3_000, |s| matches!(s, Status::Reconnecting { .. }))
        .await;
    for text in ["one", "two", "three"] {
        probe.socket().send_text(text).unwrap();
    }
    assert_eq!(probe.socket().queued(), 3);
    let mut echoes = Vec::new();
    while echoes.len() < 3 {
        let (_, notice) = probe.until(3_000, "echo", is_message).await;
        if let Notice::Message(Inbound::Text(text)) = notice {
            echoes.push(text);
        }
    }
    assert_eq!(echoes, ["one", "two", "three"]);
    let stats = stats(&key).await;
    assert_eq!(
        stats["received"],
        serde_json::json!(["one", "two", "three"]),
        "each once, in order"
    );
}

#[wasm_bindgen_test]
async fn outbox_overflow_returns_the_error() {
    let key = unique_key("overflow");
    let probe = Probe::new(fast(test_url(&key, "mode=echo")).with_outbox_limits(2, 1_000));
    probe.socket().send_text("a").unwrap();
    probe.socket().send_text("b").unwrap();
    assert_eq!(
        probe.socket().send_text("c"),
        Err(SendError::OutboxFull { max_frames: 2 })
    );
    assert_eq!(probe.socket().queued(), 2);
}

#[wasm_bindgen_test]
async fn beforeunload_closes_the_socket() {
    let key = unique_key("unload");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    let event = web_sys::Event::new("beforeunload").unwrap();
    web_sys::window().unwrap().dispatch_event(&event).unwrap();
    probe.status(2_000, |s| s == Status::Stopped).await;
    let stats = server_until(&key, 2_000, |s| {
        s["closes"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(stats["closes"][0]["code"], 1000);
    assert_eq!(stats["closes"][0]["reason"], "page unload");
}

#[wasm_bindgen_test]
async fn dropping_the_handle_closes_and_no_timer_fires_afterwards() {
    let key = unique_key("drophandle");
    let config = fast(test_url(&key, "mode=echo")).with_heartbeat_timing(50, 50);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    probe.drop_socket();
    let closed = server_until(&key, 2_000, |s| s["open_now"] == 0).await;
    assert_eq!(closed["closes"][0]["code"], 1000);
    // Ten heartbeat intervals: a surviving timer or closure would send or notify.
    let after = probe.quiet_for(500).await;
    assert!(after.is_empty(), "notices after drop: {after:?}");
    let stats = stats(&key).await;
    assert_eq!(stats["opened"], 1);
    assert!(
        stats["received"].as_array().unwrap().is_empty(),
        "no ping after drop: {stats}"
    );
}

#[wasm_bindgen_test]
async fn invalid_close_codes_and_reasons_are_refused() {
    let key = unique_key("badclose");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    assert_eq!(
        probe.socket().close(1001, ""),
        Err(CloseError::CodeNotSendable { code: 1001 })
    );
    assert_eq!(
        probe.socket().close(2000, ""),
        Err(CloseError::CodeNotSendable { code: 2000 })
    );
    assert_eq!(
        probe.socket().close(4000, &"é".repeat(62)),
        Err(CloseError::ReasonTooLong { bytes: 124 })
    );
    assert_eq!(
        probe.socket().status(),
        Status::Open,
        "nothing reached the browser"
    );
    probe.socket().send_text("still open").unwrap();
    probe.until(2_000, "echo", is_message).await;
}

#[wasm_bindgen_test]
async fn an_invalid_url_is_reported_not_thrown() {
    // The ftp scheme makes the WebSocket constructor throw in every browser.
    let mut probe = Probe::connect(fast("ftp://127.0.0.1/".into()).with_reconnect(false));
    let (_, notice) = probe.until(2_000, "close", |n| closed(n).is_some()).await;
    let close = closed(&notice).unwrap();
    assert_eq!(close.code, 1006);
    assert!(
        close.reason.contains("ftp://127.0.0.1/"),
        "{}",
        close.reason
    );
    probe.status(1_000, |s| s == Status::Closed).await;
}
