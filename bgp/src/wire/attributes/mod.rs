//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +---------------+---------------+----------------------------+
//! |  Attr. Flags  |Attr. Type Code| Length (1, or 2 if ext.)   | Value
//! +---------------+---------------+----------------------------+
//! ```
//!
//! Each attribute decoder answers with a typed verdict (RFC 7606 §7):
//! session reset, treat-as-withdraw, or attribute discard.

mod as_path;
mod borrowed;
mod community;
mod mp;

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

pub use as_path::{reconstruct_as4, Aggregator, AsPath, AsSegment, SegmentType};
pub use borrowed::{attribute_len, default_flags, encode_attribute, ValueRef};
pub use community::{Community, ExtendedCommunity, LargeCommunity};
pub use mp::{MpNextHop, MpNlri, MpReachNlri, MpUnreachNlri};

use super::context::Context;
use super::error::{code, update_subcode, EncodeError, ErrorKind, Verdict};
use super::parse::{be32, Fail, Section};

/// Attribute Flags bits (RFC 4271 §4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute passed on by a speaker
    /// that did not recognise it.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
    /// Only to Customer (RFC 9234).
    pub const OTC: u8 = 35;
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// 0: IGP.
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

impl Origin {
    /// The octet on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

/// The value of a path attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// 1: ORIGIN.
    Origin(Origin),
    /// 2: AS_PATH.
    AsPath(AsPath),
    /// 3: NEXT_HOP.
    NextHop(Ipv4Addr),
    /// 4: MULTI_EXIT_DISC.
    MultiExitDisc(u32),
    /// 5: LOCAL_PREF.
    LocalPref(u32),
    /// 6: ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// 7: AGGREGATOR (2- or 4-octet AS per the context).
    Aggregator(Aggregator),
    /// 8: COMMUNITIES.
    Communities(Vec<Community>),
    /// 9: ORIGINATOR_ID.
    OriginatorId(Ipv4Addr),
    /// 10: CLUSTER_LIST.
    ClusterList(Vec<Ipv4Addr>),
    /// 14: MP_REACH_NLRI.
    MpReachNlri(MpReachNlri),
    /// 15: MP_UNREACH_NLRI.
    MpUnreachNlri(MpUnreachNlri),
    /// 16: EXTENDED_COMMUNITIES.
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// 17: AS4_PATH (always 4-octet ASes).
    As4Path(AsPath),
    /// 18: AS4_AGGREGATOR.
    As4Aggregator(Aggregator),
    /// 32: LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// 35: OTC, the AS that marked the route Only to Customer.
    Otc(u32),
    /// Any other attribute, kept as received.
    Unknown {
        /// Type code.
        type_code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl AttributeValue {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        use type_code::*;
        match self {
            AttributeValue::Origin(_) => ORIGIN,
            AttributeValue::AsPath(_) => AS_PATH,
            AttributeValue::NextHop(_) => NEXT_HOP,
            AttributeValue::MultiExitDisc(_) => MULTI_EXIT_DISC,
            AttributeValue::LocalPref(_) => LOCAL_PREF,
            AttributeValue::AtomicAggregate => ATOMIC_AGGREGATE,
            AttributeValue::Aggregator(_) => AGGREGATOR,
            AttributeValue::Communities(_) => COMMUNITIES,
            AttributeValue::OriginatorId(_) => ORIGINATOR_ID,
            AttributeValue::ClusterList(_) => CLUSTER_LIST,
            AttributeValue::MpReachNlri(_) => MP_REACH_NLRI,
            AttributeValue::MpUnreachNlri(_) => MP_UNREACH_NLRI,
            AttributeValue::ExtendedCommunities(_) => EXTENDED_COMMUNITIES,
            AttributeValue::As4Path(_) => AS4_PATH,
            AttributeValue::As4Aggregator(_) => AS4_AGGREGATOR,
            AttributeValue::LargeCommunities(_) => LARGE_COMMUNITY,
            AttributeValue::Otc(_) => OTC,
            AttributeValue::Unknown { type_code, .. } => *type_code,
        }
    }

    /// The Optional and Transitive bits the type requires (RFC 4271 §5,
    /// and each attribute's RFC); `None` for unknown types.
    pub fn required_flags(type_code: u8) -> Option<u8> {
        use flags::{OPTIONAL, TRANSITIVE};
        use type_code::*;
        Some(match type_code {
            ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => TRANSITIVE,
            MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => {
                OPTIONAL
            }
            AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
            | LARGE_COMMUNITY | OTC => OPTIONAL | TRANSITIVE,
            _ => return None,
        })
    }

    fn wire_len(&self, ctx: &Context) -> usize {
        let as_size = if ctx.four_octet_as { 4 } else { 2 };
        match self {
            AttributeValue::Origin(_) => 1,
            AttributeValue::NextHop(_)
            | AttributeValue::MultiExitDisc(_)
            | AttributeValue::LocalPref(_)
            | AttributeValue::OriginatorId(_)
            | AttributeValue::Otc(_) => 4,
            AttributeValue::AtomicAggregate => 0,
            AttributeValue::Aggregator(_) => as_size + 4,
            AttributeValue::MpReachNlri(m) => m.wire_len(ctx),
            AttributeValue::MpUnreachNlri(m) => m.wire_len(ctx),
            AttributeValue::As4Aggregator(_) => 8,
            AttributeValue::Unknown { value, .. } => value.len(),
            list => list.as_list().map_or(0, |v| v.value_len(ctx)),
        }
    }

    /// The list-valued attributes as borrowed values (their encoding lives
    /// in [`ValueRef`]). Every variant is named: a new one must say here
    /// whether it is a list (`wire_len` and `encode_value` send the others
    /// to this function).
    fn as_list(&self) -> Option<ValueRef<'_>> {
        Some(match self {
            AttributeValue::AsPath(p) => ValueRef::AsPath(p),
            AttributeValue::Communities(c) => ValueRef::Communities(c),
            AttributeValue::ClusterList(c) => ValueRef::ClusterList(c),
            AttributeValue::ExtendedCommunities(c) => ValueRef::ExtendedCommunities(c),
            AttributeValue::As4Path(p) => ValueRef::As4Path(p),
            AttributeValue::LargeCommunities(c) => ValueRef::LargeCommunities(c),
            AttributeValue::Origin(_)
            | AttributeValue::NextHop(_)
            | AttributeValue::MultiExitDisc(_)
            | AttributeValue::LocalPref(_)
            | AttributeValue::AtomicAggregate
            | AttributeValue::Aggregator(_)
            | AttributeValue::OriginatorId(_)
            | AttributeValue::MpReachNlri(_)
            | AttributeValue::MpUnreachNlri(_)
            | AttributeValue::As4Aggregator(_)
            | AttributeValue::Otc(_)
            | AttributeValue::Unknown { .. } => return None,
        })
    }

