//! # Heartline
//!
//! A WebSocket for Rust in the browser that stays alive and tells the truth about its state:
//! heartbeat, reconnect with jittered backoff (once per loss), a stop flag so a deliberate close
//! never reconnects, a bounded outbox flushed in order on open, the full close-code table, and a
//! Yew hook.
//!
//! The rules live in [`Machine`], a sans-IO state machine (plain Rust, time passed in);
//! [`Heartline`] is the thin browser driver around it.
//!
//! ```no_run
//! use heartline::{Config, Heartline, Inbound, Notice};
//! let socket = Heartline::connect(Config::new("ws://127.0.0.1:8080/echo"), |notice| {
//!     if let Notice::Message(Inbound::Text(text)) = notice {
//!         web_sys::console::log_1(&text.into());
//!     }
//! });
//! socket.send_text("hello").expect("queued or sent");
//! ```
#![deny(missing_docs)]

mod backoff;
mod close_code;
mod config;
mod driver;
mod frame;
mod heartbeat;
#[cfg(feature = "yew")]
mod hook;
mod machine;
mod outbox;

pub use backoff::{Backoff, Rng};
pub use close_code::{validate_close, CloseCode, CloseError, CloseRange, MAX_REASON_BYTES};
pub use config::{default_close_policy, BinaryType, ClosePolicy, Config, OutboxLimits, UrlSource};
pub use driver::{now_ms, Heartline};
pub use frame::{Inbound, Notice, Outgoing, Text};
pub use heartbeat::Heartbeat;
#[cfg(feature = "yew")]
pub use hook::{use_heartline, UseHeartline};
pub use machine::{CloseInfo, Command, Event, FrameRef, Input, Machine, Stats, Status, TimerKind};
pub use outbox::{Payload, SendError};
