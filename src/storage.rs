//! What the app remembers in localStorage: nickname, room, language, the client id, and the
//! pending outbox (so a reload does not lose a message). Keys live under a namespace, so two
//! apps on one page (as in the browser tests) do not share them.

use crate::state::Pending;
use std::rc::Rc;

/// The app's localStorage, under a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    prefix: Rc<str>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl Store {
    /// Keys start with `heartline.` and then `namespace` (empty for the app itself).
    pub fn new(namespace: &str) -> Self {
        Self {
            prefix: format!("heartline.{namespace}").into(),
        }
    }

    /// Reads a remembered value.
    pub fn get(&self, key: &str) -> Option<String> {
        storage()?.get_item(&format!("{}{key}", self.prefix)).ok()?
    }

    /// Remembers a value; false if the browser refused (quota, private mode).
    pub fn set(&self, key: &str, value: &str) -> bool {
        storage().is_some_and(|s| s.set_item(&format!("{}{key}", self.prefix), value).is_ok())
    }

    /// This browser's stable id (the server deduplicates resends by it) and the secret that
    /// backs it in every join, made together once. The secret is made here, so the first join
    /// claims the id with it: a welcome that never arrives (the page reloaded or closed just
    /// after joining) loses nothing. Without a random source the server mints one instead, and
    /// its welcome brings it.
    ///
    /// An id kept without a secret (an older app, or a server-made secret whose welcome never
    /// came) gets one too: if the server does not know the id, that join claims it; if it does,
    /// the join is refused (4006) and the chat takes a new id, as it would without.
    pub fn credentials(&self) -> (String, Option<String>) {
        let id = self.get("client_id");
        if let (Some(id), Some(secret)) = (&id, self.secret()) {
            return (id.clone(), Some(secret));
        }
        // Not atomic across tabs: two tabs of a fresh profile that make a pair at the same
        // moment can leave one tab's id with the other's secret. Their next join is then refused
        // (4006) and the chat starts over with a new pair, as for any id it cannot back.
        let secret = new_secret();
        // The secret first: another tab that reads the id then finds its secret too.
        if let Some(secret) = &secret {
            self.set("secret", secret);
        }
        let id = id.unwrap_or_else(|| {
            let id = random_id("c");
            self.set("client_id", &id);
            id
        });
        (id, secret)
    }

    /// The secret that backs this client id: made with it, or given by the server.
    pub fn secret(&self) -> Option<String> {
        self.get("secret")
    }

    /// Keeps the secret a welcome brought, if this browser has none (the server made it, as
    /// for a join without one). One it has is never replaced: a welcome for another tab's id,
    /// made at the same moment, must not pair its secret with this id.
    pub fn keep_server_secret(&self, secret: &str) {
        if self.secret().is_none() {
            self.set("secret", secret);
        }
    }

    /// The server refused our client id (another client holds it): start over with a new one.
    pub fn forget_client_id(&self) {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(&format!("{}client_id", self.prefix));
            let _ = storage.remove_item(&format!("{}secret", self.prefix));
        }
    }

    /// This tab's id, kept in sessionStorage: a reload keeps it (so the server replaces the old
    /// connection at once), another tab gets its own. A duplicated tab copies it; the server then
    /// closes one of the two with 4005 and that one calls [`Store::new_tab_id`].
    pub fn tab_id(&self) -> String {
        let key = format!("{}tab_id", self.prefix);
        let session = web_sys::window().and_then(|w| w.session_storage().ok().flatten());
        if let Some(id) = session
            .as_ref()
            .and_then(|s| s.get_item(&key).ok().flatten())
        {
            return id;
        }
        self.new_tab_id()
    }

    /// Gives this tab a new id.
    pub fn new_tab_id(&self) -> String {
        let key = format!("{}tab_id", self.prefix);
        let id = random_id("t");
        if let Some(session) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
            let _ = session.set_item(&key, &id);
        }
        id
    }

    /// The tab id of the connection the tabs of one nickname in one room share (kept in
    /// localStorage, so every tab has the same): the join of a new leading tab then replaces the
    /// old leader's connection on the server at once, even one left half-open by a crash.
    pub fn shared_tab_id(&self, room: &str, nick: &str) -> String {
        let key = format!("tab.{}", pair_key(room, nick));
        if let Some(id) = self.get(&key) {
            return id;
        }
        let id = random_id("t");
        self.set(&key, &id);
        id
    }

    /// The full localStorage key of an outbox, as a `storage` event names it.
    pub fn outbox_storage_key(&self, room: &str, nick: &str) -> String {
        format!("{}{}", self.prefix, outbox_key(room, nick))
    }

    /// The pending messages of a nickname in a room (two nicknames in one room, as in two tabs,
    /// keep their own).
    pub fn load_outbox(&self, room: &str, nick: &str) -> Vec<Pending> {
        self.load_outbox_without(room, nick, &self.deleted(room, nick))
    }

    /// The stored outbox without the `deleted` ids.
    fn load_outbox_without(&self, room: &str, nick: &str, deleted: &[String]) -> Vec<Pending> {
        let mut pending: Vec<Pending> = self
            .get(&outbox_key(room, nick))
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        pending.retain(|p| !deleted.contains(&p.client_msg_id));
        pending
    }

    /// The key of the messages deleted from this nickname's outbox (for storage events).
    pub fn deleted_storage_key(&self, room: &str, nick: &str) -> String {
        format!("{}{}", self.prefix, deleted_key(room, nick))
    }

    /// The ids of the messages last deleted from this nickname's outbox in any tab, oldest
    /// first: the other tabs drop them too, and no tab loads them again.
    pub fn deleted(&self, room: &str, nick: &str) -> Vec<String> {
        self.get(&deleted_key(room, nick))
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    /// Tells the other tabs that the person deleted this message from the outbox. The last
    /// [`DELETED_KEPT`] are kept: enough for every tab to hear them, bounded.
    pub fn note_deleted(&self, room: &str, nick: &str, client_msg_id: &str) {
        let mut ids = self.deleted(room, nick);
        ids.retain(|id| id != client_msg_id);
        ids.push(client_msg_id.to_owned());
        let over = ids.len().saturating_sub(DELETED_KEPT);
        ids.drain(..over);
        if let Ok(json) = serde_json::to_string(&ids) {
            self.set(&deleted_key(room, nick), &json);
        }
    }

    /// Adds to the stored outbox the messages of `pending` that wait for their ack, may be
    /// stored (see [`Pending::persistable`]) and are not there (another tab's write, made at the
    /// same moment as this tab's, replaced them), and brings a stored copy up to what this tab
    /// knows later (a refusal, an ask to send again: [`Pending::take_later`]); writes nothing if
    /// nothing is missing or behind. It only moves the stored outbox forward, so tabs answering
    /// each other's writes this way stop. The ids in `unfit` (storage had no room for them at
    /// the last save) are not tried again here. Returns the ids of `pending` storage still
    /// lacks (see [`Store::save_outbox`]).
    pub fn add_missing_to_outbox(
        &self,
        room: &str,
        nick: &str,
        pending: &[Pending],
        unfit: &[String],
    ) -> Vec<String> {
        let deleted = self.deleted(room, nick);
        let mut stored = self.load_outbox_without(room, nick, &deleted);
        let theirs = stored.len();
        let mut changed = false;
        for mine in pending
            .iter()
            .filter(|p| p.acked.is_none() && p.persistable())
            .filter(|p| !deleted.contains(&p.client_msg_id))
        {
            match stored
                .iter_mut()
                .find(|s| s.client_msg_id == mine.client_msg_id)
            {
                Some(copy) => changed |= copy.take_later(mine),
                None if !unfit.contains(&mine.client_msg_id) => {
                    stored.push(mine.clone());
                    changed = true;
                }
                None => {}
            }
        }
        if !changed {
            return not_stored(pending, stored.iter());
        }
        // What was stored before is not all another tab's (this tab's own stored copies are
        // among it), but any of it may be: kept until last.
        let entries = stored.iter().enumerate().map(|(i, p)| (p, i < theirs));
        match self.write_fitting(&outbox_key(room, nick), entries.collect()) {
            Some(written) => not_stored(pending, written.into_iter()),
            None => not_stored(pending, self.load_outbox(room, nick).iter()),
        }
    }

    /// Saves the pending messages of a room, with those another tab saved that this one has
    /// not seen leave the outbox (`done`), so two tabs writing at once lose nothing. Uploads the
    /// browser's quota has no room for are left out (see [`Store::write_fitting`]). What is
    /// stored already is not written again: a write tells every other tab.
    ///
    /// Returns the ids of `pending` that wait for their ack and are not in storage after it (an
    /// upload over [`crate::state::MAX_SAVED_UPLOAD`], one the quota left out, or, if even the
    /// texts were refused, every one storage did not hold already): no other tab can read them,
    /// so this tab sends them itself.
    pub fn save_outbox(
        &self,
        room: &str,
        nick: &str,
        pending: &[Pending],
        done: &crate::state::SortedSet<String>,
    ) -> Vec<String> {
        let before = self.load_outbox(room, nick);
        // This tab's copies, with what a stored copy knows later: a save made before this tab
        // heard of another tab's retry, or of a refusal, must not undo it.
        let mine: Vec<Pending> = pending
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if let Some(stored) = before.iter().find(|s| s.client_msg_id == p.client_msg_id) {
                    p.take_later(stored);
                }
                p
            })
            .collect();
        let others = before.iter().filter(|saved| {
            !done.contains(&saved.client_msg_id)
                && !pending
                    .iter()
                    .any(|p| p.client_msg_id == saved.client_msg_id)
        });
        let entries = mine
            .iter()
            .map(|p| (p, false))
            .chain(others.map(|p| (p, true)))
            .filter(|(p, _)| p.persistable());
        match self.write_fitting(&outbox_key(room, nick), entries.collect()) {
            Some(written) => not_stored(pending, written.into_iter()),
            // Nothing written: storage holds what it held.
            None => not_stored(pending, before.iter()),
        }
    }

    /// Writes `entries` (each with whether to keep it until last: it may be only another
    /// tab's) as the JSON list at `key`, unless it is stored already. When the browser's quota
    /// has no room, uploads are left out one by one until the rest fits: first those already
    /// acknowledged (no tab sends them again), then those in this tab's state, newest first (it
    /// sends what it holds itself), and the others last (only their tabs can send them, once
    /// they hear this write). Each entry is serialised once. Returns the entries stored, or None
    /// if even the texts did not fit.
    fn write_fitting<'a>(
        &self,
        key: &str,
        entries: Vec<(&'a Pending, bool)>,
    ) -> Option<Vec<&'a Pending>> {
        let stored = self.get(key);
        let mut parts: Vec<(&Pending, bool, String)> = entries
            .into_iter()
            .filter_map(|(p, theirs)| serde_json::to_string(p).ok().map(|json| (p, theirs, json)))
            .collect();
        loop {
            let items: Vec<&str> = parts.iter().map(|(_, _, json)| json.as_str()).collect();
            let json = format!("[{}]", items.join(","));
            if stored.as_deref() == Some(json.as_str()) || self.set(key, &json) {
                return Some(parts.into_iter().map(|(p, ..)| p).collect());
            }
            let (first_left_out, _) = parts
                .iter()
                .enumerate()
                .filter(|(_, (p, ..))| p.is_upload())
                .min_by_key(|(i, (p, theirs, _))| {
                    (p.acked.is_none(), *theirs, std::cmp::Reverse(*i))
                })?;
            parts.remove(first_left_out);
        }
    }
}

