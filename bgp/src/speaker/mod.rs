//! The BGP speaker: listeners, outgoing connections and one session task
//! per configured peer.
//!
//! ```text
//!   TcpListener (per address) --accept--> peer known? --no--> close, count
//!                                             | yes
//!                                             v   (bounded, per peer)
//!   TcpConnector (source address, MD5, TTL) --> session task (bgp::session)
//!                                                 |  ^
//!                         PeerEvent (one bounded  |  | SessionCommand (bounded,
//!                         channel for all peers)  v  |  one per peer)
//!                                            RIB owner (the agent)
//! ```
//!
//! Accepted sockets get the peer's options (GTSM, TTL, `TCP_NODELAY`,
//! MSS); TCP-MD5 keys are set on every listening socket for each keyed
//! peer's address before any connection comes in.

pub mod socket;
mod sockopt;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use socket::{listen, TcpConnector, TransportOptions, BGP_PORT};
pub use sockopt::{set_min_ttl, set_tcp_md5sig, MAX_MD5_KEY_LEN};

use crate::fsm::{ConfigError, State};
use crate::session::{
    spawn_session, MessageStats, PeerEvent, SessionCommand, SessionConfig, SessionHandle,
};

/// One configured peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Session settings; `session.peer` is the address connections go to and
    /// are accepted from, `session.fsm.passive` makes it passive-only.
    pub session: SessionConfig,
    /// The peer's port (default 179).
    pub port: u16,
    /// Source address of outgoing connections.
    pub local_address: Option<IpAddr>,
    /// Socket options.
    pub transport: TransportOptions,
}

impl PeerConfig {
    /// A peer on port 179 with default transport options.
    pub fn new(session: SessionConfig) -> Self {
        PeerConfig {
            session,
            port: BGP_PORT,
            local_address: None,
            transport: TransportOptions::default(),
        }
    }

    fn ebgp(&self) -> bool {
        self.session.fsm.local_as != self.session.fsm.peer_as
    }
}

/// The speaker's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpeakerConfig {
    /// Addresses to listen on (port 0: an ephemeral port, see
    /// [`Speaker::local_addrs`]). Empty: no listener (active-only).
    pub listen: Vec<SocketAddr>,
    /// The peers.
    pub peers: Vec<PeerConfig>,
    /// Size of the event channel shared by all peers (default 1024 when 0).
    pub event_queue: usize,
}

/// Why the speaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// A peer's FSM settings are refused.
    #[error("peer {peer}: {source}")]
    Config {
        /// The peer.
        peer: IpAddr,
        /// What is wrong.
        source: ConfigError,
    },
    /// Two peers with one address.
    #[error("peer {0} configured twice")]
    DuplicatePeer(IpAddr),
    /// A TCP-MD5 key over 80 octets.
    #[error("peer {0}: TCP-MD5 key longer than {MAX_MD5_KEY_LEN} octets")]
    Md5KeyTooLong(IpAddr),
    /// A listening socket could not be set up.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
}

struct PeerEntry {
    incoming: mpsc::Sender<TcpStream>,
    transport: TransportOptions,
    ebgp: bool,
}

/// The configured peers, shared with the accept loops; changed by
/// [`Speaker::add_peer`] and [`Speaker::remove_peer`].
type Peers = Arc<RwLock<HashMap<IpAddr, PeerEntry>>>;

/// A running speaker. Dropping it stops the listeners; the session tasks
/// end with a Cease (Peer De-configured) once their command senders are
/// dropped too.
#[derive(Debug)]
pub struct Speaker {
    local_addrs: Vec<SocketAddr>,
    commands: HashMap<IpAddr, mpsc::Sender<SessionCommand>>,
    states: HashMap<IpAddr, watch::Receiver<State>>,
    stats: HashMap<IpAddr, Arc<MessageStats>>,
    tasks: Vec<JoinHandle<()>>,
    /// Per peer: fire to end its session with Cease / Peer De-configured.
    removers: HashMap<IpAddr, oneshot::Sender<()>>,
    listeners: Vec<JoinHandle<()>>,
    /// The listening sockets (TCP-MD5 keys of peers added later).
    sockets: Vec<Arc<TcpListener>>,
    peers: Peers,
    events: mpsc::Sender<PeerEvent>,
    rejected: Arc<AtomicU64>,
}

