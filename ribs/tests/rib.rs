//! The RIB pipeline end to end: UPDATEs in, best paths, FIB changes and
//! UPDATEs out. Loop detection (RFC 4271 §9.1.2, RFC 4456 §8), iBGP and
//! route reflection rules (RFC 4271 §9.2, RFC 4456 §6, §8), eBGP export
//! (RFC 4271 §5.1), RFC 8212 defaults, ECMP, interning.

use std::net::{IpAddr, Ipv4Addr};

use bgp::wire::{
    AsPath, AttributeValue, Context, Ipv4Prefix, Message, Nlri, PathAttribute, Update,
};
use ribs::decision::DecisionConfig;
use ribs::policy::{Disposition, Policy, Term};
use ribs::rib::{AllReachable, FibChange, MaxPrefix, PeerConfig, Rib, RibConfig};
use ribs::{NextHop, PathAttrs, PeerId, PeerInfo, PeerKind, Prefix};

const LOCAL_AS: u32 = 65000;

fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 255, n)
}

fn rib() -> Rib {
    rib_with(DecisionConfig::default())
}

fn rib_with(decision: DecisionConfig) -> Rib {
    Rib::new(
        RibConfig {
            local_asn: LOCAL_AS,
            router_id: rid(1),
            cluster_id: None,
            decision,
        },
        Box::new(AllReachable),
    )
}

fn accept_all() -> Option<Policy> {
    Some(Policy {
        name: "all".into(),
        terms: vec![Term {
            name: "all".into(),
            matches: vec![],
            actions: vec![],
            disposition: Disposition::Accept,
        }],
        default_action: Disposition::Reject,
    })
}

/// A peer `n` at 198.18.0.n; eBGP peers get accept-all policies.
fn peer(n: u8, asn: u32, rr_client: bool) -> PeerConfig {
    let kind = if asn == LOCAL_AS {
        PeerKind::Ibgp
    } else {
        PeerKind::Ebgp
    };
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(u32::from(n)),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            asn,
            router_id: rid(n),
            kind,
            rr_client,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    if kind == PeerKind::Ebgp {
        c.import = accept_all();
        c.export = accept_all();
    }
    c
}

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// An UPDATE announcing `prefixes` with AS_PATH `path` and NEXT_HOP `nh`,
/// plus `extra` attributes.
fn announce(prefixes: &[&str], path: &[u32], nh: [u8; 4], extra: Vec<AttributeValue>) -> Update {
    let mut attrs = vec![
        PathAttribute::new(AttributeValue::Origin(bgp::wire::Origin::Igp)),
        PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(path.to_vec()))),
        PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::from(nh))),
    ];
    attrs.extend(extra.into_iter().map(PathAttribute::new));
    Update {
        path_attributes: attrs,
        nlri: prefixes.iter().map(|s| Nlri::new(p(s))).collect(),
        ..Update::default()
    }
}

fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn_routes: prefixes.iter().map(|s| Nlri::new(p(s))).collect(),
        ..Update::default()
    }
}

fn ctx() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// Every (prefix, attributes) a peer was sent, from the packed UPDATEs.
fn sent(rib: &mut Rib, to: u8) -> Vec<(Prefix, Option<PathAttrs>)> {
    let mut out = Vec::new();
    for u in rib.take_updates(PeerId(u32::from(to)), &ctx()).unwrap() {
        // Every UPDATE encodes within the limits.
        let bytes = Message::Update(u.clone()).to_bytes(&ctx()).unwrap();
        assert!(bytes.len() <= 4096);
        for n in &u.withdrawn_routes {
            out.push((Prefix::V4(n.prefix), None));
        }
        if !u.nlri.is_empty() {
            let nh = u
                .path_attributes
                .iter()
                .find_map(|a| match a.value {
                    AttributeValue::NextHop(nh) => Some(NextHop::V4(nh)),
                    _ => None,
                })
                .unwrap();
            let a = PathAttrs::from_wire(&u.path_attributes, nh, true);
            for n in &u.nlri {
                out.push((Prefix::V4(n.prefix), Some(a.clone())));
            }
        }
    }
    out
}

