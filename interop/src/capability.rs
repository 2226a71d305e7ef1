//! BGP capabilities (RFC 5492) as the daemons report them, reduced to one
//! vocabulary so that a scenario can compare what was negotiated.

use std::collections::BTreeSet;

use crate::router::Family;

/// A capability, by the RFC that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions for one family (RFC 4760, code 1).
    MultiProtocol(FamilyKey),
    /// Route Refresh (RFC 2918, code 2).
    RouteRefresh,
    /// Extended Next Hop Encoding (RFC 8950, code 5).
    ExtendedNextHop,
    /// Extended Message (RFC 8654, code 6).
    ExtendedMessage,
    /// Graceful Restart (RFC 4724, code 64).
    GracefulRestart,
    /// Support for 4-octet AS numbers (RFC 6793, code 65).
    FourOctetAs,
    /// ADD-PATH (RFC 7911, code 69).
    AddPath,
    /// Enhanced Route Refresh (RFC 7313, code 70).
    EnhancedRouteRefresh,
    /// Long-Lived Graceful Restart (RFC 9494, code 71).
    LongLivedGracefulRestart,
    /// FQDN / hostname (draft-walton-bgp-hostname, code 73).
    Hostname,
}

/// [`Family`], ordered (for sets of capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FamilyKey {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl From<Family> for FamilyKey {
    fn from(f: Family) -> FamilyKey {
        match f {
            Family::Ipv4 => FamilyKey::Ipv4,
            Family::Ipv6 => FamilyKey::Ipv6,
        }
    }
}

/// What a daemon advertised to a neighbour and received from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Sent in our OPEN.
    pub advertised: BTreeSet<Capability>,
    /// Received in the neighbour's OPEN.
    pub received: BTreeSet<Capability>,
}

impl Capabilities {
    /// Those both sides announced.
    pub fn negotiated(&self) -> BTreeSet<Capability> {
        self.advertised
            .intersection(&self.received)
            .copied()
            .collect()
    }
}

/// BIRD's names in `show protocols all` (`Local capabilities` /
/// `Neighbor capabilities` sections).
pub fn from_bird_name(name: &str) -> Option<Capability> {
    Some(match name {
        "Route refresh" => Capability::RouteRefresh,
        "Extended next hop" => Capability::ExtendedNextHop,
        "Extended message" => Capability::ExtendedMessage,
        "Graceful restart" => Capability::GracefulRestart,
        "4-octet AS numbers" => Capability::FourOctetAs,
        "ADD-PATH" => Capability::AddPath,
        "Enhanced refresh" => Capability::EnhancedRouteRefresh,
        "Long-lived graceful restart" => Capability::LongLivedGracefulRestart,
        n if n.starts_with("Hostname") => Capability::Hostname,
        _ => return None,
    })
}

/// FRR's keys in `neighborCapabilities`.
pub fn from_frr_key(key: &str) -> Option<Capability> {
    Some(match key {
        "routeRefresh" => Capability::RouteRefresh,
        "extendedNexthop" => Capability::ExtendedNextHop,
        "extendedMessage" => Capability::ExtendedMessage,
        "gracefulRestart" => Capability::GracefulRestart,
        "4byteAs" => Capability::FourOctetAs,
        "addPath" => Capability::AddPath,
        "enhancedRouteRefresh" => Capability::EnhancedRouteRefresh,
        "longLivedGracefulRestart" => Capability::LongLivedGracefulRestart,
        "hostName" => Capability::Hostname,
        _ => return None,
    })
}

/// GoBGP's API type names (`type.googleapis.com/apipb.<Name>`); the
/// multiprotocol one needs its value, see [`gobgp_family`].
pub fn from_gobgp_type(name: &str) -> Option<Capability> {
    Some(match name {
        "RouteRefreshCapability" => Capability::RouteRefresh,
        "ExtendedNexthopCapability" => Capability::ExtendedNextHop,
        "ExtendedMessageCapability" => Capability::ExtendedMessage,
        "GracefulRestartCapability" => Capability::GracefulRestart,
        "FourOctetASNCapability" => Capability::FourOctetAs,
        "AddPathCapability" => Capability::AddPath,
        "EnhancedRouteRefreshCapability" => Capability::EnhancedRouteRefresh,
        "LongLivedGracefulRestartCapability" => Capability::LongLivedGracefulRestart,
        "FqdnCapability" => Capability::Hostname,
        _ => return None,
    })
}

/// The family of GoBGP's `MultiProtocolCapability` value: a protobuf
/// `{ family: { afi: 1 (field 1), safi: 1 (field 2) } }`, bytes
/// `0a 04 08 <afi> 10 <safi>`. Unicast only.
pub fn gobgp_family(value: &[u8]) -> Option<FamilyKey> {
    match value {
        [0x0a, 0x04, 0x08, 1, 0x10, 1] => Some(FamilyKey::Ipv4),
        [0x0a, 0x04, 0x08, 2, 0x10, 1] => Some(FamilyKey::Ipv6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiated_is_what_both_announced() {
        let c = Capabilities {
            advertised: [Capability::RouteRefresh, Capability::FourOctetAs].into(),
            received: [Capability::FourOctetAs, Capability::AddPath].into(),
        };
        assert_eq!(c.negotiated(), [Capability::FourOctetAs].into());
    }

    #[test]
    fn reads_gobgp_families() {
        assert_eq!(
            gobgp_family(&[0x0a, 4, 8, 1, 0x10, 1]),
            Some(FamilyKey::Ipv4)
        );
        assert_eq!(
            gobgp_family(&[0x0a, 4, 8, 2, 0x10, 1]),
            Some(FamilyKey::Ipv6)
        );
        assert_eq!(gobgp_family(&[0x0a, 4, 8, 2, 0x10, 2]), None);
    }
}
