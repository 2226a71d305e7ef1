//! The benchmark runner (issue 9): `twill-agent`, BIRD 2, FRR 8 and GoBGP
//! on identical work from the same injector, in one run.
//!
//! Each run builds a lab of three namespaces joined by veth pairs:
//!
//! ```text
//!  inj (injector(s), .2 ...)  --l0--  dut (.1 | .1)  --l1--  mon (monitors, .2 ...)
//! ```
//!
//! The injector writes a pre-encoded UPDATE stream (Twill's codec) as fast
//! as TCP takes it; each monitor is a minimal receiver that keeps the set
//! of prefixes it holds and timestamps every change. Times run from the
//! first UPDATE byte written to the last monitor holding all N (ingest and
//! propagation: the Loc-RIB of every DUT is read through what it sends),
//! or to the kernel table holding all N (a sample looked up first, then
//! `/proc/PID/net/fib_triestat` read once: [`fib_probe`]).
//! CPU time and peak RSS are the DUT's processes' own (`/proc`).

pub mod dut;
pub mod fib_probe;
pub mod report;
pub mod speaker;
pub mod workload;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bgp::wire::Ipv4Prefix;

use crate::{Lab, Ns};
use dut::{Kind, Setup, Speaker};
use fib_probe::FibProbe;
use speaker::MonitorState;

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The lab, a daemon or the workload could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// A run failed or timed out.
    #[error("run: {0}")]
    Run(String),
    /// The command line.
    #[error("usage: {0}")]
    Usage(String),
}

impl From<crate::Error> for BenchError {
    fn from(e: crate::Error) -> Self {
        BenchError::Setup(e.to_string())
    }
}

/// A suite of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// One peer's table into the DUT, read through one monitor.
    Ingest,
    /// The same to ten monitors.
    Propagation,
    /// The same into the DUT namespace's kernel table.
    Fib,
    /// 10% withdrawn and announced again.
    Churn,
    /// 200 peers of 100 prefixes each.
    Sessions,
}

impl Suite {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Ingest => "ingest",
            Suite::Propagation => "propagation",
            Suite::Fib => "fib",
            Suite::Churn => "churn",
            Suite::Sessions => "sessions",
        }
    }

    /// Every suite, in the order they run.
    pub const ALL: [Suite; 5] = [
        Suite::Ingest,
        Suite::Propagation,
        Suite::Fib,
        Suite::Churn,
        Suite::Sessions,
    ];
}

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Suites to run.
    pub suites: Vec<Suite>,
    /// Table sizes (0: the whole DFZ list).
    pub prefixes: Vec<usize>,
    /// Runs of each measurement.
    pub runs: usize,
    /// Where to write JSON.
    pub json: Option<std::path::PathBuf>,
    /// Devices under test.
    pub duts: Vec<Kind>,
    /// Monitors in the propagation suite.
    pub monitors: usize,
    /// Peers in the session-scale suite.
    pub peers: usize,
    /// Prefixes per peer there.
    pub per_peer: usize,
    /// Give up on one measurement after this long.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            suites: Suite::ALL.to_vec(),
            prefixes: vec![100_000, 0],
            runs: 3,
            json: None,
            duts: vec![Kind::Twill, Kind::Bird, Kind::Frr, Kind::GoBgp],
            monitors: 10,
            peers: 200,
            per_peer: 100,
            timeout: Duration::from_secs(180),
        }
    }
}

/// Usage text.
pub const USAGE: &str = "bench [--suite all|ingest|propagation|fib|churn|sessions[,..]] \
[--prefixes N[,N|all]] [--runs 3] [--json FILE] [--duts twill,bird,frr,gobgp] \
[--monitors 10] [--peers 200] [--per-peer 100] [--timeout SECONDS]";

