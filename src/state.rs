//! The chat's state and its reducer: pure (no clock, no IO); the hook feeds it.

use crate::i18n::Texts;
use heartline_protocol::{ChatMessage, ServerLimits};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::{Borrow, Cow};
use std::rc::Rc;
use yew::Reducible;

/// A set kept as a sorted `Vec`. `HashSet` would do, but its hashing and table code is
/// instantiated once per key type and weighed about a KiB of gzip in the bundle; these sets are
/// searched by halves and mostly grow at the end (seqs arrive in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedSet<T>(Vec<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Ord> SortedSet<T> {
    /// Adds `value`; false if it was there already.
    pub fn insert(&mut self, value: T) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Whether `value` is in the set.
    pub fn contains<Q: Ord + ?Sized>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.0
            .binary_search_by(|probe| probe.borrow().cmp(value))
            .is_ok()
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Who I am in which room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Nickname.
    pub nick: String,
    /// Room.
    pub room: String,
}

/// What a pending message carries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "StoredBody")]
pub enum PendingBody {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image's upload frame, ready to send (as a `Blob`).
    Image {
        /// The file's name, shown while pending.
        name: String,
        /// The binary frame (header and file bytes).
        frame: Rc<Vec<u8>>,
    },
    /// A sketch's upload frame, ready to send (as an `ArrayBuffer`).
    Sketch {
        /// The binary frame (header and RGBA pixels).
        frame: Rc<Vec<u8>>,
    },
}

/// Stored flat, as [`StoredBody`] reads it back, frames as base64 text. A picture keeps its
/// name, and also its pending line as builds from before the name was kept alone wrote and
/// read it (`label`, "[image NAME]"), for a tab still running one of them.
impl Serialize for PendingBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("PendingBody", 4)?;
        match self {
            PendingBody::Text { text } => {
                out.serialize_field("kind", "text")?;
                out.serialize_field("text", text)?;
            }
            PendingBody::Image { name, frame } => {
                out.serialize_field("kind", "image")?;
                out.serialize_field("name", name)?;
                out.serialize_field("label", &old_image_line::of(name))?;
                out.serialize_field("frame", &base64::encode(frame))?;
            }
            PendingBody::Sketch { frame } => {
                out.serialize_field("kind", "sketch")?;
                out.serialize_field("frame", &base64::encode(frame))?;
            }
        }
        out.end()
    }
}

/// A pending picture's line as builds before its name was kept alone stored and showed it,
/// "[image NAME]", both ways.
mod old_image_line {
    pub fn of(name: &str) -> String {
        format!("[image {name}]")
    }

    /// The name in such a line; one build stored the bare name, taken as it is.
    pub fn name(line: &str) -> &str {
        line.strip_prefix("[image ")
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(line)
    }
}

/// Largest upload kept in localStorage while pending (larger ones stay in memory only, as
/// localStorage holds a few MiB per origin).
pub const MAX_SAVED_UPLOAD: usize = 1024 * 1024;

/// Standard base64 (with padding). In the browser it is the page's own `btoa`/`atob`, so the
/// bundle carries no base64 code; on the host (the state's unit tests) the `base64` crate, through
/// `heartline_protocol`. Both write the same text.
mod base64 {
    #[cfg(target_arch = "wasm32")]
    pub fn encode(bytes: &[u8]) -> String {
        // `btoa` takes a "binary string": one UTF-16 unit per byte.
        let binary: String = bytes.iter().map(|&byte| char::from(byte)).collect();
        web_sys::window()
            .and_then(|window| window.btoa(&binary).ok())
            .unwrap_or_default()
    }

    #[cfg(target_arch = "wasm32")]
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let binary = web_sys::window()?.atob(text).ok()?;
        binary.chars().map(|c| u8::try_from(c).ok()).collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub use heartline_protocol::{from_base64 as decode, to_base64 as encode};
}

/// A pending body as read back from localStorage: one flat struct, so reading it does not go
/// through serde's buffering of internally tagged enums (see `heartline_protocol`'s `flat`).
#[derive(Deserialize)]
struct StoredBody {
    kind: String,
    text: Option<String>,
    /// An image's file name.
    name: Option<String>,
    /// An image's pending line, "[image NAME]", all that builds before `name` stored (one
    /// stored the bare name here).
    label: Option<String>,
    frame: Option<String>,
}

impl TryFrom<StoredBody> for PendingBody {
    type Error = &'static str;

    fn try_from(stored: StoredBody) -> Result<Self, &'static str> {
        let frame = || {
            let text = stored.frame.as_deref().ok_or("no frame")?;
            base64::decode(text).map(Rc::new).ok_or("not base64")
        };
        Ok(match stored.kind.as_str() {
            "text" => PendingBody::Text {
                text: stored.text.clone().ok_or("no text")?,
            },
            "image" => PendingBody::Image {
                name: stored.name.clone().unwrap_or_else(|| {
                    old_image_line::name(stored.label.as_deref().unwrap_or_default()).to_string()
                }),
                frame: frame()?,
            },
            "sketch" => PendingBody::Sketch { frame: frame()? },
            _ => return Err("unknown kind"),
        })
    }
}