#[test]
fn ebgp_route_is_installed_and_exported_with_our_as_and_next_hop() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    let u = announce(
        &["198.19.0.0/24"],
        &[65002, 65100],
        [198, 18, 0, 2],
        vec![AttributeValue::MultiExitDisc(50)],
    );
    let out = r.apply_update(PeerId(2), &u, true).unwrap();
    assert_eq!(out.accepted, 1);
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: Prefix::V4(p("198.19.0.0/24")),
            next_hops: Some(vec![NextHop::V4(Ipv4Addr::new(198, 18, 0, 2))]),
        }]
    );
    let to3 = sent(&mut r, 3);
    assert_eq!(to3.len(), 1);
    let a = to3[0].1.as_ref().unwrap();
    assert_eq!(a.as_path, AsPath::sequence(vec![LOCAL_AS, 65002, 65100]));
    assert_eq!(a.next_hop, NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)));
    assert_eq!(
        a.med, None,
        "MED is not passed to another AS (RFC 4271 §5.1.4)"
    );
    assert_eq!(a.local_pref, None);
    assert!(sent(&mut r, 2).is_empty(), "not sent back to its source");
}

#[test]
fn rfc8212_ebgp_without_policy_neither_accepts_nor_sends() {
    let mut r = rib();
    let mut strict = peer(2, 65002, false);
    strict.import = None;
    strict.export = None;
    r.add_peer(strict).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    let out = r
        .apply_update(
            PeerId(2),
            &announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]),
            true,
        )
        .unwrap();
    assert_eq!((out.accepted, out.rejected_policy), (0, 1));
    assert!(r.loc_rib().is_empty());
    // A route from peer 3 is not sent to peer 2, which has no export policy.
    r.apply_update(
        PeerId(3),
        &announce(&["198.19.1.0/24"], &[65003], [198, 18, 0, 3], vec![]),
        true,
    )
    .unwrap();
    assert_eq!(r.loc_rib().len(), 1);
    assert!(sent(&mut r, 2).is_empty());
}

#[test]
fn ebgp_loop_detection_and_allowas_in() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    let looped = announce(
        &["198.19.0.0/24"],
        &[65002, LOCAL_AS, 65100],
        [198, 18, 0, 2],
        vec![],
    );
    let out = r.apply_update(PeerId(2), &looped, true).unwrap();
    assert_eq!(out.rejected_loop, 1);
    assert!(r.loc_rib().is_empty());
    let mut c = peer(2, 65002, false);
    c.allowas_in = 1;
    r.add_peer(c).unwrap();
    assert_eq!(
        r.apply_update(PeerId(2), &looped, true).unwrap().accepted,
        1
    );
    let twice = announce(
        &["198.19.0.0/24"],
        &[65002, LOCAL_AS, LOCAL_AS],
        [198, 18, 0, 2],
        vec![],
    );
    assert_eq!(
        r.apply_update(PeerId(2), &twice, true)
            .unwrap()
            .rejected_loop,
        1
    );
    assert!(
        r.loc_rib().is_empty(),
        "the looped replacement withdraws the earlier route"
    );
}

#[test]
fn route_reflection_loop_detection() {
    let mut r = rib();
    r.add_peer(peer(2, LOCAL_AS, true)).unwrap();
    let own_originator = announce(
        &["198.19.0.0/24"],
        &[],
        [198, 18, 0, 2],
        vec![AttributeValue::OriginatorId(rid(1))],
    );
    assert_eq!(
        r.apply_update(PeerId(2), &own_originator, true)
            .unwrap()
            .rejected_loop,
        1
    );
    let own_cluster = announce(
        &["198.19.0.0/24"],
        &[],
        [198, 18, 0, 2],
        vec![AttributeValue::ClusterList(vec![rid(9), rid(1)])],
    );
    assert_eq!(
        r.apply_update(PeerId(2), &own_cluster, true)
            .unwrap()
            .rejected_loop,
        1
    );
    assert!(r.loc_rib().is_empty());
}