impl Options {
    /// Parses the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Options, BenchError> {
        let mut o = Options::default();
        let mut it = args.iter();
        let bad = |what: &str| BenchError::Usage(format!("{what}\n{USAGE}"));
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| bad(&format!("{flag} needs a value")))
            };
            let number = |v: String| v.parse::<usize>().map_err(|_| bad(&format!("{flag}: {v}")));
            match flag.as_str() {
                "--suite" => {
                    let v = value()?;
                    o.suites = if v == "all" {
                        Suite::ALL.to_vec()
                    } else {
                        v.split(',')
                            .map(|s| {
                                Suite::ALL
                                    .into_iter()
                                    .find(|x| x.name() == s)
                                    .ok_or_else(|| bad(&format!("unknown suite {s}")))
                            })
                            .collect::<Result<_, _>>()?
                    };
                }
                "--prefixes" => {
                    o.prefixes = value()?
                        .split(',')
                        .map(|s| match s {
                            "all" | "full" => Ok(0),
                            n => number(n.to_owned()),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--runs" => o.runs = number(value()?)?.max(1),
                "--json" => o.json = Some(value()?.into()),
                "--duts" => {
                    o.duts = value()?
                        .split(',')
                        .map(|s| Kind::parse(s).ok_or_else(|| bad(&format!("unknown DUT {s}"))))
                        .collect::<Result<_, _>>()?;
                }
                "--monitors" => o.monitors = number(value()?)?.max(1),
                "--peers" => o.peers = number(value()?)?.max(1),
                "--per-peer" => o.per_peer = number(value()?)?.max(1),
                "--timeout" => o.timeout = Duration::from_secs(number(value()?)? as u64),
                "-h" | "--help" => return Err(BenchError::Usage(USAGE.into())),
                other => return Err(bad(&format!("unknown argument {other}"))),
            }
        }
        Ok(o)
    }
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The suite.
    pub suite: Suite,
    /// Prefixes in the table (all peers together).
    pub prefixes: usize,
    /// The DUT.
    pub dut: Kind,
    /// Run number.
    pub run: usize,
    /// Wall time measured (the suite's clock).
    pub wall: Duration,
    /// Sessions suite: time until every session was Established.
    pub established: Option<Duration>,
    /// DUT CPU time over the same interval.
    pub cpu: Duration,
    /// DUT peak RSS (VmHWM, bytes, all its processes).
    pub rss: u64,
    /// Injector: wall time of its writes.
    pub inject_wall: Duration,
    /// Injector: CPU time of its writes.
    pub inject_cpu: Duration,
    /// Busiest monitor's CPU time.
    pub monitor_cpu: Duration,
    /// Prefix entries the busiest monitor read per second of its CPU.
    pub monitor_rate: f64,
    /// 1-minute load average when the run ended.
    pub load: f64,
    /// Injector or monitor CPU within 2x of the DUT's time.
    pub flagged: bool,
}

/// The whole benchmark's result.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Runs that failed: (suite, prefixes, dut, run, error).
    pub failures: Vec<(String, usize, String, usize, String)>,
    /// The DUTs' versions.
    pub versions: Vec<(String, String)>,
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Adds `count` addresses after `.2` on the interface of `end` (same /24).
fn extra_addresses(end: &crate::Endpoint, count: usize) -> Result<Vec<Ipv4Addr>, BenchError> {
    let mut out = vec![end.v4];
    for i in 1..count {
        let host = (u32::from(end.v4) & 0xff) + i as u32;
        let addr = Ipv4Addr::from(u32::from(end.v4) + i as u32);
        if host >= 255 {
            return Err(BenchError::Setup(
                "more than 253 speakers on one link".into(),
            ));
        }
        crate::cmd::run(
            "ip",
            [
                "-n",
                &end.ns.name,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &end.ifname,
            ],
        )?;
        out.push(addr);
    }
    Ok(out)
}

/// The lab of one run.
struct Bed {
    lab: Lab,
    dut_ns: Ns,
    inj_ns: Ns,
    mon_ns: Ns,
    setup: Setup,
}

/// Injector AS (single peer); the session-scale peers use 4-octet ASes
/// from [`SCALE_AS`].
const INJECTOR_AS: u32 = 65001;
const MONITOR_AS: u32 = 65002;
const SCALE_AS: u32 = 4_200_000_000;

