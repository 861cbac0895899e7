//! Several instances sharing rooms through Redis, as real processes: a redis-server of the test's
//! own (free loopback port, temp dir, AOF on), two or three `heartline-server` binaries on it,
//! and clients on loopback. Every process is killed when its handle drops, also on failure.
//!
//! Needs `redis-server` on the PATH (Debian's package; `bash scripts/install.sh` installs it).

mod support;

use support::{command, free_port, tool, Redis};

use futures_util::{SinkExt, StreamExt};
use heartline_protocol::{Body, ServerFrame};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BINARY: &str = env!("CARGO_BIN_EXE_heartline-server");
const DEADLINE: Duration = Duration::from_secs(10);

/// Waits for `ready` to hold, checking on a short tick, up to `within`.
async fn until<F: FnMut() -> bool>(what: &str, within: Duration, mut ready: F) {
    let deadline = Instant::now() + within;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tick.tick().await;
    }
}

/// A server instance (the real binary) on the shared Redis; killed when dropped.
struct Instance {
    child: Child,
    addr: SocketAddr,
}

fn instance_command(store: &str, extra: &[&str]) -> Command {
    let mut command = command(BINARY);
    command
        .args(["--addr", "127.0.0.1:0", "--dist", "no-app-here", "--store"])
        .arg(store)
        .args(["--flood-burst", "100000", "--flood-per-second", "100000"])
        .args(extra)
        .env("RUST_LOG", "heartline_server=warn")
        .env_remove("HEARTLINE_STORE")
        .env_remove("HEARTLINE_REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

impl Instance {
    async fn start(redis: &Redis) -> Self {
        Self::start_with(redis, &[]).await
    }

    async fn start_with(redis: &Redis, extra: &[&str]) -> Self {
        let (child, addr) = support::start_binary(instance_command(&redis.url(), extra)).await;
        Self { child, addr }
    }

    /// SIGKILL, and wait for it to be gone.
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a frozen process, as under a debugger or swap.
    fn freeze(&self, frozen: bool) {
        let pid = self.child.id().expect("running") as i32;
        let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, signal) };
    }
}

/// A frame, the end of the connection (with its close code, if any), or nothing in time.
#[derive(Debug)]
enum Got {
    Frame(ServerFrame),
    Closed(Option<u16>),
    Nothing,
}

