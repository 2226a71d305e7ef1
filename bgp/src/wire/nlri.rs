//! IP prefixes and their NLRI encoding.
//!
//! RFC 4271 §4.3: each prefix is `<length, prefix>`: one octet of length in
//! bits, then the fewest octets that hold that many bits. RFC 7911 §3 puts a
//! 4-octet Path Identifier in front when ADD-PATH is negotiated for the
//! family. RFC 4760 §5 uses the same encoding inside MP_REACH_NLRI and
//! MP_UNREACH_NLRI.
//!
//! Decoded prefixes are canonical: bits beyond the prefix length are cleared
//! ("trailing bits ... are irrelevant", RFC 4271 §4.3), so the same route
//! always has the same key.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use super::error::ErrorKind;
use super::parse::{Fail, Section};

/// An IPv4 prefix with host bits zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// An IPv6 prefix with host bits zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

#[inline]
fn mask32(v: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        1..=31 => v & (u32::MAX << (32 - u32::from(len))),
        _ => v,
    }
}

#[inline]
fn mask128(v: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        1..=127 => v & (u128::MAX << (128 - u32::from(len))),
        _ => v,
    }
}

impl Ipv4Prefix {
    /// The prefix `addr/len` with host bits cleared; `None` if `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        (len <= 32).then(|| Ipv4Prefix {
            addr: Ipv4Addr::from(mask32(u32::from(addr), len)),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container"
    )]
    pub fn len(&self) -> u8 {
        self.len
    }
}

impl Ipv6Prefix {
    /// The prefix `addr/len` with host bits cleared; `None` if `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        (len <= 128).then(|| Ipv6Prefix {
            addr: Ipv6Addr::from(mask128(u128::from(addr), len)),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a container"
    )]
    pub fn len(&self) -> u8 {
        self.len
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Debug for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
impl fmt::Debug for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parse error of [`Ipv4Prefix`] or [`Ipv6Prefix`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix {0:?}: expected ADDRESS/LENGTH")]
pub struct PrefixParseError(String);

impl std::str::FromStr for Ipv4Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PrefixParseError(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        Ipv4Prefix::new(a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?)
            .ok_or_else(bad)
    }
}

impl std::str::FromStr for Ipv6Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PrefixParseError(s.to_owned());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        Ipv6Prefix::new(a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?)
            .ok_or_else(bad)
    }
}

/// One NLRI entry: a prefix and, with ADD-PATH, its Path Identifier
/// (RFC 7911 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nlri<P> {
    /// Path Identifier, present exactly when ADD-PATH is negotiated for the
    /// family in this direction.
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: P,
}

impl<P> Nlri<P> {
    /// An entry without a Path Identifier.
    pub fn new(prefix: P) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }
}

/// IPv4 NLRI entry.
pub type Nlri4 = Nlri<Ipv4Prefix>;
/// IPv6 NLRI entry.
pub type Nlri6 = Nlri<Ipv6Prefix>;

/// A prefix type that has the `<length, prefix>` encoding.
pub(crate) trait WirePrefix: Sized + Copy {
    /// Maximum prefix length: 32 or 128.
    const MAX_LEN: u8;
    /// Build from the significant octets `bytes` (at most `MAX_LEN / 8`),
    /// masking. `rest` is the input from the same first octet on; when it
    /// holds a whole address, one fixed-size load replaces a variable-length
    /// copy (the octets past `bytes` belong to the next prefix and are
    /// cleared by the mask).
    fn from_wire(rest: &[u8], bytes: &[u8], len: u8) -> Self;
    /// Write the significant octets.
    fn put(&self, buf: &mut BytesMut);
    /// Prefix length.
    fn bits(&self) -> u8;
}

impl WirePrefix for Ipv4Prefix {
    const MAX_LEN: u8 = 32;
    #[inline]
    fn from_wire(rest: &[u8], bytes: &[u8], len: u8) -> Self {
        let v = match rest.first_chunk::<4>() {
            Some(a) => u32::from_be_bytes(*a),
            None => bytes
                .iter()
                .enumerate()
                .fold(0u32, |v, (k, &b)| v | u32::from(b) << (24 - 8 * k)),
        };
        Ipv4Prefix {
            addr: Ipv4Addr::from(mask32(v, len)),
            len,
        }
    }
    #[inline]
    fn put(&self, buf: &mut BytesMut) {
        // One write of a known size per case: a whole table is 900,000 of
        // these, and a copy of a variable length is a call to `memcpy`.
        let l = self.len;
        let [a, b, c, d] = self.addr.octets();
        match usize::from(l).div_ceil(8) {
            0 => buf.put_u8(l),
            1 => buf.put_slice(&[l, a]),
            2 => buf.put_slice(&[l, a, b]),
            3 => buf.put_slice(&[l, a, b, c]),
            _ => buf.put_slice(&[l, a, b, c, d]),
        }
    }
    #[inline]
    fn bits(&self) -> u8 {
        self.len
    }
}

