//! Shared by the Kubernetes tests: the fake API server and object
//! fixtures.

#![allow(dead_code)]

pub mod fake_apiserver;
pub mod fixtures;
