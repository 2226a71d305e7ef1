//! Helpers shared by the integration tests (`mod support;`) and, through
//! `#[path]`, by the codec benchmark: an MRT reader for the real captures in
//! `shared/data/mrt` and a generator of synthetic full-table UPDATEs.
#![allow(dead_code)]

pub mod mrt;
pub mod synth;
