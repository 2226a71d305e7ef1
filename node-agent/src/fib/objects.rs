//! Twill's nexthop objects (Linux 5.3+): one per distinct next hop
//! (gateway, interface, onlink) and one group per distinct set of them
//! (ECMP), counted by the routes that use them, so that losing a next hop
//! is one change of one object and not one per route.
//!
//! Ids: `protocol << 24 | n`, `n` in 1..=2^24-1 (with the default protocol
//! 84: 0x5400_0001..=0x54ff_ffff). Objects are created with `NLM_F_EXCL`;
//! an id held by anyone else is never replaced nor deleted, only skipped.
//!
//! Per object the table keeps what it should be (`members`: for a group,
//! every member; the kernel holds the usable ones) and what the kernel
//! holds (`have`). References: each route that wants an object, each route
//! the kernel holds through it, each group it is a member of. An object no
//! longer referenced is deleted (after the route changes were
//! acknowledged, so no route of Twill's ever loses its object).

use std::collections::{HashMap, HashSet};

use tracing::{debug, warn};

use super::links::Links;
use super::netlink::{Forward, Hop};
use super::nexthop::{KernelNexthop, NexthopKind};

/// The first id of Twill's range for `protocol`.
pub fn id_base(protocol: u8) -> u32 {
    u32::from(protocol) << 24
}

/// How many ids the range holds (`n` runs 1..=`ID_SPAN`).
pub const ID_SPAN: u32 = (1 << 24) - 1;

/// A write to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NhOp {
    /// Create (`false`) or replace (`true`) one next hop.
    Hop(Hop, bool),
    /// Create or replace a group of these members.
    Group(Vec<u32>, bool),
    /// Delete.
    Del,
}

#[derive(Debug)]
struct Object {
    /// One hop: its hop; a group: the hops of its members (sorted). `None`
    /// for an adopted object that duplicates another or names unknown
    /// members: deleted once unused.
    key: Option<Vec<Hop>>,
    /// Group members (each holds a reference); empty for a hop.
    members: Vec<u32>,
    refs: u32,
    /// What the kernel holds: `None` absent; a hop: `Some([])`; a group:
    /// `Some(members present)`.
    have: Option<Vec<u32>>,
    adopted: bool,
    queued: bool,
    /// A write is in the current batch.
    inflight: bool,
}

impl Object {
    fn hop(&self) -> Option<&Hop> {
        match (&self.key, self.members.is_empty()) {
            (Some(k), true) => k.first(),
            _ => None,
        }
    }
}

/// Twill's objects the kernel no longer holds as Twill's (see
/// [`Objects::reconcile`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lost {
    /// Removed: the kernel removed the routes through them too.
    pub gone: HashSet<u32>,
    /// Rewritten by someone else with another protocol: the routes still
    /// name them.
    pub taken: HashSet<u32>,
}

/// Twill's nexthop objects.
#[derive(Debug)]
pub struct Objects {
    base: u32,
    by_key: HashMap<Vec<Hop>, u32>,
    by_hop: HashMap<Hop, u32>,
    objects: HashMap<u32, Object>,
    /// Ids of Twill's range held by others.
    foreign: HashSet<u32>,
    next: u32,
    dirty: Vec<u32>,
}

impl Objects {
    /// An empty table for `protocol`'s range.
    pub fn new(protocol: u8) -> Self {
        Objects {
            base: id_base(protocol),
            by_key: HashMap::new(),
            by_hop: HashMap::new(),
            objects: HashMap::new(),
            foreign: HashSet::new(),
            next: 1,
            dirty: Vec::new(),
        }
    }

