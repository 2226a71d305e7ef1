//! The per-node status resource: `BGPNodeStatus/<node>`, kept current
//! from the agent's neighbour states so that `kubectl get bgpnodestatuses`
//! shows every node's BGP health.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

use crate::api::model::{Neighbor, SessionState};
use crate::config::Config;

use super::crd::{BgpNodeStatus, NodeStatus, SessionStatus, GROUP, VERSION};

/// The field manager of the agent's writes (server-side apply).
pub const FIELD_MANAGER: &str = "twill-agent";

/// The status of a node running `config` with these neighbours (without
/// the `updated` time).
pub fn node_status(config: &Config, neighbors: &[Neighbor]) -> NodeStatus {
    let mut sessions: Vec<SessionStatus> = neighbors
        .iter()
        .map(|n| SessionStatus {
            address: n.address,
            asn: n.asn,
            description: n.description.clone(),
            state: format!("{:?}", n.state),
            uptime_minutes: n.uptime_secs.map(|s| s / 60),
            prefixes_received: n.prefixes.received,
            prefixes_accepted: n.prefixes.accepted,
            prefixes_advertised: n.prefixes.advertised,
            last_down_reason: n.last_down_reason.clone(),
        })
        .collect();
    sessions.sort_by_key(|s| s.address);
    NodeStatus {
        asn: config.local_asn,
        router_id: Some(config.router_id),
        established: count(
            neighbors
                .iter()
                .filter(|n| n.state == SessionState::Established)
                .count(),
        ),
        sessions_total: count(sessions.len()),
        sessions,
        updated: None,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes `BGPNodeStatus/<node>` whenever the status changes, at most once
/// per `interval`; returns when either channel closes.
pub async fn run(
    client: Client,
    node: String,
    mut config: watch::Receiver<Config>,
    mut neighbors: watch::Receiver<Vec<Neighbor>>,
    interval: Duration,
) {
    let api: Api<BgpNodeStatus> = Api::all(client);
    let mut written: Option<NodeStatus> = None;
    let mut created = false;
    loop {
        let status = node_status(&config.borrow_and_update(), &neighbors.borrow_and_update());
        if written.as_ref() != Some(&status) {
            match write(&api, &node, &status, &mut created).await {
                Ok(()) => written = Some(status),
                Err(e) => warn!(%node, "BGPNodeStatus: {e}"),
            }
        }
        tokio::time::sleep(interval).await;
        tokio::select! {
            r = config.changed() => if r.is_err() { return },
            r = neighbors.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn write(
    api: &Api<BgpNodeStatus>,
    node: &str,
    status: &NodeStatus,
    created: &mut bool,
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if !*created {
        let object = json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": "BGPNodeStatus",
            "metadata": { "name": node },
            "spec": { "node": node },
        });
        api.patch(node, &params, &Patch::Apply(&object)).await?;
        *created = true;
    }
    let mut status = status.clone();
    status.updated = Some(k8s_openapi::jiff::Timestamp::now().to_string());
    let patch = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "BGPNodeStatus",
        "metadata": { "name": node },
        "status": status,
    });
    api.patch_status(node, &params, &Patch::Apply(&patch))
        .await?;
    Ok(())
}
