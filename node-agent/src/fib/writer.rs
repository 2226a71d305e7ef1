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
//! compares the two and writes the difference (level-triggered). With
//! nexthop objects a route also names the object it wants (`want_nh`) and
//! the one the kernel's route names (`nh`); both hold a reference, so an
//! object is deleted only once no route wants it and no route of Twill's
//! in the kernel still names it.
//!
//! An entry is a few words with no allocation of its own: `want` is the
//! `Arc<Target>` the change brought (one per next-hop set, see
//! [`Targets`](super::Targets)), `have` an interned `Arc<Forward>`, and a
//! failure (rare) sits in a side table. With the prefix, a slab slot is 48
//! bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use nix::errno::Errno;
use ribs::Prefix;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::handle::{watch_loop, Command, WatchEvent};
use super::intern::Interner;
use super::links::{same, Links};
use super::netlink::{
    self, Forward, Hop, RouteKey, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK,
    RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
};
use super::nexthop::{self as nh, RTM_DELNEXTHOP, RTM_GETNEXTHOP, RTM_NEWNEXTHOP};
use super::objects::{Lost, NhOp, Objects};
use super::route::{Gateway, RouteChange, Target};
use super::socket::{request_ack, NetlinkSocket, SocketError};
use super::table::{Id, Keyed, Table};
use super::types::{ExitMode, FibConfig, FibCounters, FibEntry, FibView, RouteError, RouteState};

const ESRCH: i32 = Errno::ESRCH as i32;
const EEXIST: i32 = Errno::EEXIST as i32;

struct Failure {
    error: RouteError,
    attempts: u32,
    retry_at: Instant,
}

/// What the writer knows of one prefix.
pub(super) struct Entry {
    /// The key (not changed while in the table).
    prefix: Prefix,
    /// What the RIB wants, shared with the other routes of its next hops.
    want: Option<Arc<Target>>,
    /// What the kernel holds of Twill's (interned); through a nexthop
    /// object: the writer's placeholder (`nh` tells which object).
    have: Option<Arc<Forward>>,
    /// The nexthop object `want` is written through (0: none), referenced.
    want_nh: u32,
    /// The nexthop object the kernel's route names (0: none), referenced.
    nh: u32,
    stale: bool,
    queued: bool,
}

impl Keyed for Entry {
    fn new(prefix: Prefix) -> Self {
        Entry {
            prefix,
            want: None,
            have: None,
            want_nh: 0,
            nh: 0,
            stale: false,
            queued: false,
        }
    }

    fn prefix(&self) -> &Prefix {
        &self.prefix
    }
}

