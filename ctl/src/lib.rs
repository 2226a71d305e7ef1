//! `twillctl`: the operator CLI of the Twill agent, as a library so that
//! its output can be tested without a process.
//!
//! - [`cli`]: the command line (clap).
//! - [`client`]: HTTP/1.1 to the agent's API on its Unix socket or TCP.
//! - [`format`]: the human output (aligned columns).
//! - [`duration`]: `3m12s`, `2d4h`, UTC times.
//! - [`run`]: one command from arguments to exit code.

pub mod cli;
pub mod client;
pub mod duration;
pub mod format;
pub mod run;
