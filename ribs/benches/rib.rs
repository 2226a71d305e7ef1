//! `cargo bench -p ribs`: a full IPv4 table through the RIB, in process.
//!
//! 1. ingest: the 901,899 IPv4 prefixes of `shared/data/prefixes-dfz.txt.gz`
//!    from one eBGP peer, 15 prefixes per UPDATE and per attribute set
//!    (about 60,000 distinct sets: AS paths of 2-6 ASes, MED on a third,
//!    0-4 communities), decision process included;
//! 2. export: the whole table queued and packed into UPDATEs for 1 new
//!    peer, and for 10;
//! 3. churn: with the table sent to an Established peer, a tenth of it
//!    (in a shuffled order, as the bench runner's churn suite) withdrawn
//!    and announced again with new attribute sets, and the peer's UPDATEs
//!    encoded after each.
//!
//! Memory is resident memory (`VmRSS`) before and after the ingest; the
//! attribute sets alone are measured by interning the same sets into a
//! table of their own, and reported apart.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgp::wire::{
    AsPath, AttributeValue, Community, Context, Ipv4Prefix, Nlri, Origin, PathAttribute, Update,
};
use criterion::{BatchSize, Criterion};
use ribs::policy::Policy;
use ribs::rib::{AllReachable, PeerConfig, Rib, RibConfig};
use ribs::{AttrTable, NextHop, PathAttrs, PeerId, PeerInfo, PeerKind};

const PER_SET: usize = 15;

fn prefixes() -> Vec<Ipv4Prefix> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/prefixes-dfz.txt.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.trim().parse::<Ipv4Prefix>().ok())
        .collect()
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The path attributes of attribute set `k`, as peer AS 65002 sends them.
fn attributes(k: u64) -> Vec<PathAttribute> {
    let h = mix(k);
    let len = 1 + (h % 5) as usize;
    let mut path = vec![65002];
    path.extend((0..len).map(|i| 1 + (mix(h ^ i as u64) % 400_000) as u32));
    let mut v = vec![
        PathAttribute::new(AttributeValue::Origin(if h & 0x100 == 0 {
            Origin::Igp
        } else {
            Origin::Incomplete
        })),
        PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(path))),
        PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 2))),
    ];
    if h.is_multiple_of(3) {
        v.push(PathAttribute::new(AttributeValue::MultiExitDisc(
            (h >> 8) as u32 % 1000,
        )));
    }
    let n = (h >> 20) % 5;
    if n > 0 {
        v.push(PathAttribute::new(AttributeValue::Communities(
            (0..n)
                .map(|i| Community::new(65002, ((h >> (24 + 8 * i)) & 0xfff) as u16))
                .collect(),
        )));
    }
    v
}

fn updates(prefixes: &[Ipv4Prefix]) -> Vec<Update> {
    prefixes
        .chunks(PER_SET)
        .enumerate()
        .map(|(k, chunk)| Update {
            path_attributes: attributes(k as u64),
            nlri: chunk.iter().map(|p| Nlri::new(*p)).collect(),
            ..Update::default()
        })
        .collect()
}

fn peer(n: u32, asn: u32) -> PeerConfig {
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(n),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, (n >> 8) as u8, n as u8)),
            asn,
            router_id: Ipv4Addr::new(198, 19, (n >> 8) as u8, n as u8),
            kind: PeerKind::Ebgp,
            rr_client: false,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    c.import = Some(Policy::accept_all("bench"));
    c.export = Some(Policy::accept_all("bench"));
    c
}

/// A RIB with the injecting peer 2 configured, room reserved for `updates`.
fn rib_for(updates: &[Update]) -> Rib {
    let mut rib = Rib::new(
        RibConfig {
            local_asn: 65000,
            router_id: Ipv4Addr::new(198, 19, 0, 1),
            cluster_id: None,
            decision: Default::default(),
        },
        Box::new(AllReachable),
    );
    rib.add_peer(peer(2, 65002)).unwrap();
    let n: usize = updates.iter().map(|u| u.nlri.len()).sum();
    rib.reserve_v4(n);
    rib
}

fn ingest(updates: &[Update]) -> Rib {
    let mut rib = rib_for(updates);
    for u in updates {
        rib.apply_update(PeerId(2), u, true).unwrap();
    }
    rib
}

/// [`ingest`] of UPDATEs given up, as the agent's sessions hand them over
/// (the attributes move into the RIB).
fn ingest_owned(updates: Vec<Update>) -> Rib {
    let mut rib = rib_for(&updates);
    for u in updates {
        rib.apply_update_owned(PeerId(2), u, true).unwrap();
    }
    rib
}

fn ctx() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// The whole table to `peers` new peers that come up together (one update
/// group: exported and packed once).
fn export(rib: &mut Rib, peers: u32) -> usize {
    let ids: Vec<u32> = (0..peers).map(|n| 100 + n).collect();
    for &id in &ids {
        rib.add_peer(peer(id, 65000 + id)).unwrap();
        rib.peer_up(PeerId(id)).unwrap();
    }
    ids.iter()
        .flat_map(|&id| rib.take_batches(PeerId(id), &ctx()).unwrap())
        .map(|b| b.encoded(&ctx()).map_or(0, <[_]>::len))
        .sum()
}

