//! What `twill-agent --kubernetes` needs from this module: a client (in
//! the cluster, or from a kubeconfig), the controller, and the status
//! writer fed by the agent's neighbour states.

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::model::Neighbor;
use crate::api::request::ApiRequest;
use crate::config::Config;

use super::controller::{start, Controller, Options, StartError};
use super::desired::LocalSettings;

/// The environment variable holding this node's name (the downward API's
/// `spec.nodeName`).
pub const NODE_NAME_ENV: &str = "NODE_NAME";
/// The environment variable holding Twill's namespace (the downward API's
/// `metadata.namespace`); `twill-system` when unset.
pub const NAMESPACE_ENV: &str = "TWILL_NAMESPACE";
/// Twill's namespace when [`NAMESPACE_ENV`] is unset.
pub const DEFAULT_NAMESPACE: &str = "twill-system";
/// How often the status resource is brought up to date (when it changed).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Why Kubernetes mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    /// `NODE_NAME` is not set.
    #[error("{NODE_NAME_ENV} is not set (the DaemonSet sets it from spec.nodeName)")]
    NoNodeName,
    /// The kubeconfig could not be read.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor the in-cluster environment.
    #[error("Kubernetes client configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// The controller stopped first.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Kubernetes mode, running.
pub struct Cluster {
    /// The client.
    pub client: Client,
    /// This node's name.
    pub node_name: String,
    /// The controller; its `config` receiver has the desired configuration.
    pub controller: Controller,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_name", &self.node_name)
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

/// A client from `kubeconfig`, or else from the usual places (`KUBECONFIG`,
/// `~/.kube/config`, then the in-cluster service account).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ModeError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| ModeError::Kubeconfig {
                path: path.display().to_string(),
                source,
            })?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|source| ModeError::Kubeconfig {
                    path: path.display().to_string(),
                    source,
                })?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Connects, starts the controller for the node named by `NODE_NAME`, and
/// returns once this node's first configuration is known.
pub async fn start_from_env(
    kubeconfig: Option<&Path>,
    local: LocalSettings,
) -> Result<Cluster, ModeError> {
    let node_name = std::env::var(NODE_NAME_ENV)
        .ok()
        .filter(|n| !n.is_empty())
        .ok_or(ModeError::NoNodeName)?;
    let namespace = std::env::var(NAMESPACE_ENV)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let client = client(kubeconfig).await?;
    let mut options = Options::new(node_name.clone(), namespace);
    options.local = local;
    let controller = start(client.clone(), options).await?;
    Ok(Cluster {
        client,
        node_name,
        controller,
    })
}

impl Cluster {
    /// The desired configurations.
    pub fn configs(&self) -> watch::Receiver<Config> {
        self.controller.config.clone()
    }

    /// Starts keeping `BGPNodeStatus/<node>` current from the agent's
    /// neighbour states (asked of the RIB task through `api`).
    pub fn spawn_status(&self, api: mpsc::Sender<ApiRequest>) -> JoinHandle<()> {
        let neighbors = neighbors_from_api(api, STATUS_INTERVAL);
        tokio::spawn(super::status::run(
            self.client.clone(),
            self.node_name.clone(),
            self.configs(),
            neighbors,
            STATUS_INTERVAL,
        ))
    }
}

/// The neighbour states, asked of the RIB task every `every`; the
/// receiver changes only when they do. Ends when the RIB task does.
pub fn neighbors_from_api(
    api: mpsc::Sender<ApiRequest>,
    every: Duration,
) -> watch::Receiver<Vec<Neighbor>> {
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        loop {
            let (reply, answer) = oneshot::channel();
            if api.send(ApiRequest::Neighbors(reply)).await.is_err() {
                return;
            }
            match answer.await {
                Ok(Ok(list)) => {
                    tx.send_if_modified(|old| {
                        let changed = *old != list;
                        if changed {
                            *old = list;
                        }
                        changed
                    });
                }
                Ok(Err(_)) => {}
                Err(_) => return,
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    rx
}

/// What became of a desired configuration handed to [`apply`].
#[derive(Debug)]
pub enum Applied {
    /// Applied (possibly nothing to do): the change.
    Changed(crate::config::ConfigChange),
    /// Refused: not valid; the running configuration stays.
    Invalid(crate::config::ConfigErrors),
    /// The change resets every session (AS, router id, cluster id,
    /// decision): the agent must restart to apply it.
    NeedsRestart(crate::config::ConfigChange),
    /// The agent is stopping.
    Stopped,
}

/// Applies a desired configuration from the cluster to the running agent,
/// changing only the difference ([`crate::agent::Agent::reconfigure`]).
pub async fn apply(agent: &mut crate::agent::Agent, desired: Config) -> Applied {
    use crate::agent::ReconfigureError;
    let valid = match crate::config::validate(desired) {
        Ok(v) => v,
        Err(e) => return Applied::Invalid(e),
    };
    match agent.reconfigure(valid).await {
        Ok(change) => Applied::Changed(change),
        Err(ReconfigureError::NeedsRestart(change)) => Applied::NeedsRestart(change),
        Err(ReconfigureError::Stopped) => Applied::Stopped,
    }
}

/// The next desired configuration, or never when there is no cluster (or
/// its controller stopped): for a `select!` arm.
pub async fn next_config(configs: &mut Option<watch::Receiver<Config>>) -> Config {
    if let Some(rx) = configs {
        if rx.changed().await.is_ok() {
            return rx.borrow_and_update().clone();
        }
        tracing::error!("the Kubernetes controller stopped; the running configuration stays");
        *configs = None;
    }
    std::future::pending().await
}
