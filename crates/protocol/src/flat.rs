//! Flat shapes that server frames and message bodies are read through.
//!
//! `ServerFrame` and `Body` are internally tagged (`"type"`, `"kind"`). serde's derive for such
//! an enum first buffers the whole object into its generic `Content` tree (the tag may come
//! last), then reads the variant from that; in the browser that machinery was the largest part
//! of the chat's protocol code. Reading into one flat struct of optional fields, then checking
//! that the tag's fields are there, gives the same types from the same JSON in one pass. Only
//! reading goes this way; writing is the derive's.

use crate::{Body, ChatMessage, ServerFrame, ServerLimits};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// Why a flat frame or body is not a valid one.
#[derive(Debug)]
pub enum Invalid {
    /// A field the frame's `type` (or the body's `kind`) needs is not there.
    Missing(&'static str),
    /// The tag (`type` or `kind`) names nothing known.
    Unknown(&'static str),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, field) = match self {
            Invalid::Missing(field) => ("missing field `", field),
            Invalid::Unknown(field) => ("unknown `", field),
        };
        f.write_str(what)?;
        f.write_str(field)?;
        f.write_str("`")
    }
}

fn need<T>(value: Option<T>, name: &'static str) -> Result<T, Invalid> {
    value.ok_or(Invalid::Missing(name))
}

/// `from` is a nickname in a message and a seq in a gap.
enum From {
    Nick(String),
    Seq(u64),
}

// By hand rather than `#[serde(untagged)]`, which buffers the value into serde's generic
// `Content` first: a string or a number is all `from` can be.
impl<'de> Deserialize<'de> for From {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FromVisitor;

        impl Visitor<'_> for FromVisitor {
            type Value = From;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a nickname or a seq")
            }

            fn visit_str<E: de::Error>(self, nick: &str) -> Result<From, E> {
                Ok(From::Nick(nick.to_owned()))
            }

            fn visit_string<E: de::Error>(self, nick: String) -> Result<From, E> {
                Ok(From::Nick(nick))
            }

            fn visit_u64<E: de::Error>(self, seq: u64) -> Result<From, E> {
                Ok(From::Seq(seq))
            }
        }

        deserializer.deserialize_any(FromVisitor)
    }
}

fn nick_from(from: Option<From>) -> Result<String, Invalid> {
    match from {
        Some(From::Nick(nick)) => Ok(nick),
        _ => Err(Invalid::Missing("from")),
    }
}

fn seq_from(from: Option<From>) -> Result<u64, Invalid> {
    match from {
        Some(From::Seq(seq)) => Ok(seq),
        _ => Err(Invalid::Missing("from")),
    }
}

#[derive(Deserialize)]
pub struct FlatServerFrame {
    /// The tag, read as text and matched below (a derived unit enum brings serde's whole enum
    /// machinery for nine names).
    #[serde(rename = "type")]
    kind: String,
    v: Option<u32>,
    you: Option<String>,
    members: Option<Vec<String>>,
    history: Option<Vec<ChatMessage>>,
    more: Option<bool>,
    before: Option<u64>,
    messages: Option<Vec<ChatMessage>>,
    gap: Option<bool>,
    last_seq: Option<u64>,
    epoch: Option<String>,
    secret: Option<String>,
    limits: Option<ServerLimits>,
    tokens: Option<u32>,
    room: Option<String>,
    seq: Option<u64>,
    from: Option<From>,
    to: Option<u64>,
    ts: Option<u64>,
    client_msg_id: Option<String>,
    body: Option<Body>,
    nick: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

impl TryFrom<FlatServerFrame> for ServerFrame {
    type Error = Invalid;

