//! The writer's per-prefix state: one hash table per address family whose
//! buckets hold the entries themselves (the prefix and a [`Route`]), with
//! no slab and no separate index. An IPv4 entry is 9 bytes (10 with the
//! bucket's control byte: 10.5 MB for a full table of 901,899 prefixes in
//! 2^20 buckets), an IPv6 one 21.
//!
//! The dirty routes: the route's own `QUEUED` flag, a bitmap over the
//! buckets (a bit a bucket), and while there are few of them (up to
//! [`LIST_MAX`]) also a list of their prefixes in the order they were
//! queued. A flush takes a short list in its order (as the changes came);
//! past that it walks the bitmap in bucket order, touching only the dirty
//! entries and hashing nothing. Bucket indices stay put while the table
//! does not grow: every insertion first makes room itself
//! ([`Table::upsert`]), and when that moves the entries the bitmap is
//! rebuilt from the flags and [`Table::moves`] counts one more move, so
//! that a walk in progress starts again.

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;
use ribs::prefix::{Ipv4Prefix, Ipv6Prefix};
use ribs::Prefix;

use super::counted::Ref;

/// What the writer keeps for one prefix besides the prefix: 4 bytes,
/// unaligned, so that an IPv4 entry (with its 5-byte prefix) is 9. The
/// low 30 bits name the route's pair (what the RIB wants, what the kernel
/// holds: an id in [`Shared`](super::shared::Shared)'s counted table of
/// pairs, 0 for neither), the top two are the flags.
#[repr(C, packed)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Route {
    bits: u32,
}

const QUEUED: u32 = 1 << 30;
const STALE: u32 = 1 << 31;
const FLAGS: u32 = QUEUED | STALE;

/// The largest pair id a route can name (2^30 - 1). Each id held by a
/// route and freed ids reused, so ids stay below the number of routes.
pub const PAIR_MAX: Ref = !FLAGS;

const _: () = assert!(std::mem::size_of::<Route>() == 4);
const _: () = assert!(std::mem::size_of::<Entry<Ipv4Prefix>>() == 9);
const _: () = assert!(std::mem::size_of::<Entry<Ipv6Prefix>>() == 21);

impl Route {
    /// A route naming pair `pair` (flags clear).
    pub fn with_pair(pair: Ref) -> Route {
        let mut r = Route::default();
        r.set_pair(pair);
        r
    }

    /// The id of the route's pair (0: nothing wanted, nothing held).
    pub fn pair(&self) -> Ref {
        self.bits & !FLAGS
    }

    /// Names pair `pair` (at most [`PAIR_MAX`]).
    pub fn set_pair(&mut self, pair: Ref) {
        debug_assert!(pair <= PAIR_MAX, "pair id {pair} past PAIR_MAX");
        self.bits = self.bits & FLAGS | pair & PAIR_MAX;
    }

    /// A route found at start-up that the RIB has not confirmed yet.
    pub fn stale(&self) -> bool {
        self.bits & STALE != 0
    }

    /// Sets or clears [`Route::stale`].
    pub fn set_stale(&mut self, stale: bool) {
        if stale {
            self.bits |= STALE;
        } else {
            self.bits &= !STALE;
        }
    }

    /// A write is queued (the route is dirty).
    pub fn queued(&self) -> bool {
        self.bits & QUEUED != 0
    }

    /// Sets or clears [`Route::queued`] (the table's own bookkeeping).
    fn set_queued(&mut self, queued: bool) {
        if queued {
            self.bits |= QUEUED;
        } else {
            self.bits &= !QUEUED;
        }
    }
}

/// A prefix of one family, as stored in its table.
pub trait Key: Copy + Eq + Hash + Into<Prefix> {}

impl Key for Ipv4Prefix {}

impl Key for Ipv6Prefix {}

#[derive(Debug)]
struct Entry<P> {
    prefix: P,
    route: Route,
}

/// The entries of one family, by prefix, with the dirty bitmap.
#[derive(Debug)]
pub struct Table<P> {
    entries: HashTable<Entry<P>>,
    hasher: RandomState,
    /// A bit per bucket: its entry is queued.
    dirty: Vec<u64>,
    queued: usize,
    moves: u64,
}

impl<P> Default for Table<P> {
    fn default() -> Self {
        Table {
            entries: HashTable::new(),
            hasher: RandomState::new(),
            dirty: Vec::new(),
            queued: 0,
            moves: 0,
        }
    }
}

