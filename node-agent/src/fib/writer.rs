//! The FIB writer task: the desired routes, what the kernel holds of
//! Twill's, and the batched writes that make the two agree.
//!
//! ```text
//!  FibHandle ---- Command (apply, sync, converged, view, shutdown) ----+
//!                                                                       v
//!  watch socket (links, addresses,        +--------------------------------------+
//!  routes and nexthop objects changed --> | Writer (own thread, current-thread   |
//!  by others)                             | tokio runtime)                        |
//!  retry timer (backoff) -------------->  | entries: prefix -> want / have        |
//!                                         | objects: nexthop objects, refs        |
//!                                         | dirty prefixes -> flush()             |
//!                                         +------------------+-------------------+
//!                                                            | batches: objects a route
//!                                                            | needs, then the route;
//!                                                            v unused objects last
//!                                                    request socket -> kernel
//! ```
//!
//! Per prefix the writer keeps what the RIB wants (`want`) and what the
//! kernel holds of Twill's (`have`, from the acknowledgements, the start-up
//! dump and the watch). Every event only marks prefixes dirty; `flush`
//! compares the two and writes the difference (level-triggered).
//!
//! A route is 4 bytes beside its prefix (see [`table`](super::table)): the
//! two flags and one id into [`Shared`]'s counted table of pairs (a target
//! id and a kernel state id, themselves ids into its counted tables of
//! targets and of kernel states), and a failure (rare) sits in a side
//! table by prefix. With
//! nexthop objects a target records the object its routes are written
//! through and a kernel state the object the kernel's route names, each
//! holding a reference, so an object is deleted only once no route wants
//! it and no route of Twill's in the kernel still names it.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use nix::errno::Errno;
use ribs::Prefix;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::counted::Ref;
use super::handle::{watch_loop, Command, WatchEvent};
use super::links::{same, Links};
use super::netlink::{
    self, Forward, Hop, RouteKey, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK,
    RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
};
use super::nexthop::{self as nh, RTM_DELNEXTHOP, RTM_GETNEXTHOP, RTM_NEWNEXTHOP};
use super::objects::{Lost, NhOp, Objects};
use super::route::{Gateway, RouteChange, Target};
use super::shared::{Pair, Shared, State};
use super::socket::{request_ack, NetlinkSocket, SocketError};
use super::table::{Id, Pass, Routes};
use super::types::{ExitMode, FibConfig, FibCounters, FibEntry, FibView, RouteError, RouteState};

const ESRCH: i32 = Errno::ESRCH as i32;
const EEXIST: i32 = Errno::EEXIST as i32;

struct Failure {
    error: RouteError,
    attempts: u32,
    retry_at: Instant,
}

enum Op {
    /// Create or replace (`bool`) with this kernel state, held by the
    /// write until its answer.
    New(Ref, bool),
    Del,
}

/// What woke the writer's loop.
enum Wake {
    Command(Option<Command>),
    Watch(Option<WatchEvent>),
    Retry,
}

/// What the last route of a flush was computed to need, for the next one
/// with the same target (a whole table shares one): links and objects do
/// not change during one pass over the dirty routes.
#[derive(Default)]
struct Last {
    valid: bool,
    target: Ref,
    v6: bool,
    /// The object for the target (0: none; with nexthop objects).
    nh: u32,
    /// The kernel state to write (0: nothing usable), held.
    state: Ref,
}

/// One message of a batch.
enum Item {
    Route(Id, Prefix, Op),
    Nexthop(u32, NhOp),
}

pub(super) struct Writer {
    config: FibConfig,
    pub(super) key: RouteKey,
    req: NetlinkSocket,
    links: Links,
    routes: Routes,
    /// The targets and kernel states the routes name.
    shared: Shared,
    /// The routes whose last write failed, and when to retry them.
    failed: HashMap<Prefix, Failure>,
    /// Every gateway the RIB has asked for (kept: they are few).
    gateways: HashSet<Gateway>,
    /// Twill's nexthop objects; `None`: the next hops are written into
    /// each route (`RTA_GATEWAY` / `RTA_MULTIPATH`).
    objects: Option<Objects>,
    /// The kernel's nexthop objects must be read again (a link went down
    /// and the kernel removed objects, or someone else changed one).
    nh_resync: bool,
    converged: bool,
    resync: bool,
    /// The commands, while the writer runs: a flush takes the changes
    /// that arrived meanwhile between its batches, so that a table
    /// arriving during a long write waits in the table (its final form),
    /// not also in the channel.
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// A command other than a change met between batches: handled first
    /// by the loop (it must see every change sent before it, and no later
    /// one before it).
    held: Option<Command>,
    counters: FibCounters,
    buf: Vec<u8>,
    hops: Vec<Hop>,
}

