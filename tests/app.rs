//! The app in real browsers, rendered into the test page, against the real server.
#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use heartline_chat::{App, AppProps};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    match option_env!("HEARTLINE_TEST_SERVER") {
        Some(server) => server,
        None => panic!("HEARTLINE_TEST_SERVER is not set: run through scripts/test.sh"),
    }
}

fn mount() -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let props = AppProps {
        echo_url: format!("ws://{}/echo", server()).into(),
    };
    yew::Renderer::<App>::with_root_and_props(root.clone(), props).render();
    root
}

/// Waits, up to `deadline_ms`, for an element under `root` matching `selector` whose text
/// contains `text`; renders are flushed between looks.
async fn text_appears(root: &Element, selector: &str, text: &str, deadline_ms: f64) {
    let start = js_sys::Date::now();
    loop {
        yew::scheduler::flush().await;
        let found = root
            .query_selector(selector)
            .unwrap()
            .map(|e| e.text_content().unwrap_or_default());
        if found.as_deref().is_some_and(|t| t.contains(text)) {
            return;
        }
        assert!(
            js_sys::Date::now() - start < deadline_ms,
            "`{selector}` never showed {text:?}; it shows {found:?}"
        );
        TimeoutFuture::new(20).await;
    }
}

#[wasm_bindgen_test]
async fn shows_the_connection_opening() {
    let root = mount();
    text_appears(&root, "[role=status]", "Open", 5_000.0).await;
}

#[wasm_bindgen_test]
async fn a_message_comes_back_through_the_echo() {
    let root = mount();
    text_appears(&root, "[role=status]", "Open", 5_000.0).await;
    let input: HtmlInputElement = root
        .query_selector("#message")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    input.set_value("hello <b>echo</b>");
    let event = web_sys::InputEvent::new("input").unwrap();
    input.dispatch_event(&event).unwrap();
    yew::scheduler::flush().await;
    let button: HtmlElement = root
        .query_selector("button[type=submit]")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    button.click();
    text_appears(&root, "[role=log]", "← hello <b>echo</b>", 5_000.0).await;
    // Shown as text, never as markup.
    assert!(root.query_selector("[role=log] b").unwrap().is_none());
}
