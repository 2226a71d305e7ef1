//! ADD-PATH send (RFC 7911): a peer configured and negotiated for it gets
//! up to its limit of the eligible paths per prefix, best first, each with
//! a Path Identifier of ours that stays while the path is sent; a peer
//! without it gets the best path only, as before.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bgp::wire::{
    AsPath, AttributeValue, Community, Context, FamilyFlags, Ipv4Prefix, Message, Nlri, Origin,
    PathAttribute, Update,
};
use proptest::prelude::*;
use ribs::add_path::{AddPathSend, SendPaths};
use ribs::policy::{Disposition, Match, Policy, Term};
use ribs::rib::{AllReachable, PeerConfig, Rib, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind, Prefix};

const LOCAL_AS: u32 = 65000;
const REJECTED: Community = Community(65000 << 16 | 666);

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 255, n)
}

fn rib() -> Rib {
    Rib::new(
        RibConfig {
            local_asn: LOCAL_AS,
            router_id: rid(1),
            cluster_id: None,
            decision: Default::default(),
        },
        Box::new(AllReachable),
    )
}

/// Accept all, except (on export) routes with the [`REJECTED`] community.
fn policy(reject_marked: bool) -> Option<Policy> {
    let mut terms = Vec::new();
    if reject_marked {
        terms.push(Term {
            name: "marked".into(),
            matches: vec![Match::Community(REJECTED)],
            actions: vec![],
            disposition: Disposition::Reject,
        });
    }
    terms.push(Term {
        name: "all".into(),
        matches: vec![],
        actions: vec![],
        disposition: Disposition::Accept,
    });
    Some(Policy {
        name: "p".into(),
        terms,
        default_action: Disposition::Reject,
    })
}

/// Peer `n` at 198.18.0.n: iBGP route reflector client when `asn` is ours,
/// else eBGP with accept-all policies; sent `send` paths of IPv4 unicast.
fn peer(n: u8, asn: u32, send: SendPaths) -> PeerConfig {
    let ibgp = asn == LOCAL_AS;
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(u32::from(n)),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            asn,
            router_id: rid(n),
            kind: if ibgp { PeerKind::Ibgp } else { PeerKind::Ebgp },
            rr_client: ibgp,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    if !ibgp {
        c.import = policy(false);
        c.export = policy(false);
    }
    c.add_path_send = AddPathSend {
        ipv4: send,
        ipv6: SendPaths::Best,
    };
    c
}

fn up(rib: &mut Rib, c: PeerConfig) {
    let id = c.info.id;
    rib.add_peer(c).unwrap();
    rib.peer_up(id).unwrap();
}

/// The encode context towards a peer, with Path Identifiers in IPv4
/// unicast when it is sent several paths.
fn ctx(add_path: bool) -> Context {
    Context {
        four_octet_as: true,
        add_path: FamilyFlags {
            ipv4_unicast: add_path,
            ipv6_unicast: false,
        },
        ..Context::default()
    }
}

fn pfx(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

const P: &str = "198.19.1.0/24";

/// An iBGP UPDATE for `prefix` with next hop 198.18.0.`nh` and LOCAL_PREF
/// `lp`.
fn ibgp_announce(prefix: &str, nh: u8, lp: u32) -> Update {
    Update {
        path_attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::default())),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, nh))),
            PathAttribute::new(AttributeValue::LocalPref(lp)),
        ],
        nlri: vec![Nlri::new(pfx(prefix))],
        ..Update::default()
    }
}

/// The reflected UPDATE of [`ibgp_announce`] from client `n` (RFC 4456
/// §8: ORIGINATOR_ID, CLUSTER_LIST), with Path Identifier `id`.
fn reflected(prefix: &str, n: u8, lp: u32, id: Option<u32>) -> Update {
    let mut u = ibgp_announce(prefix, n, lp);
    u.path_attributes.extend([
        PathAttribute::new(AttributeValue::OriginatorId(rid(n))),
        PathAttribute::new(AttributeValue::ClusterList(vec![rid(1)])),
    ]);
    u.nlri[0].path_id = id;
    u
}

