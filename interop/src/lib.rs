//! Interop harness: labs of network namespaces with real BGP daemons.
//!
//! A [`Lab`] creates uniquely named namespaces joined by veth pairs and
//! bridges, starts daemons inside them, and on drop (also on panic) stops
//! every process it started, by PID, and deletes every namespace. Each
//! daemon module generates its configuration from a [`Router`] description,
//! starts it, waits for its control socket, and reads its state in machine
//! form; the [`Peer`] trait hides which daemon it is.
//!
//! ```text
//!  Router (ASN, id, neighbours, routes) --config--> bird | frr | gobgp | exabgp
//!                                                        |  (Lab::spawn, in a Ns)
//!  test --Peer::session_state / route--> birdc | vtysh json | gobgp -j
//!       --kernel::routes-------------> ip -n NS -j route
//!       --wait::until(deadline, probe, view + log tail)
//! ```
//!
//! | module | job |
//! | --- | --- |
//! | [`netns`] | `Lab`, namespaces, links, segments, the Drop guard |
//! | [`process`] | one daemon process: spawn in a namespace, log, stop by PID |
//! | [`router`] | the router description and daemon-neutral state |
//! | [`capability`] | capabilities (RFC 5492) in one vocabulary for all daemons |
//! | [`peer`] | the `Peer` trait, `Daemon`, waits on sessions and routes |
//! | [`agent`] | `twill-agent`: configuration, start, restart, kill, its view via `twillctl --json` |
//! | [`bird`], [`frr`], [`gobgp`], [`exabgp`] | one daemon each |
//! | [`flat`] | a flat network of agents with pods, a ToR router or an iBGP mesh |
//! | [`kernel`] | a namespace's kernel table (`ip -j route`) |
//! | [`ping`] | one ping, or a continuous ping and its losses |
//! | [`wait`] | polling with a deadline and a clear timeout message |
//! | [`env`] | root and packages: fail clearly, or skip with `TWILL_SKIP_NETNS=1` |
//! | [`matrix`] | the scenario matrix `docs/interop.md` must list |
//!
//! See `docs/interop.md` for the scenario matrix.
#![forbid(unsafe_code)]

pub mod agent;
pub mod bird;
pub mod capability;
pub mod cmd;
pub mod env;
pub mod error;
pub mod exabgp;
pub mod flat;
pub mod frr;
pub mod gobgp;
pub mod kernel;
pub mod matrix;
pub mod netns;
pub mod peer;
pub mod ping;
pub mod process;
pub mod router;
pub mod wait;

pub use capability::{Capabilities, Capability};
pub use error::{ensure, Error, Result};
pub use netns::{Endpoint, Lab, Link, Ns};
pub use peer::{Daemon, Peer};
pub use router::{
    prefix, AddPath, BgpRoute, Family, LastError, Neighbor, Prefix, Route, Router, SessionState,
    UnknownAttribute,
};
