//! The library in real browsers against the real server's test modes.
#![cfg(target_arch = "wasm32")]

mod support;

use heartline::{BinaryType, CloseError, Event, Inbound, Notice, SendError, Status};
use js_sys::{Array, Uint8Array};
use support::{
    fast, is_firefox, opened, server_until, stats, test_url, unique_key, until_true, Probe,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn is_message(notice: &Notice) -> bool {
    matches!(notice, Notice::Message(_))
}

/// The RTT of the next heartbeat reply (within 2 s).
async fn heartbeat_reply(probe: &mut Probe) -> u64 {
    let (_, notice) = probe
        .until(2_000, "heartbeat reply", |n| {
            matches!(n, Notice::Event(Event::HeartbeatReply { .. }))
        })
        .await;
    match notice {
        Notice::Event(Event::HeartbeatReply { rtt_ms }) => rtt_ms,
        _ => unreachable!(),
    }
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
async fn a_javascript_string_is_sent_as_it_is_and_counted_in_utf8_bytes() {
    let key = unique_key("js-text");
    // UTF-16 units: ASCII, two- and three-byte characters, a pair (four bytes), and unpaired
    // surrogates, which the browser sends as U+FFFD (three bytes).
    let texts: [&[u16]; 8] = [
        &[],
        &[0x61, 0xe9, 0x4e16],
        &[0x61, 0xd83d, 0xde00, 0x62],
        &[0xd800, 0x78],
        &[0x78, 0xdc00],
        &[0xd83d],
        &[0xd800, 0xd83d, 0xde00],
        &[0xdc00, 0xd800],
    ];
    let expected: Vec<String> = texts
        .iter()
        .map(|units| String::from_utf16_lossy(units))
        .collect();
    let js: Vec<heartline::JsText> = texts
        .iter()
        .map(|units| heartline::JsText::from(js_sys::JsString::from_char_code(units)))
        .collect();
    for (text, expected) in js.iter().zip(&expected) {
        assert_eq!(text.utf8_len(), expected.len(), "{expected:?}");
    }
    // The outbox counts them by those bytes: 0 + 6 + 6 fill a 12-byte outbox exactly.
    let config = fast(test_url(&key, "mode=echo"))
        .with_heartbeat(None)
        .with_outbox_limits(10, 12);
    let mut probe = Probe::new(config);
    for text in &js[..3] {
        probe
            .socket()
            .send(heartline::Outgoing::JsText(text.clone()))
            .unwrap();
    }
    assert_eq!(
        probe
            .socket()
            .send(heartline::Outgoing::JsText(js[3].clone())),
        Err(SendError::OutboxBytes {
            max_bytes: 12,
            queued_bytes: 12,
            frame_bytes: 4
        })
    );
    probe.socket().open();
    probe.opened().await;
    for text in &js[3..] {
        probe
            .socket()
            .send(heartline::Outgoing::JsText(text.clone()))
            .unwrap();
    }
    let mut echoed = Vec::new();
    while echoed.len() < expected.len() {
        let (_, notice) = probe.until(3_000, "echo", is_message).await;
        echoed.push(notice);
    }
    let sent: Vec<Notice> = expected
        .iter()
        .map(|text| Notice::Message(Inbound::Text(text.as_str().into())))
        .collect();
    assert_eq!(
        echoed, sent,
        "each once, in order, as the browser encodes it"
    );
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
    let rtt_ms = heartbeat_reply(&mut probe).await;
    assert!(rtt_ms < 1_000);
    assert_eq!(probe.socket().stats().rtt_ms, Some(rtt_ms));
    assert!(
        !probe.seen.iter().any(|(_, n)| is_message(n)),
        "pong was delivered as a message"
    );
}

#[wasm_bindgen_test]
async fn a_wall_clock_that_jumps_changes_neither_the_rtt_nor_the_heartbeat() {
    let key = unique_key("wallclock");
    // `Date.now()` leaps 10 s ahead at every call: what a clock step (NTP, a changed time zone,
    // a laptop waking up) looks like to code that reads it. The library keeps its own time.
    let _wall = Restore(leap_date_now(10_000.0));
    let config = fast(test_url(&key, "mode=echo")).with_heartbeat_timing(100, 1_000);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    for _ in 0..3 {
        let rtt_ms = heartbeat_reply(&mut probe).await;
        assert!(rtt_ms < 1_000, "RTT {rtt_ms} ms on loopback");
    }
    assert!(
        !probe.seen.iter().any(|(_, n)| closed(n).is_some()),
        "the link was written off: {:?}",
        probe.seen
    );
    assert_eq!(opened(&key).await, 1);
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

/// Counts, from now on, what the page registers: listeners added to `window` and `document`
/// less those removed (by event type), timers and intervals set and not yet cleared or fired,
/// and the `WebSocket`s made (to read their `on…` handlers). Returns the record.
fn record_registrations() -> js_sys::Object {
    let install = js_sys::Function::new_no_args(
        r#"
        const record = { listeners: {}, timers: new Set(), sockets: [] };
        const counted = (target) => target === window || target === document;
        const add = EventTarget.prototype.addEventListener;
        const remove = EventTarget.prototype.removeEventListener;
        EventTarget.prototype.addEventListener = function (type, listener, options) {
          if (counted(this)) record.listeners[type] = (record.listeners[type] || 0) + 1;
          return add.call(this, type, listener, options);
        };
        EventTarget.prototype.removeEventListener = function (type, listener, options) {
          if (counted(this)) record.listeners[type] = (record.listeners[type] || 0) - 1;
          return remove.call(this, type, listener, options);
        };
        const natives = {};
        for (const [set, clear, repeats] of [['setTimeout', 'clearTimeout', false], ['setInterval', 'clearInterval', true]]) {
          natives[set] = window[set];
          natives[clear] = window[clear];
          const setIt = window[set].bind(window);
          const clearIt = window[clear].bind(window);
          window[set] = (callback, ms, ...rest) => {
            const id = setIt((...args) => {
              if (!repeats) record.timers.delete(id);
              return callback(...args);
            }, ms, ...rest);
            record.timers.add(id);
            return id;
          };
          window[clear] = (id) => {
            record.timers.delete(id);
            return clearIt(id);
          };
        }
        const Native = window.WebSocket;
        window.WebSocket = new Proxy(Native, {
          construct(target, args) {
            const socket = Reflect.construct(target, args);
            record.sockets.push(socket);
            return socket;
          },
        });
        record.restore = () => {
          EventTarget.prototype.addEventListener = add;
          EventTarget.prototype.removeEventListener = remove;
          window.WebSocket = Native;
          Object.assign(window, natives);
        };
        return record;
        "#,
    );
    install
        .call0(&JsValue::NULL)
        .expect("instrumented")
        .unchecked_into()
}

/// What `record` still counts: listeners left by type, timers left, handlers left on sockets.
fn registrations_left(record: &js_sys::Object) -> String {
    let read = js_sys::Function::new_with_args(
        "record",
        r#"
        const listeners = Object.entries(record.listeners).filter(([, n]) => n !== 0);
        const handlers = record.sockets.flatMap((socket) =>
          ['onopen', 'onmessage', 'onclose', 'onerror'].filter((name) => socket[name] !== null));
        return JSON.stringify({ listeners, timers: record.timers.size, handlers, sockets: record.sockets.length });
        "#,
    );
    read.call1(&JsValue::NULL, record)
        .ok()
        .and_then(|left| left.as_string())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn a_handle_dropped_with_frames_queued_reports_them_discarded() {
    // Every upgrade refused, and retried for ever: what is sent stays queued.
    let key = unique_key("own-drop-queued");
    let config = fast(test_url(&key, "mode=reject")).with_unreachable_after(None);
    let mut probe = Probe::connect(config);
    server_until(&key, 3_000, |s| s["rejected"].as_u64() >= Some(1)).await;
    for text in ["never sent", "nor this"] {
        probe.socket().send_text(text).unwrap();
    }
    probe.drop_socket();
    probe
        .until(2_000, "the dropped frames reported", |n| {
            *n == Notice::Event(Event::Discarded { frames: 2 })
        })
        .await;
}

#[wasm_bindgen_test]
async fn dropping_the_handle_closes_and_no_timer_fires_afterwards() {
    let key = unique_key("drophandle");
    let config = fast(test_url(&key, "mode=echo")).with_heartbeat_timing(50, 50);
    // Everything the connection registers on the page, from its first step to its drop.
    let record = record_registrations();
    let mut probe = Probe::connect(config);
    probe.opened().await;
    probe.drop_socket();
    let left = registrations_left(&record);
    if let Ok(restore) = js_sys::Reflect::get(&record, &"restore".into()) {
        let _ = restore
            .unchecked_into::<js_sys::Function>()
            .call0(&JsValue::NULL);
    }
    assert_eq!(
        left, r#"{"listeners":[],"timers":0,"handlers":[],"sockets":1}"#,
        "what the dropped connection left on the page"
    );
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
    let (_, echo) = probe.until(2_000, "echo", is_message).await;
    assert_eq!(echo, Notice::Message(Inbound::Text("still open".into())));
}

#[wasm_bindgen_test]
async fn an_invalid_url_fails_once_with_the_browser_s_reason() {
    // The ftp scheme makes the WebSocket constructor throw in every browser; reconnect is on,
    // and retrying cannot help.
    let mut probe = Probe::connect(fast("ftp://127.0.0.1/".into()));
    let (_, notice) = probe.until(2_000, "close", |n| closed(n).is_some()).await;
    let close = closed(&notice).unwrap();
    assert_eq!(close.code, 1006);
    assert!(
        close.reason.contains("ftp://127.0.0.1/") && close.reason.contains("SyntaxError"),
        "{}",
        close.reason
    );
    probe.status(1_000, |s| s == Status::Failed).await;
    let later = probe.quiet_for(800).await;
    assert!(later.is_empty(), "retried: {later:?}");
}

#[wasm_bindgen_test]
async fn an_upgrade_refused_with_401_ends_unreachable_until_open() {
    let key = unique_key("reject");
    let config = fast(test_url(&key, "mode=reject&status=401")).with_unreachable_after(Some(3));
    let mut probe = Probe::connect(config);
    let (_, status) = probe
        .status(5_000, |s| matches!(s, Status::Unreachable { .. }))
        .await;
    assert_eq!(status, Status::Unreachable { attempts: 3 });
    let last = probe.socket().stats().last_close.unwrap();
    assert_eq!(last.code, 1006);
    // Longer than the max delay: no fourth attempt.
    probe.quiet_for(800).await;
    assert_eq!(stats(&key).await["rejected"], 3);
    assert!(matches!(
        probe.socket().send_text("x"),
        Err(SendError::NotOpen { .. })
    ));
    probe.socket().open();
    server_until(&key, 2_000, |s| s["rejected"] == 4).await;
}

#[wasm_bindgen_test]
async fn sends_into_a_socket_the_server_is_closing_are_kept_for_the_next_connection() {
    let key = unique_key("closing-send");
    // The server sends its close frame and then does not read for 1.5 s: the browser stays
    // CLOSING, the status still Open.
    let url = test_url(
        &key,
        "mode=close&code=1012&reason=restart&after_ms=100&hold_ms=1500&then=echo",
    );
    let mut probe = Probe::connect(fast(url).with_heartbeat(None));
    probe.opened().await;
    // Chromium answers the close and waits for the server (readyState CLOSING, status still
    // Open: the window where frames used to vanish); Firefox closes at once, so there the window
    // is only as wide as a task (see the burst tests below).
    until_true(3_000, "readyState not OPEN", || {
        probe.socket().ready_state() != 1
    })
    .await;
    probe.socket().send_text("late").unwrap();
    assert_eq!(
        probe.socket().queued(),
        1,
        "queued, not handed to a closing socket"
    );
    let (_, notice) = probe.until(6_000, "echo", is_message).await;
    assert_eq!(notice, Notice::Message(Inbound::Text("late".into())));
    assert_eq!(stats(&key).await["received"], serde_json::json!(["late"]));
}

#[wasm_bindgen_test]
async fn send_after_a_user_close_is_an_error_and_nothing_leaks_into_the_next_open() {
    let key = unique_key("closed-send");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=drop&after_ms=50&then=echo")));
    probe
        .status(3_000, |s| matches!(s, Status::Reconnecting { .. }))
        .await;
    probe.socket().send_text("before close").unwrap();
    probe.socket().close(1000, "").unwrap();
    probe.status(1_000, |s| s == Status::Stopped).await;
    assert_eq!(
        probe.socket().send_text("after close"),
        Err(SendError::NotOpen {
            status: Status::Stopped
        })
    );
    probe.socket().open();
    probe.opened().await;
    probe.socket().send_text("fresh").unwrap();
    probe.until(3_000, "echo", is_message).await;
    assert_eq!(stats(&key).await["received"], serde_json::json!(["fresh"]));
}

fn dispatch_page_transition(name: &str, persisted: bool) {
    let init = web_sys::PageTransitionEventInit::new();
    init.set_persisted(persisted);
    let event = web_sys::PageTransitionEvent::new_with_event_init_dict(name, &init).unwrap();
    web_sys::window().unwrap().dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn pagehide_closes_and_pageshow_from_the_bfcache_reopens() {
    let key = unique_key("bfcache");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    dispatch_page_transition("pagehide", true);
    probe.status(1_000, |s| s == Status::Paused).await;
    let closed = server_until(&key, 2_000, |s| s["open_now"] == 0).await;
    assert_eq!(closed["closes"][0]["code"], 1000);
    assert_eq!(closed["closes"][0]["reason"], "page hidden");
    // No timer runs while in the cache: nothing reopens by itself.
    assert!(probe.quiet_for(1_500).await.is_empty());
    dispatch_page_transition("pageshow", true);
    probe.opened().await;
    assert_eq!(opened(&key).await, 2);
}

/// The page is about to unload, and another listener cancels it ("Leave site?" answered Stay),
/// as a page would.
fn dispatch_cancelled_unload() {
    let window = web_sys::window().unwrap();
    let _stay =
        gloo_events::EventListener::new(&window, "beforeunload", |event| event.prevent_default());
    let init = web_sys::EventInit::new();
    init.set_cancelable(true);
    let event = web_sys::Event::new_with_event_init_dict("beforeunload", &init).unwrap();
    window.dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn a_cancelled_beforeunload_closes_but_reopens() {
    let key = unique_key("unload");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    dispatch_cancelled_unload();
    probe.status(1_000, |s| s == Status::Paused).await;
    let stats = server_until(&key, 2_000, |s| {
        s["closes"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(stats["closes"][0]["code"], 1000);
    assert_eq!(stats["closes"][0]["reason"], "page unload");
    // The page is still here: the socket comes back without anyone calling open().
    probe.opened().await;
    assert_eq!(opened(&key).await, 2);
}

/// Frames the browser still held when the page paused its socket (`beforeunload` answered
/// Stay) are sent by that socket before its close, as a clean close does: the socket that
/// reopens must not send them again.
#[wasm_bindgen_test]
async fn frames_held_at_a_cancelled_unload_arrive_once() {
    let key = unique_key("unload-once");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    // In the same task: the browser holds them all (bufferedAmount) when the unload comes.
    let sent: Vec<String> = (0..20).map(|n| format!("held-{n:02}")).collect();
    for text in &sent {
        probe.socket().send_text(text.as_str()).unwrap();
    }
    assert!(probe.socket().buffered_amount() > 0, "held by the browser");
    dispatch_cancelled_unload();
    probe.status(1_000, |s| s == Status::Paused).await;
    probe.opened().await;
    // A marker on the new socket: anything sent again would be before it.
    probe.socket().send_text("marker").unwrap();
    let stats = server_until(&key, 3_000, |s| {
        s["received"]
            .as_array()
            .is_some_and(|r| r.iter().any(|t| t == "marker"))
    })
    .await;
    let held: Vec<&str> = stats["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .filter(|t| t.starts_with("held-"))
        .collect();
    assert_eq!(held, sent, "each once, in order");
}

#[wasm_bindgen_test]
async fn a_close_the_server_never_answers_ends_within_the_close_timeout() {
    let key = unique_key("deaf");
    let config = fast(test_url(&key, "mode=deaf"))
        .with_heartbeat(None)
        .with_close_timeout(Some(800));
    let mut probe = Probe::connect(config);
    probe.opened().await;
    let asked = js_sys::Date::now();
    probe.socket().close(1000, "bye").unwrap();
    let (stopped, _) = probe.status(2_000, |s| s == Status::Stopped).await;
    let took = stopped - asked;
    assert!((700.0..1_500.0).contains(&took), "stopped after {took} ms");
    let close = probe.socket().stats().last_close.unwrap();
    assert!(close.reason.contains("close timeout"), "{}", close.reason);
    // Open again at once works (the buttons are not stuck).
    probe.socket().open();
    probe.opened().await;
}

#[wasm_bindgen_test]
async fn a_delay_longer_than_setimeout_allows_does_not_fire_at_once() {
    let key = unique_key("hugedelay");
    let config = fast(test_url(&key, "mode=drop&after_ms=50"))
        .with_reconnect_delays(3_000_000_000, 3_000_000_000, 1.0)
        .with_jitter(false);
    let mut probe = Probe::connect(config);
    probe
        .status(3_000, |s| matches!(s, Status::Reconnecting { .. }))
        .await;
    // Unclamped, the delay wraps to a negative i32: the timer fires at once, finds itself early
    // and re-arms, round and round, with no notice to show for it. So count the timers too.
    let timers = count_calls("setTimeout");
    let later = probe.quiet_for(700).await;
    let armed = timers
        .call0(&wasm_bindgen::JsValue::NULL)
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(later.is_empty(), "a 35-day delay fired: {later:?}");
    // The test's own window and the probe's polling arm a few; a spinning timer, hundreds.
    assert!(
        armed < 20.0,
        "{armed} timers armed in 700 ms while waiting 35 days"
    );
    assert!(probe.socket().reconnect_in_ms().unwrap() > 2_999_000_000);
    assert_eq!(opened(&key).await, 1);
}

#[wasm_bindgen_test]
async fn coming_back_online_probes_the_link_at_once() {
    let key = unique_key("probe");
    let config = fast(test_url(&key, "mode=echo")).with_heartbeat_timing(60_000, 2_000);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    for name in ["online", "pageshow-persisted", "visibilitychange"] {
        let dispatched_at = js_sys::Date::now();
        match name {
            "pageshow-persisted" => dispatch_page_transition("pageshow", true),
            _ => {
                let event = web_sys::Event::new(name).unwrap();
                let target: web_sys::EventTarget = if name == "online" {
                    web_sys::window().unwrap().into()
                } else {
                    web_sys::window().unwrap().document().unwrap().into()
                };
                target.dispatch_event(&event).unwrap();
            }
        }
        let (sent_at, _) = probe
            .until(500, "a ping", |n| *n == Notice::Event(Event::HeartbeatSent))
            .await;
        // At once, not at the 60 s interval.
        assert!(
            sent_at >= dispatched_at && sent_at - dispatched_at < 500.0,
            "{name}: the ping went {} ms after the event",
            sent_at - dispatched_at
        );
        probe
            .until(2_000, "its reply", |n| {
                matches!(n, Notice::Event(Event::HeartbeatReply { .. }))
            })
            .await;
    }
}

#[wasm_bindgen_test]
async fn a_draining_upload_is_not_a_heartbeat_timeout() {
    let key = unique_key("slowread");
    // The server reads 8 MiB/s; 32 MiB take about 4 s, far longer than the 300 + 1 500 ms
    // heartbeat.
    let config =
        fast(test_url(&key, "mode=slowread&bytes_per_s=8388608")).with_heartbeat_timing(300, 1_500);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    let chunk = vec![0x42u8; 1 << 20];
    for _ in 0..32 {
        probe.socket().send_bytes(&chunk).unwrap();
    }
    let (_, notice) = probe
        .until(20_000, "the pong after the upload", |n| {
            matches!(
                n,
                Notice::Event(Event::HeartbeatReply { .. } | Event::HeartbeatTimeout)
            )
        })
        .await;
    assert!(
        matches!(notice, Notice::Event(Event::HeartbeatReply { .. })),
        "written off mid-upload: {:?}",
        probe.seen
    );
    assert!(
        probe
            .seen
            .iter()
            .any(|(_, n)| matches!(n, Notice::Event(Event::HeartbeatExtended { .. }))),
        "the upload outlasted the pong timeout"
    );
    let stats = stats(&key).await;
    assert_eq!(stats["opened"], 1, "never reconnected");
    let binaries = stats["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.as_str() == Some("<binary 1048576 bytes>"))
        .count();
    assert_eq!(binaries, 32, "the whole upload arrived once");
}

#[wasm_bindgen_test]
async fn an_application_frame_equal_to_the_ping_is_resent_from_a_dead_socket() {
    let key = unique_key("ping-text");
    // The first connection never reads, so what the page sends stays in its buffer until the
    // heartbeat writes the link off; the next connection echoes.
    let config = fast(test_url(&key, "mode=deaf&then=echo"))
        .with_heartbeat_timing(300, 1_000)
        .with_outbox_limits(1 << 20, 1 << 30);
    let mut probe = Probe::connect(config);
    probe.opened().await;
    let chunk = vec![0x42u8; 1 << 20];
    for _ in 0..16 {
        probe.socket().send_bytes(&chunk).unwrap();
    }
    // The application's own "ping", the heartbeat's message: it must not be taken for one.
    probe.socket().send_text("ping").unwrap();
    probe.socket().send_text("after").unwrap();
    probe
        .until(20_000, "the link written off", |n| {
            *n == Notice::Event(Event::HeartbeatTimeout)
        })
        .await;
    let stats = server_until(&key, 20_000, |stats| {
        stats["received"]
            .as_array()
            .is_some_and(|received| received.iter().any(|r| r == "after"))
    })
    .await;
    let received: Vec<&str> = stats["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    let after: Vec<usize> = (0..received.len())
        .filter(|&i| received[i] == "after")
        .collect();
    assert_eq!(after.len(), 1, "{received:?}");
    // The deaf connection recorded nothing, so the frame just before is the one resent.
    assert_eq!(received[after[0] - 1], "ping", "{received:?}");
}

#[wasm_bindgen_test]
async fn frames_sent_from_the_opened_handler_go_ahead_of_the_outbox() {
    let key = unique_key("greeting");
    let probe = Probe::with_handler(
        fast(test_url(&key, "mode=echo")).with_heartbeat(None),
        |socket, notice| {
            if *notice == Notice::Event(Event::Opened) {
                socket.send_text("hello").unwrap();
            }
        },
    );
    probe.socket().send_text("queued").unwrap();
    probe.socket().open();
    server_until(&key, 3_000, |s| {
        s["received"].as_array().is_some_and(|r| r.len() == 2)
    })
    .await;
    assert_eq!(
        stats(&key).await["received"],
        serde_json::json!(["hello", "queued"])
    );
}

#[wasm_bindgen_test]
async fn a_queued_array_buffer_is_sent_as_it_was_at_send_time() {
    let key = unique_key("abcopy");
    let mut probe = Probe::new(fast(test_url(&key, "mode=echo")));
    let bytes = Uint8Array::from(&[1u8, 2, 3][..]);
    probe.socket().send_array_buffer(&bytes.buffer()).unwrap();
    bytes.copy_from(&[9, 9, 9]); // the caller reuses its buffer
    probe.socket().open();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    let Notice::Message(echo) = notice else {
        unreachable!()
    };
    assert_eq!(echo.to_bytes(), Some(vec![1, 2, 3]));
}

#[wasm_bindgen_test]
async fn a_transferred_array_buffer_can_be_queued() {
    let key = unique_key("abdetached");
    let mut probe = Probe::new(fast(test_url(&key, "mode=echo")));
    let buffer = Uint8Array::from(&[1u8, 2, 3][..]).buffer();
    // Transfer it away (as postMessage to a worker would): the buffer is detached.
    let moved = js_sys::Reflect::get(&buffer, &"transfer".into()).unwrap();
    if moved.is_function() {
        let transfer: js_sys::Function = moved.into();
        transfer.call0(&buffer).unwrap();
    }
    probe.socket().send_array_buffer(&buffer).unwrap();
    probe.socket().open();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    let Notice::Message(echo) = notice else {
        unreachable!()
    };
    assert_eq!(
        echo.to_bytes(),
        Some(Vec::new()),
        "sent empty, as the browser would"
    );
}

#[wasm_bindgen_test]
async fn a_close_from_a_notice_handler_keeps_notices_in_order() {
    let key = unique_key("reentrant");
    let mut probe = Probe::with_handler(fast(test_url(&key, "mode=echo")), |socket, notice| {
        if *notice == Notice::Event(Event::Status(Status::Open)) {
            socket.close(1000, "changed my mind").unwrap();
        }
    });
    probe.socket().open();
    probe.status(3_000, |s| s == Status::Stopped).await;
    let order: Vec<&Notice> = probe
        .seen
        .iter()
        .map(|(_, n)| n)
        .filter(|n| {
            matches!(
                n,
                Notice::Event(Event::Opened | Event::Status(Status::Open | Status::Closing))
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            &Notice::Event(Event::Status(Status::Open)),
            &Notice::Event(Event::Opened),
            &Notice::Event(Event::Status(Status::Closing)),
        ]
    );
}

#[wasm_bindgen_test]
async fn a_send_from_inside_a_url_provider_is_refused_not_lost() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let key = unique_key("provider");
    let url = test_url(&key, "mode=echo");
    let slot: Rc<RefCell<Option<Rc<heartline::Heartline>>>> = Rc::default();
    let outcome: Rc<RefCell<Vec<String>>> = Rc::default();
    let (seen_slot, seen_outcome) = (slot.clone(), outcome.clone());
    let config = fast(String::new()).with_url_provider(move || {
        if let Some(socket) = seen_slot.borrow().as_ref() {
            let status = socket.status();
            let sent = socket.send_text("from provider");
            seen_outcome
                .borrow_mut()
                .push(format!("{status:?} {sent:?}"));
        }
        url.clone()
    });
    let socket = Rc::new(heartline::Heartline::new(config, |_| {}));
    *slot.borrow_mut() = Some(socket.clone());
    socket.open();
    assert_eq!(*outcome.borrow(), ["Closed Err(Busy)"]);
    slot.borrow_mut().take();
}

#[wasm_bindgen_test]
async fn inbound_text_is_read_only_when_asked() {
    let key = unique_key("text-lazy");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")));
    probe.opened().await;
    probe.socket().send_text("pong?").unwrap();
    let (_, notice) = probe.until(3_000, "echo", is_message).await;
    let Notice::Message(Inbound::Text(text)) = notice else {
        panic!("text expected: {notice:?}")
    };
    assert_eq!(text.utf16_len(), 5);
    assert_eq!(text.to_js_string(), "pong?");
    assert_eq!(String::from(text), "pong?");
}

#[wasm_bindgen_test]
async fn inbound_text_is_not_copied_into_rust_until_read() {
    let key = unique_key("text-uncopied");
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")).with_heartbeat(None));
    probe.opened().await;
    // A JS string crosses into Rust through `TextEncoder.encodeInto` once it is not ASCII (the
    // bindings copy ASCII by hand), so count those calls while 50 such frames arrive unread.
    let frames = 50;
    for n in 0..frames {
        probe.socket().send_text(format!("é{n}")).unwrap();
    }
    let encodes = count_calls("TextEncoder.prototype.encodeInto");
    let mut texts = Vec::new();
    while texts.len() < frames {
        let (_, notice) = probe.until(3_000, "the echoes", is_message).await;
        if let Notice::Message(Inbound::Text(text)) = notice {
            texts.push(text);
        }
    }
    let unread = encodes.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    assert_eq!(unread.as_f64(), Some(0.0), "text copied on arrival");
    // The count does see a copy: reading one frame makes it.
    let encodes = count_calls("TextEncoder.prototype.encodeInto");
    assert_eq!(String::from(texts.remove(7)), "é7");
    let read = encodes.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    assert_eq!(read.as_f64(), Some(1.0), "one read, one copy");
}

#[wasm_bindgen_test]
async fn a_timed_server_close_mid_burst_loses_no_frame_the_browser_still_held() {
    // The server closes 100 ms in, wherever the page's bursts of 20 frames a task then are.
    burst_across_a_server_close(
        "close-burst",
        "mode=close&code=1012&reason=restart&after_ms=100&then=echo",
        20,
        Sent::RustText,
    )
    .await;
}

#[cfg(feature = "yew")]
mod hook {
    use super::*;
    use heartline::{use_heartline, Event};
    use std::cell::RefCell;
    use std::rc::Rc;
    use yew::prelude::*;

    #[derive(Properties, PartialEq)]
    struct Props {
        url: String,
    }

    /// A component that builds its config, URL provider and all, on every render.
    #[function_component]
    fn Inline(props: &Props) -> Html {
        let url = props.url.clone();
        let config = fast(String::new()).with_url_provider(move || url.clone());
        let socket = use_heartline(config, Callback::from(|_| {}));
        html! { <p>{ socket.status.label() }</p> }
    }

    #[derive(Properties)]
    struct UrlProps {
        url: String,
        /// Where the component leaves its handle, for the test to send through.
        handle: Rc<RefCell<Option<heartline::UseHeartline>>>,
    }

    impl PartialEq for UrlProps {
        fn eq(&self, other: &Self) -> bool {
            self.url == other.url && Rc::ptr_eq(&self.handle, &other.handle)
        }
    }

    /// A component whose config is its URL prop (a token in the URL, refreshed).
    #[function_component]
    fn ByUrl(props: &UrlProps) -> Html {
        let socket = use_heartline(fast(props.url.clone()), Callback::from(|_| {}));
        *props.handle.borrow_mut() = Some(socket.clone());
        html! { <p>{ socket.status.label() }</p> }
    }

    type HandleSlot = Rc<RefCell<Option<heartline::UseHeartline>>>;

    /// Mounts [`ByUrl`] on `url`; returns it once rendered, with where it leaves its handle.
    async fn mount_by_url(url: String) -> (yew::AppHandle<ByUrl>, HandleSlot) {
        let document = web_sys::window().unwrap().document().unwrap();
        let root = document.create_element("div").unwrap();
        document.body().unwrap().append_child(&root).unwrap();
        let handle: HandleSlot = Rc::default();
        let props = UrlProps {
            url,
            handle: handle.clone(),
        };
        let app = yew::Renderer::<ByUrl>::with_root_and_props(root, props).render();
        until_true(3_000, "rendered", || handle.borrow().is_some()).await;
        (app, handle)
    }

    #[wasm_bindgen_test]
    async fn frames_queued_when_the_config_changes_go_on_the_new_connection() {
        let (refused, accepted) = (unique_key("hook-old"), unique_key("hook-new"));
        // The old token is refused (the upgrade answered 401): the frames wait in the outbox.
        let (mut app, handle) = mount_by_url(test_url(&refused, "mode=reject")).await;
        let props = |url: String| UrlProps {
            url,
            handle: handle.clone(),
        };
        server_until(&refused, 3_000, |s| s["rejected"].as_u64() >= Some(1)).await;
        for text in ["carried-1", "carried-2"] {
            let socket = handle.borrow().clone().unwrap();
            socket.send_text(text).unwrap();
        }
        // A new token: the hook's connection is replaced.
        app.update(props(test_url(&accepted, "mode=echo")));
        let stats = server_until(&accepted, 3_000, |s| {
            s["received"].as_array().is_some_and(|r| r.len() >= 2)
        })
        .await;
        assert_eq!(
            stats["received"],
            serde_json::json!(["carried-1", "carried-2"])
        );
        unmount(app, &handle).await;
    }

    #[wasm_bindgen_test]
    async fn a_config_change_after_the_users_close_keeps_it_closed_until_open() {
        let (first, second) = (unique_key("hook-closed-a"), unique_key("hook-closed-b"));
        let (mut app, handle) = mount_by_url(test_url(&first, "mode=echo")).await;
        let props = |url: String| UrlProps {
            url,
            handle: handle.clone(),
        };
        let socket = || handle.borrow().clone().unwrap();
        until_true(3_000, "open", || socket().live_status() == Status::Open).await;
        socket().close(1000, "bye").unwrap();
        until_true(3_000, "stopped", || {
            socket().live_status() == Status::Stopped
        })
        .await;
        // A new URL (a token refreshed): the hook makes a new connection, which stays closed.
        app.update(props(test_url(&second, "mode=echo")));
        let fresh = || socket().with(|h| h.stats().last_close.is_none()) == Some(true);
        until_true(3_000, "the new config's connection", fresh).await;
        assert_eq!(
            socket().live_status(),
            Status::Stopped,
            "reopened by a config change"
        );
        // The application's own open() does open it.
        socket().open();
        server_until(&second, 3_000, |s| s["opened"].as_u64() >= Some(1)).await;
        unmount(app, &handle).await;
    }

    /// What a child component does to the hook's handle in its first effect.
    type Script = Rc<dyn Fn(&heartline::UseHeartline)>;
    /// What the hook's notice handler does with each notice, through the handle.
    type NoticeScript = Rc<dyn Fn(&Notice, &heartline::UseHeartline)>;

    #[derive(Properties)]
    struct FirstProps {
        socket: heartline::UseHeartline,
        script: Script,
    }

    impl PartialEq for FirstProps {
        fn eq(&self, other: &Self) -> bool {
            self.socket == other.socket && Rc::ptr_eq(&self.script, &other.script)
        }
    }

    /// Runs its script in its first effect, which Yew runs before its parent's.
    #[function_component]
    fn First(props: &FirstProps) -> Html {
        let (socket, script) = (props.socket.clone(), props.script.clone());
        use_effect_with((), move |()| script(&socket));
        html! {}
    }

    #[derive(Properties)]
    struct HostProps {
        config: heartline::Config,
        first: Script,
        on_notice: NoticeScript,
        handle: Rc<RefCell<Option<heartline::UseHeartline>>>,
        notices: Rc<RefCell<Vec<Notice>>>,
    }

    impl PartialEq for HostProps {
        fn eq(&self, _: &Self) -> bool {
            true
        }
    }

    /// The hook, a child that acts on it first, and a notice handler that may act on it.
    #[function_component]
    fn Host(props: &HostProps) -> Html {
        let on_notice = {
            let (handle, notices) = (props.handle.clone(), props.notices.clone());
            let script = props.on_notice.clone();
            Callback::from(move |notice: Notice| {
                let socket = handle.borrow().clone();
                if let Some(socket) = socket {
                    script(&notice, &socket);
                }
                notices.borrow_mut().push(notice);
            })
        };
        let socket = use_heartline(props.config.clone(), on_notice);
        *props.handle.borrow_mut() = Some(socket.clone());
        html! { <First socket={socket} script={props.first.clone()} /> }
    }

    struct Hosted {
        app: yew::AppHandle<Host>,
        handle: Rc<RefCell<Option<heartline::UseHeartline>>>,
        notices: Rc<RefCell<Vec<Notice>>>,
    }

    impl Hosted {
        fn new(config: heartline::Config, first: Script, on_notice: NoticeScript) -> Self {
            let document = web_sys::window().unwrap().document().unwrap();
            let root = document.create_element("div").unwrap();
            document.body().unwrap().append_child(&root).unwrap();
            let (handle, notices) = (Rc::default(), Rc::default());
            let props = HostProps {
                config,
                first,
                on_notice,
                handle: Rc::clone(&handle),
                notices: Rc::clone(&notices),
            };
            let app = yew::Renderer::<Host>::with_root_and_props(root, props).render();
            Self {
                app,
                handle,
                notices,
            }
        }

        fn socket(&self) -> heartline::UseHeartline {
            self.handle.borrow().clone().expect("rendered")
        }
    }

    /// Unmounts, then waits until the hook has dropped its connection (Yew runs the cleanup on
    /// its scheduler, later): else the next test would see it go, in its own count of what the
    /// page holds.
    async fn unmount<C: BaseComponent>(app: yew::AppHandle<C>, handle: &HandleSlot) {
        app.destroy();
        let gone = || {
            handle
                .borrow()
                .as_ref()
                .is_some_and(|socket| socket.with(|_| ()).is_none())
        };
        until_true(2_000, "the hook's connection dropped", gone).await;
    }

    #[wasm_bindgen_test]
    async fn frames_still_queued_when_the_component_goes_are_reported_discarded() {
        // Every upgrade refused, and retried for ever: what is sent stays queued.
        let key = unique_key("hook-unmount-queued");
        let config = fast(test_url(&key, "mode=reject")).with_unreachable_after(None);
        let hosted = Hosted::new(config, Rc::new(|_| {}), no_notice_script());
        server_until(&key, 3_000, |s| s["rejected"].as_u64() >= Some(1)).await;
        for text in ["never sent", "nor this"] {
            hosted.socket().send_text(text).unwrap();
        }
        let notices = hosted.notices.clone();
        unmount(hosted.app, &hosted.handle).await;
        until_true(2_000, "the queued frames reported", || {
            notices
                .borrow()
                .contains(&Notice::Event(Event::Discarded { frames: 2 }))
        })
        .await;
    }

    fn no_notice_script() -> NoticeScript {
        Rc::new(|_, _| {})
    }

    #[wasm_bindgen_test]
    async fn a_child_s_send_before_the_hook_s_first_effect_goes_on_the_first_connection() {
        let key = unique_key("hook-child");
        // Whether the hook had its connection yet when the child sent, and what its send said.
        let said = Rc::new(RefCell::new(None));
        let first: Script = {
            let said = said.clone();
            Rc::new(move |socket| {
                let started = socket.with(|_| ()).is_some();
                *said.borrow_mut() = Some((started, socket.send_text("from the child")));
            })
        };
        let hosted = Hosted::new(fast(test_url(&key, "mode=echo")), first, no_notice_script());
        until_true(3_000, "the child's effect", || said.borrow().is_some()).await;
        // The child's effect ran first: there was no connection yet, and the frame was taken.
        assert_eq!(said.borrow().clone(), Some((false, Ok(()))));
        let stats = server_until(&key, 3_000, |s| {
            s["received"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
        assert_eq!(stats["received"], serde_json::json!(["from the child"]));
        let socket = hosted.socket();
        hosted.app.destroy();
        // Once the component is gone (Yew runs its cleanups on its scheduler), a handle kept
        // elsewhere says so.
        until_true(3_000, "sends refused as unmounted", || {
            socket.send_text("too late") == Err(SendError::Unmounted)
        })
        .await;
    }

    #[wasm_bindgen_test]
    async fn a_send_from_a_notice_handler_while_the_hook_starts_goes_out() {
        let key = unique_key("hook-start-send");
        let sent = Rc::new(std::cell::Cell::new(false));
        let on_notice: NoticeScript = {
            let sent = sent.clone();
            Rc::new(move |notice, socket| {
                let connecting = matches!(
                    notice,
                    Notice::Event(Event::Status(Status::Connecting { .. }))
                );
                if connecting && !sent.replace(true) {
                    socket.send_text("hello").unwrap();
                }
            })
        };
        let hosted = Hosted::new(
            fast(test_url(&key, "mode=echo")),
            Rc::new(|_| {}),
            on_notice,
        );
        let stats = server_until(&key, 3_000, |s| {
            s["received"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
        assert_eq!(stats["received"], serde_json::json!(["hello"]));
        unmount(hosted.app, &hosted.handle).await;
    }

    #[wasm_bindgen_test]
    async fn a_close_before_the_hook_s_first_effect_stops_it_and_drops_what_waited() {
        for shared in [false, true] {
            let key = unique_key("hook-close-first");
            let mut config = fast(test_url(&key, "mode=echo"));
            if shared {
                config = config.with_shared(key.clone());
            }
            let refused = Rc::new(RefCell::new(None));
            let first: Script = {
                let refused = refused.clone();
                Rc::new(move |socket| {
                    socket.send_text("before the close").unwrap();
                    socket.close(4000, "not now").unwrap();
                    *refused.borrow_mut() = Some(socket.send_text("after the close"));
                })
            };
            let hosted = Hosted::new(config, first, no_notice_script());
            until_true(3_000, "the child's effect", || refused.borrow().is_some()).await;
            assert_eq!(
                refused.borrow().clone(),
                Some(Err(SendError::NotOpen {
                    status: Status::Stopped
                })),
                "shared: {shared}"
            );
            let socket = hosted.socket();
            until_true(3_000, "stopped", || socket.live_status() == Status::Stopped).await;
            let discarded = Notice::Event(Event::Discarded { frames: 1 });
            assert!(
                hosted.notices.borrow().contains(&discarded),
                "shared: {shared}: {:?}",
                hosted.notices.borrow()
            );
            assert_eq!(opened(&key).await, 0, "shared: {shared}: it connected");
            // Open again: only what is sent from now on goes out.
            socket.open();
            socket.send_text("after the open").unwrap();
            let stats = server_until(&key, 5_000, |s| {
                s["received"].as_array().is_some_and(|r| !r.is_empty())
            })
            .await;
            assert_eq!(
                stats["received"],
                serde_json::json!(["after the open"]),
                "shared: {shared}"
            );
            unmount(hosted.app, &hosted.handle).await;
        }
    }

    #[wasm_bindgen_test]
    async fn an_array_buffer_a_child_sends_before_the_hook_s_first_effect_goes_as_it_was() {
        let key = unique_key("hook-child-buffer");
        let first: Script = Rc::new(|socket| {
            let bytes = Uint8Array::from(&[1u8, 2, 3][..]);
            socket.send_array_buffer(&bytes.buffer()).unwrap();
            bytes.copy_from(&[9, 9, 9]); // the caller reuses its buffer
        });
        let hosted = Hosted::new(
            fast(test_url(&key, "mode=echo")).with_binary_type(BinaryType::ArrayBuffer),
            first,
            no_notice_script(),
        );
        until_true(3_000, "the echo", || {
            hosted
                .notices
                .borrow()
                .iter()
                .any(|notice| matches!(notice, Notice::Message(_)))
        })
        .await;
        let echo = hosted
            .notices
            .borrow()
            .iter()
            .find_map(|notice| match notice {
                Notice::Message(message) => message.to_bytes(),
                _ => None,
            });
        assert_eq!(echo, Some(vec![1, 2, 3]));
        unmount(hosted.app, &hosted.handle).await;
    }

    #[wasm_bindgen_test]
    async fn a_url_provider_built_inline_does_not_reconnect_on_every_render() {
        let key = unique_key("hook-provider");
        let document = web_sys::window().unwrap().document().unwrap();
        let root = document.create_element("div").unwrap();
        document.body().unwrap().append_child(&root).unwrap();
        let url = test_url(&key, "mode=echo");
        let app =
            yew::Renderer::<Inline>::with_root_and_props(root.clone(), Props { url }).render();
        until_true(3_000, "rendered Open", || {
            root.text_content().as_deref() == Some("Open")
        })
        .await;
        // Each status change re-rendered with a new provider; a reconnect per render would
        // show here as more connections.
        let later = server_until(&key, 1_000, |s| s["opened"] == 1).await;
        gloo_timers::future::TimeoutFuture::new(600).await;
        assert_eq!(
            stats(&key).await["opened"],
            1,
            "reconnected on render: {later}"
        );
        app.destroy();
        server_until(&key, 2_000, |s| s["open_now"] == 0).await;
    }
}

/// Sends `count` numbered frames of 5 bytes in this task; returns the numbers `send` accepted.
/// How a burst sends its numbered frames.
#[derive(Clone, Copy)]
enum Sent {
    /// `send_text`: five ASCII digits, 5 bytes.
    RustText,
    /// `Outgoing::JsText`: the digits and an "é", 7 UTF-8 bytes in 6 UTF-16 units, so a count of
    /// units instead of bytes would take back the wrong frames.
    JsText,
}

impl Sent {
    fn bytes(self) -> usize {
        match self {
            Sent::RustText => 5,
            Sent::JsText => 7,
        }
    }
}

fn burst(
    socket: &heartline::Heartline,
    next: &mut u32,
    count: u32,
    accepted: &mut Vec<String>,
    sent: Sent,
) {
    for _ in 0..count {
        *next += 1;
        let result = match sent {
            Sent::RustText => {
                let text = format!("{:05}", *next);
                socket.send_text(text.clone()).map(|()| text)
            }
            Sent::JsText => {
                let text = format!("{:05}é", *next);
                let js = js_sys::JsString::from(text.as_str());
                socket.send(heartline::Outgoing::from(js)).map(|()| text)
            }
        };
        if let Ok(text) = result {
            accepted.push(text);
        }
    }
}

#[wasm_bindgen_test]
async fn a_burst_into_a_server_close_loses_no_frame_the_browser_still_held() {
    // The server sends its close right after the 300th frame it reads, mid-burst, and records
    // every frame it still reads before the browser's answer; the next connection echoes.
    burst_across_a_server_close(
        "close-mid-burst",
        "mode=close&code=1012&reason=restart&after_frames=300&then=echo",
        250,
        Sent::RustText,
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_burst_of_javascript_strings_into_a_server_close_loses_no_frame_the_browser_still_held() {
    // As above, with `Outgoing::JsText`: the frames the browser still held are found by their
    // UTF-8 bytes, counted once in JavaScript.
    burst_across_a_server_close(
        "close-mid-burst-js",
        "mode=close&code=1012&reason=restart&after_frames=300&then=echo",
        250,
        Sent::JsText,
    )
    .await;
}

/// Sends numbered frames, `per_task` in each task, across a server close (`close_mode`) and
/// the reconnect; then checks what arrived: once, in order, every frame the browser still held
/// at the close and every one sent after it; in Firefox every frame accepted.
async fn burst_across_a_server_close(label: &str, close_mode: &str, per_task: u32, sent: Sent) {
    let key = unique_key(label);
    let url = test_url(&key, close_mode);
    // When the page hears of the close: how many frames it had accepted, and how many bytes
    // the browser still held unsent (`bufferedAmount`, read in the notice handler).
    let accepted_so_far = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let at_close = std::rc::Rc::new(std::cell::Cell::new(None::<(usize, u32)>));
    let (count, seen_close) = (accepted_so_far.clone(), at_close.clone());
    let mut probe = Probe::with_handler(fast(url).with_heartbeat(None), move |socket, notice| {
        if closed(notice).is_some() && seen_close.get().is_none() {
            seen_close.set(Some((count.get(), socket.buffered_amount())));
        }
    });
    probe.socket().open();
    probe.opened().await;
    // Bursts of sends, one per task: the page learns of the close only between tasks, so the
    // frames of the tasks in between are accepted while the browser's network side has
    // already seen the close. On until the next connection is open.
    let mut accepted = Vec::new();
    let mut next = 0;
    let start = js_sys::Date::now();
    let (mut left_open, mut reopened) = (false, false);
    while !reopened || next < 3_000 {
        burst(probe.socket(), &mut next, per_task, &mut accepted, sent);
        accepted_so_far.set(accepted.len());
        gloo_timers::future::TimeoutFuture::new(0).await;
        let open = probe.socket().status() == Status::Open;
        left_open |= !open;
        reopened |= left_open && open;
        assert!(
            js_sys::Date::now() - start < 10_000.0,
            "never reconnected: {:?}",
            probe.socket().status()
        );
    }
    // Sends refused with an error (the outbox full while reconnecting) are the caller's to
    // keep; the point is the ones that were accepted.
    assert!(accepted.len() >= 500, "accepted: {}", accepted.len());
    let (before_close, held_bytes) = at_close.get().expect("the server's close was heard");
    let held = held_bytes as usize / sent.bytes();
    assert!(held <= before_close, "{held} held of {before_close}");
    let deadline = js_sys::Date::now() + 10_000.0;
    let received = loop {
        let stats = stats(&key).await;
        let received: Vec<String> = stats["received"]
            .as_array()
            .unwrap()
            .iter()
            .map(|text| text.as_str().unwrap().to_owned())
            .collect();
        if received.len() >= accepted.len() || js_sys::Date::now() > deadline {
            break received;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    };
    let arrived: std::collections::HashSet<&String> = received.iter().collect();
    let lost: Vec<&String> = accepted.iter().filter(|t| !arrived.contains(t)).collect();
    probe.quiet_for(10).await;
    let events: Vec<&Notice> = probe
        .seen
        .iter()
        .map(|(_, notice)| notice)
        .filter(|notice| !is_message(notice))
        .collect();
    let report = format!(
        "{} of {} accepted frames never arrived (first: {:?}, last: {:?}); {held} frames were \
         still in the browser at the close, after {before_close}; events: {events:?}",
        lost.len(),
        accepted.len(),
        lost.first(),
        lost.last(),
    );
    // Nothing arrives twice or out of order (the frames put back go first, once).
    let mut in_order = received.clone();
    in_order.sort();
    in_order.dedup();
    assert_eq!(received, in_order, "{report}");
    // Every frame the browser still held when the close was heard arrives (they used to be
    // dropped with the socket). Often it held none (it had written them all by the time the page
    // heard of the close: in one run of each case, none in three of the four, 89 of 750 in
    // Chromium's mid-burst close); then this has nothing to check, and what holds the test is
    // the frames sent after the close and, in Firefox, every frame accepted.
    let held_frames = &accepted[before_close - held..before_close];
    assert!(
        held_frames.iter().all(|t| arrived.contains(t)),
        "held frames lost: {report}"
    );
    // So does every frame sent after that.
    assert!(
        accepted[before_close..].iter().all(|t| arrived.contains(t)),
        "{report}"
    );
    if is_firefox() {
        // Firefox keeps every frame it accepted in `bufferedAmount` until it is on the wire.
        assert!(lost.is_empty(), "{report}");
    } else if !lost.is_empty() {
        // Chromium hands frames to its network service, and counts them sent, before that
        // service drops the ones that come after the server's close: invisible to the page
        // (see the README's limits).
        web_sys::console::log_1(&report.into());
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function refuse_sends_of(marker) {
  const send = WebSocket.prototype.send;
  // What a browser does with a send it cannot take: throw a DOMException.
  WebSocket.prototype.send = function (data) {
    // Text equal to the marker, or bytes that spell it (a Blob's cannot be read here: one of
    // the marker's length).
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : data instanceof ArrayBuffer ? new Uint8Array(data) : null;
    const blob = data instanceof Blob && data.size === marker.length;
    if (data === marker || blob || (bytes && new TextDecoder().decode(bytes) === marker)) {
      throw new DOMException('refused by the test', 'InvalidStateError');
    }
    return send.call(this, data);
  };
  return () => { WebSocket.prototype.send = send; };
}
export function count_calls(path) {
  // "setTimeout" (on the global object) or "TextEncoder.prototype.encodeInto".
  const parts = path.split('.');
  const name = parts.pop();
  const owner = parts.reduce((object, key) => object[key], globalThis);
  const original = owner[name];
  let calls = 0;
  owner[name] = function (...args) {
    calls += 1;
    return original.apply(this, args);
  };
  return () => { owner[name] = original; return calls; };
}
export function leap_date_now(step) {
  const now = Date.now;
  let leaps = 0;
  Date.now = () => now() + (leaps += 1) * step;
  return () => { Date.now = now; };
}
"#)]
extern "C" {
    /// Makes every socket's `send` throw for this one text (or its UTF-8 bytes, or a Blob of its
    /// length); call the returned function to undo.
    fn refuse_sends_of(marker: &str) -> js_sys::Function;
    /// Counts calls of the function at `path` from the global object (`"setTimeout"`,
    /// `"TextEncoder.prototype.encodeInto"`) from now; the returned function undoes that and
    /// says how many.
    fn count_calls(path: &str) -> js_sys::Function;
    /// Makes `Date.now()` leap `step_ms` ahead at every call; call the returned function to undo.
    fn leap_date_now(step_ms: f64) -> js_sys::Function;
}

/// Undoes a patch of the page (`refuse_sends_of`, `leap_date_now`) when the test ends, passed or
/// failed.
struct Restore(js_sys::Function);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = self.0.call0(&wasm_bindgen::JsValue::NULL);
    }
}

#[wasm_bindgen_test]
async fn a_send_the_browser_throws_on_is_an_error_to_the_caller() {
    let key = unique_key("send-throws");
    let _restore = Restore(refuse_sends_of("refuse me"));
    let mut probe = Probe::connect(fast(test_url(&key, "mode=echo")).with_heartbeat(None));
    probe.opened().await;
    // Each way a frame goes to the browser: Rust text, a JavaScript string, bytes, a buffer, a
    // Blob.
    let refused = Err(SendError::Browser(
        "InvalidStateError: refused by the test".into(),
    ));
    assert_eq!(probe.socket().send_text("refuse me"), refused);
    let js_text = heartline::Outgoing::from(js_sys::JsString::from("refuse me"));
    assert_eq!(probe.socket().send(js_text), refused);
    assert_eq!(probe.socket().send_bytes(b"refuse me"), refused);
    let buffer = Uint8Array::from(&b"refuse me"[..]).buffer();
    assert_eq!(probe.socket().send_array_buffer(&buffer), refused);
    let parts = Array::of1(&Uint8Array::from(&b"refuse me"[..]));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap();
    assert_eq!(probe.socket().send_blob(&blob), refused);
    assert_eq!(probe.socket().stats().frames_out, 0, "not counted as sent");
    probe.socket().send_text("taken").unwrap();
    probe.until(3_000, "echo", is_message).await;
    assert_eq!(stats(&key).await["received"], serde_json::json!(["taken"]));
}

#[wasm_bindgen_test]
async fn a_queued_frame_the_browser_throws_on_is_reported_and_the_rest_still_go() {
    let key = unique_key("flush-throws");
    let _restore = Restore(refuse_sends_of("refuse me"));
    let mut probe = Probe::new(fast(test_url(&key, "mode=echo")).with_heartbeat(None));
    for text in ["first", "refuse me", "last"] {
        probe.socket().send_text(text).unwrap();
    }
    probe.socket().open();
    let (_, notice) = probe
        .until(3_000, "send failed", |notice| {
            matches!(notice, Notice::Event(Event::SendFailed { .. }))
        })
        .await;
    assert_eq!(
        notice,
        Notice::Event(Event::SendFailed {
            error: "InvalidStateError: refused by the test".into()
        })
    );
    server_until(&key, 3_000, |s| {
        s["received"] == serde_json::json!(["first", "last"])
    })
    .await;
    assert_eq!(probe.socket().stats().frames_out, 2);
}
