//! Decode errors and the verdicts of RFC 4271 §6 and RFC 7606.
//!
//! Every malformation found by the codec becomes one [`DecodeError`]: the
//! field, the byte offset from the start of the message (the first marker
//! byte), what is wrong ([`ErrorKind`], carrying the facts), and the
//! [`Verdict`]: reset the session with an exact NOTIFICATION, treat the
//! UPDATE as a withdrawal, or discard one attribute.

use super::notification::Notification;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease (RFC 4486 subcodes).
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;
}

/// Message Header Error subcodes (RFC 4271 §4.5).
pub mod header_subcode {
    /// Connection Not Synchronized (bad marker).
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §4.5, RFC 5492 §5).
pub mod open_subcode {
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492 §5).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes (RFC 4271 §4.5).
pub mod update_subcode {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh_subcode {
    /// Invalid Message Length.
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// What the receiver must do about a malformation (RFC 4271 §6, RFC 7606 §2).
///
/// Ordered by severity: when several apply to one message, the most severe
/// wins (RFC 7606 §3.h), which is the maximum under this ordering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// RFC 7606 §2 "attribute discard": drop this attribute, keep the route.
    AttributeDiscard,
    /// RFC 7606 §2 "treat-as-withdraw": every prefix of the UPDATE is
    /// withdrawn.
    TreatAsWithdraw,
    /// RFC 4271 §6: send this NOTIFICATION and close the session.
    SessionReset(Notification),
}

impl Verdict {
    /// Session reset with the given code, subcode and data.
    pub fn reset(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Verdict::SessionReset(Notification::new(code, subcode, data))
    }

    /// The NOTIFICATION to send, for a session reset.
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            Verdict::SessionReset(n) => Some(n),
            _ => None,
        }
    }
}

