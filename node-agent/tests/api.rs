//! The local API over a real Unix socket, answered by the fake RIB task
//! (`node_agent::api::fake`): every route's status and exact JSON, the
//! error cases, the watch stream, and the socket's file handling.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use node_agent::api::fake::{self, PEER_DOWN, PEER_UP};
use node_agent::api::model::{ActionDone, ErrorBody, Event, NeighborAction, Route};
use node_agent::api::request::{ApiError, ApiRequest};
use node_agent::api::{serve, ApiServer, ServeError};
use node_agent::config::Api;
use serde_json::{json, Value};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A directory of its own under the system's temporary directory,
/// removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "twill-api-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The API on a socket in a temporary directory, with the fake RIB task.
struct Harness {
    dir: TempDir,
    socket: PathBuf,
    server: Option<ApiServer>,
    stop: Option<oneshot::Sender<()>>,
    events: broadcast::Sender<Event>,
    fake: fake::FakeRib,
}

impl Harness {
    async fn start() -> Self {
        Harness::start_with(None).await
    }

    async fn start_with(tcp: Option<SocketAddr>) -> Self {
        let dir = TempDir::new();
        // A directory that does not exist yet: the server creates it.
        let socket = dir.0.join("run").join("twill.sock");
        let (requests, rx) = mpsc::channel(16);
        let (fake, _task) = fake::spawn(rx);
        let (events, _) = broadcast::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let api = Api {
            socket: socket.clone(),
            tcp,
        };
        let server = serve(&api, requests, events.clone(), async {
            let _ = stopped.await;
        })
        .await
        .expect("API starts");
        Harness {
            dir,
            socket,
            server: Some(server),
            stop: Some(stop),
            events,
            fake,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        request(&self.socket, "GET", path, "").await
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, String) {
        request(&self.socket, "POST", path, body).await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server.join())
                .await
                .expect("the server stops")
                .expect("the server stops cleanly");
        }
    }
}

async fn send(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    method: &str,
    path: &str,
    body: &str,
) -> Response<Incoming> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "twill-agent")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    sender.send_request(request).await.expect("response")
}