fn bed(injectors: usize, monitors: usize, fib: bool, scale: bool) -> Result<Bed, BenchError> {
    let mut lab = Lab::new("bench")?;
    let dut_ns = lab.namespace("dut")?;
    let inj_ns = lab.namespace("inj")?;
    let mon_ns = lab.namespace("mon")?;
    let l0 = lab.link(&dut_ns, &inj_ns)?;
    let l1 = lab.link(&dut_ns, &mon_ns)?;
    let inj = extra_addresses(&l0.b, injectors)?;
    let mon = extra_addresses(&l1.b, monitors)?;
    let setup = Setup {
        towards_injectors: l0.a.v4,
        towards_monitors: l1.a.v4,
        injectors: inj
            .iter()
            .enumerate()
            .map(|(i, a)| Speaker {
                addr: *a,
                asn: if scale {
                    SCALE_AS + i as u32
                } else {
                    INJECTOR_AS
                },
            })
            .collect(),
        monitors: mon
            .iter()
            .map(|a| Speaker {
                addr: *a,
                asn: MONITOR_AS,
            })
            .collect(),
        fib,
    };
    Ok(Bed {
        lab,
        dut_ns,
        inj_ns,
        mon_ns,
        setup,
    })
}

/// Monitors connected to the DUT, each reading in its own thread.
struct Monitors {
    states: Vec<Arc<MonitorState>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Monitors {
    fn start(bed: &Bed, epoch: Instant, target: u64) -> Result<Monitors, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut states = Vec::new();
        let mut threads = Vec::new();
        let mut pending = Vec::new();
        for m in &bed.setup.monitors {
            let ns = bed.mon_ns.name.clone();
            let (local, remote) = (m.addr, bed.setup.towards_monitors);
            pending.push(thread::spawn(move || -> Result<_, BenchError> {
                speaker::enter_namespace(&ns)?;
                speaker::establish(local, remote, MONITOR_AS, Duration::from_secs(30))
            }));
        }
        for p in pending {
            let stream = p
                .join()
                .map_err(|_| BenchError::Run("monitor thread panicked".into()))??;
            let state = Arc::new(MonitorState::default());
            state.target.store(target, Ordering::Relaxed);
            let writer = stream
                .try_clone()
                .map_err(|e| BenchError::Run(format!("{e}")))?;
            threads.push(speaker::keepalives(
                Arc::new(Mutex::new(writer)),
                stop.clone(),
            ));
            let (s, st) = (state.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                speaker::monitor(stream, s, epoch, st)
            }));
            states.push(state);
        }
        Ok(Monitors {
            states,
            stop,
            threads,
        })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// When every monitor reached its target (ns since the epoch).
    fn all_reached(&self) -> Option<u64> {
        let mut last = 0;
        for s in &self.states {
            let r = s.reached.load(Ordering::Relaxed);
            if r == 0 {
                return None;
            }
            last = last.max(r);
        }
        Some(last)
    }

    /// Each monitor's (CPU ns, entries read) so far.
    fn counters(&self) -> Vec<(u64, u64)> {
        self.states
            .iter()
            .map(|s| {
                (
                    s.cpu.load(Ordering::Relaxed),
                    s.entries.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// The busiest monitor's CPU time since `base` (from [`Self::counters`];
    /// empty: since it started) and the prefix entries it read per second
    /// of that CPU time.
    fn busiest(&self, base: &[(u64, u64)]) -> (Duration, f64) {
        let mut cpu = Duration::ZERO;
        let mut rate = 0.0;
        for (i, (c, e)) in self.counters().into_iter().enumerate() {
            let (c0, e0) = base.get(i).copied().unwrap_or((0, 0));
            let c = Duration::from_nanos(c.saturating_sub(c0));
            if c >= cpu {
                cpu = c;
                rate = e.saturating_sub(e0) as f64 / c.as_secs_f64().max(1e-6);
            }
        }
        (cpu, rate)
    }
}

/// An injector session, ready to write.
struct Injector {
    writer: Arc<Mutex<std::net::TcpStream>>,
    stop: Arc<AtomicBool>,
    keepalive: thread::JoinHandle<()>,
}

impl Injector {
    fn connect(bed: &Bed, speaker: Speaker) -> Result<Injector, BenchError> {
        let ns = bed.inj_ns.name.clone();
        let remote = bed.setup.towards_injectors;
        let stream = thread::spawn(move || -> Result<_, BenchError> {
            speaker::enter_namespace(&ns)?;
            speaker::establish(speaker.addr, remote, speaker.asn, Duration::from_secs(30))
        })
        .join()
        .map_err(|_| BenchError::Run("injector thread panicked".into()))??;
        let writer = Arc::new(Mutex::new(stream));
        let stop = Arc::new(AtomicBool::new(false));
        let keepalive = speaker::keepalives(writer.clone(), stop.clone());
        Ok(Injector {
            writer,
            stop,
            keepalive,
        })
    }

    fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.keepalive.join();
    }
}

/// Waits until `done` returns a time (ns since the epoch), or times out.
fn wait_until(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut done: impl FnMut() -> Option<u64>,
) -> Result<u64, BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = done() {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Run(format!("{what}: not done in {timeout:?}")));
        }
        thread::sleep(poll);
    }
}

