//! Import/export policy: matches, prefix-list ranges, actions, term order
//! and the RFC 8212 default.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{AsPath, AsSegment, Community, Family, LargeCommunity, SegmentType};
use ribs::policy::{
    apply, Action, Direction, Disposition, Match, Policy, PolicyVerdict, PrefixList,
    PrefixListEntry, RouteContext, Term,
};
use ribs::{NextHop, PathAttrs, PeerId, PeerInfo, PeerKind, Prefix};

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn peer(kind: PeerKind) -> PeerInfo {
    PeerInfo {
        id: PeerId(7),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        asn: 65001,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        kind,
        rr_client: false,
    }
}

fn lc(a: u32, b: u32, c: u32) -> LargeCommunity {
    LargeCommunity {
        global_admin: a,
        local_data_1: b,
        local_data_2: c,
    }
}

fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
    AsSegment {
        kind,
        asns: asns.to_vec(),
    }
}

/// A route from 192.0.2.1 (AS 65001), path 65001 65002 65003, next hop
/// 192.0.2.1, community 65001:100, large community 65001:1:2.
fn attrs() -> PathAttrs {
    PathAttrs {
        as_path: AsPath::sequence(vec![65001, 65002, 65003]),
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
        communities: vec![Community::new(65001, 100)],
        large_communities: vec![lc(65001, 1, 2)],
        ..PathAttrs::local()
    }
}

fn matches(m: Match, prefix: &str, source: &PeerInfo, a: &PathAttrs) -> bool {
    let ctx = RouteContext {
        prefix: p(prefix),
        source,
    };
    m.matches(&ctx, a)
}

fn term(matches: Vec<Match>, actions: Vec<Action>, disposition: Disposition) -> Term {
    Term {
        name: "t".into(),
        matches,
        actions,
        disposition,
    }
}

fn policy(terms: Vec<Term>, default_action: Disposition) -> Policy {
    Policy {
        name: "p".into(),
        terms,
        default_action,
    }
}

/// Evaluate `pol` on a clone of `a` for 10.1.0.0/16 from an eBGP peer.
fn run(pol: &Policy, a: &PathAttrs) -> (PolicyVerdict, PathAttrs) {
    let src = peer(PeerKind::Ebgp);
    let ctx = RouteContext {
        prefix: p("10.1.0.0/16"),
        source: &src,
    };
    let mut out = a.clone();
    let v = apply(Some(pol), PeerKind::Ebgp, &ctx, &mut out);
    (v, out)
}

// ---- matches ----

#[test]
fn match_prefix() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let list = PrefixList::new(vec![
        PrefixListEntry::exact(p("192.168.0.0/16")),
        PrefixListEntry::range(p("10.0.0.0/8"), None, Some(16)),
    ]);
    assert!(matches(
        Match::Prefix(list.clone()),
        "10.1.0.0/16",
        &src,
        &a
    ));
    assert!(matches(
        Match::Prefix(list.clone()),
        "192.168.0.0/16",
        &src,
        &a
    ));
    assert!(!matches(
        Match::Prefix(list.clone()),
        "10.1.1.0/24",
        &src,
        &a
    ));
    assert!(!matches(Match::Prefix(list), "172.16.0.0/16", &src, &a));
    assert!(!matches(
        Match::Prefix(PrefixList::default()),
        "10.1.0.0/16",
        &src,
        &a
    ));
}

#[test]
fn match_community() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let m = |c| Match::Community(c);
    assert!(matches(
        m(Community::new(65001, 100)),
        "10.0.0.0/8",
        &src,
        &a
    ));
    assert!(!matches(
        m(Community::new(65001, 101)),
        "10.0.0.0/8",
        &src,
        &a
    ));
    assert!(!matches(m(Community::NO_EXPORT), "10.0.0.0/8", &src, &a));
}

#[test]
fn match_large_community() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let m = |c| Match::LargeCommunity(c);
    assert!(matches(m(lc(65001, 1, 2)), "10.0.0.0/8", &src, &a));
    assert!(!matches(m(lc(65001, 2, 1)), "10.0.0.0/8", &src, &a));
}

