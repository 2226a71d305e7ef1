//! The decision process (RFC 4271 §9.1): one test per tie-breaking step,
//! MED grouping, ECMP sets, and independence from the order of candidates.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{AsPath, AsSegment, Origin, SegmentType};
use proptest::prelude::*;
use ribs::decision::{
    compare, select, Candidate, DecisionConfig, Ineligible, Reachability, Reason, Selection,
};
use ribs::{NextHop, PathAttrs, PeerId, PeerInfo, PeerKind};

const OUR_AS: u32 = 65000;

/// A path with owned peer and attributes.
#[derive(Debug, Clone)]
struct Route {
    peer: PeerInfo,
    attrs: PathAttrs,
    path_id: u32,
    reach: Reachability,
}

impl Route {
    fn cand(&self) -> Candidate<'_> {
        Candidate {
            peer: &self.peer,
            attrs: &self.attrs,
            path_id: self.path_id,
            reach: self.reach,
        }
    }

    fn id(&self) -> (IpAddr, u32) {
        (self.peer.address, self.path_id)
    }

    fn lp(mut self, lp: u32) -> Self {
        self.attrs.local_pref = Some(lp);
        self
    }

    fn med(mut self, med: u32) -> Self {
        self.attrs.med = Some(med);
        self
    }

    fn path(mut self, asns: &[u32]) -> Self {
        self.attrs.as_path = AsPath::sequence(asns.to_vec());
        self
    }

    fn igp(mut self, cost: Option<u32>) -> Self {
        self.reach = Reachability::Reachable { igp_cost: cost };
        self
    }

    fn router_id(mut self, id: [u8; 4]) -> Self {
        self.peer.router_id = Ipv4Addr::from(id);
        self
    }

    fn originator(mut self, id: [u8; 4]) -> Self {
        self.attrs.originator_id = Some(Ipv4Addr::from(id));
        self
    }
}

fn peer(kind: PeerKind, n: u8, asn: u32) -> PeerInfo {
    PeerInfo {
        id: PeerId(u32::from(n)),
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        asn,
        router_id: Ipv4Addr::new(n, n, n, n),
        kind,
        rr_client: false,
    }
}

fn attrs(path: &[u32], next_hop: Ipv4Addr) -> PathAttrs {
    PathAttrs {
        as_path: AsPath::sequence(path.to_vec()),
        next_hop: NextHop::V4(next_hop),
        ..PathAttrs::local()
    }
}

/// iBGP peer `n` (address 10.0.0.n, router ID n.n.n.n): path 65001 65002,
/// LOCAL_PREF 100, IGP cost 10.
fn ibgp(n: u8) -> Route {
    let peer = peer(PeerKind::Ibgp, n, OUR_AS);
    Route {
        attrs: attrs(&[65001, 65002], Ipv4Addr::new(192, 0, 2, n)),
        peer,
        path_id: 0,
        reach: Reachability::Reachable { igp_cost: Some(10) },
    }
    .lp(100)
}

/// eBGP peer `n` in `asn`: path `asn` 65002, no LOCAL_PREF, IGP cost 0.
fn ebgp(n: u8, asn: u32) -> Route {
    let peer = peer(PeerKind::Ebgp, n, asn);
    Route {
        attrs: attrs(&[asn, 65002], Ipv4Addr::new(10, 0, 0, n)),
        peer,
        path_id: 0,
        reach: Reachability::Reachable { igp_cost: Some(0) },
    }
}

fn local() -> Route {
    Route {
        peer: PeerInfo::local(OUR_AS, Ipv4Addr::new(9, 9, 9, 9)),
        attrs: PathAttrs::local(),
        path_id: 0,
        reach: Reachability::Reachable { igp_cost: Some(0) },
    }
}

fn cands(routes: &[Route]) -> Vec<Candidate<'_>> {
    routes.iter().map(Route::cand).collect()
}

