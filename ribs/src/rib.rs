//! The RIB: peers, the import pipeline into the Loc-RIB, the decision
//! process, and the export pipeline into each peer's Adj-RIB-Out.
//!
//! ```text
//!  UPDATE from peer ──> loop checks ──> import policy ──> intern ──> Loc-RIB
//!  (bgp::wire)          RFC 4271 §9.1.2,  (RFC 8212                   │ decision
//!                       RFC 4456 §8       default)                    │ (RFC 4271 §9.1)
//!                                                                     v
//!  FIB changes <──────────────────────────────────────────── best / ECMP set
//!                                                                     │
//!  UPDATEs to peer <── Adj-RIB-Out <── export policy <── iBGP / RR rules, next hop,
//!                      (packing)                         AS_PATH prepend (RFC 4271 §5.1)
//! ```
//!
//! Everything is synchronous and deterministic: the caller (the agent's RIB
//! task) feeds decoded UPDATEs in and takes UPDATEs and FIB changes out.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp::wire::{AsSegment, Family, MpNextHop, MpNlri, SegmentType, Update};
use bytes::Bytes;

use crate::add_path::{AddPathSend, SendPaths};
use crate::attrs::{AttrTable, Attrs, NextHop, PathAttrs};
use crate::decision::{self, Candidate, DecisionConfig, Reachability, Reason, Selection};
use crate::loc_rib::{Dest, LocRib, Many, Path, Upserted};
use crate::peer::{PeerId, PeerInfo, PeerKind};
use crate::policy::{self, Policy, PolicyVerdict, RouteContext};
use crate::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};
use crate::update_group::{same_export, Batch, GroupId, UpdateGroup};

mod export_paths;

/// Answers whether a next hop is reachable, and at what IGP cost
/// (RFC 4271 §9.1.2.1). The agent backs it with the kernel's routes.
pub trait NextHopResolver: std::fmt::Debug + Send + Sync {
    /// Reachability of `next_hop`.
    fn resolve(&self, next_hop: &NextHop) -> Reachability;
}

/// Every next hop is reachable at unknown cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllReachable;

impl NextHopResolver for AllReachable {
    fn resolve(&self, _: &NextHop) -> Reachability {
        Reachability::Reachable { igp_cost: None }
    }
}

/// What to do when a peer sends more prefixes than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPrefix {
    /// The limit.
    pub limit: usize,
    /// Only warn (the RIB reports it once); otherwise the session must be
    /// torn down with Cease / Maximum Number of Prefixes Reached (RFC 4486).
    pub warn_only: bool,
}

/// Per-peer RIB configuration.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer.
    pub info: PeerInfo,
    /// Import policy (`None`: RFC 8212 default).
    pub import: Option<Policy>,
    /// Export policy (`None`: RFC 8212 default).
    pub export: Option<Policy>,
    /// Our address on this session: the next hop we advertise for
    /// ourselves (next-hop-self, originated routes).
    pub local_next_hop: NextHop,
    /// Our address of the other family, on the interface towards this
    /// peer: the next hop of routes of that family over this session
    /// (MP-BGP, RFC 4760 §3: IPv6 routes over an IPv4 session, RFC 2545;
    /// IPv4 routes over an IPv6 session). Without it, IPv6 routes are not
    /// sent over an IPv4 session, and IPv4 routes over an IPv6 session go
    /// with the IPv6 next hop only where RFC 8950 was negotiated.
    pub other_family_next_hop: Option<NextHop>,
    /// The address families negotiated with the peer (RFC 4760 §8: only
    /// routes of a family both sides listed in their Multiprotocol
    /// capabilities are sent).
    pub families: Families,
    /// Set the next hop to ourselves towards this iBGP peer too (it is
    /// always done towards eBGP peers, except for a third-party next hop).
    pub next_hop_self: bool,
    /// The subnet shared with this peer: a next hop inside it is passed on
    /// unchanged to the peer (third-party next hop, RFC 4271 §5.1.3).
    pub shared_subnet: Option<Prefix>,
    /// Accept routes with our own AS in the AS_PATH up to this many times.
    pub allowas_in: u8,
    /// Keep the pre-policy Adj-RIB-In (soft reconfiguration inbound), so a
    /// changed import policy is applied without a route refresh.
    pub soft_reconfiguration_inbound: bool,
    /// Maximum number of accepted prefixes.
    pub max_prefix: Option<MaxPrefix>,
    /// ADD-PATH send (RFC 7911) per family: more than the best path, each
    /// with a Path Identifier of ours. Only for families whose encode
    /// context carries Path Identifiers towards this peer (RFC 7911 §4).
    pub add_path_send: AddPathSend,
}

impl PeerConfig {
    /// A configuration with no policies (RFC 8212 applies), next hop
    /// `local_next_hop`, and no limits.
    pub fn new(info: PeerInfo, local_next_hop: NextHop) -> Self {
        PeerConfig {
            info,
            import: None,
            export: None,
            local_next_hop,
            other_family_next_hop: None,
            families: Families::default(),
            next_hop_self: false,
            shared_subnet: None,
            allowas_in: 0,
            soft_reconfiguration_inbound: false,
            max_prefix: None,
            add_path_send: AddPathSend::default(),
        }
    }
}

/// Unicast address families a session carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    /// IPv4 unicast.
    pub ipv4: bool,
    /// IPv6 unicast.
    pub ipv6: bool,
}

impl Default for Families {
    /// Both, until the session says otherwise.
    fn default() -> Self {
        Families {
            ipv4: true,
            ipv6: true,
        }
    }
}

impl Families {
    /// From the Multiprotocol capabilities both sides sent (RFC 4760 §8);
    /// a peer that sent none carries IPv4 unicast only (RFC 4760 §1).
    pub fn negotiated(ours: &[Family], theirs: &[Family], theirs_sent_any: bool) -> Self {
        let both = |f: Family| ours.contains(&f) && theirs.contains(&f);
        if theirs_sent_any {
            Families {
                ipv4: both(Family::IPV4_UNICAST),
                ipv6: both(Family::IPV6_UNICAST),
            }
        } else {
            Families {
                ipv4: ours.is_empty() || ours.contains(&Family::IPV4_UNICAST),
                ipv6: false,
            }
        }
    }

    /// Whether `prefix`'s family is carried.
    pub fn carries(&self, prefix: &Prefix) -> bool {
        match prefix {
            Prefix::V4(_) => self.ipv4,
            Prefix::V6(_) => self.ipv6,
        }
    }
}

/// RIB-wide configuration.
#[derive(Debug, Clone)]
pub struct RibConfig {
    /// Our AS.
    pub local_asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// CLUSTER_ID when we are a route reflector (RFC 4456 §7); defaults to
    /// the router id when any peer is a client.
    pub cluster_id: Option<Ipv4Addr>,
    /// Decision process settings.
    pub decision: DecisionConfig,
}

#[derive(Debug)]
struct PeerState {
    config: PeerConfig,
    /// Established: routes are exported to it.
    up: bool,
    /// Pre-policy Adj-RIB-In (soft reconfiguration inbound).
    adj_in_pre: Option<HashMap<(Prefix, u32), Attrs>>,
    /// Prefixes accepted into the Loc-RIB from this peer.
    accepted: usize,
    max_prefix_reported: bool,
    /// Its update group while Established.
    group: Option<GroupId>,
    /// UPDATEs built for it and not taken yet.
    pending: VecDeque<Arc<Batch>>,
    /// Graceful restart (RFC 4724 §4.2): the routes kept from the previous
    /// session that the new one has not yet refreshed.
    stale: HashSet<(Prefix, u32), foldhash::fast::RandomState>,
}

/// A change of the forwarding state of a prefix, for the FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibChange {
    /// The prefix.
    pub prefix: Prefix,
    /// The next hops of the best route (several: ECMP), or `None` when the
    /// prefix has no route any more. Locally originated routes are not
    /// installed (`None`).
    pub next_hops: Option<Vec<NextHop>>,
}

/// What processing one UPDATE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// Prefixes accepted (new or changed paths).
    pub accepted: usize,
    /// Prefixes rejected by loop detection.
    pub rejected_loop: usize,
    /// Prefixes rejected by import policy (including RFC 8212).
    pub rejected_policy: usize,
    /// Prefixes withdrawn.
    pub withdrawn: usize,
    /// Set when the peer went over its maximum prefix count.
    pub max_prefix_exceeded: Option<MaxPrefix>,
}

/// One path of a prefix with its place in the decision, for `twillctl rib
/// --explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainedPath {
    /// The path.
    pub path: Path,
    /// Selected as best.
    pub best: bool,
    /// In the multipath (ECMP) set.
    pub multipath: bool,
    /// Why it lost, and to which path (index in the list), when it did.
    pub lost: Option<(usize, Reason)>,
}

