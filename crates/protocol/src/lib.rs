//! Heartline chat wire types, shared by the app and the server.
//!
//! The chat speaks JSON text frames on `/ws`, plus binary frames from the client for images and
//! sketches. Every frame is listed below with an example.
//!
//! ## Client → server
//! | frame | example |
//! |---|---|
//! | join | `{"type":"join","room":"lobby","nick":"ada","client_id":"c-7f3a","secret":"s-9d…","tab_id":"t-41","last_seq":41,"epoch":"18c2f"}` (`last_seq` and `epoch` optional: resume after it; `secret` optional on a client's first join, then required; `tab_id` optional) |
//! | say | `{"type":"say","client_msg_id":"m-1","text":"hello"}` |
//! | typing | `{"type":"typing"}` |
//! | leave | `{"type":"leave"}` |
//! | history (v3) | `{"type":"history","before":120}`: the page of messages before seq 120 (answered by `page`) |
//! | image | binary: `[u32 BE header length][header JSON][image bytes]`, header `{"kind":"image","client_msg_id":"m-2","mime":"image/png"}` |
//! | sketch | binary: same layout, header `{"kind":"sketch","client_msg_id":"m-3","width":64,"height":48}`, then `width × height × 4` RGBA bytes (canvas `ImageData`) |
//! | heartbeat | the text `ping` (answered `pong`) |
//!
//! ## Server → client
//! | frame | example |
//! |---|---|
//! | welcome | `{"type":"welcome","v":4,"you":"ada","members":["ada","bob"],"history":[…messages…],"more":false,"gap":false,"last_seq":42,"epoch":"18c2f","secret":"s-9d…","limits":{"max_text_bytes":65536,"max_binary_bytes":5242880,"burst":20,"per_second":10,"history_page_messages":200,"history_page_bytes":1048576,"message_deadline_ms":30000},"tokens":19}` |
//! | page (v3) | `{"type":"page","before":120,"messages":[…messages…],"more":true}`: the answer to `history` |
//! | message | `{"type":"message","room":"lobby","seq":42,"from":"bob","ts":1764045000000,"client_msg_id":"m-1","body":{"kind":"text","text":"hi"}}`; image bodies: `{"kind":"image","mime":"image/png","url":"/media/18c2f-7"}`; sketch bodies: `{"kind":"sketch","width":64,"height":48,"url":"/media/18c2f-8"}` (a PNG) |
//! | ack | `{"type":"ack","client_msg_id":"m-1","seq":42}` |
//! | joined / left | `{"type":"joined","nick":"bob"}`, `{"type":"left","nick":"bob"}` |
//! | typing | `{"type":"typing","nick":"bob"}` |
//! | gap (v2) | `{"type":"gap","from":120,"to":310}`: seqs `from..=to` were skipped (you lagged behind, or the server's instance did) and are no longer kept |
//! | error | `{"type":"error","code":"bad_json","message":"expected value at line 1 column 1"}`; about one message: `{"type":"error","code":"empty_text","message":"the message is empty","client_msg_id":"m-1"}` |
//! | error: conflict | `{"type":"error","code":"conflict","message":"client_msg_id \"m-1\" was used for another message (seq 41); this one was not stored","client_msg_id":"m-1"}`: a `say` or upload reusing an id with different content (no `ack`) |
//! | heartbeat reply | the text `pong` |
//!
//! Pictures travel outside the frames: an upload is stored by the server, and messages carry the
//! picture's URL, served by `GET /media/<id>` with its `Content-Type` and a long-lived,
//! immutable cache header (version 2; version 1 inlined the bytes as base64).
//!
//! Every message gets a per-room `seq` that only grows. A `join` with `last_seq` receives exactly
//! the messages after it in `history`, then live ones; `gap: true` says older ones were dropped from
//! the history the server keeps (the lost range is your `last_seq + 1` up to the first seq in
//! `history`, or a range inside it when the server's store went back to an older state and
//! lost messages it had sent). A `last_seq` beyond the room's last seq (seqs this room never gave) is clamped to
//! the room's end and flagged `gap: true`; live messages follow as usual.
//! Seqs belong to the store's `epoch`: a durable store (the default:
//! SQLite) keeps its epoch and continues its seqs across restarts; an in-memory store starts a
//! new epoch when the server restarts, and a `join` whose epoch differs is treated as a first join
//! (the client should forget the seqs it saw) with `gap: true` when it carried a `last_seq`
//! (what it missed before the restart is gone). A member too slow for the live feed is caught
//! up from history; what history no longer holds is announced with a `gap` frame (v2), never
//! skipped silently. A `say` resent with the same `client_id` and `client_msg_id` is
//! not stored twice: the sender gets the original `ack` again, also after the message left the
//! history (dedup keys are kept for a window, 24 h by default). An `ack` is sent only once the
//! message is stored.
//!
//! ## Paged history (version 3)
//! `history` in a `welcome` is one page: the newest of the messages it would carry (after your
//! `last_seq`, or the room's kept history), at most `limits.history_page_messages` of them and
//! about `limits.history_page_bytes` of frame (always at least one message); `more: true` says
//! older ones are kept. `{"type":"history","before":S}` asks for the page before seq `S` (the
//! oldest you have), answered by `page` with `more` the same way; ask again with the page's
//! first seq. A page may hold messages you have already: skip them by seq.
//!
//! ## Identity, tabs and limits (version 2)
//! The deduplication key belongs to whoever holds the client's `secret`: the one a client id's first
//! join presents (a client that makes its own loses nothing if that join's `welcome` never reaches
//! it), or else one the server mints and hands only to that client, in its `welcome`; later joins
//! with that client id must present it, or are closed with 4006. A join refused before its
//! `welcome` (a taken nickname, 4002) binds no minted secret: the client, which never saw it,
//! may join with that id again without one. One client id with one nickname is one
//! member however many connections (tabs) it has: presence lists it once, `joined`/`left` are sent
//! for its first and last connection. A join with the `tab_id` of a connection that is still there
//! (a half-open one, after a network loss) replaces it at once (the old one is closed with 4005).
//! The server checks liveness itself with protocol pings. The `welcome` announces the limits the
//! server enforces: a text frame over `max_text_bytes` or a binary frame over `max_binary_bytes`
//! closes with 1009; more than `burst` frames at once, refilled at `per_second`, closes with 1008.
//! That budget is the client id's, shared by its connections: `tokens` (v4) says how much of it
//! is left when the welcome is sent.
//!
//! | version | change |
//! |---|---|
//! | 1 | first version |
//! | 4 | ids (`client_id`, `tab_id`, `secret`, `client_msg_id`) of at most [`MAX_ID_BYTES`] (64) bytes: a longer one in a text frame is answered with error `bad_id` (the frame is not acted on), in an upload's header with close 1003; a message not completed within `limits.message_deadline_ms` closes with 4007 (was 1008, which also meant a flood, so a client could not tell its upload was the one refused); `welcome`: `tokens`, the frames the client id may send at once now (its flood bucket is shared by its connections, and outlives a reload) |
//! | 3 | paged history: `welcome`: `more`; `limits`: `history_page_messages`, `history_page_bytes`; the `history` request and the `page` frame |
//! | 2 | `join`: `secret`, `tab_id`; `welcome`: `secret`, `limits`; `error`: `client_msg_id`, code `conflict`; close codes 4005, 4006; image and sketch bodies carry a `url` (`/media/<id>`) instead of base64 `data`; the `gap` frame; `gap: true` for a resume past the room's end or from another epoch |
#![deny(missing_docs)]

