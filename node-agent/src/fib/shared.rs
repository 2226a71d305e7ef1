//! What the routes share, by id: the targets the RIB wants, the states
//! the kernel holds, and the [`Pair`]s of the two, so that a route names
//! both in one 4-byte pair id (see [`Route`](super::table::Route)): in
//! steady state nearly every route has the state its target is written as,
//! and a full table has few distinct pairs. Each id counts its holders and
//! is freed with the last one: a pair is held by the routes that name it,
//! a target and a state by the pairs that name them (and by writes in
//! flight and the writer's scratch).
//!
//! Nexthop objects: a kernel state that names an object holds one
//! reference to it while any route has that state, and a target holds one
//! to the object its routes of each family are written through. So an
//! object is deleted only once no route wants it and no route of Twill's in
//! the kernel still names it.

use std::sync::Arc;

use super::counted::{Counted, Ref};
use super::netlink::{Forward, KernelRoute};
use super::objects::Objects;
use super::route::Target;

/// What the kernel holds for one route of Twill's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// The next hops written into the route; through a nexthop object the
    /// kernel's own form of such a route (no hops).
    pub forward: Forward,
    /// The nexthop object the route names (0: none).
    pub nh: u32,
}

impl State {
    /// What the kernel's route `r` of Twill's holds: the object it names
    /// only if Twill's `objects` hold it in the kernel.
    pub fn of_route(r: &KernelRoute, objects: Option<&Objects>) -> State {
        State {
            forward: r.forward(),
            nh: r
                .nh_id
                .filter(|&n| objects.is_some_and(|o| o.present(n)))
                .unwrap_or(0),
        }
    }

    /// A route through object `nh` as the writer writes it.
    pub fn via_object(nh: u32) -> State {
        State {
            forward: Forward::Hops(Vec::new()),
            nh,
        }
    }
}

/// What one route wants and what the kernel holds of it, named together by
/// one id. The pair of nothing wanted and nothing held is id 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Pair {
    /// A target id (0: nothing, a withdrawal).
    pub want: Ref,
    /// A kernel state id (0: nothing).
    pub have: Ref,
}

/// Targets, kernel states and their pairs by id.
#[derive(Debug, Default)]
pub struct Shared {
    /// What the RIB wants.
    pub targets: Counted<Arc<Target>>,
    /// Per target id, per family (IPv4, IPv6): the object its routes are
    /// written through (0: none), referenced.
    target_nh: Vec<[u32; 2]>,
    /// What the kernel holds.
    pub states: Counted<State>,
    /// What the routes name: each pair holds one reference to its target
    /// and one to its state.
    pairs: Counted<Pair>,
}

impl Shared {
    /// The id of `target`, held once more.
    pub fn want(&mut self, target: Arc<Target>) -> Ref {
        self.targets.intern(target)
    }

    /// Lets go of target `id` (0: none); the last holder releases the
    /// objects it was written through.
    pub fn unwant(&mut self, id: Ref, objects: &mut Option<Objects>) {
        if self.targets.release(id).is_none() {
            return;
        }
        if let Some(nh) = self.target_nh.get_mut(id as usize) {
            for n in std::mem::take(nh) {
                if let Some(o) = objects.as_mut() {
                    o.release(n);
                }
            }
        }
    }

    /// The object target `id`'s routes of one family are written through.
    pub fn target_nh(&self, id: Ref, v6: bool) -> u32 {
        self.target_nh
            .get(id as usize)
            .map_or(0, |nh| nh[usize::from(v6)])
    }

    /// Records that target `id`'s routes of one family are written
    /// through object `nh` (0: none), moving the target's reference.
    pub fn set_target_nh(&mut self, id: Ref, v6: bool, nh: u32, objects: &mut Option<Objects>) {
        if id == 0 {
            return;
        }
        let i = id as usize;
        if self.target_nh.len() <= i {
            self.target_nh.resize(i + 1, [0; 2]);
        }
        let slot = &mut self.target_nh[i][usize::from(v6)];
        if *slot != nh {
            if let Some(o) = objects.as_mut() {
                o.acquire(nh);
                o.release(*slot);
            }
            *slot = nh;
        }
    }

    /// The id of `state`, held once more; a new state through an object
    /// references it.
    pub fn state(&mut self, state: State, objects: &mut Option<Objects>) -> Ref {
        let nh = state.nh;
        let id = self.states.intern(state);
        if nh != 0 && self.states.refs(id) == 1 {
            if let Some(o) = objects.as_mut() {
                o.acquire(nh);
            }
        }
        id
    }

    /// Lets go of state `id` (0: none); the last holder releases its
    /// object.
    pub fn unstate(&mut self, id: Ref, objects: &mut Option<Objects>) {
        if let Some(State { nh, .. }) = self.states.release(id) {
            if let Some(o) = objects.as_mut() {
                o.release(nh);
            }
        }
    }

