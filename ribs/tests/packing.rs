//! UPDATE packing of the Adj-RIB-Out: exact message counts and sizes, the
//! net-change rules, and a decode round trip of everything produced.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp::wire::{
    decode_message, AsPath, AttributeValue, Community, Context, Family, Message, MpNextHop, MpNlri,
    Update,
};
use ribs::adj_rib_out::{AdjRibOut, Skipped};
use ribs::{Attrs, NextHop, PathAttrs, Prefix};

const NH4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const NH6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const LL6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fn attrs(next_hop: NextHop, asns: &[u32]) -> Attrs {
    Arc::new(PathAttrs {
        next_hop,
        as_path: AsPath::sequence(asns.to_vec()),
        ..PathAttrs::local()
    })
}

fn v4_nh(asns: &[u32]) -> Attrs {
    attrs(NextHop::V4(NH4), asns)
}

fn v6_nh(asns: &[u32], link_local: bool) -> Attrs {
    attrs(
        NextHop::V6 {
            global: NH6,
            link_local: link_local.then_some(LL6),
        },
        asns,
    )
}

/// The i-th /24 under 10.0.0.0/8 (i < 65536).
fn slash24(i: u32) -> Prefix {
    Prefix::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)).into(), 24).unwrap()
}

/// The i-th /48 under 2001:db8::/32 (i < 65536).
fn slash48(i: u32) -> Prefix {
    let a = Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 0);
    Prefix::new(a.into(), 48).unwrap()
}

/// The i-th /64 under 2001:db8::/32.
fn slash64(i: u32) -> Prefix {
    let a = Ipv6Addr::new(0x2001, 0xdb8, 0, i as u16, 0, 0, 0, 0);
    Prefix::new(a.into(), 64).unwrap()
}

fn ctx4() -> Context {
    Context::default()
}

fn ctx_4oct() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// Encode (checking the size limit) and decode back.
fn round_trip(u: &Update, ctx: &Context) -> (usize, Update) {
    let bytes = Message::Update(u.clone()).to_bytes(ctx).unwrap();
    assert!(
        bytes.len() <= ctx.max_message_len(),
        "{} octets",
        bytes.len()
    );
    let Message::Update(d) = decode_message(&bytes, ctx).unwrap() else {
        panic!("not an UPDATE");
    };
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    // Re-encoding what was decoded gives the same octets (a structural
    // comparison would differ in the Extended Length bit the decoder keeps
    // and, towards 2-octet AS peers, AS_TRANS in AS_PATH).
    let again = Message::Update(d.clone()).to_bytes(ctx).unwrap();
    assert_eq!(again, bytes, "decodes to what was built");
    assert_eq!(d.withdrawn_routes, u.withdrawn_routes);
    assert_eq!(d.nlri, u.nlri);
    assert_eq!(d.mp_reach(), u.mp_reach());
    assert_eq!(d.mp_unreach(), u.mp_unreach());
    (bytes.len(), d)
}

fn sizes(updates: &[Update], ctx: &Context) -> Vec<usize> {
    updates.iter().map(|u| round_trip(u, ctx).0).collect()
}

/// (prefix, path id) announced by `u`, in order.
fn announced(u: &Update) -> Vec<(Prefix, u32)> {
    let a = u.announced();
    let v4 = a
        .ipv4
        .iter()
        .map(|e| (Prefix::V4(e.prefix), e.path_id.unwrap_or(0)));
    let v6 = a
        .ipv6
        .iter()
        .map(|e| (Prefix::V6(e.prefix), e.path_id.unwrap_or(0)));
    v4.chain(v6).collect()
}

fn withdrawn(u: &Update) -> Vec<(Prefix, u32)> {
    let w = u.withdrawn();
    let v4 = w
        .ipv4
        .iter()
        .map(|e| (Prefix::V4(e.prefix), e.path_id.unwrap_or(0)));
    let v6 = w
        .ipv6
        .iter()
        .map(|e| (Prefix::V6(e.prefix), e.path_id.unwrap_or(0)));
    v4.chain(v6).collect()
}

fn all_announced(updates: &[Update]) -> Vec<(Prefix, u32)> {
    updates.iter().flat_map(announced).collect()
}

fn all_withdrawn(updates: &[Update]) -> Vec<(Prefix, u32)> {
    updates.iter().flat_map(withdrawn).collect()
}

#[test]
fn ipv4_one_set_fills_4096_octet_updates() {
    let ctx = ctx4();
    let a = v4_nh(&[65001]);
    let mut rib = AdjRibOut::new();
    let queued: Vec<_> = (0..2000).map(|i| (slash24(i), 0)).collect();
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    // Header 19 + lengths 4 + ORIGIN 4 + AS_PATH (3 + 2 + 2) 7 + NEXT_HOP 7
    // = 41 octets; each /24 is 4 octets: (4096 - 41) / 4 = 1013 per UPDATE.
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].nlri.len(), 1013);
    assert_eq!(updates[1].nlri.len(), 987);
    assert_eq!(sizes(&updates, &ctx), [41 + 4 * 1013, 41 + 4 * 987]);
    assert_eq!(all_announced(&updates), queued);
    // NLRI entries carry no Path Identifier without ADD-PATH.
    assert!(updates[0].nlri.iter().all(|e| e.path_id.is_none()));
    // Attributes in type code order, NEXT_HOP included.
    let codes: Vec<u8> = updates[0]
        .path_attributes
        .iter()
        .map(|a| a.type_code())
        .collect();
    assert_eq!(codes, [1, 2, 3]);
    assert_eq!(rib.len(), 2000);
    assert_eq!(rib.pending(), 0);
    assert!(rib.take_updates(&ctx).is_empty());
}

