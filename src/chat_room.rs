//! The chat view: connects with `use_heartline`, turns server frames into reducer actions,
//! and keeps the outbox: a message stays pending (and in localStorage) until its ack, and is
//! resent after every welcome at the pace the server announced, so nothing is lost across
//! reconnects and reloads; a message the server refuses is marked, with Retry and Delete, and
//! never blocks the ones after it.

use crate::components::composer::Composer;
use crate::components::connection_bar::{describe_close, ConnectionBar};
use crate::components::member_list::member_list;
use crate::components::message_list::MessageList;
use crate::components::sketch_pad::SketchPad;
use crate::i18n::Texts;
use crate::pacer::Pacer;
use crate::state::{Action, ChatState, Entry, Identity, Pending, PendingBody};
use crate::storage::{random_id, Store, MESSAGE_ID_SHAPE};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use heartline::{
    use_heartline, ClosePolicy, Config, Event, Inbound, Notice, Role, Status, Text, UseHeartline,
};
use heartline_protocol::{
    encode_upload, say_frame_bytes, upload_frame_bytes, ClientFrame, ServerFrame, ServerLimits,
    UploadHeader, IMAGE_TYPES, PROTOCOL_VERSION,
};
use js_sys::{Array, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// The longest wait between reconnect attempts, ms.
pub const MAX_BACKOFF_MS: u64 = 8_000;

/// The server's binary limit until its welcome announces its own: the server's default.
const UNANNOUNCED_MAX_BINARY_BYTES: usize = 5 * 1024 * 1024;

/// The largest picture of this type whose upload frame (the header, then the file) fits the
/// server's binary limit: exact, since every message id has the same length.
fn max_image_bytes(max_binary_bytes: usize, mime: &str) -> usize {
    let header = UploadHeader::Image {
        client_msg_id: MESSAGE_ID_SHAPE.to_owned(),
        mime: mime.to_owned(),
    };
    max_binary_bytes.saturating_sub(upload_frame_bytes(&header, 0))
}

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

/// Sends a frame as JSON text. Not `send_json`: that turns serde_json's error into text, which
/// links its messages and formatting (about 1 KiB gzip), and a `ClientFrame` (strings and
/// integers) cannot fail to encode.
fn send_frame(socket: &UseHeartline, frame: &ClientFrame) -> Result<(), heartline::SendError> {
    let text = serde_json::to_string(frame)
        .map_err(|_| heartline::SendError::Encode("a chat frame".into()))?;
    socket.send(heartline::Outgoing::Text(text))
}

/// Asks for the page of history before `before` and marks it `asked`. If it is still the page
/// asked for after OLDER_ANSWER_WAIT_MS, its answer was lost: the mark is cleared and
/// `given_up` runs. The wait is kept in `lost` (a new ask replaces, so cancels, the last one).
/// False when the frame could not be sent.
fn ask_page(
    socket: &UseHeartline,
    before: u64,
    asked: &Rc<RefCell<Option<u64>>>,
    lost: &RefCell<Option<Timeout>>,
    given_up: impl FnOnce() + 'static,
) -> bool {
    if send_frame(socket, &ClientFrame::History { before }).is_err() {
        return false;
    }
    *asked.borrow_mut() = Some(before);
    let asked = asked.clone();
    *lost.borrow_mut() = Some(Timeout::new(OLDER_ANSWER_WAIT_MS, move || {
        if *asked.borrow() == Some(before) {
            asked.borrow_mut().take();
            given_up();
        }
    }));
    true
}

/// Sends one pending message on the socket (text as JSON, uploads as binary).
fn transmit(socket: &UseHeartline, pending: &Pending) -> Result<(), heartline::SendError> {
    let result = match &pending.body {
        PendingBody::Text { text } => send_frame(
            socket,
            &ClientFrame::Say {
                client_msg_id: pending.client_msg_id.clone(),
                text: text.clone(),
            },
        ),
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
    if let Err(error) = &result {
        web_sys::console::warn_1(&format!("not sent yet: {error}").into());
    }
    result
}

/// Why a frame cannot be sent under the announced limits, if it cannot.
fn over_limit(pending: &Pending, limits: &ServerLimits, t: &Texts) -> Option<String> {
    let (size, limit) = match &pending.body {
        PendingBody::Text { text } => (
            say_frame_bytes(&pending.client_msg_id, text),
            limits.max_text_bytes,
        ),
        PendingBody::Image { frame, .. } | PendingBody::Sketch { frame } => {
            (frame.len(), limits.max_binary_bytes)
        }
    };
    (size > limit).then(|| t.too_large(size, limit))
}

/// How long a following tab waits, after the shared connection opened, for the leading tab's
/// join to be welcomed before it sends one itself (the leading tab may have disconnected its own
/// view: then it no longer hears the connection open), and up to a second more at random: two
/// following tabs do not join at the same moment (the server refuses the second, and every
/// tab hears that refusal, the one whose join held too).
const FOLLOWER_JOIN_AFTER_MS: u32 = 1_500;

/// A following tab with missed history to fetch asks for a page itself only when no page came
/// for this long, and up to a second more (the tab that joined asks first; every tab sees the
/// pages).
const FOLLOWER_FETCH_AFTER_MS: u32 = 1_500;

/// Load older messages comes back this long after its page was asked for, if no answer came
/// while the connection stayed up: the answer was lost (a following tab, frozen in the
/// background, missed the leading tab's relay of it), and the page is asked for again. A page
/// that comes twice is harmless (its messages are skipped by seq).
const OLDER_ANSWER_WAIT_MS: u32 = 10_000;

/// A nickname refused within this long of taking a new client id is asked for once more...
const NAME_RETRY_WINDOW_MS: f64 = 15_000.0;
/// ...this long after the refusal: once the server's grace for the old id's member has passed.
const NAME_RETRY_AFTER_MS: u32 = heartline_protocol::DEPARTURE_GRACE_MS as u32 + 500;

/// What a following tab asks the others on the room's channel: the leading tab answers with a
/// welcome made from its state (a tab opened after the join sees no welcome of its own).
const ASK_WELCOME: &str = "welcome?";

/// The room's channel between the tabs of one nickname: welcomes for tabs opened late. Closed
/// while the page is in the back/forward cache (Chromium evicts a cached page that a channel
/// message reaches) and opened again when it is shown; closed, and its listeners removed, when
/// dropped.
struct RoomChannel {
    listening: Rc<RefCell<Option<Listening>>>,
    _lifecycle: [EventListener; 2],
}

/// The channel itself, with its listener; closed when dropped.
struct Listening {
    channel: web_sys::BroadcastChannel,
    _listener: EventListener,
}

impl Listening {
    fn open(name: &str, on_text: Rc<RefCell<Option<Callback<String>>>>) -> Option<Self> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let listener = EventListener::new(&channel, "message", move |event| {
            let text = event
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|event| event.data().as_string());
            if let (Some(text), Some(on_text)) = (text, on_text.borrow().as_ref()) {
                on_text.emit(text);
            }
        });
        Some(Self {
            channel,
            _listener: listener,
        })
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// A `pagehide` or `pageshow` of a page put in, or taken from, the back/forward cache.
fn persisted(event: &web_sys::Event) -> bool {
    event
        .dyn_ref::<web_sys::PageTransitionEvent>()
        .is_some_and(|event| event.persisted())
}

impl RoomChannel {
    fn open(name: &str, on_text: Rc<RefCell<Option<Callback<String>>>>) -> Option<Self> {
        let window = web_sys::window()?;
        let listening = Rc::new(RefCell::new(Some(Listening::open(name, on_text.clone())?)));
        let on_hide = {
            let listening = listening.clone();
            EventListener::new(&window, "pagehide", move |event| {
                if persisted(event) {
                    listening.borrow_mut().take();
                }
            })
        };
        let on_show = {
            let (listening, name) = (listening.clone(), name.to_owned());
            EventListener::new(&window, "pageshow", move |event| {
                if persisted(event) {
                    *listening.borrow_mut() = Listening::open(&name, on_text.clone());
                }
            })
        };
        Some(Self {
            listening,
            _lifecycle: [on_hide, on_show],
        })
    }

    fn post(&self, text: &str) {
        if let Some(listening) = self.listening.borrow().as_ref() {
            let _ = listening.channel.post_message(&text.into());
        }
    }
}

/// Keeps what storage lacks of this tab's outbox (it sends those itself); the pump runs again
/// when that changes.
fn keep_unstored(
    unstored: &RefCell<Vec<String>>,
    lacking: Vec<String>,
    tick: &UseStateHandle<u32>,
) {
    if lacking != *unstored.borrow() {
        *unstored.borrow_mut() = lacking;
        tick.set((**tick).wrapping_add(1));
    }
}

/// One more save of the outbox heard, or a welcome (a tab frozen or in the back/forward cache
/// heard no save): what storage lacks of this tab's outbox is written back.
fn count_outbox_heard(saves: &RefCell<u32>, heard: &UseStateHandle<u32>) {
    let count = saves.borrow().wrapping_add(1);
    *saves.borrow_mut() = count;
    heard.set(count);
}

/// A message this tab gave the current connection, not acknowledged yet.
#[derive(Clone)]
struct Sent {
    id: String,
    upload: bool,
    /// Its retry count when sent: a refusal is of that try.
    retries: u32,
}

impl Sent {
    fn of(pending: &Pending) -> Self {
        Self {
            id: pending.client_msg_id.clone(),
            upload: pending.is_upload(),
            retries: pending.retries,
        }
    }

    /// The refusal of this try.
    fn refused(self, reason: String) -> Action {
        Action::Refused {
            client_msg_id: self.id,
            reason,
            retries: self.retries,
        }
    }
}

/// The welcome a leading tab gives a late tab: its members, the messages it shows, and the
/// connection's limits (`None` before its own welcome).
fn welcome_from(state: &ChatState, me: &Identity, store: &Store) -> Option<String> {
    let (Some(epoch), Some(limits), Some(secret)) =
        (state.epoch.clone(), state.limits, store.secret())
    else {
        return None;
    };
    let history = state
        .entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Message(message) => Some((**message).clone()),
            Entry::System(_) => None,
        })
        .collect();
    let welcome = ServerFrame::Welcome {
        v: PROTOCOL_VERSION,
        you: me.nick.clone(),
        members: state.members.clone(),
        history,
        more: state.older.is_some(),
        gap: false,
        last_seq: state.last_seq.unwrap_or(0),
        epoch,
        secret,
        limits,
        // Not known here: the tab that joined paces the outbox; a late tab sends only uploads
        // too large to hand over, and starts with a full bucket for them.
        tokens: None,
    };
    serde_json::to_string(&welcome).ok()
}

