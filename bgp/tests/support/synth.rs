//! Synthetic full-table UPDATEs as raw BGP message bytes, built by hand (no
//! codec involved) from the real default-free-zone prefixes in
//! `shared/data/prefixes-dfz.txt.gz`.
//!
//! Every message is a whole BGP UPDATE (16-byte marker, length, type 2) of
//! at most 4,096 bytes, for a session with 4-octet AS numbers and no
//! ADD-PATH. Attributes are deterministic functions of the UPDATE's number
//! (a SplitMix64 hash), so every run builds the same bytes.
//!
//! - [`table_ipv4`]: the IPv4 /24s and /22s, [`PREFIXES_PER_SET`] per UPDATE
//!   in the classic NLRI field, one attribute set per UPDATE: ORIGIN,
//!   AS_PATH (one AS_SEQUENCE of 2-6 four-byte ASNs), NEXT_HOP, sometimes
//!   MULTI_EXIT_DISC, 0-4 COMMUNITIES.
//! - [`table_ipv6`]: the IPv6 /48s the same way, in MP_REACH_NLRI (AFI 2,
//!   SAFI 1, next hop fd00::1) instead of NLRI and NEXT_HOP.
//! - [`packed_ipv4`] / [`packed_ipv6`]: the same prefixes, each UPDATE
//!   filled to 4,096 bytes (about 1,000 IPv4 prefixes or 580 /48s) to
//!   measure raw NLRI decoding speed.
#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Largest BGP message without the Extended Message capability.
pub const MAX_MESSAGE: usize = 4096;
/// Prefixes per attribute set (and so per UPDATE) in the "table" variants.
pub const PREFIXES_PER_SET: usize = 40;
/// BGP header: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// IPv4 next hop of every synthetic UPDATE's NEXT_HOP (192.0.2.1).
pub const NEXT_HOP_V4: [u8; 4] = [192, 0, 2, 1];
/// IPv6 next hop in MP_REACH_NLRI (fd00::1).
pub const NEXT_HOP_V6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// The prefixes of the DFZ list, in file order.
#[derive(Debug, Clone, Default)]
pub struct Prefixes {
    pub v4: Vec<([u8; 4], u8)>,
    pub v6: Vec<([u8; 16], u8)>,
    /// Lines that were neither an IPv4 nor an IPv6 prefix.
    pub bad_lines: usize,
}

/// `shared/data/prefixes-dfz.txt.gz` (`shared/` sits beside the workspace
/// root, the parent of this crate's manifest directory).
pub fn prefixes_path() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(manifest);
    workspace
        .join("..")
        .join("shared")
        .join("data")
        .join("prefixes-dfz.txt.gz")
}

impl Prefixes {
    /// Loads [`prefixes_path`].
    pub fn load() -> io::Result<Self> {
        Self::load_from(&prefixes_path())
    }

    /// Loads a list of prefixes, one per line, gzip-compressed or not.
    pub fn load_from(path: &Path) -> io::Result<Self> {
        let mut raw = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut raw)?;
        let mut text = String::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text)?;
        } else {
            text = String::from_utf8(raw)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(Self::parse(&text))
    }

    /// Parses `addr/len` lines; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((addr, len)) = line.split_once('/') else {
                out.bad_lines += 1;
                continue;
            };
            let Ok(len) = len.parse::<u8>() else {
                out.bad_lines += 1;
                continue;
            };
            if let Ok(a) = addr.parse::<Ipv4Addr>() {
                if len <= 32 {
                    out.v4.push((a.octets(), len));
                    continue;
                }
            } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
                if len <= 128 {
                    out.v6.push((a.octets(), len));
                    continue;
                }
            }
            out.bad_lines += 1;
        }
        out
    }

    /// The IPv4 /24s and /22s.
    pub fn v4_24_22(&self) -> Vec<([u8; 4], u8)> {
        self.v4
            .iter()
            .copied()
            .filter(|&(_, l)| l == 24 || l == 22)
            .collect()
    }

    /// The IPv6 /48s.
    pub fn v6_48(&self) -> Vec<([u8; 16], u8)> {
        self.v6.iter().copied().filter(|&(_, l)| l == 48).collect()
    }
}

/// IPv4 /24s and /22s, [`PREFIXES_PER_SET`] per UPDATE.
pub fn table_ipv4(p: &Prefixes) -> Vec<Vec<u8>> {
    build_updates(&as_slices(&p.v4_24_22()), Family::Ipv4, PREFIXES_PER_SET)
}

/// IPv6 /48s in MP_REACH_NLRI, [`PREFIXES_PER_SET`] per UPDATE.
pub fn table_ipv6(p: &Prefixes) -> Vec<Vec<u8>> {
    build_updates(&as_slices(&p.v6_48()), Family::Ipv6, PREFIXES_PER_SET)
}