impl Writer {
    fn new(config: FibConfig, req: NetlinkSocket) -> Self {
        Writer {
            key: RouteKey {
                protocol: config.protocol,
                table: config.table,
                metric: config.metric,
            },
            config,
            req,
            links: Links::default(),
            routes: Routes::default(),
            shared: Shared::default(),
            failed: HashMap::new(),
            gateways: HashSet::new(),
            objects: None,
            nh_resync: false,
            converged: false,
            resync: false,
            commands: None,
            held: None,
            counters: FibCounters::default(),
            buf: Vec::with_capacity(1 << 17),
            hops: Vec::new(),
        }
    }

    /// A writer on the request socket `req`: detects nexthop objects (an
    /// `RTM_GETNEXTHOP` dump; `EOPNOTSUPP` or `EINVAL` before Linux 5.3
    /// means `RTA_MULTIPATH`) and reads the kernel's state.
    pub(super) fn start(config: FibConfig, req: NetlinkSocket) -> Result<Self, SocketError> {
        if let Some(n) = config.receive_buffer {
            req.set_receive_buffer(n)?;
        }
        let mut w = Writer::new(config, req);
        if w.config.nexthop_objects {
            match w.req.dump(RTM_GETNEXTHOP, |_| {}) {
                Ok(()) => w.objects = Some(Objects::new(w.key.protocol)),
                Err(SocketError::Dump(e))
                    if e == Errno::EOPNOTSUPP as i32 || e == Errno::EINVAL as i32 =>
                {
                    info!("FIB: no nexthop objects in this kernel, next hops in each route")
                }
                Err(e) => return Err(e),
            }
        }
        w.load()?;
        info!(
            stale = w.routes.len(),
            nexthop_objects = w.objects.as_ref().map(|o| o.len()),
            protocol = w.key.protocol,
            table = w.key.table,
            "FIB writer started"
        );
        Ok(w)
    }

    /// Reads the kernel's nexthop objects into the table; returns those
    /// of Twill's that are gone.
    fn load_nexthops(&mut self) -> Result<Lost, SocketError> {
        let Some(objects) = &mut self.objects else {
            return Ok(Lost::default());
        };
        let mut dump = Vec::new();
        self.req.dump(RTM_GETNEXTHOP, |m| {
            if let Some(n) = nh::parse_nexthop(m.payload) {
                dump.push(n);
            }
        })?;
        Ok(objects.reconcile(self.key.protocol, dump))
    }

    /// Re-reads the nexthop objects; the routes through one the kernel
    /// removed (with a link that went down) went with it.
    fn resync_nexthops(&mut self) {
        self.nh_resync = false;
        let lost = match self.load_nexthops() {
            Ok(lost) => lost,
            Err(e) => {
                warn!("FIB: re-reading nexthop objects failed: {e}");
                self.resync = true;
                return;
            }
        };
        if lost == Lost::default() {
            return;
        }
        // the states through a lost object, and what they become
        let mut remap: HashMap<Ref, Ref> = HashMap::new();
        let hit: Vec<(Ref, State)> = self
            .shared
            .states
            .iter()
            .filter(|(_, s)| lost.gone.contains(&s.nh) || lost.taken.contains(&s.nh))
            .map(|(id, s)| (id, s.clone()))
            .collect();
        for (id, s) in hit {
            let new = if lost.gone.contains(&s.nh) {
                0
            } else {
                let forward = s.forward;
                self.shared
                    .state(State { forward, nh: 0 }, &mut self.objects)
            };
            remap.insert(id, new);
        }
        let (shared, objects) = (&mut self.shared, &mut self.objects);
        let mut routes = 0;
        // (no state named a lost object: no route to look at)
        if !remap.is_empty() {
            self.routes.for_each(|_, r| {
                let Some(&new) = remap.get(&shared.pair(r.pair()).have) else {
                    return false;
                };
                shared.states.acquire(new);
                r.set_pair(shared.with_have(r.pair(), new, objects));
                routes += 1;
                true
            });
        }
        for new in remap.into_values() {
            shared.unstate(new, objects);
        }
        debug!(
            gone = lost.gone.len(),
            taken = lost.taken.len(),
            routes,
            "FIB: nexthop objects removed by the kernel"
        );
    }

    fn ours(&self, r: &netlink::KernelRoute) -> bool {
        r.protocol == self.key.protocol && r.table == self.key.table
    }