    /// The pair `id` (0: nothing wanted, nothing held).
    pub fn pair(&self, id: Ref) -> Pair {
        self.pairs.get(id).copied().unwrap_or_default()
    }

    /// The references to pair `id` (the routes naming it; 0 for a free
    /// id).
    pub fn pair_refs(&self, id: Ref) -> u32 {
        self.pairs.refs(id)
    }

    /// How many pairs are held.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// A route's pair `old` replaced by `new`: the id of `new`, held once
    /// more (a new pair holding its target and state), and `old` let go
    /// of (see [`Shared::unpair`]).
    pub fn repair(&mut self, old: Ref, new: Pair, objects: &mut Option<Objects>) -> Ref {
        if self.pair(old) == new {
            return old;
        }
        let id = if new == Pair::default() {
            0
        } else {
            let id = self.pairs.intern(new);
            if self.pairs.refs(id) == 1 {
                self.targets.acquire(new.want);
                self.states.acquire(new.have);
            }
            id
        };
        // after the new pair holds them: a target or state in both
        // stays
        self.unpair(old, objects);
        id
    }

    /// Lets go of pair `id` (0: none); the last holder releases its target
    /// and its state.
    pub fn unpair(&mut self, id: Ref, objects: &mut Option<Objects>) {
        if let Some(Pair { want, have }) = self.pairs.release(id) {
            self.unwant(want, objects);
            self.unstate(have, objects);
        }
    }

    /// Pair `id` with the target `want` instead, which the caller held:
    /// the caller's reference goes (the pair holds its own).
    pub fn with_want(&mut self, id: Ref, want: Ref, objects: &mut Option<Objects>) -> Ref {
        let Pair { have, .. } = self.pair(id);
        let new = self.repair(id, Pair { want, have }, objects);
        self.unwant(want, objects);
        new
    }

