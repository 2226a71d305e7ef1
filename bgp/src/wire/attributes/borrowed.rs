//! Path attributes encoded from borrowed values: a sender that keeps its
//! attributes in a form of its own (a RIB's interned attribute sets)
//! encodes them without building an [`AttributeValue`] per attribute, and
//! so without copying an AS_PATH or a community list to do it. The
//! encodings of the list-valued attributes live here, and
//! [`AttributeValue`] encodes through them.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::LargeCommunity;
use super::{flags, type_code, AsPath, AttributeValue, Community, ExtendedCommunity};
use crate::wire::context::Context;
use crate::wire::error::EncodeError;

/// A path attribute value, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// Any value (those without a list are cheap to build on the stack).
    Value(&'a AttributeValue),
    /// 2: AS_PATH.
    AsPath(&'a AsPath),
    /// 8: COMMUNITIES.
    Communities(&'a [Community]),
    /// 10: CLUSTER_LIST.
    ClusterList(&'a [Ipv4Addr]),
    /// 16: EXTENDED_COMMUNITIES.
    ExtendedCommunities(&'a [ExtendedCommunity]),
    /// 17: AS4_PATH.
    As4Path(&'a AsPath),
    /// 32: LARGE_COMMUNITY.
    LargeCommunities(&'a [LargeCommunity]),
}

impl ValueRef<'_> {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        match self {
            ValueRef::Value(v) => v.type_code(),
            ValueRef::AsPath(_) => type_code::AS_PATH,
            ValueRef::Communities(_) => type_code::COMMUNITIES,
            ValueRef::ClusterList(_) => type_code::CLUSTER_LIST,
            ValueRef::ExtendedCommunities(_) => type_code::EXTENDED_COMMUNITIES,
            ValueRef::As4Path(_) => type_code::AS4_PATH,
            ValueRef::LargeCommunities(_) => type_code::LARGE_COMMUNITY,
        }
    }

    /// The owned value (a copy of the list for list-valued attributes).
    pub fn to_value(&self) -> AttributeValue {
        match *self {
            ValueRef::Value(v) => v.clone(),
            ValueRef::AsPath(p) => AttributeValue::AsPath(p.clone()),
            ValueRef::Communities(c) => AttributeValue::Communities(c.to_vec()),
            ValueRef::ClusterList(c) => AttributeValue::ClusterList(c.to_vec()),
            ValueRef::ExtendedCommunities(c) => AttributeValue::ExtendedCommunities(c.to_vec()),
            ValueRef::As4Path(p) => AttributeValue::As4Path(p.clone()),
            ValueRef::LargeCommunities(c) => AttributeValue::LargeCommunities(c.to_vec()),
        }
    }

    /// Length of the value (RFC 4271 §4.3 Attribute Length).
    pub(super) fn value_len(&self, ctx: &Context) -> usize {
        let as_size = if ctx.four_octet_as { 4 } else { 2 };
        match self {
            ValueRef::Value(v) => v.wire_len(ctx),
            ValueRef::AsPath(p) => p.wire_len(as_size),
            ValueRef::Communities(c) => 4 * c.len(),
            ValueRef::ClusterList(c) => 4 * c.len(),
            ValueRef::ExtendedCommunities(c) => 8 * c.len(),
            // RFC 6793 §3: AS4_PATH carries 4-octet ASes whatever the session.
            ValueRef::As4Path(p) => p.wire_len(4),
            ValueRef::LargeCommunities(c) => 12 * c.len(),
        }
    }

    /// Write the value.
    pub(super) fn encode_value(&self, ctx: &Context, buf: &mut BytesMut) {
        match self {
            ValueRef::Value(v) => v.encode_value(ctx, buf),
            ValueRef::AsPath(p) => p.encode(ctx.four_octet_as, buf),
            ValueRef::Communities(c) => c.iter().for_each(|c| buf.put_u32(c.0)),
            ValueRef::ClusterList(c) => c.iter().for_each(|a| buf.put_slice(&a.octets())),
            ValueRef::ExtendedCommunities(c) => c.iter().for_each(|c| buf.put_slice(&c.0)),
            ValueRef::As4Path(p) => p.encode(true, buf),
            ValueRef::LargeCommunities(c) => c.iter().for_each(|c| {
                buf.put_u32(c.global_admin);
                buf.put_u32(c.local_data_1);
                buf.put_u32(c.local_data_2);
            }),
        }
    }
}

/// The flags a value of `type_code` is sent with when the sender has none
/// of its own: those its type requires (RFC 4271 §5), Optional and
/// Transitive for an unknown type.
pub fn default_flags(type_code: u8) -> u8 {
    AttributeValue::required_flags(type_code).unwrap_or(flags::OPTIONAL | flags::TRANSITIVE)
}

/// Whether the value needs (or the flags ask for) the two-octet length.
fn extended(flags: u8, len: usize) -> bool {
    len > 255 || flags & flags::EXTENDED_LENGTH != 0
}

/// Encoded size of an attribute (header and value).
pub fn attribute_len(flags: u8, value: ValueRef<'_>, ctx: &Context) -> usize {
    let len = value.value_len(ctx);
    len + if extended(flags, len) { 4 } else { 3 }
}

/// Encode an attribute: flags, type, length and value (RFC 4271 §4.3);
/// Extended Length is set when the value needs it.
pub fn encode_attribute(
    flags: u8,
    value: ValueRef<'_>,
    ctx: &Context,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = value.value_len(ctx);
    let len16 = u16::try_from(len).map_err(|_| EncodeError::LengthOverflow {
        field: "path_attribute.length",
        length: len,
    })?;
    let ext = extended(flags, len);
    // Exactly what is written: a buffer sized by `attribute_len` does not
    // grow.
    buf.reserve(len + if ext { 4 } else { 3 });
    if ext {
        buf.put_u8(flags | flags::EXTENDED_LENGTH);
        buf.put_u8(value.type_code());
        buf.put_u16(len16);
    } else {
        buf.put_u8(flags);
        buf.put_u8(value.type_code());
        buf.put_u8(len16 as u8);
    }
    value.encode_value(ctx, buf);
    Ok(())
}
