//! The application close codes (4000–4999) the chat server uses.

/// An application close code with its name and meaning.
///
/// ```
/// use heartline_protocol::AppCloseCode;
/// assert_eq!(AppCloseCode::NICK_TAKEN.code, 4002);
/// assert_eq!(AppCloseCode::find(4001).map(|c| c.name), Some("Bad Nickname"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppCloseCode {
    /// The code.
    pub code: u16,
    /// Short name.
    pub name: &'static str,
    /// What it means, for people.
    pub meaning: &'static str,
}

impl AppCloseCode {
    /// The nickname is empty, too long or has control characters.
    pub const BAD_NICK: AppCloseCode = AppCloseCode {
        code: 4001,
        name: "Bad Nickname",
        meaning: "The nickname is empty, longer than 32 characters, or has control characters.",
    };
    /// Someone in the room already has this nickname.
    pub const NICK_TAKEN: AppCloseCode = AppCloseCode {
        code: 4002,
        name: "Nickname Taken",
        meaning: "Someone in the room already uses this nickname; pick another.",
    };
    /// The room name is empty or too long.
    pub const BAD_ROOM: AppCloseCode = AppCloseCode {
        code: 4003,
        name: "Bad Room",
        meaning: "The room name is empty, longer than 64 characters, or has control characters.",
    };
    /// The client did not join in time.
    pub const JOIN_TIMEOUT: AppCloseCode = AppCloseCode {
        code: 4004,
        name: "Join Timeout",
        meaning: "The client did not send join in time after connecting.",
    };
    /// A newer connection from the same client and tab took this one's place.
    pub const REPLACED: AppCloseCode = AppCloseCode {
        code: 4005,
        name: "Replaced",
        meaning: "A newer connection from the same tab replaced this one.",
    };
    /// The client id belongs to another client: the join did not carry its secret.
    pub const CLIENT_ID_TAKEN: AppCloseCode = AppCloseCode {
        code: 4006,
        name: "Client Id Taken",
        meaning: "This client id is held by another client; the app picks a new one.",
    };
    /// A message was begun and not completed within the time the server allows for one
    /// (`limits.message_deadline_ms`, since v4): the link is too slow for its size.
    pub const MESSAGE_TOO_SLOW: AppCloseCode = AppCloseCode {
        code: 4007,
        name: "Message Too Slow",
        meaning: "A message took longer to arrive than the server allows for one: the link is too slow for its size.",
    };

    /// Looks a code up in [`APP_CLOSE_CODES`].
    pub fn find(code: u16) -> Option<AppCloseCode> {
        APP_CLOSE_CODES
            .iter()
            .copied()
            .find(|entry| entry.code == code)
    }
}

/// Every application close code the server sends.
pub const APP_CLOSE_CODES: &[AppCloseCode] = &[
    AppCloseCode::BAD_NICK,
    AppCloseCode::NICK_TAKEN,
    AppCloseCode::BAD_ROOM,
    AppCloseCode::JOIN_TIMEOUT,
    AppCloseCode::REPLACED,
    AppCloseCode::CLIENT_ID_TAKEN,
    AppCloseCode::MESSAGE_TOO_SLOW,
];
