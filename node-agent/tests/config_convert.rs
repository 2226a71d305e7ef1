//! From the configuration to the RIB's, the FSM's, the session's and the
//! speaker's types: exact values, and the compiled policies' behaviour on
//! routes.

use std::net::{IpAddr, Ipv4Addr};

use bgp::session::GracefulRestartConfig;
use bgp::speaker::TransportOptions;
use bgp::wire::{
    AddPathDirection, AddPathEntry, AsPath, AsSegment, Capability, Community, Context,
    ExtendedNextHopEntry, Family, FamilyFlags, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, SegmentType,
};
use node_agent::config::{self, RestartFlags, ValidConfig};
use ribs::add_path::{AddPathSend, SendPaths};
use ribs::decision::DecisionConfig;
use ribs::policy::{
    Action, Disposition, Match, Policy, PolicyVerdict, PrefixList, PrefixListEntry, RouteContext,
    Term,
};
use ribs::rib::MaxPrefix;
use ribs::{NextHop, PathAttrs, PeerId, PeerInfo, PeerKind, Prefix};

const EXAMPLE: &str = include_str!("../../deploy/examples/twill-agent.yaml");

fn example() -> ValidConfig {
    // One file per call: tests run in parallel.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key = std::env::temp_dir().join(format!(
        "twill-config-convert-{}-{n}.key",
        std::process::id()
    ));
    std::fs::write(&key, b"k\n").expect("write key");
    let text = EXAMPLE.replace("/etc/twill/tor-a.key", key.to_str().expect("utf-8"));
    let v = config::from_yaml(&text);
    let _ = std::fs::remove_file(&key);
    match v {
        Ok(c) => c,
        Err(e) => panic!("the example does not validate:\n{e}"),
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

fn pfx(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

fn entry(p: &str, ge: Option<u8>, le: Option<u8>) -> PrefixListEntry {
    PrefixListEntry::range(pfx(p), ge, le)
}

#[test]
fn rib_config() {
    let r = example().rib_config();
    assert_eq!(r.local_asn, 64512);
    assert_eq!(r.router_id, v4("198.18.0.10"));
    assert_eq!(r.cluster_id, Some(v4("198.18.0.10")));
    assert_eq!(
        r.decision,
        DecisionConfig {
            always_compare_med: false,
            med_missing_as_worst: false,
            max_paths_ebgp: 4,
            max_paths_ibgp: 1,
            as_path_relax: true,
            local_pref_default: 100,
        }
    );
}

fn from_tor() -> Policy {
    Policy {
        name: "from-tor".into(),
        terms: vec![
            Term {
                name: "default-only".into(),
                matches: vec![Match::Prefix(PrefixList::new(vec![
                    entry("0.0.0.0/0", None, None),
                    entry("::/0", None, None),
                ]))],
                actions: vec![Action::SetLocalPref(200)],
                disposition: Disposition::Accept,
            },
            Term {
                name: "tag-the-rest".into(),
                matches: vec![
                    Match::Community(Community::new(65001, 100)),
                    Match::AsPathContains(65001),
                ],
                actions: vec![Action::AddCommunity(Community::new(64512, 1))],
                disposition: Disposition::Continue,
            },
            Term {
                name: "term-3".into(),
                matches: vec![Match::Prefix(PrefixList::new(vec![entry(
                    "198.18.64.0/18",
                    None,
                    Some(24),
                )]))],
                actions: vec![],
                disposition: Disposition::Accept,
            },
        ],
        default_action: Disposition::Reject,
    }
}

#[test]
fn policies_compile_to_exactly_these_terms() {
    let v = example();
    assert_eq!(v.policy("from-tor"), Some(&from_tor()));
    let to_tor = Policy {
        name: "to-tor".into(),
        terms: vec![
            Term {
                name: "pods".into(),
                matches: vec![
                    Match::Prefix(PrefixList::new(vec![
                        entry("198.18.128.0/17", Some(24), Some(32)),
                        entry("fd00:198:18:8000::/49", Some(64), None),
                    ])),
                    Match::SourceKind(PeerKind::Local),
                ],
                actions: vec![
                    Action::SetMed(10),
                    Action::RemoveCommunity(Community::NO_EXPORT),
                    Action::AddCommunity(Community::new(64512, 100)),
                    Action::RemoveLargeCommunity(LargeCommunity {
                        global_admin: 64512,
                        local_data_1: 0,
                        local_data_2: 0,
                    }),
                    Action::AddLargeCommunity(LargeCommunity {
                        global_admin: 64512,
                        local_data_1: 1,
                        local_data_2: 1,
                    }),
                    Action::PrependAs {
                        asn: 64512,
                        count: 2,
                    },
                    Action::SetNextHopSelf,
                ],
                disposition: Disposition::Accept,
            },
            Term {
                name: "from-node-2".into(),
                matches: vec![
                    Match::LargeCommunity(LargeCommunity {
                        global_admin: 64512,
                        local_data_1: 2,
                        local_data_2: 2,
                    }),
                    Match::AsPathOriginatedBy(64512),
                    Match::AsPathNeighbor(64512),
                    Match::SourceAsn(64512),
                    Match::SourcePeer(ip("198.18.0.20")),
                    Match::SourceKind(PeerKind::Ibgp),
                    Match::Family(Family::IPV4_UNICAST),
                    Match::NextHop(pfx("198.18.0.0/24")),
                ],
                actions: vec![],
                disposition: Disposition::Accept,
            },
        ],
        default_action: Disposition::Reject,
    };
    assert_eq!(v.policy("to-tor"), Some(&to_tor));
    assert_eq!(
        v.policy("accept-all"),
        Some(&Policy::accept_all("accept-all"))
    );
    assert_eq!(
        v.policy("reject-all"),
        Some(&Policy::reject_all("reject-all"))
    );
}

fn route(prefix: &str, as_path: &[u32], communities: &[Community]) -> (Prefix, PathAttrs) {
    let mut a = PathAttrs::local();
    a.next_hop = NextHop::V4(v4("198.18.0.1"));
    a.as_path = AsPath {
        segments: vec![AsSegment {
            kind: SegmentType::AsSequence,
            asns: as_path.to_vec(),
        }],
    };
    a.communities = communities.to_vec();
    (pfx(prefix), a)
}

#[test]
fn a_compiled_import_policy_decides_routes() {
    let v = example();
    let policy = v.policy("from-tor").expect("from-tor");
    let peer = PeerInfo {
        id: PeerId(1),
        address: ip("198.18.0.1"),
        asn: 65001,
        router_id: v4("198.18.0.1"),
        kind: PeerKind::Ebgp,
        rr_client: false,
    };
    let eval = |(prefix, mut attrs): (Prefix, PathAttrs)| {
        let ctx = RouteContext {
            prefix,
            source: &peer,
        };
        let verdict = policy.evaluate(&ctx, &mut attrs);
        (verdict, attrs)
    };
    // The default route: accepted with LOCAL_PREF 200.
    let (verdict, attrs) = eval(route("0.0.0.0/0", &[65001], &[]));
    assert_eq!(verdict, PolicyVerdict::Accept);
    assert_eq!(attrs.local_pref, Some(200));
    // Tagged by the continue term, then accepted by the third.
    let tag = Community::new(65001, 100);
    let (verdict, attrs) = eval(route("198.18.70.0/24", &[65001], &[tag]));
    assert_eq!(verdict, PolicyVerdict::Accept);
    assert_eq!(attrs.communities, vec![tag, Community::new(64512, 1)]);
    // Longer than le 24: rejected by default.
    let (verdict, _) = eval(route("198.18.70.0/25", &[65001], &[tag]));
    assert_eq!(verdict, PolicyVerdict::Reject);
    // Outside every term.
    let (verdict, _) = eval(route("198.19.0.0/24", &[65001], &[]));
    assert_eq!(verdict, PolicyVerdict::Reject);
}

#[test]
fn peer_config_of_each_neighbor() {
    let v = example();
    let nh = NextHop::V4(v4("198.18.0.10"));
    let p = v
        .peer_config(ip("198.18.0.1"), PeerId(7), v4("198.18.0.1"), nh)
        .expect("tor-a");
    assert_eq!(
        p.info,
        PeerInfo {
            id: PeerId(7),
            address: ip("198.18.0.1"),
            asn: 65001,
            router_id: v4("198.18.0.1"),
            kind: PeerKind::Ebgp,
            rr_client: false,
        }
    );
    assert_eq!(p.import, Some(from_tor()));
    assert_eq!(p.export.as_ref().map(|x| x.name.as_str()), Some("to-tor"));
    assert_eq!(p.local_next_hop, nh);
    assert!(!p.next_hop_self);
    assert_eq!(p.shared_subnet, None);
    assert_eq!(p.allowas_in, 0);
    assert!(p.soft_reconfiguration_inbound);
    assert_eq!(
        p.max_prefix,
        Some(MaxPrefix {
            limit: 10000,
            warn_only: false
        })
    );

    let b = v
        .peer_config(ip("fd00:198:18::1"), PeerId(8), v4("198.18.0.2"), nh)
        .expect("tor-b");
    assert_eq!(
        b.max_prefix,
        Some(MaxPrefix {
            limit: 10000,
            warn_only: true
        })
    );

    let n2 = v
        .peer_config(ip("198.18.0.20"), PeerId(9), v4("198.18.0.20"), nh)
        .expect("node-2");
    assert_eq!(n2.info.kind, PeerKind::Ibgp);
    assert!(n2.info.rr_client);
    assert!(n2.next_hop_self);
    assert_eq!(n2.import, Some(Policy::accept_all("accept-all")));
    assert_eq!(n2.export, None, "no export policy: RFC 8212 default");
    assert_eq!(n2.max_prefix, None);

    assert!(v
        .peer_config(ip("198.18.0.99"), PeerId(10), v4("198.18.0.99"), nh)
        .is_none());
}

#[test]
fn add_path_send_from_the_configuration_and_the_negotiation() {
    let v = config::from_yaml(
        "local_asn: 64512\nrouter_id: 198.18.0.10\nneighbors:\n  - address: 198.18.0.20\n    \
         asn: 64512\n    families:\n      - family: ipv4-unicast\n        add_path: send\n        \
         add_path_send_max: 3\n      - family: ipv6-unicast\n        add_path: both\n",
    )
    .expect("valid");
    let peer = ip("198.18.0.20");
    let encode = |ipv4_unicast, ipv6_unicast| Context {
        add_path: FamilyFlags {
            ipv4_unicast,
            ipv6_unicast,
        },
        ..Context::default()
    };
    let send = |ipv4, ipv6| AddPathSend { ipv4, ipv6 };
    // The peer said receive for both families.
    assert_eq!(
        v.add_path_send(peer, &encode(true, true)),
        send(SendPaths::UpTo(3), SendPaths::All)
    );
    // Only for IPv4: IPv6 gets the best path only.
    assert_eq!(
        v.add_path_send(peer, &encode(true, false)),
        send(SendPaths::UpTo(3), SendPaths::Best)
    );
    // Not negotiated at all, or not a neighbour of ours.
    assert_eq!(
        v.add_path_send(peer, &encode(false, false)),
        AddPathSend::default()
    );
    assert_eq!(
        v.add_path_send(ip("198.18.0.21"), &encode(true, true)),
        AddPathSend::default()
    );
    // Before the session is up, the RIB's peer sends the best path only.
    let pc = v
        .peer_config(peer, PeerId(1), v4("198.18.0.20"), NextHop::Local)
        .expect("peer");
    assert_eq!(pc.add_path_send, AddPathSend::default());
}

#[test]
fn fsm_config_and_capabilities() {
    let v = example();
    let a = v.fsm_config(ip("198.18.0.1")).expect("tor-a");
    assert_eq!(a.local_as, 64512);
    assert_eq!(a.local_id, v4("198.18.0.10"));
    assert_eq!(a.peer_as, 65001);
    assert_eq!(a.hold_time, 9);
    assert_eq!(a.connect_retry_time, 5);
    assert!(!a.passive);
    assert_eq!(a.delay_open, Some(2));
    assert_eq!(a.idle_hold_base, bgp::fsm::DEFAULT_IDLE_HOLD_BASE);
    assert_eq!(a.idle_hold_max, bgp::fsm::DEFAULT_IDLE_HOLD_MAX);
    assert_eq!(
        a.capabilities,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(64512),
        ],
        "Graceful Restart comes from the session config"
    );
    assert!(a.validate().is_ok());

    let b = v.fsm_config(ip("fd00:198:18::1")).expect("tor-b");
    assert_eq!(b.hold_time, 90);
    assert_eq!(b.connect_retry_time, 120);
    assert_eq!(b.delay_open, None);
    assert_eq!(
        b.capabilities,
        vec![
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                nlri_family: Family::IPV4_UNICAST,
                next_hop_afi: Family::AFI_IPV6,
            }]),
            Capability::FourOctetAs(64512),
            Capability::AddPath(vec![AddPathEntry {
                family: Family::IPV6_UNICAST,
                direction: AddPathDirection::Receive,
            }]),
        ]
    );

    let n2 = v.fsm_config(ip("198.18.0.20")).expect("node-2");
    assert!(n2.passive);
    assert_eq!(
        n2.capabilities,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(64512),
        ],
        "no families listed: the address's own"
    );
}

