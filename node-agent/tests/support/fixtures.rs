//! Kubernetes objects as JSON, the way the API server serves them.
//! Addresses are from 198.18.0.0/15 and fd00::/8.

#![allow(dead_code)]

use serde_json::{json, Value};

/// Twill's namespace in the tests.
pub const NAMESPACE: &str = "twill-system";

/// A Node with InternalIPs and pod CIDRs.
pub fn node(name: &str, ips: &[&str], pod_cidrs: &[&str]) -> Value {
    let addresses: Vec<Value> = ips
        .iter()
        .map(|ip| json!({ "type": "InternalIP", "address": ip }))
        .chain(std::iter::once(
            json!({ "type": "Hostname", "address": name }),
        ))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": name, "labels": {}, "annotations": {} },
        "spec": { "podCIDR": pod_cidrs.first(), "podCIDRs": pod_cidrs },
        "status": { "addresses": addresses },
    })
}

/// `node` with a label.
pub fn labelled(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["labels"][key] = json!(value);
    object
}

/// `object` with an annotation.
pub fn annotated(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"][key] = json!(value);
    object
}

/// A LoadBalancer Service with a cluster IP, external IPs and
/// load-balancer ingress IPs.
pub fn service(
    ns: &str,
    name: &str,
    cluster_ip: &str,
    external_ips: &[&str],
    lb_ips: &[&str],
    policy: &str,
) -> Value {
    let ingress: Vec<Value> = lb_ips.iter().map(|ip| json!({ "ip": ip })).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": ns },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "externalIPs": external_ips,
            "externalTrafficPolicy": policy,
            "ports": [{ "port": 80, "protocol": "TCP" }],
        },
        "status": { "loadBalancer": { "ingress": ingress } },
    })
}

/// An endpoint: (node, ready, terminating).
pub type Ep<'a> = (&'a str, bool, bool);

/// An EndpointSlice of Service `svc`.
pub fn slice(ns: &str, name: &str, svc: &str, endpoints: &[Ep<'_>]) -> Value {
    let eps: Vec<Value> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (node, ready, terminating))| {
            json!({
                "addresses": [format!("198.19.{}.{}", 200 + i, 10)],
                "nodeName": node,
                "conditions": { "ready": ready, "serving": ready, "terminating": terminating },
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": { "kubernetes.io/service-name": svc },
        },
        "addressType": "IPv4",
        "endpoints": eps,
    })
}

/// The `default` BGPConfiguration with this spec.
pub fn bgp_configuration(spec: Value) -> Value {
    json!({
        "apiVersion": "twill.io/v1alpha1",
        "kind": "BGPConfiguration",
        "metadata": { "name": "default" },
        "spec": spec,
    })
}

/// A BGPPeer.
pub fn bgp_peer(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "twill.io/v1alpha1",
        "kind": "BGPPeer",
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// A Secret in Twill's namespace with one key (base64 as the API has it).
pub fn secret(name: &str, key: &str, value_base64: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": NAMESPACE },
        "data": { key: value_base64 },
    })
}
