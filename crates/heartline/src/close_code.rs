//! The WebSocket close-code table (RFC 6455 §7.4 and the IANA registry): names,
//! meanings in English and Chinese, and which codes a browser may send.

use std::fmt;

/// A close code as received in a [`CloseEvent`](https://developer.mozilla.org/docs/Web/API/CloseEvent/code)
/// or sent with [`WebSocket.close()`](https://developer.mozilla.org/docs/Web/API/WebSocket/close).
///
/// ```
/// use heartline::CloseCode;
/// let code = CloseCode(1011);
/// assert_eq!(code.name(), "Internal Error");
/// assert!(!code.can_send());
/// assert!(CloseCode(4001).can_send());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

/// Which part of the table a code falls in.
///
/// ```
/// use heartline::{CloseCode, CloseRange};
/// assert_eq!(CloseCode(4404).range(), CloseRange::Application);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRange {
    /// 0–999: not used.
    Unused,
    /// 1000–1015: defined by the standard.
    Standard,
    /// 1016–1999: reserved for future revisions of the standard.
    ReservedStandard,
    /// 2000–2999: reserved for WebSocket extensions.
    Extension,
    /// 3000–3999: registered with IANA by libraries and frameworks.
    Library,
    /// 4000–4999: private use by applications.
    Application,
    /// 5000 and above: not valid.
    Invalid,
}

struct Entry {
    code: u16,
    name: &'static str,
    meaning: &'static str,
    meaning_zh: &'static str,
}

const TABLE: &[Entry] = &[
    Entry { code: 1000, name: "Normal Closure", meaning: "The purpose of the connection has been fulfilled.", meaning_zh: "正常关闭，连接的目的已完成。" },
    Entry { code: 1001, name: "Going Away", meaning: "The endpoint is going away: server shutting down or the page navigated away.", meaning_zh: "端点离开：服务器关闭或页面已离开。" },
    Entry { code: 1002, name: "Protocol Error", meaning: "The endpoint received a frame that breaks the WebSocket protocol.", meaning_zh: "协议错误：收到违反 WebSocket 协议的帧。" },
    Entry { code: 1003, name: "Unsupported Data", meaning: "The endpoint received a kind of data it cannot accept (e.g. binary where only text is allowed).", meaning_zh: "不支持的数据类型（例如只接受文本时收到二进制）。" },
    Entry { code: 1004, name: "Reserved", meaning: "Reserved; must not be used.", meaning_zh: "保留，不得使用。" },
    Entry { code: 1005, name: "No Status Received", meaning: "The close frame carried no status code (never sent on the wire).", meaning_zh: "关闭帧中没有状态码（不会在网络上发送）。" },
    Entry { code: 1006, name: "Abnormal Closure", meaning: "The connection was lost without a close frame (network failure, crash, refused connection).", meaning_zh: "异常关闭：没有关闭帧就断开了（网络故障、崩溃或连接被拒）。" },
    Entry { code: 1007, name: "Invalid Payload Data", meaning: "A message's data was inconsistent with its type (e.g. invalid UTF-8 in a text frame).", meaning_zh: "负载数据无效（例如文本帧中有非法 UTF-8）。" },
    Entry { code: 1008, name: "Policy Violation", meaning: "A message violated the endpoint's policy.", meaning_zh: "违反策略：消息违反了端点的策略。" },
    Entry { code: 1009, name: "Message Too Big", meaning: "A message was too big to process.", meaning_zh: "消息太大，无法处理。" },
    Entry { code: 1010, name: "Mandatory Extension", meaning: "The client expected the server to negotiate an extension it did not.", meaning_zh: "缺少必需的扩展：服务器未协商客户端要求的扩展。" },
    Entry { code: 1011, name: "Internal Error", meaning: "The server met an unexpected condition that kept it from fulfilling the request.", meaning_zh: "服务器内部错误。" },
    Entry { code: 1012, name: "Service Restart", meaning: "The server is restarting; reconnect shortly.", meaning_zh: "服务重启，请稍后重连。" },
    Entry { code: 1013, name: "Try Again Later", meaning: "The server is overloaded; try again later.", meaning_zh: "服务器过载，请稍后再试。" },
    Entry { code: 1014, name: "Bad Gateway", meaning: "A gateway or proxy received an invalid response from the upstream server.", meaning_zh: "网关错误：网关或代理收到上游服务器的无效响应。" },
    Entry { code: 1015, name: "TLS Handshake", meaning: "The TLS handshake failed (never sent on the wire).", meaning_zh: "TLS 握手失败（不会在网络上发送）。" },
];

