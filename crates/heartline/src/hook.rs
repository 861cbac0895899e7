//! `use_heartline`: the connection as a Yew hook.

use crate::machine::{CloseInfo, Event, Status};
use crate::{CloseError, Config, Heartline, Notice, Outgoing, SendError};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// What [`use_heartline`] returns: the status (the component re-renders when it changes, not on
/// every heartbeat), the last close, and the connection's methods.
///
/// ```no_run
/// # use heartline::UseHeartline;
/// fn bar(socket: &UseHeartline) -> String {
///     let close = socket.last_close.as_ref().map(|c| format!(", last close {} {}", c.code, c.code_name()));
///     format!("{}{}", socket.status.label(), close.unwrap_or_default())
/// }
/// ```
#[derive(Clone)]
pub struct UseHeartline {
    /// The current status.
    pub status: Status,
    /// How the last connection ended.
    pub last_close: Option<CloseInfo>,
    socket: Rc<RefCell<Option<Heartline>>>,
}

impl PartialEq for UseHeartline {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status
            && self.last_close == other.last_close
            && Rc::ptr_eq(&self.socket, &other.socket)
    }
}

impl UseHeartline {
    /// Sends a text frame, or queues it until open.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.send(Outgoing::Text(text.into()))
    }

    /// Sends a value as JSON text, or queues it.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        match &*self.socket.borrow() {
            Some(socket) => socket.send_json(value),
            None => Err(SendError::NotStarted),
        }
    }

    /// Sends any frame (bytes, `ArrayBuffer`, `Blob`), or queues it.
    pub fn send(&self, payload: Outgoing) -> Result<(), SendError> {
        match &*self.socket.borrow() {
            Some(socket) => socket.send(payload),
            None => Err(SendError::NotStarted),
        }
    }

    /// Opens again after a close; reconnects now if waiting.
    pub fn open(&self) {
        if let Some(socket) = &*self.socket.borrow() {
            socket.open();
        }
    }

    /// Closes with a validated code and reason and stops reconnecting.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), CloseError> {
        match &*self.socket.borrow() {
            Some(socket) => socket.close(code, reason),
            None => Ok(()),
        }
    }

    /// Runs `f` with the underlying connection, if started (for stats, RTT, queue length).
    pub fn with<R>(&self, f: impl FnOnce(&Heartline) -> R) -> Option<R> {
        self.socket.borrow().as_ref().map(f)
    }
}

/// Connects while the component is mounted; a new `config` reconnects, unmounting closes.
/// Every [`Notice`] goes to `on_notice`.
///
/// ```no_run
/// use heartline::{use_heartline, Config, Notice, Inbound};
/// use yew::prelude::*;
///
/// #[function_component]
/// fn Echo() -> Html {
///     let last = use_state(String::new);
///     let on_notice = {
///         let last = last.clone();
///         Callback::from(move |notice| {
///             if let Notice::Message(Inbound::Text(text)) = notice {
///                 last.set(text);
///             }
///         })
///     };
///     let socket = use_heartline(Config::new("ws://127.0.0.1:8080/echo"), on_notice);
///     let send = {
///         let socket = socket.clone();
///         Callback::from(move |_| { let _ = socket.send_text("hi"); })
///     };
///     html! { <p>{ socket.status.label() }{ " " }{ &*last }<button onclick={send}>{"Send"}</button></p> }
/// }
/// ```
#[hook]
pub fn use_heartline(config: Config, on_notice: Callback<Notice>) -> UseHeartline {
    let status = use_state_eq(|| Status::Closed);
    let last_close = use_state_eq(|| None::<CloseInfo>);
    let socket = use_mut_ref(|| None::<Heartline>);
    // The latest callback, so a re-render with a new closure does not reconnect.
    let on_notice_ref = use_mut_ref(|| on_notice.clone());
    *on_notice_ref.borrow_mut() = on_notice;

    {
        let socket = socket.clone();
        let set_status = status.setter();
        let set_last_close = last_close.setter();
        use_effect_with(config, move |config| {
            let connection = Heartline::connect(config.clone(), move |notice| {
                match &notice {
                    Notice::Event(Event::Status(status)) => set_status.set(*status),
                    Notice::Event(Event::Closed(close)) => set_last_close.set(Some(close.clone())),
                    _ => {}
                }
                let callback = on_notice_ref.borrow().clone();
                callback.emit(notice);
            });
            *socket.borrow_mut() = Some(connection);
            move || {
                // Dropping the connection closes it and removes every handler and timer.
                let old = socket.borrow_mut().take();
                drop(old);
            }
        });
    }

    UseHeartline {
        status: *status,
        last_close: (*last_close).clone(),
        socket,
    }
}
