//! The benchmark runner (`bench`, issue 9) kept from rotting: a tiny run
//! (1,000 prefixes, one run, `twill-agent` and BIRD, ingest and churn)
//! whose table and JSON must hold one measured row per DUT and suite. The
//! numbers themselves are not asserted (speed lives in
//! `docs/performance.md`, measured by the runner, never in a test).

use std::path::{Path, PathBuf};
use std::process::Command;

use interop::{env, Daemon};

/// `twill-agent` of the same build as the bench binary (a debug build
/// under `cargo test`).
fn agent_beside_bench() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bench")).with_file_name("twill-agent")
}

#[test]
fn bench_measures_twill_and_bird_on_a_tiny_table() {
    if !env::preflight(
        "bench_measures_twill_and_bird_on_a_tiny_table",
        &[Daemon::Bird],
    ) {
        return;
    }
    let agent = agent_beside_bench();
    assert!(
        agent.is_file(),
        "{} is missing: build it with `cargo build -p node-agent --bin twill-agent` \
         (cargo test --workspace does)",
        agent.display()
    );
    let json = std::env::temp_dir().join(format!("twill-bench-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--suite",
            "ingest,churn",
            "--prefixes",
            "1000",
            "--runs",
            "1",
        ])
        .args(["--duts", "twill,bird", "--timeout", "20", "--json"])
        .arg(&json)
        .env("TWILL_AGENT", &agent)
        .output()
        .expect("bench starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&json).expect("bench wrote its JSON");
    let _ = std::fs::remove_file(&json);
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        value["failures"].as_array().map(Vec::len),
        Some(0),
        "{text}"
    );
    let rows = value["rows"].as_array().expect("rows");
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["prefixes"], 1000, "{r}");
            assert_eq!(r["runs"], 1, "{r}");
            assert!(r["wall_ms"]["median"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
            assert!(
                r["peak_rss_mb"]["median"].as_f64().unwrap_or(0.0) > 0.0,
                "{r}"
            );
            (
                r["suite"].as_str().unwrap_or_default().to_owned(),
                r["dut"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String)> = [
        ("churn", "bird"),
        ("churn", "twill"),
        ("ingest", "bird"),
        ("ingest", "twill"),
    ]
    .iter()
    .map(|(s, d)| ((*s).to_owned(), (*d).to_owned()))
    .collect();
    assert_eq!(seen, expected);
    // BIRD's own row is the reference of the ratios.
    let bird = rows
        .iter()
        .find(|r| r["suite"] == "ingest" && r["dut"] == "bird")
        .expect("BIRD's ingest row");
    assert_eq!(bird["wall_over_bird"], 1.0);
    // The table names the machine, the versions and both DUTs.
    assert!(stdout.contains("| ingest | 1000 | twill |"), "{stdout}");
    assert!(stdout.contains("BIRD version 2"), "{stdout}");
    assert!(stdout.contains("cpus"), "{stdout}");
}