    fn try_from(flat: FlatServerFrame) -> Result<Self, Invalid> {
        Ok(match flat.kind.as_str() {
            "welcome" => ServerFrame::Welcome {
                v: need(flat.v, "v")?,
                you: need(flat.you, "you")?,
                members: need(flat.members, "members")?,
                history: need(flat.history, "history")?,
                // A v2 server's welcome carries the whole history.
                more: flat.more.unwrap_or(false),
                gap: need(flat.gap, "gap")?,
                last_seq: need(flat.last_seq, "last_seq")?,
                epoch: need(flat.epoch, "epoch")?,
                secret: need(flat.secret, "secret")?,
                limits: need(flat.limits, "limits")?,
                // Before v4 the welcome did not say (a full budget, as the app assumed).
                tokens: flat.tokens,
            },
            "message" => ServerFrame::Message(ChatMessage {
                room: need(flat.room, "room")?,
                seq: need(flat.seq, "seq")?,
                from: nick_from(flat.from)?,
                ts: need(flat.ts, "ts")?,
                client_msg_id: need(flat.client_msg_id, "client_msg_id")?,
                body: need(flat.body, "body")?,
            }),
            "ack" => ServerFrame::Ack {
                client_msg_id: need(flat.client_msg_id, "client_msg_id")?,
                seq: need(flat.seq, "seq")?,
            },
            "joined" => ServerFrame::Joined {
                nick: need(flat.nick, "nick")?,
            },
            "left" => ServerFrame::Left {
                nick: need(flat.nick, "nick")?,
            },
            "typing" => ServerFrame::Typing {
                nick: need(flat.nick, "nick")?,
            },
            "gap" => ServerFrame::Gap {
                from: seq_from(flat.from)?,
                to: need(flat.to, "to")?,
            },
            "page" => ServerFrame::Page {
                before: need(flat.before, "before")?,
                messages: need(flat.messages, "messages")?,
                more: need(flat.more, "more")?,
            },
            "error" => ServerFrame::Error {
                code: need(flat.code, "code")?,
                message: need(flat.message, "message")?,
                client_msg_id: flat.client_msg_id,
            },
            _ => return Err(Invalid::Unknown("type")),
        })
    }
}

#[derive(Deserialize)]
pub struct FlatBody {
    kind: String,
    text: Option<String>,
    mime: Option<String>,
    url: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

impl TryFrom<FlatBody> for Body {
    type Error = Invalid;

    fn try_from(flat: FlatBody) -> Result<Self, Invalid> {
        Ok(match flat.kind.as_str() {
            "text" => Body::Text {
                text: need(flat.text, "text")?,
            },
            "image" => Body::Image {
                mime: need(flat.mime, "mime")?,
                url: need(flat.url, "url")?,
            },
            "sketch" => Body::Sketch {
                width: need(flat.width, "width")?,
                height: need(flat.height, "height")?,
                url: need(flat.url, "url")?,
            },
            _ => return Err(Invalid::Unknown("kind")),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Body, ServerFrame};

    #[test]
    fn a_frame_missing_its_tags_fields_is_refused_by_name() {
        let error = serde_json::from_str::<ServerFrame>(r#"{"type":"ack","seq":1}"#).unwrap_err();
        assert!(
            error.to_string().contains("missing field `client_msg_id`"),
            "{error}"
        );
        assert!(
            serde_json::from_str::<Body>(r#"{"kind":"sketch","width":1,"url":"/media/1"}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<ServerFrame>(r#"{"type":"shout"}"#).is_err());
    }

    #[test]
    fn from_is_a_nick_in_a_message_and_a_seq_in_a_gap() {
        let gap: ServerFrame = serde_json::from_str(r#"{"type":"gap","from":3,"to":9}"#).unwrap();
        assert_eq!(gap, ServerFrame::Gap { from: 3, to: 9 });
        assert!(
            serde_json::from_str::<ServerFrame>(r#"{"type":"gap","from":"ada","to":9}"#).is_err()
        );
    }

    #[test]
    fn a_page_reads_back() {
        let json = r#"{"type":"page","before":5,"messages":[],"more":true}"#;
        let page: ServerFrame = serde_json::from_str(json).unwrap();
        let expected = ServerFrame::Page {
            before: 5,
            messages: Vec::new(),
            more: true,
        };
        assert_eq!(page, expected);
        assert_eq!(serde_json::to_string(&page).unwrap(), json);
    }

    #[test]
    fn the_tag_may_come_last() {
        let frame: ServerFrame = serde_json::from_str(r#"{"nick":"bob","type":"joined"}"#).unwrap();
        assert_eq!(frame, ServerFrame::Joined { nick: "bob".into() });
    }
}
