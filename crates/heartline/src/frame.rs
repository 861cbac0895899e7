//! The frames the application sends and receives, and the notices it is told.

use crate::machine::Event;
use crate::outbox::Payload;
use js_sys::{ArrayBuffer, JsString, Uint8Array};
use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::Blob;

/// A frame to send. Text and bytes are counted in bytes against the outbox limit, a `Blob` by
/// its size.
///
/// ```
/// use heartline::{Outgoing, Payload};
/// assert_eq!(Outgoing::Bytes(vec![1, 2, 3]).byte_len(), 3);
/// ```
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// A text frame from a JavaScript string, handed to the browser as it is: a `Text(String)`
    /// is made into a new JavaScript string on every send (about 1 µs for 64 bytes), this one
    /// never crosses wasm memory. For text the page already holds as a JavaScript string (a
    /// received [`Text`], `JSON.stringify`'s result, an input's value) or sends many times.
    ///
    /// ```no_run
    /// let frame = heartline::Outgoing::from(js_sys::JsString::from("hi"));
    /// ```
    JsText(JsText),
    /// A binary frame from bytes.
    Bytes(Vec<u8>),
    /// A binary frame from an `ArrayBuffer` (e.g. canvas `ImageData`'s buffer). Like the
    /// browser's own `send`, a frame that has to wait in the outbox is sent with the contents
    /// the buffer had when `send` was called: it is copied when queued. One handed to an open
    /// socket is not copied (that would cost every binary frame a copy): if the socket is
    /// then given up as dead while the browser still holds the frame, it goes again on the
    /// next connection with what the buffer holds at that moment. Write into a buffer you
    /// sent only once [`bufferedAmount`](crate::Heartline::buffered_amount) is 0, or send a
    /// fresh buffer, or bytes (`Outgoing::Bytes`, copied into wasm memory).
    ArrayBuffer(ArrayBuffer),
    /// A binary frame from a `Blob` (e.g. a `File` from `<input type=file>`; a Blob cannot
    /// change).
    Blob(Blob),
}

impl Payload for Outgoing {
    fn from_text(text: String) -> Self {
        Outgoing::Text(text)
    }

    fn byte_len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::JsText(text) => text.utf8_len(),
            Outgoing::Bytes(bytes) => bytes.len(),
            Outgoing::ArrayBuffer(buffer) => buffer.byte_length() as usize,
            Outgoing::Blob(blob) => blob.size() as usize,
        }
    }

    fn detached(self) -> Self {
        match self {
            // The caller may reuse or transfer its buffer after `send` returns. An empty (or
            // already transferred, so detached) buffer is not sliced: slicing a detached one
            // throws, and the browser would send it empty anyway.
            Outgoing::ArrayBuffer(buffer) if buffer.byte_length() == 0 => {
                Outgoing::ArrayBuffer(ArrayBuffer::new(0))
            }
            Outgoing::ArrayBuffer(buffer) => Outgoing::ArrayBuffer(buffer.slice(0)),
            other => other,
        }
    }
}

impl From<JsString> for Outgoing {
    fn from(js: JsString) -> Self {
        Outgoing::JsText(JsText::from(js))
    }
}

/// A JavaScript string to send as a text frame ([`Outgoing::JsText`]), with its length in
/// UTF-8 bytes (what the browser sends, and counts in `bufferedAmount` and the outbox limits)
/// counted once, when it is made. Cloning it does not copy the string.
///
/// ```no_run
/// use heartline::JsText;
/// let text = JsText::from(js_sys::JsString::from("héllo"));
/// assert_eq!(text.utf8_len(), 6);
/// ```
#[derive(Debug, Clone)]
pub struct JsText {
    js: JsString,
    utf8_len: usize,
}

impl JsText {
    /// The JavaScript string.
    ///
    /// ```no_run
    /// let text = heartline::JsText::from(js_sys::JsString::from("hi"));
    /// assert_eq!(text.as_js_string().length(), 2);
    /// ```
    pub fn as_js_string(&self) -> &JsString {
        &self.js
    }

    /// Its length in UTF-8 bytes; an unpaired surrogate counts 3, as the browser sends it
    /// (U+FFFD).
    ///
    /// ```no_run
    /// let text = heartline::JsText::from(js_sys::JsString::from("a\u{1F600}"));
    /// assert_eq!(text.utf8_len(), 5);
    /// ```
    pub fn utf8_len(&self) -> usize {
        self.utf8_len
    }
}

impl From<JsString> for JsText {
    fn from(js: JsString) -> Self {
        let utf8_len = utf8_length(&js) as usize;
        Self { js, utf8_len }
    }
}

// Counted in JavaScript: from Rust it would take a call per UTF-16 unit, or a copy.
#[wasm_bindgen(inline_js = r#"
export function utf8_length(text) {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (unit < 0xdc00 && unit >= 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: two units, four bytes
      i++;
    } else {
      bytes += 2; // three bytes, an unpaired surrogate too (sent as U+FFFD)
    }
  }
  return bytes;
}
"#)]
extern "C" {
    fn utf8_length(text: &JsString) -> u32;
}

