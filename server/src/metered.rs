//! The TCP stream of one accepted connection, watched: once the chat endpoint has taken it
//! over as a WebSocket, every frame header is checked against its type's limit before the
//! WebSocket library sees it, the message in progress is timed (for the read deadline) and
//! its buffered bytes are taken from the process's [`MemoryBudget`]; bytes written are
//! counted (for the outbound bound), and a write the peer takes nothing of for the write
//! deadline fails, ending the connection (an HTTP response or a WebSocket nobody reads).

use crate::budget::{Held, MemoryBudget};
use crate::inbound::FrameMeter;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Bytes kept after the last request head, in case they turn out to be WebSocket frames sent
/// before the handshake's answer; a client that sends more than this there is refused.
const TAIL_CAP: usize = 16 * 1024;

/// Why the stream stopped reading, as the session closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// What the connection's session and its stream share.
#[derive(Debug, Default)]
pub struct Watch {
    /// Set by the chat endpoint: from now on the bytes read are WebSocket frames.
    frames: AtomicBool,
    limits: Mutex<Option<(usize, usize)>>,
    /// When the message (or control frame) in progress began, and its number.
    started: Mutex<Option<(Instant, u64)>>,
    begun: AtomicU64,
    notify: Notify,
    refusal: Mutex<Option<Refusal>>,
    written: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watch {
    /// From now on, read WebSocket frames, text messages up to `max_text` bytes and binary
    /// ones up to `max_binary`.
    pub fn frames(&self, max_text: usize, max_binary: usize) {
        *lock(&self.limits) = Some((max_text, max_binary));
        self.frames.store(true, Ordering::Release);
    }

    /// Why reading stopped, if the stream refused something.
    pub fn refusal(&self) -> Option<Refusal> {
        lock(&self.refusal).clone()
    }

    /// Bytes written to the TCP connection so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Resolves once a message has been in progress for `deadline` without completing.
    pub async fn stalled(&self, deadline: Duration) {
        loop {
            let current = *lock(&self.started);
            match current {
                Some((since, number)) => {
                    tokio::time::sleep_until(since + deadline).await;
                    if matches!(*lock(&self.started), Some((_, now)) if now == number) {
                        return;
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }

    fn refuse(&self, code: u16, reason: String) {
        lock(&self.refusal).get_or_insert(Refusal { code, reason });
    }
}

/// Where reading stands.
enum Mode {
    /// HTTP: remembering the bytes after the last request head.
    Http {
        tail: Vec<u8>,
        lost: bool,
        window: u32,
    },
    Frames(FrameMeter),
}

/// A stream whose reads and writes are watched (see the module doc).
pub struct Metered<S> {
    inner: S,
    watch: Arc<Watch>,
    mode: Mode,
    held: Held,
    failed: bool,
    /// A write that makes no progress for this long fails (the connection ends).
    write_deadline: Duration,
    /// Armed when a write waits on the peer; disarmed by any progress.
    write_stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Metered<S> {
    /// Watches `inner`; buffered input is taken from `budget`; a write waiting on the peer for
    /// `write_deadline` fails.
    pub fn new(
        inner: S,
        budget: &Arc<MemoryBudget>,
        write_deadline: Duration,
    ) -> (Self, Arc<Watch>) {
        let watch = Arc::new(Watch::default());
        let stream = Self {
            inner,
            watch: watch.clone(),
            mode: Mode::Http {
                tail: Vec::new(),
                lost: false,
                window: 0,
            },
            held: Held::new(budget),
            failed: false,
            write_deadline,
            write_stall: None,
        };
        (stream, watch)
    }

    /// Counts what was written, and fails a write that has waited on the peer for the deadline:
    /// the sleep is polled with the write's waker, so the task wakes at the deadline.
    fn watch_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match &written {
            Poll::Pending => {
                let deadline = self.write_deadline;
                let stall = self
                    .write_stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.write_stall = None;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the peer took nothing for {} ms", deadline.as_millis()),
                    )));
                }
            }
            Poll::Ready(result) => {
                self.write_stall = None;
                if let Ok(n) = result {
                    self.watch.written.fetch_add(*n as u64, Ordering::Relaxed);
                }
            }
        }
        written
    }

    fn refuse(&mut self, code: u16, reason: String) -> io::Error {
        self.watch.refuse(code, reason.clone());
        self.failed = true;
        self.held.set(0);
        io::Error::new(io::ErrorKind::InvalidData, reason)
    }

    /// Switches to frames when the chat endpoint asked; the bytes read past the request head
    /// already are frames too.
    fn switch(&mut self) -> Result<(), io::Error> {
        if matches!(self.mode, Mode::Frames(_)) || !self.watch.frames.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some((max_text, max_binary)) = *lock(&self.watch.limits) else {
            return Ok(());
        };
        let Mode::Http { tail, lost, .. } = std::mem::replace(
            &mut self.mode,
            Mode::Frames(FrameMeter::new(max_text, max_binary)),
        ) else {
            return Ok(());
        };
        if lost {
            return Err(self.refuse(1002, "frames sent before the handshake's answer".into()));
        }
        if !tail.is_empty() {
            self.frames_read(&tail)?;
        }
        Ok(())
    }

    /// Follows frames through `bytes`; `Ok(n)`: the first `n` may go on to the library.
    fn frames_read(&mut self, bytes: &[u8]) -> Result<usize, io::Error> {
        let Mode::Frames(meter) = &mut self.mode else {
            return Ok(bytes.len());
        };
        let step = meter.feed(bytes);
        let in_progress = meter.in_progress();
        if let Some(oversize) = step.oversize {
            let error = self.refuse(
                oversize.close_code(),
                format!("frame too large: {oversize}"),
            );
            return if step.consumed == 0 {
                Err(error)
            } else {
                Ok(step.consumed)
            };
        }
        if step.completed {
            self.held.set(0);
        }
        if !self.held.grow_input(step.payload) {
            return Err(self.refuse(
                1013,
                "server busy: its memory budget is spent; try again later".into(),
            ));
        }
        let mut started = lock(&self.watch.started);
        if !in_progress {
            *started = None;
        } else if started.is_none() || step.completed {
            let number = self.watch.begun.fetch_add(1, Ordering::Relaxed);
            *started = Some((Instant::now(), number));
            drop(started);
            self.watch.notify.notify_one();
        }
        Ok(bytes.len())
    }
}

/// Remembers the bytes after the last `\r\n\r\n` (the end of a request head).
fn http_read(tail: &mut Vec<u8>, lost: &mut bool, window: &mut u32, bytes: &[u8]) {
    for &byte in bytes {
        *window = (*window << 8) | u32::from(byte);
        if *window == 0x0d0a_0d0a {
            tail.clear();
            *lost = false;
        } else if tail.len() < TAIL_CAP {
            tail.push(byte);
        } else {
            *lost = true;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            let reason = this.watch.refusal().map(|r| r.reason).unwrap_or_default();
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, reason)));
        }
        if let Err(error) = this.switch() {
            return Poll::Ready(Err(error));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut this.mode {
            Mode::Http { tail, lost, window } => {
                http_read(tail, lost, window, &buf.filled()[before..]);
            }
            Mode::Frames(_) => match this.frames_read(&buf.filled()[before..]) {
                Ok(pass) => buf.set_filled(before + pass),
                Err(error) => {
                    buf.set_filled(before);
                    return Poll::Ready(Err(error));
                }
            },
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const DEADLINE: Duration = Duration::from_millis(300);

    /// A connection whose peer reads 64 bytes every 100 ms, through a 64-byte pipe.
    fn slow_peer() -> (
        Metered<tokio::io::DuplexStream>,
        tokio::task::JoinHandle<usize>,
    ) {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let (stream, _) = Metered::new(ours, &MemoryBudget::new(1 << 20), DEADLINE);
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut chunk = [0u8; 64];
            loop {
                // Pacing, not synchronisation: the peer is slow on purpose.
                tokio::time::sleep(Duration::from_millis(100)).await;
                match theirs.read(&mut chunk).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        });
        (stream, reader)
    }

    #[tokio::test]
    async fn a_slow_reader_is_written_to_for_as_long_as_it_takes_something() {
        let (mut stream, reader) = slow_peer();
        let started = Instant::now();
        // 1 KiB at 640 B/s: about 1.6 s, five times the deadline, never 300 ms without progress.
        stream.write_all(&[7u8; 1024]).await.expect("written whole");
        assert!(started.elapsed() > DEADLINE * 4, "{:?}", started.elapsed());
        drop(stream);
        assert_eq!(reader.await.unwrap(), 1024);
    }

    #[tokio::test]
    async fn a_peer_that_takes_nothing_fails_the_write_at_the_deadline() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let (mut stream, _) = Metered::new(ours, &MemoryBudget::new(1 << 20), DEADLINE);
        let started = Instant::now();
        let error = stream
            .write_all(&[7u8; 1024])
            .await
            .expect_err("the peer never reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(took >= DEADLINE && took < DEADLINE * 3, "{took:?}");
    }
}
