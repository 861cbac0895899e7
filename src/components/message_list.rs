//! The log: messages (text always as text), images, sketches, system lines, and my pending
//! messages at the end, each marked "pending" until acknowledged.

use crate::i18n::Texts;
use crate::state::{Entry, Pending};
use heartline_protocol::{Body, ChatMessage};
use std::rc::Rc;
use yew::prelude::*;

/// Props of [`MessageList`].
#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    /// Log entries.
    pub entries: Vec<Entry>,
    /// My pending messages.
    pub pending: Vec<Pending>,
    /// The ids of those localStorage does not hold (past the browser's quota): lost if the
    /// page is reloaded, as an upload over the stored bound is.
    #[prop_or_default]
    pub unkept: Vec<String>,
    /// My nickname.
    pub me: String,
    /// Send a refused message again (its id).
    pub on_retry: Callback<String>,
    /// Drop a refused message (its id).
    pub on_delete: Callback<String>,
    /// Ask for the page of history before the oldest message shown; `None` when the server
    /// keeps nothing older (or the connection is not up).
    #[prop_or_default]
    pub on_load_older: Option<Callback<()>>,
    /// How many messages this person wrote in this page: the log shows each new one.
    #[prop_or_default]
    pub written: u32,
    /// UI strings.
    pub texts: &'static Texts,
}

fn time_of(ts: u64) -> String {
    let date = js_sys::Date::new(&(ts as f64).into());
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// How close to the end (in pixels) still counts as reading the newest lines.
const AT_END_PX: i32 = 16;

/// The message log (`role="log"`): it follows the newest line while the reader is at the end,
/// and stays where the reader scrolled to otherwise (older pages loaded above, new messages
/// below; the browser's scroll anchoring keeps the lines in view still).
#[function_component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    let following = use_mut_ref(|| true);
    // What the reader just wrote is shown, wherever they had scrolled to (not what another of
    // their tabs wrote, taken from storage).
    let written_seen = use_mut_ref(|| props.written);
    if props.written != *written_seen.borrow() {
        *following.borrow_mut() = true;
        *written_seen.borrow_mut() = props.written;
    }
    {
        let (list, following) = (list.clone(), following.clone());
        let count = props.entries.len() + props.pending.len();
        use_effect_with(count, move |_| {
            if let Some(element) = list.cast::<web_sys::Element>() {
                if *following.borrow() {
                    element.set_scroll_top(element.scroll_height());
                }
            }
        });
    }
    let on_scroll = {
        let (list, following) = (list.clone(), following.clone());
        Callback::from(move |_: Event| {
            if let Some(element) = list.cast::<web_sys::Element>() {
                let end = element.scroll_top() + element.client_height();
                *following.borrow_mut() = end >= element.scroll_height() - AT_END_PX;
            }
        })
    };
    let t = props.texts;
    html! {
        // The log region holds the list, so the list keeps its own role (a count and list
        // navigation for screen readers).
        <div class="log-region" role="log" aria-label={t.messages} aria-live="polite">
        <ol class="log" ref={list} onscroll={on_scroll}>
            if let Some(load) = &props.on_load_older {
                <li class="older">
                    <button type="button" onclick={load.reform(|_: MouseEvent| ())}>{ t.load_older }</button>
                </li>
            }
            { for props.entries.iter().map(|entry| match entry {
                Entry::System(line) => html! { <li class="system">{ line }</li> },
                Entry::Message(message) => html! { <MessageItem message={message.clone()} mine={message.from == props.me} texts={t} /> },
            }) }
            { for props.pending.iter().map(|pending| {
                let preview = pending.preview(t).into_owned();
                if let Some(why) = &pending.failed {
                    let id = pending.client_msg_id.clone();
                    let retry = props.on_retry.reform({ let id = id.clone(); move |_: MouseEvent| id.clone() });
                    let delete = props.on_delete.reform(move |_: MouseEvent| id.clone());
                    let state = format!("{}: {why}", t.not_sent);
                    return html! {
                        <li class="message mine failed" aria-label={format!("{}: {preview} ({state})", props.me)}>
                            <span class="text">{ preview }</span>
                            <span class="meta" role="note">{ state }</span>
                            <button type="button" onclick={retry}>{ t.retry }</button>
                            <button type="button" onclick={delete}>{ t.delete }</button>
                        </li>
                    };
                }
                // A message localStorage does not hold (too large, or past the quota) lives in
                // this page only.
                let state = if pending.acked.is_some() {
                    t.sent
                } else if pending.persistable() && !props.unkept.contains(&pending.client_msg_id) {
                    t.pending
                } else {
                    t.pending_unkept
                };
                html! {
                    <li class="message mine pending" aria-label={format!("{}: {preview} ({state})", props.me)}>
                        <span class="text">{ preview }</span>
                        <span class="meta">{ state }</span>
                    </li>
                }
            }) }
        </ol>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct MessageItemProps {
    message: Rc<ChatMessage>,
    mine: bool,
    texts: &'static Texts,
}

#[function_component]
fn MessageItem(props: &MessageItemProps) -> Html {
    let message = &props.message;
    // A picture that did not load (the server keeps a bounded store and drops the oldest, or
    // it is unreachable, or the file is not one the browser can show): said in words, the
    // broken image hidden. Kept by its URL: the list is not keyed, so this component may show
    // another message after the next render.
    let failed = use_state(|| None::<String>);
    let url = match &message.body {
        Body::Image { url, .. } | Body::Sketch { url, .. } => Some(url.clone()),
        Body::Text { .. } => None,
    };
    let gone = url.is_some() && *failed == url;
    let on_error = {
        let failed = failed.clone();
        Callback::from(move |_: Event| failed.set(url.clone()))
    };
    let note = gone.then(|| {
        html! { <span class="picture-gone" role="note">{ props.texts.picture_gone }</span> }
    });
    let body = match &message.body {
        // Yew renders strings as text nodes: no markup from a message is ever interpreted.
        Body::Text { text } => html! { <span class="text">{ text }</span> },
        // Pictures come over HTTP from the chat server that served this page (`/media/<id>`),
        // so the browser's cache keeps them; their URLs never change content.
        Body::Image { url, .. } => html! {
            <>
                <img class="picture" src={url.clone()} alt="image" loading="lazy" onerror={on_error} hidden={gone} />
                { note }
            </>
        },
        Body::Sketch { width, height, url } => html! {
            <>
                <img class="sketch" src={url.clone()} width={width.to_string()} height={height.to_string()}
                    alt="sketch" loading="lazy" onerror={on_error} hidden={gone} />
                { note }
            </>
        },
    };
    let seq = message.seq.to_string();
    let parts = html! {
        <>
            <span class="from">{ &message.from }</span>
            { body }
            <time class="meta">{ time_of(message.ts) }</time>
        </>
    };
    // Literal classes only: a computed one links Yew's `Classes` set.
    if props.mine {
        html! { <li class="message mine" data-seq={seq}>{ parts }</li> }
    } else {
        html! { <li class="message" data-seq={seq}>{ parts }</li> }
    }
}
