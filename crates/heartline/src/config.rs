//! Everything a connection can be told, as a builder with documented defaults.

use crate::{Backoff, Heartbeat};
use std::fmt;
use std::ops::RangeInclusive;
use std::rc::Rc;

/// How binary frames are handed over: as an `ArrayBuffer` (default) or a `Blob`
/// ([`WebSocket.binaryType`](https://developer.mozilla.org/docs/Web/API/WebSocket/binaryType)).
///
/// ```
/// use heartline::{BinaryType, Config};
/// assert_eq!(Config::new("ws://host").binary_type, BinaryType::ArrayBuffer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BinaryType {
    /// Binary frames arrive as `ArrayBuffer`.
    #[default]
    ArrayBuffer,
    /// Binary frames arrive as `Blob`.
    Blob,
}

/// What to do after the server closes with a given code.
///
/// ```
/// use heartline::{ClosePolicy, Config};
/// let config = Config::new("ws://host").with_close_policy(4000..=4099, ClosePolicy::Reconnect);
/// assert_eq!(config.policy_for(4001), ClosePolicy::Reconnect);
/// assert_eq!(config.policy_for(4100), ClosePolicy::Stop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePolicy {
    /// Reconnect with the usual backoff.
    Reconnect,
    /// Reconnect, but only after the maximum delay (the server asked us to back off).
    WaitMax,
    /// Do not reconnect: retrying cannot help.
    Stop,
}

/// The default policy: no reconnect after 1002, 1003, 1007, 1008, 1009, 1010 and 4000–4999;
/// 1013 (Try Again Later) waits the maximum delay; everything else reconnects.
///
/// ```
/// use heartline::{default_close_policy, ClosePolicy};
/// assert_eq!(default_close_policy(1006), ClosePolicy::Reconnect);
/// assert_eq!(default_close_policy(4001), ClosePolicy::Stop);
/// assert_eq!(default_close_policy(1013), ClosePolicy::WaitMax);
/// ```
pub fn default_close_policy(code: u16) -> ClosePolicy {
    match code {
        1002 | 1003 | 1007 | 1008 | 1009 | 1010 | 4000..=4999 => ClosePolicy::Stop,
        1013 => ClosePolicy::WaitMax,
        _ => ClosePolicy::Reconnect,
    }
}