/// Routes as (prefix, Path Identifier, attributes).
pub type Routes = Vec<(Prefix, u32, Attrs)>;

/// The RIB.
#[derive(Debug)]
pub struct Rib {
    config: RibConfig,
    attrs: AttrTable,
    peers: BTreeMap<PeerId, PeerState>,
    local: PeerInfo,
    loc: LocRib,
    resolver: Box<dyn NextHopResolver>,
    /// Prefixes whose forwarding state changed since the last
    /// [`Rib::take_fib_changes`], by family: an IPv4 prefix is 5 bytes
    /// here, 18 as a [`Prefix`].
    fib: FibQueue,
    /// Whether anyone takes FIB changes ([`Rib::keep_fib_changes`]).
    fib_kept: bool,
    /// Update groups of the Established peers (no export work at all
    /// while there are none).
    groups: BTreeMap<GroupId, UpdateGroup>,
    next_group: GroupId,
    /// Stale routes of all peers (graceful restart): while there are none,
    /// a route change costs no stale-set lookup.
    stale_total: usize,
    /// Update groups that send several paths per prefix in a family
    /// (ADD-PATH): while there are none, a route change does not look at
    /// the groups for them.
    path_groups: usize,
    /// Reused list of update groups for [`Rib::export_prefix`].
    export_ids: Vec<GroupId>,
    /// Room for the prefixes of the UPDATE being applied.
    scratch_prefixes: Vec<(Prefix, u32)>,
    /// See [`Rib::compact_at`].
    compact_at: Option<usize>,
}

/// Errors of RIB operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// No such peer.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// An UPDATE could not be encoded (a packing defect).
    #[error("cannot encode an UPDATE: {0}")]
    Encode(#[from] bgp::wire::EncodeError),
    /// [`PeerId::LOCAL`] is reserved.
    #[error("peer id 0 is reserved for locally originated routes")]
    ReservedPeerId,
}

/// Identity of a selection, to tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selected {
    best: Option<(PeerId, u32, *const PathAttrs)>,
    next_hops: NextHops,
}

/// The ECMP next hops; no allocation for the usual single path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NextHops {
    None,
    One(NextHop),
    Many(Vec<NextHop>),
}

/// The selection of `dest`; its next hops only with `next_hops` (they
/// matter to the FIB alone, and reading them costs a look into each
/// path's attributes: another cache miss per change on a large table).
fn selected_of(dest: Option<&Dest>, next_hops: bool) -> Selected {
    let best = dest.and_then(Dest::best);
    let next_hops = match dest {
        _ if !next_hops => NextHops::None,
        None => NextHops::None,
        Some(Dest::One(path)) => NextHops::One(path.attrs.next_hop),
        // The same next hops compare equal however they are stored.
        Some(d @ Dest::Many(_)) => match d.multipath().as_slice() {
            [] => NextHops::None,
            [p] => NextHops::One(p.attrs.next_hop),
            mp => NextHops::Many(mp.iter().map(|p| p.attrs.next_hop).collect()),
        },
    };
    Selected {
        best: best.map(|p| (p.peer, p.path_id, Arc::as_ptr(&p.attrs))),
        next_hops,
    }
}

/// What the decision process needs, borrowed apart from the Loc-RIB so a
/// destination can be changed and re-decided with one lookup.
struct Decide<'a> {
    peers: &'a BTreeMap<PeerId, PeerState>,
    local: &'a PeerInfo,
    resolver: &'a dyn NextHopResolver,
    config: &'a DecisionConfig,
}

impl<'a> Decide<'a> {
    fn info(&self, id: PeerId) -> Option<&'a PeerInfo> {
        if id == PeerId::LOCAL {
            Some(self.local)
        } else {
            self.peers.get(&id).map(|p| &p.config.info)
        }
    }

    fn reach(&self, path: &Path) -> Reachability {
        if path.peer == PeerId::LOCAL {
            Reachability::Reachable { igp_cost: Some(0) }
        } else {
            self.resolver.resolve(&path.attrs.next_hop)
        }
    }

    /// Candidates for the decision process, in path order.
    fn candidates<'p>(&self, paths: &'p [Path]) -> Vec<Candidate<'p>>
    where
        'a: 'p,
    {
        paths
            .iter()
            .filter_map(|p| {
                Some(Candidate {
                    peer: self.info(p.peer)?,
                    attrs: &p.attrs,
                    path_id: p.path_id,
                    reach: self.reach(p),
                })
            })
            .collect()
    }

    /// Whether a path may be selected at all (RFC 4271 §9.1.2.1).
    fn eligible(&self, path: &Path) -> bool {
        !matches!(self.reach(path), Reachability::Unreachable)
    }

    /// Run the decision process on one destination.
    fn run(&self, dest: &mut Dest) {
        match dest {
            Dest::One(path) => {
                if !self.eligible(path) {
                    *dest = Dest::single(path.clone(), false);
                }
            }
            Dest::Many(m) => {
                let sel = decision::select(&self.candidates(&m.paths), self.config);
                apply_selection(m, &sel);
                // A last path that is eligible goes back inline.
                if m.paths.len() == 1 && m.best.is_some() {
                    if let Some(path) = m.paths.pop() {
                        *dest = Dest::One(path);
                    }
                }
            }
        }
    }
}

/// RFC 4271 §9.1.2: how many times `asn` appears in the AS_PATH.
fn as_count(attrs: &PathAttrs, asn: u32) -> usize {
    attrs
        .as_path
        .segments
        .iter()
        .map(|s| s.asns.iter().filter(|&&a| a == asn).count())
        .sum()
}

/// The (prefix, Path Identifier) of each NLRI entry, an absent identifier
/// as 0 (RFC 7911 §3: without ADD-PATH a peer has one path per prefix).
fn keys<P: Copy>(
    entries: &[bgp::wire::Nlri<P>],
    prefix: fn(P) -> Prefix,
) -> impl Iterator<Item = (Prefix, u32)> + '_ {
    entries
        .iter()
        .map(move |n| (prefix(n.prefix), n.path_id.unwrap_or(0)))
}

/// `path` with `asn` in front (RFC 4271 §5.1.2): into its first segment
/// when that is an AS_SEQUENCE with room (255 ASes at most), else in a
/// new AS_SEQUENCE. Built at its final size, not copied and then grown.
pub(crate) fn prepended(path: &bgp::wire::AsPath, asn: u32) -> bgp::wire::AsPath {
    let mut segments = Vec::with_capacity(path.segments.len() + 1);
    let rest = match path.segments.split_first() {
        Some((s, rest)) if s.kind == SegmentType::AsSequence && s.asns.len() < 255 => {
            let mut asns = Vec::with_capacity(s.asns.len() + 1);
            asns.push(asn);
            asns.extend_from_slice(&s.asns);
            segments.push(AsSegment {
                kind: SegmentType::AsSequence,
                asns,
            });
            rest
        }
        _ => {
            segments.push(AsSegment {
                kind: SegmentType::AsSequence,
                asns: vec![asn],
            });
            &path.segments[..]
        }
    };
    segments.extend_from_slice(rest);
    bgp::wire::AsPath { segments }
}

impl Rib {
    /// An empty RIB.
    pub fn new(config: RibConfig, resolver: Box<dyn NextHopResolver>) -> Self {
        let local = PeerInfo::local(config.local_asn, config.router_id);
        Rib {
            config,
            attrs: AttrTable::new(),
            peers: BTreeMap::new(),
            local,
            loc: LocRib::new(),
            resolver,
            fib: FibQueue::default(),
            fib_kept: true,
            groups: BTreeMap::new(),
            next_group: 0,
            stale_total: 0,
            path_groups: 0,
            export_ids: Vec::new(),
            scratch_prefixes: Vec::new(),
            compact_at: None,
        }
    }

    /// The Loc-RIB.
    pub fn loc_rib(&self) -> &LocRib {
        &self.loc
    }