#[test]
fn ibgp_routes_are_not_passed_between_ibgp_peers_without_reflection() {
    let mut r = rib();
    r.add_peer(peer(2, LOCAL_AS, false)).unwrap();
    r.add_peer(peer(3, LOCAL_AS, false)).unwrap();
    r.add_peer(peer(4, 65004, false)).unwrap();
    for n in [2, 3, 4] {
        r.peer_up(PeerId(n)).unwrap();
    }
    let u = announce(
        &["198.19.0.0/24"],
        &[65100],
        [198, 18, 0, 2],
        vec![AttributeValue::LocalPref(200)],
    );
    r.apply_update(PeerId(2), &u, true).unwrap();
    assert!(
        sent(&mut r, 3).is_empty(),
        "RFC 4271 §9.2: not to another iBGP peer"
    );
    assert_eq!(sent(&mut r, 4).len(), 1, "but to eBGP peers");
}

#[test]
fn route_reflector_reflects_with_originator_id_and_cluster_list() {
    let mut r = rib();
    r.add_peer(peer(2, LOCAL_AS, true)).unwrap(); // client
    r.add_peer(peer(3, LOCAL_AS, true)).unwrap(); // client
    r.add_peer(peer(4, LOCAL_AS, false)).unwrap(); // non-client
    for n in [2, 3, 4] {
        r.peer_up(PeerId(n)).unwrap();
    }
    // From a client: to the other client and to the non-client.
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/24"],
            &[],
            [198, 18, 0, 2],
            vec![AttributeValue::LocalPref(100)],
        ),
        true,
    )
    .unwrap();
    for to in [3, 4] {
        let s = sent(&mut r, to);
        assert_eq!(s.len(), 1, "to {to}");
        let a = s[0].1.as_ref().unwrap();
        assert_eq!(a.originator_id, Some(rid(2)));
        assert_eq!(a.cluster_list, vec![rid(1)]);
        assert_eq!(
            a.next_hop,
            NextHop::V4(Ipv4Addr::new(198, 18, 0, 2)),
            "iBGP keeps the next hop"
        );
        assert_eq!(a.as_path, AsPath::default(), "no AS added within the AS");
    }
    // From the non-client: to clients only.
    r.apply_update(
        PeerId(4),
        &announce(
            &["198.19.1.0/24"],
            &[],
            [198, 18, 0, 4],
            vec![AttributeValue::LocalPref(100)],
        ),
        true,
    )
    .unwrap();
    assert_eq!(sent(&mut r, 2).len(), 1);
    assert_eq!(sent(&mut r, 3).len(), 1);
    assert!(sent(&mut r, 4).is_empty());
}

#[test]
fn ecmp_two_top_of_rack_routers_then_one() {
    let mut r = rib_with(DecisionConfig {
        max_paths_ebgp: 4,
        ..DecisionConfig::default()
    });
    r.add_peer(peer(2, 65100, false)).unwrap();
    r.add_peer(peer(3, 65100, false)).unwrap();
    let pfx = Prefix::V4(p("198.19.0.0/24"));
    r.apply_update(
        PeerId(2),
        &announce(&["198.19.0.0/24"], &[65100, 65200], [198, 18, 0, 2], vec![]),
        true,
    )
    .unwrap();
    r.apply_update(
        PeerId(3),
        &announce(&["198.19.0.0/24"], &[65100, 65200], [198, 18, 0, 3], vec![]),
        true,
    )
    .unwrap();
    let nh = |n| NextHop::V4(Ipv4Addr::new(198, 18, 0, n));
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: pfx,
            next_hops: Some(vec![nh(2), nh(3)])
        }]
    );
    r.peer_down(PeerId(3)).unwrap();
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: pfx,
            next_hops: Some(vec![nh(2)])
        }]
    );
    r.apply_update(PeerId(2), &withdraw(&["198.19.0.0/24"]), true)
        .unwrap();
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: pfx,
            next_hops: None
        }]
    );
    assert_eq!(
        r.attribute_sets(),
        0,
        "attribute sets are freed with their last route"
    );
}

