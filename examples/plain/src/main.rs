//! Heartline in a plain page: a status line, a form that sends, and a list of echoes.
//! Build and serve it with `trunk serve` from this directory while `heartline-server` runs
//! (its `/echo` answers); no framework, only `web-sys`.

use gloo_events::{EventListener, EventListenerOptions};
use heartline::{Config, Event, Heartline, Inbound, Notice};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlInputElement};

fn main() {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let url = echo_url(&document);
    let status = document.get_element_by_id("status");
    let log = document.get_element_by_id("log");
    let doc = document.clone();
    // Every notice, in order: status changes go to the status line, echoes to the list.
    let socket = Rc::new(Heartline::connect(
        Config::new(url),
        move |notice| match notice {
            Notice::Event(Event::Status(now)) => {
                if let Some(status) = &status {
                    status.set_text_content(Some(now.label()));
                }
            }
            Notice::Message(Inbound::Text(text)) => {
                if let (Some(log), Ok(item)) = (&log, doc.create_element("li")) {
                    item.set_text_content(Some(&text));
                    let _ = log.append_child(&item);
                }
            }
            _ => {}
        },
    ));

    let Some(form) = document.get_element_by_id("composer") else {
        return;
    };
    let input = document
        .get_element_by_id("text")
        .and_then(|element| element.dyn_into::<HtmlInputElement>().ok());
    let sender = socket.clone();
    let on_submit = EventListener::new_with_options(
        &form,
        "submit",
        EventListenerOptions::enable_prevent_default(),
        move |event| {
            event.prevent_default();
            let Some(input) = &input else { return };
            let text = input.value();
            match sender.send_text(text) {
                Ok(()) => input.set_value(""),
                Err(error) => web_sys::console::warn_1(&error.to_string().into()),
            }
        },
    );
    // The page lives as long as the tab: it owns the connection and the listener.
    PAGE.with(|page| {
        *page.borrow_mut() = Some(Page {
            _socket: socket,
            _on_submit: on_submit,
        })
    });
}

/// What the page keeps alive; dropping it would close the socket and remove the listener.
struct Page {
    _socket: Rc<Heartline>,
    _on_submit: EventListener,
}

thread_local! {
    static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
}

/// `ws(s)://<this host>/echo`, or the local server when the page is opened from elsewhere.
fn echo_url(document: &Document) -> String {
    let location = document.location();
    let host = location
        .as_ref()
        .and_then(|location| location.host().ok())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure = location
        .and_then(|location| location.protocol().ok())
        .is_some_and(|protocol| protocol == "https:");
    format!("{}://{host}/echo", if secure { "wss" } else { "ws" })
}