    /// Pair `id` with the kernel state `have` instead, which the caller
    /// held: the caller's reference goes (the pair holds its own).
    pub fn with_have(&mut self, id: Ref, have: Ref, objects: &mut Option<Objects>) -> Ref {
        let Pair { want, .. } = self.pair(id);
        let new = self.repair(id, Pair { want, have }, objects);
        self.unstate(have, objects);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::Hop;
    use crate::fib::route::Gateway;

    fn hop(a: &str) -> Hop {
        Hop {
            addr: a.parse().unwrap(),
            ifindex: 2,
            onlink: false,
        }
    }

    fn gw(a: &str) -> Arc<Target> {
        Arc::new(Target::Unicast(vec![Gateway::new(a.parse().unwrap())]))
    }

    fn forward(a: &str) -> State {
        State {
            forward: Forward::Hops(vec![hop(a)]),
            nh: 0,
        }
    }

    #[test]
    fn equal_pairs_share_one_id_and_hold_their_target_and_state_once() {
        let mut s = Shared::default();
        let mut objects = None;
        // two routes want one target: one pair, the target held by it
        let t = s.want(gw("198.18.0.2"));
        let a = s.with_want(0, t, &mut objects);
        let t = s.want(gw("198.18.0.2"));
        let b = s.with_want(0, t, &mut objects);
        assert_eq!((t, a, b), (1, 1, 1));
        assert_eq!(s.pair(a), Pair { want: 1, have: 0 });
        assert_eq!((s.pair_refs(a), s.targets.refs(t), s.pairs()), (2, 1, 1));
        // one of them installed: a second pair, the target held by both
        let st = s.state(forward("198.18.0.2"), &mut objects);
        let a = s.with_have(a, st, &mut objects);
        assert_eq!((st, a), (1, 2));
        assert_eq!(s.pair(a), Pair { want: 1, have: 1 });
        assert_eq!((s.pair_refs(1), s.pair_refs(2)), (1, 1));
        assert_eq!((s.targets.refs(t), s.states.refs(st)), (2, 1));
        // the same pair again changes nothing
        let st = s.state(forward("198.18.0.2"), &mut objects);
        assert_eq!(s.with_have(a, st, &mut objects), a);
        assert_eq!((s.pair_refs(a), s.states.refs(st)), (1, 1));
        // the last route of a pair frees it, and it lets go of its target
        // and state
        s.unpair(a, &mut objects);
        assert_eq!(
            (s.pair(a), s.pair_refs(a), s.pairs()),
            (Pair::default(), 0, 1)
        );
        assert_eq!((s.states.get(st), s.targets.refs(t)), (None, 1));
        s.unpair(b, &mut objects);
        assert_eq!((s.pairs(), s.targets.len(), s.states.len()), (0, 0, 0));
        // freed ids are reused, the last freed first
        let t = s.want(gw("198.18.0.3"));
        assert_eq!((t, s.with_want(0, t, &mut objects)), (1, 1));
        // nothing wanted and nothing held is id 0, never counted
        assert_eq!(s.with_want(1, 0, &mut objects), 0);
        assert_eq!(
            (s.pairs(), s.targets.len(), s.pair(0)),
            (0, 0, Pair::default())
        );
    }

    /// The calls the writer makes for one route: a change from the RIB
    /// (`apply`), a write holding its state (`flush_route`), and the
    /// kernel's answer (`send`).
    #[test]
    fn a_route_pair_follows_the_rib_and_the_kernel_answers() {
        let mut objects = Some(Objects::new(84));
        let nh1 = objects.as_mut().unwrap().lookup(&[hop("198.18.0.2")]);
        let nh2 = objects.as_mut().unwrap().lookup(&[hop("198.18.0.3")]);
        let refs = |o: &Option<Objects>, n| o.as_ref().unwrap().refs(n);
        let mut s = Shared::default();
        // the RIB wants target 1
        let t1 = s.want(gw("198.18.0.2"));
        let r = s.with_want(0, t1, &mut objects);
        assert_eq!((r, s.pair(r)), (1, Pair { want: 1, have: 0 }));
        // a write through object nh1, held by the writer's scratch and by
        // the write
        s.set_target_nh(t1, false, nh1, &mut objects);
        let w = s.state(State::via_object(nh1), &mut objects);
        s.states.acquire(w);
        s.unstate(w, &mut objects);
        assert_eq!((w, s.states.refs(w), refs(&objects, nh1)), (1, 1, 2));
        // the kernel confirms: the write's reference goes to the new pair,
        // the old pair is freed
        let r = s.with_have(r, w, &mut objects);
        assert_eq!((r, s.pair(r)), (2, Pair { want: 1, have: 1 }));
        assert_eq!((s.pairs(), s.pair_refs(1), s.pair_refs(2)), (1, 0, 1));
        assert_eq!((s.targets.refs(t1), s.states.refs(w)), (1, 1));
        // the RIB wants target 2: a new pair (the free id 1), target 1
        // freed with the old pair and its object with it; the state stays
        let t2 = s.want(gw("198.18.0.3"));
        assert_eq!(t2, 2);
        let r = s.with_want(r, t2, &mut objects);
        assert_eq!((r, s.pair(r)), (1, Pair { want: 2, have: 1 }));
        assert_eq!(
            (s.pairs(), s.targets.get(t1), s.targets.refs(t2)),
            (1, None, 1)
        );
        assert_eq!((s.states.refs(w), refs(&objects, nh1)), (1, 1));
        // a write through nh2 fails: the write's state is let go of, the
        // pair is unchanged
        s.set_target_nh(t2, false, nh2, &mut objects);
        let w2 = s.state(State::via_object(nh2), &mut objects);
        assert_eq!((w2, refs(&objects, nh2)), (2, 2));
        s.unstate(w2, &mut objects);
        assert_eq!(
            (s.pair(r), s.states.get(w2), refs(&objects, nh2)),
            (Pair { want: 2, have: 1 }, None, 1)
        );
        // withdrawn, then the delete confirmed: nothing is left
        let r = s.with_want(r, 0, &mut objects);
        assert_eq!((r, s.pair(r)), (2, Pair { want: 0, have: 1 }));
        assert_eq!((s.targets.len(), refs(&objects, nh2)), (0, 0));
        let r = s.with_have(r, 0, &mut objects);
        assert_eq!((r, s.pairs(), s.states.len()), (0, 0, 0));
        assert_eq!(refs(&objects, nh1), 0);
    }

    #[test]
    fn objects_are_held_by_states_and_targets_until_their_last_holder_goes() {
        let mut objects = Some(Objects::new(84));
        let nh = objects.as_mut().unwrap().lookup(&[hop("198.18.0.2")]);
        let refs = |o: &Option<Objects>| o.as_ref().unwrap().refs(nh);
        let mut s = Shared::default();
        // two routes in the kernel through the object: one reference
        let a = s.state(State::via_object(nh), &mut objects);
        let b = s.state(State::via_object(nh), &mut objects);
        assert_eq!((a, refs(&objects)), (b, 1));
        // a target written through it: one more
        let t = s.want(Arc::new(Target::Unreachable));
        s.set_target_nh(t, false, nh, &mut objects);
        s.set_target_nh(t, false, nh, &mut objects);
        assert_eq!((s.target_nh(t, false), s.target_nh(t, true)), (nh, 0));
        assert_eq!(refs(&objects), 2);
        s.unstate(a, &mut objects);
        assert_eq!(refs(&objects), 2);
        s.unstate(b, &mut objects);
        assert_eq!((refs(&objects), s.states.get(a)), (1, None));
        s.unwant(t, &mut objects);
        assert_eq!((refs(&objects), s.target_nh(t, false)), (0, 0));
        assert!(s.targets.is_empty());
    }
}