fn cfg() -> DecisionConfig {
    DecisionConfig::default()
}

/// `winner` beats `loser` by `reason` in both argument orders, and
/// [`select`] agrees in both input orders.
fn assert_beats(winner: &Route, loser: &Route, cfg: &DecisionConfig, reason: Reason) {
    let (w, l) = (winner.cand(), loser.cand());
    assert_eq!(compare(&w, &l, cfg), (Ordering::Greater, reason));
    assert_eq!(compare(&l, &w, cfg), (Ordering::Less, reason));
    let routes = [winner.clone(), loser.clone()];
    let s = select(&cands(&routes), cfg);
    assert_eq!(s.best, Some(0));
    assert_eq!(s.losers, vec![(1, 0, reason)]);
    let routes = [loser.clone(), winner.clone()];
    let s = select(&cands(&routes), cfg);
    assert_eq!(s.best, Some(1));
    assert_eq!(s.losers, vec![(0, 1, reason)]);
}

// In the step tests the loser is peer 1 (lower address and router ID), so
// the later tie-breakers would favour it: only the step under test can
// make peer 2 win.

#[test]
fn eligibility_first() {
    let loser = ibgp(1).lp(500).igp(None);
    let loser = Route {
        reach: Reachability::Unreachable,
        ..loser
    };
    let winner = ibgp(2).lp(100);
    let reason = Reason::NotEligible(Ineligible::NextHopUnreachable);
    assert_beats(&winner, &loser, &cfg(), reason);
    assert_eq!(reason.to_string(), "not eligible: next hop unreachable");
}

#[test]
fn unreachable_never_best() {
    let unreachable = |r: Route| Route {
        reach: Reachability::Unreachable,
        ..r
    };
    let routes = [unreachable(local()), unreachable(ibgp(1).lp(1000))];
    let s = select(&cands(&routes), &cfg());
    assert_eq!(s, Selection::default());
    assert_eq!(select(&[], &cfg()), Selection::default());
}

#[test]
fn highest_local_pref() {
    let reason = Reason::LocalPref {
        loser: 100,
        winner: 200,
    };
    assert_beats(&ibgp(2).lp(200), &ibgp(1).lp(100), &cfg(), reason);
    assert_eq!(reason.to_string(), "lower LOCAL_PREF (100 < 200)");
}

#[test]
fn missing_local_pref_is_the_default() {
    // Same AS path, no MED: only LOCAL_PREF differs before eBGP/iBGP.
    let e = ebgp(1, 65001);
    let i = ibgp(2).lp(150);
    let reason = Reason::LocalPref {
        loser: 100,
        winner: 150,
    };
    assert_beats(&i, &e, &cfg(), reason);
    let cfg = DecisionConfig {
        local_pref_default: 200,
        ..cfg()
    };
    let reason = Reason::LocalPref {
        loser: 150,
        winner: 200,
    };
    assert_beats(&e, &i, &cfg, reason);
}

#[test]
fn locally_originated_preferred() {
    // An iBGP route from inside our AS: empty path, LOCAL_PREF = default.
    let internal = ibgp(1).path(&[]).router_id([1, 1, 1, 1]);
    let reason = Reason::LocallyOriginated;
    assert_beats(&local(), &internal, &cfg(), reason);
    assert!(reason.to_string().contains("locally originated"));
}

