//! The running agent: the speaker, the RIB task, the FIB writer and the
//! local API, wired together.
//!
//! ```text
//!                     PeerEvent (bounded, all peers)
//!   speaker sessions ---------------------------------> RIB task ---- RouteChange ---> FIB writer
//!   (bgp::speaker)   <--------------------------------- (owns Rib)      (unbounded,     (own thread,
//!                     SessionCommand (bounded per peer,   ^   |          coalesced)      netlink)
//!                     Outbox holds what does not fit)     |   |
//!                                          ApiRequest     |   | Event (broadcast)
//!                                   (bounded, one-shot    |   v
//!                                    replies)        API server (Unix socket) <-- twillctl
//! ```
//!
//! Exit: SIGTERM/SIGINT stop the sessions gracefully (no Cease where
//! graceful restart is on, RFC 4724 §4.1) and leave the kernel routes in
//! place unless `fib.keep_on_exit` is off or `--remove-routes-on-exit` is
//! given.

pub mod neighbors;
pub mod outbox;
pub mod render;
pub mod rib_task;

use std::net::IpAddr;
use std::time::Duration;

use bgp::speaker::{Speaker, SpeakerError};
use ribs::rib::{AllReachable, NextHopResolver};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn};

use crate::api::model::Event;
use crate::api::request::ApiRequest;
use crate::config::convert::RestartFlags;
use crate::config::{ConfigChange, NextHopCheck, ValidConfig};
use crate::fib::{ExitMode, FibConfig, FibError, FibHandle};
use crate::metrics::Metrics;
use crate::reach::{KernelResolver, ReachConfig, ReachError};

pub use rib_task::{Control, NewSession, RibTask, RibTaskIo, Startup};

/// How the agent runs, beyond its configuration file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remove our kernel routes on exit, whatever `fib.keep_on_exit` says.
    pub remove_routes_on_exit: bool,
    /// Longest wait for the peers' End-of-RIB after a restart (RFC 4724
    /// §4.1 selection deferral), in seconds.
    pub selection_deferral: u16,
    /// `/readyz` turns ready after this long even without every End-of-RIB.
    pub readiness_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            remove_routes_on_exit: false,
            selection_deferral: 120,
            readiness_timeout: Duration::from_secs(120),
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The kernel routing table could not be opened.
    #[error("FIB: {0}")]
    Fib(#[from] FibError),
    /// The BGP speaker could not start.
    #[error("BGP: {0}")]
    Speaker(#[from] SpeakerError),
    /// The next-hop check could not read the kernel's routes.
    #[error(transparent)]
    Reach(#[from] ReachError),
}

/// Why a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReconfigureError {
    /// The change resets every session (local AS, router id, ...) or
    /// changes the listening sockets or the FIB settings: restart the
    /// agent.
    #[error(
        "the change (global {:?}, listen {}, fib {}) needs a restart of the agent",
        .0.reset_all, .0.listen, .0.fib
    )]
    NeedsRestart(ConfigChange),
    /// The agent is stopping.
    #[error("the agent is stopping")]
    Stopped,
}