#[test]
fn treat_as_withdraw_removes_the_routes() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]),
        true,
    )
    .unwrap();
    let mut bad = announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]);
    // Decoding found a malformed attribute: RFC 7606 treat-as-withdraw.
    let bytes = Message::Update(bad.clone()).to_bytes(&ctx()).unwrap();
    let mut raw = bytes.to_vec();
    let origin_value = 19 + 2 + 2 + 3; // flags, type, length of ORIGIN, then its value
    raw[origin_value] = 7; // ORIGIN 7 is invalid
    let Message::Update(decoded) = bgp::wire::decode_message(&raw, &ctx()).unwrap() else {
        panic!()
    };
    assert!(decoded.treat_as_withdraw());
    bad = decoded;
    let out = r.apply_update(PeerId(2), &bad, true).unwrap();
    assert_eq!((out.withdrawn, out.accepted), (1, 0));
    assert!(r.loc_rib().is_empty());
}

#[test]
fn soft_reconfiguration_inbound_applies_a_new_policy_without_the_peer() {
    let mut r = rib();
    let mut c = peer(2, 65002, false);
    c.soft_reconfiguration_inbound = true;
    r.add_peer(c.clone()).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/24", "198.19.1.0/24"],
            &[65002],
            [198, 18, 0, 2],
            vec![],
        ),
        true,
    )
    .unwrap();
    assert_eq!(r.loc_rib().len(), 2);
    c.import = Some(Policy {
        name: "lp".into(),
        terms: vec![Term {
            name: "set".into(),
            matches: vec![],
            actions: vec![ribs::policy::Action::SetLocalPref(300)],
            disposition: Disposition::Accept,
        }],
        default_action: Disposition::Reject,
    });
    r.add_peer(c).unwrap();
    assert!(r.reapply_import(PeerId(2)).unwrap());
    let (best, _) = r.best(&Prefix::V4(p("198.19.1.0/24"))).unwrap();
    assert_eq!(best.attrs.local_pref, Some(300));
}

#[test]
fn max_prefix_is_reported() {
    let mut r = rib();
    let mut c = peer(2, 65002, false);
    c.max_prefix = Some(MaxPrefix {
        limit: 2,
        warn_only: false,
    });
    r.add_peer(c).unwrap();
    let out = r
        .apply_update(
            PeerId(2),
            &announce(
                &["198.19.0.0/24", "198.19.1.0/24"],
                &[65002],
                [198, 18, 0, 2],
                vec![],
            ),
            true,
        )
        .unwrap();
    assert_eq!(out.max_prefix_exceeded, None);
    let out = r
        .apply_update(
            PeerId(2),
            &announce(&["198.19.2.0/24"], &[65002], [198, 18, 0, 2], vec![]),
            true,
        )
        .unwrap();
    assert_eq!(
        out.max_prefix_exceeded,
        Some(MaxPrefix {
            limit: 2,
            warn_only: false
        })
    );
    assert_eq!(r.accepted(PeerId(2)), Some(3));
}

#[test]
fn originated_routes_are_exported_with_next_hop_self_and_not_installed() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, LOCAL_AS, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.originate(Prefix::V4(p("198.18.128.0/24")), PathAttrs::local());
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: Prefix::V4(p("198.18.128.0/24")),
            next_hops: None
        }]
    );
    let e = sent(&mut r, 2);
    let a = e[0].1.as_ref().unwrap();
    assert_eq!(a.as_path, AsPath::sequence(vec![LOCAL_AS]));
    assert_eq!(a.next_hop, NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)));
    let i = sent(&mut r, 3);
    let a = i[0].1.as_ref().unwrap();
    assert_eq!(a.local_pref, Some(100));
    assert_eq!(a.next_hop, NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)));
    assert!(r.withdraw_originated(Prefix::V4(p("198.18.128.0/24"))));
    assert_eq!(
        sent(&mut r, 2),
        vec![(Prefix::V4(p("198.18.128.0/24")), None)]
    );
}

