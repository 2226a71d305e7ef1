//! The reflector-fed loop: watches the cluster (never polls), and after
//! each burst of changes computes [`desired_config`] and publishes it when
//! it differs from the last one.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{self, Config};

use super::crd::{BgpConfiguration, BgpPeer};
use super::desired::{desired_config, Inputs, LocalSettings};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// This node's name (the downward API's `spec.nodeName`, in
    /// `NODE_NAME`).
    pub node_name: String,
    /// Twill's namespace: where the BGPPeers' Secrets are.
    pub namespace: String,
    /// This agent's own settings (listen, API, metrics, logging).
    pub local: LocalSettings,
    /// Changes arriving within this delay of the first are applied
    /// together.
    pub debounce: Duration,
}

impl Options {
    /// Options for `node_name`, Secrets in `namespace`, a 200 ms debounce.
    pub fn new(node_name: impl Into<String>, namespace: impl Into<String>) -> Options {
        Options {
            node_name: node_name.into(),
            namespace: namespace.into(),
            local: LocalSettings::default(),
            debounce: Duration::from_millis(200),
        }
    }
}

/// The reflectors' caches.
#[derive(Clone)]
pub struct Stores {
    /// Nodes.
    pub nodes: Store<Node>,
    /// Services.
    pub services: Store<Service>,
    /// EndpointSlices.
    pub slices: Store<EndpointSlice>,
    /// BGPConfigurations.
    pub configurations: Store<BgpConfiguration>,
    /// BGPPeers.
    pub peers: Store<BgpPeer>,
    /// Secrets of Twill's namespace.
    pub secrets: Store<Secret>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Whether every reflector has listed once.
    pub fn ready(&self) -> bool {
        fn is<K>(s: &Store<K>) -> bool
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Eq + Hash + Clone,
        {
            matches!(s.wait_until_ready().now_or_never(), Some(Ok(())))
        }
        is(&self.nodes)
            && is(&self.services)
            && is(&self.slices)
            && is(&self.configurations)
            && is(&self.peers)
            && is(&self.secrets)
    }

    /// The desired configuration from the caches as they are now.
    pub fn desired(
        &self,
        node: &str,
        local: &LocalSettings,
    ) -> Result<super::Desired, super::DesiredError> {
        let (nodes, services, slices) = (
            self.nodes.state(),
            self.services.state(),
            self.slices.state(),
        );
        let (configurations, peers, secrets) = (
            self.configurations.state(),
            self.peers.state(),
            self.secrets.state(),
        );
        let nodes = refs(&nodes);
        let services = refs(&services);
        let slices = refs(&slices);
        let configurations = refs(&configurations);
        let peers = refs(&peers);
        let secrets = refs(&secrets);
        desired_config(&Inputs {
            node_name: node,
            nodes: &nodes,
            services: &services,
            slices: &slices,
            configurations: &configurations,
            peers: &peers,
            secrets: &secrets,
            local,
        })
    }
}

fn refs<K>(v: &[Arc<K>]) -> Vec<&K> {
    v.iter().map(|a| a.as_ref()).collect()
}

/// A running controller.
#[derive(Debug)]
pub struct Controller {
    /// Each new desired configuration of this node (already validated).
    pub config: watch::Receiver<Config>,
    /// The reflectors' caches.
    pub stores: Stores,
    /// The loop; it ends when every receiver of `config` is dropped.
    pub task: JoinHandle<()>,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The loop ended before the first configuration.
    #[error("the Kubernetes controller stopped before it had a configuration")]
    Stopped,
}

/// Starts the reflectors and the loop, and returns once the first valid
/// configuration of this node is known (until then it logs why there is
/// none: no BGPConfiguration yet, this Node missing, ...).
pub async fn start(client: Client, options: Options) -> Result<Controller, StartError> {
    let (stores, events) = reflectors(client, &options.namespace);
    let (first_tx, first_rx) = oneshot::channel();
    let task = tokio::spawn(run_loop(stores.clone(), events, options, first_tx));
    match first_rx.await {
        Ok(config) => Ok(Controller {
            config,
            stores,
            task,
        }),
        Err(_) => Err(StartError::Stopped),
    }
}

