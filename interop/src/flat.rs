//! A flat network of nodes running `twill-agent`, each with a pod behind
//! it, and no encapsulation anywhere: either every node peers over eBGP
//! with one top-of-rack router (BIRD or FRR), or the nodes form an iBGP
//! full mesh on a shared segment. Used by scenario 7 and by `twill-lab`
//! (the README demo).
//!
//! ```text
//!  ToR:   pod0 - node0 \                  Mesh:  pod0 - node0 \
//!         pod1 - node1 -- tor (BIRD|FRR)         pod1 - node1 -- bridge
//!         pod2 - node2 /                         pod2 - node2 /
//! ```
//!
//! Each node announces its pod's subnets (the /24 and /64 of its link to
//! the pod) and installs the others' in its kernel table.

use std::net::IpAddr;

use crate::agent::{AgentOptions, TwillAgent};
use crate::error::Result;
use crate::netns::{Endpoint, Lab, Ns};
use crate::peer::{Daemon, Peer};
use crate::router::{Family, Neighbor, Prefix, Route, Router};

/// How the nodes are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fabric {
    /// eBGP with one top-of-rack router running this daemon (BIRD or FRR);
    /// each node has its own AS.
    Tor(Daemon),
    /// iBGP full mesh between the nodes (one AS) on a shared segment.
    Mesh,
}

/// The top-of-rack router's AS.
pub const TOR_AS: u32 = 65000;
/// The nodes' AS in the mesh; in the ToR fabric node `i` has `NODE_AS + i`.
pub const NODE_AS: u32 = 4_200_000_100;

/// One node: its agent, its pod, and its uplink.
#[derive(Debug)]
pub struct Node {
    /// The agent.
    pub agent: TwillAgent,
    /// The pod's namespace.
    pub pod: Ns,
    /// The pod's end of its link to the node (its addresses).
    pub pod_end: Endpoint,
    /// The node's end of its uplink (to the ToR or to the bridge).
    pub uplink: Endpoint,
}

impl Node {
    /// The pod's subnet of `family` (what the node announces).
    pub fn pod_subnet(&self, family: Family) -> Prefix {
        self.pod_end.subnet(family)
    }

    /// The pod's address of `family`.
    pub fn pod_addr(&self, family: Family) -> IpAddr {
        self.pod_end.addr(family)
    }
}

/// The network.
pub struct Flat {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The top-of-rack router (ToR fabric).
    pub tor: Option<Box<dyn Peer>>,
    /// The ToR's namespace (ToR fabric).
    pub tor_ns: Option<Ns>,
}

impl std::fmt::Debug for Flat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flat")
            .field("nodes", &self.nodes)
            .field("tor", &self.tor.as_ref().map(|t| t.label()))
            .finish()
    }
}

/// Builds `count` nodes joined by `fabric`, each agent with `options`, and
/// starts everything (it does not wait for convergence).
pub fn build(lab: &mut Lab, fabric: Fabric, count: usize, options: &AgentOptions) -> Result<Flat> {
    let nodes: Vec<Ns> = (0..count)
        .map(|i| lab.namespace(&format!("node{i}")))
        .collect::<Result<_>>()?;
    let mut pods = Vec::new();
    for (i, ns) in nodes.iter().enumerate() {
        let (pod, link) = lab.host_behind(ns, &format!("pod{i}"))?;
        pods.push((pod, link.b, link.a));
    }
    // Uplinks: (node's end, the far end's addresses).
    let (uplinks, tor_ns): (Vec<(Endpoint, Endpoint)>, Option<Ns>) = match fabric {
        Fabric::Tor(_) => {
            let tor = lab.namespace("tor")?;
            let mut ends = Vec::new();
            for ns in &nodes {
                let link = lab.link(ns, &tor)?;
                ends.push((link.a, link.b));
            }
            (ends, Some(tor))
        }
        Fabric::Mesh => {
            let members: Vec<&Ns> = nodes.iter().collect();
            let ends = lab.segment("fabric", &members)?;
            (ends.iter().map(|e| (e.clone(), e.clone())).collect(), None)
        }
    };
    let mut routers = Vec::new();
    for (i, (up, far)) in uplinks.iter().enumerate() {
        let asn = match fabric {
            Fabric::Tor(_) => NODE_AS + i as u32,
            Fabric::Mesh => NODE_AS,
        };
        let mut r = Router::new(&format!("node{i}"), asn, up.v4);
        for family in [Family::Ipv4, Family::Ipv6] {
            r.originate.push(Route::new(pods[i].2.subnet(family)));
            match fabric {
                Fabric::Tor(_) => r.neighbors.push(Neighbor::new(
                    &format!("tor{}", suffix(family)),
                    far.addr(family),
                    up.addr(family),
                    TOR_AS,
                )),
                Fabric::Mesh => {
                    for (j, (other, _)) in uplinks.iter().enumerate() {
                        if j != i {
                            r.neighbors.push(Neighbor::new(
                                &format!("node{j}{}", suffix(family)),
                                other.addr(family),
                                up.addr(family),
                                NODE_AS,
                            ));
                        }
                    }
                }
            }
        }
        routers.push(r);
    }
    let mut tor = None;
    if let (Fabric::Tor(daemon), Some(ns)) = (fabric, &tor_ns) {
        let first = &uplinks[0].1;
        let mut r = Router::new("tor", TOR_AS, first.v4);
        for (i, (up, far)) in uplinks.iter().enumerate() {
            for family in [Family::Ipv4, Family::Ipv6] {
                r.neighbors.push(Neighbor::new(
                    &format!("node{i}{}", suffix(family)),
                    up.addr(family),
                    far.addr(family),
                    NODE_AS + i as u32,
                ));
            }
        }
        tor = Some(crate::peer::start(daemon, lab, ns, r)?);
    }
    let mut out = Vec::new();
    for ((r, (pod, pod_end, _)), (up, _)) in routers.into_iter().zip(pods).zip(uplinks) {
        let ns = nodes[out.len()].clone();
        let agent = TwillAgent::start(lab, &ns, r, options.clone())?;
        out.push(Node {
            agent,
            pod,
            pod_end,
            uplink: up,
        });
    }
    Ok(Flat {
        nodes: out,
        tor,
        tor_ns,
    })
}

fn suffix(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "_4",
        Family::Ipv6 => "_6",
    }
}
