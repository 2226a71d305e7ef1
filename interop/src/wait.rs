//! Polling a condition until a deadline.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(200);

/// Polls `probe` every [`POLL`] until it answers `Some`, for at most
/// `timeout`. On timeout the error names `what` and carries `context()`
/// (the daemons' views and log tails at that moment). A probe error that
/// persists to the deadline is reported in the context; a transient one
/// (a control socket not yet open) is retried.
pub fn until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
    context: impl FnOnce() -> String,
) -> Result<T> {
    let start = Instant::now();
    loop {
        let last_error = match probe() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            // A daemon that died will not come back: fail at once.
            Err(e @ Error::Exited { .. }) => return Err(e),
            Err(e) => Some(e),
        };
        if start.elapsed() >= timeout {
            let mut text = String::new();
            if let Some(e) = last_error {
                text.push_str(&format!("last probe error: {e}\n"));
            }
            text.push_str(&context());
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: start.elapsed(),
                context: text,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Checks that `probe` stays `true` for the whole of `period` (polled every
/// [`POLL`]); fails with `context()` the first time it does not.
pub fn holds(
    what: &str,
    period: Duration,
    mut probe: impl FnMut() -> Result<bool>,
    context: impl FnOnce() -> String,
) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < period {
        if !probe()? {
            return Err(Error::Assertion(format!(
                "{what} stopped holding after {:?}\n{}",
                start.elapsed(),
                context()
            )));
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
