//! One person in several tabs, half-open connections, liveness, the secret behind a client id,
//! and a backlog resent at the announced rate.

mod support;

use futures_util::StreamExt;
use heartline_protocol::{ServerFrame, ServerLimits};
use heartline_server::chat::hub::DEPARTURE_GRACE;
use heartline_server::chat::limits::Limits;
use serde_json::json;
use std::time::Duration;
use support::*;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Joins `room` as `nick` from a tab of client `client_id`, with the secret if one is known.
async fn join_tab(
    server: &heartline_server::Running,
    room: &str,
    nick: &str,
    client_id: &str,
    tab_id: &str,
) -> (Client, ServerFrame) {
    let mut client = connect(server).await;
    let mut frame = json!({"type": "join", "room": room, "nick": nick, "client_id": client_id, "tab_id": tab_id});
    if let Some(secret) = secret_of(server, client_id) {
        frame["secret"] = json!(secret);
    }
    send(&mut client, frame).await;
    let welcome = next(&mut client).await;
    let ServerFrame::Welcome { secret, .. } = &welcome else {
        panic!("expected a welcome, got {welcome:?}")
    };
    remember_secret(server, client_id, secret);
    (client, welcome)
}

fn members_of(welcome: &ServerFrame) -> Vec<String> {
    match welcome {
        ServerFrame::Welcome { members, .. } => members.clone(),
        other => panic!("not a welcome: {other:?}"),
    }
}

