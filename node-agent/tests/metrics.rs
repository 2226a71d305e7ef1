//! The metrics endpoint: a known sequence of updates, then `GET /metrics`
//! must show exactly these series and values; `/healthz` and `/readyz`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use node_agent::api::model::{AddressFamily, FibState, PrefixCounts, SessionState};
use node_agent::metrics::{serve_metrics, MessageType, Metrics, UpdateErrorVerdict, CONTENT_TYPE};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

const PEER_A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 1));
const PEER_B: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, Option<String>, String) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The sample lines of the exposition (no `# HELP` / `# TYPE`) that
/// start with `name`, in order.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .collect()
}

fn sorted(mut lines: Vec<&str>) -> Vec<&str> {
    lines.sort_unstable();
    lines
}

/// A session that comes up, exchanges messages, hits one malformed
/// UPDATE of each verdict, resets and comes up again.
fn known_exchange(metrics: &Metrics) {
    for state in [
        SessionState::Idle,
        SessionState::Connect,
        SessionState::OpenSent,
        SessionState::OpenConfirm,
        SessionState::Established,
    ] {
        metrics.session_state(PEER_A, state);
    }
    // Established again without leaving it is not a transition.
    metrics.session_state(PEER_A, SessionState::Established);
    metrics.message_sent(PEER_A, MessageType::Open);
    metrics.message_received(PEER_A, MessageType::Open);
    metrics.message_sent(PEER_A, MessageType::Keepalive);
    metrics.message_received(PEER_A, MessageType::Keepalive);
    for _ in 0..3 {
        metrics.message_received(PEER_A, MessageType::Update);
    }
    metrics.message_sent(PEER_A, MessageType::Update);
    metrics.message_received(PEER_A, MessageType::RouteRefresh);
    metrics.update_error(
        PEER_A,
        UpdateErrorVerdict::from(&bgp::wire::Verdict::TreatAsWithdraw),
    );
    metrics.update_error(PEER_A, UpdateErrorVerdict::AttributeDiscard);
    metrics.update_error(PEER_A, UpdateErrorVerdict::SessionReset);
    metrics.message_sent(PEER_A, MessageType::Notification);
    metrics.session_state(PEER_A, SessionState::Idle);
    metrics.session_state(PEER_A, SessionState::Active);
    metrics.session_state(PEER_A, SessionState::OpenSent);
    metrics.session_state(PEER_A, SessionState::OpenConfirm);
    metrics.session_state(PEER_A, SessionState::Established);
    metrics.prefixes(
        PEER_A,
        PrefixCounts {
            received: 3,
            accepted: 2,
            advertised: 1,
        },
    );

    metrics.session_state(PEER_B, SessionState::Active);
    metrics.rejected_connection();
    metrics.rejected_connection();

    metrics.rib_prefixes(AddressFamily::Ipv4, 2);
    metrics.rib_prefixes(AddressFamily::Ipv6, 1);
    metrics.rib_attribute_sets(3);
    metrics.rib_update_groups(2);
    metrics.fib_routes(FibState::Installed, 2);
    metrics.fib_routes(FibState::Failed, 1);
    metrics.fib_install_failure();
    metrics.fib_install_latency(Duration::from_micros(150));
    metrics.fib_install_latency(Duration::from_millis(3));
}

