//! Links and connected prefixes, as the watch reports them: which
//! interface a next hop leaves by, and whether that interface can carry
//! traffic now.

use std::collections::HashMap;
use std::net::IpAddr;

use ribs::Prefix;

use super::netlink::{Forward, Hop, IFF_LOWER_UP, IFF_UP};
use super::route::{Gateway, Target};

/// The interfaces of the namespace: up or down, and their connected
/// prefixes.
#[derive(Debug, Default)]
pub struct Links {
    flags: HashMap<u32, u32>,
    connected: Vec<(Prefix, u32)>,
}

impl Links {
    /// Records a link's flags; true if its usability changed.
    pub fn set_link(&mut self, index: u32, flags: u32) -> bool {
        let before = self.usable(index);
        self.flags.insert(index, flags);
        before != self.usable(index)
    }

    /// Forgets a deleted link; true if it was usable.
    pub fn remove_link(&mut self, index: u32) -> bool {
        let before = self.usable(index);
        self.flags.remove(&index);
        self.connected.retain(|&(_, i)| i != index);
        before
    }

    /// Records a connected prefix of interface `index`.
    pub fn add_connected(&mut self, prefix: Prefix, index: u32) -> bool {
        if self.connected.contains(&(prefix, index)) {
            return false;
        }
        self.connected.push((prefix, index));
        true
    }

    /// Forgets a connected prefix.
    pub fn remove_connected(&mut self, prefix: Prefix, index: u32) -> bool {
        let n = self.connected.len();
        self.connected.retain(|&c| c != (prefix, index));
        n != self.connected.len()
    }

    /// An interface is usable when it is administratively up and has
    /// carrier (`IFF_UP` and `IFF_LOWER_UP`). Unknown interfaces count as
    /// usable: the kernel judges those.
    pub fn usable(&self, index: u32) -> bool {
        self.flags
            .get(&index)
            .is_none_or(|f| f & IFF_UP != 0 && f & IFF_LOWER_UP != 0)
    }

    /// The interface whose connected prefix holds `addr` (longest match);
    /// not for link-local addresses, which every interface has.
    fn interface_of(&self, addr: IpAddr) -> Option<u32> {
        if let IpAddr::V6(a) = addr {
            if a.is_unicast_link_local() {
                return None;
            }
        }
        let host = Prefix::new(addr, if addr.is_ipv4() { 32 } else { 128 })?;
        self.connected
            .iter()
            .filter(|(p, _)| p.contains(&host))
            .max_by_key(|(p, _)| p.len())
            .map(|&(_, i)| i)
    }

    /// The kernel form of `gateway`, usable or not: its interface filled
    /// in (0 when unknown: the kernel resolves it).
    pub fn locate(&self, gateway: &Gateway) -> Hop {
        Hop {
            addr: gateway.addr,
            ifindex: gateway
                .ifindex
                .or_else(|| self.interface_of(gateway.addr))
                .unwrap_or(0),
            onlink: gateway.onlink,
        }
    }

    /// The kernel form of `gateway`: its interface filled in, or `None`
    /// when that interface is down.
    pub fn resolve(&self, gateway: &Gateway) -> Option<Hop> {
        let hop = self.locate(gateway);
        (hop.ifindex == 0 || self.usable(hop.ifindex)).then_some(hop)
    }

    /// What to write for `target`: the usable next hops, or `None` when
    /// none is usable.
    pub fn forward(&self, target: &Target) -> Option<Forward> {
        match target {
            Target::Unreachable => Some(Forward::Unreachable),
            Target::Unicast(gws) => {
                let mut hops: Vec<Hop> = gws.iter().filter_map(|g| self.resolve(g)).collect();
                hops.sort_unstable();
                (!hops.is_empty()).then_some(Forward::Hops(hops))
            }
        }
    }
}

/// Whether the kernel's `have` is what `want` asks for. An interface
/// index of 0 in `want` (left to the kernel) matches any.
pub fn same(want: &Forward, have: &Forward) -> bool {
    match (want, have) {
        (Forward::Unreachable, Forward::Unreachable) => true,
        (Forward::Hops(w), Forward::Hops(h)) => {
            w.len() == h.len()
                && w.iter().all(|a| {
                    h.iter().any(|b| {
                        a.addr == b.addr
                            && a.onlink == b.onlink
                            && (a.ifindex == 0 || a.ifindex == b.ifindex)
                    })
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn resolves_by_longest_connected_prefix_and_drops_down_links() {
        let mut links = Links::default();
        links.set_link(2, IFF_UP | IFF_LOWER_UP);
        links.set_link(3, IFF_UP | IFF_LOWER_UP);
        links.add_connected(p("198.18.0.0/16"), 2);
        links.add_connected(p("198.18.1.0/24"), 3);
        let t = Target::via(vec![
            Gateway::new("198.18.1.2".parse().unwrap()),
            Gateway::new("198.18.0.2".parse().unwrap()),
        ])
        .unwrap();
        let hop = |a: &str, i| Hop {
            addr: a.parse().unwrap(),
            ifindex: i,
            onlink: false,
        };
        assert_eq!(
            links.forward(&t),
            Some(Forward::Hops(vec![
                hop("198.18.0.2", 2),
                hop("198.18.1.2", 3)
            ]))
        );
        assert!(links.set_link(3, IFF_UP));
        assert_eq!(
            links.forward(&t),
            Some(Forward::Hops(vec![hop("198.18.0.2", 2)]))
        );
        assert!(links.set_link(2, 0));
        assert_eq!(links.forward(&t), None);
        assert!(!links.set_link(2, 0));
    }

    #[test]
    fn interface_zero_matches_any() {
        let w = Forward::Hops(vec![Hop {
            addr: "fd00::2".parse().unwrap(),
            ifindex: 0,
            onlink: false,
        }]);
        let h = Forward::Hops(vec![Hop {
            addr: "fd00::2".parse().unwrap(),
            ifindex: 7,
            onlink: false,
        }]);
        assert!(same(&w, &h));
        assert!(!same(&h, &Forward::Unreachable));
        assert!(!same(&w, &Forward::Hops(vec![])));
    }
}
