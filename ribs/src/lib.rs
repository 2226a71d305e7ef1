//! Twill's routing information bases.
//!
//! Adj-RIB-In, Loc-RIB and Adj-RIB-Out with the RFC 4271 §9.1 decision
//! process live here (issue "RIBs"). This crate has no sockets, no kernel
//! and no Kubernetes: it consumes decoded [`bgp::wire`] messages and produces
//! routes and UPDATEs.
#![forbid(unsafe_code)]

/// The address families the RIBs hold (RFC 4760 AFI/SAFI).
pub use bgp::wire::Family;