    fn encode_value(&self, ctx: &Context, buf: &mut BytesMut) {
        match self {
            AttributeValue::Origin(o) => buf.put_u8(o.to_u8()),
            AttributeValue::NextHop(a) | AttributeValue::OriginatorId(a) => {
                buf.put_slice(&a.octets())
            }
            AttributeValue::MultiExitDisc(v)
            | AttributeValue::LocalPref(v)
            | AttributeValue::Otc(v) => buf.put_u32(*v),
            AttributeValue::AtomicAggregate => {}
            AttributeValue::Aggregator(a) => {
                if ctx.four_octet_as {
                    buf.put_u32(a.asn);
                } else {
                    buf.put_u16(u16::try_from(a.asn).unwrap_or(super::open::AS_TRANS));
                }
                buf.put_slice(&a.address.octets());
            }
            AttributeValue::MpReachNlri(m) => m.encode(ctx, buf),
            AttributeValue::MpUnreachNlri(m) => m.encode(ctx, buf),
            AttributeValue::As4Aggregator(a) => {
                buf.put_u32(a.asn);
                buf.put_slice(&a.address.octets());
            }
            AttributeValue::Unknown { value, .. } => buf.put_slice(value),
            list => {
                if let Some(v) = list.as_list() {
                    v.encode_value(ctx, buf);
                }
            }
        }
    }
}

