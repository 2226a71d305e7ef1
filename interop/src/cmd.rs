//! Running short commands (`ip`, `birdc`, `vtysh`, `gobgp`) and reading
//! their output.

use std::ffi::OsStr;
use std::process::Command;

use crate::error::{Error, Result};

/// Runs `program args...` to completion and returns its standard output;
/// a non-zero exit is an [`Error::Command`] carrying standard error.
pub fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    let line = command_line(&command);
    let output = command.output().map_err(|source| Error::Io {
        what: format!("cannot run `{line}`"),
        source,
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(Error::Command {
            command: line,
            status: output.status.to_string(),
            stderr: tail(&stderr, 20),
        })
    }
}

/// Runs `program args...` inside network namespace `ns` (`ip netns exec`).
pub fn run_in<I, S>(ns: &str, program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut all: Vec<std::ffi::OsString> = vec!["netns".into(), "exec".into(), ns.into()];
    all.push(program.into());
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    run("ip", all)
}

/// The command as a shell line, for messages.
pub fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last `lines` lines of the file at `path` (empty when unreadable).
pub fn file_tail(path: &std::path::Path, lines: usize) -> String {
    std::fs::read(path)
        .map(|bytes| tail(&String::from_utf8_lossy(&bytes), lines))
        .unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// Parses `text` as JSON, naming `what` on failure.
pub fn json(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::Parse {
        what: what.to_owned(),
        detail: e.to_string(),
        output: tail(text, 40),
    })
}
