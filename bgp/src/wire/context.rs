//! The negotiated facts that decoding and encoding depend on.
//!
//! A [`Context`] is an immutable value built once per session direction from
//! the capabilities both sides sent in their OPENs (see
//! [`Context::negotiate`]); nothing in the codec reads globals or locks.

use super::capability::{AddPathDirection, Capability};

/// An address family: AFI (RFC 4760 §3, IANA "Address Family Numbers") and
/// SAFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Family {
    /// Address Family Identifier: 1 = IPv4, 2 = IPv6.
    pub afi: u16,
    /// Subsequent Address Family Identifier: 1 = unicast.
    pub safi: u8,
}

impl Family {
    /// AFI IPv4 (RFC 4760 §3).
    pub const AFI_IPV4: u16 = 1;
    /// AFI IPv6 (RFC 4760 §3).
    pub const AFI_IPV6: u16 = 2;
    /// SAFI unicast (RFC 4760 §6).
    pub const SAFI_UNICAST: u8 = 1;
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Family = Family {
        afi: Self::AFI_IPV4,
        safi: Self::SAFI_UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Family = Family {
        afi: Self::AFI_IPV6,
        safi: Self::SAFI_UNICAST,
    };

    /// A family from its numbers.
    pub const fn new(afi: u16, safi: u8) -> Self {
        Family { afi, safi }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Family::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Family::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            Family { afi, safi } => write!(f, "afi{afi}-safi{safi}"),
        }
    }
}

/// Per-family flags for the two families the codec decodes (RFC 7911
/// ADD-PATH is negotiated per AFI/SAFI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FamilyFlags {
    /// IPv4 unicast.
    pub ipv4_unicast: bool,
    /// IPv6 unicast.
    pub ipv6_unicast: bool,
}

impl FamilyFlags {
    /// The flag for `family` (false for families the codec does not decode).
    #[inline]
    pub fn get(&self, family: Family) -> bool {
        match family {
            Family::IPV4_UNICAST => self.ipv4_unicast,
            Family::IPV6_UNICAST => self.ipv6_unicast,
            _ => false,
        }
    }

    /// Set the flag for `family` (ignored for other families).
    pub fn set(&mut self, family: Family, on: bool) {
        match family {
            Family::IPV4_UNICAST => self.ipv4_unicast = on,
            Family::IPV6_UNICAST => self.ipv6_unicast = on,
            _ => {}
        }
    }
}

/// What one direction of a session negotiated. Used as the decode context
/// for what we receive and as the encode context for what we send: the two
/// differ only in ADD-PATH, which RFC 7911 §4 negotiates per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Context {
    /// Both sides sent the 4-octet AS capability (RFC 6793 §3): AS_PATH and
    /// AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Both sides sent the Extended Message capability (RFC 8654): messages
    /// other than OPEN and KEEPALIVE may be up to 65535 bytes.
    pub extended_message: bool,
    /// NLRI carry a 4-byte Path Identifier in these families (RFC 7911 §3).
    pub add_path: FamilyFlags,
    /// IPv4 unicast NLRI may have an IPv6 next hop in MP_REACH_NLRI
    /// (RFC 8950 §4).
    pub extended_next_hop_ipv4: bool,
}

/// The decode context: what the peer may send us.
pub type DecodeContext = Context;
/// The encode context: what we may send the peer.
pub type EncodeContext = Context;

impl Context {
    /// The largest message the header may announce: 4096 (RFC 4271 §4.1),
    /// or 65535 with Extended Messages (RFC 8654 §4).
    #[inline]
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            super::MAX_EXTENDED_MESSAGE_LEN
        } else {
            super::MAX_MESSAGE_LEN
        }
    }

    /// Build the (decode, encode) contexts from the capabilities we sent and
    /// the ones the peer sent.
    ///
    /// - 4-octet AS and Extended Message: both sides must advertise them
    ///   (RFC 6793 §3, RFC 8654 §3).
    /// - ADD-PATH (RFC 7911 §4): we receive path identifiers for a family when
    ///   we advertised Receive (or Both) and the peer advertised Send (or
    ///   Both); we send them in the mirror case.
    /// - Extended next hop (RFC 8950 §3): IPv4 unicast with an IPv6 next hop
    ///   when both advertised it for that tuple.
    pub fn negotiate(
        local: &[Capability],
        remote: &[Capability],
    ) -> (DecodeContext, EncodeContext) {
        let has = |caps: &[Capability], f: fn(&Capability) -> bool| caps.iter().any(f);
        let four_octet_as = has(local, |c| matches!(c, Capability::FourOctetAs(_)))
            && has(remote, |c| matches!(c, Capability::FourOctetAs(_)));
        let extended_message = has(local, |c| matches!(c, Capability::ExtendedMessage))
            && has(remote, |c| matches!(c, Capability::ExtendedMessage));
        let ext_nh = |caps: &[Capability]| {
            caps.iter().any(|c| match c {
                Capability::ExtendedNextHop(entries) => entries.iter().any(|e| {
                    e.nlri_family == Family::IPV4_UNICAST && e.next_hop_afi == Family::AFI_IPV6
                }),
                _ => false,
            })
        };
        let extended_next_hop_ipv4 = ext_nh(local) && ext_nh(remote);

        let add_path_of = |caps: &[Capability], family: Family| -> Option<AddPathDirection> {
            caps.iter().find_map(|c| match c {
                Capability::AddPath(entries) => entries
                    .iter()
                    .find(|e| e.family == family)
                    .map(|e| e.direction),
                _ => None,
            })
        };
        let mut rx = FamilyFlags::default();
        let mut tx = FamilyFlags::default();
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let ours = add_path_of(local, family);
            let theirs = add_path_of(remote, family);
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                rx.set(family, ours.receives() && theirs.sends());
                tx.set(family, ours.sends() && theirs.receives());
            }
        }
        let base = Context {
            four_octet_as,
            extended_message,
            add_path: FamilyFlags::default(),
            extended_next_hop_ipv4,
        };
        (
            Context {
                add_path: rx,
                ..base
            },
            Context {
                add_path: tx,
                ..base
            },
        )
    }
}
