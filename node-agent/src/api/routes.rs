//! The API's routes: each HTTP request becomes one [`ApiRequest`] to the
//! RIB task, and its answer JSON.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/status` | [`Status`] |
//! | `GET /v1/neighbors` | `[`[`Neighbor`]`]` |
//! | `GET /v1/neighbors/{address}` | [`Neighbor`] |
//! | `GET /v1/rib?family=&prefix=&explain=` | `[`[`Route`]`]` (Loc-RIB) |
//! | `GET /v1/rib/in/{address}?...` | `[`[`Route`]`]` (Adj-RIB-In) |
//! | `GET /v1/rib/out/{address}?...` | `[`[`Route`]`]` (Adj-RIB-Out) |
//! | `GET /v1/fib` | `[`[`FibRoute`]`]` |
//! | `POST /v1/neighbors/{address}/{reset,refresh,shutdown,start}` | [`ActionDone`] |
//! | `GET /v1/watch` | [`Event`]s, one JSON object a line, until the client goes |
//!
//! Errors are an [`ErrorBody`]: 400 for a malformed address, query or
//! body, 404 for an unknown neighbour, prefix or route, 500 when the agent
//! failed, 503 when the RIB task is gone or does not answer in time.

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::model::{
    ActionBody, ActionDone, ErrorBody, Event, FibRoute, Neighbor, NeighborAction, RibQuery, Route,
    Status,
};
use super::request::{ApiError, ApiRequest, Reply};

/// How long a request waits for the RIB task before answering 503.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 9003 §2: a shutdown communication is at most 255 octets.
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

/// What every handler shares.
#[derive(Debug, Clone)]
pub(super) struct AppState {
    requests: mpsc::Sender<ApiRequest>,
    events: broadcast::Sender<Event>,
    stop: watch::Receiver<bool>,
}

impl AppState {
    pub(super) fn new(
        requests: mpsc::Sender<ApiRequest>,
        events: broadcast::Sender<Event>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        AppState {
            requests,
            events,
            stop,
        }
    }
}

pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/neighbors", get(neighbors))
        .route("/v1/neighbors/{address}", get(neighbor))
        .route("/v1/neighbors/{address}/{action}", post(action))
        .route("/v1/rib", get(rib))
        .route("/v1/rib/in/{address}", get(rib_in))
        .route("/v1/rib/out/{address}", get(rib_out))
        .route("/v1/fib", get(fib))
        .route("/v1/watch", get(watch_events))
        .fallback(|| async { HttpError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .with_state(state)
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug)]
struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unavailable(message: impl Into<String>) -> Self {
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        let status = match error {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        HttpError::new(status, error.to_string())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

type Answer<T> = Result<Json<T>, HttpError>;

/// A list that may be large (a whole RIB or FIB), serialised on a
/// blocking thread so that a table dump does not hold up the runtime's
/// workers (and the sessions' timers that share them).
struct LargeJson(Vec<u8>);

impl IntoResponse for LargeJson {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(self.0),
        )
            .into_response()
    }
}

async fn large_json<T: Serialize + Send + 'static>(
    answer: Answer<Vec<T>>,
) -> Result<LargeJson, HttpError> {
    let Json(list) = answer?;
    tokio::task::spawn_blocking(move || serde_json::to_vec(&list))
        .await
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map(LargeJson)
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Sends one request to the RIB task and waits for its reply.
async fn ask<T>(state: &AppState, request: impl FnOnce(Reply<T>) -> ApiRequest) -> Answer<T> {
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        state
            .requests
            .send(request(reply))
            .await
            .map_err(|_| HttpError::unavailable("the RIB task is not running"))?;
        answer
            .await
            .map_err(|_| HttpError::unavailable("the RIB task dropped the request"))
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Err(_) => Err(HttpError::unavailable(format!(
            "the RIB task did not answer within {}s",
            ANSWER_TIMEOUT.as_secs()
        ))),
        Ok(Err(error)) => Err(error),
        Ok(Ok(result)) => result.map(Json).map_err(HttpError::from),
    }
}

fn parse_address(text: &str) -> Result<IpAddr, HttpError> {
    text.parse()
        .map_err(|_| HttpError::bad_request(format!("not an IP address: {text:?}")))
}

/// The query of the `rib` routes, checked: a known family, and a prefix
/// that is an address or `address/length` with a length that fits.
fn rib_query(query: Result<Query<RibQuery>, QueryRejection>) -> Result<RibQuery, HttpError> {
    let Query(query) = query.map_err(|rejection| HttpError::bad_request(rejection.body_text()))?;
    if let Some(prefix) = &query.prefix {
        check_prefix(prefix).map_err(HttpError::bad_request)?;
    }
    Ok(query)
}

