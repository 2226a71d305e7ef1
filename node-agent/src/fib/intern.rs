//! Interning: equal values share one `Arc`, so that the many routes through
//! one next-hop set hold a word each instead of a copy of the set. Used for
//! the RIB task's [`Target`](super::Target)s and the writer's record of what
//! the kernel holds ([`Forward`](super::netlink::Forward)).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

/// A set of shared values. A value nobody else holds any more is dropped
/// when the set has grown to twice what it held after the last pruning
/// (plus 16), so the set stays within a small factor of the values in use.
#[derive(Debug)]
pub struct Interner<T> {
    set: HashSet<Arc<T>>,
    /// The value handed out last: a whole table usually repeats it.
    last: Option<Arc<T>>,
    prune_at: usize,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            set: HashSet::new(),
            last: None,
            prune_at: 16,
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// The shared value equal to `value`, and `value` itself back when an
    /// equal one was already shared (so that its allocation can be reused).
    pub fn intern(&mut self, value: T) -> (Arc<T>, Option<T>) {
        if let Some(last) = self.last.as_ref().filter(|l| ***l == value) {
            return (Arc::clone(last), Some(value));
        }
        let (shared, back) = match self.set.get(&value) {
            Some(v) => (Arc::clone(v), Some(value)),
            None => {
                self.prune();
                let shared = Arc::new(value);
                self.set.insert(Arc::clone(&shared));
                (shared, None)
            }
        };
        self.last = Some(Arc::clone(&shared));
        (shared, back)
    }

    fn prune(&mut self) {
        if self.set.len() < self.prune_at {
            return;
        }
        // Held by the set (and `last`) only: nobody uses it.
        let last = self.last.as_ref().map(Arc::as_ptr);
        self.set
            .retain(|v| Arc::strong_count(v) > 1 + usize::from(Some(Arc::as_ptr(v)) == last));
        self.prune_at = 2 * self.set.len() + 16;
    }

    /// How many distinct values are kept.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation() {
        let mut i = Interner::default();
        let (a, back) = i.intern(vec![1u32]);
        assert_eq!(back, None);
        let (b, _) = i.intern(vec![2u32]);
        let (c, back) = i.intern(vec![1u32]);
        assert_eq!(back, Some(vec![1]));
        let (d, _) = i.intern(vec![2u32]);
        assert!(Arc::ptr_eq(&a, &c) && Arc::ptr_eq(&b, &d));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(
            (i.len(), a.as_slice(), b.as_slice()),
            (2, &[1][..], &[2][..])
        );
    }

    #[test]
    fn values_nobody_holds_are_dropped_as_the_set_grows() {
        let mut i = Interner::default();
        let (kept, _) = i.intern(0u32);
        for v in 1..200u32 {
            i.intern(v);
        }
        // pruned whenever it reaches twice what stayed plus 16: never 200
        assert!(i.len() < 40, "{} kept", i.len());
        let (again, back) = i.intern(0u32);
        assert!(
            Arc::ptr_eq(&kept, &again),
            "a value still held stays shared"
        );
        assert_eq!(back, Some(0));
    }
}
