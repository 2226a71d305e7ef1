//! One TCP connection (or any byte stream): a reader task that frames
//! messages and a writer task that sends encoded ones, each behind a bounded
//! channel.
//!
//! The reader only frames ([`crate::wire::frame`]); decoding is the peer
//! task's, because the decode context changes when the session reaches
//! Established and a message framed ahead must be decoded with the context
//! in force when it is processed. Frames are `Bytes` split off the read
//! buffer: an UPDATE body is copied once, from the socket into that buffer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::fsm::ConnectionDirection;
use crate::wire::{frame, Context, DecodeError};

/// The transport seam: any byte stream a session can run over (a
/// `TcpStream`, or `tokio::io::duplex` in tests).
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// A boxed connection attempt.
pub type ConnectFuture<S> = Pin<Box<dyn Future<Output = io::Result<S>> + Send + 'static>>;

/// How a session opens its outgoing connection (RFC 4271 §8 event
/// "Initiate the TCP connection").
pub trait Connector: Send + 'static {
    /// The stream a successful attempt yields.
    type Stream: Transport;
    /// Start one attempt; the session aborts it when the FSM drops the
    /// connection or the ConnectRetry timer fires.
    fn connect(&self) -> ConnectFuture<Self::Stream>;
}

/// A connector that never connects, for passive-only peers.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnect<S>(std::marker::PhantomData<fn() -> S>);

impl<S: Transport> Connector for NoConnect<S> {
    type Stream = S;
    fn connect(&self) -> ConnectFuture<S> {
        Box::pin(std::future::pending())
    }
}

/// What the reader task reports.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Whole messages with well-formed headers: every one that one read
    /// completed (one channel message per read, not per BGP message).
    Frames(Vec<Bytes>),
    /// A bad header (RFC 4271 §6.1): the reader stopped.
    HeaderError(DecodeError),
    /// End of stream or a read error: the reader stopped.
    Closed,
}

/// How long the writer may spend on one message once the session has
/// dropped the connection (a NOTIFICATION to a peer that reads nothing).
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Queue sizes of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSizes {
    /// Batches of frames (one per read, at most about 16 KiB, or one
    /// message when larger) read but not yet processed.
    pub inbound: usize,
    /// Messages encoded but not yet written.
    pub outbound: usize,
}

impl Default for QueueSizes {
    fn default() -> Self {
        QueueSizes {
            inbound: 16,
            outbound: 64,
        }
    }
}

/// The peer task's end of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// Unique in the process: tells a replaced connection from its successor.
    pub id: u64,
    pub direction: ConnectionDirection,
    pub rx: mpsc::Receiver<Inbound>,
    pub tx: mpsc::Sender<Bytes>,
    reader: JoinHandle<()>,
    /// Whether the reader frames messages up to 65535 octets (RFC 8654):
    /// until the OPENs are exchanged, then what they negotiated.
    extended: Arc<AtomicBool>,
    /// Dropped with the connection: tells the writer to finish up.
    _closing: oneshot::Sender<()>,
}

impl Connection {
    /// Split `stream` and start its reader and writer tasks.
    pub fn spawn<S: Transport>(
        stream: S,
        direction: ConnectionDirection,
        queues: QueueSizes,
    ) -> Self {
        let (r, w) = tokio::io::split(stream);
        let (in_tx, rx) = mpsc::channel(queues.inbound.max(1));
        let (tx, out_rx) = mpsc::channel(queues.outbound.max(1));
        let extended = Arc::new(AtomicBool::new(true));
        let reader = tokio::spawn(read_loop(r, in_tx, Arc::clone(&extended)));
        let (closing, closed) = oneshot::channel();
        tokio::spawn(write_loop(w, out_rx, closed));
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Connection {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            direction,
            rx,
            tx,
            reader,
            extended,
            _closing: closing,
        }
    }

    /// The OPENs are exchanged: frame messages up to the size they
    /// negotiated (4096 octets, or 65535 with Extended Messages, RFC 8654),
    /// so a longer one is refused at its header.
    pub fn limit_to(&self, ctx: &Context) {
        self.extended.store(ctx.extended_message, Ordering::Relaxed);
    }
}