#[test]
fn mixed_prefix_lengths_use_exact_sizes() {
    let ctx = ctx4();
    let a = v4_nh(&[65001]);
    let mut rib = AdjRibOut::new();
    // /8 = 2 octets, /17 = 4, /32 = 5, /0 = 1.
    let mut queued = vec![(Prefix::new(Ipv4Addr::UNSPECIFIED.into(), 0).unwrap(), 0)];
    for i in 0..1000u32 {
        let len = [8u8, 17, 32][i as usize % 3];
        let p = Prefix::new(Ipv4Addr::from(i << 12 | 0x0100_0000).into(), len).unwrap();
        if !queued.contains(&(p, 0)) {
            queued.push((p, 0));
        }
    }
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    let nlri_octets: usize = queued
        .iter()
        .map(|(p, _)| 1 + usize::from(p.len()).div_ceil(8))
        .sum();
    let sizes = sizes(&updates, &ctx);
    assert_eq!(
        sizes.iter().sum::<usize>(),
        41 * updates.len() + nlri_octets
    );
    assert_eq!(updates.len(), nlri_octets.div_ceil(4096 - 41).max(1));
    assert_eq!(all_announced(&updates), queued);
}

#[test]
fn extended_messages_allow_bigger_updates() {
    let ctx = Context {
        extended_message: true,
        ..ctx4()
    };
    let a = v4_nh(&[65001]);
    let mut rib = AdjRibOut::new();
    let queued: Vec<_> = (0..20_000).map(|i| (slash24(i), 0)).collect();
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    // (65535 - 41) / 4 = 16373 per UPDATE (RFC 8654).
    assert_eq!(updates.len(), 2);
    assert_eq!(sizes(&updates, &ctx), [41 + 4 * 16373, 41 + 4 * 3627]);
    assert_eq!(all_announced(&updates), queued);
    // Not encodable for a peer without the capability.
    assert!(Message::Update(updates[0].clone())
        .to_bytes(&ctx4())
        .is_err());
}

#[test]
fn announce_then_withdraw_cancels() {
    let ctx = ctx4();
    let a = v4_nh(&[65001]);
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, a.clone());
    rib.withdraw(slash24(1), 0);
    // Never advertised: nothing to withdraw either.
    rib.withdraw(slash24(2), 0);
    rib.withdraw(slash48(2), 0);
    assert!(rib.take_updates(&ctx).is_empty());
    assert!(rib.is_empty());

    // Advertised, then replaced and withdrawn before sending: the
    // withdrawal goes out.
    rib.announce(slash24(1), 0, a.clone());
    assert_eq!(rib.take_updates(&ctx).len(), 1);
    rib.announce(slash24(1), 0, v4_nh(&[65002]));
    rib.withdraw(slash24(1), 0);
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 1);
    assert_eq!(all_withdrawn(&updates), [(slash24(1), 0)]);
    assert!(updates[0].path_attributes.is_empty() && updates[0].nlri.is_empty());
    sizes(&updates, &ctx);
    assert!(rib.is_empty());

    // Withdrawn then announced again before sending: just the announcement.
    rib.announce(slash24(3), 0, a.clone());
    rib.take_updates(&ctx);
    let b = v4_nh(&[65003]);
    rib.withdraw(slash24(3), 0);
    rib.announce(slash24(3), 0, b.clone());
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 1);
    assert_eq!(all_announced(&updates), [(slash24(3), 0)]);
    assert!(all_withdrawn(&updates).is_empty());
    assert!(Arc::ptr_eq(rib.get(slash24(3), 0).unwrap(), &b));
}

#[test]
fn same_attributes_again_send_nothing() {
    let ctx = ctx4();
    let a = v4_nh(&[65001]);
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, a.clone());
    rib.take_updates(&ctx);
    rib.announce(slash24(1), 0, a.clone());
    assert!(rib.take_updates(&ctx).is_empty());
    // Changed and changed back before sending: nothing either.
    rib.announce(slash24(1), 0, v4_nh(&[65002]));
    rib.announce(slash24(1), 0, a.clone());
    assert!(rib.take_updates(&ctx).is_empty());
    assert_eq!(rib.len(), 1);
}

#[test]
fn newer_announce_replaces_queued_one() {
    let ctx = ctx4();
    let (a, b) = (v4_nh(&[65001]), v4_nh(&[65002]));
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, a.clone());
    rib.announce(slash24(2), 0, a.clone());
    rib.announce(slash24(1), 0, b.clone());
    let updates = rib.take_updates(&ctx);
    // Sets in the order the queue first shows them: slash24(1), queued
    // first, now has `b`; then `a` for slash24(2).
    assert_eq!(updates.len(), 2);
    assert_eq!(announced(&updates[0]), [(slash24(1), 0)]);
    assert_eq!(announced(&updates[1]), [(slash24(2), 0)]);
    let as_path = |u: &Update| {
        u.path_attributes.iter().find_map(|a| match &a.value {
            AttributeValue::AsPath(p) => Some(p.clone()),
            _ => None,
        })
    };
    assert_eq!(as_path(&updates[0]), Some(AsPath::sequence(vec![65002])));
    assert!(Arc::ptr_eq(rib.get(slash24(1), 0).unwrap(), &b));

    // Replacing an advertised route is a plain announcement (implicit
    // withdrawal, RFC 4271 §3.1).
    rib.announce(slash24(2), 0, b.clone());
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 1);
    assert_eq!(all_announced(&updates), [(slash24(2), 0)]);
    assert!(all_withdrawn(&updates).is_empty());
}

