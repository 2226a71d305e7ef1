//! Graceful restart, receiving speaker (RFC 4724 §4.2): a restarting peer's
//! routes are kept as stale, stay installed and advertised, are refreshed
//! by the new session, and what is still stale is swept on End-of-RIB or
//! timeout; nothing else is touched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    AsPath, AttributeValue, Context, Family, Ipv4Prefix, Ipv6Prefix, MpNextHop, MpNlri,
    MpReachNlri, Nlri, Origin, PathAttribute, Update,
};
use ribs::decision::DecisionConfig;
use ribs::policy::Policy;
use ribs::rib::{AllReachable, FibChange, PeerConfig, Rib, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind, Prefix};

const LOCAL_AS: u32 = 65000;

fn rib() -> Rib {
    Rib::new(
        RibConfig {
            local_asn: LOCAL_AS,
            router_id: Ipv4Addr::new(198, 18, 255, 1),
            cluster_id: None,
            decision: DecisionConfig::default(),
        },
        Box::new(AllReachable),
    )
}

fn peer(n: u8) -> PeerConfig {
    let mut c = PeerConfig::new(
        PeerInfo {
            id: PeerId(u32::from(n)),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            asn: 65000 + u32::from(n),
            router_id: Ipv4Addr::new(198, 18, 255, n),
            kind: PeerKind::Ebgp,
            rr_client: false,
        },
        NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    c.import = Some(Policy::accept_all("all"));
    c.export = Some(Policy::accept_all("all"));
    c
}

fn v4(s: &str) -> Prefix {
    Prefix::V4(s.parse::<Ipv4Prefix>().unwrap())
}

fn v6(s: &str) -> Prefix {
    Prefix::V6(s.parse::<Ipv6Prefix>().unwrap())
}

fn base(asn: u32) -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
        PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![asn]))),
    ]
}

fn announce4(n: u8, prefixes: &[&str], med: u32) -> Update {
    let mut path_attributes = base(65000 + u32::from(n));
    path_attributes.push(PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(
        198, 18, 0, n,
    ))));
    path_attributes.push(PathAttribute::new(AttributeValue::MultiExitDisc(med)));
    Update {
        path_attributes,
        nlri: prefixes
            .iter()
            .map(|s| Nlri::new(s.parse().unwrap()))
            .collect(),
        ..Update::default()
    }
}

fn announce6(n: u8, prefixes: &[&str]) -> Update {
    let mut path_attributes = base(65000 + u32::from(n));
    path_attributes.push(PathAttribute::new(AttributeValue::MpReachNlri(
        MpReachNlri {
            next_hop: MpNextHop::Ipv6 {
                global: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)),
                link_local: None,
            },
            nlri: MpNlri::Ipv6Unicast(
                prefixes
                    .iter()
                    .map(|s| Nlri::new(s.parse().unwrap()))
                    .collect(),
            ),
        },
    )));
    Update {
        path_attributes,
        ..Update::default()
    }
}

