//! Prometheus metrics of the agent.
//!
//! [`Metrics`] holds every series; it is a cheap handle (`Clone`, atomics
//! behind an `Arc`) that the RIB task, the speaker's glue and the FIB
//! writer update as things happen. [`server::serve_metrics`] exposes them
//! in the Prometheus text format (version 0.0.4) at `GET /metrics`, with
//! `/healthz` and `/readyz` for probes. The exposition is
//! `prometheus-client`, the Prometheus project's own Rust library.
//!
//! | series | type | labels |
//! | --- | --- | --- |
//! | `twill_bgp_session_state` | gauge, 1-6 = Idle..Established (RFC 4271 §8.2.2) | `neighbor` |
//! | `twill_bgp_established_transitions_total` | counter | `neighbor` |
//! | `twill_bgp_messages_received_total`, `twill_bgp_messages_sent_total` | counter | `neighbor`, `type` |
//! | `twill_bgp_prefixes_received`, `_accepted`, `_advertised` | gauge | `neighbor` |
//! | `twill_bgp_update_errors_total` | counter, RFC 7606 verdict | `neighbor`, `verdict` |
//! | `twill_bgp_rejected_connections_total` | counter | |
//! | `twill_rib_prefixes` | gauge | `family` |
//! | `twill_rib_attribute_sets` | gauge | |
//! | `twill_rib_update_groups` | gauge | |
//! | `twill_fib_routes` | gauge | `state` |
//! | `twill_fib_install_failures_total` | counter | |
//! | `twill_fib_install_latency_seconds` | histogram | |

pub mod server;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::model::{AddressFamily, FibState, PrefixCounts, SessionState};

pub use server::{serve_metrics, MetricsServer};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the FIB install latency buckets, in seconds: 100 µs,
/// doubling, up to about 3.3 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 16)
}

/// A neighbour's address as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Addr(IpAddr);

impl EncodeLabelValue for Addr {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

/// BGP message types (RFC 4271 §4.1, RFC 2918 §3), as the `type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// OPEN (type 1).
    Open,
    /// UPDATE (type 2).
    Update,
    /// NOTIFICATION (type 3).
    Notification,
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5).
    RouteRefresh,
}

impl MessageType {
    /// The label value: `open`, `update`, `notification`, `keepalive`,
    /// `route_refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Open => "open",
            MessageType::Update => "update",
            MessageType::Notification => "notification",
            MessageType::Keepalive => "keepalive",
            MessageType::RouteRefresh => "route_refresh",
        }
    }
}

impl EncodeLabelValue for MessageType {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// RFC 7606 §2 verdicts on a malformed UPDATE, as the `verdict` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateErrorVerdict {
    /// "attribute discard": the attribute is dropped, the route kept.
    AttributeDiscard,
    /// "treat-as-withdraw": the UPDATE's prefixes are withdrawn.
    TreatAsWithdraw,
    /// "session reset": NOTIFICATION and close (RFC 4271 §6).
    SessionReset,
}

impl UpdateErrorVerdict {
    /// The label value: `attribute-discard`, `treat-as-withdraw`,
    /// `session-reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateErrorVerdict::AttributeDiscard => "attribute-discard",
            UpdateErrorVerdict::TreatAsWithdraw => "treat-as-withdraw",
            UpdateErrorVerdict::SessionReset => "session-reset",
        }
    }
}

impl From<&bgp::wire::Verdict> for UpdateErrorVerdict {
    fn from(verdict: &bgp::wire::Verdict) -> Self {
        match verdict {
            bgp::wire::Verdict::AttributeDiscard => UpdateErrorVerdict::AttributeDiscard,
            bgp::wire::Verdict::TreatAsWithdraw => UpdateErrorVerdict::TreatAsWithdraw,
            bgp::wire::Verdict::SessionReset(_) => UpdateErrorVerdict::SessionReset,
        }
    }
}

