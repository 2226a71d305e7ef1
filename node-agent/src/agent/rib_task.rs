//! The task that alone owns the RIB.
//!
//! It takes the sessions' events (UPDATEs, state changes, End-of-RIB), the
//! API's requests and its own timers, one at a time, and after each batch
//! hands the results on: UPDATEs to the sessions (through the [`Outbox`]),
//! route changes to the FIB writer, events to `twillctl watch`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use bgp::fsm::State;
use bgp::session::{
    MessageCounts as SessionCounts, MessageStats, PeerEvent, RouteRetention, SelectionDeferral,
    SessionCommand, SessionEvent,
};
use bgp::wire::{Family, RouteRefresh, RouteRefreshSubtype, Update};
use ribs::rib::{NextHopResolver, Rib};
use ribs::{NextHop, PeerId, PeerKind, Prefix};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::api::model::{
    self, AddressFamily, Event, FibRoute, FibState, NeighborAction, PrefixCounts, RibQuery, Route,
    Status, API_VERSION,
};
use crate::api::request::{ApiError, ApiRequest};
use crate::config::{ConfigChange, MaxPrefixAction, SoftChange, ValidConfig};
use crate::fib::{FibHandle, RouteChange, RouteState, Target, Targets};
use crate::metrics::{MessageType, Metrics, UpdateErrorVerdict};

const KINDS: [MessageType; 5] = [
    MessageType::Open,
    MessageType::Update,
    MessageType::Notification,
    MessageType::Keepalive,
    MessageType::RouteRefresh,
];

fn by_kind(c: &SessionCounts, k: MessageType) -> u64 {
    match k {
        MessageType::Open => c.open,
        MessageType::Update => c.update,
        MessageType::Notification => c.notification,
        MessageType::Keepalive => c.keepalive,
        MessageType::RouteRefresh => c.route_refresh,
    }
}

fn api_counts(c: SessionCounts) -> crate::api::model::MessageCounts {
    crate::api::model::MessageCounts {
        open: c.open,
        update: c.update,
        notification: c.notification,
        keepalive: c.keepalive,
        route_refresh: c.route_refresh,
    }
}

use super::neighbors::{session_state, NeighborState};
use super::outbox::Outbox;
use super::render;

/// Events handled before the results are handed on (UPDATEs packed, FIB
/// written): batching many small UPDATEs into few large ones.
const BATCH: usize = 512;

/// A batch also ends once this many peers sent UPDATEs in it. A drain of
/// an update group builds the UPDATEs once for the members that sent none
/// of the changed routes and once more for each member that sent some
/// (its own routes left out, RFC 4271 §9.2), so a batch with routes from
/// many members of one group (sessions coming up together, each with its
/// table) costs memory in the product of the two. A full table from one
/// peer still comes in batches of [`BATCH`].
const SOURCES: usize = 8;

/// Counts the peers that sent UPDATEs in a batch (see [`SOURCES`]).
#[derive(Debug, Default)]
struct Sources(Vec<IpAddr>);

impl Sources {
    /// Notes `ev`'s peer if it is an UPDATE; whether the batch is full.
    fn note(&mut self, ev: &PeerEvent) -> bool {
        if matches!(ev.event, SessionEvent::Update(_)) && !self.0.contains(&ev.peer) {
            self.0.push(ev.peer);
        }
        self.0.len() >= SOURCES
    }
}

/// FIB changes handed to the writer per message: enough to amortise the
/// channel, few enough that the writer takes them in as they come.
const FIB_CHUNK: usize = 8192;

/// Changes from the agent (a reload, or Kubernetes).
#[derive(Debug)]
pub enum Control {
    /// Apply a new configuration: only `change` differs from the running
    /// one. Sent before the sessions of added neighbours start, so that
    /// their first events find them known.
    Reconfigure {
        /// The new configuration.
        config: Box<ValidConfig>,
        /// What changed.
        change: Box<ConfigChange>,
        /// Answered once applied.
        done: tokio::sync::oneshot::Sender<()>,
    },
    /// The command channels of sessions just started (UPDATEs queued
    /// before they arrive wait in the outbox).
    Sessions(Vec<NewSession>),
}

/// A session started for a neighbour: its command channel and counters.
#[derive(Debug)]
pub struct NewSession {
    /// The neighbour.
    pub peer: IpAddr,
    /// Its command channel.
    pub commands: mpsc::Sender<SessionCommand>,
    /// Its message counters.
    pub stats: Option<Arc<MessageStats>>,
}

/// The RIB task's inputs.
#[derive(Debug)]
pub struct RibTaskIo {
    /// Reconfiguration.
    pub control: mpsc::Receiver<Control>,
    /// The sessions' events.
    pub events: mpsc::Receiver<PeerEvent>,
    /// Session state changes (from the speaker's watch channels).
    pub states: mpsc::Receiver<(IpAddr, State)>,
    /// API requests.
    pub api: mpsc::Receiver<ApiRequest>,
    /// Stop: the task returns its FIB handle.
    pub stop: watch::Receiver<bool>,
    /// Next-hop reachability changed (the kernel-backed check): the
    /// decision process runs again.
    pub reach: Option<Arc<tokio::sync::Notify>>,
}

/// How this start differs from a cold one.
#[derive(Debug)]
pub struct Startup {
    /// The kernel routes of a previous run were kept: defer selection
    /// (RFC 4724 §4.1).
    pub restarting: bool,
    /// Longest deferral, in seconds.
    pub selection_deferral: u16,
    /// `/readyz` turns ready after this long at the latest.
    pub readiness_timeout: Duration,
    /// The next-hop check (RFC 4271 §9.1.2.1).
    pub resolver: Box<dyn NextHopResolver>,
}

