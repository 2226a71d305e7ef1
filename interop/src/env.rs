//! What the interop suite needs from the machine: root (to create
//! namespaces) and the daemons' Debian packages. Absent, a test fails with
//! a message naming what is missing; with `TWILL_SKIP_NETNS=1` it prints a
//! skip line and passes.

use crate::peer::Daemon;

/// The environment variable that turns missing prerequisites into skips.
pub const SKIP_VAR: &str = "TWILL_SKIP_NETNS";

/// Whether the process runs as root (effective UID 0, from
/// `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether `program` is found (an absolute path, or on `PATH`).
pub fn has_program(program: &str) -> bool {
    if program.starts_with('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// What is missing for a test that runs `daemons` in namespaces, as
/// sentences; empty when it can run.
pub fn missing(daemons: &[Daemon]) -> Vec<String> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (creating network namespaces needs it)".to_owned());
    }
    for (program, package) in [("ip", "iproute2"), ("kill", "procps")] {
        if !has_program(program) {
            missing.push(format!("`{program}` (Debian package {package})"));
        }
    }
    for daemon in daemons {
        for program in daemon.programs() {
            if !has_program(program) {
                missing.push(format!("`{program}` (Debian package {})", daemon.package()));
            }
        }
    }
    missing
}

/// Call first in every namespace test: `true` when the test can run.
/// Prints a skip line and answers `false` when something is missing and
/// `TWILL_SKIP_NETNS=1`; panics with the list of what is missing otherwise.
pub fn preflight(test: &str, daemons: &[Daemon]) -> bool {
    let skip = std::env::var(SKIP_VAR).is_ok_and(|v| v == "1");
    if skip {
        println!("interop: {test}: skipped ({SKIP_VAR}=1)");
        return false;
    }
    let missing = missing(daemons);
    if missing.is_empty() {
        return true;
    }
    panic!(
        "interop test {test} cannot run: missing {}.\n\
         Run scripts/test as root (it installs bird2 frr gobgpd exabgp iproute2 \
         iputils-ping procps), or set {SKIP_VAR}=1 to skip the interop suite.",
        missing.join(", ")
    );
}