mod binary;
mod close_codes;
mod flat;
pub mod names;

pub use binary::{decode_upload, encode_upload, upload_frame_bytes, BinaryError, UploadHeader};
pub use close_codes::{AppCloseCode, APP_CLOSE_CODES};
pub use names::{MAX_NICK_CHARS, MAX_ROOM_CHARS};

use serde::{Deserialize, Serialize};

/// Version of the chat protocol spoken on `/ws`.
pub const PROTOCOL_VERSION: u32 = 4;

/// The longest id a client may send, in bytes (since v4): `client_id`, `tab_id`, `secret` and
/// `client_msg_id`. The app's ids are far shorter; a longer one is refused (error `bad_id`, or
/// close 1003 in an upload's header), so nobody can make the server keep 64 KiB keys.
pub const MAX_ID_BYTES: usize = 64;

/// How long, in ms, the server keeps a member whose own tab ended its connection: still listed,
/// its nickname still held (a shared connection's next leading tab joins moments later). A
/// client that had to take a new client id may find its old one still holding its nickname
/// this long.
pub const DEPARTURE_GRACE_MS: u64 = 3_000;

/// Text frame the heartbeat sends; the server answers [`PONG`].
pub const PING: &str = "ping";

/// Text frame the server sends back for [`PING`].
pub const PONG: &str = "pong";

