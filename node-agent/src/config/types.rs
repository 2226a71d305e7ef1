//! The configuration document: global settings.
//!
//! These types are what the YAML file deserializes into, field for field,
//! and they derive [`schemars::JsonSchema`] so that the same types serve as
//! the specs of the Kubernetes resources later. Keys are snake_case;
//! enumerated values are kebab-case (`ipv4-unicast`). Every struct refuses
//! unknown fields. Nothing here is checked beyond its type: see
//! [`super::validate`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::neighbor::Neighbor;
use super::policy::{PolicyDef, PrefixListDef};

/// The whole configuration of `twill-agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Our AS number (RFC 6793: 4 octets).
    pub local_asn: u32,
    /// Our BGP Identifier (RFC 4271 §4.2, RFC 6286: any non-zero value).
    pub router_id: Ipv4Addr,
    /// CLUSTER_ID when we reflect routes (RFC 4456 §7); the router id when
    /// unset.
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
    /// Where we accept BGP connections.
    #[serde(default)]
    pub listen: Listen,
    /// Decision process options (RFC 4271 §9.1) and multipath.
    #[serde(default)]
    pub decision: Decision,
    /// The BGP neighbours.
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
    /// Named prefix lists, for policies.
    #[serde(default)]
    pub prefix_lists: Vec<PrefixListDef>,
    /// Named import/export policies, referenced by neighbours.
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
    /// Prefixes this router originates.
    #[serde(default)]
    pub originate: Vec<Originate>,
    /// Kernel routing table settings.
    #[serde(default)]
    pub fib: Fib,
    /// The local API (`twillctl`).
    #[serde(default)]
    pub api: Api,
    /// The Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: Metrics,
    /// Logging.
    #[serde(default)]
    pub logging: Logging,
}

/// The BGP listener (RFC 4271 §8.2.1: port 179).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Addresses to listen on; empty: no listener (outgoing connections
    /// only). IPv6 sockets are v6-only, so `0.0.0.0` and `::` coexist.
    #[serde(default = "default_listen_addresses")]
    pub addresses: Vec<IpAddr>,
    /// TCP port.
    #[serde(default = "default_bgp_port")]
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            addresses: default_listen_addresses(),
            port: default_bgp_port(),
        }
    }
}

fn default_listen_addresses() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    ]
}

/// The BGP port (RFC 4271 §8.2.1).
pub(crate) fn default_bgp_port() -> u16 {
    179
}

/// Decision process settings (`ribs::decision::DecisionConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Compare MED between routes from different neighbour ASes too
    /// (RFC 4271 §9.1.2.2 c).
    #[serde(default)]
    pub always_compare_med: bool,
    /// A missing MED is the worst value instead of 0.
    #[serde(default)]
    pub med_missing_as_worst: bool,
    /// Largest ECMP set when the best route is eBGP (1: no multipath).
    #[serde(default = "one")]
    pub max_paths_ebgp: u16,
    /// Largest ECMP set when the best route is iBGP (1: no multipath).
    #[serde(default = "one")]
    pub max_paths_ibgp: u16,
    /// Admit routes with AS_PATHs of equal length but different ASes into
    /// the ECMP set.
    #[serde(default)]
    pub as_path_relax: bool,
    /// LOCAL_PREF of a route that has none (RFC 4271 §5.1.5).
    #[serde(default = "default_local_pref")]
    pub local_pref_default: u32,
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            always_compare_med: false,
            med_missing_as_worst: false,
            max_paths_ebgp: 1,
            max_paths_ibgp: 1,
            as_path_relax: false,
            local_pref_default: default_local_pref(),
        }
    }
}

fn one() -> u16 {
    1
}

fn default_local_pref() -> u32 {
    100
}

