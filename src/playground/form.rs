//! The connect form: URL, sub-protocols, binary type, heartbeat and reconnect settings, checked
//! and turned into a [`Config`] before anything is opened.

use heartline::{BinaryType, Config, Heartbeat};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

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

/// What the form holds, as typed.
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
    fn new(url: String) -> Self {
        Form {
            url,
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
        }
    }

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

/// Props of [`ConnectForm`].
#[derive(Properties, PartialEq)]
pub struct ConnectFormProps {
    /// The URL the form starts with.
    pub default_url: AttrValue,
    /// Connect with this configuration (and the URL as typed, for the event log).
    pub on_connect: Callback<(Config, String)>,
    /// The form does not make a configuration: why.
    pub on_problem: Callback<String>,
}

/// The connect form.
#[function_component]
pub fn ConnectForm(props: &ConnectFormProps) -> Html {
    let form = use_state(|| Form::new(props.default_url.to_string()));
    let onsubmit = {
        let (form, on_connect, on_problem) = (
            form.clone(),
            props.on_connect.clone(),
            props.on_problem.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            match form.config() {
                Ok(config) => on_connect.emit((config, form.url.trim().to_string())),
                Err(message) => on_problem.emit(message),
            }
        })
    };
    let field = |update: fn(&mut Form, String)| {
        let form = form.clone();
        Callback::from(move |event: InputEvent| {
            let mut next = (*form).clone();
            update(
                &mut next,
                event.target_unchecked_into::<HtmlInputElement>().value(),
            );
            form.set(next);
        })
    };
    let check = |update: fn(&mut Form, bool)| {
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
    html! {
        <form class="connect" {onsubmit}>
            <label for="pg-url">{ "URL" }</label>
            <input id="pg-url" value={form.url.clone()} oninput={field(|f, v| f.url = v)} />
            <label for="pg-protocols">{ "Sub-protocols" }</label>
            <input id="pg-protocols" value={form.protocols.clone()} oninput={field(|f, v| f.protocols = v)} placeholder="chat.v1, chat.v2" />
            <label for="pg-binary">{ "Binary type" }</label>
            <select id="pg-binary" onchange={on_binary_type}>
                <option value="arraybuffer" selected={!form.blob}>{ "arraybuffer" }</option>
                <option value="blob" selected={form.blob}>{ "blob" }</option>
            </select>
            <fieldset>
                <legend>{ "Heartbeat" }</legend>
                <label><input type="checkbox" checked={form.heartbeat} onchange={check(|f, v| f.heartbeat = v)} />{ " on" }</label>
                <label for="pg-ping">{ "Message" }</label>
                <input id="pg-ping" value={form.ping.clone()} oninput={field(|f, v| f.ping = v)} />
                <label for="pg-interval">{ "Interval (ms)" }</label>
                <input id="pg-interval" inputmode="numeric" value={form.interval.clone()} oninput={field(|f, v| f.interval = v)} />
                <label for="pg-timeout">{ "Pong timeout (ms)" }</label>
                <input id="pg-timeout" inputmode="numeric" value={form.timeout.clone()} oninput={field(|f, v| f.timeout = v)} />
            </fieldset>
            <fieldset>
                <legend>{ "Reconnect" }</legend>
                <label><input type="checkbox" checked={form.reconnect} onchange={check(|f, v| f.reconnect = v)} />{ " on" }</label>
                <label for="pg-min">{ "Min delay (ms)" }</label>
                <input id="pg-min" inputmode="numeric" value={form.min_delay.clone()} oninput={field(|f, v| f.min_delay = v)} />
                <label for="pg-max">{ "Max delay (ms)" }</label>
                <input id="pg-max" inputmode="numeric" value={form.max_delay.clone()} oninput={field(|f, v| f.max_delay = v)} />
                <label for="pg-retries">{ "Max retries" }</label>
                <input id="pg-retries" inputmode="numeric" value={form.retries.clone()} oninput={field(|f, v| f.retries = v)} placeholder="unlimited" />
            </fieldset>
            <button type="submit">{ "Connect" }</button>
        </form>
    }
}