/// Image types the server accepts.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Largest sketch side, in pixels.
pub const MAX_SKETCH_SIDE: u32 = 1024;

/// A text frame from the client.
///
/// ```
/// use heartline_protocol::ClientFrame;
/// let frame: ClientFrame = serde_json::from_str(r#"{"type":"say","client_msg_id":"m-1","text":"hi"}"#).unwrap();
/// assert_eq!(frame, ClientFrame::Say { client_msg_id: "m-1".into(), text: "hi".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Enter a room (once per connection).
    Join {
        /// Room name.
        room: String,
        /// Nickname, 1–32 characters, no control characters, unique in the room.
        nick: String,
        /// A stable id of this client (survives reconnects and reloads), for deduplication.
        client_id: String,
        /// The last seq this client has: the server replays what came after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
        /// The store epoch `last_seq` belongs to (from an earlier welcome). A different epoch
        /// (the server's history was reset, e.g. by a restart) means `last_seq` is ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// This client id's secret: the client's own from its first join on (that join claims the
        /// id with it), or the one a welcome gave it after a first join without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// This tab's id: a join from the same client and tab replaces that tab's old connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tab_id: Option<String>,
    },
    /// Post a text message.
    Say {
        /// The client's id of this message, for ack and deduplication.
        client_msg_id: String,
        /// The text.
        text: String,
    },
    /// The user is typing.
    Typing,
    /// Leave the room (the server closes with 1000).
    Leave,
    /// The page of history before a seq (since protocol v3), answered by `page`.
    History {
        /// The page ends before this seq (the oldest one the client has).
        before: u64,
    },
}

impl ClientFrame {
    /// The first id field of this frame longer than [`MAX_ID_BYTES`], by name.
    ///
    /// ```
    /// use heartline_protocol::{ClientFrame, MAX_ID_BYTES};
    /// let say = |id: String| ClientFrame::Say { client_msg_id: id, text: "hi".into() };
    /// assert_eq!(say("m".repeat(MAX_ID_BYTES)).overlong_id(), None);
    /// assert_eq!(say("m".repeat(MAX_ID_BYTES + 1)).overlong_id(), Some("client_msg_id"));
    /// ```
    pub fn overlong_id(&self) -> Option<&'static str> {
        let long = |id: &str| id.len() > MAX_ID_BYTES;
        match self {
            ClientFrame::Join {
                client_id,
                secret,
                tab_id,
                ..
            } => {
                if long(client_id) {
                    Some("client_id")
                } else if secret.as_deref().is_some_and(long) {
                    Some("secret")
                } else if tab_id.as_deref().is_some_and(long) {
                    Some("tab_id")
                } else {
                    None
                }
            }
            ClientFrame::Say { client_msg_id, .. } if long(client_msg_id) => Some("client_msg_id"),
            _ => None,
        }
    }
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "flat::FlatBody")]
pub enum Body {
    /// Text, shown as text (never as markup).
    Text {
        /// The text.
        text: String,
    },
    /// An image file, fetched over HTTP from `url`.
    Image {
        /// Its MIME type, one of [`IMAGE_TYPES`].
        mime: String,
        /// Where the server serves it: a path on the chat server (`/media/<id>`), to resolve
        /// against the server's HTTP origin. The content at a URL never changes.
        url: String,
    },
    /// A drawing, fetched over HTTP from `url` as a PNG (the server encodes the RGBA pixels the
    /// client uploaded, so every browser shows it with a plain `<img>`).
    Sketch {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Where the server serves it (`/media/<id>`, `image/png`).
        url: String,
    },
}

impl Body {
    /// Bytes this body's strings take in a JSON frame, escapes counted (history pages are
    /// bounded by it: a text of control characters is six times longer written out).
    pub fn size(&self) -> usize {
        match self {
            Body::Text { text } => json_len(text),
            Body::Image { mime, url } => json_len(mime) + json_len(url),
            Body::Sketch { url, .. } => json_len(url) + 8,
        }
    }
}

