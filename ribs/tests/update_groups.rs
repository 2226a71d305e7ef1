//! Update groups: Established peers with the same export share one
//! Adj-RIB-Out and one encoding of each UPDATE, while each member is still
//! never sent its own routes (RFC 4271 §9.2).

use std::net::{IpAddr, Ipv4Addr};

use bgp::wire::{AsPath, AttributeValue, Context, Ipv4Prefix, Nlri, Origin, PathAttribute, Update};
use ribs::policy::{Disposition, Policy, Term};
use ribs::rib::{AllReachable, PeerConfig, Rib, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind};

const LOCAL_AS: u32 = 65000;

fn rib() -> Rib {
    Rib::new(
        RibConfig {
            local_asn: LOCAL_AS,
            router_id: Ipv4Addr::new(198, 18, 255, 1),
            cluster_id: None,
            decision: Default::default(),
        },
        Box::new(AllReachable),
    )
}

fn policy(name: &str, disposition: Disposition) -> Option<Policy> {
    Some(Policy {
        name: name.into(),
        terms: vec![Term {
            name: "all".into(),
            matches: vec![],
            actions: vec![],
            disposition,
        }],
        default_action: Disposition::Reject,
    })
}

/// eBGP peer `n` (AS 65100 + n) at 198.18.0.n, accept-all both ways, our
/// next hop 198.18.0.1.
fn peer(n: u8) -> PeerConfig {
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(u32::from(n)),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            asn: 65100 + u32::from(n),
            router_id: Ipv4Addr::new(198, 18, 255, n),
            kind: PeerKind::Ebgp,
            rr_client: false,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    c.import = policy("in", Disposition::Accept);
    c.export = policy("out", Disposition::Accept);
    c
}

fn up(rib: &mut Rib, peers: &[u8]) {
    for &n in peers {
        rib.add_peer(peer(n)).unwrap();
        rib.peer_up(PeerId(u32::from(n))).unwrap();
    }
}

fn ctx() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

fn pfx(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// An UPDATE from a peer of `path`, next hop 198.18.0.`nh`.
fn announce(prefixes: &[&str], path: &[u32], nh: u8) -> Update {
    Update {
        path_attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(path.to_vec()))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, nh))),
        ],
        nlri: prefixes.iter().map(|s| Nlri::new(pfx(s))).collect(),
        ..Update::default()
    }
}

fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn_routes: prefixes.iter().map(|s| Nlri::new(pfx(s))).collect(),
        ..Update::default()
    }
}

fn from(rib: &mut Rib, n: u8, u: &Update) {
    rib.apply_update(PeerId(u32::from(n)), u, true).unwrap();
}