    /// Number of distinct attribute sets in use.
    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }

    /// Prefixes accepted from `peer`.
    pub fn accepted(&self, peer: PeerId) -> Option<usize> {
        self.peers.get(&peer).map(|p| p.accepted)
    }

    /// Routes advertised to `peer` (the size of its Adj-RIB-Out).
    pub fn advertised(&self, peer: PeerId) -> Option<usize> {
        let p = self.peers.get(&peer)?;
        Some(
            p.group
                .and_then(|g| self.groups.get(&g))
                .map_or(0, |g| g.out.len_except(peer)),
        )
    }

    /// How many sent routes an update group's per-route index holds before
    /// they are folded into its sorted store
    /// ([`AdjRibOut::compact_at`](crate::adj_rib_out::AdjRibOut::compact_at));
    /// for groups started from now on.
    pub fn compact_at(&mut self, routes: usize) {
        self.compact_at = Some(routes);
    }

    /// Number of update groups, and of the peers in them.
    pub fn update_groups(&self) -> (usize, usize) {
        let members = self.groups.values().map(|g| g.members.len()).sum();
        (self.groups.len(), members)
    }

    /// The configuration of `peer`.
    pub fn peer_config(&self, peer: PeerId) -> Option<&PeerConfig> {
        self.peers.get(&peer).map(|p| &p.config)
    }

    /// What `peer` was told (its Adj-RIB-Out), in no particular order.
    pub fn adj_rib_out(&self, peer: PeerId) -> Result<Routes, RibError> {
        let p = self.peers.get(&peer).ok_or(RibError::UnknownPeer(peer))?;
        let Some(g) = p.group.and_then(|g| self.groups.get(&g)) else {
            return Ok(Vec::new());
        };
        Ok(g.out
            .advertised_except(peer)
            .map(|(prefix, path_id, a)| (prefix, path_id, Arc::clone(a)))
            .collect())
    }

    /// The routes of `peer` in the Loc-RIB (its Adj-RIB-In after import
    /// policy), in no particular order.
    pub fn adj_rib_in(&self, peer: PeerId) -> Result<Vec<(Prefix, Path)>, RibError> {
        if !self.peers.contains_key(&peer) {
            return Err(RibError::UnknownPeer(peer));
        }
        Ok(self
            .loc
            .iter()
            .flat_map(|(prefix, d)| {
                d.paths()
                    .iter()
                    .filter(|path| path.peer == peer)
                    .map(move |path| (prefix, path.clone()))
            })
            .collect())
    }

    /// The pre-policy Adj-RIB-In of `peer`, when soft reconfiguration
    /// inbound keeps it (`None` otherwise).
    pub fn adj_rib_in_pre_policy(&self, peer: PeerId) -> Result<Option<Routes>, RibError> {
        let p = self.peers.get(&peer).ok_or(RibError::UnknownPeer(peer))?;
        Ok(p.adj_in_pre.as_ref().map(|m| {
            m.iter()
                .map(|(&(prefix, path_id), a)| (prefix, path_id, Arc::clone(a)))
                .collect()
        }))
    }

    /// The most specific Loc-RIB prefix that contains `addr` (RFC 1812
    /// §5.2.4.3 longest match), looked up length by length.
    pub fn longest_match(&self, addr: std::net::IpAddr) -> Option<Prefix> {
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        (0..=max)
            .rev()
            .filter_map(|len| Prefix::new(addr, len))
            .find(|p| self.loc.get(p).is_some())
    }

    /// Reserve room for a full table of `n` IPv4 prefixes.
    pub fn reserve_v4(&mut self, n: usize) {
        self.loc.reserve_v4(n);
        self.fib.v4.reserve(n);
    }

    fn cluster_id(&self) -> Ipv4Addr {
        self.config.cluster_id.unwrap_or(self.config.router_id)
    }

    /// Add a peer, or change an existing peer's configuration. A change
    /// keeps the peer's routes; changed policies take effect through
    /// [`Rib::reapply_import`] and [`Rib::reexport`].
    pub fn add_peer(&mut self, config: PeerConfig) -> Result<(), RibError> {
        let id = config.info.id;
        if id == PeerId::LOCAL {
            return Err(RibError::ReservedPeerId);
        }
        if let Some(p) = self.peers.get_mut(&id) {
            if config.soft_reconfiguration_inbound && p.adj_in_pre.is_none() {
                p.adj_in_pre = Some(HashMap::new());
            } else if !config.soft_reconfiguration_inbound {
                p.adj_in_pre = None;
            }
            let regroup = p.group.is_some() && !same_export(&p.config, &config);
            p.config = config;
            if regroup {
                // What it was told stays; [`Rib::reexport`] brings it in
                // line with the new export.
                self.split(id);
            }
            return Ok(());
        }
        let adj_in_pre = config.soft_reconfiguration_inbound.then(HashMap::new);
        self.peers.insert(
            id,
            PeerState {
                config,
                up: false,
                adj_in_pre,
                accepted: 0,
                max_prefix_reported: false,
                group: None,
                pending: VecDeque::new(),
                stale: HashSet::default(),
            },
        );
        Ok(())
    }

    /// Remove a peer and all its routes.
    pub fn remove_peer(&mut self, id: PeerId) -> Result<(), RibError> {
        self.peer_down(id)?;
        self.peers.remove(&id);
        Ok(())
    }

    /// The session with `id` is Established: send it the whole table.
    pub fn peer_up(&mut self, id: PeerId) -> Result<(), RibError> {
        self.peers_up(&[id])
    }

    /// The sessions of `ids` are Established: send each the whole table.
    ///
    /// Peers that come up together (the agent hands over those of one batch
    /// of events) share their update groups: peers of the same export get
    /// one group, whose whole table is exported once, the members' own
    /// routes included (each member is left out of its own when its
    /// UPDATEs are built). Brought up one by one, each peer that already
    /// sent routes would start a group of its own, and every route
    /// arriving before the groups merge would be queued once per group.
    pub fn peers_up(&mut self, ids: &[PeerId]) -> Result<(), RibError> {
        if let Some(&id) = ids.iter().find(|id| !self.peers.contains_key(id)) {
            return Err(RibError::UnknownPeer(id));
        }
        for &id in ids {
            self.leave_group(id);
            if let Some(p) = self.peers.get_mut(&id) {
                p.up = true;
            }
        }
        self.sweep_attrs();
        // Groups started here are exported once all their members joined.
        let mut started = Vec::new();
        for &id in ids {
            let Some(p) = self.peers.get(&id) else {
                continue;
            };
            if p.group.is_some() {
                continue; // named twice
            }
            // A group of the same export whose whole table is queued and
            // not sent yet (peers coming up together): its table is ours
            // too.
            let joined = self
                .groups
                .iter_mut()
                .find(|(_, g)| g.fresh && !g.filtered && same_export(&g.config, &p.config));
            if let Some((&gid, g)) = joined {
                g.members.push(id);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.group = Some(gid);
                }
            } else {
                started.push(self.new_group(id));
            }
        }
        for gid in started {
            self.export_table(gid);
        }
        Ok(())
    }

    /// The session with `id` went down: its routes are withdrawn
    /// (graceful restart keeps them: that is the session layer's call, which
    /// then does not call this until the restart time is over).
    pub fn peer_down(&mut self, id: PeerId) -> Result<(), RibError> {
        let p = self.peers.get_mut(&id).ok_or(RibError::UnknownPeer(id))?;
        p.up = false;
        p.max_prefix_reported = false;
        self.stale_total -= p.stale.len();
        p.stale = HashSet::default();
        if let Some(pre) = p.adj_in_pre.as_mut() {
            pre.clear();
        }
        self.leave_group(id);
        // The peer's paths, listed before any is removed: a full table's
        // IPv4 paths without a Path Identifier (nearly all of them) in 5
        // bytes each, the rest with their identifier.
        let mut v4: Vec<Ipv4Prefix> = Vec::new();
        let mut rest: Vec<(Prefix, u32)> = Vec::new();
        for (prefix, d) in self.loc.iter() {
            for path in d.paths().iter().filter(|path| path.peer == id) {
                match prefix {
                    Prefix::V4(p) if path.path_id == 0 => v4.push(p),
                    _ => rest.push((prefix, path.path_id)),
                }
            }
        }
        for p in v4 {
            self.remove_path(Prefix::V4(p), id, 0);
        }
        for (prefix, path_id) in rest {
            self.remove_path(prefix, id, path_id);
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.accepted = 0;
        }
        self.sweep_attrs(); // the export sets of the dropped Adj-RIB-Out
        Ok(())
    }
}

/// Graceful restart, receiving speaker (RFC 4724 §4.2).
impl Rib {
    /// The session with `id` went down and the peer is restarting
    /// gracefully: "retain the routes received from the peer ... and mark
    /// them as stale". They stay in the Loc-RIB and so in the FIB and in
    /// what other peers were told; a route the new session announces or
    /// withdraws is no longer stale; [`Rib::sweep_stale`] removes the rest
    /// (End-of-RIB received, Forwarding State bit clear, or the Restart or
    /// stale-routes timer expired). Returns the number of stale routes.
    pub fn peer_down_graceful(&mut self, id: PeerId) -> Result<usize, RibError> {
        let p = self.peers.get_mut(&id).ok_or(RibError::UnknownPeer(id))?;
        p.up = false;
        p.max_prefix_reported = false;
        let mut stale = std::mem::take(&mut p.stale);
        self.stale_total -= stale.len();
        stale.reserve(p.accepted);
        for (prefix, d) in self.loc.iter() {
            for path in d.paths().iter().filter(|path| path.peer == id) {
                stale.insert((prefix, path.path_id));
            }
        }
        let n = stale.len();
        self.stale_total += n;
        if let Some(p) = self.peers.get_mut(&id) {
            p.stale = stale;
        }
        self.leave_group(id);
        self.sweep_attrs(); // the export sets of the dropped Adj-RIB-Out
        Ok(n)
    }

