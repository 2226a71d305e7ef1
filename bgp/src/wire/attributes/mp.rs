//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4), with IPv6 next hops
//! (RFC 2545 §3: global, optionally followed by link-local) and IPv4 NLRI
//! over an IPv6 next hop (RFC 8950 §3).
//!
//! ```text
//! MP_REACH_NLRI:                          MP_UNREACH_NLRI:
//! +---------------------------------+    +---------------------------------+
//! | AFI (2) | SAFI (1)               |    | AFI (2) | SAFI (1)               |
//! | Length of Next Hop Address (1)  |    | Withdrawn Routes (variable)     |
//! | Next Hop Address (variable)     |    +---------------------------------+
//! | Reserved (1)                    |
//! | NLRI (variable)                 |
//! +---------------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::wire::context::{Context, Family};
use crate::wire::error::ErrorKind;
use crate::wire::nlri::{decode_nlri, encode_nlri, nlri_len, Nlri4, Nlri6};
use crate::wire::parse::{Fail, Section};

/// The NLRI of one family inside MP_REACH_NLRI or MP_UNREACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpNlri {
    /// IPv4 unicast prefixes.
    Ipv4Unicast(Vec<Nlri4>),
    /// IPv6 unicast prefixes.
    Ipv6Unicast(Vec<Nlri6>),
    /// A family the codec does not decode: the NLRI bytes as received.
    Other {
        /// The family.
        family: Family,
        /// Raw NLRI.
        raw: Vec<u8>,
    },
}

impl MpNlri {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            MpNlri::Ipv4Unicast(_) => Family::IPV4_UNICAST,
            MpNlri::Ipv6Unicast(_) => Family::IPV6_UNICAST,
            MpNlri::Other { family, .. } => *family,
        }
    }

    /// Number of prefixes (0 for undecoded families).
    pub fn len(&self) -> usize {
        match self {
            MpNlri::Ipv4Unicast(v) => v.len(),
            MpNlri::Ipv6Unicast(v) => v.len(),
            MpNlri::Other { .. } => 0,
        }
    }

    /// Whether there are no prefixes (for decoded families) or no bytes.
    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Other { raw, .. } => raw.is_empty(),
            _ => self.len() == 0,
        }
    }

    fn wire_len(&self, ctx: &Context) -> usize {
        match self {
            MpNlri::Ipv4Unicast(v) => {
                let ap = ctx.add_path.ipv4_unicast;
                v.iter().map(|e| nlri_len(e, ap)).sum()
            }
            MpNlri::Ipv6Unicast(v) => {
                let ap = ctx.add_path.ipv6_unicast;
                v.iter().map(|e| nlri_len(e, ap)).sum()
            }
            MpNlri::Other { raw, .. } => raw.len(),
        }
    }

    fn encode(&self, ctx: &Context, buf: &mut BytesMut) {
        match self {
            MpNlri::Ipv4Unicast(v) => encode_nlri(v, ctx.add_path.ipv4_unicast, buf),
            MpNlri::Ipv6Unicast(v) => encode_nlri(v, ctx.add_path.ipv6_unicast, buf),
            MpNlri::Other { raw, .. } => buf.put_slice(raw),
        }
    }

    fn decode(
        family: Family,
        field: &[u8],
        ctx: &Context,
        sect: &Section,
        name: &'static str,
    ) -> Result<Self, Fail> {
        Ok(match family {
            Family::IPV4_UNICAST => {
                MpNlri::Ipv4Unicast(decode_nlri(field, ctx.add_path.ipv4_unicast, sect, name)?)
            }
            Family::IPV6_UNICAST => {
                MpNlri::Ipv6Unicast(decode_nlri(field, ctx.add_path.ipv6_unicast, sect, name)?)
            }
            family => MpNlri::Other {
                family,
                raw: field.to_vec(),
            },
        })
    }
}

/// The Network Address of Next Hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpNextHop {
    /// An IPv4 next hop (4 octets).
    Ipv4(Ipv4Addr),
    /// An IPv6 global next hop, optionally with a link-local one (16 or 32
    /// octets, RFC 2545 §3).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, when the peer shares a link.
        link_local: Option<Ipv6Addr>,
    },
    /// Next hop of a family the codec does not decode, as received.
    Other(Vec<u8>),
}

impl MpNextHop {
    fn wire_len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 {
                link_local: None, ..
            } => 16,
            MpNextHop::Ipv6 {
                link_local: Some(_),
                ..
            } => 32,
            MpNextHop::Other(v) => v.len(),
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        match self {
            MpNextHop::Ipv4(a) => buf.put_slice(&a.octets()),
            MpNextHop::Ipv6 { global, link_local } => {
                buf.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    buf.put_slice(&ll.octets());
                }
            }
            MpNextHop::Other(v) => buf.put_slice(v),
        }
    }
}

/// MP_REACH_NLRI (type 14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReachNlri {
    /// Next hop for every prefix of the attribute.
    pub next_hop: MpNextHop,
    /// The prefixes; their family is the attribute's AFI/SAFI.
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI (type 15).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreachNlri {
    /// Withdrawn prefixes; empty for an End-of-RIB marker (RFC 4724 §2).
    pub withdrawn: MpNlri,
}

impl MpReachNlri {
    /// The family.
    pub fn family(&self) -> Family {
        self.nlri.family()
    }

    pub(crate) fn wire_len(&self, ctx: &Context) -> usize {
        3 + 1 + self.next_hop.wire_len() + 1 + self.nlri.wire_len(ctx)
    }