    /// Number of objects known.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn in_range(&self, id: u32) -> bool {
        id & !ID_SPAN == self.base && id & ID_SPAN != 0
    }

    fn alloc(&mut self) -> u32 {
        loop {
            let id = self.base | self.next;
            self.next = self.next % ID_SPAN + 1;
            if !self.objects.contains_key(&id) && !self.foreign.contains(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, id: u32, key: Option<Vec<Hop>>, members: Vec<u32>) {
        for m in &members {
            self.acquire(*m);
        }
        if let Some(k) = &key {
            match k.as_slice() {
                [hop] if members.is_empty() => {
                    self.by_hop.insert(*hop, id);
                }
                _ => {
                    self.by_key.insert(k.clone(), id);
                }
            }
        }
        self.objects.insert(
            id,
            Object {
                key,
                members,
                refs: 0,
                have: None,
                adopted: false,
                queued: false,
                inflight: false,
            },
        );
        self.mark(id);
    }

    /// The object for `hops` (sorted, deduplicated, not empty, every
    /// interface known), created if missing: a hop, or a group of hops.
    pub fn lookup(&mut self, hops: &[Hop]) -> u32 {
        match hops {
            [hop] => {
                if let Some(&id) = self.by_hop.get(hop) {
                    return id;
                }
                let id = self.alloc();
                self.insert(id, Some(vec![*hop]), Vec::new());
                id
            }
            _ => {
                if let Some(&id) = self.by_key.get(hops) {
                    return id;
                }
                let members: Vec<u32> = hops.iter().map(|h| self.lookup(&[*h])).collect();
                let id = self.alloc();
                self.insert(id, Some(hops.to_vec()), members);
                id
            }
        }
    }

    /// One more reference to `id` (0: none).
    pub fn acquire(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.refs += 1;
        }
    }

    /// One reference less to `id` (0: none); an unreferenced object is
    /// queued for deletion.
    pub fn release(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.refs = o.refs.saturating_sub(1);
            if o.refs == 0 {
                self.mark(id);
            }
        }
    }

    fn mark(&mut self, id: u32) {
        if let Some(o) = self.objects.get_mut(&id) {
            if !o.queued {
                o.queued = true;
                self.dirty.push(id);
            }
        }
    }

    /// Queues every object (a link changed, or convergence).
    pub fn mark_all(&mut self) {
        let ids: Vec<u32> = self.objects.keys().copied().collect();
        for id in ids {
            self.mark(id);
        }
    }

    /// Whether routes through `id` can forward: a hop's interface is
    /// usable, or one of a group's is.
    pub fn usable(&self, id: u32, links: &Links) -> bool {
        let Some(o) = self.objects.get(&id) else {
            return false;
        };
        match o.hop() {
            Some(h) => links.usable(h.ifindex),
            None => o.members.iter().any(|m| self.usable(*m, links)),
        }
    }

    /// The references to `id` (0 when unknown).
    pub fn refs(&self, id: u32) -> u32 {
        self.objects.get(&id).map_or(0, |o| o.refs)
    }

    /// Whether the kernel holds `id`.
    pub fn present(&self, id: u32) -> bool {
        self.objects.get(&id).is_some_and(|o| o.have.is_some())
    }

    /// The next hops the kernel forwards through for object `id` now.
    pub fn forward(&self, id: u32) -> Option<Forward> {
        let o = self.objects.get(&id)?;
        let have = o.have.as_ref()?;
        let mut hops: Vec<Hop> = match o.hop() {
            Some(h) => vec![*h],
            None => have
                .iter()
                .filter_map(|m| self.objects.get(m)?.hop().copied())
                .collect(),
        };
        hops.sort_unstable();
        Some(Forward::Hops(hops))
    }

    /// The write that makes the kernel's `id` what it should be, if any.
    fn plan(&self, id: u32, links: &Links, converged: bool) -> Option<NhOp> {
        let o = self.objects.get(&id)?;
        if o.inflight {
            return None;
        }
        if o.refs == 0 {
            return (o.have.is_some() && (converged || !o.adopted)).then_some(NhOp::Del);
        }
        o.key.as_ref()?;
        match o.hop() {
            Some(h) => {
                (o.have.is_none() && links.usable(h.ifindex)).then_some(NhOp::Hop(*h, false))
            }
            None => {
                let want: Vec<u32> = o
                    .members
                    .iter()
                    .copied()
                    .filter(|m| self.usable(*m, links))
                    .collect();
                (!want.is_empty() && o.have.as_ref() != Some(&want))
                    .then(|| NhOp::Group(want, o.have.is_some()))
            }
        }
    }

    /// Appends the writes that make `id` (and, for a group, its members)
    /// what it should be, members first.
    pub fn ensure(&mut self, id: u32, links: &Links, out: &mut Vec<(u32, NhOp)>) {
        let Some(op) = self.plan(id, links, false) else {
            return;
        };
        if op == NhOp::Del {
            return;
        }
        if let NhOp::Group(members, _) = &op {
            for m in members {
                self.ensure(*m, links, out);
            }
        }
        if let Some(o) = self.objects.get_mut(&id) {
            o.inflight = true;
        }
        out.push((id, op));
    }

    /// The queued objects: writes for those in use (members first), and
    /// with `deletions` deletions of those no longer used (groups before
    /// their members: a member is released when its group's deletion is
    /// acknowledged); without, those stay queued.
    pub fn take_dirty(
        &mut self,
        links: &Links,
        converged: bool,
        deletions: bool,
        out: &mut Vec<(u32, NhOp)>,
    ) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut dels = Vec::new();
        let mut kept = Vec::new();
        for id in dirty {
            let Some(o) = self.objects.get_mut(&id) else {
                continue;
            };
            if o.refs == 0 && !deletions {
                kept.push(id);
                continue;
            }
            o.queued = false;
            if o.refs > 0 {
                self.ensure(id, links, out);
            } else if o.have.is_none() {
                if !o.inflight {
                    self.forget(id);
                }
            } else if let Some(NhOp::Del) = self.plan(id, links, converged) {
                dels.push(id);
            }
        }
        self.dirty.extend(kept);
        // groups first
        dels.sort_by_key(|id| self.objects.get(id).is_none_or(|o| o.members.is_empty()));
        for id in dels {
            if let Some(o) = self.objects.get_mut(&id) {
                o.inflight = true;
            }
            out.push((id, NhOp::Del));
        }
    }

    /// Whether deletions of unused objects are queued.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn forget(&mut self, id: u32) {
        let Some(o) = self.objects.remove(&id) else {
            return;
        };
        if let Some(k) = &o.key {
            let map = if o.members.is_empty() && k.len() == 1 {
                self.by_hop.get(&k[0]).copied()
            } else {
                self.by_key.get(k).copied()
            };
            if map == Some(id) {
                if o.members.is_empty() && k.len() == 1 {
                    self.by_hop.remove(&k[0]);
                } else {
                    self.by_key.remove(k);
                }
            }
        }
        for m in o.members {
            self.release(m);
        }
    }

    /// Takes `id` out of the key index: routes will ask for a new object,
    /// and this one is deleted once unused.
    fn orphan(&mut self, id: u32) {
        let Some(o) = self.objects.get_mut(&id) else {
            return;
        };
        let Some(k) = o.key.take() else {
            return;
        };
        if o.members.is_empty() && k.len() == 1 {
            if self.by_hop.get(&k[0]) == Some(&id) {
                self.by_hop.remove(&k[0]);
            }
        } else if self.by_key.get(&k) == Some(&id) {
            self.by_key.remove(&k);
        }
    }

    /// The kernel's answer to a write of `id`: `None` for success, else
    /// the errno. Returns whether the object is in the kernel now.
    pub fn written(&mut self, id: u32, op: &NhOp, error: Option<i32>) -> bool {
        let Some(o) = self.objects.get_mut(&id) else {
            return false;
        };
        o.inflight = false;
        match (op, error) {
            (NhOp::Hop(..), None) => o.have = Some(Vec::new()),
            (NhOp::Group(m, _), None) => o.have = Some(m.clone()),
            (NhOp::Del, None) | (NhOp::Del, Some(ENOENT)) => {
                o.have = None;
                if o.refs == 0 {
                    self.forget(id);
                } else {
                    self.mark(id);
                }
            }
            (NhOp::Hop(_, false) | NhOp::Group(_, false), Some(EEXIST)) => {
                // The id was taken by someone else since the last dump.
                warn!(
                    id,
                    "FIB: nexthop id held by another owner, choosing another"
                );
                self.foreign.insert(id);
                o.have = None;
                self.orphan(id);
                self.mark(id);
            }
            (_, Some(errno)) => debug!(id, errno, "FIB: nexthop write failed"),
        }
        self.present(id)
    }

    /// Takes in a dump of the kernel's nexthop objects: Twill's (its
    /// protocol, in its range) are adopted or updated, every other id is
    /// recorded as foreign. Returns the ids of Twill's objects the kernel
    /// no longer holds: `gone` (their routes went with them) and `taken`
    /// (rewritten with another protocol: their routes still use them).
    pub fn reconcile(&mut self, protocol: u8, dump: Vec<KernelNexthop>) -> Lost {
        self.foreign.clear();
        let mut seen = HashSet::new();
        let mut groups = Vec::new();
        for n in dump {
            let ours = n.protocol == protocol && self.in_range(n.id);
            match (&n.kind, ours) {
                (NexthopKind::Hop(h), true) => {
                    seen.insert(n.id);
                    self.adopt(n.id, Some(vec![*h]), Vec::new(), Some(Vec::new()));
                }
                (NexthopKind::Group(members), true) => {
                    seen.insert(n.id);
                    groups.push((n.id, members.clone()));
                }
                _ => {
                    self.foreign.insert(n.id);
                }
            }
        }
        // groups after the hops they name
        for (id, members) in groups {
            if let Some(o) = self.objects.get(&id) {
                // Known: the kernel may have dropped members (their links
                // went down), never added any.
                let same = !o.members.is_empty() && members.iter().all(|m| o.members.contains(m));
                self.update(id, same, Some(members));
                continue;
            }
            let hops: Option<Vec<Hop>> = members
                .iter()
                .map(|m| self.objects.get(m).and_then(|o| o.hop().copied()))
                .collect();
            match hops {
                Some(mut hops) if hops.len() >= 2 => {
                    hops.sort_unstable();
                    self.adopt(id, Some(hops), members.clone(), Some(members));
                }
                _ => self.adopt(id, None, Vec::new(), Some(members)),
            }
        }
        let mut lost = Lost::default();
        let ids: Vec<u32> = self.objects.keys().copied().collect();
        for id in ids {
            if seen.contains(&id) {
                continue;
            }
            let taken = self.foreign.contains(&id);
            if taken {
                // replaced by someone else: never touched again
                self.orphan(id);
            }
            if let Some(o) = self.objects.get_mut(&id) {
                if o.have.take().is_some() {
                    if taken {
                        lost.taken.insert(id);
                    } else {
                        lost.gone.insert(id);
                    }
                }
                o.inflight = false;
            }
            self.mark(id);
        }
        lost
    }

    /// Records the kernel's `have` for a known object; `same`: it still is
    /// what its id stands for (else it is orphaned).
    fn update(&mut self, id: u32, same: bool, have: Option<Vec<u32>>) {
        if let Some(o) = self.objects.get_mut(&id) {
            o.have = have;
            o.inflight = false;
        }
        if !same {
            self.orphan(id);
        }
        self.mark(id);
    }

    /// Takes in an object of Twill's found in the kernel.
    fn adopt(&mut self, id: u32, key: Option<Vec<Hop>>, members: Vec<u32>, have: Option<Vec<u32>>) {
        if let Some(o) = self.objects.get(&id) {
            let same = key.is_none() || o.key == key;
            self.update(id, same, have);
            return;
        }
        let key = key.filter(|k| match k.as_slice() {
            [h] if members.is_empty() => !self.by_hop.contains_key(h),
            _ => !self.by_key.contains_key(k),
        });
        self.insert(id, key, members);
        if let Some(o) = self.objects.get_mut(&id) {
            o.have = have;
            o.adopted = true;
        }
    }
}