#[test]
fn shortest_as_path() {
    let reason = Reason::AsPathLength {
        loser: 2,
        winner: 1,
    };
    assert_beats(
        &ebgp(2, 65001).path(&[65001]),
        &ebgp(1, 65001),
        &cfg(),
        reason,
    );
    assert_eq!(reason.to_string(), "longer AS_PATH (2 > 1)");

    // An AS_SET counts 1 and confederation segments 0 (RFC 4271 §9.1.2.2 a,
    // RFC 5065 §5.3): length 2 against 3.
    let mut short = ebgp(2, 65001);
    short.attrs.as_path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![65001],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![1, 2, 3, 4],
            },
        ],
    };
    let long = ebgp(1, 65001).path(&[65001, 65002, 65003]);
    let reason = Reason::AsPathLength {
        loser: 3,
        winner: 2,
    };
    assert_beats(&short, &long, &cfg(), reason);

    let mut confed = ibgp(2);
    confed.attrs.as_path.segments.insert(
        0,
        AsSegment {
            kind: SegmentType::ConfedSequence,
            asns: vec![64512, 64513, 64514],
        },
    );
    let plain = ibgp(1).path(&[65001, 65002, 65003]);
    let reason = Reason::AsPathLength {
        loser: 3,
        winner: 2,
    };
    assert_beats(&confed, &plain, &cfg(), reason);
}

#[test]
fn lowest_origin() {
    let mut igp = ibgp(2);
    igp.attrs.origin = Origin::Igp;
    let mut egp = ibgp(1);
    egp.attrs.origin = Origin::Egp;
    let reason = Reason::Origin {
        loser: Origin::Egp,
        winner: Origin::Igp,
    };
    assert_beats(&igp, &egp, &cfg(), reason);
    assert_eq!(reason.to_string(), "worse ORIGIN (EGP > IGP)");

    let mut egp = ibgp(2);
    egp.attrs.origin = Origin::Egp;
    let mut incomplete = ibgp(1);
    incomplete.attrs.origin = Origin::Incomplete;
    let reason = Reason::Origin {
        loser: Origin::Incomplete,
        winner: Origin::Egp,
    };
    assert_beats(&egp, &incomplete, &cfg(), reason);
}

#[test]
fn lowest_med_same_neighbour_as() {
    let reason = Reason::Med {
        loser: 20,
        winner: 10,
    };
    assert_beats(&ibgp(2).med(10), &ibgp(1).med(20), &cfg(), reason);
    assert_eq!(reason.to_string(), "higher MED (20 > 10)");
}

#[test]
fn med_not_compared_across_neighbour_ases() {
    let a = ebgp(1, 65001).med(100);
    let b = ebgp(2, 65003).med(10);
    // Different neighbour AS: MED skipped, router ID decides.
    let reason = Reason::RouterId {
        loser: Ipv4Addr::new(2, 2, 2, 2),
        winner: Ipv4Addr::new(1, 1, 1, 1),
    };
    assert_beats(&a, &b, &cfg(), reason);
    let always = DecisionConfig {
        always_compare_med: true,
        ..cfg()
    };
    let reason = Reason::Med {
        loser: 100,
        winner: 10,
    };
    assert_beats(&b, &a, &always, reason);
}

#[test]
fn missing_med() {
    let missing = ebgp(1, 65001);
    let fifty = ebgp(2, 65001).med(50);
    let reason = Reason::Med {
        loser: 50,
        winner: 0,
    };
    assert_beats(&missing, &fifty, &cfg(), reason);
    let worst = DecisionConfig {
        med_missing_as_worst: true,
        ..cfg()
    };
    let reason = Reason::Med {
        loser: u32::MAX,
        winner: 50,
    };
    assert_beats(&fifty, &missing, &worst, reason);
}

#[test]
fn ebgp_over_ibgp() {
    // Same path, LOCAL_PREF 100 either way (the eBGP one by default), no
    // MED, same IGP cost.
    let e = ebgp(2, 65001).igp(Some(10));
    let i = ibgp(1);
    let reason = Reason::EbgpOverIbgp;
    assert_beats(&e, &i, &cfg(), reason);
    assert_eq!(reason.to_string(), "iBGP path (an eBGP path is preferred)");
}

#[test]
fn lowest_igp_cost() {
    let reason = Reason::IgpCost {
        loser: 20,
        winner: 10,
    };
    assert_beats(
        &ibgp(2).igp(Some(10)),
        &ibgp(1).igp(Some(20)),
        &cfg(),
        reason,
    );
    assert_eq!(
        reason.to_string(),
        "higher IGP cost to the next hop (20 > 10)"
    );
}

