//! The local API's data: what `twillctl` (and any script) reads, as JSON.
//!
//! These types are the API's stable schema: fields are only ever added.
//! Addresses and prefixes are strings in their usual text form; durations
//! are whole seconds; times are Unix seconds.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Version of this schema, in `Status::api_version`.
pub const API_VERSION: u32 = 1;

/// `GET /v1/status`: the agent as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Schema version ([`API_VERSION`]).
    pub api_version: u32,
    /// The agent's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Our AS.
    pub local_asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Configured neighbours.
    pub neighbors: usize,
    /// Neighbours in Established.
    pub established: usize,
    /// Loc-RIB prefixes, IPv4 unicast.
    pub rib_ipv4_prefixes: usize,
    /// Loc-RIB prefixes, IPv6 unicast.
    pub rib_ipv6_prefixes: usize,
    /// Distinct path attribute sets in memory.
    pub attribute_sets: usize,
    /// Graceful restart: route selection still deferred (RFC 4724 §4.1)
    /// until the peers' End-of-RIB or the deferral timer.
    pub selection_deferred: bool,
}

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    /// Idle.
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
}

/// Messages by type (RFC 4271 §4.1 type codes 1-4, RFC 2918 type 5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE.
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH.
    pub route_refresh: u64,
}

/// A NOTIFICATION sent or received (RFC 4271 §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationInfo {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Code and subcode in words ("Cease / Administrative Shutdown").
    pub description: String,
    /// RFC 9003 shutdown communication, when there is one.
    pub communication: Option<String>,
    /// The Data field, in hexadecimal.
    pub data_hex: String,
    /// When (Unix seconds).
    pub at_unix_secs: u64,
}

/// Prefix counters of a neighbour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixCounts {
    /// Received in the current session (before import policy).
    pub received: u64,
    /// Accepted into the Loc-RIB (after import policy).
    pub accepted: u64,
    /// Advertised to it (its Adj-RIB-Out).
    pub advertised: u64,
}

/// `GET /v1/neighbors` (a list) and `GET /v1/neighbors/{address}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    /// The neighbour's address.
    pub address: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// The configured description.
    pub description: Option<String>,
    /// "ebgp" or "ibgp".
    pub kind: String,
    /// Session state.
    pub state: SessionState,
    /// Seconds in the current state.
    pub state_secs: u64,
    /// Seconds since Established, when Established.
    pub uptime_secs: Option<u64>,
    /// Transitions to Established since the agent started.
    pub established_transitions: u64,
    /// The peer's BGP Identifier, once known.
    pub router_id: Option<Ipv4Addr>,
    /// Negotiated hold time (seconds), when Established.
    pub hold_time: Option<u16>,
    /// Negotiated keepalive interval (seconds), when Established.
    pub keepalive_time: Option<u16>,
    /// Negotiated capabilities, in words ("ipv4-unicast", "four-octet-as",
    /// "route-refresh", "graceful-restart", "add-path ipv4-unicast receive").
    pub capabilities: Vec<String>,
    /// Prefix counters.
    pub prefixes: PrefixCounts,
    /// Messages received.
    pub messages_received: MessageCounts,
    /// Messages sent.
    pub messages_sent: MessageCounts,
    /// The last NOTIFICATION we sent.
    pub last_notification_sent: Option<NotificationInfo>,
    /// The last NOTIFICATION we received.
    pub last_notification_received: Option<NotificationInfo>,
    /// Why the session last went down, in words.
    pub last_down_reason: Option<String>,
    /// Graceful restart helper: routes of this neighbour kept as stale.
    pub stale_routes: u64,
}

/// Address family of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

/// The query of the `rib` endpoints (URL query string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibQuery {
    /// Only this family.
    pub family: Option<AddressFamily>,
    /// Only this prefix (exact), or, with an address, the longest match.
    pub prefix: Option<String>,
    /// With the decision reasons (`twillctl rib --explain`).
    #[serde(default)]
    pub explain: bool,
}