impl CloseCode {
    /// 1000: the only standard code a browser may send.
    ///
    /// ```
    /// assert_eq!(heartline::CloseCode::NORMAL.0, 1000);
    /// ```
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1006: what the browser reports when the connection died without a close frame.
    ///
    /// ```
    /// assert_eq!(heartline::CloseCode::ABNORMAL.name(), "Abnormal Closure");
    /// ```
    pub const ABNORMAL: CloseCode = CloseCode(1006);

    fn entry(self) -> Option<&'static Entry> {
        TABLE.iter().find(|entry| entry.code == self.0)
    }

    /// The range of the table this code belongs to.
    ///
    /// ```
    /// use heartline::{CloseCode, CloseRange};
    /// assert_eq!(CloseCode(4001).range(), CloseRange::Application);
    /// ```
    pub fn range(self) -> CloseRange {
        match self.0 {
            0..=999 => CloseRange::Unused,
            1000..=1015 => CloseRange::Standard,
            1016..=1999 => CloseRange::ReservedStandard,
            2000..=2999 => CloseRange::Extension,
            3000..=3999 => CloseRange::Library,
            4000..=4999 => CloseRange::Application,
            _ => CloseRange::Invalid,
        }
    }

    /// A short English name, e.g. "Going Away".
    ///
    /// ```
    /// assert_eq!(heartline::CloseCode(1013).name(), "Try Again Later");
    /// ```
    pub fn name(self) -> &'static str {
        if let Some(entry) = self.entry() {
            return entry.name;
        }
        match self.range() {
            CloseRange::Unused => "Unused",
            CloseRange::Standard | CloseRange::ReservedStandard => "Reserved",
            CloseRange::Extension => "Extension",
            CloseRange::Library => "Library",
            CloseRange::Application => "Application",
            CloseRange::Invalid => "Invalid",
        }
    }

    /// One line of what the code means, in English.
    ///
    /// ```
    /// assert!(!heartline::CloseCode(1009).meaning().is_empty());
    /// ```
    pub fn meaning(self) -> &'static str {
        if let Some(entry) = self.entry() {
            return entry.meaning;
        }
        match self.range() {
            CloseRange::Unused => "Codes 0–999 are not used.",
            CloseRange::Standard | CloseRange::ReservedStandard => {
                "Reserved for future versions of the WebSocket standard."
            }
            CloseRange::Extension => "Reserved for WebSocket extensions.",
            CloseRange::Library => "Registered by a library or framework.",
            CloseRange::Application => "Defined by the application.",
            CloseRange::Invalid => "Not a valid close code (codes end at 4999).",
        }
    }

    /// One line of what the code means, in Chinese.
    ///
    /// ```
    /// assert!(!heartline::CloseCode(1009).meaning_zh().is_empty());
    /// ```
    pub fn meaning_zh(self) -> &'static str {
        if let Some(entry) = self.entry() {
            return entry.meaning_zh;
        }
        match self.range() {
            CloseRange::Unused => "0–999 未使用。",
            CloseRange::Standard | CloseRange::ReservedStandard => {
                "为 WebSocket 标准的未来版本保留。"
            }
            CloseRange::Extension => "为 WebSocket 扩展保留。",
            CloseRange::Library => "由库或框架注册。",
            CloseRange::Application => "由应用自定义。",
            CloseRange::Invalid => "无效的关闭码（最大为 4999）。",
        }
    }

    /// Whether a browser may pass this code to `WebSocket.close()`: 1000 or 3000–4999.
    ///
    /// ```
    /// use heartline::CloseCode;
    /// assert!(CloseCode(1000).can_send() && CloseCode(4000).can_send());
    /// assert!(!CloseCode(1006).can_send());
    /// ```
    pub fn can_send(self) -> bool {
        self.0 == 1000 || (3000..=4999).contains(&self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.name())
    }
}

