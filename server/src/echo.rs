//! `/echo`: sends every frame back, and answers the heartbeat `ping` with `pong`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use heartline_protocol::{PING, PONG};

/// Upgrades to a socket that echoes.
pub async fn handler(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

/// Echoes until the peer closes.
pub async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if let Some(reply) = reply_to(message) {
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    }
}

/// The echo rule: ping → pong, text and binary back as they came.
pub fn reply_to(message: Message) -> Option<Message> {
    match message {
        Message::Text(text) if text.as_str() == PING => Some(Message::Text(PONG.into())),
        Message::Text(_) | Message::Binary(_) => Some(message),
        // Protocol pings are answered by the WebSocket layer itself.
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
    }
}