#[test]
fn session_and_speaker_configs() {
    let v = example();
    let flags = RestartFlags {
        restarting: true,
        forwarding_preserved: true,
    };
    let a = v.session_config(ip("198.18.0.1"), flags).expect("tor-a");
    assert_eq!(a.peer, ip("198.18.0.1"));
    assert_eq!(a.fsm, v.fsm_config(ip("198.18.0.1")).expect("fsm"));
    let gr = GracefulRestartConfig {
        restart_time: 120,
        restarting: true,
        forwarding_preserved: true,
        families: vec![Family::IPV4_UNICAST],
        stale_path_time: 360,
    };
    assert_eq!(a.graceful_restart, Some(gr.clone()));
    assert_eq!(
        gr.capability(),
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_state: true,
            }],
        })
    );
    let b = v
        .session_config(ip("fd00:198:18::1"), flags)
        .expect("tor-b");
    assert_eq!(b.graceful_restart, None, "not enabled");

    let pa = v.speaker_peer(ip("198.18.0.1"), flags).expect("tor-a");
    assert_eq!(pa.session, a);
    assert_eq!(pa.port, 179);
    assert_eq!(pa.local_address, Some(ip("198.18.0.10")));
    assert_eq!(
        pa.transport,
        TransportOptions {
            md5_key: Some(b"k".to_vec()),
            gtsm_hops: Some(1),
            ttl: None,
            ..TransportOptions::default()
        }
    );
    let pb = v.speaker_peer(ip("fd00:198:18::1"), flags).expect("tor-b");
    assert_eq!(
        pb.transport,
        TransportOptions {
            md5_key: Some(b"s3cret".to_vec()),
            gtsm_hops: None,
            ttl: Some(2),
            ..TransportOptions::default()
        }
    );
    assert_eq!(pb.local_address, None);

    let s = v.speaker_config(RestartFlags::default());
    assert_eq!(
        s.listen,
        vec![
            "0.0.0.0:179".parse::<std::net::SocketAddr>().expect("addr"),
            "[::]:179".parse().expect("addr"),
        ]
    );
    let peers: Vec<IpAddr> = s.peers.iter().map(|p| p.session.peer).collect();
    assert_eq!(
        peers,
        [ip("198.18.0.1"), ip("fd00:198:18::1"), ip("198.18.0.20")]
    );
    assert_eq!(
        s.peers[0]
            .session
            .graceful_restart
            .as_ref()
            .map(|g| g.restarting),
        Some(false)
    );
}

