//! The metrics listener: `GET /metrics`, `/healthz`, `/readyz` over HTTP.
//!
//! Off unless `metrics.address` is configured; use a loopback address
//! (the endpoint has no authentication).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Metrics, CONTENT_TYPE};

#[derive(Debug, Clone)]
struct AppState {
    metrics: Metrics,
    converged: watch::Receiver<bool>,
}

/// A running metrics listener.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl MetricsServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the listener stops (after the shutdown signal).
    pub async fn join(self) -> io::Result<()> {
        self.task
            .await
            .unwrap_or_else(|error| Err(io::Error::other(error)))
    }
}

/// Binds `addr` and serves, until `shutdown` completes:
///
/// - `GET /metrics`: [`Metrics::encode`];
/// - `GET /healthz`: 200 while the process runs (liveness);
/// - `GET /readyz`: 200 once `converged` is true (the first FIB sync
///   after the initial routes, or graceful restart's End-of-RIB), 503
///   before (readiness).
///
/// A bind failure is returned at once, so the agent refuses to start.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    converged: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<MetricsServer> {
    if !addr.ip().is_loopback() {
        tracing::warn!(address = %addr, "metrics on a non-loopback address (no authentication)");
    }
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let app = router(metrics, converged);
    tracing::info!(%local_addr, "metrics listening");
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok(MetricsServer { local_addr, task })
}

fn router(metrics: Metrics, converged: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(get_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(get_readyz))
        .with_state(AppState { metrics, converged })
}

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.encode(),
    )
}

async fn get_readyz(State(state): State<AppState>) -> impl IntoResponse {
    if *state.converged.borrow() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not converged\n")
    }
}