#[test]
fn explain_names_the_reason() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(&["198.19.0.0/24"], &[65002, 65100], [198, 18, 0, 2], vec![]),
        true,
    )
    .unwrap();
    r.apply_update(
        PeerId(3),
        &announce(&["198.19.0.0/24"], &[65003], [198, 18, 0, 3], vec![]),
        true,
    )
    .unwrap();
    let e = r.explain(&Prefix::V4(p("198.19.0.0/24")));
    assert_eq!(e.len(), 2);
    assert!(e[1].best && !e[0].best);
    let (to, reason) = e[0].lost.unwrap();
    assert_eq!(to, 1);
    assert_eq!(
        reason,
        ribs::decision::Reason::AsPathLength {
            loser: 2,
            winner: 1
        }
    );
    assert!(!reason.to_string().is_empty());
}

#[test]
fn a_new_peer_gets_the_whole_table_then_the_changes() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/24", "198.19.1.0/24", "198.19.2.0/24"],
            &[65002],
            [198, 18, 0, 2],
            vec![],
        ),
        true,
    )
    .unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    let mut table: Vec<Prefix> = sent(&mut r, 3).into_iter().map(|(p, _)| p).collect();
    table.sort();
    assert_eq!(
        table,
        vec![
            Prefix::V4(p("198.19.0.0/24")),
            Prefix::V4(p("198.19.1.0/24")),
            Prefix::V4(p("198.19.2.0/24"))
        ]
    );
    r.apply_update(PeerId(2), &withdraw(&["198.19.1.0/24"]), true)
        .unwrap();
    assert_eq!(
        sent(&mut r, 3),
        vec![(Prefix::V4(p("198.19.1.0/24")), None)]
    );
    // Going down and up again sends the table again, from scratch.
    r.peer_down(PeerId(3)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    assert_eq!(sent(&mut r, 3).len(), 2);
}

#[test]
fn queries_adj_rib_in_out_and_longest_match() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/16", "198.19.1.0/24"],
            &[65002],
            [198, 18, 0, 2],
            vec![],
        ),
        true,
    )
    .unwrap();
    let mut adj_in: Vec<Prefix> = r
        .adj_rib_in(PeerId(2))
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    adj_in.sort();
    assert_eq!(
        adj_in,
        vec![
            Prefix::V4(p("198.19.0.0/16")),
            Prefix::V4(p("198.19.1.0/24"))
        ]
    );
    assert!(r.adj_rib_in(PeerId(3)).unwrap().is_empty());
    assert_eq!(r.adj_rib_in_pre_policy(PeerId(2)).unwrap(), None);
    // Nothing is advertised until the UPDATEs are taken.
    assert_eq!(r.advertised(PeerId(3)), Some(0));
    sent(&mut r, 3);
    assert_eq!(r.advertised(PeerId(3)), Some(2));
    let out = r.adj_rib_out(PeerId(3)).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|(_, _, a)| a.as_path == AsPath::sequence(vec![LOCAL_AS, 65002])));
    let addr = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        r.longest_match(addr("198.19.1.7")),
        Some(Prefix::V4(p("198.19.1.0/24")))
    );
    assert_eq!(
        r.longest_match(addr("198.19.2.7")),
        Some(Prefix::V4(p("198.19.0.0/16")))
    );
    assert_eq!(r.longest_match(addr("198.18.2.7")), None);
    assert!(r.adj_rib_out(PeerId(9)).is_err());
}