    /// Remove the routes of `id` that are still stale, of one family or of
    /// all (`None`). Returns how many were removed.
    pub fn sweep_stale(&mut self, id: PeerId, family: Option<Family>) -> Result<usize, RibError> {
        let p = self.peers.get_mut(&id).ok_or(RibError::UnknownPeer(id))?;
        let mut swept: Vec<(Prefix, u32)> = Vec::new();
        p.stale.retain(|&(prefix, path_id)| {
            let sweep = family.is_none_or(|f| prefix.family() == f);
            if sweep {
                swept.push((prefix, path_id));
            }
            !sweep
        });
        if p.stale.is_empty() {
            p.stale = HashSet::default(); // give the memory back
        }
        self.stale_total -= swept.len();
        swept.sort_unstable();
        let mut n = 0;
        for (prefix, path_id) in swept {
            n += usize::from(self.withdraw_path(id, prefix, path_id));
        }
        Ok(n)
    }

    /// Number of stale routes kept for `id`.
    pub fn stale_routes(&self, id: PeerId) -> usize {
        self.peers.get(&id).map_or(0, |p| p.stale.len())
    }

    /// A route of `peer` was announced or withdrawn again: not stale.
    // Always: without it the ingest no longer inlines it (measured with
    // cachegrind: 14 more instructions per route).
    #[inline(always)]
    fn refreshed(&mut self, peer: PeerId, prefix: Prefix, path_id: u32) {
        if self.stale_total == 0 {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.stale.remove(&(prefix, path_id)) {
                self.stale_total -= 1;
            }
        }
    }
}

/// Hasher for (attribute set address, peer) keys during a whole-table
/// export: addresses come from the allocator, not from peers, so a
/// multiplicative hash is enough.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (self.0 ^ v as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// The peer a route came from: `local` for [`PeerId::LOCAL`].
fn source_info<'a>(
    local: &'a PeerInfo,
    peers: &'a BTreeMap<PeerId, PeerState>,
    id: PeerId,
) -> Option<&'a PeerInfo> {
    if id == PeerId::LOCAL {
        Some(local)
    } else {
        peers.get(&id).map(|p| &p.config.info)
    }
}

/// Whether a policy's result can depend on the prefix (then it is applied
/// per prefix instead of once per attribute set).
pub(crate) fn prefix_dependent(policy: Option<&Policy>) -> bool {
    policy.is_some_and(|p| {
        p.terms.iter().any(|t| {
            t.matches
                .iter()
                .any(|m| matches!(m, policy::Match::Prefix(_) | policy::Match::Family(_)))
        })
    })
}

impl Rib {
    /// Process one UPDATE from `peer` (decoded with `four_octet_as` as
    /// negotiated). Treat-as-withdraw UPDATEs (RFC 7606) withdraw all their
    /// prefixes.
    pub fn apply_update(
        &mut self,
        peer: PeerId,
        update: &Update,
        four_octet_as: bool,
    ) -> Result<UpdateOutcome, RibError> {
        self.apply(peer, update, four_octet_as, None)
    }

    /// [`Rib::apply_update`] of an UPDATE the caller gives up: its path
    /// attributes move into the RIB's attribute set instead of being
    /// copied (an AS_PATH and community lists per UPDATE).
    pub fn apply_update_owned(
        &mut self,
        peer: PeerId,
        mut update: Update,
        four_octet_as: bool,
    ) -> Result<UpdateOutcome, RibError> {
        // The next hops and MP NLRI stay: they say which prefixes the
        // attributes go with.
        let moved: Vec<bgp::wire::PathAttribute> = update
            .path_attributes
            .extract_if(.., |a| !crate::attrs::carries_nlri(a))
            .collect();
        self.apply(peer, &update, four_octet_as, Some(moved))
    }

    fn apply(
        &mut self,
        peer: PeerId,
        update: &Update,
        four_octet_as: bool,
        moved: Option<Vec<bgp::wire::PathAttribute>>,
    ) -> Result<UpdateOutcome, RibError> {
        if !self.peers.contains_key(&peer) {
            return Err(RibError::UnknownPeer(peer));
        }
        let mut out = UpdateOutcome::default();
        let withdrawn = update.withdrawn();
        let gone = keys(&withdrawn.ipv4, Prefix::V4).chain(keys(&withdrawn.ipv6, Prefix::V6));
        for (prefix, path_id) in gone {
            out.withdrawn += usize::from(self.withdraw_path(peer, prefix, path_id));
        }
        if update.treat_as_withdraw() {
            return Ok(out);
        }
        // IPv4 NLRI field with NEXT_HOP.
        let nlri_next_hop = if update.nlri.is_empty() {
            None
        } else {
            update.path_attributes.iter().find_map(|a| match a.value {
                bgp::wire::AttributeValue::NextHop(nh) => Some(NextHop::V4(nh)),
                _ => None,
            })
        };
        let mp = update.mp_reach().and_then(|mp| {
            let nh = match mp.next_hop {
                MpNextHop::Ipv4(a) => NextHop::V4(a),
                MpNextHop::Ipv6 { global, link_local } => NextHop::V6 { global, link_local },
                MpNextHop::Other(_) => return None,
            };
            Some((nh, &mp.nlri))
        });
        if nlri_next_hop.is_some() || mp.is_some() {
            // The attributes once; their next hop per family.
            let mut received = match moved {
                Some(v) => PathAttrs::from_wire_iter(v, NextHop::Local, four_octet_as),
                None => {
                    PathAttrs::from_wire(&update.path_attributes, NextHop::Local, four_octet_as)
                }
            };
            let mut prefixes = std::mem::take(&mut self.scratch_prefixes);
            if let Some(nh) = nlri_next_hop {
                prefixes.clear();
                prefixes.extend(keys(&update.nlri, Prefix::V4));
                let attrs = if mp.is_some() {
                    received.clone()
                } else {
                    std::mem::replace(&mut received, PathAttrs::local())
                };
                self.import(
                    peer,
                    PathAttrs {
                        next_hop: nh,
                        ..attrs
                    },
                    &prefixes,
                    &mut out,
                );
            }
            if let Some((nh, nlri)) = mp {
                prefixes.clear();
                match nlri {
                    MpNlri::Ipv4Unicast(v) => prefixes.extend(keys(v, Prefix::V4)),
                    MpNlri::Ipv6Unicast(v) => prefixes.extend(keys(v, Prefix::V6)),
                    MpNlri::Other { .. } => {}
                }
                self.import(
                    peer,
                    PathAttrs {
                        next_hop: nh,
                        ..received
                    },
                    &prefixes,
                    &mut out,
                );
            }
            self.scratch_prefixes = prefixes;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(max) = p.config.max_prefix {
                if p.accepted > max.limit && !(max.warn_only && p.max_prefix_reported) {
                    out.max_prefix_exceeded = Some(max);
                    p.max_prefix_reported = true;
                }
            }
        }
        Ok(out)
    }

    /// Loop detection (RFC 4271 §9.1.2 for eBGP, with allowas-in; RFC 4456
    /// §8 for route reflection).
    fn looped(&self, from: &PeerConfig, attrs: &PathAttrs) -> bool {
        if from.info.kind == PeerKind::Ebgp
            && as_count(attrs, self.config.local_asn) > usize::from(from.allowas_in)
        {
            return true;
        }
        if attrs.originator_id == Some(self.config.router_id) {
            return true;
        }
        attrs.cluster_list.contains(&self.cluster_id())
    }

