//! Helpers shared by the server's test binaries: a server on a free loopback port, clients that
//! join (remembering each client id's secret, as the app does), and reads with deadlines.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use heartline_protocol::{Body, ServerFrame};
use heartline_server::chat::limits::Limits;
use heartline_server::{start, Running, ServerConfig, StoreConfig, StoreKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const DEADLINE: Duration = Duration::from_secs(5);

/// A server config on a free loopback port over the in-memory store: these tests are about the
/// protocol; durability has its own tests (tests/durability.rs) on the real binary and a real
/// SQLite file.
pub fn config_with(limits: Limits) -> ServerConfig {
    ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        limits,
        store: StoreConfig {
            kind: StoreKind::Memory,
            ..StoreConfig::default()
        },
        ..ServerConfig::default()
    }
}

pub async fn server_with(limits: Limits) -> Running {
    start(config_with(limits)).await.expect("server starts")
}

pub async fn server() -> Running {
    server_with(Limits::default()).await
}

pub async fn connect(server: &Running) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("connects");
    client
}

pub async fn send(client: &mut Client, value: Value) {
    client
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("sends");
}

/// The next chat frame (heartbeat replies skipped), within the deadline.
pub async fn next(client: &mut Client) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(DEADLINE, client.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Text(text))) if text.as_str() == "pong" => continue,
            // The server's liveness pings (tungstenite answers them itself).
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).expect("a server frame")
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Waits for the close frame; returns its code and reason.
pub async fn closed(client: &mut Client) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(DEADLINE, client.next())
            .await
            .expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("error instead of a close: {error}"),
        }
    }
}

pub async fn join(
    server: &Running,
    room: &str,
    nick: &str,
    last_seq: Option<u64>,
) -> (Client, ServerFrame) {
    let resume = last_seq.map(|seq| (seq, server.epoch().to_string()));
    join_in(server, room, nick, resume).await
}

/// Joins, resuming after a seq of an epoch.
pub async fn join_in(
    server: &Running,
    room: &str,
    nick: &str,
    resume: Option<(u64, String)>,
) -> (Client, ServerFrame) {
    let mut client = connect(server).await;
    let client_id = format!("client-{nick}");
    let mut frame = json!({"type": "join", "room": room, "nick": nick, "client_id": client_id});
    if let Some(secret) = secret_of(server, &client_id) {
        frame["secret"] = json!(secret);
    }
    if let Some((seq, epoch)) = resume {
        frame["last_seq"] = json!(seq);
        frame["epoch"] = json!(epoch);
    }
    send(&mut client, frame).await;
    let welcome = next(&mut client).await;
    let ServerFrame::Welcome { secret, .. } = &welcome else {
        panic!("expected a welcome, got {welcome:?}")
    };
    remember_secret(server, &client_id, secret);
    (client, welcome)
}

/// Secrets the servers of this test binary gave, by (server address, client id).
static SECRETS: Mutex<Option<HashMap<(String, String), String>>> = Mutex::new(None);

/// The secret a server gave a client id, if it gave one.
pub fn secret_of(server: &Running, client_id: &str) -> Option<String> {
    let secrets = SECRETS.lock().unwrap();
    secrets
        .as_ref()?
        .get(&(server.addr.to_string(), client_id.to_owned()))
        .cloned()
}

/// Keeps a secret for the next join of that client id.
pub fn remember_secret(server: &Running, client_id: &str, secret: &str) {
    let mut secrets = SECRETS.lock().unwrap();
    secrets.get_or_insert_with(HashMap::new).insert(
        (server.addr.to_string(), client_id.to_owned()),
        secret.to_owned(),
    );
}

pub async fn say(client: &mut Client, id: &str, text: &str) {
    send(
        client,
        json!({"type": "say", "client_msg_id": id, "text": text}),
    )
    .await;
}

/// Says `count` messages of 60 KiB (ids "1" to `count`) as fast as the server takes them (its
/// flood limits raised by the caller), reading the answers meanwhile; returns once every one is
/// acked.
pub async fn say_60_kib(client: Client, count: u64) {
    let (mut to_server, mut from_server) = client.split();
    let acks = tokio::spawn(async move {
        let mut last = 0;
        while last < count {
            match from_server.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ServerFrame::Ack { seq, .. }) = serde_json::from_str(&text) {
                        last = seq;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the sender's connection: {other:?}"),
            }
        }
    });
    let text = "x".repeat(60 * 1024);
    for i in 1..=count {
        let frame = json!({"type": "say", "client_msg_id": i.to_string(), "text": text});
        to_server
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(120), acks)
        .await
        .expect("every message acked")
        .unwrap();
}

