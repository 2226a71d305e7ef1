//! The agent's API over HTTP/1.1, on its Unix socket or a TCP address
//! (hyper's client connection, one connection per request).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use node_agent::api::model::ErrorBody;
use serde::de::DeserializeOwned;
use tokio::net::{TcpStream, UnixStream};

/// How long a request (not `watch`) may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the agent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Its Unix socket.
    Unix(PathBuf),
    /// A TCP address, `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// `--url http://HOST:PORT` (no path, no TLS).
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url {url:?}: only http://HOST:PORT is supported"))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(format!("--url {url:?}: expected http://HOST:PORT"));
        }
        Ok(Endpoint::Tcp(authority.to_string()))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(authority) => write!(f, "http://{authority}"),
        }
    }
}

/// What went wrong talking to the agent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection (exit code 3).
    #[error("cannot reach twill-agent at {endpoint}: {reason}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why, in words, with a hint.
        reason: String,
    },
    /// The agent answered with an error (exit code 1).
    #[error("{status}: {}", body.error)]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The agent's explanation.
        body: ErrorBody,
    },
    /// The exchange broke or the answer was not what the API promises
    /// (exit code 1).
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    /// The process exit code for this error: 3 when the agent cannot be
    /// reached, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Connect { .. } => 3,
            ClientError::Api { .. } | ClientError::Protocol(_) => 1,
        }
    }
}

fn connect_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file (is twill-agent running?)".to_string(),
        io::ErrorKind::ConnectionRefused => {
            "connection refused (is twill-agent running?)".to_string()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (run as root or as a member of the socket's group)".to_string()
        }
        _ => error.to_string(),
    }
}

/// A client of one agent.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
}

impl Client {
    /// A client of the agent at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Client { endpoint }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let connect_error = |error: io::Error| ClientError::Connect {
            endpoint: self.endpoint.to_string(),
            reason: connect_reason(&error),
        };
        let handshake_error = |error: hyper::Error| ClientError::Connect {
            endpoint: self.endpoint.to_string(),
            reason: error.to_string(),
        };
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(connect_error)?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(handshake_error)?;
                tokio::spawn(connection);
                Ok(sender)
            }
            Endpoint::Tcp(authority) => {
                let stream = TcpStream::connect(authority.as_str())
                    .await
                    .map_err(connect_error)?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(handshake_error)?;
                tokio::spawn(connection);
                Ok(sender)
            }
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "twill-agent".to_string(),
            Endpoint::Tcp(authority) => authority.clone(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(format!("request {path}: {e}")))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Protocol(format!("{method} {path}: {e}")))
    }

    /// One request; the body of a 2xx answer, or the error.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Bytes, ClientError> {
        let work = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("{method} {path}: {e}")))?
                .to_bytes();
            if status.is_success() {
                Ok(bytes)
            } else {
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                    error: String::from_utf8_lossy(&bytes).trim().to_string(),
                });
                Err(ClientError::Api { status, body })
            }
        };
        tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
            ClientError::Protocol(format!(
                "{method} {path}: no answer within {}s",
                TIMEOUT.as_secs()
            ))
        })?
    }

    /// `GET path`: the raw JSON body.
    pub async fn get_raw(&self, path: &str) -> Result<Bytes, ClientError> {
        self.exchange("GET", path, None).await
    }

    /// `POST path` with a JSON body: the raw JSON answer.
    pub async fn post_raw(&self, path: &str, body: String) -> Result<Bytes, ClientError> {
        self.exchange("POST", path, Some(body)).await
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(path, &self.get_raw(path).await?)
    }

    /// `GET /v1/watch`: calls `on_line` with each line (one JSON event)
    /// until the agent ends the stream or `on_line` answers false.
    pub async fn watch(&self, mut on_line: impl FnMut(&str) -> bool) -> Result<(), ClientError> {
        let path = "/v1/watch";
        let response = self.send("GET", path, None).await?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("GET {path}: {e}")))?
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                error: String::from_utf8_lossy(&bytes).trim().to_string(),
            });
            return Err(ClientError::Api { status, body });
        }
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Protocol(format!("GET {path}: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                if !text.is_empty() && !on_line(text) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The body as `T`.
pub fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body)
        .map_err(|e| ClientError::Protocol(format!("{path}: unexpected answer: {e}")))
}