fn withdrawal(prefix: &str, id: Option<u32>) -> Update {
    Update {
        withdrawn_routes: vec![Nlri {
            path_id: id,
            prefix: pfx(prefix),
        }],
        ..Update::default()
    }
}

/// What peer `n` is sent, checked to encode within 4096 octets.
fn take(rib: &mut Rib, n: u8, add_path: bool) -> Vec<Update> {
    let ctx = ctx(add_path);
    let updates = rib.take_updates(PeerId(u32::from(n)), &ctx).unwrap();
    for u in &updates {
        let bytes = Message::Update(u.clone()).to_bytes(&ctx).unwrap();
        assert!(bytes.len() <= 4096);
    }
    updates
}

/// Route reflector with clients 2, 3, 4 (the sources, sent every path),
/// 5 (sent every path), 6 (no ADD-PATH) and 7 (at most 2 paths); clients
/// 2, 3 and 4 announce `P` with LOCAL_PREF 300, 200 and 100.
fn reflector() -> Rib {
    let mut rib = rib();
    for n in [2, 3, 4, 5] {
        up(&mut rib, peer(n, LOCAL_AS, SendPaths::All));
    }
    up(&mut rib, peer(6, LOCAL_AS, SendPaths::Best));
    up(&mut rib, peer(7, LOCAL_AS, SendPaths::UpTo(2)));
    for n in 2..=7 {
        let ap = n != 6;
        assert!(take(&mut rib, n, ap).is_empty());
    }
    for (n, lp) in [(2, 300), (3, 200), (4, 100)] {
        rib.apply_update(PeerId(u32::from(n)), &ibgp_announce(P, n, lp), true)
            .unwrap();
    }
    rib
}

#[test]
fn a_client_with_add_path_gets_every_path_with_its_own_identifier() {
    let mut rib = reflector();
    assert_eq!(
        take(&mut rib, 5, true),
        vec![
            reflected(P, 2, 300, Some(1)),
            reflected(P, 3, 200, Some(2)),
            reflected(P, 4, 100, Some(3)),
        ]
    );
    // Without ADD-PATH: the best path only, as before.
    assert_eq!(take(&mut rib, 6, false), vec![reflected(P, 2, 300, None)]);
    // At most two: the two best.
    assert_eq!(
        take(&mut rib, 7, true),
        vec![reflected(P, 2, 300, Some(1)), reflected(P, 3, 200, Some(2))]
    );
    // A source is never sent its own path back (RFC 4271 §9.2).
    assert_eq!(
        take(&mut rib, 2, true),
        vec![reflected(P, 3, 200, Some(2)), reflected(P, 4, 100, Some(3))]
    );
    assert_eq!(
        take(&mut rib, 4, true),
        vec![reflected(P, 2, 300, Some(1)), reflected(P, 3, 200, Some(2))]
    );
    // The Adj-RIB-Out view shows our identifiers.
    let mut out: Vec<(u32, Option<Ipv4Addr>)> = rib
        .adj_rib_out(PeerId(5))
        .unwrap()
        .into_iter()
        .map(|(_, id, a)| (id, a.originator_id))
        .collect();
    out.sort();
    assert_eq!(
        out,
        vec![(1, Some(rid(2))), (2, Some(rid(3))), (3, Some(rid(4)))]
    );
}

