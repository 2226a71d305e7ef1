//! A daemon started inside a namespace, stopped by its PID.
//!
//! `ip netns exec` replaces itself with the command, so the child's PID is
//! the daemon's. Each daemon leads its own process group, so that helpers
//! it starts (ExaBGP's API process) are stopped with it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{command_line, file_tail};
use crate::error::{Error, Result};

/// How long a daemon gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// A running daemon: its PID, its log file, and its namespace.
#[derive(Debug)]
pub struct Process {
    label: String,
    namespace: String,
    log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts `program args...` in namespace `namespace` with `env` added to
    /// its environment; standard output and error are appended to `log`.
    pub fn spawn(
        label: &str,
        namespace: &str,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Process> {
        let io = |what: String| move |source| Error::Io { what, source };
        // Appended to, so that a daemon restarted under the same label
        // keeps its earlier log.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("cannot open {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("cannot reopen {}", log.display())))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace, program])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let line = command_line(&command);
        let child = command
            .spawn()
            .map_err(io(format!("cannot start `{line}`")))?;
        tracing::debug!(label, namespace, pid = child.id(), "started `{line}`");
        Ok(Process {
            label: label.to_owned(),
            namespace: namespace.to_owned(),
            log: log.to_owned(),
            child,
        })
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name it was started under.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its log file (standard output and error).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    /// Fails with [`Error::Exited`] if the daemon is no longer running.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                what: format!("{} (pid {})", self.label, self.pid()),
                status: status.to_string(),
                log_tail: self.log_tail(20),
            }),
            Err(source) => Err(Error::Io {
                what: format!("cannot wait for {}", self.label),
                source,
            }),
        }
    }

    /// Stops the daemon and everything in its process group: SIGTERM, then
    /// SIGKILL after a grace period; reaps it.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            signal_group(self.pid(), "KILL");
            return;
        }
        signal_group(self.pid(), "TERM");
        let start = Instant::now();
        while start.elapsed() < GRACE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                signal_group(self.pid(), "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            label = self.label,
            pid = self.pid(),
            "no exit on SIGTERM: SIGKILL"
        );
        signal_group(self.pid(), "KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `SIG` to the process group led by `pid` (`kill -SIG -- -PID`).
pub fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Sends `SIG` to one process by its PID.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether process `pid` is alive (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(true),
        Err(_) => false,
    }
}