/// Forward a session's state changes to the RIB task.
fn forward_states(
    peer: IpAddr,
    mut w: watch::Receiver<bgp::fsm::State>,
    tx: mpsc::Sender<(IpAddr, bgp::fsm::State)>,
) {
    tokio::spawn(async move {
        loop {
            let s = *w.borrow_and_update();
            if tx.send((peer, s)).await.is_err() {
                return;
            }
            if w.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The running agent's handles.
#[derive(Debug)]
pub struct Agent {
    /// API requests go here.
    pub api: mpsc::Sender<ApiRequest>,
    /// `twillctl watch` subscribes here.
    pub events: broadcast::Sender<Event>,
    /// Ready (`/readyz`).
    pub ready: watch::Receiver<bool>,
    /// The bound BGP listening addresses.
    pub listening: Vec<std::net::SocketAddr>,
    speaker: Speaker,
    config: ValidConfig,
    control: mpsc::Sender<Control>,
    states: mpsc::Sender<(IpAddr, bgp::fsm::State)>,
    stop: watch::Sender<bool>,
    rib_task: tokio::task::JoinHandle<Option<FibHandle>>,
    exit_mode: ExitMode,
}

impl Agent {
    /// Start everything for `config`.
    pub async fn start(
        config: ValidConfig,
        options: Options,
        metrics: Metrics,
    ) -> Result<Agent, AgentError> {
        let c = config.config();
        let fib = if c.fib.install {
            let fc = FibConfig {
                protocol: c.fib.protocol,
                table: c.fib.table,
                ..FibConfig::default()
            };
            Some(FibHandle::spawn(fc)?)
        } else {
            None
        };
        let (resolver, reach): (Box<dyn NextHopResolver>, _) = match c.fib.next_hop_check() {
            NextHopCheck::Kernel => {
                let r = KernelResolver::spawn(ReachConfig {
                    protocol: c.fib.protocol,
                    table: c.fib.table,
                })?;
                let changed = r.changed();
                (Box::new(r), Some(changed))
            }
            NextHopCheck::None => (Box::new(AllReachable), None),
        };
        // Routes of ours in the kernel at start: this start follows a
        // restart that kept forwarding state (RFC 4724 §3 R and F bits).
        let kept = match &fib {
            Some(f) => f.view().await.map(|v| v.entries.len()).unwrap_or(0),
            None => 0,
        };
        let restart = RestartFlags {
            restarting: kept > 0,
            forwarding_preserved: kept > 0,
        };
        if kept > 0 {
            info!(
                routes = kept,
                "restart: kernel routes kept from the previous run"
            );
        }
        let exit_mode = if options.remove_routes_on_exit || !c.fib.keep_on_exit {
            ExitMode::RemoveRoutes
        } else {
            ExitMode::LeaveRoutes
        };
        let (speaker, peer_events) = Speaker::start(config.speaker_config(restart)).await?;
        let running = config.clone();
        let listening = speaker.local_addrs().to_vec();
        let (events, _) = broadcast::channel(1024);
        let (ready_tx, ready) = watch::channel(false);
        let (api, api_rx) = mpsc::channel(64);
        let (stop, stop_rx) = watch::channel(false);
        let (state_tx, states) = mpsc::channel(256);
        let (control, control_rx) = mpsc::channel(4);
        let addresses: Vec<IpAddr> = c.neighbors.iter().map(|n| n.address).collect();
        let mut task = RibTask::new(
            config,
            fib,
            events.clone(),
            ready_tx,
            Startup {
                restarting: restart.restarting,
                selection_deferral: options.selection_deferral,
                readiness_timeout: options.readiness_timeout,
                resolver,
            },
            metrics,
        );
        for a in addresses {
            if let Some(cmds) = speaker.commands(a) {
                task.add_session(NewSession {
                    peer: a,
                    commands: cmds.clone(),
                    stats: speaker.stats(a),
                });
            }
            if let Some(w) = speaker.watch_state(a) {
                forward_states(a, w, state_tx.clone());
            }
        }
        let io = RibTaskIo {
            control: control_rx,
            events: peer_events,
            states,
            api: api_rx,
            stop: stop_rx,
            reach,
        };
        let rib_task = tokio::spawn(task.run(io));
        Ok(Agent {
            api,
            events,
            ready,
            listening,
            speaker,
            config: running,
            control,
            states: state_tx,
            stop,
            rib_task,
            exit_mode,
        })
    }

    /// The running configuration.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Apply a new configuration, changing only what differs (a SIGHUP
    /// reload, or a change of the Kubernetes resources): neighbours added
    /// or removed start or stop their own session only; a neighbour whose
    /// session parameters changed (AS, address, password, families, ...)
    /// is reset alone; a policy change is applied by soft reconfiguration
    /// or ROUTE-REFRESH, without a reset. A change of the local AS, router
    /// id, cluster id or decision options, of the listen addresses or of
    /// the FIB settings is refused ([`ReconfigureError::NeedsRestart`]):
    /// the caller restarts the agent instead.
    pub async fn reconfigure(
        &mut self,
        new: ValidConfig,
    ) -> Result<ConfigChange, ReconfigureError> {
        let change = crate::config::diff(&self.config, &new);
        if change.is_empty() {
            return Ok(change);
        }
        // Every session resets (AS, router id, ...), or the listening
        // sockets or the kernel table change: a restart does it, with
        // graceful restart keeping the routes meanwhile.
        if !change.reset_all.is_empty() || change.fib || change.listen {
            return Err(ReconfigureError::NeedsRestart(change));
        }
        let reset: Vec<IpAddr> = change.neighbors_reset.iter().map(|r| r.address).collect();
        // Sessions of removed (and reset) neighbours end first; then the
        // RIB task applies the change; then the new sessions start, so
        // that their first events find their neighbours known.
        for addr in change.neighbors_removed.iter().chain(&reset) {
            self.speaker.remove_peer(*addr);
        }
        let (done, applied) = tokio::sync::oneshot::channel();
        self.control
            .send(Control::Reconfigure {
                config: Box::new(new.clone()),
                change: Box::new(change.clone()),
                done,
            })
            .await
            .map_err(|_| ReconfigureError::Stopped)?;
        applied.await.map_err(|_| ReconfigureError::Stopped)?;
        let mut sessions = Vec::new();
        for &addr in change.neighbors_added.iter().chain(&reset) {
            let Some(pc) = new.speaker_peer(addr, RestartFlags::default()) else {
                continue;
            };
            match self.speaker.add_peer(pc) {
                Ok((commands, state)) => {
                    forward_states(addr, state, self.states.clone());
                    sessions.push(NewSession {
                        peer: addr,
                        commands,
                        stats: self.speaker.stats(addr),
                    });
                }
                Err(e) => warn!(neighbor = %addr, "cannot start the session: {e}"),
            }
        }
        if !sessions.is_empty() {
            self.control
                .send(Control::Sessions(sessions))
                .await
                .map_err(|_| ReconfigureError::Stopped)?;
        }
        self.config = new;
        Ok(change)
    }

    /// Stop: sessions closed gracefully, routes left or removed.
    pub async fn stop(self) {
        info!("stopping");
        self.speaker.stop_graceful().await;
        let _ = self.stop.send(true);
        match self.rib_task.await {
            Ok(Some(fib)) => {
                if let Err(e) = fib.shutdown(self.exit_mode).await {
                    warn!("FIB: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => warn!("RIB task: {e}"),
        }
        info!(exit_mode = ?self.exit_mode, "stopped");
    }
}
