//! The UI's words in English and Chinese.

use heartline_protocol::names::NameProblem;
use heartline_protocol::AppCloseCode;

/// The UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// 中文.
    Zh,
}

/// Every string the UI shows.
#[derive(Debug)]
pub struct Texts {
    /// Close-code meanings in Chinese.
    pub zh: bool,
    pub nickname: &'static str,
    pub room: &'static str,
    pub join: &'static str,
    pub message: &'static str,
    pub send: &'static str,
    pub members: &'static str,
    pub disconnect: &'static str,
    pub reconnect_now: &'static str,
    pub pending: &'static str,
    /// Pending, and lost if the page is reloaded: localStorage does not hold it (an upload over
    /// the stored bound, or past the browser's quota).
    pub pending_unkept: &'static str,
    pub sent: &'static str,
    pub image: &'static str,
    pub sketch: &'static str,
    pub send_sketch: &'static str,
    pub clear: &'static str,
    pub leave: &'static str,
    pub typing: &'static str,
    pub rtt: &'static str,
    pub last_close: &'static str,
    pub reconnecting_in: &'static str,
    pub connecting: &'static str,
    pub attempt: &'static str,
    pub joining: &'static str,
    pub connected: &'static str,
    pub reconnecting: &'static str,
    pub disconnected: &'static str,
    pub offline: &'static str,
    pub failed: &'static str,
    pub closing: &'static str,
    pub closed: &'static str,
    pub joined: &'static str,
    pub left: &'static str,
    pub lost: &'static str,
    pub reconnected: &'static str,
    pub gap: &'static str,
    /// In place of a picture that did not load (the server dropped it or is unreachable, or the
    /// browser cannot show the file).
    pub picture_gone: &'static str,
    pub messages: &'static str,
    pub switch: &'static str,
    pub not_sent: &'static str,
    pub retry: &'static str,
    /// The button that asks for the page of history before the oldest message shown.
    pub load_older: &'static str,
    pub delete: &'static str,
    /// "too long" / "too large", before the sizes.
    pub too_large_words: &'static str,
    /// "the limit is", before the limit.
    pub limit_is: &'static str,
    pub bytes: &'static str,
    /// Why an upload the connection was lost under twice is not sent again by itself.
    pub lost_under_upload: &'static str,
}

/// There are two tables, told apart by `zh`: components compare their `texts` prop on every
/// render, and a field-by-field comparison of ~45 strings is code the page would carry for nothing.
impl PartialEq for Texts {
    fn eq(&self, other: &Self) -> bool {
        self.zh == other.zh
    }
}

impl Eq for Texts {}

const EN: Texts = Texts {
    zh: false,
    nickname: "Nickname",
    room: "Room",
    join: "Join",
    message: "Message",
    send: "Send",
    members: "Members",
    disconnect: "Disconnect",
    reconnect_now: "Reconnect now",
    pending: "pending",
    pending_unkept: "pending; not kept if this page is reloaded",
    sent: "sent",
    image: "Image",
    sketch: "Sketch",
    send_sketch: "Send sketch",
    clear: "Clear",
    leave: "Leave",
    typing: "is typing…",
    rtt: "RTT",
    last_close: "Last close",
    reconnecting_in: "next try in",
    connecting: "Connecting",
    attempt: "attempt",
    joining: "Open, joining",
    connected: "Connected",
    reconnecting: "Reconnecting",
    disconnected: "Disconnected",
    offline: "Offline, waiting for the network",
    failed: "Failed: gave up reconnecting",
    closing: "Closing",
    closed: "Closed",
    joined: "joined",
    left: "left",
    lost: "Connection lost",
    lost_under_upload: "the connection was lost twice while it was being sent",
    reconnected: "Reconnected",
    gap: "Some older messages are no longer kept by the server.",
    picture_gone:
        "Picture not available: it could not be loaded (the server may no longer keep it).",
    messages: "Messages",
    switch: "中文",
    not_sent: "not sent",
    retry: "Retry",
    load_older: "Load older messages",
    delete: "Delete",
    too_large_words: "Too long to send:",
    limit_is: "the server's limit is",
    bytes: "bytes",
};

