//! The BGP-4 message codec: decode and encode every message, no I/O.
//!
//! - [`frame`] finds one message in a byte buffer (marker, length, type).
//! - [`decode_message`] decodes one framed message under a [`Context`]
//!   (what the session negotiated); every malformation is a [`DecodeError`]
//!   with field, offset and [`Verdict`] (RFC 4271 §6, RFC 7606).
//! - [`Message::encode`] writes one message into a `BytesMut`.
//!
//! This module has no tokio, no sockets and no sessions: the session task
//! wraps [`frame`] in a `tokio_util::codec` decoder.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod attributes;
pub mod capability;
pub mod context;
pub mod error;
mod message;
pub mod nlri;
pub mod notification;
pub mod open;
mod parse;
pub mod route_refresh;
pub mod update;

pub use attributes::{
    reconstruct_as4, Aggregator, AsPath, AsSegment, AttributeValue, Community, ExtendedCommunity,
    LargeCommunity, MpNextHop, MpNlri, MpReachNlri, MpUnreachNlri, Origin, PathAttribute,
    SegmentType,
};
pub use capability::{
    AddPathDirection, AddPathEntry, Capability, ExtendedNextHopEntry, GracefulRestart,
    GracefulRestartFamily,
};
pub use context::{Context, DecodeContext, EncodeContext, Family, FamilyFlags};
pub use error::{DecodeError, EncodeError, ErrorKind, Verdict};
pub use message::{decode_message, encode_announcement, frame, Message, MessageType, MARKER};
pub use nlri::{Ipv4Prefix, Ipv6Prefix, Nlri, Nlri4, Nlri6};
pub use notification::Notification;
pub use open::Open;
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use update::{Prefixes, Update};

/// Length of the message header (RFC 4271 §4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message without Extended Messages (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with Extended Messages (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
