//! The real `twillctl` binary against the real API server answered by
//! the fake RIB task: human output, `--json` parsing back to the model,
//! actions, error messages and exit codes.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ctl::format;
use node_agent::api::fake::{self, FakeRib, PEER_UP};
use node_agent::api::model::{
    ActionDone, Event, FibRoute, Neighbor, NeighborAction, RibQuery, Route, Status,
};
use node_agent::api::{serve, ApiServer};
use node_agent::config::Api;
use tokio::sync::{broadcast, mpsc, oneshot};

const TWILLCTL: &str = env!("CARGO_BIN_EXE_twillctl");

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "twillctl-test-{}-{}",
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

struct Agent {
    _dir: TempDir,
    socket: PathBuf,
    server: ApiServer,
    stop: oneshot::Sender<()>,
    events: broadcast::Sender<Event>,
    fake: FakeRib,
}

impl Agent {
    async fn start(tcp: Option<SocketAddr>) -> Self {
        let dir = TempDir::new();
        let socket = dir.0.join("twill.sock");
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
        Agent {
            _dir: dir,
            socket,
            server,
            stop,
            events,
            fake,
        }
    }

    /// `twillctl --socket SOCKET ARGS...`.
    async fn ctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["--socket".to_string(), self.socket.display().to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        run(all).await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.server.join())
            .await
            .expect("the server stops")
            .expect("cleanly");
    }
}

/// Runs the binary off the runtime's threads, so the server keeps
/// answering.
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(TWILLCTL)
            .args(&args)
            .output()
            .expect("twillctl runs")
    })
    .await
    .expect("join")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8")
}

