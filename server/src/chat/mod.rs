//! The chat endpoint `/ws`: the handshake checks (origin, connection limit) here, rooms in
//! [`hub`], storage behind [`store::RoomStore`], one connection's life in [`session`], pictures
//! over HTTP in [`media`].

pub mod cluster;
pub mod conformance;
pub mod flood;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod media;
pub mod outbound;
pub mod pipeline;
pub mod resume;
pub mod session;
pub mod shutdown;
pub mod store;

use crate::budget::MemoryBudget;
use crate::metered::Watch;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hub::Hub;
use limits::Limits;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use store::RoomStore;
use tokio::sync::watch;

/// Shared by every chat connection.
#[derive(Clone)]
pub struct ChatState {
    /// Rooms.
    pub hub: Arc<Hub>,
    /// Limits.
    pub limits: Arc<Limits>,
    /// Origins allowed besides the server's own (`*` for any).
    pub allowed_origins: Arc<Vec<String>>,
    /// Becomes true at shutdown: every session closes with 1012.
    pub stop: watch::Receiver<bool>,
    /// Open chat connections.
    pub connections: Arc<AtomicUsize>,
    /// Resends answered with their original seq instead of being stored again (each one is
    /// upload volume and flood allowance a client spent for nothing).
    pub deduplicated: Arc<AtomicU64>,
    /// Client ids and the secrets that back them.
    pub identities: Arc<identity::Identities>,
    /// Flood-guard buckets shared by connections, per client id and per IP address.
    pub flood: Arc<flood::SharedBuckets>,
    /// Closed at shutdown before `stop`: no post is acked that cannot be delivered.
    pub posting: Arc<shutdown::PostGate>,
    /// What clients make the process hold, under one limit (`--memory-budget-mb`).
    pub budget: Arc<MemoryBudget>,
    next_id: Arc<AtomicU64>,
}

impl ChatState {
    /// State over a store.
    pub fn new(
        limits: Limits,
        allowed_origins: Vec<String>,
        stop: watch::Receiver<bool>,
        store: Arc<dyn RoomStore>,
    ) -> Self {
        let flood = Arc::new(flood::SharedBuckets::new(&limits));
        let identities = Arc::new(identity::Identities::new(store.clone()));
        let budget = MemoryBudget::new(limits.memory_budget_bytes);
        Self {
            hub: Arc::new(Hub::new(store)),
            limits: Arc::new(limits),
            allowed_origins: Arc::new(allowed_origins),
            stop,
            connections: Arc::default(),
            identities,
            deduplicated: Arc::default(),
            flood,
            posting: Arc::default(),
            budget,
            next_id: Arc::default(),
        }
    }

    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        // Non-browser clients send no Origin; the check protects browsers' users.
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        if self
            .allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed == origin)
        {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin_authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        !host.is_empty() && origin_authority == host
    }
}

/// Counts a connection while it lives.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `GET /ws`.
pub async fn handler(
    upgrade: WebSocketUpgrade,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(watch): Extension<Arc<Watch>>,
    State(state): State<ChatState>,
) -> Response {
    if !state.origin_allowed(&headers) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or_default();
        tracing::warn!(%origin, "refused: foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let limit = state
        .limits
        .max_binary_bytes
        .max(state.limits.max_text_bytes);
    // A backstop: the watch below refuses an oversized frame at its header first.
    let upgrade = upgrade
        .max_message_size(limit + 64 * 1024)
        .max_frame_size(limit + 64 * 1024);
    // Every frame header is checked against its type's limit before anything of its payload is
    // buffered (tungstenite has one limit for all types and reserves a frame's whole length).
    watch.frames(state.limits.max_text_bytes, state.limits.max_binary_bytes);
    let slot = Slot(state.connections.clone());
    let open = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let id = state.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    upgrade.on_upgrade(move |mut socket| async move {
        let _slot = slot;
        if open > state.limits.max_connections {
            tracing::warn!(conn = id, open, "refused: too many connections");
            let frame = CloseFrame {
                code: 1013,
                reason: "too many connections; try again later".into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return;
        }
        tracing::debug!(conn = id, "connected");
        session::run(socket, state, id, peer.ip(), watch).await;
        tracing::debug!(conn = id, "disconnected");
    })
}
