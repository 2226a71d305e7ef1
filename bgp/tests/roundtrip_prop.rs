//! Property tests of the wire codec: for every message type, encoding then
//! decoding under the same [`Context`] gives back the message, `frame`
//! finds exactly the encoded message, and re-encoding the decoded message
//! gives the same bytes. Also: 2-octet-AS encoding maps large ASes to
//! AS_TRANS, and decoding arbitrary bytes never panics (and whatever
//! decodes re-encodes to something that decodes to the same value).
//!
//! The generators only build messages that decoding reproduces exactly
//! (see the comments at each one): flags as decode would report them, at
//! most one attribute of each type, mandatory attributes present, path
//! identifiers exactly when ADD-PATH is on, and so on.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::wire::attributes::{flags, type_code};
use bgp::wire::capability::cap_code;
use bgp::wire::open::{AS_TRANS, BGP_VERSION};
use bgp::wire::{
    decode_message, frame, AddPathDirection, AddPathEntry, Aggregator, AsPath, AsSegment,
    AttributeValue, Capability, Community, Context, EncodeError, ExtendedCommunity,
    ExtendedNextHopEntry, Family, FamilyFlags, GracefulRestart, GracefulRestartFamily, Ipv4Prefix,
    Ipv6Prefix, LargeCommunity, Message, MpNextHop, MpNlri, MpReachNlri, MpUnreachNlri, Nlri,
    Nlri4, Nlri6, Notification, Open, Origin, PathAttribute, RouteRefresh, RouteRefreshSubtype,
    SegmentType, Update, HEADER_LEN, MARKER,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

// ---------------------------------------------------------------------------
// The round-trip check
// ---------------------------------------------------------------------------

/// Encode `msg`, check framing, decode, compare, re-encode, compare bytes.
/// Returns the encoding (for further checks), or rejects the case when the
/// message is too long for `ctx`.
fn roundtrip(msg: &Message, ctx: &Context) -> Result<Vec<u8>, TestCaseError> {
    let encoded = match msg.to_bytes(ctx) {
        Ok(b) => b.to_vec(),
        Err(EncodeError::MessageTooLong { .. }) => {
            return Err(TestCaseError::reject(
                "message longer than the context allows",
            ))
        }
        Err(e) => return Err(TestCaseError::fail(format!("encode failed: {e:?}"))),
    };
    prop_assert!(encoded.len() >= HEADER_LEN);
    prop_assert!(encoded.len() <= ctx.max_message_len());

    // Framing: the whole message, nothing less, and not what follows it.
    prop_assert_eq!(frame(&encoded, ctx), Ok(Some(encoded.len())));
    let mut longer = encoded.clone();
    longer.extend_from_slice(&MARKER);
    prop_assert_eq!(frame(&longer, ctx), Ok(Some(encoded.len())));
    if encoded.len() > HEADER_LEN {
        prop_assert_eq!(frame(&encoded[..encoded.len() - 1], ctx), Ok(None));
    }

    let decoded = decode_message(&encoded, ctx);
    prop_assert_eq!(&decoded, &Ok(msg.clone()));
    let decoded = decoded.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let again = decoded
        .to_bytes(ctx)
        .map_err(|e| TestCaseError::fail(format!("re-encode failed: {e:?}")))?;
    prop_assert_eq!(&again[..], &encoded[..]);
    Ok(encoded)
}

// ---------------------------------------------------------------------------
// Common generators
// ---------------------------------------------------------------------------

fn context() -> impl Strategy<Value = Context> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(four, ext_msg, ap4, ap6, ext_nh)| Context {
            four_octet_as: four,
            extended_message: ext_msg,
            add_path: FamilyFlags {
                ipv4_unicast: ap4,
                ipv6_unicast: ap6,
            },
            extended_next_hop_ipv4: ext_nh,
        })
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::IPV4_UNICAST),
        Just(Family::IPV6_UNICAST),
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Family::new(afi, safi)),
    ]
}

/// A family the codec does not decode (its NLRI stay raw bytes).
fn other_family() -> impl Strategy<Value = Family> {
    prop_oneof![
        // Near misses of the decoded families.
        (1u16..=2, 2u8..=255).prop_map(|(afi, safi)| Family::new(afi, safi)),
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Family::new(afi, safi)),
    ]
    .prop_filter("decoded family", |f| {
        *f != Family::IPV4_UNICAST && *f != Family::IPV6_UNICAST
    })
}

