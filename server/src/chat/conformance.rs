//! RFC 6455 closing handshake, the server's side.
//!
//! When a client's close frame arrives, tungstenite queues the answer itself: the client's code
//! echoed, or 1002 for a code no endpoint may send (below 1000, 1004–1006, 1015, 1016–2999,
//! 5000 and up). The answer is written on the next read or flush, so a session that stops at
//! the close frame must still drive the socket once more, or the client sees the TCP connection
//! vanish without an answer (browsers report that as 1006, `wasClean: false`).

use axum::extract::ws::WebSocket;
use std::time::Duration;

/// How long the peer gets to take the answer before TCP is closed anyway.
const ANSWER_DEADLINE: Duration = Duration::from_secs(1);

/// Sends the queued answer to the peer's close frame and waits until the connection ends (the
/// server side ends it right after the answer is written).
pub async fn answer_close(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(ANSWER_DEADLINE, async {
        // Reading flushes the queued close; the read after it reports the end.
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}
