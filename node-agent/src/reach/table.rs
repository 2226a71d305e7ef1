//! The routes the next-hop check resolves against, in memory: the kernel's
//! routes that Twill did not write, with the state of their interfaces.
//! Pure: the netlink side ([`super::watch`]) feeds it.
//!
//! A next hop is reachable when the longest-matching route that is active
//! covers it and forwards (RFC 4271 §9.1.2.1: "the NEXT_HOP ... is
//! resolvable"). A route is active when one of its interfaces is up (or it
//! names none); a longer route whose interfaces are all down is passed
//! over for a shorter one, as the kernel does once it has flushed it. An
//! `unreachable`, `blackhole` or `prohibit` route makes what it covers
//! unreachable. Twill's own routes never enter the table, so a next hop
//! reachable only through a BGP route does not resolve (no recursion).

use std::collections::HashMap;
use std::net::IpAddr;

use ribs::decision::Reachability;
use ribs::Prefix;

use crate::fib::netlink::{IFF_LOWER_UP, IFF_UP};
pub use crate::fib::netlink::{RTN_UNICAST, RTN_UNREACHABLE};

/// `RTN_BLACKHOLE`.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_PROHIBIT`.
pub const RTN_PROHIBIT: u8 = 8;

/// What a route does with what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Forwards (`RTN_UNICAST`).
    Unicast,
    /// Drops (`RTN_BLACKHOLE`, `RTN_UNREACHABLE`, `RTN_PROHIBIT`).
    Drop,
}

impl RouteKind {
    /// The kind of `rtm_type`; `None` for types the check ignores
    /// (local, broadcast, multicast, throw, ...).
    pub fn of(rtm_type: u8) -> Option<RouteKind> {
        match rtm_type {
            RTN_UNICAST => Some(RouteKind::Unicast),
            RTN_BLACKHOLE | RTN_UNREACHABLE | RTN_PROHIBIT => Some(RouteKind::Drop),
            _ => None,
        }
    }
}

/// One route of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachRoute {
    /// Destination.
    pub prefix: Prefix,
    /// Routing table.
    pub table: u32,
    /// `RTA_PRIORITY`: the lower wins among routes of one prefix; reported
    /// as the IGP cost (RFC 4271 §9.1.2.2 e).
    pub metric: u32,
    /// Forwards or drops.
    pub kind: RouteKind,
    /// The interfaces of its next hops, sorted (empty when it names none).
    pub oifs: Vec<u32>,
}

impl ReachRoute {
    /// Whether `other` is the same kernel route (what a replace or a
    /// delete of it names): IPv4 routes by table, prefix and metric (the
    /// kernel's key); IPv6 ones also by interfaces, since one prefix may
    /// have a route per interface (`fe80::/64`).
    fn same_key(&self, other: &ReachRoute) -> bool {
        self.table == other.table
            && self.metric == other.metric
            && (matches!(self.prefix, Prefix::V4(_)) || self.oifs == other.oifs)
    }
}

/// The routes by prefix, and the interfaces' state.
#[derive(Debug)]
pub struct ReachTable {
    routes: HashMap<Prefix, Vec<ReachRoute>>,
    /// How many prefixes of each length there are, per family (IPv4 at
    /// 0..=32, IPv6 at 33..=161): lookups try only lengths in use.
    lengths: [u32; 33 + 129],
    /// Interface flags by index.
    links: HashMap<u32, u32>,
}

fn length_slot(prefix: &Prefix) -> usize {
    match prefix {
        Prefix::V4(_) => usize::from(prefix.len()),
        Prefix::V6(_) => 33 + usize::from(prefix.len()),
    }
}

impl Default for ReachTable {
    fn default() -> Self {
        Self::new()
    }
}

impl ReachTable {
    /// An empty table.
    pub fn new() -> Self {
        ReachTable {
            routes: HashMap::new(),
            lengths: [0; 33 + 129],
            links: HashMap::new(),
        }
    }

    /// How many routes it holds.
    pub fn len(&self) -> usize {
        self.routes.values().map(Vec::len).sum()
    }

    /// Whether it holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Adds `route`, replacing the route with the same key; true if the
    /// table changed.
    pub fn add(&mut self, route: ReachRoute) -> bool {
        let prefix = route.prefix;
        let slot = length_slot(&prefix);
        let list = self.routes.entry(prefix).or_default();
        if list.is_empty() {
            self.lengths[slot] += 1;
        }
        if list.contains(&route) {
            return false;
        }
        list.retain(|r| !r.same_key(&route));
        list.push(route);
        list.sort_by_key(|r| r.metric);
        true
    }

    /// Removes the route with the key of `route`; true if there was one.
    pub fn remove(&mut self, route: &ReachRoute) -> bool {
        let Some(list) = self.routes.get_mut(&route.prefix) else {
            return false;
        };
        let n = list.len();
        list.retain(|r| !r.same_key(route));
        let removed = n != list.len();
        if list.is_empty() {
            self.routes.remove(&route.prefix);
            self.lengths[length_slot(&route.prefix)] -= 1;
        }
        removed
    }

