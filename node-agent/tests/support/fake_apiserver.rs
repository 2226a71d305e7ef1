//! An in-process fake Kubernetes API server speaking the real HTTP
//! list/watch protocol, for testing the controllers through the real
//! `kube` client and reflectors.
//!
//! - Lists: `GET /api/v1/nodes` and the like return a `...List` with
//!   `metadata.resourceVersion` (one counter for every kind, as etcd's).
//! - Watches: `GET ...?watch=true&resourceVersion=N` streams one JSON
//!   object per line (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` when
//!   `allowWatchBookmarks=true`) for every change after N; a version older
//!   than the last [`FakeApiServer::compact`] gets an `ERROR` event with
//!   a `410 Gone` Status, as the real server does, and the client must
//!   re-list. [`FakeApiServer::drop_watches`] closes every open watch;
//!   [`FakeApiServer::block_watches`] refuses new ones (503) meanwhile.
//! - `GET` and `PATCH` (server-side apply or merge patch) of one object,
//!   and of its `status` subresource.
//!
//! Served kinds: Nodes, Services, EndpointSlices, Secrets, and Twill's
//! BGPConfigurations, BGPPeers and BGPNodeStatuses.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A kind the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Service,
    EndpointSlice,
    Secret,
    BgpConfiguration,
    BgpPeer,
    BgpNodeStatus,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Node,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Secret,
        Kind::BgpConfiguration,
        Kind::BgpPeer,
        Kind::BgpNodeStatus,
    ];

    /// (API path prefix, apiVersion, kind, plural, namespaced)
    fn info(self) -> (&'static str, &'static str, &'static str, &'static str, bool) {
        match self {
            Kind::Node => ("/api/v1", "v1", "Node", "nodes", false),
            Kind::Service => ("/api/v1", "v1", "Service", "services", true),
            Kind::Secret => ("/api/v1", "v1", "Secret", "secrets", true),
            Kind::EndpointSlice => (
                "/apis/discovery.k8s.io/v1",
                "discovery.k8s.io/v1",
                "EndpointSlice",
                "endpointslices",
                true,
            ),
            Kind::BgpConfiguration => (
                "/apis/twill.io/v1alpha1",
                "twill.io/v1alpha1",
                "BGPConfiguration",
                "bgpconfigurations",
                false,
            ),
            Kind::BgpPeer => (
                "/apis/twill.io/v1alpha1",
                "twill.io/v1alpha1",
                "BGPPeer",
                "bgppeers",
                false,
            ),
            Kind::BgpNodeStatus => (
                "/apis/twill.io/v1alpha1",
                "twill.io/v1alpha1",
                "BGPNodeStatus",
                "bgpnodestatuses",
                false,
            ),
        }
    }

    fn namespaced(self) -> bool {
        self.info().4
    }
}

type Key = (Kind, String, String); // kind, namespace ("" when cluster-scoped), name

#[derive(Debug, Clone)]
struct LogEntry {
    rv: u64,
    kind: Kind,
    namespace: String,
    typ: &'static str,
    object: Value,
}