#[test]
fn withdrawing_the_best_path_withdraws_its_identifier_only() {
    let mut rib = reflector();
    for (n, ap) in [
        (2, true),
        (3, true),
        (4, true),
        (5, true),
        (6, false),
        (7, true),
    ] {
        take(&mut rib, n, ap);
    }
    rib.apply_update(
        PeerId(2),
        &Update {
            withdrawn_routes: vec![Nlri::new(pfx(P))],
            ..Update::default()
        },
        true,
    )
    .unwrap();
    // The other paths keep their identifiers: nothing else is sent.
    assert_eq!(take(&mut rib, 5, true), vec![withdrawal(P, Some(1))]);
    assert_eq!(take(&mut rib, 3, true), vec![withdrawal(P, Some(1))]);
    // Client 2 was never sent its own path.
    assert_eq!(take(&mut rib, 2, true), vec![]);
    // The new best, instead of the old one.
    assert_eq!(take(&mut rib, 6, false), vec![reflected(P, 3, 200, None)]);
    // Path 3 keeps 2; path 4 comes in with the free identifier 1, which
    // replaces the withdrawn path (RFC 7911 §3) in one announcement.
    assert_eq!(take(&mut rib, 7, true), vec![reflected(P, 4, 100, Some(1))]);

    // A change of a path that is not the best is sent too, under its
    // identifier.
    rib.apply_update(PeerId(4), &ibgp_announce(P, 4, 150), true)
        .unwrap();
    assert_eq!(take(&mut rib, 5, true), vec![reflected(P, 4, 150, Some(3))]);
    assert_eq!(take(&mut rib, 6, false), vec![]);
    assert_eq!(take(&mut rib, 7, true), vec![reflected(P, 4, 150, Some(1))]);
}

#[test]
fn a_changed_limit_re_exports_only_the_difference() {
    let mut rib = reflector();
    assert_eq!(take(&mut rib, 5, true).len(), 3);
    // At most one now (a reload of `add_path_send_max`): the others are
    // withdrawn by their identifiers, the best is not sent again.
    rib.add_peer(peer(5, LOCAL_AS, SendPaths::UpTo(1))).unwrap();
    rib.reexport(PeerId(5)).unwrap();
    assert_eq!(
        take(&mut rib, 5, true),
        vec![Update {
            withdrawn_routes: vec![
                Nlri {
                    path_id: Some(2),
                    prefix: pfx(P),
                },
                Nlri {
                    path_id: Some(3),
                    prefix: pfx(P),
                },
            ],
            ..Update::default()
        }]
    );
    // Its former group mates are not affected.
    assert_eq!(take(&mut rib, 2, true).len(), 2);
    // Every path again: the two come back.
    rib.add_peer(peer(5, LOCAL_AS, SendPaths::All)).unwrap();
    rib.reexport(PeerId(5)).unwrap();
    assert_eq!(
        take(&mut rib, 5, true),
        vec![reflected(P, 3, 200, Some(2)), reflected(P, 4, 100, Some(3))]
    );
}

#[test]
fn peers_with_other_send_settings_are_in_other_update_groups() {
    let rib = reflector();
    // {2, 3, 4, 5} (every path), {6} (best only), {7} (two paths).
    assert_eq!(rib.update_groups(), (3, 6));

    // Two peers with the same setting that come up at different times
    // share a group once both are sent the same.
    let mut rib = reflector();
    take(&mut rib, 7, true);
    up(&mut rib, peer(8, LOCAL_AS, SendPaths::UpTo(2)));
    assert_eq!(rib.update_groups(), (4, 7));
    assert_eq!(
        take(&mut rib, 8, true),
        vec![reflected(P, 2, 300, Some(1)), reflected(P, 3, 200, Some(2))]
    );
    assert_eq!(rib.update_groups(), (3, 7));
    rib.apply_update(PeerId(3), &ibgp_announce(P, 3, 400), true)
        .unwrap();
    let expected = vec![reflected(P, 3, 400, Some(2))];
    assert_eq!(take(&mut rib, 7, true), expected);
    assert_eq!(take(&mut rib, 8, true), expected);
}

/// An eBGP UPDATE from peer `n` (AS 65100 + n) for `prefix`, AS_PATH
/// `[65100 + n; len]`, with the [`REJECTED`] community when `marked`.
fn ebgp_announce(prefix: &str, n: u8, len: usize, marked: bool) -> Update {
    let mut path_attributes = vec![
        PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
        PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![
            65100 + u32::from(n);
            len
        ]))),
        PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, n))),
    ];
    if marked {
        path_attributes.push(PathAttribute::new(AttributeValue::Communities(vec![
            REJECTED,
        ])));
    }
    Update {
        path_attributes,
        nlri: vec![Nlri::new(pfx(prefix))],
        ..Update::default()
    }
}