/// A message sent but not yet confirmed by its broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Its id, for ack and deduplication.
    pub client_msg_id: String,
    /// What it carries.
    pub body: PendingBody,
    /// The seq from the ack, once acked.
    #[serde(default)]
    pub acked: Option<u64>,
    /// Why the server refused it, once it did: it is then kept out of the resend queue until
    /// the user retries or deletes it.
    #[serde(default)]
    pub failed: Option<String>,
    /// How many times the person asked to send it again after a refusal, in any tab: the tabs
    /// that share the outbox tell a later ask from an earlier refusal by it (see
    /// [`Pending::take_later`]).
    #[serde(default)]
    pub retries: u32,
}

impl Pending {
    /// A message waiting to be sent.
    pub fn new(client_msg_id: String, body: PendingBody) -> Self {
        Self {
            client_msg_id,
            body,
            acked: None,
            failed: None,
            retries: 0,
        }
    }

    /// Takes what another tab's copy of this message knows and this one does not: a later ask
    /// to send it again (more retries), or a refusal of the same try. Either may have been
    /// missed here (the tab was frozen or in the back/forward cache); an older copy (a write
    /// made before the refusal, or before the retry) changes nothing. True if this copy changed.
    pub fn take_later(&mut self, other: &Pending) -> bool {
        let later = other.retries > self.retries
            || (other.retries == self.retries && other.failed.is_some() && self.failed.is_none());
        if later {
            self.retries = other.retries;
            self.failed.clone_from(&other.failed);
        }
        later
    }

    /// Whether it should be saved to localStorage: text always, uploads up to
    /// [`MAX_SAVED_UPLOAD`].
    pub fn persistable(&self) -> bool {
        match &self.body {
            PendingBody::Text { .. } => true,
            PendingBody::Image { frame, .. } | PendingBody::Sketch { frame } => {
                frame.len() <= MAX_SAVED_UPLOAD
            }
        }
    }

    /// Whether it is an upload (an image or a sketch), not a text.
    pub fn is_upload(&self) -> bool {
        !matches!(self.body, PendingBody::Text { .. })
    }

    /// What to show, in the UI's language.
    pub fn preview(&self, t: &Texts) -> Cow<'_, str> {
        match &self.body {
            PendingBody::Text { text } => Cow::Borrowed(text),
            PendingBody::Image { name, .. } => Cow::Owned(format!("[{} {name}]", t.image)),
            PendingBody::Sketch { .. } => Cow::Owned(format!("[{}]", t.sketch)),
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A chat message.
    Message(Rc<ChatMessage>),
    /// A system line (joins, leaves, reconnects).
    System(String),
}

/// The chat's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatState {
    /// Set once joined (the chat view shows); `None` shows the join screen.
    pub me: Option<Identity>,
    /// The log, in arrival order; messages in seq order.
    pub entries: Vec<Entry>,
    /// Seqs already in the log, so a replay never doubles a message.
    pub seen: SortedSet<u64>,
    /// The highest seq received: the resume point.
    pub last_seq: Option<u64>,
    /// The server store's epoch the seqs belong to.
    pub epoch: Option<String>,
    /// Everyone in the room.
    pub members: Vec<String>,
    /// The outbox.
    pub pending: Vec<Pending>,
    /// Ids that left the outbox (delivered or deleted): an outbox another tab saved earlier
    /// never brings them back.
    pub done: SortedSet<String>,
    /// True between `welcome` and the next loss.
    pub welcomed: bool,
    /// Who is typing.
    pub typing: Vec<String>,
    /// A problem to show (e.g. an image over the limit).
    pub problem: Option<String>,
    /// The limits the server announced in its last welcome.
    pub limits: Option<ServerLimits>,
    /// The server keeps older messages than those shown: the seq to ask for the page before.
    pub older: Option<u64>,
    /// Missed while away and not shown yet: the messages after this seq and before `older` (a
    /// resume whose welcome held only the newest page of what was missed). The chat fetches
    /// them page by page until the hole is filled.
    pub hole_after: Option<u64>,
    /// What `older` was before the hole opened: the way further back, once it is filled.
    older_beyond_hole: Option<u64>,
}

