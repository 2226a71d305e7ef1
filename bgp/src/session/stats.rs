//! Messages sent and received on a session, by type, for the operator's
//! counters (`twillctl neighbor`, the metrics). Shared with the agent
//! through an `Arc`; counting is one relaxed atomic add.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::MessageType;

/// Counts by message type (RFC 4271 §4.1 types 1–4, RFC 2918 type 5).
#[derive(Debug, Default)]
pub struct MessageStats {
    received: [AtomicU64; 5],
    sent: [AtomicU64; 5],
}

/// A snapshot of [`MessageStats`] for one direction, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE (End-of-RIB markers included).
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH (BoRR and EoRR included).
    pub route_refresh: u64,
}

fn index(t: MessageType) -> usize {
    match t {
        MessageType::Open => 0,
        MessageType::Update => 1,
        MessageType::Notification => 2,
        MessageType::Keepalive => 3,
        MessageType::RouteRefresh => 4,
    }
}

fn snapshot(a: &[AtomicU64; 5]) -> MessageCounts {
    let v = |i: usize| a[i].load(Ordering::Relaxed);
    MessageCounts {
        open: v(0),
        update: v(1),
        notification: v(2),
        keepalive: v(3),
        route_refresh: v(4),
    }
}

impl MessageStats {
    /// A message of type `t` was received (counted before it is decoded, so
    /// a malformed one counts too).
    pub fn count_received(&self, t: MessageType) {
        self.received[index(t)].fetch_add(1, Ordering::Relaxed);
    }

    /// A message of type `t` was queued to the peer.
    pub fn count_sent(&self, t: MessageType) {
        self.sent[index(t)].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages received so far.
    pub fn received(&self) -> MessageCounts {
        snapshot(&self.received)
    }

    /// Messages sent so far.
    pub fn sent(&self) -> MessageCounts {
        snapshot(&self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type() {
        let s = MessageStats::default();
        s.count_received(MessageType::Keepalive);
        s.count_received(MessageType::Keepalive);
        s.count_sent(MessageType::Open);
        s.count_sent(MessageType::RouteRefresh);
        assert_eq!(
            s.received(),
            MessageCounts {
                keepalive: 2,
                ..MessageCounts::default()
            }
        );
        assert_eq!(
            s.sent(),
            MessageCounts {
                open: 1,
                route_refresh: 1,
                ..MessageCounts::default()
            }
        );
    }
}