const ZH: Texts = Texts {
    zh: true,
    nickname: "昵称",
    room: "房间",
    join: "加入",
    message: "消息",
    send: "发送",
    members: "成员",
    disconnect: "断开",
    reconnect_now: "立即重连",
    pending: "待发送",
    pending_unkept: "待发送；刷新页面后不保留",
    sent: "已发送",
    image: "图片",
    sketch: "涂鸦",
    send_sketch: "发送涂鸦",
    clear: "清除",
    leave: "离开",
    typing: "正在输入…",
    rtt: "往返时间",
    last_close: "上次关闭",
    reconnecting_in: "下次重试",
    connecting: "正在连接",
    attempt: "尝试",
    joining: "已连接，正在加入",
    connected: "已连接",
    reconnecting: "正在重连",
    disconnected: "已断开",
    offline: "离线，等待网络",
    failed: "重连失败，已放弃",
    closing: "正在关闭",
    closed: "已关闭",
    joined: "加入了",
    left: "离开了",
    lost: "连接断开",
    lost_under_upload: "发送过程中连接两次断开",
    reconnected: "已重新连接",
    gap: "服务器已不再保存部分较早的消息。",
    picture_gone: "图片无法显示：无法加载（服务器可能已不再保存）。",
    messages: "消息列表",
    switch: "English",
    not_sent: "未发送",
    retry: "重试",
    load_older: "加载更早的消息",
    delete: "删除",
    too_large_words: "内容过长，无法发送：",
    limit_is: "服务器上限为",
    bytes: "字节",
};

impl Texts {
    /// Why a nickname (or, with `room`, a room name) is refused (the English is the
    /// protocol's own).
    ///
    /// ```
    /// use heartline_chat::i18n::Lang;
    /// use heartline_protocol::names::NameProblem;
    /// let too_long = NameProblem::TooLong { max: 32 };
    /// assert_eq!(Lang::En.texts().name_problem(&too_long, false), "the name is longer than 32 characters");
    /// assert_eq!(Lang::En.texts().name_problem(&too_long, true), "room: the name is longer than 32 characters");
    /// assert_eq!(Lang::Zh.texts().name_problem(&too_long, false), "昵称超过 32 个字符");
    /// assert_eq!(Lang::Zh.texts().name_problem(&too_long, true), "房间名超过 32 个字符");
    /// ```
    pub fn name_problem(&self, problem: &NameProblem, room: bool) -> String {
        if !self.zh {
            return if room {
                format!("room: {problem}")
            } else {
                problem.to_string()
            };
        }
        let name = if room { "房间名" } else { "昵称" };
        match problem {
            NameProblem::Empty => format!("{name}为空"),
            NameProblem::TooLong { max } => format!("{name}超过 {max} 个字符"),
            NameProblem::Control => format!("{name}包含控制字符"),
            NameProblem::Invisible(c) => {
                format!("{name}包含不可见字符（U+{:04X}）", *c as u32)
            }
            NameProblem::LineBreak => format!("{name}包含换行符"),
        }
    }

