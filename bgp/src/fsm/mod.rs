//! The BGP finite state machine (RFC 4271 §8) as a pure function.
//!
//! [`Fsm::handle`] takes one [`Event`] and returns the [`Action`]s the
//! session task must perform, in order. There is no I/O, no clock and no
//! socket here: time is a [`Action::StartTimer`] / [`Action::StopTimer`]
//! the session turns into real timers, whose expiry comes back as an
//! `*TimerExpires` event; messages are decoded by [`crate::wire`] and come
//! back as `Bgp*`/`*Msg` events. [`Fsm::step`] is the same transition as a
//! value-to-value function, `(state, event) -> (state, actions)`.
//!
//! One [`Fsm`] drives one TCP connection to one peer (RFC 4271 §8: "one FSM
//! per configured peer, plus one FSM for each incoming TCP connection for
//! which the peer is not yet identified"). Connection collisions between two
//! FSMs of the same peer are resolved by [`resolve_collision`] (RFC 4271
//! §6.8) in the session task, which then feeds [`Event::OpenCollisionDump`]
//! to the loser.
//!
//! Optional session attributes of RFC 4271 §8.1.1 that are supported:
//! `DelayOpen` ([`Config::delay_open`]), `PassiveTcpEstablishment`
//! ([`Config::passive`], [`Event::ManualStartPassive`]),
//! `DampPeerOscillations` (the IdleHold timer with exponential back-off) and
//! `SendNOTIFICATIONwithoutOPEN` (always on: a NOTIFICATION is sent whenever
//! a TCP connection exists, even before our OPEN went out).
//!
//! Deliberate deviations from the RFC 4271 §8.2.2 tables, each for
//! robustness:
//! - A timer expiry for a timer this FSM has not started (or has since
//!   stopped) is stale and ignored, instead of counting as an FSM error.
//! - A NOTIFICATION received is never answered with a NOTIFICATION (RFC 4271
//!   §6.4), even in OpenSent where the §8.2.2 table lists event 25 among the
//!   FSM errors.
//! - A TCP connection reported in Idle is dropped at once (Idle "refuses all
//!   incoming BGP connections").
//! - In passive mode the ConnectRetry timer is never started: the FSM only
//!   waits in Active.
//! - A failed outgoing connection in Connect goes to Active (listening until
//!   the ConnectRetry timer), not Idle, as BIRD and FRR do: a peer that
//!   only connects out must not find every attempt refused.
//! - A second OPEN on the same connection in OpenConfirm is an FSM error
//!   (RFC 6608 subcode 2); collisions between two connections are the
//!   session's business (see above).
#![warn(missing_docs)]

mod collision;

pub use collision::{resolve_collision, ConnectionDirection, Keep};

use std::net::Ipv4Addr;

use crate::wire::error::{code, open_subcode};
use crate::wire::notification::cease;
use crate::wire::{Capability, Context, DecodeContext, EncodeContext, Notification, Open};

/// Default proposed Hold Time in seconds (RFC 4271 §10: 90 s suggested).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// Default ConnectRetryTime in seconds (RFC 4271 §10: 120 s suggested).
pub const DEFAULT_CONNECT_RETRY_TIME: u16 = 120;
/// Hold timer value while waiting for the peer's OPEN in OpenSent (RFC 4271
/// §8.2.2: "A HoldTimer value of 4 minutes is suggested").
pub const LARGE_HOLD_TIME: u16 = 240;
/// Default first IdleHold back-off, in seconds.
pub const DEFAULT_IDLE_HOLD_BASE: u16 = 1;
/// Default largest IdleHold back-off, in seconds.
pub const DEFAULT_IDLE_HOLD_MAX: u16 = 120;

/// Finite State Machine Error subcodes (RFC 6608 §3).
pub mod fsm_subcode {
    /// Unspecified Error.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const ESTABLISHED: u8 = 3;
}

/// The six states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Refuses connections, waits for a start event.
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Listening for an incoming TCP connection.
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// The session is up: UPDATE, KEEPALIVE and ROUTE-REFRESH flow.
    Established,
}

/// The timers of RFC 4271 §8 (and §8.1.1 for the optional ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// ConnectRetryTimer: next outgoing connection attempt.
    ConnectRetry,
    /// HoldTimer: the peer must send a KEEPALIVE or UPDATE before it fires.
    Hold,
    /// KeepaliveTimer: when we send our next KEEPALIVE.
    Keepalive,
    /// DelayOpenTimer: when we send our OPEN on a connection we hold back.
    DelayOpen,
    /// IdleHoldTimer: back-off before an automatic restart.
    IdleHold,
}

