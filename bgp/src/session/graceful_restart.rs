//! Graceful restart (RFC 4724): the helper's timers for one peer, and the
//! restarting speaker's selection deferral.
//!
//! Both are pure: time is an [`Instant`] passed in, and the results are
//! [`SessionEvent`]s for the RIB owner, which does the stale marking.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::events::{RouteRetention, SessionEvent};
use crate::fsm::DownReason;
use crate::wire::{Capability, Family, GracefulRestart};

/// Default time the helper keeps stale routes after the session is back,
/// waiting for End-of-RIB (RFC 4724 §4.2 "stale routes timer").
pub const DEFAULT_STALE_PATH_TIME: u16 = 360;
/// Default selection deferral of a restarting speaker (RFC 4724 §4.1).
pub const DEFAULT_SELECTION_DEFERRAL_TIME: u16 = 360;

/// Our graceful restart settings (both roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart Time we advertise, seconds (12 bits, RFC 4724 §3).
    pub restart_time: u16,
    /// R bit: this start follows a restart of the agent.
    pub restarting: bool,
    /// F bit for every family: the kernel routes were kept across the
    /// restart (only then may it be set).
    pub forwarding_preserved: bool,
    /// The families whose state we preserve.
    pub families: Vec<Family>,
    /// Helper: how long stale routes wait for the peer's End-of-RIB once the
    /// session is back.
    pub stale_path_time: u16,
}

impl GracefulRestartConfig {
    /// The capability we advertise (RFC 4724 §3).
    pub fn capability(&self) -> Capability {
        Capability::GracefulRestart(GracefulRestart {
            restart_state: self.restarting,
            notification: false,
            restart_time: self.restart_time.min(0x0fff),
            families: self
                .families
                .iter()
                .map(|&family| crate::wire::GracefulRestartFamily {
                    family,
                    forwarding_state: self.forwarding_preserved,
                })
                .collect(),
        })
    }
}

/// The peer's Graceful Restart capability, if it sent one.
pub fn peer_graceful_restart(caps: &[Capability]) -> Option<&GracefulRestart> {
    caps.iter().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(gr),
        _ => None,
    })
}

/// Graceful restart helper state of one peer (RFC 4724 §4.2).
#[derive(Debug, Default)]
pub struct Helper {
    /// Families whose routes the RIB holds as stale.
    stale: BTreeSet<Family>,
    /// Restart timer: the peer must be back before it.
    restart_deadline: Option<Instant>,
    /// Stale-path timer: End-of-RIB must arrive before it.
    stale_deadline: Option<Instant>,
}

impl Helper {
    /// The session went down: keep the routes (and start the restart
    /// timer) when the peer advertised graceful restart for some families
    /// and the session ended without a NOTIFICATION (RFC 4724 §4.2: "the
    /// TCP session ... terminated"); else flush.
    pub fn session_down(
        &mut self,
        peer_caps: &[Capability],
        reason: &DownReason,
        now: Instant,
    ) -> RouteRetention {
        let graceful = matches!(reason, DownReason::ConnectionFailed);
        match peer_graceful_restart(peer_caps) {
            Some(gr) if graceful && gr.restart_time > 0 && !gr.families.is_empty() => {
                let families: Vec<Family> = gr.families.iter().map(|f| f.family).collect();
                self.stale = families.iter().copied().collect();
                self.restart_deadline = Some(now + secs(gr.restart_time));
                self.stale_deadline = None;
                RouteRetention::KeepStale {
                    families,
                    restart_time: gr.restart_time,
                }
            }
            _ => {
                *self = Helper::default();
                RouteRetention::Flush
            }
        }
    }

