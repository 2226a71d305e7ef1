//! The FIB writer task: the desired routes, what the kernel holds of
//! Twill's, and the batched writes that make the two agree.
//!
//! ```text
//!  FibHandle ---- Command (apply, sync, converged, view, shutdown) ----+
//!                                                                       v
//!  watch socket (links, addresses,        +--------------------------------------+
//!  routes changed by others) ---------->  | Writer (own thread, current-thread   |
//!                                         | tokio runtime)                        |
//!  retry timer (backoff) -------------->  | entries: prefix -> want / have        |
//!                                         | dirty prefixes -> flush()             |
//!                                         +------------------+-------------------+
//!                                                            | batches of RTM_NEWROUTE /
//!                                                            v RTM_DELROUTE, errors by seq
//!                                                    request socket -> kernel
//! ```
//!
//! Per prefix the writer keeps what the RIB wants (`want`) and what the
//! kernel holds of Twill's (`have`, from the acknowledgements, the start-up
//! dump and the watch). Every event only marks prefixes dirty; `flush`
//! compares the two and writes the difference (level-triggered).

use std::collections::{HashMap, HashSet};

use super::table::{Id, Table};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use ribs::Prefix;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::links::{same, Links};
use super::netlink::{
    self, Forward, RouteKey, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK,
    RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, WATCH_GROUPS,
};
use super::route::{Gateway, RouteChange, Target};
use super::socket::{request_ack, NetlinkSocket, SocketError};

const ESRCH: i32 = Errno::ESRCH as i32;
const EEXIST: i32 = Errno::EEXIST as i32;

/// Twill's default routing protocol number (`rtm_protocol`), 84 (ASCII
/// `T`), the configuration's default: not used by the kernel's `RTPROT_*`
/// nor by any entry of iproute2's `/etc/iproute2/rt_protos` (which lists
/// 0–4, 8–16, 18, 42, 99, 186–192).
pub const DEFAULT_PROTOCOL: u8 = crate::config::DEFAULT_FIB_PROTOCOL;

/// The main routing table (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = 254;

/// How the writer writes.
#[derive(Debug, Clone)]
pub struct FibConfig {
    /// Routing protocol number of Twill's routes (default
    /// [`DEFAULT_PROTOCOL`]).
    pub protocol: u8,
    /// Routing table (default main, 254).
    pub table: u32,
    /// Route metric (`RTA_PRIORITY`); `None`: the kernel's default.
    pub metric: Option<u32>,
    /// Messages per `sendmsg`, at most.
    pub batch: usize,
    /// First retry delay of a failed route; doubles per attempt.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            protocol: DEFAULT_PROTOCOL,
            table: MAIN_TABLE,
            metric: None,
            batch: 1024,
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// Why a route is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A route of another protocol (a static, connected or kernel route, or
    /// another daemon's) holds the prefix: Twill does not replace it.
    #[error("a route of another protocol holds the prefix")]
    Conflict,
    /// The kernel refused the request.
    #[error("kernel: {0}")]
    Kernel(Errno),
}

/// The state of one prefix in the FIB view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteState {
    /// The kernel holds what the RIB wants.
    Installed,
    /// A write is queued.
    Pending,
    /// Found at start-up, not (yet) confirmed by the RIB: removed at
    /// convergence unless the RIB wants it.
    Stale,
    /// Every next hop's interface is down: nothing is installed.
    Unusable,
    /// The last write failed; it is retried with backoff.
    Failed {
        /// The error.
        error: RouteError,
        /// Attempts so far.
        attempts: u32,
    },
}

/// One prefix of the FIB view (`twillctl fib`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibEntry {
    /// The prefix.
    pub prefix: Prefix,
    /// What the RIB wants (`None`: a withdrawal or a stale route).
    pub target: Option<Target>,
    /// What the kernel holds of Twill's.
    pub installed: Option<Forward>,
    /// The state.
    pub state: RouteState,
}

/// Counters of the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibCounters {
    /// Routes written (created or replaced).
    pub installed: u64,
    /// Routes removed.
    pub removed: u64,
    /// Writes the kernel refused (conflicts included).
    pub errors: u64,
    /// Conflicts with routes of other protocols.
    pub conflicts: u64,
    /// Twill routes removed or changed by someone else and put back.
    pub restored: u64,
    /// Stale routes removed at convergence.
    pub swept: u64,
    /// Full re-reads of the kernel table (after lost answers or events).
    pub resyncs: u64,
}