fn assert_ok(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_of_every_view() {
    let agent = Agent::start(None).await;

    let out = agent.ctl(&["neighbors"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), format::neighbors(&fake::neighbors()));
    assert!(stdout(&out).starts_with("NEIGHBOR       AS  KIND  STATE        SINCE"));

    let out = agent.ctl(&["neighbor", "198.18.0.5"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), format::neighbor(&fake::neighbors()[1]));

    let out = agent.ctl(&["status"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), format::status(&fake::status()));

    let out = agent.ctl(&["fib"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), format::fib(&fake::fib()));

    let out = agent.ctl(&["rib"]).await;
    assert_ok(&out);
    let all = fake::select(fake::routes(), &RibQuery::default()).unwrap();
    assert_eq!(stdout(&out), format::routes(&all, false));

    let out = agent
        .ctl(&["rib", "198.18.1.0/24", "--explain", "--family", "ipv4"])
        .await;
    assert_ok(&out);
    assert!(
        stdout(&out).contains("lost to #0: longer AS_PATH 2 > 1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).lines().count(), 3, "header and two paths");

    let out = agent.ctl(&["rib", "in", "198.18.0.5"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("198.18.1.0/24"));

    let out = agent
        .ctl(&["rib", "out", "198.18.0.1", "--family", "ipv6"])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "no routes\n");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_parses_back_to_the_model() {
    let agent = Agent::start(None).await;

    let out = agent.ctl(&["--json", "neighbors"]).await;
    assert_ok(&out);
    assert!(stdout(&out).starts_with("[\n  {\n"), "pretty-printed");
    let neighbors: Vec<Neighbor> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(neighbors, fake::neighbors());

    // --json after the command works too (a global flag).
    let out = agent.ctl(&["neighbor", "198.18.0.1", "--json"]).await;
    assert_ok(&out);
    let neighbor: Neighbor = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(neighbor, fake::neighbors()[0]);

    let out = agent.ctl(&["--json", "status"]).await;
    let status: Status = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status, fake::status());

    let out = agent.ctl(&["--json", "fib"]).await;
    let fib: Vec<FibRoute> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(fib, fake::fib());

    let out = agent
        .ctl(&["--json", "rib", "fd00:18::/48", "--explain"])
        .await;
    assert_ok(&out);
    let routes: Vec<Route> = serde_json::from_str(&stdout(&out)).unwrap();
    let query = RibQuery {
        prefix: Some("fd00:18::/48".to_string()),
        explain: true,
        family: None,
    };
    assert_eq!(routes, fake::select(fake::routes(), &query).unwrap());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbor_actions_reach_the_rib_task() {
    let agent = Agent::start(None).await;
    let out = agent
        .ctl(&[
            "neighbor",
            "198.18.0.1",
            "reset",
            "--message",
            "maintenance window",
        ])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "198.18.0.1: reset (\"maintenance window\")\n");

    let out = agent
        .ctl(&["--json", "neighbor", "198.18.0.1", "refresh"])
        .await;
    assert_ok(&out);
    let done: ActionDone = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(done.action, NeighborAction::Refresh);

    let out = agent.ctl(&["neighbor", "198.18.0.1", "shutdown"]).await;
    assert_ok(&out);
    let out = agent.ctl(&["neighbor", "198.18.0.1", "start"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "198.18.0.1: started\n");

    assert_eq!(
        agent.fake.actions(),
        vec![
            (
                PEER_UP,
                NeighborAction::Reset {
                    message: "maintenance window".to_string()
                }
            ),
            (PEER_UP, NeighborAction::Refresh),
            (
                PEER_UP,
                NeighborAction::Shutdown {
                    message: String::new()
                }
            ),
            (PEER_UP, NeighborAction::Start),
        ]
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_exit_1_usage_errors_exit_2() {
    let agent = Agent::start(None).await;
    let out = agent.ctl(&["neighbor", "198.18.0.9"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "twillctl: 404 Not Found: no neighbor 198.18.0.9\n"
    );

    let out = agent.ctl(&["rib", "198.18.1.0/40"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "twillctl: 400 Bad Request: prefix length 40 is more than 32: \"198.18.1.0/40\"\n"
    );

    let out = agent.ctl(&["neighbor", "tor-a"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "twillctl: not an IP address: \"tor-a\"\n");

    let out = agent.ctl(&["rib", "--family", "ipx"]).await;
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    let out = agent.ctl(&["frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(agent.fake.actions().is_empty());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_not_running_exits_3() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing.sock");
    let out = run(vec![
        "--socket".to_string(),
        missing.display().to_string(),
        "neighbors".to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "twillctl: cannot reach twill-agent at {}: no such file (is twill-agent running?)\n",
            missing.display()
        )
    );

    // A socket file nobody listens on: connection refused.
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = run(vec![
        "--socket".to_string(),
        stale.display().to_string(),
        "--json".to_string(),
        "status".to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!(
            "twillctl: cannot reach twill-agent at {}: connection refused (is twill-agent running?)\n",
            stale.display()
        )
    );

    // `version` still answers, and says the agent is not there.
    let out = run(vec![
        "--socket".to_string(),
        missing.display().to_string(),
        "version".to_string(),
    ])
    .await;
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "twillctl {} (API v1)\ntwill-agent: cannot reach twill-agent at {}: no such file (is twill-agent running?)\n",
            env!("CARGO_PKG_VERSION"),
            missing.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_url_and_version() {
    let localhost: SocketAddr = (IpAddr::from([127, 0, 0, 1]), 0).into();
    let agent = Agent::start(Some(localhost)).await;
    let addr = agent.server.tcp_addr().unwrap();
    let out = run(vec![
        "--url".to_string(),
        format!("http://{addr}"),
        "neighbors".to_string(),
    ])
    .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), format::neighbors(&fake::neighbors()));

    let out = run(vec![
        "--url".to_string(),
        format!("http://{addr}/"),
        "--json".to_string(),
        "version".to_string(),
    ])
    .await;
    assert_ok(&out);
    let version: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(version["agent"], "0.1.0");
    assert_eq!(version["agent_api_version"], 1);

    let out = run(vec![
        "--url".to_string(),
        "https://127.0.0.1:1".to_string(),
        "status".to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_events_until_the_agent_stops() {
    let agent = Agent::start(None).await;
    let mut child = Command::new(TWILLCTL)
        .args(["--socket", agent.socket.to_str().unwrap(), "watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("twillctl watch");
    let stdout = child.stdout.take().unwrap();
    let (line_tx, mut line_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let event = Event {
        at_unix_ms: 1_795_900_000_123,
        kind: "session".to_string(),
        neighbor: Some(PEER_UP),
        message: "Established".to_string(),
    };
    // The child subscribes when its request arrives: send until it prints.
    let mut line = None;
    for _ in 0..200 {
        let _ = agent.events.send(event.clone());
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(50), line_rx.recv()).await
        {
            line = Some(got);
            break;
        }
    }
    assert_eq!(
        line.as_deref(),
        Some("21:06:40.123 session 198.18.0.1 Established")
    );

    // The agent stopping ends the stream: twillctl exits by itself, 0.
    agent.stop().await;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(vec!["completions".to_string(), shell.to_string()]).await;
        assert_ok(&out);
        let script = stdout(&out);
        assert!(script.contains("twillctl"), "{shell}");
        assert!(script.contains("neighbors"), "{shell}");
    }
}

/// The default socket is the agent's default.
#[test]
fn default_socket_is_the_agents() {
    use clap::Parser;
    let cli = ctl::cli::Cli::try_parse_from(["twillctl", "neighbors"]).unwrap();
    assert_eq!(
        cli.socket,
        Path::new(node_agent::config::DEFAULT_API_SOCKET)
    );
}

/// A user outside the socket's owner and group (mode 0660) is told so,
/// with exit code 3. Needs root to run twillctl as another user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_is_named() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        if std::env::var("TWILL_SKIP_NETNS").as_deref() == Ok("1") {
            eprintln!("skipped: not root and TWILL_SKIP_NETNS=1");
            return;
        }
        panic!("permission_denied_is_named needs root (to run twillctl as nobody); set TWILL_SKIP_NETNS=1 to skip");
    }
    let agent = Agent::start(None).await;
    let socket = agent.socket.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(TWILLCTL)
            .args(["--socket", &socket, "neighbors"])
            .uid(65534)
            .gid(65534)
            .output()
            .expect("twillctl runs as nobody")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "twillctl: cannot reach twill-agent at {}: permission denied (run as root or as a member of the socket's group)\n",
            agent.socket.display()
        )
    );
    agent.stop().await;
}
