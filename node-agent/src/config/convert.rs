//! From the configuration to the types of the crates that run it:
//! [`ribs::rib::RibConfig`] and [`ribs::rib::PeerConfig`] for the RIB,
//! [`bgp::fsm::Config`] for each session's state machine.

use std::net::{IpAddr, Ipv4Addr};

use bgp::fsm;
use bgp::wire::{
    AddPathDirection, AddPathEntry, Capability, ExtendedNextHopEntry, Family, GracefulRestart,
    GracefulRestartFamily,
};
use ribs::decision::DecisionConfig;
use ribs::rib::{MaxPrefix, PeerConfig, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind};

use super::neighbor::{AddPathMode, MaxPrefixAction, Neighbor};
use super::valid::ValidConfig;

impl ValidConfig {
    /// The RIB-wide configuration.
    pub fn rib_config(&self) -> RibConfig {
        let c = &self.config;
        let d = &c.decision;
        RibConfig {
            local_asn: c.local_asn,
            router_id: c.router_id,
            cluster_id: c.cluster_id,
            decision: DecisionConfig {
                always_compare_med: d.always_compare_med,
                med_missing_as_worst: d.med_missing_as_worst,
                max_paths_ebgp: d.max_paths_ebgp,
                max_paths_ibgp: d.max_paths_ibgp,
                as_path_relax: d.as_path_relax,
                local_pref_default: d.local_pref_default,
            },
        }
    }

    /// eBGP or iBGP: the neighbour's AS against ours.
    pub fn peer_kind(&self, n: &Neighbor) -> PeerKind {
        if n.asn == self.config.local_asn {
            PeerKind::Ibgp
        } else {
            PeerKind::Ebgp
        }
    }

    /// The RIB's configuration of the neighbour at `address`, for the
    /// session's handle `id`. The neighbour's BGP Identifier
    /// (`peer_router_id`, from its OPEN) and our address on the session
    /// (`local_next_hop`) are known only once the session is up.
    pub fn peer_config(
        &self,
        address: IpAddr,
        id: PeerId,
        peer_router_id: Ipv4Addr,
        local_next_hop: NextHop,
    ) -> Option<PeerConfig> {
        let n = self.neighbor(address)?;
        let policy = |name: &Option<String>| name.as_deref().and_then(|p| self.policy(p)).cloned();
        Some(PeerConfig {
            info: PeerInfo {
                id,
                address,
                asn: n.asn,
                router_id: peer_router_id,
                kind: self.peer_kind(n),
                rr_client: n.route_reflector_client,
            },
            import: policy(&n.import_policy),
            export: policy(&n.export_policy),
            local_next_hop,
            next_hop_self: n.next_hop_self,
            shared_subnet: None,
            allowas_in: n.allowas_in,
            soft_reconfiguration_inbound: n.soft_reconfiguration_inbound,
            max_prefix: n.max_prefix.as_ref().map(|m| MaxPrefix {
                limit: usize::try_from(m.limit).unwrap_or(usize::MAX),
                warn_only: m.action == MaxPrefixAction::Warn,
            }),
        })
    }

    /// The state machine's configuration for the neighbour at `address`.
    ///
    /// `timers.keepalive` has no place here: the FSM sends KEEPALIVEs every
    /// third of the negotiated hold time (RFC 4271 §10); the session task
    /// applies a configured interval.
    pub fn fsm_config(&self, address: IpAddr) -> Option<fsm::Config> {
        let n = self.neighbor(address)?;
        let c = &self.config;
        let mut f = fsm::Config::new(c.local_asn, c.router_id, n.asn);
        f.hold_time = n.timers.hold;
        f.connect_retry_time = n.timers.connect_retry;
        f.passive = n.passive;
        f.delay_open = n.timers.delay_open;
        f.capabilities = self.capabilities(n);
        Some(f)
    }

    /// The capabilities of our OPEN to `n` (RFC 5492): Multiprotocol per
    /// family (RFC 4760), Route Refresh (RFC 2918), Extended Next Hop
    /// (RFC 8950) and Graceful Restart (RFC 4724) when configured, 4-octet
    /// AS (RFC 6793), ADD-PATH (RFC 7911) when configured.
    pub fn capabilities(&self, n: &Neighbor) -> Vec<Capability> {
        let families = self.families(n);
        let mut caps: Vec<Capability> = families
            .iter()
            .map(|f| Capability::Multiprotocol(f.family.family()))
            .collect();
        caps.push(Capability::RouteRefresh);
        let enh: Vec<ExtendedNextHopEntry> = families
            .iter()
            .filter(|f| f.extended_next_hop)
            .map(|f| ExtendedNextHopEntry {
                nlri_family: f.family.family(),
                next_hop_afi: Family::AFI_IPV6,
            })
            .collect();
        if !enh.is_empty() {
            caps.push(Capability::ExtendedNextHop(enh));
        }
        if n.graceful_restart.enabled {
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: n.graceful_restart.restart_time,
                families: families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: f.family.family(),
                        forwarding_state: false,
                    })
                    .collect(),
            }));
        }
        caps.push(Capability::FourOctetAs(self.config.local_asn));
        let add_path: Vec<AddPathEntry> = families
            .iter()
            .filter_map(|f| {
                let direction = match f.add_path {
                    AddPathMode::None => return None,
                    AddPathMode::Send => AddPathDirection::Send,
                    AddPathMode::Receive => AddPathDirection::Receive,
                    AddPathMode::Both => AddPathDirection::Both,
                };
                Some(AddPathEntry {
                    family: f.family.family(),
                    direction,
                })
            })
            .collect();
        if !add_path.is_empty() {
            caps.push(Capability::AddPath(add_path));
        }
        caps
    }
}
