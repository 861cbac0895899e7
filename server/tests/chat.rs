//! The chat server driven by real WebSocket clients on loopback, one test per rule.

mod support;

use futures_util::{SinkExt, StreamExt};
use heartline_protocol::{encode_upload, Body, ServerFrame, UploadHeader};
use heartline_server::chat::limits::Limits;
use serde_json::json;
use std::time::Duration;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn two_clients_chat_both_ways() {
    let server = server().await;
    let (mut ada, _) = join(&server, "lobby", "ada", None).await;
    let (mut bob, welcome) = join(&server, "lobby", "bob", None).await;
    let ServerFrame::Welcome { members, you, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(
        (you.as_str(), members),
        ("bob", vec!["ada".to_string(), "bob".to_string()])
    );
    assert_eq!(
        next(&mut ada).await,
        ServerFrame::Joined { nick: "bob".into() }
    );

    say(&mut ada, "a-1", "hi bob").await;
    assert_eq!(next_ack(&mut ada).await, ("a-1".into(), 1));
    assert_eq!(next_message(&mut bob).await, (1, "hi bob".into()));
    say(&mut bob, "b-1", "hi ada").await;
    assert_eq!(
        next_message(&mut ada).await,
        (1, "hi bob".into()),
        "the sender gets its own message too"
    );
    assert_eq!(next_message(&mut ada).await, (2, "hi ada".into()));

    send(&mut bob, json!({"type": "typing"})).await;
    assert_eq!(
        next(&mut ada).await,
        ServerFrame::Typing { nick: "bob".into() }
    );
    send(&mut bob, json!({"type": "leave"})).await;
    assert_eq!(closed(&mut bob).await.0, 1000);
    assert_eq!(
        next(&mut ada).await,
        ServerFrame::Left { nick: "bob".into() }
    );
}

#[tokio::test]
async fn resume_after_a_dropped_connection_has_no_gap_and_no_duplicate() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    say(&mut ada, "1", "one").await;
    say(&mut ada, "2", "two").await;
    assert_eq!(next_ack(&mut ada).await.1, 1);
    assert_eq!(next_ack(&mut ada).await.1, 2);
    let mut bob_saw = vec![next_message(&mut bob).await, next_message(&mut bob).await];
    drop(bob); // the connection drops without a close
    say(&mut ada, "3", "three").await;
    say(&mut ada, "4", "four").await;
    assert_eq!(next_ack(&mut ada).await.1, 3);
    assert_eq!(next_ack(&mut ada).await.1, 4);

    let last_seq = bob_saw.last().map(|(seq, _)| *seq);
    let (mut bob, welcome) = join(&server, "r", "bob", last_seq).await;
    let ServerFrame::Welcome {
        history,
        gap,
        last_seq,
        ..
    } = welcome
    else {
        unreachable!()
    };
    assert!(!gap);
    assert_eq!(last_seq, 4);
    bob_saw.extend(
        history
            .into_iter()
            .map(|m| (m.seq, format!("{:?}", m.body))),
    );
    say(&mut ada, "5", "five").await;
    bob_saw.push(next_message(&mut bob).await);
    let seqs: Vec<u64> = bob_saw.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_resume_older_than_the_history_says_so() {
    let server = server_with(Limits {
        history: 2,
        ..Limits::default()
    })
    .await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    for id in ["1", "2", "3", "4"] {
        say(&mut ada, id, id).await;
        next_ack(&mut ada).await;
    }
    let (_bob, welcome) = join(&server, "r", "bob", Some(1)).await;
    let ServerFrame::Welcome { history, gap, .. } = welcome else {
        unreachable!()
    };
    assert!(gap, "seq 2 is no longer kept");
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
}

#[tokio::test]
async fn a_resent_message_is_acked_with_its_seq_and_seen_once() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    say(&mut ada, "m-1", "once").await;
    assert_eq!(next_ack(&mut ada).await, ("m-1".into(), 1));
    drop(ada);
    // The same client comes back and resends (it never saw the ack, say).
    let (mut ada, _) = join(&server, "r", "ada", Some(0)).await;
    say(&mut ada, "m-1", "once").await;
    assert_eq!(next_ack(&mut ada).await, ("m-1".into(), 1));
    say(&mut ada, "m-2", "next").await;
    assert_eq!(next_message(&mut bob).await, (1, "once".into()));
    assert_eq!(
        next_message(&mut bob).await,
        (2, "next".into()),
        "no second copy of m-1 in between"
    );
}

