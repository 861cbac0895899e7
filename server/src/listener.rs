//! The accept loop. In test mode it can be taken down and brought back on the
//! same port, which is how the browser tests see a server restart.

use crate::{echo, test_mode, ServerConfig};
use axum::Router;
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::{ServeDir, ServeFile};

/// Serves until `shutdown` resolves.
pub async fn run(config: ServerConfig, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let outages = test_mode::Outages::default();
    let mut app = Router::new().route("/echo", axum::routing::get(echo::handler));
    if config.test_mode {
        tracing::warn!("test mode: fault-injection endpoints are enabled under /test/");
        app = app.nest("/test", test_mode::router(outages.clone()));
    }
    let index = config.dist.join("index.html");
    let app = app.fallback_service(ServeDir::new(&config.dist).fallback(ServeFile::new(index)));

    let serving = async {
        let mut first = true;
        loop {
            let listener = bind(config.addr, first).await?;
            if first {
                // The scripts wait for this exact line.
                println!(
                    "heartline-server listening on http://{}",
                    listener.local_addr()?
                );
                first = false;
            }
            let mut stop = stop_rx.clone();
            // Subscribed before serving, so no request can slip in unseen.
            let outage = outages.requested();
            let down_for = std::sync::Arc::new(std::sync::Mutex::new(None));
            let down_for_set = down_for.clone();
            axum::serve(listener, app.clone())
                .with_graceful_shutdown(async move {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => {}
                        duration = outage => {
                            if let Ok(mut slot) = down_for_set.lock() {
                                *slot = Some(duration);
                            }
                        }
                    }
                })
                .await?;
            let outage = down_for.lock().ok().and_then(|mut slot| slot.take());
            match outage {
                Some(duration) => {
                    tracing::info!(?duration, "test outage: listener down");
                    tokio::time::sleep(duration).await;
                    tracing::info!("test outage over: listener back");
                }
                None => return Ok::<(), io::Error>(()),
            }
        }
    };
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => result,
        () = shutdown => {
            let _ = stop_tx.send(true);
            // Bounded: a stuck connection must not keep the process alive.
            let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
            Ok(())
        }
    }
}

/// Binds; after an outage the old socket may linger a moment, so retry briefly.
async fn bind(addr: std::net::SocketAddr, first: bool) -> io::Result<TcpListener> {
    let mut tries = if first { 1 } else { 50 };
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(error) if tries > 1 => {
                tries -= 1;
                tracing::debug!(%error, "rebind failed, retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("cannot listen on {addr}: {error}"),
                ))
            }
        }
    }
}
