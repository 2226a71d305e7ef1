//! Node-to-node sessions: a full iBGP mesh, or route reflection (RFC
//! 4456).
//!
//! Nodes peer over their InternalIPs, once per address family both have
//! (IPv4 with IPv4, IPv6 with IPv6), each session carrying its own family.
//! Of each pair, the node with the higher address is passive (RFC 4271
//! §8.1.1 PassiveTcpEstablishment), so the two never open crossing
//! connections (no collision, §6.8). Every node computes the same answer
//! from the same Node objects, and a node's arrival adds only its own
//! sessions.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::config::{AfiSafi, FamilyConfig, Neighbor, ACCEPT_ALL};

use super::crd::{BgpConfigurationSpec, REFLECTOR_LABEL};
use super::node_info::NodeInfo;

/// The prefix of the description of a node-to-node session; the node's
/// name follows.
pub const NODE_DESCRIPTION: &str = "node ";

/// The node-to-node neighbours of `me`, sorted by address.
pub fn node_neighbors(
    me: &NodeInfo,
    nodes: &[NodeInfo],
    spec: &BgpConfigurationSpec,
) -> Vec<Neighbor> {
    let mut out = Vec::new();
    let reflectors = reflector_selector(spec);
    let i_reflect = reflectors.as_ref().is_some_and(|sel| me.matches(sel));
    for other in nodes {
        if other.name == me.name {
            continue;
        }
        let (peer, client) = match &reflectors {
            None if spec.node_to_node_mesh => (true, false),
            None => (false, false),
            Some(sel) => {
                let it_reflects = other.matches(sel);
                // A reflector peers with everyone (its clients and the
                // other reflectors, as non-clients); a client only with
                // the reflectors.
                (i_reflect || it_reflects, i_reflect && !it_reflects)
            }
        };
        if !peer {
            continue;
        }
        for (mine, theirs) in [(me.ipv4, other.ipv4), (me.ipv6, other.ipv6)] {
            let (Some(mine), Some(theirs)) = (mine, theirs) else {
                continue;
            };
            out.push(session(mine, theirs, other, client, spec));
        }
    }
    out.sort_by_key(|n| n.address);
    out
}

/// The labels of the reflector nodes, in route reflector mode.
pub fn reflector_selector(spec: &BgpConfigurationSpec) -> Option<BTreeMap<String, String>> {
    spec.route_reflectors.as_ref().map(|rr| {
        if rr.node_selector.is_empty() {
            BTreeMap::from([(REFLECTOR_LABEL.to_string(), "true".to_string())])
        } else {
            rr.node_selector.clone()
        }
    })
}

fn session(
    mine: IpAddr,
    theirs: IpAddr,
    other: &NodeInfo,
    client: bool,
    spec: &BgpConfigurationSpec,
) -> Neighbor {
    Neighbor {
        address: theirs,
        asn: other.asn.unwrap_or(spec.asn),
        description: Some(format!("{NODE_DESCRIPTION}{}", other.name)),
        port: spec.listen_port,
        passive: mine > theirs,
        multihop_ttl: None,
        gtsm: false,
        password: None,
        password_file: None,
        source_address: Some(mine),
        timers: spec.timers.clone(),
        graceful_restart: spec.graceful_restart.clone(),
        families: vec![FamilyConfig {
            family: AfiSafi::of(theirs),
            extended_next_hop: false,
            add_path: Default::default(),
            add_path_send_max: None,
        }],
        // Nodes trust each other: every route is taken and offered (the
        // iBGP rules still decide what is sent).
        import_policy: Some(ACCEPT_ALL.to_string()),
        export_policy: Some(ACCEPT_ALL.to_string()),
        route_reflector_client: client,
        next_hop_self: false,
        soft_reconfiguration_inbound: false,
        allowas_in: 0,
        max_prefix: None,
    }
}
