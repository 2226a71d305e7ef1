//! `k8s::desired_config`: the rules that turn the cluster's objects into
//! this node's configuration (pure; the controller's loop is tested
//! through the fake API server in `k8s_controller.rs`).

mod support;

use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use node_agent::config::{self, Password};
use node_agent::k8s::node_info::hashed_router_id;
use node_agent::k8s::{
    desired_config, BgpConfiguration, BgpPeer, Desired, DesiredError, Inputs, LocalSettings,
};
use serde_json::{json, Value};
use support::fixtures::*;

#[derive(Default)]
struct World {
    nodes: Vec<Node>,
    services: Vec<Service>,
    slices: Vec<EndpointSlice>,
    configurations: Vec<BgpConfiguration>,
    peers: Vec<BgpPeer>,
    secrets: Vec<Secret>,
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture")
}

impl World {
    fn new(spec: Value) -> World {
        World {
            configurations: vec![from(bgp_configuration(spec))],
            ..World::default()
        }
    }

    fn node(mut self, v: Value) -> Self {
        self.nodes.push(from(v));
        self
    }

    fn service(mut self, v: Value) -> Self {
        self.services.push(from(v));
        self
    }

    fn slice(mut self, v: Value) -> Self {
        self.slices.push(from(v));
        self
    }

    fn peer(mut self, v: Value) -> Self {
        self.peers.push(from(v));
        self
    }

    fn secret(mut self, v: Value) -> Self {
        self.secrets.push(from(v));
        self
    }

    fn try_desired(&self, node: &str) -> Result<Desired, DesiredError> {
        let local = LocalSettings::default();
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        let services: Vec<&Service> = self.services.iter().collect();
        let slices: Vec<&EndpointSlice> = self.slices.iter().collect();
        let configurations: Vec<&BgpConfiguration> = self.configurations.iter().collect();
        let peers: Vec<&BgpPeer> = self.peers.iter().collect();
        let secrets: Vec<&Secret> = self.secrets.iter().collect();
        desired_config(&Inputs {
            node_name: node,
            nodes: &nodes,
            services: &services,
            slices: &slices,
            configurations: &configurations,
            peers: &peers,
            secrets: &secrets,
            local: &local,
        })
    }