fn prefix4() -> impl Strategy<Value = Ipv4Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
        Ipv4Prefix::new(Ipv4Addr::from(a), len).unwrap_or_else(|| unreachable!())
    })
}

fn prefix6() -> impl Strategy<Value = Ipv6Prefix> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
        Ipv6Prefix::new(Ipv6Addr::from(a), len).unwrap_or_else(|| unreachable!())
    })
}

/// An IPv4 NLRI entry: a path id exactly when ADD-PATH is on.
fn nlri4(add_path: bool) -> impl Strategy<Value = Nlri4> {
    (any::<u32>(), prefix4()).prop_map(move |(id, prefix)| Nlri {
        path_id: add_path.then_some(id),
        prefix,
    })
}

fn nlri6(add_path: bool) -> impl Strategy<Value = Nlri6> {
    (any::<u32>(), prefix6()).prop_map(move |(id, prefix)| Nlri {
        path_id: add_path.then_some(id),
        prefix,
    })
}

// ---------------------------------------------------------------------------
// OPEN
// ---------------------------------------------------------------------------

const KNOWN_CAPABILITIES: [u8; 8] = [
    cap_code::MULTIPROTOCOL,
    cap_code::ROUTE_REFRESH,
    cap_code::EXTENDED_NEXT_HOP,
    cap_code::EXTENDED_MESSAGE,
    cap_code::GRACEFUL_RESTART,
    cap_code::FOUR_OCTET_AS,
    cap_code::ADD_PATH,
    cap_code::ENHANCED_ROUTE_REFRESH,
];

fn unknown_capability_codes() -> Vec<u8> {
    (0..=255u8)
        .filter(|c| !KNOWN_CAPABILITIES.contains(c))
        .collect()
}

/// Value length of a capability on the wire (our own oracle, from RFCs).
fn cap_value_len(c: &Capability) -> usize {
    match c {
        Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh
        | Capability::ExtendedMessage
        | Capability::EnhancedRouteRefresh => 0,
        Capability::ExtendedNextHop(e) => 6 * e.len(),
        Capability::GracefulRestart(gr) => 2 + 4 * gr.families.len(),
        Capability::AddPath(e) => 4 * e.len(),
        Capability::Unknown { value, .. } => value.len(),
    }
}

fn unknown_capability(value: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Capability> {
    (select(unknown_capability_codes()), value)
        .prop_map(|(code, value)| Capability::Unknown { code, value })
}

fn capability() -> BoxedStrategy<Capability> {
    let direction = prop_oneof![
        Just(AddPathDirection::Receive),
        Just(AddPathDirection::Send),
        Just(AddPathDirection::Both),
    ];
    prop_oneof![
        1 => family().prop_map(Capability::Multiprotocol),
        1 => Just(Capability::RouteRefresh),
        1 => Just(Capability::ExtendedMessage),
        1 => Just(Capability::EnhancedRouteRefresh),
        1 => vec(
            (family(), any::<u16>()).prop_map(|(nlri_family, next_hop_afi)| {
                ExtendedNextHopEntry {
                    nlri_family,
                    next_hop_afi,
                }
            }),
            0..8
        )
        .prop_map(Capability::ExtendedNextHop),
        1 => (
            any::<bool>(),
            any::<bool>(),
            0u16..=0x0fff,
            vec(
                (family(), any::<bool>()).prop_map(|(family, forwarding_state)| {
                    GracefulRestartFamily {
                        family,
                        forwarding_state,
                    }
                }),
                0..8
            )
        )
            .prop_map(|(restart_state, notification, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restart_state,
                    notification,
                    restart_time,
                    families,
                })
            }),
        1 => any::<u32>().prop_map(Capability::FourOctetAs),
        1 => vec(
            (family(), direction)
                .prop_map(|(family, direction)| AddPathEntry { family, direction }),
            0..8
        )
        .prop_map(Capability::AddPath),
        3 => unknown_capability(prop_oneof![
            4 => vec(any::<u8>(), 0..16),
            1 => vec(any::<u8>(), 0..=255),
        ]),
    ]
    .boxed()
}

fn open_with(caps: impl Strategy<Value = Vec<Capability>>) -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..=u16::MAX],
        1u32..=u32::MAX,
        caps,
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_identifier: Ipv4Addr::from(id),
            capabilities,
        })
}

