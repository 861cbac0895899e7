//! The send panel: text, JSON (checked), hex bytes, a file as a `Blob`, the canvas pixels as an
//! `ArrayBuffer`; and the close form, with a code and reason.

use super::log::{check_json, hex_preview, parse_hex, Direction, FrameEntry};
use heartline::Outgoing;
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement};
use yew::prelude::*;

/// A sent frame's log entry, stamped now.
pub fn sent(binary: bool, size: usize, preview: String, kind: &'static str) -> FrameEntry {
    FrameEntry {
        direction: Direction::Out,
        binary,
        size,
        at_ms: js_sys::Date::now(),
        preview,
        heartbeat: false,
        kind,
    }
}

/// Props of [`SendPanel`].
#[derive(Properties, PartialEq)]
pub struct SendPanelProps {
    /// Send this, and log it as this entry once the socket took it.
    pub on_send: Callback<(Outgoing, FrameEntry)>,
    /// What was typed cannot be sent: why.
    pub on_problem: Callback<String>,
}

fn text_input(handle: &UseStateHandle<String>) -> Callback<InputEvent> {
    let handle = handle.clone();
    Callback::from(move |event: InputEvent| {
        handle.set(event.target_unchecked_into::<HtmlInputElement>().value())
    })
}

fn canvas_context(canvas: &NodeRef) -> Option<CanvasRenderingContext2d> {
    canvas
        .cast::<HtmlCanvasElement>()?
        .get_context("2d")
        .ok()??
        .dyn_into()
        .ok()
}

/// The send panel.
#[function_component]
pub fn SendPanel(props: &SendPanelProps) -> Html {
    let text = use_state(|| "hello".to_string());
    let json = use_state(|| "{\"hello\": \"world\"}".to_string());
    let hex = use_state(|| "de ad be ef".to_string());
    let canvas = use_node_ref();
    // Four colour bars, so the pixels sent are recognisable.
    {
        let canvas = canvas.clone();
        use_effect_with((), move |_| {
            if let Some(context) = canvas_context(&canvas) {
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

    let send = props.on_send.clone();
    let send_text = {
        let (send, text) = (send.clone(), text.clone());
        Callback::from(move |_: MouseEvent| {
            let entry = sent(false, text.len(), (*text).clone(), "text");
            send.emit((Outgoing::Text((*text).clone()), entry));
        })
    };
    let send_json = {
        let (send, json, problem) = (send.clone(), json.clone(), props.on_problem.clone());
        Callback::from(move |_: MouseEvent| match check_json(&json) {
            Ok(compact) => {
                let entry = sent(false, compact.len(), compact.clone(), "JSON");
                send.emit((Outgoing::Text(compact), entry));
            }
            Err(message) => problem.emit(message),
        })
    };
    let send_hex = {
        let (send, hex, problem) = (send.clone(), hex.clone(), props.on_problem.clone());
        Callback::from(move |_: MouseEvent| match parse_hex(&hex) {
            Ok(bytes) => {
                let entry = sent(true, bytes.len(), hex_preview(&bytes), "bytes");
                send.emit((Outgoing::Bytes(bytes), entry));
            }
            Err(message) => problem.emit(message),
        })
    };
    let send_file = {
        let send = send.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                let preview = format!("File {:?} ({})", file.name(), file.type_());
                let entry = sent(true, file.size() as usize, preview, "Blob");
                let blob: &web_sys::Blob = &file;
                send.emit((Outgoing::Blob(blob.clone()), entry));
            }
            input.set_value("");
        })
    };
    let send_canvas = {
        let canvas = canvas.clone();
        Callback::from(move |_: MouseEvent| {
            let image = canvas_context(&canvas)
                .and_then(|context| context.get_image_data(0.0, 0.0, 32.0, 16.0).ok());
            if let Some(image) = image {
                let pixels = image.data().0;
                let entry = sent(true, pixels.len(), hex_preview(&pixels), "ArrayBuffer");
                let buffer = Uint8Array::from(&pixels[..]).buffer();
                send.emit((Outgoing::ArrayBuffer(buffer), entry));
            }
        })
    };
    let on_json = {
        let json = json.clone();
        Callback::from(move |event: InputEvent| {
            json.set(
                event
                    .target_unchecked_into::<web_sys::HtmlTextAreaElement>()
                    .value(),
            )
        })
    };
    html! {
        <section class="send" aria-label="Send">
            <div><label for="pg-text">{ "Text" }</label><input id="pg-text" value={(*text).clone()} oninput={text_input(&text)} />
                <button type="button" onclick={send_text}>{ "Send text" }</button></div>
            <div><label for="pg-json">{ "JSON" }</label><textarea id="pg-json" value={(*json).clone()} oninput={on_json} />
                <button type="button" onclick={send_json}>{ "Send JSON" }</button></div>
            <div><label for="pg-hex">{ "Hex bytes" }</label><input id="pg-hex" value={(*hex).clone()} oninput={text_input(&hex)} />
                <button type="button" onclick={send_hex}>{ "Send hex" }</button></div>
            <div><label for="pg-file">{ "File (sent as Blob)" }</label><input id="pg-file" type="file" onchange={send_file} /></div>
            <div><canvas ref={canvas} width="32" height="16" aria-label="Canvas" role="img" />
                <button type="button" onclick={send_canvas}>{ "Send canvas (ArrayBuffer)" }</button></div>
        </section>
    }
}

/// Props of [`CloseForm`].
#[derive(Properties, PartialEq)]
pub struct CloseFormProps {
    /// Close with this code and reason (the library validates them).
    pub on_close: Callback<(u16, String)>,
    /// The code is not a number: why.
    pub on_problem: Callback<String>,
}

/// The close form: a code and a reason.
#[function_component]
pub fn CloseForm(props: &CloseFormProps) -> Html {
    let code = use_state(|| "1000".to_string());
    let reason = use_state(String::new);
    let onsubmit = {
        let (code, reason) = (code.clone(), reason.clone());
        let (on_close, on_problem) = (props.on_close.clone(), props.on_problem.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            match code.trim().parse::<u16>() {
                Ok(number) => on_close.emit((number, (*reason).clone())),
                Err(_) => on_problem.emit(format!(
                    "close code {:?} is not a number; use 1000 or 3000–4999",
                    *code
                )),
            }
        })
    };
    html! {
        <form class="close" {onsubmit}>
            <label for="pg-code">{ "Close code" }</label>
            <input id="pg-code" inputmode="numeric" value={(*code).clone()} oninput={text_input(&code)} />
            <label for="pg-reason">{ "Close reason" }</label>
            <input id="pg-reason" value={(*reason).clone()} oninput={text_input(&reason)} />
            <button type="submit">{ "Close" }</button>
        </form>
    }
}
