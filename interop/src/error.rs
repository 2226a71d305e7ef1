//! The harness's one error type.
//!
//! Its `Debug` is its `Display`: tests return `Result<(), Error>`, and the
//! test runner prints a failing test's error with `Debug`, so the message a
//! developer reads is the full, multi-line explanation (daemon view, log
//! tail), not a struct dump.

use std::fmt;
use std::time::Duration;

/// What went wrong while building a lab or talking to a daemon.
#[derive(thiserror::Error)]
pub enum Error {
    /// A command ran and failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        /// The command line, as typed in a shell.
        command: String,
        /// Its exit status.
        status: String,
        /// The tail of its standard error (and output).
        stderr: String,
    },
    /// A command could not be started, or a file not written.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// A daemon answered with something the harness cannot read.
    #[error("cannot parse {what}: {detail}\n--- output ---\n{output}")]
    Parse {
        /// Which answer.
        what: String,
        /// Why it cannot be read.
        detail: String,
        /// The answer as received.
        output: String,
    },
    /// A condition did not become true before its deadline.
    #[error("timed out after {waited:?} waiting for {what}\n{context}")]
    Timeout {
        /// The condition, in words.
        what: String,
        /// How long the harness waited.
        waited: Duration,
        /// The daemons' views and log tails when the time ran out.
        context: String,
    },
    /// A daemon exited while the harness still needed it.
    #[error("{what} exited ({status}); log tail:\n{log_tail}")]
    Exited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// The machine lacks what the interop suite needs (root, a package).
    #[error("{0}")]
    Environment(String),
    /// A scenario's assertion did not hold.
    #[error("{0}")]
    Assertion(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fails with [`Error::Assertion`] unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(Error::Assertion(message()))
    }
}