/// The AS numbers of an UPDATE's AS_PATH, in order.
fn as_path(u: &Update) -> Vec<u32> {
    u.path_attributes
        .iter()
        .find_map(|a| match &a.value {
            AttributeValue::AsPath(p) => {
                Some(p.segments.iter().flat_map(|s| s.asns.clone()).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// What peer `n` is sent: ("+prefix AS-path" | "-prefix"), in order.
fn sent(rib: &mut Rib, n: u8) -> Vec<String> {
    let mut out = Vec::new();
    for u in rib.take_updates(PeerId(u32::from(n)), &ctx()).unwrap() {
        for w in &u.withdrawn_routes {
            out.push(format!("-{}", w.prefix));
        }
        let asns = as_path(&u);
        for r in &u.nlri {
            out.push(format!("+{} {asns:?}", r.prefix));
        }
    }
    out
}

#[test]
fn peers_with_the_same_export_share_one_group_and_one_encoding() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    // Coming up together, before anything was sent: one group, one table.
    assert_eq!(rib.update_groups(), (1, 3));
    for n in [2, 3, 4] {
        assert!(sent(&mut rib, n).is_empty());
    }
    from(
        &mut rib,
        2,
        &announce(&["198.19.1.0/24", "198.19.2.0/24"], &[65102], 2),
    );
    let b3 = rib.take_encoded(PeerId(3), &ctx()).unwrap();
    let b4 = rib.take_encoded(PeerId(4), &ctx()).unwrap();
    assert_eq!(b3.len(), 1);
    assert_eq!(b3, b4);
    // The very same bytes: encoded once for both.
    assert_eq!(b3[0].as_ptr(), b4[0].as_ptr());
    // Not back to where they came from.
    assert!(rib.take_encoded(PeerId(2), &ctx()).unwrap().is_empty());
    assert_eq!(rib.advertised(PeerId(2)), Some(0));
    assert_eq!(rib.advertised(PeerId(3)), Some(2));
    assert_eq!(rib.adj_rib_out(PeerId(2)).unwrap().len(), 0);
    assert_eq!(rib.adj_rib_out(PeerId(4)).unwrap().len(), 2);
}

#[test]
fn a_member_whose_route_loses_gets_the_winner_and_the_winner_a_withdrawal() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    from(
        &mut rib,
        2,
        &announce(&["198.19.1.0/24"], &[65102, 64512, 64513], 2),
    );
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    assert_eq!(
        sent(&mut rib, 3),
        ["+198.19.1.0/24 [65000, 65102, 64512, 64513]"]
    );
    assert_eq!(
        sent(&mut rib, 4),
        ["+198.19.1.0/24 [65000, 65102, 64512, 64513]"]
    );
    // Peer 3's shorter path wins: 2 now hears of it, 3 loses 2's route.
    from(&mut rib, 3, &announce(&["198.19.1.0/24"], &[65103], 3));
    assert_eq!(sent(&mut rib, 2), ["+198.19.1.0/24 [65000, 65103]"]);
    assert_eq!(sent(&mut rib, 3), ["-198.19.1.0/24"]);
    assert_eq!(sent(&mut rib, 4), ["+198.19.1.0/24 [65000, 65103]"]);
    // 3 withdraws: 2's route is best again.
    from(&mut rib, 3, &withdraw(&["198.19.1.0/24"]));
    assert_eq!(sent(&mut rib, 2), ["-198.19.1.0/24"]);
    assert_eq!(
        sent(&mut rib, 3),
        ["+198.19.1.0/24 [65000, 65102, 64512, 64513]"]
    );
    assert_eq!(
        sent(&mut rib, 4),
        ["+198.19.1.0/24 [65000, 65102, 64512, 64513]"]
    );
    assert_eq!(rib.update_groups(), (1, 3));
}

#[test]
fn two_members_sending_the_same_prefix_each_hear_only_the_other_when_it_wins() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    // Same path length: 2 wins on the lower router id (RFC 4271
    // §9.1.2.2 f); 3 is sent 2's route, 2 nothing.
    from(&mut rib, 2, &announce(&["198.19.1.0/24"], &[65102], 2));
    from(&mut rib, 3, &announce(&["198.19.1.0/24"], &[65103], 3));
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    assert_eq!(sent(&mut rib, 3), ["+198.19.1.0/24 [65000, 65102]"]);
    assert_eq!(sent(&mut rib, 4), ["+198.19.1.0/24 [65000, 65102]"]);
}

#[test]
fn identical_attributes_from_a_new_source_reach_the_old_source_only() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    // An iBGP-free setup where two eBGP peers originate the same path:
    // after our prepend and next-hop-self the export is identical.
    let mut cfg2 = peer(2);
    let mut cfg3 = peer(3);
    cfg2.info.asn = 65150;
    cfg3.info.asn = 65150;
    rib.add_peer(cfg2).unwrap();
    rib.add_peer(cfg3).unwrap();
    from(&mut rib, 2, &announce(&["198.19.1.0/24"], &[65150], 2));
    from(&mut rib, 3, &announce(&["198.19.1.0/24"], &[65150], 3));
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    assert_eq!(sent(&mut rib, 3), ["+198.19.1.0/24 [65000, 65150]"]);
    assert_eq!(sent(&mut rib, 4), ["+198.19.1.0/24 [65000, 65150]"]);
    // 2 withdraws; 3's route has the same export attributes: nothing for
    // 4, the route for 2, a withdrawal for 3.
    from(&mut rib, 2, &withdraw(&["198.19.1.0/24"]));
    assert_eq!(sent(&mut rib, 4), Vec::<String>::new());
    assert_eq!(sent(&mut rib, 2), ["+198.19.1.0/24 [65000, 65150]"]);
    assert_eq!(sent(&mut rib, 3), ["-198.19.1.0/24"]);
}

#[test]
fn a_late_peer_gets_its_own_table_then_joins_the_group() {
    let mut rib = rib();
    up(&mut rib, &[2, 3]);
    from(
        &mut rib,
        2,
        &announce(&["198.19.1.0/24", "198.19.2.0/24"], &[65102], 2),
    );
    sent(&mut rib, 2);
    sent(&mut rib, 3);
    up(&mut rib, &[4]);
    assert_eq!(rib.update_groups(), (2, 3));
    // A whole-table load is packed in Loc-RIB order: sorted here.
    let mut table = sent(&mut rib, 4);
    table.sort();
    assert_eq!(
        table,
        [
            "+198.19.1.0/24 [65000, 65102]",
            "+198.19.2.0/24 [65000, 65102]"
        ]
    );
    // Drained and of the same export: merged.
    assert_eq!(rib.update_groups(), (1, 3));
    from(&mut rib, 2, &withdraw(&["198.19.2.0/24"]));
    let b3 = rib.take_encoded(PeerId(3), &ctx()).unwrap();
    let b4 = rib.take_encoded(PeerId(4), &ctx()).unwrap();
    assert_eq!(b3.len(), 1);
    assert_eq!(b3[0].as_ptr(), b4[0].as_ptr());
}

#[test]
fn another_export_or_encoding_is_another_group() {
    let mut rib = rib();
    up(&mut rib, &[2, 3]);
    let mut c4 = peer(4);
    c4.local_next_hop = NextHop::V4(Ipv4Addr::new(198, 18, 4, 1));
    rib.add_peer(c4).unwrap();
    rib.peer_up(PeerId(4)).unwrap();
    assert_eq!(rib.update_groups(), (2, 3));
    from(&mut rib, 2, &announce(&["198.19.1.0/24"], &[65102], 2));
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    // Peer 3 without 4-octet AS support: its own group, its own table.
    let two_octet = Context::default();
    let u3 = rib.take_updates(PeerId(3), &two_octet).unwrap();
    assert_eq!(u3.len(), 1);
    assert_eq!(u3[0].nlri, vec![Nlri::new(pfx("198.19.1.0/24"))]);
    assert_eq!(rib.update_groups(), (3, 3));
    let u4 = rib.take_updates(PeerId(4), &ctx()).unwrap();
    let nh = u4[0].path_attributes.iter().find_map(|a| match a.value {
        AttributeValue::NextHop(nh) => Some(nh),
        _ => None,
    });
    assert_eq!(nh, Some(Ipv4Addr::new(198, 18, 4, 1)));
}

#[test]
fn a_changed_export_policy_splits_the_peer_off_with_only_the_difference() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    from(&mut rib, 2, &announce(&["198.19.1.0/24"], &[65102], 2));
    for n in [2, 3, 4] {
        sent(&mut rib, n);
    }
    let mut c4 = peer(4);
    c4.export = policy("none", Disposition::Reject);
    rib.add_peer(c4).unwrap();
    rib.reexport(PeerId(4)).unwrap();
    assert_eq!(rib.update_groups(), (2, 3));
    assert_eq!(sent(&mut rib, 4), ["-198.19.1.0/24"]);
    assert_eq!(sent(&mut rib, 3), Vec::<String>::new());
    from(&mut rib, 2, &announce(&["198.19.9.0/24"], &[65102], 2));
    assert_eq!(sent(&mut rib, 3), ["+198.19.9.0/24 [65000, 65102]"]);
    assert_eq!(sent(&mut rib, 4), Vec::<String>::new());
    // Back to the old policy: the route again, then one group again.
    rib.add_peer(peer(4)).unwrap();
    rib.reexport(PeerId(4)).unwrap();
    let mut again = sent(&mut rib, 4);
    again.sort();
    assert_eq!(
        again,
        [
            "+198.19.1.0/24 [65000, 65102]",
            "+198.19.9.0/24 [65000, 65102]"
        ]
    );
    sent(&mut rib, 3);
    assert_eq!(rib.update_groups(), (1, 3));
}

