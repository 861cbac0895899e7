//! The Heartline chat room: a Yew app on the `heartline` socket and the chat server.

pub mod app;
pub mod chat_room;
pub mod components;
pub mod i18n;
pub mod pacer;
pub mod playground;
pub mod state;
pub mod storage;

pub use app::{chat_url_for_page, App, AppProps, ChatApp};