    /// Import the routes of `prefixes` with the attributes `received`
    /// (their next hop set).
    fn import(
        &mut self,
        peer: PeerId,
        received: PathAttrs,
        prefixes: &[(Prefix, u32)],
        out: &mut UpdateOutcome,
    ) {
        let Some(&(first_prefix, _)) = prefixes.first() else {
            return;
        };
        let Some(state) = self.peers.get(&peer) else {
            return;
        };
        let cfg = &state.config;
        if self.looped(cfg, &received) {
            // A looped route replaces, and so withdraws, an earlier one.
            out.rejected_loop += prefixes.len();
            for &(prefix, id) in prefixes {
                self.withdraw_path(peer, prefix, id);
            }
            return;
        }
        // Policy results first, borrowing the peer's configuration and the
        // attribute table side by side (no copy of the policy).
        let Rib {
            peers,
            attrs: table,
            ..
        } = self;
        let Some(state) = peers.get_mut(&peer) else {
            return;
        };
        let cfg = &state.config;
        let kind = cfg.info.kind;
        let per_prefix = prefix_dependent(cfg.import.as_ref());
        if let Some(map) = state.adj_in_pre.as_mut() {
            // Soft reconfiguration inbound: the route before policy.
            let pre = table.intern(received.clone());
            for &(prefix, path_id) in prefixes {
                if let Some(old) = map.insert((prefix, path_id), Arc::clone(&pre)) {
                    table.release(old);
                }
            }
            table.release(pre);
        }
        let mut added = 0usize;
        if per_prefix {
            let results: Vec<Option<Attrs>> = prefixes
                .iter()
                .map(|&(prefix, _)| {
                    let mut a = received.clone();
                    let ctx = RouteContext {
                        prefix,
                        source: &cfg.info,
                    };
                    match policy::apply(cfg.import.as_ref(), kind, &ctx, &mut a) {
                        PolicyVerdict::Accept => Some(table.intern(a)),
                        PolicyVerdict::Reject => None,
                    }
                })
                .collect();
            for (&(prefix, path_id), accepted) in prefixes.iter().zip(results) {
                match accepted {
                    Some(attrs) => {
                        out.accepted += 1;
                        let path = Path {
                            attrs,
                            peer,
                            path_id,
                        };
                        added += usize::from(self.insert_path(prefix, path, None));
                    }
                    None => {
                        out.rejected_policy += 1;
                        self.withdraw_path(peer, prefix, path_id);
                    }
                }
            }
        } else {
            // Prefix-independent policy: once for the whole UPDATE, and
            // the path's eligibility once too (it depends on the peer and
            // the next hop only).
            let mut a = received;
            let ctx = RouteContext {
                prefix: first_prefix,
                source: &cfg.info,
            };
            match policy::apply(cfg.import.as_ref(), kind, &ctx, &mut a) {
                PolicyVerdict::Accept => {
                    let attrs = table.intern(a);
                    let eligible = self.decide().eligible(&Path {
                        attrs: Arc::clone(&attrs),
                        peer,
                        path_id: 0,
                    });
                    out.accepted += prefixes.len();
                    for &(prefix, path_id) in prefixes {
                        let path = Path {
                            attrs: Arc::clone(&attrs),
                            peer,
                            path_id,
                        };
                        added += usize::from(self.insert_path(prefix, path, Some(eligible)));
                    }
                    self.attrs.release(attrs);
                }
                PolicyVerdict::Reject => {
                    out.rejected_policy += prefixes.len();
                    for &(prefix, path_id) in prefixes {
                        self.withdraw_path(peer, prefix, path_id);
                    }
                }
            }
        }
        self.count_accepted(peer, added);
    }

    /// `n` more paths of `peer` in the Loc-RIB (new ones, not replacements).
    fn count_accepted(&mut self, peer: PeerId, n: usize) {
        if let Some(p) = self.peers.get_mut(&peer).filter(|_| n > 0) {
            p.accepted += n;
        }
    }

    /// Apply the current import policy again to every route kept before
    /// policy (soft reconfiguration inbound): a policy change without a
    /// session reset. Returns `false` when the peer keeps no such copy (ask
    /// the peer for a ROUTE-REFRESH instead).
    pub fn reapply_import(&mut self, peer: PeerId) -> Result<bool, RibError> {
        let p = self.peers.get(&peer).ok_or(RibError::UnknownPeer(peer))?;
        let Some(pre) = p.adj_in_pre.as_ref() else {
            return Ok(false);
        };
        let routes: Vec<((Prefix, u32), Attrs)> =
            pre.iter().map(|(k, v)| (*k, Arc::clone(v))).collect();
        let info = p.config.info.clone();
        let import = p.config.import.clone();
        for ((prefix, path_id), attrs) in routes {
            let mut a = (*attrs).clone();
            let ctx = RouteContext {
                prefix,
                source: &info,
            };
            match policy::apply(import.as_ref(), info.kind, &ctx, &mut a) {
                PolicyVerdict::Accept => {
                    let a = self.attrs.intern(a);
                    let path = Path {
                        attrs: a,
                        peer,
                        path_id,
                    };
                    let added = self.insert_path(prefix, path, None);
                    self.count_accepted(peer, usize::from(added));
                }
                PolicyVerdict::Reject => {
                    self.withdraw_path(peer, prefix, path_id);
                }
            }
        }
        Ok(true)
    }

    /// Originate `prefix` with `attrs` (next hop normally [`NextHop::Local`]).
    pub fn originate(&mut self, prefix: Prefix, attrs: PathAttrs) {
        let attrs = self.attrs.intern(attrs);
        let path = Path {
            attrs,
            peer: PeerId::LOCAL,
            path_id: 0,
        };
        let added = self.insert_path(prefix, path, None);
        self.count_accepted(PeerId::LOCAL, usize::from(added));
    }

    /// Stop originating `prefix`.
    pub fn withdraw_originated(&mut self, prefix: Prefix) -> bool {
        self.withdraw_path(PeerId::LOCAL, prefix, 0)
    }

    /// Store `path` for `prefix` and run the decision; `eligible`, when
    /// the caller knows it, is the path's eligibility (RFC 4271 §9.1.2.1).
    /// Returns whether the peer had no path for the prefix with that Path
    /// Identifier before (its accepted count grows: the caller's to add).
    fn insert_path(&mut self, prefix: Prefix, path: Path, eligible: Option<bool>) -> bool {
        let peer = path.peer;
        self.refreshed(peer, prefix, path.path_id);
        let fib_kept = self.fib_kept;
        let decide = Decide {
            peers: &self.peers,
            local: &self.local,
            resolver: self.resolver.as_ref(),
            config: &self.config.decision,
        };
        // One hash lookup for the whole change: the Loc-RIB is the largest
        // structure and every lookup is a cache miss. A new destination is
        // decided before it is stored, so its memory is only written.
        let export_copy = (!self.groups.is_empty()).then(|| path.clone());
        let new = |p: &Path| {
            let eligible = eligible.unwrap_or_else(|| decide.eligible(p));
            let sel = Selected {
                best: eligible.then_some((p.peer, p.path_id, Arc::as_ptr(&p.attrs))),
                next_hops: if eligible && fib_kept {
                    NextHops::One(p.attrs.next_hop)
                } else {
                    NextHops::None
                },
            };
            (eligible, sel)
        };
        // Nobody to export to: a new destination only concerns the FIB
        // (what `changed` would conclude, without its comparisons).
        let quiet = export_copy.is_none() && self.path_groups == 0;
        let before = |d: Option<&Dest>| selected_of(d, fib_kept);
        let (before, after, replaced, best) = match self.loc.upsert(prefix, path, before, new) {
            Upserted::New(after) if quiet => {
                if self.fib_kept && after.best.is_some() {
                    self.fib.push(prefix);
                }
                return true;
            }
            Upserted::New(after) => {
                let best = export_copy.filter(|_| after.best.is_some());
                (selected_of(None, fib_kept), after, None, best)
            }
            Upserted::Existing {
                before,
                replaced,
                dest,
            } => {
                decide.run(dest);
                let after = selected_of(Some(dest), fib_kept);
                // The best path is needed only to export it.
                let best = if export_copy.is_some() {
                    dest.best().cloned()
                } else {
                    None
                };
                (before, after, replaced, best)
            }
        };
        let added = replaced.is_none();
        if let Some(old) = replaced {
            self.attrs.release(old);
        }
        self.changed(prefix, before, after, best);
        added
    }

    /// Withdraw a path; `true` if it existed.
    fn withdraw_path(&mut self, peer: PeerId, prefix: Prefix, path_id: u32) -> bool {
        self.refreshed(peer, prefix, path_id);
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(map) = p.adj_in_pre.as_mut() {
                if let Some(old) = map.remove(&(prefix, path_id)) {
                    self.attrs.release(old);
                }
            }
        }
        self.remove_path(prefix, peer, path_id)
    }

    fn remove_path(&mut self, prefix: Prefix, peer: PeerId, path_id: u32) -> bool {
        let decide = Decide {
            peers: &self.peers,
            local: &self.local,
            resolver: self.resolver.as_ref(),
            config: &self.config.decision,
        };
        let Some(dest) = self.loc.get_mut(&prefix) else {
            return false;
        };
        let before = selected_of(Some(dest), self.fib_kept);
        let (removed, empty) = dest.remove(peer, path_id);
        let Some(removed) = removed else {
            return false;
        };
        let (after, best) = if empty {
            self.loc.remove_dest(&prefix);
            (selected_of(None, self.fib_kept), None)
        } else {
            decide.run(dest);
            (selected_of(Some(dest), self.fib_kept), dest.best().cloned())
        };
        self.attrs.release(removed.attrs);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.accepted = p.accepted.saturating_sub(1);
        }
        self.changed(prefix, before, after, best);
        true
    }
}

