//! The accept loop: hyper's HTTP/1 server with a deadline for the request head, which
//! `axum::serve` does not set (600 silent or slowloris sockets stayed open for minutes).
//! Each request carries the peer address (axum's `ConnectInfo`) for the flood guard, and the
//! connection's [`crate::metered::Watch`] (frame limits, read deadline, bytes written); a
//! connection that takes nothing written to it for the write deadline is closed.

use crate::budget::MemoryBudget;
use crate::metered::Metered;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a graceful stop waits for HTTP requests in progress (upgraded WebSockets are not
/// waited for: their sessions close themselves).
const DRAIN: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `stop` resolves. A connection must send its whole request
/// head within `header_timeout` of being accepted (and of each keep-alive request after that),
/// or it is closed; one that takes no byte of what is written to it for `write_deadline` is
/// closed too (a response or a WebSocket nobody reads).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    write_deadline: Duration,
    budget: Arc<MemoryBudget>,
    stop: impl Future<Output = ()>,
) {
    // Connections hold `_alive`; when the last is gone, `all_done` yields None.
    let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most often: wait a moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        // The chat endpoint switches the watch to frames when it takes the connection over.
        let (stream, watch) = Metered::new(stream, &budget, write_deadline);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            request.extensions_mut().insert(watch.clone());
            app.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let (_alive, mut stopped) = (alive.clone(), stopped.clone());
        tokio::spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopped.wait_for(|stopped| *stopped).await; } => {
                    // Finish the request in progress, then close; idle ones close now.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    drop(alive);
    let _ = tokio::time::timeout(DRAIN, all_done.recv()).await;
}
