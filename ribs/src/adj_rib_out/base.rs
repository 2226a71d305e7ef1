//! The whole table queued at once for a new session.
//!
//! A new peer is sent every best route (RFC 4271 §9.2, and RFC 4724 §4.1
//! before End-of-RIB). Going through the per-route index of
//! [`AdjRibOut`](super::AdjRibOut) for a million routes costs a hash insert
//! and about 80 bytes each; the table is instead kept here as two vectors
//! (12 bytes per IPv4 route), packed in the order they come and sorted by
//! prefix on the first lookup (a route changing after the table was sent),
//! then searched by bisection: the new peer's UPDATEs do not wait for the
//! sort. A route that changes later moves to the index, leaving an empty
//! entry behind.

use crate::attrs::Attrs;
use crate::peer::PeerId;
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};

/// No attribute set: the route moved to the index, or was not sendable.
pub(super) const NONE: u32 = u32::MAX;

/// The routes of a whole-table load, all with Path Identifier 0. Routes
/// refer to their attribute set by index into `sets`: loading touches no
/// reference count.
#[derive(Debug, Default, Clone)]
pub(super) struct Base {
    pub(super) sets: Vec<Attrs>,
    /// The peer each set's routes came from (same length as `sets`).
    pub(super) sources: Vec<PeerId>,
    pub(super) v4: Vec<(Ipv4Prefix, u32)>,
    pub(super) v6: Vec<(Ipv6Prefix, u32)>,
    /// Not sent yet: every entry is a queued announcement. Once sent, an
    /// entry holds what was advertised.
    pub(super) queued: bool,
    /// For a large `v4`: where the routes of each /16 of the address space
    /// start (65,537 offsets), so that a lookup, mostly of a prefix that is
    /// not there, bisects a handful of neighbouring entries instead of the
    /// whole table (a cache miss per step).
    buckets4: Vec<u32>,
    /// `v4` and `v6` are sorted (and `buckets4` built).
    is_sorted: bool,
}

/// Below this many IPv4 routes, lookups bisect the whole vector.
const BUCKETS_FROM: usize = 4096;

/// The /16 offsets of sorted IPv4 routes (none for a small table).
fn buckets(v4: &[(Ipv4Prefix, u32)]) -> Vec<u32> {
    let mut b = Vec::new();
    if v4.len() >= BUCKETS_FROM {
        b.reserve_exact(1 << 16 | 1);
        let mut i = 0;
        for top in 0..=(1u32 << 16) {
            while i < v4.len() && u32::from(v4[i].0.addr()) >> 16 < top {
                i += 1;
            }
            b.push(i as u32);
        }
    }
    b
}

/// Entries either side of the guess of [`search_slash16`]: 9 entries are
/// 108 bytes, two cache lines.
const GUESS_SLACK: usize = 4;

/// The index of `p` in `v`, the sorted routes of one /16 (or of any range
/// when the table is small). Bisection costs a cache miss a step on a
/// large table; the prefixes of a /16 spread evenly enough that
/// interpolating on the address's low 16 bits lands within a few entries
/// of the place: the neighbourhood of the guess is searched first, then
/// the side `p` lies on.
fn search_slash16(v: &[(Ipv4Prefix, u32)], p: Ipv4Prefix) -> Option<usize> {
    let by = |(q, _): &(Ipv4Prefix, u32)| q.cmp(&p);
    if v.len() <= 2 * GUESS_SLACK + 1 {
        return v.binary_search_by(by).ok();
    }
    let low = (u32::from(p.addr()) & 0xffff) as usize;
    let guess = (low * v.len()) >> 16;
    let from = guess.saturating_sub(GUESS_SLACK);
    let to = (guess + GUESS_SLACK + 1).min(v.len());
    if p < v[from].0 {
        v[..from].binary_search_by(by).ok()
    } else if p > v[to - 1].0 {
        Some(to + v[to..].binary_search_by(by).ok()?)
    } else {
        Some(from + v[from..to].binary_search_by(by).ok()?)
    }
}

impl Base {
    /// The table, in any order, each prefix at most once; entries index
    /// `sets`. Queued, and sorted on the first lookup.
    pub(super) fn new(
        sets: Vec<Attrs>,
        sources: Vec<PeerId>,
        v4: Vec<(Ipv4Prefix, u32)>,
        v6: Vec<(Ipv6Prefix, u32)>,
    ) -> Self {
        debug_assert_eq!(sets.len(), sources.len());
        Base {
            sets,
            sources,
            v4,
            v6,
            queued: true,
            buckets4: Vec::new(),
            is_sorted: false,
        }
    }