#[test]
fn withdrawals_are_batched() {
    let ctx = ctx4();
    let a = v4_nh(&[65001]);
    let b = v6_nh(&[65001], true);
    let mut rib = AdjRibOut::new();
    for i in 0..3000 {
        rib.announce(slash24(i), 0, a.clone());
    }
    for i in 0..1000 {
        rib.announce(slash48(i), 0, b.clone());
    }
    rib.take_updates(&ctx);
    assert_eq!(rib.len(), 4000);
    for i in 0..3000 {
        rib.withdraw(slash24(i), 0);
    }
    for i in 0..1000 {
        rib.withdraw(slash48(i), 0);
    }
    let updates = rib.take_updates(&ctx);
    // IPv4: (4096 - 23) / 4 = 1018 per UPDATE. IPv6 in MP_UNREACH_NLRI:
    // 23 + 4 (extended length header) + 3 (AFI, SAFI) + 7 per /48:
    // (4096 - 30) / 7 = 580 per UPDATE.
    assert_eq!(updates.len(), 5);
    assert_eq!(
        sizes(&updates, &ctx),
        [
            23 + 4 * 1018,
            23 + 4 * 1018,
            23 + 4 * 964,
            30 + 7 * 580,
            30 + 7 * 420
        ]
    );
    assert!(updates[..3]
        .iter()
        .all(|u| u.path_attributes.is_empty() && u.nlri.is_empty()));
    for u in &updates[3..] {
        assert!(u.withdrawn_routes.is_empty() && u.nlri.is_empty());
        assert_eq!(u.path_attributes.len(), 1);
        assert_eq!(u.mp_unreach().unwrap().family(), Family::IPV6_UNICAST);
    }
    let expected: Vec<_> = (0..3000)
        .map(|i| (slash24(i), 0))
        .chain((0..1000).map(|i| (slash48(i), 0)))
        .collect();
    assert_eq!(all_withdrawn(&updates), expected);
    assert!(all_announced(&updates).is_empty());
    assert!(rib.is_empty());
    assert_eq!(rib.advertised().count(), 0);
}

#[test]
fn withdrawals_come_first_then_sets_in_first_seen_order() {
    let ctx = ctx4();
    let (a, b, c) = (v4_nh(&[1]), v4_nh(&[2]), v6_nh(&[3], false));
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(100), 0, a.clone());
    rib.announce(slash48(100), 0, c.clone());
    rib.take_updates(&ctx);
    rib.announce(slash24(1), 0, b.clone());
    rib.announce(slash48(1), 0, c.clone());
    rib.announce(slash24(2), 0, a.clone());
    rib.withdraw(slash48(100), 0);
    rib.announce(slash24(3), 0, b.clone());
    rib.withdraw(slash24(100), 0);
    let updates = rib.take_updates(&ctx);
    let shape: Vec<_> = updates
        .iter()
        .map(|u| (withdrawn(u), announced(u)))
        .collect();
    assert_eq!(
        shape,
        [
            (vec![(slash24(100), 0)], vec![]),
            (vec![(slash48(100), 0)], vec![]),
            (vec![], vec![(slash24(1), 0), (slash24(3), 0)]),
            (vec![], vec![(slash48(1), 0)]),
            (vec![], vec![(slash24(2), 0)]),
        ]
    );
    sizes(&updates, &ctx);
}

#[test]
fn ipv6_in_mp_reach_nlri() {
    let ctx = ctx_4oct();
    let a = v6_nh(&[65001, 4_200_000_000], true);
    let mut rib = AdjRibOut::new();
    let queued: Vec<_> = (0..1000).map(|i| (slash48(i), 0)).collect();
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    // 23 + ORIGIN 4 + AS_PATH (3 + 2 + 8) 13 + MP_REACH_NLRI header 4 +
    // AFI/SAFI/NH length 4 + next hop 32 + Reserved 1 = 81; 7 per /48:
    // (4096 - 81) / 7 = 573 per UPDATE.
    assert_eq!(updates.len(), 2);
    assert_eq!(sizes(&updates, &ctx), [81 + 7 * 573, 81 + 7 * 427]);
    let mp = updates[0].mp_reach().unwrap();
    assert_eq!(
        mp.next_hop,
        MpNextHop::Ipv6 {
            global: NH6,
            link_local: Some(LL6)
        }
    );
    assert_eq!(mp.family(), Family::IPV6_UNICAST);
    assert!(updates[0].nlri.is_empty());
    assert!(updates[0].attribute(3).is_none(), "no NEXT_HOP");
    let codes: Vec<u8> = updates[0]
        .path_attributes
        .iter()
        .map(|a| a.type_code())
        .collect();
    assert_eq!(codes, [1, 2, 14]);
    assert_eq!(all_announced(&updates), queued);

    // A global next hop only: 16 octets.
    let b = v6_nh(&[65001, 4_200_000_000], false);
    rib.announce(slash48(0), 0, b);
    let updates = rib.take_updates(&ctx);
    // Value 5 + 16 + 7 = 28: one-octet length, header 3.
    assert_eq!(sizes(&updates, &ctx), [23 + 17 + 3 + 28]);
}

