//! Golden byte vectors: for every message type and every path attribute,
//! the exact bytes decode to the exact value and the value encodes to the
//! exact bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::wire::attributes::flags;
use bgp::wire::*;
use bytes::BytesMut;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const M: &str = "ffffffffffffffffffffffffffffffff";

fn ctx4() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// Decode `bytes` to `msg` and encode `msg` to `bytes`.
fn golden(ctx: &Context, bytes: &str, msg: Message) {
    let bytes = hex(bytes);
    assert_eq!(frame(&bytes, ctx), Ok(Some(bytes.len())));
    assert_eq!(decode_message(&bytes, ctx), Ok(msg.clone()));
    let mut buf = BytesMut::new();
    msg.encode(ctx, &mut buf).unwrap();
    assert_eq!(hex_of(&buf), hex_of(&bytes));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn keepalive() {
    golden(
        &Context::default(),
        &format!("{M} 0013 04"),
        Message::Keepalive,
    );
}

#[test]
fn notification_with_data() {
    golden(
        &Context::default(),
        &format!("{M} 0018 03 0302 0002 0a"),
        Message::Notification(Notification::new(3, 2, vec![0x00, 0x02, 0x0a])),
    );
}

#[test]
fn notification_shutdown_communication() {
    // RFC 9003: Cease / Administrative Shutdown, length 5, "maint".
    let n = Notification::cease_with_communication(2, "maint");
    assert_eq!(n.shutdown_communication(), Some("maint"));
    golden(
        &Context::default(),
        &format!("{M} 001b 03 0602 05 6d61696e74"),
        Message::Notification(n),
    );
}

#[test]
fn route_refresh_and_enhanced_subtypes() {
    for (sub, st) in [
        ("00", RouteRefreshSubtype::Request),
        ("01", RouteRefreshSubtype::BeginningOfRouteRefresh),
        ("02", RouteRefreshSubtype::EndOfRouteRefresh),
    ] {
        golden(
            &Context::default(),
            &format!("{M} 0017 05 0002 {sub} 01"),
            Message::RouteRefresh(RouteRefresh {
                family: Family::IPV6_UNICAST,
                subtype: st,
            }),
        );
    }
}

#[test]
fn open_with_every_capability() {
    let caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
        Capability::ExtendedMessage,
        Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
            nlri_family: Family::IPV4_UNICAST,
            next_hop_afi: 2,
        }]),
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: vec![
                GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_state: true,
                },
                GracefulRestartFamily {
                    family: Family::IPV6_UNICAST,
                    forwarding_state: false,
                },
            ],
        }),
        Capability::FourOctetAs(4_200_000_001),
        Capability::AddPath(vec![AddPathEntry {
            family: Family::IPV4_UNICAST,
            direction: AddPathDirection::Both,
        }]),
        Capability::Unknown {
            code: 73,
            value: b"node1".to_vec(),
        },
    ];
    let open = Open::new(4_200_000_001, 90, Ipv4Addr::new(198, 18, 0, 1), caps);
    assert_eq!(open.my_as, 23456, "AS_TRANS in My AS");
    assert_eq!(open.asn(), 4_200_000_001);
    let params = [
        "0206 0104 00010001",                 // MP IPv4 unicast
        "0206 0104 00020001",                 // MP IPv6 unicast
        "0202 0200",                          // Route Refresh
        "0202 4600",                          // Enhanced Route Refresh
        "0202 0600",                          // Extended Message
        "0208 0506 0001 0001 0002",           // Extended Next Hop
        "020c 400a c078 0001 0180 0002 0100", // GR: R,N, 120 s; v4 F; v6
        "0206 4104 fa56ea01",                 // 4-octet AS
        "0206 4504 0001 01 03",               // ADD-PATH v4 both
        "0207 4905 6e6f646531",               // unknown 73 "node1"
    ]
    .concat();
    let params = params.replace(' ', "");
    let body = format!("04 5ba0 005a c6120001 {:02x} {params}", params.len() / 2);
    let len = 19 + hex(&body).len();
    golden(
        &ctx4(),
        &format!("{M} {len:04x} 01 {body}"),
        Message::Open(open),
    );
}