    /// Reads links, addresses and Twill's routes from the kernel. Routes
    /// the writer does not know become stale before convergence, and are
    /// removed after it.
    fn load(&mut self) -> Result<(), SocketError> {
        self.links = Links::default();
        let links = &mut self.links;
        self.req.dump(RTM_GETLINK, |m| {
            if let Some((i, f)) = netlink::parse_link(m.payload) {
                links.set_link(i, f);
            }
        })?;
        self.req.dump(RTM_GETADDR, |m| {
            if let Some((p, i)) = netlink::parse_addr(m.payload) {
                links.add_connected(p, i);
            }
        })?;
        self.load_nexthops()?;
        let mut found: Vec<(Prefix, Ref)> = Vec::new();
        let (protocol, table) = (self.key.protocol, self.key.table);
        let (shared, objects) = (&mut self.shared, &mut self.objects);
        let dumped = self.req.dump(RTM_GETROUTE, |m| {
            if let Some(r) = netlink::parse_route(m.payload) {
                if r.protocol == protocol && r.table == table {
                    let state = State::of_route(&r, objects.as_ref());
                    found.push((r.prefix, shared.state(state, objects)));
                }
            }
        });
        if let Err(e) = dumped {
            for (_, s) in found {
                shared.unstate(s, objects);
            }
            return Err(e);
        }
        self.routes.for_each(|_, r| {
            r.set_pair(shared.with_have(r.pair(), 0, objects));
            false
        });
        for (prefix, state) in found {
            let known = self.routes.find(&prefix).is_some();
            let id = self.routes.upsert(&prefix);
            let Some((_, mut r)) = self.routes.get(id) else {
                shared.unstate(state, objects);
                continue;
            };
            if !known {
                r.set_stale(!self.converged);
            }
            r.set_pair(shared.with_have(r.pair(), state, objects));
            self.routes.set(id, r);
        }
        self.mark_all();
        Ok(())
    }

    fn mark_all(&mut self) {
        self.routes.for_each(|_, _| true);
    }

    /// Queues `prefix`'s route, if known.
    fn mark_prefix(&mut self, prefix: &Prefix) {
        if let Some(id) = self.routes.find(prefix) {
            self.routes.mark(id);
        }
    }

    fn apply(&mut self, changes: Vec<RouteChange>) {
        let mut last: Ref = 0;
        for c in changes {
            let want = match c.target {
                Some(t) => self.shared.want(t),
                None => 0,
            };
            if want != last {
                if let Some(Target::Unicast(gws)) = self.shared.targets.get(want).map(|t| &**t) {
                    for g in gws {
                        if !self.gateways.contains(g) {
                            self.gateways.insert(*g);
                        }
                    }
                }
                last = want;
            }
            let id = self.routes.upsert(&c.prefix);
            let Some((_, mut r)) = self.routes.get(id) else {
                self.shared.unwant(want, &mut self.objects);
                continue;
            };
            r.set_stale(false);
            r.set_pair(self.shared.with_want(r.pair(), want, &mut self.objects));
            self.routes.set(id, r);
            if !self.failed.is_empty() {
                self.failed.remove(&c.prefix);
            }
            self.routes.mark(id);
        }
    }

    /// Applies the changes waiting in the channel, up to the first other
    /// command (kept in `held` for the loop). Between batches only: no
    /// write is in flight. A change of a prefix this flush has passed is
    /// written by the next one.
    fn take_changes(&mut self) {
        let Some(mut rx) = self.commands.take() else {
            return;
        };
        while self.held.is_none() {
            match rx.try_recv() {
                Ok(Command::Apply(changes)) => self.apply(changes),
                Ok(other) => self.held = Some(other),
                Err(_) => break,
            }
        }
        self.commands = Some(rx);
    }

    fn sweep(&mut self) -> u64 {
        self.converged = true;
        if let Some(o) = &mut self.objects {
            o.mark_all();
        }
        let mut n = 0;
        self.routes.for_each(|_, r| {
            let stale = r.stale();
            r.set_stale(false);
            n += u64::from(stale);
            stale
        });
        self.flush();
        self.counters.swept += n;
        info!(removed = n, "FIB: stale routes swept after convergence");
        n
    }

    /// Writes every dirty prefix whose kernel state differs from the
    /// wanted one, in batches. When answers were lost (or the watch
    /// overflowed), re-reads the kernel's table and writes again (at most
    /// three rounds; the retry timer and the next event do the rest).
    fn flush(&mut self) {
        if self.nh_resync {
            self.resync_nexthops();
        }
        self.flush_all();
        for _ in 0..3 {
            if !self.resync {
                return;
            }
            self.resync = false;
            self.counters.resyncs += 1;
            warn!("FIB: answers or notifications lost, re-reading the kernel table");
            if let Err(e) = self.load() {
                warn!("FIB: re-read failed: {e}");
                self.resync = true;
                return;
            }
            // what the re-read found is compared (and written) at once:
            // nothing stays queued
            self.flush_all();
        }
    }