    /// What one of the chat server's own close codes (4001–4007) means (the English is the
    /// protocol's own).
    ///
    /// ```
    /// use heartline_chat::i18n::Lang;
    /// use heartline_protocol::AppCloseCode;
    /// let taken = AppCloseCode::NICK_TAKEN;
    /// assert_eq!(Lang::En.texts().app_close_meaning(&taken), taken.meaning);
    /// assert_eq!(Lang::Zh.texts().app_close_meaning(&taken), "房间里已有人使用这个昵称，请换一个。");
    /// ```
    pub fn app_close_meaning(&self, app: &AppCloseCode) -> &'static str {
        if !self.zh {
            return app.meaning;
        }
        match app.code {
            4001 => "昵称为空、超过 32 个字符，或包含控制字符或不可见字符。",
            4002 => "房间里已有人使用这个昵称，请换一个。",
            4003 => "房间名为空、超过 64 个字符，或包含控制字符或不可见字符。",
            4004 => "连接后没有及时发送加入请求。",
            4005 => "同一标签页的新连接取代了这个连接。",
            4006 => "此客户端 ID 已被另一个客户端占用；应用将改用新的 ID。",
            4007 => "一条消息的传输时间超过了服务器允许的上限：网速太慢，无法传完这么大的消息。",
            _ => app.meaning,
        }
    }

    /// A server `error` frame as the reader sees it: `code: message` (the protocol's English),
    /// and in Chinese the code's meaning first, the server's words after it in brackets (they
    /// may carry a detail the meaning has not: the server refuses only what the app's own checks
    /// missed).
    ///
    /// ```
    /// use heartline_chat::i18n::Lang;
    /// let (en, zh) = (Lang::En.texts(), Lang::Zh.texts());
    /// assert_eq!(en.server_error("flood", "too many messages; slow down"), "flood: too many messages; slow down");
    /// assert_eq!(zh.server_error("flood", "too many messages; slow down"), "发送太频繁，请稍后再试（flood: too many messages; slow down）");
    /// assert_eq!(zh.server_error("new_code", "x"), "new_code: x", "a code the app does not know stays as it came");
    /// ```
    pub fn server_error(&self, code: &str, message: &str) -> String {
        let meaning = match code {
            _ if !self.zh => None,
            "flood" => Some("发送太频繁，请稍后再试"),
            "empty_text" => Some("消息为空"),
            "bad_sketch" => Some("草图无效"),
            "conflict" => Some("这条消息的 ID 已被另一条消息使用，未保存"),
            "not_joined" => Some("尚未加入房间"),
            "already_joined" => Some("这个连接已经加入了房间"),
            "bad_id" => Some("ID 过长"),
            "bad_json" | "bad_frame" | "unknown_type" => Some("服务器无法理解应用发送的内容"),
            _ => None,
        };
        match meaning {
            Some(meaning) => format!("{meaning}（{code}: {message}）"),
            None => format!("{code}: {message}"),
        }
    }

    /// A file refused before sending: not one of the picture types the chat sends.
    pub fn not_a_picture(&self, mime: &str, types: &[&str]) -> String {
        if self.zh {
            format!("未发送：不支持“{mime}”类型（仅支持 {}）", types.join("、"))
        } else {
            format!("not sent: \"{mime}\" is not one of {}", types.join(", "))
        }
    }

    /// A file the browser could not read.
    pub fn unreadable_file(&self) -> &'static str {
        if self.zh {
            "未发送：无法读取该文件"
        } else {
            "not sent: the file could not be read"
        }
    }

    /// Says that `size` bytes are over `limit`, in words and in KiB.
    ///
    /// ```
    /// use heartline_chat::i18n::Lang;
    /// let line = Lang::En.texts().too_large(70_012, 65_536);
    /// assert_eq!(line, "Too long to send: 70 012 bytes; the server's limit is 65 536 bytes (64 KiB).");
    /// ```
    pub fn too_large(&self, size: usize, limit: usize) -> String {
        format!(
            "{} {} {}; {} {} {} ({} KiB).",
            self.too_large_words,
            grouped(size),
            self.bytes,
            self.limit_is,
            grouped(limit),
            self.bytes,
            limit / 1024
        )
    }
}

/// 70012 → "70 012" (a thin space would be nicer, but screen readers read a plain one).
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

impl Lang {
    /// The strings of this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }

    /// The other language.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// From a stored code.
    pub fn from_code(code: &str) -> Lang {
        if code == "zh" {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}
