//! What every [`RoomStore`] promises, as one suite each backend runs:
//! `crate::contract_suite!(make_backend())` in the backend's tests.

use super::{Appended, Content, Draft, Picture, Retention, RoomStore};
use heartline_protocol::Body;
use std::sync::Arc;

/// A backend under test: `open` makes its store, and for a durable backend opens the same data
/// again (a restart).
pub trait Backend {
    type Store: RoomStore;
    fn open(&mut self, retention: Retention) -> impl std::future::Future<Output = Self::Store>;
    /// Whether a reopened store keeps what was stored.
    fn durable(&self) -> bool;
}

/// Runs each contract test against a backend.
#[macro_export]
macro_rules! contract_suite {
    ($backend:expr) => {
        $crate::contract_suite!(@tests $backend;
            seqs_grow_and_resends_are_deduplicated,
            a_reused_id_with_other_content_is_a_conflict,
            since_returns_exactly_what_came_after,
            history_is_bounded_by_count_and_reports_the_gap,
            a_page_is_the_newest_that_fits_and_says_whether_more_are_kept,
            a_page_after_a_seq_is_the_oldest_that_fits_and_says_whether_more_follow,
            old_messages_leave_by_age_and_the_gap_says_so,
            dedup_outlives_the_history_for_its_window,
            pictures_are_kept_apart_and_found_by_their_url,
            concurrent_appends_get_dense_seqs_each_once,
            enqueued_appends_are_stored_in_call_order,
            a_message_is_numbered_above_what_the_caller_delivered,
            the_store_keeps_about_its_bytes_in_all_rooms_the_oldest_leaving_first,
            messages_that_leave_by_count_no_longer_count_against_the_bytes,
            a_picture_leaves_with_its_message_by_count,
            a_restart_keeps_epoch_seqs_and_dedup,
            a_claimed_secret_is_kept_and_survives_a_restart,
            a_secret_is_released_only_by_its_own_value,
        );
    };
    (@tests $backend:expr; $($name:ident),* $(,)?) => {
        mod contract {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::chat::store::contract::$name($backend).await;
                }
            )*
        }
    };
}

fn text(client: &str, id: &str, text: &str) -> Draft {
    Draft {
        from: "ada".into(),
        client_id: client.into(),
        client_msg_id: id.into(),
        content: Content::Text(text.into()),
    }
}

fn picture(id: &str, bytes: Vec<u8>, sketch: Option<(u32, u32)>) -> Draft {
    Draft {
        from: "ada".into(),
        client_id: "c".into(),
        client_msg_id: id.into(),
        content: Content::Picture(Picture {
            mime: "image/png".into(),
            bytes,
            sketch,
        }),
    }
}

/// Stores a picture of `bytes` bytes as message `id` in `room`; its media id.
async fn store_picture(store: &impl RoomStore, room: &str, id: &str, bytes: usize) -> String {
    let Appended::New(stored) = store
        .append(room, picture(id, vec![7; bytes], None), 1)
        .await
        .unwrap()
    else {
        panic!("stored")
    };
    let Body::Image { url, .. } = &stored.body else {
        panic!("an image body: {:?}", stored.body)
    };
    url.strip_prefix(super::MEDIA_PATH)
        .expect("a media URL")
        .to_owned()
}

fn seqs(history: &super::History) -> Vec<u64> {
    history.messages.iter().map(|m| m.seq).collect()
}

fn new_seq(appended: Appended) -> u64 {
    match appended {
        Appended::New(message) => message.seq,
        other => panic!("expected a new message, got {other:?}"),
    }
}