/// A path attribute: its flags as received (or as chosen by
/// [`PathAttribute::new`]) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttribute {
    /// Attribute Flags. On encoding, Extended Length is set when the value
    /// needs it and otherwise kept as given; the other bits are sent as is.
    pub flags: u8,
    /// The value.
    pub value: AttributeValue,
}

impl PathAttribute {
    /// An attribute with the flags its type requires (Partial and Extended
    /// Length clear). Unknown attributes get Optional | Transitive.
    pub fn new(value: AttributeValue) -> Self {
        let flags = default_flags(value.type_code());
        PathAttribute { flags, value }
    }

    /// The type code.
    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// Encoded size (header and value).
    pub fn wire_len(&self, ctx: &Context) -> usize {
        attribute_len(self.flags, ValueRef::Value(&self.value), ctx)
    }

    /// Encode flags, type, length and value.
    pub fn encode(&self, ctx: &Context, buf: &mut BytesMut) -> Result<(), EncodeError> {
        encode_attribute(self.flags, ValueRef::Value(&self.value), ctx, buf)
    }
}

/// The RFC 7606 verdict for a malformed attribute of `type_code`, whose
/// whole encoding (flags, type, length, value) is `raw` for NOTIFICATION
/// data (RFC 4271 §6.3).
fn malformed_verdict(type_code: u8, subcode: u8, raw: &[u8]) -> Verdict {
    use type_code::*;
    match type_code {
        // RFC 7606 §7.1-7.5, 7.8-7.10, 7.14; RFC 8092 §5; RFC 9234 §5.
        ORIGIN | AS_PATH | NEXT_HOP | MULTI_EXIT_DISC | LOCAL_PREF | COMMUNITIES
        | ORIGINATOR_ID | CLUSTER_LIST | EXTENDED_COMMUNITIES | LARGE_COMMUNITY | OTC => {
            Verdict::TreatAsWithdraw
        }
        // RFC 7606 §7.6, 7.7; RFC 6793 §6 (AS4_PATH, AS4_AGGREGATOR).
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => Verdict::AttributeDiscard,
        // RFC 7606 §7.11 and RFC 4760 §7: Optional Attribute Error.
        MP_REACH_NLRI | MP_UNREACH_NLRI => Verdict::reset(
            code::UPDATE_MESSAGE,
            update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
            raw,
        ),
        // Unknown optional attributes are never malformed; anything else
        // falls back to RFC 4271 §6.3.
        _ => Verdict::reset(code::UPDATE_MESSAGE, subcode, raw),
    }
}

/// One attribute as framed inside the attributes field.
struct Framed<'a> {
    flags: u8,
    type_code: u8,
    /// Flags through the end of the value (NOTIFICATION data).
    raw: &'a [u8],
    /// The value.
    value: &'a [u8],
}

impl Framed<'_> {
    /// The Attribute Type Code field.
    fn type_at(&self) -> &[u8] {
        self.raw.get(1..).unwrap_or_default()
    }
    /// The Attribute Length field.
    fn length_at(&self) -> &[u8] {
        self.raw.get(2..).unwrap_or_default()
    }
}

/// The outcome of decoding the Path Attributes field.
#[derive(Debug, Default)]
pub(crate) struct DecodedAttributes {
    pub(crate) attributes: Vec<PathAttribute>,
    /// Non-fatal findings: treat-as-withdraw and attribute discard.
    pub(crate) errors: Vec<Fail>,
}