fn reflectors(client: Client, namespace: &str) -> (Stores, BoxStream<'static, ()>) {
    let wc = watcher::Config::default;
    let (nodes, s1) = reflect(Api::<Node>::all(client.clone()), wc());
    let (services, s2) = reflect(Api::<Service>::all(client.clone()), wc());
    let (slices, s3) = reflect(Api::<EndpointSlice>::all(client.clone()), wc());
    let (configurations, s4) = reflect(Api::<BgpConfiguration>::all(client.clone()), wc());
    let (peers, s5) = reflect(Api::<BgpPeer>::all(client.clone()), wc());
    let (secrets, s6) = reflect(Api::<Secret>::namespaced(client, namespace), wc());
    let stores = Stores {
        nodes,
        services,
        slices,
        configurations,
        peers,
        secrets,
    };
    (stores, stream::select_all([s1, s2, s3, s4, s5, s6]).boxed())
}

/// A reflector over `api`: its cache, and a stream that yields once per
/// watch event (the watcher re-lists after `410 Gone` and resumes dropped
/// watches from the last resourceVersion, with backoff on errors).
fn reflect<K>(api: Api<K>, wc: watcher::Config) -> (Store<K>, BoxStream<'static, ()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let events = watcher(api, wc)
        .default_backoff()
        .reflect(writer)
        .filter_map(move |ev| {
            let kind = kind.clone();
            async move {
                match ev {
                    Ok(_) => Some(()),
                    Err(e) => {
                        warn!(%kind, "watch: {e}");
                        None
                    }
                }
            }
        })
        .boxed();
    (reader, events)
}

async fn run_loop(
    stores: Stores,
    mut events: BoxStream<'static, ()>,
    options: Options,
    first: oneshot::Sender<watch::Receiver<Config>>,
) {
    let mut first = Some(first);
    let mut out: Option<watch::Sender<Config>> = None;
    let mut due: Option<Instant> = None;
    let mut last_problem = String::new();
    loop {
        let deadline = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ev = events.next() => match ev {
                Some(()) => {
                    due.get_or_insert_with(|| Instant::now() + options.debounce);
                }
                None => return,
            },
            _ = tokio::time::sleep_until(deadline), if due.is_some() => {
                due = None;
                if !stores.ready() {
                    continue;
                }
                let config = match evaluate(&stores, &options, &mut last_problem) {
                    Some(c) => c,
                    None => continue,
                };
                match &out {
                    None => {
                        let (tx, rx) = watch::channel(config);
                        if let Some(f) = first.take() {
                            if f.send(rx).is_err() {
                                return;
                            }
                        }
                        info!(node = %options.node_name, "first configuration from the cluster");
                        out = Some(tx);
                    }
                    Some(tx) => {
                        if tx.is_closed() {
                            return;
                        }
                        tx.send_if_modified(|old| {
                            if *old == config {
                                false
                            } else {
                                debug!("configuration changed");
                                *old = config;
                                true
                            }
                        });
                    }
                }
            }
        }
    }
}

/// The desired configuration if it is valid; logs each new problem once.
fn evaluate(stores: &Stores, options: &Options, last_problem: &mut String) -> Option<Config> {
    let problem = match stores.desired(&options.node_name, &options.local) {
        Ok(d) => {
            for w in &d.warnings {
                if !last_problem.contains(w.as_str()) {
                    warn!("{w}");
                }
            }
            let warnings = d.warnings.join("\n");
            match config::validate(d.config.clone()) {
                Ok(_) => {
                    *last_problem = warnings;
                    return Some(d.config);
                }
                Err(e) => format!("the configuration from the cluster is not valid:\n{e}"),
            }
        }
        Err(e) => e.to_string(),
    };
    if *last_problem != problem {
        warn!("{problem}; keeping the running configuration");
        *last_problem = problem;
    }
    None
}