#[test]
fn mp_reach_extended_length_boundary() {
    let ctx = ctx_4oct();
    // ORIGIN 4 + empty AS_PATH 3 + COMMUNITIES (4 + 4 * 951) = 3815 octets,
    // leaving 4096 - 23 - 3815 = 258 octets: exactly an MP_REACH_NLRI with a
    // 255-octet value and a one-octet length.
    let a = Arc::new(PathAttrs {
        next_hop: NextHop::V6 {
            global: NH6,
            link_local: None,
        },
        communities: (0..951).map(Community).collect(),
        ..PathAttrs::local()
    });
    let wire: usize = a.to_wire(true).iter().map(|x| x.wire_len(&ctx)).sum();
    assert_eq!(wire, 3815);
    let mut rib = AdjRibOut::new();
    let queued: Vec<_> = (0..30).map(|i| (slash64(i), 0)).collect();
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    // 5 + 16 + 26 * 9 = 255: fits with a one-octet length; the 27th /64
    // would need 264 + 4 octets.
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].mp_reach().unwrap().nlri.len(), 26);
    assert_eq!(sizes(&updates, &ctx), [4096, 23 + 3815 + 3 + 21 + 4 * 9]);
    assert_eq!(all_announced(&updates), queued);
}

#[test]
fn ipv4_over_ipv6_next_hop_with_rfc8950() {
    let ctx = Context {
        extended_next_hop_ipv4: true,
        ..ctx_4oct()
    };
    let a = v6_nh(&[65001], true);
    let mut rib = AdjRibOut::new();
    let queued: Vec<_> = (0..2000).map(|i| (slash24(i), 0)).collect();
    for &(p, id) in &queued {
        rib.announce(p, id, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    // 23 + ORIGIN 4 + AS_PATH 9 + MP_REACH_NLRI (4 + 5 + 32) = 77; 4 per /24:
    // (4096 - 77) / 4 = 1004 per UPDATE.
    assert_eq!(updates.len(), 2);
    assert_eq!(sizes(&updates, &ctx), [77 + 4 * 1004, 77 + 4 * 996]);
    for u in &updates {
        let mp = u.mp_reach().unwrap();
        assert_eq!(mp.family(), Family::IPV4_UNICAST);
        assert!(matches!(mp.next_hop, MpNextHop::Ipv6 { .. }));
        assert!(matches!(mp.nlri, MpNlri::Ipv4Unicast(_)));
        assert!(u.nlri.is_empty() && u.attribute(3).is_none());
    }
    assert_eq!(all_announced(&updates), queued);
    assert_eq!(rib.skipped(), Skipped::default());

    // Withdrawn in the Withdrawn Routes field like any IPv4 prefix.
    rib.withdraw(slash24(0), 0);
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates[0].withdrawn_routes.len(), 1);
    sizes(&updates, &ctx);
}

#[test]
fn ipv4_over_ipv6_next_hop_skipped_without_rfc8950() {
    let ctx = ctx_4oct();
    let mut rib = AdjRibOut::new();
    for i in 0..10 {
        rib.announce(slash24(i), 0, v4_nh(&[65001]));
    }
    rib.take_updates(&ctx);
    // Prefixes 5.. move to an IPv6 next hop the peer cannot take: the old
    // routes are withdrawn and the new ones counted as skipped.
    let a = v6_nh(&[65001], false);
    for i in 5..20 {
        rib.announce(slash24(i), 0, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 1);
    let expected: Vec<_> = (5..10).map(|i| (slash24(i), 0)).collect();
    assert_eq!(all_withdrawn(&updates), expected);
    assert!(all_announced(&updates).is_empty());
    assert_eq!(rib.skipped().ipv4_with_ipv6_next_hop, 15);
    assert_eq!(rib.len(), 5);

    // IPv6 prefixes with an IPv4 next hop cannot be sent either.
    rib.announce(slash48(1), 0, v4_nh(&[65001]));
    assert!(rib.take_updates(&ctx).is_empty());
    assert_eq!(rib.skipped().unusable_next_hop, 1);
}

#[test]
fn add_path_on_carries_path_ids() {
    let ctx = Context {
        add_path: bgp::wire::FamilyFlags {
            ipv4_unicast: true,
            ipv6_unicast: true,
        },
        ..ctx4()
    };
    let (a, b) = (v4_nh(&[65001]), v4_nh(&[65002]));
    let c = v6_nh(&[65003], false);
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 1, a.clone());
    rib.announce(slash24(1), 2, b.clone());
    rib.announce(slash48(1), 7, c.clone());
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 3);
    assert_eq!(updates[0].nlri[0].path_id, Some(1));
    assert_eq!(updates[1].nlri[0].path_id, Some(2));
    match &updates[2].mp_reach().unwrap().nlri {
        MpNlri::Ipv6Unicast(v) => assert_eq!(v[0].path_id, Some(7)),
        other => panic!("{other:?}"),
    }
    // 41 + (4 + 4) for one /24 with its Path Identifier.
    assert_eq!(sizes(&updates, &ctx)[..2], [49, 49]);
    assert_eq!(rib.len(), 3);

    // Both paths withdrawn in one UPDATE, with their identifiers.
    rib.withdraw(slash24(1), 1);
    rib.withdraw(slash24(1), 2);
    rib.withdraw(slash48(1), 7);
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 2);
    assert_eq!(
        all_withdrawn(&updates),
        [(slash24(1), 1), (slash24(1), 2), (slash48(1), 7)]
    );
    assert_eq!(sizes(&updates, &ctx), [23 + 2 * 8, 23 + 3 + 3 + (4 + 7)]);

    // Capacity: (4096 - 41) / 8 = 506 /24s per UPDATE.
    for i in 0..2000 {
        rib.announce(slash24(i), 0, a.clone());
    }
    let updates = rib.take_updates(&ctx);
    assert_eq!(
        sizes(&updates, &ctx),
        [41 + 8 * 506, 41 + 8 * 506, 41 + 8 * 506, 41 + 8 * 482]
    );
}

