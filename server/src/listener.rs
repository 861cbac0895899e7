//! The accept loop. In test mode it can be taken down and brought back on the same port,
//! which is how the browser tests see a server restart.

use crate::chat::cluster::Cluster;
use crate::chat::store::{MemoryStore, RedisStore, RoomStore, SqliteStore};
use crate::chat::{self, ChatState};
use crate::host::{self, PublicHosts};
use crate::{accept, fds};
use crate::{echo, test_mode, ServerConfig, StoreKind};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};

/// A running server.
pub struct Running {
    /// The address it listens on (the real port when asked for port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
    chat: ChatState,
    /// With a Redis store: following the other instances (stopped on drop).
    _cluster: Option<Cluster>,
}

impl Running {
    /// The epoch of the chat store (as every welcome names it).
    pub fn epoch(&self) -> &str {
        self.chat.hub.store().epoch()
    }

    /// The rooms' hub, for tests that act on the live feed itself (a seq it skips).
    #[doc(hidden)]
    pub fn hub(&self) -> &crate::chat::hub::Hub {
        &self.chat.hub
    }

    /// Closes every chat connection with 1012 (Service Restart) and stops, within 2 seconds.
    pub async fn shutdown(self) -> io::Result<()> {
        self.chat.posting.close().await;
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let result = tokio::time::timeout_at(deadline, self.task).await;
        // Sessions send their close frames on their own tasks; wait for them too, within the bound.
        while self.chat.connections.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match result {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(io::Error::other(join_error)),
            Err(_) => Ok(()),
        }
    }
}

/// Serves until `shutdown` resolves, then shuts down gracefully.
pub async fn run(config: ServerConfig, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let running = start(config).await?;
    // The scripts wait for this exact line.
    println!("heartline-server listening on http://{}", running.addr);
    shutdown.await;
    tracing::info!("shutting down: closing every connection with 1012");
    running.shutdown().await
}

/// The store the config names, and the Redis store again when it is one (the instances on it
/// share more than the log: see [`crate::chat::cluster`]).
type Opened = (Arc<dyn RoomStore>, Option<Arc<RedisStore>>);

/// Opens the store the config names. A SQLite store that cannot start is an error that names
/// the path; it never replaces what is there. An unreachable Redis is an error naming its URL.
async fn open_store(config: &ServerConfig) -> io::Result<Opened> {
    let retention = config.store.retention(&config.limits);
    match config.store.kind {
        StoreKind::Memory => Ok((Arc::new(MemoryStore::new(retention)), None)),
        StoreKind::Redis => {
            let url = config.store.redis_url.as_deref().unwrap_or_default();
            let store = Arc::new(
                RedisStore::open(url, retention)
                    .await
                    .map_err(io::Error::other)?,
            );
            Ok((store.clone(), Some(store)))
        }
        StoreKind::Sqlite => {
            let dir = config.store.data_dir.clone();
            let commit = config.store.commit;
            // Opening checks the whole file: off the async threads.
            let opened =
                tokio::task::spawn_blocking(move || SqliteStore::open(&dir, retention, commit))
                    .await
                    .map_err(io::Error::other)?;
            match opened {
                Ok(store) => Ok((Arc::new(store), None)),
                Err(error) => Err(io::Error::other(error.to_string())),
            }
        }
    }
}

/// Opens the store, binds and starts serving in the background.
pub async fn start(mut config: ServerConfig) -> io::Result<Running> {
    let nofile = fds::raise_limit();
    let wanted = config.limits.max_connections;
    config.limits.max_connections = fds::connection_limit(wanted, nofile);
    if config.limits.max_connections < wanted {
        tracing::warn!(
            max_connections = wanted,
            nofile,
            using = config.limits.max_connections,
            "--max-connections exceeds what RLIMIT_NOFILE allows; raise `ulimit -n` to allow more"
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let outages = test_mode::Outages::default();
    let (store, redis) = open_store(&config).await?;
    let chat = ChatState::new(
        config.limits.clone(),
        config.allowed_origins.clone(),
        stop_rx.clone(),
        store,
    );
    let cluster = redis.map(|redis| Cluster::start(&redis, chat.hub.clone()));
    let mut app = Router::new()
        .route("/echo", get(echo::handler))
        .route("/ws", get(chat::handler).with_state(chat.clone()))
        .route(
            "/media/{id}",
            get(chat::media::handler).with_state(chat.clone()),
        )
        .route("/health", get(health).with_state(chat.clone()));
    if config.test_mode {
        tracing::warn!("test mode: fault-injection endpoints are enabled under /test/");
        app = app.nest("/test", test_mode::router(outages.clone()));
    }
    // The playground is its own bundle (dist/playground/, see Trunk.toml); its assets are
    // served by the ServeDir below.
    let playground = config.dist.join("playground").join("index.html");
    app = app.route_service("/playground", ServeFile::new(playground));
    let index = config.dist.join("index.html");
    let app = app
        .fallback_service(ServeDir::new(&config.dist).fallback(ServeFile::new(index)))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(PublicHosts::new(&config.public_hosts)),
            host::check,
        ));

    let header_timeout = Duration::from_millis(config.limits.header_timeout_ms);
    // A peer that takes no byte for as long as a silent one may live is as good as gone (at
    // least a second: a write on a busy link may wait that long).
    let write_deadline = Duration::from_millis(config.limits.liveness_timeout_ms.max(1_000));
    let budget = chat.budget.clone();
    let listener = bind(config.addr, 1).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut listener = Some(listener);
        loop {
            let current = match listener.take() {
                Some(listener) => listener,
                None => bind(addr, 50).await?,
            };
            let mut stop = stop_rx.clone();
            // Subscribed before serving, so no outage request can slip in unseen.
            let outage = outages.requested();
            let down_for = Arc::new(Mutex::new(None));
            let down_for_set = down_for.clone();
            accept::serve(
                current,
                app.clone(),
                header_timeout,
                write_deadline,
                budget.clone(),
                async move {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => {}
                        duration = outage => {
                            if let Ok(mut slot) = down_for_set.lock() {
                                *slot = Some(duration);
                            }
                        }
                    }
                },
            )
            .await;
            let outage = down_for.lock().ok().and_then(|mut slot| slot.take());
            let Some(duration) = outage else {
                return Ok(());
            };
            tracing::info!(?duration, "test outage: listener down");
            tokio::time::sleep(duration).await;
            tracing::info!("test outage over: listener back");
        }
    });
    Ok(Running {
        addr,
        stop: stop_tx,
        task,
        chat,
        _cluster: cluster,
    })
}

async fn health(State(chat): State<ChatState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "connections": chat.connections.load(Ordering::SeqCst),
        "deduplicated": chat.deduplicated.load(Ordering::Relaxed),
    }))
}

/// Binds; after an outage the old socket may linger a moment, so retry briefly.
async fn bind(addr: SocketAddr, mut tries: u32) -> io::Result<TcpListener> {
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
