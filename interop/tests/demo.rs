//! The README demo's lab (`twill-lab`, run by `scripts/demo`): up, it
//! shows a converged flat network; down, it leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use interop::{env, process, Daemon};

const LAB: &str = env!("CARGO_BIN_EXE_twill-lab");

/// Runs `twill-lab down` if the test stops before it did.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        if self.0.join("lab.state").exists() {
            let _ = Command::new(LAB)
                .args(["down", "--dir"])
                .arg(&self.0)
                .status();
        }
    }
}

fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(LAB)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run twill-lab");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The root namespace's addresses and routes (without lifetimes, which
/// count down on their own).
fn root_view() -> Vec<String> {
    let ip = |args: &[&str]| -> serde_json::Value {
        let out = Command::new("ip").args(args).output().expect("ip");
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let mut view = Vec::new();
    for link in ip(&["-j", "addr"]).as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            view.push(format!(
                "{} {}/{}",
                link["ifname"], a["local"], a["prefixlen"]
            ));
        }
    }
    for family in ["-4", "-6"] {
        for r in ip(&[family, "-j", "route", "show", "table", "all"])
            .as_array()
            .into_iter()
            .flatten()
        {
            view.push(format!(
                "route {} {} via {} dev {} table {} proto {}",
                r["type"], r["dst"], r["gateway"], r["dev"], r["table"], r["protocol"]
            ));
        }
    }
    view.sort();
    view
}

/// `twill-lab up` prints node0's two sessions Established, its RIB with
/// the three pods' IPv4 and IPv6 subnets, Twill's kernel routes and a
/// ping without loss, and leaves its processes and namespaces running;
/// `twill-lab down` stops every PID it listed and deletes every namespace
/// and its directory; the root namespace's addresses and routes are what
/// they were.
#[test]
fn demo_lab_up_and_down_leaves_nothing_behind() {
    if !env::preflight(
        "demo_lab_up_and_down_leaves_nothing_behind",
        &[Daemon::Bird],
    ) {
        return;
    }
    interop::agent::check_binaries().expect("twill-agent and twillctl built");
    let name = format!("twdemo{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("twill-demo-test-{}", std::process::id()));
    let _guard = Down(dir.clone());
    let before = root_view();
    assert!(
        before.iter().any(|l| l.contains("127.0.0.1")),
        "cannot read the root namespace: {before:?}"
    );

    let (ok, out) = run(&["up", "--name", &name], &dir);
    assert!(ok, "twill-lab up failed:\n{out}");
    assert_eq!(out.matches("Established").count(), 2, "{out}");
    for pod in ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"] {
        assert!(out.contains(pod), "{pod} not in node0's RIB:\n{out}");
    }
    assert!(out.contains("3 received, 0% packet loss"), "{out}");
    assert!(out.contains("proto 84"), "{out}");
    let state = std::fs::read_to_string(dir.join("lab.state")).expect("lab.state");
    let pids: Vec<u32> = state
        .lines()
        .filter_map(|l| {
            l.strip_prefix("pid ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let namespaces: Vec<&str> = state
        .lines()
        .filter_map(|l| l.strip_prefix("netns "))
        .collect();
    assert_eq!(pids.len(), 4, "3 agents and BIRD: {state}");
    assert_eq!(namespaces.len(), 7, "3 nodes, 3 pods, the ToR: {state}");
    assert!(pids.iter().all(|p| process::alive(*p)), "{state}");
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for ns in &namespaces {
        assert!(ns.starts_with(&format!("{name}-")), "{ns}");
        assert!(listed.contains(ns), "{ns} not in ip netns list");
    }

    let (ok, out) = run(&["down"], &dir);
    assert!(ok, "twill-lab down failed:\n{out}");
    let alive: Vec<_> = pids.iter().filter(|p| process::alive(**p)).collect();
    assert!(alive.is_empty(), "still running: {alive:?}");
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!listed.contains(&format!("{name}-")), "left: {listed}");
    assert!(!dir.exists(), "{} left", dir.display());
    assert_eq!(root_view(), before, "the root namespace changed");
    // A second down says there is nothing to take down.
    let (ok, out) = run(&["down"], &dir);
    assert!(!ok && out.contains("no lab is up"), "{out}");
}