#[test]
fn series_after_a_known_exchange() {
    let metrics = Metrics::new();
    known_exchange(&metrics);
    let text = metrics.encode();

    assert_eq!(
        sorted(series(&text, "twill_bgp_session_state")),
        [
            r#"twill_bgp_session_state{neighbor="198.18.0.1"} 6"#,
            r#"twill_bgp_session_state{neighbor="fd00::2"} 3"#,
        ]
    );
    assert_eq!(
        series(&text, "twill_bgp_established_transitions_total"),
        [r#"twill_bgp_established_transitions_total{neighbor="198.18.0.1"} 2"#]
    );
    assert_eq!(
        sorted(series(&text, "twill_bgp_messages_received_total")),
        [
            r#"twill_bgp_messages_received_total{neighbor="198.18.0.1",type="keepalive"} 1"#,
            r#"twill_bgp_messages_received_total{neighbor="198.18.0.1",type="open"} 1"#,
            r#"twill_bgp_messages_received_total{neighbor="198.18.0.1",type="route_refresh"} 1"#,
            r#"twill_bgp_messages_received_total{neighbor="198.18.0.1",type="update"} 3"#,
        ]
    );
    assert_eq!(
        sorted(series(&text, "twill_bgp_messages_sent_total")),
        [
            r#"twill_bgp_messages_sent_total{neighbor="198.18.0.1",type="keepalive"} 1"#,
            r#"twill_bgp_messages_sent_total{neighbor="198.18.0.1",type="notification"} 1"#,
            r#"twill_bgp_messages_sent_total{neighbor="198.18.0.1",type="open"} 1"#,
            r#"twill_bgp_messages_sent_total{neighbor="198.18.0.1",type="update"} 1"#,
        ]
    );
    assert_eq!(
        series(&text, "twill_bgp_prefixes_received"),
        [r#"twill_bgp_prefixes_received{neighbor="198.18.0.1"} 3"#]
    );
    assert_eq!(
        series(&text, "twill_bgp_prefixes_accepted"),
        [r#"twill_bgp_prefixes_accepted{neighbor="198.18.0.1"} 2"#]
    );
    assert_eq!(
        series(&text, "twill_bgp_prefixes_advertised"),
        [r#"twill_bgp_prefixes_advertised{neighbor="198.18.0.1"} 1"#]
    );
    assert_eq!(
        sorted(series(&text, "twill_bgp_update_errors_total")),
        [
            r#"twill_bgp_update_errors_total{neighbor="198.18.0.1",verdict="attribute-discard"} 1"#,
            r#"twill_bgp_update_errors_total{neighbor="198.18.0.1",verdict="session-reset"} 1"#,
            r#"twill_bgp_update_errors_total{neighbor="198.18.0.1",verdict="treat-as-withdraw"} 1"#,
        ]
    );
    assert_eq!(
        series(&text, "twill_bgp_rejected_connections_total"),
        ["twill_bgp_rejected_connections_total 2"]
    );
    assert_eq!(
        sorted(series(&text, "twill_rib_prefixes")),
        [
            r#"twill_rib_prefixes{family="ipv4"} 2"#,
            r#"twill_rib_prefixes{family="ipv6"} 1"#,
        ]
    );
    assert_eq!(
        series(&text, "twill_rib_attribute_sets"),
        ["twill_rib_attribute_sets 3"]
    );
    assert_eq!(
        series(&text, "twill_rib_update_groups"),
        ["twill_rib_update_groups 2"]
    );
    assert_eq!(
        sorted(series(&text, "twill_fib_routes")),
        [
            r#"twill_fib_routes{state="failed"} 1"#,
            r#"twill_fib_routes{state="installed"} 2"#,
            r#"twill_fib_routes{state="pending"} 0"#,
        ]
    );
    assert_eq!(
        series(&text, "twill_fib_install_failures_total"),
        ["twill_fib_install_failures_total 1"]
    );
    assert_eq!(
        series(&text, "twill_fib_install_latency_seconds_count"),
        ["twill_fib_install_latency_seconds_count 2"]
    );
    assert_eq!(
        series(&text, "twill_fib_install_latency_seconds_sum"),
        ["twill_fib_install_latency_seconds_sum 0.00315"]
    );
    let buckets = series(&text, "twill_fib_install_latency_seconds_bucket");
    assert_eq!(buckets.len(), 17, "16 bounds and +Inf: {buckets:?}");
    assert_eq!(
        &buckets[..3],
        [
            r#"twill_fib_install_latency_seconds_bucket{le="0.0001"} 0"#,
            r#"twill_fib_install_latency_seconds_bucket{le="0.0002"} 1"#,
            r#"twill_fib_install_latency_seconds_bucket{le="0.0004"} 1"#,
        ]
    );
    assert!(buckets.contains(&r#"twill_fib_install_latency_seconds_bucket{le="0.0032"} 2"#));
    assert_eq!(
        buckets[16],
        r#"twill_fib_install_latency_seconds_bucket{le="+Inf"} 2"#
    );
    assert!(text.contains("# TYPE twill_bgp_session_state gauge\n"));
    assert!(text.contains("# TYPE twill_bgp_messages_received_total counter\n"));
    assert!(text.contains("# TYPE twill_fib_install_latency_seconds histogram\n"));
}

#[test]
fn a_removed_neighbor_leaves_no_series() {
    let metrics = Metrics::new();
    known_exchange(&metrics);
    metrics.remove_neighbor(PEER_A);
    let text = metrics.encode();
    assert!(!text.contains("198.18.0.1"), "{text}");
    assert_eq!(
        series(&text, "twill_bgp_session_state"),
        [r#"twill_bgp_session_state{neighbor="fd00::2"} 3"#]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_serves_metrics_and_probes() {
    let metrics = Metrics::new();
    let (converged_tx, converged) = watch::channel(false);
    let (stop, stopped) = oneshot::channel::<()>();
    let localhost: SocketAddr = (IpAddr::from([127, 0, 0, 1]), 0).into();
    let server = serve_metrics(localhost, metrics.clone(), converged, async {
        let _ = stopped.await;
    })
    .await
    .expect("metrics listener");
    let addr = server.local_addr();

    // Updates after the server started show in the next scrape.
    known_exchange(&metrics);
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(body, metrics.encode());
    assert_eq!(
        series(&body, "twill_bgp_established_transitions_total"),
        [r#"twill_bgp_established_transitions_total{neighbor="198.18.0.1"} 2"#]
    );

    assert_eq!(get(addr, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not converged\n");
    converged_tx.send(true).unwrap();
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ready\n");
    assert_eq!(get(addr, "/nothing").await.0, StatusCode::NOT_FOUND);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.join())
        .await
        .expect("the listener stops")
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "closed after stop");
}
