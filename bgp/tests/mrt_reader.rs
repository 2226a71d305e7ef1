//! Sanity checks of the test-support MRT reader against the captures in
//! `shared/data/mrt`: exact record counts per file and per BGP message type,
//! and no panic on truncated or garbage input.

mod support;

use std::collections::BTreeMap;

use support::mrt::{self, BgpRecord, MrtFile};

/// What one MRT file holds.
struct Expected {
    name: &'static str,
    /// MRT records of any type.
    total: usize,
    /// Skipped records by (MRT type, subtype).
    skipped: &'static [((u16, u16), usize)],
    /// BGP messages by BGP4MP subtype.
    subtypes: &'static [(u16, usize)],
    /// BGP messages by type: OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH.
    bgp_types: [usize; 5],
}

const FILES: &[Expected] = &[
    Expected {
        name: "bird-mrtdump_bgp",
        total: 27,
        skipped: &[((16, 5), 12)],
        subtypes: &[(1, 1), (9, 14)],
        bgp_types: [2, 6, 1, 5, 1],
    },
    Expected {
        name: "bird-mrtdump_rib",
        total: 14,
        skipped: &[((13, 1), 2), ((13, 2), 4), ((13, 8), 8)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        name: "bird6-mrtdump_bgp",
        total: 27,
        skipped: &[((16, 5), 12)],
        subtypes: &[(1, 1), (9, 14)],
        bgp_types: [2, 6, 1, 5, 1],
    },
    Expected {
        name: "bird6-mrtdump_rib",
        total: 9,
        skipped: &[((13, 1), 2), ((13, 4), 2), ((13, 10), 5)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        name: "bird6_bgp",
        total: 29,
        skipped: &[((16, 5), 12)],
        subtypes: &[(1, 1), (4, 16)],
        bgp_types: [2, 8, 1, 5, 1],
    },
    Expected {
        name: "bird_bgp",
        total: 29,
        skipped: &[((16, 5), 12)],
        subtypes: &[(1, 1), (4, 16)],
        bgp_types: [2, 8, 1, 5, 1],
    },
    Expected {
        name: "openbgpd_bgp",
        total: 87,
        skipped: &[((16, 0), 8), ((16, 5), 8)],
        subtypes: &[(1, 4), (4, 67)],
        bgp_types: [4, 48, 2, 13, 4],
    },
    Expected {
        // TABLE_DUMP (v1, type 12).
        name: "openbgpd_rib_table",
        total: 31,
        skipped: &[((12, 1), 11), ((12, 2), 20)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        // BGP4MP_ENTRY (subtype 2): RIB entries, no BGP message.
        name: "openbgpd_rib_table-mp",
        total: 31,
        skipped: &[((16, 2), 31)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        name: "openbgpd_rib_table-v2",
        total: 24,
        skipped: &[((13, 1), 1), ((13, 2), 11), ((13, 4), 10), ((13, 6), 2)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        name: "quagga_bgp",
        total: 67,
        skipped: &[((16, 5), 20)],
        subtypes: &[(1, 4), (4, 43)],
        bgp_types: [4, 24, 2, 10, 7],
    },
    Expected {
        name: "quagga_rib",
        total: 7,
        skipped: &[((13, 1), 1), ((13, 2), 3), ((13, 4), 3)],
        subtypes: &[],
        bgp_types: [0; 5],
    },
    Expected {
        name: "ris-rrc01.updates.20241001.0055.gz",
        total: 94_824,
        skipped: &[((16, 0), 235), ((16, 5), 35)],
        subtypes: &[(1, 14), (4, 94_540)],
        bgp_types: [12, 93_166, 2, 1_374, 0],
    },
    Expected {
        name: "ris.updates.20160811.1600.gz",
        total: 17_406,
        skipped: &[((16, 5), 22)],
        subtypes: &[(4, 17_384)],
        bgp_types: [0, 17_216, 0, 168, 0],
    },
    Expected {
        name: "updates.long_withdrawal.gz",
        total: 1,
        skipped: &[],
        subtypes: &[(4, 1)],
        bgp_types: [0, 1, 0, 0, 0],
    },
    Expected {
        name: "updates.nlri_mask_trailing_bits.gz",
        total: 1,
        skipped: &[],
        subtypes: &[(1, 1)],
        bgp_types: [0, 1, 0, 0, 0],
    },
];

fn read(name: &str) -> MrtFile {
    let path = mrt::data_dir().join(name);
    mrt::read_mrt(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn data_dir_has_every_listed_file() {
    let dir = mrt::data_dir();
    assert!(
        dir.is_dir(),
        "{} is missing (shared/ must sit beside the workspace)",
        dir.display()
    );
    for file in FILES {
        assert!(dir.join(file.name).is_file(), "{} missing", file.name);
    }
}

#[test]
fn record_counts_per_file() {
    for want in FILES {
        let file = read(want.name);
        let name = want.name;
        assert_eq!(file.error, None, "{name}");
        assert_eq!(file.malformed, 0, "{name}");
        assert_eq!(file.total_records, want.total, "{name}: total records");

        let skipped: BTreeMap<(u16, u16), usize> = want.skipped.iter().copied().collect();
        assert_eq!(file.skipped_by_type, skipped, "{name}: skipped records");
        assert_eq!(file.skipped, skipped.values().sum::<usize>(), "{name}");
        assert_eq!(
            file.records.len() + file.skipped,
            file.total_records,
            "{name}"
        );

        let mut subtypes = BTreeMap::new();
        for r in &file.records {
            *subtypes.entry(r.subtype).or_insert(0usize) += 1;
        }
        let want_subtypes: BTreeMap<u16, usize> = want.subtypes.iter().copied().collect();
        assert_eq!(subtypes, want_subtypes, "{name}: BGP4MP subtypes");

        let counts = file.bgp_type_counts();
        let got: Vec<usize> = (1u8..=5)
            .map(|t| counts.get(&t).copied().unwrap_or(0))
            .collect();
        assert_eq!(
            got, want.bgp_types,
            "{name}: OPEN/UPDATE/NOTIFICATION/KEEPALIVE/ROUTE-REFRESH"
        );
        assert_eq!(
            counts.keys().filter(|t| !(1..=5).contains(*t)).count(),
            0,
            "{name}: unknown BGP types"
        );
    }
}

/// Every message keeps its marker and its header length equals the bytes
/// the MRT record gave it.
#[test]
fn messages_are_whole() {
    for want in FILES {
        for r in read(want.name).records {
            assert_eq!(
                &r.message[..16],
                &[0xff; 16],
                "{} record {}: marker",
                want.name,
                r.index
            );
            let len = usize::from(u16::from_be_bytes([r.message[16], r.message[17]]));
            assert_eq!(
                len,
                r.message.len(),
                "{} record {}: length",
                want.name,
                r.index
            );
        }
    }
}

#[test]
fn ris_2024_details() {
    let file = read("ris-rrc01.updates.20241001.0055.gz");
    let updates: Vec<&BgpRecord> = file.updates().collect();
    assert_eq!(updates.len(), 93_166);
    // Every UPDATE comes from a 4-octet-AS session without ADD-PATH.
    assert!(updates
        .iter()
        .all(|r| r.as4 && !r.add_path && r.mrt_type == mrt::MRT_BGP4MP));
    assert_eq!(
        updates.iter().map(|r| r.message.len()).sum::<usize>(),
        11_217_957
    );
    assert_eq!(
        updates.iter().filter(|r| r.afi == 1).count()
            + updates.iter().filter(|r| r.afi == 2).count(),
        93_166
    );
    assert_eq!(
        file.records.first().map(|r| r.timestamp),
        Some(1_727_744_100)
    );
    assert_eq!(
        file.records.last().map(|r| r.timestamp),
        Some(1_727_744_399)
    );
    // Record indices count skipped records too and increase strictly.
    assert!(file.records.windows(2).all(|w| w[0].index < w[1].index));
    assert_eq!(file.records.last().map(|r| r.index), Some(94_823));
}

#[test]
fn addpath_subtypes_are_flagged() {
    let file = read("bird-mrtdump_bgp");
    let addpath: Vec<&BgpRecord> = file.records.iter().filter(|r| r.add_path).collect();
    assert_eq!(addpath.len(), 14);
    assert!(addpath.iter().all(|r| r.subtype == 9 && r.as4 && !r.local));
}

#[test]
fn long_withdrawal_is_larger_than_4096() {
    let file = read("updates.long_withdrawal.gz");
    assert_eq!(file.records[0].message.len(), 36_894);
    assert!(file.records[0].is_update());
}

#[test]
fn bgp_messages_matches_read_mrt() {
    let path = mrt::data_dir().join("quagga_bgp");
    let records = mrt::bgp_messages(&path).expect("read");
    assert_eq!(records, read("quagga_bgp").records);
    assert!(mrt::bgp_messages(&mrt::data_dir().join("no-such-file")).is_err());
}

/// Cutting a file anywhere yields the records before the cut, and an error
/// note exactly when the cut is not on a record boundary.
#[test]
fn truncation_never_panics() {
    let bytes = mrt::read_file_bytes(&mrt::data_dir().join("bird_bgp")).expect("read");
    let full = mrt::parse_mrt(&bytes);
    assert_eq!(full.error, None);
    // Byte offsets where a record ends.
    let mut boundaries = vec![0usize];
    let mut pos = 0;
    while pos < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        pos += 12 + len;
        boundaries.push(pos);
    }
    assert_eq!(pos, bytes.len());
    for cut in 0..=bytes.len() {
        let part = mrt::parse_mrt(&bytes[..cut]);
        let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
        assert_eq!(part.total_records, whole, "cut at {cut}");
        assert_eq!(
            part.error.is_some(),
            !boundaries.contains(&cut),
            "cut at {cut}"
        );
        assert_eq!(
            part.records[..],
            full.records[..part.records.len()],
            "cut at {cut}"
        );
    }
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2_000 {
        let len = round % 300;
        let mut buf = Vec::with_capacity(len);
        for _ in 0..len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            buf.push((state >> 56) as u8);
        }
        // Half the rounds get a plausible BGP4MP header so the body parser runs.
        if round % 2 == 0 && buf.len() >= 12 {
            let body = (buf.len() - 12) as u32;
            buf[4..6].copy_from_slice(&16u16.to_be_bytes());
            buf[6..8].copy_from_slice(&[0, [1u8, 4, 6, 7, 8, 9, 10, 11][round % 8]]);
            buf[8..12].copy_from_slice(&body.to_be_bytes());
        }
        let file = mrt::parse_mrt(&buf);
        assert!(file.records.len() + file.skipped + file.malformed == file.total_records);
    }
}

/// Builds one MRT record by hand.
fn record(mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&mrt_type.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn keepalive() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 19, 4]);
    m
}

#[test]
fn extended_timestamp_and_ipv6_as4_local_addpath() {
    // BGP4MP_ET, MESSAGE_AS4_LOCAL_ADDPATH (11), IPv6 peer.
    let mut body = Vec::new();
    body.extend_from_slice(&123_456u32.to_be_bytes()); // microseconds
    body.extend_from_slice(&4_200_000_000u32.to_be_bytes()); // peer AS
    body.extend_from_slice(&65_001u32.to_be_bytes()); // local AS
    body.extend_from_slice(&7u16.to_be_bytes()); // interface index
    body.extend_from_slice(&2u16.to_be_bytes()); // AFI IPv6
    body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    body.extend_from_slice(&keepalive());
    // BGP4MP MESSAGE (1), 2-byte ASNs, IPv4 peer.
    let mut body2 = Vec::new();
    body2.extend_from_slice(&[0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 1]);
    body2.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    body2.extend_from_slice(&keepalive());
    // STATE_CHANGE_AS4 (5), skipped; and a MESSAGE with an unknown AFI.
    let mut bad = vec![0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 3];
    bad.extend_from_slice(&keepalive());

    let mut data = record(17, 11, &body);
    data.extend(record(16, 5, &[0; 20]));
    data.extend(record(16, 1, &bad));
    data.extend(record(16, 1, &body2));
    let file = mrt::parse_mrt(&data);

    assert_eq!(file.total_records, 4);
    assert_eq!(file.skipped, 1);
    assert_eq!(file.malformed, 1);
    assert!(
        file.error.as_deref().unwrap_or("").contains("record 2"),
        "{:?}",
        file.error
    );
    assert_eq!(file.records.len(), 2);

    let r = &file.records[0];
    assert_eq!(
        (r.index, r.mrt_type, r.subtype, r.microseconds),
        (0, 17, 11, 123_456)
    );
    assert!(r.as4 && r.add_path && r.local);
    assert_eq!(
        (r.peer_as, r.local_as, r.interface_index, r.afi),
        (4_200_000_000, 65_001, 7, 2)
    );
    assert_eq!(
        r.peer_ip,
        "2001:db8::1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        r.local_ip,
        "2001:db8::2".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(r.message, keepalive());
    assert_eq!(r.bgp_type(), Some(4));

    let r = &file.records[1];
    assert_eq!(
        (r.index, r.subtype, r.as4, r.add_path),
        (3, 1, false, false)
    );
    assert_eq!((r.peer_as, r.local_as, r.afi), (65_001, 65_002, 1));
    assert_eq!(r.peer_ip, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(r.message, keepalive());
}

// ---------------------------------------------------------------------------
// support::synth: the synthetic UPDATEs are checked here too, against the raw
// prefix counter and against an independent parser (bgpkit-parser).

use support::synth;

/// Prefixes of a raw UPDATE as bgpkit-parser sees them (classic and MP).
fn bgpkit_prefix_count(msg: &[u8], add_path: bool) -> Option<usize> {
    use bgpkit_parser::models::{AsnLength, BgpMessage};
    let mut data = bytes::Bytes::copy_from_slice(msg);
    let parsed = bgpkit_parser::parser::bgp::messages::parse_bgp_message(
        &mut data,
        add_path,
        &AsnLength::Bits32,
    )
    .ok()?;
    let BgpMessage::Update(u) = parsed else {
        return None;
    };
    let mp = |n: Option<&bgpkit_parser::models::Nlri>| n.map_or(0, |n| n.prefixes.len());
    Some(
        u.withdrawn_prefixes.len()
            + u.announced_prefixes.len()
            + mp(u.attributes.get_reachable_nlri())
            + mp(u.attributes.get_unreachable_nlri()),
    )
}

#[test]
fn ris_2024_prefix_count_agrees_with_bgpkit() {
    let file = read("ris-rrc01.updates.20241001.0055.gz");
    let mut ours = 0usize;
    let mut compared = 0usize;
    for r in file.updates() {
        let n = synth::count_prefixes(&r.message, r.add_path)
            .unwrap_or_else(|| panic!("record {}: malformed UPDATE framing", r.index));
        ours += n;
        if let Some(theirs) = bgpkit_prefix_count(&r.message, r.add_path) {
            assert_eq!(n, theirs, "record {}", r.index);
            compared += 1;
        }
    }
    assert_eq!(ours, 184_928);
    assert_eq!(compared, 93_166);
}

fn prefixes() -> synth::Prefixes {
    let p = synth::Prefixes::load().expect("shared/data/prefixes-dfz.txt.gz");
    assert_eq!((p.v4.len(), p.v6.len(), p.bad_lines), (901_899, 160_147, 0));
    p
}

fn check_messages(msgs: &[Vec<u8>], max_per_update: usize) -> usize {
    let mut total = 0;
    for (i, m) in msgs.iter().enumerate() {
        assert!(
            m.len() <= synth::MAX_MESSAGE,
            "message {i}: {} bytes",
            m.len()
        );
        assert_eq!(&m[..16], &[0xff; 16]);
        assert_eq!(usize::from(u16::from_be_bytes([m[16], m[17]])), m.len());
        assert_eq!(m[18], 2);
        let n = synth::count_prefixes(m, false).expect("well-formed");
        assert!(n > 0 && n <= max_per_update, "message {i}: {n} prefixes");
        assert_eq!(bgpkit_prefix_count(m, false), Some(n), "message {i}");
        total += n;
    }
    total
}

#[test]
fn synthetic_tables() {
    let p = prefixes();
    let v4 = p.v4_24_22().len();
    let v6 = p.v6_48().len();
    assert_eq!((v4, v6), (646_321, 75_488));

    let table4 = synth::table_ipv4(&p);
    assert_eq!(table4.len(), v4.div_ceil(synth::PREFIXES_PER_SET));
    assert_eq!(check_messages(&table4, synth::PREFIXES_PER_SET), v4);

    let table6 = synth::table_ipv6(&p);
    assert_eq!(table6.len(), v6.div_ceil(synth::PREFIXES_PER_SET));
    assert_eq!(check_messages(&table6, synth::PREFIXES_PER_SET), v6);

    let packed4 = synth::packed_ipv4(&p);
    assert_eq!(check_messages(&packed4, usize::MAX), v4);
    // Every UPDATE but the last is within a few bytes of 4,096.
    assert!(packed4[..packed4.len() - 1]
        .iter()
        .all(|m| m.len() > synth::MAX_MESSAGE - 5));
    assert!(packed4.len() < v4 / 950, "{} UPDATEs", packed4.len());

    let packed6 = synth::packed_ipv6(&p);
    assert_eq!(check_messages(&packed6, usize::MAX), v6);
    assert!(packed6[..packed6.len() - 1]
        .iter()
        .all(|m| m.len() > synth::MAX_MESSAGE - 8));

    // Deterministic.
    assert_eq!(synth::table_ipv6(&p), table6);
}

#[test]
fn synthetic_attributes_parse_as_built() {
    use bgpkit_parser::models::{AsnLength, BgpMessage};
    let p = prefixes();
    let table4 = synth::table_ipv4(&p);
    let mut path_lens = [0usize; 7];
    let mut with_med = 0;
    for (i, m) in table4.iter().enumerate().take(2_000) {
        let set = synth::attr_set(i as u64);
        let mut data = bytes::Bytes::copy_from_slice(m);
        let Ok(BgpMessage::Update(u)) = bgpkit_parser::parser::bgp::messages::parse_bgp_message(
            &mut data,
            false,
            &AsnLength::Bits32,
        ) else {
            panic!("message {i} does not parse")
        };
        let path = u.attributes.as_path().expect("AS_PATH");
        assert_eq!(path.route_len(), set.as_path.len(), "message {i}");
        assert_eq!(
            path.segments[0].to_u32_vec_opt(false),
            Some(set.as_path.clone())
        );
        assert_eq!(
            u.attributes.next_hop(),
            Some(std::net::IpAddr::from(synth::NEXT_HOP_V4))
        );
        assert_eq!(
            u.attributes.iter_communities().count(),
            set.communities.len()
        );
        assert!(!u.attributes.has_validation_warnings(), "message {i}");
        path_lens[set.as_path.len()] += 1;
        with_med += usize::from(set.med.is_some());
    }
    // Every path length from 2 to 6 occurs, and MED sometimes.
    assert!(path_lens[2..].iter().all(|&n| n > 200), "{path_lens:?}");
    assert!((400..1000).contains(&with_med), "{with_med}");
}