#[test]
fn match_as_path() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let pfx = "10.0.0.0/8";
    assert!(matches(Match::AsPathContains(65002), pfx, &src, &a));
    assert!(!matches(Match::AsPathContains(65004), pfx, &src, &a));
    assert!(matches(Match::AsPathOriginatedBy(65003), pfx, &src, &a));
    assert!(!matches(Match::AsPathOriginatedBy(65001), pfx, &src, &a));
    assert!(matches(Match::AsPathNeighbor(65001), pfx, &src, &a));
    assert!(!matches(Match::AsPathNeighbor(65003), pfx, &src, &a));

    // A path ending in an AS_SET has no origin AS; ASes in the set still
    // count for "contains".
    let mut set = attrs();
    set.as_path
        .segments
        .push(seg(SegmentType::AsSet, &[65010, 65011]));
    assert!(!matches(Match::AsPathOriginatedBy(65011), pfx, &src, &set));
    assert!(!matches(Match::AsPathOriginatedBy(65003), pfx, &src, &set));
    assert!(matches(Match::AsPathContains(65011), pfx, &src, &set));

    // An empty path has neither neighbour nor origin.
    let local = PathAttrs::local();
    assert!(!matches(Match::AsPathNeighbor(65001), pfx, &src, &local));
    assert!(!matches(
        Match::AsPathOriginatedBy(65001),
        pfx,
        &src,
        &local
    ));
    assert!(!matches(Match::AsPathContains(65001), pfx, &src, &local));
}

#[test]
fn match_next_hop() {
    let src = peer(PeerKind::Ebgp);
    let pfx = "10.0.0.0/8";
    let a = attrs();
    assert!(matches(Match::NextHop(p("192.0.2.0/24")), pfx, &src, &a));
    assert!(matches(Match::NextHop(p("192.0.2.1/32")), pfx, &src, &a));
    assert!(!matches(
        Match::NextHop(p("198.51.100.0/24")),
        pfx,
        &src,
        &a
    ));
    assert!(!matches(Match::NextHop(p("2001:db8::/32")), pfx, &src, &a));

    let v6 = PathAttrs {
        next_hop: NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        },
        ..attrs()
    };
    assert!(matches(Match::NextHop(p("2001:db8::/32")), pfx, &src, &v6));
    assert!(matches(Match::NextHop(p("fe80::/10")), pfx, &src, &v6));
    assert!(!matches(Match::NextHop(p("2001:db9::/32")), pfx, &src, &v6));
    assert!(!matches(Match::NextHop(p("0.0.0.0/0")), pfx, &src, &v6));

    // This router's own next hop matches no prefix, not even the default.
    let local = PathAttrs::local();
    assert!(!matches(Match::NextHop(p("0.0.0.0/0")), pfx, &src, &local));
    assert!(!matches(Match::NextHop(p("::/0")), pfx, &src, &local));
}

#[test]
fn match_source() {
    let a = attrs();
    let pfx = "10.0.0.0/8";
    let ebgp = peer(PeerKind::Ebgp);
    let ibgp = peer(PeerKind::Ibgp);
    let local = PeerInfo::local(65000, Ipv4Addr::new(10, 0, 0, 1));

    assert!(matches(Match::SourceKind(PeerKind::Ebgp), pfx, &ebgp, &a));
    assert!(!matches(Match::SourceKind(PeerKind::Ebgp), pfx, &ibgp, &a));
    assert!(matches(Match::SourceKind(PeerKind::Ibgp), pfx, &ibgp, &a));
    assert!(matches(Match::SourceKind(PeerKind::Local), pfx, &local, &a));
    assert!(!matches(Match::SourceKind(PeerKind::Local), pfx, &ebgp, &a));

    let addr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let other = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert!(matches(Match::SourcePeer(addr), pfx, &ebgp, &a));
    assert!(!matches(Match::SourcePeer(other), pfx, &ebgp, &a));

    assert!(matches(Match::SourceAsn(65001), pfx, &ebgp, &a));
    assert!(!matches(Match::SourceAsn(65000), pfx, &ebgp, &a));
    assert!(matches(Match::SourceAsn(65000), pfx, &local, &a));
}

