//! Parsing primitives: `nom` over `&[u8]` with the codec's own error type.
//!
//! Offsets without `nom_locate`: every slice handed around is a sub-slice of
//! the message being decoded, so the position of an error is the distance
//! between the failing slice's start and the message's start. [`Fail`]
//! records the address; [`Fail::at_offset`] turns it into a byte offset once
//! the message's start is known.

use nom::error::{ErrorKind as NomKind, ParseError};
use nom::Parser;

use super::error::{DecodeError, ErrorKind, Verdict};

/// A parse failure while decoding; becomes a [`DecodeError`] at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    /// Address of the first byte of the failing field.
    at: usize,
    pub(crate) field: &'static str,
    pub(crate) kind: ErrorKind,
    pub(crate) verdict: Verdict,
}

/// Result of a parser: the rest of the input and the value.
pub(crate) type PResult<'a, T> = Result<(&'a [u8], T), Fail>;

impl Fail {
    /// A failure at the start of `at`.
    pub(crate) fn new(at: &[u8], field: &'static str, kind: ErrorKind, verdict: Verdict) -> Self {
        Fail {
            at: at.as_ptr() as usize,
            field,
            kind,
            verdict,
        }
    }

    /// The same failure with another verdict.
    pub(crate) fn with_verdict(self, verdict: Verdict) -> Self {
        Fail { verdict, ..self }
    }

    /// The same failure with another kind.
    pub(crate) fn with_kind(self, kind: ErrorKind) -> Self {
        Fail { kind, ..self }
    }

    /// The public error, with the offset measured from `message`'s start.
    pub(crate) fn at_offset(self, message: &[u8]) -> DecodeError {
        DecodeError {
            field: self.field,
            offset: self.at.saturating_sub(message.as_ptr() as usize),
            kind: self.kind,
            verdict: self.verdict,
        }
    }
}

impl<'a> ParseError<&'a [u8]> for Fail {
    fn from_error_kind(input: &'a [u8], _kind: NomKind) -> Self {
        // Every primitive below only fails for lack of input; callers set the
        // field, the needed count and the verdict.
        Fail::new(
            input,
            "",
            ErrorKind::Truncated {
                needed: 0,
                available: input.len(),
            },
            Verdict::AttributeDiscard,
        )
    }

    fn append(_input: &'a [u8], _kind: NomKind, other: Self) -> Self {
        other
    }
}

/// A section of a message: the verdict that applies to any failure inside
/// it (for example an OPEN Message Error, or treat-as-withdraw inside one
/// attribute), and the primitives that read its fields.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub(crate) verdict: Verdict,
}

fn run<'a, O>(
    i: &'a [u8],
    mut p: impl Parser<&'a [u8], Output = O, Error = Fail>,
) -> Result<(&'a [u8], O), nom::Err<Fail>> {
    p.parse(i)
}

impl Section {
    /// A section whose failures reset the session with `code`/`subcode` and
    /// empty data.
    pub(crate) fn reset(code: u8, subcode: u8) -> Self {
        Section {
            verdict: Verdict::reset(code, subcode, Vec::new()),
        }
    }

    /// A section with the given verdict.
    pub(crate) fn with(verdict: Verdict) -> Self {
        Section { verdict }
    }

    /// A failure of `kind` at `at`.
    pub(crate) fn fail(&self, at: &[u8], field: &'static str, kind: ErrorKind) -> Fail {
        Fail::new(at, field, kind, self.verdict.clone())
    }

    fn short(&self, at: &[u8], field: &'static str, needed: usize) -> Fail {
        self.fail(
            at,
            field,
            ErrorKind::Truncated {
                needed,
                available: at.len(),
            },
        )
    }

    /// One octet.
    #[inline]
    pub(crate) fn u8<'a>(&self, i: &'a [u8], field: &'static str) -> PResult<'a, u8> {
        run(i, nom::number::complete::be_u8).map_err(|_| self.short(i, field, 1))
    }

    /// A big-endian 16-bit integer.
    #[inline]
    pub(crate) fn u16<'a>(&self, i: &'a [u8], field: &'static str) -> PResult<'a, u16> {
        run(i, nom::number::complete::be_u16).map_err(|_| self.short(i, field, 2))
    }

    /// A big-endian 32-bit integer.
    #[inline]
    pub(crate) fn u32<'a>(&self, i: &'a [u8], field: &'static str) -> PResult<'a, u32> {
        run(i, nom::number::complete::be_u32).map_err(|_| self.short(i, field, 4))
    }

    /// Exactly `n` bytes.
    #[inline]
    pub(crate) fn take<'a>(
        &self,
        i: &'a [u8],
        n: usize,
        field: &'static str,
    ) -> PResult<'a, &'a [u8]> {
        run(i, nom::bytes::complete::take(n)).map_err(|_| self.short(i, field, n))
    }

    /// Fail with [`ErrorKind::TrailingBytes`] unless `i` is empty.
    pub(crate) fn end(&self, i: &[u8], field: &'static str) -> Result<(), Fail> {
        if i.is_empty() {
            Ok(())
        } else {
            Err(self.fail(i, field, ErrorKind::TrailingBytes { count: i.len() }))
        }
    }
}

/// A big-endian u32 from exactly 4 bytes (`chunks_exact(4)` items); 0 for
/// any other length, which callers rule out.
#[inline]
pub(crate) fn be32(c: &[u8]) -> u32 {
    u32::from_be_bytes(<[u8; 4]>::try_from(c).unwrap_or([0; 4]))
}

/// A big-endian u16 from exactly 2 bytes; 0 for any other length.
#[inline]
pub(crate) fn be16(c: &[u8]) -> u16 {
    u16::from_be_bytes(<[u8; 2]>::try_from(c).unwrap_or([0; 2]))
}
