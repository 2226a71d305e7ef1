//! A counted table of shared values with `u32` ids, so that a route names
//! its wanted target and its kernel state in four bytes (one id of their
//! pair, itself two ids) instead of pointers: equal values get one id,
//! each holder counts one reference, and an id nobody holds is freed (and
//! reused).
//!
//! Id 0 is never handed out: a route stores 0 for "none".

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;

/// A value's id (0: none).
pub type Ref = u32;

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    refs: u32,
}

/// Values with ids and reference counts.
#[derive(Debug)]
pub struct Counted<T> {
    /// By id; slot 0 stays empty.
    slots: Vec<Slot<T>>,
    /// The ids of the values, hashing through the slots.
    index: HashTable<Ref>,
    hasher: RandomState,
    free: Vec<Ref>,
    /// The id handed out last: a whole table usually repeats it.
    last: Ref,
}

impl<T> Default for Counted<T> {
    fn default() -> Self {
        Counted {
            slots: vec![Slot {
                value: None,
                refs: 0,
            }],
            index: HashTable::new(),
            hasher: RandomState::new(),
            free: Vec::new(),
            last: 0,
        }
    }
}

fn value_of<T>(slots: &[Slot<T>], id: Ref) -> Option<&T> {
    slots.get(id as usize)?.value.as_ref()
}

impl<T: Hash + Eq> Counted<T> {
    /// The id of `value`, with one more reference (the caller's).
    pub fn intern(&mut self, value: T) -> Ref {
        let id = match value_of(&self.slots, self.last) {
            Some(v) if *v == value => self.last,
            _ => self.find_or_insert(value),
        };
        self.acquire(id);
        self.last = id;
        id
    }

    fn find_or_insert(&mut self, value: T) -> Ref {
        let hash = self.hasher.hash_one(&value);
        let slots = &self.slots;
        if let Some(&id) = self
            .index
            .find(hash, |&id| value_of(slots, id) == Some(&value))
        {
            return id;
        }
        let slot = Slot {
            value: Some(value),
            refs: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as Ref
            }
        };
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index.insert_unique(hash, id, |&i| {
            value_of(slots, i).map_or(0, |v| hasher.hash_one(v))
        });
        id
    }

    /// One more reference to `id` (0: none).
    pub fn acquire(&mut self, id: Ref) {
        if id == 0 {
            return;
        }
        if let Some(s) = self.slots.get_mut(id as usize) {
            s.refs += 1;
        }
    }

    /// One reference less to `id` (0: none); returns the value when that
    /// was the last one (the id is then free).
    pub fn release(&mut self, id: Ref) -> Option<T> {
        let slot = self.slots.get_mut(id as usize).filter(|_| id != 0)?;
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs > 0 {
            return None;
        }
        let value = slot.value.take()?;
        let hash = self.hasher.hash_one(&value);
        if let Ok(found) = self.index.find_entry(hash, |&i| i == id) {
            found.remove();
        }
        self.free.push(id);
        if self.last == id {
            self.last = 0;
        }
        Some(value)
    }

    /// The value `id` (0: none).
    pub fn get(&self, id: Ref) -> Option<&T> {
        value_of(&self.slots, id)
    }

    /// Every value with its id.
    pub fn iter(&self) -> impl Iterator<Item = (Ref, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (i as Ref, v)))
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The references to `id` (0 for a free id).
    pub fn refs(&self, id: Ref) -> u32 {
        self.slots.get(id as usize).map_or(0, |s| s.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_id_until_the_last_reference_goes() {
        let mut c = Counted::default();
        let a = c.intern("a".to_string());
        let b = c.intern("b".to_string());
        let a2 = c.intern("a".to_string());
        assert_eq!((a, b, a2), (1, 2, 1));
        assert_eq!((c.refs(a), c.refs(b), c.len()), (2, 1, 2));
        assert_eq!(c.release(a), None);
        assert_eq!(c.get(a).map(String::as_str), Some("a"));
        assert_eq!(c.release(a), Some("a".to_string()));
        assert_eq!((c.get(a), c.refs(a), c.len()), (None, 0, 1));
        // the free id is reused, and "a" is no longer found under it
        let d = c.intern("d".to_string());
        assert_eq!(d, a);
        assert_eq!(c.intern("a".to_string()), 3);
        assert_eq!(c.intern("b".to_string()), b);
        assert_eq!(
            c.iter().map(|(i, v)| (i, v.as_str())).collect::<Vec<_>>(),
            vec![(1, "d"), (2, "b"), (3, "a")]
        );
    }

    #[test]
    fn zero_is_none_and_is_never_counted() {
        let mut c: Counted<u32> = Counted::default();
        c.acquire(0);
        assert_eq!((c.release(0), c.get(0), c.refs(0)), (None, None, 0));
        let id = c.intern(7);
        assert_ne!(id, 0);
        assert_eq!(c.release(99), None);
    }

    #[test]
    fn many_values_are_found_through_growth_and_frees() {
        let mut c = Counted::default();
        let ids: Vec<Ref> = (0..3000u32).map(|v| c.intern(v)).collect();
        for v in (0..3000u32).step_by(2) {
            assert_eq!(c.release(ids[v as usize]), Some(v));
        }
        for v in 0..3000u32 {
            let again = c.intern(v);
            if v % 2 == 1 {
                assert_eq!(again, ids[v as usize], "{v}");
                assert_eq!(c.refs(again), 2);
            } else {
                assert_eq!(c.get(again), Some(&v));
            }
        }
        assert_eq!(c.len(), 3000);
        // every freed id was reused: nothing beyond the first 3000
        assert!(c.iter().all(|(i, _)| (1..=3000).contains(&i)));
    }
}