#[test]
fn unknown_igp_cost_compares_equal() {
    let reason = Reason::RouterId {
        loser: Ipv4Addr::new(2, 2, 2, 2),
        winner: Ipv4Addr::new(1, 1, 1, 1),
    };
    assert_beats(&ibgp(1).igp(None), &ibgp(2).igp(Some(1)), &cfg(), reason);
    assert_beats(&ibgp(1).igp(Some(50)), &ibgp(2).igp(None), &cfg(), reason);
}

#[test]
fn lowest_router_id() {
    // Winner has the higher address but the lower router ID.
    let winner = ibgp(2).router_id([1, 0, 0, 1]);
    let loser = ibgp(1).router_id([1, 0, 0, 2]);
    let reason = Reason::RouterId {
        loser: Ipv4Addr::new(1, 0, 0, 2),
        winner: Ipv4Addr::new(1, 0, 0, 1),
    };
    assert_beats(&winner, &loser, &cfg(), reason);
    assert_eq!(
        reason.to_string(),
        "higher router ID or ORIGINATOR_ID (1.0.0.2 > 1.0.0.1)"
    );
}

#[test]
fn originator_id_replaces_router_id() {
    // RFC 4456 §9: peer 1 (router ID 1.1.1.1) reflects a route from
    // 5.5.5.5, which loses to peer 2's own 2.2.2.2.
    let reflected = ibgp(1).originator([5, 5, 5, 5]);
    let direct = ibgp(2);
    let reason = Reason::RouterId {
        loser: Ipv4Addr::new(5, 5, 5, 5),
        winner: Ipv4Addr::new(2, 2, 2, 2),
    };
    assert_beats(&direct, &reflected, &cfg(), reason);
    // And the other way: an ORIGINATOR_ID lower than the sender's ID wins.
    let reflected = ibgp(2).originator([1, 0, 0, 0]);
    let direct = ibgp(1);
    let reason = Reason::RouterId {
        loser: Ipv4Addr::new(1, 1, 1, 1),
        winner: Ipv4Addr::new(1, 0, 0, 0),
    };
    assert_beats(&reflected, &direct, &cfg(), reason);
}

#[test]
fn shortest_cluster_list() {
    // The same route reflected along two paths: same ORIGINATOR_ID.
    let mut short = ibgp(2).originator([7, 7, 7, 7]);
    short.attrs.cluster_list = vec![Ipv4Addr::new(3, 3, 3, 3)];
    let mut long = ibgp(1).originator([7, 7, 7, 7]);
    long.attrs.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)];
    let reason = Reason::ClusterListLength {
        loser: 2,
        winner: 1,
    };
    assert_beats(&short, &long, &cfg(), reason);
    assert_eq!(reason.to_string(), "longer CLUSTER_LIST (2 > 1)");
}

#[test]
fn lowest_peer_address() {
    // Two sessions to the same router: same router ID.
    let a = ibgp(1).router_id([7, 7, 7, 7]);
    let b = ibgp(2).router_id([7, 7, 7, 7]);
    let reason = Reason::PeerAddress {
        loser: b.peer.address,
        winner: a.peer.address,
    };
    assert_beats(&a, &b, &cfg(), reason);
    assert_eq!(
        reason.to_string(),
        "higher peer address (10.0.0.2 > 10.0.0.1)"
    );

    // IPv4 before IPv6.
    let mut v6 = ibgp(1).router_id([7, 7, 7, 7]);
    v6.peer.address = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let v4 = ibgp(200).router_id([7, 7, 7, 7]);
    let reason = Reason::PeerAddress {
        loser: v6.peer.address,
        winner: v4.peer.address,
    };
    assert_beats(&v4, &v6, &cfg(), reason);
}

