//! Kubernetes mode of `twill-agent` (`--kubernetes`).
//!
//! ```text
//!  API server --list/watch--> reflectors (Node, Service, EndpointSlice,
//!                             BGPConfiguration, BGPPeer, Secret)
//!        |                         | each burst of events (debounced)
//!        |                         v
//!        |            desired_config(Inputs) -> Config  (pure)
//!        |                         | validated, when changed
//!        |                         v
//!        |            watch::Receiver<Config>  --> the agent's reload
//!        |
//!        +<--PATCH BGPNodeStatus/<node>/status <-- status::run (neighbour states)
//! ```
//!
//! - [`crd`]: Twill's resources (`BGPConfiguration`, `BGPPeer`,
//!   `BGPNodeStatus`), their specs built from [`crate::config`]'s types.
//! - [`node_info`], [`mesh`], [`services`], [`desired`]: the pure rules:
//!   what a Node says, the node-to-node sessions, which Service addresses
//!   this node advertises, and the whole desired configuration.
//! - [`controller`]: the reflectors and the loop.
//! - [`status`]: the per-node status resource.
//! - [`mode`]: what `twill-agent --kubernetes` calls: the client, the
//!   controller from the environment (`NODE_NAME`), the status writer.
//!
//! `docs/kubernetes.md` is the operator's guide.

pub mod controller;
pub mod crd;
pub mod desired;
pub mod mesh;
pub mod mode;
pub mod node_info;
pub mod services;
pub mod status;

pub use controller::{start, Controller, Options, StartError, Stores};
pub use crd::{
    Advertise, Attributes, BgpConfiguration, BgpConfigurationSpec, BgpNodeStatus,
    BgpNodeStatusSpec, BgpPeer, BgpPeerSpec, NodeStatus, RouteReflectors, SecretKeyRef,
    SessionStatus,
};
pub use desired::{desired_config, Desired, DesiredError, Inputs, LocalSettings};

/// Every CustomResourceDefinition of Twill, as one YAML stream (documents
/// separated by `---`), in the order `deploy/crds/` keeps them.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    use kube::CustomResourceExt;
    let mut out = String::new();
    for crd in [
        BgpConfiguration::crd(),
        BgpPeer::crd(),
        BgpNodeStatus::crd(),
    ] {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
