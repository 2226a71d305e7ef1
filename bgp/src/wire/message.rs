//! The message header (RFC 4271 §4.1), framing, and the message enum.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                           Marker (16 octets of 0xff)          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};

use super::context::Context;
use super::error::{
    code, header_subcode, route_refresh_subcode, DecodeError, EncodeError, ErrorKind, Verdict,
};
use super::nlri::{encode_nlri, nlri_len, Nlri4};
use super::notification::Notification;
use super::open::Open;
use super::parse::Fail;
use super::route_refresh::{self, RouteRefresh};
use super::update::{patch_u16, Update};
use super::{HEADER_LEN, MAX_MESSAGE_LEN};

/// The 16-octet marker: all ones (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];

/// Message types (RFC 4271 §4.1, RFC 2918 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1: OPEN.
    Open,
    /// 2: UPDATE.
    Update,
    /// 3: NOTIFICATION.
    Notification,
    /// 4: KEEPALIVE.
    Keepalive,
    /// 5: ROUTE-REFRESH.
    RouteRefresh,
}

impl MessageType {
    /// The type from its octet.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }

    /// The octet on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Update => 2,
            Self::Notification => 3,
            Self::Keepalive => 4,
            Self::RouteRefresh => 5,
        }
    }

    /// Allowed total lengths (RFC 4271 §6.1; RFC 8654 §4: OPEN and
    /// KEEPALIVE are never extended). ROUTE-REFRESH is checked on decode,
    /// where RFC 7313 §5 needs the whole message for the NOTIFICATION.
    fn length_range(self, ctx: &Context) -> (u16, u16) {
        let max = ctx.max_message_len() as u16;
        match self {
            Self::Open => (29, MAX_MESSAGE_LEN as u16),
            Self::Update => (23, max),
            Self::Notification => (21, max),
            Self::Keepalive => (19, 19),
            Self::RouteRefresh => (19, max),
        }
    }
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE: a header only.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Encode the whole message (header included) onto `buf`. On error
    /// nothing is appended.
    pub fn encode(&self, ctx: &Context, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let hint = match self {
            Message::Update(u) => u.body_len(ctx),
            Message::Notification(n) => n.body_len(),
            _ => 64,
        };
        encode_framed(self.message_type(), hint, ctx, buf, |buf| {
            match self {
                Message::Open(o) => o.encode_body(buf)?,
                Message::Update(u) => u.encode_body(ctx, buf)?,
                Message::Notification(n) => n.encode_body(buf),
                Message::Keepalive => {}
                Message::RouteRefresh(r) => r.encode_body(buf),
            }
            Ok(())
        })
    }

    /// Encode into a new buffer.
    pub fn to_bytes(&self, ctx: &Context) -> Result<BytesMut, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(ctx, &mut buf)?;
        Ok(buf)
    }
}

/// Check the header at the start of `buf` (RFC 4271 §6.1) and return the
/// message's length and type once the header is there.
fn check_header(buf: &[u8], ctx: &Context) -> Result<Option<(usize, MessageType)>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let reset = |field, offset, kind, subcode, data: &[u8]| DecodeError {
        field,
        offset,
        kind,
        verdict: Verdict::reset(code::MESSAGE_HEADER, subcode, data),
    };
    if header.get(..16) != Some(&MARKER[..]) {
        return Err(reset(
            "header.marker",
            0,
            ErrorKind::BadMarker,
            header_subcode::CONNECTION_NOT_SYNCHRONIZED,
            &[],
        ));
    }
    let len_bytes = header.get(16..18).unwrap_or_default();
    let length = super::parse::be16(len_bytes);
    let t = header.get(18).copied().unwrap_or(0);
    let Some(msg_type) = MessageType::from_u8(t) else {
        return Err(reset(
            "header.type",
            18,
            ErrorKind::BadMessageType { msg_type: t },
            header_subcode::BAD_MESSAGE_TYPE,
            &[t],
        ));
    };
    let (min, max) = msg_type.length_range(ctx);
    if length < min || length > max {
        // RFC 4271 §6.1: the Data field holds the erroneous Length field.
        return Err(reset(
            "header.length",
            16,
            ErrorKind::BadMessageLength { length, min, max },
            header_subcode::BAD_MESSAGE_LENGTH,
            len_bytes,
        ));
    }
    Ok(Some((usize::from(length), msg_type)))
}

/// Framing over a byte buffer: `Ok(Some(n))` when the first `n` bytes of
/// `buf` are one whole message with a valid header, `Ok(None)` when more
/// bytes are needed, `Err` (a session reset) when the header is bad. Header
/// errors are reported as soon as the 19 header bytes are in.
pub fn frame(buf: &[u8], ctx: &Context) -> Result<Option<usize>, DecodeError> {
    Ok(match check_header(buf, ctx)? {
        Some((len, _)) if buf.len() >= len => Some(len),
        _ => None,
    })
}

