//! UPDATE message (RFC 4271 §4.3) and its error handling (RFC 4271 §6.3,
//! RFC 7606).
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use bytes::{BufMut, BytesMut};

use super::attributes::{
    decode_path_attributes, encode_path_attributes, type_code, AttributeValue, MpNlri, MpReachNlri,
    MpUnreachNlri, PathAttribute,
};
use super::context::{Context, Family};
use super::error::{code, update_subcode, DecodeError, EncodeError, ErrorKind, Verdict};
use super::nlri::{decode_nlri, encode_nlri, nlri_len, Nlri4, Nlri6};
use super::parse::{Fail, Section};

/// An UPDATE message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn Routes: IPv4 unicast prefixes no longer reachable.
    pub withdrawn_routes: Vec<Nlri4>,
    /// Path Attributes, in the order received.
    pub path_attributes: Vec<PathAttribute>,
    /// Network Layer Reachability Information: IPv4 unicast prefixes.
    pub nlri: Vec<Nlri4>,
    /// Non-fatal findings of decoding (RFC 7606 treat-as-withdraw and
    /// attribute discard), with offsets in the message. Empty for messages
    /// built locally; never encoded.
    pub errors: Vec<DecodeError>,
}

/// The prefixes an UPDATE withdraws or announces, by family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes {
    /// IPv4 unicast.
    pub ipv4: Vec<Nlri4>,
    /// IPv6 unicast.
    pub ipv6: Vec<Nlri6>,
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE
    /// for IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            path_attributes: vec![PathAttribute::new(AttributeValue::MpUnreachNlri(
                MpUnreachNlri::end_of_rib(family),
            ))],
            ..Update::default()
        }
    }

    /// The family this UPDATE marks End-of-RIB for, if it is such a marker
    /// (RFC 4724 §2).
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn_routes.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.path_attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute {
                value: AttributeValue::MpUnreachNlri(m),
                ..
            }] if m.withdrawn.is_empty() => Some(m.family()),
            _ => None,
        }
    }

    /// The first attribute of `type_code`.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.path_attributes
            .iter()
            .find(|a| a.type_code() == type_code)
    }

    /// MP_REACH_NLRI, if present.
    pub fn mp_reach(&self) -> Option<&MpReachNlri> {
        self.path_attributes.iter().find_map(|a| match &a.value {
            AttributeValue::MpReachNlri(m) => Some(m),
            _ => None,
        })
    }

    /// MP_UNREACH_NLRI, if present.
    pub fn mp_unreach(&self) -> Option<&MpUnreachNlri> {
        self.path_attributes.iter().find_map(|a| match &a.value {
            AttributeValue::MpUnreachNlri(m) => Some(m),
            _ => None,
        })
    }

    /// RFC 7606 §2: whether every prefix of this UPDATE must be treated as
    /// withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.verdict == Verdict::TreatAsWithdraw)
    }

    /// Number of prefixes withdrawn and announced, in all families.
    pub fn prefix_count(&self) -> usize {
        self.withdrawn_routes.len()
            + self.nlri.len()
            + self.mp_reach().map_or(0, |m| m.nlri.len())
            + self.mp_unreach().map_or(0, |m| m.withdrawn.len())
    }

    /// What the UPDATE withdraws: Withdrawn Routes and MP_UNREACH_NLRI,
    /// plus, under treat-as-withdraw, the NLRI and MP_REACH_NLRI prefixes
    /// (RFC 7606 §2).
    pub fn withdrawn(&self) -> Prefixes {
        let mut p = Prefixes {
            ipv4: self.withdrawn_routes.clone(),
            ipv6: Vec::new(),
        };
        let mut add = |m: &MpNlri| match m {
            MpNlri::Ipv4Unicast(v) => p.ipv4.extend_from_slice(v),
            MpNlri::Ipv6Unicast(v) => p.ipv6.extend_from_slice(v),
            MpNlri::Other { .. } => {}
        };
        if let Some(m) = self.mp_unreach() {
            add(&m.withdrawn);
        }
        if self.treat_as_withdraw() {
            if let Some(m) = self.mp_reach() {
                add(&m.nlri);
            }
            p.ipv4.extend_from_slice(&self.nlri);
        }
        p
    }

    /// What the UPDATE announces: NLRI and MP_REACH_NLRI, or nothing under
    /// treat-as-withdraw.
    pub fn announced(&self) -> Prefixes {
        let mut p = Prefixes::default();
        if self.treat_as_withdraw() {
            return p;
        }
        p.ipv4.extend_from_slice(&self.nlri);
        match self.mp_reach().map(|m| &m.nlri) {
            Some(MpNlri::Ipv4Unicast(v)) => p.ipv4.extend_from_slice(v),
            Some(MpNlri::Ipv6Unicast(v)) => p.ipv6.extend_from_slice(v),
            _ => {}
        }
        p
    }

    /// Length of the whole message on the wire, header included, as
    /// [`Update::encode_message`] writes it.
    pub fn message_len(&self, ctx: &Context) -> usize {
        super::HEADER_LEN + self.body_len(ctx)
    }

    /// Body length on the wire.
    pub(crate) fn body_len(&self, ctx: &Context) -> usize {
        let ap = ctx.add_path.ipv4_unicast;
        4 + self
            .withdrawn_routes
            .iter()
            .map(|e| nlri_len(e, ap))
            .sum::<usize>()
            + self
                .path_attributes
                .iter()
                .map(|a| a.wire_len(ctx))
                .sum::<usize>()
            + self.nlri.iter().map(|e| nlri_len(e, ap)).sum::<usize>()
    }

    pub(crate) fn encode_body(&self, ctx: &Context, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let ap = ctx.add_path.ipv4_unicast;
        let start = buf.len();
        buf.put_u16(0);
        encode_nlri(&self.withdrawn_routes, ap, buf);
        let wlen = buf.len() - start - 2;
        let attr_start = buf.len();
        buf.put_u16(0);
        encode_path_attributes(&self.path_attributes, ctx, buf)?;
        let alen = buf.len() - attr_start - 2;
        encode_nlri(&self.nlri, ap, buf);
        patch_u16(buf, start, wlen, "update.withdrawn_routes_length")?;
        patch_u16(buf, attr_start, alen, "update.total_path_attribute_length")?;
        Ok(())
    }

    /// Decode the body. `Err` is a session reset; treat-as-withdraw and
    /// attribute discard findings are in [`Update::errors`] with offsets
    /// relative to `message`, the whole message.
    pub(crate) fn decode_body(body: &[u8], message: &[u8], ctx: &Context) -> Result<Update, Fail> {
        let list = Section::reset(
            code::UPDATE_MESSAGE,
            update_subcode::MALFORMED_ATTRIBUTE_LIST,
        );
        let ap = ctx.add_path.ipv4_unicast;
        // RFC 4271 §6.3: Withdrawn Routes Length or Total Attribute Length
        // too large is a Malformed Attribute List.
        let (i, wlen) = list.u16(body, "update.withdrawn_routes_length")?;
        let (i, withdrawn) = list
            .take(i, usize::from(wlen), "update.withdrawn_routes")
            .map_err(|f| {
                f.with_kind(ErrorKind::MalformedAttributeList {
                    reason: "Withdrawn Routes Length exceeds the message",
                })
            })?;
        let (i, alen) = list.u16(i, "update.total_path_attribute_length")?;
        let (nlri_field, attrs) = list
            .take(i, usize::from(alen), "update.path_attributes")
            .map_err(|f| {
                f.with_kind(ErrorKind::MalformedAttributeList {
                    reason: "Total Path Attribute Length exceeds the message",
                })
            })?;
        // RFC 7606 §5.3: prefixes that cannot be parsed reset the session.
        let withdrawn_routes = decode_nlri(withdrawn, ap, &list, "update.withdrawn_routes")?;
        let decoded = decode_path_attributes(attrs, ctx)?;
        let nlri = decode_nlri(
            nlri_field,
            ap,
            &Section::reset(code::UPDATE_MESSAGE, update_subcode::INVALID_NETWORK_FIELD),
            "update.nlri",
        )?;
        let mut errors = decoded.errors;
        let path_attributes = decoded.attributes;

        // RFC 7606 §3.d: a missing well-known mandatory attribute is
        // treat-as-withdraw when the UPDATE announces something (RFC 4760
        // §3: NEXT_HOP is needed only for the NLRI field).
        let has = |t: u8| path_attributes.iter().any(|a| a.type_code() == t);
        let has_mp_reach = has(type_code::MP_REACH_NLRI);
        let had_error = |t: u8| {
            errors.iter().any(|f| matches!(f.kind, ErrorKind::AttributeLength { type_code, .. } | ErrorKind::AttributeFlags { type_code, .. } if type_code == t))
            || (t == type_code::AS_PATH && errors.iter().any(|f| matches!(f.kind, ErrorKind::MalformedAsPath { .. })))
            || (t == type_code::ORIGIN && errors.iter().any(|f| matches!(f.kind, ErrorKind::InvalidOrigin { .. })))
            || (t == type_code::NEXT_HOP && errors.iter().any(|f| matches!(f.kind, ErrorKind::InvalidNextHop { .. })))
        };
        let framing_failed = errors.iter().any(|f| {
            matches!(
                f.kind,
                ErrorKind::MalformedAttributeList { .. } | ErrorKind::Truncated { .. }
            )
        });
        if !nlri.is_empty() || has_mp_reach {
            // Checked without allocating: this runs for every UPDATE.
            let required = [type_code::ORIGIN, type_code::AS_PATH, type_code::NEXT_HOP];
            let count = if nlri.is_empty() { 2 } else { 3 };
            let mut missing = [0u8; 3];
            let mut n = 0;
            for &t in required.iter().take(count) {
                if !has(t) && !had_error(t) && !framing_failed {
                    if let Some(slot) = missing.get_mut(n) {
                        *slot = t;
                        n += 1;
                    }
                }
            }
            for &t in missing.iter().take(n) {
                errors.push(Fail::new(
                    attrs,
                    "update.path_attributes",
                    ErrorKind::MissingWellKnownAttribute { type_code: t },
                    Verdict::TreatAsWithdraw,
                ));
            }
        }
        Ok(Update {
            withdrawn_routes,
            path_attributes,
            nlri,
            errors: if errors.is_empty() {
                Vec::new()
            } else {
                errors.into_iter().map(|f| f.at_offset(message)).collect()
            },
        })
    }
}

/// Write `value` as a u16 at `at` (a length field reserved earlier).
pub(crate) fn patch_u16(
    buf: &mut BytesMut,
    at: usize,
    value: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    let v = u16::try_from(value).map_err(|_| EncodeError::LengthOverflow {
        field,
        length: value,
    })?;
    if let Some(dst) = buf.get_mut(at..at + 2) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
    Ok(())
}
