//! Twill's routing information bases.
//!
//! Adj-RIB-In, Loc-RIB and Adj-RIB-Out with the RFC 4271 §9.1 decision
//! process, policy and UPDATE packing. This crate has no sockets, no kernel
//! and no Kubernetes: it consumes decoded [`bgp::wire`] UPDATEs and produces
//! best routes (for the FIB) and UPDATEs (for the peers).
#![forbid(unsafe_code)]

pub mod add_path;
pub mod adj_rib_out;
pub mod attrs;
pub mod decision;
pub mod loc_rib;
pub mod peer;
pub mod policy;
pub mod prefix;

pub use attrs::{AttrTable, Attrs, NextHop, PathAttrs};
pub use peer::{PeerId, PeerInfo, PeerKind};
pub use prefix::Prefix;
pub mod rib;
pub mod update_group;