pub async fn seqs_grow_and_resends_are_deduplicated(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    let Appended::New(first) = store.append("r", text("c", "1", "hi"), 5).await.unwrap() else {
        panic!("first append is new")
    };
    assert_eq!((first.seq, first.ts), (1, 5));
    assert_eq!(first.body, Body::Text { text: "hi".into() });
    assert_eq!(
        store.append("r", text("c", "1", "hi"), 6).await.unwrap(),
        Appended::Duplicate(1)
    );
    assert_eq!(
        new_seq(
            store
                .append("r", text("other", "1", "hi"), 7)
                .await
                .unwrap()
        ),
        2
    );
    assert_eq!(
        new_seq(
            store
                .append("elsewhere", text("c", "1", "hi"), 7)
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(store.since("r", None).await.unwrap().messages.len(), 2);
}

pub async fn a_reused_id_with_other_content_is_a_conflict(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    store.append("r", text("c", "1", "hi"), 1).await.unwrap();
    assert_eq!(
        store
            .append("r", text("c", "1", "changed"), 2)
            .await
            .unwrap(),
        Appended::Conflict(1)
    );
    let history = store.since("r", None).await.unwrap();
    assert_eq!(seqs(&history), [1]);
    assert_eq!(history.messages[0].body, Body::Text { text: "hi".into() });
}

pub async fn since_returns_exactly_what_came_after(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    for id in ["1", "2", "3"] {
        store.append("r", text("c", id, id), 0).await.unwrap();
    }
    let history = store.since("r", Some(1)).await.unwrap();
    assert_eq!(seqs(&history), [2, 3]);
    assert!(!history.gap);
    assert_eq!(history.last_seq, 3);
    assert!(store.since("r", Some(3)).await.unwrap().messages.is_empty());
    assert_eq!(store.since("r", None).await.unwrap().messages.len(), 3);
    let empty = store.since("nobody-here", None).await.unwrap();
    assert_eq!(
        (empty.messages.len(), empty.gap, empty.last_seq),
        (0, false, 0)
    );
    assert!(
        store.since("nobody-here", Some(4)).await.unwrap().gap,
        "seqs this store never had are missing"
    );
}

pub async fn history_is_bounded_by_count_and_reports_the_gap(mut backend: impl Backend) {
    let store = backend
        .open(Retention {
            messages: 2,
            dedup_window_ms: 0,
            ..Retention::default()
        })
        .await;
    for id in ["1", "2", "3", "4"] {
        store.append("r", text("c", id, id), 0).await.unwrap();
    }
    let history = store.since("r", Some(1)).await.unwrap();
    assert_eq!(seqs(&history), [3, 4]);
    assert!(history.gap, "seq 2 is gone");
    assert!(!store.since("r", Some(2)).await.unwrap().gap);
    assert!(
        !store.since("r", None).await.unwrap().gap,
        "a first join has no gap to report"
    );
}

pub async fn a_page_is_the_newest_that_fits_and_says_whether_more_are_kept(
    mut backend: impl Backend,
) {
    use super::PageLimit;
    let store = backend
        .open(Retention {
            messages: 10,
            dedup_window_ms: 0,
            ..Retention::default()
        })
        .await;
    for n in 1..=45 {
        let id = n.to_string();
        store.append("r", text("c", &id, &id), 0).await.unwrap();
    }
    let four = PageLimit {
        messages: 4,
        bytes: 1 << 20,
    };
    let page = |after, before, limit| {
        let store = &store;
        async move { store.page("r", after, before, limit).await.unwrap() }
    };
    // Kept: 36..=45 (the last 10). The newest page, then the ones before it, down to the oldest kept.
    let newest = page(None, None, four).await;
    assert_eq!(seqs(&newest.history), [42, 43, 44, 45]);
    assert!(newest.more && !newest.history.gap);
    assert_eq!(newest.history.last_seq, 45);
    let older = page(None, Some(42), four).await;
    assert_eq!(
        (seqs(&older.history), older.more),
        (vec![38, 39, 40, 41], true)
    );
    let oldest = page(None, Some(38), four).await;
    assert_eq!((seqs(&oldest.history), oldest.more), (vec![36, 37], false));
    // After a seq: the newest of what came after it; a gap when the next one is no longer kept.
    let resumed = page(Some(40), None, four).await;
    assert_eq!(seqs(&resumed.history), [42, 43, 44, 45]);
    assert!(resumed.more && !resumed.history.gap);
    let lagged = page(
        Some(30),
        None,
        PageLimit {
            messages: 20,
            bytes: 1 << 20,
        },
    )
    .await;
    assert_eq!(seqs(&lagged.history), (36..=45).collect::<Vec<_>>());
    assert!(lagged.history.gap && !lagged.more, "31..=35 are gone");
    let current = page(Some(45), None, four).await;
    assert!(current.history.messages.is_empty() && !current.history.gap && !current.more);
    // The byte bound keeps at least one message.
    let tight = page(
        None,
        None,
        PageLimit {
            messages: 100,
            bytes: 1,
        },
    )
    .await;
    assert_eq!((seqs(&tight.history), tight.more), (vec![45], true));
    // A room never written: nothing, and a gap for a client that names a seq in it.
    let unknown = store.page("nowhere", Some(3), None, four).await.unwrap();
    assert!(unknown.history.messages.is_empty() && unknown.history.gap);
    assert_eq!(unknown.history.last_seq, 0);
}

/// What a member that lagged behind the feed is caught up with, a page at a time.
pub async fn a_page_after_a_seq_is_the_oldest_that_fits_and_says_whether_more_follow(
    mut backend: impl Backend,
) {
    use super::PageLimit;
    let store = backend
        .open(Retention {
            messages: 50,
            dedup_window_ms: 0,
            ..Retention::default()
        })
        .await;
    for n in 1..=90 {
        let id = n.to_string();
        store.append("r", text("c", &id, &id), 0).await.unwrap();
    }
    let limit = |messages| PageLimit {
        messages,
        bytes: 1 << 20,
    };
    let page = |after, limit| {
        let store = &store;
        async move { store.page_after("r", after, limit).await.unwrap() }
    };
    // Kept: 41..=90. From a seq no longer kept: a gap, then the oldest kept, over more than one
    // of a backend's reads (Redis reads 32 entries at a time).
    let lagged = page(20, limit(45)).await;
    assert_eq!(seqs(&lagged.history), (41..=85).collect::<Vec<_>>());
    assert!(lagged.history.gap && lagged.more, "21..=40 are gone");
    assert_eq!(lagged.history.last_seq, 90);
    let next = page(85, limit(4)).await;
    assert_eq!(seqs(&next.history), [86, 87, 88, 89]);
    assert!(next.more && !next.history.gap);
    let last = page(89, limit(4)).await;
    assert_eq!((seqs(&last.history), last.more), (vec![90], false));
    let current = page(90, limit(4)).await;
    assert!(current.history.messages.is_empty() && !current.history.gap && !current.more);
    // The byte bound keeps at least one message.
    let tight = PageLimit {
        messages: 100,
        bytes: 1,
    };
    let one = page(60, tight).await;
    assert_eq!((seqs(&one.history), one.more), (vec![61], true));
    // A room never written: nothing, and a gap for a seq in it.
    let unknown = store.page_after("nowhere", 3, limit(4)).await.unwrap();
    assert!(unknown.history.messages.is_empty() && unknown.history.gap);
    assert_eq!(unknown.history.last_seq, 0);
}

pub async fn old_messages_leave_by_age_and_the_gap_says_so(mut backend: impl Backend) {
    let store = backend
        .open(Retention {
            max_age_ms: Some(60_000),
            ..Retention::default()
        })
        .await;
    let now = super::unix_ms();
    store
        .append("r", text("c", "old", "old"), now - 120_000)
        .await
        .unwrap();
    store
        .append("r", text("c", "new", "new"), now)
        .await
        .unwrap();
    let history = store.since("r", Some(0)).await.unwrap();
    assert_eq!(seqs(&history), [2]);
    assert!(history.gap, "seq 1 aged out");
    assert_eq!(history.last_seq, 2);
    let limit = super::PageLimit {
        messages: 10,
        bytes: 1 << 20,
    };
    let caught_up = store.page_after("r", 0, limit).await.unwrap();
    assert_eq!(seqs(&caught_up.history), [2]);
    assert!(caught_up.history.gap && !caught_up.more, "seq 1 aged out");
}

pub async fn dedup_outlives_the_history_for_its_window(mut backend: impl Backend) {
    let now = super::unix_ms();
    let store = backend
        .open(Retention {
            messages: 1,
            dedup_window_ms: 60_000,
            ..Retention::default()
        })
        .await;
    store.append("r", text("c", "1", "one"), now).await.unwrap();
    store.append("r", text("c", "2", "two"), now).await.unwrap();
    assert_eq!(seqs(&store.since("r", None).await.unwrap()), [2]);
    // Seq 1 left the history, but a late resend of it is still recognised.
    assert_eq!(
        store.append("r", text("c", "1", "one"), now).await.unwrap(),
        Appended::Duplicate(1)
    );
    // A key whose window has passed and whose message is gone is forgotten.
    let long_ago = now - 120_000;
    let store = {
        drop(store);
        backend
            .open(Retention {
                messages: 1,
                dedup_window_ms: 60_000,
                ..Retention::default()
            })
            .await
    };
    store
        .append("old", text("c", "a", "a"), long_ago)
        .await
        .unwrap();
    store.append("old", text("c", "b", "b"), now).await.unwrap();
    // The store forgets on its own schedule; what it must not do is store a duplicate inside the
    // window, which the first half checked. Here either answer is allowed, but never a conflict.
    let late = store.append("old", text("c", "a", "a"), now).await.unwrap();
    assert!(!matches!(late, Appended::Conflict(_)), "{late:?}");
}

pub async fn pictures_are_kept_apart_and_found_by_their_url(mut backend: impl Backend) {
    let store = backend
        .open(Retention {
            messages: 1,
            ..Retention::default()
        })
        .await;
    let png = vec![137, 80, 78, 71, 1, 2, 3];
    let picture = |id: &str, sketch| picture(id, png.clone(), sketch);
    let Appended::New(image) = store.append("r", picture("i", None), 1).await.unwrap() else {
        panic!("stored")
    };
    let Body::Image { mime, url } = &image.body else {
        panic!("an image body: {:?}", image.body)
    };
    assert_eq!(mime, "image/png");
    let id = url.strip_prefix(super::MEDIA_PATH).expect("a media URL");
    let media = store.media(id).await.unwrap().expect("the picture is kept");
    assert_eq!(
        (media.mime.as_str(), media.bytes),
        ("image/png", png.clone())
    );
    assert_eq!(store.media_size(id).await.unwrap(), Some(png.len()));
    let history = store.since("r", None).await.unwrap();
    let json = serde_json::to_string(&history.messages).unwrap();
    assert!(json.len() < 300, "history carries a URL, not bytes: {json}");

    let Appended::New(sketch) = store
        .append("r", picture("s", Some((2, 3))), 2)
        .await
        .unwrap()
    else {
        panic!("stored")
    };
    let Body::Sketch {
        width,
        height,
        url: sketch_url,
    } = &sketch.body
    else {
        panic!("a sketch body: {:?}", sketch.body)
    };
    assert_eq!((*width, *height), (2, 3));
    assert_ne!(sketch_url, url, "each picture has its own id");
    assert!(store.media("no-such-id").await.unwrap().is_none());
    assert_eq!(store.media_size("no-such-id").await.unwrap(), None);
    assert!(
        store.media(&format!("{id}9")).await.unwrap().is_none(),
        "an unknown id is not found"
    );
}

pub async fn concurrent_appends_get_dense_seqs_each_once(mut backend: impl Backend) {
    let store = Arc::new(backend.open(Retention::default()).await);
    let mut tasks = Vec::new();
    for client in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..30 {
                let draft = text(
                    &format!("c{client}"),
                    &n.to_string(),
                    &format!("{client}/{n}"),
                );
                seqs.push(new_seq(store.append("r", draft, 1).await.unwrap()));
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one client's seqs grow"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=300).collect::<Vec<u64>>());
    let history = store.since("r", None).await.unwrap();
    assert_eq!(seqs(&history), (1..=300).collect::<Vec<u64>>());
}

/// A session keeps several appends in flight: they are numbered in the order they were taken
/// in, whatever order their outcomes are awaited in.
pub async fn enqueued_appends_are_stored_in_call_order(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    let pending: Vec<_> = (0..50)
        .map(|n| store.enqueue("r", text("c", &n.to_string(), &n.to_string()), 1, 0))
        .collect();
    let mut seqs_by_call = Vec::new();
    for outcome in pending.into_iter().rev() {
        seqs_by_call.push(new_seq(outcome.await.unwrap()));
    }
    seqs_by_call.reverse();
    assert_eq!(seqs_by_call, (1..=50).collect::<Vec<u64>>());
    let history = store.since("r", None).await.unwrap();
    let ids: Vec<String> = history
        .messages
        .iter()
        .map(|m| m.client_msg_id.clone())
        .collect();
    assert_eq!(ids, (0..50).map(|n| n.to_string()).collect::<Vec<_>>());
}

/// A store that went back to an older state (Redis from an older snapshot) still numbers a new
/// message above the last seq the server delivered in the room, and goes on from there.
pub async fn a_message_is_numbered_above_what_the_caller_delivered(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    store.append("r", text("c", "1", "one"), 1).await.unwrap();
    store.append("r", text("c", "2", "two"), 2).await.unwrap();
    // The server delivered up to 5; the store says 2.
    let jumped = store.enqueue("r", text("c", "3", "three"), 3, 5).await;
    assert_eq!(new_seq(jumped.unwrap()), 6);
    assert_eq!(
        new_seq(store.append("r", text("c", "4", "four"), 4).await.unwrap()),
        7
    );
    // Below the store's own last seq, `above` changes nothing.
    let behind = store.enqueue("r", text("c", "5", "five"), 5, 3).await;
    assert_eq!(new_seq(behind.unwrap()), 8);
    assert_eq!(
        seqs(&store.since("r", None).await.unwrap()),
        [1, 2, 6, 7, 8]
    );
    // A resend is still its original seq, whatever `above` says.
    assert_eq!(
        store
            .enqueue("r", text("c", "3", "three"), 6, 8)
            .await
            .unwrap(),
        Appended::Duplicate(6)
    );
}

/// Rooms are as many as clients name: the bound is on the whole store. The oldest messages of
/// all rooms leave first, with their pictures, and a resume from before them is a gap.
pub async fn the_store_keeps_about_its_bytes_in_all_rooms_the_oldest_leaving_first(
    mut backend: impl Backend,
) {
    let store = backend
        .open(Retention {
            max_bytes: 4096,
            ..Retention::default()
        })
        .await;
    let picture_id = store_picture(&store, "a", "picture", 2000).await;
    // Ten texts of 1000 bytes (500 characters: bytes are counted, not characters), taking
    // turns in two rooms: (room, seq) in storing order.
    let mut order = vec![("a", 1)];
    for n in 0..10 {
        let room = if n % 2 == 0 { "b" } else { "a" };
        let seq = new_seq(
            store
                .append(room, text("c", &format!("t{n}"), &"é".repeat(500)), 2)
                .await
                .unwrap(),
        );
        order.push((room, seq));
    }
    let a = store.since("a", None).await.unwrap();
    let b = store.since("b", None).await.unwrap();
    let kept: Vec<(&str, u64)> = order
        .iter()
        .copied()
        .filter(|(room, seq)| {
            let history = if *room == "a" { &a } else { &b };
            history.messages.iter().any(|m| m.seq == *seq)
        })
        .collect();
    assert!(
        (3..=4).contains(&kept.len()),
        "about 4096 bytes of 1000-byte texts: {kept:?}"
    );
    assert_eq!(
        kept,
        order[order.len() - kept.len()..],
        "the newest of all rooms stay"
    );
    assert_eq!(
        store.media(&picture_id).await.unwrap(),
        None,
        "the oldest picture left with its message"
    );
    assert!(
        store.since("a", Some(1)).await.unwrap().gap,
        "a resume from before what left is a gap"
    );
    // One message over the bound by itself is kept: the newest always stays.
    let big = new_seq(
        store
            .append("c", text("c", "big", &"y".repeat(8000)), 3)
            .await
            .unwrap(),
    );
    assert_eq!(seqs(&store.since("c", None).await.unwrap()), [big]);
}

/// A message that left its room by count frees its bytes: a busy room that keeps only its last
/// two does not push a quiet room's message out of a store with room for both.
pub async fn messages_that_leave_by_count_no_longer_count_against_the_bytes(
    mut backend: impl Backend,
) {
    let store = backend
        .open(Retention {
            messages: 2,
            max_bytes: 4096,
            ..Retention::default()
        })
        .await;
    let quiet = new_seq(
        store
            .append("quiet", text("c", "q", &"é".repeat(500)), 1)
            .await
            .unwrap(),
    );
    for n in 0..10 {
        store
            .append("busy", text("c", &n.to_string(), &"é".repeat(500)), 2)
            .await
            .unwrap();
    }
    assert_eq!(seqs(&store.since("quiet", None).await.unwrap()), [quiet]);
    assert_eq!(seqs(&store.since("busy", None).await.unwrap()), [9, 10]);
}

/// A picture is not kept once its message has left the history by count (SQLite's retention
/// takes it between batches, within a second or so).
pub async fn a_picture_leaves_with_its_message_by_count(mut backend: impl Backend) {
    let store = backend
        .open(Retention {
            messages: 1,
            ..Retention::default()
        })
        .await;
    let id = store_picture(&store, "r", "p", 100).await;
    assert!(
        store.media(&id).await.unwrap().is_some(),
        "kept while its message is"
    );
    store.append("r", text("c", "t", "after"), 2).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.media(&id).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "still kept 5 s after its message left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub async fn a_restart_keeps_epoch_seqs_and_dedup(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    let epoch = store.epoch().to_owned();
    store.append("r", text("c", "1", "one"), 1).await.unwrap();
    store.append("r", text("c", "2", "two"), 2).await.unwrap();
    drop(store);
    let store = backend.open(Retention::default()).await;
    if !backend.durable() {
        assert_ne!(store.epoch(), epoch, "a fresh memory store is a new epoch");
        return;
    }
    assert_eq!(store.epoch(), epoch);
    assert_eq!(
        store.append("r", text("c", "2", "two"), 3).await.unwrap(),
        Appended::Duplicate(2)
    );
    assert_eq!(
        new_seq(store.append("r", text("c", "3", "three"), 4).await.unwrap()),
        3
    );
    let history = store.since("r", Some(1)).await.unwrap();
    assert_eq!(seqs(&history), [2, 3]);
    assert!(!history.gap);
}

pub async fn a_secret_is_released_only_by_its_own_value(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    assert_eq!(store.claim_identity("c", "s-1").await.unwrap(), "s-1");
    store.release_identity("c", "s-other").await.unwrap();
    assert_eq!(
        store.claim_identity("c", "s-2").await.unwrap(),
        "s-1",
        "another value releases nothing"
    );
    store.release_identity("c", "s-1").await.unwrap();
    assert_eq!(
        store.claim_identity("c", "s-2").await.unwrap(),
        "s-2",
        "released, the id is claimed anew"
    );
    store
        .release_identity("never-claimed", "s-1")
        .await
        .unwrap();
    drop(store);
    let store = backend.open(Retention::default()).await;
    if backend.durable() {
        assert_eq!(store.claim_identity("c", "s-3").await.unwrap(), "s-2");
    }
}

pub async fn a_claimed_secret_is_kept_and_survives_a_restart(mut backend: impl Backend) {
    let store = backend.open(Retention::default()).await;
    assert_eq!(
        store.claim_identity("c", "s-first").await.unwrap(),
        "s-first"
    );
    assert_eq!(
        store.claim_identity("c", "s-second").await.unwrap(),
        "s-first",
        "a second claim gets the secret of the first"
    );
    assert_eq!(
        store.claim_identity("d", "s-other").await.unwrap(),
        "s-other"
    );
    // Concurrent claims of one new id all get the same secret.
    let store = Arc::new(store);
    let claims: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_identity("e", &format!("s-{n}")).await })
        })
        .collect();
    let mut secrets = Vec::new();
    for claim in claims {
        secrets.push(claim.await.unwrap().unwrap());
    }
    assert!(secrets.iter().all(|s| *s == secrets[0]), "{secrets:?}");
    drop(Arc::into_inner(store).expect("no claim holds the store"));
    let store = backend.open(Retention::default()).await;
    let after = store.claim_identity("c", "s-after").await.unwrap();
    if backend.durable() {
        assert_eq!(after, "s-first", "a restart keeps the secret");
        assert_eq!(store.claim_identity("e", "s-x").await.unwrap(), secrets[0]);
    } else {
        assert_eq!(after, "s-after", "a fresh memory store knows no ids");
    }
}
