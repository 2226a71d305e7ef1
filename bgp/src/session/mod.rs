//! BGP sessions: one tokio task per configured peer that alone owns its
//! connections, runs [`crate::fsm`] and turns its actions into I/O and
//! timers.
//!
//! - [`connection`]: the transport seam ([`Transport`], [`Connector`]) and
//!   the reader / writer tasks of one connection, behind bounded channels.
//! - [`peer`]: the peer task ([`spawn_session`]): FSM events from decoded
//!   messages, timers, connection collisions (RFC 4271 §6.8), commands.
//! - [`events`]: what goes up to the RIB owner ([`PeerEvent`]) and what
//!   comes down ([`SessionCommand`]).
//! - [`graceful_restart`]: RFC 4724 helper timers and the restarting
//!   speaker's selection deferral.
//! - [`stats`]: messages sent and received, by type.
//!
//! The session never looks at routes: UPDATEs go up decoded, with their
//! RFC 7606 findings, and UPDATEs to send come down already built.

pub mod connection;
pub mod events;
pub mod graceful_restart;
pub mod peer;
pub mod stats;

pub use connection::{ConnectFuture, Connector, NoConnect, QueueSizes, Transport};
pub use events::{PeerEvent, RouteRetention, SessionCommand, SessionEvent};
pub use graceful_restart::{GracefulRestartConfig, Helper, SelectionDeferral};
pub use peer::{spawn_session, SessionConfig, SessionHandle};
pub use stats::{MessageCounts, MessageStats};