    /// Records an interface's flags (`ifi_flags`); true if its usability
    /// changed. An interface set administratively down loses the routes
    /// that leave only by it, as the kernel flushes them without a
    /// notification.
    pub fn set_link(&mut self, index: u32, flags: u32) -> bool {
        let before = self.usable(index);
        let was_up = self.links.get(&index).is_none_or(|f| f & IFF_UP != 0);
        self.links.insert(index, flags);
        let flushed = was_up && flags & IFF_UP == 0 && self.flush_link(index);
        flushed || before != self.usable(index)
    }

    /// Forgets a deleted interface and the routes that leave only by it;
    /// true if anything changed.
    pub fn remove_link(&mut self, index: u32) -> bool {
        let known = self.links.remove(&index).is_some();
        self.flush_link(index) || known
    }

    /// Removes the routes whose every interface is `index`.
    fn flush_link(&mut self, index: u32) -> bool {
        let doomed: Vec<ReachRoute> = self
            .routes
            .values()
            .flatten()
            .filter(|r| !r.oifs.is_empty() && r.oifs.iter().all(|&i| i == index))
            .cloned()
            .collect();
        for r in &doomed {
            self.remove(r);
        }
        !doomed.is_empty()
    }

    /// An interface is usable when it is up and has carrier (`IFF_UP` and
    /// `IFF_LOWER_UP`). Unknown interfaces count as usable.
    pub fn usable(&self, index: u32) -> bool {
        self.links
            .get(&index)
            .is_none_or(|f| f & IFF_UP != 0 && f & IFF_LOWER_UP != 0)
    }

    fn active(&self, route: &ReachRoute) -> bool {
        route.kind == RouteKind::Drop
            || route.oifs.is_empty()
            || route.oifs.iter().any(|&i| self.usable(i))
    }

    /// The active route that decides `addr`: the longest match, the lowest
    /// metric among routes of one prefix.
    pub fn lookup(&self, addr: IpAddr) -> Option<&ReachRoute> {
        let (base, max) = match addr {
            IpAddr::V4(_) => (0, 32u8),
            IpAddr::V6(_) => (33, 128u8),
        };
        (0..=max)
            .rev()
            .filter(|&len| self.lengths[base + usize::from(len)] > 0)
            .filter_map(|len| self.routes.get(&Prefix::new(addr, len)?))
            .find_map(|list| list.iter().find(|r| self.active(r)))
    }

