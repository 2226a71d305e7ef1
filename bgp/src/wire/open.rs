//! OPEN message (RFC 4271 §4.2) with optional parameters (RFC 5492) and
//! the extended optional parameters length (RFC 9072).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::capability::Capability;
use super::error::{code, open_subcode, DecodeError, EncodeError, ErrorKind, Verdict};
use super::parse::{PResult, Section};
use super::HEADER_LEN;

/// The only BGP version (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;
/// AS_TRANS, the 2-octet stand-in for a 4-octet AS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;
/// Optional parameter type Capabilities (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;
/// Non-Extended Optional Parameter Type marking RFC 9072's extended form.
const PARAM_EXTENDED_LENGTH: u8 = 255;

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// Protocol version: 4.
    pub version: u8,
    /// My Autonomous System: the sender's AS, or AS_TRANS when it does not
    /// fit two octets (RFC 6793 §4.2.1).
    pub my_as: u16,
    /// Proposed Hold Time in seconds: 0 or at least 3 (RFC 4271 §4.2).
    pub hold_time: u16,
    /// BGP Identifier (RFC 4271 §4.2, RFC 6286).
    pub bgp_identifier: Ipv4Addr,
    /// Capabilities, from every Capabilities optional parameter in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn` (AS_TRANS in My AS when it needs four octets; the
    /// caller adds [`Capability::FourOctetAs`]).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Self {
        Open {
            version: BGP_VERSION,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_identifier,
            capabilities,
        }
    }

    /// The sender's AS: the 4-octet AS capability's when present, else My AS
    /// (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Checks that depend on the configured peer (RFC 4271 §6.2): the peer's
    /// AS must be `expected_as`, and the BGP Identifier must differ from
    /// ours (`local_id`) on iBGP sessions (RFC 6286 §2.2). Offsets are
    /// those of the fields in the whole message.
    pub fn validate_peer(
        &self,
        expected_as: u32,
        local_as: u32,
        local_id: Ipv4Addr,
    ) -> Result<(), DecodeError> {
        let received = self.asn();
        if received != expected_as {
            return Err(DecodeError {
                field: "open.my_as",
                offset: HEADER_LEN + 1,
                kind: ErrorKind::BadPeerAs {
                    received,
                    expected: expected_as,
                },
                verdict: Verdict::reset(code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS, Vec::new()),
            });
        }
        if expected_as == local_as && self.bgp_identifier == local_id {
            return Err(DecodeError {
                field: "open.bgp_identifier",
                offset: HEADER_LEN + 5,
                kind: ErrorKind::BadBgpIdentifier {
                    identifier: u32::from(self.bgp_identifier),
                },
                verdict: Verdict::reset(
                    code::OPEN_MESSAGE,
                    open_subcode::BAD_BGP_IDENTIFIER,
                    Vec::new(),
                ),
            });
        }
        Ok(())
    }

    /// Encode the body (after the header). Each capability goes in its own
    /// Capabilities parameter; when they exceed 255 octets the RFC 9072
    /// extended form is used.
    pub(crate) fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u8(self.version);
        buf.put_u16(self.my_as);
        buf.put_u16(self.hold_time);
        buf.put_slice(&self.bgp_identifier.octets());
        let short_len: usize = self.capabilities.iter().map(|c| 4 + c.value_len()).sum();
        if let Ok(len) = u8::try_from(short_len) {
            if len != PARAM_EXTENDED_LENGTH {
                buf.put_u8(len);
                for c in &self.capabilities {
                    buf.put_u8(PARAM_CAPABILITIES);
                    buf.put_u8((2 + c.value_len()) as u8);
                    c.encode(buf)?;
                }
                return Ok(());
            }
        }
        // RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, then a
        // 2-octet Extended Opt. Parm. Length; each parameter's length is 2
        // octets.
        let ext_len: usize = self.capabilities.iter().map(|c| 5 + c.value_len()).sum();
        let ext_len16 = u16::try_from(ext_len).map_err(|_| EncodeError::LengthOverflow {
            field: "open.extended_optional_parameters_length",
            length: ext_len,
        })?;
        buf.put_u8(PARAM_EXTENDED_LENGTH);
        buf.put_u8(PARAM_EXTENDED_LENGTH);
        buf.put_u16(ext_len16);
        for c in &self.capabilities {
            buf.put_u8(PARAM_CAPABILITIES);
            buf.put_u16((2 + c.value_len()) as u16);
            c.encode(buf)?;
        }
        Ok(())
    }

    /// Decode the body (RFC 4271 §6.2 checks that need no configuration).
    pub(crate) fn decode_body(body: &[u8]) -> PResult<'_, Open> {
        let sect = Section::reset(code::OPEN_MESSAGE, 0);
        let (i, version) = sect.u8(body, "open.version")?;
        if version != BGP_VERSION {
            // RFC 4271 §6.2: data is the largest locally supported version.
            return Err(Section::with(Verdict::reset(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_VERSION_NUMBER,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ))
            .fail(
                body,
                "open.version",
                ErrorKind::UnsupportedVersion { version },
            ));
        }
        let my_as_at = i;
        let (i, my_as) = sect.u16(i, "open.my_as")?;
        // RFC 7607 §2: AS 0 in My Autonomous System is a Bad Peer AS.
        if my_as == 0 {
            return Err(
                Section::reset(code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS).fail(
                    my_as_at,
                    "open.my_as",
                    ErrorKind::InvalidValue {
                        value: 0,
                        reason: "AS 0 (RFC 7607)",
                    },
                ),
            );
        }
        let hold_at = i;
        let (i, hold_time) = sect.u16(i, "open.hold_time")?;
        if hold_time == 1 || hold_time == 2 {
            return Err(
                Section::reset(code::OPEN_MESSAGE, open_subcode::UNACCEPTABLE_HOLD_TIME).fail(
                    hold_at,
                    "open.hold_time",
                    ErrorKind::UnacceptableHoldTime { hold_time },
                ),
            );
        }
        let id_at = i;
        let (i, id) = sect.u32(i, "open.bgp_identifier")?;
        if id == 0 {
            // RFC 6286 §2.2: a non-zero 4-octet unsigned integer.
            return Err(
                Section::reset(code::OPEN_MESSAGE, open_subcode::BAD_BGP_IDENTIFIER).fail(
                    id_at,
                    "open.bgp_identifier",
                    ErrorKind::BadBgpIdentifier { identifier: id },
                ),
            );
        }
        let (i, opt_len) = sect.u8(i, "open.optional_parameters_length")?;
        // RFC 9072 §2: extended form when the length and the first type
        // are both 255.
        let extended =
            opt_len == PARAM_EXTENDED_LENGTH && i.first() == Some(&PARAM_EXTENDED_LENGTH);
        let (rest, params) = if extended {
            let (i, _) = sect.u8(i, "open.non_ext_op_type")?;
            let (i, len) = sect.u16(i, "open.extended_optional_parameters_length")?;
            sect.take(i, usize::from(len), "open.optional_parameters")?
        } else {
            sect.take(i, usize::from(opt_len), "open.optional_parameters")?
        };
        sect.end(rest, "open")?;
        let mut capabilities = Vec::new();
        let mut p = params;
        while !p.is_empty() {
            let (i, ptype) = sect.u8(p, "open.optional_parameter.type")?;
            let (i, plen) = if extended {
                sect.u16(i, "open.optional_parameter.length")?
            } else {
                let (i, l) = sect.u8(i, "open.optional_parameter.length")?;
                (i, u16::from(l))
            };
            let (next, value) = sect.take(i, usize::from(plen), "open.optional_parameter.value")?;
            if ptype != PARAM_CAPABILITIES {
                return Err(Section::reset(
                    code::OPEN_MESSAGE,
                    open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                )
                .fail(
                    p,
                    "open.optional_parameter.type",
                    ErrorKind::UnsupportedOptionalParameter { param_type: ptype },
                ));
            }
            let mut v = value;
            while !v.is_empty() {
                let (vn, cap) = Capability::decode(v)?;
                // RFC 7607 §2: a 4-octet AS capability with AS 0 is a Bad
                // Peer AS.
                if cap == Capability::FourOctetAs(0) {
                    return Err(
                        Section::reset(code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS).fail(
                            v,
                            "open.capability.four_octet_as",
                            ErrorKind::InvalidValue {
                                value: 0,
                                reason: "AS 0 (RFC 7607)",
                            },
                        ),
                    );
                }
                capabilities.push(cap);
                v = vn;
            }
            p = next;
        }
        Ok((
            rest,
            Open {
                version,
                my_as,
                hold_time,
                bgp_identifier: Ipv4Addr::from(id),
                capabilities,
            },
        ))
    }
}
