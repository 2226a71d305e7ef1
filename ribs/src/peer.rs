//! Where a route comes from: a peer, or this router itself.

use std::net::{IpAddr, Ipv4Addr};

/// A compact peer handle. [`PeerId::LOCAL`] is this router (originated
/// routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl PeerId {
    /// Routes originated by this router.
    pub const LOCAL: PeerId = PeerId(0);
}

/// eBGP, iBGP, or this router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// External peer (different AS).
    Ebgp,
    /// Internal peer (same AS).
    Ibgp,
    /// This router: locally originated routes.
    Local,
}

/// What the RIB needs to know about a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Handle.
    pub id: PeerId,
    /// The peer's address (the last tie-breaker, RFC 4271 §9.1.2.2.g).
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP Identifier (RFC 4271 §9.1.2.2.f).
    pub router_id: Ipv4Addr,
    /// eBGP or iBGP.
    pub kind: PeerKind,
    /// A route reflector client of ours (RFC 4456 §6).
    pub rr_client: bool,
}

impl PeerInfo {
    /// The pseudo-peer of locally originated routes.
    pub fn local(asn: u32, router_id: Ipv4Addr) -> Self {
        PeerInfo {
            id: PeerId::LOCAL,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            asn,
            router_id,
            kind: PeerKind::Local,
            rr_client: false,
        }
    }
}
