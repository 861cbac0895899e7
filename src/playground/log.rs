//! The playground's pure parts: frame and event entries, previews, hex input, JSON checks,
//! filters and export. No browser here, so it is tested on the host.

use serde::Serialize;
use std::collections::VecDeque;

/// Frames kept in the log; older ones are dropped (and counted) so it stays fast.
pub const FRAME_CAP: usize = 2_000;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent.
    Out,
    /// Received.
    In,
}

/// A frame in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameEntry {
    /// Sent or received.
    pub direction: Direction,
    /// Binary (else text).
    pub binary: bool,
    /// Size in bytes.
    pub size: usize,
    /// Time, ms since the epoch.
    pub at_ms: f64,
    /// Text, or hex + ASCII of the first bytes.
    pub preview: String,
    /// A heartbeat ping or its reply.
    pub heartbeat: bool,
    /// How it was sent or received (text, JSON, Blob, ArrayBuffer, bytes).
    pub kind: &'static str,
}

/// What the frame log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filter {
    /// Only this direction, if set.
    pub direction: Option<Direction>,
    /// Only binary (`Some(true)`) or only text (`Some(false)`).
    pub binary: Option<bool>,
    /// Hide heartbeat frames.
    pub hide_heartbeat: bool,
}

impl Filter {
    /// Whether an entry passes.
    pub fn accepts(&self, entry: &FrameEntry) -> bool {
        self.direction.is_none_or(|d| d == entry.direction)
            && self.binary.is_none_or(|b| b == entry.binary)
            && !(self.hide_heartbeat && entry.heartbeat)
    }
}

/// The frame log, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameLog {
    /// Kept entries, oldest first.
    pub entries: VecDeque<FrameEntry>,
    /// Entries dropped past the cap.
    pub dropped: usize,
}

impl FrameLog {
    /// Adds an entry, dropping the oldest past [`FRAME_CAP`].
    pub fn push(&mut self, entry: FrameEntry) {
        self.entries.push_back(entry);
        if self.entries.len() > FRAME_CAP {
            self.entries.pop_front();
            self.dropped += 1;
        }
    }

    /// The kept entries as pretty JSON, for export.
    pub fn export(&self) -> String {
        serde_json::to_string_pretty(&self.entries).unwrap_or_else(|_| "[]".into())
    }
}

/// Hex and ASCII of the first 32 bytes, e.g. `48 69 |Hi|`.
///
/// ```
/// assert_eq!(heartline_chat::playground::log::hex_preview(b"Hi\x00"), "48 69 00 |Hi.|");
/// ```
pub fn hex_preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let ascii: String = shown
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let more = if bytes.len() > shown.len() {
        " …"
    } else {
        ""
    };
    format!("{} |{ascii}|{more}", hex.join(" "))
}

/// Parses hex like `de ad be ef` or `0xDEADBEEF`; says where it is wrong.
///
/// ```
/// use heartline_chat::playground::log::parse_hex;
/// assert_eq!(parse_hex("de ad 0x01"), Ok(vec![0xde, 0xad, 0x01]));
/// assert!(parse_hex("abc").is_err());
/// ```
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .split_whitespace()
        .map(|word| word.trim_start_matches("0x").trim_start_matches("0X"))
        .collect::<Vec<_>>()
        .join("");
    if digits.is_empty() {
        return Err("type some hex bytes, e.g. de ad be ef".into());
    }
    if let Some((index, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit (position {})", index + 1));
    }
    if digits.len() % 2 == 1 {
        return Err(format!(
            "{} hex digits: bytes need an even number",
            digits.len()
        ));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Checks JSON and returns it compact, or an error with line and column.
///
/// ```
/// use heartline_chat::playground::log::check_json;
/// assert_eq!(check_json("{ \"a\": 1 }"), Ok("{\"a\":1}".to_string()));
/// assert!(check_json("{\"a\":}").unwrap_err().contains("line 1, column 6"));
/// ```
pub fn check_json(text: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => Ok(value.to_string()),
        Err(error) => {
            let (line, column) = (error.line(), error.column());
            let context = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
            let caret = " ".repeat(column.saturating_sub(1)) + "^";
            Err(format!(
                "invalid JSON at line {line}, column {column}: {error}\n{context}\n{caret}"
            ))
        }
    }
}

/// An entry of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventEntry {
    /// Time, ms since the epoch.
    pub at_ms: f64,
    /// What happened, for people.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(direction: Direction, binary: bool, heartbeat: bool) -> FrameEntry {
        FrameEntry {
            direction,
            binary,
            size: 1,
            at_ms: 0.0,
            preview: String::new(),
            heartbeat,
            kind: "text",
        }
    }

    #[test]
    fn filters_combine() {
        let filter = Filter {
            direction: Some(Direction::In),
            binary: Some(false),
            hide_heartbeat: true,
        };
        assert!(filter.accepts(&entry(Direction::In, false, false)));
        assert!(!filter.accepts(&entry(Direction::Out, false, false)));
        assert!(!filter.accepts(&entry(Direction::In, true, false)));
        assert!(!filter.accepts(&entry(Direction::In, false, true)));
        assert!(Filter::default().accepts(&entry(Direction::Out, true, true)));
    }

    #[test]
    fn the_log_is_capped_and_counts_what_it_dropped() {
        let mut log = FrameLog::default();
        for _ in 0..FRAME_CAP + 10 {
            log.push(entry(Direction::In, false, false));
        }
        assert_eq!((log.entries.len(), log.dropped), (FRAME_CAP, 10));
        assert!(log.export().starts_with('['));
    }

    #[test]
    fn hex_errors_say_where() {
        assert_eq!(
            parse_hex("0a zz").unwrap_err(),
            "'z' is not a hex digit (position 3)"
        );
        assert!(parse_hex("").is_err());
        assert_eq!(hex_preview(&[0u8; 40]).matches("00").count(), 32);
    }
}