impl Drop for Connection {
    /// Stop reading; the writer sends what is queued (a NOTIFICATION last),
    /// then shuts the stream down.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Largest coalesced write.
const WRITE_BATCH: usize = 64 * 1024;

/// Read buffer size: one read hands over at most about this much.
const READ_BUFFER: usize = 16 * 1024;

/// Read buffer size of a quiet session (KEEPALIVEs, a few UPDATEs): a
/// node agent holds a session to every other node, most of them quiet.
/// Reads that fill the buffer double it, up to [`READ_BUFFER`]; reads
/// that fill less than a quarter halve it again.
const READ_BUFFER_QUIET: usize = 4096;

/// The size of the next read buffer after a read of `n` octets into
/// `room`, the buffer's free space, with `want` the current size.
fn next_read_size(want: usize, n: usize, room: usize) -> usize {
    if n >= room {
        (want * 2).min(READ_BUFFER)
    } else if n < want / 4 {
        (want / 2).max(READ_BUFFER_QUIET)
    } else {
        want
    }
}

/// Frame messages off the stream, one batch per read. Until the session
/// says what the OPENs negotiated ([`Connection::limit_to`]), framing
/// allows the largest length any session may (RFC 8654); from then on a
/// header announcing more than the negotiated size is refused as soon as
/// its 19 octets are in (RFC 4271 §6.1: 1/2 with the length), before its
/// body is read. Frames read before that are checked again by the peer
/// task's decode under the negotiated context.
async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    tx: mpsc::Sender<Inbound>,
    extended: Arc<AtomicBool>,
) {
    let mut want = READ_BUFFER_QUIET;
    let mut buf = BytesMut::with_capacity(want);
    loop {
        let ctx = Context {
            extended_message: extended.load(Ordering::Relaxed),
            ..Context::default()
        };
        let mut frames = Vec::new();
        let verdict = loop {
            match frame(&buf, &ctx) {
                Ok(Some(n)) => frames.push(buf.split_to(n).freeze()),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        if !frames.is_empty() && tx.send(Inbound::Frames(frames)).await.is_err() {
            return;
        }
        if let Some(e) = verdict {
            let _ = tx.send(Inbound::HeaderError(e)).await;
            return;
        }
        if buf.capacity() - buf.len() < want / 4 {
            buf.reserve(want);
        }
        let room = buf.capacity() - buf.len();
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(Inbound::Closed).await;
                return;
            }
            Ok(n) => want = next_read_size(want, n, room),
        }
    }
}

/// Write encoded messages in order. Once the peer task has dropped the
/// connection (`closing` fires), finish the queue within
/// [`CLOSE_WRITE_TIMEOUT`] and shut the stream down: a peer that reads
/// nothing cannot keep the socket open.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<Bytes>,
    mut closing: oneshot::Receiver<()>,
) {
    let mut deadline: Option<Instant> = None;
    let mut batch = BytesMut::new();
    while let Some(first) = rx.recv().await {
        // Coalesce what is queued into one write (one syscall for many
        // small UPDATEs), up to WRITE_BATCH bytes.
        let msg = match rx.try_recv() {
            Err(_) => first,
            Ok(next) => {
                batch.clear();
                batch.extend_from_slice(&first);
                batch.extend_from_slice(&next);
                while batch.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(m) => batch.extend_from_slice(&m),
                        Err(_) => break,
                    }
                }
                batch.split().freeze()
            }
        };
        let write = w.write_all(&msg);
        tokio::pin!(write);
        let ok = loop {
            match deadline {
                Some(d) => {
                    break matches!(tokio::time::timeout_at(d, &mut write).await, Ok(Ok(())))
                }
                None => tokio::select! {
                    r = &mut write => break r.is_ok(),
                    _ = &mut closing => deadline = Some(Instant::now() + CLOSE_WRITE_TIMEOUT),
                },
            }
        };
        if !ok {
            return;
        }
    }
    let d = deadline.unwrap_or_else(|| Instant::now() + CLOSE_WRITE_TIMEOUT);
    let _ = tokio::time::timeout_at(d, w.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_grows_with_full_reads_and_shrinks_with_small_ones() {
        // Full reads double it up to READ_BUFFER.
        assert_eq!(next_read_size(4096, 4096, 4096), 8192);
        assert_eq!(next_read_size(8192, 9000, 9000), 16384);
        assert_eq!(next_read_size(16384, 16384, 16384), READ_BUFFER);
        // A KEEPALIVE (19 octets) halves it down to READ_BUFFER_QUIET.
        assert_eq!(next_read_size(16384, 19, 16384), 8192);
        assert_eq!(next_read_size(8192, 19, 8192), 4096);
        assert_eq!(next_read_size(4096, 19, 4096), READ_BUFFER_QUIET);
        // In between it stays.
        assert_eq!(next_read_size(16384, 8000, 16384), 16384);
        assert_eq!(next_read_size(4096, 1024, 4096), 4096);
    }
}
