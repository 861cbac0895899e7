//! The chat server against hostile and careless clients (issue 11): conformance, delivery
//! gaps, shutdown, abuse and deadlines. Real server on loopback, real WebSocket clients; raw TCP
//! where the framing matters.

mod support;

use futures_util::{SinkExt, StreamExt};
use heartline_protocol::{Body, ServerFrame};
use heartline_server::chat::limits::Limits;
use heartline_server::{start, Running, ServerConfig, StoreConfig, StoreKind};
use serde_json::json;
use std::time::Duration;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

/// Joins with a client id of its own, optionally resuming after (seq, epoch).
async fn join_as(
    server: &Running,
    room: &str,
    nick: &str,
    resume: Option<(u64, String)>,
) -> (Client, ServerFrame) {
    let mut client = connect(server).await;
    let mut frame =
        json!({"type": "join", "room": room, "nick": nick, "client_id": format!("client-{nick}")});
    if let Some((seq, epoch)) = resume {
        frame["last_seq"] = json!(seq);
        frame["epoch"] = json!(epoch);
    }
    send(&mut client, frame).await;
    let welcome = next(&mut client).await;
    assert!(
        matches!(welcome, ServerFrame::Welcome { .. }),
        "{welcome:?}"
    );
    (client, welcome)
}

async fn say(client: &mut Client, id: &str, text: &str) {
    send(
        client,
        json!({"type": "say", "client_msg_id": id, "text": text}),
    )
    .await;
}

async fn next_ack(client: &mut Client) -> (String, u64) {
    loop {
        if let ServerFrame::Ack { client_msg_id, seq } = next(client).await {
            return (client_msg_id, seq);
        }
    }
}

async fn next_message(client: &mut Client) -> u64 {
    loop {
        if let ServerFrame::Message(message) = next(client).await {
            return message.seq;
        }
    }
}