enum Op {
    /// Create or replace (`bool`), with next hops or through a nexthop
    /// object (its id; 0: the hops in the route).
    New(Arc<Forward>, u32, bool),
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
    target: Option<Arc<Target>>,
    v6: bool,
    /// The object for the target (0: none; with nexthop objects).
    nh: u32,
    /// The usable next hops (without nexthop objects).
    forward: Option<Arc<Forward>>,
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
    pub(super) entries: Table<Entry>,
    dirty: Vec<Id>,
    /// The routes whose last write failed, and when to retry them.
    failed: HashMap<Id, Failure>,
    /// What the kernel holds, interned: the routes through one next-hop
    /// set share one.
    forwards: Interner<Forward>,
    /// `have` of a route through a nexthop object.
    via_object: Arc<Forward>,
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
            entries: Table::default(),
            dirty: Vec::new(),
            failed: HashMap::new(),
            forwards: Interner::default(),
            via_object: Arc::new(Forward::Hops(Vec::new())),
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
            stale = w.entries.len(),
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
        let mut hit = Vec::new();
        for (id, _, e) in self.entries.iter_mut() {
            if e.nh == 0 {
                continue;
            }
            if lost.gone.contains(&e.nh) {
                e.have = None;
            } else if !lost.taken.contains(&e.nh) {
                continue;
            }
            hit.push((id, std::mem::take(&mut e.nh)));
        }
        debug!(
            gone = lost.gone.len(),
            taken = lost.taken.len(),
            routes = hit.len(),
            "FIB: nexthop objects removed by the kernel"
        );
        for (id, nh) in hit {
            if let Some(o) = &mut self.objects {
                o.release(nh);
            }
            self.mark(id);
        }
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
        let mut found = HashMap::new();
        let (protocol, table) = (self.key.protocol, self.key.table);
        let forwards = &mut self.forwards;
        self.req.dump(RTM_GETROUTE, |m| {
            if let Some(r) = netlink::parse_route(m.payload) {
                if r.protocol == protocol && r.table == table {
                    let (fwd, _) = forwards.intern(r.forward());
                    found.insert(r.prefix, (fwd, r.nh_id.unwrap_or(0)));
                }
            }
        })?;
        for (_, _, e) in self.entries.iter_mut() {
            e.have = None;
            if let Some(o) = &mut self.objects {
                o.release(e.nh);
            }
            e.nh = 0;
        }
        for (prefix, (fwd, nh)) in found {
            let known = self.entries.id(&prefix).is_some();
            let (_, e) = self.entries.upsert(prefix);
            if !known {
                e.stale = !self.converged;
            }
            e.have = Some(fwd);
            if let Some(o) = self.objects.as_mut().filter(|o| o.present(nh)) {
                o.acquire(nh);
                e.nh = nh;
            }
        }
        self.mark_all();
        Ok(())
    }

    fn mark(&mut self, id: Id) {
        if let Some((_, e)) = self.entries.get_mut(id) {
            if !e.queued {
                e.queued = true;
                self.dirty.push(id);
            }
        }
    }

    fn mark_all(&mut self) {
        for (id, _, e) in self.entries.iter_mut() {
            if !e.queued {
                e.queued = true;
                self.dirty.push(id);
            }
        }
    }

    fn apply(&mut self, changes: Vec<RouteChange>) {
        self.entries.reserve(changes.len());
        let mut last: Option<Arc<Target>> = None;
        for c in changes {
            if let Some(t) = &c.target {
                if !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, t)) {
                    if let Target::Unicast(gws) = &**t {
                        for g in gws {
                            if !self.gateways.contains(g) {
                                self.gateways.insert(*g);
                            }
                        }
                    }
                    last = Some(Arc::clone(t));
                }
            }
            let (id, e) = self.entries.upsert(c.prefix);
            e.stale = false;
            e.want = c.target;
            if !self.failed.is_empty() {
                self.failed.remove(&id);
            }
            if !e.queued {
                e.queued = true;
                self.dirty.push(id);
            }
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
        let mut stale = Vec::new();
        for (id, _, e) in self.entries.iter_mut() {
            if e.stale {
                e.stale = false;
                stale.push(id);
            }
        }
        let n = stale.len() as u64;
        for id in stale {
            self.mark(id);
        }
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
            self.flush_once();
            if self.dirty.is_empty() || self.resync {
                return;
            }
        }
    }

    fn flush_once(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut batch: Vec<Item> = Vec::with_capacity(self.config.batch + 8);
        let mut nh_ops: Vec<(u32, NhOp)> = Vec::new();
        // Objects in use that changed (a link came back): before any route.
        if let Some(o) = &mut self.objects {
            o.take_dirty(&self.links, self.converged, false, &mut nh_ops);
            batch.extend(nh_ops.drain(..).map(|(id, op)| Item::Nexthop(id, op)));
        }
        let mut last = Last::default();
        for id in dirty {
            let Some((prefix, e)) = self.entries.get_mut(id) else {
                continue;
            };
            e.queued = false;
            if e.stale {
                continue;
            }
            let v6 = matches!(prefix, Prefix::V6(_));
            let again = match (&last.target, &e.want) {
                (Some(l), Some(t)) => Arc::ptr_eq(l, t) && last.v6 == v6,
                _ => false,
            };
            if !again {
                last = Last {
                    target: e.want.clone(),
                    v6,
                    nh: 0,
                    forward: None,
                };
                // The object for the wanted next hops: every interface
                // known (the kernel needs one) and no IPv4 next hop for
                // IPv6.
                if let (Some(o), Some(Target::Unicast(gws))) =
                    (&mut self.objects, e.want.as_deref())
                {
                    self.hops.clear();
                    self.hops.extend(gws.iter().map(|g| self.links.locate(g)));
                    if self
                        .hops
                        .iter()
                        .all(|h| h.ifindex != 0 && (!v6 || h.addr.is_ipv6()))
                    {
                        self.hops.sort_unstable();
                        self.hops.dedup();
                        last.nh = o.lookup(&self.hops);
                    }
                }
                if last.nh == 0 {
                    last.forward = e
                        .want
                        .as_deref()
                        .and_then(|t| self.links.forward(t))
                        .map(|f| self.forwards.intern(f).0);
                }
            }
            let want_nh = last.nh;
            if want_nh != e.want_nh {
                if let Some(o) = &mut self.objects {
                    o.acquire(want_nh);
                    o.release(e.want_nh);
                }
                e.want_nh = want_nh;
            }
            let op = match &mut self.objects {
                Some(o) if want_nh != 0 => {
                    if !o.usable(want_nh, &self.links) {
                        e.have.is_some().then_some(Op::Del)
                    } else if e.have.is_some() && e.nh == want_nh && o.present(want_nh) {
                        None
                    } else {
                        o.ensure(want_nh, &self.links, &mut nh_ops);
                        batch.extend(nh_ops.drain(..).map(|(id, op)| Item::Nexthop(id, op)));
                        Some(Op::New(
                            Arc::clone(&self.via_object),
                            want_nh,
                            e.have.is_some(),
                        ))
                    }
                }
                _ => match (&last.forward, &e.have) {
                    (Some(w), Some(h)) if e.nh == 0 && (Arc::ptr_eq(w, h) || same(w, h)) => None,
                    (Some(w), have) => Some(Op::New(Arc::clone(w), 0, have.is_some())),
                    (None, Some(_)) => Some(Op::Del),
                    (None, None) => None,
                },
            };
            match op {
                Some(op) => batch.push(Item::Route(id, prefix, op)),
                None => {
                    if e.want.is_none() && e.have.is_none() {
                        self.forget(id);
                    } else if !self.failed.is_empty() {
                        self.failed.remove(&id);
                    }
                }
            }
            if batch.len() >= self.config.batch {
                self.send(&mut batch);
                // an object refused in the batch is chosen again
                last = Last::default();
                self.take_changes();
            }
        }
        if !batch.is_empty() {
            self.send(&mut batch);
        }
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
    }

    fn encode(&mut self, batch: &[Item]) -> u32 {
        let first = self.req.next_seqs(batch.len() as u32);
        self.buf.clear();
        let mut last_start = 0;
        let key = &self.key;
        for (i, item) in batch.iter().enumerate() {
            last_start = self.buf.len();
            let seq = first.wrapping_add(i as u32);
            let buf = &mut self.buf;
            match item {
                Item::Route(_, prefix, Op::New(fwd, 0, replace)) => {
                    netlink::new_route(buf, seq, key, prefix, fwd.as_ref(), *replace)
                }
                Item::Route(_, prefix, Op::New(_, id, replace)) => {
                    nh::new_route_via_object(buf, seq, key, prefix, *id, *replace)
                }
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
                if let Item::Route(id, _, _) = item {
                    self.fail(id, RouteError::Unconfirmed, now);
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
            let Some((_, e)) = self.entries.get_mut(id) else {
                continue;
            };
            let error = match (op, err) {
                (Op::New(fwd, nh, _), None) => {
                    e.have = Some(fwd);
                    if e.nh != nh {
                        if let Some(o) = &mut self.objects {
                            o.acquire(nh);
                            o.release(e.nh);
                        }
                        e.nh = nh;
                    }
                    self.counters.installed += 1;
                    None
                }
                (Op::Del, None) | (Op::Del, Some(ESRCH)) => {
                    e.have = None;
                    if let Some(o) = &mut self.objects {
                        o.release(e.nh);
                    }
                    e.nh = 0;
                    self.counters.removed += 1;
                    None
                }
                (Op::New(_, _, false), Some(EEXIST)) => {
                    self.counters.conflicts += 1;
                    warn!(%prefix, "FIB conflict: a route of another protocol holds the prefix");
                    Some(RouteError::Conflict)
                }
                (_, Some(errno)) => {
                    debug!(%prefix, errno, "FIB write failed");
                    Some(RouteError::Kernel(Errno::from_raw(errno)))
                }
            };
            match error {
                None => {
                    if e.want.is_none() && e.have.is_none() && !e.stale {
                        self.forget(id);
                    } else if !self.failed.is_empty() {
                        self.failed.remove(&id);
                    }
                }
                Some(error) => self.fail(id, error, now),
            }
        }
    }

    /// Drops the entry `id` (nothing wanted, nothing installed), and its
    /// failure if any.
    fn forget(&mut self, id: Id) {
        self.entries.remove(id);
        if !self.failed.is_empty() {
            self.failed.remove(&id);
        }
    }

    /// Records a failed write of route `id` and when to retry it.
    fn fail(&mut self, id: Id, error: RouteError, now: Instant) {
        if self.entries.get(id).is_none() {
            return;
        }
        self.counters.errors += 1;
        let attempts = self.failed.get(&id).map_or(0, |f| f.attempts) + 1;
        let delay = self
            .config
            .retry_min
            .saturating_mul(1 << (attempts - 1).min(16))
            .min(self.config.retry_max);
        self.failed.insert(
            id,
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
        for (&id, f) in &self.failed {
            if f.retry_at <= now {
                due.push(id);
            } else {
                next = Some(next.map_or(f.retry_at, |n| n.min(f.retry_at)));
            }
        }
        for id in due {
            self.mark(id);
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
        let mut hit = Vec::new();
        for (id, _, e) in self.entries.iter() {
            if let Some(Target::Unicast(gws)) = e.want.as_deref() {
                if gws.iter().any(|g| changed.contains(g)) {
                    hit.push(id);
                }
            }
        }
        for id in hit {
            self.mark(id);
        }
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
                let Some(id) = self.entries.id(&r.prefix) else {
                    return;
                };
                let Some((_, e)) = self.entries.get_mut(id) else {
                    return;
                };
                match (m.kind, ours) {
                    // Twill's route deleted by someone else (or flushed by
                    // the kernel): forget it; flush puts it back.
                    (RTM_DELROUTE, true) => {
                        if e.have.take().is_some() && e.want.is_some() {
                            self.counters.restored += 1;
                            info!(prefix = %r.prefix, "FIB: route deleted by someone else, restoring");
                        }
                        Self::set_nh(&mut self.objects, e, 0);
                    }
                    // Someone wrote a route with Twill's protocol number.
                    (RTM_NEWROUTE, true) => {
                        if e.want.is_some() {
                            self.counters.restored += 1;
                        }
                        e.have = Some(self.forwards.intern(r.forward()).0);
                        Self::set_nh(&mut self.objects, e, r.nh_id.unwrap_or(0));
                    }
                    // A route of another protocol replaced Twill's.
                    (RTM_NEWROUTE, false) if replaced && e.have.is_some() => {
                        e.have = None;
                        Self::set_nh(&mut self.objects, e, 0);
                    }
                    _ => return,
                }
                self.mark(id);
            }
            // Someone else changed a nexthop object (the kernel's own
            // removals on link down are not notified).
            RTM_NEWNEXTHOP | RTM_DELNEXTHOP if self.objects.is_some() => self.nh_resync = true,
            _ => {}
        }
    }

    /// Records that the kernel's route for `e` names object `nh` (0: none).
    fn set_nh(objects: &mut Option<Objects>, e: &mut Entry, nh: u32) {
        let Some(o) = objects else {
            return;
        };
        let nh = if o.present(nh) { nh } else { 0 };
        if e.nh != nh {
            o.acquire(nh);
            o.release(e.nh);
            e.nh = nh;
        }
    }

    fn view(&self) -> FibView {
        let mut entries: Vec<FibEntry> = self
            .entries
            .iter()
            .map(|(id, p, e)| {
                let state = if let Some(f) = self.failed.get(&id) {
                    RouteState::Failed {
                        error: f.error.clone(),
                        attempts: f.attempts,
                    }
                } else if e.stale {
                    RouteState::Stale
                } else if e.queued {
                    RouteState::Pending
                } else if e
                    .want
                    .as_ref()
                    .is_some_and(|t| self.links.forward(t).is_none())
                {
                    RouteState::Unusable
                } else {
                    RouteState::Installed
                };
                let installed = match &self.objects {
                    Some(o) if e.nh != 0 => o.forward(e.nh),
                    _ => e.have.as_deref().cloned(),
                };
                FibEntry {
                    prefix: *p,
                    target: e.want.as_deref().cloned(),
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
            for (_, _, e) in self.entries.iter_mut() {
                e.want = None;
                e.stale = false;
            }
            self.converged = true;
            if let Some(o) = &mut self.objects {
                o.mark_all();
            }
            self.mark_all();
            self.flush();
            info!("FIB writer stopped, Twill's routes removed");
        } else {
            info!(
                routes = self.entries.len(),
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
    fn a_route_is_a_few_words() {
        // the prefix (18 bytes), two shared handles, two object ids, flags
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 48);
        // the prefix and one shared handle
        assert_eq!(std::mem::size_of::<RouteChange>(), 32);
    }
}