async fn read(client: &mut Client, within: Duration) -> Got {
    let deadline = Instant::now() + within;
    loop {
        let Ok(message) = tokio::time::timeout_at(deadline, client.next()).await else {
            return Got::Nothing;
        };
        match message {
            Some(Ok(Message::Text(text))) if text.as_str() == "pong" => continue,
            Some(Ok(Message::Text(text))) => {
                return Got::Frame(serde_json::from_str(&text).expect("a server frame"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                return Got::Closed(frame.map(|frame| frame.code.into()))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Got::Closed(None),
        }
    }
}

async fn send_json(client: &mut Client, value: serde_json::Value) -> bool {
    client
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

fn text_of(body: &Body) -> String {
    match body {
        Body::Text { text } => text.clone(),
        other => format!("{other:?}"),
    }
}

/// Who a client is across its connections, as the app keeps it.
#[derive(Debug, Clone, Default)]
struct Identity {
    client_id: String,
    nick: String,
    secret: Option<String>,
    epoch: Option<String>,
    last_seq: Option<u64>,
}

impl Identity {
    fn new(nick: &str) -> Self {
        Self {
            client_id: format!("client-{nick}"),
            nick: nick.to_owned(),
            ..Self::default()
        }
    }
}

/// What a join got.
struct Joined {
    client: Client,
    history: Vec<(u64, String)>,
    members: Vec<String>,
    last_seq: u64,
    /// The welcome said messages this client missed are gone.
    gap: bool,
}

/// Joins `room` on `addr`, resuming where `who` left off; updates `who` from the welcome.
/// `Err` carries the close code when the server refused, or `None` when it was unreachable.
async fn join(addr: SocketAddr, room: &str, who: &mut Identity) -> Result<Joined, Option<u16>> {
    let url = format!("ws://{addr}/ws");
    let Ok(Ok((mut client, _))) =
        tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(url)).await
    else {
        return Err(None);
    };
    let mut frame =
        json!({"type": "join", "room": room, "nick": who.nick, "client_id": who.client_id});
    if let Some(secret) = &who.secret {
        frame["secret"] = json!(secret);
    }
    if let (Some(seq), Some(epoch)) = (who.last_seq, &who.epoch) {
        frame["last_seq"] = json!(seq);
        frame["epoch"] = json!(epoch);
    }
    if !send_json(&mut client, frame).await {
        return Err(None);
    }
    match read(&mut client, DEADLINE).await {
        Got::Frame(ServerFrame::Welcome {
            history,
            members,
            last_seq,
            epoch,
            secret,
            gap,
            ..
        }) => {
            who.secret = Some(secret);
            who.epoch = Some(epoch);
            if let Some(last) = history.last() {
                who.last_seq = Some(last.seq);
            }
            Ok(Joined {
                client,
                history: history.iter().map(|m| (m.seq, text_of(&m.body))).collect(),
                members,
                last_seq,
                gap,
            })
        }
        Got::Closed(code) => Err(code),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

async fn say(client: &mut Client, id: &str, text: &str) -> bool {
    send_json(
        client,
        json!({"type": "say", "client_msg_id": id, "text": text}),
    )
    .await
}

/// Reads until the ack of `id`; the messages read meanwhile go to `seen`.
async fn ack_of(client: &mut Client, id: &str, seen: &mut Vec<(u64, String)>) -> Result<u64, Got> {
    loop {
        match read(client, DEADLINE).await {
            Got::Frame(ServerFrame::Ack { client_msg_id, seq }) if client_msg_id == id => {
                return Ok(seq)
            }
            Got::Frame(ServerFrame::Message(message)) => {
                seen.push((message.seq, text_of(&message.body)))
            }
            Got::Frame(ServerFrame::Error { code, message, .. }) => {
                panic!("error {code}: {message}")
            }
            Got::Frame(_) => {}
            other => return Err(other),
        }
    }
}

/// Reads messages until `count` have arrived (or the deadline); returns them as (seq, text).
async fn messages(client: &mut Client, count: usize, seen: &mut Vec<(u64, String)>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match read(client, left).await {
            Got::Frame(ServerFrame::Message(message)) => {
                seen.push((message.seq, text_of(&message.body)))
            }
            Got::Frame(_) => {}
            other => panic!("{} of {count} messages, then {other:?}", seen.len()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_on_three_instances_see_every_message_once_in_one_order() {
    let redis = Redis::start().await;
    let instances = [
        Instance::start(&redis).await,
        Instance::start(&redis).await,
        Instance::start(&redis).await,
    ];
    let per_client = 30;
    let mut tasks = Vec::new();
    // Everyone is in the room before anyone speaks, so everyone must see everything live.
    let mut joined = Vec::new();
    for (n, instance) in instances.iter().enumerate() {
        let mut who = Identity::new(&format!("user{n}"));
        let member = join(instance.addr, "shared", &mut who)
            .await
            .expect("joins");
        joined.push(member);
    }
    let total = per_client * joined.len();
    for (n, mut member) in joined.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut acked = Vec::new();
            for k in 0..per_client {
                let id = format!("{n}-{k}");
                assert!(say(&mut member.client, &id, &format!("{n}:{k}")).await);
                acked.push(
                    ack_of(&mut member.client, &id, &mut seen)
                        .await
                        .expect("acked"),
                );
            }
            messages(&mut member.client, total, &mut seen).await;
            (seen, acked)
        }));
    }
    let mut orders = Vec::new();
    let mut all_acked = Vec::new();
    for task in tasks {
        let (seen, acked) = task.await.expect("the client finished");
        let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=total as u64).collect::<Vec<_>>(),
            "every message once, in seq order"
        );
        let texts: HashSet<&String> = seen.iter().map(|(_, text)| text).collect();
        assert_eq!(texts.len(), total, "no text twice");
        orders.push(seen);
        all_acked.extend(acked);
    }
    assert!(
        orders.windows(2).all(|pair| pair[0] == pair[1]),
        "the same messages under the same seqs on every instance"
    );
    all_acked.sort_unstable();
    assert_eq!(all_acked, (1..=total as u64).collect::<Vec<_>>());
}

/// What one steady sender did, over all its connections.
#[derive(Default, Debug)]
struct Record {
    /// (client_msg_id, seq) per ack; a resend's ack repeats its original seq.
    acked: Vec<(String, u64)>,
    /// Connections made, and the instances they went to.
    connections: Vec<SocketAddr>,
    /// Close codes seen.
    closes: Vec<Option<u16>>,
}

/// Sends one message at a time (the next after its ack) until `stop`; when the connection
/// ends it moves to the next instance in `addrs` (rotating, as the library's URL provider
/// does), resumes, and resends the unacknowledged message with the same id.
async fn sender(
    name: String,
    room: &'static str,
    addrs: Vec<SocketAddr>,
    first: usize,
    acks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Record {
    let mut who = Identity::new(&name);
    let mut record = Record::default();
    let mut pending: Option<String> = None;
    let mut sent = 0;
    let mut at = first;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "{name} finished in time");
        let addr = addrs[at % addrs.len()];
        let mut member = match join(addr, room, &mut who).await {
            Ok(member) => member,
            Err(code) => {
                record.closes.push(code);
                at += 1;
                // A refused join (1013 while Redis is away) is retried after a pause, as the
                // app's backoff does.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        record.connections.push(addr);
        let mut seen = Vec::new();
        loop {
            if pending.is_none() {
                if stop.load(Ordering::SeqCst) {
                    return record;
                }
                sent += 1;
                pending = Some(format!("{name}-{sent}"));
            }
            let id = pending.clone().expect("set");
            if !say(&mut member.client, &id, &format!("{name} says {sent}")).await {
                break;
            }
            match ack_of(&mut member.client, &id, &mut seen).await {
                Ok(seq) => {
                    record.acked.push((id, seq));
                    acks.fetch_add(1, Ordering::SeqCst);
                    pending = None;
                }
                Err(Got::Closed(code)) => {
                    record.closes.push(code);
                    break;
                }
                Err(other) => panic!("{name}: no ack, but {other:?}"),
            }
        }
        at += 1;
    }
}

async fn reach(counter: &AtomicUsize, at_least: usize) {
    until(&format!("{at_least} acks"), Duration::from_secs(30), || {
        counter.load(Ordering::SeqCst) >= at_least
    })
    .await;
}

/// The whole room as a newcomer on `addr` sees it.
async fn history(addr: SocketAddr, room: &str) -> Vec<(u64, String)> {
    let mut who = Identity::new(&format!("observer-{}", free_port()));
    join(addr, room, &mut who).await.expect("joins").history
}

/// Every ack names a stored message, each stored once, under its acked seq.
fn assert_acked_stored_once(records: &[Record], stored: &[(u64, String)]) {
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "dense seqs, no gap"
    );
    let texts: HashSet<&String> = stored.iter().map(|(_, text)| text).collect();
    assert_eq!(texts.len(), stored.len(), "nothing stored twice");
    let by_seq: HashMap<u64, &String> = stored.iter().map(|(seq, text)| (*seq, text)).collect();
    for record in records {
        for (id, seq) in &record.acked {
            let text = by_seq
                .get(seq)
                .unwrap_or_else(|| panic!("acked seq {seq} is stored"));
            let (name, n) = id.rsplit_once('-').expect("name-n");
            assert_eq!(**text, format!("{name} says {n}"), "seq {seq} is {id}");
        }
        let ids: HashSet<&String> = record.acked.iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), record.acked.len(), "each message acked once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_instance_s_clients_move_over_without_loss_and_dedup_keeps_the_seq() {
    let redis = Redis::start().await;
    let doomed = Instance::start(&redis).await;
    let survivor = Instance::start(&redis).await;
    let addrs = vec![doomed.addr, survivor.addr];
    // A member of the live instance from the start: it must hear every stored message once, in
    // seq order, whichever instance took it and across the kill.
    let mut watcher_is = Identity::new("watcher");
    let mut watcher = join(survivor.addr, "failover", &mut watcher_is)
        .await
        .expect("joins");
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..4 {
        tasks.push(tokio::spawn(sender(
            format!("s{n}"),
            "failover",
            addrs.clone(),
            n % 2,
            acks.clone(),
            stop.clone(),
        )));
    }
    reach(&acks, 40).await;
    doomed.kill().await;
    let at_kill = acks.load(Ordering::SeqCst);
    reach(&acks, at_kill + 40).await;
    stop.store(true, Ordering::SeqCst);
    let mut records = Vec::new();
    for task in tasks {
        records.push(task.await.expect("the sender finished"));
    }
    let moved = records
        .iter()
        .filter(|record| record.connections.len() > 1)
        .count();
    assert!(
        moved >= 2,
        "the killed instance's clients moved: {records:?}"
    );
    for record in &records {
        assert_eq!(
            record.connections.last(),
            Some(&survivor.addr),
            "everyone ends on the live instance"
        );
    }
    let stored = history(survivor.addr, "failover").await;
    assert_acked_stored_once(&records, &stored);
    let mut heard = Vec::new();
    messages(&mut watcher.client, stored.len(), &mut heard).await;
    assert_eq!(
        heard, stored,
        "the live instance's member heard every message once, in seq order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resend_to_another_instance_after_failover_gets_the_original_seq() {
    let redis = Redis::start().await;
    let first = Instance::start(&redis).await;
    let second = Instance::start(&redis).await;
    let mut ada = Identity::new("ada");
    let mut member = join(first.addr, "dedup", &mut ada).await.expect("joins");
    let mut seen = Vec::new();
    let mut seqs = Vec::new();
    for n in 1..=3 {
        let id = format!("m{n}");
        assert!(say(&mut member.client, &id, &format!("text {n}")).await);
        seqs.push(
            ack_of(&mut member.client, &id, &mut seen)
                .await
                .expect("acked"),
        );
    }
    first.kill().await;
    // The same client (same id and secret, kept in Redis) on the other instance.
    let mut member = join(second.addr, "dedup", &mut ada)
        .await
        .expect("the same client is welcomed on the other instance");
    assert!(say(&mut member.client, "m2", "text 2").await);
    assert_eq!(
        ack_of(&mut member.client, "m2", &mut seen)
            .await
            .expect("acked"),
        seqs[1],
        "a resend gets its original seq"
    );
    assert!(say(&mut member.client, "m2", "other text").await);
    match read(&mut member.client, DEADLINE).await {
        Got::Frame(ServerFrame::Error { code, .. }) => assert_eq!(code, "conflict"),
        other => panic!("a reused id with new content is a conflict, got {other:?}"),
    }
    assert!(say(&mut member.client, "m4", "text 4").await);
    assert_eq!(
        ack_of(&mut member.client, "m4", &mut seen)
            .await
            .expect("acked"),
        4,
        "seqs go on where the other instance left them"
    );
    let stored = history(second.addr, "dedup").await;
    assert_eq!(
        stored,
        (1..=4)
            .map(|n| (n as u64, format!("text {n}")))
            .collect::<Vec<_>>()
    );
    // Someone else with ada's client id but not her secret is refused, on any instance.
    let mut thief = Identity {
        nick: "eve".into(),
        ..Identity::new("ada")
    };
    assert_eq!(
        join(second.addr, "dedup", &mut thief).await.err(),
        Some(Some(4006))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_loses_nothing_acked_and_serving_resumes_by_itself() {
    let mut redis = Redis::start().await;
    let one = Instance::start(&redis).await;
    let two = Instance::start(&redis).await;
    let addrs = vec![one.addr, two.addr];
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..4 {
        tasks.push(tokio::spawn(sender(
            format!("r{n}"),
            "restart",
            addrs.clone(),
            n % 2,
            acks.clone(),
            stop.clone(),
        )));
    }
    reach(&acks, 30).await;
    redis.stop().await;
    let while_down = acks.load(Ordering::SeqCst);
    redis.launch().await;
    reach(&acks, while_down + 40).await;
    stop.store(true, Ordering::SeqCst);
    let mut records = Vec::new();
    for task in tasks {
        records.push(task.await.expect("the sender finished"));
    }
    // The outage is said to someone with 1013 (try again later), not only seen as a drop.
    assert!(
        records
            .iter()
            .any(|record| record.closes.contains(&Some(1013))),
        "the outage was noticed with 1013: {records:?}"
    );
    for record in &records {
        for code in &record.closes {
            assert!(
                matches!(code, None | Some(1013)),
                "a Redis outage is 1013 or a dropped connection, not {code:?}"
            );
        }
        // Joins refused while Redis is away are retried; a client is welcomed at most twice:
        // once before the outage and once after it.
        assert!(
            record.connections.len() <= 2,
            "at most one reconnect per client: {record:?}"
        );
    }
    let stored = history(one.addr, "restart").await;
    assert_acked_stored_once(&records, &stored);

    // Both instances follow each other again: a message on one reaches a member on the other.
    let mut ada = Identity::new("ada-after");
    let mut bob = Identity::new("bob-after");
    let mut on_one = join(one.addr, "after", &mut ada).await.expect("joins");
    let mut on_two = join(two.addr, "after", &mut bob).await.expect("joins");
    let mut seen = Vec::new();
    assert!(say(&mut on_one.client, "a1", "across").await);
    ack_of(&mut on_one.client, "a1", &mut seen)
        .await
        .expect("acked");
    let mut heard = Vec::new();
    messages(&mut on_two.client, 1, &mut heard).await;
    assert_eq!(heard, [(1, "across".to_string())]);
}

/// Says `text` as `who` until it is acked, joining again after a 1013 (the store was away);
/// returns the seq.
async fn say_until_acked(addr: SocketAddr, room: &str, who: &mut Identity, text: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "{text:?} never acked");
        let Ok(mut joined) = join(addr, room, who).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut seen = Vec::new();
        if !say(&mut joined.client, text, text).await {
            continue;
        }
        match ack_of(&mut joined.client, text, &mut seen).await {
            Ok(seq) => return seq,
            Err(Got::Closed(Some(1013) | None)) => continue,
            Err(other) => panic!("{text:?}: {other:?}"),
        }
    }
}

/// Redis back in an older state while the servers run (a crash, then a restart from the last
/// snapshot): seqs the room gave and delivered are given again by Redis's counter. New messages
/// are numbered past what was delivered, also on an instance where the room had nobody before
/// (a witness raised the counter), so the members get them (they dropped them as already seen),
/// and a client resuming below the lost seqs is told it missed messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_back_from_an_older_snapshot_numbers_past_what_was_delivered() {
    let mut redis = Redis::start_snapshots_only().await;
    let one = Instance::start(&redis).await;
    let two = Instance::start(&redis).await;
    let mut ada = Identity::new("ada");
    let mut bob = Identity::new("bob");
    let mut on_bob = join(one.addr, "back", &mut bob).await.expect("joins");
    let mut seqs = Vec::new();
    for text in ["one", "two"] {
        seqs.push(say_until_acked(one.addr, "back", &mut ada, text).await);
    }
    redis.snapshot();
    for text in ["three", "four"] {
        seqs.push(say_until_acked(one.addr, "back", &mut ada, text).await);
    }
    assert_eq!(seqs, [1, 2, 3, 4]);
    let mut heard = Vec::new();
    messages(&mut on_bob.client, 4, &mut heard).await;
    redis.crash().await;
    redis.launch().await;

    // The instance that delivered 4 raises the counter once it follows Redis again.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let seq = redis.get("hl:seq:back").await;
        if seq.as_deref() == Some("4") {
            break;
        }
        assert!(Instant::now() < deadline, "the counter stayed at {seq:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Erin is the room's first member on the other instance.
    let mut erin = Identity::new("erin");
    let five = say_until_acked(two.addr, "back", &mut erin, "five").await;
    assert_eq!(five, 5, "numbered past the 4 delivered, not 3 again");
    let six = say_until_acked(one.addr, "back", &mut ada, "six").await;
    assert_eq!(six, 6);
    messages(&mut on_bob.client, 6, &mut heard).await;
    assert_eq!(
        heard,
        [
            (1, "one"),
            (2, "two"),
            (3, "three"),
            (4, "four"),
            (5, "five"),
            (6, "six")
        ]
        .map(|(seq, text)| (seq, text.to_owned()))
    );
    // Carol saw only "one": "two" is still kept, "three" and "four" are gone, and she is told.
    let epoch = bob.epoch.clone();
    let mut carol = Identity {
        last_seq: Some(1),
        epoch: epoch.clone(),
        ..Identity::new("carol")
    };
    let back = join(two.addr, "back", &mut carol).await.expect("joins");
    assert!(back.gap, "a resume below the lost seqs is a gap");
    let kept: Vec<u64> = back.history.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(kept, [2, 5, 6]);
    // Dan saw up to "four": he missed nothing.
    let mut dan = Identity {
        last_seq: Some(4),
        epoch,
        ..Identity::new("dan")
    };
    let back = join(one.addr, "back", &mut dan).await.expect("joins");
    assert!(!back.gap, "nothing lost after 4");
    assert_eq!(
        back.history,
        [(5, "five".to_owned()), (6, "six".to_owned())]
    );
}

/// An instance that stopped hearing the others (frozen, and its subscription cut) while a room's
/// oldest messages left the history (`--history 5`): once back it stops waiting for those, and
/// its member gets the rest, told what it missed with a `gap`; before, every later message was
/// held back for the first missing one, until 1024 more came.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_that_missed_what_the_history_no_longer_has_goes_on_with_a_gap() {
    let redis = Redis::start().await;
    let one = Instance::start_with(&redis, &["--history", "5"]).await;
    let two = Instance::start_with(&redis, &["--history", "5"]).await;
    let mut ada = Identity::new("ada");
    let mut bob = Identity::new("bob");
    let mut on_bob = join(two.addr, "lag", &mut bob).await.expect("joins");
    say_until_acked(one.addr, "lag", &mut ada, "m1").await;
    let mut heard = Vec::new();
    messages(&mut on_bob.client, 1, &mut heard).await;
    two.freeze(true);
    redis.kill_subscribers().await;
    for n in 2..=9 {
        say_until_acked(one.addr, "lag", &mut ada, &format!("m{n}")).await;
    }
    two.freeze(false);
    let mut gaps = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while heard.len() < 6 {
        match read(
            &mut on_bob.client,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await
        {
            Got::Frame(ServerFrame::Message(message)) => {
                heard.push((message.seq, text_of(&message.body)))
            }
            Got::Frame(ServerFrame::Gap { from, to }) => gaps.push((from, to)),
            Got::Frame(_) => {}
            other => panic!("after {heard:?}: {other:?}"),
        }
    }
    assert_eq!(gaps, [(2, 4)], "told what the history no longer has");
    let seqs: Vec<u64> = heard.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn an_unreachable_redis_at_start_is_named_and_the_server_exits_non_zero() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let output = tokio::time::timeout(DEADLINE, instance_command(&url, &[]).output())
        .await
        .expect("gives up in time")
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot reach Redis") && text.contains(&url),
        "{text}"
    );
}

/// `GET /health` on `addr`: the connection count, when it answers 200.
async fn open_connections(addr: SocketAddr) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body = text.split_once("\r\n\r\n")?.1;
    let health: serde_json::Value = serde_json::from_str(body).ok()?;
    health["connections"].as_u64()
}

/// HAProxy started from deploy/haproxy.cfg in front of two instances; killed when dropped.
struct Balancer {
    _child: Child,
    addr: SocketAddr,
}

impl Balancer {
    async fn start(one: &Instance, two: &Instance) -> Self {
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("an address");
        let child = command(tool("haproxy"))
            .args(["-f", config, "-db"])
            .env("HEARTLINE_LB_ADDR", addr.to_string())
            .env("HEARTLINE_INSTANCE_1", one.addr.to_string())
            .env("HEARTLINE_INSTANCE_2", two.addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "haproxy must be installed for this test (Debian: apt-get install haproxy; or \
                 bash scripts/install.sh)",
            );
        let deadline = Instant::now() + DEADLINE;
        while open_connections(addr).await.is_none() {
            assert!(Instant::now() < deadline, "haproxy did not start serving");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            _child: child,
            addr,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deploy_example_chats_through_haproxy_and_survives_an_instance() {
    let redis = Redis::start().await;
    let one = Instance::start(&redis).await;
    let two = Instance::start(&redis).await;
    let balancer = Balancer::start(&one, &two).await;
    let mut ada = Identity::new("ada");
    let mut bob = Identity::new("bob");
    let mut on_ada = join(balancer.addr, "lobby", &mut ada).await.expect("joins");
    let mut on_bob = join(balancer.addr, "lobby", &mut bob).await.expect("joins");
    // leastconn: one connection on each instance.
    let (a, b) = (
        open_connections(one.addr).await,
        open_connections(two.addr).await,
    );
    assert_eq!((a, b), (Some(1), Some(1)), "spread over both instances");
    let mut seen = Vec::new();
    assert!(say(&mut on_ada.client, "a1", "hi bob").await);
    assert_eq!(
        ack_of(&mut on_ada.client, "a1", &mut seen).await.ok(),
        Some(1)
    );
    let mut heard = Vec::new();
    messages(&mut on_bob.client, 1, &mut heard).await;
    assert_eq!(heard, [(1, "hi bob".to_string())]);

    // One instance dies. Its client's connection ends; both come back through the balancer
    // (the other one too, as after a network change), and all land on the live instance.
    one.kill().await;
    drop((on_ada, on_bob));
    let mut back = Vec::new();
    for who in [&mut ada, &mut bob] {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match join(balancer.addr, "lobby", who).await {
                Ok(member) => {
                    back.push(member);
                    break;
                }
                Err(_) => {
                    assert!(
                        Instant::now() < deadline,
                        "back through the balancer in time"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    assert_eq!(open_connections(two.addr).await, Some(2));
    let [mut ada_back, mut bob_back] = <[Joined; 2]>::try_from(back).ok().expect("two");
    assert_eq!(ada_back.last_seq, 1, "the room's history is all there");
    assert!(say(&mut ada_back.client, "a1", "hi bob").await);
    assert_eq!(
        ack_of(&mut ada_back.client, "a1", &mut seen).await.ok(),
        Some(1),
        "a resend through the balancer is recognised"
    );
    assert!(say(&mut bob_back.client, "b1", "still here").await);
    assert_eq!(
        ack_of(&mut bob_back.client, "b1", &mut seen).await.ok(),
        Some(2)
    );
    let mut heard = Vec::new();
    messages(&mut ada_back.client, 1, &mut heard).await;
    assert_eq!(heard, [(2, "still here".to_string())]);
}

/// Reads presence until `nick` has `event`ed ("joined" | "left"), within `within`.
async fn presence(client: &mut Client, event: &str, nick: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match read(client, left).await {
            Got::Frame(ServerFrame::Joined { nick: who }) if event == "joined" && who == nick => {
                return
            }
            Got::Frame(ServerFrame::Left { nick: who }) if event == "left" && who == nick => return,
            Got::Frame(_) => {}
            other => panic!("waiting for {nick} {event}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_of_a_killed_instance_leave_every_list_within_15_s() {
    let redis = Redis::start().await;
    let doomed = Instance::start(&redis).await;
    let survivor = Instance::start(&redis).await;
    let mut ada = Identity::new("ada");
    let mut bob = Identity::new("bob");
    let _on_doomed = join(doomed.addr, "presence", &mut ada)
        .await
        .expect("joins");
    let mut on_survivor = join(survivor.addr, "presence", &mut bob)
        .await
        .expect("joins");
    if !on_survivor.members.contains(&"ada".to_string()) {
        presence(&mut on_survivor.client, "joined", "ada", DEADLINE).await;
    }
    // Another instance's member holds the nickname there too.
    let mut impostor = Identity::new("ada-2");
    impostor.nick = "ada".into();
    assert_eq!(
        join(survivor.addr, "presence", &mut impostor).await.err(),
        Some(Some(4002)),
        "a nickname taken on another instance is taken"
    );
    let mut carol = Identity::new("carol");
    let on_carol = join(survivor.addr, "presence", &mut carol)
        .await
        .expect("joins");
    assert_eq!(on_carol.members, ["ada", "bob", "carol"]);

    let killed = Instant::now();
    doomed.kill().await;
    presence(
        &mut on_survivor.client,
        "left",
        "ada",
        Duration::from_secs(15),
    )
    .await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(15), "{took:?}");
    let mut dave = Identity::new("dave");
    let on_dave = join(survivor.addr, "presence", &mut dave)
        .await
        .expect("joins");
    assert_eq!(on_dave.members, ["bob", "carol", "dave"]);
}

#[tokio::test]
async fn a_nickname_held_on_another_instance_is_taken_for_the_first_joiner_of_a_room_there() {
    let redis = Redis::start().await;
    let one = Instance::start(&redis).await;
    let two = Instance::start(&redis).await;
    let mut ada = Identity::new("ada");
    let _on_one = join(one.addr, "first", &mut ada).await.expect("joins");
    // Nobody is in the room on instance two yet: it asks who is there at the join itself, not
    // a presence beat later.
    let mut impostor = Identity::new("ada-2");
    impostor.nick = "ada".into();
    assert_eq!(
        join(two.addr, "first", &mut impostor).await.err(),
        Some(Some(4002)),
        "the same nickname"
    );
    let mut lookalike = Identity::new("ada-3");
    lookalike.nick = "\u{430}d\u{430}".into(); // Cyrillic а
    assert_eq!(
        join(two.addr, "first", &mut lookalike).await.err(),
        Some(Some(4002)),
        "a nickname that looks the same"
    );
    // The refused ones left nothing behind: the next member sees ada and itself.
    let mut bob = Identity::new("bob");
    let on_two = join(two.addr, "first", &mut bob).await.expect("joins");
    assert_eq!(on_two.members, ["ada", "bob"]);
    // A client refused "ada" on ada's own instance has not made the nickname its own for the
    // other instances either (it holds a secret from another room, so its joins are its). The
    // room is new on instance two, so only what Redis says now decides there.
    let _in_second = join(one.addr, "second", &mut ada).await.expect("joins");
    let mut mallory = Identity::new("mallory");
    let _elsewhere = join(one.addr, "elsewhere", &mut mallory)
        .await
        .expect("joins");
    mallory.nick = "ada".into();
    assert_eq!(
        join(one.addr, "second", &mut mallory).await.err(),
        Some(Some(4002))
    );
    assert_eq!(
        join(two.addr, "second", &mut mallory).await.err(),
        Some(Some(4002)),
        "at once on the other instance"
    );
}

/// A TCP proxy in front of Redis whose `freeze()` makes every connection made so far go
/// silent both ways while it stays open (a NAT or firewall that forgot it, a network that
/// drops its packets); connections made after it pass.
struct FreezingProxy {
    port: u16,
    freezes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl FreezingProxy {
    async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let freezes = Arc::new(tokio::sync::watch::channel(0u64).0);
        let watch = freezes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let born = *watch.borrow();
                let (from_client, to_client) = client.into_split();
                let (from_redis, to_redis) = upstream.into_split();
                tokio::spawn(Self::pump(from_client, to_redis, watch.subscribe(), born));
                tokio::spawn(Self::pump(from_redis, to_client, watch.subscribe(), born));
            }
        });
        Self { port, freezes }
    }

    /// Copies until the connection ends, or holds both ends silent once frozen.
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut freezes: tokio::sync::watch::Receiver<u64>,
        born: u64,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                read = from.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if to.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                },
                () = async { drop(freezes.wait_for(|freezes| *freezes > born).await) } => break,
            }
        }
        // Open, and silent: nothing read, nothing written, nothing closed.
        let _held = (from, to);
        std::future::pending::<()>().await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn freeze(&self) {
        self.freezes.send_modify(|freezes| *freezes += 1);
    }
}

/// Redis's connection goes silent without closing: the instance connects again once a command
/// gets no answer in time, so posts are refused (1013) for a few seconds, not for as long as
/// the kernel keeps the dead connection (about 15 minutes).
#[tokio::test]
async fn a_redis_connection_gone_silent_is_replaced_and_posts_are_acked_again() {
    let redis = Redis::start().await;
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .and_then(|tail| tail.split('/').next())
        .and_then(|port| port.parse().ok())
        .expect("a port in the URL");
    let proxy = FreezingProxy::start(port).await;
    let (_child, addr) = support::start_binary(instance_command(&proxy.url(), &[])).await;
    let mut ada = Identity::new("ada");
    let mut joined = join(addr, "silent", &mut ada).await.expect("joins");
    let mut seen = Vec::new();
    assert!(say(&mut joined.client, "before", "before").await);
    ack_of(&mut joined.client, "before", &mut seen)
        .await
        .expect("acked before the freeze");
    proxy.freeze();
    let frozen_at = Instant::now();
    // Each try: a join and a post, as the app does after a refusal.
    let mut tries = 0;
    let acked_after = loop {
        tries += 1;
        let id = format!("after-{tries}");
        if let Ok(mut again) = join(addr, "silent", &mut ada).await {
            if say(&mut again.client, &id, "after the freeze").await
                && ack_of(&mut again.client, &id, &mut seen).await.is_ok()
            {
                break frozen_at.elapsed();
            }
        }
        assert!(
            frozen_at.elapsed() < Duration::from_secs(30),
            "still refused {:?} after Redis's connection went silent ({tries} tries)",
            frozen_at.elapsed()
        );
    };
    eprintln!("acked again {acked_after:?} after the freeze, at try {tries}");
}