/// Decode one whole message (header included; `msg` must be exactly one
/// message, as returned by [`frame`]).
pub fn decode_message(msg: &[u8], ctx: &Context) -> Result<Message, DecodeError> {
    let Some((length, msg_type)) = check_header(msg, ctx)? else {
        return Err(DecodeError {
            field: "header",
            offset: 0,
            kind: ErrorKind::Truncated {
                needed: HEADER_LEN,
                available: msg.len(),
            },
            verdict: Verdict::reset(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                Vec::new(),
            ),
        });
    };
    if msg.len() != length {
        let length_field = msg.get(16..18).unwrap_or_default();
        return Err(DecodeError {
            field: "header.length",
            offset: 16,
            kind: if msg.len() < length {
                ErrorKind::Truncated {
                    needed: length,
                    available: msg.len(),
                }
            } else {
                ErrorKind::TrailingBytes {
                    count: msg.len() - length,
                }
            },
            verdict: Verdict::reset(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                length_field,
            ),
        });
    }
    let body = msg.get(HEADER_LEN..).unwrap_or_default();
    let fix = |f: Fail| f.at_offset(msg);
    Ok(match msg_type {
        MessageType::Open => Message::Open(Open::decode_body(body).map_err(fix)?.1),
        MessageType::Update => Message::Update(Update::decode_body(body, msg, ctx).map_err(fix)?),
        MessageType::Notification => {
            Message::Notification(Notification::decode_body(body).map_err(fix)?.1)
        }
        MessageType::Keepalive => Message::Keepalive,
        MessageType::RouteRefresh => {
            if body.len() != route_refresh::BODY_LEN {
                // RFC 7313 §5: for BoRR/EoRR, ROUTE-REFRESH Message Error /
                // Invalid Message Length with the whole message as data;
                // for a plain request, RFC 4271 §6.1 Bad Message Length.
                let subtype = body.get(2).copied();
                let verdict = if matches!(subtype, Some(1 | 2)) {
                    Verdict::reset(
                        code::ROUTE_REFRESH_MESSAGE,
                        route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                        msg,
                    )
                } else {
                    Verdict::reset(
                        code::MESSAGE_HEADER,
                        header_subcode::BAD_MESSAGE_LENGTH,
                        msg.get(16..18).unwrap_or_default(),
                    )
                };
                return Err(DecodeError {
                    field: "header.length",
                    offset: 16,
                    kind: ErrorKind::BadMessageLength {
                        length: length as u16,
                        min: 23,
                        max: 23,
                    },
                    verdict,
                });
            }
            Message::RouteRefresh(RouteRefresh::decode_body(body).map_err(fix)?.1)
        }
    })
}

/// Frame a message (RFC 4271 §4.1: marker, length, type) around the body
/// `body` writes; on error nothing is appended to `buf`.
fn encode_framed(
    t: MessageType,
    hint: usize,
    ctx: &Context,
    buf: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.reserve(HEADER_LEN + hint);
    buf.put_slice(&MARKER);
    buf.put_u16(0);
    buf.put_u8(t.to_u8());
    let r = body(buf).and_then(|()| {
        let length = buf.len() - start;
        let (_, max) = t.length_range(ctx);
        if length > usize::from(max) {
            return Err(EncodeError::MessageTooLong {
                length,
                max: usize::from(max),
            });
        }
        patch_u16(buf, start + 16, length, "header.length")
    });
    if r.is_err() {
        buf.truncate(start);
    }
    r
}

/// Encode an UPDATE that withdraws nothing and announces `nlri` (IPv4,
/// in the NLRI field) with path attributes already encoded: `attributes`
/// is the Path Attributes field exactly as it goes on the wire (RFC 4271
/// §4.3), for a sender that encodes one attribute set once and announces
/// it in many messages. On error nothing is appended.
pub fn encode_announcement(
    attributes: &[u8],
    nlri: &[Nlri4],
    ctx: &Context,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let ap = ctx.add_path.ipv4_unicast;
    let nlri_bytes: usize = nlri.iter().map(|e| nlri_len(e, ap)).sum();
    let hint = 2 + 2 + attributes.len() + nlri_bytes;
    encode_framed(MessageType::Update, hint, ctx, buf, |buf| {
        // Withdrawn Routes Length: none.
        buf.put_u16(0);
        let at = buf.len();
        buf.put_u16(0);
        patch_u16(
            buf,
            at,
            attributes.len(),
            "update.total_path_attribute_length",
        )?;
        buf.put_slice(attributes);
        encode_nlri(nlri, ap, buf);
        Ok(())
    })
}

impl Update {
    /// Encode as a whole UPDATE message (header included) onto `buf`, as
    /// [`Message::encode`] does, without moving the UPDATE into a
    /// [`Message`]. On error nothing is appended.
    pub fn encode_message(&self, ctx: &Context, buf: &mut BytesMut) -> Result<(), EncodeError> {
        encode_framed(MessageType::Update, self.body_len(ctx), ctx, buf, |buf| {
            self.encode_body(ctx, buf)
        })
    }
}