impl Timer {
    const ALL: [Timer; 5] = [
        Timer::ConnectRetry,
        Timer::Hold,
        Timer::Keepalive,
        Timer::DelayOpen,
        Timer::IdleHold,
    ];

    fn bit(self) -> u8 {
        match self {
            Timer::ConnectRetry => 1,
            Timer::Hold => 2,
            Timer::Keepalive => 4,
            Timer::DelayOpen => 8,
            Timer::IdleHold => 16,
        }
    }
}

/// Inputs to the FSM, named after RFC 4271 §8.1 (event numbers in
/// brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// \[1\] ManualStart: the operator starts the peer (active unless
    /// [`Config::passive`]).
    ManualStart,
    /// \[2\] ManualStop: the operator stops the peer.
    ManualStop,
    /// \[3\]/\[5\] AutomaticStart: the system restarts the peer; waits for the
    /// IdleHold back-off first after a failure. Passive when
    /// [`Config::passive`].
    AutomaticStart,
    /// \[4\] ManualStart_with_PassiveTcpEstablishment: start and only listen.
    ManualStartPassive,
    /// \[9\] ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// \[10\] HoldTimer_Expires.
    HoldTimerExpires,
    /// \[11\] KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// \[12\] DelayOpenTimer_Expires.
    DelayOpenTimerExpires,
    /// \[13\] IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// \[16\] Tcp_CR_Acked: our outgoing connection is up.
    TcpCrAcked,
    /// \[17\] TcpConnectionConfirmed: an incoming connection is up.
    TcpConnectionConfirmed,
    /// \[18\] TcpConnectionFails: the connection closed or could not be made.
    TcpConnectionFails,
    /// \[19\] BGPOpen: an OPEN that decoded without error. The FSM still runs
    /// the configuration checks (`Open::validate_peer`, hold time).
    BgpOpen(Open),
    /// \[21\] BGPHeaderErr: the header was bad; the NOTIFICATION to send.
    BgpHeaderErr(Notification),
    /// \[22\] BGPOpenMsgErr: the OPEN was bad; the NOTIFICATION to send.
    BgpOpenMsgErr(Notification),
    /// \[23\] OpenCollisionDump: this connection lost a collision (RFC 4271
    /// §6.8, see [`resolve_collision`]).
    OpenCollisionDump,
    /// \[24\] NotifMsgVerErr: a NOTIFICATION with a version error received.
    NotifMsgVerErr,
    /// \[25\] NotifMsg: any other NOTIFICATION received.
    NotifMsg(Notification),
    /// \[26\] KeepAliveMsg: a KEEPALIVE received.
    KeepAliveMsg,
    /// \[27\] UpdateMsg: a valid UPDATE received (the session holds it).
    UpdateMsg,
    /// \[28\] UpdateMsgErr: an UPDATE whose verdict is a session reset; the
    /// NOTIFICATION to send.
    UpdateMsgErr(Notification),
    /// A ROUTE-REFRESH received (RFC 2918; not in RFC 4271 §8).
    RouteRefreshMsg,
}

impl Event {
    /// The timer whose expiry this event reports.
    fn timer(&self) -> Option<Timer> {
        match self {
            Event::ConnectRetryTimerExpires => Some(Timer::ConnectRetry),
            Event::HoldTimerExpires => Some(Timer::Hold),
            Event::KeepaliveTimerExpires => Some(Timer::Keepalive),
            Event::DelayOpenTimerExpires => Some(Timer::DelayOpen),
            Event::IdleHoldTimerExpires => Some(Timer::IdleHold),
            _ => None,
        }
    }
}

/// Why a connection attempt or session ended (carried by
/// [`Action::SessionDown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// [`Event::ManualStop`].
    ManualStop,
    /// We sent this NOTIFICATION: a decode error, an FSM error, Hold Timer
    /// Expired, or a lost collision.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The peer sent a NOTIFICATION with a version error (event 24).
    VersionError,
    /// The TCP connection failed or closed.
    ConnectionFailed,
    /// An event that cannot happen in Connect or Active (RFC 4271 §8.2.2:
    /// the connection is dropped without a NOTIFICATION).
    UnexpectedEvent,
}

