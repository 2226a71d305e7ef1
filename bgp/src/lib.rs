//! The BGP-4 protocol for Twill.
//!
//! - [`wire`]: the message codec (RFC 4271, 4760, 6793, 7606, 7911, ...):
//!   pure functions over byte slices, no I/O.
//!
//! The state machine (`fsm`) and the session tasks (`session`, `speaker`)
//! come with the "BGP speaker" issue.
#![forbid(unsafe_code)]

pub mod wire;