    /// Passes until nothing is dirty: the changes taken between the
    /// batches of a pass (see [`Writer::take_changes`]) are written by the
    /// next one, not left for the next event.
    fn flush_all(&mut self) {
        loop {
            let taken = self.flush_once();
            // (nothing taken with routes queued would be a bookkeeping
            // fault: never loop on it)
            if self.routes.queued() == 0 || self.resync || taken == 0 {
                return;
            }
        }
    }

    /// One pass over the queued routes: in the order they were queued, or
    /// when there were many IPv4 then IPv6 in bucket order. Returns how
    /// many routes it took off the queue.
    fn flush_once(&mut self) -> usize {
        let mut taken = 0;
        let mut batch: Vec<Item> = Vec::with_capacity(self.config.batch + 8);
        let mut nh_ops: Vec<(u32, NhOp)> = Vec::new();
        // Objects in use that changed (a link came back): before any route.
        if let Some(o) = &mut self.objects {
            o.take_dirty(&self.links, self.converged, false, &mut nh_ops);
            batch.extend(nh_ops.drain(..).map(|(id, op)| Item::Nexthop(id, op)));
        }
        let mut last = Last::default();
        match self.routes.take_pass() {
            Pass::List(list) => {
                for prefix in list {
                    let Some(id) = self.routes.take_queued(&prefix) else {
                        continue;
                    };
                    taken += 1;
                    self.flush_route(id, &mut last, &mut batch, &mut nh_ops);
                    self.batch_full(&mut batch, &mut last);
                }
            }
            Pass::Walk => {
                for v6 in [false, true] {
                    let mut moves = self.routes.moves(v6);
                    let mut from = 0;
                    while let Some(bucket) = self.routes.pop_queued(v6, from) {
                        from = bucket + 1;
                        taken += 1;
                        let id = Id {
                            v6,
                            bucket: bucket as u32,
                        };
                        self.flush_route(id, &mut last, &mut batch, &mut nh_ops);
                        self.batch_full(&mut batch, &mut last);
                        if self.routes.moves(v6) != moves {
                            // the table grew: its buckets are new, walk again
                            moves = self.routes.moves(v6);
                            from = 0;
                        }
                    }
                }
            }
        }
        if !batch.is_empty() {
            self.send(&mut batch);
        }
        self.drop_last(&mut last);
        // Objects no longer used, once the routes' changes are answered:
        // groups first, their members with the next round.
        for _ in 0..3 {
            let Some(o) = self.objects.as_mut().filter(|o| o.has_dirty()) else {
                break;
            };
            o.take_dirty(&self.links, self.converged, true, &mut nh_ops);
            batch.extend(nh_ops.drain(..).map(|(id, op)| Item::Nexthop(id, op)));
            if batch.is_empty() {
                break;
            }
            self.send(&mut batch);
        }
        taken
    }

    /// Sends a full batch, then takes the changes that arrived meanwhile.
    fn batch_full(&mut self, batch: &mut Vec<Item>, last: &mut Last) {
        if batch.len() < self.config.batch {
            return;
        }
        self.send(batch);
        // an object refused in the batch is chosen again
        self.drop_last(last);
        self.take_changes();
    }

    /// Lets go of what `last` holds.
    fn drop_last(&mut self, last: &mut Last) {
        let state = std::mem::take(last).state;
        self.shared.unstate(state, &mut self.objects);
    }

    /// What routes wanting target `want` in one family need now (links
    /// and objects do not change during one pass over the dirty routes).
    fn compute_last(&mut self, want: Ref, v6: bool) -> Last {
        let target = self.shared.targets.get(want).cloned();
        let mut nh = 0;
        // The object for the wanted next hops: every interface known (the
        // kernel needs one) and no IPv4 next hop for IPv6.
        if let (Some(o), Some(Target::Unicast(gws))) = (&mut self.objects, target.as_deref()) {
            self.hops.clear();
            self.hops.extend(gws.iter().map(|g| self.links.locate(g)));
            if self
                .hops
                .iter()
                .all(|h| h.ifindex != 0 && (!v6 || h.addr.is_ipv6()))
            {
                self.hops.sort_unstable();
                self.hops.dedup();
                nh = o.lookup(&self.hops);
            }
        }
        self.shared.set_target_nh(want, v6, nh, &mut self.objects);
        let state = if nh != 0 {
            self.shared.state(State::via_object(nh), &mut self.objects)
        } else {
            match target.and_then(|t| self.links.forward(&t)) {
                Some(forward) => self
                    .shared
                    .state(State { forward, nh: 0 }, &mut self.objects),
                None => 0,
            }
        };
        Last {
            valid: true,
            target: want,
            v6,
            nh,
            state,
        }
    }

