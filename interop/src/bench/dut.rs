//! The devices under test: `twill-agent`, BIRD 2, FRR 8 and GoBGP, each
//! configured for the same work (every neighbour passive, everything
//! imported and exported, routes installed into the namespace's kernel
//! table only when the FIB is measured), and their processes' CPU time and
//! peak memory from `/proc`.
//!
//! Twill's and BIRD's configurations are written here (the bench needs
//! BIRD without kernel export and Twill without the API driver); FRR and
//! GoBGP start through the harness's drivers.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bench::BenchError;
use crate::router::{Neighbor, Router};
use crate::{frr, gobgp, Lab, Ns};

/// The DUT's AS.
pub const DUT_AS: u32 = 65000;

/// A device under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `twill-agent` (release build).
    Twill,
    /// BIRD 2.
    Bird,
    /// FRR 8 (zebra and bgpd).
    Frr,
    /// GoBGP 3.
    GoBgp,
}

impl Kind {
    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Twill => "twill",
            Kind::Bird => "bird",
            Kind::Frr => "frr",
            Kind::GoBgp => "gobgp",
        }
    }

    /// Parses a name given to `--duts`.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "twill" => Kind::Twill,
            "bird" => Kind::Bird,
            "frr" => Kind::Frr,
            "gobgp" => Kind::GoBgp,
            _ => return None,
        })
    }

    /// Whether it can install routes into the kernel (GoBGP has no FIB
    /// code of its own).
    pub fn has_fib(self) -> bool {
        self != Kind::GoBgp
    }
}

/// A BGP speaker of the bench, as the DUT sees it.
#[derive(Debug, Clone, Copy)]
pub struct Speaker {
    /// Its address (the DUT's neighbour address).
    pub addr: Ipv4Addr,
    /// Its AS.
    pub asn: u32,
}

/// What the DUT is configured with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The DUT's address towards the injectors.
    pub towards_injectors: Ipv4Addr,
    /// The DUT's address towards the monitors.
    pub towards_monitors: Ipv4Addr,
    /// The injectors.
    pub injectors: Vec<Speaker>,
    /// The monitors.
    pub monitors: Vec<Speaker>,
    /// Install routes into the kernel.
    pub fib: bool,
}

impl Setup {
    fn neighbors(&self) -> impl Iterator<Item = (String, Speaker, Ipv4Addr)> + '_ {
        let inj = self
            .injectors
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("inj{i}"), *s, self.towards_injectors));
        let mon = self
            .monitors
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("mon{i}"), *s, self.towards_monitors));
        inj.chain(mon)
    }

    fn router(&self) -> Router {
        let mut router = Router::new("dut", DUT_AS, Ipv4Addr::new(198, 18, 255, 1));
        for (name, s, local) in self.neighbors() {
            let mut n = Neighbor::new(&name, IpAddr::V4(s.addr), IpAddr::V4(local), s.asn);
            n.passive = true;
            n.hold_time = Duration::from_secs(u64::from(crate::bench::speaker::HOLD_TIME));
            router.neighbors.push(n);
        }
        router
    }
}

/// A running DUT.
#[derive(Debug)]
pub struct Running {
    /// Its processes (zebra and bgpd for FRR).
    pub pids: Vec<u32>,
    /// Its version, as it prints it.
    pub version: String,
}

/// The `twill-agent` binary: `TWILL_AGENT`, else `target/release`.
pub fn twill_binary() -> PathBuf {
    std::env::var_os("TWILL_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("release/twill-agent")
        })
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text)
        .map_err(|e| BenchError::Setup(format!("cannot write {}: {e}", path.display())))
}

fn version(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_default()
}

/// `twill-agent`'s YAML (docs/configuration.md) for `setup`.
pub fn twill_config(setup: &Setup, socket: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "local_asn: {DUT_AS}\nrouter_id: 198.18.255.1\nneighbors:"
    );
    for (name, s, local) in setup.neighbors() {
        let _ = writeln!(
            c,
            "  - address: {}\n    asn: {}\n    description: {name}\n    source_address: {local}\n    passive: true\n    timers:\n      hold: {}\n      connect_retry: 1\n    import_policy: accept-all\n    export_policy: accept-all",
            s.addr,
            s.asn,
            crate::bench::speaker::HOLD_TIME
        );
    }
    let _ = writeln!(
        c,
        "fib:\n  install: {}\n  keep_on_exit: false\napi:\n  socket: {}\nlogging:\n  level: warn",
        setup.fib,
        socket.display()
    );
    c
}

/// BIRD's configuration for `setup`: a kernel protocol only with the FIB.
pub fn bird_config(setup: &Setup, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "router id 198.18.255.1;\nlog \"{}\" {{ warning, error, fatal, bug }};",
        log.display()
    );
    c.push_str("protocol device { scan time 10; }\n");
    if setup.fib {
        c.push_str("protocol kernel { ipv4 { import none; export all; }; }\n");
    }
    for (name, s, local) in setup.neighbors() {
        let _ = writeln!(
            c,
            "protocol bgp {name} {{\n  local {local} as {DUT_AS};\n  neighbor {} as {};\n  passive on;\n  hold time {};\n  ipv4 {{ import all; export all; }};\n}}",
            s.addr,
            s.asn,
            crate::bench::speaker::HOLD_TIME
        );
    }
    c
}