/// Where the URL comes from: fixed, or asked for before every attempt (e.g. a fresh token).
///
/// ```
/// use heartline::Config;
/// let config = Config::new("ws://host").with_url_provider(|| format!("ws://host/?token={}", 42));
/// assert_eq!(config.next_url(), "ws://host/?token=42");
/// ```
#[derive(Clone)]
pub enum UrlSource {
    /// The same URL every time.
    Fixed(String),
    /// Called before every attempt.
    Provider(Rc<dyn Fn() -> String>),
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Fixed(url) => f.debug_tuple("Fixed").field(url).finish(),
            UrlSource::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

impl PartialEq for UrlSource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (UrlSource::Fixed(a), UrlSource::Fixed(b)) => a == b,
            (UrlSource::Provider(a), UrlSource::Provider(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Limits of the queue of frames sent while the socket is not open.
///
/// ```
/// use heartline::{Config, OutboxLimits};
/// let config = Config::new("ws://host").with_outbox_limits(10, 1_024);
/// assert_eq!(config.outbox, OutboxLimits { max_frames: 10, max_bytes: 1_024 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most frames queued. Default 256.
    pub max_frames: usize,
    /// Most bytes queued. Default 8 MiB.
    pub max_bytes: usize,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_frames: 256,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Connection settings. Build with [`Config::new`] and the `with_*` methods.
///
/// ```
/// use heartline::{Config, BinaryType, ClosePolicy};
/// let config = Config::new("ws://127.0.0.1:8080/ws")
///     .with_protocols(["chat.v1"])
///     .with_binary_type(BinaryType::Blob)
///     .with_heartbeat_timing(5_000, 2_000)
///     .with_reconnect_delays(500, 10_000, 1.5)
///     .with_max_retries(Some(10))
///     .with_close_policy(4000..=4099, ClosePolicy::Reconnect);
/// assert_eq!(config.max_retries, Some(10));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The URL, or a provider asked before each attempt.
    pub url: UrlSource,
    /// Sub-protocols offered to the server. Default none.
    pub protocols: Vec<String>,
    /// How binary frames are delivered. Default `ArrayBuffer`.
    pub binary_type: BinaryType,
    /// Heartbeat, or `None` to turn it off. Default on ([`Heartbeat::default`]).
    pub heartbeat: Option<Heartbeat>,
    /// Reconnect automatically after a loss. Default true.
    pub reconnect: bool,
    /// Delay schedule between attempts. Default [`Backoff::default`] (1 s to 30 s, ×2, jitter).
    pub backoff: Backoff,
    /// Attempts per loss before giving up (status `Failed`); `None` = unlimited (default).
    pub max_retries: Option<u32>,
    /// How long a connection must stay open before the attempt counter resets, ms. Default 5 000.
    pub min_uptime_ms: u64,
    /// How long an attempt may stay CONNECTING before it is abandoned, ms. Default 10 000.
    pub open_timeout_ms: Option<u64>,
    /// How long the user's close may wait for the server's closing handshake before the socket
    /// is written off (status `Stopped`, close 1006), ms. Default 2 000.
    pub close_timeout_ms: Option<u64>,
    /// After this many attempts in a row that never opened, stop retrying with status
    /// `Unreachable` until `open()` or `online`. Default 10; `None` retries for ever.
    pub unreachable_after: Option<u32>,
    /// Keep queued frames when the user closes, to send them after the next `open()`.
    /// Default false: a close drops them (reported as `Event::Discarded`).
    pub keep_outbox_on_close: bool,
    /// Send again, on the next connection, the frames the browser still held unsent when a
    /// connection ended (reported as `Event::Requeued`). Default true; false drops them
    /// (reported as `Event::Discarded`). See [`with_unsent_requeued`](Config::with_unsent_requeued).
    pub requeue_unsent: bool,
    /// Queue limits while not open.
    pub outbox: OutboxLimits,
    /// Per-code overrides of [`default_close_policy`], first match wins.
    pub close_policy: Vec<(RangeInclusive<u16>, ClosePolicy)>,
    /// Seed of the jitter; `None` seeds from the browser's `Math.random()`.
    pub seed: Option<u64>,
    /// Share one connection among the tabs of this origin under this key; `None` (default):
    /// this tab has its own. See [`with_shared`](Config::with_shared).
    pub shared: Option<String>,
    /// Shared connection: how long followers wait, without a word from the leader tab, before
    /// one takes the lead from it (a frozen or blocked tab keeps its lock), ms. Default 4 000.
    /// See [`with_shared_takeover`](Config::with_shared_takeover).
    pub shared_takeover_ms: u64,
}

impl Config {
    /// A configuration with every default, connecting to `url`.
    ///
    /// ```
    /// let config = heartline::Config::new("wss://example.com/ws");
    /// assert!(config.reconnect && config.heartbeat.is_some());
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: UrlSource::Fixed(url.into()),
            protocols: Vec::new(),
            binary_type: BinaryType::default(),
            heartbeat: Some(Heartbeat::default()),
            reconnect: true,
            backoff: Backoff::default(),
            max_retries: None,
            min_uptime_ms: 5_000,
            open_timeout_ms: Some(10_000),
            close_timeout_ms: Some(2_000),
            unreachable_after: Some(10),
            keep_outbox_on_close: false,
            requeue_unsent: true,
            outbox: OutboxLimits::default(),
            close_policy: Vec::new(),
            seed: None,
            shared: None,
            shared_takeover_ms: crate::shared::TAKEOVER_MS,
        }
    }

    /// Asks `provider` for the URL before every attempt.
    ///
    /// ```
    /// let config = heartline::Config::new("").with_url_provider(|| "ws://host/?token=abc".into());
    /// assert_eq!(config.next_url(), "ws://host/?token=abc");
    /// ```
    pub fn with_url_provider(mut self, provider: impl Fn() -> String + 'static) -> Self {
        self.url = UrlSource::Provider(Rc::new(provider));
        self
    }

    /// Offers these sub-protocols.
    ///
    /// ```
    /// let config = heartline::Config::new("ws://h").with_protocols(["chat.v2", "chat.v1"]);
    /// assert_eq!(config.protocols, ["chat.v2", "chat.v1"]);
    /// ```
    pub fn with_protocols<S: Into<String>>(
        mut self,
        protocols: impl IntoIterator<Item = S>,
    ) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Delivers binary frames as `ArrayBuffer` or `Blob`.
    ///
    /// ```
    /// use heartline::{BinaryType, Config};
    /// assert_eq!(Config::new("ws://h").with_binary_type(BinaryType::Blob).binary_type, BinaryType::Blob);
    /// ```
    pub fn with_binary_type(mut self, binary_type: BinaryType) -> Self {
        self.binary_type = binary_type;
        self
    }