/// The eBGP export of [`ebgp_announce`] (unmarked) with identifier `id`.
fn ebgp_exported(prefix: &str, n: u8, len: usize, id: u32) -> Update {
    let mut path = vec![LOCAL_AS];
    path.extend(vec![65100 + u32::from(n); len]);
    Update {
        path_attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(path))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 1))),
        ],
        nlri: vec![Nlri {
            path_id: Some(id),
            prefix: pfx(prefix),
        }],
        ..Update::default()
    }
}

#[test]
fn a_path_refused_by_the_export_policy_is_not_sent_while_the_others_are() {
    let mut rib = rib();
    let mut to = peer(9, 65109, SendPaths::All);
    to.export = policy(true);
    up(&mut rib, to);
    for n in [2, 3, 4] {
        up(&mut rib, peer(n, 65100 + u32::from(n), SendPaths::Best));
    }
    // Best to worst by AS_PATH length: 2, 3 (marked), 4.
    for (n, len) in [(2, 1), (3, 2), (4, 3)] {
        rib.apply_update(
            PeerId(u32::from(n)),
            &ebgp_announce(P, n, len, n == 3),
            true,
        )
        .unwrap();
    }
    assert_eq!(
        take(&mut rib, 9, true),
        vec![ebgp_exported(P, 2, 1, 1), ebgp_exported(P, 4, 3, 2)]
    );
    // The best is now refused: it is withdrawn, the other stays as it is.
    rib.apply_update(PeerId(2), &ebgp_announce(P, 2, 1, true), true)
        .unwrap();
    assert_eq!(take(&mut rib, 9, true), vec![withdrawal(P, Some(1))]);
}

// The model: peers 2 to 5 (eBGP, AS 65100 + n) announce and withdraw
// prefixes with AS_PATHs of random lengths, some marked with the community
// the export policy of peers 8 and 9 refuses; 8 and 9 (eBGP, one update
// group) announce too. After each take, what 8 and 9 were told, replayed
// into a map keyed by (prefix, Path Identifier), is the top `limit`
// exported paths of each prefix in decision order (shortest AS_PATH, then
// lowest BGP Identifier: 198.18.255.n), less their own; a path that stays
// keeps its identifier.

#[derive(Debug, Clone)]
enum Op {
    Announce {
        from: u8,
        prefix: u8,
        len: u8,
        marked: bool,
    },
    Withdraw {
        from: u8,
        prefix: u8,
    },
    Take(u8),
    /// Peer 9 comes up (see `run`).
    Up9,
}

fn op() -> impl Strategy<Value = Op> {
    let from = prop_oneof![2u8..=5, 8u8..=9];
    prop_oneof![
        4 => (from.clone(), 0u8..3, 1u8..4, proptest::bool::weighted(0.2)).prop_map(
            |(from, prefix, len, marked)| Op::Announce { from, prefix, len, marked }
        ),
        2 => (from, 0u8..3).prop_map(|(from, prefix)| Op::Withdraw { from, prefix }),
        1 => (8u8..=9).prop_map(Op::Take),
    ]
}

fn model_prefix(i: u8) -> String {
    format!("198.19.{i}.0/24")
}

/// (prefix index, source peer) -> (AS_PATH length, marked).
type Model = BTreeMap<(u8, u8), (u8, bool)>;