/// A prefix this router originates (ORIGIN IGP, empty AS_PATH, next hop
/// ourselves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Originate {
    /// `ADDRESS/LENGTH`, host bits zero.
    pub prefix: String,
    /// COMMUNITIES (RFC 1997): `ASN:VALUE` or a well-known name
    /// (`no-export`, `no-advertise`, `no-export-subconfed`,
    /// `graceful-shutdown`).
    #[serde(default)]
    pub communities: Vec<String>,
    /// LARGE_COMMUNITY (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`.
    #[serde(default)]
    pub large_communities: Vec<String>,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    #[serde(default)]
    pub med: Option<u32>,
    /// LOCAL_PREF towards iBGP peers (RFC 4271 §5.1.5).
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// Also install an unreachable route for the prefix in the kernel (the
    /// node's own pod CIDR, as Calico does): traffic to addresses of it
    /// that no more specific route covers fails at once instead of
    /// following the default route. Not for Service addresses.
    #[serde(default)]
    pub unreachable: bool,
}

/// The kernel routing table (the FIB writer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fib {
    /// Install best routes into the kernel; off: BGP only (a route server
    /// or a test).
    #[serde(default = "yes")]
    pub install: bool,
    /// Routing table id (254 is `main`).
    #[serde(default = "default_table")]
    pub table: u32,
    /// Route protocol number marking our routes (`ip route ... proto N`).
    /// The default, 84 (ASCII `T`), is named neither in the kernel's
    /// `RTPROT_*` list nor in iproute2's `rt_protos`.
    #[serde(default = "default_protocol")]
    pub protocol: u8,
    /// Leave our routes in the kernel when the agent exits (the default: a
    /// restart must not blackhole traffic; the next start keeps those the
    /// RIB still has and removes the rest). `twill-agent
    /// --remove-routes-on-exit` overrides it.
    #[serde(default = "yes")]
    pub keep_on_exit: bool,
    /// How BGP next hops are checked for reachability (RFC 4271 §9.1.2.1);
    /// unset: `kernel` when installing routes, else `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_check: Option<NextHopCheck>,
}

impl Default for Fib {
    fn default() -> Self {
        Fib {
            install: true,
            table: default_table(),
            protocol: default_protocol(),
            keep_on_exit: true,
            next_hop_check: None,
        }
    }
}

impl Fib {
    /// The next-hop check in force: the configured one, else `kernel` when
    /// installing routes and `none` otherwise.
    pub fn next_hop_check(&self) -> NextHopCheck {
        self.next_hop_check.unwrap_or(if self.install {
            NextHopCheck::Kernel
        } else {
            NextHopCheck::None
        })
    }
}

/// How BGP next hops are checked for reachability (RFC 4271 §9.1.2.1: a
/// route whose NEXT_HOP does not resolve is not eligible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NextHopCheck {
    /// A next hop is reachable when the longest-matching kernel route not
    /// written by Twill (connected, static, DHCP, another daemon's) in
    /// `fib.table` or `main` covers it and forwards; no resolution through
    /// BGP routes.
    Kernel,
    /// Every next hop is reachable (a route server, or a test).
    None,
}

fn yes() -> bool {
    true
}

fn default_table() -> u32 {
    254
}

/// The default route protocol number: 84, ASCII `T` for Twill.
pub const DEFAULT_FIB_PROTOCOL: u8 = 84;

fn default_protocol() -> u8 {
    DEFAULT_FIB_PROTOCOL
}

/// The local API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Unix socket path (created with mode 0660).
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// Also serve the API on this TCP address (off when unset; use a
    /// loopback address).
    #[serde(default)]
    pub tcp: Option<SocketAddr>,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            socket: default_socket(),
            tcp: None,
        }
    }
}

/// The default API socket path.
pub const DEFAULT_API_SOCKET: &str = "/run/twill/twill-agent.sock";

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_API_SOCKET)
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Serve `/metrics` on this address; off when unset.
    #[serde(default)]
    pub address: Option<SocketAddr>,
}

/// Logging (the `--log-format` and `--log-level` flags and `RUST_LOG`
/// override these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// Least severe level logged.
    #[serde(default)]
    pub level: LogLevel,
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
}

/// A `tracing` level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Problems that do not stop the agent.
    Warn,
    /// Failures.
    Error,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}
