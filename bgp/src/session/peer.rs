//! The task of one configured peer: it owns the FSM(s), the timers and the
//! connection(s), and nothing else touches them.
//!
//! ```text
//!  Connector --connect attempt--+      listener --accepted stream--+
//!                               v                                  v
//!            +----------------------- peer task ----------------------+
//!  commands  |  main slot: Fsm + timers + Connection                  |  PeerEvent
//!  --------> |  other slot (a colliding connection, RFC 4271 §6.8)    | ---------->
//!  (bounded) |  graceful restart Helper (RFC 4724 §4.2)               |  (bounded)
//!            +--------------------------------------------------------+
//!                 ^ Inbound (frames per read, bounded) | Bytes (bounded)
//!            reader task <--- stream ---> writer task
//! ```

use std::io;
use std::net::IpAddr;

use bytes::BufMut;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use super::connection::{Connection, Connector, Inbound, QueueSizes};
use super::events::{PeerEvent, SessionCommand, SessionEvent};
use super::graceful_restart::{peer_graceful_restart, GracefulRestartConfig, Helper};
use crate::fsm::{
    resolve_collision, Action, Config, ConfigError, ConnectionDirection, DownReason, Event, Fsm,
    Keep, Negotiated, State, Timer, LARGE_HOLD_TIME,
};
use std::sync::Arc;

use super::stats::MessageStats;
use crate::wire::error::{code, open_subcode};
use crate::wire::notification::cease;
use crate::wire::{
    decode_message, Capability, Context, Message, MessageType, Notification, RouteRefresh,
    RouteRefreshSubtype, Update,
};

/// An Established session younger than this that sees the peer's OPEN on a
/// second connection treats it as a connection collision (RFC 4271 §6.8)
/// rather than a restart of the peer (RFC 4724 §4.2), unless the OPEN has
/// the Restart State bit.
const YOUNG_SESSION: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a session needs to know about its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The peer's address: names it in every [`PeerEvent`].
    pub peer: IpAddr,
    /// RFC 4271 §8.1.1 session attributes, AS numbers, capabilities.
    pub fsm: Config,
    /// Graceful restart (RFC 4724): our capability and helper timers. The
    /// helper role works for any peer that advertises the capability; this
    /// adds our own capability to the OPEN.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Channel sizes of each connection.
    pub queues: QueueSizes,
}

impl SessionConfig {
    /// A session with the FSM's defaults, no graceful restart.
    pub fn new(peer: IpAddr, fsm: Config) -> Self {
        SessionConfig {
            peer,
            fsm,
            graceful_restart: None,
            queues: QueueSizes::default(),
        }
    }

    /// The FSM configuration, with our Graceful Restart capability added.
    fn fsm_config(&self) -> Config {
        let mut c = self.fsm.clone();
        if let Some(gr) = &self.graceful_restart {
            if !c
                .capabilities
                .iter()
                .any(|c| matches!(c, Capability::GracefulRestart(_)))
            {
                c.capabilities.push(gr.capability());
            }
        }
        c
    }

    fn stale_path_time(&self) -> u16 {
        self.graceful_restart
            .as_ref()
            .map_or(super::graceful_restart::DEFAULT_STALE_PATH_TIME, |g| {
                g.stale_path_time
            })
    }
}

/// The other ends of a running session task.
#[derive(Debug)]
pub struct SessionHandle<S> {
    /// Commands from the RIB owner (bounded).
    pub commands: mpsc::Sender<SessionCommand>,
    /// Accepted connections from this peer (the listener's side; bounded).
    pub incoming: mpsc::Sender<S>,
    /// The state of the session's main FSM.
    pub state: watch::Receiver<State>,
    /// Send `()` to remove the peer: Cease / Peer De-configured (RFC 4486
    /// §4), then the task ends. Dropping it does nothing.
    pub deconfigure: oneshot::Sender<()>,
    /// The task; it ends after [`SessionCommand::StopGraceful`] or when
    /// `commands` is dropped.
    pub task: JoinHandle<()>,
    /// Messages sent and received, by type.
    pub stats: Arc<MessageStats>,
}

