//! The writer's public types: its configuration, the FIB view, errors.

use std::time::Duration;

use nix::errno::Errno;
use ribs::Prefix;

use super::netlink::Forward;
use super::route::Target;
use super::socket::SocketError;

/// Twill's default routing protocol number (`rtm_protocol`), 84 (ASCII
/// `T`), the configuration's default: not used by the kernel's `RTPROT_*`
/// nor by any entry of iproute2's `/etc/iproute2/rt_protos` (which lists
/// 0–4, 8–16, 18, 42, 99, 186–192).
pub const DEFAULT_PROTOCOL: u8 = crate::config::DEFAULT_FIB_PROTOCOL;

/// The main routing table (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = 254;

/// How the writer writes.
#[derive(Debug, Clone)]
pub struct FibConfig {
    /// Routing protocol number of Twill's routes (default
    /// [`DEFAULT_PROTOCOL`]).
    pub protocol: u8,
    /// Routing table (default main, 254).
    pub table: u32,
    /// Route metric (`RTA_PRIORITY`); `None`: the kernel's default.
    pub metric: Option<u32>,
    /// Messages per `sendmsg`, at most.
    pub batch: usize,
    /// First retry delay of a failed route; doubles per attempt.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Write next hops as nexthop objects and groups (`RTM_NEWNEXTHOP`,
    /// routes naming them with `RTA_NH_ID`) when the kernel has them
    /// (Linux 5.3+); `false`, or an older kernel: next hops in each route
    /// (`RTA_GATEWAY` / `RTA_MULTIPATH`). Default `true`.
    pub nexthop_objects: bool,
    /// The request socket's receive buffer in bytes (`SO_RCVBUFFORCE`);
    /// `None`: 32 MiB. Small values lose answers (tests of the re-read).
    pub receive_buffer: Option<usize>,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            protocol: DEFAULT_PROTOCOL,
            table: MAIN_TABLE,
            metric: None,
            batch: 1024,
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            nexthop_objects: true,
            receive_buffer: None,
        }
    }
}

/// Why a route is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A route of another protocol (a static, connected or kernel route, or
    /// another daemon's) holds the prefix: Twill does not replace it.
    #[error("a route of another protocol holds the prefix")]
    Conflict,
    /// The kernel refused the request.
    #[error("kernel: {0}")]
    Kernel(Errno),
    /// The answers to the write were lost (socket overflow): the kernel's
    /// table was read again and the write is retried.
    #[error("answers lost, retrying")]
    Unconfirmed,
}

/// The state of one prefix in the FIB view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteState {
    /// The kernel holds what the RIB wants.
    Installed,
    /// A write is queued.
    Pending,
    /// Found at start-up, not (yet) confirmed by the RIB: removed at
    /// convergence unless the RIB wants it.
    Stale,
    /// Every next hop's interface is down: nothing is installed.
    Unusable,
    /// The last write failed; it is retried with backoff.
    Failed {
        /// The error.
        error: RouteError,
        /// Attempts so far.
        attempts: u32,
    },
}

/// One prefix of the FIB view (`twillctl fib`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibEntry {
    /// The prefix.
    pub prefix: Prefix,
    /// What the RIB wants (`None`: a withdrawal or a stale route).
    pub target: Option<Target>,
    /// What the kernel holds of Twill's.
    pub installed: Option<Forward>,
    /// The state.
    pub state: RouteState,
}

/// Counters of the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibCounters {
    /// Routes written (created or replaced).
    pub installed: u64,
    /// Routes removed.
    pub removed: u64,
    /// Writes the kernel refused (conflicts included).
    pub errors: u64,
    /// Conflicts with routes of other protocols.
    pub conflicts: u64,
    /// Twill routes removed or changed by someone else and put back.
    pub restored: u64,
    /// Stale routes removed at convergence.
    pub swept: u64,
    /// Full re-reads of the kernel table (after lost answers or events).
    pub resyncs: u64,
    /// Nexthop objects written (created, replaced or deleted).
    pub nexthops: u64,
}

/// The FIB view: every prefix the writer knows, and the counters.
#[derive(Debug, Clone, Default)]
pub struct FibView {
    /// Prefixes, sorted.
    pub entries: Vec<FibEntry>,
    /// Counters.
    pub counters: FibCounters,
    /// How many nexthop objects Twill keeps; `None`: next hops are
    /// written into each route (no nexthop objects, or turned off).
    pub nexthop_objects: Option<usize>,
    /// Bytes the writer's per-prefix tables take (both families' buckets
    /// and dirty bitmaps).
    pub table_bytes: usize,
    /// How many distinct (wanted target, kernel state) pairs the routes
    /// name.
    pub pairs: usize,
}

/// What to do with Twill's routes when the writer stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMode {
    /// Leave them (the default: a restart must not blackhole traffic; the
    /// next start finds them stale and keeps those the RIB still has).
    LeaveRoutes,
    /// Remove every Twill route (`--remove-routes-on-exit`).
    RemoveRoutes,
}

/// Errors of the writer as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    /// A netlink socket failed at start-up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The writer thread could not be started.
    #[error("writer thread: {0}")]
    Thread(std::io::Error),
    /// The writer has stopped.
    #[error("the FIB writer has stopped")]
    Closed,
}