impl Rib {
    fn decide(&self) -> Decide<'_> {
        Decide {
            peers: &self.peers,
            local: &self.local,
            resolver: self.resolver.as_ref(),
            config: &self.config.decision,
        }
    }

    /// Record what changed at `prefix`: the FIB is told when the best path
    /// or the ECMP next hops changed, the peers when the best path did.
    fn changed(&mut self, prefix: Prefix, before: Selected, after: Selected, best: Option<Path>) {
        // Several paths per prefix (ADD-PATH send): any change of any path
        // may matter. Out of line: without such groups, one test.
        if self.path_groups != 0 {
            self.export_paths(prefix);
        }
        if after == before {
            return;
        }
        if self.fib_kept {
            self.fib.push(prefix);
        }
        if after.best != before.best {
            let before_from = before.best.map(|(peer, _, _)| peer);
            self.export_prefix(prefix, best.as_ref(), before_from);
        }
    }

    /// Run the decision process again everywhere (next-hop reachability or
    /// IGP costs changed).
    pub fn revalidate(&mut self) {
        let prefixes: Vec<Prefix> = self.loc.iter().map(|(p, _)| p).collect();
        for prefix in prefixes {
            let decide = Decide {
                peers: &self.peers,
                local: &self.local,
                resolver: self.resolver.as_ref(),
                config: &self.config.decision,
            };
            let Some(dest) = self.loc.get_mut(&prefix) else {
                continue;
            };
            let before = selected_of(Some(dest), self.fib_kept);
            decide.run(dest);
            let after = selected_of(Some(dest), self.fib_kept);
            let best = dest.best().cloned();
            self.changed(prefix, before, after, best);
        }
    }

    /// Whether changes of forwarding state are recorded for
    /// [`Rib::take_fib_changes`] (the default). A speaker that installs no
    /// routes turns this off: a million routes arriving then cost no sort
    /// and no second Loc-RIB lookup each.
    pub fn keep_fib_changes(&mut self, keep: bool) {
        self.fib_kept = keep;
        if !keep {
            self.fib = FibQueue::default();
        }
    }

    /// The FIB changes since the last call, one per prefix, in prefix
    /// order: the current next hops of each changed prefix.
    pub fn take_fib_changes(&mut self) -> Vec<FibChange> {
        let mut changed = Vec::new();
        self.drain_fib_changes(|prefix, next_hops| {
            changed.push(FibChange {
                prefix,
                next_hops: next_hops.map(<[NextHop]>::to_vec),
            })
        });
        changed
    }

    /// Hands `f` the FIB changes since the last call, as
    /// [`Rib::take_fib_changes`] returns them, without allocating per
    /// change: the next hops are lent for the call only (`None`: the prefix
    /// has no route to install any more). A full table's changes cost one
    /// sorted list of prefixes.
    pub fn drain_fib_changes(&mut self, mut f: impl FnMut(Prefix, Option<&[NextHop]>)) {
        let FibQueue { mut v4, mut v6 } = std::mem::take(&mut self.fib);
        v4.sort_unstable();
        v4.dedup();
        v6.sort_unstable();
        v6.dedup();
        let mut next_hops: Vec<NextHop> = Vec::new();
        // In prefix order: every IPv4 prefix before every IPv6 one.
        let prefixes = v4.into_iter().map(Prefix::V4);
        for prefix in prefixes.chain(v6.into_iter().map(Prefix::V6)) {
            next_hops.clear();
            let installed = self.loc.get(&prefix).is_some_and(|d| {
                let mp = d.multipath();
                match mp.first() {
                    Some(best) if best.peer != PeerId::LOCAL => {
                        next_hops.extend(mp.iter().map(|p| p.attrs.next_hop));
                        true
                    }
                    _ => false,
                }
            });
            if installed {
                next_hops.sort_unstable();
                next_hops.dedup();
                f(prefix, Some(&next_hops));
            } else {
                f(prefix, None);
            }
        }
    }

    /// The best path of `prefix` and the next hops of its multipath set.
    pub fn best(&self, prefix: &Prefix) -> Option<(&Path, Vec<NextHop>)> {
        let d = self.loc.get(prefix)?;
        let best = d.best()?;
        Some((
            best,
            d.multipath().iter().map(|p| p.attrs.next_hop).collect(),
        ))
    }

    /// Every path of `prefix` with the decision's verdict on it.
    pub fn explain(&self, prefix: &Prefix) -> Vec<ExplainedPath> {
        let Some(d) = self.loc.get(prefix) else {
            return Vec::new();
        };
        let paths = d.paths();
        let decide = self.decide();
        let cands = decide.candidates(paths);
        let sel = decision::select(&cands, decide.config);
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| ExplainedPath {
                path: p.clone(),
                best: sel.best == Some(i),
                multipath: sel.multipath.contains(&i),
                lost: sel.losers.iter().find(|l| l.0 == i).map(|l| (l.1, l.2)),
            })
            .collect()
    }
}

/// The prefixes of [`Rib::drain_fib_changes`], one list a family.
#[derive(Debug, Default)]
struct FibQueue {
    v4: Vec<Ipv4Prefix>,
    v6: Vec<Ipv6Prefix>,
}

impl FibQueue {
    #[inline]
    fn push(&mut self, prefix: Prefix) {
        match prefix {
            Prefix::V4(p) => self.v4.push(p),
            Prefix::V6(p) => self.v6.push(p),
        }
    }
}

fn apply_selection(m: &mut Many, sel: &Selection) {
    let idx = |i: usize| u16::try_from(i).ok();
    m.best = sel.best.and_then(idx);
    m.multipath = sel.multipath.iter().filter_map(|&i| idx(i)).collect();
}

impl Rib {
    /// The attributes to send `to` for a best path from `from`, or `None`
    /// when the route must not be sent (RFC 4271 §9.2, RFC 4456 §8, export
    /// policy). The next hop is concrete.
    fn export_attrs(
        config: &RibConfig,
        prefix: Prefix,
        from: &PeerInfo,
        attrs: &PathAttrs,
        to: &PeerConfig,
    ) -> Option<PathAttrs> {
        // Not back to where it came from (RFC 4271 §9.2): applied per
        // member of the update group, in `AdjRibOut::take_views`.
        let q = &to.info;
        if !to.families.carries(&prefix) {
            return None; // RFC 4760 §8: not negotiated with this peer
        }
        let reflected = from.kind == PeerKind::Ibgp && q.kind == PeerKind::Ibgp;
        if reflected {
            // RFC 4456 §6: from a client to all peers; from a non-client
            // only to clients; without clients we are no reflector and
            // iBGP routes are not passed between iBGP peers (RFC 4271 §9.2).
            if !(from.rr_client || q.rr_client) {
                return None;
            }
        }
        let mut a = match q.kind {
            // RFC 4271 §5.1.2: our AS in front.
            PeerKind::Ebgp => attrs.with_as_path(prepended(&attrs.as_path, config.local_asn)),
            PeerKind::Ibgp | PeerKind::Local => attrs.clone(),
        };
        match q.kind {
            PeerKind::Ebgp => {
                a.local_pref = None; // RFC 4271 §5.1.5
                a.originator_id = None; // RFC 4456 §8: non-transitive
                a.cluster_list.clear();
                if from.kind != PeerKind::Local {
                    a.med = None; // RFC 4271 §5.1.4: not passed to other ASes
                }
                // RFC 4271 §5.1.3: our address, unless the next hop is on
                // the subnet we share with the peer (third-party next hop).
                let third_party = match (to.shared_subnet, a.next_hop) {
                    (Some(net), NextHop::V4(nh)) => {
                        net.contains(&Prefix::V4(bgp::wire::Ipv4Prefix::new(nh, 32)?))
                    }
                    (Some(net), NextHop::V6 { global, .. }) => {
                        net.contains(&Prefix::V6(bgp::wire::Ipv6Prefix::new(global, 128)?))
                    }
                    _ => false,
                };
                if !third_party {
                    a.next_hop = NextHop::Local;
                }
            }
            PeerKind::Ibgp | PeerKind::Local => {
                a.local_pref
                    .get_or_insert(config.decision.local_pref_default);
                if reflected {
                    // RFC 4456 §8.
                    a.originator_id.get_or_insert(from.router_id);
                    a.cluster_list
                        .insert(0, config.cluster_id.unwrap_or(config.router_id));
                }
                if from.kind == PeerKind::Local || to.next_hop_self {
                    a.next_hop = NextHop::Local;
                }
            }
        }
        let ctx = RouteContext {
            prefix,
            source: from,
        };
        if policy::apply(to.export.as_ref(), q.kind, &ctx, &mut a) == PolicyVerdict::Reject {
            return None;
        }
        if a.next_hop == NextHop::Local {
            a.next_hop = match (prefix, to.local_next_hop, to.other_family_next_hop) {
                (Prefix::V4(_), nh @ NextHop::V4(_), _) => nh,
                (Prefix::V6(_), nh @ NextHop::V6 { .. }, _) => nh,
                (Prefix::V6(_), NextHop::V4(_), Some(nh @ NextHop::V6 { .. })) => nh,
                (Prefix::V4(_), NextHop::V6 { .. }, Some(nh @ NextHop::V4(_))) => nh,
                // RFC 8950: the packing sends it only where negotiated.
                (Prefix::V4(_), nh @ NextHop::V6 { .. }, _) => nh,
                // No address of the prefix's family towards this peer.
                _ => return None,
            };
        }
        Some(a)
    }

