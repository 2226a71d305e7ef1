//! The kernel FIB writer: installs Loc-RIB routes with rtnetlink.
//!
//! - [`route`]: the writer's route type ([`RouteChange`], [`Target`],
//!   [`Gateway`]) and the conversion from [`ribs::rib::FibChange`]
//!   ([`Targets`]: one shared target per next-hop set).
//! - [`intern`]: equal values shared behind one `Arc` (the RIB task's
//!   targets).
//! - [`counted`]: equal values under one counted `u32` id.
//! - [`netlink`]: the rtnetlink messages, encoded and decoded by hand.
//! - [`socket`]: netlink sockets, batched writes with errors matched by
//!   sequence number, dumps.
//! - [`nexthop`]: nexthop objects and groups on the wire (`RTM_NEWNEXTHOP`).
//! - [`objects`]: Twill's nexthop objects, shared and counted by routes.
//! - [`links`]: interfaces and connected prefixes: which next hops are
//!   usable now.
//! - [`table`]: the per-prefix state, one hash table per family holding
//!   the entries, with a dirty bitmap.
//! - [`shared`]: the targets and kernel states the routes name by id, in
//!   pairs (one id a route).
//! - `writer`: the writer task; `handle`: its [`FibHandle`] and the watch
//!   thread; `types`: configuration, view, errors.
//!
//! Safety rules (see `docs/fib.md`): every route Twill writes carries its
//! own protocol number; a route of another protocol is never replaced
//! (new routes are created with `NLM_F_EXCL`) nor deleted (deletes name the
//! protocol, which the kernel matches); on exit the routes stay unless
//! [`ExitMode::RemoveRoutes`] is asked for.

pub mod counted;
mod handle;
pub mod intern;
pub mod links;
pub mod netlink;
pub mod nexthop;
pub mod objects;
pub mod route;
pub mod shared;
pub mod socket;
pub mod table;
mod types;
mod writer;

pub use handle::FibHandle;
pub use route::{Gateway, RouteChange, Target, Targets};
pub use types::{
    ExitMode, FibConfig, FibCounters, FibEntry, FibError, FibView, RouteError, RouteState,
    DEFAULT_PROTOCOL, MAIN_TABLE,
};