#[test]
fn ipv6_routes_over_an_ipv4_session_use_our_ipv6_address() {
    use bgp::wire::{MpNextHop, MpNlri};
    use std::net::Ipv6Addr;
    let mut r = rib();
    let ours = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    let mut with_v6 = peer(3, 65003, false);
    with_v6.other_family_next_hop = Some(NextHop::V6 {
        global: ours,
        link_local: None,
    });
    r.add_peer(with_v6).unwrap();
    r.add_peer(peer(4, 65004, false)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.peer_up(PeerId(4)).unwrap();
    let v6: bgp::wire::Ipv6Prefix = "fd00:10::/48".parse().unwrap();
    r.originate(Prefix::V6(v6), PathAttrs::local());
    let to3 = r.take_updates(PeerId(3), &ctx()).unwrap();
    assert_eq!(to3.len(), 1);
    let mp = to3[0].mp_reach().expect("MP_REACH_NLRI");
    assert_eq!(
        mp.next_hop,
        MpNextHop::Ipv6 {
            global: ours,
            link_local: None
        }
    );
    assert_eq!(mp.nlri, MpNlri::Ipv6Unicast(vec![Nlri::new(v6)]));
    assert!(
        r.take_updates(PeerId(4), &ctx()).unwrap().is_empty(),
        "no IPv6 address of ours towards peer 4: not sent"
    );
}

#[test]
fn only_negotiated_families_are_sent() {
    use bgp::wire::Family;
    use ribs::rib::Families;
    let v4 = Family::IPV4_UNICAST;
    let v6 = Family::IPV6_UNICAST;
    // RFC 4760 §8: both sides must list the family.
    assert_eq!(
        Families::negotiated(&[v4, v6], &[v6], true),
        Families {
            ipv4: false,
            ipv6: true
        }
    );
    // A peer without Multiprotocol capabilities carries IPv4 unicast only.
    assert_eq!(
        Families::negotiated(&[v4, v6], &[], false),
        Families {
            ipv4: true,
            ipv6: false
        }
    );
    let mut r = rib();
    let mut v6_only = peer(3, 65003, false);
    v6_only.families = Families {
        ipv4: false,
        ipv6: true,
    };
    r.add_peer(v6_only).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.originate(Prefix::V4(p("198.19.7.0/24")), PathAttrs::local());
    assert!(
        r.take_updates(PeerId(3), &ctx()).unwrap().is_empty(),
        "no IPv4 NLRI on an IPv6-only session"
    );
}

#[test]
fn a_peer_whose_route_becomes_best_gets_the_old_one_withdrawn() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/24"],
            &[65002, 65100, 65101],
            [198, 18, 0, 2],
            vec![],
        ),
        true,
    )
    .unwrap();
    assert_eq!(sent(&mut r, 3).len(), 1, "peer 2's route told to peer 3");
    assert!(sent(&mut r, 2).is_empty(), "nothing back to its source");
    // Peer 3's shorter path wins: peer 3 must hear the old route withdrawn,
    // peer 2 must hear the new one.
    r.apply_update(
        PeerId(3),
        &announce(&["198.19.0.0/24"], &[65003], [198, 18, 0, 3], vec![]),
        true,
    )
    .unwrap();
    assert_eq!(
        sent(&mut r, 3),
        vec![(Prefix::V4(p("198.19.0.0/24")), None)]
    );
    let to2 = sent(&mut r, 2);
    assert_eq!(to2.len(), 1);
    assert_eq!(
        to2[0].1.as_ref().unwrap().as_path,
        AsPath::sequence(vec![LOCAL_AS, 65003])
    );
    // A third path from peer 2 that is worse changes nothing for anyone.
    r.apply_update(
        PeerId(2),
        &announce(
            &["198.19.0.0/24"],
            &[65002, 65100, 65101, 65102],
            [198, 18, 0, 2],
            vec![],
        ),
        true,
    )
    .unwrap();
    assert!(sent(&mut r, 2).is_empty() && sent(&mut r, 3).is_empty());
}

#[test]
fn fib_changes_are_not_kept_when_nobody_takes_them() {
    let mut r = rib();
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.keep_fib_changes(false);
    let u = announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]);
    r.apply_update(PeerId(2), &u, true).unwrap();
    assert_eq!(r.take_fib_changes(), vec![]);
    // Export does not depend on it.
    let to3 = sent(&mut r, 3);
    assert_eq!(to3.len(), 1);
    assert_eq!(to3[0].0, Prefix::V4(p("198.19.0.0/24")));
    // Nor a withdrawal's, nor a new best path's.
    r.apply_update(PeerId(2), &withdraw(&["198.19.0.0/24"]), true)
        .unwrap();
    assert_eq!(
        sent(&mut r, 3),
        vec![(Prefix::V4(p("198.19.0.0/24")), None)]
    );
    let u = announce(&["198.19.0.0/24"], &[65002, 65010], [198, 18, 0, 2], vec![]);
    r.apply_update(PeerId(2), &u, true).unwrap();
    let u = announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]);
    r.apply_update(PeerId(2), &u, true).unwrap();
    let to3 = sent(&mut r, 3);
    assert_eq!(to3.len(), 1);
    let path = to3[0].1.as_ref().map(|a| a.as_path.clone());
    assert_eq!(path, Some(AsPath::sequence(vec![65000, 65002])));
    assert_eq!(r.take_fib_changes(), vec![]);
    // Turned back on, the next change is recorded.
    r.keep_fib_changes(true);
    let u = announce(&["198.19.1.0/24"], &[65002], [198, 18, 0, 2], vec![]);
    r.apply_update(PeerId(2), &u, true).unwrap();
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: Prefix::V4(p("198.19.1.0/24")),
            next_hops: Some(vec![NextHop::V4(Ipv4Addr::new(198, 18, 0, 2))]),
        }]
    );
}

