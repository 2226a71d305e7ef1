//! Per-neighbour queues of commands for the session tasks.
//!
//! The session's command channel is bounded: a slow peer fills it. The RIB
//! task must then neither block (the other peers would wait) nor drop
//! UPDATEs. Commands that do not fit wait here, and one pending
//! `reserve` per blocked neighbour wakes the RIB task when its channel has
//! room again. The queue holds at most what the Adj-RIB-Out produced for
//! that neighbour.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use bgp::session::SessionCommand;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, OwnedPermit};

/// Commands an emptied queue keeps room for (a session's channel holds 64).
const KEEP: usize = 64;

type Waiting = Pin<Box<dyn Future<Output = (IpAddr, Option<OwnedPermit<SessionCommand>>)> + Send>>;

/// The queues.
#[derive(Default)]
pub struct Outbox {
    senders: HashMap<IpAddr, mpsc::Sender<SessionCommand>>,
    queues: HashMap<IpAddr, VecDeque<SessionCommand>>,
    waiting: FuturesUnordered<Waiting>,
    blocked: std::collections::HashSet<IpAddr>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("peers", &self.senders.len())
            .field("blocked", &self.blocked)
            .finish()
    }
}

impl Outbox {
    /// Add (or replace) the command channel of a neighbour.
    pub fn add(&mut self, peer: IpAddr, sender: mpsc::Sender<SessionCommand>) {
        self.senders.insert(peer, sender);
        self.blocked.remove(&peer);
        self.pump(peer);
    }

    /// Forget a neighbour and its queue.
    pub fn remove(&mut self, peer: IpAddr) {
        self.senders.remove(&peer);
        self.queues.remove(&peer);
    }

    /// The command channel of a neighbour.
    pub fn sender(&self, peer: IpAddr) -> Option<&mpsc::Sender<SessionCommand>> {
        self.senders.get(&peer)
    }

    /// Drop what is queued for a neighbour (its session went down).
    pub fn clear(&mut self, peer: IpAddr) {
        if let Some(q) = self.queues.get_mut(&peer) {
            q.clear();
            q.shrink_to(KEEP);
        }
    }

    /// Commands queued for a neighbour.
    pub fn queued(&self, peer: IpAddr) -> usize {
        self.queues.get(&peer).map_or(0, VecDeque::len)
    }

    /// Queue a command and send what fits.
    pub fn push(&mut self, peer: IpAddr, cmd: SessionCommand) {
        self.queues.entry(peer).or_default().push_back(cmd);
        self.pump(peer);
    }

    /// Send queued commands while the channel has room; when it is full,
    /// arrange to be woken.
    pub fn pump(&mut self, peer: IpAddr) {
        if self.blocked.contains(&peer) {
            return;
        }
        // No channel yet (a session being started): keep the queue.
        let Some(sender) = self.senders.get(&peer) else {
            return;
        };
        let Some(queue) = self.queues.get_mut(&peer) else {
            return;
        };
        while let Some(cmd) = queue.pop_front() {
            match sender.try_send(cmd) {
                Ok(()) => {}
                Err(TrySendError::Full(cmd)) => {
                    queue.push_front(cmd);
                    let s = sender.clone();
                    self.blocked.insert(peer);
                    self.waiting.push(Box::pin(
                        async move { (peer, s.reserve_owned().await.ok()) },
                    ));
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    queue.clear();
                    break;
                }
            }
        }
        // Emptied: a whole table once queued here is not kept as capacity.
        queue.shrink_to(KEEP);
    }

    /// Wait until a blocked neighbour's channel has room, send one command
    /// with the permit, and return the neighbour (then call
    /// [`Outbox::pump`]). Pending forever when nobody is blocked.
    pub async fn ready(&mut self) -> IpAddr {
        loop {
            match self.waiting.next().await {
                Some((peer, permit)) => {
                    self.blocked.remove(&peer);
                    if let (Some(permit), Some(q)) = (permit, self.queues.get_mut(&peer)) {
                        if let Some(cmd) = q.pop_front() {
                            permit.send(cmd);
                        }
                    }
                    return peer;
                }
                None => std::future::pending::<()>().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[tokio::test]
    async fn an_emptied_queue_does_not_keep_the_room_of_a_table() {
        let peer = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::default();
        outbox.add(peer, tx);
        for _ in 0..10_000 {
            outbox.push(peer, SessionCommand::Start);
        }
        assert_eq!(outbox.queued(peer), 9_999, "one in the channel");
        assert!(outbox.queues[&peer].capacity() >= 9_999);
        let mut got = 0;
        while got < 10_000 {
            rx.recv().await.unwrap();
            got += 1;
            if outbox.queued(peer) > 0 {
                let p = outbox.ready().await;
                outbox.pump(p);
            }
        }
        assert_eq!(outbox.queued(peer), 0);
        assert!(outbox.queues[&peer].capacity() <= KEEP);
    }
}
