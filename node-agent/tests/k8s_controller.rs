//! The Kubernetes controller through the real `kube` client and
//! reflectors, against an in-process fake API server speaking the HTTP
//! list/watch protocol (`support::fake_apiserver`): every change reaches
//! the controller as a watch event, never by a direct call.

mod support;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use node_agent::api::model::{MessageCounts, Neighbor, PrefixCounts, SessionState};
use node_agent::config::{self, Config, ConfigChange};
use node_agent::k8s::{self, Controller, Options};
use serde_json::{json, Value};
use support::fake_apiserver::{FakeApiServer, Kind};
use support::fixtures::*;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

fn options(node: &str) -> Options {
    let mut o = Options::new(node, NAMESPACE);
    o.debounce = Duration::from_millis(50);
    o
}

/// A cluster of three IPv4 nodes with a BGPConfiguration.
async fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.put(bgp_configuration(json!({ "asn": 64512 })));
    server.put(node("a", &["198.18.0.1"], &["198.19.1.0/24"]));
    server.put(node("b", &["198.18.0.2"], &["198.19.2.0/24"]));
    server.put(node("c", &["198.18.0.3"], &["198.19.3.0/24"]));
    server
}

async fn start(server: &FakeApiServer, node: &str) -> Controller {
    tokio::time::timeout(WAIT, k8s::start(server.client(), options(node)))
        .await
        .expect("first configuration in time")
        .expect("controller started")
}

/// Waits until the published configuration satisfies `pred`.
async fn until(
    rx: &mut watch::Receiver<Config>,
    what: &str,
    pred: impl Fn(&Config) -> bool,
) -> Config {
    let res = tokio::time::timeout(WAIT, async {
        loop {
            {
                let c = rx.borrow_and_update();
                if pred(&c) {
                    return c.clone();
                }
            }
            rx.changed().await.expect("controller running");
        }
    })
    .await;
    match res {
        Ok(c) => c,
        Err(_) => panic!("timed out waiting for: {what}; last: {:#?}", *rx.borrow()),
    }
}

fn addresses(c: &Config) -> Vec<IpAddr> {
    c.neighbors.iter().map(|n| n.address).collect()
}

fn prefixes(c: &Config) -> Vec<String> {
    c.originate.iter().map(|o| o.prefix.clone()).collect()
}

