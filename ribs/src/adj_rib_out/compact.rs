//! Folding the per-route index into the whole-table store.
//!
//! A route announced one by one (a peer that was up before the table came
//! in) lives in the index of [`AdjRibOut`]: a hash entry and a slot of
//! about 90 bytes. Once sent, it only records what the peer was told, which
//! the sorted store of a whole-table load ([`Base`]) keeps in 12 bytes (an
//! IPv4 prefix and an attribute set number). When the index holds an
//! eighth as many sent routes as the store, or [`FOLD_MAX`] (and at least
//! [`AdjRibOut::compact_at`]), they are merged into the store, in place:
//! each route is sorted once, and each merge costs linear time and grows
//! the store by an eighth or by [`FOLD_MAX`] routes, so the index never
//! holds much more than the smaller of a ninth of the table and
//! [`FOLD_MAX`] routes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::base::{Base, NONE};
use super::{AdjRibOut, Key, PtrHasher};
use crate::attrs::Attrs;
use crate::peer::PeerId;
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};

/// The index is folded once it holds 1/`FOLD_RATIO` as many routes as the
/// store: each fold copies the store, so a smaller ratio means more copying
/// and a smaller index (about 90 bytes a route against 12).
const FOLD_RATIO: usize = 8;

/// ... and once it holds `FOLD_MAX` routes, whatever the store's size (but
/// never below [`AdjRibOut::compact_at`]). An eighth of a full table is
/// about 112,000 routes: 10 MB of slots and hash entries, and up to twice
/// that in the capacity of their vector and hash table, which would be the
/// group's largest allocation but the store. 28,672 routes fill a
/// 32,768-bucket hash table to its 7/8 load; the price is more folds, each
/// a copy of the store at 12 bytes a route (about 25 more for a full
/// table).
const FOLD_MAX: usize = 28_672;

/// Attribute sets of the new store, numbered by (set, source).
struct Sets {
    by_key: HashMap<(usize, PeerId), u32, BuildHasherDefault<PtrHasher>>,
    sets: Vec<Attrs>,
    sources: Vec<PeerId>,
}

impl Sets {
    fn number(&mut self, attrs: &Attrs, src: PeerId) -> u32 {
        match self.by_key.entry((Arc::as_ptr(attrs) as usize, src)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                self.sets.push(Arc::clone(attrs));
                self.sources.push(src);
                *v.insert((self.sets.len() - 1) as u32)
            }
        }
    }
}

impl AdjRibOut {
    /// Sent routes in the index at which a fold into the store is
    /// considered (default 8,192; and once the index holds an eighth as
    /// many as the store).
    pub fn compact_at(&mut self, routes: usize) {
        self.compact_min = routes.max(1);
    }

    /// Routes held in the per-route index (the rest are in the store).
    pub fn indexed(&self) -> usize {
        self.index.len()
    }

    /// Fold the sent routes of the index into the store when due: nothing
    /// queued, and the index at least an eighth of the store or
    /// [`FOLD_MAX`] routes.
    pub(super) fn maybe_compact(&mut self) {
        let indexed = self.index.len();
        let small = indexed.saturating_mul(FOLD_RATIO) < self.base.v4.len() + self.base.v6.len()
            && indexed < FOLD_MAX.max(self.compact_min);
        if indexed < self.compact_min || small || !self.queue.is_empty() || self.base.queued {
            return;
        }
        self.compact();
    }

    fn compact(&mut self) {
        // Room for every set at once, the store's and one a slot at most
        // (growing the map by doubling would rehash it several times a
        // fold).
        let room = self.base.sets.len() + self.slots.len();
        let mut sets = Sets {
            by_key: HashMap::with_capacity_and_hasher(room, BuildHasherDefault::default()),
            sets: Vec::with_capacity(room),
            sources: Vec::with_capacity(room),
        };
        let mut v4: Vec<(Ipv4Prefix, u32)> = Vec::new();
        let mut v6: Vec<(Ipv6Prefix, u32)> = Vec::new();
        // Slots that stay: ADD-PATH paths (the store holds Path Identifier
        // 0 only).
        let mut kept = Vec::new();
        for s in self.slots.drain(..) {
            let Some(a) = &s.advertised else { continue };
            if s.path_id != 0 || s.queued {
                kept.push(s);
                continue;
            }
            let n = sets.number(a, s.advertised_src);
            match s.prefix {
                Prefix::V4(p) => v4.push((p, n)),
                Prefix::V6(p) => v6.push((p, n)),
            }
        }
        // The store's routes under their new numbers, in place: the store
        // is the largest vector here, and a copy of it would be the peak
        // of the fold.
        self.base.ensure_sorted();
        let old = std::mem::take(&mut self.base);
        let (old_sets, old_sources) = (old.sets, old.sources);
        let (mut old4, mut old6) = (old.v4, old.v6);
        let mut renumber = vec![NONE; old_sets.len()];
        let mut map = |set: u32, sets: &mut Sets| -> u32 {
            let Some(r) = renumber.get_mut(set as usize) else {
                return NONE;
            };
            if *r == NONE {
                *r = sets.number(&old_sets[set as usize], old_sources[set as usize]);
            }
            *r
        };
        old4.retain_mut(|e| {
            e.1 = map(e.1, &mut sets);
            e.1 != NONE
        });
        old6.retain_mut(|e| {
            e.1 = map(e.1, &mut sets);
            e.1 != NONE
        });
        drop((old_sets, old_sources));
        v4.sort_unstable_by_key(|&(p, _)| Base::key4(p));
        v6.sort_unstable_by_key(|&(p, _)| Base::key6(p));
        merge_into(&mut old4, &v4, |&(p, _)| Base::key4(p));
        merge_into(&mut old6, &v6, |&(p, _)| Base::key6(p));
        self.base = Base::sorted(sets.sets, sets.sources, old4, old6);
        // The index again, for the slots that stay; its capacity is kept
        // for the next routes (growing it again costs a rehash and fresh
        // pages each time).
        self.index.clear();
        self.free.clear();
        self.queue.clear();
        for (i, s) in kept.iter().enumerate() {
            self.index.insert(Key::new(s.prefix, s.path_id), i as u32);
        }
        self.slots.append(&mut kept);
    }
}

