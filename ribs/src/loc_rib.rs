//! Loc-RIB storage: for every prefix, the paths learned for it (the union of
//! the peers' post-policy Adj-RIBs-In, RFC 4271 §3.2) and the result of the
//! decision process.
//!
//! Memory is the design constraint: a full table has about a million
//! prefixes, most with one path. A [`Dest`] with one eligible path is
//! stored inline in 16 bytes (the interned attributes, peer and Path
//! Identifier; the enum's tag lives in the attributes pointer's niche), so
//! an IPv4 entry of the hash table is 24 bytes; only prefixes with several
//! paths, or one that may not be selected, allocate.

use std::collections::HashMap;

/// Keyed hashing (a random seed per process: peers choose the prefixes).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use crate::attrs::Attrs;
use crate::peer::PeerId;
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};

/// One path to a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The interned attributes (after import policy).
    pub attrs: Attrs,
    /// Who sent it ([`PeerId::LOCAL`] for originated routes).
    pub peer: PeerId,
    /// ADD-PATH Path Identifier (0 without ADD-PATH).
    pub path_id: u32,
}

/// The paths of several-path prefixes and their selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Many {
    /// All paths, in arrival order.
    pub paths: Vec<Path>,
    /// Index of the best path, if any is eligible.
    pub best: Option<u16>,
    /// Indices of the multipath (ECMP) set, best first; empty when there is
    /// no best.
    pub multipath: Vec<u16>,
}

/// A prefix's paths and selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// One path, eligible and so the best.
    One(Path),
    /// Several paths, or one that is not eligible (next hop unreachable:
    /// `best` is `None`).
    Many(Box<Many>),
}

// The niche of the attributes pointer holds the tag: see the module doc.
const _: () = assert!(std::mem::size_of::<Dest>() == 16);

impl Dest {
    /// A destination of one path, `eligible` or not.
    #[inline]
    pub fn single(path: Path, eligible: bool) -> Self {
        if eligible {
            Dest::One(path)
        } else {
            Dest::Many(Box::new(Many {
                paths: vec![path],
                best: None,
                multipath: Vec::new(),
            }))
        }
    }

    /// All paths.
    pub fn paths(&self) -> &[Path] {
        match self {
            Dest::One(path) => std::slice::from_ref(path),
            Dest::Many(m) => &m.paths,
        }
    }

    /// The best path.
    pub fn best(&self) -> Option<&Path> {
        match self {
            Dest::One(path) => Some(path),
            Dest::Many(m) => m.best.and_then(|i| m.paths.get(usize::from(i))),
        }
    }

    /// The multipath set, best first (just the best for one path).
    pub fn multipath(&self) -> Vec<&Path> {
        match self {
            Dest::One(path) => vec![path],
            Dest::Many(m) => m
                .multipath
                .iter()
                .filter_map(|&i| m.paths.get(usize::from(i)))
                .collect(),
        }
    }

    /// Insert or replace the path of (`peer`, `path_id`); returns the
    /// replaced attributes. Selection must be recomputed afterwards.
    pub fn upsert(&mut self, path: Path) -> Option<Attrs> {
        match self {
            Dest::One(p) if p.peer == path.peer && p.path_id == path.path_id => {
                Some(std::mem::replace(p, path).attrs)
            }
            Dest::One(_) => {
                let Dest::One(old) = std::mem::replace(self, Dest::Many(Box::default())) else {
                    return None;
                };
                if let Dest::Many(m) = self {
                    m.paths.push(old);
                    m.paths.push(path);
                }
                None
            }
            Dest::Many(m) => {
                if let Some(p) = m
                    .paths
                    .iter_mut()
                    .find(|p| p.peer == path.peer && p.path_id == path.path_id)
                {
                    Some(std::mem::replace(p, path).attrs)
                } else {
                    m.paths.push(path);
                    None
                }
            }
        }
    }