#[derive(Debug, Default)]
struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<LogEntry>,
    /// Watches from a version below this get 410 Gone.
    oldest: u64,
    /// Closes every open watch when bumped.
    drop_generation: u64,
    blocked: bool,
    lists: HashMap<Kind, usize>,
    watches: HashMap<Kind, usize>,
    gone: HashMap<Kind, usize>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Bumped on every change (objects, drops), to wake the watches.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn notify(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The fake API server, listening on a loopback port until dropped.
#[derive(Debug)]
pub struct FakeApiServer {
    shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// Starts the server on an ephemeral loopback port.
    pub async fn start() -> FakeApiServer {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind the fake API server");
        FakeApiServer::serve(listener).await
    }

    /// Serves on `listener` (bound in another network namespace, say).
    pub async fn serve(listener: std::net::TcpListener) -> FakeApiServer {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                rv: 1,
                ..Inner::default()
            }),
            changed,
        });
        let app = Router::new().fallback({
            let shared = shared.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { handle(shared, method, uri, headers, body).await }
            }
        });
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake API server");
        });
        FakeApiServer { shared, url, task }
    }

    /// A `kube::Client` for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().unwrap());
        kube::Client::try_from(config).expect("kube client")
    }

    /// Creates or replaces an object (its `kind`, `metadata.name` and
    /// `metadata.namespace` say which); returns its new resourceVersion.
    pub fn put(&self, object: Value) -> u64 {
        let kind = kind_of(&object);
        let mut inner = self.shared.inner.lock().unwrap();
        let rv = upsert(&mut inner, kind, object);
        drop(inner);
        self.shared.notify();
        rv
    }

    /// Deletes an object; false when there was none.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        let mut inner = self.shared.inner.lock().unwrap();
        let key = (kind, namespace.to_string(), name.to_string());
        let Some(mut object) = inner.objects.remove(&key) else {
            return false;
        };
        inner.rv += 1;
        let rv = inner.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.log.push(LogEntry {
            rv,
            kind,
            namespace: namespace.to_string(),
            typ: "DELETED",
            object,
        });
        drop(inner);
        self.shared.notify();
        true
    }

    /// An object as stored.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.shared.inner.lock().unwrap();
        inner
            .objects
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Forgets the history: a watch from any version before now gets
    /// `410 Gone`.
    pub fn compact(&self) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.oldest = inner.rv + 1;
        inner.log.clear();
    }

    /// Closes every open watch stream.
    pub fn drop_watches(&self) {
        self.shared.inner.lock().unwrap().drop_generation += 1;
        self.shared.notify();
    }

    /// While blocked, new watch requests get `503 Service Unavailable`.
    pub fn block_watches(&self, blocked: bool) {
        self.shared.inner.lock().unwrap().blocked = blocked;
    }

    /// Lists served for `kind` so far.
    pub fn lists(&self, kind: Kind) -> usize {
        let inner = self.shared.inner.lock().unwrap();
        inner.lists.get(&kind).copied().unwrap_or(0)
    }

    /// Watches opened for `kind` so far (not counting refused ones).
    pub fn watches(&self, kind: Kind) -> usize {
        let inner = self.shared.inner.lock().unwrap();
        inner.watches.get(&kind).copied().unwrap_or(0)
    }

    /// Watches of `kind` answered with 410 Gone so far.
    pub fn gone(&self, kind: Kind) -> usize {
        let inner = self.shared.inner.lock().unwrap();
        inner.gone.get(&kind).copied().unwrap_or(0)
    }
}

fn kind_of(object: &Value) -> Kind {
    let k = object["kind"].as_str().expect("object without kind");
    Kind::ALL
        .into_iter()
        .find(|kind| kind.info().2 == k)
        .unwrap_or_else(|| panic!("the fake API server does not serve {k}"))
}