#[test]
fn add_path_off_sends_path_zero_only() {
    let ctx = ctx4();
    let (a, b) = (v4_nh(&[65001]), v4_nh(&[65002]));
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, a.clone());
    rib.announce(slash24(1), 1, b.clone());
    rib.announce(slash24(2), 3, b.clone());
    let updates = rib.take_updates(&ctx);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].nlri.len(), 1);
    assert_eq!(updates[0].nlri[0].path_id, None);
    assert_eq!(all_announced(&updates), [(slash24(1), 0)]);
    assert_eq!(rib.skipped().path_id_without_add_path, 2);
    assert_eq!(sizes(&updates, &ctx), [41 + 4]);
    let adv: Vec<_> = rib.advertised().map(|(p, id, _)| (p, id)).collect();
    assert_eq!(adv, [(slash24(1), 0)]);
}

#[test]
fn oversized_attributes_are_skipped() {
    let ctx = ctx_4oct();
    // 1100 communities: 4404 octets of attribute alone.
    let a = Arc::new(PathAttrs {
        next_hop: NextHop::V4(NH4),
        communities: (0..1100).map(Community).collect(),
        ..PathAttrs::local()
    });
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, a.clone());
    assert!(rib.take_updates(&ctx).is_empty());
    assert_eq!(rib.skipped().too_large, 1);
    // Fine with Extended Messages.
    let ext = Context {
        extended_message: true,
        ..ctx
    };
    rib.announce(slash24(1), 0, a);
    let updates = rib.take_updates(&ext);
    assert_eq!(sizes(&updates, &ext), [23 + 4 + 3 + 4404 + 7 + 4]);
}

/// `NextHop::Local` is the caller's error: a debug assertion, and in
/// release builds a skipped (and counted) route.
#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "next hop must be concrete"))]
fn local_next_hop_is_a_caller_error() {
    let mut rib = AdjRibOut::new();
    rib.announce(slash24(1), 0, Arc::new(PathAttrs::local()));
    assert!(rib.take_updates(&ctx4()).is_empty());
    assert_eq!(rib.skipped().unusable_next_hop, 1);
    assert!(rib.is_empty());
}

#[test]
fn end_of_rib_markers() {
    let ctx = ctx4();
    let v4 = AdjRibOut::end_of_rib(Family::IPV4_UNICAST);
    let v6 = AdjRibOut::end_of_rib(Family::IPV6_UNICAST);
    assert_eq!(round_trip(&v4, &ctx).0, 23);
    assert_eq!(round_trip(&v6, &ctx).0, 23 + 3 + 3);
    assert_eq!(v4.end_of_rib_family(), Some(Family::IPV4_UNICAST));
    assert_eq!(v6.end_of_rib_family(), Some(Family::IPV6_UNICAST));
}

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The next hop an UPDATE gives its prefixes, for `PathAttrs::from_wire`.
fn next_hop_of(u: &Update) -> NextHop {
    if let Some(mp) = u.mp_reach() {
        match mp.next_hop {
            MpNextHop::Ipv6 { global, link_local } => NextHop::V6 { global, link_local },
            MpNextHop::Ipv4(a) => NextHop::V4(a),
            MpNextHop::Other(_) => panic!("unexpected next hop"),
        }
    } else {
        match u.attribute(3).map(|a| &a.value) {
            Some(AttributeValue::NextHop(a)) => NextHop::V4(*a),
            _ => panic!("no next hop"),
        }
    }
}