    /// Compares route `id` (just taken off the queue) with the kernel and
    /// adds the write it needs to `batch`.
    fn flush_route(
        &mut self,
        id: Id,
        last: &mut Last,
        batch: &mut Vec<Item>,
        nh_ops: &mut Vec<(u32, NhOp)>,
    ) {
        let Some((prefix, r)) = self.routes.get(id) else {
            return;
        };
        if r.stale() {
            return;
        }
        let pair = self.shared.pair(r.pair());
        if !(last.valid && last.target == pair.want && last.v6 == id.v6) {
            self.drop_last(last);
            *last = self.compute_last(pair.want, id.v6);
        }
        let want_nh = last.nh;
        let have = self.shared.states.get(pair.have);
        let op = match &mut self.objects {
            Some(o) if want_nh != 0 => {
                if !o.usable(want_nh, &self.links) {
                    have.is_some().then_some(Op::Del)
                } else if have.is_some_and(|h| h.nh == want_nh) && o.present(want_nh) {
                    None
                } else {
                    o.ensure(want_nh, &self.links, nh_ops);
                    batch.extend(nh_ops.drain(..).map(|(id, op)| Item::Nexthop(id, op)));
                    Some(Op::New(last.state, have.is_some()))
                }
            }
            _ => match (last.state, have) {
                (0, Some(_)) => Some(Op::Del),
                (0, None) => None,
                (w, Some(h))
                    if h.nh == 0
                        && (w == pair.have
                            || self
                                .shared
                                .states
                                .get(w)
                                .is_some_and(|w| same(&w.forward, &h.forward))) =>
                {
                    None
                }
                (w, have) => Some(Op::New(w, have.is_some())),
            },
        };
        match op {
            Some(op) => {
                if let Op::New(state, _) = op {
                    self.shared.states.acquire(state);
                }
                batch.push(Item::Route(id, prefix, op));
            }
            None => {
                if pair == Pair::default() {
                    self.forget(id, &prefix);
                } else if !self.failed.is_empty() {
                    self.failed.remove(&prefix);
                }
            }
        }
    }

    fn encode(&mut self, batch: &[Item]) -> u32 {
        let first = self.req.next_seqs(batch.len() as u32);
        self.buf.clear();
        let mut last_start = 0;
        let key = &self.key;
        let states = &self.shared.states;
        let none = Forward::Hops(Vec::new());
        for (i, item) in batch.iter().enumerate() {
            last_start = self.buf.len();
            let seq = first.wrapping_add(i as u32);
            let buf = &mut self.buf;
            match item {
                Item::Route(_, prefix, Op::New(state, replace)) => match states.get(*state) {
                    Some(State { nh: 0, forward }) => {
                        netlink::new_route(buf, seq, key, prefix, forward, *replace)
                    }
                    Some(State { nh, .. }) => {
                        nh::new_route_via_object(buf, seq, key, prefix, *nh, *replace)
                    }
                    // held by the write: never missing
                    None => netlink::new_route(buf, seq, key, prefix, &none, *replace),
                },
                Item::Route(_, prefix, Op::Del) => netlink::del_route(buf, seq, key, prefix),
                Item::Nexthop(id, NhOp::Hop(hop, replace)) => {
                    nh::new_hop(buf, seq, key.protocol, *id, hop, *replace)
                }
                Item::Nexthop(id, NhOp::Group(members, replace)) => {
                    nh::new_group(buf, seq, key.protocol, *id, members, *replace)
                }
                Item::Nexthop(id, NhOp::Del) => nh::del_nexthop(buf, seq, *id),
            }
        }
        request_ack(&mut self.buf, last_start);
        first
    }