fn upsert(inner: &mut Inner, kind: Kind, mut object: Value) -> u64 {
    let (_, api_version, kind_name, _, namespaced) = kind.info();
    let name = object["metadata"]["name"]
        .as_str()
        .expect("object without metadata.name")
        .to_string();
    let namespace = if namespaced {
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string()
    } else {
        String::new()
    };
    inner.rv += 1;
    let rv = inner.rv;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind_name);
    if namespaced {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    if object["metadata"].get("uid").is_none() {
        object["metadata"]["uid"] = json!(format!("uid-{kind_name}-{namespace}-{name}"));
    }
    let key = (kind, namespace.clone(), name);
    let typ = if inner.objects.contains_key(&key) {
        "MODIFIED"
    } else {
        "ADDED"
    };
    inner.objects.insert(key, object.clone());
    inner.log.push(LogEntry {
        rv,
        kind,
        namespace,
        typ,
        object,
    });
    rv
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What a request path names.
struct Target {
    kind: Kind,
    /// `None`: every namespace.
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    for kind in Kind::ALL {
        let (prefix, _, _, plural, namespaced) = kind.info();
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let (namespace, segs) = match segs.as_slice() {
            ["namespaces", ns, rest @ ..] if namespaced && !rest.is_empty() => {
                (Some(ns.to_string()), rest)
            }
            s => (None, s),
        };
        match segs {
            [p] if *p == plural => {
                return Some(Target {
                    kind,
                    namespace,
                    name: None,
                    subresource: None,
                })
            }
            [p, name] if *p == plural => {
                return Some(Target {
                    kind,
                    namespace,
                    name: Some(name.to_string()),
                    subresource: None,
                })
            }
            [p, name, sub] if *p == plural => {
                return Some(Target {
                    kind,
                    namespace,
                    name: Some(name.to_string()),
                    subresource: Some(sub.to_string()),
                })
            }
            _ => {}
        }
    }
    None
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn handle(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = parse_path(uri.path()) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &status(404, "NotFound", &format!("no route {}", uri.path())),
        );
    };
    let q = query(&uri);
    match (method, &target.name) {
        (Method::GET, None) => {
            if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) {
                watch_response(shared, target, &q)
            } else {
                list(&shared, &target)
            }
        }
        (Method::GET, Some(name)) => {
            let inner = shared.inner.lock().unwrap();
            let ns = target.namespace.clone().unwrap_or_default();
            match inner.objects.get(&(target.kind, ns, name.clone())) {
                Some(o) => json_response(StatusCode::OK, o),
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &status(404, "NotFound", &format!("{name} not found")),
                ),
            }
        }
        (Method::PATCH, Some(name)) => patch(&shared, &target, name, &headers, &body),
        _ => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &status(405, "MethodNotAllowed", "not served by the fake"),
        ),
    }
}

fn list(shared: &Shared, target: &Target) -> Response {
    let mut inner = shared.inner.lock().unwrap();
    *inner.lists.entry(target.kind).or_default() += 1;
    let (_, api_version, kind_name, _, _) = target.kind.info();
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|((k, ns, _), _)| {
            *k == target.kind && target.namespace.as_ref().is_none_or(|t| t == ns)
        })
        .map(|(_, o)| o.clone())
        .collect();
    let body = json!({
        "apiVersion": api_version,
        "kind": format!("{kind_name}List"),
        "metadata": { "resourceVersion": inner.rv.to_string() },
        "items": items,
    });
    json_response(StatusCode::OK, &body)
}

fn patch(
    shared: &Shared,
    target: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &status(400, "BadRequest", "the fake takes JSON patches only"),
        );
    };
    let apply = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/apply-patch"));
    let ns = target.namespace.clone().unwrap_or_default();
    let mut inner = shared.inner.lock().unwrap();
    let key = (target.kind, ns.clone(), name.to_string());
    let mut object = match inner.objects.get(&key) {
        Some(o) => o.clone(),
        None if apply && target.subresource.is_none() => {
            let mut o = json!({ "metadata": { "name": name } });
            if !ns.is_empty() {
                o["metadata"]["namespace"] = json!(ns);
            }
            o
        }
        None => {
            return json_response(
                StatusCode::NOT_FOUND,
                &status(404, "NotFound", &format!("{name} not found")),
            )
        }
    };
    match target.subresource.as_deref() {
        None => {
            let mut p = patch.clone();
            if let Some(m) = p.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            if let Some(m) = p.as_object_mut() {
                m.remove("status");
            }
            merge(&mut object, &p);
        }
        Some("status") => {
            if let Some(s) = patch.get("status") {
                if apply {
                    object["status"] = s.clone();
                } else {
                    merge(&mut object["status"], s);
                }
            }
        }
        Some(other) => {
            return json_response(
                StatusCode::NOT_FOUND,
                &status(404, "NotFound", &format!("no subresource {other}")),
            )
        }
    }
    upsert(&mut inner, target.kind, object);
    let stored = inner.objects.get(&key).cloned().unwrap();
    drop(inner);
    shared.notify();
    json_response(StatusCode::OK, &stored)
}

