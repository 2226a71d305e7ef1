//! The BGP-4 protocol for Twill.
//!
//! - [`wire`]: the message codec (RFC 4271, 4760, 6793, 7606, 7911, ...):
//!   pure functions over byte slices, no I/O.
//!
//! - [`fsm`]: the RFC 4271 §8 state machine and §6.8 collision detection,
//!   a pure function of (state, event) to (state, actions).
//!
//! - [`session`]: one tokio task per peer that owns its connections and
//!   drives the FSM; events up to the RIB owner, commands down.
//!
//! - [`speaker`]: listeners, outgoing connections, socket options (TCP-MD5,
//!   GTSM, TTL, MSS) and the peers' session tasks.
#![deny(unsafe_code)]

pub mod fsm;
pub mod session;
pub mod speaker;
pub mod wire;
