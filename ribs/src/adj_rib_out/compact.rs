//! Folding the per-route index into the whole-table store.
//!
//! A route announced one by one (a peer that was up before the table came
//! in) lives in the index of [`AdjRibOut`]: a hash entry and a slot of
//! about 90 bytes. Once sent, it only records what the peer was told, which
//! the sorted store of a whole-table load ([`Base`]) keeps in 12 bytes (an
//! IPv4 prefix and an attribute set number). When the index holds a
//! quarter as many sent routes as the store (and at least
//! [`AdjRibOut::compact_at`]), they are merged into the store: each route
//! is sorted once, and each merge costs linear time and grows the store by
//! a quarter at least, so the index never holds much more than a fifth of
//! the table.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::base::{Base, NONE};
use super::{AdjRibOut, Key, PtrHasher};
use crate::attrs::Attrs;
use crate::peer::PeerId;
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};

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
    /// considered (default 8,192; and once the index holds a quarter as
    /// many as the store).
    pub fn compact_at(&mut self, routes: usize) {
        self.compact_min = routes.max(1);
    }

    /// Routes held in the per-route index (the rest are in the store).
    pub fn indexed(&self) -> usize {
        self.index.len()
    }

    /// Fold the sent routes of the index into the store when due: nothing
    /// queued, and the index at least a quarter of the store.
    pub(super) fn maybe_compact(&mut self) {
        let indexed = self.index.len();
        if indexed < self.compact_min
            || indexed.saturating_mul(4) < self.base.v4.len() + self.base.v6.len()
            || !self.queue.is_empty()
            || self.base.queued
        {
            return;
        }
        self.compact();
    }

    fn compact(&mut self) {
        let mut sets = Sets {
            by_key: HashMap::default(),
            sets: Vec::new(),
            sources: Vec::new(),
        };
        let mut v4: Vec<(Ipv4Prefix, u32)> = Vec::new();
        let mut v6: Vec<(Ipv6Prefix, u32)> = Vec::new();
        // Slots that stay: ADD-PATH paths (the store holds Path Identifier
        // 0 only).
        let mut kept = Vec::new();
        for s in std::mem::take(&mut self.slots) {
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
        // The store's routes under their new numbers.
        self.base.ensure_sorted();
        let old = std::mem::take(&mut self.base);
        let mut renumber = vec![NONE; old.sets.len()];
        let mut map = |set: u32, sets: &mut Sets| -> u32 {
            let Some(r) = renumber.get_mut(set as usize) else {
                return NONE;
            };
            if *r == NONE {
                *r = sets.number(&old.sets[set as usize], old.sources[set as usize]);
            }
            *r
        };
        let old4: Vec<(Ipv4Prefix, u32)> = old
            .v4
            .iter()
            .filter(|e| e.1 != NONE)
            .map(|&(p, s)| (p, map(s, &mut sets)))
            .collect();
        let old6: Vec<(Ipv6Prefix, u32)> = old
            .v6
            .iter()
            .filter(|e| e.1 != NONE)
            .map(|&(p, s)| (p, map(s, &mut sets)))
            .collect();
        drop(old);
        v4.sort_unstable_by_key(|&(p, _)| Base::key4(p));
        v6.sort_unstable_by_key(|&(p, _)| Base::key6(p));
        self.base = Base::sorted(
            sets.sets,
            sets.sources,
            merge(old4, v4, |&(p, _)| Base::key4(p)),
            merge(old6, v6, |&(p, _)| Base::key6(p)),
        );
        // The index again, for the slots that stay.
        self.index = HashMap::default();
        self.free = Vec::new();
        self.queue = Vec::new();
        for (i, s) in kept.iter().enumerate() {
            self.index.insert(Key::new(s.prefix, s.path_id), i as u32);
        }
        self.slots = kept;
    }
}

/// Merge two vectors sorted by `key` (their keys disjoint).
fn merge<T: Copy, K: Ord>(a: Vec<T>, b: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if key(&a[i]) <= key(&b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}
