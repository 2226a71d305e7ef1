//! The Twill node agent (`twill-agent`) as a library: the binary in
//! `main.rs` wires these modules together.
//!
//! - [`api`]: the local API's schema and its requests to the RIB task.
//! - [`config`]: the configuration file (YAML) and its validation.
//! - [`fib`]: the kernel FIB writer (rtnetlink).
//! - [`k8s`]: Kubernetes mode (`--kubernetes`): the desired configuration
//!   from the cluster, and the per-node status resource.
//! - [`malloc`]: the C allocator's parameters, for a lower peak RSS.
//! - [`metrics`]: Prometheus metrics and their HTTP listener.
//! - [`reach`]: the next-hop check: which BGP next hops the kernel's own
//!   routes reach.

pub mod agent;
pub mod api;
pub mod config;
pub mod fib;
pub mod k8s;
pub mod malloc;
pub mod metrics;
pub mod reach;