impl std::fmt::Debug for PeerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerEntry")
            .field("ebgp", &self.ebgp)
            .finish()
    }
}

impl Speaker {
    /// Bind the listeners and start every peer's session task. Returns the
    /// speaker and the receiver of all peers' events.
    pub async fn start(
        config: SpeakerConfig,
    ) -> Result<(Speaker, mpsc::Receiver<PeerEvent>), SpeakerError> {
        let queue = if config.event_queue == 0 {
            1024
        } else {
            config.event_queue
        };
        let (events_tx, events) = mpsc::channel(queue);
        // TTL 255 on the listeners when any peer uses GTSM (RFC 5082);
        // TCP-MD5 keys go on them peer by peer in `add_peer`.
        let gtsm = config.peers.iter().any(|p| p.transport.gtsm_hops.is_some());
        let mut sockets = Vec::new();
        let mut local_addrs = Vec::new();
        for &addr in &config.listen {
            let l =
                listen(addr, &[], gtsm).map_err(|source| SpeakerError::Listen { addr, source })?;
            local_addrs.push(
                l.local_addr()
                    .map_err(|source| SpeakerError::Listen { addr, source })?,
            );
            sockets.push(Arc::new(l));
        }
        let mut speaker = Speaker {
            local_addrs,
            commands: HashMap::new(),
            states: HashMap::new(),
            stats: HashMap::new(),
            tasks: Vec::new(),
            removers: HashMap::new(),
            listeners: Vec::new(),
            sockets,
            peers: Arc::new(RwLock::new(HashMap::new())),
            events: events_tx,
            rejected: Arc::new(AtomicU64::new(0)),
        };
        for p in config.peers {
            speaker.add_peer(p)?;
        }
        // Accept only once every peer (and its key) is known.
        speaker.listeners = speaker
            .sockets
            .iter()
            .map(|l| {
                tokio::spawn(accept_loop(
                    Arc::clone(l),
                    Arc::clone(&speaker.peers),
                    Arc::clone(&speaker.rejected),
                ))
            })
            .collect();
        Ok((speaker, events))
    }

    /// The bound listening addresses (with the ephemeral port filled in).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The command sender of a peer.
    pub fn commands(&self, peer: IpAddr) -> Option<&mpsc::Sender<SessionCommand>> {
        self.commands.get(&peer)
    }

    /// A peer's current FSM state.
    pub fn state(&self, peer: IpAddr) -> Option<State> {
        self.states.get(&peer).map(|s| *s.borrow())
    }

    /// Watch a peer's FSM state.
    pub fn watch_state(&self, peer: IpAddr) -> Option<watch::Receiver<State>> {
        self.states.get(&peer).cloned()
    }

