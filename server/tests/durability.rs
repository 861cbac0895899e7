//! The durable store with real processes: the built `heartline-server` binary on a real SQLite
//! file, killed with SIGKILL mid-stream and restarted on the same data dir; and each bad
//! condition at start (a damaged, locked, unreadable database, a data dir that is not writable,
//! a full disk) and while running (a write that fails).

mod support;

use futures_util::{SinkExt, StreamExt};
use heartline_protocol::{Body, ServerFrame};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::http_get;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BINARY: &str = env!("CARGO_BIN_EXE_heartline-server");
const DEADLINE: Duration = Duration::from_secs(10);

/// A server process on a data dir.
struct Server {
    child: Child,
    addr: SocketAddr,
}

fn command(dir: &Path, extra: &[&str]) -> Command {
    command_of(Path::new(BINARY), dir, extra)
}

fn command_of(program: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(program);
    command
        .args([
            "--addr",
            "127.0.0.1:0",
            "--dist",
            "no-app-here",
            "--data-dir",
        ])
        .arg(dir)
        .args(["--flood-burst", "100000", "--flood-per-second", "100000"])
        .args(extra)
        .env("RUST_LOG", "heartline_server=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts a server and waits for it to listen.
async fn start(command: Command) -> Server {
    let (child, addr) = support::start_binary(command).await;
    Server { child, addr }
}

impl Server {
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

/// Runs the server expecting it to refuse to start: its exit code and what it printed.
async fn refused(mut command: Command) -> (i32, String) {
    let mut busy = 0;
    let output = loop {
        match tokio::time::timeout(DEADLINE, command.output())
            .await
            .expect("the server gives up in time")
        {
            Ok(output) => break output,
            // A copy of the binary just written (`unprivileged`) is still open for writing in
            // a child another test forked meanwhile, until that child's exec closes it.
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy && busy < 20 => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the server binary runs: {error}"),
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

async fn connect(addr: SocketAddr) -> Option<Client> {
    let url = format!("ws://{addr}/ws");
    match tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((client, _))) => Some(client),
        _ => None,
    }
}

/// The next chat frame; `None` when the connection ends (closed, reset, or a close frame).
async fn next(client: &mut Client) -> Option<ServerFrame> {
    loop {
        let message = tokio::time::timeout(DEADLINE, client.next())
            .await
            .expect("a frame or the end in time");
        match message {
            Some(Ok(Message::Text(text))) if text.as_str() == "pong" => continue,
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("a server frame"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        }
    }
}

/// The close code of a connection's end, reading past other frames.
async fn close_code(client: &mut Client) -> Option<u16> {
    loop {
        let message = tokio::time::timeout(DEADLINE, client.next())
            .await
            .expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code.into()),
            Some(Ok(Message::Close(None))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn send_json(client: &mut Client, value: serde_json::Value) -> bool {
    client
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

/// The whole history of a room, as a newcomer sees it: (seq, client_msg_id, text).
async fn history(addr: SocketAddr, room: &str) -> (String, Vec<(u64, String, String)>) {
    let mut client = connect(addr).await.expect("the observer connects");
    let observer = format!("observer-{}", rand_suffix());
    send_json(
        &mut client,
        json!({"type": "join", "room": room, "nick": observer, "client_id": observer}),
    )
    .await;
    let Some(ServerFrame::Welcome {
        mut history,
        epoch,
        gap,
        more,
        ..
    }) = next(&mut client).await
    else {
        panic!("the observer is welcomed")
    };
    assert!(!gap, "a first join reports no gap");
    // The welcome is the newest page (v3): the older ones on request.
    let mut more = more;
    while more {
        let before = history[0].seq;
        send_json(&mut client, json!({"type": "history", "before": before})).await;
        loop {
            match next(&mut client).await {
                Some(ServerFrame::Page {
                    messages,
                    more: older,
                    ..
                }) => {
                    history.splice(0..0, messages);
                    more = older;
                    break;
                }
                Some(_) => {}
                None => panic!("the observer's page"),
            }
        }
    }
    let messages = history
        .into_iter()
        .map(|m| {
            let text = match m.body {
                Body::Text { text } => text,
                other => format!("{other:?}"),
            };
            (m.seq, m.client_msg_id, text)
        })
        .collect();
    (epoch, messages)
}

fn rand_suffix() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst) as u64
}

/// Where the current server listens: a generation number and its address.
type Current = watch::Receiver<(u64, SocketAddr)>;

/// What one chatting client saw.
#[derive(Default, Debug)]
struct Record {
    /// (client_msg_id, seq) of every ack.
    acked: Vec<(String, u64)>,
    /// Every message seq delivered to this client, history and live, over all its connections.
    delivered: Vec<u64>,
    /// Epochs of its welcomes.
    epochs: HashSet<String>,
    /// Welcomes that said `gap: true`.
    gaps: usize,
    /// Connections it made.
    connections: usize,
}

/// A client that sends steadily (one message in flight, the next after its ack) and, whenever
/// its connection ends, reconnects to the current server, resumes after the last seq it has and
/// resends its unacknowledged message with the same id, as the app's outbox does.
async fn chatter(
    n: usize,
    room: &'static str,
    mut current: Current,
    acks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Record {
    let client_id = format!("durable-{n}");
    let mut record = Record::default();
    let mut secret: Option<String> = None;
    let mut epoch: Option<String> = None;
    let mut last_seq: Option<u64> = None;
    let mut pending: Option<String> = None;
    let mut sent = 0usize;
    let mut generation = 0;
    loop {
        if stop.load(Ordering::SeqCst) && pending.is_none() {
            return record;
        }
        let (current_generation, addr) = *current.borrow_and_update();
        if current_generation == generation && record.connections > 0 {
            // This server's connection ended: wait for the next server.
            tokio::time::timeout(Duration::from_secs(30), current.changed())
                .await
                .expect("a restarted server in time")
                .expect("the test is still running");
            continue;
        }
        generation = current_generation;
        let Some(mut client) = connect(addr).await else {
            continue;
        };
        record.connections += 1;
        let mut join =
            json!({"type": "join", "room": room, "nick": client_id, "client_id": client_id});
        if let Some(secret) = &secret {
            join["secret"] = json!(secret);
        }
        if let (Some(seq), Some(epoch)) = (last_seq, &epoch) {
            join["last_seq"] = json!(seq);
            join["epoch"] = json!(epoch);
        }
        if !send_json(&mut client, join).await {
            continue;
        }
        let Some(ServerFrame::Welcome {
            history,
            gap,
            epoch: welcome_epoch,
            secret: given,
            ..
        }) = next(&mut client).await
        else {
            continue;
        };
        secret = Some(given);
        record.epochs.insert(welcome_epoch.clone());
        epoch = Some(welcome_epoch);
        record.gaps += usize::from(gap);
        for message in history {
            record.delivered.push(message.seq);
            last_seq = Some(message.seq);
        }
        // Resend what was not acknowledged, then keep sending.
        loop {
            if pending.is_none() && !stop.load(Ordering::SeqCst) {
                sent += 1;
                pending = Some(format!("{n}-{sent}"));
            }
            if let Some(id) = &pending {
                let say =
                    json!({"type": "say", "client_msg_id": id, "text": format!("from {n}: {id}")});
                if !send_json(&mut client, say).await {
                    break;
                }
            } else {
                return record;
            }
            // Read until this message's ack (or the end of the connection).
            let acked = loop {
                match next(&mut client).await {
                    Some(ServerFrame::Message(message)) => {
                        record.delivered.push(message.seq);
                        last_seq = Some(message.seq);
                    }
                    Some(ServerFrame::Ack { client_msg_id, seq }) => {
                        assert_eq!(
                            Some(&client_msg_id),
                            pending.as_ref(),
                            "ack of the message in flight"
                        );
                        record.acked.push((client_msg_id, seq));
                        acks.fetch_add(1, Ordering::SeqCst);
                        break true;
                    }
                    Some(ServerFrame::Error { code, message, .. }) => {
                        panic!("client {n}: error {code}: {message}")
                    }
                    Some(_) => {}
                    None => break false,
                }
            };
            if !acked {
                break;
            }
            pending = None;
        }
    }
}

/// Waits until `counter` reaches `at_least`.
async fn reach(counter: &AtomicUsize, at_least: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        while counter.load(Ordering::SeqCst) < at_least {
            tick.tick().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{at_least} acks in time (have {})",
            counter.load(Ordering::SeqCst)
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acked_messages_survive_five_sigkills_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let room = "crash";
    let history_size = ["--history", "100000"];
    let mut server = start(command(dir.path(), &history_size)).await;
    let (current_tx, current) = watch::channel((1u64, server.addr));
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..10)
        .map(|n| {
            tokio::spawn(chatter(
                n,
                room,
                current.clone(),
                acks.clone(),
                stop.clone(),
            ))
        })
        .collect();

    for kill in 1..=5u64 {
        // Mid-stream: wait for traffic since the last start, then kill without warning.
        let before = acks.load(Ordering::SeqCst);
        reach(&acks, before + 40).await;
        server.kill().await;
        server = start(command(dir.path(), &history_size)).await;
        current_tx.send_replace((kill + 1, server.addr));
    }
    let before = acks.load(Ordering::SeqCst);
    reach(&acks, before + 40).await;
    stop.store(true, Ordering::SeqCst);
    let mut records = Vec::new();
    for client in clients {
        records.push(
            tokio::time::timeout(Duration::from_secs(30), client)
                .await
                .unwrap()
                .unwrap(),
        );
    }

    let (epoch, stored) = history(server.addr, room).await;
    let seqs: Vec<u64> = stored.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seqs continue across restarts, with no hole"
    );
    let by_id: HashMap<&str, Vec<u64>> =
        stored.iter().fold(HashMap::new(), |mut map, (seq, id, _)| {
            map.entry(id.as_str()).or_insert_with(Vec::new).push(*seq);
            map
        });
    assert!(
        by_id.values().all(|seqs| seqs.len() == 1),
        "no message is stored twice: {:?}",
        by_id
            .iter()
            .filter(|(_, s)| s.len() > 1)
            .collect::<Vec<_>>()
    );
    let mut total_acked = 0;
    for (n, record) in records.iter().enumerate() {
        assert!(
            record.connections >= 6,
            "client {n} reconnected after each kill: {}",
            record.connections
        );
        assert_eq!(
            record.epochs,
            HashSet::from([epoch.clone()]),
            "one epoch across restarts"
        );
        assert_eq!(record.gaps, 0, "client {n} was never told of a gap");
        for (id, seq) in &record.acked {
            assert_eq!(
                by_id.get(id.as_str()),
                Some(&vec![*seq]),
                "acked {id} is stored as seq {seq}"
            );
        }
        // In order: a client's messages are stored in the order it sent them.
        let own: BTreeMap<u64, usize> = record
            .acked
            .iter()
            .map(|(id, seq)| (*seq, id.rsplit('-').next().unwrap().parse().unwrap()))
            .collect();
        let order: Vec<usize> = own.values().copied().collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "client {n}'s messages in order"
        );
        // Resuming with last_seq gave exactly what was missing: every seq once, none skipped.
        let delivered = &record.delivered;
        assert_eq!(
            *delivered,
            (1..=delivered.len() as u64).collect::<Vec<_>>(),
            "client {n} got every seq once, in order, across {} connections",
            record.connections
        );
        total_acked += record.acked.len();
    }
    assert!(total_acked >= 240, "traffic flowed: {total_acked} acks");
    server.kill().await;
}

// ---- one client's burst: pipelined appends, answered in order ----

/// Joins `room` as `nick`, returning the client after its welcome.
async fn joined(addr: SocketAddr, room: &str, nick: &str) -> Client {
    let mut client = connect(addr).await.expect("connects");
    send_json(
        &mut client,
        json!({"type": "join", "room": room, "nick": nick, "client_id": nick}),
    )
    .await;
    assert!(matches!(
        next(&mut client).await,
        Some(ServerFrame::Welcome { .. })
    ));
    client
}

/// What a bursting client read: answers to its says in arrival order, and the messages
/// broadcast to it as (seq, client_msg_id).
#[derive(Debug, Default)]
struct Answers {
    /// `(client_msg_id, Some(seq))` for an ack, `(client_msg_id, None)` for an error naming it.
    answers: Vec<(String, Option<u64>)>,
    broadcast: Vec<(u64, String)>,
}

/// Sends `ids` as says without waiting for anything (a task of its own, so the client reads
/// while it writes, as a browser does), and reads until `until` answers have come or the
/// connection ends. An empty id's text is empty.
async fn burst(client: Client, ids: Vec<String>, until: usize) -> Answers {
    let (mut sink, mut stream) = client.split();
    let sender = tokio::spawn(async move {
        for id in ids {
            let text = if id.starts_with("empty") {
                String::new()
            } else {
                format!("text of {id}")
            };
            let say = json!({"type": "say", "client_msg_id": id, "text": text});
            if sink
                .send(Message::Text(say.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut read = Answers::default();
    while read.answers.len() < until {
        let Ok(Some(Ok(message))) = tokio::time::timeout(DEADLINE, stream.next()).await else {
            break;
        };
        let Message::Text(text) = message else {
            continue;
        };
        match serde_json::from_str::<ServerFrame>(&text) {
            Ok(ServerFrame::Ack { client_msg_id, seq }) => {
                read.answers.push((client_msg_id, Some(seq)))
            }
            Ok(ServerFrame::Error {
                client_msg_id: Some(id),
                ..
            }) => read.answers.push((id, None)),
            Ok(ServerFrame::Message(message)) => {
                read.broadcast.push((message.seq, message.client_msg_id))
            }
            _ => {}
        }
    }
    sender.abort();
    read
}

/// The broadcast messages a watcher reads until it has `count` of them: (seq, client_msg_id).
async fn watch_messages(client: &mut Client, count: usize) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        match next(client).await {
            Some(ServerFrame::Message(message)) => seen.push((message.seq, message.client_msg_id)),
            Some(_) => {}
            None => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_says_is_acked_in_order_and_broadcast_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(dir.path(), &["--history", "100000"])).await;
    let mut watcher = joined(server.addr, "burst", "watcher").await;
    let sender = joined(server.addr, "burst", "sender").await;
    // 200 messages, and in the middle an empty one: its error must come in its place.
    let mut ids: Vec<String> = (0..200).map(|n| format!("m{n}")).collect();
    ids.insert(100, "empty-1".into());
    let read = burst(sender, ids.clone(), ids.len()).await;

    let answered: Vec<&str> = read.answers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(answered, ids, "every say answered once, in the order sent");
    assert_eq!(
        read.answers[100],
        ("empty-1".to_string(), None),
        "the empty one is refused in its place"
    );
    let seqs: Vec<u64> = read.answers.iter().filter_map(|(_, seq)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<u64>>(),
        "acked seqs grow by one"
    );

    let sent: Vec<(u64, String)> = read
        .answers
        .iter()
        .filter_map(|(id, seq)| seq.map(|seq| (seq, id.clone())))
        .collect();
    let watched = watch_messages(&mut watcher, 200).await;
    assert_eq!(
        watched, sent,
        "the watcher gets each message once, in order"
    );
    // The sender reads its own broadcasts too; those not read with its 201 answers are lost
    // with its connection, but what it got is in order with no repeat.
    assert!(
        sent.starts_with(&read.broadcast),
        "the sender's broadcasts are in order"
    );
    let (_, stored) = history(server.addr, "burst").await;
    let stored: Vec<(u64, String)> = stored.into_iter().map(|(seq, id, _)| (seq, id)).collect();
    assert_eq!(stored, sent, "the history holds exactly what was acked");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_burst_never_loses_an_acked_message() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--history", "100000"];
    let mut server = start(command(dir.path(), &args)).await;
    // Every id ever sent, in order, and every ack seen, over three bursts cut by SIGKILL.
    let mut sent: Vec<String> = Vec::new();
    let mut acked: Vec<(String, u64)> = Vec::new();
    // Rounds whose SIGKILL left some sent message unstored: the kill came mid-burst.
    let mut killed_mid_burst = 0;
    // The sender's secret, kept across restarts as the app keeps it: its client id (and so its
    // dedup keys) is its own only with it.
    let mut secret: Option<String> = None;
    for round in 0..3 {
        // The app resends what was not acked, in order and with the same ids, then goes on.
        let acked_ids: HashSet<&str> = acked.iter().map(|(id, _)| id.as_str()).collect();
        let mut ids: Vec<String> = sent
            .iter()
            .filter(|id| !acked_ids.contains(id.as_str()))
            .cloned()
            .collect();
        let new: Vec<String> = (0..2000).map(|n| format!("r{round}-{n}")).collect();
        sent.extend(new.iter().cloned());
        ids.extend(new);
        let (client, welcomed) = join_as(server.addr, "kill", "sender", secret.as_deref()).await;
        secret = Some(welcomed.expect("the sender, with its secret, is welcomed"));
        // Read a first part of the answers, then kill while the rest are in flight.
        let read = burst(client, ids, 100).await;
        server.kill().await;
        for (id, seq) in &read.answers {
            acked.push((id.clone(), seq.expect("no error in this burst")));
        }
        server = start(command(dir.path(), &args)).await;
        let (_, stored) = history(server.addr, "kill").await;
        let stored_seq: HashMap<&str, Vec<u64>> =
            stored.iter().fold(HashMap::new(), |mut map, (seq, id, _)| {
                map.entry(id.as_str()).or_default().push(*seq);
                map
            });
        for (id, seq) in &acked {
            assert_eq!(
                stored_seq.get(id.as_str()),
                Some(&vec![*seq]),
                "round {round}: acked {id} survived the SIGKILL once, as seq {seq}"
            );
        }
        // Stored in the order sent: the history is the sent ids in order, up to a point.
        let stored_ids: Vec<&str> = stored.iter().map(|(_, id, _)| id.as_str()).collect();
        let sent_ids: Vec<&str> = sent.iter().map(String::as_str).collect();
        assert!(
            sent_ids.starts_with(&stored_ids),
            "round {round}: stored in the order sent, with no hole"
        );
        let seqs: Vec<u64> = stored.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        if stored.len() < sent.len() {
            killed_mid_burst += 1;
        }
    }
    assert!(
        killed_mid_burst > 0,
        "at least one SIGKILL came before its burst was stored"
    );
    server.kill().await;
}

#[tokio::test]
async fn a_newcomer_after_a_restart_sees_the_history_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(dir.path(), &[])).await;
    let mut ada = connect(server.addr).await.unwrap();
    send_json(
        &mut ada,
        json!({"type": "join", "room": "r", "nick": "ada", "client_id": "ada"}),
    )
    .await;
    assert!(matches!(
        next(&mut ada).await,
        Some(ServerFrame::Welcome { .. })
    ));
    send_json(
        &mut ada,
        json!({"type": "say", "client_msg_id": "1", "text": "before the crash"}),
    )
    .await;
    let png = [137u8, 80, 78, 71, 13, 10, 26, 10, 7];
    let upload = heartline_protocol::encode_upload(
        &heartline_protocol::UploadHeader::Image {
            client_msg_id: "2".into(),
            mime: "image/png".into(),
        },
        &png,
    );
    ada.send(Message::Binary(upload.into())).await.unwrap();
    let mut acks = 0;
    let mut url = None;
    while acks < 2 || url.is_none() {
        match next(&mut ada).await {
            Some(ServerFrame::Ack { .. }) => acks += 1,
            Some(ServerFrame::Message(message)) => {
                if let Body::Image { url: u, .. } = message.body {
                    url = Some(u);
                }
            }
            _ => {}
        }
    }
    let first_epoch = {
        let (epoch, _) = history(server.addr, "r").await;
        epoch
    };
    server.kill().await;
    let server = start(command(dir.path(), &[])).await;
    let (epoch, stored) = history(server.addr, "r").await;
    assert_eq!(epoch, first_epoch);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].2, "before the crash");
    // The picture is served by the restarted server at the same URL.
    let url = url.expect("the image message arrived");
    let (head, body) = http_get(server.addr, &url).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.ends_with(&png), "the picture survived the crash");
}

/// Rooms are as many as clients name, so a bound per room bounds nothing: 60 pictures of
/// 500 kB, one per room, leave the database at about the store's bound (`--max-stored-mib 4`),
/// not 30 MB. The oldest left first; the newest is still served.
#[tokio::test]
async fn pictures_spread_over_many_rooms_keep_the_database_about_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(
        dir.path(),
        &["--max-stored-mib", "4", "--max-binary-bytes", "1048576"],
    ))
    .await;
    let mut picture = vec![137u8, 80, 78, 71, 13, 10, 26, 10];
    picture.resize(500_000, 7);
    let mut urls = Vec::new();
    for n in 0..60 {
        let (room, who) = (format!("room-{n}"), format!("ada-{n}"));
        let (mut client, welcome) = join_as(server.addr, &room, &who, None).await;
        welcome.expect("welcomed");
        let upload = heartline_protocol::encode_upload(
            &heartline_protocol::UploadHeader::Image {
                client_msg_id: format!("p{n}"),
                mime: "image/png".into(),
            },
            &picture,
        );
        client.send(Message::Binary(upload.into())).await.unwrap();
        let (mut acked, mut url) = (false, None);
        while !acked || url.is_none() {
            match next(&mut client).await {
                Some(ServerFrame::Ack { .. }) => acked = true,
                Some(ServerFrame::Message(message)) => {
                    if let Body::Image { url: u, .. } = message.body {
                        url = Some(u);
                    }
                }
                Some(_) => {}
                None => panic!("picture {n}: no ack"),
            }
        }
        urls.extend(url);
    }
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    let on_disk = size("heartline.db") + size("heartline.db-wal");
    assert!(
        on_disk < 12 << 20,
        "30 MB of pictures left {on_disk} bytes in the database and its log"
    );
    let (head, _) = http_get(server.addr, &urls[0]).await;
    assert!(head.starts_with("HTTP/1.1 404"), "the oldest left: {head}");
    let (head, body) = http_get(server.addr, &urls[59]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "the newest stays: {head}");
    assert!(body.ends_with(&picture[picture.len() - 16..]));
    assert!(history(server.addr, "room-0").await.1.is_empty());
    server.kill().await;
}

/// Joins `room` as `client_id` (its nick too), with `secret` if given: the welcome's secret, or
/// the close code when the join is refused.
async fn join_as(
    addr: SocketAddr,
    room: &str,
    client_id: &str,
    secret: Option<&str>,
) -> (Client, Result<String, Option<u16>>) {
    let mut client = connect(addr).await.expect("connects");
    let mut join = json!({"type": "join", "room": room, "nick": client_id, "client_id": client_id});
    if let Some(secret) = secret {
        join["secret"] = json!(secret);
    }
    send_json(&mut client, join).await;
    let outcome = loop {
        let message = tokio::time::timeout(DEADLINE, client.next())
            .await
            .expect("a welcome or a close in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                match serde_json::from_str(&text).expect("a server frame") {
                    ServerFrame::Welcome { secret, .. } => break Ok(secret),
                    other => panic!("a welcome or a close, got {other:?}"),
                }
            }
            Some(Ok(Message::Close(frame))) => break Err(frame.map(|f| f.code.into())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break Err(None),
        }
    };
    (client, outcome)
}

/// The seq the server acks `text` under `client_msg_id` with.
async fn say(client: &mut Client, client_msg_id: &str, text: &str) -> u64 {
    send_json(
        client,
        json!({"type": "say", "client_msg_id": client_msg_id, "text": text}),
    )
    .await;
    loop {
        match next(client).await {
            Some(ServerFrame::Ack {
                client_msg_id: id,
                seq,
            }) if id == client_msg_id => return seq,
            Some(_) => {}
            None => panic!("the ack of {client_msg_id}"),
        }
    }
}

#[tokio::test]
async fn after_a_restart_a_client_id_still_needs_its_secret_and_keeps_its_dedup_keys() {
    let taken = heartline_protocol::AppCloseCode::CLIENT_ID_TAKEN.code;
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(dir.path(), &[])).await;
    let (mut ada, joined) = join_as(server.addr, "ids", "ada", None).await;
    let secret = joined.expect("ada's first join is welcomed");
    let seq = say(&mut ada, "m-1", "only ada wrote this").await;
    drop(ada);
    server.kill().await;

    let server = start(command(dir.path(), &[])).await;
    // Someone who knows ada's client id, without her secret: refused, and claims nothing.
    for guess in [None, Some("s-guess"), Some("")] {
        let (_, joined) = join_as(server.addr, "ids", "ada", guess).await;
        assert_eq!(
            joined,
            Err(Some(taken)),
            "a join as ada with secret {guess:?} is refused"
        );
    }
    // Ada, with her secret, is still herself: her resend is the message she sent before.
    let (mut ada, joined) = join_as(server.addr, "ids", "ada", Some(&secret)).await;
    assert_eq!(joined, Ok(secret.clone()), "ada's secret still admits her");
    assert_eq!(
        say(&mut ada, "m-1", "only ada wrote this").await,
        seq,
        "the resend gets the original seq"
    );
    let (_, stored) = history(server.addr, "ids").await;
    assert_eq!(
        stored,
        [(seq, "m-1".to_owned(), "only ada wrote this".to_owned())],
        "stored once"
    );
    server.kill().await;
}