#[tokio::test]
async fn malformed_json_unknown_types_and_say_before_join_get_error_frames() {
    let server = server().await;
    let mut client = connect(&server).await;
    client
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert!(
        matches!(next(&mut client).await, ServerFrame::Error { code, .. } if code == "bad_json")
    );
    send(&mut client, json!({"type": "shout"})).await;
    assert!(
        matches!(next(&mut client).await, ServerFrame::Error { code, .. } if code == "unknown_type")
    );
    send(&mut client, json!({"type": "say", "client_msg_id": "x"})).await;
    assert!(
        matches!(next(&mut client).await, ServerFrame::Error { code, .. } if code == "bad_frame")
    );
    say(&mut client, "x", "too early").await;
    assert!(
        matches!(next(&mut client).await, ServerFrame::Error { code, .. } if code == "not_joined")
    );
    // The connection is still good.
    send(
        &mut client,
        json!({"type": "join", "room": "r", "nick": "late", "client_id": "c"}),
    )
    .await;
    assert!(matches!(
        next(&mut client).await,
        ServerFrame::Welcome { .. }
    ));
    client.send(Message::Text("ping".into())).await.unwrap();
    let reply = tokio::time::timeout(DEADLINE, client.next()).await.unwrap();
    assert!(
        matches!(reply, Some(Ok(Message::Text(ref t))) if t.as_str() == "pong"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn oversized_frames_close_with_1009() {
    let server = server_with(Limits {
        max_text_bytes: 1_000,
        max_binary_bytes: 2_000,
        ..Limits::default()
    })
    .await;
    let (mut client, _) = join(&server, "r", "ada", None).await;
    say(&mut client, "big", &"x".repeat(2_000)).await;
    assert_eq!(closed(&mut client).await.0, 1009);
    let (mut client, _) = join(&server, "r", "bob", None).await;
    client
        .send(Message::Binary(vec![0u8; 3_000].into()))
        .await
        .unwrap();
    assert_eq!(closed(&mut client).await.0, 1009);
}

#[tokio::test]
async fn a_binary_frame_that_is_not_an_upload_closes_with_1003() {
    let server = server().await;
    let (mut client, _) = join(&server, "r", "ada", None).await;
    client
        .send(Message::Binary(vec![0, 0, 0, 200, 1, 2].into()))
        .await
        .unwrap();
    let (code, reason) = closed(&mut client).await;
    assert_eq!(code, 1003, "{reason}");
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = server().await;
    let (mut client, _) = join(&server, "r", "ada", None).await;
    let frame = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    client.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(closed(&mut client).await.0, 1007);
}

#[tokio::test]
async fn images_and_sketches_are_broadcast() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let png = [137u8, 80, 78, 71, 13, 10, 26, 10];
    let header = UploadHeader::Image {
        client_msg_id: "img".into(),
        mime: "image/png".into(),
    };
    ada.send(Message::Binary(encode_upload(&header, &png).into()))
        .await
        .unwrap();
    assert_eq!(next_ack(&mut ada).await, ("img".into(), 1));
    let header = UploadHeader::Sketch {
        client_msg_id: "sk".into(),
        width: 2,
        height: 1,
    };
    ada.send(Message::Binary(
        encode_upload(&header, &[255, 0, 0, 255, 0, 0, 255, 255]).into(),
    ))
    .await
    .unwrap();
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        if let ServerFrame::Message(message) = next(&mut bob).await {
            bodies.push(message.body);
        }
    }
    // The messages carry URLs; the pictures come over HTTP, typed and cacheable forever.
    let Body::Image { mime, url } = &bodies[0] else {
        panic!("{bodies:?}")
    };
    assert_eq!(mime, "image/png");
    let (head, bytes) = http_get(server.addr, url).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: image/png"), "{head}");
    assert!(head.contains("immutable"), "{head}");
    assert_eq!(bytes, png);
    let Body::Sketch {
        width: 2,
        height: 1,
        url,
    } = &bodies[1]
    else {
        panic!("{bodies:?}")
    };
    let (head, bytes) = http_get(server.addr, url).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/png"),
        "{head}"
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("the sketch is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (2, 1));
    assert_eq!(&pixels[..8], &[255, 0, 0, 255, 0, 0, 255, 255]);
    let (head, _) = http_get(server.addr, "/media/unknown-1").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test]
async fn a_reused_message_id_with_other_content_is_a_conflict_not_an_ack() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    say(&mut ada, "m-1", "first").await;
    assert_eq!(next_ack(&mut ada).await, ("m-1".into(), 1));
    assert_eq!(next_message(&mut ada).await, (1, "first".into()));
    say(&mut ada, "m-1", "something else").await;
    let ServerFrame::Error {
        code,
        message,
        client_msg_id,
    } = next(&mut ada).await
    else {
        panic!("expected an error frame")
    };
    assert_eq!(code, "conflict");
    assert_eq!(client_msg_id.as_deref(), Some("m-1"));
    assert!(message.contains("m-1"), "{message}");
    // Nothing new was stored: a newcomer sees only the first.
    let (_bob, welcome) = join(&server, "r", "bob", None).await;
    let ServerFrame::Welcome { history, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn a_resend_after_the_original_left_the_history_is_not_stored_twice() {
    let server = server_with(Limits {
        history: 2,
        ..Limits::default()
    })
    .await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    for (id, text) in [("1", "one"), ("2", "two"), ("3", "three")] {
        say(&mut ada, id, text).await;
        next_ack(&mut ada).await;
    }
    // "one" has left the 2-message history; its resend is recognised, not stored as seq 4.
    say(&mut ada, "1", "one").await;
    assert_eq!(next_ack(&mut ada).await, ("1".into(), 1));
    let (_bob, welcome) = join(&server, "r", "bob", None).await;
    let ServerFrame::Welcome { last_seq, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(last_seq, 3);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_at_the_handshake() {
    let server = server().await;
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    let error = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("403"), "{error}");
    // Same origin is fine.
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", format!("http://{}", server.addr).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
}

#[tokio::test]
async fn bad_and_taken_nicknames_close_with_their_codes() {
    let server = server().await;
    for nick in ["", &"n".repeat(33), "bell\u{7}"] {
        let mut client = connect(&server).await;
        send(
            &mut client,
            json!({"type": "join", "room": "r", "nick": nick, "client_id": "c"}),
        )
        .await;
        let (code, reason) = closed(&mut client).await;
        assert_eq!(code, 4001, "{nick:?}: {reason}");
        assert!(reason.starts_with("Bad Nickname"), "{reason}");
    }
    let (_ada, _) = join(&server, "r", "ada", None).await;
    let mut again = connect(&server).await;
    send(
        &mut again,
        json!({"type": "join", "room": "r", "nick": "ada", "client_id": "other"}),
    )
    .await;
    assert_eq!(closed(&mut again).await.0, 4002);
    // A nickname as long as the rules allow (32 emoji, 128 bytes) is taken too: the reason is
    // cut to fit a close frame (123 bytes), or the browser would see a protocol error (1006)
    // instead of 4002, and reconnect to be refused again and again.
    let long = "🫶".repeat(32);
    let mut first = connect(&server).await;
    send(
        &mut first,
        json!({"type": "join", "room": "r", "nick": long, "client_id": "first"}),
    )
    .await;
    assert!(matches!(
        next(&mut first).await,
        ServerFrame::Welcome { .. }
    ));
    let mut second = connect(&server).await;
    send(
        &mut second,
        json!({"type": "join", "room": "r", "nick": long, "client_id": "another"}),
    )
    .await;
    let (code, reason) = closed(&mut second).await;
    assert_eq!(code, 4002, "{reason}");
    assert!(
        reason.starts_with("Nickname Taken: \"🫶")
            && reason.ends_with("…\" is in the room")
            && reason.len() <= 123,
        "{} bytes: {reason}",
        reason.len()
    );
}

#[tokio::test]
async fn a_flood_gets_an_error_then_1008() {
    let server = server_with(Limits {
        burst: 5,
        per_second: 1,
        ..Limits::default()
    })
    .await;
    let (mut client, _) = join(&server, "r", "ada", None).await;
    for i in 0..10 {
        say(&mut client, &i.to_string(), "spam").await;
    }
    let mut saw_error = false;
    let code = loop {
        match tokio::time::timeout(DEADLINE, client.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                if let Ok(ServerFrame::Error { code, .. }) = serde_json::from_str(&text) {
                    saw_error |= code == "flood";
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            other => panic!("{other:?}"),
        }
    };
    assert!(saw_error);
    assert_eq!(code, 1008);
}

#[tokio::test]
async fn too_many_connections_get_1013() {
    let server = server_with(Limits {
        max_connections: 1,
        ..Limits::default()
    })
    .await;
    let (_first, _) = join(&server, "r", "ada", None).await;
    let mut second = connect(&server).await;
    assert_eq!(closed(&mut second).await.0, 1013);
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1012_within_two_seconds() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let started = std::time::Instant::now();
    let (result, ada_close, bob_close) =
        tokio::join!(server.shutdown(), closed(&mut ada), closed(&mut bob));
    result.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((ada_close.0, bob_close.0), (1012, 1012));
}

#[tokio::test]
async fn health_answers() {
    let server = server().await;
    let (_ada, _) = join(&server, "r", "ada", None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!(
                "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                server.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""connections":1"#), "{response}");
}

#[tokio::test]
async fn a_python_client_can_chat() {
    let server = server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_client.py");
    let url = format!("ws://{}/ws", server.addr);
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&url)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python client failed (is `websockets` installed? scripts/install.sh does it):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_resume_from_another_epoch_is_a_first_join() {
    let server = server().await;
    let (mut ada, _) = join(&server, "r", "ada", None).await;
    say(&mut ada, "1", "one").await;
    next_ack(&mut ada).await;
    // A client whose seqs come from before a restart (another epoch) gets the whole history.
    let (_bob, welcome) = join_in(&server, "r", "bob", Some((7, "old-epoch".into()))).await;
    let ServerFrame::Welcome { history, epoch, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(epoch, server.epoch());
    assert_eq!(history.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
}
