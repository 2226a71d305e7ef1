//! Policy definitions: named prefix lists and policies of ordered terms,
//! compiled by [`super::validate`] into [`ribs::policy::Policy`].

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::neighbor::AfiSafi;

/// A named list of prefix ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixListDef {
    /// Name, unique among prefix lists.
    pub name: String,
    /// Entries; a prefix matches the list when it matches any of them.
    pub entries: Vec<PrefixRange>,
}

/// A prefix and the lengths of the prefixes within it that match.
///
/// No `ge`/`le`: exactly `prefix`. `ge` alone: lengths `ge` to 32 (or 128);
/// `le` alone: the prefix's own length to `le`; both: `ge` to `le`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixRange {
    /// `ADDRESS/LENGTH`, host bits zero.
    pub prefix: String,
    /// Shortest matching length ("greater or equal").
    #[serde(default)]
    pub ge: Option<u8>,
    /// Longest matching length ("less or equal").
    #[serde(default)]
    pub le: Option<u8>,
}

/// A named policy: terms tried in order, then `default_action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    /// Name, unique among policies; `accept-all` and `reject-all` are
    /// built in.
    pub name: String,
    /// Terms, in order.
    #[serde(default)]
    pub terms: Vec<TermDef>,
    /// What happens to a route no term accepted or rejected.
    #[serde(default)]
    pub default_action: PolicyAction,
}

/// The outcome of a policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyAction {
    /// Use (import) or advertise (export) the route.
    Accept,
    /// Drop it (the default).
    #[default]
    Reject,
}

/// One term: when every condition of `match` holds, apply `set` and then
/// `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermDef {
    /// Name, for logs and `twillctl`; `term-N` (from 1) when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions, all of which must hold; none: every route.
    #[serde(default, rename = "match")]
    pub conditions: MatchDef,
    /// Attribute changes.
    #[serde(default)]
    pub set: SetDef,
    /// What to do after `set`.
    pub action: TermAction,
}

/// What a matching term does after its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TermAction {
    /// Accept the route; later terms are not tried.
    Accept,
    /// Reject the route; later terms are not tried.
    Reject,
    /// Keep the changes and try the next term.
    Continue,
}

/// Conditions on a route; each one set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// The prefix matches this named prefix list.
    #[serde(default)]
    pub prefix_list: Option<String>,
    /// The prefix matches one of these ranges (instead of `prefix_list`).
    #[serde(default)]
    pub prefixes: Vec<PrefixRange>,
    /// The route carries every one of these communities (RFC 1997).
    #[serde(default)]
    pub communities: Vec<String>,
    /// The route carries every one of these large communities (RFC 8092).
    #[serde(default)]
    pub large_communities: Vec<String>,
    /// This AS appears anywhere in the AS_PATH.
    #[serde(default)]
    pub as_path_contains: Option<u32>,
    /// The route was originated by this AS (last AS of the AS_PATH).
    #[serde(default)]
    pub as_path_originated_by: Option<u32>,
    /// The route came through this neighbouring AS (first AS of the
    /// AS_PATH).
    #[serde(default)]
    pub as_path_neighbor: Option<u32>,
    /// The route was learned from the neighbour with this address.
    #[serde(default)]
    pub neighbor: Option<IpAddr>,
    /// The route was learned from a neighbour in this AS.
    #[serde(default)]
    pub neighbor_asn: Option<u32>,
    /// The route was learned over eBGP, over iBGP, or is our own.
    #[serde(default)]
    pub source: Option<RouteSource>,
    /// The route's address family.
    #[serde(default)]
    pub family: Option<AfiSafi>,
    /// The next hop lies within this prefix.
    #[serde(default)]
    pub next_hop_in: Option<String>,
}

/// Where a route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RouteSource {
    /// An eBGP neighbour.
    Ebgp,
    /// An iBGP neighbour.
    Ibgp,
    /// This router (`originate`).
    Local,
}

/// Changes to a route's attributes, applied in the order of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDef {
    /// Set LOCAL_PREF (RFC 4271 §5.1.5).
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// Set MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    #[serde(default)]
    pub med: Option<u32>,
    /// Remove every standard community first.
    #[serde(default)]
    pub clear_communities: bool,
    /// Remove these communities.
    #[serde(default)]
    pub remove_communities: Vec<String>,
    /// Add these communities.
    #[serde(default)]
    pub add_communities: Vec<String>,
    /// Remove these large communities.
    #[serde(default)]
    pub remove_large_communities: Vec<String>,
    /// Add these large communities.
    #[serde(default)]
    pub add_large_communities: Vec<String>,
    /// Prepend an AS to the AS_PATH.
    #[serde(default)]
    pub prepend: Option<Prepend>,
    /// Set the next hop: an address, or `self`.
    #[serde(default)]
    pub next_hop: Option<String>,
}

/// AS_PATH prepending (RFC 4271 §5.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prepend {
    /// The AS to prepend; `local_asn` when unset.
    #[serde(default)]
    pub asn: Option<u32>,
    /// How many copies (1 to 32).
    pub count: u8,
}