// ---- bad conditions at start: a clear error naming the path, a non-zero exit, data untouched ----

fn db_path(dir: &Path) -> PathBuf {
    dir.join("heartline.db")
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The server on `dir`, run so that permission bits apply to it. They do not bind root, and CI
/// runs as root: there it runs as `nobody` (uid 65534), from a copy of the binary in `open`
/// (a folder open to all), since the build's folders may not be.
fn unprivileged(open: &Path, dir: &Path) -> Command {
    if !running_as_root() {
        return command(dir, &[]);
    }
    let copy = open.join("heartline-server");
    std::fs::copy(BINARY, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = command_of(&copy, dir, &[]);
    command.uid(65534).gid(65534);
    command
}

/// Lets a user other than the owner into `dir` and its parents' entries it needs.
fn open_to_all(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_named_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"these are someone's notes, not a database\n".repeat(200);
    std::fs::write(db_path(dir.path()), &garbage).unwrap();
    let (code, output) = refused(command(dir.path(), &[])).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&db_path(dir.path()).display().to_string()),
        "{output}"
    );
    assert!(output.contains("not a database"), "{output}");
    assert_eq!(
        std::fs::read(db_path(dir.path())).unwrap(),
        garbage,
        "never overwritten"
    );
}

#[tokio::test]
async fn a_damaged_database_is_named_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A real database of some size, written without WAL so all of it is in the file.
        let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
        conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); CREATE INDEX notes_text ON notes (text);")
            .unwrap();
        for n in 0..2000 {
            conn.execute(
                "INSERT INTO notes (text) VALUES (?1)",
                [format!("note number {n} with some text")],
            )
            .unwrap();
        }
    }
    let mut bytes = std::fs::read(db_path(dir.path())).unwrap();
    assert!(bytes.len() > 16 * 4096);
    // Scribble over pages 3 to 8: the header still says SQLite, the b-trees are broken.
    for byte in &mut bytes[2 * 4096..8 * 4096] {
        *byte = 0xA5;
    }
    std::fs::write(db_path(dir.path()), &bytes).unwrap();
    let (code, output) = refused(command(dir.path(), &[])).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&db_path(dir.path()).display().to_string()),
        "{output}"
    );
    assert!(
        output.contains("damaged") || output.contains("malformed"),
        "{output}"
    );
    assert_eq!(
        std::fs::read(db_path(dir.path())).unwrap(),
        bytes,
        "never repaired or rewritten"
    );
}