#[test]
fn open_rfc9072_extended_optional_parameters() {
    // 70 unknown capabilities of 2 value octets: 70 * 6 = 420 > 255.
    let caps: Vec<_> = (0..70u8)
        .map(|i| Capability::Unknown {
            code: 200,
            value: vec![i, i],
        })
        .collect();
    let open = Open::new(65001, 180, Ipv4Addr::new(198, 18, 0, 2), caps);
    let mut params = String::new();
    for i in 0..70u8 {
        params.push_str(&format!("02 0004 c8 02 {i:02x}{i:02x}"));
    }
    // 70 parameters of 1 + 2 + 4 octets = 490 = 0x01ea.
    let body = format!("04 fde9 00b4 c6120002 ff ff 01ea {params}");
    let len = 19 + hex(&body).len();
    golden(
        &Context::default(),
        &format!("{M} {len:04x} 01 {body}"),
        Message::Open(open),
    );
}

#[test]
fn open_several_capabilities_in_one_parameter_decode() {
    // BIRD style: one Capabilities parameter holding two capabilities.
    let bytes = hex(&format!(
        "{M} 0027 01 04 fde9 00f0 c6120003 0a 0208 0104 00010001 0200"
    ));
    let Ok(Message::Open(o)) = decode_message(&bytes, &Context::default()) else {
        panic!()
    };
    assert_eq!(
        o.capabilities,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh
        ]
    );
}

/// An UPDATE carrying exactly one attribute (and no NLRI): `attr` is the
/// attribute's bytes.
fn attr_update(attr: &str) -> String {
    let a = hex(attr);
    let len = 19 + 4 + a.len();
    format!("{M} {len:04x} 02 0000 {:04x} {attr}", a.len())
}

fn one_attr(ctx: &Context, attr: &str, value: PathAttribute) {
    let mut buf = BytesMut::new();
    value.encode(ctx, &mut buf).unwrap();
    assert_eq!(hex_of(&buf), hex_of(&hex(attr)), "encode {value:?}");
    // An UPDATE with MP_REACH_NLRI must also carry ORIGIN and AS_PATH
    // (RFC 7606 §3.d); an empty AS_PATH is valid (iBGP).
    let (extra, mut attrs) = if matches!(value.value, AttributeValue::MpReachNlri(_)) {
        (
            "40010100 400200",
            vec![
                pa(AttributeValue::Origin(Origin::Igp)),
                pa(AttributeValue::AsPath(AsPath::default())),
            ],
        )
    } else {
        ("", vec![])
    };
    attrs.push(value);
    golden(
        ctx,
        &attr_update(&format!("{extra} {attr}")),
        Message::Update(Update {
            path_attributes: attrs,
            ..Update::default()
        }),
    );
}

fn pa(v: AttributeValue) -> PathAttribute {
    PathAttribute::new(v)
}

#[test]
fn attribute_origin() {
    one_attr(
        &ctx4(),
        "40 01 01 00",
        pa(AttributeValue::Origin(Origin::Igp)),
    );
    one_attr(
        &ctx4(),
        "40 01 01 01",
        pa(AttributeValue::Origin(Origin::Egp)),
    );
    one_attr(
        &ctx4(),
        "40 01 01 02",
        pa(AttributeValue::Origin(Origin::Incomplete)),
    );
}

#[test]
fn attribute_as_path_four_octet_all_segment_types() {
    let path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: vec![65010],
            },
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![65001, 4_200_000_000],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![1, 2],
            },
            AsSegment {
                kind: SegmentType::ConfedSet,
                asns: vec![65020],
            },
        ],
    };
    assert_eq!(path.path_len(), 3);
    one_attr(
        &ctx4(),
        "40 02 20 0301 0000fdf2 0202 0000fde9 fa56ea00 0102 00000001 00000002 0401 0000fdfc",
        pa(AttributeValue::AsPath(path)),
    );
}

