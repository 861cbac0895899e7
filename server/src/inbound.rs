//! What a chat connection is sending, read off the raw bytes before the WebSocket library
//! buffers them: frame headers, so a message over its type's limit is refused at its header
//! (tungstenite has one frame limit for every type, and reserves a frame's whole length as
//! soon as it reads its header), and whether a message is in progress and since when, for
//! the read deadline and the memory budget.

/// What a frame header says about the message it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// A message the limits refuse, found at the header that takes it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversize {
    /// The message's length so far, as its headers declare it.
    pub declared: u64,
    /// The limit for its type.
    pub limit: u64,
    /// "text" or "binary".
    pub kind: &'static str,
}

/// The longest payload a control frame (close, ping, pong) may declare (RFC 6455 §5.5).
const MAX_CONTROL: u64 = 125;

impl Oversize {
    /// The close code that refuses it: 1002 for a control frame (no valid one is that long),
    /// 1009 for a message.
    pub fn close_code(&self) -> u16 {
        if self.kind == "control" {
            1002
        } else {
            1009
        }
    }
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frame of {} bytes; the limit is {}",
            self.kind, self.declared, self.limit
        )
    }
}

/// What one step of reading brought.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input consumed (all of it, unless `oversize` stopped it at a header).
    pub consumed: usize,
    /// Payload bytes, in these bytes, of the message still in progress at their end (what the
    /// library buffers until the message is whole).
    pub payload: usize,
    /// A message was completed (its last frame's payload ended) within these bytes.
    pub completed: bool,
    /// A frame or message began within these bytes.
    pub started: bool,
    /// The header at `consumed` declares a message over its limit.
    pub oversize: Option<Oversize>,
}

/// Follows client frames (masked, RFC 6455 §5.2) through the byte stream.
#[derive(Debug)]
pub struct FrameMeter {
    max_text: u64,
    max_binary: u64,
    header: [u8; 14],
    have: usize,
    /// Payload bytes left in the current frame.
    left: u64,
    /// Whether the current frame is a data frame (its payload is buffered).
    data_frame: bool,
    /// Whether the current frame ends its message.
    fin: bool,
    /// The message in progress: its type and declared length so far.
    message: Option<(Kind, u64)>,
}

impl FrameMeter {
    /// A meter at a frame boundary.
    pub fn new(max_text: usize, max_binary: usize) -> Self {
        Self {
            max_text: max_text as u64,
            max_binary: max_binary as u64,
            header: [0; 14],
            have: 0,
            left: 0,
            data_frame: false,
            fin: false,
            message: None,
        }
    }

    /// Whether a frame or message is in progress (not at a message boundary).
    pub fn in_progress(&self) -> bool {
        self.have > 0 || self.left > 0 || self.message.is_some()
    }