    /// The desired configuration of `node`, which must also validate.
    fn desired(&self, node: &str) -> Desired {
        let d = self.try_desired(node).expect("a configuration");
        if let Err(e) = config::validate(d.config.clone()) {
            panic!("the desired configuration does not validate:\n{e}");
        }
        d
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (address, passive, asn, source) of each neighbour.
fn sessions(d: &Desired) -> Vec<(IpAddr, bool, u32, Option<IpAddr>)> {
    d.config
        .neighbors
        .iter()
        .map(|n| (n.address, n.passive, n.asn, n.source_address))
        .collect()
}

fn prefixes(d: &Desired) -> Vec<String> {
    d.config
        .originate
        .iter()
        .map(|o| o.prefix.clone())
        .collect()
}

fn three_nodes(spec: Value) -> World {
    World::new(spec)
        .node(node("a", &["198.18.0.1"], &["198.19.1.0/24"]))
        .node(node("b", &["198.18.0.2"], &["198.19.2.0/24"]))
        .node(node("c", &["198.18.0.3"], &["198.19.3.0/24"]))
}

#[test]
fn mesh_peers_with_every_other_node_and_the_higher_address_is_passive() {
    let w = three_nodes(json!({ "asn": 64512 }));
    let a = w.desired("a");
    assert_eq!(a.config.local_asn, 64512);
    assert_eq!(a.config.router_id, Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(
        sessions(&a),
        vec![
            (ip("198.18.0.2"), false, 64512, Some(ip("198.18.0.1"))),
            (ip("198.18.0.3"), false, 64512, Some(ip("198.18.0.1"))),
        ]
    );
    let b = w.desired("b");
    assert_eq!(
        sessions(&b),
        vec![
            (ip("198.18.0.1"), true, 64512, Some(ip("198.18.0.2"))),
            (ip("198.18.0.3"), false, 64512, Some(ip("198.18.0.2"))),
        ]
    );
    // Exactly one side of each pair is passive.
    let c = w.desired("c");
    assert!(c.config.neighbors.iter().all(|n| n.passive));
    assert_eq!(a.config.neighbors[0].description.as_deref(), Some("node b"));
    assert_eq!(
        a.config.neighbors[0].import_policy.as_deref(),
        Some("accept-all")
    );
    assert_eq!(prefixes(&a), vec!["198.19.1.0/24"]);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn mesh_off_means_no_node_sessions() {
    let w = three_nodes(json!({ "asn": 64512, "node_to_node_mesh": false }));
    assert!(w.desired("a").config.neighbors.is_empty());
}

#[test]
fn dual_stack_nodes_peer_once_per_family_and_originate_both_pod_cidrs() {
    let w = World::new(json!({ "asn": 64512 }))
        .node(node(
            "a",
            &["198.18.0.1", "fd00:18::1"],
            &["198.19.1.0/24", "fd00:19:1::/64"],
        ))
        .node(node(
            "b",
            &["198.18.0.2", "fd00:18::2"],
            &["198.19.2.0/24", "fd00:19:2::/64"],
        ))
        // IPv6 only: no IPv4 session with it.
        .node(node("c", &["fd00:18::3"], &["fd00:19:3::/64"]));
    let a = w.desired("a");
    assert_eq!(
        sessions(&a),
        vec![
            (ip("198.18.0.2"), false, 64512, Some(ip("198.18.0.1"))),
            (ip("fd00:18::2"), false, 64512, Some(ip("fd00:18::1"))),
            (ip("fd00:18::3"), false, 64512, Some(ip("fd00:18::1"))),
        ]
    );
    let fams: Vec<_> = a
        .config
        .neighbors
        .iter()
        .map(|n| n.families[0].family)
        .collect();
    assert_eq!(
        fams,
        vec![
            config::AfiSafi::Ipv4Unicast,
            config::AfiSafi::Ipv6Unicast,
            config::AfiSafi::Ipv6Unicast
        ]
    );
    assert_eq!(prefixes(&a), vec!["198.19.1.0/24", "fd00:19:1::/64"]);
    // The IPv6-only node's router id is a stable hash of its name.
    let c = w.desired("c");
    assert_eq!(c.config.router_id, hashed_router_id("c"));
    assert_eq!(hashed_router_id("c"), hashed_router_id("c"));
    assert_ne!(hashed_router_id("c"), hashed_router_id("d"));
    // FNV-1a of "c" (0xe60c2c52, computed independently), written out so
    // that the hash never changes between versions.
    assert_eq!(hashed_router_id("c"), Ipv4Addr::from(0xe60c_2c52));
}

#[test]
fn annotations_override_asn_and_router_id() {
    let w = World::new(json!({ "asn": 64512 }))
        .node(annotated(
            annotated(
                node("a", &["198.18.0.1"], &["198.19.1.0/24"]),
                "twill.io/asn",
                "64600",
            ),
            "twill.io/router-id",
            "198.18.255.1",
        ))
        .node(node("b", &["198.18.0.2"], &["198.19.2.0/24"]))
        .node(annotated(
            node("c", &["198.18.0.3"], &["198.19.3.0/24"]),
            "twill.io/asn",
            "not-a-number",
        ));
    let a = w.desired("a");
    assert_eq!(a.config.local_asn, 64600);
    assert_eq!(a.config.router_id, Ipv4Addr::new(198, 18, 255, 1));
    // b sees a in a's own AS (eBGP between nodes of different ASes).
    let b = w.desired("b");
    assert_eq!(
        sessions(&b)[0],
        (ip("198.18.0.1"), true, 64600, Some(ip("198.18.0.2")))
    );
    // A bad annotation is reported and ignored.
    let c = w.desired("c");
    assert_eq!(c.config.local_asn, 64512);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("twill.io/asn"), "{:?}", c.warnings);
}

#[test]
fn route_reflectors_peer_with_everyone_and_clients_only_with_them() {
    let w = World::new(json!({
        "asn": 64512,
        "route_reflectors": { "cluster_id": "198.18.255.255" },
    }))
    .node(labelled(
        node("rr1", &["198.18.0.1"], &["198.19.1.0/24"]),
        "twill.io/route-reflector",
        "true",
    ))
    .node(labelled(
        node("rr2", &["198.18.0.2"], &["198.19.2.0/24"]),
        "twill.io/route-reflector",
        "true",
    ))
    .node(node("c3", &["198.18.0.3"], &["198.19.3.0/24"]))
    .node(node("c4", &["198.18.0.4"], &["198.19.4.0/24"]));
    let rr1 = w.desired("rr1");
    let clients: Vec<(IpAddr, bool)> = rr1
        .config
        .neighbors
        .iter()
        .map(|n| (n.address, n.route_reflector_client))
        .collect();
    assert_eq!(
        clients,
        vec![
            (ip("198.18.0.2"), false),
            (ip("198.18.0.3"), true),
            (ip("198.18.0.4"), true),
        ]
    );
    assert_eq!(
        rr1.config.cluster_id,
        Some(Ipv4Addr::new(198, 18, 255, 255))
    );
    let c3 = w.desired("c3");
    assert_eq!(
        sessions(&c3),
        vec![
            (ip("198.18.0.1"), true, 64512, Some(ip("198.18.0.3"))),
            (ip("198.18.0.2"), true, 64512, Some(ip("198.18.0.3"))),
        ]
    );
    assert!(c3
        .config
        .neighbors
        .iter()
        .all(|n| !n.route_reflector_client));
    assert_eq!(c3.config.cluster_id, None);
}

fn lb_world(policy: &str, endpoints: &[Ep<'_>]) -> World {
    three_nodes(json!({
        "asn": 64512,
        "advertise": {
            "pod_cidrs": { "communities": ["64512:100"] },
            "load_balancer_ips": { "communities": ["64512:200"] },
            "external_ips": { "large_communities": ["64512:3:0"] },
        },
    }))
    .service(service(
        "web",
        "front",
        "198.18.128.10",
        &["198.18.200.5"],
        &["198.18.201.5"],
        policy,
    ))
    .slice(slice("web", "front-x1", "front", endpoints))
}

#[test]
fn cluster_policy_every_node_advertises_while_an_endpoint_is_ready_anywhere() {
    let w = lb_world("Cluster", &[("b", true, false)]);
    for n in ["a", "b", "c"] {
        let d = w.desired(n);
        assert_eq!(
            prefixes(&d),
            vec![
                format!("198.19.{}.0/24", (n.as_bytes()[0] - b'a') + 1),
                "198.18.200.5/32".to_string(),
                "198.18.201.5/32".to_string(),
            ],
            "node {n}"
        );
        assert_eq!(d.config.originate[0].communities, vec!["64512:100"]);
        assert_eq!(d.config.originate[1].large_communities, vec!["64512:3:0"]);
        assert!(d.config.originate[1].communities.is_empty());
        assert_eq!(d.config.originate[2].communities, vec!["64512:200"]);
    }
    // No ready endpoint anywhere: withdrawn everywhere.
    for eps in [
        vec![],
        vec![("b", false, false)],
        vec![("b", true, true)], // terminating
    ] {
        let w = lb_world("Cluster", &eps);
        for n in ["a", "b", "c"] {
            assert_eq!(
                prefixes(&w.desired(n)).len(),
                1,
                "node {n}, endpoints {eps:?}"
            );
        }
    }
}

#[test]
fn local_policy_only_nodes_with_a_ready_local_endpoint_advertise() {
    let w = lb_world(
        "Local",
        &[("b", true, false), ("c", true, true), ("a", false, false)],
    );
    assert_eq!(prefixes(&w.desired("a")), vec!["198.19.1.0/24"]);
    assert_eq!(
        prefixes(&w.desired("b")),
        vec!["198.19.2.0/24", "198.18.200.5/32", "198.18.201.5/32"]
    );
    // c's endpoint is terminating.
    assert_eq!(prefixes(&w.desired("c")), vec!["198.19.3.0/24"]);
}

#[test]
fn an_unknown_ready_condition_counts_as_ready() {
    let mut s = slice("web", "front-x1", "front", &[("a", true, false)]);
    s["endpoints"][0]["conditions"] = json!({});
    let w = three_nodes(json!({ "asn": 64512 }))
        .service(service(
            "web",
            "front",
            "198.18.128.10",
            &[],
            &["198.18.201.5"],
            "Local",
        ))
        .slice(s);
    assert_eq!(
        prefixes(&w.desired("a")),
        vec!["198.19.1.0/24", "198.18.201.5/32"]
    );
}

#[test]
fn nodes_excluded_from_load_balancers_advertise_no_service_address() {
    let mut w = lb_world("Cluster", &[("b", true, false)]);
    w.nodes[0].metadata.labels.get_or_insert_default().insert(
        "node.kubernetes.io/exclude-from-external-load-balancers".into(),
        String::new(),
    );
    assert_eq!(prefixes(&w.desired("a")), vec!["198.19.1.0/24"]);
    assert_eq!(prefixes(&w.desired("b")).len(), 3);
}

#[test]
fn cluster_ips_only_when_enabled() {
    let w = lb_world("Cluster", &[("b", true, false)]);
    assert!(!prefixes(&w.desired("a")).contains(&"198.18.128.10/32".to_string()));
    let mut w = w;
    w.configurations[0].spec.advertise.cluster_ips = Some(Default::default());
    assert_eq!(
        prefixes(&w.desired("a")),
        vec![
            "198.19.1.0/24",
            "198.18.128.10/32",
            "198.18.200.5/32",
            "198.18.201.5/32"
        ]
    );
    // Headless Services have no cluster IP to advertise.
    let mut headless = service("web", "db", "None", &[], &[], "Cluster");
    headless["spec"]["clusterIPs"] = json!(["None"]);
    let w = w
        .service(headless)
        .slice(slice("web", "db-1", "db", &[("a", true, false)]));
    assert_eq!(prefixes(&w.desired("a")).len(), 4);
}

#[test]
fn external_addresses_can_be_turned_off() {
    let mut w = lb_world("Cluster", &[("b", true, false)]);
    w.configurations[0].spec.advertise.external_ips = None;
    assert_eq!(
        prefixes(&w.desired("a")),
        vec!["198.19.1.0/24", "198.18.201.5/32"]
    );
    w.configurations[0].spec.advertise.load_balancer_ips = None;
    assert_eq!(prefixes(&w.desired("a")), vec!["198.19.1.0/24"]);
}

#[test]
fn load_balancer_class_filter() {
    let mut svc = service(
        "web",
        "other",
        "198.18.128.11",
        &[],
        &["198.18.201.9"],
        "Cluster",
    );
    svc["spec"]["loadBalancerClass"] = json!("example.com/other");
    let w = lb_world("Cluster", &[("b", true, false)])
        .service(svc)
        .slice(slice("web", "other-1", "other", &[("b", true, false)]));
    assert!(!prefixes(&w.desired("a")).contains(&"198.18.201.9/32".to_string()));
    let mut w = w;
    w.configurations[0].spec.advertise.load_balancer_classes = vec!["example.com/other".into()];
    assert!(prefixes(&w.desired("a")).contains(&"198.18.201.9/32".to_string()));
}

#[test]
fn an_address_shared_by_two_services_is_advertised_once_with_both_attributes() {
    let w = lb_world("Cluster", &[("b", true, false)])
        .service(service(
            "web",
            "twin",
            "198.18.128.12",
            &[],
            &["198.18.200.5"],
            "Cluster",
        ))
        .slice(slice("web", "twin-1", "twin", &[("c", true, false)]));
    let d = w.desired("a");
    assert_eq!(
        prefixes(&d),
        vec!["198.19.1.0/24", "198.18.200.5/32", "198.18.201.5/32"]
    );
    assert_eq!(d.config.originate[1].communities, vec!["64512:200"]);
    assert_eq!(d.config.originate[1].large_communities, vec!["64512:3:0"]);
}

#[test]
fn ipv6_service_addresses_are_host_routes() {
    let w = three_nodes(json!({ "asn": 64512 }))
        .service(service(
            "web",
            "v6",
            "fd00:96::10",
            &[],
            &["fd00:201::5"],
            "Cluster",
        ))
        .slice(slice("web", "v6-1", "v6", &[("a", true, false)]));
    assert_eq!(
        prefixes(&w.desired("b")),
        vec!["198.19.2.0/24", "fd00:201::5/128"]
    );
}

fn tor_peer(name: &str, address: &str, selector: Value, secret: Option<&str>) -> Value {
    let mut spec = json!({
        "neighbor": {
            "address": address,
            "asn": 65001,
            "gtsm": true,
            "export_policy": "accept-all",
            "max_prefix": { "limit": 1000 },
        },
        "node_selector": selector,
    });
    if let Some(s) = secret {
        spec["password_secret_ref"] = json!({ "name": s, "key": "password" });
    }
    bgp_peer(name, spec)
}

#[test]
fn bgp_peers_selected_by_labels_with_passwords_from_secrets() {
    let w = three_nodes(json!({ "asn": 64512 }))
        .peer(tor_peer(
            "tor-a",
            "198.18.0.254",
            json!({ "rack": "r1" }),
            Some("tor-a-key"),
        ))
        .peer(tor_peer("tor-b", "198.18.0.253", json!({}), None))
        .secret(secret("tor-a-key", "password", "czNjcmV0Cg==")); // "s3cret\n"
    let mut w = w;
    w.nodes[0]
        .metadata
        .labels
        .get_or_insert_default()
        .insert("rack".into(), "r1".into());
    let a = w.desired("a");
    let tors: Vec<_> = a
        .config
        .neighbors
        .iter()
        .filter(|n| n.asn == 65001)
        .map(|n| (n.address, n.description.clone(), n.password.clone(), n.gtsm))
        .collect();
    assert_eq!(
        tors,
        vec![
            (
                ip("198.18.0.254"),
                Some("tor-a".into()),
                Some(Password("s3cret".into())),
                true
            ),
            (ip("198.18.0.253"), Some("tor-b".into()), None, true),
        ]
    );
    // b is not in rack r1: only the unselective peer.
    let b = w.desired("b");
    let tors: Vec<IpAddr> = b
        .config
        .neighbors
        .iter()
        .filter(|n| n.asn == 65001)
        .map(|n| n.address)
        .collect();
    assert_eq!(tors, vec![ip("198.18.0.253")]);
}

#[test]
fn a_peer_whose_secret_is_missing_is_left_out_with_a_warning() {
    let w = three_nodes(json!({ "asn": 64512 })).peer(tor_peer(
        "tor-a",
        "198.18.0.254",
        json!({}),
        Some("absent"),
    ));
    let a = w.desired("a");
    assert!(a.config.neighbors.iter().all(|n| n.asn != 65001));
    assert_eq!(a.warnings.len(), 1);
    assert!(a.warnings[0].contains("tor-a"), "{:?}", a.warnings);
}

#[test]
fn no_configuration_or_no_node_is_an_error() {
    let w = three_nodes(json!({ "asn": 64512 }));
    assert_eq!(
        w.try_desired("zz").unwrap_err(),
        DesiredError::NoNode("zz".into())
    );
    let mut w = w;
    w.configurations[0].metadata.name = Some("other".into());
    assert_eq!(
        w.try_desired("a").unwrap_err(),
        DesiredError::NoConfiguration
    );
}

#[test]
fn cluster_settings_reach_every_node() {
    let w = three_nodes(json!({
        "asn": 64512,
        "timers": { "hold": 9, "connect_retry": 5 },
        "graceful_restart": { "enabled": true, "restart_time": 90 },
        "fib": { "table": 100 },
        "decision": { "max_paths_ibgp": 4 },
        "policies": [{ "name": "to-tor", "default_action": "accept" }],
    }));
    let a = w.desired("a");
    assert_eq!(a.config.fib.table, 100);
    assert_eq!(a.config.listen.port, 179);
    assert_eq!(a.config.neighbors[0].port, 179);
    assert_eq!(a.config.decision.max_paths_ibgp, 4);
    assert_eq!(a.config.policies[0].name, "to-tor");
    let n = &a.config.neighbors[0];
    assert_eq!((n.timers.hold, n.timers.connect_retry), (9, 5));
    assert!(n.graceful_restart.enabled);
    assert_eq!(n.graceful_restart.restart_time, 90);
}

#[test]
fn another_listen_port_for_every_node() {
    let w = three_nodes(json!({ "asn": 64512, "listen_port": 1179 }));
    let a = w.desired("a");
    assert_eq!(a.config.listen.port, 1179);
    assert!(a.config.neighbors.iter().all(|n| n.port == 1179));
}