/// The table suites (ingest, propagation, fib, churn): one run.
fn table_run(
    suite: Suite,
    kind: Kind,
    prefixes: &[Ipv4Prefix],
    opts: &Options,
    run: usize,
) -> Result<(Sample, String), BenchError> {
    let monitors = if suite == Suite::Propagation {
        opts.monitors
    } else {
        1
    };
    let mut b = bed(1, monitors, suite == Suite::Fib, false)?;
    let setup = b.setup.clone();
    let dut_ns = b.dut_ns.clone();
    let running = dut::start(&mut b.lab, &dut_ns, kind, &setup)?;
    let n = prefixes.len() as u64;
    let inj = setup.injectors[0];
    let stream = workload::announcements(prefixes, inj.asn, inj.addr, 0)?;
    let epoch = Instant::now();
    let mons = Monitors::start(&b, epoch, n)?;
    let injector = Injector::connect(&b, inj)?;
    // Let the DUT finish what follows Established (its own KEEPALIVEs,
    // End-of-RIB) before the clock starts.
    thread::sleep(Duration::from_millis(500));
    let pid = running.pids[0];
    let fib_base = dut::fib_prefixes(pid).unwrap_or(0);
    let mut probe = match suite {
        Suite::Fib => Some(FibProbe::new(&dut_ns.name, prefixes)?),
        _ => None,
    };
    let cpu0 = dut::cpu_time(&running.pids);
    let result = (|| -> Result<Sample, BenchError> {
        let sent = speaker::inject(&injector.writer, &stream, epoch)?;
        let end = match suite {
            // The sample first (cheap lookups), the exact count last (a
            // walk of the whole trie): see `fib_probe`.
            Suite::Fib => wait_until(
                "kernel table",
                opts.timeout,
                Duration::from_millis(2),
                || {
                    if let Some(p) = probe.as_mut() {
                        match p.all_present() {
                            Ok(true) => probe = None,
                            Ok(false) => return None,
                            Err(e) => {
                                eprintln!("bench: FIB probe: {e}; counting from now on");
                                probe = None;
                            }
                        }
                    }
                    (dut::fib_prefixes(pid)? >= fib_base + n)
                        .then(|| epoch.elapsed().as_nanos() as u64)
                },
            )?,
            _ => wait_until("monitors", opts.timeout, Duration::from_millis(1), || {
                mons.all_reached()
            })?,
        };
        let mut wall = Duration::from_nanos(end.saturating_sub(sent.start));
        let mut cpu = dut::cpu_time(&running.pids).saturating_sub(cpu0);
        let mut inject = sent;
        let mut monitor_base = Vec::new();
        if suite == Suite::Churn {
            // Settle, then withdraw every tenth prefix and announce it again.
            thread::sleep(Duration::from_secs(1));
            let churned: Vec<Ipv4Prefix> = prefixes.iter().step_by(10).copied().collect();
            let mut bytes = workload::withdrawals(&churned)?;
            bytes.extend(workload::announcements(
                &churned,
                inj.asn,
                inj.addr,
                1 << 32,
            )?);
            let before: Vec<u64> = mons
                .states
                .iter()
                .map(|s| s.entries.load(Ordering::Relaxed))
                .collect();
            let cpu1 = dut::cpu_time(&running.pids);
            monitor_base = mons.counters();
            let sent = speaker::inject(&injector.writer, &bytes, epoch)?;
            let quiet = Duration::from_secs(1).as_nanos() as u64;
            let end = wait_until("churn", opts.timeout, Duration::from_millis(5), || {
                let now = epoch.elapsed().as_nanos() as u64;
                let mut last = 0;
                for (s, b) in mons.states.iter().zip(&before) {
                    let moved = s.entries.load(Ordering::Relaxed) - b;
                    let change = s.last_entry.load(Ordering::Relaxed);
                    if moved < churned.len() as u64
                        || s.held.load(Ordering::Relaxed) != n
                        || now.saturating_sub(change) < quiet
                    {
                        return None;
                    }
                    last = last.max(change);
                }
                Some(last)
            })?;
            wall = Duration::from_nanos(end.saturating_sub(sent.start));
            cpu = dut::cpu_time(&running.pids).saturating_sub(cpu1);
            // The quiet second is not the DUT's work, but its CPU in that
            // second is counted: it is idle then.
            inject = sent;
        }
        let rss = dut::peak_rss(&running.pids);
        thread::sleep(Duration::from_millis(250));
        let (monitor_cpu, monitor_rate) = mons.busiest(&monitor_base);
        let inject_wall = Duration::from_nanos(inject.end.saturating_sub(inject.start));
        let flagged = inject.cpu * 2 >= wall || monitor_cpu * 2 >= wall;
        Ok(Sample {
            suite,
            prefixes: prefixes.len(),
            dut: kind,
            run,
            wall,
            established: None,
            cpu,
            rss,
            inject_wall,
            inject_cpu: inject.cpu,
            monitor_cpu,
            monitor_rate,
            load: load_average(),
            flagged,
        })
    })();
    injector.close();
    mons.stop();
    if result.is_err() {
        // Keep the daemon's log for the report.
        let log = b.lab.dir().join(format!("{}.log", kind.name()));
        eprintln!("{}", crate::cmd::file_tail(&log, 20));
    }
    drop(b);
    result.map(|s| (s, running.version))
}