    /// Replaces the heartbeat settings; `None` turns the heartbeat off.
    ///
    /// ```
    /// use heartline::{Config, Heartbeat};
    /// let custom = Heartbeat { message: "{\"t\":\"hb\"}".into(), reply: Some("{\"t\":\"hb-ok\"}".into()), ..Heartbeat::default() };
    /// assert!(Config::new("ws://h").with_heartbeat(Some(custom)).heartbeat.is_some());
    /// assert!(Config::new("ws://h").with_heartbeat(None).heartbeat.is_none());
    /// ```
    pub fn with_heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Keeps the heartbeat texts and sets its interval and pong timeout, in ms.
    ///
    /// ```
    /// let config = heartline::Config::new("ws://h").with_heartbeat_timing(5_000, 2_000);
    /// assert_eq!(config.heartbeat.unwrap().pong_timeout_ms, 2_000);
    /// ```
    pub fn with_heartbeat_timing(mut self, interval_ms: u64, pong_timeout_ms: u64) -> Self {
        let heartbeat = self.heartbeat.get_or_insert_with(Heartbeat::default);
        heartbeat.interval_ms = interval_ms;
        heartbeat.pong_timeout_ms = pong_timeout_ms;
        self
    }

    /// Turns automatic reconnecting on or off.
    ///
    /// ```
    /// assert!(!heartline::Config::new("ws://h").with_reconnect(false).reconnect);
    /// ```
    pub fn with_reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the backoff's floor, cap and growth factor (jitter stays as it was).
    ///
    /// ```
    /// let config = heartline::Config::new("ws://h").with_reconnect_delays(500, 10_000, 1.5);
    /// assert_eq!(config.backoff.max_ms, 10_000);
    /// ```
    pub fn with_reconnect_delays(mut self, min_ms: u64, max_ms: u64, factor: f64) -> Self {
        self.backoff = Backoff {
            min_ms,
            max_ms,
            factor,
            jitter: self.backoff.jitter,
        };
        self
    }

