//! The runner's output: one table (median of the runs, min and max, ratios
//! to BIRD in the same run) and the same as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::dut::Kind;
use super::{Outcome, Sample, Suite};

/// The machine the numbers come from.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// MemTotal, bytes.
    pub memory: u64,
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/loadavg` at the start.
    pub load_at_start: String,
}

impl Machine {
    /// Reads it from `/proc`.
    pub fn read() -> Machine {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024;
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            load_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

/// Median, min and max.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Median (the lower middle for an even count).
    pub median: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// Median, min and max of `values` (zeros for none).
pub fn stats(values: &[f64]) -> Stats {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return Stats::default();
    }
    Stats {
        median: v[(v.len() - 1) / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One row: a suite, a table size and a DUT over its runs.
#[derive(Debug, Clone)]
pub struct Row {
    /// Suite.
    pub suite: Suite,
    /// Prefixes.
    pub prefixes: usize,
    /// DUT.
    pub dut: Kind,
    /// Runs.
    pub runs: usize,
    /// Wall time, ms.
    pub wall: Stats,
    /// CPU time, ms.
    pub cpu: Stats,
    /// Peak RSS, MB.
    pub rss: Stats,
    /// Sessions: until all Established, ms.
    pub established: Option<Stats>,
    /// Injector write wall time, ms (median).
    pub inject_wall: f64,
    /// Injector CPU, ms (median).
    pub inject_cpu: f64,
    /// Monitor receive rate, prefixes per CPU second (median).
    pub monitor_rate: f64,
    /// Load average, max over the runs.
    pub load: f64,
    /// Runs flagged (injector or monitor within 2x).
    pub flagged: usize,
}

/// Groups the samples into rows, in the order they were taken.
pub fn rows(samples: &[Sample]) -> Vec<Row> {
    let mut keys: Vec<(Suite, usize, Kind)> = Vec::new();
    for s in samples {
        let k = (s.suite, s.prefixes, s.dut);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(suite, prefixes, dut)| {
            let g: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.suite == suite && s.prefixes == prefixes && s.dut == dut)
                .collect();
            let col =
                |f: &dyn Fn(&Sample) -> f64| stats(&g.iter().map(|s| f(s)).collect::<Vec<_>>());
            Row {
                suite,
                prefixes,
                dut,
                runs: g.len(),
                wall: col(&|s| ms(s.wall)),
                cpu: col(&|s| ms(s.cpu)),
                rss: col(&|s| s.rss as f64 / 1e6),
                established: g
                    .iter()
                    .all(|s| s.established.is_some())
                    .then(|| col(&|s| s.established.map_or(0.0, ms))),
                inject_wall: col(&|s| ms(s.inject_wall)).median,
                inject_cpu: col(&|s| ms(s.inject_cpu)).median,
                monitor_rate: col(&|s| s.monitor_rate).median,
                load: g.iter().map(|s| s.load).fold(0.0, f64::max),
                flagged: g.iter().filter(|s| s.flagged).count(),
            }
        })
        .collect()
}

/// The median of BIRD's row for the same suite and size.
fn bird<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.suite == row.suite && r.prefixes == row.prefixes && r.dut == Kind::Bird)
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// The table, as Markdown, with the machine and the command.
pub fn table(outcome: &Outcome, machine: &Machine, args: &[String]) -> String {
    let rows = rows(&outcome.samples);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "machine: {} cpus, {:.1} GiB, Linux {}; load at start {}",
        machine.cpus,
        machine.memory as f64 / (1u64 << 30) as f64,
        machine.kernel,
        machine.load_at_start
    );
    let _ = writeln!(t, "command: bench {}", args.join(" "));
    for (k, v) in &outcome.versions {
        let _ = writeln!(t, "{k}: {v}");
    }
    t.push('\n');
    t.push_str("| suite | prefixes | DUT | runs | wall ms median (min-max) | CPU ms median (min-max) | peak RSS MB | wall / BIRD | CPU / BIRD | RSS / BIRD | established ms | injector write ms (CPU ms) | monitor rate /s | load | flagged |\n");
    t.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &rows {
        let b = bird(&rows, r);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {:.1} ({:.1}-{:.1}) | {:.1} ({:.1}-{:.1}) | {:.1} ({:.1}-{:.1}) | {} | {} | {} | {} | {:.1} ({:.1}) | {:.2e} | {:.2} | {} |",
            r.suite.name(),
            r.prefixes,
            r.dut.name(),
            r.runs,
            r.wall.median,
            r.wall.min,
            r.wall.max,
            r.cpu.median,
            r.cpu.min,
            r.cpu.max,
            r.rss.median,
            r.rss.min,
            r.rss.max,
            ratio(r.wall.median, b.map(|b| b.wall.median)),
            ratio(r.cpu.median, b.map(|b| b.cpu.median)),
            ratio(r.rss.median, b.map(|b| b.rss.median)),
            r.established
                .map_or("-".into(), |e| format!("{:.1} ({:.1}-{:.1})", e.median, e.min, e.max)),
            r.inject_wall,
            r.inject_cpu,
            r.monitor_rate,
            r.load,
            r.flagged
        );
    }
    if !outcome.failures.is_empty() {
        t.push_str("\nfailed runs:\n");
        for (suite, n, dut, run, e) in &outcome.failures {
            let first = e.lines().next().unwrap_or_default();
            let _ = writeln!(t, "- {suite} {n} {dut} run {run}: {first}");
        }
    }
    t
}

fn stats_json(s: Stats) -> Value {
    json!({ "median": s.median, "min": s.min, "max": s.max })
}

/// The same as JSON: machine, command, versions, rows, samples, failures.
pub fn json(outcome: &Outcome, machine: &Machine, args: &[String]) -> String {
    let rows = rows(&outcome.samples);
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let b = bird(&rows, r);
            json!({
                "suite": r.suite.name(),
                "prefixes": r.prefixes,
                "dut": r.dut.name(),
                "runs": r.runs,
                "wall_ms": stats_json(r.wall),
                "cpu_ms": stats_json(r.cpu),
                "peak_rss_mb": stats_json(r.rss),
                "established_ms": r.established.map(stats_json),
                "wall_over_bird": b.map(|b| r.wall.median / b.wall.median),
                "cpu_over_bird": b.map(|b| r.cpu.median / b.cpu.median),
                "rss_over_bird": b.map(|b| r.rss.median / b.rss.median),
                "injector_write_ms": r.inject_wall,
                "injector_cpu_ms": r.inject_cpu,
                "monitor_prefixes_per_cpu_second": r.monitor_rate,
                "max_load": r.load,
                "flagged_runs": r.flagged,
            })
        })
        .collect();
    let samples: Vec<Value> = outcome
        .samples
        .iter()
        .map(|s| {
            json!({
                "suite": s.suite.name(), "prefixes": s.prefixes, "dut": s.dut.name(),
                "run": s.run, "wall_ms": ms(s.wall), "cpu_ms": ms(s.cpu),
                "peak_rss_bytes": s.rss, "established_ms": s.established.map(ms),
                "injector_write_ms": ms(s.inject_wall), "injector_cpu_ms": ms(s.inject_cpu),
                "monitor_cpu_ms": ms(s.monitor_cpu), "monitor_rate": s.monitor_rate,
                "load": s.load, "flagged": s.flagged,
            })
        })
        .collect();
    let failures: Vec<Value> = outcome
        .failures
        .iter()
        .map(|(suite, n, dut, run, e)| json!({"suite": suite, "prefixes": n, "dut": dut, "run": run, "error": e}))
        .collect();
    let value = json!({
        "machine": {
            "nproc": machine.cpus,
            "memory_bytes": machine.memory,
            "kernel": machine.kernel,
            "loadavg_at_start": machine.load_at_start,
        },
        "command": format!("bench {}", args.join(" ")),
        "versions": outcome.versions.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "rows": rows,
        "samples": samples,
        "failures": failures,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_median_min_max() {
        let s = stats(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = stats(&[4.0, 1.0]);
        assert_eq!((s.median, s.min, s.max), (1.0, 1.0, 4.0));
    }
}
