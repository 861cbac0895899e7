//! Where a joining client resumes, and whether its welcome must say that it missed messages.
//! A gap is always reported, never hidden: the client cannot tell a quiet room from a hole.
//! A live member caught up from the store (it lagged behind the feed, or the feed skipped
//! seqs) is told what the store no longer has with `gap` frames ([`catch_up_page`]).

use super::store::{History, Page};
use heartline_protocol::ChatMessage;

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

/// One frame of a catch-up, in the order it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchUp {
    /// Seqs `from..=to` the store no longer has.
    Gap {
        /// First seq missing.
        from: u64,
        /// Last seq missing.
        to: u64,
    },
    /// A message, in seq order.
    Message(ChatMessage),
}

/// What to send of one page of the store read after `delivered` (oldest first), up to seq
/// `until` (`None`: to the room's end): each message, after a `gap` for the seqs before it
/// that the page skips (at its start: the store no longer has them; inside it: entries the
/// store could not read or that left while it was read), and, on the last page, a `gap` for the
/// seqs after it up to `until` (the live feed holds the seq after it, so every seq up to it
/// was given) or the room's last seq. Also whether to read the next page.
pub fn catch_up_page(delivered: u64, until: Option<u64>, page: Page) -> (Vec<CatchUp>, bool) {
    let last = until.unwrap_or(u64::MAX);
    let mut sent = delivered;
    let mut frames = Vec::new();
    // The store has a seq past `until`: every one up to it was in this page, or is gone.
    let mut past_until = false;
    for message in page.history.messages {
        if message.seq > last {
            // The rest comes from the feed.
            past_until = true;
            break;
        }
        if message.seq <= sent {
            continue;
        }
        if message.seq > sent + 1 {
            frames.push(CatchUp::Gap {
                from: sent + 1,
                to: message.seq - 1,
            });
        }
        sent = message.seq;
        frames.push(CatchUp::Message(message));
    }
    // On from the last message sent (a page after `delivered` holds only later seqs, so a page
    // read again is never the same one).
    if page.more && !past_until && sent < last && sent > delivered {
        return (frames, true);
    }
    let end = until.unwrap_or(page.history.last_seq);
    if end > sent {
        frames.push(CatchUp::Gap {
            from: sent + 1,
            to: end,
        });
    }
    (frames, false)
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

    fn page(seqs: &[u64], last_seq: u64, more: bool) -> Page {
        Page {
            history: History {
                messages: seqs
                    .iter()
                    .map(|&seq| ChatMessage {
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
            },
            more,
        }
    }

    /// The frames as `"gap 4-7"` and `"6"` (a message's seq).
    fn sent(frames: &[CatchUp]) -> Vec<String> {
        frames
            .iter()
            .map(|frame| match frame {
                CatchUp::Gap { from, to } => format!("gap {from}-{to}"),
                CatchUp::Message(message) => message.seq.to_string(),
            })
            .collect()
    }

    #[test]
    fn a_catch_up_says_every_seq_the_store_lacks_and_sends_the_rest_once_in_order() {
        let all = None;
        // Gone before the page: one gap, then the messages.
        let (frames, more) = catch_up_page(3, all, page(&[8, 9], 9, false));
        assert_eq!(
            (sent(&frames), more),
            (vec!["gap 4-7".into(), "8".into(), "9".into()], false)
        );
        // Holes inside a page (entries unreadable, or gone while it was read).
        let (frames, _) = catch_up_page(3, all, page(&[4, 6, 9], 9, false));
        assert_eq!(sent(&frames), ["4", "gap 5-5", "6", "gap 7-8", "9"]);
        // Nothing after the last page up to the room's last seq: a gap to it.
        let (frames, _) = catch_up_page(3, all, page(&[4], 7, false));
        assert_eq!(sent(&frames), ["4", "gap 5-7"]);
        let (frames, _) = catch_up_page(9, all, page(&[], 9, false));
        assert!(frames.is_empty());
        // More pages: read on from the last message, no gap after it yet.
        let (frames, more) = catch_up_page(3, all, page(&[4, 5], 20, true));
        assert_eq!((sent(&frames), more), (vec!["4".into(), "5".into()], true));
        // Up to `until` (the feed goes on after it): no further, and a gap for what is gone.
        let (frames, more) = catch_up_page(3, Some(5), page(&[4, 5, 6, 7], 20, true));
        assert_eq!((sent(&frames), more), (vec!["4".into(), "5".into()], false));
        let (frames, more) = catch_up_page(3, Some(5), page(&[4, 7], 20, true));
        assert_eq!(
            (sent(&frames), more),
            (vec!["4".into(), "gap 5-5".into()], false)
        );
        let (frames, _) = catch_up_page(3, Some(5), page(&[], 20, false));
        assert_eq!(sent(&frames), ["gap 4-5"]);
        // A store whose last seq is below it (gone back to an older state): still said.
        let (frames, _) = catch_up_page(3, Some(5), page(&[4], 4, false));
        assert_eq!(sent(&frames), ["4", "gap 5-5"]);
        // What was sent already is not sent again.
        let (frames, _) = catch_up_page(5, all, page(&[5, 6], 6, false));
        assert_eq!(sent(&frames), ["6"]);
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
