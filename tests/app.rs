//! The chat app in real browsers, rendered into the test page, against the real server.
#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use heartline_chat::{AppProps, ChatApp};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    match option_env!("HEARTLINE_TEST_SERVER") {
        Some(server) => server,
        None => panic!("HEARTLINE_TEST_SERVER is not set: run through scripts/test.sh"),
    }
}

async fn mount() -> Element {
    mount_in(&new_namespace()).await
}

/// An app over the localStorage of `namespace` (two apps in one namespace are like two tabs).
async fn mount_in(namespace: &str) -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let namespace = namespace.to_owned();
    let props = AppProps {
        url: format!("ws://{}/ws", server()).into(),
        namespace: namespace.into(),
    };
    yew::Renderer::<ChatApp>::with_root_and_props(root.clone(), props).render();
    yew::scheduler::flush().await;
    root
}

/// Waits, up to `deadline_ms`, for an element under `root` matching `selector` whose text
/// contains `text`; renders are flushed between looks.
async fn text_appears(root: &Element, selector: &str, text: &str, deadline_ms: f64) -> Element {
    let start = js_sys::Date::now();
    loop {
        yew::scheduler::flush().await;
        let all = root.query_selector_all(selector).unwrap();
        let mut seen = Vec::new();
        for i in 0..all.length() {
            let element: Element = all.item(i).unwrap().dyn_into().unwrap();
            let content = element.text_content().unwrap_or_default();
            if content.contains(text) {
                return element;
            }
            seen.push(content);
        }
        assert!(
            js_sys::Date::now() - start < deadline_ms,
            "`{selector}` never showed {text:?}; it shows {seen:?}"
        );
        TimeoutFuture::new(20).await;
    }
}

fn type_into(root: &Element, selector: &str, value: &str) {
    let element = root.query_selector(selector).unwrap().unwrap();
    if let Some(input) = element.dyn_ref::<HtmlInputElement>() {
        input.set_value(value);
    } else if let Some(area) = element.dyn_ref::<HtmlTextAreaElement>() {
        area.set_value(value);
    }
    element
        .dispatch_event(&web_sys::InputEvent::new("input").unwrap())
        .unwrap();
}

fn click(root: &Element, selector: &str) {
    let button: HtmlElement = root
        .query_selector(selector)
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    button.click();
}

async fn join(root: &Element, nick: &str, room: &str) {
    type_into(root, "#nick", nick);
    type_into(root, "#room", room);
    yew::scheduler::flush().await;
    click(root, ".join button[type=submit]");
    text_appears(root, "[role=status]", "Connected", 5_000.0).await;
}

/// Tells this page that another tab wrote `key` in localStorage (the event such a write fires
/// in every other tab), with what is stored now.
fn written_in_another_tab(key: &str) {
    let window = web_sys::window().unwrap();
    let stored = window
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item(key)
        .unwrap();
    let init = web_sys::StorageEventInit::new();
    init.set_key(Some(key));
    init.set_new_value(stored.as_deref());
    let event = web_sys::StorageEvent::new_with_event_init_dict("storage", &init).unwrap();
    window.dispatch_event(&event).unwrap();
}

/// A localStorage namespace of its own: the tests share one page, and an app that finds another
/// test's remembered room would rejoin it instead of showing the join form.
fn new_namespace() -> String {
    format!("test{}.", (js_sys::Math::random() * 1e9) as u64)
}

/// Another tab's write of `json` at `key`, and, if `heard_here`, the event that tells this page
/// of it (a tab frozen or in the back/forward cache hears none).
fn written_by_another_tab(key: &str, json: &str, heard_here: bool) {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.set_item(key, json).unwrap();
    if heard_here {
        written_in_another_tab(key);
    }
}

/// Waits, up to 2 s, for `ok`, flushing renders between looks; fails with `what`'s words.
async fn until(mut ok: impl FnMut() -> bool, what: impl Fn() -> String) {
    let start = js_sys::Date::now();
    while !ok() {
        assert!(js_sys::Date::now() - start < 2_000.0, "{}", what());
        yew::scheduler::flush().await;
        TimeoutFuture::new(20).await;
    }
}

fn unique(name: &str) -> String {
    format!("{name}{}", (js_sys::Math::random() * 1e6) as u32)
}

