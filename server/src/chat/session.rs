//! One chat connection: join, then messages in and the room's feed out, until either side
//! leaves. Every bad input is answered: an error frame when the connection can go on, the
//! standard close code when it cannot.

use super::flood::{Flood, Over};
use super::hub::{to_json, JoinError, Joiner, Live};
use super::identity::Refusal;
use super::media::sketch_png;
use super::outbound::{Outbound, Overflow};
use super::pipeline::{Pipeline, Posted};
use super::resume::{catch_up_page, CatchUp, Resume};
use super::store::{Appended, Content, Draft, Picture};
use super::ChatState;
use crate::metered::Watch;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use heartline_protocol::names::{clean_nick, clean_room};
use heartline_protocol::{
    decode_upload, AppCloseCode, ClientFrame, ServerFrame, UploadHeader, MAX_ID_BYTES, PING, PONG,
    PROTOCOL_VERSION,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

/// Where a connection stands.
struct Joined {
    room: String,
    nick: String,
    client_id: String,
    /// The highest seq this client has been sent.
    delivered: u64,
}

/// What a join connects the session to: the room's feed, and the signal that a newer connection
/// of the same tab took this one's place.
struct Links<'a> {
    feed: &'a mut Option<tokio::sync::broadcast::Receiver<Live>>,
    replaced: &'a mut Option<tokio::sync::oneshot::Receiver<()>>,
    outbound: &'a mut Outbound,
}

/// Why the session ends, and with what close frame.
struct Close(u16, String);

/// The peer sent its close frame: answer it (see [`super::conformance`]).
const PEER_CLOSED: Close = Close(0, String::new());

impl Close {
    fn app(code: AppCloseCode, detail: &str) -> Self {
        Close(code.code, format!("{}: {detail}", code.name))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn error_frame(code: &str, message: impl Into<String>) -> Message {
    error_about(code, message, None)
}

/// An error frame about one message of the client's.
fn error_about(code: &str, message: impl Into<String>, client_msg_id: Option<String>) -> Message {
    Message::Text(
        to_json(&ServerFrame::Error {
            code: code.into(),
            message: message.into(),
            client_msg_id,
        })
        .to_string()
        .into(),
    )
}

/// Runs a connection to its end.
pub async fn run(
    mut socket: WebSocket,
    state: ChatState,
    id: u64,
    peer: std::net::IpAddr,
    watch: std::sync::Arc<Watch>,
) {
    let frame_timeout = Duration::from_millis(state.limits.frame_timeout_ms);
    let mut outbound = Outbound::new(&state.budget, state.limits.max_unsent_bytes);
    let mut stop = state.stop.clone();
    let mut guard = Flood::new(&state.limits, peer);
    let mut joined: Option<Joined> = None;
    let mut feed: Option<tokio::sync::broadcast::Receiver<Live>> = None;
    let join_deadline = tokio::time::sleep(Duration::from_millis(state.limits.join_timeout_ms));
    tokio::pin!(join_deadline);
    // Fired by the hub when a newer connection of the same tab takes this one's place.
    let mut replaced: Option<tokio::sync::oneshot::Receiver<()>> = None;
    // Liveness: a protocol ping every third of the timeout; anything heard counts as life.
    let liveness = Duration::from_millis(state.limits.liveness_timeout_ms.max(3));
    let mut pings = tokio::time::interval(liveness / 3);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pings.reset();
    let mut last_heard = Instant::now();
    // Messages being stored while the session reads on; at most a burst's worth.
    let mut pipeline = Pipeline::new(
        state.limits.burst as usize,
        state.limits.max_binary_bytes + state.limits.max_text_bytes,
        &state.budget,
    );

    let close = loop {
        tokio::select! {
            () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                // What is in flight passed the gate before it closed, so it is stored: acks first.
                let answered = answer_through(&mut socket, &mut outbound, &state, id, &mut pipeline, u64::MAX).await;
                drain_feed(&mut socket, &state, joined.as_mut(), feed.as_mut(), &mut outbound, id).await;
                break answered.err().unwrap_or(Some(Close(1012, "server restarting".into())));
            }
            () = &mut join_deadline, if joined.is_none() => {
                break Some(Close::app(AppCloseCode::JOIN_TIMEOUT, "no join received"));
            }
            _ = async { replaced.as_mut().expect("guarded").await }, if replaced.is_some() => {
                // The hub has already removed this connection from the room.
                joined = None;
                break Some(Close::app(AppCloseCode::REPLACED, "a newer connection of this tab took over"));
            }
            () = watch.stalled(frame_timeout) => {
                break Some(stalled(frame_timeout));
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= liveness {
                    tracing::info!(conn = id, "no sign of life; closing");
                    break Some(Close(1001, format!("nothing heard for {} ms", liveness.as_millis())));
                }
                if let Err(close) = send_out(&mut socket, &mut outbound, Message::Ping(Default::default())).await {
                    break close;
                }
            }
            live = async { feed.as_mut().map(|feed| feed.recv()).expect("guarded").await }, if feed.is_some() => {
                let Some(member) = joined.as_mut() else { continue };
                if let Ok(Live::Message { seq, origin, .. }) = &live {
                    if *origin == id {
                        if let Err(close) = answer_through(&mut socket, &mut outbound, &state, id, &mut pipeline, *seq).await {
                            break close;
                        }
                    }
                }
                match forward(&mut socket, &state, member, &mut outbound, id, live).await {
                    Ok(()) => {}
                    Err(close) => break close,
                }
            }
            posted = pipeline.next(), if !pipeline.is_empty() => {
                if let Err(close) = answer(&mut socket, &mut outbound, &state, id, posted).await {
                    break close;
                }
            }
            // Full: read no more until the oldest message in flight is answered.
            incoming = socket.recv(), if !pipeline.is_full() => {
                let message = match incoming {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        message
                    }
                    // The stream's own refusal (a frame over its type's limit, the memory
                    // budget) says more than the error it caused.
                    Some(Err(error)) => {
                        break watch
                            .refusal()
                            .map(|refusal| Close(refusal.code, refusal.reason))
                            .or_else(|| close_for_error(&error))
                    }
                    None => break None,
                };
                let links = Links { feed: &mut feed, replaced: &mut replaced, outbound: &mut outbound };
                match handle(&mut socket, &state, &mut guard, &mut joined, links, &mut pipeline, id, message).await {
                    Ok(()) => {}
                    Err(close) => break close,
                }
            }
        }
    };
    let close = answer_rest(&mut socket, &mut outbound, &state, id, &mut pipeline, close).await;