#[test]
fn lowest_path_id() {
    // ADD-PATH: two paths from one peer.
    let mut one = ibgp(1);
    one.path_id = 1;
    let mut two = ibgp(1);
    two.path_id = 2;
    let reason = Reason::PathId {
        loser: 2,
        winner: 1,
    };
    assert_beats(&one, &two, &cfg(), reason);
    assert_eq!(reason.to_string(), "higher path ID (2 > 1)");
    // Equal in every step.
    assert_eq!(
        compare(&one.cand(), &one.cand(), &cfg()),
        (
            Ordering::Equal,
            Reason::PathId {
                loser: 1,
                winner: 1
            }
        )
    );
}

/// All orders of a slice.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn med_intransitivity_triple_is_order_independent() {
    // Pairwise: A beats B (IGP 1 < 2, MED not comparable), B beats C (IGP
    // 2 < 3), C beats A (same AS 65001, MED 5 < 10): a cycle (RFC 3345).
    // Deterministic MED: C wins AS 65001, then B beats C on IGP cost.
    let a = ibgp(1).path(&[65001, 65010]).med(10).igp(Some(1));
    let b = ibgp(2).path(&[65002, 65010]).med(5).igp(Some(2));
    let c = ibgp(3).path(&[65001, 65010]).med(5).igp(Some(3));
    let cfg = cfg();
    assert_eq!(compare(&a.cand(), &b.cand(), &cfg).0, Ordering::Greater);
    assert_eq!(compare(&b.cand(), &c.cand(), &cfg).0, Ordering::Greater);
    assert_eq!(compare(&c.cand(), &a.cand(), &cfg).0, Ordering::Greater);

    let routes = [a, b, c];
    for perm in permutations(3) {
        let shuffled: Vec<Route> = perm.iter().map(|&i| routes[i].clone()).collect();
        let s = select(&cands(&shuffled), &cfg);
        let at = |orig: usize| perm.iter().position(|&i| i == orig).unwrap();
        assert_eq!(s.best, Some(at(1)), "order {perm:?}");
        assert_eq!(s.multipath, vec![at(1)]);
        let mut losers = s.losers.clone();
        losers.sort_by_key(|l| l.0);
        let mut expected = vec![
            (
                at(0),
                at(2),
                Reason::Med {
                    loser: 10,
                    winner: 5,
                },
            ),
            (
                at(2),
                at(1),
                Reason::IgpCost {
                    loser: 3,
                    winner: 2,
                },
            ),
        ];
        expected.sort_by_key(|l| l.0);
        assert_eq!(losers, expected, "order {perm:?}");
    }

    // With always-compare-MED it is a plain order: A loses to both on MED,
    // and B beats C on IGP cost.
    let always = DecisionConfig {
        always_compare_med: true,
        ..cfg
    };
    for perm in permutations(3) {
        let shuffled: Vec<Route> = perm.iter().map(|&i| routes[i].clone()).collect();
        let s = select(&cands(&shuffled), &always);
        let at = |orig: usize| perm.iter().position(|&i| i == orig).unwrap();
        assert_eq!(s.best, Some(at(1)));
    }
}

fn ecmp(ebgp: u16, ibgp: u16) -> DecisionConfig {
    DecisionConfig {
        max_paths_ebgp: ebgp,
        max_paths_ibgp: ibgp,
        ..DecisionConfig::default()
    }
}

#[test]
fn ecmp_two_ebgp_paths_same_as_path() {
    let routes = [ebgp(2, 65001), ebgp(1, 65001)];
    let s = select(&cands(&routes), &ecmp(4, 1));
    assert_eq!(s.best, Some(1));
    assert_eq!(s.multipath, vec![1, 0]);
    // Without multipath, only the best.
    let s = select(&cands(&routes), &cfg());
    assert_eq!(s.multipath, vec![1]);
}

