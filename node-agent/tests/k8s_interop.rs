//! Kubernetes mode end to end in network namespaces: two `twill-agent
//! --kubernetes` processes (nodes n1 and n2) fed by the fake API server,
//! a BIRD top-of-rack router, and a pod behind each node (dual stack). The
//! pods ping each other through the routes the agents install: first over
//! the node-to-node mesh (next hop: the other node's InternalIP on the
//! shared segment, IPv4 and IPv6), then with the router added as a BGPPeer while running (it
//! learns both pod CIDRs).
//!
//! Needs root, iproute2 and BIRD (`bird2`); fails clearly without them,
//! skips with `TWILL_SKIP_NETNS=1`.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use interop::kernel;
use interop::peer::{self, Daemon};
use interop::router::{Family, Neighbor as RouterNeighbor, Router};
use interop::{env, ping, wait, Lab, Ns};
use serde_json::json;
use support::fake_apiserver::FakeApiServer;
use support::fixtures::*;

const AGENT: &str = env!("CARGO_BIN_EXE_twill-agent");
const TIMEOUT: Duration = Duration::from_secs(60);
const API_PORT: u16 = 6443;

/// A listening socket bound inside `ns`: a thread enters the namespace
/// just to create it (a socket stays in the namespace it was made in).
fn listen_in(ns: &Ns, addr: SocketAddr) -> std::net::TcpListener {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        std::net::TcpListener::bind(addr).expect("bind in the namespace")
    })
    .join()
    .expect("listener thread")
}

/// Starts `twill-agent --kubernetes` for node `name` in `ns`.
fn start_agent(lab: &mut Lab, ns: &Ns, name: &str, kubeconfig: &std::path::Path) {
    let socket = lab.dir().join(format!("{name}.sock"));
    let args = vec![
        "--kubernetes".to_string(),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--api-socket={}", socket.display()),
        "--remove-routes-on-exit".to_string(),
    ];
    let env = vec![
        ("NODE_NAME".to_string(), name.to_string()),
        ("TWILL_NAMESPACE".to_string(), NAMESPACE.to_string()),
        ("RUST_LOG".to_string(), "info,kube=warn".to_string()),
    ];
    lab.spawn(ns, &format!("agent-{name}"), AGENT, &args, &env)
        .expect("start twill-agent");
}

