//! The connection, honestly: ready state in words, heartbeat RTT, reconnect countdown, the last
//! close with code, name and meaning, and the Disconnect / Reconnect now buttons.

use crate::i18n::Texts;
use gloo_timers::callback::Interval;
use heartline::{CloseInfo, Status};
use heartline_protocol::AppCloseCode;
use yew::prelude::*;

/// Props of [`ConnectionBar`].
#[derive(Properties, PartialEq)]
pub struct ConnectionBarProps {
    /// The connection's status.
    pub status: Status,
    /// Joined the room on this connection.
    pub welcomed: bool,
    /// Last heartbeat round trip, ms.
    pub rtt_ms: Option<u64>,
    /// How the last connection ended.
    pub last_close: Option<CloseInfo>,
    /// Disconnect (stays disconnected).
    pub on_disconnect: Callback<()>,
    /// Reconnect now.
    pub on_reconnect: Callback<()>,
    /// UI strings.
    pub texts: &'static Texts,
}

/// The name and meaning of a close code: the app's own 4xxx codes first, then the standard
/// table; the standard meanings in Chinese when `zh`.
pub fn describe_close(close: &CloseInfo, t: &Texts) -> (&'static str, &'static str) {
    match AppCloseCode::find(close.code) {
        Some(app) => (app.name, t.app_close_meaning(&app)),
        None if t.zh => (close.code_name(), close.close_code().meaning_zh()),
        None => (close.code_name(), close.close_code().meaning()),
    }
}

/// The connection bar.
#[function_component]
pub fn ConnectionBar(props: &ConnectionBarProps) -> Html {
    // The library's monotonic clock, the one `next_at_ms` is on.
    let now = use_state(|| heartline::now_ms() as f64);
    // Ticks only while a reconnect is scheduled, for the countdown.
    {
        let now = now.clone();
        let waiting = matches!(props.status, Status::Reconnecting { .. });
        use_effect_with(waiting, move |waiting| {
            now.set(heartline::now_ms() as f64);
            let ticker = waiting.then(|| {
                let now = now.clone();
                Interval::new(250, move || now.set(heartline::now_ms() as f64))
            });
            move || drop(ticker)
        });
    }
    let t = props.texts;
    let words = match props.status {
        Status::Connecting { attempt: 0 } => t.connecting.to_string(),
        Status::Connecting { attempt } => format!("{} ({} {attempt})", t.connecting, t.attempt),
        Status::Open if !props.welcomed => t.joining.to_string(),
        Status::Open => t.connected.to_string(),
        Status::Reconnecting { attempt, .. } => {
            format!("{}, {} {attempt}", t.reconnecting, t.attempt)
        }
        Status::Stopped | Status::Paused => t.disconnected.to_string(),
        Status::Offline => t.offline.to_string(),
        Status::Failed | Status::Unreachable { .. } => t.failed.to_string(),
        Status::Closing => t.closing.to_string(),
        Status::Closed => t.closed.to_string(),
    };
    let state = html! {
        <>
            { words }
            <span class="ready-state">{ format!(" · readyState {}", props.status.ready_state()) }</span>
        </>
    };
    // Literal classes only: a computed one links Yew's `Classes` set. The same `p` element
    // either way (Yew patches its class), so the live region is not replaced.
    let state = match props.status {
        Status::Open => html! { <p role="status" class="state ok">{ state }</p> },
        Status::Connecting { .. } | Status::Reconnecting { .. } | Status::Closing => {
            html! { <p role="status" class="state warn">{ state }</p> }
        }
        _ => html! { <p role="status" class="state bad">{ state }</p> },
    };
    // Outside the status region: a screen reader would read the whole status again at every
    // tick of it.
    let countdown = match props.status {
        Status::Reconnecting { next_at_ms, .. } => {
            // Tenths of a second in integers: formatting an f64 would link core's float
            // printing (about 15 KiB of wasm) for this one number.
            let tenths = ((next_at_ms as f64 - *now).max(0.0) / 100.0).round() as u64;
            Some(format!(
                "{} {}.{} s",
                t.reconnecting_in,
                tenths / 10,
                tenths % 10
            ))
        }
        _ => None,
    };
    let can_disconnect = !matches!(props.status, Status::Stopped | Status::Closing);
    let can_reconnect = !matches!(
        props.status,
        Status::Open | Status::Connecting { .. } | Status::Closing
    );
    let disconnect = props.on_disconnect.reform(|_: MouseEvent| ());
    let reconnect = props.on_reconnect.reform(|_: MouseEvent| ());
    html! {
        <section class="connection" aria-label="Connection">
            { state }
            if let Some(countdown) = countdown {
                <p class="countdown">{ countdown }</p>
            }
            if let Some(rtt) = props.rtt_ms {
                <p class="rtt">{ format!("{} {rtt} ms", t.rtt) }</p>
            }
            if let Some(close) = &props.last_close {
                <p class="last-close">
                    {{
                        let (name, meaning) = describe_close(close, t);
                        format!("{}: {} {name} — {meaning}", t.last_close, close.code)
                    }}
                    if !close.reason.is_empty() { { format!(" ({})", close.reason) } }
                </p>
            }
            <div class="actions">
                <button type="button" onclick={disconnect} disabled={!can_disconnect}>{ t.disconnect }</button>
                <button type="button" onclick={reconnect} disabled={!can_reconnect}>{ t.reconnect_now }</button>
            </div>
        </section>
    }
}