#[test]
fn attribute_as_path_two_octet_and_as_trans() {
    one_attr(
        &Context::default(),
        "40 02 06 0202 fde9 fdea",
        pa(AttributeValue::AsPath(AsPath::sequence(vec![65001, 65002]))),
    );
    // A 4-octet AS towards a 2-octet peer is AS_TRANS (RFC 6793 §4.2.2).
    let mut buf = BytesMut::new();
    pa(AttributeValue::AsPath(AsPath::sequence(vec![
        4_200_000_000,
        65002,
    ])))
    .encode(&Context::default(), &mut buf)
    .unwrap();
    assert_eq!(hex_of(&buf), "40020602025ba0fdea");
}

#[test]
fn attribute_as_path_extended_length_kept() {
    // Some speakers set Extended Length on short attributes: kept as is.
    one_attr(
        &ctx4(),
        "50 02 0006 0201 0000fde9",
        PathAttribute {
            flags: flags::TRANSITIVE | flags::EXTENDED_LENGTH,
            value: AttributeValue::AsPath(AsPath::sequence(vec![65001])),
        },
    );
}

#[test]
fn attribute_next_hop_med_local_pref_atomic() {
    let c = ctx4();
    one_attr(
        &c,
        "40 03 04 c6120001",
        pa(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 1))),
    );
    one_attr(
        &c,
        "80 04 04 00000064",
        pa(AttributeValue::MultiExitDisc(100)),
    );
    one_attr(&c, "40 05 04 000000c8", pa(AttributeValue::LocalPref(200)));
    one_attr(&c, "40 06 00", pa(AttributeValue::AtomicAggregate));
}

#[test]
fn attribute_aggregator_two_and_four_octet() {
    let agg = Aggregator {
        asn: 65001,
        address: Ipv4Addr::new(198, 18, 0, 9),
    };
    one_attr(
        &ctx4(),
        "c0 07 08 0000fde9 c6120009",
        pa(AttributeValue::Aggregator(agg)),
    );
    one_attr(
        &Context::default(),
        "c0 07 06 fde9 c6120009",
        pa(AttributeValue::Aggregator(agg)),
    );
    one_attr(
        &Context::default(),
        "c0 12 08 fa56ea00 c6120009",
        pa(AttributeValue::As4Aggregator(Aggregator {
            asn: 4_200_000_000,
            ..agg
        })),
    );
}

#[test]
fn attribute_communities_extended_large() {
    let c = ctx4();
    one_attr(
        &c,
        "c0 08 08 fde90064 ffffff01",
        pa(AttributeValue::Communities(vec![
            Community::new(65001, 100),
            Community::NO_EXPORT,
        ])),
    );
    one_attr(
        &c,
        "c0 10 08 0002fde900000064",
        pa(AttributeValue::ExtendedCommunities(vec![
            ExtendedCommunity([0, 2, 0xfd, 0xe9, 0, 0, 0, 0x64]),
        ])),
    );
    one_attr(
        &c,
        "c0 20 0c fa56ea00 00000001 00000002",
        pa(AttributeValue::LargeCommunities(vec![LargeCommunity {
            global_admin: 4_200_000_000,
            local_data_1: 1,
            local_data_2: 2,
        }])),
    );
}

#[test]
fn attribute_originator_cluster_list_otc() {
    let c = ctx4();
    one_attr(
        &c,
        "80 09 04 c6120005",
        pa(AttributeValue::OriginatorId(Ipv4Addr::new(198, 18, 0, 5))),
    );
    one_attr(
        &c,
        "80 0a 08 c6120001 c6120002",
        pa(AttributeValue::ClusterList(vec![
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
        ])),
    );
    one_attr(&c, "c0 23 04 0000fde9", pa(AttributeValue::Otc(65001)));
}

#[test]
fn attribute_as4_path() {
    one_attr(
        &Context::default(),
        "c0 11 0a 0202 fa56ea00 0000fde9",
        pa(AttributeValue::As4Path(AsPath::sequence(vec![
            4_200_000_000,
            65001,
        ]))),
    );
}

#[test]
fn attribute_unknown_optional_transitive_keeps_flags_and_partial() {
    one_attr(
        &ctx4(),
        "e0 63 03 010203",
        PathAttribute {
            flags: flags::OPTIONAL | flags::TRANSITIVE | flags::PARTIAL,
            value: AttributeValue::Unknown {
                type_code: 99,
                value: vec![1, 2, 3],
            },
        },
    );
}