#[test]
fn a_peer_going_down_leaves_its_group() {
    let mut rib = rib();
    up(&mut rib, &[2, 3, 4]);
    from(&mut rib, 2, &announce(&["198.19.1.0/24"], &[65102], 2));
    rib.peer_down(PeerId(4)).unwrap();
    assert_eq!(rib.update_groups(), (1, 2));
    assert_eq!(sent(&mut rib, 4), Vec::<String>::new());
    rib.peer_down(PeerId(2)).unwrap();
    // 2's route is gone: 3 was never sent it (the announcement and the
    // withdrawal cancel out).
    assert_eq!(sent(&mut rib, 3), Vec::<String>::new());
    rib.peer_down(PeerId(3)).unwrap();
    assert_eq!(rib.update_groups(), (0, 0));
}

#[test]
fn peers_coming_up_one_by_one_with_routes_of_their_own_end_in_one_group() {
    let mut rib = rib();
    // Each peer comes up alone, is sent the table, then sends a route of
    // its own: each starts a group that leaves its own routes out.
    for n in 2..=6u8 {
        up(&mut rib, &[n]);
        let table = sent(&mut rib, n);
        assert_eq!(table.len(), usize::from(n - 2), "peer {n}: {table:?}");
        let own = format!("198.19.{n}.0/24");
        from(&mut rib, n, &announce(&[&own], &[65100 + u32::from(n)], n));
        for m in 2..n {
            assert_eq!(
                sent(&mut rib, m),
                [format!("+{own} [65000, {}]", 65100 + u32::from(n))]
            );
        }
        assert_eq!(sent(&mut rib, n), Vec::<String>::new(), "not its own");
        // Drained: the new group merged with the first, whose member's own
        // routes it brought along.
        assert_eq!(rib.update_groups(), (1, usize::from(n - 1)), "after {n}");
    }
    // Every member is told every route but its own, from now on too.
    for n in 2..=6u8 {
        assert_eq!(rib.advertised(PeerId(u32::from(n))), Some(4));
    }
    from(&mut rib, 2, &withdraw(&["198.19.2.0/24"]));
    from(
        &mut rib,
        6,
        &announce(&["198.19.2.0/24"], &[65106, 64512], 6),
    );
    assert_eq!(sent(&mut rib, 2), ["+198.19.2.0/24 [65000, 65106, 64512]"]);
    for n in 3..=5u8 {
        assert_eq!(
            sent(&mut rib, n),
            ["+198.19.2.0/24 [65000, 65106, 64512]"],
            "peer {n}"
        );
    }
    assert_eq!(sent(&mut rib, 6), ["-198.19.2.0/24"], "now its own");
}