/// Decode the Path Attributes field. Session-reset findings return `Err`;
/// the others are collected and decoding goes on, so that a later, more
/// severe error is still found (RFC 7606 §3.h).
pub(crate) fn decode_path_attributes(
    field: &[u8],
    ctx: &Context,
) -> Result<DecodedAttributes, Fail> {
    let mut out = DecodedAttributes {
        attributes: Vec::with_capacity(8),
        errors: Vec::new(),
    };
    // Bit set of type codes seen, for RFC 7606 §3.g.
    let mut seen = [0u64; 4];
    let taw = Section::with(Verdict::TreatAsWithdraw);
    let mut i = field;
    while !i.is_empty() {
        // RFC 7606 §4: an attribute header or value that overruns the field
        // is treat-as-withdraw; the Total Path Attribute Length is trusted
        // to find the NLRI, and nothing after this point can be parsed.
        let at = i;
        let framed = (|| {
            let (r, flags) = taw.u8(i, "path_attribute.flags")?;
            let (r, type_code) = taw.u8(r, "path_attribute.type")?;
            let (r, len) = if flags & flags::EXTENDED_LENGTH != 0 {
                taw.u16(r, "path_attribute.length")?
            } else {
                let (r, l) = taw.u8(r, "path_attribute.length")?;
                (r, u16::from(l))
            };
            let (rest, value) = taw
                .take(r, usize::from(len), "path_attribute.value")
                .map_err(|f| {
                    f.with_kind(ErrorKind::MalformedAttributeList {
                        reason: "attribute length overruns the path attributes",
                    })
                })?;
            let raw = at.get(..at.len() - rest.len()).unwrap_or(at);
            Ok::<_, Fail>((
                rest,
                Framed {
                    flags,
                    type_code,
                    raw,
                    value,
                },
            ))
        })();
        let (rest, a) = match framed {
            Ok(x) => x,
            Err(f) => {
                out.errors.push(f);
                break;
            }
        };
        i = rest;

        let word = usize::from(a.type_code >> 6);
        let bit = 1u64 << (a.type_code & 63);
        let dup = seen.get(word).is_some_and(|w| w & bit != 0);
        if let Some(w) = seen.get_mut(word) {
            *w |= bit;
        }
        if dup {
            if matches!(
                a.type_code,
                type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI
            ) {
                // RFC 7606 §3.g: MP_REACH_NLRI or MP_UNREACH_NLRI twice.
                return Err(Section::reset(
                    code::UPDATE_MESSAGE,
                    update_subcode::MALFORMED_ATTRIBUTE_LIST,
                )
                .fail(
                    a.type_at(),
                    "path_attribute.type",
                    ErrorKind::DuplicateAttribute {
                        type_code: a.type_code,
                    },
                ));
            }
            // RFC 7606 §3.g: all but the first occurrence are discarded.
            out.errors.push(Fail::new(
                a.type_at(),
                "path_attribute.type",
                ErrorKind::DuplicateAttribute {
                    type_code: a.type_code,
                },
                Verdict::AttributeDiscard,
            ));
            continue;
        }
        match decode_attribute(&a, ctx) {
            Ok(Some(attr)) => out.attributes.push(attr),
            Ok(None) => {}
            Err(f) if matches!(f.verdict, Verdict::SessionReset(_)) => return Err(f),
            Err(f) => out.errors.push(f),
        }
    }
    Ok(out)
}

/// Decode one framed attribute; `Ok(None)` never happens today but leaves
/// room for attributes that are dropped silently.
fn decode_attribute(a: &Framed<'_>, ctx: &Context) -> Result<Option<PathAttribute>, Fail> {
    let v = a.value;
    let t = a.type_code;
    let required = AttributeValue::required_flags(t);
    let Some(required) = required else {
        // RFC 4271 §6.3: an unrecognised well-known attribute resets the
        // session; unrecognised optional ones are kept (and passed on with
        // Partial set if transitive).
        if a.flags & flags::OPTIONAL == 0 {
            return Err(Fail::new(
                a.type_at(),
                "path_attribute.type",
                ErrorKind::InvalidValue {
                    value: u32::from(t),
                    reason: "unrecognized well-known attribute",
                },
                Verdict::reset(
                    code::UPDATE_MESSAGE,
                    update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    a.raw,
                ),
            ));
        }
        return Ok(Some(PathAttribute {
            flags: a.flags,
            value: AttributeValue::Unknown {
                type_code: t,
                value: v.to_vec(),
            },
        }));
    };
    // The verdict depends only on the type (RFC 7606 §7); it is computed
    // on failure, so that the success path copies nothing.
    decode_known(a, ctx, required).map(Some).map_err(|f| {
        let subcode = match f.kind {
            ErrorKind::AttributeFlags { .. } => update_subcode::ATTRIBUTE_FLAGS_ERROR,
            _ => update_subcode::ATTRIBUTE_LENGTH_ERROR,
        };
        f.with_verdict(malformed_verdict(t, subcode, a.raw))
    })
}