fn log_tail(lab: &Lab, label: &str) -> String {
    let path = lab.dir().join(format!("{label}.log"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_on_two_nodes_ping_over_routes_from_the_cluster() {
    if !env::preflight("k8s_interop", &[Daemon::Bird]) {
        return;
    }
    let mut lab = Lab::new("k8s").unwrap();
    let tor = lab.namespace("tor").unwrap();
    let n1 = lab.namespace("n1").unwrap();
    let n2 = lab.namespace("n2").unwrap();
    let api = lab.namespace("api").unwrap();
    let rack = lab.segment("rack", &[&tor, &n1, &n2, &api]).unwrap();
    let (tor_ip, n1_ip, n2_ip, api_ip) = (rack[0].v4, rack[1].v4, rack[2].v4, rack[3].v4);
    let (p1, l1) = lab.host_behind(&n1, "p1").unwrap();
    let (p2, l2) = lab.host_behind(&n2, "p2").unwrap();
    // Each node's pod CIDR is the subnet of the link to its pod.
    let cidr1 = l1.a.subnet(Family::Ipv4);
    let cidr2 = l2.a.subnet(Family::Ipv4);
    let cidr1_v6 = l1.a.subnet(Family::Ipv6);
    let cidr2_v6 = l2.a.subnet(Family::Ipv6);
    let (n1_v6, n2_v6) = (rack[1].v6, rack[2].v6);

    // The API server, in its own namespace on the rack segment.
    let server = FakeApiServer::serve(listen_in(
        &api,
        SocketAddr::new(IpAddr::V4(api_ip), API_PORT),
    ))
    .await;
    let url = format!("http://{api_ip}:{API_PORT}");
    let kubeconfig = lab.dir().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {url}\nusers:\n- name: agent\n  user:\n    token: lab\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: agent\ncurrent-context: lab\n"
        ),
    )
    .unwrap();
    // To the router: only what a node originates (its pod CIDR), as in
    // deploy/examples/kubernetes/ (not what it learned from the others).
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "timers": { "hold": 9, "connect_retry": 1 },
        "policies": [{
            "name": "to-tor",
            "terms": [{ "name": "ours", "match": { "source": "local" }, "action": "accept" }],
        }],
    })));
    // Dual stack: an IPv4 and an IPv6 InternalIP and pod CIDR each.
    server.put(node(
        "n1",
        &[&n1_ip.to_string(), &n1_v6.to_string()],
        &[&cidr1.to_string(), &cidr1_v6.to_string()],
    ));
    server.put(node(
        "n2",
        &[&n2_ip.to_string(), &n2_v6.to_string()],
        &[&cidr2.to_string(), &cidr2_v6.to_string()],
    ));

    // The top-of-rack router: BIRD, AS 65001, ready for both nodes.
    let mut router = Router::new("tor", 65001, tor_ip);
    for (name, ip) in [("n1", n1_ip), ("n2", n2_ip)] {
        router.neighbors.push(RouterNeighbor::new(
            name,
            IpAddr::V4(ip),
            IpAddr::V4(tor_ip),
            64512,
        ));
    }
    let bird = peer::start(Daemon::Bird, &mut lab, &tor, router).unwrap();

    start_agent(&mut lab, &n1, "n1", &kubeconfig);
    start_agent(&mut lab, &n2, "n2", &kubeconfig);

    // Phase 1: the mesh alone (one session per family). Each node
    // installs the other's pod CIDRs with the other node's InternalIP of
    // the same family as next hop.
    for (ns, cidr, via, label) in [
        (&n1, cidr2, IpAddr::V4(n2_ip), "agent-n1"),
        (&n2, cidr1, IpAddr::V4(n1_ip), "agent-n2"),
        (&n1, cidr2_v6, IpAddr::V6(n2_v6), "agent-n1"),
        (&n2, cidr1_v6, IpAddr::V6(n1_v6), "agent-n2"),
    ] {
        wait::until(
            &format!("{}: kernel route {cidr} via {via}", ns.short),
            TIMEOUT,
            || {
                Ok(kernel::route(ns, cidr)?
                    .filter(|r| r.gateways.contains(&via))
                    .map(|_| ()))
            },
            || log_tail(&lab, label),
        )
        .unwrap();
    }
    ping::once(&p1, IpAddr::V4(l2.b.v4), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 1 to pod 2 over the mesh: {e}"));
    ping::once(&p2, IpAddr::V4(l1.b.v4), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 2 to pod 1 over the mesh: {e}"));
    ping::once(&p1, IpAddr::V6(l2.b.v6), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 1 to pod 2 over the mesh, IPv6: {e}"));
    ping::once(&p2, IpAddr::V6(l1.b.v6), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 2 to pod 1 over the mesh, IPv6: {e}"));

    // Phase 2: the router becomes a BGPPeer of both nodes while they run.
    server.put(bgp_peer(
        "tor",
        json!({
            "neighbor": {
                "address": tor_ip.to_string(),
                "asn": 65001,
                "timers": { "hold": 9, "connect_retry": 1 },
                "import_policy": "accept-all",
                "export_policy": "to-tor",
            },
        }),
    ));
    for ip in [n1_ip, n2_ip] {
        peer::wait_established(bird.as_ref(), IpAddr::V4(ip), TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&lab, "agent-n1")));
    }
    for (cidr, via) in [(cidr1, n1_ip), (cidr2, n2_ip)] {
        let route = peer::wait_route(bird.as_ref(), cidr, TIMEOUT).unwrap();
        assert_eq!(
            route.next_hop,
            Some(IpAddr::V4(via)),
            "{cidr} at the router"
        );
        assert_eq!(route.as_path, vec![64512], "{cidr} at the router");
    }
    ping::once(&p1, IpAddr::V4(l2.b.v4), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 1 to pod 2 with the router: {e}"));
    ping::once(&p2, IpAddr::V4(l1.b.v4), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("pod 2 to pod 1 with the router: {e}"));
    drop(server);
}