/// IPv4 /24s and /22s, each UPDATE filled to 4,096 bytes.
pub fn packed_ipv4(p: &Prefixes) -> Vec<Vec<u8>> {
    build_updates(&as_slices(&p.v4_24_22()), Family::Ipv4, usize::MAX)
}

/// IPv6 /48s in MP_REACH_NLRI, each UPDATE filled to 4,096 bytes.
pub fn packed_ipv6(p: &Prefixes) -> Vec<Vec<u8>> {
    build_updates(&as_slices(&p.v6_48()), Family::Ipv6, usize::MAX)
}

fn as_slices<const N: usize>(v: &[([u8; N], u8)]) -> Vec<(&[u8], u8)> {
    v.iter().map(|(a, l)| (&a[..], *l)).collect()
}

/// Where the prefixes of a synthetic UPDATE go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Classic NLRI field plus NEXT_HOP.
    Ipv4,
    /// MP_REACH_NLRI, AFI 2 SAFI 1, next hop fd00::1.
    Ipv6,
}

/// Packs `prefixes` (address bytes, length) into UPDATEs of at most
/// [`MAX_MESSAGE`] bytes and at most `per_update` prefixes each; UPDATE
/// number `i` carries attribute set [`attr_set`]`(i)`.
pub fn build_updates(prefixes: &[(&[u8], u8)], family: Family, per_update: usize) -> Vec<Vec<u8>> {
    assert!(per_update > 0);
    let mut out = Vec::new();
    let mut rest = prefixes;
    while !rest.is_empty() {
        let set = attr_set(out.len() as u64);
        let attrs = path_attributes(&set, family);
        // Room left for NLRI bytes.
        let budget = match family {
            Family::Ipv4 => MAX_MESSAGE - HEADER_LEN - 4 - attrs.len(),
            // MP_REACH_NLRI with the extended-length header (4 bytes) and
            // AFI, SAFI, next-hop length, next hop, reserved (21 bytes).
            Family::Ipv6 => MAX_MESSAGE - HEADER_LEN - 4 - attrs.len() - 4 - 21,
        };
        let mut nlri = Vec::with_capacity(budget);
        let mut taken = 0;
        for &(addr, len) in rest {
            let size = 1 + usize::from(len).div_ceil(8);
            if taken == per_update || nlri.len() + size > budget {
                break;
            }
            push_prefix(&mut nlri, addr, len);
            taken += 1;
        }
        assert!(taken > 0, "a single prefix does not fit an UPDATE");
        rest = &rest[taken..];
        let msg = match family {
            Family::Ipv4 => update_message(&[], &attrs, &nlri),
            Family::Ipv6 => {
                let mut attrs = attrs;
                let mut mp = Vec::with_capacity(21 + nlri.len());
                mp.extend_from_slice(&2u16.to_be_bytes()); // AFI IPv6
                mp.push(1); // SAFI unicast
                mp.push(16);
                mp.extend_from_slice(&NEXT_HOP_V6);
                mp.push(0); // reserved
                mp.extend_from_slice(&nlri);
                push_attr(&mut attrs, 0x80, 14, &mp);
                update_message(&[], &attrs, &[])
            }
        };
        debug_assert!(msg.len() <= MAX_MESSAGE);
        out.push(msg);
    }
    out
}

/// One attribute set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSet {
    /// 0 IGP, 1 EGP, 2 INCOMPLETE.
    pub origin: u8,
    /// One AS_SEQUENCE, 2-6 four-byte ASNs, neighbour first.
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    /// 0-4 RFC 1997 communities.
    pub communities: Vec<u32>,
}

/// SplitMix64: a fixed, well-mixed hash of `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Attribute set number `n`: a realistic-looking mix of path lengths,
/// 2- and 4-byte ASNs, MEDs and communities.
pub fn attr_set(n: u64) -> AttrSet {
    const NEIGHBOURS: [u32; 8] = [3356, 1299, 174, 6939, 2914, 3257, 6453, 6762];
    let mut h = splitmix64(n);
    let mut next = || {
        h = splitmix64(h);
        h
    };
    let origin = match next() % 10 {
        0..=7 => 0,
        8 => 2,
        _ => 1,
    };
    let path_len = 2 + (next() % 5) as usize;
    let neighbour = NEIGHBOURS[(next() % NEIGHBOURS.len() as u64) as usize];
    let mut as_path = vec![neighbour];
    for _ in 1..path_len {
        let r = next();
        // About a quarter 4-byte ASNs (above 65535), as in today's table.
        let asn = if r % 4 == 0 {
            131_072 + ((r >> 8) % 300_000) as u32
        } else {
            1 + ((r >> 8) % 64_000) as u32
        };
        as_path.push(asn);
    }
    let med = (next() % 3 == 0).then(|| (next() % 1000) as u32);
    let count = (next() % 5) as usize;
    let communities = (0..count)
        .map(|_| (neighbour << 16) | (next() % 4000) as u32)
        .collect();
    AttrSet {
        origin,
        as_path,
        med,
        communities,
    }
}