/// The text of a text frame. It stays a JavaScript string until the application reads it, so a
/// frame nobody reads as Rust text is never copied into wasm memory; reading it (through `Deref`
/// to `str`, [`as_str`](Text::as_str) or `String::from`) copies it once.
///
/// ```
/// use heartline::Text;
/// let text = Text::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert!(text.starts_with("hé")); // any `str` method, through Deref
/// assert_eq!(String::from(text), "héllo");
/// ```
#[derive(Clone)]
pub struct Text {
    js: Option<JsString>,
    rust: OnceCell<String>,
}

impl Text {
    /// A text received from the browser, not copied yet.
    ///
    /// ```no_run
    /// let text = heartline::Text::from_js(js_sys::JsString::from("hi"));
    /// assert_eq!(text.utf16_len(), 2);
    /// ```
    pub fn from_js(js: JsString) -> Self {
        Self {
            js: Some(js),
            rust: OnceCell::new(),
        }
    }

    /// The text as `&str` (copied out of JavaScript on first use, then kept).
    ///
    /// ```
    /// assert_eq!(heartline::Text::from("a").as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        self.rust.get_or_init(|| match &self.js {
            Some(js) => String::from(js),
            None => String::new(),
        })
    }

    /// The JavaScript string, without copying if it came from the browser (e.g. to hand it to
    /// `JSON.parse` or the DOM).
    ///
    /// ```no_run
    /// let js = heartline::Text::from("hi").to_js_string();
    /// assert_eq!(js.length(), 2);
    /// ```
    pub fn to_js_string(&self) -> JsString {
        match &self.js {
            Some(js) => js.clone(),
            None => JsString::from(self.as_str()),
        }
    }

    /// Length in UTF-16 code units (JavaScript's `length`), without copying.
    ///
    /// ```
    /// assert_eq!(heartline::Text::from("é").utf16_len(), 1);
    /// ```
    pub fn utf16_len(&self) -> usize {
        match (&self.js, self.rust.get()) {
            (_, Some(text)) => text.encode_utf16().count(),
            (Some(js), None) => js.length() as usize,
            (None, None) => 0,
        }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self {
            js: None,
            rust: OnceCell::from(text),
        }
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.as_str();
        text.rust.into_inner().unwrap_or_default()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame received. Binary frames come as `ArrayBuffer` or `Blob` per [`BinaryType`](crate::BinaryType).
///
/// ```
/// use heartline::Inbound;
/// let frame = Inbound::Text("hi".into());
/// assert_eq!((frame.as_text(), frame.byte_len(), frame.is_binary()), (Some("hi"), 2, false));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A text frame (kept as a JavaScript string until read: see [`Text`]).
    Text(Text),
    /// A binary frame (binary type `ArrayBuffer`).
    ArrayBuffer(ArrayBuffer),
    /// A binary frame (binary type `Blob`).
    Blob(Blob),
}

impl Inbound {
    /// Whether this is a binary frame.
    ///
    /// ```
    /// use heartline::Inbound;
    /// assert!(!Inbound::Text("hi".into()).is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        !matches!(self, Inbound::Text(_))
    }

    /// The text of a text frame.
    ///
    /// ```
    /// assert_eq!(heartline::Inbound::Text("hi".into()).as_text(), Some("hi"));
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Inbound::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The bytes of an `ArrayBuffer` frame, copied out (a `Blob` must be read asynchronously).
    ///
    /// ```
    /// assert_eq!(heartline::Inbound::Text("hi".into()).to_bytes(), None);
    /// ```
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Inbound::ArrayBuffer(buffer) => Some(Uint8Array::new(buffer).to_vec()),
            _ => None,
        }
    }

    /// Size in bytes (UTF-8 for text, which reads the text).
    ///
    /// ```
    /// assert_eq!(heartline::Inbound::Text("é".into()).byte_len(), 2);
    /// ```
    pub fn byte_len(&self) -> usize {
        match self {
            Inbound::Text(text) => text.len(),
            Inbound::ArrayBuffer(buffer) => buffer.byte_length() as usize,
            Inbound::Blob(blob) => blob.size() as usize,
        }
    }
}

/// What the application is told: frames, and the machine's [`Event`]s, in the order they
/// happened (a request made from inside a notice handler is told after the notices before it).
///
/// ```
/// use heartline::{Event, Notice, Status};
/// let notice = Notice::Event(Event::Status(Status::Open));
/// assert!(matches!(notice, Notice::Event(Event::Status(Status::Open))));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An application frame (heartbeat replies are not delivered).
    Message(Inbound),
    /// A change of state, a heartbeat, a close, a scheduled reconnect...
    Event(Event),
    /// This tab's part in a shared connection ([`Config::with_shared`](crate::Config::with_shared)):
    /// leader, follower, or alone because this browser cannot share.
    Role(crate::shared::Role),
}