#[tokio::test]
async fn a_data_dir_in_use_by_another_server_is_refused_and_that_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(command(dir.path(), &[])).await;
    let (code, output) = refused(command(dir.path(), &[])).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains("in use by another heartline-server"),
        "{output}"
    );
    assert!(
        output.contains(&dir.path().display().to_string()),
        "{output}"
    );
    let (_, stored) = history(first.addr, "still-serving").await;
    assert!(stored.is_empty());
    first.kill().await;
}

#[tokio::test]
async fn a_database_locked_by_another_process_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Another program (here a sqlite connection in this test) holds an exclusive lock.
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    conn.execute_batch("CREATE TABLE theirs (x); BEGIN EXCLUSIVE; INSERT INTO theirs VALUES (1);")
        .unwrap();
    let (code, output) = refused(command(dir.path(), &[])).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&db_path(dir.path()).display().to_string()),
        "{output}"
    );
    assert!(output.contains("locked"), "{output}");
    conn.execute_batch("COMMIT;").unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM theirs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "their data is intact");
}

#[tokio::test]
async fn an_unreadable_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    open_to_all(dir.path());
    std::fs::write(db_path(dir.path()), b"").unwrap();
    std::fs::set_permissions(db_path(dir.path()), std::fs::Permissions::from_mode(0o000)).unwrap();
    let (code, output) = refused(unprivileged(dir.path(), dir.path())).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&db_path(dir.path()).display().to_string()),
        "{output}"
    );
    assert!(output.contains("cannot open the database"), "{output}");
}