/// Reads frames until a message; returns (seq, text).
pub async fn next_message(client: &mut Client) -> (u64, String) {
    loop {
        if let ServerFrame::Message(message) = next(client).await {
            let text = match message.body {
                Body::Text { text } => text,
                other => format!("{other:?}"),
            };
            return (message.seq, text);
        }
    }
}

pub async fn next_ack(client: &mut Client) -> (String, u64) {
    loop {
        if let ServerFrame::Ack { client_msg_id, seq } = next(client).await {
            return (client_msg_id, seq);
        }
    }
}

/// A plain HTTP GET with the server's own Host (any other is refused: DNS rebinding);
/// returns the response head and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>) {
    http_get_as(addr, path, &addr.to_string()).await
}

/// A plain HTTP GET with this `Host`; returns the response head and body.
pub async fn http_get_as(addr: std::net::SocketAddr, path: &str, host: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    (
        String::from_utf8_lossy(&response[..split]).into_owned(),
        response[split + 4..].to_vec(),
    )
}

/// Spawns a server binary (stdout and stderr piped) and waits for its "listening on" line. Its
/// output is drained for as long as it lives (stderr echoed), so its logs never block it.
pub async fn start_binary(
    mut command: tokio::process::Command,
) -> (tokio::process::Child, std::net::SocketAddr) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = command.spawn().expect("the server binary runs");
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("heartline-server listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.parse().expect("an address"));
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[server] {line}");
        }
    });
    let addr = tokio::time::timeout(DEADLINE, rx)
        .await
        .expect("the server starts in time")
        .expect("the server prints its address");
    (child, addr)
}

/// How long a redis-server of a test may take to start or stop.
const REDIS_DEADLINE: Duration = Duration::from_secs(10);

/// A Debian tool by name: on the PATH, or where Debian puts it (/usr/sbin is not on every
/// user's PATH). Missing: the test fails saying how to install it.
pub fn tool(name: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} must be installed for these tests (Debian: apt-get install {name}; or \
                 bash scripts/install.sh)"
            )
        })
}

/// A command for a child process that keeps none of the fds this test inherited (such as a
/// build lock held by whoever started the tests), should it outlive the test.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    // SAFETY: close(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            for fd in 3..1024 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A redis-server of the test's own, with the append-only file on (every write fsynced), in a
/// temp dir; killed when dropped.
pub struct Redis {
    child: Option<tokio::process::Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Every write in the append-only file at once; otherwise only what [`Redis::snapshot`]
    /// saved survives a crash (a Redis run on RDB snapshots).
    aof: bool,
}

impl Redis {
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// A Redis that keeps only the snapshots the test takes ([`Redis::snapshot`]): after a
    /// [`Redis::crash`] it comes back as it was at the last one.
    pub async fn start_snapshots_only() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(aof: bool) -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a temp dir"),
            aof,
        };
        redis.launch().await;
        redis
    }

    pub async fn launch(&mut self) {
        let child = command(tool("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(if self.aof {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "no"]
            })
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "redis-server must be installed for these tests (Debian: apt-get install \
                 redis-server; or bash scripts/install.sh)",
            );
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + REDIS_DEADLINE;
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Writes the database's snapshot (`SAVE`), which a restart loads.
    pub fn snapshot(&self) {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut conn = client.get_connection().expect("connects to redis-server");
        redis::cmd("SAVE")
            .query::<()>(&mut conn)
            .expect("SAVE succeeds");
    }

    /// A key's value (`None` when missing, or Redis cannot be reached yet).
    pub async fn get(&self, key: &str) -> Option<String> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .ok()?
    }

    /// Closes every subscriber's connection (`CLIENT KILL TYPE pubsub`), as a network cut would.
    pub async fn kill_subscribers(&self) {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects to redis-server");
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async::<i64>(&mut conn)
            .await
            .expect("CLIENT KILL succeeds");
    }

    /// SIGKILL, and waits: what it had not written to disk is gone.
    pub async fn crash(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("SIGKILL");
    }

    /// Stops it as an operator would (SIGTERM: it finishes the AOF and exits), and waits.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().expect("a pid") as i32;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        tokio::time::timeout(REDIS_DEADLINE, child.wait())
            .await
            .expect("redis-server stops in time")
            .expect("waited");
    }
}
