//! AS_PATH and AS4_PATH (RFC 4271 §4.3, RFC 5065 §3, RFC 6793 §3) and the
//! reconstruction of the real path from a 2-octet peer (RFC 6793 §4.2.3).
//!
//! ```text
//! each segment: +-----------------+----------------+------------------+
//!               | type (1 octet)  | count (1 oct.) | count x AS (2|4) |
//!               +-----------------+----------------+------------------+
//! ```

use bytes::{BufMut, BytesMut};

use crate::wire::error::ErrorKind;
use crate::wire::open::AS_TRANS;
use crate::wire::parse::{be16, be32, Fail, Section};

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentType {
    /// 1: unordered set of ASes (counts as 1 in path length).
    AsSet,
    /// 2: ordered sequence of ASes.
    AsSequence,
    /// 3: confederation sequence (counts 0).
    ConfedSequence,
    /// 4: confederation set (counts 0).
    ConfedSet,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::AsSet,
            2 => Self::AsSequence,
            3 => Self::ConfedSequence,
            4 => Self::ConfedSet,
            _ => return None,
        })
    }

    /// The type octet.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::AsSet => 1,
            Self::AsSequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }
}

/// One segment of an AS path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// AS numbers, 1 to 255 of them.
    pub asns: Vec<u32>,
}

/// An AS path: AS_PATH or AS4_PATH.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsPath {
    /// Segments in order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty path for no ASes).
    pub fn sequence(asns: impl Into<Vec<u32>>) -> Self {
        let asns = asns.into();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::AsSequence,
                asns,
            }],
        }
    }

    /// Path length for the decision process (RFC 4271 §9.1.2.2.a): an
    /// AS_SET counts 1, confederation segments 0 (RFC 5065 §5.3).
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::AsSequence => s.asns.len(),
                SegmentType::AsSet => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The neighbouring AS: the first AS of the first AS_SEQUENCE
    /// (RFC 4271 §9.1.2.2.c), if the path starts with one.
    pub fn first_as(&self) -> Option<u32> {
        let s = self.segments.first()?;
        (s.kind == SegmentType::AsSequence)
            .then(|| s.asns.first().copied())
            .flatten()
    }

    /// The originating AS: the last AS of a path ending in an AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        let s = self.segments.last()?;
        (s.kind == SegmentType::AsSequence)
            .then(|| s.asns.last().copied())
            .flatten()
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Value length on the wire with `as_size` (2 or 4) octets per AS.
    pub(crate) fn wire_len(&self, as_size: usize) -> usize {
        self.segments
            .iter()
            .map(|s| 2 * s.asns.len().div_ceil(255) + as_size * s.asns.len())
            .sum()
    }

    /// Encode with 4-octet ASes, or 2-octet ones where an AS that does not
    /// fit is written as AS_TRANS (RFC 6793 §4.2.2).
    pub(crate) fn encode(&self, four_octet: bool, buf: &mut BytesMut) {
        // A segment holds at most 255 ASes; longer ones are split.
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                buf.put_u8(s.kind.to_u8());
                buf.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        buf.put_u32(asn);
                    } else {
                        buf.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// Decode a whole AS_PATH or AS4_PATH value. RFC 7606 §7.2: malformed
    /// if a segment type is unknown, a segment is empty or overruns the
    /// attribute, or bytes are left over.
    pub(crate) fn decode(
        v: &[u8],
        four_octet: bool,
        sect: &Section,
        field: &'static str,
    ) -> Result<AsPath, Fail> {
        let as_size = if four_octet { 4 } else { 2 };
        let mut segments = Vec::with_capacity(1);
        let mut i = v;
        while !i.is_empty() {
            let seg_at = i;
            let malformed =
                |reason| sect.fail(seg_at, field, ErrorKind::MalformedAsPath { reason });
            let (rest, t) = sect
                .u8(i, field)
                .map_err(|_| malformed("truncated segment header"))?;
            let (rest, n) = sect
                .u8(rest, field)
                .map_err(|_| malformed("truncated segment header"))?;
            let kind = SegmentType::from_u8(t).ok_or_else(|| malformed("unknown segment type"))?;
            if n == 0 {
                return Err(malformed("empty segment"));
            }
            let (rest, body) = sect
                .take(rest, usize::from(n) * as_size, field)
                .map_err(|_| malformed("segment overruns the attribute"))?;
            let asns = if four_octet {
                body.chunks_exact(4).map(be32).collect()
            } else {
                body.chunks_exact(2).map(|c| u32::from(be16(c))).collect()
            };
            segments.push(AsSegment { kind, asns });
            i = rest;
        }
        Ok(AsPath { segments })
    }

    /// The first `n` ASes of the path in path-length terms (RFC 6793
    /// §4.2.3): whole segments while they fit, then the leading part of an
    /// AS_SEQUENCE.
    fn leading(&self, mut n: usize) -> Vec<AsSegment> {
        let mut out = Vec::new();
        for s in &self.segments {
            if n == 0 {
                break;
            }
            match s.kind {
                SegmentType::AsSequence => {
                    let take = n.min(s.asns.len());
                    out.push(AsSegment {
                        kind: s.kind,
                        asns: s.asns.iter().take(take).copied().collect(),
                    });
                    n -= take;
                }
                SegmentType::AsSet => {
                    out.push(s.clone());
                    n -= 1;
                }
                SegmentType::ConfedSequence | SegmentType::ConfedSet => out.push(s.clone()),
            }
        }
        out
    }
}