#[tokio::test]
async fn a_data_dir_that_is_not_writable_is_named() {
    let parent = tempfile::tempdir().unwrap();
    open_to_all(parent.path());
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let (code, output) = refused(unprivileged(parent.path(), &dir)).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&format!("the data dir {} is not writable", dir.display())),
        "{output}"
    );
    // And a data dir that cannot be created (its parent is a file).
    let file = parent.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, output) = refused(self::command(&file.join("data"), &[])).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("cannot create the data dir"), "{output}");
}

/// Runs the server with a file size limit: every write past `bytes` fails (EFBIG), as on a full
/// disk (ENOSPC). Both are write errors to SQLite. A real full file system would need a mount,
/// which needs privileges CI may not give; the limit needs none. SIGXFSZ, which would kill the
/// process at the limit, is ignored, so the server sees the error as a full disk shows it.
fn with_file_size_limit(command: &mut Command, bytes: u64) {
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[tokio::test]
async fn a_full_disk_at_start_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = command(dir.path(), &[]);
    with_file_size_limit(&mut command, 1024);
    let (code, output) = refused(command).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&db_path(dir.path()).display().to_string()),
        "{output}"
    );
    assert!(
        output.contains("full") || output.contains("write failed"),
        "{output}"
    );
}

/// A server whose files may not grow past `bytes` (writes past it fail, as on a full disk), and
/// ada joined to room `r` on it.
async fn joined_with_file_size_limit(dir: &Path, bytes: u64) -> (Server, Client) {
    let mut limited = command(dir, &[]);
    with_file_size_limit(&mut limited, bytes);
    let server = start(limited).await;
    let mut ada = connect(server.addr).await.unwrap();
    send_json(
        &mut ada,
        json!({"type": "join", "room": "r", "nick": "ada", "client_id": "ada"}),
    )
    .await;
    assert!(matches!(
        next(&mut ada).await,
        Some(ServerFrame::Welcome { .. })
    ));
    (server, ada)
}