    /// Pass the new best path of `prefix` (`None`: no route) to every
    /// update group.
    ///
    /// `before_from` is the source of the previous best path, if there was
    /// one: without a previous best no group had anything to hear about, so
    /// no withdrawal is looked up, the common case while a table comes in.
    fn export_prefix(&mut self, prefix: Prefix, best: Option<&Path>, before_from: Option<PeerId>) {
        if self.groups.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.export_ids);
        ids.clear();
        ids.extend(self.groups.keys().copied());
        for &gid in &ids {
            let Some(g) = self.groups.get_mut(&gid) else {
                continue;
            };
            if g.config.add_path_send.of(&prefix) != SendPaths::Best {
                continue; // several paths: `export_paths`
            }
            let best = best.filter(|b| !g.leaves_out(b.peer));
            let attrs = best.and_then(|b| self.export_one(prefix, b, gid));
            let Some(g) = self.groups.get_mut(&gid) else {
                continue;
            };
            match (attrs, best) {
                // No best route before: nothing of this prefix is in the
                // group's whole-table store (see `AdjRibOut::announce_new`).
                (Some(a), Some(b)) if before_from.is_none() => {
                    g.out.announce_new(prefix, 0, a, b.peer)
                }
                (Some(a), Some(b)) => g.out.announce_from(prefix, 0, a, b.peer),
                _ if before_from.is_none() => {}
                _ => g.out.withdraw(prefix, 0),
            }
        }
        self.export_ids = ids;
    }

    /// The interned export attributes of the best path `best` of `prefix`
    /// for update group `to`. With a prefix-independent export policy the
    /// result is remembered by (attribute set, source, family): a table
    /// arriving with 40 prefixes per attribute set is exported once per
    /// set, not once per prefix.
    fn export_one(&mut self, prefix: Prefix, best: &Path, to: GroupId) -> Option<Attrs> {
        let Rib {
            config,
            attrs: table,
            peers,
            local,
            groups,
            ..
        } = self;
        let g = groups.get_mut(&to)?;
        // The family is part of the key: the next hop depends on it.
        let key = (
            Arc::as_ptr(&best.attrs) as usize,
            best.peer,
            matches!(prefix, Prefix::V6(_)),
        );
        // The last result first: the prefixes of one UPDATE arrive together
        // and share their attributes.
        if let Some((k, _, hit)) = &g.last_export {
            if *k == key {
                return hit.clone();
            }
        }
        if let Some((src, hit)) = g.memo.get(&key) {
            let hit = hit.clone();
            g.last_export = Some((key, Arc::clone(src), hit.clone()));
            return hit;
        }
        let from = source_info(local, peers, best.peer)?;
        let result = Self::export_attrs(config, prefix, from, &best.attrs, &g.config);
        let result = result.map(|a| table.intern(a));
        if g.memoize {
            g.last_export = Some((key, Arc::clone(&best.attrs), result.clone()));
            // The entry keeps the source set alive, so its address cannot
            // name another set while the entry exists; the memo is
            // dropped before it grows past the sets in use.
            if g.memo.len() > 2 * table.len() + 1024 {
                g.memo.clear();
            }
            g.memo
                .insert(key, (Arc::clone(&best.attrs), result.clone()));
        }
        result
    }

    /// Queue the whole table for group `to` (a new session). One pass over
    /// the Loc-RIB; with a prefix-independent export policy the export
    /// attributes are computed once per (attribute set, source), not once
    /// per prefix.
    fn export_table(&mut self, to: GroupId) {
        if self
            .groups
            .get(&to)
            .is_some_and(|g| g.config.add_path_send.any())
        {
            self.export_table_paths(to);
            return;
        }
        let Rib {
            loc,
            peers,
            attrs: table,
            config,
            local,
            groups,
            ..
        } = self;
        let Some(group) = groups.get_mut(&to) else {
            return;
        };
        let to_cfg = &group.config;
        let memoize = !prefix_dependent(to_cfg.export.as_ref());
        // A group of one peer leaves that peer's own routes out.
        let only = match group.members.as_slice() {
            [m] => Some(*m),
            _ => None,
        };
        let mut left_out = false;
        // (attribute set, source, IPv6) -> index in `sets` (NO_SET: not sent).
        // The sets' addresses are the allocator's, not chosen by peers.
        const NO_SET: u32 = u32::MAX;
        let mut memo: HashMap<(usize, PeerId, bool), u32, BuildHasherDefault<AddrHasher>> =
            HashMap::default();
        let mut sets: Vec<Attrs> = Vec::new();
        let mut sources: Vec<PeerId> = Vec::new();
        let info = |id: PeerId| source_info(local, peers, id);
        let mut v4 = Vec::with_capacity(loc.v4.len());
        let mut v6 = Vec::with_capacity(loc.v6.len());
        for (prefix, dest) in loc.iter() {
            let Some(best) = dest.best() else { continue };
            if Some(best.peer) == only {
                left_out = true;
                continue;
            }
            let mut compute = || {
                let exported = info(best.peer)
                    .and_then(|from| Self::export_attrs(config, prefix, from, &best.attrs, to_cfg));
                match exported {
                    Some(a) => {
                        sets.push(table.intern(a));
                        sources.push(best.peer);
                        (sets.len() - 1) as u32
                    }
                    None => NO_SET,
                }
            };
            let set = if memoize {
                *memo
                    // The family is part of the key: the next hop depends
                    // on it (our address of the prefix's family).
                    .entry((
                        Arc::as_ptr(&best.attrs) as usize,
                        best.peer,
                        matches!(prefix, Prefix::V6(_)),
                    ))
                    .or_insert_with(compute)
            } else {
                compute()
            };
            if set != NO_SET {
                match prefix {
                    Prefix::V4(p) => v4.push((p, set)),
                    Prefix::V6(p) => v6.push((p, set)),
                }
            }
        }
        group.filtered |= left_out;
        group.out.load_from(sets, sources, v4, v6);
    }

    /// Apply a changed export policy: compare what the policy gives now
    /// with what was advertised and queue only the differences. The peer
    /// leaves its update group for one of its own (it joins a group of the
    /// same new export once its changes are sent).
    pub fn reexport(&mut self, to: PeerId) -> Result<(), RibError> {
        let p = self.peers.get(&to).ok_or(RibError::UnknownPeer(to))?;
        if !p.up || p.group.is_none() {
            return Ok(());
        }
        let Some(gid) = self.split(to) else {
            return Ok(());
        };
        let Some(g) = self.groups.get(&gid) else {
            return Ok(());
        };
        if g.config.add_path_send.any() {
            self.reexport_paths(gid);
            return Ok(());
        }
        let advertised: Vec<Prefix> = g.out.advertised().map(|(prefix, _, _)| prefix).collect();
        for prefix in advertised {
            if self.loc.get(&prefix).and_then(Dest::best).is_none() {
                if let Some(g) = self.groups.get_mut(&gid) {
                    g.out.withdraw(prefix, 0);
                }
            }
        }
        let bests: Vec<(Prefix, Path)> = self
            .loc
            .iter()
            .filter_map(|(p, d)| Some((p, d.best()?.clone())))
            .collect();
        for (prefix, best) in bests {
            let own = self
                .groups
                .get_mut(&gid)
                .is_some_and(|g| g.leaves_out(best.peer));
            let a = if own {
                None
            } else {
                self.export_one(prefix, &best, gid)
            };
            if let Some(g) = self.groups.get_mut(&gid) {
                match a {
                    Some(a) => g.out.announce_from(prefix, 0, a, best.peer),
                    None => g.out.withdraw(prefix, 0),
                }
            }
        }
        Ok(())
    }

    /// The UPDATEs queued for `peer`, packed for its encode context.
    pub fn take_updates(
        &mut self,
        peer: PeerId,
        ctx: &bgp::wire::Context,
    ) -> Result<Vec<Update>, RibError> {
        Ok(self
            .take_batches(peer, ctx)?
            .iter()
            .flat_map(|b| b.updates().iter().cloned())
            .collect())
    }

    /// The UPDATEs queued for `peer` as encoded BGP messages (header
    /// included), ready for its connection. Peers of one update group
    /// share the bytes: each UPDATE is encoded once for all of them.
    pub fn take_encoded(
        &mut self,
        peer: PeerId,
        ctx: &bgp::wire::Context,
    ) -> Result<Vec<Bytes>, RibError> {
        let mut out = Vec::new();
        for b in self.take_drained(peer, ctx, true)? {
            out.extend_from_slice(b.encoded(ctx)?);
        }
        Ok(out)
    }

    /// The batches of UPDATEs built for `peer` and not taken yet, after
    /// draining its update group's queue for every member.
    pub fn take_batches(
        &mut self,
        peer: PeerId,
        ctx: &bgp::wire::Context,
    ) -> Result<Vec<Arc<Batch>>, RibError> {
        self.take_drained(peer, ctx, false)
    }

    /// [`Rib::take_batches`]; `encode`: the batches are wanted as messages.
    fn take_drained(
        &mut self,
        peer: PeerId,
        ctx: &bgp::wire::Context,
        encode: bool,
    ) -> Result<Vec<Arc<Batch>>, RibError> {
        let p = self.peers.get(&peer).ok_or(RibError::UnknownPeer(peer))?;
        let Some(mut gid) = p.group else {
            return Ok(Vec::new());
        };
        let group_ctx = self.groups.get(&gid).and_then(|g| g.ctx);
        if group_ctx.is_some_and(|c| c != *ctx) {
            // Encoded otherwise than the group it joined when it came up:
            // a whole table of its own.
            self.leave_group(peer);
            gid = self.start_group(peer);
        }
        if let Some(g) = self.groups.get_mut(&gid) {
            g.ctx = Some(*ctx);
            if g.out.has_queued() {
                self.drain(gid, encode);
            }
        }
        self.merge(gid);
        let p = self
            .peers
            .get_mut(&peer)
            .ok_or(RibError::UnknownPeer(peer))?;
        Ok(std::mem::take(&mut p.pending).into())
    }
}