#[test]
fn peers_coming_up_together_with_routes_of_their_own_share_one_group() {
    let mut rib = rib();
    // Established in one batch of events: each sends its route before the
    // batch brings them up in the RIB together.
    for n in 2..=5u8 {
        rib.add_peer(peer(n)).unwrap();
        let own = format!("198.19.{n}.0/24");
        from(&mut rib, n, &announce(&[&own], &[65100 + u32::from(n)], n));
    }
    let ids: Vec<PeerId> = (2..=5u32).map(PeerId).collect();
    rib.peers_up(&ids).unwrap();
    // One group and one table export, not a group per peer that already
    // sent routes.
    assert_eq!(rib.update_groups(), (1, 4));
    for n in 2..=5u8 {
        let others: Vec<String> = (2..=5u8)
            .filter(|&m| m != n)
            .map(|m| format!("+198.19.{m}.0/24 [65000, {}]", 65100 + u32::from(m)))
            .collect();
        let mut got = sent(&mut rib, n);
        got.sort();
        assert_eq!(got, others, "peer {n}: never its own route");
    }
    assert_eq!(rib.update_groups(), (1, 4));
    // Later routes too: to every member but the source.
    from(&mut rib, 3, &announce(&["198.19.9.0/24"], &[65103], 3));
    for n in [2u8, 4, 5] {
        assert_eq!(
            sent(&mut rib, n),
            ["+198.19.9.0/24 [65000, 65103]"],
            "peer {n}"
        );
    }
    assert_eq!(sent(&mut rib, 3), Vec::<String>::new());
}

#[test]
fn groups_merge_whichever_member_takes_its_updates_first() {
    let mut rib = rib();
    up(&mut rib, &[2]);
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    // Peer 3 comes up and sends a route: queued for peer 2's group.
    up(&mut rib, &[3]);
    from(&mut rib, 3, &announce(&["198.19.3.0/24"], &[65103], 3));
    // Peer 3 takes first: its group is drained, peer 2's is not yet, so
    // they cannot merge now; once peer 2 takes, they do.
    assert_eq!(sent(&mut rib, 3), Vec::<String>::new());
    assert_eq!(rib.update_groups(), (2, 2));
    assert_eq!(sent(&mut rib, 2), ["+198.19.3.0/24 [65000, 65103]"]);
    assert_eq!(
        rib.update_groups(),
        (1, 2),
        "merged when the second drained"
    );
    // One group from now on, each member still never told its own.
    from(&mut rib, 2, &announce(&["198.19.2.0/24"], &[65102], 2));
    assert_eq!(sent(&mut rib, 3), ["+198.19.2.0/24 [65000, 65102]"]);
    assert_eq!(sent(&mut rib, 2), Vec::<String>::new());
    assert_eq!(rib.update_groups(), (1, 2));
}