#[tokio::test]
async fn a_write_failure_while_running_closes_with_1011_and_never_acks_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut ada) = joined_with_file_size_limit(dir.path(), 512 * 1024).await;
    let text = "x".repeat(60_000);
    let mut acked = Vec::new();
    let mut closed_with = None;
    'sending: for n in 0..100 {
        let id = n.to_string();
        send_json(
            &mut ada,
            json!({"type": "say", "client_msg_id": id, "text": text}),
        )
        .await;
        loop {
            match next(&mut ada).await {
                Some(ServerFrame::Ack { client_msg_id, .. }) => {
                    acked.push(client_msg_id);
                    break;
                }
                Some(ServerFrame::Message(_)) => {}
                Some(other) => panic!("{other:?}"),
                None => {
                    closed_with = Some(id);
                    break 'sending;
                }
            }
        }
    }
    let failed = closed_with.expect("a write failed before 100 × 60 KB went into 512 KiB");
    assert!(!acked.is_empty(), "the first messages fit");
    server.kill().await;
    // Restarted without the limit: what was acked is there, and nothing else.
    let server = start(command(dir.path(), &[])).await;
    let (_, stored) = history(server.addr, "r").await;
    let stored_ids: Vec<&str> = stored.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(stored_ids, acked, "exactly the acked messages are stored");
    assert!(!stored_ids.contains(&failed.as_str()));
    server.kill().await;
}