/// Random announcements and withdrawals over several rounds: what the peer
/// learns by decoding every UPDATE equals the queued intent, and matches
/// `advertised()`. Sent routes are folded from the index into the sorted
/// store after every round (`compact_at(1)`), at the default threshold, or
/// never: the result is the same.
#[test]
fn round_trip_matches_the_queue() {
    for (seed, ctx, compact_at) in [
        (1, ctx4(), 1),
        (
            2,
            Context {
                four_octet_as: true,
                extended_next_hop_ipv4: true,
                ..ctx4()
            },
            1,
        ),
        (
            3,
            Context {
                add_path: bgp::wire::FamilyFlags {
                    ipv4_unicast: true,
                    ipv6_unicast: true,
                },
                extended_message: true,
                ..ctx_4oct()
            },
            1,
        ),
        (4, ctx4(), 8192),
        (5, ctx_4oct(), usize::MAX),
    ] {
        let mut rng = Lcg(seed);
        let ap = ctx.add_path.ipv4_unicast;
        let sets4: Vec<Attrs> = (0..40)
            .map(|k| v4_nh(&[65000 + k, 4_200_000_000 + k]))
            .collect();
        let sets6: Vec<Attrs> = (0..40)
            .map(|k| v6_nh(&[64512, 100 + k], k % 2 == 0))
            .collect();
        let mut rib = AdjRibOut::new();
        rib.compact_at(compact_at);
        let mut intent: HashMap<(Prefix, u32), Attrs> = HashMap::new();
        let mut peer: HashMap<(Prefix, u32), PathAttrs> = HashMap::new();
        for round in 0..6 {
            let ops = if round == 0 { 20_000 } else { 3000 };
            let mut queued_announce = Vec::new();
            for _ in 0..ops {
                let i = rng.next(8000) as u32;
                let len = [16u8, 20, 24, 25, 32][rng.next(5) as usize];
                let path_id = if ap { rng.next(3) as u32 } else { 0 };
                let (prefix, a) = if rng.next(3) == 0 {
                    let p = Prefix::new(
                        Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 0).into(),
                        [32u8, 48, 64][rng.next(3) as usize],
                    )
                    .unwrap();
                    (p, sets6[rng.next(40) as usize].clone())
                } else {
                    let p = Prefix::new(Ipv4Addr::from(i << 12).into(), len).unwrap();
                    // IPv6 next hops for IPv4 only when the peer takes them.
                    let a = if ctx.extended_next_hop_ipv4 && rng.next(4) == 0 {
                        sets6[rng.next(40) as usize].clone()
                    } else {
                        sets4[rng.next(40) as usize].clone()
                    };
                    (p, a)
                };
                if round > 0 && rng.next(3) == 0 {
                    rib.withdraw(prefix, path_id);
                    intent.remove(&(prefix, path_id));
                } else {
                    rib.announce(prefix, path_id, a.clone());
                    intent.insert((prefix, path_id), a);
                    queued_announce.push((prefix, path_id));
                }
            }
            let updates = rib.take_updates(&ctx);
            let mut seen = HashSet::new();
            for u in &updates {
                let (_, d) = round_trip(u, &ctx);
                for k in withdrawn(&d) {
                    assert!(peer.remove(&k).is_some(), "withdrew unknown {k:?}");
                    assert!(seen.insert(k), "{k:?} twice in one round");
                }
                let got = announced(&d);
                if !got.is_empty() {
                    let attrs = PathAttrs::from_wire(
                        &d.path_attributes,
                        next_hop_of(&d),
                        ctx.four_octet_as,
                    );
                    for k in got {
                        assert!(seen.insert(k), "{k:?} twice in one round");
                        peer.insert(k, attrs.clone());
                    }
                }
            }
            if round == 0 {
                // Only announcements: the union announced is the queue.
                let sent: HashSet<_> = all_announced(&updates).into_iter().collect();
                let queue: HashSet<_> = queued_announce.into_iter().collect();
                assert_eq!(sent, queue);
            }
            assert_eq!(peer.len(), intent.len());
            for (k, a) in &intent {
                assert_eq!(peer.get(k), Some(&**a), "{k:?}");
            }
            let adv: HashMap<_, _> = rib.advertised().map(|(p, id, a)| ((p, id), a)).collect();
            assert_eq!(adv.len(), intent.len());
            assert_eq!(rib.len(), intent.len());
            for (k, a) in &intent {
                assert!(Arc::ptr_eq(adv[k], a));
                assert!(Arc::ptr_eq(rib.get(k.0, k.1).unwrap(), a));
            }
            assert_eq!(rib.skipped(), Skipped::default());
            // Folded once the index is an eighth of the store (after the
            // first round: the store is empty): only ADD-PATH paths other
            // than 0 stay in the index.
            let in_index = intent.keys().filter(|k| k.1 != 0).count();
            match compact_at {
                1 if round == 0 => assert_eq!(rib.indexed(), in_index),
                usize::MAX => assert_eq!(rib.indexed(), intent.len()),
                _ => {}
            }
        }
    }
}

#[test]
fn output_is_deterministic() {
    let run = || {
        let sets: Vec<Attrs> = (0..50).map(|k| v4_nh(&[65000 + k])).collect();
        let mut rib = AdjRibOut::new();
        let mut rng = Lcg(7);
        for _ in 0..5000 {
            let i = rng.next(4000) as u32;
            rib.announce(slash24(i), 0, sets[rng.next(50) as usize].clone());
        }
        rib.take_updates(&ctx4())
    };
    assert_eq!(run(), run());
}