impl EncodeLabelValue for UpdateErrorVerdict {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// A label value from a `&'static str` (families, FIB states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Word(&'static str);

impl EncodeLabelValue for Word {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NeighborLabels {
    neighbor: Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MessageLabels {
    neighbor: Addr,
    r#type: MessageType,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    neighbor: Addr,
    verdict: UpdateErrorVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FamilyLabels {
    family: Word,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: Word,
}

fn session_state_value(state: SessionState) -> i64 {
    match state {
        SessionState::Idle => 1,
        SessionState::Connect => 2,
        SessionState::Active => 3,
        SessionState::OpenSent => 4,
        SessionState::OpenConfirm => 5,
        SessionState::Established => 6,
    }
}

fn family_word(family: AddressFamily) -> Word {
    match family {
        AddressFamily::Ipv4 => Word("ipv4"),
        AddressFamily::Ipv6 => Word("ipv6"),
    }
}

fn fib_state_word(state: FibState) -> Word {
    match state {
        FibState::Installed => Word("installed"),
        FibState::Pending => Word("pending"),
        FibState::Failed => Word("failed"),
    }
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    session_state: Family<NeighborLabels, Gauge>,
    established_transitions: Family<NeighborLabels, Counter>,
    messages_received: Family<MessageLabels, Counter>,
    messages_sent: Family<MessageLabels, Counter>,
    prefixes_received: Family<NeighborLabels, Gauge>,
    prefixes_accepted: Family<NeighborLabels, Gauge>,
    prefixes_advertised: Family<NeighborLabels, Gauge>,
    update_errors: Family<VerdictLabels, Counter>,
    rejected_connections: Counter,
    rib_prefixes: Family<FamilyLabels, Gauge>,
    rib_attribute_sets: Gauge,
    rib_update_groups: Gauge,
    fib_routes: Family<StateLabels, Gauge>,
    fib_install_failures: Counter,
    fib_install_latency: Histogram,
}

/// Every metric of the agent; clones share the same series.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series registered, none with a value yet (labelled series
    /// appear when first set; `twill_rib_prefixes` and `twill_fib_routes`
    /// start at 0 for every family and state).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let session_state = Family::default();
        let established_transitions = Family::default();
        let messages_received = Family::default();
        let messages_sent = Family::default();
        let prefixes_received = Family::default();
        let prefixes_accepted = Family::default();
        let prefixes_advertised = Family::default();
        let update_errors = Family::default();
        let rejected_connections = Counter::default();
        let rib_prefixes: Family<FamilyLabels, Gauge> = Family::default();
        let rib_attribute_sets = Gauge::default();
        let rib_update_groups = Gauge::default();
        let fib_routes: Family<StateLabels, Gauge> = Family::default();
        let fib_install_failures = Counter::default();
        let fib_install_latency = Histogram::new(latency_buckets());

        registry.register(
            "twill_bgp_session_state",
            "BGP session state (RFC 4271 8.2.2): 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established",
            session_state.clone(),
        );
        registry.register(
            "twill_bgp_established_transitions",
            "Transitions of the session to Established",
            established_transitions.clone(),
        );
        registry.register(
            "twill_bgp_messages_received",
            "BGP messages received, by type",
            messages_received.clone(),
        );
        registry.register(
            "twill_bgp_messages_sent",
            "BGP messages sent, by type",
            messages_sent.clone(),
        );
        registry.register(
            "twill_bgp_prefixes_received",
            "Prefixes received from the neighbour in the current session, before import policy",
            prefixes_received.clone(),
        );
        registry.register(
            "twill_bgp_prefixes_accepted",
            "Prefixes of the neighbour accepted by import policy",
            prefixes_accepted.clone(),
        );
        registry.register(
            "twill_bgp_prefixes_advertised",
            "Prefixes advertised to the neighbour",
            prefixes_advertised.clone(),
        );
        registry.register(
            "twill_bgp_update_errors",
            "Malformed UPDATE messages, by RFC 7606 verdict",
            update_errors.clone(),
        );
        registry.register(
            "twill_bgp_rejected_connections",
            "Incoming BGP connections refused (not from a configured neighbour)",
            rejected_connections.clone(),
        );
        registry.register(
            "twill_rib_prefixes",
            "Loc-RIB prefixes, by address family",
            rib_prefixes.clone(),
        );
        registry.register(
            "twill_rib_attribute_sets",
            "Distinct path attribute sets in memory",
            rib_attribute_sets.clone(),
        );
        registry.register(
            "twill_rib_update_groups",
            "Update groups: sets of Established peers sharing one Adj-RIB-Out",
            rib_update_groups.clone(),
        );
        registry.register(
            "twill_fib_routes",
            "Kernel routes of Twill, by state",
            fib_routes.clone(),
        );
        registry.register(
            "twill_fib_install_failures",
            "Kernel route writes refused",
            fib_install_failures.clone(),
        );
        registry.register(
            "twill_fib_install_latency_seconds",
            "Time from a FIB change to the kernel's acknowledgement",
            fib_install_latency.clone(),
        );

        for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
            rib_prefixes
                .get_or_create(&FamilyLabels {
                    family: family_word(family),
                })
                .set(0);
        }
        for state in [FibState::Installed, FibState::Pending, FibState::Failed] {
            fib_routes
                .get_or_create(&StateLabels {
                    state: fib_state_word(state),
                })
                .set(0);
        }

        Metrics {
            inner: Arc::new(Inner {
                registry,
                session_state,
                established_transitions,
                messages_received,
                messages_sent,
                prefixes_received,
                prefixes_accepted,
                prefixes_advertised,
                update_errors,
                rejected_connections,
                rib_prefixes,
                rib_attribute_sets,
                rib_update_groups,
                fib_routes,
                fib_install_failures,
                fib_install_latency,
            }),
        }
    }

    /// A neighbour's session changed state; a change to Established also
    /// counts one transition.
    pub fn session_state(&self, neighbor: IpAddr, state: SessionState) {
        let labels = NeighborLabels {
            neighbor: Addr(neighbor),
        };
        let previous = self
            .inner
            .session_state
            .get_or_create(&labels)
            .set(session_state_value(state));
        if state == SessionState::Established
            && previous != session_state_value(SessionState::Established)
        {
            self.inner
                .established_transitions
                .get_or_create(&labels)
                .inc();
        }
    }

