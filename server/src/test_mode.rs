//! Fault-injection endpoints for the browser tests (only with `--test-mode`).
//!
//! - `GET /test/ws?key=K&mode=M[&then=M2][&after_ms=N][&code=C&reason=R]` — a WebSocket whose
//!   first connection per key behaves as `mode` and every later one as `then` (default: `mode`).
//!   Modes: `echo` (as `/echo`), `silent` (accepts, never answers: a dead peer with TCP open),
//!   `close` (sends close `code`/`reason` after `after_ms`), `drop` (drops TCP without a close
//!   frame after `after_ms`; the browser sees 1006), `reject` (refuses the upgrade with HTTP
//!   `status`, default 401: the browser sees 1006 before any open), `deaf` (accepts and never
//!   reads again, so a close handshake is never answered), `slowread` (reads at `bytes_per_s`,
//!   answers `ping` with `pong` and echoes nothing else: a slow uplink). `close` takes `hold_ms`:
//!   after its close frame, keep the TCP connection without reading for that long (the browser
//!   stays CLOSING meanwhile); and `after_frames`: send the close frame right after the N-th
//!   data frame instead of after `after_ms` (so it lands in the middle of a client's burst), then
//!   keep reading and recording until the browser answers. `record_head=true`: record only each
//!   text's first word (tests of long frames).
//! - `GET /test/stats?key=K` — JSON: connections opened and open now, texts received, closes received.
//! - `GET /test/outage?ms=N` — every connection is dropped and the listener goes away for `N` ms.

use crate::echo;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tower_http::cors::CorsLayer;

/// Requests to take the listener down for a while.
#[derive(Clone)]
pub struct Outages {
    sender: Arc<watch::Sender<(u64, Duration)>>,
}

impl Default for Outages {
    fn default() -> Self {
        Self {
            sender: Arc::new(watch::channel((0, Duration::ZERO)).0),
        }
    }
}

impl Outages {
    /// A future that resolves with the outage length once one is requested after this call.
    pub fn requested(&self) -> impl std::future::Future<Output = Duration> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            match receiver.changed().await {
                Ok(()) => receiver.borrow().1,
                Err(_) => std::future::pending().await,
            }
        }
    }

    fn request(&self, duration: Duration) {
        self.sender.send_modify(|(generation, length)| {
            *generation += 1;
            *length = duration;
        });
    }
}

#[derive(Clone, Default)]
struct TestState {
    outages: Outages,
    stats: Arc<Mutex<HashMap<String, KeyStats>>>,
}

/// What happened on the connections of one test key.
#[derive(Clone, Default, Serialize)]
struct KeyStats {
    opened: u32,
    /// Upgrades refused with an HTTP status (`reject`).
    rejected: u32,
    open_now: u32,
    received: Vec<String>,
    closes: Vec<CloseRecord>,
}

#[derive(Clone, Serialize)]
struct CloseRecord {
    code: Option<u16>,
    reason: String,
}

#[derive(Deserialize)]
struct WsParams {
    key: String,
    mode: Mode,
    then: Option<Mode>,
    #[serde(default)]
    after_ms: u64,
    #[serde(default = "default_code")]
    code: u16,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    hold_ms: u64,
    after_frames: Option<u64>,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default = "default_rate")]
    bytes_per_s: u64,
    /// Record only each text's first word: tests of long frames read their stats quickly.
    #[serde(default)]
    record_head: bool,
}

fn default_status() -> u16 {
    401
}

fn default_rate() -> u64 {
    1 << 20
}

fn default_code() -> u16 {
    1000
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Echo,
    Silent,
    Close,
    Drop,
    Reject,
    Deaf,
    Slowread,
}

#[derive(Deserialize)]
struct KeyParam {
    key: String,
}

#[derive(Deserialize)]
struct OutageParam {
    ms: u64,
}

/// The `/test` routes. CORS is open because the test page comes from the test runner's origin.
pub fn router(outages: Outages) -> Router {
    let state = TestState {
        outages,
        stats: Arc::default(),
    };
    Router::new()
        .route("/ws", get(ws))
        .route("/stats", get(stats))
        .route("/outage", get(outage))
        .layer(CorsLayer::permissive())
        .with_state(state)
}

