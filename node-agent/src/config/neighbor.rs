//! The configuration of one BGP neighbour.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::default_bgp_port;

/// One BGP neighbour, identified by its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    /// The neighbour's address (unique among neighbours).
    pub address: IpAddr,
    /// The neighbour's AS (RFC 4271 §6.2 Bad Peer AS otherwise); equal to
    /// `local_asn` for iBGP.
    pub asn: u32,
    /// Free text, shown by `twillctl`.
    #[serde(default)]
    pub description: Option<String>,
    /// The neighbour's TCP port.
    #[serde(default = "default_bgp_port")]
    pub port: u16,
    /// Never connect; only accept the neighbour's connection (RFC 4271
    /// §8.1.1 PassiveTcpEstablishment).
    #[serde(default)]
    pub passive: bool,
    /// eBGP multihop: the TTL of our packets. Unset: 1 for eBGP (directly
    /// connected), the system default for iBGP.
    #[serde(default)]
    pub multihop_ttl: Option<u8>,
    /// Generalized TTL Security Mechanism (RFC 5082): send with TTL 255 and
    /// accept only TTL 255 (directly connected neighbours).
    #[serde(default)]
    pub gtsm: bool,
    /// TCP MD5 signature key (RFC 2385), at most 80 bytes.
    #[serde(default)]
    pub password: Option<Password>,
    /// A file holding the TCP MD5 key (one trailing newline is ignored);
    /// read at start and at each reload.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Our source address for the session (also our next hop for it).
    #[serde(default)]
    pub source_address: Option<IpAddr>,
    /// Session timers.
    #[serde(default)]
    pub timers: Timers,
    /// Graceful Restart (RFC 4724).
    #[serde(default)]
    pub graceful_restart: GracefulRestart,
    /// Address families; empty: the neighbour address's own family
    /// (`ipv4-unicast` or `ipv6-unicast`).
    #[serde(default)]
    pub families: Vec<FamilyConfig>,
    /// Import policy name; unset: RFC 8212 (nothing from eBGP neighbours,
    /// everything from iBGP ones).
    #[serde(default)]
    pub import_policy: Option<String>,
    /// Export policy name; unset: RFC 8212 (nothing to eBGP neighbours,
    /// the usual iBGP rules to iBGP ones).
    #[serde(default)]
    pub export_policy: Option<String>,
    /// The neighbour is a route reflector client of ours (RFC 4456).
    #[serde(default)]
    pub route_reflector_client: bool,
    /// Set the next hop to ourselves on routes sent to this (iBGP)
    /// neighbour.
    #[serde(default)]
    pub next_hop_self: bool,
    /// Keep the routes as received, so a changed import policy is applied
    /// without asking the neighbour for a ROUTE-REFRESH.
    #[serde(default)]
    pub soft_reconfiguration_inbound: bool,
    /// Accept routes with our own AS in the AS_PATH up to this many times
    /// (RFC 4271 §9.1.2 loop detection otherwise).
    #[serde(default)]
    pub allowas_in: u8,
    /// Limit on the prefixes accepted from the neighbour (RFC 4486).
    #[serde(default)]
    pub max_prefix: Option<MaxPrefix>,
}

/// A TCP MD5 key. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Session timers, in seconds (RFC 4271 §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timers {
    /// Hold time we propose: 0 (no keepalives) or at least 3 (RFC 4271
    /// §4.2).
    #[serde(default = "default_hold")]
    pub hold: u16,
    /// Interval between our KEEPALIVEs; unset: a third of the negotiated
    /// hold time (RFC 4271 §10).
    #[serde(default)]
    pub keepalive: Option<u16>,
    /// ConnectRetryTime.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u16,
    /// DelayOpenTime (RFC 4271 §8.1.1); unset: no DelayOpen.
    #[serde(default)]
    pub delay_open: Option<u16>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hold: default_hold(),
            keepalive: None,
            connect_retry: default_connect_retry(),
            delay_open: None,
        }
    }
}