mod model {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Announce { peer: u8, prefix: u8, extra: u8 },
        Withdraw { peer: u8, prefix: u8 },
        Bounce { peer: u8 },
        Take { peer: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (2u8..=5, 0u8..6, 0u8..3).prop_map(|(peer, prefix, extra)| Op::Announce { peer, prefix, extra }),
            2 => (2u8..=5, 0u8..6).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
            1 => (2u8..=5).prop_map(|peer| Op::Bounce { peer }),
            2 => (2u8..=5).prop_map(|peer| Op::Take { peer }),
        ]
    }

    fn prefix(i: u8) -> String {
        format!("198.19.{i}.0/24")
    }

    /// Apply what peer `n` is sent to its view: prefix -> AS path.
    fn receive(rib: &mut Rib, n: u8, view: &mut BTreeMap<String, Vec<u32>>) {
        for u in rib.take_updates(PeerId(u32::from(n)), &ctx()).unwrap() {
            for w in &u.withdrawn_routes {
                view.remove(&w.prefix.to_string());
            }
            let asns = as_path(&u);
            for r in &u.nlri {
                view.insert(r.prefix.to_string(), asns.clone());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever the order of changes, sessions and takes, each peer
        /// ends up told exactly every best route that did not come from it,
        /// with the exported AS path: what a per-peer Adj-RIB-Out gives.
        #[test]
        fn every_member_sees_the_best_routes_of_the_others(ops in proptest::collection::vec(op(), 1..60)) {
            let mut rib = rib();
            // Sent routes folded into the sorted store at every chance:
            // their sources must survive it.
            rib.compact_at(1);
            let peers = [2u8, 3, 4, 5];
            up(&mut rib, &peers);
            // Peer 5 on another link: a group of its own, which leaves
            // 5's own routes out of its Adj-RIB-Out.
            let mut c5 = peer(5);
            c5.local_next_hop = NextHop::V4(Ipv4Addr::new(198, 18, 5, 1));
            rib.add_peer(c5).unwrap();
            let mut views: BTreeMap<u8, BTreeMap<String, Vec<u32>>> =
                peers.iter().map(|&n| (n, BTreeMap::new())).collect();
            for op in ops {
                match op {
                    Op::Announce { peer, prefix: i, extra } => {
                        let mut path = vec![65100 + u32::from(peer)];
                        path.extend((0..extra).map(|k| 64512 + u32::from(k)));
                        from(&mut rib, peer, &announce(&[&prefix(i)], &path, peer));
                    }
                    Op::Withdraw { peer, prefix: i } => from(&mut rib, peer, &withdraw(&[&prefix(i)])),
                    Op::Bounce { peer } => {
                        rib.peer_down(PeerId(u32::from(peer))).unwrap();
                        views.insert(peer, BTreeMap::new());
                        rib.peer_up(PeerId(u32::from(peer))).unwrap();
                    }
                    Op::Take { peer } => {
                        let v = views.get_mut(&peer).unwrap();
                        receive(&mut rib, peer, v);
                    }
                }
            }
            for &n in &peers {
                let v = views.get_mut(&n).unwrap();
                receive(&mut rib, n, v);
                let mut expected = BTreeMap::new();
                for i in 0..6 {
                    let p: ribs::Prefix = ribs::Prefix::V4(pfx(&prefix(i)));
                    if let Some((best, _)) = rib.best(&p) {
                        if best.peer != PeerId(u32::from(n)) {
                            let mut path = vec![LOCAL_AS];
                            path.extend(best.attrs.as_path.segments.iter().flat_map(|s| s.asns.clone()));
                            expected.insert(prefix(i), path);
                        }
                    }
                }
                prop_assert_eq!(&*v, &expected, "peer {}", n);
                prop_assert_eq!(rib.advertised(PeerId(u32::from(n))), Some(expected.len()));
            }
        }
    }
}
