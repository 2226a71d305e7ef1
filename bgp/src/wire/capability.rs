//! Capabilities advertisement (RFC 5492) and the capabilities Twill speaks.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//!
//! Unknown capabilities are kept as opaque bytes (RFC 5492 §3: a speaker
//! ignores capabilities it does not understand).

use bytes::{BufMut, BytesMut};

use super::context::Family;
use super::error::{code, open_subcode, ErrorKind};
use super::parse::{PResult, Section};

/// Capability codes (IANA "Capability Codes").
pub mod cap_code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// ADD-PATH Send/Receive field (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AddPathDirection {
    /// 1: willing to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathDirection {
    /// Whether this side receives path identifiers.
    pub fn receives(self) -> bool {
        matches!(self, Self::Receive | Self::Both)
    }
    /// Whether this side sends path identifiers.
    pub fn sends(self) -> bool {
        matches!(self, Self::Send | Self::Both)
    }
    fn to_u8(self) -> u8 {
        match self {
            Self::Receive => 1,
            Self::Send => 2,
            Self::Both => 3,
        }
    }
}

/// One ⟨AFI, SAFI, Send/Receive⟩ tuple of ADD-PATH (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathEntry {
    /// The family.
    pub family: Family,
    /// Send, receive or both.
    pub direction: AddPathDirection,
}

/// One ⟨NLRI AFI, NLRI SAFI, Nexthop AFI⟩ tuple (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopEntry {
    /// NLRI family (the SAFI is two octets on the wire; Twill's SAFIs fit
    /// one, larger values are refused as malformed).
    pub nlri_family: Family,
    /// AFI of the next hop (2 = IPv6).
    pub next_hop_afi: u16,
}

/// Per-family part of Graceful Restart (RFC 4724 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_state: bool,
}

/// Graceful Restart capability (RFC 4724 §3, N bit from RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit: Graceful Notification support (RFC 8538 §2).
    pub notification: bool,
    /// Restart Time in seconds (12 bits).
    pub restart_time: u16,
    /// Families whose state is preserved.
    pub families: Vec<GracefulRestartFamily>,
}