    /// Whether `addr` is reachable, at the deciding route's metric.
    pub fn resolve(&self, addr: IpAddr) -> Reachability {
        match self.lookup(addr) {
            Some(r) if r.kind == RouteKind::Unicast => Reachability::Reachable {
                igp_cost: Some(r.metric),
            },
            _ => Reachability::Unreachable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: u32 = IFF_UP | IFF_LOWER_UP;

    fn route(prefix: &str, metric: u32, kind: RouteKind, oifs: &[u32]) -> ReachRoute {
        let (a, l) = prefix.split_once('/').unwrap();
        ReachRoute {
            prefix: Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap(),
            table: 254,
            metric,
            kind,
            oifs: oifs.to_vec(),
        }
    }

    fn at(metric: u32) -> Reachability {
        Reachability::Reachable {
            igp_cost: Some(metric),
        }
    }

    fn resolve(t: &ReachTable, a: &str) -> Reachability {
        t.resolve(a.parse().unwrap())
    }

    /// A node's table: a connected /24 on link 2, a static /24 via it, a
    /// blackhole inside the static one, a default route via link 3.
    fn node() -> ReachTable {
        let mut t = ReachTable::new();
        t.set_link(2, UP);
        t.set_link(3, UP);
        assert!(t.add(route("198.18.0.0/24", 0, RouteKind::Unicast, &[2])));
        assert!(t.add(route("198.19.5.0/24", 20, RouteKind::Unicast, &[2])));
        assert!(t.add(route("198.19.5.128/25", 0, RouteKind::Drop, &[])));
        assert!(t.add(route("fd00::/64", 256, RouteKind::Unicast, &[2])));
        assert!(t.add(route("fe80::/64", 256, RouteKind::Unicast, &[2])));
        assert!(t.add(route("fe80::/64", 256, RouteKind::Unicast, &[3])));
        t
    }

    #[test]
    fn covered_next_hops_resolve_at_the_route_metric() {
        let t = node();
        assert_eq!(resolve(&t, "198.18.0.7"), at(0));
        assert_eq!(resolve(&t, "198.19.5.9"), at(20));
        assert_eq!(resolve(&t, "fd00::2"), at(256));
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn uncovered_next_hops_do_not_resolve() {
        let t = node();
        assert_eq!(resolve(&t, "198.18.1.1"), Reachability::Unreachable);
        assert_eq!(resolve(&t, "fd00:1::2"), Reachability::Unreachable);
        assert_eq!(resolve(&t, "2001:db8::1"), Reachability::Unreachable);
    }

    #[test]
    fn drop_routes_make_what_they_cover_unreachable() {
        let t = node();
        assert_eq!(resolve(&t, "198.19.5.200"), Reachability::Unreachable);
        assert_eq!(resolve(&t, "198.19.5.127"), at(20));
        let mut t = node();
        t.add(route("198.18.0.0/24", 100, RouteKind::Drop, &[]));
        // the connected route has the lower metric: it still decides
        assert_eq!(resolve(&t, "198.18.0.7"), at(0));
        t.add(route("0.0.0.0/0", 0, RouteKind::Drop, &[]));
        assert_eq!(resolve(&t, "203.0.113.1"), Reachability::Unreachable);
    }

    #[test]
    fn a_default_route_covers_everything_else() {
        let mut t = node();
        t.add(route("0.0.0.0/0", 100, RouteKind::Unicast, &[3]));
        assert_eq!(resolve(&t, "203.0.113.1"), at(100));
        assert_eq!(resolve(&t, "198.18.0.7"), at(0));
    }

    #[test]
    fn routes_that_are_not_in_the_table_do_not_count() {
        // Twill's own BGP routes are never added (the watch filters them
        // by protocol): a next hop behind one stays unreachable
        let t = node();
        assert_eq!(resolve(&t, "203.0.113.1"), Reachability::Unreachable);
    }

    #[test]
    fn link_local_next_hops_need_an_interface_up() {
        let mut t = node();
        assert_eq!(resolve(&t, "fe80::1"), at(256));
        assert!(t.set_link(2, IFF_UP)); // carrier lost: routes stay
        assert_eq!(resolve(&t, "fe80::1"), at(256)); // via link 3
        assert_eq!(resolve(&t, "198.18.0.7"), Reachability::Unreachable);
        assert!(t.set_link(3, IFF_UP));
        assert_eq!(resolve(&t, "fe80::1"), Reachability::Unreachable);
        assert!(t.set_link(2, UP));
        assert_eq!(resolve(&t, "fe80::1"), at(256));
        assert_eq!(resolve(&t, "198.18.0.7"), at(0));
        assert!(!t.set_link(2, UP));
    }

    #[test]
    fn an_inactive_longer_route_falls_back_to_a_shorter_one() {
        let mut t = node();
        t.add(route("198.18.0.0/16", 50, RouteKind::Unicast, &[3]));
        t.set_link(2, IFF_UP);
        assert_eq!(resolve(&t, "198.18.0.7"), at(50));
    }

    #[test]
    fn admin_down_flushes_the_routes_of_the_link() {
        let mut t = node();
        assert!(t.set_link(2, 0));
        // flushed: bringing the link back does not bring them back (the
        // kernel re-adds connected routes itself, with notifications)
        assert!(t.set_link(2, UP));
        assert_eq!(resolve(&t, "198.19.5.9"), Reachability::Unreachable);
        assert_eq!(resolve(&t, "fe80::1"), at(256)); // link 3's
        assert_eq!(t.len(), 2);
        assert!(t.remove_link(3));
        assert_eq!(t.len(), 1); // the blackhole, which names no interface
        assert_eq!(resolve(&t, "fe80::1"), Reachability::Unreachable);
    }

    #[test]
    fn replace_and_delete_follow_the_kernel_keys() {
        let mut t = ReachTable::new();
        // IPv4: table, prefix, metric; a new route with that key replaces
        t.add(route("198.19.5.0/24", 20, RouteKind::Unicast, &[2]));
        assert!(t.add(route("198.19.5.0/24", 20, RouteKind::Unicast, &[3])));
        assert!(!t.add(route("198.19.5.0/24", 20, RouteKind::Unicast, &[3])));
        assert_eq!(t.len(), 1);
        t.add(route("198.19.5.0/24", 30, RouteKind::Drop, &[]));
        assert_eq!(t.len(), 2);
        assert!(t.remove(&route("198.19.5.0/24", 20, RouteKind::Unicast, &[])));
        assert_eq!(resolve(&t, "198.19.5.1"), Reachability::Unreachable);
        assert!(t.remove(&route("198.19.5.0/24", 30, RouteKind::Drop, &[])));
        assert!(t.is_empty());
        assert!(!t.remove(&route("198.19.5.0/24", 30, RouteKind::Drop, &[])));
        // IPv6: one route per interface
        t.add(route("fe80::/64", 256, RouteKind::Unicast, &[2]));
        t.add(route("fe80::/64", 256, RouteKind::Unicast, &[3]));
        assert_eq!(t.len(), 2);
        assert!(t.remove(&route("fe80::/64", 256, RouteKind::Unicast, &[2])));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn only_forwarding_and_dropping_types_count() {
        assert_eq!(RouteKind::of(RTN_UNICAST), Some(RouteKind::Unicast));
        for t in [RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT] {
            assert_eq!(RouteKind::of(t), Some(RouteKind::Drop));
        }
        for t in [0, 2, 3, 4, 5, 9, 10, 11] {
            assert_eq!(RouteKind::of(t), None);
        }
    }
}