impl WirePrefix for Ipv6Prefix {
    const MAX_LEN: u8 = 128;
    #[inline]
    fn from_wire(rest: &[u8], bytes: &[u8], len: u8) -> Self {
        let v = match rest.first_chunk::<16>() {
            Some(a) => u128::from_be_bytes(*a),
            None => bytes
                .iter()
                .enumerate()
                .fold(0u128, |v, (k, &b)| v | u128::from(b) << (120 - 8 * k)),
        };
        Ipv6Prefix {
            addr: Ipv6Addr::from(mask128(v, len)),
            len,
        }
    }
    #[inline]
    fn put(&self, buf: &mut BytesMut) {
        let n = usize::from(self.len).div_ceil(8);
        let octets = self.addr.octets();
        buf.put_u8(self.len);
        buf.put_slice(octets.get(..n).unwrap_or(&octets));
    }
    #[inline]
    fn bits(&self) -> u8 {
        self.len
    }
}

/// Decode a whole NLRI field (Withdrawn Routes, NLRI, or the NLRI inside
/// MP_REACH_NLRI / MP_UNREACH_NLRI). A prefix longer than the family allows
/// or one that runs past the field fails with `sect`'s verdict: such a field
/// cannot be parsed reliably, so the UPDATE cannot be treated as a
/// withdrawal either (RFC 7606 §5.3).
pub(crate) fn decode_nlri<P: WirePrefix>(
    field: &[u8],
    add_path: bool,
    sect: &Section,
    name: &'static str,
) -> Result<Vec<Nlri<P>>, Fail> {
    let per = if add_path {
        8
    } else {
        1 + usize::from(P::MAX_LEN) / 16
    };
    let mut out = Vec::with_capacity(field.len() / per + 1);
    let mut i = field;
    while let Some((&first, after_first)) = i.split_first() {
        let (path_id, len, rest, len_at) = if add_path {
            let (rest, id) = sect.u32(i, name)?;
            let Some((&len, rest2)) = rest.split_first() else {
                return Err(sect.fail(
                    rest,
                    name,
                    ErrorKind::Truncated {
                        needed: 1,
                        available: 0,
                    },
                ));
            };
            (Some(id), len, rest2, rest)
        } else {
            (None, first, after_first, i)
        };
        if len > P::MAX_LEN {
            return Err(sect.fail(
                len_at,
                name,
                ErrorKind::InvalidPrefixLength {
                    length: len,
                    max: P::MAX_LEN,
                },
            ));
        }
        let n = usize::from(len).div_ceil(8);
        let (Some(bytes), Some(next)) = (rest.get(..n), rest.get(n..)) else {
            return Err(sect.fail(
                len_at,
                name,
                ErrorKind::NlriOverrun {
                    length: len,
                    needed: n,
                    available: rest.len(),
                },
            ));
        };
        out.push(Nlri {
            path_id,
            prefix: P::from_wire(rest, bytes, len),
        });
        i = next;
    }
    Ok(out)
}

/// Encode NLRI entries. With `add_path`, a missing Path Identifier is sent
/// as 0; without it, Path Identifiers are not sent.
pub(crate) fn encode_nlri<P: WirePrefix>(entries: &[Nlri<P>], add_path: bool, buf: &mut BytesMut) {
    // No reserve here: every message is framed with its exact length
    // reserved (`encode_framed`), which a second pass over the entries
    // would only confirm.
    for e in entries {
        if add_path {
            buf.put_u32(e.path_id.unwrap_or(0));
        }
        e.prefix.put(buf);
    }
}

/// Encoded size of one entry.
pub(crate) fn nlri_len<P: WirePrefix>(e: &Nlri<P>, add_path: bool) -> usize {
    (if add_path { 4 } else { 0 }) + 1 + usize::from(e.prefix.bits()).div_ceil(8)
}
