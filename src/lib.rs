//! The Heartline chat room: a Yew app on the `heartline` socket and the chat server; and the
//! playground, a second app built into its own bundle (see `src/bin/playground.rs`).

pub mod app;
pub mod chat_room;
pub mod components;
pub mod i18n;
pub mod names;
pub mod pacer;
pub mod page;
pub mod playground;
pub mod state;
pub mod storage;

pub use app::{AppProps, ChatApp};
pub use page::{chat_url_for_page, socket_url_for_page};
