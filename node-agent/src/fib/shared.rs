//! What the routes share, by id: the targets the RIB wants and the states
//! the kernel holds, so that a route names each in four bytes (see
//! [`Route`](super::table::Route)). Each id counts the routes (and writes
//! in flight) that hold it and is freed with its last holder.
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

/// Targets and kernel states by id.
#[derive(Debug, Default)]
pub struct Shared {
    /// What the RIB wants.
    pub targets: Counted<Arc<Target>>,
    /// Per target id, per family (IPv4, IPv6): the object its routes are
    /// written through (0: none), referenced.
    target_nh: Vec<[u32; 2]>,
    /// What the kernel holds.
    pub states: Counted<State>,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::Hop;

    fn hop(a: &str) -> Hop {
        Hop {
            addr: a.parse().unwrap(),
            ifindex: 2,
            onlink: false,
        }
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