impl DownReason {
    /// Whether this counts as a failure for the IdleHold back-off: anything
    /// but a manual stop or a lost collision.
    pub fn is_error(&self) -> bool {
        match self {
            DownReason::ManualStop => false,
            DownReason::NotificationSent(n) => {
                !(n.code == code::CEASE && n.subcode == cease::CONNECTION_COLLISION_RESOLUTION)
            }
            _ => true,
        }
    }
}

/// What the session agreed on, handed over on [`Action::SessionEstablished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Hold time: the smaller of ours and the peer's (RFC 4271 §4.2); 0
    /// means no Hold and no Keepalive timer.
    pub hold_time: u16,
    /// Keepalive interval: hold time / 3 (RFC 4271 §10), or the configured
    /// interval when smaller.
    pub keepalive_time: u16,
    /// The peer's AS (from its 4-octet AS capability when present).
    pub peer_as: u32,
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// The capabilities the peer sent.
    pub peer_capabilities: Vec<Capability>,
    /// Context for decoding what the peer sends (`Context::negotiate`).
    pub decode: DecodeContext,
    /// Context for encoding what we send (`Context::negotiate`).
    pub encode: EncodeContext,
}

/// Outputs of the FSM, to be performed by the session task in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer (never in passive mode).
    InitiateTcpConnection,
    /// Close the TCP connection, or abort the connection attempt in progress
    /// (after sending any NOTIFICATION that precedes it).
    DropTcpConnection,
    /// Send this OPEN.
    SendOpen(Open),
    /// Send a KEEPALIVE.
    SendKeepalive,
    /// Send this NOTIFICATION.
    SendNotification(Notification),
    /// Start (or restart) a timer for this many seconds; its expiry is the
    /// matching `*TimerExpires` event.
    StartTimer(Timer, u16),
    /// Stop a running timer; its expiry must no longer be reported.
    StopTimer(Timer),
    /// OpenConfirm → Established: the session is up with these parameters.
    SessionEstablished {
        /// What both sides agreed on.
        negotiated: Negotiated,
    },
    /// The FSM went to Idle: release every resource of this connection
    /// (RFC 4271 §8.2.2 "releases all BGP resources"); if the session had
    /// been Established, withdraw the routes learnt from the peer.
    SessionDown {
        /// Why.
        reason: DownReason,
    },
    /// Established: hand the UPDATE just received to the RIB.
    ProcessUpdate,
    /// Established: answer the ROUTE-REFRESH just received (RFC 2918).
    ProcessRouteRefresh,
}

/// A configuration the FSM refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Hold time 1 or 2 (RFC 4271 §4.2: "MUST be either zero or at least
    /// three seconds").
    #[error("hold time {0} is neither 0 nor at least 3 seconds")]
    UnacceptableHoldTime(u16),
    /// A zero ConnectRetryTime, DelayOpenTime or IdleHold maximum would
    /// spin.
    #[error("{0} must not be zero")]
    ZeroTime(&'static str),
}

/// Per-peer settings (RFC 4271 §8.1.1 session attributes); immutable for
/// the life of an [`Fsm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP Identifier.
    pub local_id: Ipv4Addr,
    /// The AS the peer must announce (RFC 4271 §6.2 Bad Peer AS).
    pub peer_as: u32,
    /// Hold time we propose: 0 or at least 3 (default 90).
    pub hold_time: u16,
    /// KeepaliveTime when set: the interval between KEEPALIVEs, never more
    /// than a third of the negotiated hold time (RFC 4271 §10 suggests that
    /// third, the default).
    pub keepalive_time: Option<u16>,
    /// ConnectRetryTime in seconds (default 120).
    pub connect_retry_time: u16,
    /// PassiveTcpEstablishment: never connect, only accept.
    pub passive: bool,
    /// DelayOpen: hold back our OPEN this many seconds after the connection
    /// is up, or until the peer's OPEN arrives (RFC 4271 §8.1.1).
    pub delay_open: Option<u16>,
    /// Capabilities we send in our OPEN, as they are (add
    /// `Capability::FourOctetAs` yourself if you replace the default).
    pub capabilities: Vec<Capability>,
    /// First IdleHold back-off in seconds (default 1).
    pub idle_hold_base: u16,
    /// Largest IdleHold back-off in seconds (default 120).
    pub idle_hold_max: u16,
}