/// Merge `b` into `a`, both sorted by `key` (their keys disjoint), in
/// place: `a` grows by `b`'s length and is filled from the back.
fn merge_into<T: Copy, K: Ord>(a: &mut Vec<T>, b: &[T], key: impl Fn(&T) -> K) {
    let Some(&fill) = b.first() else {
        return;
    };
    let (n, m) = (a.len(), b.len());
    // Exactly: amortised doubling would leave up to a whole table unused.
    a.reserve_exact(m);
    a.resize(n + m, fill);
    let (mut i, mut j, mut k) = (n, m, n + m);
    // Invariant: a[k..] holds the largest n + m - k items, merged.
    while j > 0 {
        k -= 1;
        if i > 0 && key(&a[i - 1]) > key(&b[j - 1]) {
            a[k] = a[i - 1];
            i -= 1;
        } else {
            a[k] = b[j - 1];
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use bgp::wire::Context;

    use super::{merge_into, FOLD_MAX};
    use crate::adj_rib_out::AdjRibOut;
    use crate::attrs::{NextHop, PathAttrs};
    use crate::prefix::{Ipv4Prefix, Prefix};

    /// The i-th /24 from 16.0.0.0.
    fn slash24(i: u32) -> Ipv4Prefix {
        Ipv4Prefix::new(Ipv4Addr::from((16 << 24) + (i << 8)), 24).unwrap()
    }

    /// Past a large store, the index is folded at [`FOLD_MAX`] routes, not
    /// at an eighth of the store.
    #[test]
    fn a_large_store_folds_the_index_at_fold_max() {
        let store = 400_000;
        assert!(FOLD_MAX * 8 < store as usize);
        let attrs = Arc::new(PathAttrs {
            next_hop: NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)),
            ..PathAttrs::local()
        });
        let ctx = Context::default();
        let mut out = AdjRibOut::new();
        out.load(
            vec![attrs.clone()],
            (0..store).map(|i| (slash24(i), 0)).collect(),
            vec![],
        );
        assert!(!out.take_updates(&ctx).is_empty());
        let mut next = store;
        let mut announce = |out: &mut AdjRibOut, n: usize| {
            for _ in 0..n {
                out.announce(Prefix::V4(slash24(next)), 0, attrs.clone());
                next += 1;
            }
            assert!(!out.take_updates(&ctx).is_empty());
        };
        announce(&mut out, FOLD_MAX - 1);
        assert_eq!(out.indexed(), FOLD_MAX - 1);
        announce(&mut out, 1);
        assert_eq!(out.indexed(), 0);
        assert_eq!(out.len(), store as usize + FOLD_MAX);
        // A higher `compact_at` still wins.
        out.compact_at(FOLD_MAX + 10);
        announce(&mut out, FOLD_MAX + 9);
        assert_eq!(out.indexed(), FOLD_MAX + 9);
        announce(&mut out, 1);
        assert_eq!(out.indexed(), 0);
    }

    #[test]
    fn merge_into_interleaves_from_the_back() {
        let mut a = vec![1, 4, 6, 9];
        merge_into(&mut a, &[0, 2, 3, 7, 10], |&x| x);
        assert_eq!(a, vec![0, 1, 2, 3, 4, 6, 7, 9, 10]);
        let mut a: Vec<u32> = vec![];
        merge_into(&mut a, &[5, 8], |&x| x);
        assert_eq!(a, vec![5, 8]);
        let mut a = vec![5, 8];
        merge_into(&mut a, &[], |&x| x);
        assert_eq!(a, vec![5, 8]);
    }
}
