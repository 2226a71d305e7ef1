//! Prefixes of both families as one key type.

use std::fmt;
use std::net::IpAddr;

pub use bgp::wire::{Family, Ipv4Prefix, Ipv6Prefix};

/// An IPv4 or IPv6 unicast prefix (host bits zero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prefix {
    /// IPv4 unicast.
    V4(Ipv4Prefix),
    /// IPv6 unicast.
    V6(Ipv6Prefix),
}

impl Prefix {
    /// The prefix `addr/len`, host bits cleared; `None` if `len` is too long.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => Ipv4Prefix::new(a, len).map(Prefix::V4),
            IpAddr::V6(a) => Ipv6Prefix::new(a, len).map(Prefix::V6),
        }
    }

    /// The address family (unicast).
    pub fn family(&self) -> Family {
        match self {
            Prefix::V4(_) => Family::IPV4_UNICAST,
            Prefix::V6(_) => Family::IPV6_UNICAST,
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        match self {
            Prefix::V4(p) => IpAddr::V4(p.addr()),
            Prefix::V6(p) => IpAddr::V6(p.addr()),
        }
    }

    /// The prefix length.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container"
    )]
    pub fn len(&self) -> u8 {
        match self {
            Prefix::V4(p) => p.len(),
            Prefix::V6(p) => p.len(),
        }
    }

    /// Whether `other` lies within this prefix (same family, at least as
    /// long, same leading bits).
    pub fn contains(&self, other: &Prefix) -> bool {
        match (self, other) {
            (Prefix::V4(a), Prefix::V4(b)) => {
                b.len() >= a.len() && Ipv4Prefix::new(b.addr(), a.len()) == Some(*a)
            }
            (Prefix::V6(a), Prefix::V6(b)) => {
                b.len() >= a.len() && Ipv6Prefix::new(b.addr(), a.len()) == Some(*a)
            }
            _ => false,
        }
    }
}

impl From<Ipv4Prefix> for Prefix {
    fn from(p: Ipv4Prefix) -> Self {
        Prefix::V4(p)
    }
}

impl From<Ipv6Prefix> for Prefix {
    fn from(p: Ipv6Prefix) -> Self {
        Prefix::V6(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => fmt::Display::fmt(p, f),
            Prefix::V6(p) => fmt::Display::fmt(p, f),
        }
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a [`Prefix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix {0:?}: expected ADDRESS/LENGTH")]
pub struct PrefixParseError(String);

impl std::str::FromStr for Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PrefixParseError(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        Prefix::new(addr, l.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}
