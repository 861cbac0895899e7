//! The composer: Enter sends, Shift+Enter adds a line; an image can be picked or pasted.

use crate::i18n::Texts;
use crate::storage::MESSAGE_ID_SHAPE;
use heartline_protocol::{say_frame_bytes, ServerLimits};
use web_sys::{File, HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

/// Props of [`Composer`].
#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// A text to send.
    pub on_text: Callback<String>,
    /// An image file to send.
    pub on_image: Callback<File>,
    /// The user is typing.
    pub on_typing: Callback<()>,
    /// The server's limits, once announced: a text over them is refused here, before sending.
    #[prop_or_default]
    pub limits: Option<ServerLimits>,
    /// UI strings.
    pub texts: &'static Texts,
}

/// The message box and its buttons.
#[function_component]
pub fn Composer(props: &ComposerProps) -> Html {
    let draft = use_state(String::new);
    let t = props.texts;
    // The frame's size as it will go on the wire (JSON escapes count), with the longest id.
    let size = say_frame_bytes(MESSAGE_ID_SHAPE, draft.trim());
    let too_large = props
        .limits
        .filter(|limits| size > limits.max_text_bytes)
        .map(|limits| t.too_large(size, limits.max_text_bytes));
    let near_limit = props
        .limits
        .filter(|limits| size * 10 > limits.max_text_bytes * 8)
        .map(|limits| format!("{size} / {} {}", limits.max_text_bytes, t.bytes));
    let submit = {
        let (draft, on_text) = (draft.clone(), props.on_text.clone());
        let refused = too_large.is_some();
        move || {
            let text = draft.trim().to_string();
            if !text.is_empty() && !refused {
                on_text.emit(text);
                draft.set(String::new());
            }
        }
    };
    let on_input = {
        let (draft, on_typing) = (draft.clone(), props.on_typing.clone());
        Callback::from(move |event: InputEvent| {
            draft.set(event.target_unchecked_into::<HtmlTextAreaElement>().value());
            on_typing.emit(());
        })
    };
    let on_keydown = {
        let submit = submit.clone();
        Callback::from(move |event: KeyboardEvent| {
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                submit();
            }
        })
    };
    let on_submit = Callback::from(move |event: SubmitEvent| {
        event.prevent_default();
        submit();
    });
    let on_file = {
        let on_image = props.on_image.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                on_image.emit(file);
            }
            input.set_value("");
        })
    };
    let on_paste = {
        let on_image = props.on_image.clone();
        Callback::from(move |event: Event| {
            let Some(event) = wasm_bindgen::JsCast::dyn_ref::<web_sys::ClipboardEvent>(&event)
            else {
                return;
            };
            let file = event
                .clipboard_data()
                .and_then(|data| data.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file.filter(|file| file.type_().starts_with("image/")) {
                event.prevent_default();
                on_image.emit(file);
            }
        })
    };
    html! {
        <form class="composer" onsubmit={on_submit}>
            <label for="composer-text" class="visually-hidden">{ t.message }</label>
            <textarea id="composer-text" rows="2" value={(*draft).clone()} oninput={on_input} onkeydown={on_keydown} onpaste={on_paste} placeholder={t.message}
                aria-invalid={too_large.is_some().to_string()} aria-describedby="composer-size" />
            <button type="submit" disabled={too_large.is_some()}>{ t.send }</button>
            // Polite, and marked by `aria-invalid` on the text: an alert would interrupt at
            // every key typed past the limit (the size in it changes with each).
            <p id="composer-size" class="size" aria-live="polite" data-over={too_large.as_ref().map(|_| "")}>
                { too_large.clone().or(near_limit).unwrap_or_default() }
            </p>
            <label class="file-button">
                { t.image }
                <input type="file" accept="image/png,image/jpeg,image/gif,image/webp" onchange={on_file} aria-label={t.image} />
            </label>
        </form>
    }
}