    /// Reads `bytes`; stops at a header that takes a message over its limit.
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        let mut step = Step::default();
        let mut at = 0;
        while at < bytes.len() {
            if self.left > 0 {
                let take = (bytes.len() - at).min(usize::try_from(self.left).unwrap_or(usize::MAX));
                at += take;
                self.left -= take as u64;
                if self.data_frame {
                    step.payload += take;
                }
                if self.left == 0 {
                    self.frame_ended(&mut step);
                }
                continue;
            }
            // Header bytes, one at a time (at most 14 per frame).
            if self.have == 0 && !self.in_progress() {
                step.started = true;
            }
            self.header[self.have] = bytes[at];
            self.have += 1;
            let Some(needed) = self.header_len() else {
                at += 1;
                continue;
            };
            if self.have < needed {
                at += 1;
                continue;
            }
            // A whole header: check it before anything of its payload is accepted.
            let (opcode, length) = self.parsed(needed);
            self.have = 0;
            self.fin = self.header[0] & 0x80 != 0;
            self.data_frame = opcode < 8;
            let kind = match opcode {
                1 => Some(Kind::Text),
                2 => Some(Kind::Binary),
                0 => self.message.map(|(kind, _)| kind),
                _ => None,
            };
            // The library would buffer a control frame's whole declared length before it
            // found it too long, outside the memory budget (only data payloads are counted).
            if !self.data_frame && length > MAX_CONTROL {
                step.consumed = (at + 1).saturating_sub(needed);
                step.oversize = Some(Oversize {
                    declared: length,
                    limit: MAX_CONTROL,
                    kind: "control",
                });
                return step;
            }
            if let Some(kind) = kind.filter(|_| self.data_frame) {
                let before = match (opcode, self.message) {
                    (0, Some((_, so_far))) => so_far,
                    _ => 0,
                };
                let declared = before.saturating_add(length);
                let (limit, name) = match kind {
                    Kind::Text => (self.max_text, "text"),
                    Kind::Binary => (self.max_binary, "binary"),
                };
                if declared > limit {
                    // Leave the header unconsumed: the library never sees it.
                    step.consumed = (at + 1).saturating_sub(needed);
                    step.oversize = Some(Oversize {
                        declared,
                        limit,
                        kind: name,
                    });
                    return step;
                }
                self.message = Some((kind, declared));
            }
            at += 1;
            self.left = length;
            if length == 0 {
                self.frame_ended(&mut step);
            }
        }
        step.consumed = bytes.len();
        step
    }

    fn frame_ended(&mut self, step: &mut Step) {
        if self.data_frame && self.fin {
            self.message = None;
            step.completed = true;
            // Only the message still in progress stays buffered.
            step.payload = 0;
        }
    }

    /// The whole header's length once its first two bytes are in.
    fn header_len(&self) -> Option<usize> {
        if self.have < 2 {
            return None;
        }
        let masked = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        let extended = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        Some(2 + extended + masked)
    }

    fn parsed(&self, needed: usize) -> (u8, u64) {
        let opcode = self.header[0] & 0x0f;
        let length = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut wide = [0u8; 8];
                wide.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(wide)
            }
            short => u64::from(short),
        };
        debug_assert!(needed <= 14);
        (opcode, length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header.
    fn header(fin: bool, opcode: u8, length: u64) -> Vec<u8> {
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        if length < 126 {
            bytes.push(0x80 | length as u8);
        } else if length <= u64::from(u16::MAX) {
            bytes.push(0x80 | 126);
            bytes.extend((length as u16).to_be_bytes());
        } else {
            bytes.push(0x80 | 127);
            bytes.extend(length.to_be_bytes());
        }
        bytes.extend([1, 2, 3, 4]);
        bytes
    }

    #[test]
    fn a_whole_message_completes_and_counts_its_payload() {
        let mut meter = FrameMeter::new(100, 1000);
        let mut bytes = header(true, 1, 5);
        bytes.extend(b"hello");
        let step = meter.feed(&bytes);
        assert!(step.started && step.completed);
        assert_eq!((step.consumed, step.payload), (bytes.len(), 0));
        assert!(!meter.in_progress());
        let step = meter.feed(&bytes[..bytes.len() - 2]);
        assert_eq!(step.payload, 3, "the part of the next message");
        assert!(meter.in_progress());
    }

    #[test]
    fn a_text_header_over_the_text_limit_is_refused_before_its_payload() {
        let mut meter = FrameMeter::new(100, 1000);
        let mut bytes = header(true, 1, 3);
        bytes.extend(b"abc");
        let first = bytes.len();
        bytes.extend(header(true, 1, 101));
        let step = meter.feed(&bytes);
        assert_eq!(step.consumed, first, "stopped at the header");
        assert_eq!(
            step.oversize.map(|o| (o.kind, o.declared)),
            Some(("text", 101))
        );
        // The same length is fine as binary.
        let mut meter = FrameMeter::new(100, 1000);
        assert!(meter.feed(&header(true, 2, 101)).oversize.is_none());
        assert!(meter.in_progress());
    }

    #[test]
    fn fragments_add_up_and_control_frames_in_between_do_not() {
        let mut meter = FrameMeter::new(100, 1000);
        let mut bytes = header(false, 1, 60);
        bytes.extend([0; 60]);
        bytes.extend(header(true, 9, 2));
        bytes.extend([0; 2]);
        let step = meter.feed(&bytes);
        assert!(!step.completed && meter.in_progress());
        assert_eq!(step.payload, 60);
        let step = meter.feed(&header(true, 0, 41));
        assert_eq!(step.oversize.map(|o| o.declared), Some(101));
    }

    #[test]
    fn a_control_frame_longer_than_125_bytes_is_refused_at_its_header() {
        let mut meter = FrameMeter::new(100, 1000);
        let mut bytes = header(true, 9, 125);
        bytes.extend([0; 125]);
        let first = bytes.len();
        bytes.extend(header(true, 9, 5 << 20));
        let step = meter.feed(&bytes);
        assert_eq!(step.consumed, first, "stopped at the header");
        let oversize = step.oversize.expect("refused");
        assert_eq!((oversize.kind, oversize.declared), ("control", 5 << 20));
        assert_eq!(oversize.close_code(), 1002);
        for opcode in [8, 10] {
            let mut meter = FrameMeter::new(100, 1000);
            assert!(meter.feed(&header(true, opcode, 126)).oversize.is_some());
        }
    }

    #[test]
    fn headers_split_across_reads_are_followed() {
        let mut meter = FrameMeter::new(100, 100_000);
        let mut bytes = header(true, 2, 70_000);
        bytes.extend(vec![7; 70_000]);
        let mut completed = false;
        for chunk in bytes.chunks(3) {
            let step = meter.feed(chunk);
            assert!(step.oversize.is_none());
            completed |= step.completed;
        }
        assert!(completed && !meter.in_progress());
    }
}