#[test]
fn ecmp_different_as_path_needs_relax() {
    // Same length, different neighbour AS.
    let routes = [ebgp(1, 65001), ebgp(2, 65003)];
    let s = select(&cands(&routes), &ecmp(4, 4));
    assert_eq!(s.multipath, vec![0]);
    let relax = DecisionConfig {
        as_path_relax: true,
        ..ecmp(4, 4)
    };
    let s = select(&cands(&routes), &relax);
    assert_eq!(s.multipath, vec![0, 1]);
    // Relax does not admit a longer path.
    let routes = [ebgp(1, 65001), ebgp(2, 65003).path(&[65003, 65004, 65002])];
    let s = select(&cands(&routes), &relax);
    assert_eq!(s.multipath, vec![0]);
}

#[test]
fn ecmp_bounded_by_max_paths() {
    // Five equal eBGP paths, given out of order.
    let routes: Vec<Route> = [4, 2, 5, 1, 3].iter().map(|&n| ebgp(n, 65001)).collect();
    let s = select(&cands(&routes), &ecmp(3, 1));
    // Best is peer 1 (index 3), then peers 2 and 3 by router ID.
    assert_eq!(s.best, Some(3));
    assert_eq!(s.multipath, vec![3, 1, 4]);
    let s = select(&cands(&routes), &ecmp(64, 1));
    assert_eq!(s.multipath, vec![3, 1, 4, 0, 2]);
    // 0 behaves as 1.
    let s = select(&cands(&routes), &ecmp(0, 0));
    assert_eq!(s.multipath, vec![3]);
}

#[test]
fn ecmp_ibgp_has_its_own_bound() {
    let routes = [ibgp(3), ibgp(1), ibgp(2)];
    let s = select(&cands(&routes), &ecmp(8, 1));
    assert_eq!(s.best, Some(1));
    assert_eq!(s.multipath, vec![1]);
    let s = select(&cands(&routes), &ecmp(1, 2));
    assert_eq!(s.multipath, vec![1, 2]);
    let s = select(&cands(&routes), &ecmp(1, 3));
    assert_eq!(s.multipath, vec![1, 2, 0]);
}

#[test]
fn ecmp_ebgp_best_takes_only_ebgp() {
    // The iBGP path is equal up to eBGP/iBGP.
    let routes = [ibgp(1).igp(Some(0)), ebgp(2, 65001), ebgp(3, 65001)];
    let s = select(&cands(&routes), &ecmp(4, 4));
    assert_eq!(s.best, Some(1));
    assert_eq!(s.multipath, vec![1, 2]);
}

#[test]
fn ecmp_needs_equal_igp_cost_med_and_reachability() {
    let unreachable = Route {
        reach: Reachability::Unreachable,
        ..ibgp(5)
    };
    let routes = [
        ibgp(1),
        ibgp(2).igp(Some(20)), // higher IGP cost
        ibgp(3).igp(None),     // unknown cost: equal
        ibgp(4).med(7),        // worse MED, same neighbour AS
        unreachable,
    ];
    let s = select(&cands(&routes), &ecmp(8, 8));
    assert_eq!(s.best, Some(0));
    assert_eq!(s.multipath, vec![0, 2]);
    assert_eq!(s.losers.len(), 4);
    assert!(s
        .losers
        .contains(&(4, 0, Reason::NotEligible(Ineligible::NextHopUnreachable))));
}

#[test]
fn ecmp_members_ordered_by_remaining_tie_breakers() {
    // Router ID (with ORIGINATOR_ID), then CLUSTER_LIST, then address.
    let mut r1 = ibgp(5).originator([1, 0, 0, 1]);
    r1.attrs.cluster_list = vec![Ipv4Addr::new(9, 9, 9, 9)];
    let r2 = ibgp(6).originator([1, 0, 0, 1]);
    let r3 = ibgp(4).router_id([1, 0, 0, 0]);
    let r4 = ibgp(7).router_id([2, 0, 0, 0]);
    let routes = [r4, r1, r2, r3];
    let s = select(&cands(&routes), &ecmp(1, 8));
    assert_eq!(s.multipath, vec![3, 2, 1, 0]);
}

