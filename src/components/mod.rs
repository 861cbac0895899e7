//! The chat's components, one per file. None of them touches the socket.

pub mod composer;
pub mod connection_bar;
pub mod join_form;
pub mod member_list;
pub mod message_list;
pub mod sketch_pad;
