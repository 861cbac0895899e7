//! The playground (`/playground`, its own bundle): point Heartline at any ws:// or wss:// server
//! and see every part of the API live — ready states, events, frames both ways, close codes.
//!
//! This module owns the connection and the logs' state; the parts are one concern each:
//! [`form`] (the connect form), [`send_panel`] (what can be sent, and the close form), [`logs`]
//! (the frame and event logs), and [`log`] (their pure model, tested on the host).

pub mod form;
pub mod log;
pub mod logs;
pub mod send_panel;

use crate::page::socket_url_for_page;
use form::ConnectForm;
use heartline::{
    CloseInfo, Config, Event as SocketEvent, Heartline, Inbound, Notice, Outgoing, Status,
};
use js_sys::Uint8Array;
use log::{hex_preview, Direction, EventEntry, FrameEntry, FrameLog};
use logs::Logs;
use send_panel::{CloseForm, SendPanel};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// Events kept.
const EVENT_CAP: usize = 500;

/// The playground's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaygroundState {
    frames: FrameLog,
    events: Vec<EventEntry>,
    status: Option<Status>,
}

/// Changes to it.
pub enum PlaygroundAction {
    /// A frame went by.
    Frame(FrameEntry),
    /// Something happened.
    Event(String),
    /// The status changed.
    Status(Status),
    /// Clear the frame log.
    ClearFrames,
}

impl Reducible for PlaygroundState {
    type Action = PlaygroundAction;

    fn reduce(self: Rc<Self>, action: PlaygroundAction) -> Rc<Self> {
        let mut state = (*self).clone();
        let now = js_sys::Date::now();
        match action {
            PlaygroundAction::Frame(entry) => state.frames.push(entry),
            PlaygroundAction::Event(text) => {
                state.events.push(EventEntry { at_ms: now, text });
                if state.events.len() > EVENT_CAP {
                    state.events.remove(0);
                }
            }
            PlaygroundAction::Status(status) => state.status = Some(status),
            PlaygroundAction::ClearFrames => state.frames = FrameLog::default(),
        }
        Rc::new(state)
    }
}

fn received(binary: bool, size: usize, preview: String, kind: &'static str) -> FrameEntry {
    FrameEntry {
        direction: Direction::In,
        binary,
        size,
        at_ms: js_sys::Date::now(),
        preview,
        heartbeat: false,
        kind,
    }
}

fn describe_close(close: &CloseInfo) -> String {
    let code = close.close_code();
    let reason = if close.reason.is_empty() {
        String::new()
    } else {
        format!(", reason {:?}", close.reason)
    };
    format!(
        "close: {} {} — {} (wasClean {}{reason})",
        close.code,
        code.name(),
        code.meaning(),
        close.was_clean
    )
}

fn ready_state_name(state: u16) -> &'static str {
    ["CONNECTING", "OPEN", "CLOSING", "CLOSED"][state.min(3) as usize]
}

/// The playground page, with its header and the link back to the chat.
#[function_component]
pub fn PlaygroundPage() -> Html {
    html! {
        <main class="wide">
            <header>
                <h1>{ "Heartline playground" }</h1>
                <a href="/">{ "Chat" }</a>
            </header>
            <Playground />
        </main>
    }
}

/// The playground: the connection, and the parts around it.
#[function_component]
pub fn Playground() -> Html {
    let state = use_reducer(PlaygroundState::default);
    let socket: Rc<RefCell<Option<Heartline>>> = use_mut_ref(|| None);
    let problem = use_state(|| None::<String>);
    let default_url = use_memo((), |_| AttrValue::from(socket_url_for_page("/echo")));

    // Drop the connection (closing it) when the page goes away.
    {
        let socket = socket.clone();
        use_effect_with((), move |_| move || drop(socket.borrow_mut().take()));
    }

    let on_problem = {
        let problem = problem.clone();
        Callback::from(move |message: String| problem.set(Some(message)))
    };
    let on_connect = {
        let (state, socket, problem) = (state.clone(), socket.clone(), problem.clone());
        Callback::from(move |(config, url): (Config, String)| {
            problem.set(None);
            // The old connection (if any) closes as it drops.
            drop(socket.borrow_mut().take());
            let heartbeat_text = config
                .heartbeat
                .as_ref()
                .map(|h| h.message.clone())
                .unwrap_or_default();
            let dispatch = state.dispatcher();
            state.dispatch(PlaygroundAction::Event(format!("new WebSocket({url:?})")));
            let connection = Heartline::connect(config, move |notice| {
                handle_notice(&dispatch, &heartbeat_text, notice)
            });
            *socket.borrow_mut() = Some(connection);
        })
    };
    let on_send = {
        let (state, socket, problem) = (state.clone(), socket.clone(), problem.clone());
        Callback::from(move |(payload, entry): (Outgoing, FrameEntry)| {
            let result = match &*socket.borrow() {
                Some(socket) => socket.send(payload).map_err(|e| e.to_string()),
                None => Err("connect first".to_string()),
            };
            match result {
                Ok(()) => {
                    problem.set(None);
                    state.dispatch(PlaygroundAction::Frame(entry));
                }
                Err(message) => problem.set(Some(message)),
            }
        })
    };
    let on_close = {
        let (state, socket, problem) = (state.clone(), socket.clone(), problem.clone());
        Callback::from(move |(code, reason): (u16, String)| {
            let result = match &*socket.borrow() {
                Some(socket) => socket.close(code, &reason),
                None => {
                    problem.set(Some("connect first".into()));
                    return;
                }
            };
            match result {
                Ok(()) => {
                    problem.set(None);
                    state.dispatch(PlaygroundAction::Event(format!(
                        "close({code}, {reason:?}) requested"
                    )));
                }
                Err(error) => problem.set(Some(format!("refused: {error}"))),
            }
        })
    };

    let ready = state.status.map_or(3, |s| s.ready_state());
    let status_words = state.status.map_or("not connected", |s| s.label());
    html! {
        <div class="playground">
            <ConnectForm default_url={(*default_url).clone()} {on_connect} on_problem={on_problem.clone()} />
            <p class="ready" aria-label="Ready state">
                <strong>{ format!("{} {ready}", ready_state_name(ready)) }</strong>{ format!(" · {status_words}") }
            </p>
            if let Some(problem) = &*problem {
                <pre role="alert" class="problem">{ problem }</pre>
            }
            <SendPanel {on_send} on_problem={on_problem.clone()} />
            <CloseForm {on_close} {on_problem} />
            <Logs state={state.clone()} />
        </div>
    }
}