/// The task's state.
#[derive(Debug)]
pub struct RibTask {
    config: ValidConfig,
    rib: Rib,
    neighbors: BTreeMap<IpAddr, NeighborState>,
    ids: HashMap<PeerId, IpAddr>,
    outbox: Outbox,
    fib: Option<FibHandle>,
    /// The FIB changes' targets, one shared per next-hop set.
    targets: Targets,
    watch: broadcast::Sender<Event>,
    /// Graceful restart, restarting speaker (RFC 4724 §4.1): selection
    /// and advertisement wait for the peers' End-of-RIB.
    deferral: Option<SelectionDeferral>,
    /// Ready for traffic (`/readyz`): deferral over and every neighbour
    /// converged, or the readiness timeout passed.
    ready: watch::Sender<bool>,
    ready_deadline: Instant,
    started: Instant,
    metrics: Metrics,
    /// The next RIB handle for a new neighbour.
    next_id: u32,
    /// The sessions' message counters.
    stats: HashMap<IpAddr, Arc<MessageStats>>,
    /// What the metrics were last given of them (received, sent).
    reported: HashMap<IpAddr, (SessionCounts, SessionCounts)>,
    /// Originated prefixes that get an unreachable kernel route while no
    /// learned route is better (`originate[].unreachable`).
    unreachable: std::collections::HashSet<Prefix>,
    /// Sessions Established in the current batch of events, brought up in
    /// the RIB together before the batch's UPDATEs are taken
    /// ([`Rib::peers_up`]: they share one update group and one table
    /// export).
    coming_up: Vec<PeerId>,
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Our address towards `peer`: the source address the kernel picks (a
/// connected UDP socket sends nothing). Our next hop on that session.
fn local_address_towards(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(peer, 179)).ok()?;
    Some(s.local_addr().ok()?.ip())
}

/// The originated prefixes configured with `unreachable`.
fn unreachable_prefixes(config: &ValidConfig) -> std::collections::HashSet<Prefix> {
    config
        .config()
        .originate
        .iter()
        .filter(|o| o.unreachable)
        .filter_map(|o| crate::config::parse::prefix(&o.prefix).ok())
        .collect()
}

/// Our address of the other family on the interface that holds `local`
/// (a global IPv6 address for an IPv4 session, an IPv4 address for an IPv6
/// one): the next hop of that family's routes over the session.
fn other_family_address(local: IpAddr) -> Option<IpAddr> {
    let addrs: Vec<_> = nix::ifaddrs::getifaddrs().ok()?.collect();
    let ip_of = |a: &nix::ifaddrs::InterfaceAddress| -> Option<IpAddr> {
        let sa = a.address.as_ref()?;
        if let Some(v4) = sa.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    };
    let name = addrs
        .iter()
        .find(|a| ip_of(a) == Some(local))?
        .interface_name
        .clone();
    addrs
        .iter()
        .filter(|a| a.interface_name == name)
        .filter_map(ip_of)
        .find(|ip| match (local, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => {
                !v6.is_loopback() && !v6.is_unicast_link_local() && !v6.is_unspecified()
            }
            (IpAddr::V6(_), IpAddr::V4(v4)) => !v4.is_loopback() && !v4.is_unspecified(),
            _ => false,
        })
}

/// Our address on the session with `peer`: the configured source
/// address, else the one the kernel picks.
fn local_address(config: &ValidConfig, peer: IpAddr) -> Option<IpAddr> {
    config
        .neighbor(peer)
        .and_then(|n| n.source_address)
        .or_else(|| local_address_towards(peer))
}

/// The address families configured for `peer`.
fn families_of(config: &ValidConfig, peer: IpAddr) -> Vec<Family> {
    config
        .neighbor(peer)
        .map(|c| {
            config
                .families(c)
                .iter()
                .map(|f| f.family.family())
                .collect()
        })
        .unwrap_or_default()
}

/// Put a configured neighbour into the RIB before its session is up (its
/// identifier is learned from its OPEN).
fn add_to_rib(rib: &mut Rib, config: &ValidConfig, peer: IpAddr, id: PeerId) {
    let nh = local_address(config, peer).map_or(NextHop::Local, next_hop_of);
    if let Some(pc) = config.peer_config(peer, id, std::net::Ipv4Addr::UNSPECIFIED, nh) {
        if let Err(e) = rib.add_peer(pc) {
            warn!(neighbor = %peer, "RIB refused the neighbour: {e}");
        }
    }
}

/// Our next hops on a session whose local address is `local`.
fn session_next_hops(local: Option<IpAddr>) -> (NextHop, Option<NextHop>) {
    match local {
        Some(a) => (next_hop_of(a), other_family_address(a).map(next_hop_of)),
        None => (NextHop::Local, None),
    }
}

fn next_hop_of(addr: IpAddr) -> NextHop {
    match addr {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(a) => NextHop::V6 {
            global: a,
            link_local: None,
        },
    }
}

impl RibTask {
    /// The task for `config`. `restarting`: this start follows a restart
    /// with routes kept (graceful restart): selection is deferred.
    pub fn new(
        config: ValidConfig,
        fib: Option<FibHandle>,
        watch: broadcast::Sender<Event>,
        ready: watch::Sender<bool>,
        startup: Startup,
        metrics: Metrics,
    ) -> Self {
        let Startup {
            restarting,
            selection_deferral,
            readiness_timeout,
            resolver,
        } = startup;
        let now = Instant::now();
        let mut rib = Rib::new(config.rib_config(), resolver);
        // With no FIB writer nobody reads the forwarding changes.
        rib.keep_fib_changes(fib.is_some());
        for (prefix, attrs) in config.originated() {
            rib.originate(*prefix, attrs.clone());
        }
        let mut neighbors = BTreeMap::new();
        let mut ids = HashMap::new();
        for (k, n) in config.config().neighbors.iter().enumerate() {
            let id = PeerId(k as u32 + 1);
            add_to_rib(&mut rib, &config, n.address, id);
            neighbors.insert(n.address, NeighborState::new(n.address, id, now));
            ids.insert(id, n.address);
        }
        let deferral = restarting
            .then(|| SelectionDeferral::new(neighbors.keys().copied(), now, selection_deferral));
        let next_id = ids.len() as u32 + 1;
        let unreachable = unreachable_prefixes(&config);
        RibTask {
            config,
            rib,
            neighbors,
            ids,
            outbox: Outbox::default(),
            fib,
            targets: Targets::default(),
            watch,
            deferral,
            ready,
            ready_deadline: now + readiness_timeout,
            started: now,
            metrics,
            next_id,
            stats: HashMap::new(),
            reported: HashMap::new(),
            unreachable,
            coming_up: Vec::new(),
        }
    }