fn ctx() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// A RIB with peer 2 (restarting) holding three IPv4 and one IPv6 route,
/// and peer 3 (a monitor) Established and told everything.
fn restarting() -> Rib {
    let mut r = rib();
    r.add_peer(peer(2)).unwrap();
    r.add_peer(peer(3)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    r.peer_up(PeerId(3)).unwrap();
    r.apply_update(
        PeerId(2),
        &announce4(2, &["198.19.1.0/24", "198.19.2.0/24", "198.19.3.0/24"], 10),
        true,
    )
    .unwrap();
    r.apply_update(PeerId(2), &announce6(2, &["fd00:1::/48"]), true)
        .unwrap();
    r.take_fib_changes();
    // One UPDATE: the IPv6 route is not sent to peer 3, whose session has
    // no IPv6 next hop of ours.
    assert_eq!(r.take_updates(PeerId(3), &ctx()).unwrap().len(), 1);
    r
}

#[test]
fn a_restarting_peers_routes_are_kept_stale_and_stay_installed_and_advertised() {
    let mut r = restarting();
    assert_eq!(r.peer_down_graceful(PeerId(2)).unwrap(), 4);
    assert_eq!(r.stale_routes(PeerId(2)), 4);
    assert_eq!(r.loc_rib().len(), 4, "nothing leaves the Loc-RIB");
    assert!(r.take_fib_changes().is_empty(), "nothing leaves the FIB");
    assert!(
        r.take_updates(PeerId(3), &ctx()).unwrap().is_empty(),
        "other peers are not told anything"
    );
}

#[test]
fn the_new_session_refreshes_routes_and_end_of_rib_sweeps_the_rest_per_family() {
    let mut r = restarting();
    r.peer_down_graceful(PeerId(2)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    // The new session re-announces one route unchanged and one with a new
    // MED, and withdraws a third.
    r.apply_update(PeerId(2), &announce4(2, &["198.19.1.0/24"], 10), true)
        .unwrap();
    r.apply_update(PeerId(2), &announce4(2, &["198.19.2.0/24"], 20), true)
        .unwrap();
    assert_eq!(
        r.stale_routes(PeerId(2)),
        2,
        "198.19.3.0/24 and fd00:1::/48"
    );
    r.take_fib_changes();
    r.take_updates(PeerId(3), &ctx()).unwrap();

    // End-of-RIB for IPv4 unicast: only the IPv4 stale route goes.
    assert_eq!(
        r.sweep_stale(PeerId(2), Some(Family::IPV4_UNICAST))
            .unwrap(),
        1
    );
    assert_eq!(r.stale_routes(PeerId(2)), 1);
    assert_eq!(
        r.take_fib_changes(),
        vec![FibChange {
            prefix: v4("198.19.3.0/24"),
            next_hops: None
        }]
    );
    let to3 = r.take_updates(PeerId(3), &ctx()).unwrap();
    assert_eq!(to3.len(), 1);
    assert_eq!(
        to3[0].withdrawn_routes,
        vec![Nlri::new("198.19.3.0/24".parse().unwrap())]
    );
    let mut left: Vec<Prefix> = r.loc_rib().iter().map(|(p, _)| p).collect();
    left.sort();
    assert_eq!(
        left,
        vec![v4("198.19.1.0/24"), v4("198.19.2.0/24"), v6("fd00:1::/48")]
    );

    // The IPv6 End-of-RIB (or the stale timer: `None`) takes the last one.
    assert_eq!(r.sweep_stale(PeerId(2), None).unwrap(), 1);
    assert_eq!(r.stale_routes(PeerId(2)), 0);
    assert_eq!(r.loc_rib().len(), 2);
}

#[test]
fn a_withdrawal_in_the_new_session_is_not_swept_twice_and_other_peers_are_untouched() {
    let mut r = restarting();
    r.add_peer(peer(4)).unwrap();
    r.peer_up(PeerId(4)).unwrap();
    r.apply_update(PeerId(4), &announce4(4, &["198.19.9.0/24"], 0), true)
        .unwrap();
    r.peer_down_graceful(PeerId(2)).unwrap();
    r.peer_up(PeerId(2)).unwrap();
    let w = Update {
        withdrawn_routes: vec![Nlri::new("198.19.1.0/24".parse().unwrap())],
        ..Update::default()
    };
    assert_eq!(r.apply_update(PeerId(2), &w, true).unwrap().withdrawn, 1);
    assert_eq!(r.stale_routes(PeerId(2)), 3);
    assert_eq!(r.sweep_stale(PeerId(2), None).unwrap(), 3);
    let left: Vec<Prefix> = r.loc_rib().iter().map(|(p, _)| p).collect();
    assert_eq!(left, vec![v4("198.19.9.0/24")], "peer 4's route stays");
}

#[test]
fn a_plain_session_loss_after_a_graceful_one_drops_everything() {
    let mut r = restarting();
    r.peer_down_graceful(PeerId(2)).unwrap();
    r.peer_down(PeerId(2)).unwrap();
    assert_eq!(r.stale_routes(PeerId(2)), 0);
    assert!(r.loc_rib().is_empty());
    assert_eq!(r.sweep_stale(PeerId(2), None).unwrap(), 0);
}