    /// A message came in from a neighbour.
    pub fn message_received(&self, neighbor: IpAddr, kind: MessageType) {
        self.inner
            .messages_received
            .get_or_create(&MessageLabels {
                neighbor: Addr(neighbor),
                r#type: kind,
            })
            .inc();
    }

    /// `n` more messages came in from a neighbour.
    pub fn messages_received(&self, neighbor: IpAddr, kind: MessageType, n: u64) {
        if n > 0 {
            self.inner
                .messages_received
                .get_or_create(&MessageLabels {
                    neighbor: Addr(neighbor),
                    r#type: kind,
                })
                .inc_by(n);
        }
    }

    /// `n` more messages went out to a neighbour.
    pub fn messages_sent(&self, neighbor: IpAddr, kind: MessageType, n: u64) {
        if n > 0 {
            self.inner
                .messages_sent
                .get_or_create(&MessageLabels {
                    neighbor: Addr(neighbor),
                    r#type: kind,
                })
                .inc_by(n);
        }
    }

    /// A message went out to a neighbour.
    pub fn message_sent(&self, neighbor: IpAddr, kind: MessageType) {
        self.inner
            .messages_sent
            .get_or_create(&MessageLabels {
                neighbor: Addr(neighbor),
                r#type: kind,
            })
            .inc();
    }

    /// A neighbour's prefix counters.
    pub fn prefixes(&self, neighbor: IpAddr, counts: PrefixCounts) {
        let labels = NeighborLabels {
            neighbor: Addr(neighbor),
        };
        let set = |family: &Family<NeighborLabels, Gauge>, value: u64| {
            family
                .get_or_create(&labels)
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.inner.prefixes_received, counts.received);
        set(&self.inner.prefixes_accepted, counts.accepted);
        set(&self.inner.prefixes_advertised, counts.advertised);
    }

    /// A malformed UPDATE from a neighbour, handled per RFC 7606.
    pub fn update_error(&self, neighbor: IpAddr, verdict: UpdateErrorVerdict) {
        self.inner
            .update_errors
            .get_or_create(&VerdictLabels {
                neighbor: Addr(neighbor),
                verdict,
            })
            .inc();
    }

    /// An incoming connection was refused.
    pub fn rejected_connection(&self) {
        self.inner.rejected_connections.inc();
    }

    /// Loc-RIB size of a family.
    pub fn rib_prefixes(&self, family: AddressFamily, prefixes: usize) {
        self.inner
            .rib_prefixes
            .get_or_create(&FamilyLabels {
                family: family_word(family),
            })
            .set(i64::try_from(prefixes).unwrap_or(i64::MAX));
    }

    /// Distinct attribute sets in memory.
    pub fn rib_attribute_sets(&self, sets: usize) {
        self.inner
            .rib_attribute_sets
            .set(i64::try_from(sets).unwrap_or(i64::MAX));
    }

    /// Update groups in use.
    pub fn rib_update_groups(&self, groups: usize) {
        self.inner
            .rib_update_groups
            .set(i64::try_from(groups).unwrap_or(i64::MAX));
    }

    /// Kernel routes in one state.
    pub fn fib_routes(&self, state: FibState, routes: usize) {
        self.inner
            .fib_routes
            .get_or_create(&StateLabels {
                state: fib_state_word(state),
            })
            .set(i64::try_from(routes).unwrap_or(i64::MAX));
    }

    /// The kernel refused a route.
    pub fn fib_install_failure(&self) {
        self.inner.fib_install_failures.inc();
    }

    /// A FIB write was acknowledged after `latency`.
    pub fn fib_install_latency(&self, latency: Duration) {
        self.inner
            .fib_install_latency
            .observe(latency.as_secs_f64());
    }

    /// A neighbour was removed from the configuration: its series go.
    pub fn remove_neighbor(&self, neighbor: IpAddr) {
        let labels = NeighborLabels {
            neighbor: Addr(neighbor),
        };
        let inner = &self.inner;
        inner.session_state.remove(&labels);
        inner.established_transitions.remove(&labels);
        inner.prefixes_received.remove(&labels);
        inner.prefixes_accepted.remove(&labels);
        inner.prefixes_advertised.remove(&labels);
        for kind in [
            MessageType::Open,
            MessageType::Update,
            MessageType::Notification,
            MessageType::Keepalive,
            MessageType::RouteRefresh,
        ] {
            let labels = MessageLabels {
                neighbor: Addr(neighbor),
                r#type: kind,
            };
            inner.messages_received.remove(&labels);
            inner.messages_sent.remove(&labels);
        }
        for verdict in [
            UpdateErrorVerdict::AttributeDiscard,
            UpdateErrorVerdict::TreatAsWithdraw,
            UpdateErrorVerdict::SessionReset,
        ] {
            inner.update_errors.remove(&VerdictLabels {
                neighbor: Addr(neighbor),
                verdict,
            });
        }
    }

    /// Every series in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a
        // bug in a label value, and leaves what was written.
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry)
        {
            tracing::error!(%error, "encoding the metrics failed");
        }
        text
    }
}
