//! The handle the agent drives the writer with, and the watch thread.

use std::time::Duration;

use nix::errno::Errno;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use super::netlink::WATCH_GROUPS;
use super::nexthop::NEXTHOP_GROUP_BIT;
use super::route::RouteChange;
use super::socket::{NetlinkSocket, SocketError};
use super::types::{ExitMode, FibConfig, FibError, FibView};
use super::writer::Writer;

/// What the watch thread reports.
pub(super) enum WatchEvent {
    /// Notifications: (type, flags, payload).
    Messages(Vec<(u16, u16, Vec<u8>)>),
    /// The socket overflowed: notifications were lost.
    Overflow,
}

/// The watch thread: blocking reads of the watch socket, handed to the
/// writer; ends when the writer has gone.
pub(super) fn watch_loop(mut watch: NetlinkSocket, tx: mpsc::UnboundedSender<WatchEvent>) {
    while !tx.is_closed() {
        let mut msgs = Vec::new();
        let r = watch.recv_with(true, |m| msgs.push((m.kind, m.flags, m.payload.to_vec())));
        let event = match r {
            Ok(_) => WatchEvent::Messages(msgs),
            Err(SocketError::Sys {
                errno: Errno::ENOBUFS,
                ..
            }) => WatchEvent::Overflow,
            Err(SocketError::Sys {
                errno: Errno::EAGAIN | Errno::EINTR,
                ..
            }) => continue,
            Err(e) => {
                warn!("FIB watch: {e}");
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

pub(super) enum Command {
    Apply(Vec<RouteChange>),
    Sync(oneshot::Sender<()>),
    Converged(oneshot::Sender<u64>),
    View(oneshot::Sender<FibView>),
    Shutdown(ExitMode, oneshot::Sender<()>),
}

/// The handle the agent drives the writer with. Dropping it stops the
/// writer and leaves the routes in place.
#[derive(Debug)]
pub struct FibHandle {
    tx: mpsc::UnboundedSender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FibHandle {
    /// Opens the netlink sockets in the calling thread's network namespace,
    /// reads links, addresses and Twill's routes (marked stale), and starts
    /// the writer thread.
    pub fn spawn(config: FibConfig) -> Result<FibHandle, FibError> {
        // Watch first, so that nothing changes unseen between dump and watch.
        let watch = NetlinkSocket::open(WATCH_GROUPS | NEXTHOP_GROUP_BIT)?;
        let req = NetlinkSocket::open(0)?;
        watch.ignore_port(req.port_id())?;
        watch.set_receive_timeout(Duration::from_millis(500))?;
        let writer = Writer::start(config, req)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("twill-fib".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(writer.run(watch, rx)),
                    Err(e) => warn!("FIB writer runtime: {e}"),
                }
            })
            .map_err(FibError::Thread)?;
        Ok(FibHandle {
            tx,
            thread: Some(thread),
        })
    }

    /// Queues route changes (from the RIB's `take_fib_changes`).
    pub fn apply(&self, changes: Vec<RouteChange>) -> Result<(), FibError> {
        self.tx
            .send(Command::Apply(changes))
            .map_err(|_| FibError::Closed)
    }

    async fn ask<T>(&self, f: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, FibError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| FibError::Closed)?;
        rx.await.map_err(|_| FibError::Closed)
    }

    /// Returns once every change queued before has been written once (or
    /// has failed and waits for its retry).
    pub async fn sync(&self) -> Result<(), FibError> {
        self.ask(Command::Sync).await
    }

    /// Graceful-restart convergence (End-of-RIB from the peers, or the
    /// timeout): removes the stale routes the RIB did not confirm; returns
    /// how many.
    pub async fn converged(&self) -> Result<u64, FibError> {
        self.ask(Command::Converged).await
    }

    /// The FIB view.
    pub async fn view(&self) -> Result<FibView, FibError> {
        self.ask(Command::View).await
    }

    /// Stops the writer, leaving or removing Twill's routes.
    pub async fn shutdown(mut self, mode: ExitMode) -> Result<(), FibError> {
        self.ask(|tx| Command::Shutdown(mode, tx)).await?;
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|_| FibError::Closed)?
                .map_err(|_| FibError::Closed)?;
        }
        Ok(())
    }
}
