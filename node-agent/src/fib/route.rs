//! The FIB writer's own route type: a prefix and what to do with its
//! packets (next hops, or unreachable), and the conversion from the RIB's
//! [`ribs::rib::FibChange`].
//!
//! A [`Target`] is shared: the routes of a cluster go through a handful of
//! next-hop sets, so a [`RouteChange`] and the writer's per-prefix state
//! hold an `Arc<Target>` (one word), and [`Targets`] hands out the same
//! `Arc` for equal next hops instead of a new `Vec` per route.

use std::net::IpAddr;
use std::sync::Arc;

use ribs::rib::FibChange;
use ribs::{NextHop, Prefix};

use super::intern::Interner;

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
/// Equal targets may be one shared allocation (see [`Targets`]): a change
/// is 32 bytes with no heap allocation of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    /// The destination.
    pub prefix: Prefix,
    /// The new target; `None` removes Twill's route for the prefix.
    pub target: Option<Arc<Target>>,
}

impl RouteChange {
    /// Install `prefix` via `gateways` (withdraw if the list is empty). A
    /// target of its own: for many routes, [`RouteChange::to`] with a
    /// shared one.
    pub fn via(prefix: Prefix, gateways: Vec<Gateway>) -> Self {
        RouteChange {
            prefix,
            target: Target::via(gateways).map(Arc::new),
        }
    }

    /// Install `prefix` to the (shared) `target`.
    pub fn to(prefix: Prefix, target: Arc<Target>) -> Self {
        RouteChange {
            prefix,
            target: Some(target),
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
            target: Some(Arc::new(Target::Unreachable)),
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

/// Interned targets: equal next-hop sets share one `Arc<Target>`, so the
/// changes of a whole table through one next hop cost no allocation each.
/// The RIB task keeps one and converts every [`FibChange`] through it.
#[derive(Debug, Default)]
pub struct Targets {
    shared: Interner<Target>,
    /// Room for the gateways of the change being converted.
    scratch: Vec<Gateway>,
}

impl Targets {
    /// The change for the RIB's `change`, its target shared (`None`: a
    /// withdrawal, also when no next hop is installable).
    pub fn change(&mut self, change: &FibChange) -> RouteChange {
        self.route(change.prefix, change.next_hops.as_deref())
    }

    /// The change that routes `prefix` through `next_hops` (`None` or no
    /// installable next hop: a withdrawal), its target shared; as
    /// [`ribs::rib::Rib::drain_fib_changes`] hands them.
    pub fn route(&mut self, prefix: Prefix, next_hops: Option<&[NextHop]>) -> RouteChange {
        let mut gateways = std::mem::take(&mut self.scratch);
        gateways.clear();
        gateways.extend(next_hops.into_iter().flatten().filter_map(gateway_of));
        if gateways.is_empty() {
            self.scratch = gateways;
            return RouteChange::withdraw(prefix);
        }
        gateways.sort_unstable();
        gateways.dedup();
        let (target, back) = self.shared.intern(Target::Unicast(gateways));
        if let Some(Target::Unicast(gateways)) = back {
            self.scratch = gateways;
        }
        RouteChange::to(prefix, target)
    }

    /// How many distinct targets are kept.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
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
        let want = Target::Unicast(vec![
            Gateway::new("198.18.0.2".parse().unwrap()),
            Gateway::new("198.18.0.3".parse().unwrap()),
        ]);
        assert_eq!(RouteChange::from(c.clone()).target.as_deref(), Some(&want));
        let shared = Targets::default().change(&c);
        assert_eq!(shared.prefix, c.prefix);
        assert_eq!(shared.target.as_deref(), Some(&want));
    }

    fn v4(addrs: &[[u8; 4]]) -> Option<Vec<NextHop>> {
        Some(
            addrs
                .iter()
                .map(|&a| NextHop::V4(Ipv4Addr::from(a)))
                .collect(),
        )
    }

    #[test]
    fn equal_next_hop_sets_share_one_target() {
        let mut targets = Targets::default();
        let change = |prefix: &str, next_hops| FibChange {
            prefix: p(prefix),
            next_hops,
        };
        let a = targets.change(&change("203.0.113.0/24", v4(&[[198, 18, 0, 2]])));
        let b = targets.change(&change("198.51.100.0/24", v4(&[[198, 18, 0, 3]])));
        // another order and a duplicate: the same set as `c`
        let c = targets.change(&change(
            "192.0.2.0/24",
            v4(&[[198, 18, 0, 3], [198, 18, 0, 2]]),
        ));
        let d = targets.change(&change(
            "192.0.2.128/25",
            v4(&[[198, 18, 0, 2], [198, 18, 0, 3], [198, 18, 0, 2]]),
        ));
        let e = targets.change(&change("198.18.128.0/24", v4(&[[198, 18, 0, 2]])));
        let (a, b, c, d, e) = (
            a.target.unwrap(),
            b.target.unwrap(),
            c.target.unwrap(),
            d.target.unwrap(),
            e.target.unwrap(),
        );
        assert!(
            Arc::ptr_eq(&a, &e),
            "not the last one handed out: from the set"
        );
        assert!(Arc::ptr_eq(&c, &d));
        assert!(!Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &c));
        assert_eq!(
            *a,
            Target::Unicast(vec![Gateway::new("198.18.0.2".parse().unwrap())])
        );
        assert_eq!(targets.len(), 3);
        let w = targets.change(&change("203.0.113.0/24", None));
        assert_eq!(w, RouteChange::withdraw(p("203.0.113.0/24")));
        let l = targets.change(&change("203.0.113.0/24", Some(vec![NextHop::Local])));
        assert_eq!(l.target, None);
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
