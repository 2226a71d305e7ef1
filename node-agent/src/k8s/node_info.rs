//! What the agent needs to know of a `Node`: its addresses, pod CIDRs,
//! labels and Twill's per-node annotations.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Node;

/// Annotation overriding the cluster AS for one node.
pub const ASN_ANNOTATION: &str = "twill.io/asn";
/// Annotation setting one node's BGP Identifier.
pub const ROUTER_ID_ANNOTATION: &str = "twill.io/router-id";
/// The label that takes a node out of external load balancers: such a node
/// advertises no Service address.
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// One node, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The first IPv4 `InternalIP` of `status.addresses`.
    pub ipv4: Option<IpAddr>,
    /// The first IPv6 `InternalIP`.
    pub ipv6: Option<IpAddr>,
    /// `spec.podCIDRs` (or the older `spec.podCIDR`), as written.
    pub pod_cidrs: Vec<String>,
    /// `twill.io/asn`, when set and a number.
    pub asn: Option<u32>,
    /// `twill.io/router-id`, when set and an IPv4 address.
    pub router_id: Option<Ipv4Addr>,
    /// Problems with the annotations, for the log.
    pub problems: Vec<String>,
}

impl NodeInfo {
    /// Reads `node`.
    pub fn of(node: &Node) -> NodeInfo {
        let meta = &node.metadata;
        let name = meta.name.clone().unwrap_or_default();
        let mut problems = Vec::new();
        let (mut ipv4, mut ipv6) = (None, None);
        let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
        for a in addresses.into_iter().flatten() {
            if a.type_ != "InternalIP" {
                continue;
            }
            match a.address.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) if ipv4.is_none() => ipv4 = Some(ip),
                Ok(ip @ IpAddr::V6(_)) if ipv6.is_none() => ipv6 = Some(ip),
                Ok(_) => {}
                Err(_) => problems.push(format!("InternalIP {:?} is not an address", a.address)),
            }
        }
        let spec = node.spec.as_ref();
        let mut pod_cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
        if pod_cidrs.is_empty() {
            pod_cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
        }
        let annotations = meta.annotations.as_ref();
        let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(|v| v.trim());
        let asn = annotation(ASN_ANNOTATION).and_then(|v| match v.parse::<u32>() {
            Ok(asn) if asn != 0 => Some(asn),
            _ => {
                problems.push(format!("{ASN_ANNOTATION}: {v:?} is not an AS number"));
                None
            }
        });
        let router_id = annotation(ROUTER_ID_ANNOTATION).and_then(|v| match v.parse() {
            Ok(id) if id != Ipv4Addr::UNSPECIFIED => Some(id),
            _ => {
                problems.push(format!(
                    "{ROUTER_ID_ANNOTATION}: {v:?} is not a non-zero IPv4 address"
                ));
                None
            }
        });
        NodeInfo {
            name,
            labels: meta.labels.clone().unwrap_or_default(),
            ipv4,
            ipv6,
            pod_cidrs,
            asn,
            router_id,
            problems,
        }
    }

    /// The node's InternalIP of `addr`'s family.
    pub fn address_like(&self, addr: IpAddr) -> Option<IpAddr> {
        match addr {
            IpAddr::V4(_) => self.ipv4,
            IpAddr::V6(_) => self.ipv6,
        }
    }

    /// Whether every label of `selector` is on the node (an empty selector
    /// selects every node).
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }

    /// Whether the node is taken out of external load balancers.
    pub fn excluded_from_load_balancers(&self) -> bool {
        self.labels.contains_key(EXCLUDE_LB_LABEL)
    }

    /// The BGP Identifier (RFC 6286): the annotation, else the IPv4
    /// InternalIP, else a stable hash of the node's name (IPv6-only nodes).
    pub fn router_id(&self) -> Ipv4Addr {
        if let Some(id) = self.router_id {
            return id;
        }
        if let Some(IpAddr::V4(v4)) = self.ipv4 {
            return v4;
        }
        hashed_router_id(&self.name)
    }
}

/// A BGP Identifier from a name: 32-bit FNV-1a, never 0.0.0.0. Stable
/// across versions and machines (the hash is written out here, not taken
/// from the standard library).
pub fn hashed_router_id(name: &str) -> Ipv4Addr {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    if h == 0 {
        h = 1;
    }
    Ipv4Addr::from(h)
}