    /// Give the task a session's command channel and counters.
    pub fn add_session(&mut self, s: NewSession) {
        self.outbox.add(s.peer, s.commands);
        match s.stats {
            Some(st) => {
                self.stats.insert(s.peer, st);
            }
            None => {
                self.stats.remove(&s.peer);
            }
        }
        self.reported.remove(&s.peer);
    }

    fn emit(&self, kind: &str, neighbor: Option<IpAddr>, message: String) {
        // Nobody watching is fine.
        let _ = self.watch.send(Event {
            at_unix_ms: unix_now().as_millis() as u64,
            kind: kind.to_string(),
            neighbor,
            message,
        });
    }

    fn deferring(&self) -> bool {
        self.deferral.is_some()
    }

    /// Run until stopped; returns the FIB handle (for the exit mode).
    pub async fn run(mut self, mut io: RibTaskIo) -> Option<FibHandle> {
        self.flush().await;
        // Counters the sessions keep (KEEPALIVEs) reach the metrics even
        // when no event comes.
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deferral_deadline = self.deferral.as_ref().map(SelectionDeferral::deadline);
            let restart_at = self.neighbors.values().filter_map(|n| n.restart_at).min();
            let ready_at = (!*self.ready.borrow()).then_some(self.ready_deadline);
            tokio::select! {
                // Configuration before events: an added neighbour is known
                // before its session's first event is handled.
                biased;
                _ = io.stop.changed() => break,
                ctl = io.control.recv() => match ctl {
                    Some(Control::Reconfigure { config, change, done }) => {
                        self.reconfigure(*config, &change);
                        self.flush().await;
                        let _ = done.send(());
                    }
                    Some(Control::Sessions(sessions)) => {
                        for s in sessions {
                            self.add_session(s);
                        }
                    }
                    None => {}
                },
                ev = io.events.recv() => {
                    let Some(ev) = ev else { break };
                    let mut sources = Sources::default();
                    let mut full = sources.note(&ev);
                    self.on_event(ev);
                    let mut n = 1;
                    while n < BATCH && !full {
                        match io.events.try_recv() {
                            Ok(ev) => {
                                full = sources.note(&ev);
                                self.on_event(ev);
                            }
                            Err(_) => break,
                        }
                        n += 1;
                    }
                    self.flush().await;
                }
                st = io.states.recv() => {
                    if let Some((peer, state)) = st {
                        self.on_state(peer, state);
                    }
                }
                req = io.api.recv() => {
                    if let Some(req) = req {
                        self.on_api(req).await;
                        self.flush().await;
                    }
                }
                peer = self.outbox.ready() => self.outbox.pump(peer),
                _ = sleep_until(deferral_deadline) => {
                    self.end_deferral().await;
                }
                _ = sleep_until(restart_at) => self.restart_due(),
                _ = tick.tick() => self.update_gauges(),
                _ = notified(io.reach.as_deref()) => {
                    self.rib.revalidate();
                    self.flush().await;
                }
                _ = sleep_until(ready_at) => {
                    info!("readiness timeout: reporting ready");
                    let _ = self.ready.send(true);
                }
            }
        }
        self.fib.take()
    }