/// A resolver whose unreachable next hops the test changes.
#[derive(Debug, Default, Clone)]
struct Switchable(std::sync::Arc<std::sync::Mutex<Vec<NextHop>>>);

impl ribs::rib::NextHopResolver for Switchable {
    fn resolve(&self, nh: &NextHop) -> ribs::decision::Reachability {
        if self.0.lock().unwrap().contains(nh) {
            ribs::decision::Reachability::Unreachable
        } else {
            ribs::decision::Reachability::Reachable { igp_cost: None }
        }
    }
}

#[test]
fn a_single_path_with_an_unreachable_next_hop_is_kept_but_never_best() {
    let down = Switchable::default();
    let nh = |n| NextHop::V4(Ipv4Addr::new(198, 18, 0, n));
    down.0.lock().unwrap().push(nh(2));
    let mut r = Rib::new(
        RibConfig {
            local_asn: LOCAL_AS,
            router_id: rid(1),
            cluster_id: None,
            decision: DecisionConfig::default(),
        },
        Box::new(down.clone()),
    );
    r.add_peer(peer(2, 65002, false)).unwrap();
    r.add_peer(peer(3, 65003, false)).unwrap();
    r.add_peer(peer(4, 65004, false)).unwrap();
    r.peer_up(PeerId(4)).unwrap();
    let pfx = Prefix::V4(p("198.19.0.0/24"));
    // Out of the FIB and withdrawn from peer 4.
    let assert_withdrawn = |r: &mut Rib, pfx: Prefix| {
        let gone = FibChange {
            prefix: pfx,
            next_hops: None,
        };
        assert_eq!(r.take_fib_changes(), vec![gone]);
        assert_eq!(sent(r, 4), vec![(pfx, None)]);
    };
    let u2 = announce(&["198.19.0.0/24"], &[65002], [198, 18, 0, 2], vec![]);
    assert_eq!(r.apply_update(PeerId(2), &u2, true).unwrap().accepted, 1);
    assert!(r.best(&pfx).is_none(), "unreachable: not eligible");
    assert_eq!(r.take_fib_changes(), vec![]);
    assert!(sent(&mut r, 4).is_empty());
    assert_eq!(r.explain(&pfx).len(), 1, "the path is kept");
    // A reachable second path wins; losing it leaves the first, still not
    // eligible.
    let u3 = announce(&["198.19.0.0/24"], &[65003], [198, 18, 0, 3], vec![]);
    r.apply_update(PeerId(3), &u3, true).unwrap();
    assert_eq!(r.best(&pfx).unwrap().0.peer, PeerId(3));
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: pfx,
            next_hops: Some(vec![nh(3)])
        }]
    );
    assert_eq!(sent(&mut r, 4).len(), 1);
    r.apply_update(PeerId(3), &withdraw(&["198.19.0.0/24"]), true)
        .unwrap();
    assert!(r.best(&pfx).is_none());
    assert_withdrawn(&mut r, pfx);
    // The next hop becomes reachable: the path is best, installed, sent.
    down.0.lock().unwrap().clear();
    r.revalidate();
    assert_eq!(r.best(&pfx).unwrap().0.peer, PeerId(2));
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: pfx,
            next_hops: Some(vec![nh(2)])
        }]
    );
    let to4 = sent(&mut r, 4);
    assert_eq!(to4.len(), 1);
    assert_eq!(to4[0].0, pfx);
    assert!(to4[0].1.is_some());
    // And unreachable again: withdrawn everywhere, the path still kept.
    down.0.lock().unwrap().push(nh(2));
    r.revalidate();
    assert!(r.best(&pfx).is_none());
    assert_withdrawn(&mut r, pfx);
    assert_eq!(r.explain(&pfx).len(), 1);
    // Withdrawn: the destination goes.
    r.apply_update(PeerId(2), &withdraw(&["198.19.0.0/24"]), true)
        .unwrap();
    assert!(r.explain(&pfx).is_empty());
    assert_eq!(r.take_fib_changes(), vec![]);
}