#[test]
fn originated_routes() {
    let v = example();
    let mut first = PathAttrs::local();
    first.communities = vec![Community::new(64512, 100), Community::NO_EXPORT];
    first.large_communities = vec![LargeCommunity {
        global_admin: 64512,
        local_data_1: 1,
        local_data_2: 2,
    }];
    first.med = Some(0);
    first.local_pref = Some(100);
    assert_eq!(
        v.originated(),
        &[
            (pfx("198.18.128.0/24"), first),
            (pfx("fd00:198:18:8000::/64"), PathAttrs::local()),
        ]
    );
}

#[test]
fn the_schema_describes_the_document() {
    let schema = schemars::schema_for!(config::Config);
    let s = schema.as_value();
    let props = s["properties"].as_object().expect("properties");
    for key in [
        "local_asn",
        "router_id",
        "neighbors",
        "policies",
        "prefix_lists",
        "originate",
        "fib",
        "api",
        "metrics",
        "logging",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    let strs = |v: &schemars::Schema, key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(strs(&schema, "required"), ["local_asn", "router_id"]);
    let neighbor = &s["$defs"]["Neighbor"];
    assert_eq!(neighbor["additionalProperties"], false);
    let required: Vec<&str> = neighbor["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert_eq!(required, ["address", "asn"]);
}

/// Every field of every type, as the schema lists them.
fn schema_fields(v: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
        out.extend(props.keys().cloned());
    }
    if let Some(defs) = v.get("$defs").and_then(|d| d.as_object()) {
        for d in defs.values() {
            schema_fields(d, out);
        }
    }
}

#[test]
fn docs_configuration_md_documents_every_field() {
    let docs = include_str!("../../docs/configuration.md");
    let schema = schemars::schema_for!(config::Config);
    let mut fields = Vec::new();
    schema_fields(schema.as_value(), &mut fields);
    assert!(fields.len() > 80, "{}", fields.len());
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !docs.contains(&format!("| `{f}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in a table of docs/configuration.md: {missing:?}"
    );
}