/// The session-scale suite: `peers` injectors of `per_peer` prefixes each.
fn sessions_run(
    kind: Kind,
    table: &[Ipv4Prefix],
    opts: &Options,
    run: usize,
) -> Result<(Sample, String), BenchError> {
    let mut b = bed(opts.peers, 1, false, true)?;
    let setup = b.setup.clone();
    let dut_ns = b.dut_ns.clone();
    let running = dut::start(&mut b.lab, &dut_ns, kind, &setup)?;
    let total = (opts.peers * opts.per_peer).min(table.len());
    let streams: Vec<Vec<u8>> = setup
        .injectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let lo = (i * opts.per_peer).min(total);
            let hi = ((i + 1) * opts.per_peer).min(total);
            workload::announcements(&table[lo..hi], s.asn, s.addr, (i as u64) << 20)
        })
        .collect::<Result<_, _>>()?;
    let epoch = Instant::now();
    let mons = Monitors::start(&b, epoch, total as u64)?;
    thread::sleep(Duration::from_millis(300));
    let cpu0 = dut::cpu_time(&running.pids);
    let start = epoch.elapsed().as_nanos() as u64;
    let stop = Arc::new(AtomicBool::new(false));
    // Injectors that could not establish: the run fails at once.
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (s, bytes) in setup.injectors.iter().copied().zip(streams) {
        let ns = b.inj_ns.name.clone();
        let remote = setup.towards_injectors;
        let stop = stop.clone();
        let failed = failed.clone();
        threads.push(thread::spawn(
            move || -> Result<(u64, Duration), BenchError> {
                speaker::enter_namespace(&ns)?;
                let stream = speaker::establish(s.addr, remote, s.asn, Duration::from_secs(60))
                    .inspect_err(|_| {
                        failed.fetch_add(1, Ordering::Relaxed);
                    })?;
                let up = epoch.elapsed().as_nanos() as u64;
                let writer = Mutex::new(stream);
                let sent = speaker::inject(&writer, &bytes, epoch).inspect_err(|_| {
                    failed.fetch_add(1, Ordering::Relaxed);
                })?;
                // Hold the session open until the run ends, reading (and
                // dropping) what the DUT sends: the other peers' routes
                // must not back up in this socket.
                let mut reader = writer
                    .lock()
                    .map_err(|_| BenchError::Run("lock poisoned".into()))?
                    .try_clone()
                    .map_err(|e| BenchError::Run(format!("{e}")))?;
                let k = speaker::keepalives(Arc::new(writer), stop.clone());
                speaker::drain(&mut reader, &stop);
                let _ = k.join();
                Ok((up, sent.cpu))
            },
        ));
    }
    let result = wait_until("monitor", opts.timeout, Duration::from_millis(1), || {
        if failed.load(Ordering::Relaxed) > 0 {
            return Some(0);
        }
        mons.all_reached()
    })
    .and_then(|end| {
        let n = failed.load(Ordering::Relaxed);
        if n > 0 {
            Err(BenchError::Run(format!("{n} sessions not Established")))
        } else {
            Ok(end)
        }
    });
    let cpu = dut::cpu_time(&running.pids).saturating_sub(cpu0);
    let rss = dut::peak_rss(&running.pids);
    stop.store(true, Ordering::Relaxed);
    let mut established = 0;
    let mut inject_cpu = Duration::ZERO;
    let mut errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok((up, c))) => {
                established = established.max(up);
                inject_cpu += c;
            }
            Ok(Err(e)) => errors.push(e.to_string()),
            Err(_) => errors.push("injector panicked".into()),
        }
    }
    thread::sleep(Duration::from_millis(250));
    let (monitor_cpu, monitor_rate) = mons.busiest(&[]);
    mons.stop();
    drop(b);
    let end = result?;
    if let Some(e) = errors.first() {
        return Err(BenchError::Run(format!(
            "{} injectors failed: {e}",
            errors.len()
        )));
    }
    let wall = Duration::from_nanos(end - start);
    Ok((
        Sample {
            suite: Suite::Sessions,
            prefixes: total,
            dut: kind,
            run,
            wall,
            established: Some(Duration::from_nanos(established - start)),
            cpu,
            rss,
            inject_wall: Duration::ZERO,
            inject_cpu,
            monitor_cpu,
            monitor_rate,
            load: load_average(),
            flagged: inject_cpu * 2 >= wall || monitor_cpu * 2 >= wall,
        },
        running.version,
    ))
}