/// The ids of the messages of `pending` that wait for their ack and are not in `stored`.
fn not_stored<'a>(pending: &[Pending], stored: impl Iterator<Item = &'a Pending>) -> Vec<String> {
    let stored: Vec<&str> = stored.map(|s| s.client_msg_id.as_str()).collect();
    pending
        .iter()
        .filter(|p| p.acked.is_none())
        .filter(|p| !stored.contains(&p.client_msg_id.as_str()))
        .map(|p| p.client_msg_id.clone())
        .collect()
}

/// The outbox's key: JSON of the pair, so no room or nickname can make two keys equal.
fn outbox_key(room: &str, nick: &str) -> String {
    format!("outbox.{}", pair_key(room, nick))
}

/// How many deleted message ids a nickname's outbox remembers.
pub const DELETED_KEPT: usize = 100;

fn deleted_key(room: &str, nick: &str) -> String {
    format!("deleted.{}", pair_key(room, nick))
}

/// A room and nickname as one key: JSON of the pair.
pub fn pair_key(room: &str, nick: &str) -> String {
    serde_json::to_string(&(room, nick)).unwrap_or_default()
}

/// 128 bits from the browser's cryptographic generator, as `s-` and hex (an id only needs to be
/// unlikely to collide; a secret must not be guessable).
fn new_secret() -> Option<String> {
    let mut bytes = [0u8; 16];
    web_sys::window()?
        .crypto()
        .ok()?
        .get_random_values_with_u8_array(&mut bytes)
        .ok()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("s-{hex}"))
}

/// As long as every id `random_id("m")` makes: the size checks of a message and of a picture
/// count its frame with this id before the real one is drawn, and are exact.
pub const MESSAGE_ID_SHAPE: &str = "m-ffffffffffffffff";

/// A random id with a prefix, e.g. `m-05f3a9c1e2b4d6f8`: always 16 hex digits (see
/// [`MESSAGE_ID_SHAPE`]).
pub fn random_id(prefix: &str) -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{prefix}-{:016x}", (a << 32) | b)
}