fn check_prefix(text: &str) -> Result<(), String> {
    let bad = || format!("not a prefix or an address: {text:?}");
    let (address, length) = match text.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    if let Some(length) = length {
        let length: u8 = length.parse().map_err(|_| bad())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        if length > max {
            return Err(format!(
                "prefix length {length} is more than {max}: {text:?}"
            ));
        }
    }
    Ok(())
}

async fn status(State(state): State<AppState>) -> Answer<Status> {
    ask(&state, ApiRequest::Status).await
}

async fn neighbors(State(state): State<AppState>) -> Answer<Vec<Neighbor>> {
    ask(&state, ApiRequest::Neighbors).await
}

async fn neighbor(State(state): State<AppState>, Path(address): Path<String>) -> Answer<Neighbor> {
    let address = parse_address(&address)?;
    ask(&state, |reply| ApiRequest::Neighbor(address, reply)).await
}

async fn rib(
    State(state): State<AppState>,
    query: Result<Query<RibQuery>, QueryRejection>,
) -> Result<LargeJson, HttpError> {
    let query = rib_query(query)?;
    large_json::<Route>(ask(&state, |reply| ApiRequest::Rib(query, reply)).await).await
}

async fn rib_in(
    State(state): State<AppState>,
    Path(address): Path<String>,
    query: Result<Query<RibQuery>, QueryRejection>,
) -> Result<LargeJson, HttpError> {
    let address = parse_address(&address)?;
    let query = rib_query(query)?;
    large_json::<Route>(ask(&state, |reply| ApiRequest::RibIn(address, query, reply)).await).await
}

async fn rib_out(
    State(state): State<AppState>,
    Path(address): Path<String>,
    query: Result<Query<RibQuery>, QueryRejection>,
) -> Result<LargeJson, HttpError> {
    let address = parse_address(&address)?;
    let query = rib_query(query)?;
    large_json::<Route>(ask(&state, |reply| ApiRequest::RibOut(address, query, reply)).await).await
}

async fn fib(State(state): State<AppState>) -> Result<LargeJson, HttpError> {
    large_json::<FibRoute>(ask(&state, ApiRequest::Fib).await).await
}

/// The action named in the path, with the body's message (empty when no
/// body); `refresh` and `start` take none.
fn neighbor_action(name: &str, body: &[u8]) -> Result<NeighborAction, HttpError> {
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|error| HttpError::bad_request(format!("body: {error}")))?
    };
    let message = body.message.unwrap_or_default();
    if message.len() > MAX_SHUTDOWN_MESSAGE {
        return Err(HttpError::bad_request(format!(
            "message: {} octets, more than the {MAX_SHUTDOWN_MESSAGE} of a shutdown communication (RFC 9003)",
            message.len()
        )));
    }
    let no_message = |action: NeighborAction| {
        if message.is_empty() {
            Ok(action)
        } else {
            Err(HttpError::bad_request(format!(
                "message: {name} takes no message"
            )))
        }
    };
    match name {
        "reset" => Ok(NeighborAction::Reset { message }),
        "shutdown" => Ok(NeighborAction::Shutdown { message }),
        "refresh" => no_message(NeighborAction::Refresh),
        "start" => no_message(NeighborAction::Start),
        _ => Err(HttpError::new(
            StatusCode::NOT_FOUND,
            format!("no such action {name:?} (reset, refresh, shutdown, start)"),
        )),
    }
}

async fn action(
    State(state): State<AppState>,
    Path((address, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer<ActionDone> {
    let neighbor = parse_address(&address)?;
    let action = neighbor_action(&name, &body)?;
    let asked = action.clone();
    let Json(()) = ask(&state, |reply| ApiRequest::Action(neighbor, asked, reply)).await?;
    Ok(Json(ActionDone { neighbor, action }))
}

/// One line of the watch stream.
fn ndjson_line<T: Serialize>(value: &T) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `GET /v1/watch`: every [`Event`] sent after the request, one JSON
/// object a line, until the client goes or the agent stops. A reader too
/// slow for the broadcast buffer gets an event of kind `watch` saying how
/// many it missed.
async fn watch_events(State(state): State<AppState>) -> Response {
    let events = state.events.subscribe();
    let stream =
        futures_util::stream::unfold((events, state.stop), |(mut events, stop)| async move {
            let next = tokio::select! {
                () = super::server::stopped(stop.clone()) => None,
                received = events.recv() => Some(received),
            };
            let line = match next? {
                Ok(event) => ndjson_line(&event),
                Err(RecvError::Lagged(missed)) => ndjson_line(&Event {
                    at_unix_ms: unix_ms(),
                    kind: "watch".to_string(),
                    neighbor: None,
                    message: format!("{missed} events missed (reader too slow)"),
                }),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok::<_, Infallible>(line), (events, stop)))
        });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}