impl<P: Key> Table<P> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries are queued.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// How many times the entries moved to other buckets (growth): bucket
    /// indices taken before are void.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// Room for `n` more without moving the entries again.
    pub fn reserve(&mut self, n: usize) {
        if self.entries.capacity() - self.entries.len() >= n {
            return;
        }
        let hasher = &self.hasher;
        self.entries.reserve(n, |e| hasher.hash_one(e.prefix));
        self.moves += 1;
        // the bitmap again, from the flags
        self.dirty.clear();
        self.dirty
            .resize(self.entries.num_buckets().div_ceil(64), 0);
        for i in 0..self.entries.num_buckets() {
            if self.entries.get_bucket(i).is_some_and(|e| e.route.queued()) {
                self.dirty[i / 64] |= 1 << (i % 64);
            }
        }
    }

    /// The bucket of `prefix`.
    pub fn find(&self, prefix: P) -> Option<usize> {
        self.entries
            .find_bucket_index(self.hasher.hash_one(prefix), |e| e.prefix == prefix)
    }

    /// The bucket of `prefix`, created (empty, not queued) if missing;
    /// may move the entries (see [`Table::moves`]).
    pub fn upsert(&mut self, prefix: P) -> usize {
        let hash = self.hasher.hash_one(prefix);
        if let Some(i) = self.entries.find_bucket_index(hash, |e| e.prefix == prefix) {
            return i;
        }
        // Room first, so that the insertion itself never moves entries
        // behind the bitmap's back.
        self.reserve(1);
        let hasher = &self.hasher;
        let entry = Entry {
            prefix,
            route: Route::default(),
        };
        self.entries
            .insert_unique(hash, entry, |e| hasher.hash_one(e.prefix))
            .bucket_index()
    }

    /// The entry in bucket `i`.
    pub fn get(&self, i: usize) -> Option<(P, Route)> {
        self.entries.get_bucket(i).map(|e| (e.prefix, e.route))
    }

    /// Replaces the route in bucket `i` (its queued flag is kept).
    pub fn set(&mut self, i: usize, route: Route) {
        if let Some(e) = self.entries.get_bucket_mut(i) {
            let queued = e.route.queued();
            e.route = route;
            e.route.set_queued(queued);
        }
    }

    /// Queues the entry in bucket `i`; returns its prefix if it was not
    /// queued yet.
    pub fn mark(&mut self, i: usize) -> Option<P> {
        let e = self.entries.get_bucket_mut(i)?;
        if e.route.queued() {
            return None;
        }
        let prefix = e.prefix;
        e.route.set_queued(true);
        self.queued += 1;
        if self.dirty.len() * 64 < self.entries.num_buckets() {
            self.dirty
                .resize(self.entries.num_buckets().div_ceil(64), 0);
        }
        self.dirty[i / 64] |= 1 << (i % 64);
        Some(prefix)
    }

    /// Takes the entry in bucket `i` off the queue; returns whether it was
    /// queued.
    pub fn unqueue(&mut self, i: usize) -> bool {
        let mut was = false;
        if let Some(e) = self.entries.get_bucket_mut(i) {
            if e.route.queued() {
                e.route.set_queued(false);
                self.queued -= 1;
                was = true;
            }
        }
        if let Some(w) = self.dirty.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
        was
    }

    /// The first queued bucket from `from` on, unqueued.
    pub fn pop_queued(&mut self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut bits = *self.dirty.get(w)? & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                self.unqueue(i);
                return Some(i);
            }
            w += 1;
            bits = *self.dirty.get(w)?;
        }
    }

    /// Removes the entry in bucket `i`.
    pub fn remove(&mut self, i: usize) {
        self.unqueue(i);
        if let Ok(e) = self.entries.get_bucket_entry(i) {
            e.remove();
        }
    }

    /// Calls `f` with every entry, which may change its route; queues the
    /// entry when `f` returns `true` (and passes it to `queued` if it was
    /// not queued yet).
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(Prefix, &mut Route) -> bool,
        mut queued: impl FnMut(P),
    ) {
        for i in 0..self.entries.num_buckets() {
            let mark = match self.entries.get_bucket_mut(i) {
                Some(e) => {
                    let queued = e.route.queued();
                    let hit = f(e.prefix.into(), &mut e.route);
                    e.route.set_queued(queued);
                    hit
                }
                None => false,
            };
            if mark {
                if let Some(p) = self.mark(i) {
                    queued(p);
                }
            }
        }
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, Route)> + '_ {
        self.entries.iter().map(|e| (e.prefix.into(), e.route))
    }

    /// Bytes the entries' buckets (with their control bytes) and the
    /// dirty bitmap take.
    pub fn allocation_size(&self) -> usize {
        self.entries.allocation_size() + self.dirty.capacity() * 8
    }
}

