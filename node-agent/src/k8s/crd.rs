//! Twill's Kubernetes resources (group `twill.io`, version `v1alpha1`),
//! derived from Rust types with [`kube::CustomResource`].
//!
//! The specs reuse the configuration file's types ([`crate::config`]), so
//! a field means the same thing in the YAML file and in a resource, and
//! field names are the file's (snake_case). `twill-crds` prints the
//! CustomResourceDefinitions; `deploy/crds/` holds its output and a test
//! fails when it is stale.
//!
//! - [`BgpConfiguration`] (`BGPConfiguration`, cluster-scoped, one named
//!   `default`): the cluster AS, node-to-node mesh or route reflection,
//!   which Service addresses to advertise and with which communities,
//!   session timers, graceful restart, FIB, policies.
//! - [`BgpPeer`] (`BGPPeer`, cluster-scoped): an external neighbour (a
//!   top-of-rack router) for the nodes its selector picks.
//! - [`BgpNodeStatus`] (`BGPNodeStatus`, cluster-scoped, one per node,
//!   named after it): the sessions of that node, kept current by its agent.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Decision, Fib, GracefulRestart, Neighbor, PolicyDef, PrefixListDef, Timers};

/// The API group of Twill's resources.
pub const GROUP: &str = "twill.io";
/// Their version.
pub const VERSION: &str = "v1alpha1";
/// The name of the [`BgpConfiguration`] the agents read.
pub const DEFAULT_CONFIGURATION: &str = "default";

/// The cluster-wide BGP settings.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "twill.io",
    version = "v1alpha1",
    kind = "BGPConfiguration",
    doc = "Twill's cluster-wide BGP settings (the one named default is used)",
    root = "BgpConfiguration",
    plural = "bgpconfigurations",
    shortname = "bgpconfig",
    printcolumn = r#"{"name":"ASN","type":"integer","jsonPath":".spec.asn"}"#,
    printcolumn = r#"{"name":"Mesh","type":"boolean","jsonPath":".spec.node_to_node_mesh"}"#
)]
pub struct BgpConfigurationSpec {
    /// The cluster's AS (RFC 6793: 4 octets); a node's `twill.io/asn`
    /// annotation overrides it for that node.
    pub asn: u32,
    /// iBGP between every pair of nodes (clusters up to about 100 nodes).
    /// Ignored when `route_reflectors` is set.
    #[serde(default = "yes")]
    pub node_to_node_mesh: bool,
    /// Route reflection (RFC 4456): the nodes this selects reflect, the
    /// others peer with them only. Unset: mesh (or no node-to-node
    /// sessions when the mesh is off).
    #[serde(default)]
    pub route_reflectors: Option<RouteReflectors>,
    /// The TCP port every node listens on for BGP and connects to on the
    /// other nodes (RFC 4271 §8.2.1: 179); another one leaves 179 to
    /// another speaker on the nodes.
    #[serde(default = "bgp_port")]
    pub listen_port: u16,
    /// Which addresses of this cluster are advertised, and how.
    #[serde(default)]
    pub advertise: Advertise,
    /// Timers of the node-to-node sessions.
    #[serde(default)]
    pub timers: Timers,
    /// Graceful Restart (RFC 4724) of the node-to-node sessions.
    #[serde(default)]
    pub graceful_restart: GracefulRestart,
    /// Decision process and multipath (every node).
    #[serde(default)]
    pub decision: Decision,
    /// The kernel routing table (every node).
    #[serde(default)]
    pub fib: Fib,
    /// Named prefix lists, for `policies`.
    #[serde(default)]
    pub prefix_lists: Vec<PrefixListDef>,
    /// Named policies, referenced by `BGPPeer`s.
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
}

/// Route reflector settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RouteReflectors {
    /// Labels of the reflector nodes (all must match); empty:
    /// `twill.io/route-reflector: "true"`.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// CLUSTER_ID of the reflectors (RFC 4456 §7); unset: each reflector's
    /// router id.
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
}

/// The label a reflector node carries when `node_selector` is empty.
pub const REFLECTOR_LABEL: &str = "twill.io/route-reflector";

