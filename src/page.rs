//! Where this page came from: the socket URLs of the server that served it. Both bundles (the
//! chat and the playground) use it, so neither imports the other.

/// The chat endpoint of the server that served this page.
pub fn chat_url_for_page() -> String {
    socket_url_for_page("/ws")
}

/// A WebSocket URL for `path` on the server that served this page (wss on an https page).
pub fn socket_url_for_page(path: &str) -> String {
    let location = web_sys::window().map(|window| window.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    let scheme = if secure { "wss://" } else { "ws://" };
    [scheme, &host, path].concat()
}
