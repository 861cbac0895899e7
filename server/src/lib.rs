//! The Heartline chat server: serves the trunk-built app, the echo endpoint and,
//! in test mode, the fault-injection endpoints the browser tests use.

mod config;
mod echo;
mod listener;
mod test_mode;

pub use config::ServerConfig;
pub use listener::run;