/// Packing speed for a full table: 900,000 IPv4 prefixes over 60,000
/// attribute sets. Run with
/// `cargo test --release -p ribs --test packing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand in release"]
fn full_table_timing() {
    use std::time::{Duration, Instant};
    let ctx = ctx_4oct();
    let mut rng = Lcg(42);
    let sets: Vec<Attrs> = (0..60_000u32)
        .map(|k| {
            let hops = 2 + (k % 5);
            let asns: Vec<u32> = (0..hops).map(|h| 64_512 + (k * 7 + h) % 100_000).collect();
            Arc::new(PathAttrs {
                next_hop: NextHop::V4(NH4),
                as_path: AsPath::sequence(asns),
                med: (k % 3 == 0).then_some(k),
                communities: (0..k % 4).map(|c| Community(0xfde8_0000 + c)).collect(),
                ..PathAttrs::local()
            })
        })
        .collect();
    // Distinct prefixes: /24s (and some shorter) at an odd stride.
    let prefixes: Vec<Prefix> = (0..900_000u32)
        .map(|i| {
            let net = i.wrapping_mul(2_654_435_761) & 0x00ff_ffff;
            Prefix::new(Ipv4Addr::from(net << 8).into(), 24).unwrap()
        })
        .collect();
    let assign: Vec<usize> = (0..prefixes.len())
        .map(|_| rng.next(60_000) as usize)
        .collect();
    // Best of three runs: the machine may be busy with other work.
    let mut best = [Duration::MAX; 3];
    for _ in 0..3 {
        let mut rib = AdjRibOut::new();
        // The handles are cloned outside the timing (the caller's cost).
        let batch: Vec<(Prefix, Attrs)> = prefixes
            .iter()
            .zip(&assign)
            .map(|(p, &s)| (*p, sets[s].clone()))
            .collect();
        let t = Instant::now();
        for (p, a) in batch {
            rib.announce(p, 0, a);
        }
        let queued = t.elapsed();
        let t = Instant::now();
        let updates = rib.take_updates(&ctx);
        let packed = t.elapsed();
        let n: usize = updates.iter().map(Update::prefix_count).sum();
        assert_eq!(n, prefixes.len());
        assert_eq!(updates.len(), 60_000);
        drop(updates);
        let t = Instant::now();
        for p in &prefixes {
            rib.withdraw(*p, 0);
        }
        let updates = rib.take_updates(&ctx);
        let withdrawn = t.elapsed();
        assert_eq!(updates.iter().map(Update::prefix_count).sum::<usize>(), n);
        for (b, d) in best.iter_mut().zip([queued, packed, withdrawn]) {
            *b = (*b).min(d);
        }
    }
    println!(
        "900k IPv4 prefixes, 60k attribute sets (best of 3): announce {:?}, \
         take_updates {:?}; withdraw all + take_updates {:?}",
        best[0], best[1], best[2]
    );
}

/// A whole-table load (a new session) sends the same UPDATEs as the same
/// routes announced one by one.
#[test]
fn whole_table_load_packs_like_single_announcements() {
    let a = v4_nh(&[65001]);
    let b = v4_nh(&[65002, 65003]);
    let c = v6_nh(&[65004], true);
    let v4: Vec<(bgp::wire::Ipv4Prefix, u32)> = (0..3000u32)
        .rev()
        .map(|i| match slash24(i) {
            Prefix::V4(p) => (p, i % 2),
            Prefix::V6(_) => unreachable!(),
        })
        .collect();
    let v6: Vec<(bgp::wire::Ipv6Prefix, u32)> = (0..500u32)
        .map(|i| match slash48(i) {
            Prefix::V6(p) => (p, 2),
            Prefix::V4(_) => unreachable!(),
        })
        .collect();
    let mut loaded = AdjRibOut::new();
    loaded.load(vec![a.clone(), b.clone(), c.clone()], v4, v6);
    assert_eq!(loaded.pending(), 3500);
    assert_eq!(loaded.len(), 0, "nothing advertised before it is sent");
    let from_load = loaded.take_updates(&ctx_4oct());

    let mut single = AdjRibOut::new();
    for i in 0..3000u32 {
        single.announce(
            slash24(i),
            0,
            if i % 2 == 0 { a.clone() } else { b.clone() },
        );
    }
    for i in 0..500u32 {
        single.announce(slash48(i), 0, c.clone());
    }
    let from_single = single.take_updates(&ctx_4oct());
    assert_eq!(
        sizes(&from_load, &ctx_4oct()),
        sizes(&from_single, &ctx_4oct())
    );
    let mut l = all_announced(&from_load);
    let mut s = all_announced(&from_single);
    l.sort();
    s.sort();
    assert_eq!(l, s);
    assert_eq!(loaded.len(), 3500);
    assert_eq!(loaded.get(slash24(7), 0), Some(&b));
    assert_eq!(loaded.get(slash48(7), 0), Some(&c));
    assert_eq!(loaded.advertised().count(), 3500);
}

/// Routes of a sent load change like any other: a new set is announced, the
/// same set again sends nothing, a withdrawal is sent once, and the
/// Adj-RIB-Out reflects each.
#[test]
fn changes_after_a_whole_table_load() {
    let a = v4_nh(&[65001]);
    let b = v4_nh(&[65002]);
    let p = |i: u32| match slash24(i) {
        Prefix::V4(p) => p,
        Prefix::V6(_) => unreachable!(),
    };
    let mut out = AdjRibOut::new();
    out.load(
        vec![a.clone()],
        (0..10).map(|i| (p(i), 0)).collect(),
        vec![],
    );
    assert_eq!(all_announced(&out.take_updates(&ctx_4oct())).len(), 10);

    out.announce(slash24(1), 0, b.clone()); // changed
    out.announce(slash24(2), 0, a.clone()); // unchanged
    out.withdraw(slash24(3), 0);
    out.withdraw(slash24(99), 0); // never advertised
    let u = out.take_updates(&ctx_4oct());
    assert_eq!(all_withdrawn(&u), vec![(slash24(3), 0)]);
    assert_eq!(all_announced(&u), vec![(slash24(1), 0)]);
    assert_eq!(out.len(), 9);
    assert_eq!(out.get(slash24(1), 0), Some(&b));
    assert_eq!(out.get(slash24(2), 0), Some(&a));
    assert_eq!(out.get(slash24(3), 0), None);
    assert_eq!(out.advertised().count(), 9);
    out.withdraw(slash24(3), 0);
    assert!(out.take_updates(&ctx_4oct()).is_empty(), "withdrawn once");
}