/// Where an entry is: its family's table and its bucket there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    /// In the IPv6 table.
    pub v6: bool,
    /// The bucket.
    pub bucket: u32,
}

/// The longest list of queued prefixes kept beside the bitmaps.
pub const LIST_MAX: usize = 1 << 14;

/// Both families' tables.
#[derive(Debug, Default)]
pub struct Routes {
    /// IPv4.
    pub v4: Table<Ipv4Prefix>,
    /// IPv6.
    pub v6: Table<Ipv6Prefix>,
    /// The queued prefixes in order, while there are at most [`LIST_MAX`]
    /// since the last [`Routes::take_pass`] ...
    list: Vec<Prefix>,
    /// ... else the bitmaps alone.
    overflow: bool,
}

/// How a flush pass finds the queued routes.
#[derive(Debug, PartialEq, Eq)]
pub enum Pass {
    /// These prefixes, in order (some may no longer be queued: skipped).
    List(Vec<Prefix>),
    /// The bitmaps ([`Routes::pop_queued`]).
    Walk,
}

/// Notes `prefix` as newly queued in the list, or gives up on the list.
fn note(list: &mut Vec<Prefix>, overflow: &mut bool, prefix: Prefix) {
    if *overflow {
        return;
    }
    if list.len() < LIST_MAX {
        list.push(prefix);
    } else {
        *overflow = true;
        *list = Vec::new();
    }
}

fn id(v6: bool, bucket: usize) -> Id {
    Id {
        v6,
        bucket: bucket as u32,
    }
}

impl Routes {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// How many entries are queued.
    pub fn queued(&self) -> usize {
        self.v4.queued() + self.v6.queued()
    }

    /// [`Table::moves`] of one family.
    pub fn moves(&self, v6: bool) -> u64 {
        match v6 {
            false => self.v4.moves(),
            true => self.v6.moves(),
        }
    }

    /// [`Table::pop_queued`] of one family.
    pub fn pop_queued(&mut self, v6: bool, from: usize) -> Option<usize> {
        match v6 {
            false => self.v4.pop_queued(from),
            true => self.v6.pop_queued(from),
        }
    }

    /// The entry of `prefix`.
    pub fn find(&self, prefix: &Prefix) -> Option<Id> {
        match prefix {
            Prefix::V4(p) => self.v4.find(*p).map(|b| id(false, b)),
            Prefix::V6(p) => self.v6.find(*p).map(|b| id(true, b)),
        }
    }

    /// The entry of `prefix`, created if missing. Ids taken before are
    /// void when the family's [`Table::moves`] changed.
    pub fn upsert(&mut self, prefix: &Prefix) -> Id {
        match prefix {
            Prefix::V4(p) => id(false, self.v4.upsert(*p)),
            Prefix::V6(p) => id(true, self.v6.upsert(*p)),
        }
    }

    /// The entry `id`.
    pub fn get(&self, id: Id) -> Option<(Prefix, Route)> {
        let i = id.bucket as usize;
        if id.v6 {
            self.v6.get(i).map(|(p, r)| (p.into(), r))
        } else {
            self.v4.get(i).map(|(p, r)| (p.into(), r))
        }
    }

    /// Replaces the route of entry `id` (see [`Table::set`]).
    pub fn set(&mut self, id: Id, route: Route) {
        match id.v6 {
            false => self.v4.set(id.bucket as usize, route),
            true => self.v6.set(id.bucket as usize, route),
        }
    }

    /// Queues entry `id`.
    pub fn mark(&mut self, id: Id) {
        let newly = match id.v6 {
            false => self.v4.mark(id.bucket as usize).map(Prefix::from),
            true => self.v6.mark(id.bucket as usize).map(Prefix::from),
        };
        if let Some(prefix) = newly {
            note(&mut self.list, &mut self.overflow, prefix);
        }
    }

    /// The routes queued so far, for one flush pass; what is queued from
    /// now on goes to the next.
    pub fn take_pass(&mut self) -> Pass {
        if std::mem::take(&mut self.overflow) {
            Pass::Walk
        } else {
            Pass::List(std::mem::take(&mut self.list))
        }
    }

    /// The entry of `prefix` if it is queued, taken off the queue.
    pub fn take_queued(&mut self, prefix: &Prefix) -> Option<Id> {
        let id = self.find(prefix)?;
        let was = match id.v6 {
            false => self.v4.unqueue(id.bucket as usize),
            true => self.v6.unqueue(id.bucket as usize),
        };
        was.then_some(id)
    }