fn default_hold() -> u16 {
    bgp::fsm::DEFAULT_HOLD_TIME
}

fn default_connect_retry() -> u16 {
    bgp::fsm::DEFAULT_CONNECT_RETRY_TIME
}

/// Graceful Restart (RFC 4724).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestart {
    /// Advertise the capability and keep the neighbour's routes while it
    /// restarts.
    #[serde(default)]
    pub enabled: bool,
    /// Restart Time we advertise, in seconds (12 bits: at most 4095).
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// How long the neighbour's routes are kept as stale after it came
    /// back, waiting for its End-of-RIB, in seconds.
    #[serde(default = "default_stale_time")]
    pub stale_time: u16,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: false,
            restart_time: default_restart_time(),
            stale_time: default_stale_time(),
        }
    }
}

fn default_restart_time() -> u16 {
    120
}

fn default_stale_time() -> u16 {
    360
}

/// One address family of a session (RFC 4760).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyConfig {
    /// The family.
    pub family: AfiSafi,
    /// IPv4 routes may have IPv6 next hops (RFC 8950); `ipv4-unicast` only.
    #[serde(default)]
    pub extended_next_hop: bool,
    /// ADD-PATH (RFC 7911) for this family.
    #[serde(default)]
    pub add_path: AddPathMode,
    /// With `add_path: send` or `both`: the most paths per prefix sent
    /// (1 to 255); omitted, every eligible path that passes the export
    /// rules. Not in the OPEN: a change only re-exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_path_send_max: Option<u32>,
}

impl FamilyConfig {
    /// The family as negotiated in the OPEN: without
    /// [`FamilyConfig::add_path_send_max`], which is not sent.
    pub fn in_open(&self) -> FamilyConfig {
        FamilyConfig {
            add_path_send_max: None,
            ..self.clone()
        }
    }
}

/// The address families Twill speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AfiSafi {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

impl AfiSafi {
    /// The wire family.
    pub fn family(self) -> bgp::wire::Family {
        match self {
            AfiSafi::Ipv4Unicast => bgp::wire::Family::IPV4_UNICAST,
            AfiSafi::Ipv6Unicast => bgp::wire::Family::IPV6_UNICAST,
        }
    }

    /// The family of unicast routes to `addr`'s address family.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AfiSafi::Ipv4Unicast,
            IpAddr::V6(_) => AfiSafi::Ipv6Unicast,
        }
    }
}

impl fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AfiSafi::Ipv4Unicast => "ipv4-unicast",
            AfiSafi::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// ADD-PATH Send/Receive (RFC 7911 §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AddPathMode {
    /// No ADD-PATH (the default).
    #[default]
    None,
    /// We may send several paths per prefix.
    Send,
    /// We accept several paths per prefix.
    Receive,
    /// Both.
    Both,
}

impl AddPathMode {
    /// Whether we may send several paths per prefix.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

impl fmt::Display for AddPathMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddPathMode::None => "none",
            AddPathMode::Send => "send",
            AddPathMode::Receive => "receive",
            AddPathMode::Both => "both",
        })
    }
}

/// A limit on the prefixes accepted from a neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxPrefix {
    /// Most prefixes accepted (after import policy).
    pub limit: u32,
    /// What to do beyond the limit.
    #[serde(default)]
    pub action: MaxPrefixAction,
    /// With `action: restart`: seconds before the session is started again.
    #[serde(default)]
    pub restart_after: Option<u32>,
}

/// What happens when a neighbour goes over its prefix limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MaxPrefixAction {
    /// Log a warning (once) and keep the session.
    Warn,
    /// Close the session with Cease / Maximum Number of Prefixes Reached
    /// (RFC 4486) and leave it down until an operator resets it (the
    /// default).
    #[default]
    Shutdown,
    /// Close it the same way and start it again after `restart_after`
    /// seconds.
    Restart,
}