/// A picture whose URL no longer answers (the server's store dropped it; the message was shown
/// before) is said in words, not left as a broken-image icon; and only that picture: the next
/// message shown (the log's items are reused from the end) is not taken for it.
#[wasm_bindgen_test]
async fn a_picture_the_server_no_longer_has_is_said_in_words() {
    use heartline_chat::components::message_list::{MessageList, MessageListProps};
    use heartline_chat::i18n::Lang;
    use heartline_chat::state::Entry;
    use heartline_protocol::{Body, ChatMessage};
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let picture = |seq: u64| {
        Entry::Message(std::rc::Rc::new(ChatMessage {
            room: "r".into(),
            seq,
            from: "ada".into(),
            ts: 0,
            client_msg_id: format!("m-{seq}"),
            body: Body::Image {
                mime: "image/png".into(),
                url: format!("http://{}/media/no-such-picture-{seq}", server()),
            },
        }))
    };
    let props = |entries: Vec<Entry>| MessageListProps {
        entries,
        pending: Vec::new(),
        unkept: Vec::new(),
        me: "bob".into(),
        on_retry: yew::Callback::noop(),
        on_delete: yew::Callback::noop(),
        on_load_older: None,
        written: 0,
        texts: Lang::En.texts(),
    };
    let mut app =
        yew::Renderer::<MessageList>::with_root_and_props(root.clone(), props(vec![picture(1)]))
            .render();
    yew::scheduler::flush().await;
    // In view: a lazy picture below the fold (the other tests' apps fill the page) is not
    // fetched at all.
    root.scroll_into_view();
    text_appears(&root, ".picture-gone", "could not be loaded", 10_000.0).await;
    assert!(
        root.query_selector("img:not([hidden])").unwrap().is_none(),
        "no broken image shown"
    );
    // The next picture arrives: shown as a picture (until its own load says otherwise).
    app.update(props(vec![picture(1), picture(2)]));
    yew::scheduler::flush().await;
    let second = root
        .query_selector("li[data-seq='2']")
        .unwrap()
        .expect("the second message");
    assert!(
        second
            .query_selector("img:not([hidden])")
            .unwrap()
            .is_some()
            && second.query_selector(".picture-gone").unwrap().is_none(),
        "the second picture is not taken for the first: {}",
        second.inner_html()
    );
}

#[wasm_bindgen_test]
async fn joining_shows_connected_and_my_name_in_members() {
    let root = mount().await;
    let nick = unique("ada");
    join(&root, &nick, &unique("room")).await;
    text_appears(&root, "ul[aria-label=Members] li", &nick, 2_000.0).await;
}

/// A nickname of 32 characters outside the Basic Multilingual Plane (64 UTF-16 units) is
/// allowed, and the form lets it be typed; one more is refused by the form, in words.
#[wasm_bindgen_test]
async fn a_nickname_of_32_emoji_joins_and_33_are_refused_in_words() {
    use heartline_protocol::names::MAX_NICK_CHARS;
    let root = mount().await;
    let input: HtmlInputElement = root
        .query_selector("#nick")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    // A `maxlength` would stop the typing at that many UTF-16 units, silently.
    assert!(
        input.max_length() < 0 || input.max_length() as usize >= 2 * MAX_NICK_CHARS,
        "maxlength {}",
        input.max_length()
    );
    type_into(&root, "#nick", &"\u{1f600}".repeat(MAX_NICK_CHARS + 1));
    type_into(&root, "#room", &unique("room"));
    yew::scheduler::flush().await;
    click(&root, ".join button[type=submit]");
    text_appears(&root, ".join [role=alert]", "32", 2_000.0).await;
    assert!(root.query_selector(".chat").unwrap().is_none());
    // A random emoji each, so no other test's nickname clashes with it.
    let emoji = |i: u32| {
        char::from_u32(0x1f600 + (i + (js_sys::Math::random() * 50.0) as u32) % 80).unwrap()
    };
    let nick: String = (0..MAX_NICK_CHARS as u32).map(emoji).collect();
    let room = unique("room");
    join(&root, &nick, &room).await;
    text_appears(&root, "ul[aria-label=Members] li", &nick, 2_000.0).await;
    // Taken by someone else: refused in words on the join form, not lost in reconnects (its
    // close's reason, with the 128-byte name in it, must fit a close frame).
    let second = mount().await;
    type_into(&second, "#nick", &nick);
    type_into(&second, "#room", &room);
    yew::scheduler::flush().await;
    click(&second, ".join button[type=submit]");
    text_appears(&second, ".join [role=alert]", "Nickname Taken", 5_000.0).await;
    let alert = second
        .query_selector(".join [role=alert]")
        .ok()
        .flatten()
        .and_then(|alert| alert.text_content())
        .unwrap_or_default();
    assert_eq!(alert.matches("Nickname Taken").count(), 1, "{alert}");
    assert!(
        alert.contains("is in the room"),
        "the whole sentence: {alert}"
    );
}