    fn send(&mut self, batch: &mut Vec<Item>) {
        let first = self.encode(batch);
        let mut errors: Vec<(usize, i32)> = Vec::new();
        let r = self
            .req
            .send_batch(&self.buf, first, batch.len(), |i, e| errors.push((i, e)));
        if let Err(e) = r {
            // Which writes took is learnt from the re-read; the routes are
            // retried (with backoff) in case the re-read cannot tell.
            warn!("FIB: batch of {} not confirmed: {e}", batch.len());
            self.resync = true;
            let now = Instant::now();
            for item in batch.drain(..) {
                if let Item::Route(_, prefix, op) = item {
                    if let Op::New(state, _) = op {
                        self.shared.unstate(state, &mut self.objects);
                    }
                    self.fail(&prefix, RouteError::Unconfirmed, now);
                }
            }
            return;
        }
        errors.sort_unstable();
        let mut errs = errors.into_iter().peekable();
        let now = Instant::now();
        for (i, item) in batch.drain(..).enumerate() {
            let err = match errs.peek() {
                Some(&(j, e)) if j == i => {
                    errs.next();
                    Some(e)
                }
                _ => None,
            };
            let (id, prefix, op) = match item {
                Item::Route(id, prefix, op) => (id, prefix, op),
                Item::Nexthop(id, op) => {
                    if let Some(o) = &mut self.objects {
                        o.written(id, &op, err);
                    }
                    match err {
                        None => self.counters.nexthops += 1,
                        Some(_) => self.counters.errors += 1,
                    }
                    continue;
                }
            };
            // no entry moved since the batch was made; checked all the same
            let id = match self.routes.get(id) {
                Some((p, _)) if p == prefix => Some(id),
                _ => self.routes.find(&prefix),
            };
            let Some((id, mut r)) = id.and_then(|id| Some((id, self.routes.get(id)?.1))) else {
                if let Op::New(state, _) = op {
                    self.shared.unstate(state, &mut self.objects);
                }
                continue;
            };
            let error = match (op, err) {
                (Op::New(state, _), None) => {
                    // the write's reference to `state` goes to the pair
                    r.set_pair(self.shared.with_have(r.pair(), state, &mut self.objects));
                    self.counters.installed += 1;
                    None
                }
                (Op::Del, None) | (Op::Del, Some(ESRCH)) => {
                    r.set_pair(self.shared.with_have(r.pair(), 0, &mut self.objects));
                    self.counters.removed += 1;
                    None
                }
                (op, Some(errno)) => {
                    let conflict = matches!(op, Op::New(_, false)) && errno == EEXIST;
                    if let Op::New(state, _) = op {
                        self.shared.unstate(state, &mut self.objects);
                    }
                    if conflict {
                        self.counters.conflicts += 1;
                        warn!(%prefix, "FIB conflict: a route of another protocol holds the prefix");
                        Some(RouteError::Conflict)
                    } else {
                        debug!(%prefix, errno, "FIB write failed");
                        Some(RouteError::Kernel(Errno::from_raw(errno)))
                    }
                }
            };
            self.routes.set(id, r);
            match error {
                None => {
                    if r.pair() == 0 && !r.stale() && !r.queued() {
                        self.forget(id, &prefix);
                    } else if !self.failed.is_empty() {
                        self.failed.remove(&prefix);
                    }
                }
                Some(error) => self.fail(&prefix, error, now),
            }
        }
    }

    /// Drops the entry `id` (nothing wanted, nothing installed), and its
    /// failure if any.
    fn forget(&mut self, id: Id, prefix: &Prefix) {
        self.routes.remove(id);
        if !self.failed.is_empty() {
            self.failed.remove(prefix);
        }
    }

    /// Records a failed write of `prefix`'s route and when to retry it.
    fn fail(&mut self, prefix: &Prefix, error: RouteError, now: Instant) {
        if self.routes.find(prefix).is_none() {
            return;
        }
        self.counters.errors += 1;
        let attempts = self.failed.get(prefix).map_or(0, |f| f.attempts) + 1;
        let delay = self
            .config
            .retry_min
            .saturating_mul(1 << (attempts - 1).min(16))
            .min(self.config.retry_max);
        self.failed.insert(
            *prefix,
            Failure {
                error,
                attempts,
                retry_at: now + delay,
            },
        );
    }

    /// Queues the failed routes whose retry time has come; returns the
    /// next retry time.
    fn due_retries(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut due = Vec::new();
        for (prefix, f) in &self.failed {
            if f.retry_at <= now {
                due.push(*prefix);
            } else {
                next = Some(next.map_or(f.retry_at, |n| n.min(f.retry_at)));
            }
        }
        for prefix in due {
            self.mark_prefix(&prefix);
        }
        next
    }
    fn next_retry(&self) -> Option<Instant> {
        self.failed.values().map(|f| f.retry_at).min()
    }

