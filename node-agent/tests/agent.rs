//! Two whole agents (speaker, RIB task, API requests) peering over
//! loopback, without the kernel FIB: routes, the API's views, operator
//! actions, and a graceful stop.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use node_agent::agent::{Agent, Options};
use node_agent::api::model::{NeighborAction, RibQuery, Route, SessionState};
use node_agent::api::request::ApiRequest;
use node_agent::config::from_yaml;
use node_agent::metrics::Metrics;
use tokio::sync::oneshot;

/// A free TCP port on `addr`.
fn free_port(addr: &str) -> u16 {
    TcpListener::bind(SocketAddr::new(addr.parse().unwrap(), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(
    me: &str,
    my_port: u16,
    asn: u32,
    peer: &str,
    peer_port: u16,
    peer_asn: u32,
    prefix: &str,
) -> String {
    format!(
        r#"
local_asn: {asn}
router_id: {me}
listen:
  addresses: [{me}]
  port: {my_port}
neighbors:
  - address: {peer}
    asn: {peer_asn}
    port: {peer_port}
    source_address: {me}
    import_policy: accept-all
    export_policy: accept-all
    timers:
      hold: 9
      connect_retry: 1
originate:
  - prefix: {prefix}
    communities: ["65000:7"]
fib:
  install: false
"#
    )
}

async fn ask<T>(
    agent: &Agent,
    f: impl FnOnce(oneshot::Sender<Result<T, node_agent::api::request::ApiError>>) -> ApiRequest,
) -> T {
    let (tx, rx) = oneshot::channel();
    agent.api.send(f(tx)).await.unwrap();
    rx.await.unwrap().unwrap()
}

async fn rib(agent: &Agent) -> Vec<Route> {
    ask(agent, |tx| ApiRequest::Rib(RibQuery::default(), tx)).await
}

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_exchange_routes_and_answer_the_api() {
    let (a_addr, b_addr) = ("127.0.0.1", "127.0.0.2");
    let (a_port, b_port) = (free_port(a_addr), free_port(b_addr));
    let a_cfg = from_yaml(&config(
        a_addr,
        a_port,
        65001,
        b_addr,
        b_port,
        65002,
        "198.18.10.0/24",
    ))
    .unwrap();
    let b_cfg = from_yaml(&config(
        b_addr,
        b_port,
        65002,
        a_addr,
        a_port,
        65001,
        "198.18.20.0/24",
    ))
    .unwrap();
    let a_metrics = Metrics::new();
    let a = Agent::start(a_cfg, Options::default(), a_metrics.clone())
        .await
        .unwrap();
    let b = Agent::start(b_cfg, Options::default(), Metrics::new())
        .await
        .unwrap();

    wait_for("A to learn B's prefix", || async {
        rib(&a).await.len() == 2
    })
    .await;
    wait_for("B to learn A's prefix", || async {
        rib(&b).await.len() == 2
    })
    .await;

    let routes = rib(&a).await;
    let learned = routes
        .iter()
        .find(|r| r.prefix == "198.18.20.0/24")
        .unwrap();
    assert_eq!(learned.paths.len(), 1);
    let p = &learned.paths[0];
    assert!(p.best);
    assert_eq!(p.from, Some(b_addr.parse::<IpAddr>().unwrap()));
    assert_eq!(p.as_path, "65002");
    assert_eq!(p.next_hop, "127.0.0.2");
    assert_eq!(p.communities, vec!["65000:7".to_string()]);
    let own = routes
        .iter()
        .find(|r| r.prefix == "198.18.10.0/24")
        .unwrap();
    assert_eq!(own.paths[0].from, None, "originated locally");

    let peer_b: IpAddr = b_addr.parse().unwrap();
    let n = ask(&a, |tx| ApiRequest::Neighbor(peer_b, tx)).await;
    assert_eq!(n.state, SessionState::Established);
    assert_eq!(n.asn, 65002);
    assert_eq!(n.kind, "ebgp");
    assert_eq!(n.hold_time, Some(9));
    assert_eq!(n.prefixes.accepted, 1);
    assert_eq!(n.prefixes.advertised, 1, "only our own prefix goes back");
    assert_eq!(n.established_transitions, 1);
    assert!(n.capabilities.iter().any(|c| c == "ipv4-unicast"));
    // The session's own counters: OPEN and KEEPALIVE both ways, our route
    // and End-of-RIB out, B's route and End-of-RIB in.
    assert!(n.messages_sent.open >= 1 && n.messages_received.open >= 1);
    assert!(n.messages_sent.keepalive >= 1 && n.messages_received.keepalive >= 1);
    assert!(
        n.messages_sent.update >= 2 && n.messages_received.update >= 2,
        "{n:?}"
    );

    // The metrics after this exchange (the RIB task reports them after
    // every batch of events and every 5 s).
    wait_for("the metrics to count B's messages", || async {
        a_metrics.encode().contains(
            "twill_bgp_messages_received_total{neighbor=\"127.0.0.2\",type=\"keepalive\"}",
        )
    })
    .await;
    let text = a_metrics.encode();
    for line in [
        "twill_bgp_session_state{neighbor=\"127.0.0.2\"} 6",
        "twill_bgp_prefixes_accepted{neighbor=\"127.0.0.2\"} 1",
        "twill_bgp_prefixes_received{neighbor=\"127.0.0.2\"} 1",
        "twill_bgp_prefixes_advertised{neighbor=\"127.0.0.2\"} 1",
        "twill_rib_prefixes{family=\"ipv4\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains("twill_bgp_established_transitions_total{neighbor=\"127.0.0.2\"} 1"),
        "{text}"
    );

    let out = ask(&a, |tx| ApiRequest::RibOut(peer_b, RibQuery::default(), tx)).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].prefix, "198.18.10.0/24");
    assert_eq!(out[0].paths[0].as_path, "65001");
    let adj_in = ask(&a, |tx| ApiRequest::RibIn(peer_b, RibQuery::default(), tx)).await;
    assert_eq!(adj_in.len(), 1);
    assert_eq!(adj_in[0].prefix, "198.18.20.0/24");

    // Longest match on an address.
    let q = RibQuery {
        prefix: Some("198.18.20.77".into()),
        ..RibQuery::default()
    };
    let lm = ask(&a, |tx| ApiRequest::Rib(q, tx)).await;
    assert_eq!(lm.len(), 1);
    assert_eq!(lm[0].prefix, "198.18.20.0/24");

    // Administrative shutdown with a message: B hears it, A's route from B
    // is withdrawn, and `start` brings the session back.
    ask(&a, |tx| {
        ApiRequest::Action(
            peer_b,
            NeighborAction::Shutdown {
                message: "maintenance".into(),
            },
            tx,
        )
    })
    .await;
    wait_for("A to drop B's route", || async { rib(&a).await.len() == 1 }).await;
    let peer_a: IpAddr = a_addr.parse().unwrap();
    // B handles the NOTIFICATION on its own time: A dropping the route
    // does not mean B has read it yet.
    wait_for("B to read the NOTIFICATION", || async {
        ask(&b, |tx| ApiRequest::Neighbor(peer_a, tx))
            .await
            .last_notification_received
            .is_some()
    })
    .await;
    let nb = ask(&b, |tx| ApiRequest::Neighbor(peer_a, tx)).await;
    let last = nb.last_notification_received.expect("B got a NOTIFICATION");
    assert_eq!((last.code, last.subcode), (6, 2));
    assert_eq!(last.communication.as_deref(), Some("maintenance"));
    ask(&a, |tx| {
        ApiRequest::Action(peer_b, NeighborAction::Start, tx)
    })
    .await;
    wait_for("the session to come back", || async {
        rib(&a).await.len() == 2
    })
    .await;
    let n = ask(&a, |tx| ApiRequest::Neighbor(peer_b, tx)).await;
    assert_eq!(n.established_transitions, 2);

    let unknown: IpAddr = "198.18.99.99".parse().unwrap();
    let (tx, rx) = oneshot::channel();
    a.api.send(ApiRequest::Neighbor(unknown, tx)).await.unwrap();
    assert!(rx.await.unwrap().is_err());

    a.stop().await;
    b.stop().await;
}

/// A reload changes only the difference: a new neighbour and a new prefix
/// come up, a changed export policy takes effect, and the existing session
/// is not reset (its transition count stays 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_only_the_difference() {
    let (a_addr, b_addr, c_addr) = ("127.0.0.1", "127.0.0.3", "127.0.0.4");
    let (a_port, b_port, c_port) = (free_port(a_addr), free_port(b_addr), free_port(c_addr));
    let a_text = config(
        a_addr,
        a_port,
        65001,
        b_addr,
        b_port,
        65002,
        "198.18.10.0/24",
    );
    let a_cfg = from_yaml(&a_text).unwrap();
    let b_cfg = from_yaml(&config(
        b_addr,
        b_port,
        65002,
        a_addr,
        a_port,
        65001,
        "198.18.20.0/24",
    ))
    .unwrap();
    let c_cfg = from_yaml(&config(
        c_addr,
        c_port,
        65003,
        a_addr,
        a_port,
        65001,
        "198.18.30.0/24",
    ))
    .unwrap();
    let mut a = Agent::start(a_cfg, Options::default(), Metrics::new())
        .await
        .unwrap();
    let b = Agent::start(b_cfg, Options::default(), Metrics::new())
        .await
        .unwrap();
    let c = Agent::start(c_cfg, Options::default(), Metrics::new())
        .await
        .unwrap();
    wait_for("A and B to exchange routes", || async {
        rib(&b).await.len() == 2
    })
    .await;

    // A second neighbour (C) and a second prefix, appended to A's file.
    let with_c = a_text.replace(
        "originate:",
        &format!(
            "  - address: {c_addr}\n    asn: 65003\n    port: {c_port}\n    source_address: {a_addr}\n    import_policy: accept-all\n    export_policy: accept-all\n    timers:\n      hold: 9\n      connect_retry: 1\noriginate:\n  - prefix: 198.18.11.0/24"
        ),
    );
    let change = a.reconfigure(from_yaml(&with_c).unwrap()).await.unwrap();
    assert_eq!(
        change.neighbors_added,
        vec![c_addr.parse::<IpAddr>().unwrap()]
    );
    assert!(change.neighbors_reset.is_empty());
    wait_for("C's route at A", || async {
        rib(&a).await.iter().any(|r| r.prefix == "198.18.30.0/24")
    })
    .await;
    wait_for("A's new prefix and C's route at B", || async {
        let r = rib(&b).await;
        r.iter().any(|r| r.prefix == "198.18.11.0/24")
            && r.iter().any(|r| r.prefix == "198.18.30.0/24")
    })
    .await;

    // Export nothing to B any more: a policy change, not a reset.
    let reject_b = with_c.replacen("export_policy: accept-all", "export_policy: reject-all", 1);
    let change = a.reconfigure(from_yaml(&reject_b).unwrap()).await.unwrap();
    assert_eq!(change.neighbors_updated.len(), 1);
    assert!(change.neighbors_reset.is_empty());
    wait_for("B to lose everything from A", || async {
        rib(&b).await.len() == 1
    })
    .await;

    let peer_b: IpAddr = b_addr.parse().unwrap();
    let n = ask(&a, |tx| ApiRequest::Neighbor(peer_b, tx)).await;
    assert_eq!(n.state, SessionState::Established);
    assert_eq!(
        n.established_transitions, 1,
        "the session with B was never reset"
    );

    // Removing C ends its session and withdraws its route.
    let change = a.reconfigure(from_yaml(&a_text).unwrap()).await.unwrap();
    assert_eq!(
        change.neighbors_removed,
        vec![c_addr.parse::<IpAddr>().unwrap()]
    );
    wait_for("C's route gone at A", || async {
        !rib(&a).await.iter().any(|r| r.prefix == "198.18.30.0/24")
    })
    .await;

    // A new local AS is refused: every session would reset.
    let other_as = a_text.replace("local_asn: 65001", "local_asn: 65009");
    assert!(a.reconfigure(from_yaml(&other_as).unwrap()).await.is_err());

    a.stop().await;
    b.stop().await;
    c.stop().await;
}