    pub(crate) fn encode(&self, ctx: &Context, buf: &mut BytesMut) {
        let f = self.family();
        buf.put_u16(f.afi);
        buf.put_u8(f.safi);
        buf.put_u8(self.next_hop.wire_len() as u8);
        self.next_hop.encode(buf);
        buf.put_u8(0); // Reserved (RFC 4760 §3)
        self.nlri.encode(ctx, buf);
    }

    /// Decode the value. RFC 7606 §7.11: any error here resets the session
    /// (the NLRI cannot be located, so treat-as-withdraw is impossible).
    pub(crate) fn decode(v: &[u8], ctx: &Context, sect: &Section) -> Result<Self, Fail> {
        let malformed = |at: &[u8], reason| {
            sect.fail(
                at,
                "MP_REACH_NLRI",
                ErrorKind::MalformedMpAttribute {
                    attribute: "MP_REACH_NLRI",
                    reason,
                },
            )
        };
        let (i, afi) = sect
            .u16(v, "MP_REACH_NLRI.afi")
            .map_err(|_| malformed(v, "shorter than 5 octets"))?;
        let (i, safi) = sect
            .u8(i, "MP_REACH_NLRI.safi")
            .map_err(|_| malformed(v, "shorter than 5 octets"))?;
        let family = Family::new(afi, safi);
        let nh_at = i;
        let (i, nh_len) = sect
            .u8(i, "MP_REACH_NLRI.next_hop_length")
            .map_err(|_| malformed(v, "shorter than 5 octets"))?;
        let (i, nh) = sect
            .take(i, usize::from(nh_len), "MP_REACH_NLRI.next_hop")
            .map_err(|_| malformed(nh_at, "next hop overruns the attribute"))?;
        let (i, _reserved) = sect
            .u8(i, "MP_REACH_NLRI.reserved")
            .map_err(|_| malformed(i, "missing Reserved octet"))?;
        let v6 = |b: &[u8]| <[u8; 16]>::try_from(b).map(Ipv6Addr::from).ok();
        let next_hop = match (family, nh.len()) {
            (Family::IPV4_UNICAST, 4) => {
                MpNextHop::Ipv4(Ipv4Addr::from(super::super::parse::be32(nh)))
            }
            (Family::IPV4_UNICAST, 16 | 32) if !ctx.extended_next_hop_ipv4 => {
                return Err(malformed(
                    nh_at,
                    "IPv6 next hop for IPv4 NLRI without the extended next hop capability",
                ));
            }
            (Family::IPV4_UNICAST | Family::IPV6_UNICAST, 16) => MpNextHop::Ipv6 {
                global: v6(nh).ok_or_else(|| malformed(nh_at, "bad next hop"))?,
                link_local: None,
            },
            (Family::IPV4_UNICAST | Family::IPV6_UNICAST, 32) => {
                let (g, ll) = nh.split_at(16);
                MpNextHop::Ipv6 {
                    global: v6(g).ok_or_else(|| malformed(nh_at, "bad next hop"))?,
                    link_local: v6(ll),
                }
            }
            (Family::IPV4_UNICAST | Family::IPV6_UNICAST, _) => {
                return Err(malformed(nh_at, "next hop length does not fit the family"));
            }
            _ => MpNextHop::Other(nh.to_vec()),
        };
        let nlri = MpNlri::decode(family, i, ctx, sect, "MP_REACH_NLRI.nlri")?;
        Ok(MpReachNlri { next_hop, nlri })
    }
}

impl MpUnreachNlri {
    /// An End-of-RIB marker's attribute for `family` (RFC 4724 §2).
    pub fn end_of_rib(family: Family) -> Self {
        let withdrawn = match family {
            Family::IPV4_UNICAST => MpNlri::Ipv4Unicast(Vec::new()),
            Family::IPV6_UNICAST => MpNlri::Ipv6Unicast(Vec::new()),
            family => MpNlri::Other {
                family,
                raw: Vec::new(),
            },
        };
        MpUnreachNlri { withdrawn }
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.withdrawn.family()
    }

    pub(crate) fn wire_len(&self, ctx: &Context) -> usize {
        3 + self.withdrawn.wire_len(ctx)
    }

    pub(crate) fn encode(&self, ctx: &Context, buf: &mut BytesMut) {
        let f = self.family();
        buf.put_u16(f.afi);
        buf.put_u8(f.safi);
        self.withdrawn.encode(ctx, buf);
    }

    /// Decode the value (RFC 7606 §7.11: errors reset the session).
    pub(crate) fn decode(v: &[u8], ctx: &Context, sect: &Section) -> Result<Self, Fail> {
        let short = |_| {
            sect.fail(
                v,
                "MP_UNREACH_NLRI",
                ErrorKind::MalformedMpAttribute {
                    attribute: "MP_UNREACH_NLRI",
                    reason: "shorter than 3 octets",
                },
            )
        };
        let (i, afi) = sect.u16(v, "MP_UNREACH_NLRI.afi").map_err(short)?;
        let (i, safi) = sect.u8(i, "MP_UNREACH_NLRI.safi").map_err(short)?;
        let withdrawn = MpNlri::decode(
            Family::new(afi, safi),
            i,
            ctx,
            sect,
            "MP_UNREACH_NLRI.withdrawn",
        )?;
        Ok(MpUnreachNlri { withdrawn })
    }
}
