//! Real traffic: every BGP message of every MRT capture under
//! `shared/data/mrt` (see its README) is decoded. None may panic; every
//! UPDATE decodes without error unless the data really is malformed (the
//! records are named below, with the reason); re-encoding each decoded
//! UPDATE gives back the same bytes (it does for all of them: none of the
//! captures has host bits set beyond a prefix length or a malformed
//! attribute, the two cases where the canonical encoding would differ).

mod support;

use std::collections::BTreeMap;

use bgp::wire::{
    decode_message, AttributeValue, Context, ErrorKind, FamilyFlags, Message, Verdict,
};
use bytes::BytesMut;
use support::mrt;

fn context_of(r: &mrt::BgpRecord) -> Context {
    r.context()
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    messages: usize,
    by_type: BTreeMap<u8, usize>,
    updates_ok: usize,
    /// Record index -> error, for messages that did not decode.
    failed: BTreeMap<usize, String>,
    /// Non-fatal RFC 7606 findings.
    non_fatal: usize,
    reencoded_identical: usize,
    prefixes: usize,
}

fn run(file: &str) -> Tally {
    let path = mrt::data_dir().join(file);
    let records = mrt::bgp_messages(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut t = Tally::default();
    for r in &records {
        t.messages += 1;
        *t.by_type.entry(r.bgp_type().unwrap_or(0)).or_default() += 1;
        let ctx = context_of(r);
        let msg = match decode_message(&r.message, &ctx) {
            Ok(m) => m,
            Err(e) => {
                t.failed.insert(r.index, e.to_string());
                continue;
            }
        };
        let Message::Update(u) = &msg else { continue };
        t.updates_ok += 1;
        t.non_fatal += u.errors.len();
        t.prefixes += u.prefix_count();
        let mut buf = BytesMut::new();
        msg.encode(&ctx, &mut buf)
            .expect("a decoded UPDATE re-encodes");
        if buf[..] == r.message[..] {
            t.reencoded_identical += 1;
        } else {
            panic!(
                "{file} record {}: re-encoding differs\n orig {}\n ours {}",
                r.index,
                hex(&r.message),
                hex(&buf)
            );
        }
    }
    t
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every UPDATE of the 15 minutes of RIS rrc01 (2024): IPv4 and IPv6,
/// Large Communities, OTC and three attributes of reserved type 255.
#[test]
fn ris_rrc01_2024_every_update_decodes_and_reencodes_identically() {
    let t = run("ris-rrc01.updates.20241001.0055.gz");
    assert_eq!(t.failed, BTreeMap::new());
    assert_eq!(t.by_type.get(&2), Some(&93_166));
    assert_eq!(t.updates_ok, 93_166);
    assert_eq!(t.reencoded_identical, 93_166);
    assert_eq!(t.non_fatal, 0);
}

/// The reserved type 255 attributes are kept as unknown optional
/// attributes, flags and bytes intact, and OTC (type 35) is decoded.
#[test]
fn ris_rrc01_2024_reserved_type_255_and_otc_are_kept() {
    let path = mrt::data_dir().join("ris-rrc01.updates.20241001.0055.gz");
    let mut reserved = 0;
    let mut otc = 0;
    for r in mrt::bgp_messages(&path).unwrap() {
        let Ok(Message::Update(u)) = decode_message(&r.message, &context_of(&r)) else {
            continue;
        };
        for a in &u.path_attributes {
            match &a.value {
                AttributeValue::Unknown { type_code: 255, .. } => {
                    assert_ne!(
                        a.flags & 0x80,
                        0,
                        "an unknown attribute is kept only if optional"
                    );
                    reserved += 1;
                }
                AttributeValue::Otc(_) => otc += 1,
                _ => {}
            }
        }
    }
    assert_eq!(reserved, 3);
    assert!(otc > 0, "the capture carries OTC attributes");
}

#[test]
fn ris_2016_every_update_decodes_and_reencodes_identically() {
    let t = run("ris.updates.20160811.1600.gz");
    assert_eq!(t.failed, BTreeMap::new());
    assert_eq!(t.updates_ok, t.by_type[&2]);
    assert_eq!(t.reencoded_identical, t.updates_ok);
    assert_eq!(t.non_fatal, 0);
}

/// One UPDATE of 36,950 bytes of withdrawals: larger than 4096, so it is
/// valid only under Extended Messages (RFC 8654); without them the header
/// check refuses it with Bad Message Length and the length as data.
#[test]
fn long_withdrawal_needs_extended_messages() {
    let path = mrt::data_dir().join("updates.long_withdrawal.gz");
    let records = mrt::bgp_messages(&path).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.message.len(), 36_894);
    let ctx = context_of(r);
    let Ok(Message::Update(u)) = decode_message(&r.message, &ctx) else {
        panic!("decodes with extended messages")
    };
    // All withdrawals are IPv6, in MP_UNREACH_NLRI.
    assert!(u.nlri.is_empty() && u.withdrawn_routes.is_empty());
    assert_eq!(u.path_attributes.len(), 1);
    let w = u.withdrawn();
    assert!(w.ipv4.is_empty());
    assert_eq!(w.ipv6.len(), 4096);
    let strict = Context {
        extended_message: false,
        ..ctx
    };
    let e = decode_message(&r.message, &strict).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadMessageLength {
            length: 36_894,
            min: 23,
            max: 4096
        }
    );
    assert_eq!(
        e.verdict,
        Verdict::reset(1, 2, 36_894u16.to_be_bytes().to_vec())
    );
}