/// Everything that changes the state.
#[derive(Debug, Clone)]
pub enum Action {
    /// Enter a room (with the outbox remembered for it).
    Join(Identity, Vec<Pending>),
    /// Back to the join screen.
    Leave,
    /// A page of older messages (the answer to a `history` request).
    Page {
        /// The seq the request named.
        before: u64,
        /// The messages, in seq order.
        messages: Vec<ChatMessage>,
        /// Older ones still are kept.
        more: bool,
    },
    /// The server's welcome.
    Welcome {
        /// Members.
        members: Vec<String>,
        /// Missed messages (the newest page of them).
        history: Vec<ChatMessage>,
        /// Older ones than the page's are kept.
        more: bool,
        /// Older messages are gone.
        gap: Option<String>,
        /// The store's epoch.
        epoch: String,
        /// The room's latest seq.
        last_seq: u64,
        /// The server's limits.
        limits: ServerLimits,
        /// The UI's words, for the lines the welcome adds.
        texts: &'static Texts,
    },
    /// A message arrived.
    Message(ChatMessage),
    /// The server stored one of mine.
    Ack {
        /// Its id.
        client_msg_id: String,
        /// Its seq.
        seq: u64,
    },
    /// Someone joined (the line to show).
    MemberJoined(String, String),
    /// Someone left (the line to show).
    MemberLeft(String, String),
    /// Someone is typing.
    Typing(String),
    /// Their typing indicator expired.
    TypingDone(String),
    /// A message to send.
    Queue(Pending),
    /// The connection was lost or closed (the line to show).
    Lost(Option<String>),
    /// A system line.
    System(String),
    /// Show or clear a problem.
    Problem(Option<String>),
    /// The server refused one of my messages: its id, why, and the try refused (its retry
    /// count when sent; the refusal of an earlier try, heard late, changes nothing).
    Refused {
        /// The message.
        client_msg_id: String,
        /// Why, to show.
        reason: String,
        /// The try refused.
        retries: u32,
    },
    /// Send a refused message again (the person asked, in this tab).
    Retry(String),
    /// Drop a message from the outbox.
    Delete(String),
    /// Messages deleted in another tab of the same nickname and room: dropped here too (the
    /// tab that sends the outbox may be this one).
    DeletedElsewhere(Vec<String>),
    /// The outbox as another tab of the same nickname and room saved it: its messages that are
    /// new here join this tab's outbox (the leading tab sends them), and a refusal or an ask to
    /// send again made there is taken here ([`Pending::take_later`]).
    Adopt(Vec<Pending>),
}

impl ChatState {
    /// The state right after joining `me`'s room with these messages still pending.
    pub fn joined(me: Identity, pending: Vec<Pending>) -> Self {
        ChatState {
            me: Some(me),
            pending,
            ..ChatState::default()
        }
    }

    /// Adds a page of older messages, each in its place by seq; `more`: older ones still. Every
    /// tab of a shared connection hears each page, also those another tab asked for (its hole,
    /// or a request this tab made too): a page moves this tab's `older` only if it reaches
    /// below it from what this tab shows; one within what it shows only fills in (moving
    /// `older` up would make it ask again for pages it shows); one further back, with a gap
    /// between, is left to this tab's own request (the log never shows a silent gap).
    fn add_older(&mut self, before: u64, messages: Vec<ChatMessage>, more: bool) {
        let first = messages.first().map(|m| m.seq);
        let Some(older) = self.older else {
            // Everything the server keeps is shown already.
            return self.insert_older(messages);
        };
        if before < older {
            return;
        }
        if first.is_some_and(|first| first >= older) {
            return self.insert_older(messages);
        }
        self.older = if more { first } else { None };
        if let Some(after) = self.hole_after {
            // Down to what was shown before the hole (or nothing older is kept): filled.
            if !more || first.is_none_or(|seq| seq <= after.saturating_add(1)) {
                self.hole_after = None;
                let beyond = self.older_beyond_hole.take();
                self.older = if more { beyond } else { None };
            }
        }
        self.insert_older(messages);
    }

    /// Puts messages older than the newest shown each in its place by seq.
    fn insert_older(&mut self, messages: Vec<ChatMessage>) {
        for message in messages {
            // One of mine among them (acked while away and missed) is sent, not pending.
            if !self.admit(&message) {
                continue;
            }
            let at = self
                .entries
                .iter()
                .position(|entry| matches!(entry, Entry::Message(m) if m.seq > message.seq))
                .unwrap_or(self.entries.len());
            self.entries.insert(at, Entry::Message(Rc::new(message)));
        }
    }

    /// Takes a message out of the outbox for good.
    fn drop_pending(&mut self, client_msg_id: &str) {
        if let Some(at) = self
            .pending
            .iter()
            .position(|p| p.client_msg_id == client_msg_id)
        {
            self.pending.remove(at);
        }
        // Done even if it was not pending here: it may be another tab's message whose outbox
        // entry this tab adopts only later (its storage event after the broadcast).
        self.done.insert(client_msg_id.to_owned());
    }

    /// Whether `message` is new to the log (false for a seq already there); one of mine is
    /// then no longer pending.
    fn admit(&mut self, message: &ChatMessage) -> bool {
        if !self.seen.insert(message.seq) {
            return false;
        }
        let mine = self.me.as_ref().is_some_and(|me| me.nick == message.from);
        if mine {
            self.drop_pending(&message.client_msg_id);
        }
        true
    }

    fn add_message(&mut self, message: ChatMessage) {
        if !self.admit(&message) {
            return;
        }
        self.last_seq = Some(
            self.last_seq
                .map_or(message.seq, |last| last.max(message.seq)),
        );
        self.typing.retain(|nick| *nick != message.from);
        self.entries.push(Entry::Message(Rc::new(message)));
    }
}