impl Config {
    /// Defaults for a peer: hold 90, connect retry 120, active, no
    /// DelayOpen, capabilities `[FourOctetAs(local_as)]`, IdleHold 1..120 s.
    pub fn new(local_as: u32, local_id: Ipv4Addr, peer_as: u32) -> Self {
        Config {
            local_as,
            local_id,
            peer_as,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive_time: None,
            connect_retry_time: DEFAULT_CONNECT_RETRY_TIME,
            passive: false,
            delay_open: None,
            capabilities: vec![Capability::FourOctetAs(local_as)],
            idle_hold_base: DEFAULT_IDLE_HOLD_BASE,
            idle_hold_max: DEFAULT_IDLE_HOLD_MAX,
        }
    }

    /// Refuse values the FSM cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if matches!(self.hold_time, 1 | 2) {
            return Err(ConfigError::UnacceptableHoldTime(self.hold_time));
        }
        if self.connect_retry_time == 0 {
            return Err(ConfigError::ZeroTime("connect_retry_time"));
        }
        if self.keepalive_time == Some(0) && self.hold_time != 0 {
            return Err(ConfigError::ZeroTime("keepalive_time"));
        }
        if self.delay_open == Some(0) {
            return Err(ConfigError::ZeroTime("delay_open"));
        }
        if self.idle_hold_max == 0 {
            return Err(ConfigError::ZeroTime("idle_hold_max"));
        }
        Ok(())
    }

    /// The OPEN we send (RFC 4271 §4.2).
    pub fn open(&self) -> Open {
        Open::new(
            self.local_as,
            self.hold_time,
            self.local_id,
            self.capabilities.clone(),
        )
    }
}

/// The state machine of one connection to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fsm {
    config: Config,
    state: State,
    /// Passive for the current start (config or ManualStartPassive).
    passive: bool,
    /// A TCP connection is up.
    connected: bool,
    /// Bit set of the running timers ([`Timer::bit`]).
    running: u8,
    /// RFC 4271 §8: ConnectRetryCounter.
    connect_retry_counter: u32,
    /// Consecutive failures since the last Established, for the IdleHold
    /// back-off.
    failures: u32,
    /// Negotiated hold time (valid from OpenConfirm on).
    hold_time: u16,
    /// The peer's OPEN (from OpenConfirm on).
    peer_open: Option<Open>,
}