/// RFC 7607 §2: AS 0 in an AS path makes it malformed.
fn reject_as_zero(
    path: &AsPath,
    v: &[u8],
    sect: &Section,
    field: &'static str,
) -> Result<(), Fail> {
    if path.contains(0) {
        return Err(sect.fail(
            v,
            field,
            ErrorKind::MalformedAsPath {
                reason: "AS 0 (RFC 7607)",
            },
        ));
    }
    Ok(())
}

/// Decode an attribute of a known type. Failures carry a placeholder
/// verdict that [`decode_attribute`] replaces with the type's own.
fn decode_known(a: &Framed<'_>, ctx: &Context, required: u8) -> Result<PathAttribute, Fail> {
    use type_code::*;
    let v = a.value;
    let t = a.type_code;
    let sect = Section::with(Verdict::AttributeDiscard);
    // RFC 7606 §3.c: Optional or Transitive in conflict with the type.
    if a.flags & (flags::OPTIONAL | flags::TRANSITIVE) != required {
        return Err(sect.fail(
            a.raw,
            "path_attribute.flags",
            ErrorKind::AttributeFlags {
                type_code: t,
                flags: a.flags,
            },
        ));
    }
    let length_err = || {
        sect.fail(
            a.length_at(),
            "path_attribute.length",
            ErrorKind::AttributeLength {
                type_code: t,
                length: v.len(),
            },
        )
    };
    let exact = |n: usize| {
        if v.len() == n {
            Ok(())
        } else {
            Err(length_err())
        }
    };
    let multiple = |n: usize| {
        if !v.is_empty() && v.len().is_multiple_of(n) {
            Ok(())
        } else {
            Err(length_err())
        }
    };
    let discard = |field, reason| {
        Section::with(Verdict::AttributeDiscard).fail(
            v,
            field,
            ErrorKind::OptionalAttribute {
                type_code: t,
                reason,
            },
        )
    };
    // RFC 6793 §4.1: a NEW speaker does not send AS4_PATH or AS4_AGGREGATOR
    // to a NEW speaker; received anyway, they are discarded.
    if matches!(t, AS4_PATH | AS4_AGGREGATOR) && ctx.four_octet_as {
        return Err(Section::with(Verdict::AttributeDiscard).fail(
            a.type_at(),
            "path_attribute.type",
            ErrorKind::OptionalAttribute {
                type_code: t,
                reason: "sent by a 4-octet AS speaker (RFC 6793 §4.1)",
            },
        ));
    }
    let value = match t {
        ORIGIN => {
            exact(1)?;
            let o = v.first().copied().unwrap_or(0);
            AttributeValue::Origin(match o {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                value => {
                    return Err(Section::with(Verdict::TreatAsWithdraw).fail(
                        v,
                        "ORIGIN",
                        ErrorKind::InvalidOrigin { value },
                    ))
                }
            })
        }
        AS_PATH => {
            let path = AsPath::decode(v, ctx.four_octet_as, &sect, "AS_PATH")?;
            // RFC 7607 §2: AS 0 in AS_PATH is malformed (RFC 7606 §7.2).
            reject_as_zero(&path, v, &sect, "AS_PATH")?;
            AttributeValue::AsPath(path)
        }
        NEXT_HOP => {
            exact(4)?;
            let nh = Ipv4Addr::from(be32(v));
            // RFC 4271 §6.3: a NEXT_HOP that cannot be a unicast next hop.
            if nh.is_unspecified() || nh.is_broadcast() || nh.is_multicast() {
                return Err(sect.fail(
                    v,
                    "NEXT_HOP",
                    ErrorKind::InvalidNextHop {
                        reason: "not a unicast address",
                    },
                ));
            }
            AttributeValue::NextHop(nh)
        }
        MULTI_EXIT_DISC => {
            exact(4)?;
            AttributeValue::MultiExitDisc(be32(v))
        }
        LOCAL_PREF => {
            exact(4)?;
            AttributeValue::LocalPref(be32(v))
        }
        ATOMIC_AGGREGATE => {
            exact(0)?;
            AttributeValue::AtomicAggregate
        }
        AGGREGATOR => {
            let (asn, addr) = if ctx.four_octet_as {
                exact(8)?;
                (be32(v.get(..4).unwrap_or_default()), v.get(4..8))
            } else {
                exact(6)?;
                (
                    u32::from(super::parse::be16(v.get(..2).unwrap_or_default())),
                    v.get(2..6),
                )
            };
            // RFC 7607 §2: AGGREGATOR with AS 0 is discarded (RFC 7606 §7.7).
            if asn == 0 {
                return Err(discard("AGGREGATOR", "AS 0 (RFC 7607)"));
            }
            AttributeValue::Aggregator(Aggregator {
                asn,
                address: Ipv4Addr::from(be32(addr.unwrap_or_default())),
            })
        }
        COMMUNITIES => {
            multiple(4)?;
            AttributeValue::Communities(v.chunks_exact(4).map(|c| Community(be32(c))).collect())
        }
        ORIGINATOR_ID => {
            exact(4)?;
            AttributeValue::OriginatorId(Ipv4Addr::from(be32(v)))
        }
        CLUSTER_LIST => {
            multiple(4)?;
            AttributeValue::ClusterList(
                v.chunks_exact(4).map(|c| Ipv4Addr::from(be32(c))).collect(),
            )
        }
        MP_REACH_NLRI => AttributeValue::MpReachNlri(MpReachNlri::decode(v, ctx, &sect)?),
        MP_UNREACH_NLRI => AttributeValue::MpUnreachNlri(MpUnreachNlri::decode(v, ctx, &sect)?),
        EXTENDED_COMMUNITIES => {
            multiple(8)?;
            AttributeValue::ExtendedCommunities(
                v.chunks_exact(8)
                    .map(|c| ExtendedCommunity(<[u8; 8]>::try_from(c).unwrap_or_default()))
                    .collect(),
            )
        }
        AS4_PATH => {
            let path = AsPath::decode(v, true, &sect, "AS4_PATH")?;
            // RFC 6793 §6: shorter than one segment of one AS is malformed;
            // RFC 7607 §2: so is AS 0. Either way the attribute is discarded.
            if path.segments.is_empty() {
                return Err(length_err());
            }
            reject_as_zero(&path, v, &sect, "AS4_PATH")?;
            AttributeValue::As4Path(path)
        }
        AS4_AGGREGATOR => {
            exact(8)?;
            let asn = be32(v.get(..4).unwrap_or_default());
            if asn == 0 {
                return Err(discard("AS4_AGGREGATOR", "AS 0 (RFC 7607)"));
            }
            AttributeValue::As4Aggregator(Aggregator {
                asn,
                address: Ipv4Addr::from(be32(v.get(4..8).unwrap_or_default())),
            })
        }
        LARGE_COMMUNITY => {
            multiple(12)?;
            AttributeValue::LargeCommunities(
                v.chunks_exact(12)
                    .map(|c| LargeCommunity {
                        global_admin: be32(c.get(..4).unwrap_or_default()),
                        local_data_1: be32(c.get(4..8).unwrap_or_default()),
                        local_data_2: be32(c.get(8..12).unwrap_or_default()),
                    })
                    .collect(),
            )
        }
        OTC => {
            exact(4)?;
            AttributeValue::Otc(be32(v))
        }
        _ => AttributeValue::Unknown {
            type_code: t,
            value: v.to_vec(),
        },
    };
    Ok(PathAttribute {
        flags: a.flags,
        value,
    })
}

/// Encode a list of attributes.
pub(crate) fn encode_path_attributes(
    attrs: &[PathAttribute],
    ctx: &Context,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    for a in attrs {
        a.encode(ctx, buf)?;
    }
    Ok(())
}