#[test]
fn match_family() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let v4 = Match::Family(Family::IPV4_UNICAST);
    let v6 = Match::Family(Family::IPV6_UNICAST);
    assert!(matches(v4.clone(), "10.0.0.0/8", &src, &a));
    assert!(!matches(v4, "2001:db8::/32", &src, &a));
    assert!(matches(v6.clone(), "2001:db8::/32", &src, &a));
    assert!(!matches(v6, "10.0.0.0/8", &src, &a));
}

#[test]
fn matches_are_anded_and_empty_matches_all() {
    let src = peer(PeerKind::Ebgp);
    let a = attrs();
    let ctx = RouteContext {
        prefix: p("10.0.0.0/8"),
        source: &src,
    };
    let t = |m| term(m, vec![], Disposition::Accept);
    assert!(t(vec![]).matches(&ctx, &a));
    assert!(t(vec![Match::SourceAsn(65001), Match::AsPathNeighbor(65001)]).matches(&ctx, &a));
    assert!(!t(vec![Match::SourceAsn(65001), Match::AsPathNeighbor(65002)]).matches(&ctx, &a));
    assert!(!t(vec![Match::SourceAsn(65002), Match::AsPathNeighbor(65001)]).matches(&ctx, &a));
}

// ---- prefix-list ranges ----

#[test]
fn prefix_list_ge_le_table() {
    let e = |pfx: &str, ge, le| PrefixListEntry::range(p(pfx), ge, le);
    // (entry, route, expected)
    let cases = [
        // Exact: no ge/le.
        (e("10.0.0.0/8", None, None), "10.0.0.0/8", true),
        (e("10.0.0.0/8", None, None), "10.1.0.0/16", false),
        (e("10.0.0.0/8", None, None), "11.0.0.0/8", false),
        (e("10.0.0.0/8", None, None), "0.0.0.0/0", false),
        // ge only: [ge, 32].
        (e("10.0.0.0/8", Some(16), None), "10.0.0.0/8", false),
        (e("10.0.0.0/8", Some(16), None), "10.1.0.0/15", false),
        (e("10.0.0.0/8", Some(16), None), "10.1.0.0/16", true),
        (e("10.0.0.0/8", Some(16), None), "10.1.2.3/32", true),
        (e("10.0.0.0/8", Some(16), None), "11.1.0.0/16", false),
        // le only: [entry length, le].
        (e("10.0.0.0/8", None, Some(24)), "10.0.0.0/8", true),
        (e("10.0.0.0/8", None, Some(24)), "10.1.2.0/24", true),
        (e("10.0.0.0/8", None, Some(24)), "10.1.2.0/25", false),
        (e("10.0.0.0/8", None, Some(24)), "10.0.0.0/7", false),
        // Both: [ge, le].
        (e("10.0.0.0/8", Some(16), Some(24)), "10.0.0.0/8", false),
        (e("10.0.0.0/8", Some(16), Some(24)), "10.1.0.0/16", true),
        (e("10.0.0.0/8", Some(16), Some(24)), "10.1.2.0/20", true),
        (e("10.0.0.0/8", Some(16), Some(24)), "10.1.2.0/24", true),
        (e("10.0.0.0/8", Some(16), Some(24)), "10.1.2.0/25", false),
        (e("10.0.0.0/8", Some(16), Some(24)), "172.16.0.0/16", false),
        // Empty range.
        (e("10.0.0.0/8", Some(24), Some(16)), "10.1.0.0/16", false),
        (e("10.0.0.0/8", Some(24), Some(16)), "10.1.2.0/24", false),
        // ge below the entry length acts as the entry length.
        (e("10.0.0.0/8", Some(4), Some(8)), "10.0.0.0/8", true),
        (e("10.0.0.0/8", Some(4), Some(8)), "10.0.0.0/7", false),
        // Default route: exact, and "any" (le 32).
        (e("0.0.0.0/0", None, None), "0.0.0.0/0", true),
        (e("0.0.0.0/0", None, None), "10.0.0.0/8", false),
        (e("0.0.0.0/0", None, Some(32)), "10.1.2.3/32", true),
        (e("0.0.0.0/0", None, Some(32)), "2001:db8::/32", false),
        // IPv6: exact, ge (up to 128), le, both.
        (e("2001:db8::/32", None, None), "2001:db8::/32", true),
        (e("2001:db8::/32", None, None), "2001:db8::/48", false),
        (e("2001:db8::/32", Some(48), None), "2001:db8:1::/48", true),
        (e("2001:db8::/32", Some(48), None), "2001:db8::1/128", true),
        (e("2001:db8::/32", Some(48), None), "2001:db8::/47", false),
        (e("2001:db8::/32", None, Some(48)), "2001:db8::/32", true),
        (e("2001:db8::/32", None, Some(48)), "2001:db8:1::/48", true),
        (e("2001:db8::/32", None, Some(48)), "2001:db8:1::/64", false),
        (
            e("2001:db8::/32", Some(40), Some(48)),
            "2001:db8:100::/40",
            true,
        ),
        (
            e("2001:db8::/32", Some(40), Some(48)),
            "2001:db8::/36",
            false,
        ),
        (
            e("2001:db8::/32", Some(40), Some(48)),
            "2001:db9::/48",
            false,
        ),
        // Families never cross.
        (e("::/0", None, Some(128)), "10.0.0.0/8", false),
        (e("10.0.0.0/8", None, Some(32)), "::/0", false),
    ];
    for (entry, route, want) in cases {
        assert_eq!(entry.matches(&p(route)), want, "{entry} vs {route}");
    }
}