/// Starts `kind` in `ns` for `setup`.
pub fn start(lab: &mut Lab, ns: &Ns, kind: Kind, setup: &Setup) -> Result<Running, BenchError> {
    let dir = lab.dir().to_path_buf();
    match kind {
        Kind::Twill => {
            let binary = twill_binary();
            if !binary.is_file() {
                return Err(BenchError::Setup(format!(
                    "{} is missing: build it with `cargo build --release -p node-agent --bin twill-agent`",
                    binary.display()
                )));
            }
            let conf = dir.join("twill.yaml");
            let socket = dir.join("twill.sock");
            write(&conf, &twill_config(setup, &socket))?;
            let program = binary.display().to_string();
            let pid = lab.spawn(
                ns,
                "twill",
                &program,
                &["-c".into(), conf.display().to_string()],
                &[],
            )?;
            wait_for(lab, "twill", || socket.exists())?;
            Ok(Running {
                pids: vec![pid],
                version: version(&program, &["--version"]),
            })
        }
        Kind::Bird => {
            let conf = dir.join("bird.conf");
            let socket = dir.join("bird.ctl");
            write(&conf, &bird_config(setup, &dir.join("bird-daemon.log")))?;
            let args = [
                "-f".to_owned(),
                "-c".into(),
                conf.display().to_string(),
                "-s".into(),
                socket.display().to_string(),
                "-P".into(),
                dir.join("bird.pid").display().to_string(),
            ];
            let pid = lab.spawn(ns, "bird", "bird", &args, &[])?;
            wait_for(lab, "bird", || socket.exists())?;
            Ok(Running {
                pids: vec![pid],
                version: version("bird", &["--version"]),
            })
        }
        Kind::Frr => {
            let router = setup.router();
            frr::Frr::start(lab, ns, router)?;
            let frr_dir = dir.join("frr-dut");
            if !setup.fib {
                // bgpd keeps its routes from zebra: no kernel install.
                crate::cmd::run(
                    "vtysh",
                    [
                        "--vty_socket",
                        frr_dir.to_str().unwrap_or_default(),
                        "-c",
                        "configure terminal",
                        "-c",
                        "bgp no-rib",
                    ],
                )?;
            }
            let pids = ["zebra-dut", "bgpd-dut"]
                .iter()
                .filter_map(|l| lab.process(l).map(|p| p.pid()))
                .collect();
            Ok(Running {
                pids,
                version: version(frr::BGPD, &["--version"]),
            })
        }
        Kind::GoBgp => {
            gobgp::GoBgp::start(lab, ns, setup.router())?;
            let pid = lab
                .process("gobgpd-dut")
                .map(|p| p.pid())
                .ok_or_else(|| BenchError::Setup("gobgpd not started".into()))?;
            Ok(Running {
                pids: vec![pid],
                version: version("gobgpd", &["--version"]),
            })
        }
    }
}

fn wait_for(lab: &mut Lab, label: &str, ready: impl Fn() -> bool) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        if let Some(p) = lab.process(label) {
            p.check_running()?;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Setup(format!("{label}: not ready in 15 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// CPU time of `pids`, all their threads, living and exited
/// (`/proc/PID/stat` utime + stime, clock ticks of 10 ms), and the live
/// threads' exact sum (`/proc/PID/task/*/schedstat`, ns). Returns the
/// larger: the exact sum unless threads have exited.
pub fn cpu_time(pids: &[u32]) -> Duration {
    let mut ticks = 0u64;
    let mut exact = 0u64;
    for pid in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command name (which may contain spaces).
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                // utime and stime are fields 14 and 15: 11 and 12 after ')'.
                let u: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0);
                let s: u64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
                ticks += u + s;
            }
        }
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let ns: u64 = std::fs::read_to_string(t.path().join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                exact += ns;
            }
        }
    }
    let from_ticks = Duration::from_millis(ticks * 10);
    let exact = Duration::from_nanos(exact);
    // Exited threads show only in the ticks (more than a tick's rounding).
    if from_ticks > exact + Duration::from_millis(10 * pids.len() as u64 + 20) {
        from_ticks
    } else {
        exact
    }
}

/// Peak resident memory of `pids`, summed (`VmHWM`).
pub fn peak_rss(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

/// Prefixes in the main IPv4 table of the namespace `pid` is in
/// (`/proc/PID/net/fib_triestat`: a walk of the whole trie, about 60 ms
/// with a full table; see [`super::fib_probe`] for why it is read only
/// at the end).
pub fn fib_prefixes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/fib_triestat")).ok()?;
    let main = text.split("Main:").nth(1)?;
    let line = main
        .lines()
        .find(|l| l.trim_start().starts_with("Prefixes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