fn change(old: &Config, new: &Config) -> ConfigChange {
    let o = config::validate(old.clone()).expect("valid");
    let n = config::validate(new.clone()).expect("valid");
    config::diff(&o, &n)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every configuration the controller publishes, in order.
fn record(rx: &watch::Receiver<Config>) -> Arc<Mutex<Vec<Config>>> {
    let log = Arc::new(Mutex::new(vec![rx.borrow().clone()]));
    let mut rx = rx.clone();
    let l = log.clone();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let c = rx.borrow_and_update().clone();
            l.lock().unwrap().push(c);
        }
    });
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_configuration_is_the_mesh_and_the_pod_cidrs() {
    let server = cluster().await;
    let ctl = start(&server, "b").await;
    let c = ctl.config.borrow().clone();
    assert_eq!(c.local_asn, 64512);
    assert_eq!(c.router_id.to_string(), "198.18.0.2");
    let sessions: Vec<(IpAddr, bool)> =
        c.neighbors.iter().map(|n| (n.address, n.passive)).collect();
    assert_eq!(
        sessions,
        vec![(ip("198.18.0.1"), true), (ip("198.18.0.3"), false)]
    );
    assert_eq!(prefixes(&c), vec!["198.19.2.0/24"]);
    // Listed once each, then watched.
    for kind in [
        Kind::Node,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::BgpConfiguration,
        Kind::BgpPeer,
        Kind::Secret,
    ] {
        assert_eq!(server.lists(kind), 1, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_added_or_removed_adds_or_removes_exactly_its_session() {
    let server = cluster().await;
    let mut ctl = start(&server, "a").await;
    let before = ctl.config.borrow().clone();
    server.put(node("d", &["198.18.0.4"], &["198.19.4.0/24"]));
    let after = until(&mut ctl.config, "node d's session", |c| {
        c.neighbors.len() == 3
    })
    .await;
    assert_eq!(
        change(&before, &after),
        ConfigChange {
            neighbors_added: vec![ip("198.18.0.4")],
            ..ConfigChange::default()
        }
    );
    // Our routes stay ours: d's pod CIDR is learned over BGP, not
    // originated here.
    assert_eq!(prefixes(&after), vec!["198.19.1.0/24"]);
    assert!(server.delete(Kind::Node, "", "d"));
    let removed = until(&mut ctl.config, "node d gone", |c| c.neighbors.len() == 2).await;
    assert_eq!(
        change(&after, &removed),
        ConfigChange {
            neighbors_removed: vec![ip("198.18.0.4")],
            ..ConfigChange::default()
        }
    );
    assert_eq!(removed, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_cidr_change_replaces_the_originated_prefix() {
    let server = cluster().await;
    let mut ctl = start(&server, "a").await;
    let before = ctl.config.borrow().clone();
    server.put(node(
        "a",
        &["198.18.0.1"],
        &["198.19.11.0/24", "fd00:19:11::/64"],
    ));
    let after = until(&mut ctl.config, "new pod CIDRs", |c| c.originate.len() == 2).await;
    let ch = change(&before, &after);
    assert_eq!(
        ch.originate_added
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        vec!["198.19.11.0/24", "fd00:19:11::/64"]
    );
    assert_eq!(
        ch.originate_removed
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        vec!["198.19.1.0/24"]
    );
    assert!(
        ch.neighbors_added.is_empty() && ch.neighbors_removed.is_empty() && ch.reset_all.is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_address_appears_changes_and_disappears() {
    let server = cluster().await;
    let mut ctl = start(&server, "a").await;
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.5"],
        "Cluster",
    ));
    // No endpoint yet: nothing to advertise.
    server.put(slice("web", "front-1", "front", &[("c", true, false)]));
    until(&mut ctl.config, "VIP advertised", |c| {
        prefixes(c) == ["198.19.1.0/24", "198.18.201.5/32"]
    })
    .await;
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.6"],
        "Cluster",
    ));
    until(&mut ctl.config, "VIP changed", |c| {
        prefixes(c) == ["198.19.1.0/24", "198.18.201.6/32"]
    })
    .await;
    assert!(server.delete(Kind::Service, "web", "front"));
    until(&mut ctl.config, "VIP withdrawn", |c| {
        prefixes(c) == ["198.19.1.0/24"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_local_policy_the_advertisement_follows_the_endpoint() {
    let server = cluster().await;
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.5"],
        "Local",
    ));
    server.put(slice("web", "front-1", "front", &[("a", true, false)]));
    let mut a = start(&server, "a").await;
    let mut b = start(&server, "b").await;
    let vip = "198.18.201.5/32".to_string();
    until(&mut a.config, "a advertises", |c| {
        prefixes(c).contains(&vip)
    })
    .await;
    assert!(!prefixes(&b.config.borrow()).contains(&vip));
    // The pod moves: terminating on a, ready on b.
    server.put(slice(
        "web",
        "front-1",
        "front",
        &[("a", true, true), ("b", true, false)],
    ));
    until(&mut a.config, "a withdraws", |c| {
        !prefixes(c).contains(&vip)
    })
    .await;
    until(&mut b.config, "b advertises", |c| {
        prefixes(c).contains(&vip)
    })
    .await;
    server.put(slice("web", "front-1", "front", &[("b", true, false)]));
    server.delete(Kind::EndpointSlice, "web", "front-1");
    until(&mut b.config, "b withdraws", |c| {
        !prefixes(c).contains(&vip)
    })
    .await;
}

fn no_duplicates(c: &Config) -> bool {
    let mut p = prefixes(c);
    let n = p.len();
    p.sort();
    p.dedup();
    let mut a = addresses(c);
    let m = a.len();
    a.sort();
    a.dedup();
    p.len() == n && a.len() == m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes_with_no_route_lost_or_duplicated() {
    let server = cluster().await;
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.5"],
        "Cluster",
    ));
    server.put(slice("web", "front-1", "front", &[("c", true, false)]));
    let mut ctl = start(&server, "a").await;
    let first = ctl.config.borrow().clone();
    assert_eq!(prefixes(&first), vec!["198.19.1.0/24", "198.18.201.5/32"]);
    let history = record(&ctl.config);
    let watches = server.watches(Kind::Service);

    // Drop every watch; while the client cannot watch, a Service is added
    // and a node joins. The client resumes from its last resourceVersion
    // and gets both from the history, without a re-list.
    server.block_watches(true);
    server.drop_watches();
    server.put(service(
        "web",
        "back",
        "198.18.128.11",
        &[],
        &["198.18.201.7"],
        "Cluster",
    ));
    server.put(slice("web", "back-1", "back", &[("b", true, false)]));
    server.put(node("d", &["198.18.0.4"], &["198.19.4.0/24"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.block_watches(false);
    let after = until(&mut ctl.config, "changes made while disconnected", |c| {
        prefixes(c).len() == 3 && c.neighbors.len() == 3
    })
    .await;
    assert_eq!(
        prefixes(&after),
        vec!["198.19.1.0/24", "198.18.201.5/32", "198.18.201.7/32"]
    );
    assert!(
        server.watches(Kind::Service) > watches,
        "the watch was re-opened"
    );
    for kind in [Kind::Node, Kind::Service, Kind::EndpointSlice] {
        assert_eq!(server.lists(kind), 1, "{kind:?}: resumed, not re-listed");
        assert_eq!(server.gone(kind), 0, "{kind:?}");
    }
    // Never a configuration without the routes we had, never one twice.
    let history = history.lock().unwrap().clone();
    for c in &history {
        assert!(no_duplicates(c), "{c:#?}");
        assert!(
            prefixes(c).starts_with(&prefixes(&first)),
            "lost a route: {:?}",
            prefixes(c)
        );
        assert!(c.neighbors.len() >= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_410_gone_the_watcher_relists_and_keeps_every_route() {
    let server = cluster().await;
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.5"],
        "Cluster",
    ));
    server.put(slice("web", "front-1", "front", &[("c", true, false)]));
    let mut ctl = start(&server, "a").await;
    let first = ctl.config.borrow().clone();
    let history = record(&ctl.config);

    server.block_watches(true);
    server.drop_watches();
    // While disconnected: one VIP moves, a node leaves; then the history
    // is compacted, so resuming is impossible (410 Gone): re-list.
    server.put(service(
        "web",
        "front",
        "198.18.128.10",
        &[],
        &["198.18.201.6"],
        "Cluster",
    ));
    server.delete(Kind::Node, "", "c");
    server.compact();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.block_watches(false);
    let after = until(&mut ctl.config, "state after the re-list", |c| {
        prefixes(c) == ["198.19.1.0/24", "198.18.201.6/32"] && c.neighbors.len() == 1
    })
    .await;
    assert_eq!(addresses(&after), vec![ip("198.18.0.2")]);
    assert!(server.gone(Kind::Service) >= 1);
    assert!(server.lists(Kind::Service) >= 2, "re-listed after 410");
    assert!(server.lists(Kind::Node) >= 2, "re-listed after 410");
    // The re-list swaps the cache whole: no configuration in between
    // lacked the pod CIDR or the (old or new) VIP, or repeated one.
    for c in history.lock().unwrap().iter() {
        assert!(no_duplicates(c), "{c:#?}");
        let p = prefixes(c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0], prefixes(&first)[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgp_peers_and_their_secrets_are_watched() {
    let server = cluster().await;
    let mut ctl = start(&server, "a").await;
    server.put(bgp_peer(
        "tor-a",
        json!({
            "neighbor": { "address": "198.18.0.254", "asn": 65001, "export_policy": "accept-all" },
            "password_secret_ref": { "name": "tor-a", "key": "password" },
        }),
    ));
    // Left out until its Secret exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ctl.config.borrow().neighbors.len(), 2);
    server.put(secret("tor-a", "password", "b25l")); // "one"
    let c = until(&mut ctl.config, "ToR peer", |c| c.neighbors.len() == 3).await;
    let tor = c.neighbors.iter().find(|n| n.asn == 65001).unwrap();
    assert_eq!(tor.password.as_ref().map(|p| p.0.as_str()), Some("one"));
    server.put(secret("tor-a", "password", "dHdv")); // "two"
    until(&mut ctl.config, "new password", |c| {
        c.neighbors
            .iter()
            .any(|n| n.password.as_ref().map(|p| p.0.as_str()) == Some("two"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_cluster_configuration_keeps_the_running_one() {
    let server = cluster().await;
    let mut ctl = start(&server, "a").await;
    let good = ctl.config.borrow().clone();
    // A policy that names a missing prefix list does not validate.
    server.put(bgp_configuration(json!({
        "asn": 64512,
        "policies": [{ "name": "p", "terms": [{ "name": "t", "match": { "prefix_list": "missing" }, "action": "accept" }] }],
    })));
    server.put(node("d", &["198.18.0.4"], &["198.19.4.0/24"]));
    // Both reached the caches...
    tokio::time::timeout(WAIT, async {
        while ctl.stores.nodes.state().len() != 4
            || ctl.stores.configurations.state()[0]
                .spec
                .policies
                .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("events delivered");
    // ...but nothing was published.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*ctl.config.borrow(), good);
    server.put(bgp_configuration(json!({ "asn": 64512 })));
    until(&mut ctl.config, "valid again", |c| c.neighbors.len() == 3).await;
}

fn neighbor(address: &str, state: SessionState, received: u64) -> Neighbor {
    Neighbor {
        address: ip(address),
        asn: 64512,
        description: Some("node b".into()),
        kind: "ibgp".into(),
        state,
        state_secs: 5,
        uptime_secs: (state == SessionState::Established).then_some(125),
        established_transitions: 1,
        router_id: None,
        hold_time: None,
        keepalive_time: None,
        capabilities: vec![],
        prefixes: PrefixCounts {
            received,
            accepted: received,
            advertised: 1,
        },
        messages_received: MessageCounts::default(),
        messages_sent: MessageCounts::default(),
        last_notification_sent: None,
        last_notification_received: None,
        last_down_reason: None,
        stale_routes: 0,
    }
}

async fn stored_status(server: &FakeApiServer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let res = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(o) = server.get(Kind::BgpNodeStatus, "", "a") {
                if pred(&o) {
                    return o;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    res.unwrap_or_else(|_| {
        panic!(
            "timed out waiting for {what}: {:?}",
            server.get(Kind::BgpNodeStatus, "", "a")
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_resource_reflects_the_sessions() {
    let server = cluster().await;
    let ctl = start(&server, "a").await;
    let (tx, rx) = watch::channel(vec![
        neighbor("198.18.0.2", SessionState::Established, 1),
        neighbor("198.18.0.3", SessionState::Active, 0),
    ]);
    let task = tokio::spawn(k8s::status::run(
        server.client(),
        "a".into(),
        ctl.config.clone(),
        rx,
        Duration::from_millis(50),
    ));
    let o = stored_status(&server, "first status", |o| o.get("status").is_some()).await;
    assert_eq!(o["spec"], json!({ "node": "a" }));
    let s = &o["status"];
    assert_eq!(s["asn"], json!(64512));
    assert_eq!(s["router_id"], json!("198.18.0.1"));
    assert_eq!(s["established"], json!(1));
    assert_eq!(s["sessions_total"], json!(2));
    assert_eq!(s["sessions"][0]["address"], json!("198.18.0.2"));
    assert_eq!(s["sessions"][0]["state"], json!("Established"));
    assert_eq!(s["sessions"][0]["uptime_minutes"], json!(2));
    assert_eq!(s["sessions"][0]["prefixes_received"], json!(1));
    assert_eq!(s["sessions"][1]["state"], json!("Active"));
    assert!(
        s["updated"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{s}"
    );
    // The status follows the sessions.
    tx.send(vec![
        neighbor("198.18.0.2", SessionState::Established, 1),
        neighbor("198.18.0.3", SessionState::Established, 1),
    ])
    .unwrap();
    let o = stored_status(&server, "both established", |o| {
        o["status"]["established"] == json!(2)
    })
    .await;
    assert_eq!(o["status"]["sessions"][1]["state"], json!("Established"));
    // And it is not rewritten while nothing changes.
    let rv = o["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = server.get(Kind::BgpNodeStatus, "", "a").unwrap();
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_file_reaches_the_api_server() {
    let server = cluster().await;
    let path = std::env::temp_dir().join(format!("twill-k8s-kubeconfig-{}", std::process::id()));
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: agent\n  user:\n    token: not-a-secret\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: agent\ncurrent-context: fake\n",
        server.url
    );
    std::fs::write(&path, kubeconfig).unwrap();
    let client = k8s::mode::client(Some(&path)).await;
    std::fs::remove_file(&path).unwrap();
    let ctl = tokio::time::timeout(WAIT, k8s::start(client.expect("client"), options("c")))
        .await
        .expect("in time")
        .expect("started");
    assert_eq!(
        addresses(&ctl.config.borrow()),
        vec![ip("198.18.0.1"), ip("198.18.0.2")]
    );
    // A missing file is an error that names it.
    let Err(err) = k8s::mode::client(Some(std::path::Path::new("/nonexistent/kubeconfig"))).await
    else {
        panic!("a client from a missing kubeconfig");
    };
    assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbour_states_are_asked_of_the_rib_task() {
    let (api, mut requests) = tokio::sync::mpsc::channel(4);
    let answers = Arc::new(Mutex::new(vec![neighbor(
        "198.18.0.2",
        SessionState::Active,
        0,
    )]));
    let a = answers.clone();
    tokio::spawn(async move {
        while let Some(req) = requests.recv().await {
            if let node_agent::api::request::ApiRequest::Neighbors(reply) = req {
                let _ = reply.send(Ok(a.lock().unwrap().clone()));
            }
        }
    });
    let mut rx = k8s::mode::neighbors_from_api(api, Duration::from_millis(20));
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|n| n.len() == 1 && n[0].state == SessionState::Active),
    )
    .await
    .expect("first answer")
    .unwrap();
    *answers.lock().unwrap() = vec![neighbor("198.18.0.2", SessionState::Established, 3)];
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|n| n[0].state == SessionState::Established),
    )
    .await
    .expect("new state")
    .unwrap();
}

#[test]
fn kubernetes_mode_needs_the_node_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twill-agent"))
        .arg("--kubernetes")
        .arg("--kubeconfig=/nonexistent/kubeconfig")
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NODE_NAME is not set"), "{stderr}");
    // And the kubeconfig flag is for Kubernetes mode only.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twill-agent"))
        .arg("--kubeconfig=/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kubernetes"));
}