#[test]
fn prefix_list_length_range() {
    let e = |pfx: &str, ge, le| PrefixListEntry::range(p(pfx), ge, le).length_range();
    assert_eq!(e("10.0.0.0/8", None, None), (8, 8));
    assert_eq!(e("10.0.0.0/8", Some(16), None), (16, 32));
    assert_eq!(e("10.0.0.0/8", None, Some(24)), (8, 24));
    assert_eq!(e("10.0.0.0/8", Some(16), Some(24)), (16, 24));
    assert_eq!(e("2001:db8::/32", Some(48), None), (48, 128));
    assert_eq!(e("2001:db8::/32", None, None), (32, 32));
}

// ---- actions ----

fn act(a: Action, before: &PathAttrs) -> PathAttrs {
    let mut out = before.clone();
    a.apply(&mut out);
    out
}

#[test]
fn action_local_pref_and_med() {
    let a = attrs();
    assert_eq!(act(Action::SetLocalPref(200), &a).local_pref, Some(200));
    let med = act(Action::SetMed(50), &a);
    assert_eq!(med.med, Some(50));
    assert_eq!(act(Action::SetMed(7), &med).med, Some(7));
    assert_eq!(act(Action::RemoveMed, &med).med, None);
    assert_eq!(act(Action::RemoveMed, &a).med, None);
    // Nothing else changes.
    assert_eq!(
        act(Action::SetLocalPref(200), &a),
        PathAttrs {
            local_pref: Some(200),
            ..a
        }
    );
}

#[test]
fn action_communities() {
    let a = attrs();
    let c = |v| Community::new(65000, v);
    let added = act(Action::AddCommunity(c(1)), &a);
    assert_eq!(added.communities, vec![Community::new(65001, 100), c(1)]);
    // No duplicates, order kept.
    let again = act(Action::AddCommunity(Community::new(65001, 100)), &added);
    assert_eq!(again.communities, vec![Community::new(65001, 100), c(1)]);

    let mut dup = a.clone();
    dup.communities = vec![c(1), c(2), c(1), c(3)];
    assert_eq!(
        act(Action::RemoveCommunity(c(1)), &dup).communities,
        vec![c(2), c(3)]
    );
    assert_eq!(
        act(Action::RemoveCommunity(c(9)), &dup).communities,
        dup.communities
    );

    let cleared = act(Action::ClearCommunities, &dup);
    assert!(cleared.communities.is_empty());
    // Large communities are separate.
    assert_eq!(cleared.large_communities, a.large_communities);
}

