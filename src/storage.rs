//! What the app remembers in localStorage: nickname, room, language, the client id, and the
//! pending outbox (so a reload does not lose a message).

use crate::state::Pending;

const PREFIX: &str = "heartline.";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Reads a remembered value.
pub fn get(key: &str) -> Option<String> {
    storage()?.get_item(&format!("{PREFIX}{key}")).ok()?
}

/// Remembers a value; false if the browser refused (quota, private mode).
pub fn set(key: &str, value: &str) -> bool {
    storage().is_some_and(|s| s.set_item(&format!("{PREFIX}{key}"), value).is_ok())
}

/// This browser's stable id, made once: the server deduplicates resends by it.
pub fn client_id() -> String {
    if let Some(id) = get("client_id") {
        return id;
    }
    let id = random_id("c");
    set("client_id", &id);
    id
}

/// A random id with a prefix, e.g. `m-5f3a9c1e2b`.
pub fn random_id(prefix: &str) -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{prefix}-{:x}", (a << 32) | b)
}

fn outbox_key(room: &str) -> String {
    format!("outbox.{room}")
}

/// The pending text messages of a room.
pub fn load_outbox(room: &str) -> Vec<Pending> {
    get(&outbox_key(room))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Saves the pending text messages of a room (images and sketches stay in memory only).
pub fn save_outbox(room: &str, pending: &[Pending]) -> bool {
    let texts: Vec<&Pending> = pending.iter().filter(|p| p.persistable()).collect();
    set(
        &outbox_key(room),
        &serde_json::to_string(&texts).unwrap_or_else(|_| "[]".into()),
    )
}