const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;
const EEXIST: i32 = nix::errno::Errno::EEXIST as i32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::{IFF_LOWER_UP, IFF_UP};

    fn hop(a: &str, i: u32) -> Hop {
        Hop {
            addr: a.parse().unwrap(),
            ifindex: i,
            onlink: false,
        }
    }

    fn links() -> Links {
        let mut l = Links::default();
        l.set_link(2, IFF_UP | IFF_LOWER_UP);
        l.set_link(3, IFF_UP | IFF_LOWER_UP);
        l
    }

    #[test]
    fn one_object_per_hop_and_per_set_members_first() {
        let mut o = Objects::new(84);
        let (a, b) = (hop("198.18.0.2", 2), hop("198.18.1.2", 3));
        let g = o.lookup(&[a, b]);
        let ha = o.lookup(&[a]);
        let hb = o.lookup(&[b]);
        assert_eq!((ha, hb, g), (0x5400_0001, 0x5400_0002, 0x5400_0003));
        assert_eq!(o.lookup(&[a, b]), g);
        o.acquire(g);
        let mut out = Vec::new();
        o.ensure(g, &links(), &mut out);
        assert_eq!(
            out,
            vec![
                (ha, NhOp::Hop(a, false)),
                (hb, NhOp::Hop(b, false)),
                (g, NhOp::Group(vec![ha, hb], false)),
            ]
        );
        for (id, op) in &out {
            assert!(o.written(*id, op, None));
        }
        assert_eq!(o.forward(g), Some(Forward::Hops(vec![a, b])));
    }

    /// A table with the group of `hops` written to the kernel, used by one
    /// route; its id; the links (2 and 3 up).
    fn installed(hops: &[Hop]) -> (Objects, u32, Links) {
        let mut o = Objects::new(84);
        let g = o.lookup(hops);
        o.acquire(g);
        let links = links();
        let mut out = Vec::new();
        o.ensure(g, &links, &mut out);
        for (id, op) in out.drain(..) {
            o.written(id, &op, None);
        }
        (o, g, links)
    }

    #[test]
    fn a_group_shrunk_by_the_kernel_keeps_its_id_and_grows_back() {
        let hops = [
            hop("198.18.0.2", 2),
            hop("198.18.0.3", 2),
            hop("198.18.1.2", 3),
        ];
        let (mut o, g, mut links) = installed(&hops);
        let mut out = Vec::new();
        // link 3 down: the kernel removed the third member
        links.set_link(3, IFF_UP);
        let (m1, m2) = (o.lookup(&hops[..1]), o.lookup(&hops[1..2]));
        let dump = vec![
            KernelNexthop {
                id: m1,
                protocol: 84,
                kind: NexthopKind::Hop(hops[0]),
            },
            KernelNexthop {
                id: m2,
                protocol: 84,
                kind: NexthopKind::Hop(hops[1]),
            },
            KernelNexthop {
                id: g,
                protocol: 84,
                kind: NexthopKind::Group(vec![m1, m2]),
            },
        ];
        let lost = o.reconcile(84, dump);
        assert_eq!(lost.gone, HashSet::from([o.lookup(&hops[2..])]));
        assert_eq!(o.lookup(&hops), g);
        o.take_dirty(&links, false, true, &mut out);
        assert!(out.is_empty(), "{out:?}");
        // the link returns: its member is created, the group replaced
        links.set_link(3, IFF_UP | IFF_LOWER_UP);
        o.mark_all();
        o.take_dirty(&links, false, true, &mut out);
        let m3 = o.lookup(&hops[2..]);
        assert_eq!(
            out,
            vec![
                (m3, NhOp::Hop(hops[2], false)),
                (g, NhOp::Group(vec![m1, m2, m3], true)),
            ]
        );
    }

    #[test]
    fn a_group_keeps_its_usable_members_and_unused_objects_go() {
        let (a, b) = (hop("198.18.0.2", 2), hop("198.18.1.2", 3));
        let (mut o, g, mut links) = installed(&[a, b]);
        let mut out = Vec::new();
        // link 3 down: the kernel removed b's object and shrank the group
        links.set_link(3, IFF_UP);
        let dump = vec![
            KernelNexthop {
                id: 0x5400_0001,
                protocol: 84,
                kind: NexthopKind::Hop(a),
            },
            KernelNexthop {
                id: g,
                protocol: 84,
                kind: NexthopKind::Group(vec![0x5400_0001]),
            },
            KernelNexthop {
                id: 0x5400_0002,
                protocol: 3,
                kind: NexthopKind::Hop(b),
            },
        ];
        let lost = o.reconcile(84, dump);
        assert_eq!(lost.gone, HashSet::new());
        assert_eq!(lost.taken, HashSet::from([0x5400_0002]));
        assert!(o.usable(g, &links));
        o.take_dirty(&links, false, true, &mut out);
        assert!(out.is_empty(), "{out:?}"); // nothing to write
                                            // id 2 was taken over by protocol 3: a new object for b
        assert_ne!(o.lookup(&[b]), 0x5400_0002);
        // last route gone: group deleted first, then its members
        o.release(g);
        o.take_dirty(&links, false, true, &mut out);
        assert!(out.contains(&(g, NhOp::Del)));
        assert!(!out.iter().any(|(id, _)| *id == 0x5400_0002));
    }
}