/// The FIB view: every prefix the writer knows, and the counters.
#[derive(Debug, Clone, Default)]
pub struct FibView {
    /// Prefixes, sorted.
    pub entries: Vec<FibEntry>,
    /// Counters.
    pub counters: FibCounters,
}

/// What to do with Twill's routes when the writer stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMode {
    /// Leave them (the default: a restart must not blackhole traffic; the
    /// next start finds them stale and keeps those the RIB still has).
    LeaveRoutes,
    /// Remove every Twill route (`--remove-routes-on-exit`).
    RemoveRoutes,
}

/// Errors of the writer as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    /// A netlink socket failed at start-up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The writer thread could not be started.
    #[error("writer thread: {0}")]
    Thread(std::io::Error),
    /// The writer has stopped.
    #[error("the FIB writer has stopped")]
    Closed,
}

/// What the watch thread reports.
enum WatchEvent {
    /// Notifications: (type, flags, payload).
    Messages(Vec<(u16, u16, Vec<u8>)>),
    /// The socket overflowed: notifications were lost.
    Overflow,
}

/// The watch thread: blocking reads of the watch socket, handed to the
/// writer; ends when the writer has gone.
fn watch_loop(mut watch: NetlinkSocket, tx: mpsc::UnboundedSender<WatchEvent>) {
    while !tx.is_closed() {
        let mut msgs = Vec::new();
        let r = watch.recv_with(true, |m| msgs.push((m.kind, m.flags, m.payload.to_vec())));
        let event = match r {
            Ok(_) => WatchEvent::Messages(msgs),
            Err(SocketError::Sys {
                errno: Errno::ENOBUFS,
                ..
            }) => WatchEvent::Overflow,
            Err(SocketError::Sys {
                errno: Errno::EAGAIN | Errno::EINTR,
                ..
            }) => continue,
            Err(e) => {
                warn!("FIB watch: {e}");
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

enum Command {
    Apply(Vec<RouteChange>),
    Sync(oneshot::Sender<()>),
    Converged(oneshot::Sender<u64>),
    View(oneshot::Sender<FibView>),
    Shutdown(ExitMode, oneshot::Sender<()>),
}

/// The handle the agent drives the writer with. Dropping it stops the
/// writer and leaves the routes in place.
#[derive(Debug)]
pub struct FibHandle {
    tx: mpsc::UnboundedSender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FibHandle {
    /// Opens the netlink sockets in the calling thread's network namespace,
    /// reads links, addresses and Twill's routes (marked stale), and starts
    /// the writer thread.
    pub fn spawn(config: FibConfig) -> Result<FibHandle, FibError> {
        // Watch first, so that nothing changes unseen between dump and watch.
        let watch = NetlinkSocket::open(WATCH_GROUPS)?;
        let req = NetlinkSocket::open(0)?;
        watch.ignore_port(req.port_id())?;
        watch.set_receive_timeout(Duration::from_millis(500))?;
        let mut writer = Writer::new(config, req);
        writer.load()?;
        info!(
            stale = writer.entries.len(),
            protocol = writer.key.protocol,
            table = writer.key.table,
            "FIB writer started"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("twill-fib".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(writer.run(watch, rx)),
                    Err(e) => warn!("FIB writer runtime: {e}"),
                }
            })
            .map_err(FibError::Thread)?;
        Ok(FibHandle {
            tx,
            thread: Some(thread),
        })
    }

    /// Queues route changes (from the RIB's `take_fib_changes`).
    pub fn apply(&self, changes: Vec<RouteChange>) -> Result<(), FibError> {
        self.tx
            .send(Command::Apply(changes))
            .map_err(|_| FibError::Closed)
    }

    async fn ask<T>(&self, f: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, FibError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| FibError::Closed)?;
        rx.await.map_err(|_| FibError::Closed)
    }

    /// Returns once every change queued before has been written once (or
    /// has failed and waits for its retry).
    pub async fn sync(&self) -> Result<(), FibError> {
        self.ask(Command::Sync).await
    }

    /// Graceful-restart convergence (End-of-RIB from the peers, or the
    /// timeout): removes the stale routes the RIB did not confirm; returns
    /// how many.
    pub async fn converged(&self) -> Result<u64, FibError> {
        self.ask(Command::Converged).await
    }

    /// The FIB view.
    pub async fn view(&self) -> Result<FibView, FibError> {
        self.ask(Command::View).await
    }

    /// Stops the writer, leaving or removing Twill's routes.
    pub async fn shutdown(mut self, mode: ExitMode) -> Result<(), FibError> {
        self.ask(|tx| Command::Shutdown(mode, tx)).await?;
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|_| FibError::Closed)?
                .map_err(|_| FibError::Closed)?;
        }
        Ok(())
    }
}

struct Failure {
    error: RouteError,
    attempts: u32,
    retry_at: Instant,
}

#[derive(Default)]
struct Entry {
    want: Option<Target>,
    have: Option<Forward>,
    stale: bool,
    queued: bool,
    failure: Option<Box<Failure>>,
}

enum Op {
    New(Forward, bool),
    Del,
}

struct Writer {
    config: FibConfig,
    key: RouteKey,
    req: NetlinkSocket,
    links: Links,
    entries: Table<Entry>,
    dirty: Vec<Id>,
    failed: HashSet<Id>,
    /// Every gateway the RIB has asked for (kept: they are few).
    gateways: HashSet<Gateway>,
    converged: bool,
    resync: bool,
    counters: FibCounters,
    buf: Vec<u8>,
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
            failed: HashSet::new(),
            gateways: HashSet::new(),
            converged: false,
            resync: false,
            counters: FibCounters::default(),
            buf: Vec::with_capacity(1 << 17),
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
        let mut found = HashMap::new();
        let (protocol, table) = (self.key.protocol, self.key.table);
        self.req.dump(RTM_GETROUTE, |m| {
            if let Some(r) = netlink::parse_route(m.payload) {
                if r.protocol == protocol && r.table == table {
                    found.insert(r.prefix, r.forward());
                }
            }
        })?;
        for (_, _, e) in self.entries.iter_mut() {
            e.have = None;
        }
        for (prefix, fwd) in found {
            let known = self.entries.id(&prefix).is_some();
            let (_, e) = self.entries.upsert(prefix);
            if !known {
                e.stale = !self.converged;
            }
            e.have = Some(fwd);
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
        for c in changes {
            if let Some(Target::Unicast(gws)) = &c.target {
                for g in gws {
                    if !self.gateways.contains(g) {
                        self.gateways.insert(*g);
                    }
                }
            }
            let (id, e) = self.entries.upsert(c.prefix);
            e.stale = false;
            e.want = c.target;
            if e.failure.take().is_some() {
                self.failed.remove(&id);
            }
            if !e.queued {
                e.queued = true;
                self.dirty.push(id);
            }
        }
    }

    fn sweep(&mut self) -> u64 {
        self.converged = true;
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
        for _ in 0..3 {
            self.flush_once();
            if !self.resync {
                return;
            }
            self.resync = false;
            self.counters.resyncs += 1;
            warn!("FIB: answers or notifications lost, re-reading the kernel table");
            if let Err(e) = self.load() {
                warn!("FIB: re-read failed: {e}");
                return;
            }
        }
    }

    fn flush_once(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut batch: Vec<(Id, Prefix, Op)> = Vec::with_capacity(self.config.batch);
        for id in dirty {
            let Some((prefix, e)) = self.entries.get_mut(id) else {
                continue;
            };
            e.queued = false;
            if e.stale {
                continue;
            }
            let want = e.want.as_ref().and_then(|t| self.links.forward(t));
            let op = match (want, &e.have) {
                (Some(w), Some(h)) if same(&w, h) => None,
                (Some(w), have) => Some(Op::New(w, have.is_some())),
                (None, Some(_)) => Some(Op::Del),
                (None, None) => None,
            };
            match op {
                Some(op) => batch.push((id, prefix, op)),
                None => {
                    if e.failure.take().is_some() {
                        self.failed.remove(&id);
                    }
                    if e.want.is_none() && e.have.is_none() {
                        self.entries.remove(id);
                    }
                }
            }
            if batch.len() >= self.config.batch {
                self.send(&mut batch);
            }
        }
        if !batch.is_empty() {
            self.send(&mut batch);
        }
    }

    fn send(&mut self, batch: &mut Vec<(Id, Prefix, Op)>) {
        let first = self.req.next_seqs(batch.len() as u32);
        self.buf.clear();
        let mut last_start = 0;
        for (i, (_, prefix, op)) in batch.iter().enumerate() {
            last_start = self.buf.len();
            let seq = first.wrapping_add(i as u32);
            match op {
                Op::New(fwd, replace) => {
                    netlink::new_route(&mut self.buf, seq, &self.key, prefix, fwd, *replace)
                }
                Op::Del => netlink::del_route(&mut self.buf, seq, &self.key, prefix),
            }
        }
        request_ack(&mut self.buf, last_start);
        let mut errors: Vec<(usize, i32)> = Vec::new();
        let r = self
            .req
            .send_batch(&self.buf, first, batch.len(), |i, e| errors.push((i, e)));
        if let Err(e) = r {
            warn!("FIB: batch of {} not confirmed: {e}", batch.len());
            self.resync = true;
            batch.clear();
            return;
        }
        errors.sort_unstable();
        let mut errs = errors.into_iter().peekable();
        let now = Instant::now();
        for (i, (id, prefix, op)) in batch.drain(..).enumerate() {
            let err = match errs.peek() {
                Some(&(j, e)) if j == i => {
                    errs.next();
                    Some(e)
                }
                _ => None,
            };
            let Some((_, e)) = self.entries.get_mut(id) else {
                continue;
            };
            let error = match (op, err) {
                (Op::New(fwd, _), None) => {
                    e.have = Some(fwd);
                    self.counters.installed += 1;
                    None
                }
                (Op::Del, None) | (Op::Del, Some(ESRCH)) => {
                    e.have = None;
                    self.counters.removed += 1;
                    None
                }
                (Op::New(_, false), Some(EEXIST)) => {
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
                    if e.failure.take().is_some() {
                        self.failed.remove(&id);
                    }
                    if e.want.is_none() && e.have.is_none() && !e.stale {
                        self.entries.remove(id);
                    }
                }
                Some(error) => {
                    self.counters.errors += 1;
                    let attempts = e.failure.as_ref().map_or(0, |f| f.attempts) + 1;
                    let delay = self
                        .config
                        .retry_min
                        .saturating_mul(1 << (attempts - 1).min(16))
                        .min(self.config.retry_max);
                    e.failure = Some(Box::new(Failure {
                        error,
                        attempts,
                        retry_at: now + delay,
                    }));
                    self.failed.insert(id);
                }
            }
        }
    }

    /// Queues the failed routes whose retry time has come; returns the
    /// next retry time.
    fn due_retries(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut due = Vec::new();
        for &id in &self.failed {
            if let Some(f) = self.entries.get(id).and_then(|(_, e)| e.failure.as_ref()) {
                if f.retry_at <= now {
                    due.push(id);
                } else {
                    next = Some(next.map_or(f.retry_at, |n| n.min(f.retry_at)));
                }
            }
        }
        for id in due {
            self.mark(id);
        }
        next
    }

    fn next_retry(&self) -> Option<Instant> {
        self.failed
            .iter()
            .filter_map(|&id| self.entries.get(id)?.1.failure.as_ref().map(|f| f.retry_at))
            .min()
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
        let mut hit = Vec::new();
        for (id, _, e) in self.entries.iter() {
            if let Some(Target::Unicast(gws)) = &e.want {
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
                    }
                    // Someone wrote a route with Twill's protocol number.
                    (RTM_NEWROUTE, true) => {
                        if e.want.is_some() {
                            self.counters.restored += 1;
                        }
                        e.have = Some(r.forward());
                    }
                    // A route of another protocol replaced Twill's.
                    (RTM_NEWROUTE, false) if replaced && e.have.is_some() => {
                        e.have = None;
                    }
                    _ => return,
                }
                self.mark(id);
            }
            _ => {}
        }
    }

    fn view(&self) -> FibView {
        let mut entries: Vec<FibEntry> = self
            .entries
            .iter()
            .map(|(_, p, e)| {
                let state = if let Some(f) = &e.failure {
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
                FibEntry {
                    prefix: *p,
                    target: e.want.clone(),
                    installed: e.have.clone(),
                    state,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.prefix);
        FibView {
            entries,
            counters: self.counters.clone(),
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

    async fn run(mut self, watch: NetlinkSocket, mut rx: mpsc::UnboundedReceiver<Command>) {
        let (watch_tx, mut watch_rx) = mpsc::unbounded_channel();
        if let Err(e) = std::thread::Builder::new()
            .name("twill-fib-watch".into())
            .spawn(move || watch_loop(watch, watch_tx))
        {
            warn!("FIB watch thread: {e}");
            return;
        }
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
            tokio::select! {
                cmd = rx.recv() => {
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
                        match rx.try_recv() {
                            Ok(c) => cmd = c,
                            Err(_) => break,
                        }
                    }
                }
                event = watch_rx.recv() => {
                    let Some(event) = event else { break 'run };
                    self.watched(event);
                }
                () = sleep => {
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