    /// Sort the routes by prefix (and index the IPv4 ones by /16), once,
    /// before the first lookup.
    pub(super) fn ensure_sorted(&mut self) {
        if self.is_sorted {
            return;
        }
        // The key packs address and length into one integer: a cheaper
        // comparison than the derived (address, length) order, and the same
        // order.
        self.v4.sort_unstable_by_key(|&(p, _)| Base::key4(p));
        self.v6.sort_unstable_by_key(|&(p, _)| Base::key6(p));
        debug_assert!(self.v4.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(self.v6.windows(2).all(|w| w[0].0 < w[1].0));
        self.buckets4 = buckets(&self.v4);
        self.is_sorted = true;
    }

    /// The store of routes already sorted by [`Base::key4`] and
    /// [`Base::key6`], each prefix at most once, sent.
    pub(super) fn sorted(
        sets: Vec<Attrs>,
        sources: Vec<PeerId>,
        v4: Vec<(Ipv4Prefix, u32)>,
        v6: Vec<(Ipv6Prefix, u32)>,
    ) -> Self {
        debug_assert!(v4.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(v6.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert_eq!(sets.len(), sources.len());
        Base {
            sets,
            sources,
            buckets4: buckets(&v4),
            v4,
            v6,
            queued: false,
            is_sorted: true,
        }
    }

    /// The sort key of an IPv4 route: address and length packed in one
    /// integer, the same order as (address, length).
    #[inline]
    pub(super) fn key4(p: Ipv4Prefix) -> u64 {
        u64::from(u32::from(p.addr())) << 8 | u64::from(p.len())
    }

    /// The sort key of an IPv6 route.
    #[inline]
    pub(super) fn key6(p: Ipv6Prefix) -> (u128, u8) {
        (u128::from(p.addr()), p.len())
    }

    /// Whether nothing is loaded.
    pub(super) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether a lookup is cheap (sorted) and there is something to find:
    /// for checks in debug builds.
    pub(super) fn searchable(&self) -> bool {
        self.is_sorted && !self.is_empty()
    }

    fn find(&self, prefix: Prefix, path_id: u32) -> Option<(Family, usize)> {
        if path_id != 0 {
            return None;
        }
        if !self.is_sorted {
            // Only a read-only query (`AdjRibOut::get`) gets here before
            // the sort: a scan.
            return match prefix {
                Prefix::V4(p) => Some((Family::V4, self.v4.iter().position(|e| e.0 == p)?)),
                Prefix::V6(p) => Some((Family::V6, self.v6.iter().position(|e| e.0 == p)?)),
            };
        }
        match prefix {
            Prefix::V4(p) => {
                let (from, to) = match self.buckets4.as_slice() {
                    [] => (0, self.v4.len()),
                    b => {
                        let top = (u32::from(p.addr()) >> 16) as usize;
                        (b[top] as usize, b[top + 1] as usize)
                    }
                };
                let i = search_slash16(&self.v4[from..to], p)?;
                Some((Family::V4, from + i))
            }
            Prefix::V6(p) => Some((
                Family::V6,
                self.v6.binary_search_by(|(q, _)| q.cmp(&p)).ok()?,
            )),
        }
    }

    fn set_of(&self, family: Family, i: usize) -> u32 {
        match family {
            Family::V4 => self.v4.get(i).map_or(NONE, |e| e.1),
            Family::V6 => self.v6.get(i).map_or(NONE, |e| e.1),
        }
    }

    /// Take the route out (it moves to the index): its attributes and
    /// source, if the load holds it.
    pub(super) fn take(&mut self, prefix: Prefix, path_id: u32) -> Option<(Attrs, PeerId)> {
        self.ensure_sorted();
        let (family, i) = self.find(prefix, path_id)?;
        let set = self.set_of(family, i);
        let attrs = self.sets.get(set as usize)?.clone();
        let src = self.sources[set as usize];
        match family {
            Family::V4 => self.v4[i].1 = NONE,
            Family::V6 => self.v6[i].1 = NONE,
        }
        Some((attrs, src))
    }

    /// The attributes of the route, if the load holds it.
    pub(super) fn get(&self, prefix: Prefix, path_id: u32) -> Option<&Attrs> {
        let (family, i) = self.find(prefix, path_id)?;
        self.sets.get(self.set_of(family, i) as usize)
    }

    /// The routes held with their sources (IPv4 first; in prefix order
    /// once sorted).
    pub(super) fn iter(&self) -> impl Iterator<Item = (Prefix, &Attrs, PeerId)> {
        let one = |s: u32| Some((self.sets.get(s as usize)?, self.sources[s as usize]));
        let v4 = self.v4.iter().filter_map(move |&(p, s)| {
            let (a, src) = one(s)?;
            Some((Prefix::V4(p), a, src))
        });
        let v6 = self.v6.iter().filter_map(move |&(p, s)| {
            let (a, src) = one(s)?;
            Some((Prefix::V6(p), a, src))
        });
        v4.chain(v6)
    }
}

#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::search_slash16;
    use crate::prefix::Ipv4Prefix;

    fn pfx(a: u32, len: u8) -> Ipv4Prefix {
        Ipv4Prefix::new(Ipv4Addr::from(a), len).unwrap()
    }

    /// Every route of a /16 is found at its index, whatever the spread of
    /// the routes (even, bunched at either end, a single block), and a
    /// prefix that is not there is not found.
    #[test]
    fn search_slash16_finds_exactly_what_is_there() {
        let base = 0xC612_0000u32; // 198.18.0.0/16
        let layouts: Vec<Vec<Ipv4Prefix>> = vec![
            (0..256).map(|i| pfx(base | i << 8, 24)).collect(),
            (0..40).map(|i| pfx(base | i << 8, 24)).collect(),
            (216..256).map(|i| pfx(base | i << 8, 24)).collect(),
            // /16, /17 and /18 covering prefixes and /24s at the start.
            [pfx(base, 16), pfx(base, 17), pfx(base, 18)]
                .into_iter()
                .chain((0..30).map(|i| pfx(base | i << 8, 24)))
                .collect(),
            (0..1000u32).map(|i| pfx(base | i << 6, 26)).collect(),
            (0..5).map(|i| pfx(base | i << 12, 20)).collect(),
        ];
        for v in layouts {
            let mut v: Vec<(Ipv4Prefix, u32)> = v.into_iter().map(|p| (p, 7)).collect();
            v.sort_unstable_by_key(|e| e.0);
            for (i, e) in v.iter().enumerate() {
                assert_eq!(search_slash16(&v, e.0), Some(i), "{}", e.0);
            }
            for absent in [
                pfx(base | 0xff00, 25),
                pfx(base | 0x0100, 23),
                pfx(base, 32),
            ] {
                if !v.iter().any(|e| e.0 == absent) {
                    assert_eq!(search_slash16(&v, absent), None, "{absent}");
                }
            }
        }
    }
}