    /// Apply a new configuration (RFC-wise: nothing that is not in
    /// `change` is touched, so no other session resets).
    fn reconfigure(&mut self, config: ValidConfig, change: &ConfigChange) {
        self.config = config;
        let now = Instant::now();
        let unreachable = unreachable_prefixes(&self.config);
        if let Some(fib) = &self.fib {
            let mut toggled: Vec<RouteChange> = Vec::new();
            for p in unreachable.difference(&self.unreachable) {
                if self
                    .rib
                    .best(p)
                    .is_none_or(|(b, _)| b.peer == PeerId::LOCAL)
                {
                    toggled.push(RouteChange::unreachable(*p));
                }
            }
            for p in self.unreachable.difference(&unreachable) {
                if self
                    .rib
                    .best(p)
                    .is_none_or(|(b, _)| b.peer == PeerId::LOCAL)
                {
                    toggled.push(RouteChange::withdraw(*p));
                }
            }
            if !toggled.is_empty() {
                let _ = fib.apply(toggled);
            }
        }
        self.unreachable = unreachable;
        let reset: Vec<IpAddr> = change.neighbors_reset.iter().map(|r| r.address).collect();
        for addr in change.neighbors_removed.iter().chain(&reset) {
            if let Some(n) = self.neighbors.remove(addr) {
                let _ = self.rib.remove_peer(n.id);
                self.ids.remove(&n.id);
            }
            self.outbox.remove(*addr);
            self.metrics.remove_neighbor(*addr);
            info!(neighbor = %addr, "neighbour removed");
        }
        for &addr in change.neighbors_added.iter().chain(&reset) {
            let id = PeerId(self.next_id);
            self.next_id += 1;
            add_to_rib(&mut self.rib, &self.config, addr, id);
            self.neighbors
                .insert(addr, NeighborState::new(addr, id, now));
            self.ids.insert(id, addr);
            info!(neighbor = %addr, "neighbour added");
        }
        for u in &change.neighbors_updated {
            let Some(id) = self.neighbors.get(&u.address).map(|n| n.id) else {
                continue;
            };
            // The running session's facts stay: the peer's identifier and
            // our address on the session.
            let (rid, nh, other, families) = match self.rib.peer_config(id) {
                Some(pc) => (
                    pc.info.router_id,
                    pc.local_next_hop,
                    pc.other_family_next_hop,
                    pc.families,
                ),
                None => (
                    std::net::Ipv4Addr::UNSPECIFIED,
                    NextHop::Local,
                    None,
                    ribs::rib::Families::default(),
                ),
            };
            if let Some(mut pc) = self.config.peer_config(u.address, id, rid, nh) {
                pc.other_family_next_hop = other;
                pc.families = families;
                // The negotiated ADD-PATH stays; the number of paths is
                // the new configuration's.
                if let Some(neg) = self
                    .neighbors
                    .get(&u.address)
                    .and_then(|n| n.negotiated.as_ref())
                {
                    pc.add_path_send = self.config.add_path_send(u.address, &neg.encode);
                }
                if let Err(e) = self.rib.add_peer(pc) {
                    warn!(neighbor = %u.address, "RIB: {e}");
                }
            }
            let up = self
                .neighbors
                .get(&u.address)
                .is_some_and(NeighborState::is_up);
            let import = u.changes.iter().any(|c| {
                matches!(
                    c,
                    SoftChange::ImportPolicy
                        | SoftChange::AllowasIn
                        | SoftChange::SoftReconfigurationInbound
                )
            });
            let export = u.changes.iter().any(|c| {
                matches!(
                    c,
                    SoftChange::ExportPolicy
                        | SoftChange::NextHopSelf
                        | SoftChange::RouteReflectorClient
                        | SoftChange::AddPathSendMax
                )
            });
            if import && up {
                // Soft reconfiguration inbound applies the new policy to
                // the routes kept before policy; otherwise the peer is
                // asked to send them again (RFC 2918).
                if !self.rib.reapply_import(id).unwrap_or(false) {
                    self.request_refresh(u.address);
                }
            }
            if export && up {
                let _ = self.rib.reexport(id);
            }
            info!(neighbor = %u.address, changes = ?u.changes, "neighbour updated without a reset");
        }
        for p in &change.originate_removed {
            self.rib.withdraw_originated(*p);
        }
        for p in change
            .originate_added
            .iter()
            .chain(&change.originate_changed)
        {
            if let Some((_, attrs)) = self.config.originated().iter().find(|(q, _)| q == p) {
                self.rib.originate(*p, attrs.clone());
            }
        }
        self.emit("config", None, "configuration applied".to_string());
    }

    fn on_state(&mut self, peer: IpAddr, state: State) {
        self.metrics.session_state(peer, session_state(state));
        if let Some(n) = self.neighbors.get_mut(&peer) {
            if n.state != state {
                n.set_state(state, Instant::now());
                debug!(neighbor = %peer, ?state, "session state");
                self.emit("session", Some(peer), format!("{:?}", session_state(state)));
            }
        }
    }