    /// Remove the path of (`peer`, `path_id`). Returns the removed path and
    /// whether the destination is now empty (the caller drops it then).
    pub fn remove(&mut self, peer: PeerId, path_id: u32) -> (Option<Path>, bool) {
        match self {
            Dest::One(path) => {
                if path.peer == peer && path.path_id == path_id {
                    (Some(path.clone()), true)
                } else {
                    (None, false)
                }
            }
            Dest::Many(m) => {
                let Some(i) = m
                    .paths
                    .iter()
                    .position(|p| p.peer == peer && p.path_id == path_id)
                else {
                    return (None, false);
                };
                let removed = m.paths.remove(i);
                m.best = None;
                m.multipath.clear();
                // Undecided until the caller decides it again (which makes
                // a last eligible path inline again).
                (Some(removed), m.paths.is_empty())
            }
        }
    }
}

/// The result of [`LocRib::upsert`].
#[derive(Debug)]
pub(crate) enum Upserted<'a, S> {
    /// A new destination, already decided: its selection.
    New(S),
    /// An existing destination, to be decided again.
    Existing {
        /// The selection before the change.
        before: S,
        /// The attributes the path replaced, if it replaced one.
        replaced: Option<Attrs>,
        /// The destination.
        dest: &'a mut Dest,
    },
}

/// Loc-RIB of both unicast families.
#[derive(Debug, Default)]
pub struct LocRib {
    pub(crate) v4: Map<Ipv4Prefix, Dest>,
    pub(crate) v6: Map<Ipv6Prefix, Dest>,
}

impl LocRib {
    /// An empty Loc-RIB.
    pub fn new() -> Self {
        LocRib::default()
    }

    /// Reserve room for `n` more IPv4 prefixes.
    pub fn reserve_v4(&mut self, n: usize) {
        self.v4.reserve(n);
    }

    /// The destination of `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&Dest> {
        match prefix {
            Prefix::V4(p) => self.v4.get(p),
            Prefix::V6(p) => self.v6.get(p),
        }
    }

    pub(crate) fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut Dest> {
        match prefix {
            Prefix::V4(p) => self.v4.get_mut(p),
            Prefix::V6(p) => self.v6.get_mut(p),
        }
    }

    /// Insert a path with one hash lookup. For an existing destination,
    /// `before` gives the selection before the change; a new destination is
    /// decided by `new` before it is stored (its selection and whether the
    /// path is best).
    pub(crate) fn upsert<S>(
        &mut self,
        prefix: Prefix,
        path: Path,
        before: impl FnOnce(Option<&Dest>) -> S,
        new: impl FnOnce(&Path) -> (bool, S),
    ) -> Upserted<'_, S> {
        use std::collections::hash_map::Entry;
        macro_rules! go {
            ($map:expr, $k:expr) => {
                match $map.entry($k) {
                    Entry::Occupied(e) => {
                        let dest = e.into_mut();
                        let before = before(Some(dest));
                        let replaced = dest.upsert(path);
                        Upserted::Existing {
                            before,
                            replaced,
                            dest,
                        }
                    }
                    Entry::Vacant(e) => {
                        let (best, after) = new(&path);
                        e.insert(Dest::single(path, best));
                        Upserted::New(after)
                    }
                }
            };
        }
        match prefix {
            Prefix::V4(p) => go!(self.v4, p),
            Prefix::V6(p) => go!(self.v6, p),
        }
    }

    pub(crate) fn remove_dest(&mut self, prefix: &Prefix) {
        match prefix {
            Prefix::V4(p) => {
                self.v4.remove(p);
            }
            Prefix::V6(p) => {
                self.v6.remove(p);
            }
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of IPv4 prefixes.
    pub fn len_v4(&self) -> usize {
        self.v4.len()
    }

    /// Number of IPv6 prefixes.
    pub fn len_v6(&self) -> usize {
        self.v6.len()
    }

    /// Every prefix and its destination (IPv4 first; unordered within a
    /// family).
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Dest)> {
        self.v4
            .iter()
            .map(|(p, d)| (Prefix::V4(*p), d))
            .chain(self.v6.iter().map(|(p, d)| (Prefix::V6(*p), d)))
    }
}