/// The path attributes of `set`, in type-code order; for IPv6 without
/// NEXT_HOP (MP_REACH_NLRI is added by the caller).
pub fn path_attributes(set: &AttrSet, family: Family) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    push_attr(&mut out, 0x40, 1, &[set.origin]); // ORIGIN, well-known
    let mut path = vec![2u8, set.as_path.len() as u8]; // AS_SEQUENCE
    for asn in &set.as_path {
        path.extend_from_slice(&asn.to_be_bytes());
    }
    push_attr(&mut out, 0x40, 2, &path); // AS_PATH
    if family == Family::Ipv4 {
        push_attr(&mut out, 0x40, 3, &NEXT_HOP_V4); // NEXT_HOP
    }
    if let Some(med) = set.med {
        push_attr(&mut out, 0x80, 4, &med.to_be_bytes()); // MULTI_EXIT_DISC, optional
    }
    if !set.communities.is_empty() {
        let value: Vec<u8> = set
            .communities
            .iter()
            .flat_map(|c| c.to_be_bytes())
            .collect();
        push_attr(&mut out, 0xc0, 8, &value); // COMMUNITIES, optional transitive
    }
    out
}

/// Appends one path attribute, with the Extended Length flag (0x10) when
/// the value is longer than 255 bytes.
pub fn push_attr(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.push(flags | 0x10);
        out.push(code);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        out.push(flags & !0x10);
        out.push(code);
        out.push(value.len() as u8);
    }
    out.extend_from_slice(value);
}

/// Appends one prefix in NLRI encoding: length in bits, then the fewest
/// address bytes that hold it.
pub fn push_prefix(out: &mut Vec<u8>, addr: &[u8], len: u8) {
    out.push(len);
    out.extend_from_slice(&addr[..usize::from(len).div_ceil(8)]);
}

/// A whole UPDATE message from its three variable parts.
pub fn update_message(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + 2 + withdrawn.len() + 2 + attrs.len() + nlri.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&[0xff; 16]);
    msg.extend_from_slice(&(len as u16).to_be_bytes());
    msg.push(2);
    msg.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    msg.extend_from_slice(withdrawn);
    msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    msg.extend_from_slice(attrs);
    msg.extend_from_slice(nlri);
    msg
}

/// Counts the prefixes of a raw UPDATE without the codec: withdrawn routes,
/// NLRI, and the NLRI of MP_REACH_NLRI / MP_UNREACH_NLRI for SAFI 1 and 2
/// (prefixes of other SAFIs are not counted). `add_path`: every NLRI
/// carries a 4-byte path identifier. `None` for anything that is not a
/// well-formed UPDATE.
pub fn count_prefixes(msg: &[u8], add_path: bool) -> Option<usize> {
    if msg.len() < HEADER_LEN + 4 || msg[18] != 2 {
        return None;
    }
    let body = &msg[HEADER_LEN..];
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let withdrawn = body.get(2..2 + wlen)?;
    let rest = &body[2 + wlen..];
    let alen = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let attrs = rest.get(2..2 + alen)?;
    let nlri = &rest[2 + alen..];
    let mut count = count_nlri(withdrawn, add_path)? + count_nlri(nlri, add_path)?;
    let mut a = attrs;
    while !a.is_empty() {
        let flags = *a.first()?;
        let code = *a.get(1)?;
        let (len, hdr) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([*a.get(2)?, *a.get(3)?])), 4)
        } else {
            (usize::from(*a.get(2)?), 3)
        };
        let value = a.get(hdr..hdr + len)?;
        a = &a[hdr + len..];
        match code {
            14 if value.len() >= 5 => {
                let safi = value[2];
                let nh_len = usize::from(value[3]);
                let mp_nlri = value.get(4 + nh_len + 1..)?;
                if safi == 1 || safi == 2 {
                    count += count_nlri(mp_nlri, add_path)?;
                }
            }
            15 if value.len() >= 3 && (value[2] == 1 || value[2] == 2) => {
                count += count_nlri(&value[3..], add_path)?;
            }
            _ => {}
        }
    }
    Some(count)
}

/// Counts the prefixes of an NLRI field; `None` if it is cut short.
pub fn count_nlri(mut nlri: &[u8], add_path: bool) -> Option<usize> {
    let mut count = 0;
    while !nlri.is_empty() {
        if add_path {
            nlri = nlri.get(4..)?;
        }
        let len = usize::from(*nlri.first()?);
        nlri = nlri.get(1 + len.div_ceil(8)..)?;
        count += 1;
    }
    Some(count)
}