    fn on_event(&mut self, ev: PeerEvent) {
        let peer = ev.peer;
        let Some(id) = self.neighbors.get(&peer).map(|n| n.id) else {
            return;
        };
        if let Some(d) = self.deferral.as_mut() {
            d.on_event(peer, &ev.event);
        }
        let now = Instant::now();
        match ev.event {
            SessionEvent::Established(negotiated) => {
                let (nh, other) = session_next_hops(local_address(&self.config, peer));
                if let Some(mut pc) = self.config.peer_config(peer, id, negotiated.peer_id, nh) {
                    pc.other_family_next_hop = other;
                    pc.families = self.negotiated_families(peer, &negotiated);
                    pc.add_path_send = self.config.add_path_send(peer, &negotiated.encode);
                    if let Err(e) = self.rib.add_peer(pc) {
                        warn!(neighbor = %peer, "RIB: {e}");
                    }
                }
                info!(neighbor = %peer, asn = negotiated.peer_as, hold = negotiated.hold_time, "Established");
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.established(negotiated, now);
                }
                self.metrics
                    .session_state(peer, crate::api::model::SessionState::Established);
                self.coming_up.push(id);
                self.emit("session", Some(peer), "Established".to_string());
            }
            SessionEvent::Down { reason, retention } => {
                let unix = unix_now().as_secs();
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.down(&reason, now, unix);
                }
                self.outbox.clear(peer);
                self.coming_up.retain(|&p| p != id);
                let text = super::neighbors::down_reason(&reason);
                match retention {
                    RouteRetention::Flush => {
                        let _ = self.rib.peer_down(id);
                    }
                    RouteRetention::KeepStale { families, .. } => {
                        // RFC 4724 §4.2: keep the routes of the families
                        // the peer preserves, marked stale.
                        let stale = self.rib.peer_down_graceful(id).unwrap_or(0);
                        for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
                            if !families.contains(&f) {
                                let _ = self.rib.sweep_stale(id, Some(f));
                            }
                        }
                        info!(neighbor = %peer, stale, "graceful restart: routes kept as stale");
                    }
                }
                warn!(neighbor = %peer, "session down: {text}");
                self.emit("session", Some(peer), format!("down: {text}"));
            }
            SessionEvent::Update(update) => self.on_update(peer, id, *update),
            SessionEvent::EndOfRib(f) => {
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.eor_received.insert(f);
                }
                debug!(neighbor = %peer, family = %f, "End-of-RIB received");
            }
            SessionEvent::RouteRefresh(rr) => {
                if rr.subtype == RouteRefreshSubtype::Request {
                    self.refresh_to(peer, id, rr.family);
                }
            }
            SessionEvent::SweepStale(f) => {
                let swept = self.rib.sweep_stale(id, Some(f)).unwrap_or(0);
                info!(neighbor = %peer, family = %f, swept, "stale routes swept");
            }
        }
    }

    /// Ask a neighbour to send its routes again, for each configured family
    /// (RFC 2918).
    fn request_refresh(&mut self, peer: IpAddr) {
        for f in families_of(&self.config, peer) {
            self.outbox.push(
                peer,
                SessionCommand::SendRouteRefresh(RouteRefresh::request(f)),
            );
        }
    }

    /// The families both sides listed (RFC 4760 §8).
    fn negotiated_families(&self, peer: IpAddr, n: &bgp::fsm::Negotiated) -> ribs::rib::Families {
        let ours = families_of(&self.config, peer);
        let theirs: Vec<Family> = n
            .peer_capabilities
            .iter()
            .filter_map(|c| match c {
                bgp::wire::Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        ribs::rib::Families::negotiated(&ours, &theirs, !theirs.is_empty())
    }

    fn on_update(&mut self, peer: IpAddr, id: PeerId, update: Update) {
        let four_octet = self
            .neighbors
            .get(&peer)
            .and_then(|n| n.negotiated.as_ref())
            .is_none_or(|n| n.decode.four_octet_as);
        if !update.errors.is_empty() {
            warn!(neighbor = %peer, errors = ?update.errors, "UPDATE with RFC 7606 errors");
            for e in &update.errors {
                self.metrics
                    .update_error(peer, UpdateErrorVerdict::from(&e.verdict));
            }
        }
        let outcome = match self.rib.apply_update_owned(id, update, four_octet) {
            Ok(o) => o,
            Err(e) => {
                warn!(neighbor = %peer, "RIB: {e}");
                return;
            }
        };
        if let Some(n) = self.neighbors.get_mut(&peer) {
            n.rejected += (outcome.rejected_policy + outcome.rejected_loop) as u64;
        }
        if let Some(max) = outcome.max_prefix_exceeded {
            let mp = self
                .config
                .neighbor(peer)
                .and_then(|n| n.max_prefix.clone());
            warn!(neighbor = %peer, limit = max.limit, "maximum prefix count exceeded");
            self.emit(
                "session",
                Some(peer),
                format!("maximum prefix count {} exceeded", max.limit),
            );
            if let Some(mp) = mp {
                if mp.action != MaxPrefixAction::Warn {
                    let family = match peer {
                        IpAddr::V4(_) => Family::IPV4_UNICAST,
                        IpAddr::V6(_) => Family::IPV6_UNICAST,
                    };
                    self.outbox.push(
                        peer,
                        SessionCommand::MaxPrefix {
                            family,
                            limit: mp.limit,
                        },
                    );
                    if let (Some(after), Some(n)) =
                        (mp.restart_after, self.neighbors.get_mut(&peer))
                    {
                        n.restart_at = Some(Instant::now() + Duration::from_secs(u64::from(after)));
                    }
                }
            }
        }
    }

    /// Answer a ROUTE-REFRESH (RFC 2918 §4): the Adj-RIB-Out again; under
    /// Enhanced Route Refresh between BoRR and EoRR (RFC 7313 §4).
    fn refresh_to(&mut self, peer: IpAddr, id: PeerId, family: Family) {
        let enhanced = self
            .neighbors
            .get(&peer)
            .and_then(|n| n.negotiated.as_ref())
            .is_some_and(|n| {
                n.peer_capabilities
                    .iter()
                    .any(|c| matches!(c, bgp::wire::Capability::EnhancedRouteRefresh))
            })
            // RFC 7313 §3: only when both sides advertised it.
            && self.config.neighbor(peer).is_some_and(|c| {
                self.config
                    .capabilities(c)
                    .iter()
                    .any(|c| matches!(c, bgp::wire::Capability::EnhancedRouteRefresh))
            });
        if enhanced {
            self.outbox.push(
                peer,
                SessionCommand::SendRouteRefresh(RouteRefresh {
                    family,
                    subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
                }),
            );
        }
        self.bring_up();
        let _ = self.rib.peer_up(id);
        self.send_updates(peer, id);
        if enhanced {
            self.outbox.push(
                peer,
                SessionCommand::SendRouteRefresh(RouteRefresh {
                    family,
                    subtype: RouteRefreshSubtype::EndOfRouteRefresh,
                }),
            );
        }
    }

    fn restart_due(&mut self) {
        let now = Instant::now();
        let due: Vec<IpAddr> = self
            .neighbors
            .values_mut()
            .filter(|n| n.restart_at.is_some_and(|t| t <= now))
            .map(|n| {
                n.restart_at = None;
                n.address
            })
            .collect();
        for peer in due {
            info!(neighbor = %peer, "max-prefix restart timer: starting the session again");
            self.outbox.push(peer, SessionCommand::Start);
        }
    }

    async fn end_deferral(&mut self) {
        if self.deferral.take().is_some() {
            info!("graceful restart: selection deferral over");
            self.emit("route", None, "selection deferral over".to_string());
            self.flush().await;
            if let Some(fib) = &self.fib {
                match fib.converged().await {
                    Ok(n) => info!(removed = n, "FIB: stale routes removed"),
                    Err(e) => warn!("FIB: {e}"),
                }
            }
        }
    }

    /// Queue the pending UPDATEs of one neighbour, then End-of-RIB after
    /// its initial table.
    fn send_updates(&mut self, peer: IpAddr, id: PeerId) {
        let Some(n) = self.neighbors.get(&peer) else {
            return;
        };
        let Some(neg) = n.negotiated.as_ref() else {
            return;
        };
        let ctx = neg.encode;
        let eor_due = !n.eor_sent;
        // Encoded once per update group, shared by its members.
        let updates = match self.rib.take_encoded(id, &ctx) {
            Ok(u) => u,
            Err(e) => {
                warn!(neighbor = %peer, "RIB: {e}");
                return;
            }
        };
        for u in updates {
            self.outbox.push(peer, SessionCommand::SendEncodedUpdate(u));
        }
        if eor_due {
            if let Some(n) = self.neighbors.get_mut(&peer) {
                n.eor_sent = true;
            }
            for f in families_of(&self.config, peer) {
                self.outbox.push(peer, SessionCommand::SendEndOfRib(f));
            }
        }
    }

    /// Bring the sessions Established since the last flush up in the RIB,
    /// together.
    fn bring_up(&mut self) {
        if self.coming_up.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.coming_up);
        if let Err(e) = self.rib.peers_up(&ids) {
            warn!("RIB: {e}");
        }
    }

    /// Hand on what the last events changed.
    async fn flush(&mut self) {
        self.bring_up();
        if let Some(d) = &self.deferral {
            if d.is_over(Instant::now()) {
                Box::pin(self.end_deferral()).await;
            }
            return;
        }
        let up: Vec<(IpAddr, PeerId)> = self
            .neighbors
            .values()
            .filter(|n| n.is_up())
            .map(|n| (n.address, n.id))
            .collect();
        for (peer, id) in up {
            self.send_updates(peer, id);
        }
        self.flush_fib();
        self.update_readiness();
        self.update_gauges();
    }

    /// Hands the RIB's FIB changes to the writer in chunks of
    /// [`FIB_CHUNK`], so that a whole table's changes are never all queued
    /// at once, each change a shared target and no allocation of its own.
    fn flush_fib(&mut self) {
        let Some(fib) = &self.fib else {
            // Nothing to install: drop what the RIB recorded.
            self.rib.drain_fib_changes(|_, _| ());
            return;
        };
        let targets = &mut self.targets;
        let unreachable = &self.unreachable;
        let mut routes = Vec::new();
        let mut count = 0usize;
        let mut failed = None;
        self.rib.drain_fib_changes(|prefix, next_hops| {
            count += 1;
            // Our own prefix with no better route: unreachable rather than
            // nothing, when so configured.
            routes.push(if next_hops.is_none() && unreachable.contains(&prefix) {
                RouteChange::unreachable(prefix)
            } else {
                targets.route(prefix, next_hops)
            });
            if routes.len() == FIB_CHUNK {
                let chunk = std::mem::replace(&mut routes, Vec::with_capacity(FIB_CHUNK));
                if let Err(e) = fib.apply(chunk) {
                    failed = Some(e);
                }
            }
        });
        if !routes.is_empty() {
            if let Err(e) = fib.apply(routes) {
                failed = Some(e);
            }
        }
        if count > 0 {
            debug!(changes = count, "FIB changes");
        }
        if let Some(e) = failed {
            warn!("FIB: {e}");
        }
    }

    /// Received is what was accepted plus what import policy or loop
    /// detection rejected in this session (rejected routes are not kept,
    /// so one sent again after a ROUTE-REFRESH counts again).
    fn prefix_counts(&self, n: &NeighborState) -> PrefixCounts {
        let accepted = self.rib.accepted(n.id).unwrap_or(0) as u64;
        PrefixCounts {
            received: accepted + n.rejected,
            accepted,
            advertised: self.rib.advertised(n.id).unwrap_or(0) as u64,
        }
    }

    /// Message counters into the metrics: the sessions count, the
    /// metrics get the increase since the last report.
    fn report_messages(&mut self) {
        for (peer, st) in &self.stats {
            let (rx, tx) = (st.received(), st.sent());
            let (last_rx, last_tx) = self.reported.get(peer).copied().unwrap_or_default();
            for k in KINDS {
                self.metrics.messages_received(
                    *peer,
                    k,
                    by_kind(&rx, k).saturating_sub(by_kind(&last_rx, k)),
                );
                self.metrics.messages_sent(
                    *peer,
                    k,
                    by_kind(&tx, k).saturating_sub(by_kind(&last_tx, k)),
                );
            }
            self.reported.insert(*peer, (rx, tx));
        }
    }

    fn update_gauges(&mut self) {
        self.report_messages();
        let loc = self.rib.loc_rib();
        self.metrics.rib_prefixes(AddressFamily::Ipv4, loc.len_v4());
        self.metrics.rib_prefixes(AddressFamily::Ipv6, loc.len_v6());
        self.metrics.rib_attribute_sets(self.rib.attribute_sets());
        self.metrics.rib_update_groups(self.rib.update_groups().0);
        for n in self.neighbors.values() {
            self.metrics.prefixes(n.address, self.prefix_counts(n));
        }
    }

    fn update_readiness(&mut self) {
        if *self.ready.borrow() {
            return;
        }
        let converged = !self.deferring()
            && self.neighbors.values().all(|n| {
                let want = self
                    .config
                    .neighbor(n.address)
                    .map_or(0, |c| self.config.families(c).len());
                n.is_up() && n.eor_received.len() >= want
            });
        if converged {
            info!("converged: End-of-RIB from every neighbour");
            let _ = self.ready.send(true);
        }
    }

    // ----- the API -----

    async fn on_api(&mut self, req: ApiRequest) {
        match req {
            ApiRequest::Status(reply) => {
                let _ = reply.send(Ok(self.status()));
            }
            ApiRequest::Neighbors(reply) => {
                let all = self
                    .neighbors
                    .keys()
                    .filter_map(|a| self.neighbor(*a))
                    .collect();
                let _ = reply.send(Ok(all));
            }
            ApiRequest::Neighbor(addr, reply) => {
                let _ = reply.send(
                    self.neighbor(addr)
                        .ok_or_else(|| ApiError::NotFound(format!("no neighbor {addr}"))),
                );
            }
            ApiRequest::Rib(q, reply) => {
                let _ = reply.send(self.loc_rib(&q));
            }
            ApiRequest::RibIn(addr, q, reply) => {
                let _ = reply.send(self.rib_in(addr, &q));
            }
            ApiRequest::RibOut(addr, q, reply) => {
                let _ = reply.send(self.rib_out(addr, &q));
            }
            ApiRequest::Fib(reply) => {
                let _ = reply.send(fib_view(self.fib.as_ref()).await);
            }
            ApiRequest::Action(addr, action, reply) => {
                let _ = reply.send(self.action(addr, action));
            }
        }
    }

    fn status(&self) -> Status {
        let c = self.config.config();
        let (v4, v6) = (self.rib.loc_rib().len_v4(), self.rib.loc_rib().len_v6());
        Status {
            api_version: API_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            local_asn: c.local_asn,
            router_id: c.router_id,
            uptime_secs: self.started.elapsed().as_secs(),
            neighbors: self.neighbors.len(),
            established: self.neighbors.values().filter(|n| n.is_up()).count(),
            rib_ipv4_prefixes: v4,
            rib_ipv6_prefixes: v6,
            attribute_sets: self.rib.attribute_sets(),
            selection_deferred: self.deferring(),
        }
    }

    fn neighbor(&self, addr: IpAddr) -> Option<model::Neighbor> {
        let n = self.neighbors.get(&addr)?;
        let c = self.config.neighbor(addr)?;
        let prefixes = self.prefix_counts(n);
        let (rx, tx) = self
            .stats
            .get(&addr)
            .map(|s| (s.received(), s.sent()))
            .unwrap_or_default();
        Some(n.view(
            Instant::now(),
            (api_counts(rx), api_counts(tx)),
            c.asn,
            c.description.clone(),
            self.config.peer_kind(c) == PeerKind::Ibgp,
            prefixes,
            self.rib.stale_routes(n.id) as u64,
        ))
    }

    fn prefix_filter(&self, q: &RibQuery) -> Result<Option<Vec<Prefix>>, ApiError> {
        let Some(text) = q.prefix.as_deref() else {
            return Ok(None);
        };
        if let Some((addr, len)) = text.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("{text}: not a prefix")))?;
            let len: u8 = len
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("{text}: not a prefix length")))?;
            let p = Prefix::new(addr, len)
                .ok_or_else(|| ApiError::BadRequest(format!("{text}: prefix length too long")))?;
            return Ok(Some(vec![p]));
        }
        let addr: IpAddr = text
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("{text}: not an address or prefix")))?;
        Ok(Some(self.rib.longest_match(addr).into_iter().collect()))
    }

    fn family_ok(q: &RibQuery, p: &Prefix) -> bool {
        matches!(
            (q.family, p),
            (None, _)
                | (Some(AddressFamily::Ipv4), Prefix::V4(_))
                | (Some(AddressFamily::Ipv6), Prefix::V6(_))
        )
    }

    fn loc_rib(&self, q: &RibQuery) -> Result<Vec<Route>, ApiError> {
        let mut prefixes = match self.prefix_filter(q)? {
            Some(p) => p,
            None => self.rib.loc_rib().iter().map(|(p, _)| p).collect(),
        };
        prefixes.retain(|p| Self::family_ok(q, p));
        prefixes.sort_unstable();
        Ok(prefixes
            .into_iter()
            .filter_map(|p| {
                let paths = self.rib.explain(&p);
                (!paths.is_empty()).then(|| Route {
                    prefix: render::prefix(&p),
                    paths: render::explained(&paths, &self.ids, q.explain),
                })
            })
            .collect())
    }

    fn peer_id(&self, addr: IpAddr) -> Result<PeerId, ApiError> {
        self.neighbors
            .get(&addr)
            .map(|n| n.id)
            .ok_or_else(|| ApiError::NotFound(format!("no neighbor {addr}")))
    }

    fn group(
        &self,
        q: &RibQuery,
        routes: impl Iterator<Item = (Prefix, model::PathInfo)>,
    ) -> Result<Vec<Route>, ApiError> {
        let only = self.prefix_filter(q)?;
        let mut by_prefix: BTreeMap<Prefix, Vec<model::PathInfo>> = BTreeMap::new();
        for (p, info) in routes {
            if !Self::family_ok(q, &p) || only.as_ref().is_some_and(|o| !o.contains(&p)) {
                continue;
            }
            by_prefix.entry(p).or_default().push(info);
        }
        Ok(by_prefix
            .into_iter()
            .map(|(p, paths)| Route {
                prefix: render::prefix(&p),
                paths,
            })
            .collect())
    }

    fn rib_in(&self, addr: IpAddr, q: &RibQuery) -> Result<Vec<Route>, ApiError> {
        let id = self.peer_id(addr)?;
        let paths = self
            .rib
            .adj_rib_in(id)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let ids = &self.ids;
        self.group(
            q,
            paths
                .into_iter()
                .map(|(p, path)| (p, render::path(&path.attrs, path.peer, path.path_id, ids))),
        )
    }

    fn rib_out(&self, addr: IpAddr, q: &RibQuery) -> Result<Vec<Route>, ApiError> {
        let id = self.peer_id(addr)?;
        let routes = self
            .rib
            .adj_rib_out(id)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let ids = &self.ids;
        self.group(
            q,
            routes.into_iter().map(|(p, path_id, a)| {
                let mut info = render::path(&a, PeerId::LOCAL, path_id, ids);
                info.best = true;
                (p, info)
            }),
        )
    }
}

