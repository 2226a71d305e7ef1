//! The desired configuration of this node, from the cluster's objects: a
//! pure function, so that every rule can be tested without an API server.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::config::{Api, Config, Listen, Logging, Metrics, Neighbor, Originate, Password};

use super::crd::{
    Attributes, BgpConfiguration, BgpConfigurationSpec, BgpPeer, DEFAULT_CONFIGURATION,
};
use super::mesh::{node_neighbors, reflector_selector};
use super::node_info::NodeInfo;
use super::services::service_addresses;

/// Settings of this agent that do not come from the cluster (its command
/// line): they are copied into every desired configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalSettings {
    /// The BGP listener (its port is the cluster's `listen_port`).
    pub listen: Listen,
    /// The local API.
    pub api: Api,
    /// The metrics endpoint.
    pub metrics: Metrics,
    /// Logging.
    pub logging: Logging,
}

/// Everything the desired configuration depends on: the reflectors'
/// stores at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// This node's name (`NODE_NAME`).
    pub node_name: &'a str,
    /// Every Node.
    pub nodes: &'a [&'a Node],
    /// Every Service.
    pub services: &'a [&'a Service],
    /// Every EndpointSlice.
    pub slices: &'a [&'a EndpointSlice],
    /// Every BGPConfiguration (the one named `default` is used).
    pub configurations: &'a [&'a BgpConfiguration],
    /// Every BGPPeer.
    pub peers: &'a [&'a BgpPeer],
    /// The Secrets of Twill's namespace.
    pub secrets: &'a [&'a Secret],
    /// This agent's own settings.
    pub local: &'a LocalSettings,
}

/// A desired configuration, and what was left out of it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The configuration.
    pub config: Config,
    /// Problems that left something out (a BGPPeer whose Secret is
    /// missing, a bad annotation), for the log.
    pub warnings: Vec<String>,
}

/// Why there is no configuration for this node yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// The API has no Node of that name.
    #[error("no Node named {0:?}")]
    NoNode(String),
    /// There is no BGPConfiguration `default`.
    #[error("no BGPConfiguration named {DEFAULT_CONFIGURATION:?}")]
    NoConfiguration,
}

/// The configuration this node should run.
pub fn desired_config(inputs: &Inputs<'_>) -> Result<Desired, DesiredError> {
    let spec = inputs
        .configurations
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(DEFAULT_CONFIGURATION))
        .map(|c| &c.spec)
        .ok_or(DesiredError::NoConfiguration)?;
    let nodes: Vec<NodeInfo> = inputs.nodes.iter().map(|n| NodeInfo::of(n)).collect();
    let me = nodes
        .iter()
        .find(|n| n.name == inputs.node_name)
        .ok_or_else(|| DesiredError::NoNode(inputs.node_name.to_string()))?;
    let mut warnings: Vec<String> = me
        .problems
        .iter()
        .map(|p| format!("Node {}: {p}", me.name))
        .collect();

    let mut neighbors = node_neighbors(me, &nodes, spec);
    for peer in external_peers(me, inputs, &mut warnings) {
        if neighbors.iter().any(|n| n.address == peer.address) {
            warnings.push(format!(
                "BGPPeer {}: {} is already a neighbour; ignored",
                peer.description.as_deref().unwrap_or(""),
                peer.address
            ));
        } else {
            neighbors.push(peer);
        }
    }

    let router_id = me.router_id();
    let i_reflect = reflector_selector(spec).is_some_and(|sel| me.matches(&sel));
    let reflector = spec.route_reflectors.as_ref().filter(|_| i_reflect);
    let local = inputs.local;
    Ok(Desired {
        config: Config {
            local_asn: me.asn.unwrap_or(spec.asn),
            router_id,
            cluster_id: reflector.and_then(|rr| rr.cluster_id),
            listen: Listen {
                addresses: local.listen.addresses.clone(),
                port: spec.listen_port,
            },
            decision: spec.decision.clone(),
            neighbors,
            prefix_lists: spec.prefix_lists.clone(),
            policies: spec.policies.clone(),
            originate: originate(me, inputs, spec),
            fib: spec.fib.clone(),
            api: local.api.clone(),
            metrics: local.metrics.clone(),
            logging: local.logging.clone(),
        },
        warnings,
    })
}

/// This node's pod CIDRs, then the Service addresses it advertises.
fn originate(me: &NodeInfo, inputs: &Inputs<'_>, spec: &BgpConfigurationSpec) -> Vec<Originate> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for cidr in &me.pod_cidrs {
        if seen.insert(cidr.clone()) {
            out.push(route(cidr.clone(), &spec.advertise.pod_cidrs));
        }
    }
    if me.excluded_from_load_balancers() {
        return out;
    }
    let vips = service_addresses(&me.name, inputs.services, inputs.slices, &spec.advertise);
    for (ip, attrs) in vips {
        let len = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = format!("{ip}/{len}");
        if seen.insert(prefix.clone()) {
            out.push(route(prefix, &attrs));
        }
    }
    out
}

fn route(prefix: String, attrs: &Attributes) -> Originate {
    Originate {
        prefix,
        communities: attrs.communities.clone(),
        large_communities: attrs.large_communities.clone(),
        med: None,
        local_pref: None,
        unreachable: false,
    }
}

/// The BGPPeers that select this node, with their passwords from their
/// Secrets; sorted by resource name. A peer whose Secret or key is missing
/// is left out (its session would fail authentication anyway).
fn external_peers(me: &NodeInfo, inputs: &Inputs<'_>, warnings: &mut Vec<String>) -> Vec<Neighbor> {
    let mut peers: Vec<&BgpPeer> = inputs
        .peers
        .iter()
        .copied()
        .filter(|p| me.matches(&p.spec.node_selector))
        .collect();
    peers.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out: Vec<Neighbor> = Vec::new();
    for peer in peers {
        let name = peer.metadata.name.as_deref().unwrap_or("");
        let mut n = peer.spec.neighbor.clone();
        if n.password.is_some() || n.password_file.is_some() {
            warnings.push(format!(
                "BGPPeer {name}: password and password_file are ignored; use password_secret_ref"
            ));
            n.password = None;
            n.password_file = None;
        }
        if let Some(r) = &peer.spec.password_secret_ref {
            match secret_value(inputs.secrets, &r.name, &r.key) {
                Some(key) => n.password = Some(Password(key)),
                None => {
                    warnings.push(format!(
                        "BGPPeer {name}: Secret {}, key {}, not found or not UTF-8; peer left out",
                        r.name, r.key
                    ));
                    continue;
                }
            }
        }
        if out.iter().any(|o| o.address == n.address) {
            warnings.push(format!(
                "BGPPeer {name}: another BGPPeer has address {}; ignored",
                n.address
            ));
            continue;
        }
        if n.description.is_none() {
            n.description = Some(name.to_string());
        }
        out.push(n);
    }
    out
}

/// A Secret's key as text, one trailing newline removed.
fn secret_value(secrets: &[&Secret], name: &str, key: &str) -> Option<String> {
    let secret = secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))?;
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        let s = String::from_utf8(v.0.clone()).ok()?;
        return Some(s.strip_suffix('\n').unwrap_or(&s).to_string());
    }
    let v = secret.string_data.as_ref().and_then(|d| d.get(key))?;
    Some(v.strip_suffix('\n').unwrap_or(v).to_string())
}
