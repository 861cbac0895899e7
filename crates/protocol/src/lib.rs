//! Heartline chat wire types, shared by the app and the server.
#![deny(missing_docs)]

/// Version of the chat protocol spoken on `/ws`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Text frame the heartbeat sends; the server answers [`PONG`].
pub const PING: &str = "ping";

/// Text frame the server sends back for [`PING`].
pub const PONG: &str = "pong";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_texts_differ() {
        assert_ne!(PING, PONG);
    }
}
