//! The join form's name check, with no Unicode tables in the bundle: the browser's own NFC
//! (`String.prototype.normalize`) and `\p{Cf}` feed the server's rules
//! ([`heartline_protocol::names::check_normalized`]). The server stays the authority: it also
//! refuses look-alike nicknames, and its refusal (close 4001–4003, with the reason) is shown by
//! the join form.

use heartline_protocol::names::{check_normalized, NameProblem, MAX_NICK_CHARS, MAX_ROOM_CHARS};
use js_sys::{JsString, RegExp};

/// The nickname as the server will keep it (NFC, trimmed), or why it would be refused.
pub fn clean_nick(raw: &str) -> Result<String, NameProblem> {
    clean(raw, MAX_NICK_CHARS)
}

/// The room name as the server will keep it (NFC, trimmed), or why it would be refused.
pub fn clean_room(raw: &str) -> Result<String, NameProblem> {
    clean(raw, MAX_ROOM_CHARS)
}

fn clean(raw: &str, max: usize) -> Result<String, NameProblem> {
    let nfc = String::from(JsString::from(raw).normalize("NFC"));
    let format = RegExp::new(r"^\p{Cf}$", "u");
    let is_format = |c: char| format.test(c.encode_utf8(&mut [0; 4]));
    check_normalized(&nfc, max, is_format).map(str::to_owned)
}