    /// Applies a change of links or addresses, and queues the routes with
    /// a next hop whose interface or usability it changed. Other events (a
    /// pod's veth coming and going) cost a look at the few distinct
    /// gateways, not at every route.
    fn links_changed(&mut self, change: impl FnOnce(&mut Links) -> bool) {
        let before: Vec<(Gateway, Option<netlink::Hop>)> = self
            .gateways
            .iter()
            .map(|g| (*g, self.links.resolve(g)))
            .collect();
        if !change(&mut self.links) {
            return;
        }
        let changed: HashSet<Gateway> = before
            .into_iter()
            .filter(|(g, hop)| self.links.resolve(g) != *hop)
            .map(|(g, _)| g)
            .collect();
        if changed.is_empty() {
            return;
        }
        if let Some(o) = &mut self.objects {
            // The kernel removes the objects of a link that goes down (and
            // shrinks their groups); learn what it did before writing.
            o.mark_all();
            self.nh_resync = true;
        }
        let hit: HashSet<Ref> = self
            .shared
            .targets
            .iter()
            .filter(|(_, t)| match &***t {
                Target::Unicast(gws) => gws.iter().any(|g| changed.contains(g)),
                Target::Unreachable => false,
            })
            .map(|(id, _)| id)
            .collect();
        if hit.is_empty() {
            return;
        }
        let shared = &self.shared;
        self.routes
            .for_each(|_, r| hit.contains(&shared.pair(r.pair()).want));
    }

    /// One notification from the watch socket (changes by others only: the
    /// socket's filter drops the echo of Twill's own requests).
    fn event(&mut self, m: netlink::Message<'_>) {
        match m.kind {
            RTM_NEWLINK => {
                if let Some((i, f)) = netlink::parse_link(m.payload) {
                    self.links_changed(|links| {
                        let changed = links.set_link(i, f);
                        if changed {
                            info!(ifindex = i, usable = links.usable(i), "FIB: link changed");
                        }
                        changed
                    });
                }
            }
            RTM_DELLINK => {
                if let Some((i, _)) = netlink::parse_link(m.payload) {
                    self.links_changed(|links| links.remove_link(i));
                }
            }
            RTM_NEWADDR | RTM_DELADDR => {
                if let Some((p, i)) = netlink::parse_addr(m.payload) {
                    let add = m.kind == RTM_NEWADDR;
                    self.links_changed(|links| {
                        if add {
                            links.add_connected(p, i)
                        } else {
                            links.remove_connected(p, i)
                        }
                    });
                }
            }
            RTM_NEWROUTE | RTM_DELROUTE => {
                let Some(r) = netlink::parse_route(m.payload) else {
                    return;
                };
                if r.table != self.key.table {
                    return;
                }
                let ours = self.ours(&r);
                let replaced = m.flags & netlink::NLM_F_REPLACE != 0;
                let Some(id) = self.routes.find(&r.prefix) else {
                    return;
                };
                let Some((_, mut e)) = self.routes.get(id) else {
                    return;
                };
                let (shared, objects) = (&mut self.shared, &mut self.objects);
                let pair = shared.pair(e.pair());
                match (m.kind, ours) {
                    // Twill's route deleted by someone else (or flushed by
                    // the kernel): forget it; flush puts it back.
                    (RTM_DELROUTE, true) => {
                        if pair.have != 0 && pair.want != 0 {
                            self.counters.restored += 1;
                            info!(prefix = %r.prefix, "FIB: route deleted by someone else, restoring");
                        }
                        e.set_pair(shared.with_have(e.pair(), 0, objects));
                    }
                    // Someone wrote a route with Twill's protocol number.
                    (RTM_NEWROUTE, true) => {
                        if pair.want != 0 {
                            self.counters.restored += 1;
                        }
                        let state = State::of_route(&r, objects.as_ref());
                        let new = shared.state(state, objects);
                        e.set_pair(shared.with_have(e.pair(), new, objects));
                    }
                    // A route of another protocol replaced Twill's.
                    (RTM_NEWROUTE, false) if replaced && pair.have != 0 => {
                        e.set_pair(shared.with_have(e.pair(), 0, objects));
                    }
                    _ => return,
                }
                self.routes.set(id, e);
                self.routes.mark(id);
            }
            // Someone else changed a nexthop object (the kernel's own
            // removals on link down are not notified).
            RTM_NEWNEXTHOP | RTM_DELNEXTHOP if self.objects.is_some() => self.nh_resync = true,
            _ => {}
        }
    }