/// Turns one notice of the connection into log entries.
fn handle_notice(
    dispatch: &UseReducerDispatcher<PlaygroundState>,
    heartbeat_text: &str,
    notice: Notice,
) {
    let action = match notice {
        Notice::Message(Inbound::Text(text)) => {
            PlaygroundAction::Frame(received(false, text.len(), text.into(), "text"))
        }
        Notice::Message(Inbound::ArrayBuffer(buffer)) => {
            let bytes = Uint8Array::new(&buffer).to_vec();
            PlaygroundAction::Frame(received(
                true,
                bytes.len(),
                hex_preview(&bytes),
                "ArrayBuffer",
            ))
        }
        Notice::Message(Inbound::Blob(blob)) => {
            // A Blob is read asynchronously for its preview.
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let size = blob.size() as usize;
                let preview = match wasm_bindgen_futures::JsFuture::from(blob.array_buffer()).await
                {
                    Ok(buffer) => hex_preview(&Uint8Array::new(&buffer).to_vec()),
                    Err(_) => "(unreadable Blob)".into(),
                };
                dispatch.dispatch(PlaygroundAction::Frame(received(
                    true, size, preview, "Blob",
                )));
            });
            return;
        }
        Notice::Event(SocketEvent::Status(status)) => {
            dispatch.dispatch(PlaygroundAction::Status(status));
            match status {
                Status::Connecting { attempt } if attempt > 0 => {
                    PlaygroundAction::Event(format!("reconnect attempt {attempt}"))
                }
                Status::Failed => PlaygroundAction::Event("gave up: retries exhausted".into()),
                Status::Offline => PlaygroundAction::Event("offline: retries paused".into()),
                _ => return,
            }
        }
        Notice::Event(SocketEvent::Opened) => PlaygroundAction::Event("open".into()),
        Notice::Event(SocketEvent::Error) => PlaygroundAction::Event("error".into()),
        Notice::Event(SocketEvent::Closed(close)) => {
            PlaygroundAction::Event(describe_close(&close))
        }
        Notice::Event(SocketEvent::ReconnectScheduled { attempt, delay_ms }) => {
            PlaygroundAction::Event(format!("reconnect {attempt} scheduled in {delay_ms} ms"))
        }
        Notice::Event(SocketEvent::HeartbeatSent) => PlaygroundAction::Frame(FrameEntry {
            heartbeat: true,
            ..send_panel::sent(
                false,
                heartbeat_text.len(),
                heartbeat_text.to_string(),
                "text",
            )
        }),
        Notice::Event(SocketEvent::HeartbeatReply { rtt_ms }) => {
            PlaygroundAction::Frame(FrameEntry {
                heartbeat: true,
                ..received(false, 4, format!("pong (round trip {rtt_ms} ms)"), "text")
            })
        }
        Notice::Event(SocketEvent::HeartbeatTimeout) => {
            PlaygroundAction::Event("heartbeat timeout: no frame within the pong timeout".into())
        }
        Notice::Event(SocketEvent::Flushed { frames }) => {
            PlaygroundAction::Event(format!("sent {frames} queued frames"))
        }
        Notice::Event(SocketEvent::HeartbeatExtended { buffered }) => PlaygroundAction::Event(
            format!("pong timeout extended: {buffered} bytes still draining"),
        ),
        Notice::Event(SocketEvent::Discarded { frames }) => {
            PlaygroundAction::Event(format!("dropped {frames} queued frames at close"))
        }
        Notice::Event(SocketEvent::Requeued { frames }) => PlaygroundAction::Event(format!(
            "{frames} frames the browser had not sent yet are queued again"
        )),
        Notice::Event(SocketEvent::SendFailed { error }) => {
            PlaygroundAction::Event(format!("the browser refused a frame: {error}"))
        }
        Notice::Role(role) => PlaygroundAction::Event(role.to_string()),
        // Events are non-exhaustive: one added later is still logged.
        Notice::Event(other) => PlaygroundAction::Event(format!("{other:?}")),
    };
    dispatch.dispatch(action);
}
