//! Requests from the API server to the task that owns the RIB.
//!
//! The server never touches the RIB: each HTTP request becomes one
//! [`ApiRequest`] on a bounded channel, answered on a one-shot channel.
//! Tests answer them with a fake.

use std::net::IpAddr;

use tokio::sync::oneshot;

use super::model::{FibRoute, Neighbor, NeighborAction, RibQuery, Route, Status};

/// Why a request failed; the server maps it to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No such neighbour, prefix... (404).
    #[error("{0}")]
    NotFound(String),
    /// A malformed query (400).
    #[error("{0}")]
    BadRequest(String),
    /// The agent could not do it (500).
    #[error("{0}")]
    Internal(String),
}

/// The reply channel of a request.
pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// One question or command for the RIB task.
#[derive(Debug)]
pub enum ApiRequest {
    /// The agent as a whole.
    Status(Reply<Status>),
    /// Every neighbour.
    Neighbors(Reply<Vec<Neighbor>>),
    /// One neighbour.
    Neighbor(IpAddr, Reply<Neighbor>),
    /// Loc-RIB.
    Rib(RibQuery, Reply<Vec<Route>>),
    /// Adj-RIB-In of a neighbour (post-policy; pre-policy too where soft
    /// reconfiguration inbound keeps it).
    RibIn(IpAddr, RibQuery, Reply<Vec<Route>>),
    /// Adj-RIB-Out of a neighbour.
    RibOut(IpAddr, RibQuery, Reply<Vec<Route>>),
    /// The kernel routes.
    Fib(Reply<Vec<FibRoute>>),
    /// Reset, refresh, shut down or start a neighbour.
    Action(IpAddr, NeighborAction, Reply<()>),
}
