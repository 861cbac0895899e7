//! Where a joining client resumes, and whether its welcome must say that it missed messages.
//! A gap is always reported, never hidden: the client cannot tell a quiet room from a hole.
//! A live member who lags behind the feed is told with a `gap` frame ([`lag_gap`]).

use super::store::History;

/// A join's `last_seq`, checked against what the room holds.
#[derive(Debug, Clone, Copy)]
pub struct Resume {
    /// The seq to read history after (`None` for a first join, or seqs of another epoch).
    pub after: Option<u64>,
    /// The client resumed seqs of another epoch: whatever it missed there is gone.
    foreign: bool,
}

impl Resume {
    /// The resume point a join asks for: `last_seq` of `epoch`, in a store now at `epoch_now`.
    pub fn new(last_seq: Option<u64>, epoch: Option<&str>, epoch_now: &str) -> Self {
        let foreign = last_seq.is_some() && epoch != Some(epoch_now);
        Self {
            // Seqs from another epoch mean nothing here: the history is sent as to a first join.
            after: last_seq.filter(|_| !foreign),
            foreign,
        }
    }

    /// The welcome's `gap`: what the store reports; a `last_seq` beyond the room's last seq
    /// (the client holds seqs this room never gave); or a `last_seq` from another epoch (the
    /// server lost what the client missed, e.g. in a restart). These can only be told.
    pub fn gap(&self, history: &History) -> bool {
        history.gap || self.foreign || self.after.is_some_and(|seq| seq > history.last_seq)
    }

    /// The highest seq the client counts as delivered once the welcome is sent: the room's
    /// last seq, whatever it asked for, so that live messages after it are forwarded.
    pub fn delivered(history: &History) -> u64 {
        history.last_seq
    }
}

/// The seqs a lagging member skipped that history no longer holds, as `(from, to)`: after
/// `delivered`, up to the first message history still has (or the room's end).
pub fn lag_gap(delivered: u64, history: &History) -> Option<(u64, u64)> {
    let first_kept = history
        .messages
        .first()
        .map_or(history.last_seq.saturating_add(1), |m| m.seq);
    let from = delivered.saturating_add(1);
    (first_kept > from).then(|| (from, first_kept - 1))
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
            assert!(
                Resume::new(Some(asked), Some("e"), "e").gap(&at(5)),
                "{asked}"
            );
        }
        assert!(!Resume::new(Some(5), Some("e"), "e").gap(&at(5)));
        assert!(!Resume::new(None, None, "e").gap(&at(5)));
        assert_eq!(Resume::delivered(&at(5)), 5);
    }

    #[test]
    fn a_lag_gap_is_what_history_lost_after_the_delivered_seq() {
        let kept = |seqs: &[u64], last_seq| History {
            messages: seqs
                .iter()
                .map(|&seq| heartline_protocol::ChatMessage {
                    room: "r".into(),
                    seq,
                    from: "a".into(),
                    ts: 0,
                    client_msg_id: seq.to_string(),
                    body: heartline_protocol::Body::Text { text: "t".into() },
                })
                .collect(),
            gap: false,
            last_seq,
        };
        assert_eq!(lag_gap(3, &kept(&[8, 9], 9)), Some((4, 7)));
        assert_eq!(lag_gap(3, &kept(&[4, 5], 5)), None);
        assert_eq!(lag_gap(9, &kept(&[], 9)), None);
    }

    #[test]
    fn a_resume_from_another_epoch_reads_everything_and_is_a_gap() {
        let resume = Resume::new(Some(3), Some("old"), "new");
        assert_eq!(resume.after, None);
        assert!(resume.gap(&at(5)));
        assert!(Resume::new(Some(0), None, "new").gap(&at(0)));
        assert!(!Resume::new(None, Some("old"), "new").gap(&at(5)));
    }
}