/// Bytes `text` takes inside a JSON string as serde_json writes it: `"` and `\\` and the
/// short escapes (`\n`, `\t`...) take two, other control characters six (`\u0001`).
pub fn json_len(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .map(|byte| match byte {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// A message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Room name.
    pub room: String,
    /// Per-room sequence number, only growing.
    pub seq: u64,
    /// Sender's nickname.
    pub from: String,
    /// Server time, ms since the Unix epoch.
    pub ts: u64,
    /// The sender's id of the message.
    pub client_msg_id: String,
    /// The content.
    pub body: Body,
}

/// A text frame from the server.
///
/// ```
/// use heartline_protocol::ServerFrame;
/// let json = serde_json::to_string(&ServerFrame::Ack { client_msg_id: "m-1".into(), seq: 3 }).unwrap();
/// assert_eq!(json, r#"{"type":"ack","client_msg_id":"m-1","seq":3}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    try_from = "flat::FlatServerFrame"
)]
pub enum ServerFrame {
    /// The answer to `join`.
    Welcome {
        /// Protocol version.
        v: u32,
        /// Your nickname.
        you: String,
        /// Everyone in the room, you included.
        members: Vec<String>,
        /// Messages after your `last_seq` (or the recent history), in seq order: the newest
        /// page of them (since protocol v3).
        history: Vec<ChatMessage>,
        /// Older ones than `history`'s first are kept: ask for them with `history` (v3).
        more: bool,
        /// True when messages you missed are no longer kept.
        gap: bool,
        /// The room's latest seq.
        last_seq: u64,
        /// The store's epoch: seqs of different epochs are unrelated.
        epoch: String,
        /// This client id's secret: present it in every later join. Sent only to its client.
        secret: String,
        /// The limits the server enforces on this connection.
        limits: ServerLimits,
        /// Frames this client may send at once now (since v4): its client id's flood bucket,
        /// shared by all its connections, so less than `limits.burst` right after another
        /// connection of it (a tab, the page before a reload) sent a burst. It refills at
        /// `limits.per_second`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens: Option<u32>,
    },
    /// A message in the room (yours included), in seq order.
    Message(ChatMessage),
    /// Your message is stored with this seq.
    Ack {
        /// Your id of the message.
        client_msg_id: String,
        /// Its seq.
        seq: u64,
    },
    /// Someone entered the room.
    Joined {
        /// Their nickname.
        nick: String,
    },
    /// Someone left the room.
    Left {
        /// Their nickname.
        nick: String,
    },
    /// Someone is typing.
    Typing {
        /// Their nickname.
        nick: String,
    },
    /// Messages you did not get live that the history no longer holds (since protocol v2):
    /// you lagged behind the live feed, or the server did (an instance that stopped hearing the
    /// others meanwhile, or a store that lost them). Live messages continue after `to`.
    Gap {
        /// The first lost seq.
        from: u64,
        /// The last lost seq.
        to: u64,
    },
    /// The answer to `history` (since protocol v3): the newest page of messages before
    /// `before`, in seq order.
    Page {
        /// The seq the request named.
        before: u64,
        /// The messages, in seq order.
        messages: Vec<ChatMessage>,
        /// Older ones are kept: ask again with the first one's seq.
        more: bool,
    },
    /// A request was refused; the connection stays open.
    Error {
        /// Machine-readable code, e.g. `bad_json`, `not_joined`, `flood`.
        code: String,
        /// What went wrong, for people.
        message: String,
        /// The message refused, when the error is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
}

/// The limits a server enforces, announced in every `welcome` so a client can respect them
/// before sending.
///
/// ```
/// use heartline_protocol::ServerLimits;
/// let limits = ServerLimits { max_text_bytes: 100, max_binary_bytes: 1_000, burst: 20, per_second: 10, history_page_messages: 200, history_page_bytes: 1 << 20, message_deadline_ms: 30_000 };
/// assert!(limits.say_fits("m-1", "hello"));
/// assert!(!limits.say_fits("m-1", &"x".repeat(100)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLimits {
    /// Largest text frame, bytes of UTF-8 (the whole JSON frame). Over: close 1009.
    pub max_text_bytes: usize,
    /// Largest binary frame, bytes (header included). Over: close 1009.
    pub max_binary_bytes: usize,
    /// Frames allowed at once. Over: an `error` `flood`, then close 1008.
    pub burst: u32,
    /// Frames per second the allowance refills.
    pub per_second: u32,
    /// Most messages in a history page (`welcome` or `page`), since protocol v3.
    #[serde(default)]
    pub history_page_messages: usize,
    /// About the most bytes of a history page's frame (one message may go over), since v3.
    #[serde(default)]
    pub history_page_bytes: usize,
    /// The longest a message may take to arrive once begun, ms; over: close 4007 (since v4;
    /// 0 from an older server).
    #[serde(default)]
    pub message_deadline_ms: u64,
}

