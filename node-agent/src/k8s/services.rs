//! Which Service addresses a node advertises, as host routes (/32, /128).
//!
//! - `spec.clusterIPs` (when enabled), `spec.externalIPs` and
//!   `status.loadBalancer.ingress[].ip` (each when enabled).
//! - A Service with a `spec.loadBalancerClass` not in the configured list
//!   belongs to another controller: none of its external addresses is
//!   advertised.
//! - External addresses follow `spec.externalTrafficPolicy`, cluster
//!   addresses `spec.internalTrafficPolicy`: under `Local` a node
//!   advertises the address only while one of the Service's endpoints on
//!   that node is ready and not terminating; under `Cluster` (the default)
//!   every node advertises it (routers spread the traffic by ECMP) while
//!   the Service has a ready endpoint anywhere, and no node does when it
//!   has none.
//! - A node labelled `node.kubernetes.io/exclude-from-external-load-balancers`
//!   advertises no Service address.
//!
//! Endpoints are those of the EndpointSlices labelled
//! `kubernetes.io/service-name` in the Service's namespace. A nil `ready`
//! condition counts as ready and a nil `terminating` as not terminating,
//! as the EndpointSlice API says.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::crd::{Advertise, Attributes};

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the Service's ready endpoints say about one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Readiness {
    /// A ready, non-terminating endpoint anywhere.
    anywhere: bool,
    /// One on this node.
    here: bool,
}

/// The Service addresses `node` advertises, each with the attributes of
/// its kind; an address that several Services (or kinds) share is listed
/// once with the union of their attributes. Sorted by address.
pub fn service_addresses(
    node: &str,
    services: &[&Service],
    slices: &[&EndpointSlice],
    advertise: &Advertise,
) -> BTreeMap<IpAddr, Attributes> {
    let readiness = readiness(node, slices);
    let mut out: BTreeMap<IpAddr, Attributes> = BTreeMap::new();
    for svc in services {
        let (Some(ns), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
            continue;
        };
        let Some(spec) = &svc.spec else { continue };
        let ready = readiness
            .get(&(ns.as_str(), name.as_str()))
            .copied()
            .unwrap_or_default();
        let advertised = |policy: &Option<String>| match policy.as_deref() {
            Some("Local") => ready.here,
            _ => ready.anywhere,
        };
        let mut add = |addr: &str, attrs: &Attributes| {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                let entry = out.entry(ip).or_default();
                union(&mut entry.communities, &attrs.communities);
                union(&mut entry.large_communities, &attrs.large_communities);
            }
        };
        if let Some(attrs) = &advertise.cluster_ips {
            if advertised(&spec.internal_traffic_policy) {
                let ips = spec.cluster_ips.iter().flatten().chain(&spec.cluster_ip);
                for ip in ips.filter(|ip| ip.as_str() != "None") {
                    add(ip, attrs);
                }
            }
        }
        let foreign_class = spec
            .load_balancer_class
            .as_ref()
            .is_some_and(|c| !advertise.load_balancer_classes.contains(c));
        if foreign_class || !advertised(&spec.external_traffic_policy) {
            continue;
        }
        if let Some(attrs) = &advertise.external_ips {
            for ip in spec.external_ips.iter().flatten() {
                add(ip, attrs);
            }
        }
        if let Some(attrs) = &advertise.load_balancer_ips {
            let ingress = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref());
            for ing in ingress.into_iter().flatten() {
                if let Some(ip) = &ing.ip {
                    add(ip, attrs);
                }
            }
        }
    }
    out
}

fn union(into: &mut Vec<String>, from: &[String]) {
    for c in from {
        if !into.contains(c) {
            into.push(c.clone());
        }
    }
}

/// Per Service (namespace, name): its ready endpoints, anywhere and on
/// `node`.
fn readiness<'a>(
    node: &str,
    slices: &[&'a EndpointSlice],
) -> BTreeMap<(&'a str, &'a str), Readiness> {
    let mut out: BTreeMap<(&str, &str), Readiness> = BTreeMap::new();
    for slice in slices {
        let Some(ns) = slice.metadata.namespace.as_deref() else {
            continue;
        };
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let r = out.entry((ns, svc.as_str())).or_default();
        for ep in &slice.endpoints {
            let cond = ep.conditions.as_ref();
            let ready = cond.and_then(|c| c.ready).unwrap_or(true);
            let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
            if !ready || terminating || ep.addresses.is_empty() {
                continue;
            }
            r.anywhere = true;
            if ep.node_name.as_deref() == Some(node) {
                r.here = true;
            }
        }
    }
    out
}