/// Reads until a presence frame; returns ("joined" | "left", nick).
async fn next_presence(client: &mut Client) -> (&'static str, String) {
    loop {
        match next(client).await {
            ServerFrame::Joined { nick } => return ("joined", nick),
            ServerFrame::Left { nick } => return ("left", nick),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn two_tabs_of_one_client_are_one_member_and_each_gets_every_message() {
    let server = server().await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let (mut tab1, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "ada".into()));
    let (mut tab2, welcome) = join_tab(&server, "r", "ada", "c-ada", "t-2").await;
    assert_eq!(members_of(&welcome), ["ada", "bob"], "ada once");

    say(&mut bob, "b1", "hello both tabs").await;
    assert_eq!(next_message(&mut tab1).await, (1, "hello both tabs".into()));
    assert_eq!(next_message(&mut tab2).await, (1, "hello both tabs".into()));
    // A message from one tab reaches the other tab of the same person too.
    say(&mut tab2, "a1", "from tab 2").await;
    assert_eq!(next_message(&mut tab1).await, (2, "from tab 2".into()));

    // The first tab leaving is not the member leaving; the last one is.
    tab1.close(None).await.expect("closes");
    tab2.close(None).await.expect("closes");
    say(&mut bob, "b2", "after").await;
    // Exactly one "left", once the last tab is gone; nothing else about ada.
    let mut presence = Vec::new();
    let mut last_tab_gone = false;
    loop {
        match next(&mut bob).await {
            ServerFrame::Joined { nick } => presence.push(("joined", nick)),
            ServerFrame::Left { nick } => presence.push(("left", nick)),
            ServerFrame::Message(m) if m.client_msg_id == "b2" => last_tab_gone = true,
            _ => {}
        }
        if last_tab_gone && !presence.is_empty() {
            break;
        }
    }
    assert_eq!(presence, [("left", "ada".to_string())]);
}

#[tokio::test]
async fn another_client_cannot_take_a_nick_that_one_client_holds_in_two_tabs() {
    let server = server().await;
    let (_tab1, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    let (_tab2, _) = join_tab(&server, "r", "ada", "c-ada", "t-2").await;
    assert_ada_is_taken(&server).await;
}

/// Another client asking for "ada" in room r is refused: the nickname is taken.
async fn assert_ada_is_taken(server: &heartline_server::Running) {
    let mut other = connect(server).await;
    send(
        &mut other,
        json!({"type": "join", "room": "r", "nick": "ada", "client_id": "c-other"}),
    )
    .await;
    assert_eq!(closed(&mut other).await.0, 4002);
}

#[tokio::test]
async fn a_reconnect_from_the_same_tab_replaces_its_half_open_connection_at_once() {
    let server = server().await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    // The old connection stays open on the server's side and is never read again: half-open.
    let (mut stale, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "ada".into()));
    let (mut fresh, welcome) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(members_of(&welcome), ["ada", "bob"]);
    say(&mut bob, "b1", "to the fresh one").await;
    assert_eq!(next_message(&mut fresh).await.1, "to the fresh one");
    // The stale one was told why it was dropped.
    let (code, reason) = closed(&mut stale).await;
    assert_eq!(code, 4005, "{reason}");
    // Presence never flickered: bob saw neither a "left" nor a second "joined".
    say(&mut bob, "b2", "marker").await;
    no_presence_change_until(&mut bob, "b2").await;
}

/// Reads `client` until the message `marker`; every presence change on the way is an error.
async fn no_presence_change_until(client: &mut Client, marker: &str) {
    loop {
        match next(client).await {
            ServerFrame::Message(m) if m.client_msg_id == marker => break,
            ServerFrame::Joined { nick } | ServerFrame::Left { nick } => {
                panic!("presence changed for {nick}")
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_tab_that_ends_its_connection_while_another_takes_it_over_never_leaves_the_room() {
    let server = server().await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let (leader, _) = join_tab(&server, "r", "ada", "c-ada", "shared-1").await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "ada".into()));
    // The leading tab goes (its page closed, or put in the back/forward cache): its close
    // reaches the server first, then the next leading tab joins with the connection's tab id.
    let mut leader = leader;
    leader.close(None).await.expect("closes");
    drop(leader);
    say(&mut bob, "b1", "while ada's tabs hand over").await;
    no_presence_change_until(&mut bob, "b1").await;
    let (_next_leader, welcome) = join_tab(&server, "r", "ada", "c-ada", "shared-1").await;
    assert_eq!(members_of(&welcome), ["ada", "bob"]);
    // Past the grace: still nothing about ada, who never went.
    tokio::time::sleep(DEPARTURE_GRACE + Duration::from_millis(200)).await;
    say(&mut bob, "b2", "after the grace").await;
    no_presence_change_until(&mut bob, "b2").await;
}

#[tokio::test]
async fn a_member_whose_last_tab_ends_its_connection_is_listed_until_the_grace_then_leaves() {
    let server = server().await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let (mut ada, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "ada".into()));
    let started = Instant::now();
    ada.close(None).await.expect("closes");
    // Within the grace ada is still a member: a newcomer is told so, and her nickname is hers.
    let (_carol, welcome) = join(&server, "r", "carol", None).await;
    assert_eq!(members_of(&welcome), ["ada", "bob", "carol"]);
    assert_ada_is_taken(&server).await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "carol".into()));
    assert_eq!(next_presence(&mut bob).await, ("left", "ada".into()));
    let took = started.elapsed();
    assert!(
        took >= DEPARTURE_GRACE && took < DEPARTURE_GRACE + Duration::from_secs(2),
        "ada left after {took:?}; the grace is {DEPARTURE_GRACE:?}"
    );
}

#[tokio::test]
async fn a_client_id_without_its_secret_is_refused_and_cannot_swallow_messages() {
    let server = server().await;
    let (mut ada, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    say(&mut ada, "m-1", "mine").await;
    assert_eq!(next_ack(&mut ada).await, ("m-1".into(), 1));
    for secret in [None, Some("s-guessed")] {
        let mut mallory = connect(&server).await;
        let mut frame =
            json!({"type": "join", "room": "r", "nick": "mallory", "client_id": "c-ada"});
        if let Some(secret) = secret {
            frame["secret"] = json!(secret);
        }
        send(&mut mallory, frame).await;
        let (code, reason) = closed(&mut mallory).await;
        assert_eq!(code, 4006, "{secret:?}: {reason}");
    }
    // Ada's next message with the id mallory would have used is stored, not taken as a resend.
    say(&mut ada, "m-2", "still mine").await;
    assert_eq!(next_ack(&mut ada).await, ("m-2".into(), 2));
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_leaves_presence() {
    let server = server_with(Limits {
        liveness_timeout_ms: 600,
        ..Limits::default()
    })
    .await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    // Ada never reads again, so she never answers the server's pings: a dead peer.
    let (_ada, _) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(next_presence(&mut bob).await, ("joined", "ada".into()));
    let started = Instant::now();
    // Bob reads, so he answers pings and stays.
    assert_eq!(next_presence(&mut bob).await, ("left", "ada".into()));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "ada left after {took:?}; the timeout is 600 ms"
    );
    // Bob, who answers, is still in.
    say(&mut bob, "b1", "still here").await;
    assert_eq!(next_ack(&mut bob).await.0, "b1");
}

/// Sends `count` says no faster than the announced allowance, like the app's pacer.
async fn send_paced(client: &mut Client, limits: &ServerLimits, count: usize) {
    // One frame of the burst is kept for the heartbeat and typing.
    let burst = f64::from(limits.burst.saturating_sub(1).max(1));
    let rate = f64::from(limits.per_second.max(1));
    let mut tokens = burst;
    let mut last = Instant::now();
    for i in 0..count {
        let now = Instant::now();
        tokens = (tokens + (now - last).as_secs_f64() * rate).min(burst);
        last = now;
        if tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - tokens) / rate);
            tokio::time::sleep(wait).await;
            tokens = 1.0;
            last = Instant::now();
        }
        tokens -= 1.0;
        say(client, &format!("m-{i}"), &format!("backlog {i}")).await;
    }
}