#[tokio::test]
async fn the_close_for_a_failed_write_is_1011() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut ada) = joined_with_file_size_limit(dir.path(), 256 * 1024).await;
    let text = "y".repeat(60_000);
    for n in 0..100 {
        if !send_json(
            &mut ada,
            json!({"type": "say", "client_msg_id": n.to_string(), "text": text}),
        )
        .await
        {
            break;
        }
    }
    assert_eq!(close_code(&mut ada).await, Some(1011));
    server.kill().await;
}

// ---- how the file is kept, and how the process stops ----

/// The database file the server wrote is in WAL mode (a crash mid-commit leaves the last
/// committed state, and readers never block the writer): read from the file itself by another
/// connection, while the server runs and after it is killed. `synchronous` is a per-connection
/// setting that no other connection can read; the store sets FULL on its writer (sqlite.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(dir.path(), &[])).await;
    let read = burst(
        joined(server.addr, "wal", "ada").await,
        vec!["m1".into()],
        1,
    )
    .await;
    assert_eq!(read.answers, vec![("m1".to_string(), Some(1))]);
    let journal_mode = |path: &Path| -> String {
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(journal_mode(&db_path(dir.path())), "wal");
    assert!(
        dir.path().join("heartline.db-wal").exists(),
        "the acked message went through the write-ahead log"
    );
    server.kill().await;
    assert_eq!(
        journal_mode(&db_path(dir.path())),
        "wal",
        "WAL is kept in the file"
    );
}