    fn view(&self) -> FibView {
        let mut entries: Vec<FibEntry> = self
            .routes
            .iter()
            .map(|(prefix, r)| {
                let pair = self.shared.pair(r.pair());
                let target = self.shared.targets.get(pair.want);
                let state = if let Some(f) = self.failed.get(&prefix) {
                    RouteState::Failed {
                        error: f.error.clone(),
                        attempts: f.attempts,
                    }
                } else if r.stale() {
                    RouteState::Stale
                } else if r.queued() {
                    RouteState::Pending
                } else if target.is_some_and(|t| self.links.forward(t).is_none()) {
                    RouteState::Unusable
                } else {
                    RouteState::Installed
                };
                let installed = match (self.shared.states.get(pair.have), &self.objects) {
                    (Some(s), Some(o)) if s.nh != 0 => o.forward(s.nh),
                    (s, _) => s.map(|s| s.forward.clone()),
                };
                FibEntry {
                    prefix,
                    target: target.map(|t| (**t).clone()),
                    installed,
                    state,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.prefix);
        FibView {
            entries,
            counters: self.counters.clone(),
            nexthop_objects: self.objects.as_ref().map(|o| o.len()),
            table_bytes: self.routes.allocation_size(),
            pairs: self.shared.pairs(),
        }
    }

    /// Handles one batch from the watch thread.
    fn watched(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Messages(msgs) => {
                for (kind, flags, payload) in &msgs {
                    self.event(netlink::Message {
                        kind: *kind,
                        flags: *flags,
                        seq: 0,
                        payload,
                    });
                }
            }
            WatchEvent::Overflow => self.resync = true,
        }
    }

    pub(super) async fn run(mut self, watch: NetlinkSocket, rx: mpsc::UnboundedReceiver<Command>) {
        let (watch_tx, mut watch_rx) = mpsc::unbounded_channel();
        if let Err(e) = std::thread::Builder::new()
            .name("twill-fib-watch".into())
            .spawn(move || watch_loop(watch, watch_tx))
        {
            warn!("FIB watch thread: {e}");
            return;
        }
        self.commands = Some(rx);
        self.flush();
        let mut exit = ExitMode::LeaveRoutes;
        let mut done: Option<oneshot::Sender<()>> = None;
        let mut replies: Vec<Command> = Vec::new();
        'run: loop {
            let next = self.next_retry();
            let sleep = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let wake = match self.held.take() {
                Some(cmd) => Wake::Command(Some(cmd)),
                None => {
                    let Some(rx) = self.commands.as_mut() else {
                        break 'run;
                    };
                    tokio::select! {
                        cmd = rx.recv() => Wake::Command(cmd),
                        event = watch_rx.recv() => Wake::Watch(event),
                        () = sleep => Wake::Retry,
                    }
                }
            };
            match wake {
                Wake::Command(cmd) => {
                    let Some(mut cmd) = cmd else { break 'run };
                    loop {
                        match cmd {
                            Command::Apply(changes) => self.apply(changes),
                            Command::Shutdown(mode, tx) => {
                                exit = mode;
                                done = Some(tx);
                                break 'run;
                            }
                            other => replies.push(other),
                        }
                        match self.commands.as_mut().map(|rx| rx.try_recv()) {
                            Some(Ok(c)) => cmd = c,
                            _ => break,
                        }
                    }
                }
                Wake::Watch(event) => {
                    let Some(event) = event else { break 'run };
                    self.watched(event);
                }
                Wake::Retry => {
                    self.due_retries();
                }
            }
            // Changes by others that arrived meanwhile, then the writes.
            while let Ok(event) = watch_rx.try_recv() {
                self.watched(event);
            }
            self.flush();
            for r in replies.drain(..) {
                match r {
                    Command::Sync(tx) => {
                        let _ = tx.send(());
                    }
                    Command::Converged(tx) => {
                        let _ = tx.send(self.sweep());
                    }
                    Command::View(tx) => {
                        let _ = tx.send(self.view());
                    }
                    Command::Apply(_) | Command::Shutdown(..) => {}
                }
            }
        }
        // Changes sent after the shutdown are not taken.
        self.commands = None;
        while let Ok(event) = watch_rx.try_recv() {
            self.watched(event);
        }
        self.flush();
        for r in replies.drain(..) {
            if let Command::Sync(tx) = r {
                let _ = tx.send(());
            }
        }
        if exit == ExitMode::RemoveRoutes {
            let (shared, objects) = (&mut self.shared, &mut self.objects);
            self.routes.for_each(|_, r| {
                r.set_pair(shared.with_want(r.pair(), 0, objects));
                r.set_stale(false);
                true
            });
            self.converged = true;
            if let Some(o) = &mut self.objects {
                o.mark_all();
            }
            self.flush();
            info!("FIB writer stopped, Twill's routes removed");
        } else {
            info!(
                routes = self.routes.len(),
                "FIB writer stopped, routes left in place"
            );
        }
        if let Some(tx) = done {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_change_is_a_few_words() {
        // the prefix and one shared handle
        assert_eq!(std::mem::size_of::<RouteChange>(), 32);
    }
}