/// What `to` should have been told: prefix index -> sources, best first.
fn expected(model: &Model, to: u8, limit: usize) -> BTreeMap<u8, Vec<u8>> {
    let mut out = BTreeMap::new();
    for prefix in 0..3 {
        let mut paths: Vec<(u8, u8)> = model
            .iter()
            .filter(|((p, _), (_, marked))| *p == prefix && !marked)
            .map(|((_, from), (len, _))| (*len, *from))
            .collect();
        paths.sort();
        let sent: Vec<u8> = paths
            .into_iter()
            .take(limit)
            .map(|(_, from)| from)
            .filter(|&from| from != to)
            .collect();
        if !sent.is_empty() {
            out.insert(prefix, sent);
        }
    }
    out
}

/// The source of an exported route: the AS after ours in its AS_PATH.
fn source_of(attrs: &[PathAttribute]) -> u8 {
    let asns: Vec<u32> = attrs
        .iter()
        .find_map(|a| match &a.value {
            AttributeValue::AsPath(p) => {
                Some(p.segments.iter().flat_map(|s| s.asns.clone()).collect())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(asns[0], LOCAL_AS);
    (asns[1] - 65100) as u8
}

/// `late`: 9 comes up before that operation (or the final takes), in an
/// update group of its own, which may merge with 8's later.
fn run(ops: Vec<Op>, limit: Option<u8>, late: Option<usize>) {
    let send = limit.map_or(SendPaths::All, SendPaths::UpTo);
    let limit = limit.map_or(usize::MAX, usize::from);
    let mut rib = rib();
    let config = |n: u8| {
        let mut c = peer(n, 65100 + u32::from(n), SendPaths::Best);
        if n >= 8 {
            c.add_path_send.ipv4 = send;
            c.export = policy(true);
        }
        c
    };
    for n in [2, 3, 4, 5, 8, 9] {
        if !(late.is_some() && n == 9) {
            up(&mut rib, config(n));
        }
    }
    let mut model = Model::new();
    // Per receiver: (prefix index, Path Identifier) -> source.
    let mut told: [BTreeMap<(u8, u32), u8>; 2] = Default::default();
    // Per receiver: the paths (prefix index, source) that were to be sent
    // after every operation since its last take.
    let wanted = |model: &Model, to: u8| -> BTreeSet<(u8, u8)> {
        expected(model, to, limit)
            .into_iter()
            .flat_map(|(i, v)| v.into_iter().map(move |from| (i, from)))
            .collect()
    };
    let mut stayed: [BTreeSet<(u8, u8)>; 2] = Default::default();
    let mut ops = ops;
    let mut up9 = late.is_none();
    if let Some(i) = late {
        // 8 is told what it has to be, so 9's group can merge into its.
        ops.splice(i.min(ops.len())..i.min(ops.len()), [Op::Take(8), Op::Up9]);
    }
    ops.extend([Op::Take(8), Op::Take(9)]);
    for op in ops {
        match op {
            Op::Up9 => {
                up(&mut rib, config(9));
                up9 = true;
                continue;
            }
            // Nothing of 9 before it is configured.
            Op::Take(9) | Op::Announce { from: 9, .. } | Op::Withdraw { from: 9, .. } if !up9 => {
                continue
            }
            _ => {}
        }
        match op {
            Op::Announce {
                from,
                prefix,
                len,
                marked,
            } => {
                let u = ebgp_announce(&model_prefix(prefix), from, usize::from(len), marked);
                rib.apply_update(PeerId(u32::from(from)), &u, true).unwrap();
                model.insert((prefix, from), (len, marked));
            }
            Op::Withdraw { from, prefix } => {
                let u = Update {
                    withdrawn_routes: vec![Nlri::new(pfx(&model_prefix(prefix)))],
                    ..Update::default()
                };
                rib.apply_update(PeerId(u32::from(from)), &u, true).unwrap();
                model.remove(&(prefix, from));
            }
            Op::Take(_) | Op::Up9 => {}
        }
        for to in [8u8, 9] {
            let now = wanted(&model, to);
            stayed[usize::from(to - 8)].retain(|k| now.contains(k));
        }
        match op {
            Op::Announce { .. } | Op::Withdraw { .. } | Op::Up9 => {}
            Op::Take(to) => {
                let map = &mut told[usize::from(to - 8)];
                let before = map.clone();
                for u in take(&mut rib, to, true) {
                    for w in &u.withdrawn_routes {
                        let i = w.prefix.addr().octets()[2];
                        let id = w.path_id.unwrap();
                        assert!(map.remove(&(i, id)).is_some(), "{w:?} was not advertised");
                    }
                    for n in &u.nlri {
                        let i = n.prefix.addr().octets()[2];
                        map.insert((i, n.path_id.unwrap()), source_of(&u.path_attributes));
                    }
                }
                // Per prefix, the sources told, best first (ids in any
                // order: sort by the model's order).
                let mut got: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
                for (&(i, _), &from) in map.iter() {
                    got.entry(i).or_default().push(from);
                }
                for (&i, v) in got.iter_mut() {
                    v.sort_by_key(|&from| (model.get(&(i, from)).map(|m| m.0), from));
                }
                assert_eq!(got, expected(&model, to, limit), "told {to}");
                // A path told before and to be told ever since keeps its
                // identifier.
                let stayed =
                    std::mem::replace(&mut stayed[usize::from(to - 8)], wanted(&model, to));
                for (&(i, id), &from) in &before {
                    if !stayed.contains(&(i, from)) {
                        continue;
                    }
                    if let Some(now) = map
                        .iter()
                        .find(|(&(j, _), &f)| j == i && f == from)
                        .map(|(&(_, id), _)| id)
                    {
                        assert_eq!(now, id, "path of {from} for prefix {i} changed its id");
                    }
                }
                assert_eq!(
                    rib.advertised(PeerId(u32::from(to))),
                    Some(map.len()),
                    "Adj-RIB-Out size of {to}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_add_path_peer_is_told_the_top_paths_of_each_prefix(
        ops in proptest::collection::vec(op(), 1..60),
        limit in proptest::option::of(1u8..4),
        late in proptest::option::of(0usize..60),
    ) {
        run(ops, limit, late);
    }
}

/// A session that goes down takes every path it sent: with a Path
/// Identifier or without, every family, each prefix's forwarding state
/// changed once; paths of other peers stay.
#[test]
fn a_peer_going_down_takes_all_its_paths() {
    let mut rib = reflector();
    for id in [7, 8] {
        let mut u = ibgp_announce("198.19.2.0/24", 2, 100);
        u.nlri[0].path_id = Some(id);
        rib.apply_update(PeerId(2), &u, true).unwrap();
    }
    rib.apply_update(PeerId(2), &ibgp_announce("198.19.3.0/24", 2, 100), true)
        .unwrap();
    rib.take_fib_changes();
    assert_eq!(rib.loc_rib().len(), 3);
    let ids: Vec<u32> = rib
        .loc_rib()
        .get(&Prefix::V4(pfx("198.19.2.0/24")))
        .unwrap()
        .paths()
        .iter()
        .map(|p| p.path_id)
        .collect();
    assert_eq!(ids, vec![7, 8]);
    rib.peer_down(PeerId(2)).unwrap();
    let changed: Vec<_> = rib
        .take_fib_changes()
        .into_iter()
        .map(|c| (c.prefix, c.next_hops))
        .collect();
    // P is now through client 3; the other two prefixes are gone.
    assert_eq!(
        changed,
        vec![
            (
                Prefix::V4(pfx(P)),
                Some(vec![NextHop::V4(Ipv4Addr::new(198, 18, 0, 3))])
            ),
            (Prefix::V4(pfx("198.19.2.0/24")), None),
            (Prefix::V4(pfx("198.19.3.0/24")), None),
        ]
    );
    assert_eq!(rib.loc_rib().len(), 1);
    let peers: Vec<PeerId> = rib
        .loc_rib()
        .get(&Prefix::V4(pfx(P)))
        .unwrap()
        .paths()
        .iter()
        .map(|p| p.peer)
        .collect();
    assert_eq!(peers, vec![PeerId(3), PeerId(4)]);
}