#[wasm_bindgen_test]
async fn the_form_refuses_invisible_names_and_shows_the_servers_refusal_of_a_look_alike() {
    // Caught in the browser, without the server's Unicode tables: nothing is sent.
    let root = mount().await;
    type_into(&root, "#nick", "ada\u{200b}");
    type_into(&root, "#room", &unique("room"));
    yew::scheduler::flush().await;
    click(&root, ".join button[type=submit]");
    text_appears(&root, ".join [role=alert]", "(U+200B)", 2_000.0).await;
    assert!(root.query_selector(".chat").unwrap().is_none());
    // Only the server knows look-alikes (UTS #39 skeletons): its refusal shows in the form.
    let (nick, room) = (unique("ada"), unique("room"));
    let first = mount().await;
    join(&first, &nick, &room).await;
    let impostor = nick.replacen('a', "\u{430}", 2); // Cyrillic а
    let second = mount().await;
    type_into(&second, "#nick", &impostor);
    type_into(&second, "#room", &room);
    yew::scheduler::flush().await;
    click(&second, ".join button[type=submit]");
    text_appears(&second, ".join [role=alert]", "is in the room", 5_000.0).await;
}

/// In Chinese, the form's refusal of a name and the server's refusal of a taken nickname are
/// in Chinese too (they were the protocol's English).
#[wasm_bindgen_test]
async fn in_chinese_the_refusals_of_a_name_are_in_chinese() {
    let root = mount().await;
    click(&root, "button.lang");
    yew::scheduler::flush().await;
    type_into(&root, "#nick", "ada\u{200b}");
    type_into(&root, "#room", &unique("room"));
    yew::scheduler::flush().await;
    click(&root, ".join button[type=submit]");
    text_appears(
        &root,
        ".join [role=alert]",
        "昵称包含不可见字符（U+200B）",
        2_000.0,
    )
    .await;
    let (nick, room) = (unique("ada"), unique("room"));
    let first = mount().await;
    join(&first, &nick, &room).await;
    type_into(&root, "#nick", &nick);
    type_into(&root, "#room", &room);
    yew::scheduler::flush().await;
    click(&root, ".join button[type=submit]");
    text_appears(
        &root,
        ".join [role=alert]",
        "Nickname Taken: 房间里已有人使用这个昵称，请换一个。",
        5_000.0,
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_message_is_pending_until_the_server_has_it_then_shows_once() {
    let root = mount().await;
    join(&root, &unique("bob"), &unique("room")).await;
    type_into(&root, "#composer-text", "hello <b>room</b>");
    yew::scheduler::flush().await;
    // Watched from before the click: the line shows pending (the pump sends only after that
    // render) before the server's ack turns it into a numbered one, however late the test looks.
    let watch = js_sys::Function::new_with_args(
        "root, text",
        "const seen = { pending: false };
         new MutationObserver(() => {
           for (const li of root.querySelectorAll('[role=log] li.pending')) {
             if (li.textContent.includes(text)) seen.pending = true;
           }
         }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
         return seen;",
    );
    let seen = watch
        .call2(
            &JsValue::NULL,
            &root,
            &JsValue::from_str("hello <b>room</b>"),
        )
        .unwrap();
    click(&root, ".composer button[type=submit]");
    let line = text_appears(
        &root,
        "[role=log] li[data-seq]",
        "hello <b>room</b>",
        5_000.0,
    )
    .await;
    assert_eq!(line.get_attribute("data-seq").as_deref(), Some("1"));
    assert_eq!(
        js_sys::Reflect::get(&seen, &JsValue::from_str("pending"))
            .unwrap()
            .as_bool(),
        Some(true),
        "the message was never shown pending"
    );
    // Shown as text, never as markup; and once.
    assert!(root.query_selector("[role=log] b").unwrap().is_none());
    yew::scheduler::flush().await;
    assert_eq!(
        root.query_selector_all("[role=log] li.pending")
            .unwrap()
            .length(),
        0
    );
    assert_eq!(
        root.query_selector_all("[role=log] li[data-seq]")
            .unwrap()
            .length(),
        1
    );
}

#[wasm_bindgen_test]
async fn disconnect_keeps_a_message_pending_and_reconnect_delivers_it() {
    let root = mount().await;
    join(&root, &unique("cy"), &unique("room")).await;
    click(&root, ".connection button:first-of-type");
    text_appears(&root, "[role=status]", "Disconnected", 3_000.0).await;
    type_into(&root, "#composer-text", "while away");
    yew::scheduler::flush().await;
    click(&root, ".composer button[type=submit]");
    let pending = text_appears(&root, "[role=log] li.pending", "while away", 2_000.0).await;
    assert!(pending
        .get_attribute("aria-label")
        .unwrap_or_default()
        .contains("pending"));
    click(&root, ".connection button:last-of-type");
    text_appears(&root, "[role=log] li[data-seq]", "while away", 5_000.0).await;
}

/// Disconnects, then types a message that stays pending.
async fn pending_while_disconnected(root: &Element, text: &str) {
    if !root
        .query_selector("[role=status]")
        .unwrap()
        .and_then(|s| s.text_content())
        .unwrap_or_default()
        .contains("Disconnected")
    {
        click(root, ".connection button:first-of-type");
        text_appears(root, "[role=status]", "Disconnected", 3_000.0).await;
    }
    type_into(root, "#composer-text", text);
    yew::scheduler::flush().await;
    click(root, ".composer button[type=submit]");
    text_appears(root, "[role=log] li.pending", text, 2_000.0).await;
}

#[wasm_bindgen_test]
async fn two_nicknames_in_one_room_keep_their_own_outbox() {
    let namespace = new_namespace();
    let room = unique("room");
    let (ann, bea) = (unique("ann"), unique("bea"));
    let first = mount_in(&namespace).await;
    join(&first, &ann, &room).await;
    pending_while_disconnected(&first, "from ann").await;
    // A second tab of the same browser, as another nickname in the same room.
    let second = mount_in(&namespace).await;
    text_appears(&second, "[role=status]", "Connected", 5_000.0).await;
    click(&second, "header button:last-of-type"); // Leave
    text_appears(&second, ".join button[type=submit]", "Join", 2_000.0).await;
    join(&second, &bea, &room).await;
    pending_while_disconnected(&second, "from bea").await;
    // Ann's tab writes last, so a shared key would now hold only Ann's messages.
    pending_while_disconnected(&first, "from ann again").await;
    // Bea's tab reloads: her outbox is hers alone.
    let reloaded = mount_in(&namespace).await;
    text_appears(&reloaded, "[role=log] li.pending", "from bea", 3_000.0).await;
    let pending = reloaded
        .query_selector_all("[role=log] li.pending")
        .unwrap();
    let texts: Vec<String> = (0..pending.length())
        .filter_map(|i| pending.item(i).and_then(|n| n.text_content()))
        .collect();
    assert!(
        texts.iter().all(|t| !t.contains("from ann")),
        "Bea's reloaded tab holds {texts:?}"
    );
}

/// A pending picture is kept in localStorage as base64 by the browser's own `btoa` and read back
/// by `atob`: the bytes come back whole, and the text is the standard base64 the `base64` crate
/// writes (so an outbox saved by an earlier build still reads).
#[wasm_bindgen_test]
fn a_pending_upload_survives_localstorage_byte_for_byte() {
    use heartline_chat::state::{Pending, PendingBody};
    use heartline_chat::storage::Store;
    use std::rc::Rc;
    let store = Store::new(&unique("upload."));
    let frame: Vec<u8> = (0..=255u8).chain([0, 0xff, 0x80, 0x7f]).collect();
    let pending = vec![Pending::new(
        "m-1".into(),
        PendingBody::Image {
            name: "dot.png".into(),
            frame: Rc::new(frame.clone()),
        },
    )];
    assert!(store
        .save_outbox("room", "ada", &pending, &Default::default())
        .is_empty());
    assert_eq!(store.load_outbox("room", "ada"), pending);
    let saved = store
        .get(&format!(
            "outbox.{}",
            heartline_chat::storage::pair_key("room", "ada")
        ))
        .unwrap();
    assert!(
        saved.contains(&heartline_protocol::to_base64(&frame)),
        "{saved}"
    );
}

/// Fills localStorage up to the browser's quota but for about `leave` characters; returns the
/// filler's keys (the tests share one page's storage: remove them before anything can fail).
/// At most 64 MiB are written, so a browser with no quota does not fill for ever.
fn fill_local_storage(leave: usize) -> Vec<String> {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage
        .set_item("test-reserve", &"r".repeat(leave))
        .unwrap();
    let mut keys = Vec::new();
    let mut size = 1 << 20;
    while size >= 256 {
        let piece = "f".repeat(size);
        while keys.len() < 64 {
            let key = format!("test-fill-{}", keys.len());
            if storage.set_item(&key, &piece).is_err() {
                break;
            }
            keys.push(key);
        }
        size /= 2;
    }
    storage.remove_item("test-reserve").unwrap();
    keys
}

/// An outbox whose uploads do not all fit the browser's quota keeps those that fit and names
/// the rest: no other tab can read them, so the tab that holds them sends them itself (e2e
/// tabs.test "a picture localStorage cannot hold"). Left out first: an upload already
/// acknowledged (no tab sends it again), then this tab's newest; another tab's stays (only that
/// tab can send it).
#[wasm_bindgen_test]
fn an_outbox_past_the_quota_keeps_the_uploads_that_fit_and_names_the_rest() {
    use heartline_chat::state::{Pending, PendingBody};
    use heartline_chat::storage::Store;
    use std::rc::Rc;
    let store = Store::new(&unique("quota."));
    // 100 KB each: about 133,000 characters of base64 in storage.
    let picture = |id: &str| {
        let frame = Rc::new(vec![7; 100_000]);
        let name = format!("{id}.png");
        Pending::new(id.into(), PendingBody::Image { name, frame })
    };
    let text = PendingBody::Text {
        text: "a text".into(),
    };
    // Another tab's picture, stored before this tab heard of it.
    let theirs = [picture("o-1")];
    assert!(store
        .save_outbox("room", "ada", &theirs, &Default::default())
        .is_empty());
    let pending = vec![
        Pending {
            acked: Some(7),
            ..picture("m-0")
        },
        picture("m-1"),
        Pending::new("m-2".into(), text),
        picture("m-3"),
        picture("m-4"),
    ];
    // Room for three of the pictures (what the stored outbox holds is room too), not four.
    let filler = fill_local_storage(350_000);
    let left_out = store.save_outbox("room", "ada", &pending, &Default::default());
    let stored: Vec<String> = store
        .load_outbox("room", "ada")
        .into_iter()
        .map(|p| p.client_msg_id)
        .collect();
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    for key in &filler {
        storage.remove_item(key).unwrap();
    }
    storage
        .remove_item(&store.outbox_storage_key("room", "ada"))
        .unwrap();
    assert!(
        !filler.is_empty() && filler.len() < 64,
        "storage was full before, or has no quota: {} pieces",
        filler.len()
    );
    assert_eq!(left_out, ["m-4"]);
    assert_eq!(stored, ["m-1", "m-2", "m-3", "o-1"]);
}

/// The client id and its secret are made together once and then kept; an id kept without its
/// secret (an older app) gets one; a welcome's secret is kept only when this browser has none
/// (a welcome for another tab's id made at the same moment must not pair its secret with ours).
#[wasm_bindgen_test]
fn credentials_are_made_once_and_a_welcome_never_replaces_a_kept_secret() {
    use heartline_chat::storage::Store;
    let namespace = unique("credentials.");
    let store = Store::new(&namespace);
    let (id, secret) = store.credentials();
    let secret = secret.expect("the browser has crypto.getRandomValues");
    assert!(id.starts_with("c-"), "{id}");
    assert!(
        secret.len() == 34 && secret.starts_with("s-"),
        "128 bits as s- and hex: {secret}"
    );
    assert_eq!(store.credentials(), (id.clone(), Some(secret.clone())));

    store.keep_server_secret("s-from-a-welcome");
    assert_eq!(store.secret(), Some(secret.clone()), "a kept secret stays");

    let local = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage");
    local
        .remove_item(&format!("heartline.{namespace}secret"))
        .expect("removes");
    let (same_id, new_secret) = store.credentials();
    assert_eq!(same_id, id, "the kept id stays");
    let new_secret = new_secret.expect("a secret is made for it");
    assert_ne!(new_secret, secret);
    assert_eq!(store.secret(), Some(new_secret));

    store.forget_client_id();
    assert_eq!(store.secret(), None);
    store.keep_server_secret("s-from-a-welcome");
    assert_eq!(
        store.secret(),
        Some("s-from-a-welcome".into()),
        "kept when none was"
    );
}

/// Two tabs writing the shared outbox at once can leave in storage only one tab's write (each
/// tab's storage is a copy the browser syncs later): the other tab's pending message would then
/// be in no tab but its own, and the tab that sends the outbox would never see it. A tab that
/// hears another tab's save writes its own pending messages again if storage lacks them, and
/// only then (two tabs listing the same messages in another order must not answer each other's
/// writes for ever).
#[wasm_bindgen_test]
async fn an_outbox_another_tab_overwrote_is_saved_again() {
    use heartline_chat::storage::Store;
    let namespace = new_namespace();
    let (room, nick) = (unique("room"), unique("dee"));
    let root = mount_in(&namespace).await;
    join(&root, &nick, &room).await;
    pending_while_disconnected(&root, "kept here").await;
    pending_while_disconnected(&root, "and this").await;
    let store = Store::new(&namespace);
    let key = store.outbox_storage_key(&room, &nick);
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    // The same messages in another order: nothing to add, nothing written.
    let ours = store.load_outbox(&room, &nick);
    let mut reversed = ours.clone();
    assert_eq!(reversed.len(), 2);
    reversed.reverse();
    let reversed = serde_json::to_string(&reversed).unwrap();
    written_by_another_tab(&key, &reversed, true);
    for _ in 0..3 {
        yew::scheduler::flush().await;
        TimeoutFuture::new(20).await;
    }
    assert_eq!(storage.get_item(&key).unwrap(), Some(reversed));
    // A write with another tab's message and without this tab's: they are stored again, and
    // nothing the other tab stored is dropped.
    let mut theirs = ours[0].clone();
    theirs.client_msg_id = "m-from-another-tab".into();
    written_by_another_tab(&key, &serde_json::to_string(&[&theirs]).unwrap(), true);
    until(
        || store.load_outbox(&room, &nick).len() >= 3,
        || format!("never saved again: {:?}", storage.get_item(&key)),
    )
    .await;
    let ids = |list: &[heartline_chat::state::Pending]| {
        let mut ids: Vec<String> = list.iter().map(|p| p.client_msg_id.clone()).collect();
        ids.sort();
        ids
    };
    let mut expected = vec![theirs];
    expected.extend(ours);
    assert_eq!(ids(&store.load_outbox(&room, &nick)), ids(&expected));
}

/// A message the person deletes from the outbox in one tab leaves the others' too: the tab that
/// sends the outbox may be another one, and must not send it.
#[wasm_bindgen_test]
async fn a_message_deleted_in_another_tab_leaves_this_tabs_outbox() {
    use heartline_chat::storage::Store;
    let namespace = new_namespace();
    let (room, nick) = (unique("room"), unique("eve"));
    let root = mount_in(&namespace).await;
    join(&root, &nick, &room).await;
    pending_while_disconnected(&root, "deleted elsewhere").await;
    pending_while_disconnected(&root, "still wanted").await;
    let store = Store::new(&namespace);
    let ids: Vec<String> = store
        .load_outbox(&room, &nick)
        .iter()
        .map(|p| p.client_msg_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    // Another tab of the person deletes the first: its note, and the event that tells of it.
    let other_tab = Store::new(&namespace);
    other_tab.note_deleted(&room, &nick, &ids[0]);
    written_in_another_tab(&store.deleted_storage_key(&room, &nick));
    let start = js_sys::Date::now();
    loop {
        yew::scheduler::flush().await;
        let pending = root.query_selector_all("[role=log] li.pending").unwrap();
        let texts: Vec<String> = (0..pending.length())
            .filter_map(|i| pending.item(i).and_then(|n| n.text_content()))
            .collect();
        if !texts.iter().any(|t| t.contains("deleted elsewhere")) {
            assert!(
                texts.iter().any(|t| t.contains("still wanted")),
                "{texts:?}"
            );
            break;
        }
        assert!(
            js_sys::Date::now() - start < 2_000.0,
            "still pending here: {texts:?}"
        );
        TimeoutFuture::new(20).await;
    }
    // Saved without it (read as stored: loading it filters deleted ids out).
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let stored = storage
        .get_item(&store.outbox_storage_key(&room, &nick))
        .unwrap()
        .unwrap_or_default();
    let left: Vec<heartline_chat::state::Pending> = serde_json::from_str(&stored).unwrap();
    let left: Vec<&str> = left.iter().map(|p| p.client_msg_id.as_str()).collect();
    assert_eq!(left, [ids[1].as_str()]);
}

/// A refused message the person asks to send again in another tab is sent by this one, if this
/// tab sends the outbox: it hears the other tab's save (the message's retry count), or, frozen
/// or in the back/forward cache then, reads it at its next welcome. A save made there before
/// the refusal does not undo it here.
#[wasm_bindgen_test]
async fn a_message_retried_in_another_tab_is_sent_by_this_one() {
    use heartline_chat::state::{Pending, PendingBody};
    use heartline_chat::storage::Store;
    let namespace = new_namespace();
    let (room, nick) = (unique("room"), unique("fay"));
    let store = Store::new(&namespace);
    // Refused earlier: kept, marked, in the outbox this tab loads when it joins.
    let refused = |id: &str, text: &str| Pending {
        failed: Some("refused".into()),
        ..Pending::new(unique(id), PendingBody::Text { text: text.into() })
    };
    let heard = refused("m-heard-", "retried, heard");
    let missed = refused("m-missed-", "retried, missed");
    let both = [heard.clone(), missed.clone()];
    assert!(store
        .save_outbox(&room, &nick, &both, &Default::default())
        .is_empty());
    let root = mount_in(&namespace).await;
    join(&root, &nick, &room).await;
    text_appears(&root, "[role=log] li.failed", "retried, heard", 2_000.0).await;
    text_appears(&root, "[role=log] li.failed", "retried, missed", 2_000.0).await;
    let key = store.outbox_storage_key(&room, &nick);
    let written = |list: &[Pending], heard_here: bool| {
        written_by_another_tab(&key, &serde_json::to_string(list).unwrap(), heard_here)
    };
    // Saved there before that tab heard the refusals: nothing changes here.
    let unrefused = both.clone().map(|p| Pending { failed: None, ..p });
    written(&unrefused, true);
    for _ in 0..3 {
        yew::scheduler::flush().await;
        TimeoutFuture::new(20).await;
    }
    let failed = root.query_selector_all("[role=log] li.failed").unwrap();
    assert_eq!(failed.length(), 2, "an older save undid a refusal");
    // And storage gets the refusals back (the tab that sends the outbox may read them there).
    until(
        || {
            store
                .load_outbox(&room, &nick)
                .iter()
                .all(|p| p.failed.is_some())
        },
        || {
            let stored = store.load_outbox(&room, &nick);
            format!("the refusals never written back: {stored:?}")
        },
    )
    .await;
    // Retry pressed there: its save tells this tab.
    let retried = |p: &Pending| Pending {
        failed: None,
        retries: 1,
        ..p.clone()
    };
    written(&[retried(&heard), missed.clone()], true);
    text_appears(&root, "[role=log] li[data-seq]", "retried, heard", 5_000.0).await;
    // Retry pressed there while this tab heard nothing: this tab's own save keeps it (its copy
    // is behind), and the tab takes it at its next welcome.
    written(&[retried(&missed)], false);
    pending_while_disconnected(&root, "written here meanwhile").await;
    let stored = store.load_outbox(&room, &nick);
    let kept = stored
        .iter()
        .find(|p| p.client_msg_id == missed.client_msg_id);
    assert_eq!(
        kept.map(|p| (p.retries, p.failed.is_none())),
        Some((1, true)),
        "{stored:?}"
    );
    click(&root, ".connection button:last-of-type");
    text_appears(&root, "[role=log] li[data-seq]", "retried, missed", 5_000.0).await;
    text_appears(
        &root,
        "[role=log] li[data-seq]",
        "written here meanwhile",
        5_000.0,
    )
    .await;
}