/// AGGREGATOR and AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Aggregator {
    /// The AS that formed the aggregate.
    pub asn: u32,
    /// Its BGP Identifier.
    pub address: std::net::Ipv4Addr,
}

/// RFC 6793 §4.2.3: the AS path and aggregator of a route received from a
/// 2-octet-AS peer, rebuilt from AS_PATH / AGGREGATOR and AS4_PATH /
/// AS4_AGGREGATOR.
///
/// - If AGGREGATOR holds an AS other than AS_TRANS, AS4_AGGREGATOR and
///   AS4_PATH are ignored.
/// - Otherwise AS4_AGGREGATOR replaces AGGREGATOR, and if AS_PATH is not
///   shorter than AS4_PATH, the leading ASes of AS_PATH that AS4_PATH lacks
///   are put in front of AS4_PATH (confederation segments of AS4_PATH are
///   dropped: they must not appear there).
pub fn reconstruct_as4(
    as_path: &AsPath,
    aggregator: Option<&Aggregator>,
    as4_path: Option<&AsPath>,
    as4_aggregator: Option<&Aggregator>,
) -> (AsPath, Option<Aggregator>) {
    if let Some(agg) = aggregator {
        if agg.asn != u32::from(AS_TRANS) {
            return (as_path.clone(), Some(*agg));
        }
    }
    let aggregator = match (aggregator, as4_aggregator) {
        (Some(_), Some(a4)) => Some(*a4),
        (a, _) => a.copied(),
    };
    let Some(as4) = as4_path else {
        return (as_path.clone(), aggregator);
    };
    let as4 = AsPath {
        segments: as4
            .segments
            .iter()
            .filter(|s| matches!(s.kind, SegmentType::AsSequence | SegmentType::AsSet))
            .cloned()
            .collect(),
    };
    let (n2, n4) = (as_path.path_len(), as4.path_len());
    if n2 < n4 {
        return (as_path.clone(), aggregator);
    }
    let mut segments = as_path.leading(n2 - n4);
    for s in as4.segments {
        match (segments.last_mut(), s.kind) {
            (Some(last), SegmentType::AsSequence) if last.kind == SegmentType::AsSequence => {
                last.asns.extend_from_slice(&s.asns);
            }
            _ => segments.push(s),
        }
    }
    (AsPath { segments }, aggregator)
}
