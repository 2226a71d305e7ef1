//! What a reload changes: the difference between the running and the new
//! configuration, sorted by what applying it costs.
//!
//! [`diff`] is a pure function of two validated configurations. A change
//! of our identity (AS, router id, cluster id) or of the decision process
//! resets everything ([`ConfigChange::reset_all`]). Otherwise each
//! neighbour is looked at alone: what was negotiated in the OPEN or is a
//! property of the TCP connection needs a session reset
//! ([`ResetCause`]); the rest is applied to the running session
//! ([`SoftChange`]): a changed import policy by soft reconfiguration or a
//! ROUTE-REFRESH (RFC 2918), a changed export policy by sending the
//! difference. Other neighbours are not touched.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ribs::policy::{Disposition, Term};
use ribs::{PathAttrs, Prefix};

use super::neighbor::Neighbor;
use super::valid::ValidConfig;

/// Why every session must be reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GlobalReset {
    /// `local_asn`: sent in every OPEN, and decides eBGP or iBGP.
    LocalAsn,
    /// `router_id`: sent in every OPEN (BGP Identifier).
    RouterId,
    /// `cluster_id`: in the CLUSTER_LIST of every reflected route.
    ClusterId,
    /// `decision`: the best route of every prefix may change; the RIB is
    /// rebuilt.
    Decision,
}

/// Why one neighbour's session must be reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResetCause {
    /// Its AS (Bad Peer AS check, eBGP/iBGP).
    Asn,
    /// The TCP port to connect to.
    Port,
    /// The TTL of the connection.
    MultihopTtl,
    /// GTSM (RFC 5082).
    Gtsm,
    /// The TCP MD5 key (also a changed `password_file` content).
    Password,
    /// The source address of the connection.
    SourceAddress,
    /// The hold time in our OPEN (RFC 4271 §4.2).
    HoldTime,
    /// The keepalive interval.
    Keepalive,
    /// The families in our OPEN (RFC 4760), extended next hop (RFC 8950)
    /// or ADD-PATH (RFC 7911): capabilities are only exchanged in OPEN.
    Families,
    /// Graceful Restart (RFC 4724), a capability too.
    GracefulRestart,
}

/// A change applied to a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SoftChange {
    /// The import policy (another one, or its definition or a prefix list
    /// it uses changed): re-apply it from the soft-reconfiguration copy
    /// (`Rib::reapply_import`) or ask for a ROUTE-REFRESH.
    ImportPolicy,
    /// `allowas_in`: as for the import policy.
    AllowasIn,
    /// `soft_reconfiguration_inbound`: switched on, the copy is filled by a
    /// ROUTE-REFRESH; switched off, it is dropped.
    SoftReconfigurationInbound,
    /// The export policy: re-export (`Rib::reexport`).
    ExportPolicy,
    /// `next_hop_self`: re-export.
    NextHopSelf,
    /// `route_reflector_client`: re-export to every neighbour.
    RouteReflectorClient,
    /// The prefix limit: checked against the current count.
    MaxPrefix,
    /// `add_path_send_max` of a family (not in the OPEN): re-export.
    AddPathSendMax,
    /// The description.
    Description,
    /// `passive`: applies from the next connection attempt.
    Passive,
    /// ConnectRetryTime: from the next connection attempt.
    ConnectRetry,
    /// DelayOpen: from the next connection.
    DelayOpen,
    /// Graceful restart's stale time: from the next restart.
    StaleTime,
}

/// A neighbour whose session must be reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborReset {
    /// The neighbour.
    pub address: IpAddr,
    /// Why.
    pub causes: Vec<ResetCause>,
}

/// A neighbour whose running session takes changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborUpdate {
    /// The neighbour.
    pub address: IpAddr,
    /// What changed.
    pub changes: Vec<SoftChange>,
}

/// Everything a reload changes. Neighbours are identified by address: a
/// changed address is one neighbour removed and one added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Not empty: every session is reset and the RIB rebuilt, whatever
    /// else is listed.
    pub reset_all: Vec<GlobalReset>,
    /// The listen addresses or port: the listeners are re-opened
    /// (established sessions stay).
    pub listen: bool,
    /// New neighbours, to start.
    pub neighbors_added: Vec<IpAddr>,
    /// Neighbours gone: their sessions are closed and their routes
    /// withdrawn.
    pub neighbors_removed: Vec<IpAddr>,
    /// Neighbours whose session is reset.
    pub neighbors_reset: Vec<NeighborReset>,
    /// Neighbours whose session takes changes without a reset.
    pub neighbors_updated: Vec<NeighborUpdate>,
    /// Prefixes to start originating.
    pub originate_added: Vec<Prefix>,
    /// Prefixes to stop originating.
    pub originate_removed: Vec<Prefix>,
    /// Prefixes still originated, with other attributes.
    pub originate_changed: Vec<Prefix>,
    /// FIB settings (table, protocol, install, keep on exit).
    pub fib: bool,
    /// API socket or TCP address.
    pub api: bool,
    /// Metrics address.
    pub metrics: bool,
    /// Logging level or format.
    pub logging: bool,
}

impl ConfigChange {
    /// Whether the reload changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ConfigChange::default()
    }
}

