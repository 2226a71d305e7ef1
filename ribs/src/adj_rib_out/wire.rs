//! A whole table packed straight into UPDATE messages: each attribute set's
//! path attributes are encoded once and copied into every message that
//! announces it (RFC 4271 §4.3), instead of an [`Update`] value per message
//! with its own copy of the attribute list, encoded afterwards.

use bgp::wire::attributes::encode_attribute;
use bgp::wire::{
    encode_announcement, AttributeValue, Context, EncodeError, Nlri4, PathAttribute, Update,
};
use bytes::{Bytes, BytesMut};

use super::{nlri_len, split_into, Carry, Group};
use crate::attrs::NextHop;

/// Messages are written into chunks of this many octets (or one message,
/// if larger): one allocation per chunk, not per message. A chunk is freed
/// once every message in it has been written and dropped.
const CHUNK: usize = 64 * 1024;

/// Encoded messages, written one after the other into shared chunks.
#[derive(Debug, Default)]
pub(super) struct Messages {
    buf: BytesMut,
    out: Vec<Bytes>,
    /// Room for the runs of one set's prefixes.
    runs: Vec<(usize, usize)>,
    /// Room for one set's encoded attributes.
    attributes: BytesMut,
    /// Octets still to come, when known: the last chunk is no larger.
    left: Option<usize>,
}

impl Messages {
    /// Append the message `encode` writes; `max` is the largest it can be.
    fn push(
        &mut self,
        max: usize,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        // With the total known, the next message is no longer than what
        // is left, and the last chunk no larger.
        let (need, chunk) = match self.left {
            Some(left) => (left.min(max), left.min(CHUNK)),
            None => (max, CHUNK.max(max)),
        };
        if self.buf.capacity() - self.buf.len() < need {
            self.buf.reserve(chunk);
        }
        let start = self.buf.len();
        encode(&mut self.buf)?;
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(self.buf.len() - start);
        }
        self.out.push(self.buf.split().freeze());
        Ok(())
    }

    /// The messages, in the order written.
    pub(super) fn into_vec(self) -> Vec<Bytes> {
        self.out
    }
}

impl Group {
    /// The set's prefixes cut into messages, as [`Group::pack`] cuts them
    /// into UPDATEs (same messages, same order). IPv4 prefixes with a
    /// NEXT_HOP attribute, the bulk of any table, are framed around the
    /// set's attributes encoded once; prefixes carried in MP_REACH_NLRI
    /// (each message its own attribute) go through [`Update`] values.
    ///
    /// `nlri4` are the set's IPv4 prefixes (its IPv6 ones are in the set).
    pub(super) fn pack_wire(
        &mut self,
        ctx: &Context,
        max: usize,
        nlri4: &[Nlri4],
        msgs: &mut Messages,
    ) -> Result<(), EncodeError> {
        if let (Carry::NextHop, NextHop::V4(nh), true) =
            (self.v4, self.next_hop, self.nlri6.is_empty())
        {
            if nlri4.is_empty() {
                return Ok(());
            }
            let mut attributes = std::mem::take(&mut msgs.attributes);
            attributes.clear();
            let encoded = self.encode_attributes(
                PathAttribute::new(AttributeValue::NextHop(nh)),
                ctx,
                &mut attributes,
            );
            if let Err(e) = encoded {
                msgs.attributes = attributes;
                return Err(e);
            }
            let ap = ctx.add_path.ipv4_unicast;
            let (v4, base) = (self.v4, self.wire_len);
            let mut runs = std::mem::take(&mut msgs.runs);
            split_into(
                nlri4,
                |e| nlri_len(e.prefix.len(), ap),
                |n| v4.total(base, n),
                max,
                &mut runs,
            );
            let sent = runs.iter().try_for_each(|&(a, b)| {
                msgs.push(max, |buf| {
                    encode_announcement(&attributes, &nlri4[a..b], ctx, buf)
                })
            });
            msgs.runs = runs;
            msgs.attributes = attributes;
            return sent;
        }
        self.nlri4.extend_from_slice(nlri4);
        let mut updates = Vec::new();
        self.pack(ctx, max, &mut updates);
        encode_all(&updates, ctx, msgs)
    }