async fn request(socket: &Path, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let response = send(stream, method, path, body).await;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8(bytes.to_vec()).expect("UTF-8"))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn error(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .unwrap_or_else(|e| panic!("not an ErrorBody ({e}): {body}"))
        .error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_the_stable_schema() {
    let h = Harness::start().await;
    let (status, body) = h.get("/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    // Written out: a renamed or removed field breaks this test.
    assert_eq!(
        body,
        r#"{"api_version":1,"version":"0.1.0","local_asn":65000,"router_id":"198.18.0.100","uptime_secs":187320,"neighbors":2,"established":1,"rib_ipv4_prefixes":2,"rib_ipv6_prefixes":1,"attribute_sets":3,"selection_deferred":false}"#
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbors_list_and_detail() {
    let h = Harness::start().await;
    let (status, body) = h.get("/v1/neighbors").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        parse(&body),
        serde_json::to_value(fake::neighbors()).unwrap()
    );
    let first = &parse(&body)[0];
    assert_eq!(first["address"], json!("198.18.0.1"));
    assert_eq!(first["state"], json!("Established"));
    assert_eq!(
        first["prefixes"],
        json!({"received": 3, "accepted": 2, "advertised": 1})
    );
    assert_eq!(
        first["last_notification_sent"]["description"],
        json!("Cease / Administrative Reset")
    );

    let (status, body) = h.get("/v1/neighbors/198.18.0.5").await;
    assert_eq!(status, StatusCode::OK);
    // Written out: the schema of a neighbour.
    assert_eq!(
        body,
        concat!(
            r#"{"address":"198.18.0.5","asn":65002,"description":null,"kind":"ebgp","#,
            r#""state":"Active","state_secs":7425,"uptime_secs":null,"established_transitions":0,"#,
            r#""router_id":null,"hold_time":null,"keepalive_time":null,"capabilities":[],"#,
            r#""prefixes":{"received":0,"accepted":0,"advertised":0},"#,
            r#""messages_received":{"open":0,"update":0,"notification":1,"keepalive":0,"route_refresh":0},"#,
            r#""messages_sent":{"open":1,"update":0,"notification":0,"keepalive":0,"route_refresh":0},"#,
            r#""last_notification_sent":null,"#,
            r#""last_notification_received":{"code":2,"subcode":2,"description":"OPEN Message Error / Bad Peer AS","communication":null,"data_hex":"","at_unix_secs":1795892767},"#,
            r#""last_down_reason":"NOTIFICATION received: Bad Peer AS","stale_routes":0}"#
        )
    );
    assert_eq!(
        parse(&body),
        serde_json::to_value(&fake::neighbors()[1]).unwrap()
    );

    let (status, body) = h.get("/v1/neighbors/198.18.0.9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body), "no neighbor 198.18.0.9");

    let (status, body) = h.get("/v1/neighbors/tor-a").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body), r#"not an IP address: "tor-a""#);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rib_queries() {
    let h = Harness::start().await;
    let routes = |body: &str| -> Vec<Route> { serde_json::from_str(body).expect("routes") };

    let (status, body) = h.get("/v1/rib").await;
    assert_eq!(status, StatusCode::OK);
    let all = routes(&body);
    assert_eq!(all.len(), 3);
    assert!(all.iter().flat_map(|r| &r.paths).all(|p| p.lost.is_none()));

    let (_, body) = h.get("/v1/rib?family=ipv6").await;
    let v6 = routes(&body);
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].prefix, "fd00:18::/48");

    let (status, body) = h
        .get("/v1/rib?prefix=198.18.1.0/24&explain=true&family=ipv4")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        parse(&body)[0]["paths"][1]["lost"],
        json!({"path": 0, "reason": "longer AS_PATH 2 > 1"})
    );

    let (status, body) = h.get("/v1/rib?prefix=fd00:18::/48").await;
    assert_eq!(status, StatusCode::OK);
    // Written out: the schema of a route and its paths.
    assert_eq!(
        body,
        concat!(
            r#"[{"prefix":"fd00:18::/48","paths":[{"from":"198.18.0.1","path_id":0,"best":true,"#,
            r#""multipath":false,"next_hop":"fd00::1","as_path":"65001 65020","origin":"igp","#,
            r#""med":null,"local_pref":100,"communities":[],"large_communities":["65001:1:2"],"#,
            r#""originator_id":null,"cluster_list":[],"lost":null}]}]"#
        )
    );

    let (status, body) = h.get("/v1/rib?prefix=198.18.9.0/24").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body), "no route for 198.18.9.0/24");

    let (status, body) = h.get("/v1/rib?family=ipx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("unknown variant `ipx`"), "{body}");

    let (status, body) = h.get("/v1/rib?prefix=198.18.1.0/33").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&body),
        r#"prefix length 33 is more than 32: "198.18.1.0/33""#
    );

    let (status, body) = h.get("/v1/rib?prefix=tor-a").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body), r#"not a prefix or an address: "tor-a""#);

    let (status, body) = h.get("/v1/rib/in/198.18.0.5").await;
    assert_eq!(status, StatusCode::OK);
    let received = routes(&body);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].paths.len(), 1);
    assert_eq!(received[0].paths[0].from, Some(PEER_DOWN));

    let (status, body) = h.get("/v1/rib/out/198.18.0.1?family=ipv4").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        routes(&body)
            .iter()
            .map(|r| r.prefix.as_str())
            .collect::<Vec<_>>(),
        ["198.18.2.0/24"]
    );

    let (status, _) = h.get("/v1/rib/out/198.18.0.9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.get("/v1/rib/in/nobody").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fib_lists_every_state() {
    let h = Harness::start().await;
    let (status, body) = h.get("/v1/fib").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parse(&body), serde_json::to_value(fake::fib()).unwrap());
    assert_eq!(
        parse(&body)[2],
        json!({
            "prefix": "198.18.3.0/24",
            "next_hops": ["198.18.0.9"],
            "state": "failed",
            "error": "Network is unreachable (os error 101)"
        })
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbor_actions() {
    let h = Harness::start().await;
    let (status, body) = h
        .post(
            "/v1/neighbors/198.18.0.1/reset",
            r#"{"message": "maintenance"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"neighbor":"198.18.0.1","action":"reset","message":"maintenance"}"#
    );
    let done: ActionDone = serde_json::from_str(&body).unwrap();
    assert_eq!(
        done.action,
        NeighborAction::Reset {
            message: "maintenance".to_string()
        }
    );

    let (status, body) = h.post("/v1/neighbors/198.18.0.1/refresh", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"neighbor":"198.18.0.1","action":"refresh"}"#);
    let (status, _) = h.post("/v1/neighbors/198.18.0.5/shutdown", "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.post("/v1/neighbors/198.18.0.5/start", "{}").await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        h.fake.actions(),
        vec![
            (
                PEER_UP,
                NeighborAction::Reset {
                    message: "maintenance".to_string()
                }
            ),
            (PEER_UP, NeighborAction::Refresh),
            (
                PEER_DOWN,
                NeighborAction::Shutdown {
                    message: String::new()
                }
            ),
            (PEER_DOWN, NeighborAction::Start),
        ]
    );

    // Refused before they reach the RIB task.
    let (status, body) = h
        .post("/v1/neighbors/198.18.0.1/refresh", r#"{"message": "x"}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body), "message: refresh takes no message");
    let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(256));
    let (status, body) = h.post("/v1/neighbors/198.18.0.1/shutdown", &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).starts_with("message: 256 octets"), "{body}");
    let (status, body) = h.post("/v1/neighbors/198.18.0.1/reset", "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).starts_with("body: "), "{body}");
    let (status, body) = h.post("/v1/neighbors/198.18.0.1/reboot", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error(&body),
        r#"no such action "reboot" (reset, refresh, shutdown, start)"#
    );
    assert_eq!(h.fake.actions().len(), 4);

    // Answered by the RIB task: unknown neighbour.
    let (status, body) = h.post("/v1/neighbors/198.18.0.9/reset", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body), "no neighbor 198.18.0.9");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoint_and_method() {
    let h = Harness::start().await;
    let (status, body) = h.get("/v1/routes").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body), "no such endpoint");
    let (status, body) = h.post("/v1/status", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error(&body), "method not allowed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rib_task_gone_is_503() {
    let dir = TempDir::new();
    let socket = dir.0.join("twill.sock");
    let (requests, rx) = mpsc::channel::<ApiRequest>(4);
    drop(rx);
    let (events, _) = broadcast::channel(4);
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Api {
        socket: socket.clone(),
        tcp: None,
    };
    let server = serve(&api, requests, events, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let (status, body) = request(&socket, "GET", "/v1/neighbors", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error(&body), "the RIB task is not running");
    let _ = stop.send(());
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rib_task_dropping_the_reply_is_503() {
    let dir = TempDir::new();
    let socket = dir.0.join("twill.sock");
    let (requests, mut rx) = mpsc::channel::<ApiRequest>(4);
    // A task that takes requests and drops them unanswered.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (events, _) = broadcast::channel(4);
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Api {
        socket: socket.clone(),
        tcp: None,
    };
    let server = serve(&api, requests, events, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let (status, body) = request(&socket, "GET", "/v1/fib", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error(&body), "the RIB task dropped the request");
    let _ = stop.send(());
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_events_until_shutdown() {
    let h = Harness::start().await;
    let stream = UnixStream::connect(&h.socket).await.unwrap();
    let response = send(stream, "GET", "/v1/watch", "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "newline-delimited JSON"
    );
    // The subscription exists once the response head has come.
    let up = Event {
        at_unix_ms: 1_795_900_000_123,
        kind: "session".to_string(),
        neighbor: Some(PEER_UP),
        message: "Established".to_string(),
    };
    let withdrawn = Event {
        at_unix_ms: 1_795_900_000_456,
        kind: "route".to_string(),
        neighbor: None,
        message: "198.18.1.0/24 withdrawn".to_string(),
    };
    h.events.send(up.clone()).unwrap();
    h.events.send(withdrawn.clone()).unwrap();

    let mut body = response.into_body();
    let mut text = String::new();
    while text.matches('\n').count() < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    assert_eq!(
        text,
        "{\"at_unix_ms\":1795900000123,\"kind\":\"session\",\"neighbor\":\"198.18.0.1\",\"message\":\"Established\"}\n\
         {\"at_unix_ms\":1795900000456,\"kind\":\"route\",\"neighbor\":null,\"message\":\"198.18.1.0/24 withdrawn\"}\n"
    );
    let lines: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [up, withdrawn]);

    // Shutdown ends the stream (and so lets the server stop).
    let socket = h.socket.clone();
    h.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the stream ends");
    assert!(
        end.is_none() || end.is_some_and(|f| f.is_err()),
        "no more events"
    );
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_file_handling() {
    let h = Harness::start().await;
    let meta = std::fs::symlink_metadata(&h.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    // A second agent on the same socket is refused, and the first one
    // keeps answering.
    let (requests, _rx) = mpsc::channel(1);
    let (events, _) = broadcast::channel(1);
    let api = Api {
        socket: h.socket.clone(),
        tcp: None,
    };
    let second = serve(&api, requests, events, std::future::pending()).await;
    assert!(matches!(second, Err(ServeError::InUse(_))), "{second:?}");
    assert_eq!(h.get("/v1/status").await.0, StatusCode::OK);

    // A file that is not a socket is left alone.
    let plain = h.dir.0.join("plain");
    std::fs::write(&plain, "keep me").unwrap();
    let (requests, _rx) = mpsc::channel(1);
    let (events, _) = broadcast::channel(1);
    let api = Api {
        socket: plain.clone(),
        tcp: None,
    };
    let refused = serve(&api, requests, events, std::future::pending()).await;
    assert!(
        matches!(refused, Err(ServeError::NotASocket(_))),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep me");
    h.stop().await;

    // A stale socket (nobody listening) is replaced.
    let dir = TempDir::new();
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let (requests, rx) = mpsc::channel(1);
    let _fake = fake::spawn(rx);
    let (events, _) = broadcast::channel(1);
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Api {
        socket: stale.clone(),
        tcp: None,
    };
    let server = serve(&api, requests, events, async {
        let _ = stopped.await;
    })
    .await
    .expect("a stale socket is replaced");
    assert_eq!(
        request(&stale, "GET", "/v1/status", "").await.0,
        StatusCode::OK
    );
    let _ = stop.send(());
    server.join().await.unwrap();
    assert!(!stale.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_serves_the_same_api() {
    let localhost: SocketAddr = (IpAddr::from([127, 0, 0, 1]), 0).into();
    let h = Harness::start_with(Some(localhost)).await;
    let addr = h.server.as_ref().unwrap().tcp_addr().expect("TCP address");
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    let stream = TcpStream::connect(addr).await.unwrap();
    let response = send(stream, "GET", "/v1/neighbors/198.18.0.1", "").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        serde_json::to_value(&fake::neighbors()[0]).unwrap()
    );
    h.stop().await;
}

/// A RIB task that keeps a request without answering: 503 after
/// `ANSWER_TIMEOUT` (paused time: the runtime jumps to it when idle).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rib_task_too_slow_is_503() {
    let dir = TempDir::new();
    let socket = dir.0.join("twill.sock");
    let (requests, mut rx) = mpsc::channel::<ApiRequest>(4);
    let (kept_tx, mut kept) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let _ = kept_tx.send(request);
        }
    });
    let (events, _) = broadcast::channel(4);
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Api {
        socket: socket.clone(),
        tcp: None,
    };
    let server = serve(&api, requests, events, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let (status, body) = request(&socket, "GET", "/v1/status", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error(&body), "the RIB task did not answer within 10s");
    assert!(started.elapsed() >= node_agent::api::routes::ANSWER_TIMEOUT);
    assert!(matches!(kept.try_recv(), Ok(ApiRequest::Status(_))));
    let _ = stop.send(());
    server.join().await.unwrap();
}

/// The RIB task's own failure is a 500 with its words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rib_task_failure_is_500() {
    let dir = TempDir::new();
    let socket = dir.0.join("twill.sock");
    let (requests, mut rx) = mpsc::channel::<ApiRequest>(4);
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            if let ApiRequest::Action(_, _, reply) = request {
                let _ = reply.send(Err(ApiError::Internal(
                    "the session task is gone".to_string(),
                )));
            }
        }
    });
    let (events, _) = broadcast::channel(4);
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Api {
        socket: socket.clone(),
        tcp: None,
    };
    let server = serve(&api, requests, events, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let (status, body) = request(&socket, "POST", "/v1/neighbors/198.18.0.1/refresh", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error(&body), "the session task is gone");
    let _ = stop.send(());
    server.join().await.unwrap();
}