/// The whole table to one new peer, encoded into the messages a session
/// writes (what the "full table encoded for a new peer" means).
fn export_encoded(rib: &mut Rib) -> usize {
    rib.add_peer(peer(100, 65100)).unwrap();
    rib.peer_up(PeerId(100)).unwrap();
    rib.take_encoded(PeerId(100), &ctx())
        .unwrap()
        .iter()
        .map(|m| m.len())
        .sum()
}

/// Ingest with `peers` monitors Established, then their UPDATEs, encoded
/// (propagation: what the agent does before writing to the sockets).
fn propagate(updates: Vec<Update>, peers: u32) -> (usize, Rib) {
    let mut rib = rib_for(&updates);
    let ids: Vec<u32> = (0..peers).map(|n| 100 + n).collect();
    for &id in &ids {
        rib.add_peer(peer(id, 65000 + id)).unwrap();
        rib.peer_up(PeerId(id)).unwrap();
        rib.take_encoded(PeerId(id), &ctx()).unwrap();
    }
    for u in updates {
        rib.apply_update_owned(PeerId(2), u, true).unwrap();
    }
    let messages = ids
        .iter()
        .map(|&id| rib.take_encoded(PeerId(id), &ctx()).unwrap().len())
        .sum();
    (messages, rib)
}

/// Ingest with one Established peer, its UPDATEs taken (encoded) every
/// `every` received UPDATEs, as the agent does; `compact_at` as
/// [`Rib::compact_at`].
fn stream(updates: &[Update], every: usize, compact_at: usize) -> usize {
    let mut rib = rib_for(updates);
    rib.compact_at(compact_at);
    rib.add_peer(peer(100, 65100)).unwrap();
    rib.peer_up(PeerId(100)).unwrap();
    let mut messages = 0;
    for chunk in updates.chunks(every) {
        for u in chunk {
            rib.apply_update(PeerId(2), u, true).unwrap();
        }
        messages += rib.take_encoded(PeerId(100), &ctx()).unwrap().len();
    }
    messages
}

/// [`stream`]'s RIB (the table sent to Established peer 100, the index
/// folded as the agent folds it; no FIB changes kept) and the churn for it: a tenth of the
/// prefixes in a shuffled order, withdrawn in UPDATEs of 800, then
/// announced again under new attribute sets.
fn churn_setup(prefixes: &[Ipv4Prefix], updates: &[Update]) -> (Rib, Vec<Update>) {
    let mut rib = rib_for(updates);
    // As the runner's churn suite configures the agent: no kernel FIB.
    rib.keep_fib_changes(false);
    rib.add_peer(peer(100, 65100)).unwrap();
    rib.peer_up(PeerId(100)).unwrap();
    for chunk in updates.chunks(64) {
        for u in chunk {
            rib.apply_update(PeerId(2), u, true).unwrap();
        }
        rib.take_encoded(PeerId(100), &ctx()).unwrap();
    }
    let mut churned: Vec<Ipv4Prefix> = prefixes.iter().step_by(10).copied().collect();
    churned.sort_by_key(|p| mix(u64::from(u32::from(p.addr())) << 8 | u64::from(p.len())));
    let mut churn: Vec<Update> = churned
        .chunks(800)
        .map(|chunk| Update {
            withdrawn_routes: chunk.iter().map(|p| Nlri::new(*p)).collect(),
            ..Update::default()
        })
        .collect();
    churn.extend(
        churned
            .chunks(PER_SET)
            .enumerate()
            .map(|(k, chunk)| Update {
                path_attributes: attributes(1 << 32 | k as u64),
                nlri: chunk.iter().map(|p| Nlri::new(*p)).collect(),
                ..Update::default()
            }),
    );
    (rib, churn)
}

/// Applies `churn` to `rib` as the agent does (peer 100's UPDATEs encoded
/// every 64 received): the messages for peer 100.
#[inline(never)]
fn churn(mut rib: Rib, churn: Vec<Update>) -> (usize, Rib) {
    let mut messages = 0;
    let mut churn = churn.into_iter().peekable();
    while churn.peek().is_some() {
        for u in churn.by_ref().take(64) {
            rib.apply_update_owned(PeerId(2), u, true).unwrap();
        }
        messages += rib.take_encoded(PeerId(100), &ctx()).unwrap().len();
    }
    (messages, rib)
}