/// A change queued before the load was sent replaces the loaded route: a
/// withdrawal means it is never sent at all.
#[test]
fn changes_before_a_whole_table_load_is_sent() {
    let a = v4_nh(&[65001]);
    let b = v4_nh(&[65002]);
    let p = |i: u32| match slash24(i) {
        Prefix::V4(p) => p,
        Prefix::V6(_) => unreachable!(),
    };
    let mut out = AdjRibOut::new();
    out.load(vec![a.clone()], (0..4).map(|i| (p(i), 0)).collect(), vec![]);
    out.withdraw(slash24(0), 0);
    out.announce(slash24(1), 0, b.clone());
    let u = out.take_updates(&ctx_4oct());
    assert!(all_withdrawn(&u).is_empty());
    let mut got = all_announced(&u);
    got.sort();
    assert_eq!(got, vec![(slash24(1), 0), (slash24(2), 0), (slash24(3), 0)]);
    assert_eq!(out.get(slash24(1), 0), Some(&b));
    assert_eq!(out.get(slash24(0), 0), None);
    assert_eq!(out.len(), 3);
}

/// A whole table packed straight into messages (what a session is sent)
/// is byte for byte what the UPDATEs packed from the same load encode to:
/// IPv4 with NEXT_HOP, IPv6 in MP_REACH_NLRI, IPv4 with an IPv6 next hop
/// (RFC 8950), ADD-PATH Path Identifiers (RFC 7911) and Extended Messages
/// (RFC 8654); sets with communities; enough prefixes for several messages.
#[test]
fn whole_table_messages_are_the_updates_encoded() {
    // Every attribute a set can carry, an AS over two octets (AS4_PATH and
    // AS4_AGGREGATOR towards a 2-octet-AS peer, RFC 6793 §4.2.2) and an
    // unknown optional transitive attribute (passed on Partial).
    let with_communities = |nh: NextHop, asns: &[u32]| -> Attrs {
        Arc::new(PathAttrs {
            next_hop: nh,
            as_path: AsPath::sequence(asns.to_vec()),
            med: Some(10),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(bgp::wire::Aggregator {
                asn: 4_200_000_001,
                address: NH4,
            }),
            communities: (0..40).map(|i| Community(0xfde8_0000 | i)).collect(),
            extended_communities: vec![bgp::wire::ExtendedCommunity([
                0, 2, 0xfd, 0xe8, 0, 0, 0, 1,
            ])],
            large_communities: vec![bgp::wire::LargeCommunity {
                global_admin: 4_200_000_001,
                local_data_1: 1,
                local_data_2: 2,
            }],
            originator_id: Some(NH4),
            cluster_list: vec![NH4, Ipv4Addr::new(192, 0, 2, 2)],
            otc: Some(65002),
            unknown: vec![bgp::wire::PathAttribute {
                flags: 0xc0,
                value: AttributeValue::Unknown {
                    type_code: 99,
                    value: vec![1, 2, 3],
                },
            }],
            ..PathAttrs::local()
        })
    };
    let sets = vec![
        v4_nh(&[65001]),
        with_communities(NextHop::V4(NH4), &[65002, 4_200_000_003]),
        v6_nh(&[65004], false),
        with_communities(
            NextHop::V6 {
                global: NH6,
                link_local: Some(LL6),
            },
            &[65005],
        ),
    ];
    let v4 = |i: u32| match slash24(i) {
        Prefix::V4(p) => p,
        Prefix::V6(_) => unreachable!(),
    };
    let v6 = |i: u32| match slash48(i) {
        Prefix::V6(p) => p,
        Prefix::V4(_) => unreachable!(),
    };
    // 3,000 IPv4 prefixes over all four sets (those of the IPv6 next hops
    // are sent only with RFC 8950), 2,000 IPv6 prefixes over the last two.
    let mut out = AdjRibOut::new();
    out.load(
        sets,
        (0..3000).map(|i| (v4(i), i % 4)).collect(),
        (0..2000).map(|i| (v6(i), 2 + i % 2)).collect(),
    );
    let contexts = [
        ("IPv4 and IPv6", ctx_4oct()),
        (
            "RFC 8950",
            Context {
                extended_next_hop_ipv4: true,
                ..ctx_4oct()
            },
        ),
        (
            "ADD-PATH",
            Context {
                add_path: bgp::wire::FamilyFlags {
                    ipv4_unicast: true,
                    ipv6_unicast: true,
                },
                ..ctx_4oct()
            },
        ),
        (
            "Extended Messages, two-octet AS",
            Context {
                extended_message: true,
                ..ctx4()
            },
        ),
    ];
    for (name, ctx) in contexts {
        let updates = out.clone().take_views(&ctx, &[], false).shared;
        let expected: Vec<Vec<u8>> = updates
            .iter()
            .map(|u| Message::Update(u.clone()).to_bytes(&ctx).unwrap().to_vec())
            .collect();
        let got: Vec<Vec<u8>> = out
            .clone()
            .take_views(&ctx, &[], true)
            .shared_messages
            .expect("a whole table comes as messages")
            .unwrap()
            .iter()
            .map(|m| m.to_vec())
            .collect();
        assert!(expected.len() >= 4, "{name}: {} messages", expected.len());
        assert_eq!(got.len(), expected.len(), "{name}");
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{name}: message {k}");
        }
    }
}