#[tokio::test]
async fn a_200_message_backlog_at_the_announced_rate_arrives_whole_under_the_flood_guard() {
    let limits = Limits {
        burst: 20,
        per_second: 100,
        ..Limits::default()
    };
    let server = server_with(limits).await;
    let (mut bob, _) = join(&server, "r", "bob", None).await;
    let (mut ada, welcome) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    let ServerFrame::Welcome {
        limits: announced, ..
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!((announced.burst, announced.per_second), (20, 100));

    let reader = tokio::spawn(async move {
        let mut texts = Vec::new();
        while texts.len() < 200 {
            let (_, text) = next_message(&mut bob).await;
            texts.push(text);
        }
        texts
    });
    send_paced(&mut ada, &announced, 200).await;
    let mut acked = 0;
    while acked < 200 {
        match tokio::time::timeout(DEADLINE, ada.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(text))) => {
                match serde_json::from_str::<ServerFrame>(&text).expect("a frame") {
                    ServerFrame::Ack { .. } => acked += 1,
                    ServerFrame::Error { code, .. } => panic!("refused: {code}"),
                    _ => {}
                }
            }
            Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
    let texts = reader.await.expect("reader");
    let expected: Vec<String> = (0..200).map(|i| format!("backlog {i}")).collect();
    assert_eq!(texts, expected, "every message once, in order");

    // The guard is still on: the same backlog unpaced is cut off with 1008.
    for i in 0..200 {
        say(&mut ada, &format!("burst-{i}"), "too fast").await;
    }
    assert_eq!(closed(&mut ada).await.0, 1008);
}

/// The flood budget is the client id's, shared by its connections and kept across them: a page
/// reloaded right after a burst is told in its welcome how much is left (`tokens`), may send
/// just that at once, and is cut off one frame past it.
#[tokio::test]
async fn a_reload_right_after_a_burst_is_told_how_much_of_the_budget_is_left() {
    let server = server_with(Limits {
        burst: 20,
        // No refill: what is left stays exactly what was announced.
        per_second: 0,
        ..Limits::default()
    })
    .await;
    let tokens_of = |welcome: &ServerFrame| match welcome {
        ServerFrame::Welcome { tokens, .. } => *tokens,
        other => panic!("not a welcome: {other:?}"),
    };
    let (mut first, welcome) = join_tab(&server, "r", "ada", "c-ada", "t-1").await;
    assert_eq!(
        tokens_of(&welcome),
        Some(20),
        "a client not seen lately has all of it"
    );
    for i in 0..15 {
        say(&mut first, &format!("first-{i}"), "burst").await;
    }
    for _ in 0..15 {
        next_ack(&mut first).await;
    }
    drop(first);
    // The reload: another connection of the same client id, at once.
    let (mut second, welcome) = join_tab(&server, "r", "ada", "c-ada", "t-2").await;
    assert_eq!(tokens_of(&welcome), Some(5));
    for i in 0..5 {
        say(&mut second, &format!("second-{i}"), "at the limit").await;
    }
    for _ in 0..5 {
        next_ack(&mut second).await;
    }
    say(&mut second, "one-over", "over the limit").await;
    assert_eq!(closed(&mut second).await.0, 1008);
}

#[tokio::test]
async fn a_join_refused_for_its_nickname_leaves_its_client_id_free() {
    let server = server().await;
    let (_ada, _) = join(&server, "r", "ada", None).await;
    let mut first = connect(&server).await;
    send(
        &mut first,
        json!({"type": "join", "room": "r", "nick": "ada", "client_id": "c-new"}),
    )
    .await;
    assert_eq!(closed(&mut first).await.0, 4002);
    // The refusal carried no secret, so the client still has none: its next join with another
    // name is welcome, not refused for a secret only the server ever saw.
    let mut again = connect(&server).await;
    send(
        &mut again,
        json!({"type": "join", "room": "r", "nick": "bea", "client_id": "c-new"}),
    )
    .await;
    let welcome = next(&mut again).await;
    assert!(
        matches!(&welcome, ServerFrame::Welcome { you, .. } if you == "bea"),
        "{welcome:?}"
    );
}
