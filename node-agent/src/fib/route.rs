//! The FIB writer's own route type: a prefix and what to do with its
//! packets (next hops, or unreachable), and the conversion from the RIB's
//! [`ribs::FibChange`].

use std::net::IpAddr;

use ribs::rib::FibChange;
use ribs::{NextHop, Prefix};

/// One next hop of a route as the FIB writer installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gateway {
    /// The next hop's address. An IPv6 address for an IPv4 prefix is an
    /// RFC 8950 next hop (written as `RTA_VIA`).
    pub addr: IpAddr,
    /// The outgoing interface, when known (required for IPv6 link-local
    /// next hops and for `onlink`). Without it the writer takes the
    /// interface whose connected prefix holds `addr`, if any, and else
    /// lets the kernel resolve it.
    pub ifindex: Option<u32>,
    /// `RTNH_F_ONLINK`: the next hop is on the link even though no
    /// connected prefix covers it (a peer on the same segment).
    pub onlink: bool,
}

impl Gateway {
    /// A next hop by address alone.
    pub fn new(addr: IpAddr) -> Self {
        Gateway {
            addr,
            ifindex: None,
            onlink: false,
        }
    }

    /// A next hop directly on interface `ifindex` (`onlink`).
    pub fn onlink(addr: IpAddr, ifindex: u32) -> Self {
        Gateway {
            addr,
            ifindex: Some(ifindex),
            onlink: true,
        }
    }
}

/// What the kernel does with a prefix's packets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Forward to one of these next hops (several: ECMP). Sorted, without
    /// duplicates, never empty (see [`Target::via`]).
    Unicast(Vec<Gateway>),
    /// Drop with ICMP unreachable (`RTN_UNREACHABLE`): the node's own pod
    /// CIDR, so that traffic to unallocated pod addresses does not follow
    /// the default route.
    Unreachable,
}

impl Target {
    /// A unicast target: the next hops sorted and deduplicated; `None` when
    /// there are none.
    pub fn via(mut gateways: Vec<Gateway>) -> Option<Self> {
        gateways.sort_unstable();
        gateways.dedup();
        (!gateways.is_empty()).then_some(Target::Unicast(gateways))
    }
}

/// A change for one prefix: its new target, or `None` to withdraw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    /// The destination.
    pub prefix: Prefix,
    /// The new target; `None` removes Twill's route for the prefix.
    pub target: Option<Target>,
}

impl RouteChange {
    /// Install `prefix` via `gateways` (withdraw if the list is empty).
    pub fn via(prefix: Prefix, gateways: Vec<Gateway>) -> Self {
        RouteChange {
            prefix,
            target: Target::via(gateways),
        }
    }

    /// Withdraw Twill's route for `prefix`.
    pub fn withdraw(prefix: Prefix) -> Self {
        RouteChange {
            prefix,
            target: None,
        }
    }

    /// An unreachable route for `prefix` (the node's pod CIDR).
    pub fn unreachable(prefix: Prefix) -> Self {
        RouteChange {
            prefix,
            target: Some(Target::Unreachable),
        }
    }
}

/// The kernel next hop for a BGP next hop; `None` for [`NextHop::Local`]
/// (locally originated routes are not installed).
///
/// For an IPv6 next hop the global address is used when there is one
/// (RFC 2545 §3); a link-local one alone needs an interface, which the
/// RIB does not know, so it is used without one only as a last resort.
pub fn gateway_of(next_hop: &NextHop) -> Option<Gateway> {
    match *next_hop {
        NextHop::Local => None,
        NextHop::V4(a) => Some(Gateway::new(IpAddr::V4(a))),
        NextHop::V6 { global, link_local } => {
            let global_usable = !global.is_unspecified() && !global.is_unicast_link_local();
            match (global_usable, link_local) {
                (true, _) | (false, None) => Some(Gateway::new(IpAddr::V6(global))),
                (false, Some(ll)) => Some(Gateway::new(IpAddr::V6(ll))),
            }
        }
    }
}

impl From<FibChange> for RouteChange {
    fn from(change: FibChange) -> Self {
        let gateways = change
            .next_hops
            .unwrap_or_default()
            .iter()
            .filter_map(gateway_of)
            .collect();
        RouteChange::via(change.prefix, gateways)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn fib_change_converts_sorted_and_deduplicated() {
        let c = FibChange {
            prefix: p("203.0.113.0/24"),
            next_hops: Some(vec![
                NextHop::V4(Ipv4Addr::new(198, 18, 0, 3)),
                NextHop::V4(Ipv4Addr::new(198, 18, 0, 2)),
                NextHop::V4(Ipv4Addr::new(198, 18, 0, 3)),
                NextHop::Local,
            ]),
        };
        let r = RouteChange::from(c);
        assert_eq!(
            r.target,
            Some(Target::Unicast(vec![
                Gateway::new("198.18.0.2".parse().unwrap()),
                Gateway::new("198.18.0.3".parse().unwrap()),
            ]))
        );
    }

    #[test]
    fn withdrawn_and_local_only_changes_withdraw() {
        let w = FibChange {
            prefix: p("2001:db8::/32"),
            next_hops: None,
        };
        assert_eq!(RouteChange::from(w).target, None);
        let l = FibChange {
            prefix: p("2001:db8::/32"),
            next_hops: Some(vec![NextHop::Local]),
        };
        assert_eq!(RouteChange::from(l).target, None);
    }

    #[test]
    fn ipv6_next_hop_prefers_global_then_link_local() {
        let g: Ipv6Addr = "fd00::1".parse().unwrap();
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        assert_eq!(
            gateway_of(&NextHop::V6 {
                global: g,
                link_local: Some(ll)
            }),
            Some(Gateway::new(IpAddr::V6(g)))
        );
        assert_eq!(
            gateway_of(&NextHop::V6 {
                global: Ipv6Addr::UNSPECIFIED,
                link_local: Some(ll)
            }),
            Some(Gateway::new(IpAddr::V6(ll)))
        );
    }
}
