//! What a session hands upward (to whoever owns the RIB) and the commands
//! it takes from there.
//!
//! Both travel on bounded channels: a RIB task that falls behind stops the
//! session reading its socket, and the peer's TCP window closes.

use std::net::IpAddr;

use crate::fsm::{DownReason, Negotiated};
use crate::wire::{Family, RouteRefresh, Update};

/// One [`SessionEvent`] of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEvent {
    /// The peer's configured address.
    pub peer: IpAddr,
    /// What happened.
    pub event: SessionEvent,
}

/// What happened on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session reached Established (RFC 4271 §8.2.2) with these
    /// parameters; decode and encode contexts are in `negotiated`.
    Established(Box<Negotiated>),
    /// The Established session ended.
    Down {
        /// Why (the NOTIFICATION sent or received, a TCP failure, ...).
        reason: DownReason,
        /// What the RIB must do with the routes learnt from the peer.
        retention: RouteRetention,
    },
    /// An UPDATE received in Established, with its RFC 7606 findings in
    /// `Update::errors` (use `Update::withdrawn` / `Update::announced`).
    /// End-of-RIB markers come as [`SessionEvent::EndOfRib`] instead.
    Update(Box<Update>),
    /// The peer's End-of-RIB marker for a family (RFC 4724 §2).
    EndOfRib(Family),
    /// A ROUTE-REFRESH received for a family (RFC 2918 §4): a request
    /// (answer by sending the Adj-RIB-Out again, between BoRR and EoRR
    /// under Enhanced Route Refresh), or the peer's own BoRR / EoRR (RFC
    /// 7313 §4). Reserved subtypes are ignored by the session (RFC 7313 §5).
    RouteRefresh(RouteRefresh),
    /// Graceful restart helper (RFC 4724 §4.2): the routes of this family
    /// still marked stale must now be removed (End-of-RIB received, the
    /// restart or stale-path time ran out, or the peer came back without
    /// preserving this family's forwarding state).
    SweepStale(Family),
}

/// What to do with a peer's routes when its session goes down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRetention {
    /// Withdraw them now (RFC 4271 §8.2.2 "deletes all routes").
    Flush,
    /// Graceful restart helper (RFC 4724 §4.2): keep the routes of these
    /// families marked stale; the ones still stale are swept with
    /// [`SessionEvent::SweepStale`] after the peer's End-of-RIB, or when the
    /// restart time (seconds) runs out without a new session. Routes of
    /// other families are withdrawn now.
    KeepStale {
        /// The families the peer's Graceful Restart capability listed.
        families: Vec<Family>,
        /// The peer's Restart Time, in seconds.
        restart_time: u16,
    },
}

/// What the RIB owner asks of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Send this UPDATE (dropped unless Established).
    SendUpdate(Box<Update>),
    /// Send this UPDATE, already encoded as a whole message (header
    /// included) for the session's encode context: peers of one update
    /// group share the bytes (dropped unless Established).
    SendEncodedUpdate(bytes::Bytes),
    /// Send the End-of-RIB marker for a family (RFC 4724 §2), after the
    /// initial table.
    SendEndOfRib(Family),
    /// Send a ROUTE-REFRESH: a request to the peer, or BoRR / EoRR around a
    /// re-advertisement (RFC 7313 §4).
    SendRouteRefresh(RouteRefresh),
    /// Administrative Shutdown (RFC 4486 §4, Cease 6/2) with an RFC 9003
    /// shutdown communication (may be empty); the peer stays down until
    /// [`SessionCommand::Start`].
    Shutdown {
        /// Shutdown communication, at most 255 octets of UTF-8.
        communication: String,
    },
    /// Administrative Reset (Cease 6/4) with an RFC 9003 communication;
    /// the session then restarts at once.
    Reset {
        /// Shutdown communication, at most 255 octets of UTF-8.
        communication: String,
    },
    /// Maximum Number of Prefixes Reached (Cease 6/1, data: AFI, SAFI and
    /// the limit, RFC 4486 §4); the peer stays down until
    /// [`SessionCommand::Start`].
    MaxPrefix {
        /// The family over its limit.
        family: Family,
        /// The configured limit.
        limit: u32,
    },
    /// Start a peer stopped by a command (RFC 4271 event 1, ManualStart).
    Start,
    /// Planned stop of the agent with graceful restart on (RFC 4724 §4.1):
    /// close the TCP connection without a NOTIFICATION, so that the peer
    /// keeps our routes, and end the session task. Without graceful restart
    /// configured this is [`SessionCommand::Shutdown`] with an empty
    /// communication.
    StopGraceful,
}