    /// Turns jitter on or off.
    ///
    /// ```
    /// assert!(!heartline::Config::new("ws://h").with_jitter(false).backoff.jitter);
    /// ```
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.backoff.jitter = jitter;
        self
    }

    /// Gives up after this many attempts per loss (`None`: never).
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h").with_max_retries(Some(5)).max_retries, Some(5));
    /// ```
    pub fn with_max_retries(mut self, max_retries: Option<u32>) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// How long a connection must stay open before the attempt counter resets.
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h").with_min_uptime(1_000).min_uptime_ms, 1_000);
    /// ```
    pub fn with_min_uptime(mut self, min_uptime_ms: u64) -> Self {
        self.min_uptime_ms = min_uptime_ms;
        self
    }

    /// Abandons an attempt still CONNECTING after this long (`None`: wait for the browser).
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h").with_open_timeout(None).open_timeout_ms, None);
    /// ```
    pub fn with_open_timeout(mut self, open_timeout_ms: Option<u64>) -> Self {
        self.open_timeout_ms = open_timeout_ms;
        self
    }

    /// Writes the socket off if the server has not finished the closing handshake this long
    /// after the user's close (`None`: wait for the browser, which can take tens of seconds).
    ///
    /// ```
    /// let config = heartline::Config::new("ws://host").with_close_timeout(Some(500));
    /// assert_eq!(config.close_timeout_ms, Some(500));
    /// ```
    pub fn with_close_timeout(mut self, close_timeout_ms: Option<u64>) -> Self {
        self.close_timeout_ms = close_timeout_ms;
        self
    }

    /// Stops retrying after this many consecutive attempts that never opened (`None`: never).
    ///
    /// ```
    /// let config = heartline::Config::new("ws://host").with_unreachable_after(Some(3));
    /// assert_eq!(config.unreachable_after, Some(3));
    /// ```
    pub fn with_unreachable_after(mut self, attempts: Option<u32>) -> Self {
        self.unreachable_after = attempts;
        self
    }

    /// Keeps frames queued at the user's close for the next `open()` instead of dropping them.
    ///
    /// ```
    /// let config = heartline::Config::new("ws://host").with_outbox_kept_on_close(true);
    /// assert!(config.keep_outbox_on_close);
    /// ```
    pub fn with_outbox_kept_on_close(mut self, keep: bool) -> Self {
        self.keep_outbox_on_close = keep;
        self
    }

    /// Whether frames the browser still held unsent when a connection ended (its
    /// `bufferedAmount`: a slow uplink, a server that closed mid-upload) go out again on the
    /// next connection, first (true, the default), or are dropped and reported as
    /// `Event::Discarded`. Turn it off when the application resends whatever the server has
    /// not acknowledged itself: the frames would otherwise go twice, and one the server
    /// refuses for what it is (too large, too slow to arrive) would be sent again after every
    /// reconnect, however the application marked it. With [`with_shared`](Config::with_shared)
    /// the leading tab's setting decides for every tab's frames on its socket (acknowledged to
    /// their tabs already, which are not told): give every tab the same config.
    ///
    /// ```
    /// let config = heartline::Config::new("ws://host").with_unsent_requeued(false);
    /// assert!(!config.requeue_unsent);
    /// ```
    pub fn with_unsent_requeued(mut self, requeue: bool) -> Self {
        self.requeue_unsent = requeue;
        self
    }

    /// Bounds the queue of frames sent while not open.
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h").with_outbox_limits(8, 4_096).outbox.max_frames, 8);
    /// ```
    pub fn with_outbox_limits(mut self, max_frames: usize, max_bytes: usize) -> Self {
        self.outbox = OutboxLimits {
            max_frames,
            max_bytes,
        };
        self
    }

    /// Overrides the policy for a range of close codes (earlier overrides win).
    ///
    /// ```
    /// use heartline::{ClosePolicy, Config};
    /// let config = Config::new("ws://h").with_close_policy(1008..=1008, ClosePolicy::Reconnect);
    /// assert_eq!(config.policy_for(1008), ClosePolicy::Reconnect);
    /// ```
    pub fn with_close_policy(mut self, codes: RangeInclusive<u16>, policy: ClosePolicy) -> Self {
        self.close_policy.push((codes, policy));
        self
    }

    /// Seeds the jitter, for reproducible schedules.
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h").with_seed(7).seed, Some(7));
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Shares one connection among every tab of this origin that uses the same `key` (e.g. the
    /// URL): one tab, the leader, owns the socket, elected with the
    /// [Web Locks API](https://developer.mozilla.org/docs/Web/API/Web_Locks_API); the others
    /// reach it through a [`BroadcastChannel`](https://developer.mozilla.org/docs/Web/API/BroadcastChannel).
    /// Every tab keeps the same API: sends, status, notices, `close` (this tab only; the last
    /// tab closes the socket, and a leading tab hands the lead to another, which opens a
    /// socket of its own) and `open`. Where either API is missing, each tab has its own
    /// socket and is told so ([`Notice::Role`](crate::Notice::Role)). The leader's settings are
    /// used for the socket, so every tab should use the same config.
    ///
    /// ```
    /// let config = heartline::Config::new("wss://example.com/ws").with_shared("wss://example.com/ws");
    /// assert_eq!(config.shared.as_deref(), Some("wss://example.com/ws"));
    /// ```
    pub fn with_shared(mut self, key: impl Into<String>) -> Self {
        self.shared = Some(key.into());
        self
    }

    /// How long the followers of a shared connection wait without a word from the leader tab
    /// before one takes the lead from it, ms (default 4 000; at least 40, at most 2³¹−1). A leader the browser
    /// announces it will freeze (`freeze`) steps down at once; one frozen without warning, or
    /// whose main thread is blocked, keeps its Web Lock; the
    /// leader beats every quarter of this time, and a follower that heard nothing for half of
    /// it asks the leader directly (a live tab answers at once, even when the browser throttles
    /// its timers), then, unanswered, steals the lock and opens its own socket: 1.25 times this
    /// after the leader's last word, plus one connect (followers take turns, by tab id, half a
    /// beat apart: the first one's news stands the others down). Shorter means a faster
    /// takeover, and more beats on the channel.
    ///
    /// ```
    /// let config = heartline::Config::new("wss://example.com/ws")
    ///     .with_shared("wss://example.com/ws")
    ///     .with_shared_takeover(2_000);
    /// assert_eq!(config.shared_takeover_ms, 2_000);
    /// ```
    pub fn with_shared_takeover(mut self, takeover_ms: u64) -> Self {
        // At least 40 ms: `SharedCore::with_takeover` applies the floor.
        self.shared_takeover_ms = takeover_ms;
        self
    }

    /// The policy for a close code: the first matching override, else the default.
    ///
    /// ```
    /// use heartline::{ClosePolicy, Config};
    /// assert_eq!(Config::new("ws://h").policy_for(1012), ClosePolicy::Reconnect);
    /// ```
    pub fn policy_for(&self, code: u16) -> ClosePolicy {
        self.close_policy
            .iter()
            .find(|(codes, _)| codes.contains(&code))
            .map(|(_, policy)| *policy)
            .unwrap_or_else(|| default_close_policy(code))
    }

    /// The URL for the next attempt.
    ///
    /// ```
    /// assert_eq!(heartline::Config::new("ws://h/ws").next_url(), "ws://h/ws");
    /// ```
    pub fn next_url(&self) -> String {
        match &self.url {
            UrlSource::Fixed(url) => url.clone(),
            UrlSource::Provider(provider) => provider(),
        }
    }
}
