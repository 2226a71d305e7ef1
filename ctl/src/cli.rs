//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use node_agent::api::model::AddressFamily;

/// twillctl: look into and steer a running twill-agent through its local
/// API.
///
/// Exit codes: 0 done, 1 the agent answered with an error, 2 usage error,
/// 3 the agent cannot be reached.
#[derive(Debug, Parser)]
#[command(name = "twillctl", version, propagate_version = true)]
pub struct Cli {
    /// Print the API's JSON answer (pretty) instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// The agent's API socket.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = node_agent::config::DEFAULT_API_SOCKET,
        conflicts_with = "url"
    )]
    pub socket: PathBuf,

    /// Talk to the API on TCP instead (`http://127.0.0.1:PORT`).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The agent: version, router id, AS, uptime, RIB sizes.
    Status,
    /// One line per neighbour: state, time in it, prefix counters.
    Neighbors,
    /// One neighbour in detail, or an action on it.
    Neighbor(NeighborArgs),
    /// The Loc-RIB (`rib [PREFIX]`), or a neighbour's Adj-RIB-In or
    /// Adj-RIB-Out (`rib in NEIGHBOR`, `rib out NEIGHBOR`).
    #[command(args_conflicts_with_subcommands = true)]
    Rib(RibArgs),
    /// The kernel routes: installed, pending, failed.
    Fib,
    /// Follow the agent's events (sessions, routes, FIB) until interrupted.
    Watch,
    /// twillctl's version and, when reachable, the agent's.
    Version,
    /// A shell completion script, on standard output.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `neighbor ADDR [ACTION]`.
#[derive(Debug, Args)]
pub struct NeighborArgs {
    /// The neighbour's address.
    pub address: String,
    /// An action; without one, the neighbour's detail.
    #[command(subcommand)]
    pub action: Option<NeighborCommand>,
}

/// Actions on a neighbour.
#[derive(Debug, Subcommand)]
pub enum NeighborCommand {
    /// Administrative Reset (Cease, RFC 4486): the session restarts at once.
    Reset {
        /// Shutdown communication for the peer (RFC 9003).
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Ask the neighbour for its routes again (ROUTE-REFRESH, RFC 2918)
    /// and re-apply the import policy.
    Refresh,
    /// Administrative Shutdown (Cease, RFC 4486): down until `start`.
    Shutdown {
        /// Shutdown communication for the peer (RFC 9003).
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Start a neighbour that was shut down.
    Start,
}

/// An address family on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl From<Family> for AddressFamily {
    fn from(family: Family) -> Self {
        match family {
            Family::Ipv4 => AddressFamily::Ipv4,
            Family::Ipv6 => AddressFamily::Ipv6,
        }
    }
}

/// The filters of every `rib` command.
#[derive(Debug, Clone, Default, Args)]
pub struct RibFilter {
    /// A prefix (exact match) or an address (longest match).
    pub prefix: Option<String>,
    /// Only this address family.
    #[arg(long, value_enum)]
    pub family: Option<Family>,
    /// Say why each path that is not the best lost.
    #[arg(long)]
    pub explain: bool,
}

/// `rib [PREFIX] [--family F] [--explain]` or `rib in|out NEIGHBOR`.
#[derive(Debug, Args)]
pub struct RibArgs {
    /// The Loc-RIB's filters.
    #[command(flatten)]
    pub filter: RibFilter,
    /// A neighbour's RIB instead.
    #[command(subcommand)]
    pub which: Option<RibCommand>,
}

/// A neighbour's RIBs.
#[derive(Debug, Subcommand)]
pub enum RibCommand {
    /// What the neighbour sent us (Adj-RIB-In, after import policy).
    In {
        /// The neighbour's address.
        neighbor: String,
        /// Filters.
        #[command(flatten)]
        filter: RibFilter,
    },
    /// What we send the neighbour (Adj-RIB-Out).
    Out {
        /// The neighbour's address.
        neighbor: String,
        /// Filters.
        #[command(flatten)]
        filter: RibFilter,
    },
}