#[test]
fn attribute_mp_reach_ipv6_global_and_link_local() {
    let g: Ipv6Addr = "fd00::1".parse().unwrap();
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    one_attr(
        &ctx4(),
        "80 0e 35 0002 01 20 fd000000000000000000000000000001 fe800000000000000000000000000001 00 \
         30 fd00000a0000 40 fd00000a00000001",
        pa(AttributeValue::MpReachNlri(MpReachNlri {
            next_hop: MpNextHop::Ipv6 {
                global: g,
                link_local: Some(ll),
            },
            nlri: MpNlri::Ipv6Unicast(vec![
                Nlri::new("fd00:a::/48".parse().unwrap()),
                Nlri::new("fd00:a:0:1::/64".parse().unwrap()),
            ]),
        })),
    );
}

#[test]
fn attribute_mp_reach_ipv4_over_ipv6_next_hop_rfc8950() {
    let c = Context {
        extended_next_hop_ipv4: true,
        ..ctx4()
    };
    one_attr(
        &c,
        "80 0e 19 0001 01 10 fd000000000000000000000000000001 00 18 c61201",
        pa(AttributeValue::MpReachNlri(MpReachNlri {
            next_hop: MpNextHop::Ipv6 {
                global: "fd00::1".parse().unwrap(),
                link_local: None,
            },
            nlri: MpNlri::Ipv4Unicast(vec![Nlri::new("198.18.1.0/24".parse().unwrap())]),
        })),
    );
}

#[test]
fn attribute_mp_unreach_ipv6_with_add_path() {
    let c = Context {
        add_path: FamilyFlags {
            ipv4_unicast: false,
            ipv6_unicast: true,
        },
        ..ctx4()
    };
    one_attr(
        &c,
        "80 0f 10 0002 01 00000007 40 fd00000a00000001",
        pa(AttributeValue::MpUnreachNlri(MpUnreachNlri {
            withdrawn: MpNlri::Ipv6Unicast(vec![Nlri {
                path_id: Some(7),
                prefix: "fd00:a:0:1::/64".parse().unwrap(),
            }]),
        })),
    );
}

#[test]
fn attribute_mp_reach_other_family_kept_raw() {
    // L2VPN EVPN (25/70): next hop and NLRI kept as bytes.
    one_attr(
        &ctx4(),
        "80 0e 0c 0019 46 04 c6120001 00 0201 aa",
        pa(AttributeValue::MpReachNlri(MpReachNlri {
            next_hop: MpNextHop::Other(vec![198, 18, 0, 1]),
            nlri: MpNlri::Other {
                family: Family::new(25, 70),
                raw: vec![2, 1, 0xaa],
            },
        })),
    );
}

#[test]
fn update_ipv4_announce_and_withdraw() {
    let u = Update {
        withdrawn_routes: vec![Nlri::new("198.19.0.0/16".parse().unwrap())],
        path_attributes: vec![
            pa(AttributeValue::Origin(Origin::Igp)),
            pa(AttributeValue::AsPath(AsPath::sequence(vec![65001]))),
            pa(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 1))),
        ],
        nlri: vec![
            Nlri::new("198.18.8.0/22".parse().unwrap()),
            Nlri::new("0.0.0.0/0".parse().unwrap()),
            Nlri::new("198.18.9.1/32".parse().unwrap()),
        ],
        errors: vec![],
    };
    golden(
        &ctx4(),
        &format!("{M} 0038 02 0003 10c613 0014 40010100 40020602010000fde9 400304c6120001 16c61208 00 20c6120901"),
        Message::Update(u.clone()),
    );
    assert_eq!(u.prefix_count(), 4);
    assert_eq!(u.announced().ipv4.len(), 3);
}