/// The difference from `old` to `new`.
pub fn diff(old: &ValidConfig, new: &ValidConfig) -> ConfigChange {
    let (o, n) = (&old.config, &new.config);
    let mut ch = ConfigChange::default();
    if o.local_asn != n.local_asn {
        ch.reset_all.push(GlobalReset::LocalAsn);
    }
    if o.router_id != n.router_id {
        ch.reset_all.push(GlobalReset::RouterId);
    }
    if o.cluster_id != n.cluster_id {
        ch.reset_all.push(GlobalReset::ClusterId);
    }
    if o.decision != n.decision {
        ch.reset_all.push(GlobalReset::Decision);
    }
    ch.listen = o.listen != n.listen;
    for nn in &n.neighbors {
        match old.neighbor(nn.address) {
            None => ch.neighbors_added.push(nn.address),
            Some(on) => neighbor(old, on, new, nn, &mut ch),
        }
    }
    for on in &o.neighbors {
        if new.neighbor(on.address).is_none() {
            ch.neighbors_removed.push(on.address);
        }
    }
    originate(&old.originated, &new.originated, &mut ch);
    // The kernel side of an originated prefix (`unreachable`) changed:
    // the prefix changed, like one with other attributes.
    let unreachable = |c: &ValidConfig| -> BTreeSet<Prefix> {
        c.config
            .originate
            .iter()
            .filter(|x| x.unreachable)
            .filter_map(|x| super::parse::prefix(&x.prefix).ok())
            .collect()
    };
    let (uo, un) = (unreachable(old), unreachable(new));
    for p in uo.symmetric_difference(&un) {
        let kept = old.originated.iter().any(|(q, _)| q == p)
            && new.originated.iter().any(|(q, _)| q == p);
        if kept && !ch.originate_changed.contains(p) {
            ch.originate_changed.push(*p);
        }
    }
    ch.fib = o.fib != n.fib;
    ch.api = o.api != n.api;
    ch.metrics = o.metrics != n.metrics;
    ch.logging = o.logging != n.logging;
    ch
}

fn neighbor(
    old: &ValidConfig,
    o: &Neighbor,
    new: &ValidConfig,
    n: &Neighbor,
    ch: &mut ConfigChange,
) {
    let mut causes = Vec::new();
    let mut reset = |changed: bool, cause| {
        if changed {
            causes.push(cause);
        }
    };
    reset(o.asn != n.asn, ResetCause::Asn);
    reset(o.port != n.port, ResetCause::Port);
    reset(o.multihop_ttl != n.multihop_ttl, ResetCause::MultihopTtl);
    reset(o.gtsm != n.gtsm, ResetCause::Gtsm);
    reset(
        old.md5_key(o.address) != new.md5_key(n.address),
        ResetCause::Password,
    );
    reset(
        o.source_address != n.source_address,
        ResetCause::SourceAddress,
    );
    reset(o.timers.hold != n.timers.hold, ResetCause::HoldTime);
    reset(
        o.timers.keepalive != n.timers.keepalive,
        ResetCause::Keepalive,
    );
    let in_open = |c: &ValidConfig, n: &Neighbor| -> Vec<_> {
        c.families(n).iter().map(|f| f.in_open()).collect()
    };
    reset(in_open(old, o) != in_open(new, n), ResetCause::Families);
    let (og, ng) = (&o.graceful_restart, &n.graceful_restart);
    reset(
        og.enabled != ng.enabled || og.restart_time != ng.restart_time,
        ResetCause::GracefulRestart,
    );
    if !causes.is_empty() {
        ch.neighbors_reset.push(NeighborReset {
            address: n.address,
            causes,
        });
        return;
    }
    let mut changes = Vec::new();
    let mut soft = |changed: bool, change| {
        if changed {
            changes.push(change);
        }
    };
    // What a policy does, not what it is called: renaming one changes no
    // route.
    let policy = |c: &ValidConfig, name: &Option<String>| -> Option<(Vec<Term>, Disposition)> {
        let p = c.policy(name.as_deref()?)?;
        Some((p.terms.clone(), p.default_action))
    };
    soft(
        policy(old, &o.import_policy) != policy(new, &n.import_policy),
        SoftChange::ImportPolicy,
    );
    soft(o.allowas_in != n.allowas_in, SoftChange::AllowasIn);
    soft(
        o.soft_reconfiguration_inbound != n.soft_reconfiguration_inbound,
        SoftChange::SoftReconfigurationInbound,
    );
    soft(
        policy(old, &o.export_policy) != policy(new, &n.export_policy),
        SoftChange::ExportPolicy,
    );
    soft(o.next_hop_self != n.next_hop_self, SoftChange::NextHopSelf);
    soft(
        o.route_reflector_client != n.route_reflector_client,
        SoftChange::RouteReflectorClient,
    );
    soft(o.max_prefix != n.max_prefix, SoftChange::MaxPrefix);
    soft(
        old.families(o) != new.families(n),
        SoftChange::AddPathSendMax,
    );
    soft(o.description != n.description, SoftChange::Description);
    soft(o.passive != n.passive, SoftChange::Passive);
    soft(
        o.timers.connect_retry != n.timers.connect_retry,
        SoftChange::ConnectRetry,
    );
    soft(
        o.timers.delay_open != n.timers.delay_open,
        SoftChange::DelayOpen,
    );
    soft(og.stale_time != ng.stale_time, SoftChange::StaleTime);
    if !changes.is_empty() {
        ch.neighbors_updated.push(NeighborUpdate {
            address: n.address,
            changes,
        });
    }
}

fn originate(old: &[(Prefix, PathAttrs)], new: &[(Prefix, PathAttrs)], ch: &mut ConfigChange) {
    let o: BTreeMap<&Prefix, &PathAttrs> = old.iter().map(|(p, a)| (p, a)).collect();
    let n: BTreeMap<&Prefix, &PathAttrs> = new.iter().map(|(p, a)| (p, a)).collect();
    for (p, a) in &n {
        match o.get(p) {
            None => ch.originate_added.push(**p),
            Some(b) if b != a => ch.originate_changed.push(**p),
            Some(_) => {}
        }
    }
    for p in o.keys() {
        if !n.contains_key(p) {
            ch.originate_removed.push(**p);
        }
    }
}