/// Start the task of one peer; it starts the FSM at once (ManualStart,
/// passive when `config.fsm.passive`). Needs a tokio runtime.
pub fn spawn_session<C: Connector>(
    config: SessionConfig,
    connector: C,
    events: mpsc::Sender<PeerEvent>,
) -> Result<SessionHandle<C::Stream>, ConfigError> {
    let template = Fsm::new(config.fsm_config())?;
    let (commands_tx, commands) = mpsc::channel(64);
    let (incoming_tx, incoming) = mpsc::channel(4);
    let (connect_tx, connect_rx) = mpsc::channel(1);
    let (state_tx, state) = watch::channel(State::Idle);
    let (deconfigure, deconfigure_rx) = oneshot::channel();
    let stats = Arc::new(MessageStats::default());
    let task = PeerTask {
        stats: Arc::clone(&stats),
        deconfigure: Some(deconfigure_rx),
        main: Slot::new(template.clone()),
        template,
        other: None,
        config,
        connector,
        attempt: None,
        attempt_id: 0,
        connect_tx,
        connect_rx,
        incoming,
        commands,
        events,
        helper: Helper::default(),
        stopped: false,
        restart: false,
        exit: false,
        state_tx,
    };
    let task = tokio::spawn(task.run());
    Ok(SessionHandle {
        commands: commands_tx,
        incoming: incoming_tx,
        state,
        deconfigure,
        task,
        stats,
    })
}

const TIMERS: [Timer; 5] = [
    Timer::ConnectRetry,
    Timer::Hold,
    Timer::Keepalive,
    Timer::DelayOpen,
    Timer::IdleHold,
];

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
        Timer::DelayOpen => 3,
        Timer::IdleHold => 4,
    }
}

fn expiry(t: Timer) -> Event {
    match t {
        Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
        Timer::Hold => Event::HoldTimerExpires,
        Timer::Keepalive => Event::KeepaliveTimerExpires,
        Timer::DelayOpen => Event::DelayOpenTimerExpires,
        Timer::IdleHold => Event::IdleHoldTimerExpires,
    }
}

/// One FSM with its timers and connection.
#[derive(Debug)]
struct Slot {
    fsm: Fsm,
    timers: [Option<Instant>; 5],
    conn: Option<Connection>,
    /// Context for what we receive and what we send (defaults until
    /// Established).
    decode: Context,
    encode: Context,
    /// Set while Established.
    negotiated: Option<Box<Negotiated>>,
    /// When the slot reached Established.
    established_at: Option<Instant>,
    pending_update: Option<Update>,
    pending_refresh: Option<RouteRefresh>,
}

