//! # Heartline
//!
//! A WebSocket for Rust in the browser that stays alive and tells the truth about its state:
//! heartbeat with RTT, reconnect with jittered backoff (once per loss), a stop flag so a
//! deliberate close never reconnects, a bounded outbox flushed in order after `Opened`, the full
//! close-code table, back/forward-cache and offline handling, and no silent drop in the library:
//! every `send` is handed to the browser, queued, or answered with an error saying why, and a
//! frame the browser still held when its connection ended goes out on the next one. (What a
//! browser drops after counting a frame sent, Chromium at a server's close, the page cannot
//! see: see the crate README's "Delivery".)
//!
//! It needs no framework: [`Heartline`] takes a callback, so a Leptos or Dioxus signal (or
//! anything else) can be fed from it. The `yew` feature (on by default) adds
//! `use_heartline`. The rules live in [`Machine`], a sans-IO state machine (plain Rust, a
//! monotonic time passed in); [`Heartline`] is the thin browser driver around it.
//!
//! ```no_run
//! use heartline::{Config, Heartline, Inbound, Notice};
//! let socket = Heartline::connect(Config::new("ws://127.0.0.1:8080/echo"), |notice| {
//!     if let Notice::Message(Inbound::Text(text)) = notice {
//!         web_sys::console::log_1(&text.to_js_string()); // never copied into Rust
//!     }
//! });
//! socket.send_text("hello").expect("sent or queued");
//! // Keep `socket` for as long as the connection should live: dropping it closes the socket.
//! ```
#![deny(missing_docs)]

mod backoff;
mod close_code;
mod config;
mod driver;
mod frame;
mod handle;
mod heartbeat;
#[cfg(feature = "yew")]
mod hook;
mod machine;
mod outbox;
pub mod shared;

pub use backoff::{Backoff, Rng};
pub use close_code::{validate_close, CloseCode, CloseError, CloseRange, MAX_REASON_BYTES};
pub use config::{default_close_policy, BinaryType, ClosePolicy, Config, OutboxLimits, UrlSource};
pub use driver::now_ms;
pub use frame::{Inbound, JsText, Notice, Outgoing, Text};
pub use handle::Heartline;
pub use heartbeat::Heartbeat;
#[cfg(feature = "yew")]
pub use hook::{use_heartline, UseHeartline};
pub use machine::{CloseInfo, Command, Event, FrameRef, Input, Machine, Stats, Status, TimerKind};
pub use outbox::{Payload, SendError};
pub use shared::Role;
