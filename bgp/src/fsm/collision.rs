//! Connection collision detection (RFC 4271 §6.8, RFC 6286 §2.3).
//!
//! When both speakers open a TCP connection to each other at the same time,
//! two connections exist for one peer. Once an OPEN has been received on one
//! of them (its BGP Identifier is then known), the session task asks
//! [`resolve_collision`] which one to keep, and feeds
//! [`Event::OpenCollisionDump`](super::Event::OpenCollisionDump) to the FSM
//! of the connection to close (it sends Cease 6/7, "Connection Collision
//! Resolution", RFC 4486 §4).

use std::net::Ipv4Addr;

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionDirection {
    /// The remote system initiated it (we accepted it).
    Inbound,
    /// The local system initiated it (we connected).
    Outbound,
}

impl ConnectionDirection {
    /// The other direction.
    pub fn opposite(self) -> Self {
        match self {
            ConnectionDirection::Inbound => ConnectionDirection::Outbound,
            ConnectionDirection::Outbound => ConnectionDirection::Inbound,
        }
    }
}

/// Which of the two colliding connections to keep; the other one is closed
/// with a Cease NOTIFICATION (RFC 4271 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Keep the existing connection (the one already in OpenSent or
    /// OpenConfirm), close the new one.
    Existing,
    /// Keep the new connection, close the existing one.
    New,
}

/// Decide which connection survives a collision.
///
/// RFC 4271 §6.8: "Comparing BGP Identifiers is done by converting them to
/// host byte order and treating them as 4-octet unsigned integers. If the
/// value of the local BGP Identifier is less than the remote one, the local
/// system closes the BGP connection that already exists (the one that is
/// already in the OpenConfirm state), and accepts the BGP connection
/// initiated by the remote system. Otherwise, the local system closes the
/// newly created BGP connection (the one associated with the newly received
/// OPEN message), and continues to use the existing one."
///
/// Put in terms of direction (the form used here, which does not depend on
/// which connection happened to come first): when the local identifier is
/// lower, the connection initiated by the remote system ([`Inbound`]) is
/// kept; otherwise the connection initiated by the local system
/// ([`Outbound`]) is kept.
///
/// RFC 6286 §2.3: "If the BGP Identifiers of the peers involved in the
/// connection collision are identical, then the connection initiated by the
/// BGP speaker with the larger AS number is preserved." When identifiers and
/// AS numbers are both equal (which `Open::validate_peer` refuses for iBGP
/// anyway) the existing connection is kept.
///
/// `existing` is the direction of the connection already in OpenSent or
/// OpenConfirm; the new connection has the opposite direction.
///
/// [`Inbound`]: ConnectionDirection::Inbound
/// [`Outbound`]: ConnectionDirection::Outbound
pub fn resolve_collision(
    local_id: Ipv4Addr,
    remote_id: Ipv4Addr,
    local_as: u32,
    remote_as: u32,
    existing: ConnectionDirection,
) -> Keep {
    // RFC 4271 §6.8: compare as 4-octet unsigned integers in host order.
    let (local, remote) = (u32::from(local_id), u32::from(remote_id));
    let winner = if local < remote {
        ConnectionDirection::Inbound
    } else if local > remote {
        ConnectionDirection::Outbound
    } else if local_as > remote_as {
        // RFC 6286 §2.3: the speaker with the larger AS keeps its own.
        ConnectionDirection::Outbound
    } else if local_as < remote_as {
        ConnectionDirection::Inbound
    } else {
        return Keep::Existing;
    };
    if winner == existing {
        Keep::Existing
    } else {
        Keep::New
    }
}