/// One path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathInfo {
    /// The neighbour it came from; `None` for a route we originate.
    pub from: Option<IpAddr>,
    /// ADD-PATH Path Identifier (0 without ADD-PATH).
    pub path_id: u32,
    /// Selected as best.
    pub best: bool,
    /// In the multipath (ECMP) set.
    pub multipath: bool,
    /// Next hop.
    pub next_hop: String,
    /// AS_PATH as text ("65001 65002 {65003,65004}").
    pub as_path: String,
    /// ORIGIN: "igp", "egp" or "incomplete".
    pub origin: String,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// COMMUNITIES ("65000:100", well-known ones by name).
    pub communities: Vec<String>,
    /// LARGE_COMMUNITY ("65000:1:2").
    pub large_communities: Vec<String>,
    /// ORIGINATOR_ID (route reflection).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (route reflection).
    pub cluster_list: Vec<Ipv4Addr>,
    /// With `explain`: why this path lost ("higher LOCAL_PREF 200 > 100")
    /// and the index of the path it lost to.
    pub lost: Option<LostTo>,
}

/// Why a path is not the best.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostTo {
    /// Index (in `Route::paths`) of the path it lost to.
    pub path: usize,
    /// The deciding step, in words.
    pub reason: String,
}

/// A prefix and its paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The prefix ("198.18.0.0/24").
    pub prefix: String,
    /// Its paths, best first.
    pub paths: Vec<PathInfo>,
}

/// State of a kernel route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FibState {
    /// In the kernel.
    Installed,
    /// Sent, not acknowledged yet, or waiting for a usable next hop.
    Pending,
    /// Refused by the kernel; retried with back-off.
    Failed,
}

/// `GET /v1/fib`: one kernel route of Twill's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRoute {
    /// The prefix.
    pub prefix: String,
    /// Next hops ("198.18.0.2", "fd00::2 dev eth0 onlink"); empty for an
    /// unreachable route.
    pub next_hops: Vec<String>,
    /// State.
    pub state: FibState,
    /// The kernel's error, when failed.
    pub error: Option<String>,
}

/// What `POST /v1/neighbors/{address}/{action}` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "action")]
pub enum NeighborAction {
    /// Administrative Reset (Cease 6/4, RFC 4486) with an RFC 9003 message;
    /// the session comes back at once.
    Reset {
        /// Shutdown communication.
        #[serde(default)]
        message: String,
    },
    /// Ask the neighbour to send its routes again (ROUTE-REFRESH, RFC
    /// 2918), and re-apply the import policy.
    Refresh,
    /// Administrative Shutdown (Cease 6/2) with an RFC 9003 message; the
    /// session stays down until `start`.
    Shutdown {
        /// Shutdown communication.
        #[serde(default)]
        message: String,
    },
    /// Start a neighbour that was shut down.
    Start,
}

/// An error answer of the API (`{"error": "..."}` with an HTTP status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

/// One line of `GET /v1/watch` (newline-delimited JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When (Unix milliseconds).
    pub at_unix_ms: u64,
    /// What kind: "session", "route", "fib", "config".
    pub kind: String,
    /// The neighbour concerned, if any.
    pub neighbor: Option<IpAddr>,
    /// What happened, in words ("Established", "198.18.1.0/24 withdrawn").
    pub message: String,
}

/// The answer of `POST /v1/neighbors/{address}/{action}`: what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDone {
    /// The neighbour.
    pub neighbor: IpAddr,
    /// The action, as asked (`"action": "reset", "message": "..."`).
    #[serde(flatten)]
    pub action: NeighborAction,
}

/// The body of `POST /v1/neighbors/{address}/{action}` (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// RFC 9003 shutdown communication for `reset` and `shutdown` (at most
    /// 255 octets of UTF-8).
    #[serde(default)]
    pub message: Option<String>,
}