/// Check the optional parameters' framing of an encoded OPEN: the plain
/// form while the capabilities fit 255 octets (each in its own parameter),
/// the RFC 9072 extended form otherwise.
fn check_open_form(open: &Open, encoded: &[u8]) -> Result<(), TestCaseError> {
    let short: usize = open.capabilities.iter().map(|c| 4 + cap_value_len(c)).sum();
    let n = open.capabilities.len();
    if short < 255 {
        prop_assert_eq!(usize::from(encoded[28]), short);
        prop_assert_eq!(encoded.len(), 29 + short);
    } else {
        prop_assert_eq!(encoded[28], 255, "Non-Ext OP Len");
        prop_assert_eq!(encoded[29], 255, "Non-Ext OP Type");
        let ext = usize::from(u16::from_be_bytes([encoded[30], encoded[31]]));
        prop_assert_eq!(ext, short + n);
        prop_assert_eq!(encoded.len(), 32 + ext);
    }
    Ok(())
}

proptest! {
    #[test]
    fn open_roundtrip(ctx in context(), open in open_with(vec(capability(), 0..24))) {
        let encoded = roundtrip(&Message::Open(open.clone()), &ctx)?;
        check_open_form(&open, &encoded)?;
    }

    /// Enough large capabilities that the extended form is always used.
    #[test]
    fn open_extended_form_roundtrip(
        ctx in context(),
        open in open_with(
            (
                vec(unknown_capability(vec(any::<u8>(), 100..=255)), 3..12),
                vec(capability(), 0..8),
            )
                .prop_flat_map(|(big, small)| {
                    let mut all = big;
                    all.extend(small);
                    Just(all).prop_shuffle()
                })
        ),
    ) {
        let encoded = roundtrip(&Message::Open(open.clone()), &ctx)?;
        prop_assert_eq!(encoded[28], 255);
        check_open_form(&open, &encoded)?;
    }
}