/// Sends a close frame with this raw code, then returns the server's answer (code) and whether
/// the server closed TCP afterwards, each within the deadline.
async fn close_with(client: &mut Client, code: u16) -> (Option<u16>, bool) {
    // tungstenite writes any code as given, which is what a careless client does.
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    };
    client
        .send(Message::Close(Some(frame)))
        .await
        .expect("sends close");
    let mut answer = None;
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(message) = client.next().await {
            match message {
                Ok(Message::Close(Some(frame))) => answer = Some(u16::from(frame.code)),
                Ok(Message::Close(None)) => answer = Some(1005),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await
    .is_ok();
    (answer, ended)
}

#[tokio::test]
async fn a_close_frame_is_echoed_then_tcp_closes_before_and_after_join() {
    let server = server().await;
    let mut early = connect(&server).await;
    assert_eq!(close_with(&mut early, 1000).await, (Some(1000), true));
    let mut early = connect(&server).await;
    assert_eq!(close_with(&mut early, 4321).await, (Some(4321), true));

    let (mut joined, _) = join_as(&server, "r", "ada", None).await;
    assert_eq!(close_with(&mut joined, 1001).await, (Some(1001), true));
    let (mut joined, _) = join_as(&server, "r", "bob", None).await;
    assert_eq!(close_with(&mut joined, 3000).await, (Some(3000), true));
}

#[tokio::test]
async fn an_invalid_close_code_is_answered_with_1002() {
    let server = server().await;
    for code in [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let mut early = connect(&server).await;
        assert_eq!(
            close_with(&mut early, code).await,
            (Some(1002), true),
            "{code}"
        );
        let (mut joined, _) = join_as(&server, "r", &format!("n{code}"), None).await;
        assert_eq!(
            close_with(&mut joined, code).await,
            (Some(1002), true),
            "{code}"
        );
    }
}

/// Posts `count` messages as a member of `room`, each acked.
async fn fill(client: &mut Client, count: u64) {
    for i in 1..=count {
        say(client, &format!("fill-{i}"), "x").await;
        next_ack(client).await;
    }
}

#[tokio::test]
async fn a_resume_past_the_end_is_flagged_and_live_messages_still_arrive() {
    resume_past_the_end(server().await).await;
    // The same over SQLite, whose seqs are i64: u64::MAX must not reach the query.
    let dir = std::env::temp_dir().join(format!("heartline-hostile-{}", std::process::id()));
    let mut config = config_with(Limits::default());
    config.store = StoreConfig {
        kind: StoreKind::Sqlite,
        data_dir: dir.clone(),
        ..StoreConfig::default()
    };
    resume_past_the_end(start(config).await.expect("server starts")).await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn resume_past_the_end(server: Running) {
    let (mut ada, _) = join_as(&server, "r", "ada", None).await;
    fill(&mut ada, 5).await;
    for (nick, asked) in [("bob", 1_000), ("cy", u64::MAX)] {
        let resume = Some((asked, server.epoch().to_string()));
        let (mut late, welcome) = join_as(&server, "r", nick, resume).await;
        let ServerFrame::Welcome { gap, last_seq, .. } = welcome else {
            unreachable!()
        };
        assert!(gap, "{nick}: asked after {asked} in a room at {last_seq}");
        say(&mut ada, &format!("live-{nick}"), "live").await;
        let (_, seq) = next_ack(&mut ada).await;
        assert_eq!(
            next_message(&mut late).await,
            seq,
            "{nick} gets live messages"
        );
    }
}

/// A client whose receive window is tiny, so the server's writes to it block soon.
async fn connect_slow_reader(server: &Running) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (client, _) = tokio_tungstenite::client_async(
        format!("ws://{}/ws", server.addr),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    client
}

#[tokio::test]
async fn a_member_who_lags_past_the_history_is_told_the_range_it_lost() {
    let server = server_with(Limits {
        history: 10,
        burst: 1_000_000,
        per_second: 1_000_000,
        // This is about the feed's catch-up; tests/memory.rs is about the bound.
        max_unsent_bytes: usize::MAX / 2,
        ..Limits::default()
    })
    .await;
    let mut slow = connect_slow_reader(&server).await;
    send(
        &mut slow,
        json!({"type": "join", "room": "r", "nick": "slow", "client_id": "c-slow"}),
    )
    .await;
    assert!(matches!(next(&mut slow).await, ServerFrame::Welcome { .. }));
    let (ada, _) = join_as(&server, "r", "ada", None).await;
    // More than the feed holds (1 024) after the slow member's socket buffers are full.
    const COUNT: u64 = 1_300;
    support::say_60_kib(ada, COUNT).await;

    // Now the slow member reads: every seq is either delivered or inside an announced gap.
    let mut accounted = vec![false; COUNT as usize + 1];
    let mut gaps = Vec::new();
    let mut last = 0;
    while last < COUNT {
        match next(&mut slow).await {
            ServerFrame::Message(message) => {
                last = message.seq;
                accounted[message.seq as usize] = true;
            }
            ServerFrame::Gap { from, to } => {
                gaps.push((from, to));
                for seq in from..=to {
                    accounted[seq as usize] = true;
                }
                last = to;
            }
            _ => {}
        }
    }
    let silent: Vec<usize> = (1..=COUNT as usize).filter(|&s| !accounted[s]).collect();
    assert!(
        silent.is_empty(),
        "{} seqs lost without notice, from {:?} to {:?}",
        silent.len(),
        silent.first(),
        silent.last()
    );
    assert!(!gaps.is_empty(), "the member lagged past the history");
}

/// A message stored and never broadcast (an append whose task was cancelled after storing, once
/// `MAX_HELD` later ones stop the room waiting for it) reaches the members from the store, in
/// its place: they were told a `gap` for it, though the store had it.
#[tokio::test]
async fn a_stored_message_the_feed_skipped_comes_from_the_store_not_as_a_gap() {
    use heartline_server::chat::store::{Content, Draft};
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    say(&mut ada, "1", "one").await;
    assert_eq!(next_message(&mut bob).await, 1);
    // Stored behind the feed's back, and the feed told not to wait for it (as past MAX_HELD).
    let draft = Draft {
        from: "ada".into(),
        client_id: "client-ada".into(),
        client_msg_id: "2".into(),
        content: Content::Text("two".into()),
    };
    let now = heartline_server::chat::store::unix_ms();
    server.hub().store().append("r", draft, now).await.unwrap();
    server.hub().skip_gone("r", 2);
    say(&mut ada, "3", "three").await;
    let mut got = Vec::new();
    while got.len() < 2 {
        match next(&mut bob).await {
            ServerFrame::Message(message) => {
                let Body::Text { text } = message.body else {
                    panic!("a text")
                };
                got.push((message.seq, text));
            }
            ServerFrame::Gap { from, to } => panic!("a gap {from}..={to} for a stored message"),
            _ => {}
        }
    }
    assert_eq!(got, [(2, "two".to_owned()), (3, "three".to_owned())]);
}

#[tokio::test]
async fn a_resume_from_another_epoch_is_flagged_as_a_gap() {
    let server = server().await;
    let (mut ada, _) = join_as(&server, "r", "ada", None).await;
    fill(&mut ada, 1).await;
    let (_bob, welcome) = join_as(&server, "r", "bob", Some((7, "old-epoch".into()))).await;
    let ServerFrame::Welcome { gap, history, .. } = welcome else {
        unreachable!()
    };
    assert!(gap, "what bob missed before the restart is gone");
    assert_eq!(
        history.len(),
        1,
        "and he gets the history as on a first join"
    );
}

/// Reads a member's messages until the server closes; returns the seqs and the close code.
fn collect_until_close(client: Client) -> tokio::task::JoinHandle<(Vec<u64>, Option<u16>)> {
    tokio::spawn(async move {
        let mut client = client;
        let mut seqs = Vec::new();
        loop {
            match tokio::time::timeout(DEADLINE, client.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if let Ok(ServerFrame::Message(message)) = serde_json::from_str(&text) {
                        seqs.push(message.seq);
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (seqs, frame.map(|f| u16::from(f.code)))
                }
                Ok(Some(Ok(_))) => {}
                _ => return (seqs, None),
            }
        }
    })
}

#[tokio::test]
async fn after_shutdown_starts_nothing_is_acked_that_members_do_not_get() {
    let server = server_with(Limits {
        burst: 1_000_000,
        per_second: 1_000_000,
        ..Limits::default()
    })
    .await;
    let mut members = Vec::new();
    for nick in ["bob", "cy", "dee", "eve"] {
        let (client, _) = join_as(&server, "r", nick, None).await;
        members.push(collect_until_close(client));
    }
    let (ada, _) = join_as(&server, "r", "ada", None).await;
    let (mut to_ada, mut from_ada) = ada.split();
    let writer = tokio::spawn(async move {
        for i in 0.. {
            let frame = json!({"type": "say", "client_msg_id": format!("m-{i}"), "text": "hi"});
            if to_ada
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    // Shut down while acks are flowing.
    let mut acked = Vec::new();
    let ada_close;
    let mut shutdown = None;
    let mut server = Some(server);
    loop {
        match tokio::time::timeout(DEADLINE, from_ada.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Ok(ServerFrame::Ack { seq, .. }) = serde_json::from_str(&text) {
                    acked.push(seq);
                    if acked.len() == 50 {
                        let server = server.take().unwrap();
                        shutdown = Some(tokio::spawn(server.shutdown()));
                    }
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                ada_close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("ada: {other:?}"),
        }
    }
    writer.abort();
    shutdown.expect("shut down").await.unwrap().unwrap();
    assert_eq!(ada_close, Some(1012));
    for member in members {
        let (seqs, code) = member.await.unwrap();
        assert_eq!(code, Some(1012));
        let missing: Vec<u64> = acked
            .iter()
            .filter(|s| !seqs.contains(s))
            .copied()
            .collect();
        assert!(
            missing.is_empty(),
            "acked but never delivered: {missing:?} (of {} acked)",
            acked.len()
        );
    }
}

/// Reads until the close; the close code (any text frames skipped).
async fn close_code(client: &mut Client) -> Option<u16> {
    acks_or_close(client, usize::MAX).await
}

/// Reads until `acks` acks (`None`: still open) or the close (its code).
async fn acks_or_close(client: &mut Client, acks: usize) -> Option<u16> {
    let mut seen = 0;
    while seen < acks {
        match tokio::time::timeout(DEADLINE, client.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Ok(ServerFrame::Ack { .. }) = serde_json::from_str(&text) {
                    seen += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
    None
}

#[tokio::test]
async fn heartbeat_pings_and_protocol_pings_count_against_the_flood_guard() {
    let server = server().await;
    let mut texts = connect(&server).await;
    let mut pings = connect(&server).await;
    for _ in 0..2_000 {
        texts.feed(Message::Text("ping".into())).await.unwrap();
        pings.feed(Message::Ping(vec![1].into())).await.unwrap();
    }
    let _ = texts.flush().await;
    let _ = pings.flush().await;
    assert_eq!(close_code(&mut texts).await, Some(1008), "text pings");
    assert_eq!(close_code(&mut pings).await, Some(1008), "protocol pings");
}

#[tokio::test]
async fn one_client_ids_connections_share_one_budget() {
    let server = server_with(Limits {
        burst: 20,
        per_second: 1,
        ..Limits::default()
    })
    .await;
    // The first tab's welcome carries the secret the other tabs must present.
    let (first, welcome) = join_as(&server, "r", "ada", None).await;
    let ServerFrame::Welcome { secret, .. } = welcome else {
        unreachable!()
    };
    let mut tabs = vec![first];
    for tab in 1..10 {
        let mut client = connect(&server).await;
        let frame = json!({"type": "join", "room": "r", "nick": "ada", "client_id": "client-ada",
            "secret": secret, "tab_id": format!("tab-{tab}")});
        send(&mut client, frame).await;
        assert!(matches!(
            next(&mut client).await,
            ServerFrame::Welcome { .. }
        ));
        tabs.push(client);
    }
    // 10 tabs × 5 messages: each tab is well under its own burst, the client is not.
    for (tab, client) in tabs.iter_mut().enumerate() {
        for i in 0..5 {
            say(client, &format!("{tab}-{i}"), "hi").await;
        }
    }
    let mut codes = Vec::new();
    for client in &mut tabs {
        codes.push(acks_or_close(client, 5).await);
    }
    assert!(
        codes.contains(&Some(1008)),
        "50 messages in a moment from one client: {codes:?}"
    );
}

#[tokio::test]
async fn one_address_gets_its_share_of_clients() {
    let server = server_with(Limits {
        burst: 5,
        per_second: 1,
        ip_share: 2,
        ..Limits::default()
    })
    .await;
    let mut clients = Vec::new();
    for nick in ["a1", "a2", "a3", "a4"] {
        clients.push(join_as(&server, "r", nick, None).await.0);
    }
    // 4 clients × 3 frames (4 joins already spent): each client is under its burst, the
    // address (2 × 5) is not.
    for (n, client) in clients.iter_mut().enumerate() {
        for i in 0..3 {
            say(client, &format!("{n}-{i}"), "hi").await;
        }
    }
    let mut codes = Vec::new();
    for client in &mut clients {
        codes.push(acks_or_close(client, 3).await);
    }
    assert!(codes.contains(&Some(1008)), "{codes:?}");
}

/// The status line of a WebSocket handshake with these `Host` and `Origin` headers.
async fn handshake_status(server: &Running, host: &str, origin: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 64];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut head))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&head[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_rebound_host_name_is_refused_unless_it_is_public() {
    let server = server().await;
    let status = handshake_status(&server, "evil.example", "http://evil.example").await;
    assert!(status.contains(" 421 "), "{status}");
    let port = server.addr.port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let status = handshake_status(&server, &host, &format!("http://{host}")).await;
        assert!(status.contains(" 101 "), "{host}: {status}");
    }

    let config = ServerConfig {
        public_hosts: vec!["chat.example".into()],
        ..config_with(Limits::default())
    };
    let public = start(config).await.unwrap();
    let status = handshake_status(&public, "chat.example", "http://chat.example").await;
    assert!(status.contains(" 101 "), "{status}");
    let status = handshake_status(&public, "evil.example", "http://evil.example").await;
    assert!(status.contains(" 421 "), "{status}");
}

#[tokio::test]
async fn silent_and_slowloris_sockets_are_closed_by_the_header_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server_with(Limits {
        header_timeout_ms: 1_000,
        ..Limits::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut sockets = Vec::new();
    for i in 0..600 {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            // Slowloris: a request head that never ends.
            socket
                .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        sockets.push(socket);
    }
    // Every one is closed by the server (EOF or reset) within the stated bound.
    let bound = Duration::from_secs(1) + Duration::from_secs(3);
    for (i, socket) in sockets.iter_mut().enumerate() {
        let left = bound.saturating_sub(started.elapsed());
        let mut buffer = [0u8; 256];
        let ended = tokio::time::timeout(left, async {
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "socket {i} still open after {:?}",
            started.elapsed()
        );
    }
}

/// A server process under `prlimit --nofile=N`; returns it, its address and what it logged
/// before listening.
async fn spawn_with_nofile(nofile: u32, args: &[&str]) -> (tokio::process::Child, String, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new("prlimit")
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg(env!("CARGO_BIN_EXE_heartline-server"))
        .args(["--addr", "127.0.0.1:0", "--store", "memory"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("prlimit runs (util-linux)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = String::new();
    let addr = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.split("listening on http://").nth(1) {
                return url.trim().to_owned();
            }
            log.push_str(&line);
            log.push('\n');
        }
        panic!("the server exited:\n{log}")
    })
    .await
    .expect("the server listens in time");
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr, log)
}

#[tokio::test]
async fn past_the_descriptor_limit_connections_get_1013_instead_of_hanging() {
    let (_server, addr, log) = spawn_with_nofile(128, &["--max-connections", "1000"]).await;
    assert!(log.contains("RLIMIT_NOFILE"), "a warning at start:\n{log}");
    let (mut welcomed, mut refused) = (Vec::new(), 0);
    for i in 0..120 {
        let connect = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"));
        let (mut client, _) = tokio::time::timeout(DEADLINE, connect)
            .await
            .unwrap_or_else(|_| panic!("connection {i} hangs"))
            .unwrap_or_else(|error| panic!("connection {i}: {error}"));
        send(
            &mut client,
            json!({"type": "join", "room": "r", "nick": format!("n{i}"), "client_id": format!("c{i}")}),
        )
        .await;
        match tokio::time::timeout(DEADLINE, client.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => welcomed.push(client),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                assert_eq!(u16::from(frame.code), 1013, "connection {i}");
                refused += 1;
            }
            other => panic!("connection {i}: {other:?}"),
        }
    }
    assert!(
        !welcomed.is_empty() && refused > 0,
        "{} welcomed, {refused} refused",
        welcomed.len()
    );
}

/// Joins `room` as `nick` with a fresh client id; the close code if refused, `None` if welcomed.
async fn join_outcome(server: &Running, room: &str, nick: &str, client: &str) -> Option<u16> {
    let mut client_ws = connect(server).await;
    send(
        &mut client_ws,
        json!({"type": "join", "room": room, "nick": nick, "client_id": client}),
    )
    .await;
    match tokio::time::timeout(DEADLINE, client_ws.next()).await {
        Ok(Some(Ok(Message::Text(_)))) => None,
        Ok(Some(Ok(Message::Close(Some(frame))))) => Some(u16::from(frame.code)),
        other => panic!("{nick:?}: {other:?}"),
    }
}

#[tokio::test]
async fn nicknames_that_impersonate_are_refused_or_taken() {
    let server = server().await;
    let (_ada, _) = join_as(&server, "r", "ada", None).await;
    let (_zoe, _) = join_as(&server, "r", "zo\u{e9}", None).await;
    let cases = [
        ("\u{200b}\u{200b}", 4001, "zero-width only"),
        ("\u{200b}\u{200d}\u{2060}", 4001, "zero-width only, mixed"),
        ("a\u{2028}da", 4001, "a line separator"),
        ("ada\u{200b}", 4001, "a trailing zero-width space"),
        ("ada ", 4002, "a trailing space"),
        ("zoe\u{301}", 4002, "zoé in NFD"),
        ("\u{430}d\u{430}", 4002, "Cyrillic а"),
    ];
    for (i, (nick, code, what)) in cases.into_iter().enumerate() {
        let outcome = join_outcome(&server, "r", nick, &format!("impostor-{i}")).await;
        assert_eq!(outcome, Some(code), "{what}: {nick:?}");
    }
    // A different name still joins.
    assert_eq!(join_outcome(&server, "r", "adam", "adam").await, None);
}

#[tokio::test]
async fn room_names_follow_the_same_rules_and_64_characters_fit() {
    let server = server().await;
    assert_eq!(
        join_outcome(&server, &"r".repeat(64), "ada", "c1").await,
        None
    );
    assert_eq!(
        join_outcome(&server, &"é".repeat(64), "ada", "c2").await,
        None
    );
    for room in [
        "r".repeat(65),
        "\u{200b}".into(),
        "a\u{2028}b".into(),
        "  ".into(),
    ] {
        assert_eq!(
            join_outcome(&server, &room, "bob", "c3").await,
            Some(4003),
            "{room:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_that_never_joins_is_closed_with_4004_at_the_join_deadline() {
    let server = server_with(Limits {
        join_timeout_ms: 400,
        ..Limits::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut silent = connect(&server).await;
    // One that joins before the deadline stays, and can still talk after it has passed.
    let member_started = tokio::time::Instant::now();
    let (mut member, _) = join_as(&server, "deadline", "ada", None).await;

    let (code, reason) = closed(&mut silent).await;
    assert_eq!(code, 4004, "{reason}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(400 + 2_000),
        "closed after {waited:?}"
    );
    // The time under test, not a synchronisation: the member's own deadline must have passed.
    tokio::time::sleep_until(member_started + Duration::from_millis(600)).await;
    say(&mut member, "after-the-deadline", "still here").await;
    assert_eq!(support::next_message(&mut member).await.1, "still here");
}

#[tokio::test]
async fn every_route_refuses_a_host_that_is_not_ours_with_421() {
    let server = server().await;
    for path in ["/", "/health", "/playground/", "/echo", "/no-such-page"] {
        let (head, _) = http_get_as(server.addr, path, "evil.example").await;
        assert!(head.starts_with("HTTP/1.1 421 "), "{path}: {head}");
        // Our own Host is served as usual on the same route.
        let (ours, _) = http_get(server.addr, path).await;
        assert!(!ours.contains(" 421 "), "{path}: {ours}");
    }
}

#[tokio::test]
async fn ids_are_taken_up_to_64_bytes_and_refused_with_bad_id_past_it() {
    use heartline_protocol::MAX_ID_BYTES;
    let server = server().await;
    // A join whose client id is one byte over: refused, and nothing joined.
    let mut client = connect(&server).await;
    let long = "c".repeat(MAX_ID_BYTES + 1);
    send(
        &mut client,
        json!({"type": "join", "room": "ids", "nick": "ada", "client_id": long}),
    )
    .await;
    match next(&mut client).await {
        ServerFrame::Error { code, message, .. } => {
            assert_eq!(code, "bad_id", "{message}");
            assert!(message.contains("client_id"), "{message}");
        }
        other => panic!("expected bad_id, got {other:?}"),
    }
    // The same connection joins with one just at the limit, and says with ids at and over it.
    let at = "c".repeat(MAX_ID_BYTES);
    send(
        &mut client,
        json!({"type": "join", "room": "ids", "nick": "ada", "client_id": at, "tab_id": "t".repeat(MAX_ID_BYTES)}),
    )
    .await;
    assert!(matches!(
        next(&mut client).await,
        ServerFrame::Welcome { .. }
    ));
    say(&mut client, &"m".repeat(MAX_ID_BYTES + 1), "over").await;
    match next(&mut client).await {
        ServerFrame::Error { code, .. } => assert_eq!(code, "bad_id"),
        other => panic!("expected bad_id, got {other:?}"),
    }
    say(&mut client, &"m".repeat(MAX_ID_BYTES), "at").await;
    assert_eq!(support::next_message(&mut client).await.1, "at");
    // An upload whose header's id is over: closed 1003, as any bad upload header.
    let header = heartline_protocol::UploadHeader::Image {
        client_msg_id: "m".repeat(MAX_ID_BYTES + 1),
        mime: "image/png".into(),
    };
    let frame = heartline_protocol::encode_upload(&header, &[137, 80, 78, 71]);
    client.send(Message::Binary(frame.into())).await.unwrap();
    let (code, reason) = closed(&mut client).await;
    assert_eq!(code, 1003, "{reason}");
    assert!(reason.contains("client_msg_id"), "{reason}");
}

/// Texts of control characters, each written out six times longer than it is (`\u0001`), fill
/// a history page by the bytes the page takes in its frame: a welcome stays within the page
/// size the server announces, not six times over it (a joiner on a slow link was cut off as
/// too slow for it, and again at every reconnect).
#[tokio::test]
async fn a_history_of_control_characters_is_paged_by_the_bytes_it_takes_written_out() {
    let server = server_with(Limits {
        burst: 1_000,
        per_second: 1_000,
        ..Limits::default()
    })
    .await;
    let (mut ada, _) = join_as(&server, "escapes", "ada", None).await;
    // Just under the text limit as a frame: about 10,900 characters each.
    let text = "\u{1}".repeat(10_900);
    for i in 0..30 {
        say(&mut ada, &format!("m{i}"), &text).await;
        next_ack(&mut ada).await;
    }
    let (_bob, welcome) = join_as(&server, "escapes", "bob", None).await;
    let ServerFrame::Welcome {
        history,
        more,
        limits,
        ..
    } = welcome
    else {
        unreachable!("join_as checked it")
    };
    let page = serde_json::to_string(&history)
        .expect("a page serialises")
        .len();
    assert!(
        page <= limits.history_page_bytes,
        "{} messages, {page} bytes in a page announced as {} bytes",
        history.len(),
        limits.history_page_bytes
    );
    assert!(more, "older messages left for the next page");
}