async fn ws(
    upgrade: WebSocketUpgrade,
    Query(params): Query<WsParams>,
    State(state): State<TestState>,
) -> Response {
    let first = {
        let Ok(mut stats) = state.stats.lock() else {
            return (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "stats poisoned",
            )
                .into_response();
        };
        let entry = stats.entry(params.key.clone()).or_default();
        entry.opened += 1;
        entry.open_now += 1;
        entry.opened == 1
    };
    let mode = if first {
        params.mode
    } else {
        params.then.unwrap_or(params.mode)
    };
    if matches!(mode, Mode::Reject) {
        state.update(&params.key, |stats| {
            stats.open_now -= 1;
            stats.rejected += 1;
        });
        let status = axum::http::StatusCode::from_u16(params.status)
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
        return (status, "refused by test mode").into_response();
    }
    let outage = state.outages.requested();
    upgrade.on_upgrade(move |socket| async move {
        tokio::select! {
            () = behave(socket, mode, &params, &state) => {}
            // An outage drops the TCP connection without a close frame, like a crash.
            _ = outage => {}
        }
        state.update(&params.key, |stats| stats.open_now -= 1);
    })
}

async fn behave(mut socket: WebSocket, mode: Mode, params: &WsParams, state: &TestState) {
    if matches!(mode, Mode::Deaf) {
        // Never reads: a close frame from the browser is never seen, so never answered.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let deadline = tokio::time::sleep(Duration::from_millis(params.after_ms));
    tokio::pin!(deadline);
    let mut acted = false;
    let mut data_frames = 0u64;
    let timed = params.after_frames.is_none() && matches!(mode, Mode::Close | Mode::Drop);
    loop {
        let message = tokio::select! {
            () = &mut deadline, if !acted && timed => {
                acted = true;
                match mode {
                    Mode::Drop => return,
                    _ => {
                        if !start_close(&mut socket, params).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            message = socket.recv() => message,
        };
        let Some(Ok(message)) = message else { return };
        state.record(&params.key, &message, params.record_head);
        if matches!(message, Message::Close(_)) {
            return;
        }
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            data_frames += 1;
        }
        if !acted
            && matches!(mode, Mode::Close)
            && params.after_frames.is_some_and(|n| data_frames >= n)
        {
            acted = true;
            if !start_close(&mut socket, params).await {
                return;
            }
        }
        if matches!(mode, Mode::Slowread) {
            let bytes = match &message {
                Message::Binary(bytes) => bytes.len() as u64,
                Message::Text(text) => text.len() as u64,
                _ => 0,
            };
            // Reading no faster than the rate leaves the rest in the browser's send buffer.
            let pause = bytes.saturating_mul(1_000) / params.bytes_per_s.max(1);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if let Message::Text(text) = &message {
                if text.as_str() == heartline_protocol::PING
                    && socket
                        .send(Message::Text(heartline_protocol::PONG.into()))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            continue;
        }
        if matches!(mode, Mode::Echo) {
            if let Some(reply) = echo::reply_to(message) {
                if socket.send(reply).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends the close frame; with `hold_ms`, then stops reading for that long (the browser stays
/// CLOSING) and returns false: the connection is done. Otherwise the caller keeps reading, so
/// frames the browser sent before it saw the close are still recorded.
async fn start_close(socket: &mut WebSocket, params: &WsParams) -> bool {
    let frame = CloseFrame {
        code: params.code,
        reason: params.reason.clone().into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return false;
    }
    if params.hold_ms > 0 {
        // Not reading: the browser's answer waits, and it stays CLOSING.
        tokio::time::sleep(Duration::from_millis(params.hold_ms)).await;
        return false;
    }
    true
}

impl TestState {
    fn update(&self, key: &str, change: impl FnOnce(&mut KeyStats)) {
        if let Ok(mut stats) = self.stats.lock() {
            change(stats.entry(key.to_owned()).or_default());
        }
    }

    fn record(&self, key: &str, message: &Message, head_only: bool) {
        self.update(key, |stats| match message {
            Message::Text(text) if head_only => stats
                .received
                .push(text.split(' ').next().unwrap_or_default().to_owned()),
            Message::Text(text) => stats.received.push(text.to_string()),
            Message::Binary(bytes) => stats
                .received
                .push(format!("<binary {} bytes>", bytes.len())),
            Message::Close(frame) => stats.closes.push(CloseRecord {
                code: frame.as_ref().map(|frame| frame.code),
                reason: frame
                    .as_ref()
                    .map(|frame| frame.reason.to_string())
                    .unwrap_or_default(),
            }),
            Message::Ping(_) | Message::Pong(_) => {}
        });
    }
}

async fn stats(
    Query(KeyParam { key }): Query<KeyParam>,
    State(state): State<TestState>,
) -> Json<KeyStats> {
    let stats = state
        .stats
        .lock()
        .map(|stats| stats.get(&key).cloned().unwrap_or_default());
    Json(stats.unwrap_or_default())
}

async fn outage(
    Query(OutageParam { ms }): Query<OutageParam>,
    State(state): State<TestState>,
) -> &'static str {
    state.outages.request(Duration::from_millis(ms.min(30_000)));
    "outage started"
}