/// The boundary between the two forms: capabilities totalling 254 octets
/// use the plain form, 255 and more the extended one.
#[test]
fn open_form_boundary() {
    for value_len in 245..=255usize {
        for split in [false, true] {
            let caps = if split {
                // Same total in two capabilities.
                vec![
                    Capability::Unknown {
                        code: 200,
                        value: vec![0xab; value_len - 10],
                    },
                    Capability::Unknown {
                        code: 201,
                        value: vec![0xcd; 6],
                    },
                ]
            } else {
                vec![Capability::Unknown {
                    code: 200,
                    value: vec![0xab; value_len],
                }]
            };
            let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
            let msg = Message::Open(open.clone());
            let ctx = Context::default();
            let encoded = msg.to_bytes(&ctx).expect("encodes");
            assert_eq!(frame(&encoded, &ctx), Ok(Some(encoded.len())));
            assert_eq!(decode_message(&encoded, &ctx), Ok(msg.clone()));
            let short: usize = open.capabilities.iter().map(|c| 4 + cap_value_len(c)).sum();
            assert_eq!(short, value_len + 4);
            assert_eq!(encoded[28] == 255, short >= 255, "total {short}");
            if short >= 255 {
                assert_eq!(encoded[29], 255);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// UPDATE
// ---------------------------------------------------------------------------

const KNOWN_ATTRIBUTES: [u8; 17] = [
    type_code::ORIGIN,
    type_code::AS_PATH,
    type_code::NEXT_HOP,
    type_code::MULTI_EXIT_DISC,
    type_code::LOCAL_PREF,
    type_code::ATOMIC_AGGREGATE,
    type_code::AGGREGATOR,
    type_code::COMMUNITIES,
    type_code::ORIGINATOR_ID,
    type_code::CLUSTER_LIST,
    type_code::MP_REACH_NLRI,
    type_code::MP_UNREACH_NLRI,
    type_code::EXTENDED_COMMUNITIES,
    type_code::AS4_PATH,
    type_code::AS4_AGGREGATOR,
    type_code::LARGE_COMMUNITY,
    type_code::OTC,
];

fn unknown_attribute_codes() -> Vec<u8> {
    (0..=255u8)
        .filter(|&t| AttributeValue::required_flags(t).is_none())
        .collect()
}

/// An AS number that survives the context (never AS 0, which RFC 7607
/// makes malformed): any with 4-octet ASes, else at most 65535 (larger ones are sent as AS_TRANS, see `as_trans_mapping`).
fn asn(four_octet: bool) -> BoxedStrategy<u32> {
    if four_octet {
        prop_oneof![1u32..=u32::MAX, 1u32..=65535].boxed()
    } else {
        (1u32..=65535).boxed()
    }
}

fn segment_type() -> impl Strategy<Value = SegmentType> {
    prop_oneof![
        1 => Just(SegmentType::AsSet),
        3 => Just(SegmentType::AsSequence),
        1 => Just(SegmentType::ConfedSequence),
        1 => Just(SegmentType::ConfedSet),
    ]
}

/// Segments of 1 to 255 ASes (encoding splits longer ones, and decoding
/// refuses empty ones).
fn as_path_with(asn: BoxedStrategy<u32>) -> impl Strategy<Value = AsPath> {
    let segment = (
        segment_type(),
        prop_oneof![
            8 => vec(asn.clone(), 1..8),
            1 => vec(asn, 1..=255),
        ],
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    vec(segment, 0..4).prop_map(|segments| AsPath { segments })
}

/// An AS4_PATH: at least one segment (RFC 6793 §6: an empty one is
/// malformed and discarded).
fn as4_path() -> impl Strategy<Value = AsPath> {
    as_path_with(asn(true)).prop_filter("AS4_PATH is never empty", |p| !p.segments.is_empty())
}

fn as_path(four_octet: bool) -> impl Strategy<Value = AsPath> {
    as_path_with(asn(four_octet))
}

fn aggregator(asn: BoxedStrategy<u32>) -> impl Strategy<Value = Aggregator> {
    (asn, any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

/// A NEXT_HOP that decoding accepts: a unicast address (RFC 4271 §6.3).
fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("not unicast", |a| {
            !a.is_unspecified() && !a.is_broadcast() && !a.is_multicast()
        })
}

fn v6_next_hop() -> impl Strategy<Value = MpNextHop> {
    (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, ll)| MpNextHop::Ipv6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(Ipv6Addr::from),
    })
}

fn mp_reach(ctx: Context) -> BoxedStrategy<MpReachNlri> {
    let v4_nh = any::<u32>().prop_map(|a| MpNextHop::Ipv4(Ipv4Addr::from(a)));
    // RFC 8950: an IPv6 next hop for IPv4 NLRI only when negotiated.
    let nh_for_v4 = if ctx.extended_next_hop_ipv4 {
        prop_oneof![v4_nh, v6_next_hop()].boxed()
    } else {
        v4_nh.boxed()
    };
    prop_oneof![
        (nh_for_v4, vec(nlri4(ctx.add_path.ipv4_unicast), 0..20)).prop_map(|(next_hop, v)| {
            MpReachNlri {
                next_hop,
                nlri: MpNlri::Ipv4Unicast(v),
            }
        }),
        (v6_next_hop(), vec(nlri6(ctx.add_path.ipv6_unicast), 0..20)).prop_map(|(next_hop, v)| {
            MpReachNlri {
                next_hop,
                nlri: MpNlri::Ipv6Unicast(v),
            }
        }),
        (
            other_family(),
            vec(any::<u8>(), 0..40),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(family, nh, raw)| MpReachNlri {
                next_hop: MpNextHop::Other(nh),
                nlri: MpNlri::Other { family, raw },
            }),
    ]
    .boxed()
}

fn mp_unreach(ctx: Context) -> BoxedStrategy<MpUnreachNlri> {
    prop_oneof![
        vec(nlri4(ctx.add_path.ipv4_unicast), 0..20).prop_map(MpNlri::Ipv4Unicast),
        vec(nlri6(ctx.add_path.ipv6_unicast), 0..20).prop_map(MpNlri::Ipv6Unicast),
        (other_family(), vec(any::<u8>(), 0..64))
            .prop_map(|(family, raw)| MpNlri::Other { family, raw }),
    ]
    .prop_map(|withdrawn| MpUnreachNlri { withdrawn })
    .boxed()
}

/// A valid value of a known attribute type. List attributes are non-empty
/// (an empty COMMUNITIES etc. is malformed, RFC 7606 §7.8).
fn known_value(t: u8, ctx: Context) -> BoxedStrategy<AttributeValue> {
    let four = ctx.four_octet_as;
    match t {
        type_code::ORIGIN => prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
        .prop_map(AttributeValue::Origin)
        .boxed(),
        type_code::AS_PATH => as_path(four).prop_map(AttributeValue::AsPath).boxed(),
        type_code::NEXT_HOP => unicast_v4().prop_map(AttributeValue::NextHop).boxed(),
        type_code::MULTI_EXIT_DISC => any::<u32>().prop_map(AttributeValue::MultiExitDisc).boxed(),
        type_code::LOCAL_PREF => any::<u32>().prop_map(AttributeValue::LocalPref).boxed(),
        type_code::ATOMIC_AGGREGATE => Just(AttributeValue::AtomicAggregate).boxed(),
        type_code::AGGREGATOR => aggregator(asn(four))
            .prop_map(AttributeValue::Aggregator)
            .boxed(),
        type_code::COMMUNITIES => vec(any::<u32>().prop_map(Community), 1..70)
            .prop_map(AttributeValue::Communities)
            .boxed(),
        type_code::ORIGINATOR_ID => any::<u32>()
            .prop_map(|a| AttributeValue::OriginatorId(Ipv4Addr::from(a)))
            .boxed(),
        type_code::CLUSTER_LIST => vec(any::<u32>().prop_map(Ipv4Addr::from), 1..10)
            .prop_map(AttributeValue::ClusterList)
            .boxed(),
        type_code::MP_REACH_NLRI => mp_reach(ctx).prop_map(AttributeValue::MpReachNlri).boxed(),
        type_code::MP_UNREACH_NLRI => mp_unreach(ctx)
            .prop_map(AttributeValue::MpUnreachNlri)
            .boxed(),
        type_code::EXTENDED_COMMUNITIES => vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..10)
            .prop_map(AttributeValue::ExtendedCommunities)
            .boxed(),
        type_code::AS4_PATH => as4_path().prop_map(AttributeValue::As4Path).boxed(),
        type_code::AS4_AGGREGATOR => aggregator((1u32..=u32::MAX).boxed())
            .prop_map(AttributeValue::As4Aggregator)
            .boxed(),
        type_code::LARGE_COMMUNITY => vec(
            any::<(u32, u32, u32)>().prop_map(|(g, l1, l2)| LargeCommunity {
                global_admin: g,
                local_data_1: l1,
                local_data_2: l2,
            }),
            1..10,
        )
        .prop_map(AttributeValue::LargeCommunities)
        .boxed(),
        type_code::OTC => any::<u32>().prop_map(AttributeValue::Otc).boxed(),
        _ => unreachable!("not a known attribute type: {t}"),
    }
}

/// A known attribute with the flags `PathAttribute::new` gives, plus
/// optionally Partial (optional transitive only) and Extended Length.
fn known_attribute(t: u8, ctx: Context) -> BoxedStrategy<PathAttribute> {
    (
        known_value(t, ctx),
        any::<bool>(),
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(value, partial, ext)| {
            let mut a = PathAttribute::new(value);
            let ot = flags::OPTIONAL | flags::TRANSITIVE;
            if partial && a.flags & ot == ot {
                a.flags |= flags::PARTIAL;
            }
            if ext {
                a.flags |= flags::EXTENDED_LENGTH;
            }
            a
        })
        .boxed()
}

/// An attribute of a type the codec does not know: Optional set (an
/// unrecognised well-known attribute is an error), Transitive and Partial
/// as they come.
fn unknown_attribute(t: u8) -> BoxedStrategy<PathAttribute> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::bool::weighted(0.25),
        prop_oneof![
            8 => vec(any::<u8>(), 0..32),
            1 => vec(any::<u8>(), 250..300),
        ],
    )
        .prop_map(move |(transitive, partial, ext, value)| {
            let mut f = flags::OPTIONAL;
            if transitive {
                f |= flags::TRANSITIVE;
                if partial {
                    f |= flags::PARTIAL;
                }
            }
            if ext {
                f |= flags::EXTENDED_LENGTH;
            }
            PathAttribute {
                flags: f,
                value: AttributeValue::Unknown {
                    type_code: t,
                    value,
                },
            }
        })
        .boxed()
}

/// Set Extended Length where encoding will set it (value over 255 octets),
/// so that the flags are what decoding reports.
fn normalize_extended_length(a: &mut PathAttribute, ctx: &Context) {
    let mut plain = a.clone();
    plain.flags &= !flags::EXTENDED_LENGTH;
    if plain.wire_len(ctx) > 3 + 255 {
        a.flags |= flags::EXTENDED_LENGTH;
    }
}

fn update_for(ctx: Context) -> impl Strategy<Value = Update> {
    let ap4 = ctx.add_path.ipv4_unicast;
    (
        vec(nlri4(ap4), 0..16),
        prop_oneof![Just(Vec::new()), vec(nlri4(ap4), 1..16)],
        subsequence(KNOWN_ATTRIBUTES.to_vec(), 0..=KNOWN_ATTRIBUTES.len()),
        subsequence(unknown_attribute_codes(), 0..4),
    )
        .prop_flat_map(move |(withdrawn, nlri, mut known, unknown)| {
            // RFC 6793 §4.1: AS4_PATH and AS4_AGGREGATOR between two
            // 4-octet speakers are discarded on receipt: not generated.
            if ctx.four_octet_as {
                known.retain(|&t| t != type_code::AS4_PATH && t != type_code::AS4_AGGREGATOR);
            }
            // RFC 4271 §5 / RFC 4760 §3: ORIGIN and AS_PATH with any NLRI
            // (NLRI field or MP_REACH_NLRI), NEXT_HOP with the NLRI field.
            let mut required = Vec::new();
            if !nlri.is_empty() || known.contains(&type_code::MP_REACH_NLRI) {
                required.extend([type_code::ORIGIN, type_code::AS_PATH]);
            }
            if !nlri.is_empty() {
                required.push(type_code::NEXT_HOP);
            }
            for t in required {
                if !known.contains(&t) {
                    known.push(t);
                }
            }
            let attrs: Vec<BoxedStrategy<PathAttribute>> = known
                .iter()
                .map(|&t| known_attribute(t, ctx))
                .chain(unknown.iter().map(|&t| unknown_attribute(t)))
                .collect();
            (Just(withdrawn), Just(nlri), attrs.prop_shuffle())
        })
        .prop_map(move |(withdrawn_routes, nlri, mut path_attributes)| {
            for a in &mut path_attributes {
                normalize_extended_length(a, &ctx);
            }
            Update {
                withdrawn_routes,
                path_attributes,
                nlri,
                errors: Vec::new(),
            }
        })
}

fn context_and_update() -> impl Strategy<Value = (Context, Update)> {
    context().prop_flat_map(|ctx| (Just(ctx), update_for(ctx)))
}

proptest! {
    #[test]
    fn update_roundtrip((ctx, update) in context_and_update()) {
        roundtrip(&Message::Update(update), &ctx)?;
    }

    /// End-of-RIB markers of every family decode as such.
    #[test]
    fn end_of_rib_roundtrip(ctx in context(), family in family()) {
        let update = Update::end_of_rib(family);
        roundtrip(&Message::Update(update.clone()), &ctx)?;
        prop_assert_eq!(update.end_of_rib_family(), Some(family));
    }

    /// With 2-octet ASes, AS_PATH and AGGREGATOR carry AS_TRANS for every
    /// AS over 65535 (RFC 6793 §4.2.2), and only for those; AS4_PATH and
    /// AS4_AGGREGATOR keep the real ASes.
    #[test]
    fn as_trans_mapping(
        ctx in context().prop_map(|c| Context { four_octet_as: false, ..c }),
        path in as_path_with(prop_oneof![1u32..=65535, 65536u32..=u32::MAX].boxed())
            .prop_filter("AS4_PATH is never empty", |p| !p.segments.is_empty()),
        agg in aggregator(prop_oneof![1u32..=65535, 65536u32..=u32::MAX].boxed()),
    ) {
        let to_trans = |asn: u32| if asn > 65535 { u32::from(AS_TRANS) } else { asn };
        let attrs = |path: AsPath, agg: Aggregator| {
            let mut v = vec![
                PathAttribute::new(AttributeValue::AsPath(path.clone())),
                PathAttribute::new(AttributeValue::Aggregator(agg)),
                PathAttribute::new(AttributeValue::As4Path(path)),
                PathAttribute::new(AttributeValue::As4Aggregator(agg)),
            ];
            for a in &mut v {
                normalize_extended_length(a, &ctx);
            }
            v
        };
        let sent = Update {
            path_attributes: attrs(path.clone(), agg),
            ..Update::default()
        };
        let encoded = match Message::Update(sent).to_bytes(&ctx) {
            Ok(b) => b,
            Err(EncodeError::MessageTooLong { .. }) => {
                return Err(TestCaseError::reject("too long"))
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        };
        let mapped_path = AsPath {
            segments: path
                .segments
                .iter()
                .map(|s| AsSegment {
                    kind: s.kind,
                    asns: s.asns.iter().copied().map(to_trans).collect(),
                })
                .collect(),
        };
        let mapped_agg = Aggregator { asn: to_trans(agg.asn), ..agg };
        let mut expected = attrs(mapped_path, mapped_agg);
        // AS4_PATH / AS4_AGGREGATOR are not mapped.
        expected[2] = attrs(path.clone(), agg)[2].clone();
        expected[3] = attrs(path, agg)[3].clone();
        let expected = Update { path_attributes: expected, ..Update::default() };
        prop_assert_eq!(decode_message(&encoded, &ctx), Ok(Message::Update(expected)));
    }
}

// ---------------------------------------------------------------------------
// NOTIFICATION, KEEPALIVE, ROUTE-REFRESH
// ---------------------------------------------------------------------------

fn route_refresh_subtype() -> impl Strategy<Value = RouteRefreshSubtype> {
    prop_oneof![
        Just(RouteRefreshSubtype::Request),
        Just(RouteRefreshSubtype::BeginningOfRouteRefresh),
        Just(RouteRefreshSubtype::EndOfRouteRefresh),
        (3u8..=255).prop_map(RouteRefreshSubtype::Reserved),
    ]
}

proptest! {
    #[test]
    fn notification_roundtrip(
        ctx in context(),
        code in any::<u8>(),
        subcode in any::<u8>(),
        // Long data only fits with Extended Messages.
        data in prop_oneof![9 => vec(any::<u8>(), 0..300), 1 => vec(any::<u8>(), 4000..4200)],
    ) {
        roundtrip(&Message::Notification(Notification::new(code, subcode, data)), &ctx)?;
    }

    #[test]
    fn keepalive_roundtrip(ctx in context()) {
        let encoded = roundtrip(&Message::Keepalive, &ctx)?;
        prop_assert_eq!(encoded.len(), HEADER_LEN);
    }

    #[test]
    fn route_refresh_roundtrip(
        ctx in context(),
        afi in any::<u16>(),
        safi in any::<u8>(),
        subtype in route_refresh_subtype(),
    ) {
        let rr = RouteRefresh { family: Family::new(afi, safi), subtype };
        let encoded = roundtrip(&Message::RouteRefresh(rr), &ctx)?;
        prop_assert_eq!(encoded.len(), HEADER_LEN + 4);
    }
}

// ---------------------------------------------------------------------------
// Arbitrary input never panics
// ---------------------------------------------------------------------------

fn without_errors(m: Message) -> Message {
    match m {
        Message::Update(mut u) => {
            u.errors.clear();
            Message::Update(u)
        }
        m => m,
    }
}

/// Decode `bytes` (must not panic); if that succeeds, the decoded message
/// re-encodes to bytes that decode to the same value (findings of the
/// first decode aside: discarded attributes are gone from the value).
fn decode_never_panics(bytes: &[u8], ctx: &Context) -> Result<(), TestCaseError> {
    let _ = frame(bytes, ctx);
    let Ok(msg) = decode_message(bytes, ctx) else {
        return Ok(());
    };
    let encoded = match msg.to_bytes(ctx) {
        Ok(b) => b,
        Err(EncodeError::MessageTooLong { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("re-encode failed: {e:?}"))),
    };
    let again = decode_message(&encoded, ctx);
    prop_assert!(
        again.is_ok(),
        "re-encoded {:?} does not decode: {:?}",
        msg,
        again
    );
    let again = again.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(without_errors(again), without_errors(msg));
    Ok(())
}

fn with_header(msg_type: u8, length: Option<u16>, body: &[u8]) -> Vec<u8> {
    let mut m = MARKER.to_vec();
    let len = length.unwrap_or((HEADER_LEN + body.len()) as u16);
    m.extend_from_slice(&len.to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

/// An UPDATE body of random attributes, each framed correctly, so that the
/// attribute decoders see the random values.
fn fuzz_update_body(ctx: Context) -> impl Strategy<Value = Vec<u8>> {
    let ap4 = ctx.add_path.ipv4_unicast;
    let attr = (
        any::<bool>(),
        any::<u8>(),
        prop_oneof![3 => select(KNOWN_ATTRIBUTES.to_vec()), 1 => any::<u8>()],
        proptest::option::of((1u16..=2, 1u8..=2)),
        vec(any::<u8>(), 0..40),
    )
        .prop_map(|(proper_flags, random_flags, t, mp_family, value)| {
            let f = if proper_flags {
                AttributeValue::required_flags(t).unwrap_or(flags::OPTIONAL)
                    | (random_flags & (flags::PARTIAL | flags::EXTENDED_LENGTH))
            } else {
                random_flags
            };
            let mut value = value;
            if let (type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI, Some((afi, safi))) =
                (t, mp_family)
            {
                let mut v = afi.to_be_bytes().to_vec();
                v.push(safi);
                if t == type_code::MP_REACH_NLRI {
                    // A plausible next hop length.
                    let nh = [4u8, 16, 32][usize::from(random_flags % 3)];
                    v.push(nh);
                    v.extend(std::iter::repeat_n(0x20, usize::from(nh)));
                    v.push(0);
                }
                v.extend_from_slice(&value);
                value = v;
            }
            let mut a = vec![f, t];
            if f & flags::EXTENDED_LENGTH != 0 {
                a.extend_from_slice(&(value.len() as u16).to_be_bytes());
            } else {
                a.push(value.len() as u8);
            }
            a.extend_from_slice(&value);
            a
        });
    // Mostly well-formed prefixes (with path ids as the context says), so
    // that decoding gets past them to the attributes.
    let prefixes = move || {
        prop_oneof![
            3 => vec(nlri4(ap4), 0..6).prop_map(move |v| {
                let mut b = Vec::new();
                for e in v {
                    if let Some(id) = e.path_id {
                        b.extend_from_slice(&id.to_be_bytes());
                    }
                    let n = usize::from(e.prefix.len()).div_ceil(8);
                    b.push(e.prefix.len());
                    b.extend_from_slice(&e.prefix.addr().octets()[..n]);
                }
                b
            }),
            1 => vec(any::<u8>(), 0..24),
        ]
    };
    (prefixes(), vec(attr, 0..8), prefixes()).prop_map(|(withdrawn, attrs, nlri)| {
        let attrs = attrs.concat();
        let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(&withdrawn);
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&attrs);
        b.extend_from_slice(&nlri);
        b
    })
}

/// An OPEN body with random capabilities in correctly framed parameters.
fn fuzz_open_body() -> impl Strategy<Value = Vec<u8>> {
    let cap = (
        prop_oneof![3 => select(KNOWN_CAPABILITIES.to_vec()), 1 => any::<u8>()],
        vec(any::<u8>(), 0..20),
    )
        .prop_map(|(code, value)| {
            let mut c = vec![code, value.len() as u8];
            c.extend_from_slice(&value);
            c
        });
    let param = (
        prop_oneof![4 => Just(2u8), 1 => any::<u8>()],
        vec(cap, 0..4),
    )
        .prop_map(|(ptype, caps)| {
            let caps = caps.concat();
            let mut p = vec![ptype, caps.len() as u8];
            p.extend_from_slice(&caps);
            p
        });
    (
        prop_oneof![4 => Just(BGP_VERSION), 1 => any::<u8>()],
        any::<[u8; 8]>(),
        vec(param, 0..4),
    )
        .prop_map(|(version, fixed, params)| {
            let params = params.concat();
            let mut b = vec![version];
            b.extend_from_slice(&fixed);
            b.push(params.len().min(255) as u8);
            b.extend_from_slice(&params);
            b
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        ctx in context(),
        msg_type in prop_oneof![4 => 1u8..=5, 1 => any::<u8>()],
        length in prop_oneof![4 => Just(None), 1 => any::<u16>().prop_map(Some)],
        body in vec(any::<u8>(), 0..600),
    ) {
        decode_never_panics(&with_header(msg_type, length, &body), &ctx)?;
    }

    #[test]
    fn random_update_attributes_never_panic(
        (ctx, body) in context().prop_flat_map(|ctx| (Just(ctx), fuzz_update_body(ctx))),
    ) {
        decode_never_panics(&with_header(2, None, &body), &ctx)?;
    }

    #[test]
    fn random_open_capabilities_never_panic(ctx in context(), body in fuzz_open_body()) {
        decode_never_panics(&with_header(1, None, &body), &ctx)?;
    }
}
