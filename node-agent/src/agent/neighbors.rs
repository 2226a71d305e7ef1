//! What the agent knows of each configured neighbour beyond the RIB: the
//! session's state and its history, for the API and the metrics.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::Instant;

use bgp::fsm::{DownReason, Negotiated, State};
use bgp::wire::Family;
use ribs::PeerId;

use crate::api::model::{MessageCounts, Neighbor, NotificationInfo, PrefixCounts, SessionState};

use super::render;

/// One neighbour's session history.
#[derive(Debug)]
pub struct NeighborState {
    /// Its address.
    pub address: IpAddr,
    /// Its handle in the RIB.
    pub id: PeerId,
    /// The session's FSM state.
    pub state: State,
    /// Since when.
    pub state_since: Instant,
    /// When the session reached Established (while it is).
    pub established_at: Option<Instant>,
    /// Transitions to Established.
    pub transitions: u64,
    /// What the session negotiated (while Established).
    pub negotiated: Option<Box<Negotiated>>,
    /// Prefixes rejected by import policy or loop detection in this
    /// session (received = accepted + rejected).
    pub rejected: u64,
    /// The last NOTIFICATION sent.
    pub last_sent: Option<NotificationInfo>,
    /// The last NOTIFICATION received.
    pub last_received: Option<NotificationInfo>,
    /// Why the session last went down.
    pub last_down: Option<String>,
    /// Our End-of-RIB went out after the initial table (RFC 4724 §2).
    pub eor_sent: bool,
    /// Families whose End-of-RIB the neighbour sent in this session.
    pub eor_received: BTreeSet<Family>,
    /// Max-prefix: when to start the session again.
    pub restart_at: Option<Instant>,
}

impl NeighborState {
    /// A neighbour not yet connected.
    pub fn new(address: IpAddr, id: PeerId, now: Instant) -> Self {
        NeighborState {
            address,
            id,
            state: State::Idle,
            state_since: now,
            established_at: None,
            transitions: 0,
            negotiated: None,
            rejected: 0,
            last_sent: None,
            last_received: None,
            last_down: None,
            eor_sent: false,
            eor_received: BTreeSet::new(),
            restart_at: None,
        }
    }

    /// The session reached Established.
    pub fn established(&mut self, negotiated: Box<Negotiated>, now: Instant) {
        self.negotiated = Some(negotiated);
        self.established_at = Some(now);
        self.transitions += 1;
        self.rejected = 0;
        self.eor_sent = false;
        self.eor_received.clear();
        self.set_state(State::Established, now);
    }

    /// The session went down.
    pub fn down(&mut self, reason: &DownReason, now: Instant, unix: u64) {
        self.negotiated = None;
        self.established_at = None;
        self.rejected = 0;
        self.eor_sent = false;
        self.eor_received.clear();
        match reason {
            DownReason::NotificationSent(n) => {
                self.last_sent = Some(render::notification(n, unix));
            }
            DownReason::NotificationReceived(n) => {
                self.last_received = Some(render::notification(n, unix));
            }
            _ => {}
        }
        self.last_down = Some(down_reason(reason));
        if self.state == State::Established {
            self.set_state(State::Idle, now);
        }
    }

    /// A new FSM state.
    pub fn set_state(&mut self, state: State, now: Instant) {
        if state != self.state {
            self.state = state;
            self.state_since = now;
        }
    }

    /// Whether the session is Established (as far as the RIB knows).
    pub fn is_up(&self) -> bool {
        self.negotiated.is_some()
    }

    /// The API's view.
    #[allow(clippy::too_many_arguments)]
    pub fn view(
        &self,
        now: Instant,
        (messages_received, messages_sent): (MessageCounts, MessageCounts),
        asn: u32,
        description: Option<String>,
        ibgp: bool,
        prefixes: PrefixCounts,
        stale_routes: u64,
    ) -> Neighbor {
        let n = self.negotiated.as_deref();
        Neighbor {
            address: self.address,
            asn,
            description,
            kind: if ibgp { "ibgp" } else { "ebgp" }.to_string(),
            state: session_state(self.state),
            state_secs: secs(now.saturating_duration_since(self.state_since)),
            uptime_secs: self
                .established_at
                .map(|t| secs(now.saturating_duration_since(t))),
            established_transitions: self.transitions,
            router_id: n
                .map(|n| n.peer_id)
                .filter(|id| *id != Ipv4Addr::UNSPECIFIED),
            hold_time: n.map(|n| n.hold_time),
            keepalive_time: n.map(|n| n.keepalive_time),
            capabilities: n.map_or_else(Vec::new, |n| render::capabilities(&n.peer_capabilities)),
            prefixes,
            messages_received,
            messages_sent,
            last_notification_sent: self.last_sent.clone(),
            last_notification_received: self.last_received.clone(),
            last_down_reason: self.last_down.clone(),
            stale_routes,
        }
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// RFC 4271 §8.2.2 state for the API.
pub fn session_state(s: State) -> SessionState {
    match s {
        State::Idle => SessionState::Idle,
        State::Connect => SessionState::Connect,
        State::Active => SessionState::Active,
        State::OpenSent => SessionState::OpenSent,
        State::OpenConfirm => SessionState::OpenConfirm,
        State::Established => SessionState::Established,
    }
}

/// Why a session went down, in words.
pub fn down_reason(r: &DownReason) -> String {
    match r {
        DownReason::ManualStop => "stopped".to_string(),
        DownReason::NotificationSent(n) => {
            format!("sent NOTIFICATION: {}", render::notification_description(n))
        }
        DownReason::NotificationReceived(n) => format!(
            "received NOTIFICATION: {}{}",
            render::notification_description(n),
            n.shutdown_communication()
                .map(|c| format!(" \"{c}\""))
                .unwrap_or_default()
        ),
        DownReason::VersionError => "received NOTIFICATION: version error".to_string(),
        DownReason::ConnectionFailed => "TCP connection failed or closed".to_string(),
        DownReason::UnexpectedEvent => "unexpected event".to_string(),
    }
}
