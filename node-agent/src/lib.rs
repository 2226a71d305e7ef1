//! The Twill node agent (`twill-agent`) as a library: the binary in
//! `main.rs` wires these modules together.
//!
//! - [`config`]: the configuration file (YAML) and its validation.
//! - [`fib`]: the kernel FIB writer (rtnetlink).

pub mod config;
pub mod fib;