/// Update groups (see [`crate::update_group`]).
impl Rib {
    /// Start a group with `id` alone and its whole table queued.
    fn start_group(&mut self, id: PeerId) -> GroupId {
        let gid = self.new_group(id);
        self.export_table(gid);
        gid
    }

    /// A group with `id` alone and nothing queued yet.
    fn new_group(&mut self, id: PeerId) -> GroupId {
        let gid = self.next_group;
        self.next_group = self.next_group.wrapping_add(1);
        let Some(p) = self.peers.get_mut(&id) else {
            return gid;
        };
        p.group = Some(gid);
        let mut g = UpdateGroup::new(id, p.config.clone());
        if let Some(n) = self.compact_at {
            g.out.compact_at(n);
        }
        self.groups.insert(gid, g);
        self.count_path_groups();
        gid
    }

    /// Free the attribute sets nothing uses any more (the groups' export
    /// memos are dropped first: they hold sets too).
    fn sweep_attrs(&mut self) {
        for g in self.groups.values_mut() {
            g.memo.clear();
            g.last_export = None;
        }
        self.attrs.sweep();
    }

    /// Take `id` out of its group (dropped when it was the last member),
    /// with the UPDATEs it was not sent.
    fn leave_group(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.pending.clear();
        let Some(gid) = p.group.take() else {
            return;
        };
        if let Some(g) = self.groups.get_mut(&gid) {
            g.members.retain(|&m| m != id);
            if g.members.is_empty() {
                self.groups.remove(&gid);
                self.count_path_groups();
            }
        }
    }

    /// Give `id` a group of its own with a copy of what its group has
    /// advertised and its own export settings; returns that group.
    fn split(&mut self, id: PeerId) -> Option<GroupId> {
        let p = self.peers.get(&id)?;
        let gid = p.group?;
        let config = p.config.clone();
        let g = self.groups.get_mut(&gid)?;
        if g.members.len() == 1 {
            g.set_config(config);
            g.unmerged = true;
            self.count_path_groups();
            return Some(gid);
        }
        g.members.retain(|&m| m != id);
        let mut solo = UpdateGroup::new(id, config);
        solo.out = g.out.clone();
        solo.path_ids = g.path_ids.clone();
        solo.ctx = g.ctx;
        solo.fresh = false;
        let new = self.next_group;
        self.next_group = self.next_group.wrapping_add(1);
        self.groups.insert(new, solo);
        self.count_path_groups();
        if let Some(p) = self.peers.get_mut(&id) {
            p.group = Some(new);
        }
        Some(new)
    }

    /// Build the UPDATEs of group `gid`'s queued changes for each member;
    /// `encode`: the members' own views as messages at once (they are
    /// taken encoded).
    fn drain(&mut self, gid: GroupId, encode: bool) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let Some(ctx) = g.ctx else {
            return;
        };
        g.fresh = false;
        let views = g.out.take_views(&ctx, &g.members, true);
        let shared = match views.shared_messages {
            Some(Ok(msgs)) if msgs.is_empty() => None,
            Some(msgs) => Some(Batch::from_messages(msgs, &ctx)),
            None => (!views.shared.is_empty()).then(|| Batch::new(views.shared)),
        };
        // Members with UPDATEs of their own get them (moved, not copied);
        // every other member shares one batch.
        let mut own: HashMap<PeerId, Vec<Update>> = views.members.into_iter().collect();
        for &m in &g.members {
            let batch = match own.remove(&m) {
                Some(u) if u.is_empty() => None,
                Some(u) if encode => Some(Batch::encoded_now(u, &ctx)),
                Some(u) => Some(Batch::new(u)),
                None => shared.clone(),
            };
            if let (Some(b), Some(p)) = (batch, self.peers.get_mut(&m)) {
                p.pending.push_back(b);
            }
        }
    }

    /// Merge group `gid` with another group of the same export and
    /// encoding when both are drained (they then advertise the same): `gid`
    /// into the other when `gid` has not been merged yet, or a group still
    /// waiting for a merge into `gid`. A group waits while a group of the
    /// same export and encoding exists that was not drained when it tried
    /// (the peers of one flush are drained one after the other, in an
    /// order that does not change from flush to flush).
    fn merge(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        if g.fresh || g.out.has_queued() {
            return;
        }
        let into = self
            .groups
            .iter()
            .find(|&(&other, h)| other != gid && (g.unmerged || h.unmerged) && h.can_absorb(g))
            .map(|(&other, _)| other);
        let Some(into) = into else {
            if g.unmerged
                && !self
                    .groups
                    .iter()
                    .any(|(&other, h)| other != gid && h.may_absorb(g))
            {
                if let Some(g) = self.groups.get_mut(&gid) {
                    g.unmerged = false;
                }
            }
            return;
        };
        let Some(g) = self.groups.remove(&gid) else {
            return;
        };
        self.count_path_groups();
        for &m in &g.members {
            if let Some(p) = self.peers.get_mut(&m) {
                p.group = Some(into);
            }
        }
        if let Some(h) = self.groups.get_mut(&into) {
            // A group that left its member's own routes out gets them from
            // the other, which holds them: the new member must be told
            // them, the old one still is not (`take_views`).
            if h.filtered {
                if let [m] = h.members[..] {
                    h.out.adopt_from(&g.out, m);
                }
                h.filtered = false;
            }
            h.members.extend(g.members);
        }
    }

    /// The End-of-RIB marker for `family` (RFC 4724 §2), sent after the
    /// initial table.
    pub fn end_of_rib(family: Family) -> Update {
        Update::end_of_rib(family)
    }
}

#[cfg(test)]
mod tests {
    use super::prepended;
    use bgp::wire::{AsPath, AsSegment, SegmentType};

    fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
        AsSegment {
            kind,
            asns: asns.to_vec(),
        }
    }

    /// RFC 4271 §5.1.2: our AS goes into a leading AS_SEQUENCE, or into a
    /// new one in front of an AS_SET, of an empty path, or of a sequence
    /// that already holds 255 ASes.
    #[test]
    fn prepend_into_or_before_the_first_segment() {
        let set_first = AsPath {
            segments: vec![
                seg(SegmentType::AsSet, &[65002, 65003]),
                seg(SegmentType::AsSequence, &[65004]),
            ],
        };
        let full: Vec<u32> = (1..=255).collect();
        let cases = [
            (
                AsPath::sequence(vec![65002, 65003]),
                vec![seg(SegmentType::AsSequence, &[65000, 65002, 65003])],
            ),
            (
                set_first.clone(),
                vec![
                    seg(SegmentType::AsSequence, &[65000]),
                    seg(SegmentType::AsSet, &[65002, 65003]),
                    seg(SegmentType::AsSequence, &[65004]),
                ],
            ),
            (
                AsPath::default(),
                vec![seg(SegmentType::AsSequence, &[65000])],
            ),
            (
                AsPath::sequence(full.clone()),
                vec![
                    seg(SegmentType::AsSequence, &[65000]),
                    seg(SegmentType::AsSequence, &full),
                ],
            ),
        ];
        for (path, want) in cases {
            assert_eq!(prepended(&path, 65000).segments, want, "{path:?}");
        }
    }
}