/// An announcement framed around path attributes encoded beforehand:
/// exact bytes, with and without ADD-PATH, and nothing written when the
/// message would be too long.
#[test]
fn announcement_with_encoded_attributes() {
    let attributes = hex("40010100 40020602010000fde9 400304c6120001");
    let nlri = [
        Nlri::new("198.18.8.0/22".parse().unwrap()),
        Nlri::new("198.18.9.1/32".parse().unwrap()),
    ];
    let mut buf = BytesMut::new();
    encode_announcement(&attributes, &nlri, &ctx4(), &mut buf).unwrap();
    assert_eq!(
        hex_of(&buf),
        hex_of(&hex(&format!(
            "{M} 0034 02 0000 0014 40010100 40020602010000fde9 400304c6120001 16c61208 20c6120901"
        )))
    );
    let ap = Context {
        add_path: FamilyFlags {
            ipv4_unicast: true,
            ipv6_unicast: false,
        },
        ..ctx4()
    };
    buf.clear();
    encode_announcement(&attributes, &nlri[..1], &ap, &mut buf).unwrap();
    assert_eq!(
        hex_of(&buf),
        hex_of(&hex(&format!(
            "{M} 0033 02 0000 0014 40010100 40020602010000fde9 400304c6120001 00000000 16c61208"
        )))
    );
    let many: Vec<Nlri4> = (0..1100u32)
        .map(|i| Nlri::new(Ipv4Prefix::new(Ipv4Addr::from(0xc612_0000 | (i << 2)), 30).unwrap()))
        .collect();
    buf.clear();
    assert!(matches!(
        encode_announcement(&attributes, &many, &ctx4(), &mut buf),
        Err(EncodeError::MessageTooLong { .. })
    ));
    assert!(buf.is_empty(), "nothing appended on error");
}

#[test]
fn update_ipv4_add_path() {
    let c = Context {
        add_path: FamilyFlags {
            ipv4_unicast: true,
            ipv6_unicast: false,
        },
        ..ctx4()
    };
    golden(
        &c,
        &format!("{M} 001f 02 0008 00000001 18c61201 0000"),
        Message::Update(Update {
            withdrawn_routes: vec![Nlri {
                path_id: Some(1),
                prefix: "198.18.1.0/24".parse().unwrap(),
            }],
            ..Update::default()
        }),
    );
}

#[test]
fn end_of_rib_both_families() {
    golden(
        &ctx4(),
        &format!("{M} 0017 02 0000 0000"),
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)),
    );
    golden(
        &ctx4(),
        &format!("{M} 001d 02 0000 0006 800f03 000201"),
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)),
    );
    for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        assert_eq!(Update::end_of_rib(f).end_of_rib_family(), Some(f));
    }
    let not_eor = Update {
        withdrawn_routes: vec![Nlri::new("198.18.0.0/15".parse().unwrap())],
        ..Update::default()
    };
    assert_eq!(not_eor.end_of_rib_family(), None);
}

#[test]
fn host_bits_are_cleared_on_decode() {
    // 198.18.31.0/20 on the wire decodes as 198.18.16.0/20.
    let bytes = hex(&format!("{M} 001b 02 0004 14c6121f 0000"));
    let Ok(Message::Update(u)) = decode_message(&bytes, &ctx4()) else {
        panic!()
    };
    assert_eq!(u.withdrawn_routes[0].prefix.to_string(), "198.18.16.0/20");
    let bytes = hex(&format!("{M} 001b 02 0004 17c61301 0000"));
    let Ok(Message::Update(u)) = decode_message(&bytes, &ctx4()) else {
        panic!()
    };
    assert_eq!(u.withdrawn_routes[0].prefix.to_string(), "198.19.0.0/23");
}

