//! The log: messages (text always as text), images, sketches, system lines, and my pending
//! messages at the end, each marked "pending" until acknowledged.

use crate::i18n::Texts;
use crate::state::{Entry, Pending};
use heartline_protocol::{from_base64, Body, ChatMessage};
use js_sys::{Array, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};
use yew::prelude::*;

/// Props of [`MessageList`].
#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    /// Log entries.
    pub entries: Vec<Entry>,
    /// My pending messages.
    pub pending: Vec<Pending>,
    /// My nickname.
    pub me: String,
    /// Send a refused message again (its id).
    pub on_retry: Callback<String>,
    /// Drop a refused message (its id).
    pub on_delete: Callback<String>,
    /// UI strings.
    pub texts: &'static Texts,
}

fn time_of(ts: u64) -> String {
    let date = js_sys::Date::new(&(ts as f64).into());
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// The message log (`role="log"`), kept scrolled to the newest line.
#[function_component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    {
        let list = list.clone();
        let count = props.entries.len() + props.pending.len();
        use_effect_with(count, move |_| {
            if let Some(element) = list.cast::<web_sys::Element>() {
                element.set_scroll_top(element.scroll_height());
            }
        });
    }
    let t = props.texts;
    html! {
        <ol class="log" role="log" aria-label={t.messages} aria-live="polite" ref={list}>
            { for props.entries.iter().map(|entry| match entry {
                Entry::System(line) => html! { <li class="system">{ line }</li> },
                Entry::Message(message) => html! { <MessageItem message={message.clone()} mine={message.from == props.me} /> },
            }) }
            { for props.pending.iter().map(|pending| {
                if let Some(why) = &pending.failed {
                    let id = pending.client_msg_id.clone();
                    let retry = props.on_retry.reform({ let id = id.clone(); move |_: MouseEvent| id.clone() });
                    let delete = props.on_delete.reform(move |_: MouseEvent| id.clone());
                    let state = format!("{}: {why}", t.not_sent);
                    return html! {
                        <li class="message mine failed" aria-label={format!("{}: {} ({state})", props.me, pending.preview())}>
                            <span class="text">{ pending.preview() }</span>
                            <span class="meta" role="note">{ state }</span>
                            <button type="button" onclick={retry}>{ t.retry }</button>
                            <button type="button" onclick={delete}>{ t.delete }</button>
                        </li>
                    };
                }
                let state = if pending.acked.is_some() { t.sent } else { t.pending };
                html! {
                    <li class="message mine pending" aria-label={format!("{}: {} ({state})", props.me, pending.preview())}>
                        <span class="text">{ pending.preview() }</span>
                        <span class="meta">{ state }</span>
                    </li>
                }
            }) }
        </ol>
    }
}

#[derive(Properties, PartialEq)]
struct MessageItemProps {
    message: Rc<ChatMessage>,
    mine: bool,
}

#[function_component]
fn MessageItem(props: &MessageItemProps) -> Html {
    let message = &props.message;
    let body = match &message.body {
        // Yew renders strings as text nodes: no markup from a message is ever interpreted.
        Body::Text { text } => html! { <span class="text">{ text }</span> },
        Body::Image { mime, data } => {
            html! { <ImageView mime={mime.clone()} data={data.clone()} /> }
        }
        Body::Sketch {
            width,
            height,
            data,
        } => html! { <SketchView width={*width} height={*height} data={data.clone()} /> },
    };
    html! {
        <li class={classes!("message", props.mine.then_some("mine"))} data-seq={message.seq.to_string()}>
            <span class="from">{ &message.from }</span>
            { body }
            <time class="meta">{ time_of(message.ts) }</time>
        </li>
    }
}

#[derive(Properties, PartialEq)]
struct ImageProps {
    mime: String,
    data: String,
}

/// An image from a message, shown through an object URL that is revoked when it leaves the page.
#[function_component]
fn ImageView(props: &ImageProps) -> Html {
    let url = use_state(|| None::<String>);
    {
        let url = url.clone();
        use_effect_with(
            (props.mime.clone(), props.data.clone()),
            move |(mime, data)| {
                let made = from_base64(data).and_then(|bytes| {
                    let parts = Array::of1(&Uint8Array::from(&bytes[..]));
                    let options = web_sys::BlobPropertyBag::new();
                    options.set_type(mime);
                    let blob =
                        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
                            .ok()?;
                    web_sys::Url::create_object_url_with_blob(&blob).ok()
                });
                url.set(made.clone());
                move || {
                    if let Some(made) = made {
                        let _ = web_sys::Url::revoke_object_url(&made);
                    }
                }
            },
        );
    }
    match &*url {
        Some(src) => html! { <img class="picture" src={src.clone()} alt="image" /> },
        None => html! { <span class="text">{ "[image could not be shown]" }</span> },
    }
}

#[derive(Properties, PartialEq)]
struct SketchProps {
    width: u32,
    height: u32,
    data: String,
}

/// A sketch, drawn from its RGBA pixels onto a canvas.
#[function_component]
fn SketchView(props: &SketchProps) -> Html {
    let canvas = use_node_ref();
    {
        let canvas = canvas.clone();
        use_effect_with(
            (props.width, props.height, props.data.clone()),
            move |(width, height, data)| {
                let drawn = (|| {
                    let canvas: HtmlCanvasElement = canvas.cast()?;
                    let context: CanvasRenderingContext2d =
                        canvas.get_context("2d").ok()??.dyn_into().ok()?;
                    let pixels = from_base64(data)?;
                    let image = ImageData::new_with_u8_clamped_array_and_sh(
                        Clamped(&pixels),
                        *width,
                        *height,
                    )
                    .ok()?;
                    context.put_image_data(&image, 0.0, 0.0).ok()
                })();
                if drawn.is_none() {
                    web_sys::console::warn_1(&"a sketch could not be drawn".into());
                }
            },
        );
    }
    html! {
        <canvas class="sketch" ref={canvas} width={props.width.to_string()} height={props.height.to_string()} role="img" aria-label="sketch" />
    }
}
