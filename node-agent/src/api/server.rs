//! The API's listeners: a Unix socket (mode 0660) and optionally a TCP
//! address, both serving [`super::routes`] until the shutdown signal.
//!
//! ```text
//!  twillctl --HTTP/1.1--> Unix socket ---+
//!  scripts  --HTTP/1.1--> TCP (loopback) +--> routes --ApiRequest (mpsc)--> RIB task
//!                                        |         <--oneshot reply--------
//!                                        +--> /v1/watch <--Event (broadcast)-- RIB task
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::model::Event;
use super::request::ApiRequest;
use super::routes::{router, AppState};
use crate::config::Api;

/// Mode of the API socket: the owner and its group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Creating the socket's directory, binding or setting the mode failed.
    #[error("API socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process answers on the socket.
    #[error("API socket {0}: in use by another process (is twill-agent already running?)")]
    InUse(PathBuf),
    /// The path exists and is not a socket; it is left alone.
    #[error("API socket {0}: exists and is not a socket")]
    NotASocket(PathBuf),
    /// Binding the TCP address failed.
    #[error("API address {addr}: {source}")]
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
}

/// The running API.
#[derive(Debug)]
pub struct ApiServer {
    socket: PathBuf,
    tcp_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
}

impl ApiServer {
    /// The Unix socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The bound TCP address, when serving on TCP too (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Waits until every listener has stopped (after the shutdown signal
    /// and the end of the open requests) and the socket file is removed.
    pub async fn join(self) -> io::Result<()> {
        let mut result = Ok(());
        for task in self.tasks {
            let outcome = task
                .await
                .unwrap_or_else(|error| Err(io::Error::other(error)));
            if result.is_ok() {
                result = outcome;
            }
        }
        match std::fs::remove_file(&self.socket) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(socket = %self.socket.display(), %error, "removing the API socket")
            }
        }
        result
    }
}

/// Starts the API as configured in `api`: binds the Unix socket (creating
/// its directory if missing, replacing a stale socket file, mode
/// [`SOCKET_MODE`]) and the TCP address if any, then serves in spawned
/// tasks until `shutdown` completes. Questions go to the RIB task on
/// `requests`; `GET /v1/watch` streams what is sent on `events`.
///
/// Errors (the socket in use, a bind failure) come back before anything
/// is served, so the agent can refuse to start.
pub async fn serve(
    api: &Api,
    requests: mpsc::Sender<ApiRequest>,
    events: broadcast::Sender<Event>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ApiServer, ServeError> {
    let unix = bind_unix(&api.socket)?;
    let tcp = match api.tcp {
        Some(addr) => {
            if !addr.ip().is_loopback() {
                tracing::warn!(address = %addr, "the API on a non-loopback address: anyone who reaches it can reset sessions (there is no authentication)");
            }
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Tcp { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| ServeError::Tcp { addr, source })?;
            Some((listener, local))
        }
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let app = router(AppState::new(requests, events, stop_rx.clone()));

    let mut tasks = Vec::new();
    tracing::info!(socket = %api.socket.display(), "API listening");
    let app_unix = app.clone();
    let stop = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        axum::serve(unix, app_unix)
            .with_graceful_shutdown(stopped(stop))
            .await
    }));
    let tcp_addr = tcp.as_ref().map(|(_, local)| *local);
    if let Some((listener, local)) = tcp {
        tracing::info!(address = %local, "API listening on TCP");
        let stop = stop_rx;
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped(stop))
                .await
        }));
    }
    Ok(ApiServer {
        socket: api.socket.clone(),
        tcp_addr,
        tasks,
    })
}

/// Completes when the shutdown flag is set (or its sender is gone).
pub(super) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn bind_unix(path: &Path) -> Result<UnixListener, ServeError> {
    let socket_error = |source| ServeError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(socket_error)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket file that nobody answers on is left over from a
            // process that did not clean up: replace it.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::InUse(path.to_path_buf()));
            }
            tracing::info!(socket = %path.display(), "removing a stale API socket");
            std::fs::remove_file(path).map_err(socket_error)?;
        }
        Ok(_) => return Err(ServeError::NotASocket(path.to_path_buf())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(socket_error(error)),
    }
    let listener = UnixListener::bind(path).map_err(socket_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(socket_error)?;
    Ok(listener)
}
