//! The next-hop check (RFC 4271 §9.1.2.1: a route whose NEXT_HOP does not
//! resolve is not eligible): a [`NextHopResolver`] backed by the kernel's
//! routing table of the agent's namespace. The RIB asks it; it never
//! touches the kernel itself.
//!
//! ```text
//!  kernel ── dump at start ──> ReachTable (routes not written by Twill,   <── resolve ── Rib
//!         ── watch (routes,    │  in Twill's table and main; interfaces)        (RIB task)
//!            links) ─────────> │  cache: next hop -> verdict, re-checked
//!                              │  on every change                              ^
//!                              └── a verdict changed ── Notify ──> rib.revalidate()
//! ```
//!
//! - [`table`]: the routes and the longest-match rule (pure).
//! - [`watch`]: the netlink side: the start-up dump, the watch thread.
//!
//! Only routes of another protocol than Twill's count (connected, kernel,
//! static, DHCP, other daemons'): a next hop reachable only through a BGP
//! route Twill installed does not resolve, as the other daemons do by
//! default (no recursive resolution through BGP routes).

pub mod table;
pub mod watch;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ribs::decision::Reachability;
use ribs::rib::NextHopResolver;
use ribs::NextHop;
use tokio::sync::Notify;

use crate::fib::route::gateway_of;
use table::ReachTable;

pub use watch::ReachError;

/// Which routes are Twill's, and where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReachConfig {
    /// Twill's route protocol number (`fib.protocol`): its routes are left
    /// out.
    pub protocol: u8,
    /// Twill's routing table (`fib.table`); the main table is read too.
    pub table: u32,
}

/// Verdicts remembered at most (a next hop per entry); beyond, the cache
/// starts over.
const CACHE_MAX: usize = 1 << 16;

/// The table and the verdicts given so far.
#[derive(Debug, Default)]
struct State {
    table: ReachTable,
    cache: HashMap<IpAddr, Reachability>,
}

impl State {
    fn resolve(&mut self, addr: IpAddr) -> Reachability {
        if let Some(v) = self.cache.get(&addr) {
            return *v;
        }
        let v = self.table.resolve(addr);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(addr, v);
        v
    }

    /// Checks every verdict given against the table; true if one changed.
    fn recheck(&mut self) -> bool {
        let mut changed = false;
        for (addr, v) in &mut self.cache {
            let now = self.table.resolve(*addr);
            changed |= now != *v;
            *v = now;
        }
        changed
    }
}

/// What the resolver and its watch thread share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the table; if it reports a change and a verdict given
    /// before no longer holds, wakes the RIB task.
    fn update(&self, f: impl FnOnce(&mut ReachTable) -> bool) {
        let mut st = self.lock();
        if f(&mut st.table) && st.recheck() {
            drop(st);
            self.changed.notify_one();
        }
    }
}

/// The kernel-backed next-hop check. Cheap to clone; the watch thread
/// stops once the last clone is dropped.
#[derive(Debug, Clone)]
pub struct KernelResolver {
    shared: Arc<Shared>,
}

impl KernelResolver {
    /// Reads the routes and interfaces of the calling thread's network
    /// namespace and starts the watch thread.
    pub fn spawn(config: ReachConfig) -> Result<KernelResolver, ReachError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Arc::new(Notify::new()),
        });
        watch::start(config, &shared)?;
        Ok(KernelResolver { shared })
    }

    /// A check over a fixed table, without the kernel (tests, benchmarks).
    pub fn fixed(table: ReachTable) -> KernelResolver {
        KernelResolver {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    table,
                    cache: HashMap::new(),
                }),
                changed: Arc::new(Notify::new()),
            }),
        }
    }

    /// Notified when a verdict given before has changed: the RIB must run
    /// its decision process again ([`ribs::rib::Rib::revalidate`]).
    pub fn changed(&self) -> Arc<Notify> {
        Arc::clone(&self.shared.changed)
    }

    /// Whether `addr` is reachable now.
    pub fn resolve_addr(&self, addr: IpAddr) -> Reachability {
        self.shared.lock().resolve(addr)
    }

    /// How many routes the check knows.
    pub fn routes(&self) -> usize {
        self.shared.lock().table.len()
    }
}

