//! The playground (`/playground`): point Heartline at any ws:// or wss:// server and see every
//! part of the API live — ready states, events, frames both ways, close codes.

pub mod log;

use heartline::{
    BinaryType, CloseInfo, Config, Event as SocketEvent, Heartbeat, Heartline, Inbound, Notice,
    Outgoing, Status,
};
use js_sys::Uint8Array;
use log::{
    check_json, hex_preview, parse_hex, Direction, EventEntry, Filter, FrameEntry, FrameLog,
};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Frames shown at once; the rest are kept (up to the cap) and exported.
const SHOWN: usize = 300;
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

fn frame(
    direction: Direction,
    binary: bool,
    size: usize,
    preview: String,
    kind: &'static str,
    heartbeat: bool,
) -> FrameEntry {
    FrameEntry {
        direction,
        binary,
        size,
        at_ms: js_sys::Date::now(),
        preview,
        heartbeat,
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

fn input_value(event: &InputEvent) -> String {
    event.target_unchecked_into::<HtmlInputElement>().value()
}

/// The default URL: this server's echo endpoint.
fn default_url() -> String {
    crate::app::socket_url_for_page("/echo")
}

/// Checks a URL before anything is opened.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = web_sys::Url::new(url)
        .map_err(|_| format!("{url:?} is not a URL; try ws://host:port/path"))?;
    match parsed.protocol().as_str() {
        "ws:" | "wss:" => Ok(()),
        other => Err(format!(
            "{url:?} uses {other}; a WebSocket URL starts with ws:// or wss://"
        )),
    }
}

#[derive(Clone, PartialEq)]
struct Form {
    url: String,
    protocols: String,
    blob: bool,
    heartbeat: bool,
    ping: String,
    interval: String,
    timeout: String,
    reconnect: bool,
    min_delay: String,
    max_delay: String,
    retries: String,
}

impl Form {
    fn config(&self) -> Result<Config, String> {
        check_url(self.url.trim())?;
        let number = |name: &str, text: &str| -> Result<u64, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{name} must be a whole number of ms, not {text:?}"))
        };
        let mut config = Config::new(self.url.trim())
            .with_protocols(
                self.protocols
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty()),
            )
            .with_binary_type(if self.blob {
                BinaryType::Blob
            } else {
                BinaryType::ArrayBuffer
            })
            .with_reconnect(self.reconnect);
        config = if self.heartbeat {
            config.with_heartbeat(Some(Heartbeat {
                message: self.ping.clone(),
                interval_ms: number("Heartbeat interval", &self.interval)?,
                pong_timeout_ms: number("Pong timeout", &self.timeout)?,
                ..Heartbeat::default()
            }))
        } else {
            config.with_heartbeat(None)
        };
        let (min, max) = (
            number("Min delay", &self.min_delay)?,
            number("Max delay", &self.max_delay)?,
        );
        config = config.with_reconnect_delays(min, max, 2.0);
        let retries = match self.retries.trim() {
            "" => None,
            text => Some(text.parse().map_err(|_| {
                format!("Max retries must be a whole number or empty, not {text:?}")
            })?),
        };
        Ok(config.with_max_retries(retries))
    }
}

