//! From the configuration to the types of the crates that run it:
//! [`ribs::rib::RibConfig`] and [`ribs::rib::PeerConfig`] for the RIB;
//! [`bgp::fsm::Config`], [`bgp::session::SessionConfig`] and
//! [`bgp::speaker::PeerConfig`] / [`bgp::speaker::SpeakerConfig`] for the
//! sessions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bgp::fsm;
use bgp::session::{GracefulRestartConfig, SessionConfig};
use bgp::speaker::{self, SpeakerConfig, TransportOptions};
use bgp::wire::{
    AddPathDirection, AddPathEntry, Capability, Context, ExtendedNextHopEntry, Family,
};
use ribs::add_path::{AddPathSend, SendPaths};
use ribs::decision::DecisionConfig;
use ribs::rib::{MaxPrefix, PeerConfig, RibConfig};
use ribs::{NextHop, PeerId, PeerInfo, PeerKind};

use super::neighbor::{AddPathMode, AfiSafi, MaxPrefixAction, Neighbor};
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
            other_family_next_hop: None,
            families: ribs::rib::Families::default(),
            next_hop_self: n.next_hop_self,
            shared_subnet: None,
            allowas_in: n.allowas_in,
            soft_reconfiguration_inbound: n.soft_reconfiguration_inbound,
            max_prefix: n.max_prefix.as_ref().map(|m| MaxPrefix {
                limit: usize::try_from(m.limit).unwrap_or(usize::MAX),
                warn_only: m.action == MaxPrefixAction::Warn,
            }),
            // Known once the session is up: see `add_path_send`.
            add_path_send: AddPathSend::default(),
        })
    }

    /// ADD-PATH send towards the neighbour at `address` (RFC 7911): per
    /// family, several paths where our OPEN said send (or both) and the
    /// session's encode context carries Path Identifiers (`encode`: the
    /// peer said receive), up to `add_path_send_max`; the best path only
    /// otherwise.
    pub fn add_path_send(&self, address: IpAddr, encode: &Context) -> AddPathSend {
        let mut send = AddPathSend::default();
        let Some(n) = self.neighbor(address) else {
            return send;
        };
        for f in self.families(n) {
            let family = f.family.family();
            if !f.add_path.sends() || !encode.add_path.get(family) {
                continue;
            }
            // Validated: 1 to 255.
            let paths = match f.add_path_send_max.map(u8::try_from) {
                None => SendPaths::All,
                Some(Ok(m)) => SendPaths::UpTo(m),
                Some(Err(_)) => SendPaths::UpTo(u8::MAX),
            };
            match f.family {
                AfiSafi::Ipv4Unicast => send.ipv4 = paths,
                AfiSafi::Ipv6Unicast => send.ipv6 = paths,
            }
        }
        send
    }

    /// The state machine's configuration for the neighbour at `address`.
    pub fn fsm_config(&self, address: IpAddr) -> Option<fsm::Config> {
        let n = self.neighbor(address)?;
        let c = &self.config;
        let mut f = fsm::Config::new(c.local_asn, c.router_id, n.asn);
        f.hold_time = n.timers.hold;
        f.keepalive_time = n.timers.keepalive.filter(|&k| k > 0);
        f.connect_retry_time = n.timers.connect_retry;
        f.passive = n.passive;
        f.delay_open = n.timers.delay_open;
        f.capabilities = self.capabilities(n);
        Some(f)
    }

    /// The capabilities of our OPEN to `n` (RFC 5492): Multiprotocol per
    /// family (RFC 4760), Route Refresh (RFC 2918), Extended Next Hop
    /// (RFC 8950) when configured, 4-octet AS (RFC 6793), ADD-PATH
    /// (RFC 7911) when configured. Graceful Restart (RFC 4724) is added by
    /// the session from [`ValidConfig::session_config`], with the R and F
    /// bits of this start.
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

/// What this start of the agent knows about itself for Graceful Restart
/// (RFC 4724 §3): not configuration, but needed with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartFlags {
    /// R bit: this start follows a restart of the agent.
    pub restarting: bool,
    /// F bit: the kernel routes were kept across the restart
    /// (`fib.keep_on_exit`).
    pub forwarding_preserved: bool,
}

impl ValidConfig {
    /// The session task's configuration for the neighbour at `address`:
    /// [`ValidConfig::fsm_config`] and, when enabled, Graceful Restart.
    pub fn session_config(&self, address: IpAddr, restart: RestartFlags) -> Option<SessionConfig> {
        let n = self.neighbor(address)?;
        let mut s = SessionConfig::new(address, self.fsm_config(address)?);
        let gr = &n.graceful_restart;
        if gr.enabled {
            s.graceful_restart = Some(GracefulRestartConfig {
                restart_time: gr.restart_time,
                restarting: restart.restarting,
                forwarding_preserved: restart.forwarding_preserved,
                families: self.families(n).iter().map(|f| f.family.family()).collect(),
                stale_path_time: gr.stale_time,
            });
        }
        Some(s)
    }

    /// The speaker's configuration of the neighbour at `address`: session,
    /// port, source address, and socket options (TCP MD5 key, GTSM with one
    /// hop, multihop TTL).
    pub fn speaker_peer(
        &self,
        address: IpAddr,
        restart: RestartFlags,
    ) -> Option<speaker::PeerConfig> {
        let n = self.neighbor(address)?;
        let mut p = speaker::PeerConfig::new(self.session_config(address, restart)?);
        p.port = n.port;
        p.local_address = n.source_address;
        p.transport = TransportOptions {
            md5_key: self.md5_key(address).map(|k| k.as_bytes().to_vec()),
            gtsm_hops: n.gtsm.then_some(1),
            ttl: n.multihop_ttl,
            ..TransportOptions::default()
        };
        Some(p)
    }

    /// The speaker's configuration: the listen addresses with the listen
    /// port, and every neighbour.
    pub fn speaker_config(&self, restart: RestartFlags) -> SpeakerConfig {
        let c = &self.config;
        SpeakerConfig {
            listen: c
                .listen
                .addresses
                .iter()
                .map(|a| SocketAddr::new(*a, c.listen.port))
                .collect(),
            peers: c
                .neighbors
                .iter()
                .filter_map(|n| self.speaker_peer(n.address, restart))
                .collect(),
            event_queue: 0,
        }
    }
}
