//! The next-hop check's cost, in process (no kernel):
//!
//! ```text
//! cargo bench -p node-agent --bench reach -- [PREFIXES] [--repeat R]
//! ```
//!
//! 1. `resolve` answered from the cache (what the decision process pays
//!    per path), and uncached lookups in a node table of 10,000 routes
//!    (one /32 per pod, as CNIs write them, a connected /24, a default);
//! 2. a table of PREFIXES (default 900,000) IPv4 /24s from one eBGP peer,
//!    15 per UPDATE, ingested by a RIB with every next hop reachable
//!    (`AllReachable`) and with the kernel check over the node table;
//! 3. `Rib::revalidate` over that RIB: what the RIB task pays when a
//!    verdict changes.
//!
//! Times are CPU time of the thread (`/proc/thread-self/schedstat`), best
//! of R rounds (default 3).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::wire::{AsPath, AttributeValue, Ipv4Prefix, Nlri, Origin, PathAttribute, Update};
use node_agent::reach::table::{ReachRoute, ReachTable, RouteKind};
use node_agent::reach::KernelResolver;
use ribs::policy::Policy;
use ribs::rib::{AllReachable, NextHopResolver, PeerConfig, Rib, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind, Prefix};

/// CPU time of this thread so far.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The least CPU time of `repeat` runs of `f`, and its last result.
fn best<T>(repeat: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut least = Duration::MAX;
    let mut out = None;
    for _ in 0..repeat {
        let start = cpu();
        let r = f();
        least = least.min(cpu() - start);
        out = Some(r);
    }
    (least, out.expect("at least one round"))
}

fn route(addr: Ipv4Addr, len: u8, metric: u32, oif: u32) -> ReachRoute {
    ReachRoute {
        prefix: Prefix::new(IpAddr::V4(addr), len).expect("prefix"),
        table: 254,
        metric,
        kind: RouteKind::Unicast,
        oifs: vec![oif],
    }
}

/// A node's table: 10,000 pod /32s on their own interfaces, the node's
/// connected /24 (198.18.0.0/24 on interface 2) and a default route.
fn node_table() -> ReachTable {
    let mut t = ReachTable::new();
    t.add(route(Ipv4Addr::new(198, 18, 0, 0), 24, 0, 2));
    t.add(route(Ipv4Addr::UNSPECIFIED, 0, 100, 2));
    for k in 0..10_000u32 {
        let pod = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + k);
        t.add(route(pod, 32, 0, 10 + k));
    }
    t
}

fn peer() -> PeerConfig {
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(2),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            asn: 65002,
            router_id: Ipv4Addr::new(198, 18, 0, 2),
            kind: PeerKind::Ebgp,
            rr_client: false,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    c.import = Some(Policy::accept_all("bench"));
    c.export = Some(Policy::accept_all("bench"));
    c
}

/// `n` /24s from 1.0.0.0 on, 15 per UPDATE, each UPDATE its own AS path;
/// next hop the peer (on the connected /24).
fn updates(n: u32) -> Vec<Update> {
    let prefixes: Vec<Ipv4Prefix> = (0..n)
        .filter_map(|k| Ipv4Prefix::new(Ipv4Addr::from((1u32 << 24) + (k << 8)), 24))
        .collect();
    prefixes
        .chunks(15)
        .zip(1u32..)
        .map(|(chunk, k)| Update {
            path_attributes: vec![
                PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
                PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![
                    65002,
                    k % 400_000 + 1,
                ]))),
                PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 2))),
            ],
            nlri: chunk.iter().map(|p| Nlri::new(*p)).collect(),
            ..Update::default()
        })
        .collect()
}

fn ingest(updates: &[Update], resolver: Box<dyn NextHopResolver>) -> Rib {
    let mut rib = Rib::new(
        RibConfig {
            local_asn: 65001,
            router_id: Ipv4Addr::new(198, 18, 0, 1),
            cluster_id: None,
            decision: Default::default(),
        },
        resolver,
    );
    rib.add_peer(peer()).expect("peer");
    for u in updates {
        rib.apply_update(PeerId(2), u, true).expect("update");
    }
    rib
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 900_000u32;
    let mut repeat = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeat" => repeat = it.next().and_then(|r| r.parse().ok()).unwrap_or(3),
            "--bench" => {}
            other => n = other.parse().unwrap_or(n),
        }
    }

    let check = KernelResolver::fixed(node_table());
    let nh = NextHop::V4(Ipv4Addr::new(198, 18, 0, 2));
    const CALLS: u32 = 10_000_000;
    let (t, _) = best(repeat, || {
        for _ in 0..CALLS {
            black_box(check.resolve(black_box(&nh)));
        }
    });
    println!(
        "resolve, cached: {:.1} ns per call",
        t.as_nanos() as f64 / f64::from(CALLS)
    );
    let table = node_table();
    const LOOKUPS: u32 = 1_000_000;
    let (t, _) = best(repeat, || {
        for k in 0..LOOKUPS {
            let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + k % 20_000);
            black_box(table.resolve(IpAddr::V4(a)));
        }
    });
    println!(
        "lookup, uncached, {} routes: {:.1} ns per lookup",
        table.len(),
        t.as_nanos() as f64 / f64::from(LOOKUPS)
    );

    let updates = updates(n);
    let (plain, rib) = best(repeat, || ingest(&updates, Box::new(AllReachable)));
    drop(rib);
    let (checked, mut rib) = best(repeat, || {
        ingest(&updates, Box::new(KernelResolver::fixed(node_table())))
    });
    println!(
        "ingest of {n} prefixes: {plain:?} with every next hop reachable, {checked:?} with \
         the kernel check ({:+.1}%)",
        (checked.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
    );
    let (t, _) = best(repeat, || rib.revalidate());
    println!("revalidate over {n} prefixes: {t:?}");
    black_box(rib.take_fib_changes().len());
}