impl Reducible for ChatState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut state = (*self).clone();
        match action {
            Action::Join(me, pending) => state = ChatState::joined(me, pending),
            Action::Leave => state = ChatState::default(),
            Action::Welcome {
                members,
                history,
                more,
                gap,
                epoch,
                last_seq,
                limits,
                texts,
            } => {
                state.members = members;
                state.limits = Some(limits);
                // A new epoch (the server lost its history): our seqs mean nothing there any more,
                // and what it acked is gone with it: send it again.
                let resumed = state.epoch.as_ref() == Some(&epoch);
                // The room's end behind what this tab has seen, in the same epoch: the server's
                // database went back (a backup restored), and the seqs after its end will be
                // given again to new messages. Forget which were seen (the log keeps them), so
                // those are shown; what of mine it acknowledged past its end is gone: send it
                // again.
                let rewound = resumed && state.last_seq.is_some_and(|seen| last_seq < seen);
                if rewound {
                    state.seen.clear();
                    state.last_seq = Some(last_seq);
                    for pending in &mut state.pending {
                        if pending.acked.is_some_and(|seq| seq > last_seq) {
                            pending.acked = None;
                        }
                    }
                }
                if !resumed {
                    state.seen.clear();
                    state.last_seq = None;
                    if state.epoch.is_some() {
                        for pending in &mut state.pending {
                            pending.acked = None;
                        }
                    }
                    state.epoch = Some(epoch);
                }
                state.welcomed = true;
                let first = history.first().map(|m| m.seq);
                // A resume that missed more than a page: the rest is fetched, page by page.
                match (resumed, more, state.last_seq, first) {
                    (true, true, Some(last), Some(first)) if first > last.saturating_add(1) => {
                        if state.hole_after.is_none() {
                            state.older_beyond_hole = state.older;
                        }
                        state.hole_after = Some(state.hole_after.map_or(last, |h| h.min(last)));
                    }
                    (false, ..) => {
                        state.hole_after = None;
                        state.older_beyond_hole = None;
                    }
                    _ => {}
                }
                // A resume that missed little keeps the way to what was older before it.
                state.older = if more {
                    first
                } else if resumed {
                    state.older
                } else {
                    None
                };
                if let Some(line) = gap {
                    state.entries.push(Entry::System(line));
                }
                for message in history {
                    state.add_message(message);
                }
                // The resume point is the room's end as welcomed, also in a room with nothing
                // said yet: a member away meanwhile then resumes (and sees what it missed)
                // instead of joining afresh with only the newest page.
                state.last_seq = Some(state.last_seq.map_or(last_seq, |seen| seen.max(last_seq)));
                // Acked, yet neither broadcast to us nor in the replay: the room has it, but
                // beyond what the server still keeps for us. It is sent, not pending. One in
                // the hole being fetched is not that: it comes with its page.
                let in_hole = |seq: u64| {
                    state.hole_after.is_some_and(|after| seq > after)
                        && state.older.is_some_and(|before| seq < before)
                };
                let stored_unseen: Vec<Pending> = state
                    .pending
                    .iter()
                    .filter(|p| {
                        p.acked.is_some_and(|seq| {
                            seq <= last_seq && !state.seen.contains(&seq) && !in_hole(seq)
                        })
                    })
                    .cloned()
                    .collect();
                for pending in stored_unseen {
                    state.drop_pending(&pending.client_msg_id);
                    state.entries.push(Entry::System(format!(
                        "#{}: {}",
                        pending.acked.unwrap_or_default(),
                        pending.preview(texts)
                    )));
                }
            }
            Action::Message(message) => state.add_message(message),
            Action::Page {
                before,
                messages,
                more,
            } => state.add_older(before, messages, more),
            Action::Ack { client_msg_id, seq } => {
                if let Some(pending) = state
                    .pending
                    .iter_mut()
                    .find(|p| p.client_msg_id == client_msg_id)
                {
                    pending.acked = Some(seq);
                }
                // Already broadcast to me (a resend after reconnect): nothing is pending any more.
                if state.seen.contains(&seq) {
                    state.drop_pending(&client_msg_id);
                }
            }
            Action::MemberJoined(nick, line) => {
                // The welcome's list is sorted (the server sorts it): insert in place, which
                // also needs no sort code in the bundle.
                if let Err(at) = state.members.binary_search(&nick) {
                    state.members.insert(at, nick);
                }
                state.entries.push(Entry::System(line));
            }
            Action::MemberLeft(nick, line) => {
                state.members.retain(|m| *m != nick);
                state.typing.retain(|m| *m != nick);
                state.entries.push(Entry::System(line));
            }
            Action::Typing(nick) => {
                if !state.typing.contains(&nick) {
                    state.typing.push(nick);
                }
            }
            Action::TypingDone(nick) => state.typing.retain(|m| *m != nick),
            Action::Queue(pending) => state.pending.push(pending),
            Action::Lost(line) => {
                if !state.welcomed && line.is_none() {
                    return self;
                }
                state.welcomed = false;
                state.typing.clear();
                if let Some(line) = line {
                    state.entries.push(Entry::System(line));
                }
            }
            Action::System(line) => state.entries.push(Entry::System(line)),
            Action::Problem(problem) => state.problem = problem,
            Action::Refused {
                client_msg_id,
                reason,
                retries,
            } => {
                let Some(pending) = state.pending.iter_mut().find(|p| {
                    p.client_msg_id == client_msg_id && p.acked.is_none() && p.retries == retries
                }) else {
                    return self;
                };
                pending.failed = Some(reason);
            }
            Action::Retry(client_msg_id) => {
                let Some(pending) = state
                    .pending
                    .iter_mut()
                    .find(|p| p.client_msg_id == client_msg_id && p.failed.is_some())
                else {
                    return self;
                };
                pending.failed = None;
                pending.retries += 1;
            }
            Action::Delete(client_msg_id) => state.drop_pending(&client_msg_id),
            Action::DeletedElsewhere(ids) => {
                let new: Vec<String> = ids
                    .into_iter()
                    .filter(|id| {
                        !state.done.contains(id)
                            || state.pending.iter().any(|p| p.client_msg_id == *id)
                    })
                    .collect();
                if new.is_empty() {
                    return self;
                }
                for id in new {
                    state.drop_pending(&id);
                }
            }
            Action::Adopt(saved) => {
                let mut changed = false;
                for pending in saved {
                    if state.done.contains(&pending.client_msg_id) {
                        continue;
                    }
                    match state
                        .pending
                        .iter_mut()
                        .find(|p| p.client_msg_id == pending.client_msg_id)
                    {
                        Some(known) => changed |= known.take_later(&pending),
                        None => {
                            state.pending.push(pending);
                            changed = true;
                        }
                    }
                }
                if !changed {
                    return self;
                }
            }
        }
        Rc::new(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use heartline_protocol::Body;

    fn message(seq: u64, from: &str, id: &str) -> ChatMessage {
        ChatMessage {
            room: "r".into(),
            seq,
            from: from.into(),
            ts: 0,
            client_msg_id: id.into(),
            body: Body::Text { text: id.into() },
        }
    }

    /// bob's messages with these seqs.
    fn page(seqs: std::ops::RangeInclusive<u64>) -> Vec<ChatMessage> {
        seqs.map(|seq| message(seq, "bob", "x")).collect()
    }

    fn joined() -> Rc<ChatState> {
        let me = Identity {
            nick: "ada".into(),
            room: "r".into(),
        };
        Rc::new(ChatState::default()).reduce(Action::Join(me, Vec::new()))
    }

    fn seqs(state: &ChatState) -> Vec<u64> {
        state
            .entries
            .iter()
            .filter_map(|e| {
                if let Entry::Message(m) = e {
                    Some(m.seq)
                } else {
                    None
                }
            })
            .collect()
    }

    const LIMITS: ServerLimits = ServerLimits {
        max_text_bytes: 65_536,
        max_binary_bytes: 5 << 20,
        burst: 20,
        per_second: 10,
        history_page_messages: 200,
        history_page_bytes: 1 << 20,
        message_deadline_ms: 30_000,
    };

    fn welcome(history: Vec<ChatMessage>, epoch: &str) -> Action {
        let last_seq = history.last().map_or(0, |m| m.seq);
        welcome_at(history, epoch, last_seq)
    }

    fn welcome_at(history: Vec<ChatMessage>, epoch: &str, last_seq: u64) -> Action {
        Action::Welcome {
            members: vec![],
            history,
            more: false,
            gap: None,
            epoch: epoch.into(),
            last_seq,
            limits: LIMITS,
            texts: Lang::En.texts(),
        }
    }

    /// A welcome whose history is the newest page: `more` says older messages are kept.
    fn welcome_paged(history: Vec<ChatMessage>, more: bool, epoch: &str) -> Action {
        let last_seq = history.last().map_or(0, |m| m.seq);
        Action::Welcome {
            members: vec![],
            history,
            more,
            gap: None,
            epoch: epoch.into(),
            last_seq,
            limits: LIMITS,
            texts: Lang::En.texts(),
        }
    }

    fn text(id: &str) -> Pending {
        Pending::new(id.into(), PendingBody::Text { text: id.into() })
    }

    #[test]
    fn acked_but_never_broadcast_is_reconciled_on_resume() {
        let state = joined()
            .reduce(welcome(vec![], "e"))
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Ack {
                client_msg_id: "m1".into(),
                seq: 5,
            });
        // The broadcast never came; the next welcome's room is past 5 and its replay lacks it.
        let state = state.reduce(welcome_at(vec![message(7, "bob", "x")], "e", 7));
        assert!(
            state.pending.is_empty(),
            "no longer shown as sent-but-pending"
        );
        assert!(state
            .entries
            .iter()
            .any(|e| matches!(e, Entry::System(l) if l.contains("#5"))));
    }

    #[test]
    fn acked_messages_are_resent_when_the_server_lost_its_history() {
        let state = joined()
            .reduce(welcome(vec![], "old"))
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Ack {
                client_msg_id: "m1".into(),
                seq: 5,
            })
            .reduce(welcome(vec![], "new"));
        assert_eq!(state.pending.len(), 1);
        assert_eq!(
            state.pending[0].acked, None,
            "unacked again, so it is resent"
        );
    }

    fn refused(id: &str, retries: u32) -> Action {
        Action::Refused {
            client_msg_id: id.into(),
            reason: "too large".into(),
            retries,
        }
    }

    #[test]
    fn a_refused_message_waits_for_retry_or_delete() {
        let state = joined()
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Queue(text("m2")))
            .reduce(refused("m1", 0));
        assert_eq!(state.pending[0].failed.as_deref(), Some("too large"));
        assert_eq!(state.pending[1].failed, None);
        let retried = state.clone().reduce(Action::Retry("m1".into()));
        assert_eq!(retried.pending[0].failed, None);
        // The first try's refusal heard again, late: the second try stands. Retry on a message
        // not refused (a double click) asks nothing more.
        let late = retried.clone().reduce(refused("m1", 0));
        assert!(Rc::ptr_eq(&retried, &late));
        let again = retried.clone().reduce(Action::Retry("m1".into()));
        assert!(Rc::ptr_eq(&retried, &again));
        let deleted = state.reduce(Action::Delete("m1".into()));
        assert_eq!(deleted.pending.len(), 1);
        assert_eq!(deleted.pending[0].client_msg_id, "m2");
    }

    fn pending_ids(state: &ChatState) -> Vec<&str> {
        state
            .pending
            .iter()
            .map(|p| p.client_msg_id.as_str())
            .collect()
    }

    #[test]
    fn a_message_deleted_in_another_tab_leaves_this_tabs_outbox_and_is_not_adopted_again() {
        let state = joined()
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Queue(text("m2")))
            .reduce(Action::DeletedElsewhere(vec!["m1".into()]));
        assert_eq!(pending_ids(&state), ["m2"]);
        // Heard again (every deletion event carries the whole list): the same state.
        let again = state
            .clone()
            .reduce(Action::DeletedElsewhere(vec!["m1".into()]));
        assert!(Rc::ptr_eq(&state, &again));
        // A third tab's older save still lists it: not taken back.
        let adopted = state.reduce(Action::Adopt(vec![text("m1")]));
        assert_eq!(adopted.pending.len(), 1);
    }

    #[test]
    fn a_replayed_message_is_shown_once() {
        let state = joined()
            .reduce(welcome(
                vec![message(1, "bob", "a"), message(2, "bob", "b")],
                "e",
            ))
            .reduce(Action::Message(message(3, "bob", "c")))
            // A reconnect whose replay overlaps what we have.
            .reduce(welcome(
                vec![message(2, "bob", "b"), message(3, "bob", "c")],
                "e",
            ))
            .reduce(Action::Message(message(3, "bob", "c")));
        assert_eq!(seqs(&state), [1, 2, 3]);
        assert_eq!(state.last_seq, Some(3));
    }

    #[test]
    fn a_new_epoch_starts_the_seqs_over() {
        let state = joined().reduce(welcome(vec![message(1, "bob", "a")], "old"));
        let state = state.reduce(welcome(vec![message(1, "ada", "x")], "new"));
        assert_eq!(
            seqs(&state),
            [1, 1],
            "the restarted server's seq 1 is another message"
        );
        assert_eq!(state.epoch.as_deref(), Some("new"));
    }

    #[test]
    fn pending_until_my_message_arrives() {
        let pending = Pending::new("m1".into(), PendingBody::Text { text: "hi".into() });
        let state = joined().reduce(Action::Queue(pending));
        let state = state.reduce(Action::Ack {
            client_msg_id: "m1".into(),
            seq: 1,
        });
        assert_eq!(
            state.pending[0].acked,
            Some(1),
            "acked but still shown until the broadcast"
        );
        let state = state.reduce(Action::Message(message(1, "ada", "m1")));
        assert!(state.pending.is_empty());
        assert_eq!(seqs(&state), [1]);
    }

    #[test]
    fn another_tabs_outbox_adds_what_is_new_and_never_brings_back_what_was_delivered() {
        let text = |id: &str| Pending::new(id.into(), PendingBody::Text { text: id.into() });
        let state = joined()
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Message(message(1, "ada", "m1")));
        assert!(state.pending.is_empty());
        // A tab that saved before it saw m1 delivered, and has written m2 since.
        let state = state.reduce(Action::Adopt(vec![text("m1"), text("m2")]));
        assert_eq!(pending_ids(&state), ["m2"]);
        // Adopting it again changes nothing (the same state, no re-render).
        let again = state.clone().reduce(Action::Adopt(vec![text("m2")]));
        assert!(Rc::ptr_eq(&state, &again));
    }

    #[test]
    fn another_tabs_later_refusal_or_retry_is_taken_and_an_older_copy_changes_nothing() {
        let refused = |id: &str, retries: u32| Pending {
            failed: Some("refused".into()),
            retries,
            ..text(id)
        };
        let unrefused = |id: &str, retries: u32| Pending {
            retries,
            ..text(id)
        };
        let state = joined()
            .reduce(Action::Queue(text("m1")))
            .reduce(Action::Queue(refused("m2", 0)));
        // Refused while this tab was away (m1), and a save from before the refusal (m2): only
        // the refusal is taken.
        let state = state.reduce(Action::Adopt(vec![refused("m1", 0), unrefused("m2", 0)]));
        assert_eq!(state.pending[0].failed.as_deref(), Some("refused"));
        assert_eq!(state.pending[1].failed.as_deref(), Some("refused"));
        // Retried there (m2): sent again from here too. A save from before it changes nothing,
        // and neither does the same copy again (no re-render).
        let state = state.reduce(Action::Adopt(vec![unrefused("m2", 1)]));
        assert_eq!(state.pending[1].failed, None);
        let again = state
            .clone()
            .reduce(Action::Adopt(vec![refused("m2", 0), unrefused("m2", 1)]));
        assert!(Rc::ptr_eq(&state, &again));
        // Refused again after that retry, and retried here: each ask counts.
        let state = state
            .reduce(Action::Adopt(vec![refused("m2", 1)]))
            .reduce(Action::Retry("m2".into()));
        assert_eq!(
            (state.pending[1].retries, &state.pending[1].failed),
            (2, &None)
        );
    }

    #[test]
    fn another_tabs_message_delivered_before_its_outbox_is_adopted_is_not_pending_here() {
        // Tab three wrote it; this tab sees it delivered before the storage event that brings
        // tab three's outbox.
        let state = joined().reduce(Action::Message(message(1, "ada", "m1")));
        let state = state.reduce(Action::Adopt(vec![text("m1")]));
        assert!(state.pending.is_empty(), "{:?}", state.pending);
    }

    #[test]
    fn an_ack_for_a_message_already_shown_clears_it() {
        let pending = Pending::new("m1".into(), PendingBody::Text { text: "hi".into() });
        let state = joined().reduce(Action::Message(message(4, "ada", "m1")));
        let state = state.reduce(Action::Queue(pending)).reduce(Action::Ack {
            client_msg_id: "m1".into(),
            seq: 4,
        });
        assert!(state.pending.is_empty());
    }

    #[test]
    fn pendings_are_saved_but_huge_uploads_are_not() {
        let text = Pending::new("t".into(), PendingBody::Text { text: "x".into() });
        let sketch = Pending::new(
            "s".into(),
            PendingBody::Sketch {
                frame: Rc::new(vec![0, 1, 255]),
            },
        );
        let huge = Pending::new(
            "i".into(),
            PendingBody::Image {
                name: "big.png".into(),
                frame: Rc::new(vec![0; MAX_SAVED_UPLOAD + 1]),
            },
        );
        assert!(text.persistable() && sketch.persistable() && !huge.persistable());
        let saved = vec![text, sketch];
        let json = serde_json::to_string(&saved).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Pending>>(&json).unwrap(), saved);
    }

    #[test]
    fn a_pending_upload_is_shown_in_the_ui_language_also_as_stored_before() {
        let image = Pending::new(
            "i".into(),
            PendingBody::Image {
                name: "猫.png".into(),
                frame: Rc::new(vec![1]),
            },
        );
        let sketch = Pending::new(
            "s".into(),
            PendingBody::Sketch {
                frame: Rc::new(vec![1]),
            },
        );
        assert_eq!(image.preview(Lang::Zh.texts()), "[图片 猫.png]");
        assert_eq!(image.preview(Lang::En.texts()), "[Image 猫.png]");
        assert_eq!(sketch.preview(Lang::Zh.texts()), "[涂鸦]");
        // Saved by an earlier build: the English label around the name.
        let old = r#"[{"client_msg_id":"i","body":{"kind":"image","label":"[image 猫.png]","frame":"AQ=="}}]"#;
        let read: Vec<Pending> = serde_json::from_str(old).unwrap();
        assert_eq!(read, vec![image.clone()]);
        // Stored with the line an earlier build shows, and the name as it is: a file whose
        // name looks like such a line keeps it.
        let saved = serde_json::to_string(&[&image]).unwrap();
        assert!(saved.contains(r#""label":"[image 猫.png]""#), "{saved}");
        let read: Vec<Pending> = serde_json::from_str(&saved).unwrap();
        assert_eq!(read, vec![image]);
        let odd = Pending::new(
            "j".into(),
            PendingBody::Image {
                name: "[image x]".into(),
                frame: Rc::new(vec![1]),
            },
        );
        let saved = serde_json::to_string(&[&odd]).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<Pending>>(&saved).unwrap(),
            vec![odd]
        );
        // Stored by the build that kept the bare name under `label`, or under `name`.
        for stored in [r#""label":"猫.png""#, r#""name":"猫.png""#] {
            let json = format!(
                r#"[{{"client_msg_id":"i","body":{{"kind":"image",{stored},"frame":"AQ=="}}}}]"#
            );
            let read: Vec<Pending> = serde_json::from_str(&json).unwrap();
            assert_eq!(
                read[0].preview(Lang::En.texts()),
                "[Image 猫.png]",
                "{stored}"
            );
        }
    }

    #[test]
    fn an_older_page_goes_before_what_is_shown_and_says_whether_to_ask_again() {
        let state = joined().reduce(welcome_paged(
            vec![message(5, "bob", "e"), message(6, "bob", "f")],
            true,
            "e",
        ));
        assert_eq!(
            state.older,
            Some(5),
            "the button asks for the page before 5"
        );
        let state = state.reduce(Action::Page {
            before: 5,
            // One already shown (pages may overlap what the client has).
            messages: vec![
                message(3, "bob", "c"),
                message(4, "bob", "d"),
                message(5, "bob", "e"),
            ],
            more: true,
        });
        assert_eq!(seqs(&state), vec![3, 4, 5, 6]);
        assert_eq!(state.older, Some(3));
        let state = state.reduce(Action::Page {
            before: 3,
            messages: vec![message(1, "bob", "a"), message(2, "bob", "b")],
            more: false,
        });
        assert_eq!(seqs(&state), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(state.older, None, "nothing older is kept: no button");
    }

    #[test]
    fn a_page_another_tab_asked_for_fills_in_and_leaves_this_tabs_way_back() {
        // Shown: 100-105, older ones kept. Another tab of the shared connection, back with a
        // hole, asks for pages: this tab hears the answers too.
        let shown = || joined().reduce(welcome_paged(page(100..=105), true, "e"));
        let answer = |state: Rc<ChatState>, before, seqs, more| {
            state.reduce(Action::Page {
                before,
                messages: page(seqs),
                more,
            })
        };
        assert_eq!(shown().older, Some(100));
        let state = answer(shown(), 104, 60..=103, true);
        assert_eq!(state.older, Some(60), "reached below: the way back now");
        let state = answer(shown(), 104, 102..=103, true);
        assert_eq!(
            state.older,
            Some(100),
            "still before 100, not again 102-103"
        );
        assert_eq!(seqs(&state), (100..=105).collect::<Vec<_>>());
        // Its own page, answered after another tab's request moved nothing: moves it.
        let state = answer(state, 100, 90..=99, false);
        assert_eq!(state.older, None);
        assert_eq!(seqs(&state), (90..=105).collect::<Vec<_>>());
        // A page further back than this tab's way back, with a gap between: not shown.
        let state = answer(shown(), 50, 10..=49, true);
        assert_eq!(state.older, Some(100));
        assert_eq!(seqs(&state), (100..=105).collect::<Vec<_>>());
    }

    #[test]
    fn a_resume_that_missed_little_keeps_the_load_older_button() {
        let first = welcome_paged(vec![message(5, "bob", "e")], true, "e");
        let state = joined().reduce(first);
        let state = state.reduce(welcome_paged(vec![message(6, "bob", "f")], false, "e"));
        assert_eq!(
            state.older,
            Some(5),
            "1-4 are still older than what is shown"
        );
        let state = state.reduce(welcome_paged(vec![message(1, "bob", "a")], false, "new"));
        assert_eq!(state.older, None, "a new epoch starts over");
    }

    #[test]
    fn a_resume_that_missed_more_than_a_page_fills_the_hole_and_then_goes_on_as_before() {
        // Shown: 1-5 (all the room had). Away; back to a welcome of the newest page, 300-305.
        let state = joined().reduce(welcome_paged(page(1..=5), false, "e"));
        let state = state.reduce(welcome_paged(page(300..=305), true, "e"));
        assert_eq!(state.hole_after, Some(5), "6-299 are missing from the log");
        assert_eq!(state.older, Some(300), "fetched from the page before 300");
        let state = state.reduce(Action::Page {
            before: 300,
            messages: page(100..=299),
            more: true,
        });
        assert_eq!((state.hole_after, state.older), (Some(5), Some(100)));
        let state = state.reduce(Action::Page {
            before: 100,
            messages: page(6..=99),
            more: true,
        });
        assert_eq!(state.hole_after, None, "filled");
        assert_eq!(
            state.older, None,
            "nothing was older than 1 before, nor now"
        );
        assert_eq!(seqs(&state), (1..=5).chain(6..=305).collect::<Vec<_>>());
        // A resume that missed little opens no hole.
        let state = state.reduce(welcome_paged(page(306..=306), false, "e"));
        assert_eq!(state.hole_after, None);
    }

    #[test]
    fn a_message_of_mine_acked_while_away_and_in_the_hole_shows_once() {
        // Mine, acked as seq 50 while this tab was away, is in the hole (6-299) being fetched:
        // it comes with its page, not as a line of its own as well.
        let state = joined().reduce(welcome_paged(page(1..=5), false, "e"));
        let mut state = (*state).clone();
        state.pending.push(Pending {
            acked: Some(50),
            ..text("mine")
        });
        let state = Rc::new(state).reduce(welcome_paged(page(300..=305), true, "e"));
        let lines = |state: &ChatState| {
            state
                .entries
                .iter()
                .filter(|e| matches!(e, Entry::System(line) if line.starts_with("#50")))
                .count()
        };
        assert_eq!(lines(&state), 0, "not a line while its page is on the way");
        let mut older = page(6..=299);
        older[44] = message(50, "ada", "mine");
        let state = state.reduce(Action::Page {
            before: 300,
            messages: older,
            more: true,
        });
        assert_eq!(lines(&state), 0);
        assert!(state.pending.is_empty(), "sent, not pending");
        assert_eq!(seqs(&state).iter().filter(|s| **s == 50).count(), 1);
    }

    #[test]
    fn a_server_restored_from_a_backup_gives_seqs_again_and_they_are_shown() {
        // Seen 1-5; the server comes back from a backup that ends at 3, in the same epoch, and
        // gives 4 and 5 to new messages.
        let state = joined().reduce(welcome(
            (1..=5).map(|seq| message(seq, "bob", "old")).collect(),
            "e",
        ));
        let state = state.reduce(welcome_at(Vec::new(), "e", 3));
        let state = state.reduce(Action::Message(message(4, "bob", "new")));
        let texts: Vec<String> = state
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Message(m) => Some(format!("{}:{}", m.seq, m.client_msg_id)),
                Entry::System(_) => None,
            })
            .collect();
        assert!(texts.contains(&"4:new".to_string()), "{texts:?}");
        assert_eq!(state.last_seq, Some(4), "the next resume is from the new 4");
    }
}