#[test]
fn action_large_communities() {
    let a = attrs();
    let added = act(Action::AddLargeCommunity(lc(65000, 0, 1)), &a);
    assert_eq!(
        added.large_communities,
        vec![lc(65001, 1, 2), lc(65000, 0, 1)]
    );
    let again = act(Action::AddLargeCommunity(lc(65001, 1, 2)), &added);
    assert_eq!(again.large_communities, added.large_communities);
    let removed = act(Action::RemoveLargeCommunity(lc(65001, 1, 2)), &added);
    assert_eq!(removed.large_communities, vec![lc(65000, 0, 1)]);
    assert_eq!(removed.communities, a.communities);
}

#[test]
fn action_prepend() {
    let prepend = |asn, count| Action::PrependAs { asn, count };
    let seq = |v: &[u32]| seg(SegmentType::AsSequence, v);
    let set = |v: &[u32]| seg(SegmentType::AsSet, v);

    // Into the leading AS_SEQUENCE.
    let a = attrs();
    assert_eq!(
        act(prepend(65000, 3), &a).as_path.segments,
        vec![seq(&[65000, 65000, 65000, 65001, 65002, 65003])]
    );
    // Empty path: a new AS_SEQUENCE.
    assert_eq!(
        act(prepend(65000, 2), &PathAttrs::local()).as_path.segments,
        vec![seq(&[65000, 65000])]
    );
    // Path starting with an AS_SET: a new AS_SEQUENCE in front.
    let mut s = attrs();
    s.as_path.segments = vec![set(&[1, 2]), seq(&[3])];
    assert_eq!(
        act(prepend(65000, 1), &s).as_path.segments,
        vec![seq(&[65000]), set(&[1, 2]), seq(&[3])]
    );
    // Count 0 changes nothing.
    assert_eq!(act(prepend(65000, 0), &a), a);
    assert_eq!(
        act(prepend(65000, 0), &PathAttrs::local()),
        PathAttrs::local()
    );
    // Length for the decision process grows by count.
    assert_eq!(act(prepend(65000, 255), &a).as_path.path_len(), 258);
}

#[test]
fn action_next_hop() {
    let a = attrs();
    let v4 = NextHop::V4(Ipv4Addr::new(198, 51, 100, 9));
    assert_eq!(act(Action::SetNextHop(v4), &a).next_hop, v4);
    let v6 = NextHop::V6 {
        global: "2001:db8::9".parse().unwrap(),
        link_local: None,
    };
    assert_eq!(act(Action::SetNextHop(v6), &a).next_hop, v6);
    assert_eq!(act(Action::SetNextHopSelf, &a).next_hop, NextHop::Local);
    assert_eq!(
        act(Action::SetNextHopSelf, &a),
        PathAttrs {
            next_hop: NextHop::Local,
            ..a
        }
    );
}

// ---- terms, order, Continue, default ----

#[test]
fn first_deciding_term_wins() {
    let a = attrs();
    let pol = policy(
        vec![
            term(
                vec![Match::SourceAsn(65999)],
                vec![Action::SetLocalPref(1)],
                Disposition::Accept,
            ),
            term(
                vec![Match::SourceAsn(65001)],
                vec![Action::SetLocalPref(2)],
                Disposition::Accept,
            ),
            term(vec![], vec![Action::SetLocalPref(3)], Disposition::Reject),
        ],
        Disposition::Reject,
    );
    let (v, out) = run(&pol, &a);
    assert_eq!(v, PolicyVerdict::Accept);
    // The non-matching first term did nothing; the third never ran.
    assert_eq!(out.local_pref, Some(2));

    // Swapping makes the catch-all reject first.
    let mut swapped = pol.clone();
    swapped.terms.swap(1, 2);
    let (v, out) = run(&swapped, &a);
    assert_eq!(v, PolicyVerdict::Reject);
    assert_eq!(out.local_pref, Some(3));
}