    /// Start a peer while the speaker runs (a configuration reload): its
    /// TCP-MD5 key goes on the listening sockets, its session task starts.
    /// No other session is touched. Returns the peer's command channel and
    /// state.
    #[allow(clippy::type_complexity)]
    pub fn add_peer(
        &mut self,
        p: PeerConfig,
    ) -> Result<(mpsc::Sender<SessionCommand>, watch::Receiver<State>), SpeakerError> {
        let peer = p.session.peer;
        if self.commands.contains_key(&peer) {
            return Err(SpeakerError::DuplicatePeer(peer));
        }
        if let Some(k) = &p.transport.md5_key {
            if k.len() > MAX_MD5_KEY_LEN {
                return Err(SpeakerError::Md5KeyTooLong(peer));
            }
            for (l, addr) in self.sockets.iter().zip(&self.local_addrs) {
                if addr.is_ipv6() == peer.is_ipv6() {
                    set_tcp_md5sig(&**l, peer, k).map_err(|source| SpeakerError::Listen {
                        addr: *addr,
                        source,
                    })?;
                }
            }
        }
        let ebgp = p.ebgp();
        let connector = TcpConnector {
            remote: SocketAddr::new(peer, p.port),
            local: p.local_address,
            options: p.transport.clone(),
            ebgp,
        };
        let SessionHandle {
            commands,
            incoming,
            state,
            deconfigure,
            task,
            stats,
        } = spawn_session(p.session, connector, self.events.clone())
            .map_err(|source| SpeakerError::Config { peer, source })?;
        if let Ok(mut peers) = self.peers.write() {
            peers.insert(
                peer,
                PeerEntry {
                    incoming,
                    transport: p.transport,
                    ebgp,
                },
            );
        }
        self.commands.insert(peer, commands.clone());
        self.states.insert(peer, state.clone());
        self.stats.insert(peer, stats);
        self.removers.insert(peer, deconfigure);
        self.tasks.push(task);
        Ok((commands, state))
    }

    /// Stop a peer while the speaker runs: its connections are no longer
    /// accepted, its TCP-MD5 key is removed, and its session ends at once
    /// with Cease / Peer De-configured (RFC 4486 §4), whoever still holds
    /// its command channel. Returns whether it was configured.
    pub fn remove_peer(&mut self, peer: IpAddr) -> bool {
        let keyed = self
            .peers
            .write()
            .ok()
            .and_then(|mut peers| peers.remove(&peer))
            .map(|e| e.transport.md5_key.is_some());
        if keyed == Some(true) {
            for (l, addr) in self.sockets.iter().zip(&self.local_addrs) {
                if addr.is_ipv6() == peer.is_ipv6() {
                    // An empty key deletes the peer's key (RFC 2385 keys
                    // are per address).
                    let _ = set_tcp_md5sig(&**l, peer, &[]);
                }
            }
        }
        if let Some(r) = self.removers.remove(&peer) {
            let _ = r.send(());
        }
        self.states.remove(&peer);
        self.stats.remove(&peer);
        self.commands.remove(&peer).is_some()
    }

    /// A peer's message counters.
    pub fn stats(&self, peer: IpAddr) -> Option<Arc<MessageStats>> {
        self.stats.get(&peer).cloned()
    }

    /// Connections refused because they came from no configured peer.
    pub fn rejected_connections(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Planned stop (RFC 4724 §4.1): every peer with graceful restart
    /// closes without a NOTIFICATION, the others with Cease / Administrative
    /// Shutdown; waits for the session tasks to end.
    pub async fn stop_graceful(mut self) {
        for l in self.listeners.drain(..) {
            l.abort();
        }
        for c in self.commands.values() {
            let _ = c.send(SessionCommand::StopGraceful).await;
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        for l in &self.listeners {
            l.abort();
        }
    }
}

/// Accept connections; hand each to its peer's session task, or close it
/// at once when its source is no configured peer.
async fn accept_loop(listener: Arc<TcpListener>, peers: Peers, rejected: Arc<AtomicU64>) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = from.ip().to_canonical();
        let guard = match peers.read() {
            Ok(g) => g,
            Err(_) => return,
        };
        let Some(p) = guard.get(&ip) else {
            drop(guard);
            rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%from, "connection from an unconfigured address refused");
            drop(stream);
            continue;
        };
        if let Err(e) = p.transport.apply(&stream, from.is_ipv6(), p.ebgp) {
            tracing::warn!(%from, error = %e, "socket options on accepted connection");
            continue;
        }
        if p.incoming.try_send(stream).is_err() {
            tracing::debug!(%from, "peer busy, connection closed");
        }
    }
}
