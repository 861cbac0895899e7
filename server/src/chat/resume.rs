//! Where a joining client resumes, and whether its welcome must say that it missed messages.
//! A gap is always reported, never hidden: the client cannot tell a quiet room from a hole.

use super::store::History;

/// A join's `last_seq`, checked against what the room holds.
#[derive(Debug, Clone, Copy)]
pub struct Resume {
    /// The seq to read history after.
    pub after: Option<u64>,
}

impl Resume {
    /// The resume point a join asks for.
    pub fn new(last_seq: Option<u64>) -> Self {
        Self { after: last_seq }
    }

    /// The welcome's `gap`: what the store reports, or a `last_seq` beyond the room's last seq
    /// (the client holds seqs this room never gave; it can only be told, not refilled).
    pub fn gap(&self, history: &History) -> bool {
        history.gap || self.after.is_some_and(|seq| seq > history.last_seq)
    }

    /// The highest seq the client counts as delivered once the welcome is sent: the room's
    /// last seq, whatever it asked for, so that live messages after it are forwarded.
    pub fn delivered(history: &History) -> u64 {
        history.last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(last_seq: u64) -> History {
        History {
            messages: Vec::new(),
            gap: false,
            last_seq,
        }
    }

    #[test]
    fn a_resume_past_the_end_is_a_gap_clamped_to_the_end() {
        for asked in [6, 1_000, u64::MAX] {
            assert!(Resume::new(Some(asked)).gap(&at(5)), "{asked}");
        }
        assert!(!Resume::new(Some(5)).gap(&at(5)));
        assert!(!Resume::new(None).gap(&at(5)));
        assert_eq!(Resume::delivered(&at(5)), 5);
    }
}