/// An UPDATE given up to the RIB (`apply_update_owned`, the agent's way:
/// the attributes move in) is applied exactly as one lent to it: same
/// outcomes, same best paths with the same attributes, same FIB changes.
/// Covered: IPv4 NLRI and IPv6 MP_REACH_NLRI in one UPDATE (one attribute
/// list, two next hops), communities, an unknown optional transitive
/// attribute, AS4_PATH folded into AS_PATH on a 2-octet-AS session
/// (RFC 6793 §4.2.3), a withdrawal and a looped route.
#[test]
fn owned_and_lent_updates_are_applied_alike() {
    use bgp::wire::{Community, MpNextHop, MpNlri, MpReachNlri};
    let v6: Vec<bgp::wire::Nlri6> = ["fd00:1::/48", "fd00:2::/48"]
        .iter()
        .map(|s| Nlri::new(s.parse().unwrap()))
        .collect();
    let mut both = announce(
        &["198.19.0.0/24", "198.19.1.0/24"],
        &[65002, 23456],
        [198, 18, 0, 2],
        vec![
            AttributeValue::Communities(vec![Community(0xfde8_0001)]),
            AttributeValue::As4Path(AsPath::sequence(vec![65002, 4_200_000_001])),
            AttributeValue::MpReachNlri(MpReachNlri {
                next_hop: MpNextHop::Ipv6 {
                    global: "fd00::2".parse().unwrap(),
                    link_local: None,
                },
                nlri: MpNlri::Ipv6Unicast(v6),
            }),
        ],
    );
    both.path_attributes.push(PathAttribute {
        flags: 0xc0,
        value: AttributeValue::Unknown {
            type_code: 99,
            value: vec![7],
        },
    });
    let updates = [
        both,
        announce(&["198.19.2.0/24"], &[65002], [198, 18, 0, 2], vec![]),
        // Our own AS in the path: looped.
        announce(
            &["198.19.3.0/24"],
            &[65002, LOCAL_AS],
            [198, 18, 0, 2],
            vec![],
        ),
        withdraw(&["198.19.1.0/24"]),
    ];
    let setup = || {
        let mut r = rib();
        r.add_peer(peer(2, 65002, false)).unwrap();
        r.peer_up(PeerId(2)).unwrap();
        r
    };
    let (mut lent, mut owned) = (setup(), setup());
    for u in &updates {
        let a = lent.apply_update(PeerId(2), u, false).unwrap();
        let b = owned
            .apply_update_owned(PeerId(2), u.clone(), false)
            .unwrap();
        assert_eq!(a, b);
    }
    let prefixes: Vec<Prefix> = [
        "198.19.0.0/24",
        "198.19.1.0/24",
        "198.19.2.0/24",
        "198.19.3.0/24",
        "fd00:1::/48",
        "fd00:2::/48",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let installed = |r: &Rib| -> Vec<Option<(PathAttrs, Vec<NextHop>)>> {
        prefixes
            .iter()
            .map(|p| r.best(p).map(|(path, nh)| ((*path.attrs).clone(), nh)))
            .collect()
    };
    let got = installed(&owned);
    assert_eq!(got, installed(&lent));
    assert_eq!(got.iter().filter(|b| b.is_some()).count(), 4, "{got:?}");
    let first = got[0].as_ref().unwrap();
    assert_eq!(
        first.0.as_path,
        AsPath::sequence(vec![65002, 4_200_000_001]),
        "AS4_PATH folded in"
    );
    assert_eq!(first.0.unknown.len(), 1);
    assert_eq!(owned.take_fib_changes(), lent.take_fib_changes());
}
