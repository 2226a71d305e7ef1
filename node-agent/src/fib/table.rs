//! The writer's per-prefix state: entries stored in a slab, found by
//! prefix through one hash index. Dirty lists and batches hold slab ids, so
//! a flush touches the hash index not at all and walks the slab mostly in
//! order (routes applied together sit together).
//!
//! The prefix is stored once, in the entry itself (so that it fills the
//! entry's padding): the index holds only slab ids (4 bytes a bucket) and
//! hashes and compares through the slots.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use ribs::Prefix;

/// A slab id.
pub type Id = u32;

/// An entry that carries its own prefix.
pub trait Keyed {
    /// A new entry for `prefix`.
    fn new(prefix: Prefix) -> Self;
    /// Its prefix, which must not change while it is in a [`Table`].
    fn prefix(&self) -> &Prefix;
}

/// The slab of `T` keyed by prefix.
#[derive(Debug)]
pub struct Table<T> {
    index: HashTable<Id>,
    hasher: RandomState,
    slots: Vec<Option<T>>,
    free: Vec<Id>,
}

impl<T: Keyed> Default for Table<T> {
    fn default() -> Self {
        Table {
            index: HashTable::new(),
            hasher: RandomState::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

/// The prefix of occupied slot `id`.
fn prefix_of<T: Keyed>(slots: &[Option<T>], id: Id) -> Option<&Prefix> {
    slots.get(id as usize)?.as_ref().map(T::prefix)
}

impl<T: Keyed> Table<T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn rehasher<'a>(hasher: &'a RandomState, slots: &'a [Option<T>]) -> impl Fn(&Id) -> u64 + 'a {
        move |&id| prefix_of(slots, id).map_or(0, |p| hasher.hash_one(p))
    }

    /// Room for `n` more.
    pub fn reserve(&mut self, n: usize) {
        self.index
            .reserve(n, Self::rehasher(&self.hasher, &self.slots));
        self.slots.reserve(n.saturating_sub(self.free.len()));
    }

    /// The id of `prefix`'s entry, created if missing.
    pub fn upsert(&mut self, prefix: Prefix) -> (Id, &mut T) {
        let hash = self.hasher.hash_one(prefix);
        let slots = &self.slots;
        let found = self
            .index
            .find(hash, |&id| prefix_of(slots, id) == Some(&prefix))
            .copied();
        let id = match found {
            Some(id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => {
                        self.slots[id as usize] = Some(T::new(prefix));
                        id
                    }
                    None => {
                        self.slots.push(Some(T::new(prefix)));
                        (self.slots.len() - 1) as Id
                    }
                };
                self.index
                    .insert_unique(hash, id, Self::rehasher(&self.hasher, &self.slots));
                id
            }
        };
        let entry = match &mut self.slots[id as usize] {
            Some(e) => e,
            None => unreachable!("indexed slots are occupied"),
        };
        (id, entry)
    }

    /// The id of `prefix`'s entry.
    pub fn id(&self, prefix: &Prefix) -> Option<Id> {
        let slots = &self.slots;
        self.index
            .find(self.hasher.hash_one(prefix), |&id| {
                prefix_of(slots, id) == Some(prefix)
            })
            .copied()
    }

    /// The entry `id`.
    pub fn get(&self, id: Id) -> Option<(&Prefix, &T)> {
        self.slots
            .get(id as usize)?
            .as_ref()
            .map(|e| (e.prefix(), e))
    }

    /// The entry `id`, mutable.
    pub fn get_mut(&mut self, id: Id) -> Option<(Prefix, &mut T)> {
        self.slots
            .get_mut(id as usize)?
            .as_mut()
            .map(|e| (*e.prefix(), e))
    }

    /// Removes the entry `id`.
    pub fn remove(&mut self, id: Id) {
        let Some(prefix) = prefix_of(&self.slots, id).copied() else {
            return;
        };
        let hash = self.hasher.hash_one(prefix);
        if let Ok(found) = self.index.find_entry(hash, |&i| i == id) {
            found.remove();
        }
        self.slots[id as usize] = None;
        self.free.push(id);
    }

    /// Every entry with its id.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &Prefix, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|e| (i as Id, e.prefix(), e)))
    }

    /// Every entry with its id and prefix, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Id, Prefix, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|e| (i as Id, *e.prefix(), e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct V(Prefix, u32);

    impl Keyed for V {
        fn new(prefix: Prefix) -> Self {
            V(prefix, 0)
        }
        fn prefix(&self) -> &Prefix {
            &self.0
        }
    }

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn ids_are_stable_and_reused_after_removal() {
        let mut t: Table<V> = Table::default();
        let (a, e) = t.upsert(p("192.0.2.0/24"));
        e.1 = 7;
        let (b, _) = t.upsert(p("198.51.100.0/24"));
        assert_ne!(a, b);
        assert_eq!(t.upsert(p("192.0.2.0/24")).0, a);
        assert_eq!(
            t.get(a),
            Some((&p("192.0.2.0/24"), &V(p("192.0.2.0/24"), 7)))
        );
        t.remove(a);
        assert_eq!(t.get(a), None);
        assert_eq!(t.id(&p("192.0.2.0/24")), None);
        assert_eq!(t.len(), 1);
        let (c, e) = t.upsert(p("203.0.113.0/24"));
        assert_eq!((c, e.1), (a, 0));
        assert_eq!(t.iter().count(), 2);
        assert_eq!(t.id(&p("203.0.113.0/24")), Some(c));
        assert_eq!(t.id(&p("198.51.100.0/24")), Some(b));
    }

    #[test]
    fn finds_every_entry_through_growth_and_removals() {
        let mut t: Table<V> = Table::default();
        let prefix = |i: u32| {
            Prefix::new(std::net::Ipv4Addr::from(0xc612_0000 | i << 4).into(), 28).unwrap()
        };
        for i in 0..5000 {
            t.upsert(prefix(i)).1 .1 = i;
        }
        for i in (0..5000).step_by(3) {
            t.remove(t.id(&prefix(i)).unwrap());
        }
        assert_eq!(t.len(), 5000 - 1667);
        for i in 0..5000 {
            let got = t
                .id(&prefix(i))
                .and_then(|id| t.get(id))
                .map(|(p, v)| (*p, v.1));
            assert_eq!(got, (i % 3 != 0).then_some((prefix(i), i)), "{i}");
        }
        // removed slots are reused, the others keep their ids
        let before = t.id(&prefix(1));
        t.upsert(prefix(7000)).1 .1 = 7000;
        assert_eq!(t.id(&prefix(1)), before);
        assert!((t.id(&prefix(7000)).unwrap() as usize) < 5000);
    }
}