/// SIGTERM to the real binary while a member bursts says and five others watch: every member
/// is closed with 1012 (Service Restart) and the process exits 0 within the deadline. A say
/// is acked only once it reached every watcher: none of the says the sender kept sending after
/// the signal is acked without being broadcast, and each acked one is in the history after a
/// restart on the same data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_members_with_1012_and_acks_only_what_was_broadcast() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--history", "100000"];
    let mut server = start(command(dir.path(), &args)).await;
    let mut watchers = Vec::new();
    for i in 0..5 {
        let mut watcher = joined(server.addr, "term", &format!("watcher{i}")).await;
        watchers.push(tokio::spawn(async move {
            let mut seen = HashSet::new();
            loop {
                let message = tokio::time::timeout(DEADLINE, watcher.next())
                    .await
                    .expect("a frame or the close in time");
                match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(ServerFrame::Message(message)) = serde_json::from_str(&text) {
                            seen.insert(message.client_msg_id);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return (seen, frame.map(|frame| u16::from(frame.code)))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return (seen, None),
                }
            }
        }));
    }
    let (mut sink, mut stream) = joined(server.addr, "term", "sender").await.split();
    let signalled = Arc::new(AtomicBool::new(false));
    // The index of the first say written after the signal was sent.
    let first_after = Arc::new(AtomicUsize::new(usize::MAX));
    let writer = tokio::spawn({
        let (signalled, first_after) = (signalled.clone(), first_after.clone());
        async move {
            for n in 0..20_000usize {
                if signalled.load(Ordering::SeqCst) {
                    let _ = first_after.compare_exchange(
                        usize::MAX,
                        n,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
                let say = json!({"type": "say", "client_msg_id": format!("s{n}"), "text": "hi"});
                if sink
                    .send(Message::Text(say.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let pid = server.child.id().expect("running") as libc::pid_t;
    let mut acked: Vec<String> = Vec::new();
    let mut signalled_at = None;
    let sender_close = loop {
        let message = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("an answer or the close in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                if let Ok(ServerFrame::Ack { client_msg_id, .. }) = serde_json::from_str(&text) {
                    acked.push(client_msg_id);
                    if acked.len() == 50 {
                        signalled.store(true, Ordering::SeqCst);
                        // SAFETY: kill has no memory preconditions; pid is our child's.
                        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
                        signalled_at = Some(std::time::Instant::now());
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            other => panic!("the sender's connection ended without a close: {other:?}"),
        }
    };
    let closed_after = signalled_at.expect("signalled").elapsed();
    writer.abort();
    let status = tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .expect("the process exits in time")
        .unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    assert_eq!(
        sender_close,
        Some(1012),
        "the sender is told: service restart"
    );
    let first_after = first_after.load(Ordering::SeqCst);
    assert!(
        first_after < 20_000,
        "the sender was still sending when the signal came"
    );
    let index = |id: &str| id[1..].parse::<usize>().unwrap();
    let acked_after = acked.iter().filter(|id| index(id) >= first_after).count();
    for (i, watcher) in watchers.into_iter().enumerate() {
        let (seen, close) = watcher.await.unwrap();
        assert_eq!(close, Some(1012), "watcher {i} is closed with 1012");
        let lost: Vec<&String> = acked.iter().filter(|id| !seen.contains(*id)).collect();
        assert!(
            lost.is_empty(),
            "watcher {i} never got {} acked messages: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    eprintln!(
        "{} acked ({acked_after} of them sent after SIGTERM, from s{first_after}); \
         closed {closed_after:?} after the signal",
        acked.len()
    );
    server = start(command(dir.path(), &args)).await;
    let (_, stored) = history(server.addr, "term").await;
    let stored: HashSet<String> = stored.into_iter().map(|(_, id, _)| id).collect();
    assert!(
        acked.iter().all(|id| stored.contains(id)),
        "every acked say is stored"
    );
    server.kill().await;
}

/// The database file removed from the data dir while the server runs (an operator's `rm`):
/// nothing more is acked, as it would go to a file nobody reads again; the next post is closed
/// with 1011.
#[tokio::test]
async fn a_database_file_removed_while_running_is_not_written_to_and_acks_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(command(dir.path(), &[])).await;
    let mut ada = joined(server.addr, "r", "ada").await;
    say(&mut ada, "before", "before the rm").await;
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("heartline.db{suffix}"));
        std::fs::remove_file(&file).unwrap_or_else(|error| {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::NotFound,
                "{}",
                file.display()
            )
        });
    }
    send_json(
        &mut ada,
        json!({"type": "say", "client_msg_id": "after", "text": "after the rm"}),
    )
    .await;
    // Read to the close: an ack on the way would be a text frame.
    let closed = loop {
        let message = tokio::time::timeout(DEADLINE, ada.next())
            .await
            .expect("an answer in time");
        match message {
            Some(Ok(Message::Text(text))) => assert!(
                !text.contains("\"ack\""),
                "acked into a removed file: {text}"
            ),
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(closed, Some(1011));
    server.kill().await;
}
