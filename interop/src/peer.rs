//! One interface to every BGP daemon, so that a scenario is written once
//! and run against BIRD, FRR and GoBGP.

use std::net::IpAddr;
use std::time::Duration;

use crate::capability::Capabilities;
use crate::error::Result;
use crate::netns::{Lab, Ns};
use crate::router::{BgpRoute, LastError, Prefix, Router, SessionState};
use crate::wait;

/// The daemons the suite runs, with the commands each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Daemon {
    /// BIRD 2 (Debian `bird2`).
    Bird,
    /// FRR 8 zebra and bgpd (Debian `frr`).
    Frr,
    /// GoBGP (Debian `gobgpd`).
    GoBgp,
    /// ExaBGP (Debian `exabgp`).
    ExaBgp,
    /// Twill's own `twill-agent` (built from this workspace).
    Twill,
}

impl Daemon {
    /// The daemons that are [`Peer`]s (ExaBGP is a sender).
    pub const PEERS: [Daemon; 3] = [Daemon::Bird, Daemon::Frr, Daemon::GoBgp];

    /// All of them.
    pub const ALL: [Daemon; 4] = [Daemon::Bird, Daemon::Frr, Daemon::GoBgp, Daemon::ExaBgp];

    /// Its name in messages and in `docs/interop.md`.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Bird => "BIRD",
            Daemon::Frr => "FRR",
            Daemon::GoBgp => "GoBGP",
            Daemon::ExaBgp => "ExaBGP",
            Daemon::Twill => "Twill",
        }
    }

    /// The Debian package that provides it.
    pub fn package(self) -> &'static str {
        match self {
            Daemon::Bird => "bird2",
            Daemon::Frr => "frr",
            Daemon::GoBgp => "gobgpd",
            Daemon::ExaBgp => "exabgp",
            Daemon::Twill => "twill (this workspace)",
        }
    }

    /// The programs the harness runs for it.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            Daemon::Bird => &["bird", "birdc"],
            Daemon::Frr => &[crate::frr::ZEBRA, crate::frr::BGPD, "vtysh"],
            Daemon::GoBgp => &["gobgpd", "gobgp"],
            Daemon::ExaBgp => &["exabgp"],
            // Not on PATH: `agent::check_binaries` looks in the target dir.
            Daemon::Twill => &[],
        }
    }

    /// The version installed, as its own `--version` prints it (first
    /// line, e.g. `BIRD version 2.0.12`).
    pub fn version(self) -> Result<String> {
        let (program, arg) = match self {
            Daemon::Bird => ("bird", "--version"),
            Daemon::Frr => (crate::frr::BGPD, "--version"),
            Daemon::GoBgp => ("gobgpd", "--version"),
            Daemon::ExaBgp => ("exabgp", "--version"),
            Daemon::Twill => (crate::agent::AGENT, "--version"),
        };
        let program = if self == Daemon::Twill {
            crate::agent::binary(program).display().to_string()
        } else {
            program.to_owned()
        };
        let program = program.as_str();
        // BIRD prints its version on standard error.
        let out = std::process::Command::new(program)
            .arg(arg)
            .output()
            .map_err(|source| crate::Error::Io {
                what: format!("cannot run {program} {arg}"),
                source,
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text.lines().next().unwrap_or_default().trim().to_owned())
    }
}

/// A running BGP daemon, seen through its own machine-readable view.
pub trait Peer {
    /// Which daemon it is.
    fn daemon(&self) -> Daemon;

    /// The description it was configured from.
    fn router(&self) -> &Router;

    /// The state of its session with `neighbor` (RFC 4271 §8.2.2).
    fn session_state(&self, neighbor: IpAddr) -> Result<SessionState>;

    /// Its best route for exactly `prefix`, if it has one.
    fn route(&self, prefix: Prefix) -> Result<Option<BgpRoute>>;

    /// The capabilities it advertised to and received from `neighbor`
    /// (RFC 5492), on an Established session.
    fn capabilities(&self, neighbor: IpAddr) -> Result<Capabilities>;

    /// Asks `neighbor` to send its routes again: ROUTE-REFRESH (RFC 2918).
    fn request_refresh(&self, neighbor: IpAddr) -> Result<()>;

    /// Why its session with `neighbor` last went down (`None`: never).
    fn last_error(&self, neighbor: IpAddr) -> Result<Option<LastError>>;

    /// Administratively shuts the session down, sending a Cease
    /// NOTIFICATION (subcode 2) with `message` (RFC 9003).
    fn shutdown(&self, neighbor: IpAddr, message: &str) -> Result<()>;

    /// Lets a shut-down session start again.
    fn enable(&self, neighbor: IpAddr) -> Result<()>;

    /// Its view of its sessions and the tail of its log, for failure
    /// messages.
    fn view(&self) -> String;

    /// A label for messages: `BIRD r1 (AS 65001)`.
    fn label(&self) -> String {
        format!(
            "{} {} (AS {})",
            self.daemon().name(),
            self.router().name,
            self.router().asn
        )
    }
}

/// Starts `daemon` in `ns` configured from `router`, as a [`Peer`] (BIRD,
/// FRR or GoBGP; ExaBGP is a sender, not a peer: use
/// [`crate::exabgp::ExaBgp::start`]).
pub fn start(daemon: Daemon, lab: &mut Lab, ns: &Ns, router: Router) -> Result<Box<dyn Peer>> {
    Ok(match daemon {
        Daemon::Bird => Box::new(crate::bird::Bird::start(lab, ns, router)?),
        Daemon::Frr => Box::new(crate::frr::Frr::start(lab, ns, router)?),
        Daemon::GoBgp => Box::new(crate::gobgp::GoBgp::start(lab, ns, router)?),
        Daemon::ExaBgp => {
            return Err(crate::Error::Environment(
                "ExaBGP is a scripted sender, not a Peer: use ExaBgp::start".into(),
            ))
        }
        Daemon::Twill => Box::new(crate::agent::TwillAgent::start(
            lab,
            ns,
            router,
            crate::agent::AgentOptions::default(),
        )?),
    })
}

/// Waits until `peer`'s session with `neighbor` is Established.
pub fn wait_established(peer: &dyn Peer, neighbor: IpAddr, timeout: Duration) -> Result<()> {
    wait::until(
        &format!("{}: session with {neighbor} Established", peer.label()),
        timeout,
        || Ok((peer.session_state(neighbor)? == SessionState::Established).then_some(())),
        || peer.view(),
    )
}

/// Waits until `peer` has a route for `prefix`, and returns it.
pub fn wait_route(peer: &dyn Peer, prefix: Prefix, timeout: Duration) -> Result<BgpRoute> {
    wait::until(
        &format!("{}: a route for {prefix}", peer.label()),
        timeout,
        || peer.route(prefix),
        || peer.view(),
    )
}

/// Waits until `peer` no longer has a route for `prefix`.
pub fn wait_no_route(peer: &dyn Peer, prefix: Prefix, timeout: Duration) -> Result<()> {
    wait::until(
        &format!("{}: no route for {prefix}", peer.label()),
        timeout,
        || Ok(peer.route(prefix)?.is_none().then_some(())),
        || peer.view(),
    )
}