/// Runs everything `opts` asks for, printing progress on standard error.
pub fn run(opts: &Options) -> Result<Outcome, BenchError> {
    if !crate::env::is_root() {
        return Err(BenchError::Setup(
            "the bench builds network namespaces: run it as root".into(),
        ));
    }
    let all = workload::dfz_ipv4(&workload::dfz_path())?;
    let mut out = Outcome::default();
    let record = |out: &mut Outcome,
                  r: Result<(Sample, String), BenchError>,
                  suite: Suite,
                  n: usize,
                  kind: Kind,
                  run: usize| match r {
        Ok((s, version)) => {
            eprintln!(
                "{:<12} {:>7} {:<6} run {}: {:>9.1} ms  cpu {:>9.1} ms  rss {:>6.1} MB  load {:.2}{}",
                suite.name(),
                s.prefixes,
                kind.name(),
                run,
                s.wall.as_secs_f64() * 1e3,
                s.cpu.as_secs_f64() * 1e3,
                s.rss as f64 / 1e6,
                s.load,
                if s.flagged { "  FLAG" } else { "" }
            );
            if !out.versions.iter().any(|(k, _)| k == kind.name()) {
                out.versions.push((kind.name().into(), version));
            }
            out.samples.push(s);
        }
        Err(e) => {
            eprintln!(
                "{:<12} {:>7} {:<6} run {}: FAILED {e}",
                suite.name(),
                n,
                kind.name(),
                run
            );
            out.failures.push((
                suite.name().into(),
                n,
                kind.name().into(),
                run,
                e.to_string(),
            ));
        }
    };
    for &suite in &opts.suites {
        if suite == Suite::Sessions {
            for run in 0..opts.runs {
                for &kind in &opts.duts {
                    let r = sessions_run(kind, &all, opts, run);
                    record(&mut out, r, suite, opts.peers * opts.per_peer, kind, run);
                }
            }
            continue;
        }
        for &n in &opts.prefixes {
            let n = if n == 0 { all.len() } else { n.min(all.len()) };
            let table = workload::sample(&all, n);
            for run in 0..opts.runs {
                for &kind in &opts.duts {
                    if suite == Suite::Fib && !kind.has_fib() {
                        continue;
                    }
                    let r = table_run(suite, kind, &table, opts, run);
                    record(&mut out, r, suite, n, kind, run);
                }
            }
        }
    }
    Ok(out)
}

/// The binary's entry point; returns the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let machine = report::Machine::read();
    match run(&opts) {
        Ok(outcome) => {
            println!("{}", report::table(&outcome, &machine, &args));
            if let Some(path) = &opts.json {
                let json = report::json(&outcome, &machine, &args);
                if let Err(e) = std::fs::write(path, json) {
                    eprintln!("cannot write {}: {e}", path.display());
                    return 1;
                }
            }
            if outcome.samples.is_empty() {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