    /// The Path Attributes field of the set's messages: its attributes
    /// with `extra` in type-code order (RFC 4271 §5: SHOULD be ordered by
    /// type code), as [`Group::pack`] inserts it.
    fn encode_attributes(
        &self,
        extra: PathAttribute,
        ctx: &Context,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let tc = extra.type_code();
        buf.reserve(self.wire_len + extra.wire_len(ctx));
        let mut extra = Some(extra);
        let mut result = Ok(());
        self.attrs.for_each_wire(ctx.four_octet_as, |flags, value| {
            if value.type_code() > tc && result.is_ok() {
                if let Some(x) = extra.take() {
                    result = x.encode(ctx, buf);
                }
            }
            if result.is_ok() {
                result = encode_attribute(flags, value, ctx, buf);
            }
        });
        if let Some(x) = extra {
            result = result.and_then(|()| x.encode(ctx, buf));
        }
        result
    }
}

/// The messages of `updates`, encoded into shared chunks.
fn encode_all(updates: &[Update], ctx: &Context, msgs: &mut Messages) -> Result<(), EncodeError> {
    let max = ctx.max_message_len();
    for u in updates {
        msgs.push(max, |buf| u.encode_message(ctx, buf))?;
    }
    Ok(())
}

/// The messages of `updates`, each a view of chunks of at most 64 KiB
/// sized to fit: one allocation per chunk rather than per message.
pub(crate) fn encode_messages(
    updates: &[Update],
    ctx: &Context,
) -> Result<Vec<Bytes>, EncodeError> {
    // A batch that fits one chunk gets a buffer of exactly its size; the
    // sizes of a larger one are not worth a pass of their own.
    let mut total = 0;
    let left = updates
        .iter()
        .all(|u| {
            total += u.message_len(ctx);
            total < CHUNK
        })
        .then_some(total);
    let mut msgs = Messages {
        left,
        out: Vec::with_capacity(updates.len()),
        ..Messages::default()
    };
    encode_all(updates, ctx, &mut msgs)?;
    Ok(msgs.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::{AsPath, Ipv4Prefix, Nlri, Origin};
    use std::net::Ipv4Addr;

    /// An UPDATE of `n` /24s with ORIGIN, AS_PATH and NEXT_HOP.
    fn update(n: u32) -> Update {
        Update {
            path_attributes: vec![
                PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
                PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![65001]))),
                PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 1))),
            ],
            nlri: (0..n)
                .map(|i| {
                    Nlri::new(Ipv4Prefix::new(Ipv4Addr::from(0xc612_0000 | (i << 8)), 24).unwrap())
                })
                .collect(),
            ..Update::default()
        }
    }

    fn end(b: &Bytes) -> usize {
        b.as_ptr() as usize + b.len()
    }

    /// The messages are what each UPDATE encodes to alone; they follow one
    /// another in one allocation while it lasts (64 KiB), and a new chunk
    /// starts after it.
    #[test]
    fn messages_share_chunks_of_64_kib() {
        let ctx = Context::default();
        // 40 messages of 2,041 octets (19 + 4 + 18 + 500 * 4): about 80 KiB.
        let updates: Vec<Update> = (0..40).map(|_| update(500)).collect();
        let msgs = encode_messages(&updates, &ctx).unwrap();
        assert_eq!(msgs.len(), 40);
        for (m, u) in msgs.iter().zip(&updates) {
            let mut alone = BytesMut::new();
            u.encode_message(&ctx, &mut alone).unwrap();
            assert_eq!(&m[..], &alone[..]);
            assert_eq!(m.len(), u.message_len(&ctx));
        }
        let contiguous = msgs
            .windows(2)
            .filter(|w| end(&w[0]) == w[1].as_ptr() as usize)
            .count();
        // 32 fit a 64 KiB chunk, the other 8 a second.
        assert_eq!(msgs[0].len(), 2041);
        let breaks: Vec<usize> = msgs
            .windows(2)
            .enumerate()
            .filter(|(_, w)| end(&w[0]) != w[1].as_ptr() as usize)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(contiguous, 31 + 7, "{breaks:?}");
    }
}
