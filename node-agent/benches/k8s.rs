//! The Kubernetes controller's pure step: `k8s::desired_config` over a
//! cluster of N nodes, S LoadBalancer Services (one EndpointSlice each,
//! endpoints on three nodes, half `Local`), as the reflector-fed loop runs
//! it after each burst of events.
//!
//! ```text
//! cargo bench -p node-agent --bench k8s -- [NODES SERVICES ...] [--repeat R]
//! ```
//!
//! Arguments come in pairs (default: 100 1000, 500 10000, 5000 10000).
//! Each time is the median of R runs (default 21).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use node_agent::k8s::{desired_config, BgpConfiguration, Inputs, LocalSettings};
use serde_json::json;

fn v4(i: usize) -> String {
    format!("198.18.{}.{}", i / 250, i % 250 + 1)
}

fn cluster(nodes: usize, services: usize) -> (Vec<Node>, Vec<Service>, Vec<EndpointSlice>) {
    let nodes: Vec<Node> = (0..nodes)
        .map(|i| {
            serde_json::from_value(json!({
                "metadata": { "name": format!("n{i}") },
                "spec": { "podCIDRs": [format!("198.19.{}.{}/28", i / 16, (i % 16) * 16)] },
                "status": { "addresses": [{ "type": "InternalIP", "address": v4(i) }] },
            }))
            .unwrap()
        })
        .collect();
    let n = nodes.len();
    let mut svcs = Vec::new();
    let mut slices = Vec::new();
    for s in 0..services {
        let policy = if s % 2 == 0 { "Local" } else { "Cluster" };
        svcs.push(
            serde_json::from_value(json!({
                "metadata": { "name": format!("s{s}"), "namespace": "bench" },
                "spec": {
                    "type": "LoadBalancer",
                    "clusterIPs": [format!("198.18.{}.{}", 100 + s / 250, s % 250 + 1)],
                    "externalTrafficPolicy": policy,
                },
                "status": { "loadBalancer": { "ingress": [
                    { "ip": format!("198.18.{}.{}", 160 + s / 250, s % 250 + 1) }
                ] } },
            }))
            .unwrap(),
        );
        let eps: Vec<_> = (0..3)
            .map(|k| {
                json!({
                    "addresses": ["198.19.255.1"],
                    "nodeName": format!("n{}", (s + k * 7) % n),
                    "conditions": { "ready": true },
                })
            })
            .collect();
        slices.push(
            serde_json::from_value(json!({
                "metadata": {
                    "name": format!("s{s}-1"),
                    "namespace": "bench",
                    "labels": { "kubernetes.io/service-name": format!("s{s}") },
                },
                "addressType": "IPv4",
                "endpoints": eps,
            }))
            .unwrap(),
        );
    }
    (nodes, svcs, slices)
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut repeat = 21usize;
    if let Some(i) = args.iter().position(|a| a == "--repeat") {
        repeat = args[i + 1].parse().expect("--repeat R");
        args.drain(i..=i + 1);
    }
    let mut sizes: Vec<(usize, usize)> = args
        .chunks(2)
        .map(|c| {
            (
                c[0].parse().expect("NODES"),
                c[1].parse().expect("SERVICES"),
            )
        })
        .collect();
    if sizes.is_empty() {
        sizes = vec![(100, 1000), (500, 10000), (5000, 10000)];
    }
    let configuration: BgpConfiguration = serde_json::from_value(json!({
        "metadata": { "name": "default" },
        "spec": { "asn": 64512 },
    }))
    .unwrap();
    let local = LocalSettings::default();
    println!("nodes services  median      neighbours originated");
    for (n, s) in sizes {
        let (nodes, services, slices) = cluster(n, s);
        let nodes: Vec<&Node> = nodes.iter().collect();
        let services: Vec<&Service> = services.iter().collect();
        let slices: Vec<&EndpointSlice> = slices.iter().collect();
        let inputs = Inputs {
            node_name: "n0",
            nodes: &nodes,
            services: &services,
            slices: &slices,
            configurations: &[&configuration],
            peers: &[],
            secrets: &[],
            local: &local,
        };
        let mut times: Vec<Duration> = Vec::with_capacity(repeat);
        let mut last = None;
        for _ in 0..repeat {
            let t = Instant::now();
            let d = desired_config(&inputs).unwrap();
            times.push(t.elapsed());
            last = Some(d);
        }
        times.sort();
        let d = last.unwrap();
        println!(
            "{n:>5} {s:>8} {:>9.2} ms {:>10} {:>10}",
            times[times.len() / 2].as_secs_f64() * 1e3,
            d.config.neighbors.len(),
            d.config.originate.len()
        );
    }
}
