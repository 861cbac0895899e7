//! The chat view: connects with `use_heartline`, turns server frames into reducer actions,
//! and keeps the outbox: a message stays pending (and in localStorage) until its ack, and is
//! resent after every welcome, so nothing is lost across reconnects and reloads.

use crate::components::composer::Composer;
use crate::components::connection_bar::{describe_close, ConnectionBar};
use crate::components::member_list::MemberList;
use crate::components::message_list::MessageList;
use crate::components::sketch_pad::SketchPad;
use crate::i18n::Texts;
use crate::state::{Action, ChatState, Identity, Pending, PendingBody};
use crate::storage::{random_id, Store};
use gloo_timers::callback::Timeout;
use heartline::{use_heartline, Config, Event, Inbound, Notice, Status, UseHeartline};
use heartline_protocol::{encode_upload, ClientFrame, ServerFrame, UploadHeader, IMAGE_TYPES};
use js_sys::{Array, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use yew::prelude::*;

/// The longest wait between reconnect attempts, ms.
pub const MAX_BACKOFF_MS: u64 = 8_000;

/// Largest image the server takes (its binary limit, less room for the header).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024 - 1024;

/// Props of [`ChatRoom`].
#[derive(Properties, PartialEq)]
pub struct ChatRoomProps {
    /// The chat endpoint, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: AttrValue,
    /// The state (owned by the app, so the join screen can read problems).
    pub state: UseReducerHandle<ChatState>,
    /// Who I am.
    pub me: Identity,
    /// The app's localStorage.
    pub store: Store,
    /// The server closed us for good (e.g. nickname taken): back to the join screen with this.
    pub on_rejected: Callback<String>,
    /// UI strings.
    pub texts: &'static Texts,
}

/// Sends one pending message on the socket (text as JSON, uploads as binary).
fn transmit(socket: &UseHeartline, pending: &Pending) {
    let result = match &pending.body {
        PendingBody::Text { text } => socket.send_json(&ClientFrame::Say {
            client_msg_id: pending.client_msg_id.clone(),
            text: text.clone(),
        }),
        PendingBody::Image { frame, .. } => {
            // Images go out as a Blob, as a file from <input type=file> would.
            let parts = Array::of1(&Uint8Array::from(&frame[..]));
            match web_sys::Blob::new_with_u8_array_sequence(&parts) {
                Ok(blob) => socket.send(heartline::Outgoing::Blob(blob)),
                Err(_) => socket.send(heartline::Outgoing::Bytes(frame.to_vec())),
            }
        }
        // Sketches go out as the ArrayBuffer of their pixels (after the header).
        PendingBody::Sketch { frame } => socket.send(heartline::Outgoing::ArrayBuffer(
            Uint8Array::from(&frame[..]).buffer(),
        )),
    };
    if let Err(error) = result {
        web_sys::console::warn_1(&format!("not sent yet: {error}").into());
    }
}

/// The chat view.
#[function_component]
pub fn ChatRoom(props: &ChatRoomProps) -> Html {
    let state = props.state.clone();
    let t = props.texts;
    let rtt = use_state_eq(|| None::<u64>);
    // The latest state, for the socket's callback between renders.
    let latest = use_mut_ref(|| (*state).clone());
    *latest.borrow_mut() = (*state).clone();
    let socket_slot: Rc<RefCell<Option<UseHeartline>>> = use_mut_ref(|| None);
    let typing_timers = use_mut_ref(HashMap::<String, Timeout>::new);

    let on_notice = {
        let (state, latest, socket_slot, rtt) = (
            state.clone(),
            latest.clone(),
            socket_slot.clone(),
            rtt.clone(),
        );
        let (me, on_rejected, typing_timers) = (
            props.me.clone(),
            props.on_rejected.clone(),
            typing_timers.clone(),
        );
        let store = props.store.clone();
        Callback::from(move |notice: Notice| {
            let socket = socket_slot.borrow().clone();
            match notice {
                Notice::Event(Event::Opened) => {
                    let (last_seq, epoch) = {
                        let latest = latest.borrow();
                        (latest.last_seq, latest.epoch.clone())
                    };
                    if let Some(socket) = &socket {
                        let join = ClientFrame::Join {
                            room: me.room.clone(),
                            nick: me.nick.clone(),
                            client_id: store.client_id(),
                            last_seq,
                            epoch,
                            secret: store.secret(),
                            tab_id: Some(store.tab_id()),
                        };
                        let _ = socket.send_json(&join);
                    }
                }
                Notice::Event(Event::HeartbeatReply { rtt_ms }) => rtt.set(Some(rtt_ms)),
                Notice::Event(Event::Closed(close)) => {
                    if close.code == 4001 || close.code == 4002 || close.code == 4003 {
                        let (name, meaning) = describe_close(&close, t.zh);
                        on_rejected.emit(format!("{name}: {meaning}"));
                        return;
                    }
                    let (name, _) = describe_close(&close, t.zh);
                    state.dispatch(Action::Lost(Some(format!(
                        "{} ({} {name})",
                        t.lost, close.code
                    ))));
                }
                Notice::Message(Inbound::Text(text)) => {
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else {
                        return;
                    };
                    match frame {
                        ServerFrame::Welcome {
                            members,
                            history,
                            gap,
                            epoch,
                            secret,
                            ..
                        } => {
                            store.set_secret(&secret);
                            let resumed = latest.borrow().epoch.is_some();
                            state.dispatch(Action::Welcome {
                                members,
                                history,
                                gap: gap.then(|| t.gap.to_string()),
                                epoch,
                            });
                            if resumed {
                                state.dispatch(Action::System(t.reconnected.to_string()));
                            }
                            // Resend what was never acknowledged; the server drops duplicates.
                            if let Some(socket) = &socket {
                                for pending in
                                    latest.borrow().pending.iter().filter(|p| p.acked.is_none())
                                {
                                    transmit(socket, pending);
                                }
                            }
                        }
                        ServerFrame::Message(message) => state.dispatch(Action::Message(message)),
                        ServerFrame::Ack { client_msg_id, seq } => {
                            state.dispatch(Action::Ack { client_msg_id, seq })
                        }
                        ServerFrame::Joined { nick } => {
                            let line = format!("{nick} {}", t.joined);
                            state.dispatch(Action::MemberJoined(nick, line));
                        }
                        ServerFrame::Left { nick } => {
                            let line = format!("{nick} {}", t.left);
                            state.dispatch(Action::MemberLeft(nick, line));
                        }
                        ServerFrame::Typing { nick } => {
                            state.dispatch(Action::Typing(nick.clone()));
                            let done = state.clone();
                            let who = nick.clone();
                            // Replacing the timer cancels the previous one for this nick.
                            let timer =
                                Timeout::new(3_000, move || done.dispatch(Action::TypingDone(who)));
                            typing_timers.borrow_mut().insert(nick, timer);
                        }
                        ServerFrame::Error { code, message, .. } => {
                            state.dispatch(Action::Problem(Some(format!("{code}: {message}"))));
                        }
                    }
                }
                _ => {}
            }
        })
    };
    // A chat wants to be back soon: retries from 0.5 s up to 8 s apart.
    let config = use_memo(props.url.clone(), |url| {
        Config::new(url.to_string()).with_reconnect_delays(500, MAX_BACKOFF_MS, 2.0)
    });
    let socket = use_heartline((*config).clone(), on_notice);
    *socket_slot.borrow_mut() = Some(socket.clone());

    // The outbox follows the state into localStorage.
    {
        let (room, store) = (props.me.room.clone(), props.store.clone());
        use_effect_with(state.pending.clone(), move |pending| {
            store.save_outbox(&room, pending);
        });
    }

    let queue = {
        let (state, socket) = (state.clone(), socket.clone());
        Callback::from(move |pending: Pending| {
            if state.welcomed && socket.status == Status::Open {
                transmit(&socket, &pending);
            }
            state.dispatch(Action::Queue(pending));
            state.dispatch(Action::Problem(None));
        })
    };
    let on_text = queue.reform(|text: String| Pending {
        client_msg_id: random_id("m"),
        body: PendingBody::Text { text },
        acked: None,
    });
    let on_image = {
        let (queue, state) = (queue.clone(), state.clone());
        Callback::from(move |file: web_sys::File| {
            let size = file.size() as usize;
            let mime = file.type_();
            if !IMAGE_TYPES.contains(&mime.as_str()) {
                state.dispatch(Action::Problem(Some(format!(
                    "not sent: {mime:?} is not one of {}",
                    IMAGE_TYPES.join(", ")
                ))));
                return;
            }
            if size > MAX_IMAGE_BYTES {
                let limit = MAX_IMAGE_BYTES / 1024;
                state.dispatch(Action::Problem(Some(format!(
                    "not sent: the image is {} KiB; the limit is {limit} KiB",
                    size / 1024
                ))));
                return;
            }
            let (queue, state) = (queue.clone(), state.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await
                else {
                    state.dispatch(Action::Problem(Some(
                        "not sent: the file could not be read".into(),
                    )));
                    return;
                };
                let bytes = Uint8Array::new(&buffer).to_vec();
                let header = UploadHeader::Image {
                    client_msg_id: String::new(),
                    mime,
                };
                queue.emit(upload(header, &bytes, format!("[image {}]", file.name())));
            });
        })
    };
    let on_sketch = queue.reform(|(width, height, pixels): (u32, u32, Vec<u8>)| {
        upload(
            UploadHeader::Sketch {
                client_msg_id: String::new(),
                width,
                height,
            },
            &pixels,
            "[sketch]".into(),
        )
    });
    let last_typing = use_mut_ref(|| 0.0);
    let on_typing = {
        let socket = socket.clone();
        let welcomed = state.welcomed;
        Callback::from(move |()| {
            let now = js_sys::Date::now();
            // At most one typing frame every two seconds.
            if welcomed && now - *last_typing.borrow() > 2_000.0 {
                *last_typing.borrow_mut() = now;
                let _ = socket.send_json(&ClientFrame::Typing);
            }
        })
    };
    let on_disconnect = {
        let socket = socket.clone();
        Callback::from(move |()| {
            let _ = socket.close(1000, "user disconnected");
        })
    };
    let on_reconnect = {
        let socket = socket.clone();
        Callback::from(move |()| socket.open())
    };

    let typing_line = match state.typing.as_slice() {
        [] => String::new(),
        nicks => format!("{} {}", nicks.join(", "), t.typing),
    };
    html! {
        <div class="chat">
            <ConnectionBar status={socket.status} welcomed={state.welcomed} rtt_ms={*rtt}
                last_close={socket.last_close.clone()} {on_disconnect} {on_reconnect} texts={t} />
            <div class="room">
                <section class="conversation">
                    <h2>{ format!("#{}", props.me.room) }</h2>
                    <MessageList entries={state.entries.clone()} pending={state.pending.clone()} me={props.me.nick.clone()} texts={t} />
                    <p class="typing" aria-live="polite">{ typing_line }</p>
                    if let Some(problem) = &state.problem {
                        <p role="alert" class="problem">{ problem }</p>
                    }
                    <Composer {on_text} {on_image} {on_typing} texts={t} />
                    <SketchPad {on_sketch} texts={t} />
                </section>
                <MemberList members={state.members.clone()} me={props.me.nick.clone()} label={t.members} />
            </div>
        </div>
    }
}

/// A pending upload: the header gets the message id, then the frame is built once.
fn upload(header: UploadHeader, payload: &[u8], label: String) -> Pending {
    let id = random_id("m");
    let header = match header {
        UploadHeader::Image { mime, .. } => UploadHeader::Image {
            client_msg_id: id.clone(),
            mime,
        },
        UploadHeader::Sketch { width, height, .. } => UploadHeader::Sketch {
            client_msg_id: id.clone(),
            width,
            height,
        },
    };
    let frame = Rc::new(encode_upload(&header, payload));
    let body = match header {
        UploadHeader::Image { .. } => PendingBody::Image { label, frame },
        UploadHeader::Sketch { .. } => PendingBody::Sketch { frame },
    };
    Pending {
        client_msg_id: id,
        body,
        acked: None,
    }
}