/// The FIB view for the API (a free function: the RIB task is not `Sync`,
/// so no reference to it may live across an await).
async fn fib_view(fib: Option<&FibHandle>) -> Result<Vec<FibRoute>, ApiError> {
    let Some(fib) = fib else {
        return Ok(Vec::new());
    };
    let view = fib
        .view()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(view
        .entries
        .into_iter()
        .map(|e| {
            let next_hops = match &e.target {
                Some(Target::Unicast(gws)) => gws
                    .iter()
                    .map(|g| {
                        let mut t = g.addr.to_string();
                        if let Some(i) = g.ifindex {
                            t.push_str(&format!(" ifindex {i}"));
                        }
                        if g.onlink {
                            t.push_str(" onlink");
                        }
                        t
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let (state, error) = match &e.state {
                RouteState::Installed => (FibState::Installed, None),
                RouteState::Pending | RouteState::Stale | RouteState::Unusable => {
                    (FibState::Pending, None)
                }
                RouteState::Failed { error, .. } => (FibState::Failed, Some(error.to_string())),
            };
            FibRoute {
                prefix: render::prefix(&e.prefix),
                next_hops,
                state,
                error,
            }
        })
        .collect())
}

impl RibTask {
    fn action(&mut self, addr: IpAddr, action: NeighborAction) -> Result<(), ApiError> {
        let id = self.peer_id(addr)?;
        info!(neighbor = %addr, ?action, "operator action");
        match action {
            NeighborAction::Reset { message } => {
                self.outbox.push(
                    addr,
                    SessionCommand::Reset {
                        communication: message,
                    },
                );
            }
            NeighborAction::Shutdown { message } => {
                self.outbox.push(
                    addr,
                    SessionCommand::Shutdown {
                        communication: message,
                    },
                );
            }
            NeighborAction::Start => self.outbox.push(addr, SessionCommand::Start),
            NeighborAction::Refresh => {
                let n = self.neighbors.get(&addr);
                if !n.is_some_and(NeighborState::is_up) {
                    return Err(ApiError::BadRequest(format!(
                        "neighbor {addr} is not Established"
                    )));
                }
                // With the pre-policy routes kept, the import policy is
                // applied again at once; the refresh request covers the
                // rest (RFC 2918).
                let _ = self.rib.reapply_import(id);
                self.request_refresh(addr);
            }
        }
        self.emit("session", Some(addr), "operator action".to_string());
        Ok(())
    }
}

async fn notified(n: Option<&tokio::sync::Notify>) {
    match n {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn event(n: u8, event: SessionEvent) -> PeerEvent {
        PeerEvent {
            peer: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            event,
        }
    }

    fn update(n: u8) -> PeerEvent {
        event(n, SessionEvent::Update(Box::default()))
    }

    #[test]
    fn a_batch_is_full_once_its_updates_came_from_sources_peers() {
        let mut s = Sources::default();
        // Other events and a peer's further UPDATEs do not count.
        assert!(!s.note(&event(1, SessionEvent::EndOfRib(Family::IPV4_UNICAST))));
        assert!(!s.note(&event(2, SessionEvent::SweepStale(Family::IPV4_UNICAST))));
        for n in 1..SOURCES as u8 {
            assert!(!s.note(&update(n)), "{n} sources");
            assert!(!s.note(&update(n)), "{n} sources, again");
        }
        assert!(s.note(&update(SOURCES as u8)));
        assert_eq!(s.0.len(), SOURCES);
    }
}