/// The longest close reason a browser accepts, in bytes of UTF-8.
///
/// ```
/// assert_eq!(heartline::MAX_REASON_BYTES, 123);
/// ```
pub const MAX_REASON_BYTES: usize = 123;

/// Why a `close(code, reason)` was refused before it reached the browser.
///
/// ```
/// use heartline::{validate_close, CloseError};
/// assert!(matches!(validate_close(1001, "bye"), Err(CloseError::CodeNotSendable { code: 1001 })));
/// assert!(validate_close(4000, "bye").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseError {
    /// The code is not 1000 nor in 3000–4999.
    CodeNotSendable {
        /// The refused code.
        code: u16,
    },
    /// The reason is longer than [`MAX_REASON_BYTES`].
    ReasonTooLong {
        /// Its length in bytes of UTF-8.
        bytes: usize,
    },
    /// Called from code the connection itself is running (a URL provider): refused rather than
    /// lost. Close from a notice handler instead.
    Busy,
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::CodeNotSendable { code } => write!(
                f,
                "close code {code} ({}) cannot be sent by a browser; use 1000 or 3000–4999",
                CloseCode(*code).name()
            ),
            CloseError::ReasonTooLong { bytes } => write!(
                f,
                "close reason is {bytes} bytes of UTF-8; at most {MAX_REASON_BYTES} are allowed"
            ),
            CloseError::Busy => write!(
                f,
                "not closed: called from inside the connection (a URL provider); close from a notice handler instead"
            ),
        }
    }
}

impl std::error::Error for CloseError {}

/// Checks a close code and reason the way the browser would, without throwing.
///
/// ```
/// use heartline::validate_close;
/// assert!(validate_close(1000, "done").is_ok());
/// assert!(validate_close(1000, &"x".repeat(124)).is_err());
/// ```
pub fn validate_close(code: u16, reason: &str) -> Result<(), CloseError> {
    if !CloseCode(code).can_send() {
        return Err(CloseError::CodeNotSendable { code });
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(CloseError::ReasonTooLong {
            bytes: reason.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_code_has_a_name_and_both_meanings() {
        for code in 1000..=1015 {
            let code = CloseCode(code);
            assert!(code.entry().is_some(), "{code:?} missing from the table");
            assert!(!code.meaning().is_empty() && !code.meaning_zh().is_empty());
        }
        assert_eq!(CloseCode(1001).name(), "Going Away");
        assert_eq!(CloseCode(1006).name(), "Abnormal Closure");
        assert_eq!(CloseCode(1014).name(), "Bad Gateway");
    }

    #[test]
    fn ranges_cover_the_table() {
        assert_eq!(CloseCode(999).range(), CloseRange::Unused);
        assert_eq!(CloseCode(1016).range(), CloseRange::ReservedStandard);
        assert_eq!(CloseCode(1999).name(), "Reserved");
        assert_eq!(CloseCode(2500).range(), CloseRange::Extension);
        assert_eq!(CloseCode(3000).name(), "Library");
        assert_eq!(CloseCode(4999).name(), "Application");
        assert_eq!(CloseCode(5000).range(), CloseRange::Invalid);
    }

    #[test]
    fn only_1000_and_3000_to_4999_may_be_sent() {
        let sendable: Vec<u16> = (0..=6000).filter(|&c| CloseCode(c).can_send()).collect();
        assert_eq!(sendable.len(), 1 + 2000);
        assert_eq!(sendable[0], 1000);
        assert_eq!(sendable[1], 3000);
        assert_eq!(*sendable.last().unwrap(), 4999);
    }

    #[test]
    fn refusals_say_why() {
        let error = validate_close(1001, "").unwrap_err();
        assert_eq!(error, CloseError::CodeNotSendable { code: 1001 });
        let text = error.to_string();
        assert!(
            text.contains("1001") && text.contains("Going Away") && text.contains("3000–4999"),
            "{text}"
        );
        // 123 bytes pass, 124 do not; multi-byte characters count in bytes.
        assert!(validate_close(1000, &"a".repeat(123)).is_ok());
        assert_eq!(
            validate_close(1000, &"é".repeat(62)),
            Err(CloseError::ReasonTooLong { bytes: 124 })
        );
    }
}
