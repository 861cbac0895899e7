//! The logs: frames (filtered, the last [`SHOWN`] drawn, cleared, exported as JSON) and events.

use super::log::{Direction, Filter, FrameEntry, FRAME_CAP};
use super::{PlaygroundAction, PlaygroundState};
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Frames drawn at once; the rest are kept (up to the cap) and exported.
pub const SHOWN: usize = 300;

/// `hh:mm:ss.mmm` of a time in ms since the epoch, local time.
fn time_of_day(at_ms: f64) -> String {
    let date = js_sys::Date::new(&at_ms.into());
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}

/// Props of [`Logs`].
#[derive(Properties, PartialEq)]
pub struct LogsProps {
    /// The playground's state (frames and events), and where to send "clear".
    pub state: UseReducerHandle<PlaygroundState>,
}

/// The frame log with its filters, and the event log.
#[function_component]
pub fn Logs(props: &LogsProps) -> Html {
    let state = &props.state;
    let filter = use_state(Filter::default);
    let select = |update: fn(&mut Filter, &str)| {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let mut next = *filter;
            update(
                &mut next,
                &event.target_unchecked_into::<HtmlSelectElement>().value(),
            );
            filter.set(next);
        })
    };
    let on_direction = select(|filter, value| {
        filter.direction = match value {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    });
    let on_type = select(|filter, value| {
        filter.binary = match value {
            "text" => Some(false),
            "binary" => Some(true),
            _ => None,
        }
    });
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
    let export = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| download("frames.json", &state.frames.export()))
    };
    let clear = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(PlaygroundAction::ClearFrames))
    };

    let visible: Vec<&FrameEntry> = state
        .frames
        .entries
        .iter()
        .filter(|e| filter.accepts(e))
        .collect();
    let hidden = visible.len().saturating_sub(SHOWN);
    html! {
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
                    <p class="note">{ format!("Showing the last {SHOWN} of {} matching frames; {} older frames were dropped (the log keeps {FRAME_CAP}).", visible.len(), state.frames.dropped) }</p>
                }
                <ol class="frames" role="log" aria-label="Frames">
                    { for visible.iter().skip(hidden).map(|entry| html! {
                        <li class={classes!(if entry.direction == Direction::In { "in" } else { "out" }, entry.heartbeat.then_some("heartbeat"))}>
                            <span class="dir">{ if entry.direction == Direction::In { "↓ in" } else { "↑ out" } }</span>
                            <span class="kind">{ format!("{}{}", entry.kind, if entry.heartbeat { " ♥ heartbeat" } else { "" }) }</span>
                            <span class="size">{ format!("{} B", entry.size) }</span>
                            <time>{ time_of_day(entry.at_ms) }</time>
                            <code class="preview">{ &entry.preview }</code>
                        </li>
                    }) }
                </ol>
            </div>
            <div>
                <h2>{ "Events" }</h2>
                <ol class="events" role="log" aria-label="Events">
                    { for state.events.iter().map(|event| html! { <li><time>{ time_of_day(event.at_ms) }</time>{ " " }{ &event.text }</li> }) }
                </ol>
            </div>
        </section>
    }
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
