//! The Heartline chat server: serves the trunk-built app, the chat on `/ws`, the echo endpoint,
//! `/health` and, in test mode, the fault-injection endpoints the browser tests use.

mod accept;
pub mod budget;
pub mod chat;
mod config;
mod echo;
mod fds;
mod host;
mod inbound;
mod listener;
pub mod metered;
mod test_mode;

pub use config::{ServerConfig, StoreConfig, StoreKind};
pub use listener::{run, start, Running};
