//! The bounded queue of frames sent while the socket is not open.

use crate::{OutboxLimits, Status};
use std::collections::VecDeque;
use std::fmt;

/// Something that can be sent: the machine needs its size and a way to make the heartbeat text.
///
/// ```
/// use heartline::Payload;
/// assert_eq!(String::from_text("ping".into()).byte_len(), 4);
/// ```
pub trait Payload {
    /// The heartbeat message as a payload.
    ///
    /// ```
    /// use heartline::{Outgoing, Payload};
    /// assert!(matches!(Outgoing::from_text("ping".into()), Outgoing::Text(text) if text == "ping"));
    /// ```
    fn from_text(text: String) -> Self;
    /// Size in bytes, counted against the outbox limit (and, handed to a socket, against what
    /// its `bufferedAmount` may hold).
    ///
    /// ```
    /// use heartline::Payload;
    /// assert_eq!(String::from("héllo").byte_len(), 6, "UTF-8 bytes, as the browser counts");
    /// ```
    fn byte_len(&self) -> usize;
    /// The payload as it is kept in the outbox: a copy of anything the caller could still change
    /// (the browser copies an `ArrayBuffer` when `send` is called; a queued frame must too).
    /// By default the payload itself.
    ///
    /// ```
    /// use heartline::Payload;
    /// assert_eq!(String::from("x").detached(), "x");
    /// ```
    fn detached(self) -> Self
    where
        Self: Sized,
    {
        self
    }
}

impl Payload for String {
    fn from_text(text: String) -> Self {
        text
    }
    fn byte_len(&self) -> usize {
        self.len()
    }
}

/// Why a frame could not be queued. Nothing is dropped silently: `send` returns this instead.
///
/// ```
/// use heartline::SendError;
/// let error = SendError::OutboxFull { max_frames: 2 };
/// assert!(error.to_string().contains("2 frames"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The queue already holds its maximum number of frames.
    OutboxFull {
        /// The frame limit.
        max_frames: usize,
    },
    /// The frame would take the queue over its byte limit.
    OutboxBytes {
        /// The byte limit.
        max_bytes: usize,
        /// Bytes queued already.
        queued_bytes: usize,
        /// Size of the refused frame.
        frame_bytes: usize,
    },
    /// The browser refused the frame (its message).
    Browser(String),
    /// The value could not be encoded as JSON.
    Encode(String),
    /// The hook's component is gone: nothing will send it.
    Unmounted,
    /// Nothing would ever send it: the connection is stopped, closing by the user's request,
    /// closed, failed or unreachable. Call `open()` first.
    NotOpen {
        /// The status that refused it.
        status: Status,
    },
    /// Called from code the connection itself is running (a URL provider): refused rather than
    /// lost. Send from a notice handler instead, where it works.
    Busy,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::OutboxFull { max_frames } => write!(
                f,
                "not sent: the socket is not open and the outbox already holds its limit of {max_frames} frames"
            ),
            SendError::OutboxBytes { max_bytes, queued_bytes, frame_bytes } => write!(
                f,
                "not sent: the socket is not open and {frame_bytes} more bytes would take the outbox \
                 ({queued_bytes} bytes queued) over its limit of {max_bytes} bytes"
            ),
            SendError::Browser(message) => write!(f, "the browser refused the frame: {message}"),
            SendError::Encode(message) => write!(f, "not sent: cannot encode as JSON: {message}"),
            SendError::Unmounted => write!(f, "not sent: the component that held the connection is gone"),
            SendError::NotOpen { status } => write!(
                f,
                "not sent: the connection is {} and nothing will reopen it; call open() first",
                // The labels are ASCII: this keeps the Unicode case tables out of the bundle.
                status.label().to_ascii_lowercase()
            ),
            SendError::Busy => write!(
                f,
                "not sent: called from inside the connection (a URL provider); send from a notice handler instead"
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// A value as the text of a frame: what every `send_json` sends.
pub(crate) fn encode_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, SendError> {
    serde_json::to_string(value).map_err(|error| SendError::Encode(error.to_string()))
}

/// Who queued a frame: the application, with `send`, or someone the connection carries frames
/// for (`send_behind`: the other tabs of a shared connection), or it came back from a socket
/// that never sent it, which may hold either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queuer {
    Own,
    Others,
}

#[derive(Debug)]
pub(crate) struct Outbox<P> {
    frames: VecDeque<(P, Queuer)>,
    bytes: usize,
    limits: OutboxLimits,
}

impl<P: Payload> Outbox<P> {
    pub(crate) fn new(limits: OutboxLimits) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            limits,
        }
    }

    pub(crate) fn push(&mut self, payload: P, queuer: Queuer) -> Result<(), SendError> {
        if self.frames.len() >= self.limits.max_frames {
            return Err(SendError::OutboxFull {
                max_frames: self.limits.max_frames,
            });
        }
        let frame_bytes = payload.byte_len();
        if self.bytes + frame_bytes > self.limits.max_bytes {
            return Err(SendError::OutboxBytes {
                max_bytes: self.limits.max_bytes,
                queued_bytes: self.bytes,
                frame_bytes,
            });
        }
        self.bytes += frame_bytes;
        self.frames.push_back((payload, queuer));
        Ok(())
    }

    /// Puts frames back at the head, in their order, past the limits: they were accepted already.
    /// Whose they were is not known any more, so they count as others'.
    pub(crate) fn push_front(&mut self, frames: impl DoubleEndedIterator<Item = P>) {
        for payload in frames.rev() {
            self.bytes += payload.byte_len();
            self.frames.push_front((payload, Queuer::Others));
        }
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = P> + '_ {
        self.bytes = 0;
        self.frames.drain(..).map(|(payload, _)| payload)
    }

    /// Drops the frames the application queued itself; returns how many.
    pub(crate) fn discard_own(&mut self) -> usize {
        let before = self.frames.len();
        self.frames.retain(|(_, queuer)| *queuer == Queuer::Others);
        self.bytes = self
            .frames
            .iter()
            .map(|(payload, _)| payload.byte_len())
            .sum();
        before - self.frames.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }
}