impl NextHopResolver for KernelResolver {
    /// The address the FIB writer would install decides: the global IPv6
    /// address when there is one, else the link-local one (RFC 2545 §3),
    /// which resolves through the `fe80::/64` routes of the interfaces
    /// that are up. An unspecified address (`0.0.0.0`, `::`) resolves
    /// nowhere, a default route notwithstanding.
    fn resolve(&self, next_hop: &NextHop) -> Reachability {
        match gateway_of(next_hop) {
            Some(g) if g.addr.is_unspecified() => Reachability::Unreachable,
            Some(g) => self.resolve_addr(g.addr),
            None => Reachability::Reachable { igp_cost: Some(0) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::{ReachRoute, RouteKind};
    use super::*;
    use ribs::Prefix;

    fn shared() -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            changed: Arc::new(Notify::new()),
        }
    }

    fn connected(prefix: &str) -> ReachRoute {
        let (a, l) = prefix.split_once('/').unwrap();
        ReachRoute {
            prefix: Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap(),
            table: 254,
            metric: 0,
            kind: RouteKind::Unicast,
            oifs: vec![2],
        }
    }

    /// Whether a wake-up is pending.
    fn woken(s: &Shared) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(1), s.changed.notified())
                .await
                .is_ok()
        })
    }

    #[test]
    fn only_a_changed_verdict_wakes_the_rib() {
        let s = shared();
        let nh: IpAddr = "198.18.0.2".parse().unwrap();
        assert_eq!(s.lock().resolve(nh), Reachability::Unreachable);
        // a route that changes no verdict given: no wake-up
        s.update(|t| t.add(connected("198.18.9.0/24")));
        assert!(!woken(&s));
        s.update(|t| t.add(connected("198.18.0.0/24")));
        assert!(woken(&s));
        assert_eq!(
            s.lock().resolve(nh),
            Reachability::Reachable { igp_cost: Some(0) }
        );
        s.update(|t| t.remove(&connected("198.18.0.0/24")));
        assert!(woken(&s));
        assert_eq!(s.lock().resolve(nh), Reachability::Unreachable);
    }

    #[test]
    fn next_hops_resolve_by_the_address_the_fib_would_install() {
        let r = KernelResolver::fixed(ReachTable::new());
        r.shared.update(|t| t.add(connected("fe80::/64")));
        let ll = "fe80::1".parse().unwrap();
        let at = |metric| Reachability::Reachable {
            igp_cost: Some(metric),
        };
        assert_eq!(r.resolve(&NextHop::Local), at(0));
        // a link-local address alone: through fe80::/64
        assert_eq!(
            r.resolve(&NextHop::V6 {
                global: std::net::Ipv6Addr::UNSPECIFIED,
                link_local: Some(ll),
            }),
            at(0)
        );
        // a global one decides: nothing covers it
        let global = NextHop::V6 {
            global: "fd00::2".parse().unwrap(),
            link_local: Some(ll),
        };
        assert_eq!(r.resolve(&global), Reachability::Unreachable);
        let v4 = NextHop::V4("198.18.0.2".parse().unwrap());
        assert_eq!(r.resolve(&v4), Reachability::Unreachable);
        // default routes cover them, but never an unspecified address
        for default in ["::/0", "0.0.0.0/0"] {
            r.shared.update(|t| {
                t.add(ReachRoute {
                    metric: 100,
                    ..connected(default)
                })
            });
        }
        assert_eq!(r.resolve(&global), at(100));
        assert_eq!(r.resolve(&v4), at(100));
        for unspecified in [
            NextHop::V4(std::net::Ipv4Addr::UNSPECIFIED),
            NextHop::V6 {
                global: std::net::Ipv6Addr::UNSPECIFIED,
                link_local: None,
            },
        ] {
            assert_eq!(r.resolve(&unspecified), Reachability::Unreachable);
        }
    }
}