#[test]
fn continue_applies_actions_and_goes_on() {
    let a = attrs();
    let tag = Community::new(65000, 1);
    let pol = policy(
        vec![
            term(
                vec![],
                vec![Action::SetLocalPref(150), Action::AddCommunity(tag)],
                Disposition::Continue,
            ),
            // Sees the community the previous term added.
            term(
                vec![Match::Community(tag)],
                vec![Action::SetMed(10)],
                Disposition::Continue,
            ),
            term(
                vec![Match::SourceAsn(65999)],
                vec![Action::SetMed(99)],
                Disposition::Reject,
            ),
            term(
                vec![],
                vec![Action::PrependAs {
                    asn: 65000,
                    count: 1,
                }],
                Disposition::Accept,
            ),
        ],
        Disposition::Reject,
    );
    let (v, out) = run(&pol, &a);
    assert_eq!(v, PolicyVerdict::Accept);
    assert_eq!(out.local_pref, Some(150));
    assert_eq!(out.med, Some(10));
    assert_eq!(out.communities, vec![Community::new(65001, 100), tag]);
    assert_eq!(out.as_path.first_as(), Some(65000));
}

#[test]
fn actions_apply_in_order() {
    let a = attrs();
    let c = Community::new(65000, 5);
    let pol = policy(
        vec![term(
            vec![],
            vec![
                Action::SetMed(1),
                Action::AddCommunity(c),
                Action::RemoveMed,
                Action::ClearCommunities,
                Action::AddCommunity(c),
                Action::SetNextHopSelf,
                Action::SetNextHop(NextHop::V4(Ipv4Addr::new(10, 9, 9, 9))),
            ],
            Disposition::Accept,
        )],
        Disposition::Reject,
    );
    let (v, out) = run(&pol, &a);
    assert_eq!(v, PolicyVerdict::Accept);
    assert_eq!(out.med, None);
    assert_eq!(out.communities, vec![c]);
    assert_eq!(out.next_hop, NextHop::V4(Ipv4Addr::new(10, 9, 9, 9)));
}

#[test]
fn default_action_decides_when_no_term_does() {
    let a = attrs();
    let only_continue = |default| {
        policy(
            vec![
                term(vec![], vec![Action::SetLocalPref(5)], Disposition::Continue),
                term(vec![Match::SourceAsn(1)], vec![], Disposition::Accept),
            ],
            default,
        )
    };
    let (v, out) = run(&only_continue(Disposition::Accept), &a);
    assert_eq!(v, PolicyVerdict::Accept);
    assert_eq!(out.local_pref, Some(5));
    let (v, _) = run(&only_continue(Disposition::Reject), &a);
    assert_eq!(v, PolicyVerdict::Reject);
    // Continue as the default has nothing to continue to: reject.
    let (v, _) = run(&only_continue(Disposition::Continue), &a);
    assert_eq!(v, PolicyVerdict::Reject);

    // No terms at all.
    assert_eq!(
        run(&policy(vec![], Disposition::Accept), &a).0,
        PolicyVerdict::Accept
    );
    assert_eq!(
        run(&policy(vec![], Disposition::Reject), &a).0,
        PolicyVerdict::Reject
    );
    assert_eq!(Disposition::default(), Disposition::Reject);
    assert_eq!(Policy::new("x").default_action, Disposition::Reject);
}

#[test]
fn accept_all_and_reject_all() {
    let a = attrs();
    let (v, out) = run(&Policy::accept_all("all"), &a);
    assert_eq!(v, PolicyVerdict::Accept);
    assert_eq!(out, a);
    let (v, out) = run(&Policy::reject_all("none"), &a);
    assert_eq!(v, PolicyVerdict::Reject);
    assert_eq!(out, a);
    assert_eq!(Policy::accept_all("all").name, "all");
}

// ---- RFC 8212 ----