    if let Some(member) = &joined {
        // Ended by its tab (a close, or the connection dropped): the member's other tab may be
        // taking over. Ended by the server (a timeout, a refusal): it left.
        if matches!(close, None | Some(Close(0, _))) {
            state.hub.leave_held(&member.room, id);
        } else {
            state.hub.leave(&member.room, id);
        }
    }
    // What the feed holds for this member is not held for it any longer.
    drop(feed);
    if let Some(Close(0, _)) = close {
        super::conformance::answer_close(&mut socket).await;
    } else if let Some(Close(code, reason)) = close {
        tracing::info!(conn = id, code, %reason, "closing");
        // Bounded: a peer that does not read would hold the session here forever. One that
        // reads slowly gets longer, so its close (behind what it has still to read) says why.
        let grace = if reason.starts_with(super::outbound::TOO_SLOW) {
            super::outbound::SLOW_CLOSE_SEND
        } else {
            CLOSE_SEND
        };
        let _ = tokio::time::timeout(
            grace,
            socket.send(Message::Close(Some(CloseFrame {
                code,
                reason: fit_close_reason(&reason).into(),
            }))),
        )
        .await;
        // Give the peer a moment to answer the close, so the browser reports it as clean.
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Answers `history`: the page before `before`, through the bounded queue.
async fn send_page(
    socket: &mut WebSocket,
    state: &ChatState,
    member: &Joined,
    outbound: &mut Outbound,
    before: u64,
) -> Result<(), Option<Close>> {
    let page = state
        .hub
        .store()
        .page(&member.room, None, Some(before), state.limits.page())
        .await;
    let page = match page {
        Ok(page) => page,
        Err(error) => {
            tracing::error!(room = %member.room, %error, "history page unreadable");
            return Err(Some(storage_failed("the history could not be read")));
        }
    };
    let json = serde_json::to_string(&ServerFrame::Page {
        before,
        messages: page.history.messages,
        more: page.more,
    })
    .unwrap_or_default();
    send_out(socket, outbound, Message::Text(json.into())).await
}

/// The most a close frame's reason may take (RFC 6455 §5.5: 125 bytes of payload, two of them
/// the code). A longer one is a protocol error: the browser reports 1006 instead of the code.
const MAX_CLOSE_REASON: usize = 123;

/// The longest start of `text` within `max` bytes that ends at a character boundary.
fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` cut to at most `max` bytes at a character boundary, ending with "…" when cut (so a
/// close reason that quotes it still fits, sentence and all).
fn shortened(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    format!(
        "{}…",
        prefix_within(text, max.saturating_sub('…'.len_utf8()))
    )
    .into()
}

/// `reason` cut to fit a close frame, at a character boundary.
fn fit_close_reason(reason: &str) -> &str {
    prefix_within(reason, MAX_CLOSE_REASON)
}

/// How long the close frame may take to be written (a peer that does not read never takes it).
const CLOSE_SEND: Duration = Duration::from_secs(2);

/// Sends through the member's bounded queue; over the bound, the close that says so.
async fn send_out(
    socket: &mut WebSocket,
    outbound: &mut Outbound,
    message: Message,
) -> Result<(), Option<Close>> {
    outbound.send(socket, message).await.map_err(|overflow| {
        overflow.map(|overflow: Overflow| {
            let (code, reason) = overflow.close();
            Close(code, reason)
        })
    })
}

/// 4007: a frame was begun and not finished in time (its bytes would be held meanwhile).
fn stalled(timeout: Duration) -> Close {
    Close::app(
        AppCloseCode::MESSAGE_TOO_SLOW,
        &format!(
            "a message was begun and not completed within {} ms",
            timeout.as_millis()
        ),
    )
}

/// A receive error: a frame too large (1009), invalid UTF-8 (1007), or the peer gone.
fn close_for_error(error: &axum::Error) -> Option<Close> {
    let inner = error.to_string();
    let source =
        std::error::Error::source(error).and_then(|e| e.downcast_ref::<tungstenite::Error>());
    match source {
        Some(tungstenite::Error::Capacity(detail)) => {
            Some(Close(1009, format!("frame too large: {detail}")))
        }
        Some(tungstenite::Error::Utf8(_)) => {
            Some(Close(1007, "text frame is not valid UTF-8".into()))
        }
        Some(tungstenite::Error::Protocol(detail)) => {
            Some(Close(1002, format!("protocol error: {detail}")))
        }
        _ => {
            tracing::debug!(%inner, "receive error");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    socket: &mut WebSocket,
    state: &ChatState,
    guard: &mut Flood,
    joined: &mut Option<Joined>,
    links: Links<'_>,
    pipeline: &mut Pipeline,
    id: u64,
    message: Message,
) -> Result<(), Option<Close>> {
    let limits = &state.limits;
    // Every frame counts, the heartbeat and protocol pings too; a close ends things anyway.
    if !matches!(message, Message::Close(_)) {
        let client_id = joined.as_ref().map(|member| member.client_id.as_str());
        if let Err(over) = guard.allow(&state.flood, client_id, Instant::now()) {
            return flood(socket, over).await;
        }
    }
    match message {
        Message::Text(text) if text.as_str() == PING => {
            send_out(socket, links.outbound, Message::Text(PONG.into())).await
        }
        Message::Text(text) if text.len() > limits.max_text_bytes => Err(Some(Close(
            1009,
            format!(
                "text frame of {} bytes; the limit is {}",
                text.len(),
                limits.max_text_bytes
            ),
        ))),
        Message::Binary(bytes) if bytes.len() > limits.max_binary_bytes => Err(Some(Close(
            1009,
            format!(
                "binary frame of {} bytes; the limit is {}",
                bytes.len(),
                limits.max_binary_bytes
            ),
        ))),
        Message::Ping(_) | Message::Pong(_) => Ok(()),
        Message::Close(_) => Err(Some(PEER_CLOSED)),
        Message::Text(text) => {
            let frame = match parse(&text) {
                Ok(frame) => frame,
                Err((code, message)) => {
                    return send_out(socket, links.outbound, error_frame(code, message)).await
                }
            };
            match (frame, joined.as_mut()) {
                (
                    ClientFrame::Join {
                        room,
                        nick,
                        client_id,
                        last_seq,
                        epoch,
                        secret,
                        tab_id,
                    },
                    None,
                ) => {
                    let epoch_now = state.hub.store().epoch().to_owned();
                    let resume = Resume::new(last_seq, epoch.as_deref(), &epoch_now);
                    // Names as kept: NFC, trimmed, nothing invisible (protocol's names.rs).
                    let nick = clean_nick(&nick).map_err(|problem| {
                        Some(Close::app(AppCloseCode::BAD_NICK, &problem.to_string()))
                    })?;
                    let room = clean_room(&room).map_err(|problem| {
                        Some(Close::app(AppCloseCode::BAD_ROOM, &problem.to_string()))
                    })?;
                    let admission =
                        match state.identities.check(&client_id, secret.as_deref()).await {
                            Ok(admission) => admission,
                            Err(Refusal::NotYours) => {
                                return Err(Some(Close::app(
                                    AppCloseCode::CLIENT_ID_TAKEN,
                                    "the join did not carry this client id's secret",
                                )))
                            }
                            Err(Refusal::Unavailable(error)) => {
                                tracing::error!(conn = id, %error, "join: client ids unreachable");
                                return Err(Some(try_again_later("client ids")));
                            }
                        };
                    let (replaced_tx, replaced_rx) = tokio::sync::oneshot::channel();
                    let joiner = Joiner {
                        id,
                        nick: &nick,
                        client_id: &client_id,
                        tab_id: tab_id.as_deref(),
                        replaced: replaced_tx,
                    };
                    let page = state.limits.page();
                    let joined_room = state.hub.join(&room, joiner, resume.after, page).await;
                    if joined_room.is_err() {
                        state.identities.release(&client_id, &admission).await;
                    }
                    let membership = match joined_room {
                        Ok(membership) => membership,
                        Err(JoinError::NickTaken) => {
                            return Err(Some(Close::app(
                                AppCloseCode::NICK_TAKEN,
                                &format!("\"{}\" is in the room", shortened(&nick, 80)),
                            )))
                        }
                        Err(JoinError::Store(error)) => {
                            tracing::error!(conn = id, %room, %error, "join: history unreadable");
                            if error.is_unavailable() {
                                return Err(Some(try_again_later("the history")));
                            }
                            return Err(Some(storage_failed("the history could not be read")));
                        }
                    };
                    tracing::info!(conn = id, %room, %nick, ?last_seq, "joined");
                    let delivered = Resume::delivered(&membership.history);
                    let gap = resume.gap(&membership.history);
                    *links.feed = Some(membership.receiver);
                    links
                        .outbound
                        .joined(membership.feed.clone(), membership.subscribed_at);
                    *links.replaced = Some(replaced_rx);
                    // What its client id may still send at once (its bucket outlives this
                    // connection), read before the id moves into the membership.
                    let tokens = state.flood.client_tokens(&client_id, Instant::now());
                    *joined = Some(Joined {
                        room,
                        nick: nick.clone(),
                        client_id,
                        delivered,
                    });
                    let welcome = ServerFrame::Welcome {
                        v: PROTOCOL_VERSION,
                        you: nick,
                        members: membership.members,
                        history: membership.history.messages,
                        more: membership.more,
                        gap,
                        last_seq: membership.history.last_seq,
                        epoch: epoch_now,
                        secret: admission.secret,
                        limits: state.limits.announced(),
                        tokens: Some(tokens),
                    };
                    // Through the bounded queue: a page in flight is held against the budget.
                    // One copy of the page at a time: the messages go once they are JSON.
                    let json = serde_json::to_string(&welcome).unwrap_or_default();
                    drop(welcome);
                    send_out(socket, links.outbound, Message::Text(json.into())).await
                }
                (ClientFrame::Join { .. }, Some(_)) => {
                    send_out(
                        socket,
                        links.outbound,
                        error_frame(
                            "already_joined",
                            "this connection has joined a room already",
                        ),
                    )
                    .await
                }
                (_, None) => {
                    send_out(
                        socket,
                        links.outbound,
                        error_frame("not_joined", "send join first"),
                    )
                    .await
                }
                (
                    ClientFrame::Say {
                        client_msg_id,
                        text,
                    },
                    Some(member),
                ) => {
                    if text.trim().is_empty() {
                        pipeline.push_ready(Posted::Refused {
                            client_msg_id,
                            code: "empty_text",
                            message: "the message is empty".into(),
                        });
                        return Ok(());
                    }
                    post(
                        state,
                        member,
                        id,
                        pipeline,
                        client_msg_id,
                        Content::Text(text),
                    );
                    Ok(())
                }
                (ClientFrame::Typing, Some(member)) => {
                    state.hub.notice(
                        &member.room,
                        &member.nick,
                        &ServerFrame::Typing {
                            nick: member.nick.clone(),
                        },
                    );
                    Ok(())
                }
                (ClientFrame::Leave, Some(_)) => Err(Some(Close(1000, "left".into()))),
                (ClientFrame::History { before }, Some(member)) => {
                    send_page(socket, state, member, links.outbound, before).await
                }
            }
        }
        Message::Binary(bytes) => {
            let (header, payload) =
                decode_upload(&bytes).map_err(|error| Some(Close(1003, error.to_string())))?;
            let Some(member) = joined.as_mut() else {
                return send_out(
                    socket,
                    links.outbound,
                    error_frame("not_joined", "send join first"),
                )
                .await;
            };
            let (client_msg_id, picture) = match header {
                UploadHeader::Image {
                    client_msg_id,
                    mime,
                } => (
                    client_msg_id,
                    Picture {
                        mime,
                        bytes: payload.to_vec(),
                        sketch: None,
                    },
                ),
                UploadHeader::Sketch {
                    client_msg_id,
                    width,
                    height,
                } => {
                    // Up to 4 MiB of pixels to compress: off the async threads.
                    let rgba = payload.to_vec();
                    let png = tokio::task::spawn_blocking(move || sketch_png(width, height, &rgba))
                        .await
                        .map_err(|error| error.to_string())
                        .and_then(|png| png.map_err(|error| error.to_string()));
                    let png = match png {
                        Ok(png) => png,
                        Err(error) => {
                            tracing::error!(conn = id, %error, "sketch encoding failed");
                            pipeline.push_ready(Posted::Refused {
                                client_msg_id,
                                code: "bad_sketch",
                                message: format!("the sketch could not be encoded: {error}"),
                            });
                            return Ok(());
                        }
                    };
                    (
                        client_msg_id,
                        Picture {
                            mime: "image/png".into(),
                            bytes: png,
                            sketch: Some((width, height)),
                        },
                    )
                }
            };
            post(
                state,
                member,
                id,
                pipeline,
                client_msg_id,
                Content::Picture(picture),
            );
            Ok(())
        }
    }
}

/// Parses a text frame, telling bad JSON from an unknown type from a malformed frame.
fn parse(text: &str) -> Result<ClientFrame, (&'static str, String)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ("bad_json", error.to_string()))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    let frame: ClientFrame = serde_json::from_value(value).map_err(|error| {
        if ["join", "say", "typing", "leave", "history"].contains(&kind.as_str()) {
            ("bad_frame", format!("{kind}: {error}"))
        } else {
            (
                "unknown_type",
                format!(
                    "unknown frame type {kind:?}; expected join, say, typing, leave or history"
                ),
            )
        }
    })?;
    match frame.overlong_id() {
        Some(field) => Err((
            "bad_id",
            format!("{kind}: {field} is longer than {MAX_ID_BYTES} bytes; nothing was done"),
        )),
        None => Ok(frame),
    }
}

async fn flood(socket: &mut WebSocket, over: Over) -> Result<(), Option<Close>> {
    let _ = socket
        .send(error_frame("flood", "too many messages; slow down"))
        .await;
    Err(Some(Close(1008, format!("flooding: {}", over.describe()))))
}

/// 1013: a shared store is out of reach for now (nothing was stored); the client comes back
/// after its longest backoff, by which time it may be back.
fn try_again_later(detail: &str) -> Close {
    Close(
        1013,
        format!("storage unavailable, try again later: {detail}"),
    )
}

/// 1011: the store failed, so nothing more can be promised on this connection.
fn storage_failed(detail: &str) -> Close {
    Close(1011, format!("storage failed: {detail}"))
}

/// Puts a message in the store's line and in flight; [`answer`] tells the client its fate.
fn post(
    state: &ChatState,
    member: &Joined,
    id: u64,
    pipeline: &mut Pipeline,
    client_msg_id: String,
    content: Content,
) {
    let bytes = match &content {
        Content::Text(text) => text.len(),
        Content::Picture(picture) => picture.bytes.len(),
    };
    // Held until stored and broadcast, so a shutdown waits for it (see `shutdown`).
    let Some(pass) = state.posting.try_enter() else {
        pipeline.push_ready(Posted::ShuttingDown);
        return;
    };
    let draft = Draft {
        from: member.nick.clone(),
        client_id: member.client_id.clone(),
        client_msg_id: client_msg_id.clone(),
        content,
    };
    let stored = state.hub.post(&member.room, draft, now_ms(), id);
    pipeline.push(bytes, client_msg_id, async move {
        let outcome = stored.await;
        drop(pass);
        outcome
    });
}

/// Tells the client what became of a message: an ack (only once it is stored), an error naming
/// it, or the close that ends the session.
async fn answer(
    socket: &mut WebSocket,
    outbound: &mut Outbound,
    state: &ChatState,
    id: u64,
    posted: Posted,
) -> Result<(), Option<Close>> {
    let (client_msg_id, outcome) = match posted {
        Posted::Stored {
            client_msg_id,
            outcome,
        } => (client_msg_id, outcome),
        Posted::Refused {
            client_msg_id,
            code,
            message,
        } => {
            return send_out(
                socket,
                outbound,
                error_about(code, message, Some(client_msg_id)),
            )
            .await
        }
        // Shutting down: not stored, not acked; the client resends after reconnecting.
        Posted::ShuttingDown => {
            return Err(Some(Close(1012, "server restarting; not stored".into())))
        }
    };
    let seq = match outcome {
        Ok(Appended::New(message)) => message.seq,
        Ok(Appended::Duplicate(seq)) => {
            state
                .deduplicated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            seq
        }
        Ok(Appended::Conflict(seq)) => {
            let message = format!(
                "client_msg_id {client_msg_id:?} was used for another message (seq {seq}); \
                 this one was not stored"
            );
            return send_out(
                socket,
                outbound,
                error_about("conflict", message, Some(client_msg_id)),
            )
            .await;
        }
        Err(error) => {
            // Never ack what is not stored: the client keeps it and resends after reconnecting.
            if error.is_unavailable() {
                tracing::error!(conn = id, %error, "message not stored; closing with 1013");
                return Err(Some(try_again_later("your message was not saved")));
            }
            tracing::error!(conn = id, %error, "message not stored; closing with 1011");
            return Err(Some(storage_failed("your message was not saved")));
        }
    };
    send_out(
        socket,
        outbound,
        Message::Text(
            to_json(&ServerFrame::Ack { client_msg_id, seq })
                .to_string()
                .into(),
        ),
    )
    .await
}

/// Before the session's own copy of its message `seq` goes out, answers what is in flight up to
/// it, so the sender sees its ack first (the post's task broadcasts it just before it ends).
async fn answer_through(
    socket: &mut WebSocket,
    outbound: &mut Outbound,
    state: &ChatState,
    id: u64,
    pipeline: &mut Pipeline,
    seq: u64,
) -> Result<(), Option<Close>> {
    while pipeline.answered_through() < seq && !pipeline.is_empty() {
        let posted = pipeline.next().await;
        answer(socket, outbound, state, id, posted).await?;
    }
    Ok(())
}

/// How long a closing session waits for its messages in flight to be stored.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The session is ending: when the connection can still carry them, answers the messages in
/// flight in order before the close frame, up to the first that fails. Returns the close to send
/// (a failure's, if one came up). After a store failure (1011) nothing more is acked, so the
/// client resends from the failed message on, in its order. The posts themselves finish in their
/// tasks either way.
async fn answer_rest(
    socket: &mut WebSocket,
    outbound: &mut Outbound,
    state: &ChatState,
    id: u64,
    pipeline: &mut Pipeline,
    close: Option<Close>,
) -> Option<Close> {
    // After the peer's close frame or on a dead connection nothing more is sent.
    if pipeline.is_empty() || !matches!(&close, Some(Close(code, _)) if *code != 0 && *code != 1011)
    {
        return close;
    }
    let Ok(outcomes) = tokio::time::timeout(SETTLE_TIMEOUT, pipeline.settle()).await else {
        tracing::warn!(
            conn = id,
            "messages in flight not stored in time; not acked"
        );
        return close;
    };
    for posted in outcomes {
        if let Err(failed) = answer(socket, outbound, state, id, posted).await {
            return failed;
        }
    }
    close
}

/// Sends the member what the store has after the last seq it was sent, up to seq `until`
/// (`None`: to the room's end), oldest first, a page at a time (each read holds one page, not
/// all it missed: up to the history's count of 64 KiB messages), with a `gap` for each run of
/// seqs the store no longer has: for a member too slow for the feed, or one whose feed skipped
/// seqs.
async fn catch_up(
    socket: &mut WebSocket,
    state: &ChatState,
    member: &mut Joined,
    outbound: &mut Outbound,
    id: u64,
    until: Option<u64>,
) -> Result<(), Option<Close>> {
    loop {
        let page = match state
            .hub
            .store()
            .page_after(&member.room, member.delivered, state.limits.page())
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(conn = id, %error, "catching up: history unreadable");
                if error.is_unavailable() {
                    return Err(Some(try_again_later("the history")));
                }
                return Err(Some(storage_failed("the history could not be read")));
            }
        };
        let (frames, more) = catch_up_page(member.delivered, until, page);
        for frame in frames {
            let frame = match frame {
                CatchUp::Gap { from, to } => {
                    tracing::warn!(conn = id, from, to, "not in the history: gap");
                    member.delivered = to;
                    ServerFrame::Gap { from, to }
                }
                CatchUp::Message(message) => {
                    member.delivered = message.seq;
                    ServerFrame::Message(message)
                }
            };
            let frame = to_json(&frame);
            send_out(socket, outbound, Message::Text(frame.to_string().into())).await?;
        }
        if !more {
            return Ok(());
        }
    }
}

/// At shutdown: forwards what the feed already holds (everything acked before the post gate
/// closed), within a bound, before the 1012 close.
async fn drain_feed(
    socket: &mut WebSocket,
    state: &ChatState,
    member: Option<&mut Joined>,
    feed: Option<&mut tokio::sync::broadcast::Receiver<Live>>,
    outbound: &mut Outbound,
    id: u64,
) {
    use tokio::sync::broadcast::error::TryRecvError;
    let (Some(member), Some(feed)) = (member, feed) else {
        return;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let live = match feed.try_recv() {
                Ok(live) => Ok(live),
                Err(TryRecvError::Lagged(skipped)) => Err(RecvError::Lagged(skipped)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            };
            if forward(socket, state, member, outbound, id, live)
                .await
                .is_err()
            {
                return;
            }
        }
    })
    .await;
}

/// Sends one item of the room's feed, skipping what history already gave.
async fn forward(
    socket: &mut WebSocket,
    state: &ChatState,
    member: &mut Joined,
    outbound: &mut Outbound,
    id: u64,
    live: Result<Live, RecvError>,
) -> Result<(), Option<Close>> {
    if let Ok(live) = &live {
        outbound.received(live);
    }
    match live {
        Ok(Live::Message { seq, json, .. }) => {
            // The feed skipped seqs: ones the store lost (`Hub::skip_gone`), or one stored and
            // never broadcast (past `MAX_HELD`). What the store still has of them comes from
            // it, and a `gap` says the rest, as for a member that lagged.
            if seq > member.delivered + 1 {
                catch_up(socket, state, member, outbound, id, Some(seq - 1)).await?;
            }
            if seq > member.delivered {
                member.delivered = seq;
                send_out(socket, outbound, Message::Text(json.to_string().into())).await?;
            }
        }
        Ok(Live::Notice { about, json, .. }) => {
            // Not about myself: my other tabs are me.
            if *about != *member.nick {
                send_out(socket, outbound, Message::Text(json.to_string().into())).await?;
            }
        }
        Err(RecvError::Lagged(skipped)) => {
            tracing::warn!(conn = id, skipped, "lagged; catching up from history");
            catch_up(socket, state, member, outbound, id, None).await?;
        }
        Err(RecvError::Closed) => return Err(None),
    }
    Ok(())
}