/// Time this thread has run on a CPU (`/proc/thread-self/schedstat`, in
/// nanoseconds): unlike wall time, not inflated by other processes
/// competing for the two cores.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn report(updates: &[Update], n: usize) {
    // Attribute sets alone.
    let before = rss();
    let mut table = AttrTable::new();
    let handles: Vec<_> = updates
        .iter()
        .map(|u| {
            table.intern(PathAttrs::from_wire(
                &u.path_attributes,
                NextHop::V4(Ipv4Addr::new(198, 18, 0, 2)),
                true,
            ))
        })
        .collect();
    let sets = table.len();
    let attr_bytes = rss().saturating_sub(before);
    drop(handles);
    drop(table);

    // The memory measured first, with UPDATEs kept (what they would free
    // is not counted as reused) and nothing freed before it; then timed as
    // the agent ingests (UPDATEs given up).
    let before = rss();
    let mut rib = ingest(updates);
    let total = rss().saturating_sub(before);
    let owned = updates.to_vec();
    let t = Instant::now();
    let c = cpu();
    let timed = black_box(ingest_owned(owned));
    let ingest_time = t.elapsed();
    let ingest_cpu = cpu() - c;
    drop(timed);
    let t = Instant::now();
    let c = cpu();
    let m1 = export(&mut rib, 1);
    let export1 = t.elapsed();
    let export1_cpu = cpu() - c;
    let mut rib2 = ingest(updates);
    let t = Instant::now();
    let c = cpu();
    let bytes = export_encoded(&mut rib2);
    let encoded1 = t.elapsed();
    let encoded1_cpu = cpu() - c;
    drop(rib2);
    eprintln!(
        "ribs bench: {n} prefixes, {} UPDATEs, {sets} attribute sets ({} in the RIB)\n\
         ingest + decision: {ingest_time:?} wall, {ingest_cpu:?} on CPU ({:.1} M prefixes/s)\n\
         RSS growth: {:.1} MB total; attribute sets {:.1} MB ({:.0} bytes each); \
         routes {:.1} bytes per prefix without the attribute sets\n\
         export to 1 new peer: {export1:?} wall, {export1_cpu:?} on CPU ({m1} UPDATEs)\n\
         export to 1 new peer, encoded: {encoded1:?} wall, {encoded1_cpu:?} on CPU ({:.1} MB of UPDATEs)",
        updates.len(),
        rib.attribute_sets(),
        n as f64 / ingest_time.as_secs_f64() / 1e6,
        total as f64 / 1e6,
        attr_bytes as f64 / 1e6,
        attr_bytes as f64 / sets as f64,
        total.saturating_sub(attr_bytes) as f64 / n as f64,
        bytes as f64 / 1e6,
    );
    black_box(rib);

    for (what, compact_at) in [("folded", 8192), ("never folded", usize::MAX)] {
        let before = rss();
        let t = Instant::now();
        let c = cpu();
        let m = stream(updates, 64, compact_at);
        eprintln!(
            "ingest with 1 Established peer, UPDATEs encoded every 64 received, index {what}: \
             {:?} wall, {:?} on CPU ({m} messages, RSS growth {:.1} MB)",
            t.elapsed(),
            cpu() - c,
            rss().saturating_sub(before) as f64 / 1e6,
        );
    }

    let owned = updates.to_vec();
    let before = rss();
    let t = Instant::now();
    let c = cpu();
    let (m10, rib10) = propagate(owned, 10);
    eprintln!(
        "ingest + UPDATEs encoded for 10 Established peers: {:?} wall, {:?} on CPU \
         ({m10} messages, RSS growth {:.1} MB)",
        t.elapsed(),
        cpu() - c,
        rss().saturating_sub(before) as f64 / 1e6,
    );
    drop(rib10);
}

fn main() {
    let prefixes = prefixes();
    let n = prefixes.len();
    let updates = updates(&prefixes);
    // `RIB_BENCH_REPORT=0`: criterion only (for a profiler's run).
    if std::env::var_os("RIB_BENCH_REPORT").is_none_or(|v| v != "0") {
        report(&updates, n);
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    c.bench_function("ingest_full_table", |b| {
        b.iter_batched(|| updates.clone(), ingest_owned, BatchSize::PerIteration)
    });
    for peers in [1u32, 10] {
        c.bench_function(&format!("export_full_table_{peers}_peers"), |b| {
            b.iter_batched(
                || ingest(&updates),
                // The RIB handed back: criterion drops it untimed.
                |mut rib| (export(&mut rib, peers), rib),
                BatchSize::PerIteration,
            )
        });
    }
    c.bench_function("export_and_encode_full_table_1_peer", |b| {
        b.iter_batched(
            || ingest(&updates),
            |mut rib| (export_encoded(&mut rib), rib),
            BatchSize::PerIteration,
        )
    });
    c.bench_function("ingest_and_encode_for_10_established_peers", |b| {
        b.iter_batched(
            || updates.clone(),
            |u| propagate(u, 10),
            BatchSize::PerIteration,
        )
    });
    c.bench_function("churn_tenth_of_full_table_1_established_peer", |b| {
        b.iter_batched(
            || churn_setup(&prefixes, &updates),
            |(rib, updates)| churn(rib, updates),
            BatchSize::PerIteration,
        )
    });
    c.final_summary();
}