impl Fsm {
    /// A new FSM in Idle, after [`Config::validate`].
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Fsm {
            passive: config.passive,
            config,
            state: State::Idle,
            connected: false,
            running: 0,
            connect_retry_counter: 0,
            failures: 0,
            hold_time: 0,
            peer_open: None,
        })
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// RFC 4271 §8: ConnectRetryCounter (failed attempts since the last
    /// start, zeroed by ManualStop).
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// The negotiated hold time, from OpenConfirm on.
    pub fn negotiated_hold_time(&self) -> Option<u16> {
        self.peer_open.as_ref().map(|_| self.hold_time)
    }

    /// Whether the FSM believes `timer` is running.
    pub fn is_running(&self, timer: Timer) -> bool {
        self.running & timer.bit() != 0
    }

    /// The IdleHold wait before the next [`Event::AutomaticStart`]:
    /// 0 without a failure since the last Established, else
    /// `idle_hold_base * 2^(failures - 1)` capped at `idle_hold_max`
    /// (RFC 4271 §8.1.1 DampPeerOscillations).
    pub fn idle_hold_time(&self) -> u16 {
        if self.failures == 0 {
            return 0;
        }
        let shift = (self.failures - 1).min(16);
        let wait = u32::from(self.config.idle_hold_base) << shift;
        wait.min(u32::from(self.config.idle_hold_max)) as u16
    }

    /// `(state, event) -> (state, actions)` without touching `self`.
    pub fn step(&self, event: Event) -> (Fsm, Vec<Action>) {
        let mut next = self.clone();
        let actions = next.handle(event);
        (next, actions)
    }

    /// Run one event (RFC 4271 §8.2.2); returns the actions to perform, in
    /// order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut a = Vec::new();
        if let Some(timer) = event.timer() {
            if !self.is_running(timer) {
                // Stale expiry of a stopped timer: ignore.
                return a;
            }
            self.running &= !timer.bit();
        }
        match self.state {
            State::Idle => self.idle(event, &mut a),
            State::Connect | State::Active => self.connecting(event, &mut a),
            State::OpenSent => self.open_sent(event, &mut a),
            State::OpenConfirm => self.open_confirm(event, &mut a),
            State::Established => self.established(event, &mut a),
        }
        a
    }

    // --- RFC 4271 §8.2.2, one function per state --------------------------

    /// Idle: only start events matter.
    fn idle(&mut self, event: Event, a: &mut Vec<Action>) {
        match event {
            Event::ManualStart => {
                self.stop_timer(Timer::IdleHold, a);
                self.start(self.config.passive, a);
            }
            Event::ManualStartPassive => {
                self.stop_timer(Timer::IdleHold, a);
                self.start(true, a);
            }
            Event::AutomaticStart => {
                if self.is_running(Timer::IdleHold) {
                    return;
                }
                match self.idle_hold_time() {
                    0 => self.start(self.config.passive, a),
                    wait => self.start_timer(Timer::IdleHold, wait, a),
                }
            }
            Event::IdleHoldTimerExpires => self.start(self.config.passive, a),
            // Cancel a pending automatic restart and forget past failures.
            Event::ManualStop => {
                self.stop_timer(Timer::IdleHold, a);
                self.connect_retry_counter = 0;
                self.failures = 0;
            }
            // Idle "refuses all incoming BGP connections".
            Event::TcpConnectionConfirmed | Event::TcpCrAcked => a.push(Action::DropTcpConnection),
            _ => {}
        }
    }

    /// Connect and Active (they differ only in TcpConnectionFails with
    /// DelayOpen running and in ConnectRetry expiry).
    fn connecting(&mut self, event: Event, a: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartPassive | Event::AutomaticStart => {}
            Event::ManualStop => self.manual_stop(a),
            Event::ConnectRetryTimerExpires => {
                // Abort the attempt in progress and try again.
                self.stop_timer(Timer::DelayOpen, a);
                if self.state == State::Connect || self.connected {
                    a.push(Action::DropTcpConnection);
                }
                self.connected = false;
                self.start_timer(Timer::ConnectRetry, self.config.connect_retry_time, a);
                a.push(Action::InitiateTcpConnection);
                self.state = State::Connect;
            }
            Event::DelayOpenTimerExpires => self.send_open(a),
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => {
                if self.connected {
                    return; // a second connection: the session resolves it
                }
                self.connected = true;
                self.stop_timer(Timer::ConnectRetry, a);
                match self.config.delay_open {
                    Some(delay) => self.start_timer(Timer::DelayOpen, delay, a),
                    None => self.send_open(a),
                }
            }
            Event::TcpConnectionFails => {
                if self.state == State::Connect && self.is_running(Timer::DelayOpen) {
                    self.stop_timer(Timer::DelayOpen, a);
                    self.connected = false;
                    if !self.passive {
                        self.start_timer(Timer::ConnectRetry, self.config.connect_retry_time, a);
                    }
                    self.state = State::Active;
                } else if self.state == State::Connect {
                    // Deviation, as BIRD and FRR do: a failed outgoing
                    // attempt leaves the FSM listening in Active until the
                    // ConnectRetry timer, so that a peer that only connects
                    // out (and never listens) still gets in. RFC 4271
                    // §8.2.2 goes to Idle, which refuses every connection.
                    a.push(Action::DropTcpConnection);
                    self.connected = false;
                    self.start_timer(Timer::ConnectRetry, self.config.connect_retry_time, a);
                    self.state = State::Active;
                } else {
                    self.go_idle(None, DownReason::ConnectionFailed, a);
                }
            }
            Event::BgpOpen(open) if self.is_running(Timer::DelayOpen) => {
                match self.check_open(&open) {
                    Ok(hold) => {
                        self.stop_timer(Timer::DelayOpen, a);
                        a.push(Action::SendOpen(self.config.open()));
                        self.accept_open(open, hold, a);
                    }
                    Err(n) => self.fail(n, a),
                }
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(n, a),
            Event::NotifMsgVerErr => self.go_idle(None, DownReason::VersionError, a),
            Event::NotifMsg(n) => self.go_idle(None, DownReason::NotificationReceived(n), a),
            _ => self.go_idle(None, DownReason::UnexpectedEvent, a),
        }
    }

    fn open_sent(&mut self, event: Event, a: &mut Vec<Action>) {
        match event {
            Event::BgpOpen(open) => match self.check_open(&open) {
                Ok(hold) => self.accept_open(open, hold, a),
                Err(n) => self.fail(n, a),
            },
            Event::TcpConnectionFails => {
                // RFC 4271 §8.2.2: close, restart ConnectRetry, go Active.
                self.stop_timer(Timer::Hold, a);
                a.push(Action::DropTcpConnection);
                self.connected = false;
                if !self.passive {
                    self.start_timer(Timer::ConnectRetry, self.config.connect_retry_time, a);
                }
                self.state = State::Active;
            }
            other => self.common(other, fsm_subcode::OPEN_SENT, a),
        }
    }

    fn open_confirm(&mut self, event: Event, a: &mut Vec<Action>) {
        match event {
            Event::KeepAliveMsg => {
                self.restart_hold(a);
                self.failures = 0;
                let negotiated = self.negotiated();
                a.push(Action::SessionEstablished { negotiated });
                self.state = State::Established;
            }
            other => self.common(other, fsm_subcode::OPEN_CONFIRM, a),
        }
    }

    fn established(&mut self, event: Event, a: &mut Vec<Action>) {
        match event {
            Event::KeepAliveMsg => self.restart_hold(a),
            Event::UpdateMsg => {
                a.push(Action::ProcessUpdate);
                self.restart_hold(a);
            }
            Event::RouteRefreshMsg => a.push(Action::ProcessRouteRefresh),
            Event::UpdateMsgErr(n) => self.fail(n, a),
            other => self.common(other, fsm_subcode::ESTABLISHED, a),
        }
    }

    /// Events handled alike in OpenSent, OpenConfirm and Established; any
    /// other event is an FSM error with RFC 6608 `subcode`.
    fn common(&mut self, event: Event, subcode: u8, a: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartPassive | Event::AutomaticStart => {}
            // A second connection: collision detection is the session's.
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => {}
            Event::ManualStop => self.manual_stop(a),
            Event::HoldTimerExpires => self.fail(
                Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new()),
                a,
            ),
            Event::KeepaliveTimerExpires => {
                // RFC 4271 §8.2.2 (OpenConfirm, Established).
                a.push(Action::SendKeepalive);
                self.start_timer(Timer::Keepalive, self.keepalive_time(), a);
            }
            Event::TcpConnectionFails => self.go_idle(None, DownReason::ConnectionFailed, a),
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(n, a),
            Event::OpenCollisionDump => self.fail(
                Notification::new(
                    code::CEASE,
                    cease::CONNECTION_COLLISION_RESOLUTION,
                    Vec::new(),
                ),
                a,
            ),
            Event::NotifMsgVerErr => self.go_idle(None, DownReason::VersionError, a),
            Event::NotifMsg(n) => self.go_idle(None, DownReason::NotificationReceived(n), a),
            _ => self.fail(Notification::new(code::FSM, subcode, Vec::new()), a),
        }
    }

    // --- helpers -----------------------------------------------------------

    /// Idle → Connect (or Active when passive): RFC 4271 §8.2.2 events 1-5.
    fn start(&mut self, passive: bool, a: &mut Vec<Action>) {
        self.connect_retry_counter = 0;
        self.passive = passive;
        if passive {
            self.state = State::Active;
        } else {
            self.start_timer(Timer::ConnectRetry, self.config.connect_retry_time, a);
            a.push(Action::InitiateTcpConnection);
            self.state = State::Connect;
        }
    }

    /// Send our OPEN, arm the large hold timer, go OpenSent.
    fn send_open(&mut self, a: &mut Vec<Action>) {
        a.push(Action::SendOpen(self.config.open()));
        self.start_timer(Timer::Hold, LARGE_HOLD_TIME, a);
        self.state = State::OpenSent;
    }

    /// The checks on a decoded OPEN that need the configuration; returns the
    /// negotiated hold time or the NOTIFICATION to send.
    fn check_open(&self, open: &Open) -> Result<u16, Notification> {
        let unacceptable = || {
            Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                Vec::new(),
            )
        };
        // RFC 4271 §6.2: "An implementation MUST reject Hold Time values of
        // one or two seconds."
        if matches!(open.hold_time, 1 | 2) {
            return Err(unacceptable());
        }
        open.validate_peer(
            self.config.peer_as,
            self.config.local_as,
            self.config.local_id,
        )
        .map_err(|e| {
            e.notification()
                .cloned()
                .unwrap_or_else(|| Notification::new(code::OPEN_MESSAGE, 0, Vec::new()))
        })?;
        // RFC 4271 §4.2: the smaller of the two proposals.
        let hold = self.config.hold_time.min(open.hold_time);
        if matches!(hold, 1 | 2) {
            return Err(unacceptable()); // only with an unvalidated config
        }
        Ok(hold)
    }

    /// A valid OPEN: send KEEPALIVE, arm the negotiated timers, OpenConfirm.
    fn accept_open(&mut self, open: Open, hold: u16, a: &mut Vec<Action>) {
        self.stop_timer(Timer::ConnectRetry, a);
        a.push(Action::SendKeepalive);
        self.hold_time = hold;
        if hold == 0 {
            // Hold time 0: no Keepalive and no Hold timer (RFC 4271 §4.4).
            self.stop_timer(Timer::Hold, a);
        } else {
            self.start_timer(Timer::Keepalive, self.keepalive_time(), a);
            self.start_timer(Timer::Hold, hold, a);
        }
        self.peer_open = Some(open);
        self.state = State::OpenConfirm;
    }

    /// KeepaliveTime for the negotiated hold time: the configured interval,
    /// at most a third of the hold time (RFC 4271 §10), at least 1 s.
    fn keepalive_time(&self) -> u16 {
        let third = self.hold_time / 3;
        match self.config.keepalive_time {
            Some(k) if third > 0 => k.clamp(1, third),
            _ => third,
        }
    }

    fn restart_hold(&mut self, a: &mut Vec<Action>) {
        if self.hold_time != 0 {
            self.start_timer(Timer::Hold, self.hold_time, a);
        }
    }

    fn negotiated(&self) -> Negotiated {
        let (peer_as, peer_id, peer_capabilities) = match &self.peer_open {
            Some(o) => (o.asn(), o.bgp_identifier, o.capabilities.clone()),
            None => (self.config.peer_as, Ipv4Addr::UNSPECIFIED, Vec::new()),
        };
        let (decode, encode) = Context::negotiate(&self.config.capabilities, &peer_capabilities);
        Negotiated {
            hold_time: self.hold_time,
            keepalive_time: self.keepalive_time(),
            peer_as,
            peer_id,
            peer_capabilities,
            decode,
            encode,
        }
    }

    /// ManualStop: Cease / Administrative Shutdown when connected (RFC 4486
    /// §4), then Idle with the counters cleared.
    fn manual_stop(&mut self, a: &mut Vec<Action>) {
        let n = self
            .connected
            .then(|| Notification::new(code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN, Vec::new()));
        self.go_idle(n, DownReason::ManualStop, a);
    }

    /// Send `n`, then Idle.
    fn fail(&mut self, n: Notification, a: &mut Vec<Action>) {
        self.go_idle(Some(n.clone()), DownReason::NotificationSent(n), a);
    }

    /// Any state → Idle: NOTIFICATION (if any), stop every running timer,
    /// drop the connection, release resources, count the failure.
    fn go_idle(&mut self, n: Option<Notification>, reason: DownReason, a: &mut Vec<Action>) {
        if let Some(n) = n {
            a.push(Action::SendNotification(n));
        }
        for t in Timer::ALL {
            self.stop_timer(t, a);
        }
        if self.connected || self.state == State::Connect {
            a.push(Action::DropTcpConnection);
        }
        if reason == DownReason::ManualStop {
            self.connect_retry_counter = 0;
            self.failures = 0;
        } else if reason.is_error() {
            self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
            self.failures = self.failures.saturating_add(1);
        }
        a.push(Action::SessionDown { reason });
        self.connected = false;
        self.hold_time = 0;
        self.peer_open = None;
        self.state = State::Idle;
    }

    fn start_timer(&mut self, t: Timer, seconds: u16, a: &mut Vec<Action>) {
        self.running |= t.bit();
        a.push(Action::StartTimer(t, seconds));
    }

    fn stop_timer(&mut self, t: Timer, a: &mut Vec<Action>) {
        if self.is_running(t) {
            self.running &= !t.bit();
            a.push(Action::StopTimer(t));
        }
    }
}