impl Slot {
    fn new(fsm: Fsm) -> Self {
        Slot {
            fsm,
            timers: [None; 5],
            conn: None,
            decode: Context::default(),
            encode: Context::default(),
            negotiated: None,
            established_at: None,
            pending_update: None,
            pending_refresh: None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Main,
    Other,
}

impl Which {
    fn opposite(self) -> Which {
        match self {
            Which::Main => Which::Other,
            Which::Other => Which::Main,
        }
    }
}

struct PeerTask<C: Connector> {
    stats: Arc<MessageStats>,
    config: SessionConfig,
    connector: C,
    /// A fresh FSM in Idle, cloned for every new slot.
    template: Fsm,
    main: Slot,
    other: Option<Slot>,
    attempt: Option<JoinHandle<()>>,
    attempt_id: u64,
    connect_tx: mpsc::Sender<(u64, io::Result<C::Stream>)>,
    connect_rx: mpsc::Receiver<(u64, io::Result<C::Stream>)>,
    incoming: mpsc::Receiver<C::Stream>,
    commands: mpsc::Receiver<SessionCommand>,
    events: mpsc::Sender<PeerEvent>,
    helper: Helper,
    /// Stopped by a command: no automatic restart.
    stopped: bool,
    /// The main FSM went Idle: feed it AutomaticStart.
    restart: bool,
    exit: bool,
    state_tx: watch::Sender<State>,
    deconfigure: Option<oneshot::Receiver<()>>,
}

async fn recv_conn(conn: Option<&mut Connection>) -> Option<Inbound> {
    match conn {
        Some(c) => c.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A one-shot signal, pending once consumed.
async fn signalled(rx: &mut Option<oneshot::Receiver<()>>) -> bool {
    match rx {
        Some(r) => {
            let fired = r.await.is_ok();
            *rx = None;
            fired
        }
        None => std::future::pending().await,
    }
}

/// Wait until the queue has room (the reserved slot is released at once).
async fn room(tx: Option<&mpsc::Sender<bytes::Bytes>>) {
    if let Some(tx) = tx {
        let _ = tx.reserve().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl<C: Connector> PeerTask<C> {
    async fn run(mut self) {
        tracing::debug!(peer = %self.config.peer, "session task started");
        self.feed(Which::Main, Event::ManualStart, None).await;
        loop {
            self.settle().await;
            if self.exit {
                break;
            }
            let deadline = self.next_deadline();
            let established = self.main.negotiated.is_some();
            // Take a command only when it can be written at once: a slow
            // peer pushes back on the RIB owner.
            let full = match &self.main.conn {
                Some(c) if established && c.tx.capacity() == 0 => Some(c.tx.clone()),
                _ => None,
            };
            let accept_commands = !established || full.is_none();
            tokio::select! {
                biased;
                _ = sleep_until(deadline) => self.timers().await,
                m = recv_conn(self.main.conn.as_mut()) => self.inbound(Which::Main, m).await,
                m = recv_conn(self.other.as_mut().and_then(|o| o.conn.as_mut())) => {
                    self.inbound(Which::Other, m).await
                }
                Some((id, r)) = self.connect_rx.recv() => self.connected(id, r).await,
                Some(s) = self.incoming.recv() => self.accepted(s).await,
                removed = signalled(&mut self.deconfigure) => {
                    if removed {
                        self.command(None).await;
                    }
                }
                c = self.commands.recv(), if accept_commands => self.command(c).await,
                // The writer made room: take commands again.
                _ = room(full.as_ref()), if full.is_some() => {}
            }
        }
        if let Some(a) = self.attempt.take() {
            a.abort();
        }
        tracing::debug!(peer = %self.config.peer, "session task ended");
    }

    fn slot(&mut self, w: Which) -> Option<&mut Slot> {
        match w {
            Which::Main => Some(&mut self.main),
            Which::Other => self.other.as_mut(),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.main.next_deadline(),
            self.other.as_ref().and_then(Slot::next_deadline),
            self.helper.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    async fn emit(&mut self, event: SessionEvent) {
        let ev = PeerEvent {
            peer: self.config.peer,
            event,
        };
        if self.events.send(ev).await.is_err() {
            tracing::debug!(peer = %self.config.peer, "event receiver gone");
        }
    }

    /// After each event: drop a dead colliding slot, promote the survivor of
    /// a collision, restart the FSM after a failure.
    async fn settle(&mut self) {
        if self
            .other
            .as_ref()
            .is_some_and(|o| o.fsm.state() == State::Idle)
        {
            self.other = None;
        }
        if self.main.fsm.state() == State::Idle && self.main.conn.is_none() {
            if let Some(o) = self.other.take() {
                self.main = o;
                self.restart = false;
                if let Some(a) = self.attempt.take() {
                    a.abort();
                }
            }
        }
        if self.restart && !self.stopped && self.main.fsm.state() == State::Idle {
            self.restart = false;
            self.feed(Which::Main, Event::AutomaticStart, None).await;
        }
        self.state_tx.send_replace(self.main.fsm.state());
    }

    /// Run one FSM event on a slot and perform its actions.
    /// `notification`: replaces the NOTIFICATION the FSM sends (a shutdown
    /// communication for ManualStop, RFC 9003).
    async fn feed(&mut self, w: Which, event: Event, notification: Option<Notification>) {
        let Some(slot) = self.slot(w) else { return };
        tracing::trace!(?w, state = ?slot.fsm.state(), ?event, "fsm event");
        let actions = slot.fsm.handle(event);
        for a in actions {
            self.perform(w, a, notification.as_ref()).await;
        }
    }

    async fn perform(&mut self, w: Which, action: Action, replace: Option<&Notification>) {
        let peer = self.config.peer;
        match action {
            Action::InitiateTcpConnection => self.initiate(),
            Action::DropTcpConnection => {
                if w == Which::Main {
                    if let Some(a) = self.attempt.take() {
                        a.abort();
                    }
                }
                if let Some(slot) = self.slot(w) {
                    slot.conn = None;
                }
            }
            Action::SendOpen(open) => self.send(w, Message::Open(open)),
            Action::SendKeepalive => self.send(w, Message::Keepalive),
            Action::SendNotification(n) => {
                let n = replace.cloned().unwrap_or(n);
                tracing::info!(%peer, notification = %n, "sending NOTIFICATION");
                self.send(w, Message::Notification(n));
            }
            Action::StartTimer(t, secs) => {
                if let Some(slot) = self.slot(w) {
                    slot.timers[timer_index(t)] =
                        Some(Instant::now() + Duration::from_secs(u64::from(secs)));
                }
            }
            Action::StopTimer(t) => {
                if let Some(slot) = self.slot(w) {
                    slot.timers[timer_index(t)] = None;
                }
            }
            Action::SessionEstablished { negotiated } => {
                let stale_path_time = self.config.stale_path_time();
                // A connection attempt still in flight would only make a
                // second connection to a peer we are up with.
                if let Some(a) = self.attempt.take() {
                    a.abort();
                }
                let Some(slot) = self.slot(w) else { return };
                if let Some(c) = &slot.conn {
                    c.limit_to(&negotiated.decode);
                }
                slot.decode = negotiated.decode;
                slot.encode = negotiated.encode;
                let caps = negotiated.peer_capabilities.clone();
                slot.negotiated = Some(Box::new(negotiated.clone()));
                slot.established_at = Some(Instant::now());
                tracing::info!(%peer, peer_as = negotiated.peer_as, hold = negotiated.hold_time, "session established");
                self.emit(SessionEvent::Established(Box::new(negotiated)))
                    .await;
                for e in self
                    .helper
                    .session_up(&caps, stale_path_time, Instant::now())
                {
                    self.emit(e).await;
                }
            }
            Action::SessionDown { reason } => {
                let reason = match (replace, reason) {
                    (Some(n), DownReason::ManualStop) => DownReason::NotificationSent(n.clone()),
                    (_, r) => r,
                };
                let Some(slot) = self.slot(w) else { return };
                slot.conn = None;
                slot.timers = [None; 5];
                slot.decode = Context::default();
                slot.encode = Context::default();
                let was = slot.negotiated.take();
                if let Some(n) = was {
                    let retention =
                        self.helper
                            .session_down(&n.peer_capabilities, &reason, Instant::now());
                    tracing::info!(%peer, ?reason, ?retention, "session down");
                    self.emit(SessionEvent::Down { reason, retention }).await;
                } else {
                    tracing::debug!(%peer, ?reason, "connection closed");
                }
                if w == Which::Main {
                    self.restart = true;
                }
            }
            Action::ProcessUpdate => {
                let Some(u) = self.slot(w).and_then(|s| s.pending_update.take()) else {
                    return;
                };
                match u.end_of_rib_family() {
                    Some(f) => {
                        self.emit(SessionEvent::EndOfRib(f)).await;
                        if let Some(e) = self.helper.end_of_rib(f) {
                            self.emit(e).await;
                        }
                    }
                    None => self.emit(SessionEvent::Update(Box::new(u))).await,
                }
            }
            Action::ProcessRouteRefresh => {
                if let Some(r) = self.slot(w).and_then(|s| s.pending_refresh.take()) {
                    self.emit(SessionEvent::RouteRefresh(r)).await;
                }
            }
        }
    }

    /// Encode and queue a message on a slot's connection (see
    /// [`Self::queue`]).
    fn send(&mut self, w: Which, msg: Message) {
        let encode = match self.slot(w) {
            Some(slot) if slot.conn.is_some() => slot.encode,
            _ => return,
        };
        match msg.to_bytes(&encode) {
            Ok(b) => self.queue(w, b.freeze(), msg.message_type()),
            Err(e) => tracing::warn!(peer = %self.config.peer, error = %e, "cannot encode message"),
        }
    }

    /// Queue an encoded message of type `t` on a slot's connection and
    /// count it. Never waits: the queue has room for control messages
    /// unless the peer stopped reading, and then the message is dropped
    /// (its hold timer will tell).
    fn queue(&mut self, w: Which, b: bytes::Bytes, t: MessageType) {
        let peer = self.config.peer;
        let Some(conn) = self.slot(w).and_then(|s| s.conn.as_ref()) else {
            return;
        };
        if conn.tx.try_send(b).is_err() {
            tracing::warn!(%peer, msg = ?t, "send queue full, message dropped");
        } else {
            self.stats.count_sent(t);
        }
    }

    /// Start an outgoing connection attempt (aborting any older one).
    fn initiate(&mut self) {
        if let Some(a) = self.attempt.take() {
            a.abort();
        }
        self.attempt_id += 1;
        let id = self.attempt_id;
        let fut = self.connector.connect();
        let tx = self.connect_tx.clone();
        self.attempt = Some(tokio::spawn(async move {
            let r = fut.await;
            let _ = tx.send((id, r)).await;
        }));
    }

    /// An outgoing attempt finished.
    async fn connected(&mut self, id: u64, r: io::Result<C::Stream>) {
        if id != self.attempt_id {
            return;
        }
        self.attempt = None;
        match r {
            Err(e) => {
                tracing::debug!(peer = %self.config.peer, error = %e, "connect failed");
                if self.main.conn.is_none()
                    && matches!(self.main.fsm.state(), State::Connect | State::Active)
                {
                    self.feed(Which::Main, Event::TcpConnectionFails, None)
                        .await;
                }
            }
            Ok(s) => {
                self.attach(s, ConnectionDirection::Outbound, Event::TcpCrAcked)
                    .await
            }
        }
    }

    /// The listener handed over a connection from this peer.
    async fn accepted(&mut self, s: C::Stream) {
        if self.stopped {
            return; // dropped: closed at once
        }
        self.attach(
            s,
            ConnectionDirection::Inbound,
            Event::TcpConnectionConfirmed,
        )
        .await
    }

    /// Give a new connection to the main FSM when it has none, else to a
    /// second FSM (a collision, RFC 4271 §6.8); at most two.
    async fn attach(&mut self, s: C::Stream, dir: ConnectionDirection, event: Event) {
        let queues = self.config.queues;
        if self.main.fsm.state() == State::Idle {
            return; // Idle refuses connections (RFC 4271 §8.2.2)
        }
        if self.main.conn.is_none() {
            self.main.conn = Some(Connection::spawn(s, dir, queues));
            self.feed(Which::Main, event, None).await;
        } else if self.other.is_none() {
            let mut slot = Slot::new(self.template.clone());
            slot.conn = Some(Connection::spawn(s, dir, queues));
            self.other = Some(slot);
            self.feed(Which::Other, Event::ManualStartPassive, None)
                .await;
            self.feed(Which::Other, event, None).await;
        }
    }

    /// What a slot's reader reported.
    async fn inbound(&mut self, w: Which, m: Option<Inbound>) {
        let conn_id = |t: &mut Self| t.slot(w).and_then(|s| s.conn.as_ref()).map(|c| c.id);
        let Some(id) = conn_id(self) else { return };
        let event = match m {
            Some(Inbound::Frames(frames)) => {
                for b in frames {
                    // The rest of the batch belongs to a connection that
                    // is gone (dropped, or replaced after a collision).
                    if conn_id(self) != Some(id) {
                        return;
                    }
                    self.frame(w, b).await;
                }
                return;
            }
            None | Some(Inbound::Closed) => Event::TcpConnectionFails,
            Some(Inbound::HeaderError(e)) => Event::BgpHeaderErr(reset_notification(&e)),
        };
        self.feed(w, event, None).await;
    }

    /// One whole message from a slot's reader.
    async fn frame(&mut self, w: Which, b: bytes::Bytes) {
        // RFC 4271 §4.1: the type is octet 18 of the header.
        if let Some(t) = b.get(18).copied().and_then(MessageType::from_u8) {
            self.stats.count_received(t);
        }
        let Some(ctx) = self.slot(w).map(|s| s.decode) else {
            return;
        };
        let event = match decode_message(&b, &ctx) {
            Ok(Message::Open(o)) => return self.open_received(w, o).await,
            Ok(Message::Update(u)) => {
                if let Some(slot) = self.slot(w) {
                    slot.pending_update = Some(u);
                }
                Event::UpdateMsg
            }
            Ok(Message::Keepalive) => Event::KeepAliveMsg,
            Ok(Message::Notification(n)) => {
                tracing::info!(peer = %self.config.peer, notification = %n, "NOTIFICATION received");
                if n.code == code::OPEN_MESSAGE
                    && n.subcode == open_subcode::UNSUPPORTED_VERSION_NUMBER
                {
                    Event::NotifMsgVerErr
                } else {
                    Event::NotifMsg(n)
                }
            }
            Ok(Message::RouteRefresh(r)) => {
                // RFC 7313 §5: ignore a reserved subtype. RFC 2918 §4:
                // ignore a family we did not advertise.
                if matches!(r.subtype, RouteRefreshSubtype::Reserved(_))
                    || !advertised(&self.config.fsm.capabilities, r.family)
                {
                    return;
                }
                if let Some(slot) = self.slot(w) {
                    slot.pending_refresh = Some(r);
                }
                Event::RouteRefreshMsg
            }
            Err(e) => {
                let n = reset_notification(&e);
                tracing::info!(peer = %self.config.peer, error = %e.kind, field = e.field, offset = e.offset, "malformed message");
                let t = b.get(18).copied().and_then(MessageType::from_u8);
                match t {
                    _ if e.field.starts_with("header") => Event::BgpHeaderErr(n),
                    Some(MessageType::Open) => Event::BgpOpenMsgErr(n),
                    // RFC 4271 §6.4: no NOTIFICATION about a NOTIFICATION.
                    Some(MessageType::Notification) => Event::TcpConnectionFails,
                    _ => Event::UpdateMsgErr(n),
                }
            }
        };
        self.feed(w, event, None).await;
    }

    /// An OPEN arrived on slot `w`: first settle a collision with the other
    /// connection (RFC 4271 §6.8), then hand it to the FSM.
    async fn open_received(&mut self, w: Which, open: crate::wire::Open) {
        let local_id = self.config.fsm.local_id;
        let local_as = self.config.fsm.local_as;
        let other = w.opposite();
        let existing = self.slot(other).and_then(|s| {
            let dir = s.conn.as_ref()?.direction;
            Some((s.fsm.state(), dir, s.negotiated.clone(), s.established_at))
        });
        if let Some((state, dir, negotiated, since)) = existing {
            // Both speakers opened a connection at once and one of them
            // already went Established on one while the other's OPEN
            // arrives on the second: that is a collision still, not a
            // restart; settling it by the identifiers (below) gives both
            // sides the same survivor. A peer that restarted says so with
            // the R bit (RFC 4724 §3).
            let restarted =
                peer_graceful_restart(&open.capabilities).is_some_and(|gr| gr.restart_state);
            let young = since.is_some_and(|t| Instant::now().duration_since(t) < YOUNG_SESSION);
            if state == State::Established && (restarted || !young) {
                // RFC 4724 §4.2: a new connection from a peer that
                // advertised graceful restart, opened by the peer, means it
                // restarted: the old session is gone. Otherwise the
                // established session wins.
                let new_dir = self
                    .slot(w)
                    .and_then(|s| s.conn.as_ref())
                    .map(|c| c.direction);
                let gr = new_dir == Some(ConnectionDirection::Inbound)
                    && negotiated
                        .as_ref()
                        .is_some_and(|n| peer_graceful_restart(&n.peer_capabilities).is_some());
                if gr {
                    self.feed(other, Event::TcpConnectionFails, None).await;
                } else {
                    self.feed(w, Event::OpenCollisionDump, None).await;
                    return;
                }
            } else {
                let keep =
                    resolve_collision(local_id, open.bgp_identifier, local_as, open.asn(), dir);
                tracing::info!(peer = %self.config.peer, ?keep, existing = ?dir, "connection collision");
                match keep {
                    Keep::Existing => {
                        self.feed(w, Event::OpenCollisionDump, None).await;
                        return;
                    }
                    Keep::New => self.feed(other, Event::OpenCollisionDump, None).await,
                }
            }
        }
        self.feed(w, Event::BgpOpen(open), None).await;
    }

    /// Expired timers, in slot order.
    async fn timers(&mut self) {
        let now = Instant::now();
        for w in [Which::Main, Which::Other] {
            for t in TIMERS {
                let Some(slot) = self.slot(w) else { continue };
                let i = timer_index(t);
                if slot.timers[i].is_none_or(|d| d > now) {
                    continue;
                }
                // A message from the peer is already queued: it arrived in
                // time, so the Hold timer has not really expired.
                if t == Timer::Hold && slot.conn.as_ref().is_some_and(|c| !c.rx.is_empty()) {
                    let hold = slot.fsm.negotiated_hold_time().unwrap_or(LARGE_HOLD_TIME);
                    slot.timers[i] = Some(now + Duration::from_secs(u64::from(hold)));
                    continue;
                }
                slot.timers[i] = None;
                self.feed(w, expiry(t), None).await;
            }
        }
        for e in self.helper.expire(now) {
            self.emit(e).await;
        }
    }

    async fn command(&mut self, c: Option<SessionCommand>) {
        let peer = self.config.peer;
        let Some(c) = c else {
            // Removed, or the RIB owner is gone: the peer is de-configured.
            let n = Notification::new(code::CEASE, cease::PEER_DECONFIGURED, Vec::new());
            self.stop_all(n).await;
            self.exit = true;
            return;
        };
        tracing::debug!(%peer, command = ?c, "command");
        let established = self.main.negotiated.is_some();
        match c {
            SessionCommand::SendUpdate(u) if established => {
                self.send(Which::Main, Message::Update(*u))
            }
            SessionCommand::SendEncodedUpdate(b) if established => {
                self.queue(Which::Main, b, MessageType::Update)
            }
            SessionCommand::SendEndOfRib(f) if established => {
                self.send(Which::Main, Message::Update(Update::end_of_rib(f)))
            }
            SessionCommand::SendRouteRefresh(r) if established => {
                self.send(Which::Main, Message::RouteRefresh(r))
            }
            SessionCommand::SendUpdate(_)
            | SessionCommand::SendEncodedUpdate(_)
            | SessionCommand::SendEndOfRib(_)
            | SessionCommand::SendRouteRefresh(_) => {
                tracing::debug!(%peer, "not established: message dropped")
            }
            SessionCommand::Shutdown { communication } => {
                let n = Notification::cease_with_communication(
                    cease::ADMINISTRATIVE_SHUTDOWN,
                    &communication,
                );
                self.stopped = true;
                self.stop_all(n).await;
            }
            SessionCommand::Reset { communication } => {
                let n = Notification::cease_with_communication(
                    cease::ADMINISTRATIVE_RESET,
                    &communication,
                );
                self.stopped = false;
                self.stop_all(n).await;
            }
            SessionCommand::MaxPrefix { family, limit } => {
                // RFC 4486 §4: AFI (2), SAFI (1), upper bound (4).
                let mut data = Vec::with_capacity(7);
                data.put_u16(family.afi);
                data.put_u8(family.safi);
                data.put_u32(limit);
                self.stopped = true;
                self.stop_all(Notification::new(code::CEASE, cease::MAX_PREFIXES, data))
                    .await;
            }
            SessionCommand::Start => {
                if self.stopped {
                    self.stopped = false;
                    self.feed(Which::Main, Event::ManualStart, None).await;
                }
            }
            SessionCommand::StopGraceful => {
                if self.config.graceful_restart.is_some() {
                    // RFC 4724 §4.1: no NOTIFICATION, the peer keeps our
                    // routes for our Restart Time.
                    tracing::info!(%peer, "graceful stop: closing without NOTIFICATION");
                    self.main.conn = None;
                    self.other = None;
                } else {
                    let n =
                        Notification::cease_with_communication(cease::ADMINISTRATIVE_SHUTDOWN, "");
                    self.stop_all(n).await;
                }
                self.stopped = true;
                self.exit = true;
            }
        }
    }

    /// ManualStop on both slots, with `n` as the NOTIFICATION.
    async fn stop_all(&mut self, n: Notification) {
        if self.other.is_some() {
            self.feed(Which::Other, Event::ManualStop, Some(n.clone()))
                .await;
            self.other = None;
        }
        self.feed(Which::Main, Event::ManualStop, Some(n)).await;
    }
}

/// Whether we advertised `family` (RFC 4760 §8: without any Multiprotocol
/// capability, IPv4 unicast only).
fn advertised(caps: &[Capability], family: crate::wire::Family) -> bool {
    let mut any = false;
    for c in caps {
        if let Capability::Multiprotocol(f) = c {
            if *f == family {
                return true;
            }
            any = true;
        }
    }
    !any && family == crate::wire::Family::IPV4_UNICAST
}

/// The NOTIFICATION of a session-reset verdict (a header error always is).
fn reset_notification(e: &crate::wire::DecodeError) -> Notification {
    e.notification()
        .cloned()
        .unwrap_or_else(|| Notification::new(code::MESSAGE_HEADER, 0, Vec::new()))
}
