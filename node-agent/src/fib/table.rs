//! The writer's per-prefix state: entries stored in a slab, found by
//! prefix through one hash index. Dirty lists and batches hold slab ids, so
//! a flush touches the hash index not at all and walks the slab mostly in
//! order (routes applied together sit together).

use std::collections::HashMap;

use ribs::Prefix;

/// A slab id.
pub type Id = u32;

/// The slab of `T` keyed by prefix.
#[derive(Debug)]
pub struct Table<T> {
    index: HashMap<Prefix, Id>,
    slots: Vec<Option<(Prefix, T)>>,
    free: Vec<Id>,
}

impl<T: Default> Default for Table<T> {
    fn default() -> Self {
        Table {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Default> Table<T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Room for `n` more.
    pub fn reserve(&mut self, n: usize) {
        self.index.reserve(n);
        self.slots.reserve(n.saturating_sub(self.free.len()));
    }

    /// The id of `prefix`'s entry, created (default) if missing.
    pub fn upsert(&mut self, prefix: Prefix) -> (Id, &mut T) {
        let id = match self.index.get(&prefix) {
            Some(&id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => {
                        self.slots[id as usize] = Some((prefix, T::default()));
                        id
                    }
                    None => {
                        self.slots.push(Some((prefix, T::default())));
                        (self.slots.len() - 1) as Id
                    }
                };
                self.index.insert(prefix, id);
                id
            }
        };
        let entry = match &mut self.slots[id as usize] {
            Some((_, e)) => e,
            None => unreachable!("indexed slots are occupied"),
        };
        (id, entry)
    }

    /// The id of `prefix`'s entry.
    pub fn id(&self, prefix: &Prefix) -> Option<Id> {
        self.index.get(prefix).copied()
    }

    /// The entry `id`.
    pub fn get(&self, id: Id) -> Option<(&Prefix, &T)> {
        self.slots.get(id as usize)?.as_ref().map(|(p, e)| (p, e))
    }

    /// The entry `id`, mutable.
    pub fn get_mut(&mut self, id: Id) -> Option<(Prefix, &mut T)> {
        self.slots
            .get_mut(id as usize)?
            .as_mut()
            .map(|(p, e)| (*p, e))
    }

    /// Removes the entry `id`.
    pub fn remove(&mut self, id: Id) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            if let Some((p, _)) = slot.take() {
                self.index.remove(&p);
                self.free.push(id);
            }
        }
    }

    /// Every entry with its id.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &Prefix, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(p, e)| (i as Id, p, e)))
    }

    /// Every entry with its id, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Id, &Prefix, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|(p, e)| (i as Id, &*p, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn ids_are_stable_and_reused_after_removal() {
        let mut t: Table<u32> = Table::default();
        let (a, e) = t.upsert(p("192.0.2.0/24"));
        *e = 7;
        let (b, _) = t.upsert(p("198.51.100.0/24"));
        assert_ne!(a, b);
        assert_eq!(t.upsert(p("192.0.2.0/24")).0, a);
        assert_eq!(t.get(a), Some((&p("192.0.2.0/24"), &7)));
        t.remove(a);
        assert_eq!(t.get(a), None);
        assert_eq!(t.id(&p("192.0.2.0/24")), None);
        assert_eq!(t.len(), 1);
        let (c, e) = t.upsert(p("203.0.113.0/24"));
        assert_eq!((c, *e), (a, 0));
        assert_eq!(t.iter().count(), 2);
    }
}
