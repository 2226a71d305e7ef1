//! The work every device under test gets: IPv4 prefixes from the DFZ list,
//! a realistic mix of path attributes (about 40 prefixes per attribute
//! set), and the UPDATE stream pre-encoded with Twill's codec
//! (`bgp::wire`), so the injector only writes bytes.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use bgp::wire::{
    AsPath, AttributeValue, Community, Context, Ipv4Prefix, Message, Nlri, Origin, PathAttribute,
    Update,
};

use crate::bench::BenchError;

/// Prefixes per attribute set (and so per UPDATE, when they fit).
pub const PER_ATTRIBUTE_SET: usize = 40;

/// The DFZ list: `../shared/data/prefixes-dfz.txt.gz` beside the checkout.
pub fn dfz_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/prefixes-dfz.txt.gz")
}

/// Reads the IPv4 prefixes of the DFZ list, in file order.
pub fn dfz_ipv4(path: &Path) -> Result<Vec<Ipv4Prefix>, BenchError> {
    let file = std::fs::File::open(path)
        .map_err(|e| BenchError::Setup(format!("cannot open {}: {e}", path.display())))?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::with_capacity(901_899);
    for line in reader.lines() {
        let line = line.map_err(|e| BenchError::Setup(format!("{}: {e}", path.display())))?;
        let line = line.trim();
        if line.contains(':') || line.is_empty() {
            continue;
        }
        let (addr, len) = line
            .split_once('/')
            .ok_or_else(|| BenchError::Setup(format!("bad prefix {line:?}")))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| BenchError::Setup(format!("bad prefix {line:?}")))?;
        let len: u8 = len
            .parse()
            .map_err(|_| BenchError::Setup(format!("bad prefix {line:?}")))?;
        if let Some(p) = Ipv4Prefix::new(addr, len) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The first `n` prefixes of a deterministic shuffle of `all` (so a
/// smaller table is a spread of lengths, not one corner of the space).
pub fn sample(all: &[Ipv4Prefix], n: usize) -> Vec<Ipv4Prefix> {
    let mut v = all.to_vec();
    // Fisher-Yates with a fixed seed.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..v.len()).rev() {
        state = mix(state);
        let j = (state % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v.truncate(n);
    v
}

/// A 64-bit mixer (splitmix64's finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Attribute set `k` sent by a peer in `peer_as` with `next_hop`: ORIGIN,
/// AS_PATH of the peer and 1-5 more 4-octet ASes (none of the lab's own
/// 64496-65535), NEXT_HOP, a MED on half of them, 0-4 communities.
pub fn attributes(k: u64, peer_as: u32, next_hop: Ipv4Addr) -> Vec<PathAttribute> {
    let h = mix(k);
    let extra = 1 + (h % 5) as usize;
    let mut path = vec![peer_as];
    path.extend((0..extra).map(|i| 1 + (mix(h ^ (i as u64 + 1)) % 60_000) as u32));
    let mut attrs = vec![
        PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
        PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(path))),
        PathAttribute::new(AttributeValue::NextHop(next_hop)),
    ];
    if h & 0x100 != 0 {
        attrs.push(PathAttribute::new(AttributeValue::MultiExitDisc(
            (h >> 16) as u32 % 1000,
        )));
    }
    let communities = ((h >> 40) % 5) as u16;
    if communities > 0 {
        let list = (0..communities)
            .map(|c| Community::new(64_000 + c, (h >> 8) as u16))
            .collect();
        attrs.push(PathAttribute::new(AttributeValue::Communities(list)));
    }
    attrs
}

/// The encode context of every session here: 4-octet AS numbers, 4,096-byte
/// messages, no ADD-PATH.
pub fn context() -> Context {
    Context {
        four_octet_as: true,
        ..Context::default()
    }
}

/// Announcements of `prefixes`, [`PER_ATTRIBUTE_SET`] per attribute set
/// (one UPDATE each), as one byte stream. Attribute set numbers start at
/// `first_set` (distinct peers get distinct sets).
pub fn announcements(
    prefixes: &[Ipv4Prefix],
    peer_as: u32,
    next_hop: Ipv4Addr,
    first_set: u64,
) -> Result<Vec<u8>, BenchError> {
    let ctx = context();
    let mut out = Vec::with_capacity(prefixes.len() * 16);
    for (k, chunk) in prefixes.chunks(PER_ATTRIBUTE_SET).enumerate() {
        let update = Update {
            path_attributes: attributes(first_set + k as u64, peer_as, next_hop),
            nlri: chunk.iter().map(|p| Nlri::new(*p)).collect(),
            ..Update::default()
        };
        let bytes = Message::Update(update)
            .to_bytes(&ctx)
            .map_err(|e| BenchError::Setup(format!("encoding an UPDATE: {e}")))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Withdrawals of `prefixes`, as many per UPDATE as fit in 4,096 bytes.
pub fn withdrawals(prefixes: &[Ipv4Prefix]) -> Result<Vec<u8>, BenchError> {
    let ctx = context();
    let mut out = Vec::new();
    // At most 5 bytes a prefix; 19 header + 4 lengths.
    for chunk in prefixes.chunks((4096 - 23) / 5) {
        let update = Update {
            withdrawn_routes: chunk.iter().map(|p| Nlri::new(*p)).collect(),
            ..Update::default()
        };
        let bytes = Message::Update(update)
            .to_bytes(&ctx)
            .map_err(|e| BenchError::Setup(format!("encoding an UPDATE: {e}")))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// The key a monitor counts a prefix under: address and length.
pub fn key(addr: u32, len: u8) -> u64 {
    (u64::from(addr) << 8) | u64::from(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_decode_to_the_prefixes() {
        let prefixes: Vec<Ipv4Prefix> = (0..100u32)
            .map(|i| Ipv4Prefix::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
            .collect();
        let bytes = announcements(&prefixes, 65001, Ipv4Addr::new(198, 18, 0, 2), 0).unwrap();
        let ctx = context();
        let mut seen = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let len = bgp::wire::frame(rest, &ctx).unwrap().unwrap();
            match bgp::wire::decode_message(&rest[..len], &ctx).unwrap() {
                Message::Update(u) => seen.extend(u.nlri.iter().map(|n| n.prefix)),
                other => panic!("not an UPDATE: {other:?}"),
            }
            rest = &rest[len..];
        }
        assert_eq!(seen, prefixes);
    }
}