impl ServerLimits {
    /// Whether a `say` with this id and text fits in one text frame.
    pub fn say_fits(&self, client_msg_id: &str, text: &str) -> bool {
        say_frame_bytes(client_msg_id, text) <= self.max_text_bytes
    }

    /// The longest text (bytes of UTF-8, as JSON escapes it) a `say` can carry.
    pub fn max_say_text_bytes(&self, client_msg_id: &str) -> usize {
        self.max_text_bytes
            .saturating_sub(say_frame_bytes(client_msg_id, ""))
    }
}

/// Bytes of the `say` frame carrying `text`, as sent on the wire.
///
/// ```
/// use heartline_protocol::say_frame_bytes;
/// assert_eq!(say_frame_bytes("m", "hi"), r#"{"type":"say","client_msg_id":"m","text":"hi"}"#.len());
/// ```
pub fn say_frame_bytes(client_msg_id: &str, text: &str) -> usize {
    serde_json::to_string(&ClientFrame::Say {
        client_msg_id: client_msg_id.to_owned(),
        text: text.to_owned(),
    })
    .map_or(usize::MAX, |json| json.len())
}

/// Why a nickname is refused, if it is (the rules are in [`names`]).
///
/// ```
/// use heartline_protocol::nick_problem;
/// assert!(nick_problem("ada").is_none());
/// assert!(nick_problem("").is_some());
/// assert!(nick_problem("a\u{7}b").is_some());
/// assert!(nick_problem("ada\u{200b}").is_some());
/// ```
#[cfg(feature = "unicode-tables")]
pub fn nick_problem(nick: &str) -> Option<names::NameProblem> {
    names::clean_nick(nick).err()
}

/// Why a room name is refused, if it is (the rules are in [`names`]).
///
/// ```
/// use heartline_protocol::room_problem;
/// assert!(room_problem(&"r".repeat(64)).is_none());
/// assert!(room_problem("a\u{2028}b").is_some());
/// ```
#[cfg(feature = "unicode-tables")]
pub fn room_problem(room: &str) -> Option<names::NameProblem> {
    names::clean_room(room).err()
}

/// Base64 (standard alphabet, padded), as image and sketch bodies carry bytes.
pub fn to_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`to_base64`]'s output; `None` if it is not valid base64.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_length_serde_json_writes() {
        let texts = [
            "plain",
            "quote \" and backslash \\",
            "\n\r\t\u{8}\u{c}",
            "\u{1}\u{1f}\u{7f}",
            "émoji 🫶 and 中文",
            "",
        ];
        for text in texts {
            let written = serde_json::to_string(text).expect("a string serialises");
            assert_eq!(json_len(text), written.len() - 2, "{text:?} as {written}");
        }
    }

    #[test]
    fn heartbeat_texts_differ() {
        assert_ne!(PING, PONG);
    }

    #[test]
    fn join_without_last_seq_parses() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"join","room":"r","nick":"n","client_id":"c"}"#)
                .unwrap();
        assert!(matches!(frame, ClientFrame::Join { last_seq: None, .. }));
    }

    #[test]
    fn message_round_trips() {
        let message = ServerFrame::Message(ChatMessage {
            room: "r".into(),
            seq: 1,
            from: "ada".into(),
            ts: 2,
            client_msg_id: "m".into(),
            body: Body::Image {
                mime: "image/png".into(),
                url: "/media/e-1".into(),
            },
        });
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.contains(r#""kind":"image""#), "{json}");
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), message);
    }

    #[test]
    fn unknown_types_are_errors() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
    }

    #[test]
    #[cfg(feature = "unicode-tables")]
    fn nick_rules() {
        assert!(nick_problem(&"a".repeat(32)).is_none());
        assert!(nick_problem(&"a".repeat(33)).is_some());
        assert!(nick_problem("   ").is_some());
        assert!(nick_problem("李雷").is_none());
    }
}