/// What is wrong, with the facts needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Fewer bytes than the field needs.
    #[error("truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the enclosing element.
        available: usize,
    },
    /// The 16-byte marker is not all ones (RFC 4271 §6.1).
    #[error("marker is not all ones")]
    BadMarker,
    /// Message length outside what the type and the context allow.
    #[error("message length {length} is outside {min}..={max}")]
    BadMessageLength {
        /// The header's length field.
        length: u16,
        /// Smallest length allowed for this type.
        min: u16,
        /// Largest length allowed for this type.
        max: u16,
    },
    /// Unknown message type (RFC 4271 §6.1).
    #[error("unknown message type {msg_type}")]
    BadMessageType {
        /// The header's type field.
        msg_type: u8,
    },
    /// OPEN version other than 4 (RFC 4271 §6.2).
    #[error("unsupported version {version}")]
    UnsupportedVersion {
        /// The version received.
        version: u8,
    },
    /// The peer's AS is not the one configured (RFC 4271 §6.2).
    #[error("peer AS {received} is not the expected {expected}")]
    BadPeerAs {
        /// AS in the OPEN (or its 4-octet AS capability).
        received: u32,
        /// AS configured for the peer.
        expected: u32,
    },
    /// Hold time 1 or 2 seconds, or refused by local policy (RFC 4271 §6.2).
    #[error("unacceptable hold time {hold_time}")]
    UnacceptableHoldTime {
        /// The hold time received.
        hold_time: u16,
    },
    /// BGP Identifier zero or equal to ours (RFC 4271 §6.2, RFC 6286 §2.2).
    #[error("bad BGP identifier {identifier:#010x}")]
    BadBgpIdentifier {
        /// The identifier received.
        identifier: u32,
    },
    /// Optional parameter type other than Capabilities (RFC 4271 §6.2).
    #[error("unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// A capability we require is missing or one is refused (RFC 5492 §5).
    #[error("unsupported capability {code}")]
    UnsupportedCapability {
        /// The capability code.
        code: u8,
    },
    /// A capability value has the wrong length or content.
    #[error("malformed capability {code}: {reason}")]
    MalformedCapability {
        /// The capability code.
        code: u8,
        /// Why it is malformed.
        reason: &'static str,
    },
    /// Lengths inside the UPDATE do not add up (RFC 4271 §6.3, RFC 7606 §5).
    #[error("malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// Why.
        reason: &'static str,
    },
    /// Attribute flags inconsistent with the type (RFC 4271 §6.3).
    #[error("attribute {type_code}: flags {flags:#04x} do not match its type")]
    AttributeFlags {
        /// Attribute type code.
        type_code: u8,
        /// Flags received.
        flags: u8,
    },
    /// Attribute length wrong for the type (RFC 4271 §6.3).
    #[error("attribute {type_code}: length {length} is invalid")]
    AttributeLength {
        /// Attribute type code.
        type_code: u8,
        /// Length received.
        length: usize,
    },
    /// A well-known mandatory attribute is missing (RFC 4271 §6.3).
    #[error("missing well-known attribute {type_code}")]
    MissingWellKnownAttribute {
        /// Type code of the missing attribute.
        type_code: u8,
    },
    /// The same attribute type appears twice (RFC 7606 §3.g).
    #[error("duplicate attribute {type_code}")]
    DuplicateAttribute {
        /// Attribute type code.
        type_code: u8,
    },
    /// ORIGIN value other than 0, 1, 2 (RFC 4271 §6.3).
    #[error("invalid ORIGIN {value}")]
    InvalidOrigin {
        /// Value received.
        value: u8,
    },
    /// NEXT_HOP not a usable unicast address (RFC 4271 §6.3).
    #[error("invalid NEXT_HOP: {reason}")]
    InvalidNextHop {
        /// Why.
        reason: &'static str,
    },
    /// AS_PATH syntactically wrong (RFC 4271 §6.3, RFC 7606 §7.2).
    #[error("malformed AS_PATH: {reason}")]
    MalformedAsPath {
        /// Why.
        reason: &'static str,
    },
    /// An optional attribute's value is wrong (RFC 4271 §6.3).
    #[error("optional attribute {type_code}: {reason}")]
    OptionalAttribute {
        /// Attribute type code.
        type_code: u8,
        /// Why.
        reason: &'static str,
    },
    /// MP_REACH_NLRI or MP_UNREACH_NLRI malformed (RFC 7606 §7.11).
    #[error("malformed {attribute}: {reason}")]
    MalformedMpAttribute {
        /// "MP_REACH_NLRI" or "MP_UNREACH_NLRI".
        attribute: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// An NLRI prefix length exceeds the family's maximum (RFC 4271 §6.3).
    #[error("prefix length {length} exceeds {max}")]
    InvalidPrefixLength {
        /// Length received.
        length: u8,
        /// 32 or 128.
        max: u8,
    },
    /// An NLRI prefix runs past the end of its field (RFC 7606 §5.3).
    #[error("prefix of length {length} needs {needed} bytes, {available} left")]
    NlriOverrun {
        /// Prefix length in bits.
        length: u8,
        /// Bytes the prefix needs.
        needed: usize,
        /// Bytes left in the field.
        available: usize,
    },
    /// Bytes left over after the last field.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A value that is not allowed (for example a reserved code).
    #[error("invalid value {value}: {reason}")]
    InvalidValue {
        /// The value.
        value: u32,
        /// Why.
        reason: &'static str,
    },
}

/// One malformation: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} at byte {offset}: {kind}")]
pub struct DecodeError {
    /// The field that is wrong, for example `"open.hold_time"`.
    pub field: &'static str,
    /// Byte offset of the field from the start of the message (the first
    /// marker byte).
    pub offset: usize,
    /// What is wrong.
    pub kind: ErrorKind,
    /// What the receiver must do about it.
    pub verdict: Verdict,
}

impl DecodeError {
    /// The NOTIFICATION to send when the verdict is a session reset.
    pub fn notification(&self) -> Option<&Notification> {
        self.verdict.notification()
    }

    /// Shift the offset by `by` bytes (used when a body is decoded apart from
    /// its header).
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset = self.offset.saturating_add(by);
        self
    }
}

/// Errors of encoding: only what the caller could have avoided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message is longer than the context allows (RFC 8654).
    #[error("message of {length} bytes exceeds the maximum {max}")]
    MessageTooLong {
        /// Encoded length.
        length: usize,
        /// 4096, or 65535 with Extended Messages.
        max: usize,
    },
    /// A length field would overflow (for example optional parameters
    /// longer than 255 bytes without RFC 9072, or an attribute over 65535).
    #[error("{field}: length {length} does not fit")]
    LengthOverflow {
        /// The length field.
        field: &'static str,
        /// The length that did not fit.
        length: usize,
    },
}