struct WatchState {
    shared: Arc<Shared>,
    kind: Kind,
    namespace: Option<String>,
    cursor: u64,
    generation: u64,
    bookmarks: bool,
    changed: watch::Receiver<u64>,
    pending: std::collections::VecDeque<Value>,
    deadline: tokio::time::Instant,
    done: bool,
}

/// Bookmarks are sent after this long without an event.
const BOOKMARK_EVERY: Duration = Duration::from_millis(300);

fn watch_response(shared: Arc<Shared>, target: Target, q: &HashMap<String, String>) -> Response {
    let mut inner = shared.inner.lock().unwrap();
    if inner.blocked {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &status(503, "ServiceUnavailable", "watches are blocked"),
        );
    }
    let requested: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (_, api_version, kind_name, _, _) = target.kind.info();
    let mut pending = std::collections::VecDeque::new();
    let mut done = false;
    let cursor = if requested == 0 {
        // "Any": the current state as ADDED events, then changes.
        for ((k, ns, _), o) in &inner.objects {
            if *k == target.kind && target.namespace.as_ref().is_none_or(|t| t == ns) {
                pending.push_back(json!({ "type": "ADDED", "object": o }));
            }
        }
        inner.rv
    } else if requested < inner.oldest {
        *inner.gone.entry(target.kind).or_default() += 1;
        let mut gone = status(410, "Expired", "too old resource version");
        gone["message"] = json!(format!(
            "too old resource version: {requested} ({})",
            inner.oldest
        ));
        pending.push_back(json!({ "type": "ERROR", "object": gone }));
        done = true;
        requested
    } else {
        requested
    };
    if !done {
        *inner.watches.entry(target.kind).or_default() += 1;
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(290u64);
    let state = WatchState {
        shared: shared.clone(),
        kind: target.kind,
        namespace: target.namespace,
        cursor,
        generation: inner.drop_generation,
        bookmarks: q.get("allowWatchBookmarks").map(String::as_str) == Some("true"),
        changed: shared.changed.subscribe(),
        pending,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        done,
    };
    drop(inner);
    let _ = (api_version, kind_name);
    let body = stream::unfold(state, next_line);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn next_line(
    mut st: WatchState,
) -> Option<(Result<Bytes, std::convert::Infallible>, WatchState)> {
    loop {
        if let Some(v) = st.pending.pop_front() {
            let mut line = v.to_string();
            line.push('\n');
            return Some((Ok(Bytes::from(line)), st));
        }
        if st.done {
            return None;
        }
        {
            let inner = st.shared.inner.lock().unwrap();
            if inner.drop_generation != st.generation {
                return None;
            }
            for e in inner.log.iter().filter(|e| e.rv > st.cursor) {
                if e.kind == st.kind && st.namespace.as_ref().is_none_or(|n| *n == e.namespace) {
                    st.pending
                        .push_back(json!({ "type": e.typ, "object": e.object }));
                }
            }
            st.cursor = st.cursor.max(inner.rv);
            st.changed.borrow_and_update();
            if !st.pending.is_empty() {
                continue;
            }
        }
        if tokio::time::Instant::now() >= st.deadline {
            return None;
        }
        tokio::select! {
            r = st.changed.changed() => if r.is_err() { return None },
            _ = tokio::time::sleep(BOOKMARK_EVERY) => {
                if st.bookmarks {
                    let (_, api_version, kind_name, _, _) = st.kind.info();
                    let rv = st.cursor;
                    st.pending.push_back(json!({
                        "type": "BOOKMARK",
                        "object": {
                            "apiVersion": api_version,
                            "kind": kind_name,
                            "metadata": { "resourceVersion": rv.to_string() },
                        },
                    }));
                }
            }
        }
    }
}