#[test]
fn rfc8212_no_policy() {
    let a = attrs();
    let ebgp = peer(PeerKind::Ebgp);
    let ibgp = peer(PeerKind::Ibgp);
    let local = PeerInfo::local(65000, Ipv4Addr::new(10, 0, 0, 1));
    let check = |peer_kind, source: &PeerInfo, want| {
        let ctx = RouteContext {
            prefix: p("10.1.0.0/16"),
            source,
        };
        let mut out = a.clone();
        assert_eq!(apply(None, peer_kind, &ctx, &mut out), want);
        assert_eq!(out, a, "no policy never changes attributes");
    };
    // Import: from an eBGP peer rejected, from iBGP accepted.
    check(PeerKind::Ebgp, &ebgp, PolicyVerdict::Reject);
    check(PeerKind::Ibgp, &ibgp, PolicyVerdict::Accept);
    // Local origination.
    check(PeerKind::Local, &local, PolicyVerdict::Accept);
    // Export to eBGP: rejected whatever the source.
    check(PeerKind::Ebgp, &ibgp, PolicyVerdict::Reject);
    check(PeerKind::Ebgp, &local, PolicyVerdict::Reject);
    // Export to iBGP: accepted whatever the source.
    check(PeerKind::Ibgp, &ebgp, PolicyVerdict::Accept);
    check(PeerKind::Ibgp, &local, PolicyVerdict::Accept);
}

#[test]
fn explicit_policy_overrides_rfc8212_default() {
    let a = attrs();
    let ebgp = peer(PeerKind::Ebgp);
    let ibgp = peer(PeerKind::Ibgp);
    let ctx_e = RouteContext {
        prefix: p("10.1.0.0/16"),
        source: &ebgp,
    };
    let ctx_i = RouteContext {
        prefix: p("10.1.0.0/16"),
        source: &ibgp,
    };
    let accept = Policy::accept_all("a");
    let reject = Policy::reject_all("r");
    let mut out = a.clone();
    assert_eq!(
        apply(Some(&accept), PeerKind::Ebgp, &ctx_e, &mut out),
        PolicyVerdict::Accept
    );
    assert_eq!(
        apply(Some(&reject), PeerKind::Ibgp, &ctx_i, &mut out),
        PolicyVerdict::Reject
    );
    assert_eq!(
        apply(Some(&reject), PeerKind::Local, &ctx_i, &mut out),
        PolicyVerdict::Reject
    );
}

// ---- display ----

#[test]
fn display_for_logs() {
    let list = PrefixList::new(vec![
        PrefixListEntry::exact(p("192.168.0.0/16")),
        PrefixListEntry::range(p("10.0.0.0/8"), Some(16), Some(24)),
    ]);
    let shown = [
        (
            Match::Prefix(list).to_string(),
            "prefix in [192.168.0.0/16, 10.0.0.0/8 ge 16 le 24]",
        ),
        (
            Match::Community(Community::new(65000, 1)).to_string(),
            "community 65000:1",
        ),
        (
            Match::LargeCommunity(lc(1, 2, 3)).to_string(),
            "large-community 1:2:3",
        ),
        (
            Match::AsPathOriginatedBy(65003).to_string(),
            "as-path originated-by 65003",
        ),
        (
            Match::NextHop(p("2001:db8::/32")).to_string(),
            "next-hop within 2001:db8::/32",
        ),
        (
            Match::SourceKind(PeerKind::Ebgp).to_string(),
            "source-kind ebgp",
        ),
        (
            Match::Family(Family::IPV6_UNICAST).to_string(),
            "family ipv6-unicast",
        ),
        (Action::SetLocalPref(200).to_string(), "set local-pref 200"),
        (Action::RemoveMed.to_string(), "remove med"),
        (
            Action::PrependAs {
                asn: 65000,
                count: 3,
            }
            .to_string(),
            "prepend as 65000 x3",
        ),
        (
            Action::SetNextHop(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))).to_string(),
            "set next-hop 192.0.2.1",
        ),
        (Action::SetNextHopSelf.to_string(), "set next-hop self"),
        (Disposition::Continue.to_string(), "continue"),
        (PolicyVerdict::Reject.to_string(), "reject"),
        (Direction::Export.to_string(), "export"),
    ];
    for (got, want) in shown {
        assert_eq!(got, want);
    }
}