#[test]
fn locally_originated_best_has_no_multipath() {
    let mut other = local();
    other.path_id = 1;
    let routes = [local(), other, ibgp(1).path(&[])];
    let s = select(&cands(&routes), &ecmp(8, 8));
    assert_eq!(s.best, Some(0));
    assert_eq!(s.multipath, vec![0]);
}

// ---- Order independence over random candidates ----

/// SplitMix64, for reproducible pseudo-random input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Route number `i` (unique peer address) from twelve random numbers; few
/// values per field, so ties and MED groups collide.
fn gen_route(i: usize, g: [u32; 12]) -> Route {
    let pick = |k: usize, n: u32| g[k] % n;
    let kind = match pick(0, 10) {
        0 => PeerKind::Local,
        1..=4 => PeerKind::Ebgp,
        _ => PeerKind::Ibgp,
    };
    let neighbour = 65001 + pick(1, 3);
    let address = if i % 4 == 3 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1))
    };
    let n = pick(2, 6) as u8 + 1;
    let peer = PeerInfo {
        id: PeerId(i as u32 + 1),
        address,
        asn: if kind == PeerKind::Ebgp {
            neighbour
        } else {
            OUR_AS
        },
        router_id: Ipv4Addr::new(n, n, n, n),
        kind,
        rr_client: false,
    };
    let mut path = Vec::new();
    if kind != PeerKind::Local && (kind == PeerKind::Ebgp || pick(3, 5) != 0) {
        path.push(neighbour);
        path.extend((0..pick(4, 3)).map(|k| 64900 + k));
    }
    let mut attrs = attrs(&path, Ipv4Addr::new(192, 0, 2, 1));
    attrs.local_pref = [None, Some(100), Some(200)][pick(5, 3) as usize];
    if kind == PeerKind::Ebgp {
        attrs.local_pref = None;
    }
    attrs.med = [None, Some(0), Some(5), Some(10)][pick(6, 4) as usize];
    attrs.origin = [Origin::Igp, Origin::Igp, Origin::Egp, Origin::Incomplete][pick(7, 4) as usize];
    if kind == PeerKind::Ibgp && pick(8, 3) == 0 {
        let o = pick(9, 4) as u8 + 1;
        attrs.originator_id = Some(Ipv4Addr::new(o, o, o, o));
        attrs.cluster_list = vec![Ipv4Addr::new(1, 2, 3, 4); pick(10, 3) as usize];
    }
    if kind == PeerKind::Local {
        attrs = PathAttrs::local();
    }
    let reach = match pick(11, 8) {
        0 => Reachability::Unreachable,
        1 => Reachability::Reachable { igp_cost: None },
        c => Reachability::Reachable {
            igp_cost: Some((c % 3) * 10),
        },
    };
    Route {
        peer,
        attrs,
        path_id: pick(2, 3),
        reach,
    }
}

type Id = (IpAddr, u32);

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    best: Option<Id>,
    multipath: Vec<Id>,
    losers: Vec<(Id, Id, Reason)>,
}

