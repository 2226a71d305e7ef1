//! Whole agents in Kubernetes mode: each node's controller (real `kube`
//! client and reflectors, against the fake API server) feeds its agent,
//! and the agents peer over loopback (no kernel FIB: `fib.install` is off
//! in the BGPConfiguration). A node's arrival or departure adds or removes
//! exactly its session and its routes on the others.

mod support;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use node_agent::agent::{Agent, Options};
use node_agent::api::model::{Neighbor, RibQuery, Route, SessionState};
use node_agent::api::request::{ApiError, ApiRequest};
use node_agent::config::{self, Listen};
use node_agent::k8s::{self, mode, LocalSettings};
use node_agent::metrics::Metrics;
use serde_json::json;
use support::fake_apiserver::{FakeApiServer, Kind};
use support::fixtures::*;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A port free on every address the test uses.
fn free_port(addrs: &[&str]) -> u16 {
    'next: loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for a in addrs {
            if TcpListener::bind(SocketAddr::new(a.parse().unwrap(), port)).is_err() {
                continue 'next;
            }
        }
        return port;
    }
}

/// One node: its controller and agent; the agent applies every new
/// desired configuration (as `twill-agent --kubernetes` does).
struct NodeAgent {
    api: mpsc::Sender<ApiRequest>,
    task: JoinHandle<()>,
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_node(server: &FakeApiServer, name: &str, addr: &str) -> NodeAgent {
    let mut options = k8s::Options::new(name, NAMESPACE);
    options.debounce = Duration::from_millis(50);
    options.local = LocalSettings {
        listen: Listen {
            addresses: vec![addr.parse().unwrap()],
            port: 179,
        },
        ..LocalSettings::default()
    };
    let ctl = tokio::time::timeout(
        Duration::from_secs(20),
        k8s::start(server.client(), options),
    )
    .await
    .expect("first configuration")
    .expect("controller");
    let first = config::validate(ctl.config.borrow().clone()).expect("valid");
    let mut agent = Agent::start(first, Options::default(), Metrics::new())
        .await
        .expect("agent");
    let api = agent.api.clone();
    let mut configs = Some(ctl.config.clone());
    let task = tokio::spawn(async move {
        let _ctl = ctl;
        loop {
            let new = mode::next_config(&mut configs).await;
            match mode::apply(&mut agent, new).await {
                mode::Applied::Changed(_) => {}
                other => panic!("not applied: {other:?}"),
            }
        }
    });
    NodeAgent { api, task }
}

async fn ask<T>(
    api: &mpsc::Sender<ApiRequest>,
    f: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> ApiRequest,
) -> T {
    let (tx, rx) = oneshot::channel();
    api.send(f(tx)).await.unwrap();
    rx.await.unwrap().unwrap()
}

async fn rib(n: &NodeAgent) -> Vec<Route> {
    ask(&n.api, |tx| ApiRequest::Rib(RibQuery::default(), tx)).await
}

async fn neighbors(n: &NodeAgent) -> Vec<Neighbor> {
    ask(&n.api, ApiRequest::Neighbors).await
}

/// (prefix, next hop of the best path) of every route.
async fn routes(n: &NodeAgent) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = rib(n)
        .await
        .into_iter()
        .map(|r| (r.prefix, r.paths[0].next_hop.clone()))
        .collect();
    r.sort();
    r
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn r(prefix: &str, next_hop: &str) -> (String, String) {
    (prefix.to_string(), next_hop.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_and_leave_the_mesh_with_their_pod_cidrs() {
    let (a, b, c) = ("127.0.0.21", "127.0.0.22", "127.0.0.23");
    let port = free_port(&[a, b, c]);
    let server = FakeApiServer::start().await;
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "listen_port": port,
        "timers": { "hold": 9, "connect_retry": 1 },
        "fib": { "install": false },
    })));
    server.put(node("a", &[a], &["198.19.1.0/24"]));
    server.put(node("b", &[b], &["198.19.2.0/24"]));
    let na = start_node(&server, "a", a).await;
    let nb = start_node(&server, "b", b).await;
    until("a and b exchange pod CIDRs", || async {
        routes(&na).await.len() == 2 && routes(&nb).await.len() == 2
    })
    .await;
    assert_eq!(
        routes(&na).await,
        vec![r("198.19.1.0/24", "self"), r("198.19.2.0/24", b)]
    );
    assert_eq!(
        routes(&nb).await,
        vec![r("198.19.1.0/24", a), r("198.19.2.0/24", "self")]
    );
    let established = |ns: Vec<Neighbor>| -> Vec<(IpAddr, SessionState, u64)> {
        ns.into_iter()
            .map(|n| (n.address, n.state, n.established_transitions))
            .collect()
    };
    assert_eq!(
        established(neighbors(&na).await),
        vec![(b.parse().unwrap(), SessionState::Established, 1)]
    );

    // Node c joins: a and b each add one session and learn c's pod CIDR;
    // the a-b session is not reset.
    server.put(node("c", &[c], &["198.19.3.0/24"]));
    let nc = start_node(&server, "c", c).await;
    until("c's pod CIDR everywhere", || async {
        routes(&na).await.len() == 3 && routes(&nb).await.len() == 3 && routes(&nc).await.len() == 3
    })
    .await;
    let on_a = routes(&na).await;
    assert_eq!(on_a[1], r("198.19.2.0/24", b));
    assert_eq!(on_a[2], r("198.19.3.0/24", c));
    until("a's sessions established", || async {
        neighbors(&na)
            .await
            .iter()
            .all(|n| n.state == SessionState::Established)
    })
    .await;
    assert_eq!(
        established(neighbors(&na).await),
        vec![
            (b.parse().unwrap(), SessionState::Established, 1),
            (c.parse().unwrap(), SessionState::Established, 1),
        ]
    );

    // Node c leaves: its session and its routes go, nothing else moves.
    drop(nc);
    assert!(server.delete(Kind::Node, "", "c"));
    until("c gone from a", || async {
        routes(&na).await.len() == 2 && neighbors(&na).await.len() == 1
    })
    .await;
    assert_eq!(routes(&na).await[1], r("198.19.2.0/24", b));
    assert_eq!(
        established(neighbors(&na).await),
        vec![(b.parse().unwrap(), SessionState::Established, 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_address_follows_its_endpoint_from_node_to_node() {
    let (a, b, c) = ("127.0.0.31", "127.0.0.32", "127.0.0.33");
    let port = free_port(&[a, b, c]);
    let server = FakeApiServer::start().await;
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "listen_port": port,
        "timers": { "hold": 9, "connect_retry": 1 },
        "fib": { "install": false },
    })));
    server.put(node("a", &[a], &["198.19.1.0/24"]));
    server.put(node("b", &[b], &["198.19.2.0/24"]));
    server.put(node("c", &[c], &["198.19.3.0/24"]));
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.5"],
        "Local",
    ));
    server.put(slice("web", "front-1", "front", &[("a", true, false)]));
    let na = start_node(&server, "a", a).await;
    let _nb = start_node(&server, "b", b).await;
    let nc = start_node(&server, "c", c).await;
    let vip_on_c = || async {
        routes(&nc)
            .await
            .into_iter()
            .find(|(p, _)| p == "198.18.201.5/32")
            .map(|(_, h)| h)
    };
    until("c reaches the VIP through a", || async {
        vip_on_c().await.as_deref() == Some(a)
    })
    .await;
    // The pod moves to b: a withdraws, b advertises, c follows.
    server.put(slice("web", "front-1", "front", &[("b", true, false)]));
    until("c reaches the VIP through b", || async {
        vip_on_c().await.as_deref() == Some(b)
    })
    .await;
    assert!(!routes(&na)
        .await
        .iter()
        .any(|(p, h)| p == "198.18.201.5/32" && h == "self"));
    // No endpoint left: withdrawn everywhere.
    assert!(server.delete(Kind::EndpointSlice, "web", "front-1"));
    until("VIP withdrawn", || async { vip_on_c().await.is_none() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_reflectors_carry_the_clients_pod_cidrs() {
    let (rr, c1, c2) = ("127.0.0.41", "127.0.0.42", "127.0.0.43");
    let port = free_port(&[rr, c1, c2]);
    let server = FakeApiServer::start().await;
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "listen_port": port,
        "route_reflectors": { "cluster_id": "198.18.255.1" },
        "timers": { "hold": 9, "connect_retry": 1 },
        "fib": { "install": false },
    })));
    server.put(labelled(
        node("rr", &[rr], &["198.19.10.0/24"]),
        "twill.io/route-reflector",
        "true",
    ));
    server.put(node("c1", &[c1], &["198.19.11.0/24"]));
    server.put(node("c2", &[c2], &["198.19.12.0/24"]));
    let nrr = start_node(&server, "rr", rr).await;
    let n1 = start_node(&server, "c1", c1).await;
    let n2 = start_node(&server, "c2", c2).await;
    until("c1 learns c2's pod CIDR through the reflector", || async {
        routes(&n1).await.len() == 3
    })
    .await;
    // The clients peer with the reflector only; the reflected route keeps
    // c2's next hop (RFC 4456 §10: the reflector does not change it).
    assert_eq!(
        routes(&n1).await,
        vec![
            r("198.19.10.0/24", rr),
            r("198.19.11.0/24", "self"),
            r("198.19.12.0/24", c2),
        ]
    );
    let on_c1: Vec<IpAddr> = neighbors(&n1).await.iter().map(|n| n.address).collect();
    assert_eq!(on_c1, vec![rr.parse::<IpAddr>().unwrap()]);
    let route = rib(&n1)
        .await
        .into_iter()
        .find(|r| r.prefix == "198.19.12.0/24")
        .unwrap();
    assert_eq!(route.paths[0].originator_id, Some(c2.parse().unwrap()));
    assert_eq!(
        route.paths[0].cluster_list,
        vec!["198.18.255.1".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    until("c2 learns c1's", || async { routes(&n2).await.len() == 3 }).await;
    assert_eq!(neighbors(&nrr).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resets_no_session_and_withdraws_no_route() {
    let (a, b) = ("127.0.0.51", "127.0.0.52");
    let port = free_port(&[a, b]);
    let server = FakeApiServer::start().await;
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "listen_port": port,
        "timers": { "hold": 9, "connect_retry": 1 },
        "fib": { "install": false },
    })));
    server.put(node("a", &[a], &["198.19.1.0/24"]));
    server.put(node("b", &[b], &["198.19.2.0/24"]));
    let na = start_node(&server, "a", a).await;
    let nb = start_node(&server, "b", b).await;
    until("a and b exchange pod CIDRs", || async {
        routes(&na).await.len() == 2 && routes(&nb).await.len() == 2
    })
    .await;
    let before = routes(&na).await;
    // Watches drop and the history is compacted: every reflector re-lists
    // (410 Gone). Nothing changed in the cluster, so nothing changes on
    // the nodes.
    server.block_watches(true);
    server.drop_watches();
    server.compact();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.block_watches(false);
    until("every reflector re-listed", || async {
        server.lists(Kind::Node) >= 4 && server.lists(Kind::Service) >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(routes(&na).await, before);
    let sessions: Vec<(SessionState, u64)> = neighbors(&na)
        .await
        .into_iter()
        .map(|n| (n.state, n.established_transitions))
        .collect();
    assert_eq!(sessions, vec![(SessionState::Established, 1)]);
}