/// The playground page.
#[function_component]
pub fn Playground() -> Html {
    let state = use_reducer(PlaygroundState::default);
    let socket: Rc<RefCell<Option<Heartline>>> = use_mut_ref(|| None);
    let form = use_state(|| Form {
        url: default_url(),
        protocols: String::new(),
        blob: false,
        heartbeat: true,
        ping: "ping".into(),
        interval: "5000".into(),
        timeout: "3000".into(),
        reconnect: true,
        min_delay: "1000".into(),
        max_delay: "10000".into(),
        retries: String::new(),
    });
    let problem = use_state(|| None::<String>);
    let filter = use_state(Filter::default);
    let text = use_state(|| "hello".to_string());
    let json = use_state(|| "{\"hello\": \"world\"}".to_string());
    let hex = use_state(|| "de ad be ef".to_string());
    let close_code = use_state(|| "1000".to_string());
    let close_reason = use_state(String::new);

    // Drop the connection (closing it) when the page goes away.
    {
        let socket = socket.clone();
        use_effect_with((), move |_| move || drop(socket.borrow_mut().take()));
    }

    let on_connect = {
        let (state, socket, form, problem) =
            (state.clone(), socket.clone(), form.clone(), problem.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let config = match form.config() {
                Ok(config) => config,
                Err(message) => {
                    problem.set(Some(message));
                    return;
                }
            };
            problem.set(None);
            // The old connection (if any) closes as it drops.
            drop(socket.borrow_mut().take());
            let heartbeat_text = config
                .heartbeat
                .as_ref()
                .map(|h| h.message.clone())
                .unwrap_or_default();
            let dispatch = state.dispatcher();
            state.dispatch(PlaygroundAction::Event(format!(
                "new WebSocket({:?})",
                form.url.trim()
            )));
            let connection = Heartline::connect(config, move |notice| {
                handle_notice(&dispatch, &heartbeat_text, notice)
            });
            *socket.borrow_mut() = Some(connection);
        })
    };

    let send = {
        let (state, socket, problem) = (state.clone(), socket.clone(), problem.clone());
        Rc::new(move |payload: Outgoing, entry: FrameEntry| {
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
    let send_text = {
        let (send, text) = (send.clone(), text.clone());
        Callback::from(move |_: MouseEvent| {
            let entry = frame(
                Direction::Out,
                false,
                text.len(),
                (*text).clone(),
                "text",
                false,
            );
            send(Outgoing::Text((*text).clone()), entry);
        })
    };
    let send_json = {
        let (send, json, problem) = (send.clone(), json.clone(), problem.clone());
        Callback::from(move |_: MouseEvent| match check_json(&json) {
            Ok(compact) => send(
                Outgoing::Text(compact.clone()),
                frame(Direction::Out, false, compact.len(), compact, "JSON", false),
            ),
            Err(message) => problem.set(Some(message)),
        })
    };
    let send_hex = {
        let (send, hex, problem) = (send.clone(), hex.clone(), problem.clone());
        Callback::from(move |_: MouseEvent| match parse_hex(&hex) {
            Ok(bytes) => {
                let entry = frame(
                    Direction::Out,
                    true,
                    bytes.len(),
                    hex_preview(&bytes),
                    "bytes",
                    false,
                );
                send(Outgoing::Bytes(bytes), entry);
            }
            Err(message) => problem.set(Some(message)),
        })
    };
    let send_file = {
        let send = send.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                let size = file.size() as usize;
                let entry = frame(
                    Direction::Out,
                    true,
                    size,
                    format!("File {:?} ({})", file.name(), file.type_()),
                    "Blob",
                    false,
                );
                let blob: &web_sys::Blob = &file;
                send(Outgoing::Blob(blob.clone()), entry);
            }
            input.set_value("");
        })
    };
    let canvas = use_node_ref();
    {
        let canvas = canvas.clone();
        use_effect_with((), move |_| {
            let context = canvas
                .cast::<HtmlCanvasElement>()
                .and_then(|c| c.get_context("2d").ok().flatten())
                .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok());
            if let Some(context) = context {
                for (i, colour) in ["#d6336c", "#f59f00", "#37b24d", "#1c7ed6"]
                    .iter()
                    .enumerate()
                {
                    context.set_fill_style_str(colour);
                    context.fill_rect(i as f64 * 8.0, 0.0, 8.0, 16.0);
                }
            }
        });
    }
    let send_canvas = {
        let (send, canvas) = (send.clone(), canvas.clone());
        Callback::from(move |_: MouseEvent| {
            let image = canvas
                .cast::<HtmlCanvasElement>()
                .and_then(|c| c.get_context("2d").ok().flatten())
                .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
                .and_then(|c| c.get_image_data(0.0, 0.0, 32.0, 16.0).ok());
            if let Some(image) = image {
                let pixels = image.data().0;
                let entry = frame(
                    Direction::Out,
                    true,
                    pixels.len(),
                    hex_preview(&pixels),
                    "ArrayBuffer",
                    false,
                );
                send(
                    Outgoing::ArrayBuffer(Uint8Array::from(&pixels[..]).buffer()),
                    entry,
                );
            }
        })
    };
    let on_close = {
        let (socket, close_code, close_reason, problem, state) = (
            socket.clone(),
            close_code.clone(),
            close_reason.clone(),
            problem.clone(),
            state.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let Ok(code) = close_code.trim().parse::<u16>() else {
                problem.set(Some(format!(
                    "close code {:?} is not a number; use 1000 or 3000–4999",
                    *close_code
                )));
                return;
            };
            let result = match &*socket.borrow() {
                Some(socket) => socket.close(code, &close_reason),
                None => {
                    problem.set(Some("connect first".into()));
                    return;
                }
            };
            match result {
                Ok(()) => {
                    problem.set(None);
                    state.dispatch(PlaygroundAction::Event(format!(
                        "close({code}, {:?}) requested",
                        *close_reason
                    )));
                }
                Err(error) => problem.set(Some(format!("refused: {error}"))),
            }
        })
    };
    let export = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| download("frames.json", &state.frames.export()))
    };
    let clear = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(PlaygroundAction::ClearFrames))
    };

    let set = |handle: &UseStateHandle<String>| {
        let handle = handle.clone();
        Callback::from(move |event: InputEvent| handle.set(input_value(&event)))
    };
    let form_field = |update: fn(&mut Form, String)| {
        let form = form.clone();
        Callback::from(move |event: InputEvent| {
            let mut next = (*form).clone();
            update(&mut next, input_value(&event));
            form.set(next);
        })
    };
    let form_check = |update: fn(&mut Form, bool)| {
        let form = form.clone();
        Callback::from(move |event: Event| {
            let mut next = (*form).clone();
            update(
                &mut next,
                event.target_unchecked_into::<HtmlInputElement>().checked(),
            );
            form.set(next);
        })
    };
    let on_binary_type = {
        let form = form.clone();
        Callback::from(move |event: Event| {
            let mut next = (*form).clone();
            next.blob = event.target_unchecked_into::<HtmlSelectElement>().value() == "blob";
            form.set(next);
        })
    };
    let on_direction = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlSelectElement>().value();
            let direction = match value.as_str() {
                "in" => Some(Direction::In),
                "out" => Some(Direction::Out),
                _ => None,
            };
            filter.set(Filter {
                direction,
                ..*filter
            });
        })
    };
    let on_type = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlSelectElement>().value();
            let binary = match value.as_str() {
                "text" => Some(false),
                "binary" => Some(true),
                _ => None,
            };
            filter.set(Filter { binary, ..*filter });
        })
    };
    let on_hide = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let hide_heartbeat = event.target_unchecked_into::<HtmlInputElement>().checked();
            filter.set(Filter {
                hide_heartbeat,
                ..*filter
            });
        })
    };

    let ready = state.status.map_or(3, |s| s.ready_state());
    let status_words = state
        .status
        .map_or("not connected".to_string(), |s| s.label().to_string());
    let visible: Vec<&FrameEntry> = state
        .frames
        .entries
        .iter()
        .filter(|e| filter.accepts(e))
        .collect();
    let hidden = visible.len().saturating_sub(SHOWN);
    let time = |at: f64| {
        let date = js_sys::Date::new(&at.into());
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            date.get_hours(),
            date.get_minutes(),
            date.get_seconds(),
            date.get_milliseconds()
        )
    };

    html! {
        <div class="playground">
            <form class="connect" onsubmit={on_connect}>
                <label for="pg-url">{ "URL" }</label>
                <input id="pg-url" value={form.url.clone()} oninput={form_field(|f, v| f.url = v)} />
                <label for="pg-protocols">{ "Sub-protocols" }</label>
                <input id="pg-protocols" value={form.protocols.clone()} oninput={form_field(|f, v| f.protocols = v)} placeholder="chat.v1, chat.v2" />
                <label for="pg-binary">{ "Binary type" }</label>
                <select id="pg-binary" onchange={on_binary_type}>
                    <option value="arraybuffer" selected={!form.blob}>{ "arraybuffer" }</option>
                    <option value="blob" selected={form.blob}>{ "blob" }</option>
                </select>
                <fieldset>
                    <legend>{ "Heartbeat" }</legend>
                    <label><input type="checkbox" checked={form.heartbeat} onchange={form_check(|f, v| f.heartbeat = v)} />{ " on" }</label>
                    <label for="pg-ping">{ "Message" }</label>
                    <input id="pg-ping" value={form.ping.clone()} oninput={form_field(|f, v| f.ping = v)} />
                    <label for="pg-interval">{ "Interval (ms)" }</label>
                    <input id="pg-interval" inputmode="numeric" value={form.interval.clone()} oninput={form_field(|f, v| f.interval = v)} />
                    <label for="pg-timeout">{ "Pong timeout (ms)" }</label>
                    <input id="pg-timeout" inputmode="numeric" value={form.timeout.clone()} oninput={form_field(|f, v| f.timeout = v)} />
                </fieldset>
                <fieldset>
                    <legend>{ "Reconnect" }</legend>
                    <label><input type="checkbox" checked={form.reconnect} onchange={form_check(|f, v| f.reconnect = v)} />{ " on" }</label>
                    <label for="pg-min">{ "Min delay (ms)" }</label>
                    <input id="pg-min" inputmode="numeric" value={form.min_delay.clone()} oninput={form_field(|f, v| f.min_delay = v)} />
                    <label for="pg-max">{ "Max delay (ms)" }</label>
                    <input id="pg-max" inputmode="numeric" value={form.max_delay.clone()} oninput={form_field(|f, v| f.max_delay = v)} />
                    <label for="pg-retries">{ "Max retries" }</label>
                    <input id="pg-retries" inputmode="numeric" value={form.retries.clone()} oninput={form_field(|f, v| f.retries = v)} placeholder="unlimited" />
                </fieldset>
                <button type="submit">{ "Connect" }</button>
            </form>

            <p class="ready" aria-label="Ready state">
                <strong>{ format!("{} {ready}", ready_state_name(ready)) }</strong>{ format!(" · {status_words}") }
            </p>
            if let Some(problem) = &*problem {
                <pre role="alert" class="problem">{ problem }</pre>
            }

            <section class="send" aria-label="Send">
                <div><label for="pg-text">{ "Text" }</label><input id="pg-text" value={(*text).clone()} oninput={set(&text)} />
                    <button type="button" onclick={send_text}>{ "Send text" }</button></div>
                <div><label for="pg-json">{ "JSON" }</label><textarea id="pg-json" value={(*json).clone()} oninput={{
                        let json = json.clone();
                        Callback::from(move |e: InputEvent| json.set(e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value()))
                    }} />
                    <button type="button" onclick={send_json}>{ "Send JSON" }</button></div>
                <div><label for="pg-hex">{ "Hex bytes" }</label><input id="pg-hex" value={(*hex).clone()} oninput={set(&hex)} />
                    <button type="button" onclick={send_hex}>{ "Send hex" }</button></div>
                <div><label for="pg-file">{ "File (sent as Blob)" }</label><input id="pg-file" type="file" onchange={send_file} /></div>
                <div><canvas ref={canvas} width="32" height="16" aria-label="Canvas" role="img" />
                    <button type="button" onclick={send_canvas}>{ "Send canvas (ArrayBuffer)" }</button></div>
            </section>

            <form class="close" onsubmit={on_close}>
                <label for="pg-code">{ "Close code" }</label>
                <input id="pg-code" inputmode="numeric" value={(*close_code).clone()} oninput={set(&close_code)} />
                <label for="pg-reason">{ "Close reason" }</label>
                <input id="pg-reason" value={(*close_reason).clone()} oninput={set(&close_reason)} />
                <button type="submit">{ "Close" }</button>
            </form>

            <section class="logs">
                <div>
                    <h2>{ "Frames" }</h2>
                    <div class="filters">
                        <label for="pg-dir">{ "Direction" }</label>
                        <select id="pg-dir" onchange={on_direction}>
                            <option value="all" selected={filter.direction.is_none()}>{ "all" }</option>
                            <option value="in" selected={filter.direction == Some(Direction::In)}>{ "in" }</option>
                            <option value="out" selected={filter.direction == Some(Direction::Out)}>{ "out" }</option>
                        </select>
                        <label for="pg-type">{ "Type" }</label>
                        <select id="pg-type" onchange={on_type}>
                            <option value="all" selected={filter.binary.is_none()}>{ "all" }</option>
                            <option value="text" selected={filter.binary == Some(false)}>{ "text" }</option>
                            <option value="binary" selected={filter.binary == Some(true)}>{ "binary" }</option>
                        </select>
                        <label><input type="checkbox" checked={filter.hide_heartbeat} onchange={on_hide} />{ " Hide heartbeats" }</label>
                        <button type="button" onclick={clear}>{ "Clear frames" }</button>
                        <button type="button" onclick={export}>{ "Export JSON" }</button>
                    </div>
                    if hidden > 0 || state.frames.dropped > 0 {
                        <p class="note">{ format!("Showing the last {SHOWN} of {} matching frames; {} older frames were dropped (the log keeps {}).", visible.len(), state.frames.dropped, log::FRAME_CAP) }</p>
                    }
                    <ol class="frames" role="log" aria-label="Frames">
                        { for visible.iter().skip(hidden).map(|entry| html! {
                            <li class={classes!(if entry.direction == Direction::In { "in" } else { "out" }, entry.heartbeat.then_some("heartbeat"))}>
                                <span class="dir">{ if entry.direction == Direction::In { "↓ in" } else { "↑ out" } }</span>
                                <span class="kind">{ format!("{}{}", entry.kind, if entry.heartbeat { " ♥ heartbeat" } else { "" }) }</span>
                                <span class="size">{ format!("{} B", entry.size) }</span>
                                <time>{ time(entry.at_ms) }</time>
                                <code class="preview">{ &entry.preview }</code>
                            </li>
                        }) }
                    </ol>
                </div>
                <div>
                    <h2>{ "Events" }</h2>
                    <ol class="events" role="log" aria-label="Events">
                        { for state.events.iter().map(|event| html! { <li><time>{ time(event.at_ms) }</time>{ " " }{ &event.text }</li> }) }
                    </ol>
                </div>
            </section>
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
        Notice::Message(Inbound::Text(text)) => PlaygroundAction::Frame(frame(
            Direction::In,
            false,
            text.len(),
            text.into(),
            "text",
            false,
        )),
        Notice::Message(Inbound::ArrayBuffer(buffer)) => {
            let bytes = Uint8Array::new(&buffer).to_vec();
            PlaygroundAction::Frame(frame(
                Direction::In,
                true,
                bytes.len(),
                hex_preview(&bytes),
                "ArrayBuffer",
                false,
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
                dispatch.dispatch(PlaygroundAction::Frame(frame(
                    Direction::In,
                    true,
                    size,
                    preview,
                    "Blob",
                    false,
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
        Notice::Event(SocketEvent::HeartbeatSent) => PlaygroundAction::Frame(frame(
            Direction::Out,
            false,
            heartbeat_text.len(),
            heartbeat_text.to_string(),
            "text",
            true,
        )),
        Notice::Event(SocketEvent::HeartbeatReply { rtt_ms }) => PlaygroundAction::Frame(frame(
            Direction::In,
            false,
            4,
            format!("pong (round trip {rtt_ms} ms)"),
            "text",
            true,
        )),
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
        Notice::Event(SocketEvent::SendFailed { error }) => {
            PlaygroundAction::Event(format!("the browser refused a frame: {error}"))
        }
        Notice::Role(role) => PlaygroundAction::Event(role.to_string()),
    };
    dispatch.dispatch(action);
}

/// Offers text as a file download.
fn download(name: &str, text: &str) {
    let made = (|| {
        let parts = js_sys::Array::of1(&text.into());
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/json");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
        let document = web_sys::window()?.document()?;
        let link: web_sys::HtmlAnchorElement =
            document.create_element("a").ok()?.dyn_into().ok()?;
        link.set_href(&url);
        link.set_download(name);
        link.click();
        // Revoke once the click has been handled.
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(1_000).await;
            let _ = web_sys::Url::revoke_object_url(&url);
        });
        Some(())
    })();
    if made.is_none() {
        web_sys::console::warn_1(&"export failed".into());
    }
}