#[test]
fn as4_reconstruction_rfc6793() {
    // From a 2-octet peer: AS_PATH 65001 23456 23456 65002, AS4_PATH
    // 4200000000 4200000001 65002 -> 65001 4200000000 4200000001 65002.
    let as_path = AsPath::sequence(vec![65001, 23456, 23456, 65002]);
    let as4 = AsPath::sequence(vec![4_200_000_000, 4_200_000_001, 65002]);
    let agg_trans = Aggregator {
        asn: 23456,
        address: Ipv4Addr::new(198, 18, 0, 1),
    };
    let agg4 = Aggregator {
        asn: 4_200_000_000,
        address: Ipv4Addr::new(198, 18, 0, 1),
    };
    let (p, a) = reconstruct_as4(&as_path, Some(&agg_trans), Some(&as4), Some(&agg4));
    assert_eq!(
        p,
        AsPath::sequence(vec![65001, 4_200_000_000, 4_200_000_001, 65002])
    );
    assert_eq!(a, Some(agg4));
    // AGGREGATOR not AS_TRANS: AS4_PATH and AS4_AGGREGATOR are ignored.
    let agg2 = Aggregator {
        asn: 65001,
        ..agg_trans
    };
    let (p, a) = reconstruct_as4(&as_path, Some(&agg2), Some(&as4), Some(&agg4));
    assert_eq!((p, a), (as_path.clone(), Some(agg2)));
    // AS4_PATH longer than AS_PATH: ignored.
    let long = AsPath::sequence(vec![1, 2, 3, 4, 5]);
    assert_eq!(
        reconstruct_as4(&as_path, None, Some(&long), None).0,
        as_path
    );
    // An AS_SET counts 1.
    let with_set = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![65001, 23456],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![23456, 65003],
            },
        ],
    };
    let as4_set = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![4_200_000_000],
            },
            AsSegment {
                kind: SegmentType::AsSet,
                asns: vec![4_200_000_001, 65003],
            },
        ],
    };
    let (p, _) = reconstruct_as4(&with_set, None, Some(&as4_set), None);
    assert_eq!(
        p,
        AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::AsSequence,
                    asns: vec![65001, 4_200_000_000]
                },
                AsSegment {
                    kind: SegmentType::AsSet,
                    asns: vec![4_200_000_001, 65003]
                },
            ],
        }
    );
}

#[test]
fn negotiate_context_from_capabilities() {
    let local = vec![
        Capability::FourOctetAs(65001),
        Capability::ExtendedMessage,
        Capability::AddPath(vec![
            AddPathEntry {
                family: Family::IPV4_UNICAST,
                direction: AddPathDirection::Both,
            },
            AddPathEntry {
                family: Family::IPV6_UNICAST,
                direction: AddPathDirection::Receive,
            },
        ]),
        Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
            nlri_family: Family::IPV4_UNICAST,
            next_hop_afi: 2,
        }]),
    ];
    let remote = vec![
        Capability::FourOctetAs(65002),
        Capability::AddPath(vec![
            AddPathEntry {
                family: Family::IPV4_UNICAST,
                direction: AddPathDirection::Send,
            },
            AddPathEntry {
                family: Family::IPV6_UNICAST,
                direction: AddPathDirection::Send,
            },
        ]),
        Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
            nlri_family: Family::IPV4_UNICAST,
            next_hop_afi: 2,
        }]),
    ];
    let (rx, tx) = Context::negotiate(&local, &remote);
    assert_eq!(
        rx,
        Context {
            four_octet_as: true,
            extended_message: false,
            add_path: FamilyFlags {
                ipv4_unicast: true,
                ipv6_unicast: true
            },
            extended_next_hop_ipv4: true,
        }
    );
    assert_eq!(tx.add_path, FamilyFlags::default(), "the peer only sends");
    assert!(!tx.extended_message, "one side only");
}

#[test]
fn encode_refuses_too_long_and_leaves_buffer_untouched() {
    let u = Update {
        withdrawn_routes: (0..1100u32)
            .map(|i| {
                Nlri::new(Ipv4Prefix::new(Ipv4Addr::from(0xc612_0000 + (i << 8)), 24).unwrap())
            })
            .collect(),
        ..Update::default()
    };
    let mut buf = BytesMut::from(&b"xy"[..]);
    let e = Message::Update(u.clone())
        .encode(&Context::default(), &mut buf)
        .unwrap_err();
    assert_eq!(
        e,
        EncodeError::MessageTooLong {
            length: 19 + 4 + 4400,
            max: 4096
        }
    );
    assert_eq!(&buf[..], b"xy");
    let ext = Context {
        extended_message: true,
        ..Context::default()
    };
    assert!(Message::Update(u).encode(&ext, &mut buf).is_ok());
}