/// `updates.nlri_mask_trailing_bits`: the NLRI field is `0d 0b 0d 0b`: a
/// /13 with host bits set (11.13.0.0, canonical 11.8.0.0/13), then a /11
/// with no octets left. The field really is malformed: RFC 7606 §5.3 makes
/// that a session reset with Invalid Network Field (RFC 4271 §6.3).
#[test]
fn nlri_mask_trailing_bits_is_really_malformed() {
    let t = run("updates.nlri_mask_trailing_bits.gz");
    assert_eq!(t.messages, 1);
    assert_eq!(t.failed.len(), 1);
    let path = mrt::data_dir().join("updates.nlri_mask_trailing_bits.gz");
    let r = &mrt::bgp_messages(&path).unwrap()[0];
    let e = decode_message(&r.message, &context_of(r)).unwrap_err();
    assert_eq!(e.field, "update.nlri");
    assert_eq!(e.offset, 59, "the /11 is the last byte of the 60");
    assert_eq!(
        e.kind,
        ErrorKind::NlriOverrun {
            length: 11,
            needed: 2,
            available: 0
        }
    );
    assert_eq!(e.verdict, Verdict::reset(3, 10, Vec::new()));
}

/// BIRD's captures: six UPDATEs of each carry ADD-PATH Path Identifiers
/// although the records use the plain BGP4MP_MESSAGE_AS4 subtype (BIRD
/// wrote them before RFC 8050's ADD-PATH subtypes). Decoded as the record
/// says they are malformed (a Path Identifier octet read as a prefix
/// length over 32 or 128); decoded with ADD-PATH, as the session had it,
/// they are valid and re-encode identically.
#[test]
fn bird_captures_with_add_path_under_the_plain_subtype() {
    for (file, bad_offsets) in [
        ("bird_bgp", "update.nlri"),
        ("bird6_bgp", "MP_REACH_NLRI.nlri"),
    ] {
        let t = run(file);
        assert_eq!(t.failed.len(), 6, "{file}: {:?}", t.failed);
        let path = mrt::data_dir().join(file);
        for r in mrt::bgp_messages(&path).unwrap() {
            if !t.failed.contains_key(&r.index) {
                continue;
            }
            let e = decode_message(&r.message, &context_of(&r)).unwrap_err();
            assert_eq!(e.field, bad_offsets, "{file} record {}", r.index);
            assert!(
                matches!(e.kind, ErrorKind::InvalidPrefixLength { .. }),
                "{e}"
            );
            let ctx = Context {
                add_path: FamilyFlags {
                    ipv4_unicast: true,
                    ipv6_unicast: true,
                },
                ..context_of(&r)
            };
            let msg = decode_message(&r.message, &ctx).expect("valid with ADD-PATH");
            let Message::Update(u) = &msg else { panic!() };
            let ids: Vec<_> = u
                .announced()
                .ipv4
                .iter()
                .map(|n| n.path_id)
                .chain(u.announced().ipv6.iter().map(|n| n.path_id))
                .collect();
            assert!(
                !ids.is_empty() && ids.iter().all(Option::is_some),
                "{ids:?}"
            );
            assert_eq!(msg.to_bytes(&ctx).unwrap()[..], r.message[..]);
        }
    }
}

/// The other lab captures (BIRD MRT dumps, OpenBGPD, Quagga) decode
/// completely; TABLE_DUMP_V2 files hold no BGP messages.
#[test]
fn lab_captures_decode() {
    for file in [
        "bird-mrtdump_bgp",
        "bird6-mrtdump_bgp",
        "openbgpd_bgp",
        "quagga_bgp",
    ] {
        let t = run(file);
        assert!(t.messages > 0, "{file}");
        assert_eq!(t.failed, BTreeMap::new(), "{file}");
        assert_eq!(t.reencoded_identical, t.updates_ok, "{file}");
        assert!(t.updates_ok > 0, "{file}");
    }
    for file in [
        "bird-mrtdump_rib",
        "bird6-mrtdump_rib",
        "openbgpd_rib_table",
        "openbgpd_rib_table-mp",
        "openbgpd_rib_table-v2",
        "quagga_rib",
    ] {
        assert_eq!(run(file).messages, 0, "{file}");
    }
}
