//! The local API and the metrics exposition: what an operator's command
//! and a Prometheus scrape cost.
//!
//! ```text
//! cargo bench -p node-agent --bench api -- [ROUTES] [--requests N] [--neighbors M]
//! ```
//!
//! - `GET /v1/neighbors` over the Unix socket, answered by the fake RIB
//!   task, N times (default 2000): on one kept-alive connection, and with
//!   a new connection per request (as `twillctl` does);
//! - `GET /v1/rib` answering ROUTES routes (default 100000, two paths
//!   each): the time to the last byte and the size of the JSON;
//! - `Metrics::encode` with M neighbours (default 1000), every
//!   per-neighbour series set.
//!
//! Each time is the median of 5 rounds.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use node_agent::api::model::{
    AddressFamily, FibState, PathInfo, PrefixCounts, Route, SessionState,
};
use node_agent::api::request::ApiRequest;
use node_agent::api::{fake, serve};
use node_agent::config::Api;
use node_agent::metrics::{MessageType, Metrics, UpdateErrorVerdict};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
}

async fn get_on(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> usize {
    let request = Request::get(path)
        .header("host", "twill-agent")
        .body(Empty::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert!(response.status().is_success());
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

async fn connect(socket: &Path) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn big_rib(routes: usize) -> Vec<Route> {
    let path = |from: u8, best: bool| PathInfo {
        from: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, from))),
        path_id: 0,
        best,
        multipath: false,
        next_hop: format!("198.18.0.{from}"),
        as_path: "65001 65010 65020".to_string(),
        origin: "igp".to_string(),
        med: None,
        local_pref: Some(100),
        communities: vec!["65001:100".to_string()],
        large_communities: Vec::new(),
        originator_id: None,
        cluster_list: Vec::new(),
        lost: None,
    };
    (0..routes)
        .map(|i| Route {
            prefix: format!(
                "{}.{}.{}.0/24",
                1 + (i >> 16) % 223,
                (i >> 8) & 255,
                i & 255
            ),
            paths: vec![path(1, true), path(5, false)],
        })
        .collect()
}

fn metrics_with(neighbors: usize) -> Metrics {
    let metrics = Metrics::new();
    for i in 0..neighbors {
        let peer = IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i as u32));
        metrics.session_state(peer, SessionState::Established);
        for kind in [
            MessageType::Open,
            MessageType::Update,
            MessageType::Notification,
            MessageType::Keepalive,
            MessageType::RouteRefresh,
        ] {
            metrics.message_received(peer, kind);
            metrics.message_sent(peer, kind);
        }
        metrics.update_error(peer, UpdateErrorVerdict::TreatAsWithdraw);
        metrics.prefixes(
            peer,
            PrefixCounts {
                received: 1000,
                accepted: 900,
                advertised: 10,
            },
        );
    }
    metrics.rib_prefixes(AddressFamily::Ipv4, 900_000);
    metrics.fib_routes(FibState::Installed, 900_000);
    metrics.fib_install_latency(Duration::from_millis(2));
    metrics
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let routes = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let requests = arg(&args, "--requests").unwrap_or(2_000);
    let neighbors = arg(&args, "--neighbors").unwrap_or(1_000);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("twill-api-bench-{}", std::process::id()));
        let socket = dir.join("twill.sock");
        let (requests_tx, mut requests_rx) = mpsc::channel::<ApiRequest>(64);
        let rib = big_rib(routes);
        // The fake's answers, and the big RIB for `/v1/rib`.
        let (fake_tx, fake_rx) = mpsc::channel(64);
        let _fake = fake::spawn(fake_rx);
        tokio::spawn(async move {
            while let Some(request) = requests_rx.recv().await {
                match request {
                    ApiRequest::Rib(_, reply) => {
                        let _ = reply.send(Ok(rib.clone()));
                    }
                    other => {
                        let _ = fake_tx.send(other).await;
                    }
                }
            }
        });
        let (events, _) = broadcast::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let api = Api {
            socket: socket.clone(),
            tcp: None,
        };
        let server = serve(&api, requests_tx, events, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();

        let mut kept = Vec::new();
        let mut fresh = Vec::new();
        for _ in 0..5 {
            let mut sender = connect(&socket).await;
            let start = Instant::now();
            for _ in 0..requests {
                get_on(&mut sender, "/v1/neighbors").await;
            }
            kept.push(start.elapsed() / requests as u32);
            let start = Instant::now();
            for _ in 0..requests {
                let mut sender = connect(&socket).await;
                get_on(&mut sender, "/v1/neighbors").await;
            }
            fresh.push(start.elapsed() / requests as u32);
        }
        println!(
            "GET /v1/neighbors (2 neighbours, fake RIB task), {requests} requests: {:?} each on one connection, {:?} each with a new connection",
            median(kept),
            median(fresh)
        );

        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let mut sender = connect(&socket).await;
            let start = Instant::now();
            size = get_on(&mut sender, "/v1/rib").await;
            times.push(start.elapsed());
        }
        println!(
            "GET /v1/rib, {routes} routes of 2 paths: {:?} to the last byte, {:.1} MB of JSON",
            median(times),
            size as f64 / 1e6
        );

        let _ = stop.send(());
        server.join().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    });

    let metrics = metrics_with(neighbors);
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let start = Instant::now();
        size = metrics.encode().len();
        times.push(start.elapsed());
    }
    println!(
        "Metrics::encode, {neighbors} neighbours: {:?}, {:.1} kB",
        median(times),
        size as f64 / 1e3
    );
}