/// What the nodes advertise besides their pod CIDRs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Advertise {
    /// Each node's `spec.podCIDRs`.
    #[serde(default)]
    pub pod_cidrs: Attributes,
    /// Services' `spec.clusterIPs`; off unless set.
    #[serde(default)]
    pub cluster_ips: Option<Attributes>,
    /// Services' `spec.externalIPs`; on unless set to null.
    #[serde(default = "some_attributes")]
    pub external_ips: Option<Attributes>,
    /// Services' `status.loadBalancer.ingress[].ip`; on unless set to null.
    #[serde(default = "some_attributes")]
    pub load_balancer_ips: Option<Attributes>,
    /// Services whose `spec.loadBalancerClass` is one of these are
    /// advertised, and so are those without a class; any other class
    /// belongs to another controller.
    #[serde(default)]
    pub load_balancer_classes: Vec<String>,
}

impl Default for Advertise {
    fn default() -> Self {
        Advertise {
            pod_cidrs: Attributes::default(),
            cluster_ips: None,
            external_ips: some_attributes(),
            load_balancer_ips: some_attributes(),
            load_balancer_classes: Vec::new(),
        }
    }
}

fn some_attributes() -> Option<Attributes> {
    Some(Attributes::default())
}

/// Path attributes of one kind of advertisement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attributes {
    /// COMMUNITIES (RFC 1997): `ASN:VALUE` or a well-known name.
    #[serde(default)]
    pub communities: Vec<String>,
    /// LARGE_COMMUNITY (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`.
    #[serde(default)]
    pub large_communities: Vec<String>,
}

/// An external BGP neighbour of the nodes its selector picks.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "twill.io",
    version = "v1alpha1",
    kind = "BGPPeer",
    doc = "An external BGP neighbour (a top-of-rack router) of the nodes its selector picks",
    root = "BgpPeer",
    plural = "bgppeers",
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.neighbor.address"}"#,
    printcolumn = r#"{"name":"ASN","type":"integer","jsonPath":".spec.neighbor.asn"}"#
)]
pub struct BgpPeerSpec {
    /// The session, as in the configuration file (`password` and
    /// `password_file` are refused here: use `password_secret_ref`).
    pub neighbor: Neighbor,
    /// Labels of the nodes that peer (all must match); empty: every node.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// The TCP MD5 key (RFC 2385), from a Secret in Twill's namespace.
    #[serde(default)]
    pub password_secret_ref: Option<SecretKeyRef>,
}

/// A key of a Secret in Twill's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key within its `data`.
    pub key: String,
}

/// One node's BGP health, written by that node's agent.
#[derive(
    CustomResource, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "twill.io",
    version = "v1alpha1",
    kind = "BGPNodeStatus",
    doc = "One node's BGP sessions, written by that node's twill-agent",
    root = "BgpNodeStatus",
    plural = "bgpnodestatuses",
    status = "NodeStatus",
    printcolumn = r#"{"name":"Router-ID","type":"string","jsonPath":".status.router_id"}"#,
    printcolumn = r#"{"name":"Established","type":"integer","jsonPath":".status.established"}"#,
    printcolumn = r#"{"name":"Sessions","type":"integer","jsonPath":".status.sessions_total"}"#,
    printcolumn = r#"{"name":"Updated","type":"date","jsonPath":".status.updated"}"#
)]
pub struct BgpNodeStatusSpec {
    /// The node (also the resource's name).
    pub node: String,
}

/// The status of [`BgpNodeStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeStatus {
    /// The node's AS.
    #[serde(default)]
    pub asn: u32,
    /// The node's BGP Identifier.
    #[serde(default)]
    pub router_id: Option<Ipv4Addr>,
    /// Sessions in Established.
    #[serde(default)]
    pub established: u32,
    /// All configured sessions.
    #[serde(default)]
    pub sessions_total: u32,
    /// Every session.
    #[serde(default)]
    pub sessions: Vec<SessionStatus>,
    /// When the agent last changed this status (RFC 3339).
    #[serde(default)]
    pub updated: Option<String>,
}

/// One session of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionStatus {
    /// The neighbour's address.
    pub address: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// Its description (`node NAME` for mesh sessions).
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 4271 §8.2.2 state (`Established`, `Active`, ...).
    pub state: String,
    /// Whole minutes since Established, when Established (minutes, so
    /// that the status does not change every few seconds).
    #[serde(default)]
    pub uptime_minutes: Option<u64>,
    /// Prefixes received.
    pub prefixes_received: u64,
    /// Prefixes accepted.
    pub prefixes_accepted: u64,
    /// Prefixes advertised.
    pub prefixes_advertised: u64,
    /// Why it last went down.
    #[serde(default)]
    pub last_down_reason: Option<String>,
}

fn yes() -> bool {
    true
}

fn bgp_port() -> u16 {
    179
}