    /// The session is back (RFC 4724 §4.2): families the peer no longer
    /// lists, or lists without the F bit, are swept now; the others wait
    /// for End-of-RIB up to `stale_path_time`.
    pub fn session_up(
        &mut self,
        peer_caps: &[Capability],
        stale_path_time: u16,
        now: Instant,
    ) -> Vec<SessionEvent> {
        self.restart_deadline = None;
        let preserved: BTreeSet<Family> = peer_graceful_restart(peer_caps)
            .map(|gr| {
                gr.families
                    .iter()
                    .filter(|f| f.forwarding_state)
                    .map(|f| f.family)
                    .collect()
            })
            .unwrap_or_default();
        let (keep, sweep): (BTreeSet<Family>, BTreeSet<Family>) =
            self.stale.iter().partition(|f| preserved.contains(f));
        self.stale = keep;
        if !self.stale.is_empty() {
            self.stale_deadline = Some(now + secs(stale_path_time));
        }
        sweep.into_iter().map(SessionEvent::SweepStale).collect()
    }

    /// End-of-RIB received for `family`: sweep what is still stale.
    pub fn end_of_rib(&mut self, family: Family) -> Option<SessionEvent> {
        if !self.stale.remove(&family) {
            return None;
        }
        if self.stale.is_empty() {
            self.stale_deadline = None;
        }
        Some(SessionEvent::SweepStale(family))
    }

    /// The next timer deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.restart_deadline, self.stale_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run the timers that expired by `now`: sweep every stale family.
    pub fn expire(&mut self, now: Instant) -> Vec<SessionEvent> {
        if self.deadline().is_none_or(|d| d > now) {
            return Vec::new();
        }
        self.restart_deadline = None;
        self.stale_deadline = None;
        std::mem::take(&mut self.stale)
            .into_iter()
            .map(SessionEvent::SweepStale)
            .collect()
    }

    /// Families currently held stale.
    pub fn stale_families(&self) -> impl Iterator<Item = Family> + '_ {
        self.stale.iter().copied()
    }
}

/// Restarting speaker (RFC 4724 §4.1): best-path selection and
/// advertisement wait until every peer that advertised graceful restart has
/// sent End-of-RIB for each of its families, or until the selection
/// deferral timer runs out. The RIB owner feeds it the session events and
/// starts selection when [`SelectionDeferral::is_over`] says so.
#[derive(Debug)]
pub struct SelectionDeferral {
    /// Per peer, the families whose End-of-RIB is still awaited; `None`
    /// while the session is not yet up.
    waiting: BTreeMap<IpAddr, Option<BTreeSet<Family>>>,
    deadline: Instant,
}

impl SelectionDeferral {
    /// Defer selection for the configured `peers` until `now + time`
    /// seconds at most.
    pub fn new(peers: impl IntoIterator<Item = IpAddr>, now: Instant, time: u16) -> Self {
        SelectionDeferral {
            waiting: peers.into_iter().map(|p| (p, None)).collect(),
            deadline: now + secs(time),
        }
    }

    /// The selection deferral timer.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Account for one event of `peer`.
    pub fn on_event(&mut self, peer: IpAddr, event: &SessionEvent) {
        let Some(entry) = self.waiting.get_mut(&peer) else {
            return;
        };
        match event {
            SessionEvent::Established(n) => {
                match peer_graceful_restart(&n.peer_capabilities) {
                    // A peer without graceful restart sends no End-of-RIB
                    // we could rely on: do not wait for it.
                    None => {
                        self.waiting.remove(&peer);
                    }
                    Some(gr) => {
                        let mut families: BTreeSet<Family> =
                            gr.families.iter().map(|f| f.family).collect();
                        if families.is_empty() {
                            families.insert(Family::IPV4_UNICAST);
                        }
                        *entry = Some(families);
                    }
                }
            }
            SessionEvent::EndOfRib(f) => {
                if let Some(families) = entry {
                    families.remove(f);
                    if families.is_empty() {
                        self.waiting.remove(&peer);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether selection may run: every awaited End-of-RIB came, or the
    /// deadline passed. Peers not yet Established are waited for until the
    /// deadline.
    pub fn is_over(&self, now: Instant) -> bool {
        self.waiting.is_empty() || now >= self.deadline
    }
}

fn secs(s: u16) -> Duration {
    Duration::from_secs(u64::from(s))
}