/// A capability (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// 1: Multiprotocol Extensions for one AFI/SAFI (RFC 4760 §8).
    Multiprotocol(Family),
    /// 2: Route Refresh (RFC 2918 §2).
    RouteRefresh,
    /// 5: Extended Next Hop Encoding (RFC 8950 §3).
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// 6: Extended Message (RFC 8654 §3).
    ExtendedMessage,
    /// 64: Graceful Restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 65: 4-octet AS number (RFC 6793 §3): the sender's AS.
    FourOctetAs(u32),
    /// 69: ADD-PATH (RFC 7911 §4).
    AddPath(Vec<AddPathEntry>),
    /// 70: Enhanced Route Refresh (RFC 7313 §3.1).
    EnhancedRouteRefresh,
    /// Any other capability, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => cap_code::MULTIPROTOCOL,
            Capability::RouteRefresh => cap_code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => cap_code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => cap_code::EXTENDED_MESSAGE,
            Capability::GracefulRestart(_) => cap_code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => cap_code::FOUR_OCTET_AS,
            Capability::AddPath(_) => cap_code::ADD_PATH,
            Capability::EnhancedRouteRefresh => cap_code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Length of the value on the wire.
    pub(crate) fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol(_) => 4,
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => 0,
            Capability::ExtendedNextHop(e) => 6 * e.len(),
            Capability::GracefulRestart(gr) => 2 + 4 * gr.families.len(),
            Capability::FourOctetAs(_) => 4,
            Capability::AddPath(e) => 4 * e.len(),
            Capability::Unknown { value, .. } => value.len(),
        }
    }

    /// Encode code, length and value. Fails if the value exceeds 255 octets.
    pub(crate) fn encode(&self, buf: &mut BytesMut) -> Result<(), super::EncodeError> {
        let len = self.value_len();
        let len8 = u8::try_from(len).map_err(|_| super::EncodeError::LengthOverflow {
            field: "capability.length",
            length: len,
        })?;
        buf.put_u8(self.code());
        buf.put_u8(len8);
        match self {
            Capability::Multiprotocol(f) => {
                buf.put_u16(f.afi);
                buf.put_u8(0);
                buf.put_u8(f.safi);
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    buf.put_u16(e.nlri_family.afi);
                    buf.put_u16(u16::from(e.nlri_family.safi));
                    buf.put_u16(e.next_hop_afi);
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut flags_time = gr.restart_time & 0x0fff;
                if gr.restart_state {
                    flags_time |= 0x8000;
                }
                if gr.notification {
                    flags_time |= 0x4000;
                }
                buf.put_u16(flags_time);
                for f in &gr.families {
                    buf.put_u16(f.family.afi);
                    buf.put_u8(f.family.safi);
                    buf.put_u8(if f.forwarding_state { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => buf.put_u32(*asn),
            Capability::AddPath(entries) => {
                for e in entries {
                    buf.put_u16(e.family.afi);
                    buf.put_u8(e.family.safi);
                    buf.put_u8(e.direction.to_u8());
                }
            }
            Capability::Unknown { value, .. } => buf.put_slice(value),
        }
        Ok(())
    }

    /// Decode one capability TLV.
    pub(crate) fn decode(i: &[u8]) -> PResult<'_, Capability> {
        let sect = Section::reset(code::OPEN_MESSAGE, 0);
        let (i, cap) = sect.u8(i, "capability.code")?;
        let (i, len) = sect.u8(i, "capability.length")?;
        let (rest, v) = sect.take(i, usize::from(len), "capability.value")?;
        let malformed = |reason| {
            sect.fail(
                v,
                "capability.value",
                ErrorKind::MalformedCapability { code: cap, reason },
            )
        };
        let c = match cap {
            cap_code::MULTIPROTOCOL => {
                let [a0, a1, _reserved, safi] =
                    <[u8; 4]>::try_from(v).map_err(|_| malformed("length is not 4"))?;
                Capability::Multiprotocol(Family::new(u16::from_be_bytes([a0, a1]), safi))
            }
            cap_code::ROUTE_REFRESH
            | cap_code::EXTENDED_MESSAGE
            | cap_code::ENHANCED_ROUTE_REFRESH => {
                if !v.is_empty() {
                    return Err(malformed("length is not 0"));
                }
                match cap {
                    cap_code::ROUTE_REFRESH => Capability::RouteRefresh,
                    cap_code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
                    _ => Capability::EnhancedRouteRefresh,
                }
            }
            cap_code::EXTENDED_NEXT_HOP => {
                if v.len() % 6 != 0 {
                    return Err(malformed("length is not a multiple of 6"));
                }
                let mut entries = Vec::with_capacity(v.len() / 6);
                for c in v.chunks_exact(6) {
                    let [a0, a1, s0, s1, n0, n1] =
                        <[u8; 6]>::try_from(c).map_err(|_| malformed("short tuple"))?;
                    let safi = u8::try_from(u16::from_be_bytes([s0, s1]))
                        .map_err(|_| malformed("NLRI SAFI over 255"))?;
                    entries.push(ExtendedNextHopEntry {
                        nlri_family: Family::new(u16::from_be_bytes([a0, a1]), safi),
                        next_hop_afi: u16::from_be_bytes([n0, n1]),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            cap_code::GRACEFUL_RESTART => decode_graceful_restart(v).map_err(malformed)?,
            cap_code::FOUR_OCTET_AS => {
                let b = <[u8; 4]>::try_from(v).map_err(|_| malformed("length is not 4"))?;
                Capability::FourOctetAs(u32::from_be_bytes(b))
            }
            cap_code::ADD_PATH => {
                if v.len() % 4 != 0 {
                    return Err(malformed("length is not a multiple of 4"));
                }
                let mut entries = Vec::with_capacity(v.len() / 4);
                for c in v.chunks_exact(4) {
                    let [a0, a1, safi, dir] =
                        <[u8; 4]>::try_from(c).map_err(|_| malformed("short tuple"))?;
                    let direction = match dir {
                        1 => AddPathDirection::Receive,
                        2 => AddPathDirection::Send,
                        3 => AddPathDirection::Both,
                        _ => return Err(malformed("Send/Receive is not 1, 2 or 3")),
                    };
                    entries.push(AddPathEntry {
                        family: Family::new(u16::from_be_bytes([a0, a1]), safi),
                        direction,
                    });
                }
                Capability::AddPath(entries)
            }
            code => Capability::Unknown {
                code,
                value: v.to_vec(),
            },
        };
        Ok((rest, c))
    }
}

fn decode_graceful_restart(v: &[u8]) -> Result<Capability, &'static str> {
    let (head, tuples) = v.split_at_checked(2).ok_or("shorter than 2 octets")?;
    if tuples.len() % 4 != 0 {
        return Err("tuples are not a multiple of 4 octets");
    }
    let flags_time = u16::from_be_bytes(<[u8; 2]>::try_from(head).map_err(|_| "short")?);
    let mut families = Vec::with_capacity(tuples.len() / 4);
    for c in tuples.chunks_exact(4) {
        let [a0, a1, safi, flags] = <[u8; 4]>::try_from(c).map_err(|_| "short tuple")?;
        families.push(GracefulRestartFamily {
            family: Family::new(u16::from_be_bytes([a0, a1]), safi),
            forwarding_state: flags & 0x80 != 0,
        });
    }
    Ok(Capability::GracefulRestart(GracefulRestart {
        restart_state: flags_time & 0x8000 != 0,
        notification: flags_time & 0x4000 != 0,
        restart_time: flags_time & 0x0fff,
        families,
    }))
}

/// The NOTIFICATION for capabilities we require and the peer lacks, or
/// refuse (RFC 5492 §5: OPEN Message Error / Unsupported Capability, data =
/// the capabilities concerned).
pub fn unsupported_capability(caps: &[Capability]) -> super::Notification {
    let mut buf = BytesMut::new();
    for c in caps {
        // A capability that cannot be encoded is left out of the data.
        let _ = c.encode(&mut buf);
    }
    super::Notification::new(
        code::OPEN_MESSAGE,
        open_subcode::UNSUPPORTED_CAPABILITY,
        buf.to_vec(),
    )
}
