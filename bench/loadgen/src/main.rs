//! `heartline-loadgen URL[,URL...] CLIENTS MESSAGES [PACE_MS]`: CLIENTS chat clients join one room, spread
//! over the URLs (`URL[,URL...]`: several instances of one chat) in turn; the first sends MESSAGES messages (each carrying its send time), all at once or, with
//! PACE_MS, one every PACE_MS ms; every client counts what it receives. Prints one JSON line:
//! deliveries per second, broadcast latency p50/p99 in ms and, when the server acks, the
//! sender's ack latency p50/p99 in ms (send to `ack`: what a durable store adds shows here).
//! Speaks the chat protocol's join/say/message/ack subset, which the Node.js peer server speaks
//! too (a server that never acks is waited for 2 s after its last message; `acked` is then 0).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pace = match args.get(3).map(|n| n.parse::<u64>()) {
        None => Ok(0),
        Some(parsed) => parsed,
    };
    let (Some(url), Some(clients), Some(messages), Ok(pace_ms)) = (
        args.first().cloned(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
        pace,
    ) else {
        eprintln!(
            "usage: heartline-loadgen ws://HOST:PORT/ws[,ws://...] CLIENTS MESSAGES [PACE_MS]"
        );
        return ExitCode::from(2);
    };
    match run(&url, clients, messages, pace_ms).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(urls: &str, clients: usize, messages: usize, pace_ms: u64) -> Result<Value, String> {
    let urls: Vec<&str> = urls.split(',').collect();
    let epoch = Arc::new(Instant::now());
    let room = format!("bench-{}", std::process::id());
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        let (mut socket, _) = tokio_tungstenite::connect_async(urls[i % urls.len()])
            .await
            .map_err(|e| format!("connect {i}: {e}"))?;
        // A client id is bound to the secret of its first join (protocol 2): every run's
        // clients are new clients, as a fixed id would be refused with 4006 the second time.
        let client_id = format!("lg-{}-{i}", std::process::id());
        let join =
            json!({"type": "join", "room": room, "nick": format!("c{i}"), "client_id": client_id});
        socket
            .send(Message::Text(join.to_string().into()))
            .await
            .map_err(|e| e.to_string())?;
        // Wait for the welcome before the next client, so every member is in the room.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) if text.contains("\"welcome\"") => break,
                Ok(Some(Ok(_))) => continue,
                other => return Err(format!("client {i} got no welcome: {other:?}")),
            }
        }
        sockets.push(socket);
    }
    let mut sender = None;
    let mut readers = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (sink, mut stream) = socket.split();
        if i == 0 {
            sender = Some(sink);
        }
        let epoch = epoch.clone();
        // The sender also waits for its acks, which may come after its last broadcast.
        let expect_acks = if i == 0 { messages } else { 0 };
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            let mut acks = Vec::with_capacity(expect_acks);
            let mut deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let mut grace_set = false;
            let mut last_message = epoch.elapsed();
            while latencies.len() < messages || acks.len() < expect_acks {
                // A server that never acks (the Node.js peer): once the last message is in with
                // no ack yet, wait a little for one, not the whole deadline.
                if latencies.len() >= messages && acks.is_empty() && !grace_set {
                    grace_set = true;
                    deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs(2));
                }
                let next = tokio::time::timeout_at(deadline, stream.next()).await;
                let Ok(Some(Ok(Message::Text(text)))) = next else {
                    break;
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if frame["type"] == "ack" {
                    // The id carries its send time after the `@`.
                    if let Some(sent) = frame["client_msg_id"]
                        .as_str()
                        .and_then(|id| id.split_once('@'))
                        .and_then(|(_, sent)| sent.parse::<f64>().ok())
                    {
                        acks.push(epoch.elapsed().as_secs_f64() * 1000.0 - sent);
                    }
                    continue;
                }
                if frame["type"] != "message" {
                    continue;
                }
                let sent: f64 = frame["body"]["text"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0.0);
                latencies.push(epoch.elapsed().as_secs_f64() * 1000.0 - sent);
                last_message = epoch.elapsed();
            }
            // Deliveries/s ends at the last message, not at the wait for acks after it.
            (latencies, acks, last_message)
        }));
    }
    let mut sender = sender.ok_or("no clients")?;
    let start = epoch.elapsed();
    let mut pace = tokio::time::interval(Duration::from_millis(pace_ms.max(1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..messages {
        if pace_ms > 0 {
            pace.tick().await;
        }
        let sent = epoch.elapsed().as_secs_f64() * 1000.0;
        let say = json!({"type": "say", "client_msg_id": format!("m{i}@{sent:.3}"), "text": format!("{sent:.3}")});
        sender
            .send(Message::Text(say.to_string().into()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut all = Vec::with_capacity(clients * messages);
    let mut acks = Vec::with_capacity(messages);
    let mut last = start;
    for reader in readers {
        let (latencies, acked, finished) = reader.await.map_err(|e| e.to_string())?;
        all.extend(latencies);
        acks.extend(acked);
        last = last.max(finished);
    }
    let expected = clients * messages;
    let seconds = (last - start).as_secs_f64().max(1e-9);
    all.sort_by(|a, b| a.total_cmp(b));
    acks.sort_by(|a, b| a.total_cmp(b));
    let quantile_of = |list: &[f64], q: f64| {
        list.get(((list.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let quantile = |q: f64| quantile_of(&all, q);
    Ok(json!({
        "clients": clients,
        "messages": messages,
        "delivered": all.len(),
        "expected": expected,
        "per_second": all.len() as f64 / seconds,
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "pace_ms": pace_ms,
        "acked": acks.len(),
        "ack_p50_ms": quantile_of(&acks, 0.5),
        "ack_p99_ms": quantile_of(&acks, 0.99),
    }))
}