    /// Removes entry `id`.
    pub fn remove(&mut self, id: Id) {
        match id.v6 {
            false => self.v4.remove(id.bucket as usize),
            true => self.v6.remove(id.bucket as usize),
        }
    }

    /// [`Table::for_each`] over both families.
    pub fn for_each(&mut self, mut f: impl FnMut(Prefix, &mut Route) -> bool) {
        let (list, overflow) = (&mut self.list, &mut self.overflow);
        self.v4.for_each(&mut f, |p| note(list, overflow, p.into()));
        self.v6.for_each(&mut f, |p| note(list, overflow, p.into()));
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, Route)> + '_ {
        self.v4.iter().chain(self.v6.iter())
    }

    /// [`Table::allocation_size`] of both families.
    pub fn allocation_size(&self) -> usize {
        self.v4.allocation_size() + self.v6.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    /// The `i`th host route of 198.18.0.0/15 (`i` below 2^17).
    fn v4(i: u32) -> Prefix {
        Prefix::new(std::net::Ipv4Addr::from(0xc612_0000 + i).into(), 32).unwrap()
    }

    #[test]
    fn an_ipv4_entry_is_nine_bytes() {
        assert_eq!(std::mem::size_of::<Route>(), 4);
        assert_eq!(std::mem::size_of::<Entry<Ipv4Prefix>>(), 9);
        assert_eq!(std::mem::size_of::<Entry<Ipv6Prefix>>(), 21);
    }

    /// A full table's worth of IPv4 entries (901,899, as in the DFZ
    /// sample the benches use) fills 2^20 buckets of 10 bytes (with the
    /// control byte; hashbrown adds one group of control bytes) and a bit
    /// each in the dirty bitmap: 10.6 MB, 11.8 bytes a route.
    #[test]
    fn a_full_table_takes_ten_bytes_a_bucket() {
        let mut t = Routes::default();
        for i in 0..901_899u32 {
            // keys only: /24s from 0.0.0.0 on, never written anywhere
            let p = Prefix::new(std::net::Ipv4Addr::from(i << 8).into(), 24).unwrap();
            t.upsert(&p);
        }
        let buckets = t.v4.entries.num_buckets();
        assert_eq!((t.len(), buckets), (901_899, 1 << 20));
        let bytes = t.allocation_size();
        let least = buckets * 10 + buckets / 8;
        assert!((least..=least + 64).contains(&bytes), "{bytes} bytes");
    }

    #[test]
    fn the_flags_and_the_pair_share_one_word() {
        let mut r = Route::with_pair(PAIR_MAX);
        assert_eq!((r.pair(), r.stale(), r.queued()), (PAIR_MAX, false, false));
        r.set_stale(true);
        r.set_queued(true);
        assert_eq!((r.pair(), r.stale(), r.queued()), (PAIR_MAX, true, true));
        r.set_pair(5);
        assert_eq!((r.pair(), r.stale(), r.queued()), (5, true, true));
        r.set_stale(false);
        assert_eq!((r.pair(), r.stale(), r.queued()), (5, false, true));
        r.set_queued(false);
        assert_eq!(r, Route::with_pair(5));
        r.set_pair(0);
        assert_eq!(r, Route::default());
    }

    #[test]
    fn entries_of_both_families_are_found_set_and_removed() {
        let mut t = Routes::default();
        let a = t.upsert(&p("192.0.2.0/24"));
        let b = t.upsert(&p("2001:db8::/32"));
        assert_eq!((a.v6, b.v6), (false, true));
        let mut r = Route::with_pair(7);
        r.set_stale(true);
        t.set(a, r);
        assert_eq!(t.upsert(&p("192.0.2.0/24")), a);
        assert_eq!(t.get(a), Some((p("192.0.2.0/24"), r)));
        assert_eq!(t.find(&p("2001:db8::/32")), Some(b));
        assert_eq!(
            t.get(b).map(|(_, r)| (r.pair(), r.stale())),
            Some((0, false))
        );
        assert_eq!(t.find(&p("192.0.2.0/25")), None);
        t.remove(a);
        assert_eq!(
            (t.get(a), t.find(&p("192.0.2.0/24")), t.len()),
            (None, None, 1)
        );
    }

    #[test]
    fn queued_entries_come_out_once_in_bucket_order() {
        let mut t = Routes::default();
        for i in 0..100 {
            t.upsert(&v4(i));
        }
        // ids taken once the table has stopped growing
        let ids: Vec<Id> = (0..100).map(|i| t.find(&v4(i)).unwrap()).collect();
        for i in [5, 50, 7, 5, 99] {
            t.mark(ids[i]);
        }
        assert_eq!(t.queued(), 4);
        assert!(t.get(ids[50]).unwrap().1.queued());
        // `set` keeps the flag
        t.set(ids[50], Route::default());
        assert!(t.get(ids[50]).unwrap().1.queued());
        let mut want: Vec<u32> = [5, 50, 7, 99].iter().map(|&i| ids[i].bucket).collect();
        want.sort_unstable();
        let mut got = Vec::new();
        let mut from = 0;
        while let Some(b) = t.v4.pop_queued(from) {
            got.push(b as u32);
            from = b + 1;
        }
        assert_eq!(got, want);
        assert_eq!(t.queued(), 0);
        assert!(!t.get(ids[50]).unwrap().1.queued());
        // a removed queued entry leaves nothing queued
        t.mark(ids[3]);
        t.remove(ids[3]);
        assert_eq!((t.queued(), t.v4.pop_queued(0)), (0, None));
    }

    #[test]
    fn a_pass_lists_the_queued_prefixes_in_order_until_there_are_too_many() {
        let mut t = Routes::default();
        for i in [9, 3, 7] {
            let id = t.upsert(&v4(i));
            t.mark(id);
            t.mark(id);
        }
        let v6 = t.upsert(&p("2001:db8::/32"));
        t.mark(v6);
        assert_eq!(
            t.take_pass(),
            Pass::List(vec![v4(9), v4(3), v4(7), p("2001:db8::/32")])
        );
        // taken one by one; one no longer queued is skipped
        assert_eq!(t.take_queued(&v4(3)), t.find(&v4(3)));
        assert_eq!(t.take_queued(&v4(3)), None);
        assert_eq!(t.take_queued(&v4(8)), None);
        assert_eq!(t.take_pass(), Pass::List(vec![]));
        // past LIST_MAX: the bitmaps, which still hold everything queued
        // (9 and 7 are still queued: not listed again)
        for i in 0..LIST_MAX as u32 + 3 {
            let id = t.upsert(&v4(i));
            t.mark(id);
        }
        let pass = t.take_pass();
        assert!(pass == Pass::Walk, "not a walk");
        let mut n = 0;
        while t.v4.pop_queued(0).is_some() {
            n += 1;
        }
        assert_eq!((n, t.queued()), (LIST_MAX + 3, 1));
        assert_eq!(t.take_pass(), Pass::List(vec![]));
        // `for_each` lists what it queues
        t.for_each(|prefix, _| prefix == v4(5));
        assert_eq!(t.take_pass(), Pass::List(vec![v4(5)]));
    }

    #[test]
    fn growth_moves_entries_and_keeps_what_is_queued() {
        let mut t = Routes::default();
        let want = Route::with_pair;
        for i in 0..10 {
            let id = t.upsert(&v4(i));
            t.set(id, want(i));
            if i % 3 == 0 {
                t.mark(id);
            }
        }
        let moves = t.v4.moves();
        for i in 10..5000 {
            let id = t.upsert(&v4(i));
            t.set(id, want(i));
        }
        assert!(t.v4.moves() > moves);
        for i in (0..5000).step_by(7) {
            t.remove(t.find(&v4(i)).unwrap());
        }
        for i in 0..5000 {
            let got = t.find(&v4(i)).and_then(|id| t.get(id));
            assert_eq!(
                got.map(|(p, r)| (p, r.pair())),
                (i % 7 != 0).then_some((v4(i), i)),
                "{i}"
            );
        }
        let mut queued = Vec::new();
        while let Some(b) = t.v4.pop_queued(0) {
            queued.push(t.v4.get(b).unwrap().1.pair());
        }
        queued.sort_unstable();
        assert_eq!(queued, vec![3, 6, 9]);
    }

    #[test]
    fn for_each_changes_routes_and_queues_those_asked_for() {
        let mut t = Routes::default();
        for i in 0..20 {
            t.upsert(&v4(i));
        }
        t.upsert(&p("2001:db8::/48"));
        let mut seen = 0;
        t.for_each(|prefix, r| {
            seen += 1;
            r.set_pair(1);
            matches!(prefix, Prefix::V6(_))
        });
        assert_eq!((seen, t.queued()), (21, 1));
        assert!(t.iter().all(|(_, r)| r.pair() == 1));
        let id = t.find(&p("2001:db8::/48")).unwrap();
        assert_eq!(t.v6.pop_queued(0), Some(id.bucket as usize));
    }
}
