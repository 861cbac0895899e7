//! The Heartline chat app. Until the chat lands this is an echo panel on top of the
//! `heartline` hook: the connection's state, a composer, and the log of what came back.

use heartline::{use_heartline, Config, Event, Inbound, Notice, Status};
use yew::prelude::*;

/// The URL of this server's echo endpoint, derived from the page's own address.
pub fn echo_url_for_page() -> String {
    let location = web_sys::window().map(|window| window.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    format!("{}://{host}/echo", if secure { "wss" } else { "ws" })
}

/// Props of [`App`].
#[derive(Properties, PartialEq)]
pub struct AppProps {
    /// The echo endpoint to talk to.
    pub echo_url: AttrValue,
}

/// The root component.
#[function_component]
pub fn App(props: &AppProps) -> Html {
    let log = use_state(Vec::<String>::new);
    let draft = use_state(String::new);
    let error = use_state(|| None::<String>);
    let on_notice = {
        let log = log.clone();
        Callback::from(move |notice: Notice| {
            let line = match notice {
                Notice::Message(Inbound::Text(text)) => format!("← {text}"),
                Notice::Message(other) => format!("← binary, {} bytes", other.byte_len()),
                Notice::Event(Event::Closed(close)) => {
                    format!("closed: {} {}", close.code, close.code_name())
                }
                _ => return,
            };
            let mut lines = (*log).clone();
            lines.push(line);
            log.set(lines);
        })
    };
    let config = use_memo(props.echo_url.clone(), |url| Config::new(url.to_string()));
    let socket = use_heartline((*config).clone(), on_notice);

    let on_input = {
        let draft = draft.clone();
        Callback::from(move |event: InputEvent| {
            let input: web_sys::HtmlInputElement = event.target_unchecked_into();
            draft.set(input.value());
        })
    };
    let on_submit = {
        let (draft, socket, error) = (draft.clone(), socket.clone(), error.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if draft.trim().is_empty() {
                return;
            }
            match socket.send_text((*draft).clone()) {
                Ok(()) => {
                    draft.set(String::new());
                    error.set(None);
                }
                Err(problem) => error.set(Some(problem.to_string())),
            }
        })
    };
    let state = match socket.status {
        Status::Reconnecting { attempt, .. } => format!("Reconnecting (attempt {attempt})"),
        status => status.label().to_string(),
    };

    html! {
        <main>
            <h1>{ "Heartline" }</h1>
            <p role="status" aria-label="Connection">{ state }</p>
            <form onsubmit={on_submit}>
                <label for="message">{ "Message" }</label>
                <input id="message" value={(*draft).clone()} oninput={on_input} autocomplete="off" />
                <button type="submit">{ "Send" }</button>
            </form>
            if let Some(problem) = &*error {
                <p role="alert">{ problem }</p>
            }
            <div role="log" aria-label="Echo">
                { for log.iter().map(|line| html! { <div>{ line }</div> }) }
            </div>
        </main>
    }
}