/// Select over `routes` in the order `perm`, by identity; checks the
/// invariants of a selection on the way.
fn outcome(routes: &[Route], perm: &[usize], cfg: &DecisionConfig) -> Outcome {
    let shuffled: Vec<&Route> = perm.iter().map(|&i| &routes[i]).collect();
    let cs: Vec<Candidate<'_>> = shuffled.iter().map(|r| r.cand()).collect();
    let s = select(&cs, cfg);
    let id = |i: usize| shuffled[i].id();
    let any_eligible = cs
        .iter()
        .any(|c| matches!(c.reach, Reachability::Reachable { .. }));
    assert_eq!(s.best.is_some(), any_eligible);
    if let Some(best) = s.best {
        assert!(matches!(cs[best].reach, Reachability::Reachable { .. }));
        assert_eq!(s.multipath.first(), Some(&best));
        let max = match cs[best].peer.kind {
            PeerKind::Ebgp => cfg.max_paths_ebgp.max(1),
            PeerKind::Ibgp => cfg.max_paths_ibgp.max(1),
            PeerKind::Local => 1,
        };
        assert!(s.multipath.len() <= usize::from(max));
        for &m in &s.multipath {
            assert!(matches!(cs[m].reach, Reachability::Reachable { .. }));
            assert_eq!(cs[m].peer.kind, cs[best].peer.kind);
        }
        assert_eq!(s.losers.len(), cs.len() - 1);
        // Each loser is beaten by whom it is said to lose to, for the
        // reason given.
        for &(l, w, r) in &s.losers {
            assert_eq!(compare(&cs[w], &cs[l], cfg), (Ordering::Greater, r));
        }
    } else {
        assert!(s.multipath.is_empty() && s.losers.is_empty());
    }
    let mut losers: Vec<_> = s
        .losers
        .iter()
        .map(|&(l, w, r)| (id(l), id(w), r))
        .collect();
    losers.sort_by_key(|&(l, w, _)| (l, w));
    Outcome {
        best: s.best.map(id),
        multipath: s.multipath.iter().map(|&i| id(i)).collect(),
        losers,
    }
}

fn assert_order_independent(routes: &[Route], cfg: &DecisionConfig, seed: u64, shuffles: usize) {
    let mut perm: Vec<usize> = (0..routes.len()).collect();
    let first = outcome(routes, &perm, cfg);
    let mut rng = Rng(seed);
    for _ in 0..shuffles {
        rng.shuffle(&mut perm);
        assert_eq!(outcome(routes, &perm, cfg), first, "order {perm:?}");
    }
}

#[test]
fn thousand_paths_shuffled() {
    let mut rng = Rng(0x7769_6c6c);
    let routes: Vec<Route> = (0..1000)
        .map(|i| gen_route(i, std::array::from_fn(|_| rng.next() as u32)))
        .collect();
    let configs = [
        DecisionConfig::default(),
        DecisionConfig {
            always_compare_med: true,
            med_missing_as_worst: true,
            ..ecmp(8, 8)
        },
        DecisionConfig {
            as_path_relax: true,
            ..ecmp(64, 4)
        },
    ];
    for cfg in &configs {
        assert_order_independent(&routes, cfg, 42, 20);
    }
}

fn config_strategy() -> impl Strategy<Value = DecisionConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        0u16..5,
        0u16..5,
        any::<bool>(),
    )
        .prop_map(|(always, worst, e, i, relax)| DecisionConfig {
            always_compare_med: always,
            med_missing_as_worst: worst,
            max_paths_ebgp: e,
            max_paths_ibgp: i,
            as_path_relax: relax,
            local_pref_default: 100,
        })
}

proptest! {
    #[test]
    fn select_is_order_independent(
        raw in proptest::collection::vec(proptest::array::uniform12(any::<u32>()), 1..40),
        cfg in config_strategy(),
        seed in any::<u64>(),
    ) {
        let routes: Vec<Route> = raw.iter().enumerate().map(|(i, g)| gen_route(i, *g)).collect();
        assert_order_independent(&routes, &cfg, seed, 10);
    }

    #[test]
    fn compare_is_antisymmetric(
        g in proptest::array::uniform12(any::<u32>()),
        h in proptest::array::uniform12(any::<u32>()),
        cfg in config_strategy(),
    ) {
        let (a, b) = (gen_route(0, g), gen_route(1, h));
        let (ab, r) = compare(&a.cand(), &b.cand(), &cfg);
        let (ba, s) = compare(&b.cand(), &a.cand(), &cfg);
        prop_assert_eq!(ab, ba.reverse());
        prop_assert_ne!(ab, Ordering::Equal);
        prop_assert_eq!(r, s);
    }
}
