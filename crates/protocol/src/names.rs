//! Nicknames and room names: what the server accepts, and when two nicknames are "the same".
//!
//! A name is normalised to NFC and trimmed; it is refused when empty, too long, or holding a
//! control character, a format character (Unicode category Cf: zero-width spaces and joiners,
//! bidi overrides) or a line or paragraph separator (U+2028, U+2029). Two nicknames clash when
//! their UTS #39 confusable skeletons are equal, so `аdа` (Cyrillic а) cannot sit beside `ada`.
//!
//! The Unicode tables (NFC, categories, skeletons) are behind the `unicode-tables` feature: the
//! server has them and decides. The app, without them, runs [`check_normalized`] with the
//! browser's own NFC and `\p{Cf}`, so the form catches the usual mistakes at no size cost.

use std::fmt;
#[cfg(feature = "unicode-tables")]
use unicode_general_category::{get_general_category, GeneralCategory};
#[cfg(feature = "unicode-tables")]
use unicode_normalization::UnicodeNormalization;

/// Longest nickname, in characters (after normalisation).
pub const MAX_NICK_CHARS: usize = 32;

/// Longest room name, in characters (after normalisation).
pub const MAX_ROOM_CHARS: usize = 64;

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Nothing visible is left after trimming.
    Empty,
    /// More characters than allowed.
    TooLong {
        /// The most allowed.
        max: usize,
    },
    /// A control character (C0, DEL, C1).
    Control,
    /// An invisible format character (category Cf), such as U+200B ZERO WIDTH SPACE.
    Invisible(char),
    /// A line or paragraph separator.
    LineBreak,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "the name is empty"),
            NameProblem::TooLong { max } => write!(f, "the name is longer than {max} characters"),
            NameProblem::Control => write!(f, "the name contains control characters"),
            NameProblem::Invisible(c) => {
                write!(
                    f,
                    "the name contains an invisible character (U+{:04X})",
                    *c as u32
                )
            }
            NameProblem::LineBreak => write!(f, "the name contains a line break"),
        }
    }
}

/// The rules on a name already in NFC, with the caller's test for format characters (category
/// Cf): the trimmed name, or why it is refused. Needs no Unicode tables of its own.
///
/// ```
/// use heartline_protocol::names::{check_normalized, NameProblem, MAX_NICK_CHARS};
/// let zero_width = |c: char| c == '\u{200b}';
/// assert_eq!(check_normalized(" ada ", MAX_NICK_CHARS, zero_width), Ok("ada"));
/// assert_eq!(check_normalized("a\u{200b}", MAX_NICK_CHARS, zero_width), Err(NameProblem::Invisible('\u{200b}')));
/// assert_eq!(check_normalized("a\u{2028}", MAX_NICK_CHARS, zero_width), Err(NameProblem::LineBreak));
/// ```
pub fn check_normalized(
    name: &str,
    max: usize,
    is_format: impl Fn(char) -> bool,
) -> Result<&str, NameProblem> {
    // Checked before trimming: U+2028 and U+2029 count as white space and would be trimmed.
    // They are the only characters of categories Zl and Zp.
    for c in name.chars() {
        match c {
            '\u{2028}' | '\u{2029}' => return Err(NameProblem::LineBreak),
            _ if is_format(c) => return Err(NameProblem::Invisible(c)),
            _ if c.is_control() => return Err(NameProblem::Control),
            _ => {}
        }
    }
    let name = name.trim();
    if name.is_empty() {
        Err(NameProblem::Empty)
    } else if name.chars().count() > max {
        Err(NameProblem::TooLong { max })
    } else {
        Ok(name)
    }
}

/// The nickname as the server keeps it (NFC, trimmed), or why it is refused.
///
/// ```
/// use heartline_protocol::names::{clean_nick, NameProblem};
/// assert_eq!(clean_nick(" zoe\u{301} ").as_deref(), Ok("zoé"));
/// assert_eq!(clean_nick("\u{200b}"), Err(NameProblem::Invisible('\u{200b}')));
/// ```
#[cfg(feature = "unicode-tables")]
pub fn clean_nick(raw: &str) -> Result<String, NameProblem> {
    clean(raw, MAX_NICK_CHARS)
}

/// The room name as the server keeps it (NFC, trimmed), or why it is refused.
///
/// ```
/// use heartline_protocol::names::clean_room;
/// assert!(clean_room(&"r".repeat(64)).is_ok());
/// assert!(clean_room(&"r".repeat(65)).is_err());
/// ```
#[cfg(feature = "unicode-tables")]
pub fn clean_room(raw: &str) -> Result<String, NameProblem> {
    clean(raw, MAX_ROOM_CHARS)
}

#[cfg(feature = "unicode-tables")]
fn clean(raw: &str, max: usize) -> Result<String, NameProblem> {
    let name: String = raw.nfc().collect();
    let is_format = |c| get_general_category(c) == GeneralCategory::Format;
    check_normalized(&name, max, is_format).map(str::to_owned)
}

/// What a nickname looks like (its UTS #39 skeleton): nicknames with equal skeletons clash.
///
/// ```
/// use heartline_protocol::names::nick_skeleton;
/// assert_eq!(nick_skeleton("\u{430}d\u{430}"), nick_skeleton("ada")); // Cyrillic а
/// assert_ne!(nick_skeleton("ada"), nick_skeleton("bob"));
/// ```
#[cfg(feature = "unicode-tables")]
pub fn nick_skeleton(nick: &str) -> String {
    unicode_security::skeleton(nick).collect()
}

#[cfg(all(test, feature = "unicode-tables"))]
mod tests {
    use super::*;

    #[test]
    fn the_issues_impostors_are_refused_or_clash() {
        // Refused outright.
        assert_eq!(
            clean_nick("\u{200b}\u{200c}\u{200d}"),
            Err(NameProblem::Invisible('\u{200b}'))
        );
        assert_eq!(clean_nick("a\u{2028}da"), Err(NameProblem::LineBreak));
        assert_eq!(clean_nick("ada\u{2029}"), Err(NameProblem::LineBreak));
        assert_eq!(
            clean_nick("ada\u{200b}"),
            Err(NameProblem::Invisible('\u{200b}'))
        );
        assert_eq!(
            clean_nick("a\u{202e}da"),
            Err(NameProblem::Invisible('\u{202e}'))
        );
        // Cleaned to the same name, or one that looks the same.
        assert_eq!(clean_nick("ada ").as_deref(), Ok("ada"));
        assert_eq!(clean_nick("zoe\u{301}").as_deref(), Ok("zo\u{e9}"));
        let cyrillic = clean_nick("\u{430}d\u{430}").unwrap();
        assert_eq!(nick_skeleton(&cyrillic), nick_skeleton("ada"));
    }

    #[test]
    fn lengths_count_characters_after_normalisation() {
        assert!(clean_nick(&"a".repeat(MAX_NICK_CHARS)).is_ok());
        assert_eq!(
            clean_nick(&"a".repeat(MAX_NICK_CHARS + 1)),
            Err(NameProblem::TooLong { max: 32 })
        );
        // 32 × "e + combining acute" is 64 chars in NFD, 32 in NFC.
        assert!(clean_nick(&"e\u{301}".repeat(32)).is_ok());
        assert!(clean_room(&"é".repeat(64)).is_ok());
        assert_eq!(clean_room("   "), Err(NameProblem::Empty));
        assert_eq!(clean_room("a\u{7}"), Err(NameProblem::Control));
        assert!(clean_nick("李雷").is_ok());
    }
}