/// The chat view. The tabs of one nickname in one room share one connection (the library's
/// `with_shared`): the leading tab joins and sends the outbox, which every tab keeps in
/// localStorage; every tab sees every frame.
#[function_component]
pub fn ChatRoom(props: &ChatRoomProps) -> Html {
    let state = props.state.clone();
    let t = props.texts;
    let rtt = use_state_eq(|| None::<u64>);
    let socket_slot: Rc<RefCell<Option<UseHeartline>>> = use_mut_ref(|| None);
    // Who is typing, with the timer that ends it (a few at most: a Vec, no hashing code).
    let typing_timers = use_mut_ref(Vec::<(String, Timeout)>::new);
    // What this connection was given and the server has not acked yet, in send order, each with
    // whether it is an upload: when the server refuses a frame by closing (1003, 1007, 1009,
    // 4007), it is the first of these, as the server acks each message before it reads the next.
    let in_flight: Rc<RefCell<Vec<Sent>>> = use_mut_ref(Vec::new);
    // The upload first in flight at the last loss of the connection (its id and try), and how
    // many losses in a row it was.
    let lost_under: Rc<RefCell<Option<(String, u32, u32)>>> = use_mut_ref(|| None);
    // Paces sends under the server's flood guard; made from each welcome's limits.
    let pacer: Rc<RefCell<Option<Pacer>>> = use_mut_ref(|| None);
    // Wakes the outbox pump and the history fetch when the pacer has a token again.
    let wake = use_mut_ref(|| None::<Timeout>);
    let tick = use_state(|| 0_u32);
    // The page of missed history asked for on this connection (its `before`), and a following
    // tab's wait before it asks itself.
    let history_asked = use_mut_ref(|| None::<u64>);
    let history_wait = use_mut_ref(|| None::<(u64, Timeout)>);
    // The wait for that page's answer (OLDER_ANSWER_WAIT_MS), and how many times one ran out:
    // bumped only by that wait, so the fetch below runs again with the page asked for anew.
    let history_lost = use_mut_ref(|| None::<Timeout>);
    let history_retry = use_state(|| 0_u32);
    // The secret sent in the last join: a 4006 with a newer one in storage is another tab's.
    let sent_secret = use_mut_ref(|| None::<String>);
    // When this tab last had to take a new client id (the server refused its old one: copied
    // from another browser, or backed by a server-made secret that never reached it), and the one
    // retry of a nickname refused soon after.
    let renewed_at = use_mut_ref(|| None::<f64>);
    let name_retry = use_mut_ref(|| None::<Timeout>);
    // The page asked for with Load older messages, until it comes (or is given up for lost).
    let older_asked = use_mut_ref(|| None::<u64>);
    let older_waiting = use_state_eq(|| None::<u64>);
    let older_lost = use_mut_ref(|| None::<Timeout>);
    // This tab's part in the shared connection (None until told).
    let role = use_state_eq(|| None::<Role>);
    // A following tab's own join, if the leading tab's is not welcomed in time.
    let follower_join = use_mut_ref(|| None::<Timeout>);
    // This tab sent the join on the current connection: it sends the shared outbox and answers
    // late tabs (the leading tab, or a following one whose leading tab does not listen).
    let joined_here = use_mut_ref(|| false);
    // A following tab's own join, not yet known to have held: the ids in flight when it went.
    // The leading tab's join may have gone first, its welcome only slow; the server then
    // refuses this one (`already_joined`) right after that welcome, and both tabs would send
    // the whole outbox meanwhile (the server drops the copies, but twice the messages at once
    // trips its flood guard). So such a tab sends one message at a time until the answer to
    // one it sent after its join comes: the refusal, if any, came before it.
    let join_unconfirmed = use_mut_ref(|| None::<Vec<String>>);
    // This tab's waiting messages that localStorage does not hold, so no other tab sees them.
    let unstored = use_mut_ref(Vec::<String>::new);
    // Another tab's saves of the outbox, and this tab's welcomes, counted (the count in a cell:
    // the storage listener's handle is from its first render). Two tabs' writes at once can
    // leave in storage only one tab's (each tab's storage is a copy the browser syncs later),
    // and the tab that pumps the outbox must still see the other's message: a tab that hears a
    // save lacking one of its messages, or with a copy behind its own (a refusal, a retry),
    // writes it back. It only moves storage forward (dropping nothing another tab stored), so
    // tabs that answer each other's writes this way stop. A welcome counts too: a tab in the
    // back/forward cache heard no save.
    let outbox_heard = use_state(|| 0_u32);
    let outbox_saves = use_mut_ref(|| 0_u32);
    let room_channel: Rc<RefCell<Option<RoomChannel>>> = use_mut_ref(|| None);
    let on_channel_text: Rc<RefCell<Option<Callback<String>>>> = use_mut_ref(|| None);

    let on_notice = {
        let (state, socket_slot, rtt, in_flight, pacer) = (
            state.clone(),
            socket_slot.clone(),
            rtt.clone(),
            in_flight.clone(),
            pacer.clone(),
        );
        let history_asked = history_asked.clone();
        let (me, on_rejected, typing_timers, sent_secret) = (
            props.me.clone(),
            props.on_rejected.clone(),
            typing_timers.clone(),
            sent_secret.clone(),
        );
        let (renewed_at, name_retry) = (renewed_at.clone(), name_retry.clone());
        let (outbox_heard, outbox_saves) = (outbox_heard.clone(), outbox_saves.clone());
        let lost_under = lost_under.clone();
        let (role_state, follower_join, joined_here) =
            (role.clone(), follower_join.clone(), joined_here.clone());
        let join_unconfirmed = join_unconfirmed.clone();
        let store = props.store.clone();
        // The server answered a message this tab sent: if it went after this tab's own join,
        // the join held (its refusal would have come first).
        let answered = {
            let (in_flight, join_unconfirmed) = (in_flight.clone(), join_unconfirmed.clone());
            let tick = tick.clone();
            move |id: &str| {
                let mut unconfirmed = join_unconfirmed.borrow_mut();
                let after_join = unconfirmed.as_ref().is_some_and(|before| {
                    !before.iter().any(|b| b == id) && in_flight.borrow().iter().any(|s| s.id == id)
                });
                if after_join {
                    *unconfirmed = None;
                    // The pump goes on, even if the answer changes nothing in the outbox (another
                    // tab's save told of it first).
                    tick.set((*tick).wrapping_add(1));
                }
            }
        };
        Callback::from(move |notice: Notice| {
            let socket = socket_slot.borrow().clone();
            // Shared: Leader or Follower; `None` or `Alone`: this tab's own socket.
            let role = socket.as_ref().and_then(|s| s.with(|h| h.role())).flatten();
            let shared = matches!(role, Some(Role::Leader | Role::Follower));
            match notice {
                Notice::Role(now) => {
                    // Whatever this tab was about to join as a follower is not its to join now.
                    follower_join.borrow_mut().take();
                    if now == Role::Follower {
                        // A new leader (or this tab stepped down: a thawed leader whose lock was
                        // taken): its connection is not the one this tab joined, so the tab
                        // that joins it sends the shared outbox.
                        *joined_here.borrow_mut() = false;
                        join_unconfirmed.borrow_mut().take();
                        follower_join.borrow_mut().take();
                    }
                    role_state.set(Some(now));
                }
                Notice::Event(Event::Opened) => {
                    *joined_here.borrow_mut() = false;
                    join_unconfirmed.borrow_mut().take();
                    // Not welcomed on this connection yet, even if the last one's loss went
                    // unheard (a shared socket closed while this tab had let go of it).
                    state.dispatch(Action::Lost(None));
                    in_flight.borrow_mut().clear();
                    *pacer.borrow_mut() = None;
                    *history_asked.borrow_mut() = None;
                    let (last_seq, epoch) = (state.last_seq, state.epoch.clone());
                    // One tab id for the shared connection: a new leader's join replaces the
                    // old leader's connection on the server at once.
                    let tab_id = if shared {
                        store.shared_tab_id(&me.room, &me.nick)
                    } else {
                        store.tab_id()
                    };
                    // The client id is read (or made) as the join goes out: a following tab
                    // that never sends one does not race the leading tab to make it.
                    let join = {
                        let (store, sent_secret, me) =
                            (store.clone(), sent_secret.clone(), me.clone());
                        move || {
                            let (client_id, secret) = store.credentials();
                            sent_secret.borrow_mut().clone_from(&secret);
                            ClientFrame::Join {
                                room: me.room.clone(),
                                nick: me.nick.clone(),
                                client_id,
                                last_seq,
                                epoch: epoch.clone(),
                                secret,
                                tab_id: Some(tab_id.clone()),
                            }
                        }
                    };
                    if role == Some(Role::Follower) {
                        // The leading tab joins; this one only if no welcome comes in time.
                        let (socket, joined_here) = (socket.clone(), joined_here.clone());
                        let (in_flight, join_unconfirmed) =
                            (in_flight.clone(), join_unconfirmed.clone());
                        let after =
                            FOLLOWER_JOIN_AFTER_MS + (js_sys::Math::random() * 1_000.0) as u32;
                        *follower_join.borrow_mut() = Some(Timeout::new(after, move || {
                            if let Some(socket) = socket {
                                let sent = send_frame(&socket, &join()).is_ok();
                                *joined_here.borrow_mut() = sent;
                                *join_unconfirmed.borrow_mut() = sent.then(|| {
                                    in_flight.borrow().iter().map(|s| s.id.clone()).collect()
                                });
                            }
                        }));
                    } else if let Some(socket) = &socket {
                        // A timer left from following an earlier connection would join again.
                        follower_join.borrow_mut().take();
                        *joined_here.borrow_mut() = send_frame(socket, &join()).is_ok();
                    }
                }
                Notice::Event(Event::HeartbeatReply { rtt_ms }) => rtt.set(Some(rtt_ms)),
                // The page went into the back/forward cache, or this tab's application closed
                // (Disconnect: a shared connection then tells this tab no `Closed`, the socket
                // may go on for the other tabs): what is said meanwhile does not reach it. A
                // following tab asks the leading one for a welcome once the shared connection
                // is Open for it again, as a tab opened late does.
                Notice::Event(Event::Status(status @ (Status::Paused | Status::Stopped))) => {
                    if status == Status::Stopped {
                        *joined_here.borrow_mut() = false;
                        join_unconfirmed.borrow_mut().take();
                    }
                    follower_join.borrow_mut().take();
                    in_flight.borrow_mut().clear();
                    state.dispatch(Action::Lost(None));
                }
                Notice::Event(Event::Closed(close)) => {
                    *joined_here.borrow_mut() = false;
                    join_unconfirmed.borrow_mut().take();
                    follower_join.borrow_mut().take();
                    let (name, meaning) = describe_close(&close, t);
                    match close.code {
                        // Refused just after this tab took a new client id: the name may be
                        // held by its old id, departing for the server's grace. Asked once more
                        // after it (once until the next welcome, so a name someone else holds
                        // is not asked for again and again), before the person is sent back to
                        // the join form.
                        4001..=4003
                            if name_retry.borrow().is_none()
                                && renewed_at.borrow_mut().take().is_some_and(|at| {
                                    js_sys::Date::now() - at < NAME_RETRY_WINDOW_MS
                                }) =>
                        {
                            let socket = socket.clone();
                            *name_retry.borrow_mut() =
                                Some(Timeout::new(NAME_RETRY_AFTER_MS, move || {
                                    if let Some(socket) = socket {
                                        socket.open();
                                    }
                                }));
                        }
                        // A refused name: the server's reason says which rule (it has rules the
                        // form does not run, such as look-alike nicknames).
                        4001..=4003 => {
                            // The server's reason begins with the code's name too.
                            let reason = close
                                .reason
                                .strip_prefix(name)
                                .and_then(|rest| rest.strip_prefix(": "))
                                .unwrap_or(&close.reason);
                            // The server's reason is English: in Chinese, the code's meaning, with
                            // the reason's detail after it (the rule the form's check missed).
                            let why = match (reason.is_empty(), t.zh) {
                                (true, _) => meaning.to_owned(),
                                (false, false) => reason.to_owned(),
                                (false, true) if close.code == 4002 => meaning.to_owned(),
                                (false, true) => format!("{meaning}（{reason}）"),
                            };
                            on_rejected.emit(format!("{name}: {why}"));
                            return;
                        }
                        // Another tab copied this tab's id (a duplicated tab): take a new one. A
                        // shared connection's id is meant to be replaced by its next leader.
                        4005 if !shared => {
                            store.new_tab_id();
                        }
                        // Another tab may have stored the secret since; only a secret that is
                        // still ours was refused, and then the id is someone else's.
                        4006 if store.secret() == *sent_secret.borrow() => {
                            store.forget_client_id();
                            *renewed_at.borrow_mut() = Some(js_sys::Date::now());
                        }
                        // The server refused the frame it was reading: the first unacked one
                        // (4007: it took too long to arrive, an upload too big for the link; the
                        // close reaches every tab of a shared connection, and a tab whose first
                        // unacked frame is a short text was not the one).
                        1003 | 1007 | 1009 | 4007 => {
                            let first = in_flight.borrow().first().cloned();
                            let refused = first.filter(|sent| close.code != 4007 || sent.upload);
                            if let Some(sent) = refused {
                                // An app code's reason repeats its name: its meaning says more.
                                let why = if close.code >= 4000 {
                                    meaning
                                } else {
                                    &close.reason
                                };
                                let reason = format!("{} {name}: {why}", close.code);
                                state.dispatch(sent.refused(reason));
                            }
                        }
                        _ => {}
                    }
                    // An upload the connection was lost under twice in a row (1006: no close
                    // frame came, as when Chromium loses the server's refusal of a big upload
                    // behind it, or the network dropped): marked, so it is not sent again and
                    // again while what comes after it waits. A close the page or the person
                    // asked for (Disconnect, the page hidden) is no such loss, and neither is
                    // a close the server explained (the refusals above, a restart, the flood
                    // guard, a busy server: the next connection may take the upload).
                    let refusing = matches!(close.code, 1003 | 1007 | 1009 | 4007);
                    let not_a_loss = close.code != 1006
                        || socket
                            .as_ref()
                            .and_then(|s| s.with(|h| h.status()))
                            .is_some_and(|status| {
                                matches!(status, Status::Stopped | Status::Paused)
                            });
                    let first = in_flight.borrow().first().cloned();
                    let mut lost = lost_under.borrow_mut();
                    match first.filter(|sent| sent.upload && !refusing && !not_a_loss) {
                        Some(sent) => {
                            // Counted per try: a Retry starts again from none.
                            let times = match &*lost {
                                Some((id, retries, times))
                                    if *id == sent.id && *retries == sent.retries =>
                                {
                                    times + 1
                                }
                                _ => 1,
                            };
                            *lost = Some((sent.id.clone(), sent.retries, times));
                            if times >= 2 {
                                *lost = None;
                                let reason =
                                    format!("{} {name}: {}", close.code, t.lost_under_upload);
                                state.dispatch(sent.refused(reason));
                            }
                        }
                        None => *lost = None,
                    }
                    drop(lost);
                    in_flight.borrow_mut().clear();
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
                            more,
                            gap,
                            epoch,
                            secret,
                            limits,
                            last_seq,
                            tokens,
                            ..
                        } => {
                            follower_join.borrow_mut().take();
                            // A new hole, perhaps at a page asked for before (a tab back from
                            // the back/forward cache is welcomed without a new connection).
                            *history_asked.borrow_mut() = None;
                            // Welcomed: a later refusal may retry again.
                            name_retry.borrow_mut().take();
                            store.keep_server_secret(&secret);
                            *pacer.borrow_mut() =
                                Some(Pacer::new(&limits, js_sys::Date::now()).with_tokens(tokens));
                            let resumed = state.epoch.is_some();
                            state.dispatch(Action::Welcome {
                                members,
                                history,
                                more,
                                gap: gap.then(|| t.gap.to_string()),
                                epoch,
                                last_seq,
                                limits,
                                texts: t,
                            });
                            if resumed {
                                state.dispatch(Action::System(t.reconnected.to_string()));
                            }
                            // What other tabs of this nickname wrote, refused, retried and
                            // deleted while this one was offline (or frozen, or in the
                            // back/forward cache).
                            state.dispatch(Action::Adopt(store.load_outbox(&me.room, &me.nick)));
                            let deleted = store.deleted(&me.room, &me.nick);
                            state.dispatch(Action::DeletedElsewhere(deleted));
                            // And what storage lost of this tab's meanwhile is written back.
                            count_outbox_heard(&outbox_saves, &outbox_heard);
                            // The outbox pump resends what is unacknowledged, once this
                            // welcome is in the state (so nothing it confirmed goes again).
                        }
                        ServerFrame::Message(message) => state.dispatch(Action::Message(message)),
                        ServerFrame::Page {
                            before,
                            messages,
                            more,
                        } => state.dispatch(Action::Page {
                            before,
                            messages,
                            more,
                        }),
                        ServerFrame::Ack { client_msg_id, seq } => {
                            answered(&client_msg_id);
                            in_flight
                                .borrow_mut()
                                .retain(|sent| sent.id != client_msg_id);
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
                            let mut timers = typing_timers.borrow_mut();
                            timers.retain(|(typing, _)| *typing != nick);
                            timers.push((nick, timer));
                        }
                        ServerFrame::Gap { from, to } => {
                            state.dispatch(Action::System(format!("{} ({from}–{to})", t.gap)))
                        }
                        ServerFrame::Error {
                            code,
                            message,
                            client_msg_id: Some(id),
                        } => {
                            // Only the tab that sent it marks it (with the try it sent): the
                            // others take the mark from its save of the outbox, in order with
                            // any retry (a refusal heard late must not undo a later try).
                            answered(&id);
                            let mut in_flight = in_flight.borrow_mut();
                            if let Some(at) = in_flight.iter().position(|sent| sent.id == id) {
                                let sent = in_flight.remove(at);
                                state.dispatch(sent.refused(t.server_error(&code, &message)));
                            }
                        }
                        // Two tabs joined the shared connection: the first join holds, and a
                        // leading tab joins first (at once), so a following tab's was refused.
                        ServerFrame::Error { code, .. } if shared && code == "already_joined" => {
                            if role == Some(Role::Follower) {
                                *joined_here.borrow_mut() = false;
                                join_unconfirmed.borrow_mut().take();
                            }
                        }
                        ServerFrame::Error { code, message, .. } => {
                            state.dispatch(Action::Problem(Some(t.server_error(&code, &message))));
                        }
                    }
                }
                _ => {}
            }
        })
    };
    // A chat wants to be back soon: retries from 0.5 s up to 8 s apart. Every close this server
    // sends is followed by a reconnect, except a refused nickname or room (the join screen says
    // why): a refused message is marked and taken out of the queue first (see above).
    // Shared by the tabs of this nickname in this room (and this app's storage namespace).
    let shared_key = format!(
        "heartline-chat {} {}",
        props.url,
        props
            .store
            .outbox_storage_key(&props.me.room, &props.me.nick)
    );
    let config = use_memo((props.url.clone(), shared_key.clone()), |(url, key)| {
        Config::new(url.to_string())
            .with_shared(key.clone())
            // The chat resends what the server has not acknowledged itself, after each welcome:
            // the library's copies would go twice, and a refused upload again and again.
            .with_unsent_requeued(false)
            .with_reconnect_delays(500, MAX_BACKOFF_MS, 2.0)
            // A chat left open through a long outage comes back by itself when the server does.
            .with_unreachable_after(None)
            .with_close_policy(1003..=1003, ClosePolicy::Reconnect)
            .with_close_policy(1007..=1009, ClosePolicy::Reconnect)
            .with_close_policy(4004..=4007, ClosePolicy::Reconnect)
    });
    let socket = use_heartline((*config).clone(), on_notice.clone());
    *socket_slot.borrow_mut() = Some(socket.clone());

    // The outbox follows the state into localStorage, shared by this nickname's tabs. What
    // storage does not hold (an upload over its bound, or past the browser's quota) no other tab
    // sees: this tab sends it itself (the pump reads the set this effect leaves).
    {
        let (me, store, done) = (props.me.clone(), props.store.clone(), state.done.clone());
        let (unstored, tick) = (unstored.clone(), tick.clone());
        use_effect_with(state.pending.clone(), move |pending| {
            let lacking = store.save_outbox(&me.room, &me.nick, pending, &done);
            keep_unstored(&unstored, lacking, &tick);
        });
    }
    {
        let (me, store, pending) = (props.me.clone(), props.store.clone(), state.pending.clone());
        let (unstored, tick) = (unstored.clone(), tick.clone());
        use_effect_with(*outbox_heard, move |_| {
            let unfit = unstored.borrow().clone();
            let lacking = store.add_missing_to_outbox(&me.room, &me.nick, &pending, &unfit);
            keep_unstored(&unstored, lacking, &tick);
        });
    }
    // Another tab saved the outbox: take in what it wrote (the leading tab sends it), and the
    // refusals and asks to send again made there (the tab that sends the outbox may be this
    // one). Another tab's person deleted a message from it: the same here.
    {
        let (me, store, state) = (props.me.clone(), props.store.clone(), state.clone());
        let (heard, saves) = (outbox_heard.clone(), outbox_saves.clone());
        use_effect_with(shared_key.clone(), move |_| {
            let outbox = store.outbox_storage_key(&me.room, &me.nick);
            let deleted = store.deleted_storage_key(&me.room, &me.nick);
            let listener = web_sys::window().map(|window| {
                EventListener::new(&window, "storage", move |event| {
                    let Some(event) = event.dyn_ref::<web_sys::StorageEvent>() else {
                        return;
                    };
                    // What the event carries, not what is stored now: a write made just after
                    // by another tab may have replaced it.
                    let written = || event.new_value().unwrap_or_default();
                    let key = event.key();
                    if key.as_deref() == Some(outbox.as_str()) {
                        state.dispatch(Action::Adopt(store.load_outbox(&me.room, &me.nick)));
                        count_outbox_heard(&saves, &heard);
                    } else if key.as_deref() == Some(deleted.as_str()) {
                        let ids = serde_json::from_str(&written()).unwrap_or_default();
                        state.dispatch(Action::DeletedElsewhere(ids));
                    }
                })
            });
            move || drop(listener)
        });
    }
    // The room's channel: a leading tab answers a late tab's request for a welcome; a tab not
    // welcomed yet takes one.
    *on_channel_text.borrow_mut() = Some({
        let (state, me, store, on_notice, channel) = (
            state.clone(),
            props.me.clone(),
            props.store.clone(),
            on_notice.clone(),
            room_channel.clone(),
        );
        let joined_here = joined_here.clone();
        Callback::from(move |text: String| {
            if text == ASK_WELCOME {
                if *joined_here.borrow() && state.welcomed {
                    if let (Some(welcome), Some(channel)) =
                        (welcome_from(&state, &me, &store), channel.borrow().as_ref())
                    {
                        channel.post(&welcome);
                    }
                }
            } else if !state.welcomed {
                let text = Text::from_js(js_sys::JsString::from(text));
                on_notice.emit(Notice::Message(Inbound::Text(text)));
            }
        })
    });
    {
        let (channel, on_text) = (room_channel.clone(), on_channel_text.clone());
        use_effect_with(shared_key.clone(), move |key| {
            *channel.borrow_mut() = RoomChannel::open(key, on_text);
            move || drop(channel.borrow_mut().take())
        });
    }
    {
        // Open, yet no welcome here: the connection was joined by another tab.
        let channel = room_channel.clone();
        let shared = matches!(*role, Some(Role::Leader | Role::Follower));
        let waiting = shared && socket.status == Status::Open && !state.welcomed;
        use_effect_with(waiting, move |waiting| {
            if *waiting {
                if let Some(channel) = channel.borrow().as_ref() {
                    channel.post(ASK_WELCOME);
                }
            }
        });
    }

    // Missed while away and kept by the server, but not in the welcome's page: fetched page by
    // page (each page moves `older` down), so nothing is left out of the log unseen. A request
    // counts against the flood guard like a message: it takes a token from the pacer, before
    // the outbox pump (registered after this, so run after it) takes any for the backlog.
    // Every tab sees every page: the tab that joined asks, another only when no page came for
    // a while (its hole may be its own: it was away longer than that tab's log goes).
    {
        let (socket, pacer, joined_here) = (socket.clone(), pacer.clone(), joined_here.clone());
        let (asked, wait, wake, tick_handle) = (
            history_asked.clone(),
            history_wait.clone(),
            wake.clone(),
            tick.clone(),
        );
        let (lost, retry, waited) = (
            history_lost.clone(),
            history_retry.clone(),
            history_wait.clone(),
        );
        let (wanted, limits) = (
            (state.hole_after, state.older, state.welcomed),
            state.limits,
        );
        use_effect_with(
            (wanted, *tick, *retry),
            move |((hole, older, welcomed), _, _)| {
                let (Some(_), Some(before), true, Some(limits)) = (hole, older, welcomed, limits)
                else {
                    wait.borrow_mut().take();
                    return;
                };
                let before = *before;
                if *asked.borrow() == Some(before) {
                    return;
                }
                // An answer lost while the connection stayed up: asked for again.
                let ask = move |socket: &UseHeartline, asked: &Rc<RefCell<Option<u64>>>| {
                    ask_page(socket, before, asked, &lost, move || {
                        // A following tab's wait for this page is over too (it ran): else the
                        // fetch takes it for one to come and never asks.
                        waited.borrow_mut().take();
                        retry.set(*retry + 1);
                    });
                };
                // A following tab that asked for a page of this hole itself goes on at once.
                if !*joined_here.borrow() && asked.borrow().is_none() {
                    // Waiting for this page already (the pump's ticks re-run this effect).
                    if wait.borrow().as_ref().is_some_and(|(at, _)| *at == before) {
                        return;
                    }
                    let (socket, asked) = (socket.clone(), asked.clone());
                    // Spread out, so the person's other tabs do not all ask at the same moment.
                    let after = FOLLOWER_FETCH_AFTER_MS + (js_sys::Math::random() * 1_000.0) as u32;
                    let timer = Timeout::new(after, move || ask(&socket, &asked));
                    *wait.borrow_mut() = Some((before, timer));
                    return;
                }
                wait.borrow_mut().take();
                let now = js_sys::Date::now();
                let mut pacer = pacer.borrow_mut();
                let pacer = pacer.get_or_insert_with(|| Pacer::new(&limits, now));
                if pacer.take(now) {
                    ask(&socket, &asked);
                } else {
                    let wait_ms = pacer.wait_ms(now).max(1);
                    *wake.borrow_mut() = Some(Timeout::new(wait_ms, move || {
                        tick_handle.set((*tick_handle).wrapping_add(1))
                    }));
                }
            },
        );
    }
    // The outbox pump: after every render that changed the outbox, the welcome or the socket,
    // send what this connection has not been given yet, in order, at the pacer's pace. It reads
    // the state of this render and the socket's live status, never a snapshot from an earlier
    // render (so an image read asynchronously is sent by the state at the moment it is queued).
    {
        let outbox: Vec<(String, bool)> = state
            .pending
            .iter()
            .map(|p| {
                (
                    p.client_msg_id.clone(),
                    p.acked.is_some() || p.failed.is_some(),
                )
            })
            .collect();
        let (state, socket, in_flight, pacer, wake, tick_handle) = (
            state.clone(),
            socket.clone(),
            in_flight.clone(),
            pacer.clone(),
            wake.clone(),
            tick.clone(),
        );
        // The tab that joined sends the shared outbox; another tab sends only what is not in
        // localStorage (an upload too large for it, or past the quota), which no other tab has.
        let (joined_here, unstored) = (joined_here.clone(), unstored.clone());
        let join_unconfirmed = join_unconfirmed.clone();
        use_effect_with((outbox, state.welcomed, socket.status, *tick), move |_| {
            let open = socket.with(|h| h.status()) == Some(Status::Open);
            if !state.welcomed || !open {
                return;
            }
            let pumps = *joined_here.borrow();
            let unstored = unstored.borrow();
            let Some(limits) = state.limits else { return };
            let mut pacer = pacer.borrow_mut();
            let pacer = pacer.get_or_insert_with(|| Pacer::new(&limits, js_sys::Date::now()));
            for pending in state
                .pending
                .iter()
                .filter(|p| p.acked.is_none() && p.failed.is_none())
                .filter(|p| pumps || !p.persistable() || unstored.contains(&p.client_msg_id))
            {
                if in_flight
                    .borrow()
                    .iter()
                    .any(|sent| sent.id == pending.client_msg_id)
                {
                    continue;
                }
                if join_unconfirmed.borrow().is_some() && !in_flight.borrow().is_empty() {
                    return;
                }
                if let Some(why) = over_limit(pending, &limits, t) {
                    state.dispatch(Sent::of(pending).refused(why));
                    continue;
                }
                let now = js_sys::Date::now();
                if !pacer.take(now) {
                    let tick = tick_handle.clone();
                    let wait = pacer.wait_ms(now).max(1);
                    *wake.borrow_mut() = Some(Timeout::new(wait, move || {
                        tick.set((*tick).wrapping_add(1))
                    }));
                    return;
                }
                if transmit(&socket, pending).is_err() {
                    return;
                }
                in_flight.borrow_mut().push(Sent::of(pending));
            }
        });
    }

    // Counts what this person wrote here: the log shows each, wherever it was scrolled to.
    let written = use_state(|| 0_u32);
    let queue = {
        let (state, written) = (state.clone(), written.clone());
        Callback::from(move |pending: Pending| {
            state.dispatch(Action::Queue(pending));
            state.dispatch(Action::Problem(None));
            written.set(written.wrapping_add(1));
        })
    };
    let on_text =
        queue.reform(|text: String| Pending::new(random_id("m"), PendingBody::Text { text }));
    let max_binary_bytes = state
        .limits
        .map_or(UNANNOUNCED_MAX_BINARY_BYTES, |l| l.max_binary_bytes);
    let on_image = {
        let (queue, state) = (queue.clone(), state.clone());
        Callback::from(move |file: web_sys::File| {
            let size = file.size() as usize;
            let mime = file.type_();
            if !IMAGE_TYPES.contains(&mime.as_str()) {
                state.dispatch(Action::Problem(Some(t.not_a_picture(&mime, IMAGE_TYPES))));
                return;
            }
            let most = max_image_bytes(max_binary_bytes, &mime);
            if size > most {
                state.dispatch(Action::Problem(Some(t.too_large(size, most))));
                return;
            }
            let (queue, state) = (queue.clone(), state.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await
                else {
                    state.dispatch(Action::Problem(Some(t.unreadable_file().into())));
                    return;
                };
                let bytes = Uint8Array::new(&buffer).to_vec();
                let header = UploadHeader::Image {
                    client_msg_id: String::new(),
                    mime,
                };
                // Only queued: the pump decides when to send, by the state at that moment.
                queue.emit(upload(header, &bytes, file.name()));
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
            String::new(),
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
                let _ = send_frame(&socket, &ClientFrame::Typing);
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
    // Told to the other tabs by the outbox's save (its retry count). What storage knows of it
    // first: a tab that missed a retry and a refusal made elsewhere counts from the last try.
    let on_retry = {
        let (state, store, me) = (state.clone(), props.store.clone(), props.me.clone());
        Callback::from(move |id: String| {
            state.dispatch(Action::Adopt(store.load_outbox(&me.room, &me.nick)));
            state.dispatch(Action::Retry(id))
        })
    };
    let on_delete = {
        let (state, store, me) = (state.clone(), props.store.clone(), props.me.clone());
        Callback::from(move |id: String| {
            store.note_deleted(&me.room, &me.nick, &id);
            state.dispatch(Action::Delete(id))
        })
    };
    // The page before the oldest message shown (the server pages its history, v3).
    // Not while a hole is being fetched (paced, above): the same page would be asked twice.
    let fetching = state.hole_after.is_some();
    // One page asked for at a time: a quick second click (or six) would ask again, each a
    // frame against the flood guard. The cell for clicks within one task, the state for the
    // button; both forgotten at each welcome (an answer lost with its connection), when a page
    // comes (the oldest shown moves: the wait for its answer is over), and when no answer came
    // in OLDER_ANSWER_WAIT_MS (an answer lost on a connection that stayed up).
    {
        let (older_asked, older_waiting, older_lost) = (
            older_asked.clone(),
            older_waiting.clone(),
            older_lost.clone(),
        );
        use_effect_with((state.welcomed, state.older), move |_| {
            older_asked.borrow_mut().take();
            older_waiting.set(None);
            older_lost.borrow_mut().take();
        });
    }
    let on_load_older = state
        .older
        .filter(|before| state.welcomed && !fetching && *older_waiting != Some(*before))
        .map(|before| {
            let (socket, asked, waiting, lost) = (
                socket.clone(),
                older_asked.clone(),
                older_waiting.clone(),
                older_lost.clone(),
            );
            Callback::from(move |()| {
                if *asked.borrow() == Some(before) {
                    return;
                }
                let shown = waiting.clone();
                if ask_page(&socket, before, &asked, &lost, move || shown.set(None)) {
                    waiting.set(Some(before));
                }
            })
        });

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
                    <MessageList entries={state.entries.clone()} pending={state.pending.clone()} me={props.me.nick.clone()}
                        unkept={unstored.borrow().clone()}
                        written={*written} {on_retry} {on_delete} {on_load_older} texts={t} />
                    <p class="typing" aria-live="polite">{ typing_line }</p>
                    if let Some(problem) = &state.problem {
                        <p role="alert" class="problem">{ problem }</p>
                    }
                    <Composer {on_text} {on_image} {on_typing} limits={state.limits} texts={t} />
                    <SketchPad {on_sketch} texts={t} />
                </section>
                { member_list(&state.members, &props.me.nick, t.members) }
            </div>
        </div>
    }
}

/// A pending upload: the header gets the message id, then the frame is built once.
/// `name`: an image's file name (a sketch has none).
fn upload(header: UploadHeader, payload: &[u8], name: String) -> Pending {
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
        UploadHeader::Image { .. } => PendingBody::Image { name, frame },
        UploadHeader::Sketch { .. } => PendingBody::Sketch { frame },
    };
    Pending::new(id, body)
}
