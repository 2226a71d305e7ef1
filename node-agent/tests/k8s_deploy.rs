//! `deploy/`: every manifest parses into its Kubernetes type with no
//! unknown field, the CRDs are the ones the Rust types generate, the
//! DaemonSet and RBAC are least privilege, and the example resources
//! configure a node.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use node_agent::config::{self, Password};
use node_agent::k8s::{self, BgpConfiguration, BgpPeer, Inputs, LocalSettings};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The standalone configuration file's example: not a Kubernetes
/// manifest (the configuration tests check it).
const NOT_MANIFESTS: &[&str] = &["examples/twill-agent.yaml"];

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Every manifest of `deploy/` (not kustomization files), with its file.
fn manifests() -> Vec<(String, Value)> {
    let root = deploy();
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if NOT_MANIFESTS.contains(&rel.as_str()) || rel.ends_with("kustomization.yaml") {
            continue;
        }
        for d in documents(&f) {
            out.push((rel.clone(), d));
        }
    }
    out
}

/// Parses `doc` as `T`; for the API's own types, serializing it back must
/// give the document again (so no field is misspelt or unknown).
fn typed<T: DeserializeOwned + Serialize>(file: &str, doc: &Value, round_trip: bool) -> T {
    let t: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: {} {}: {e}", doc["kind"], doc["metadata"]["name"]));
    if round_trip {
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(
            &back, doc,
            "{file}: {} {} has fields its type does not know",
            doc["kind"], doc["metadata"]["name"]
        );
    }
    t
}

#[test]
fn the_crds_in_deploy_are_the_generated_ones() {
    let committed = std::fs::read_to_string(deploy().join("crds/twill.io.yaml")).unwrap();
    let generated = k8s::crds_yaml().unwrap();
    assert!(
        committed == generated,
        "deploy/crds/twill.io.yaml is stale: run\n  cargo run -p node-agent --bin twill-crds > deploy/crds/twill.io.yaml"
    );
    // And it parses as three CRDs of group twill.io.
    let crds: Vec<CustomResourceDefinition> = documents(&deploy().join("crds/twill.io.yaml"))
        .iter()
        .map(|d| typed("crds/twill.io.yaml", d, true))
        .collect();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bgpconfigurations.twill.io",
            "bgppeers.twill.io",
            "bgpnodestatuses.twill.io"
        ]
    );
    for c in &crds {
        assert_eq!(c.spec.scope, "Cluster");
        assert_eq!(c.spec.versions[0].name, "v1alpha1");
    }
    // Only the status resource has a status subresource.
    let status: Vec<bool> = crds
        .iter()
        .map(|c| {
            c.spec.versions[0]
                .subresources
                .as_ref()
                .is_some_and(|s| s.status.is_some())
        })
        .collect();
    assert_eq!(status, [false, false, true]);
}

#[test]
fn every_manifest_parses_into_its_type() {
    let mut kinds = BTreeSet::new();
    for (file, doc) in manifests() {
        let kind = doc["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no kind"));
        assert!(
            doc["apiVersion"].is_string(),
            "{file}: {kind} without apiVersion"
        );
        assert!(
            doc["metadata"]["name"].is_string(),
            "{file}: {kind} without name"
        );
        kinds.insert(kind.to_string());
        match kind {
            "Namespace" => drop(typed::<Namespace>(&file, &doc, true)),
            "ServiceAccount" => drop(typed::<ServiceAccount>(&file, &doc, true)),
            "ClusterRole" => drop(typed::<ClusterRole>(&file, &doc, true)),
            "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(&file, &doc, true)),
            "Role" => drop(typed::<Role>(&file, &doc, true)),
            "RoleBinding" => drop(typed::<RoleBinding>(&file, &doc, true)),
            "DaemonSet" => drop(typed::<DaemonSet>(&file, &doc, true)),
            "Secret" => drop(typed::<Secret>(&file, &doc, true)),
            "CustomResourceDefinition" => {
                drop(typed::<CustomResourceDefinition>(&file, &doc, true))
            }
            // Twill's own: their specs refuse unknown fields.
            "BGPConfiguration" => drop(typed::<BgpConfiguration>(&file, &doc, false)),
            "BGPPeer" => drop(typed::<BgpPeer>(&file, &doc, false)),
            other => panic!("{file}: unexpected kind {other}"),
        }
    }
    let expected = [
        "BGPConfiguration",
        "BGPPeer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "DaemonSet",
        "Namespace",
        "Role",
        "RoleBinding",
        "Secret",
        "ServiceAccount",
    ];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn a_misspelt_field_is_caught() {
    // The check above is not vacuous.
    let doc = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": "x", "namespce": "typo" },
    });
    let r = std::panic::catch_unwind(|| typed::<ServiceAccount>("x.yaml", &doc, true));
    assert!(r.is_err());
}

#[test]
fn the_kustomizations_list_every_manifest() {
    let root = deploy();
    for dir in [root.clone(), root.join("examples/kubernetes")] {
        let k = &documents(&dir.join("kustomization.yaml"))[0];
        let listed: BTreeSet<String> = k["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        for r in &listed {
            assert!(
                dir.join(r).is_file(),
                "{}: {r} does not exist",
                dir.display()
            );
        }
        let mut files = Vec::new();
        yaml_files(&dir, &mut files);
        for f in files {
            let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("examples/") || rel == "kustomization.yaml" {
                continue;
            }
            assert!(
                listed.contains(&rel),
                "{}: {rel} is not in kustomization.yaml",
                dir.display()
            );
        }
    }
}

fn the<T: DeserializeOwned + Serialize>(kind: &str, name: &str) -> T {
    let (file, doc) = manifests()
        .into_iter()
        .find(|(_, d)| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/"));
    typed(&file, &doc, false)
}

#[test]
fn the_daemonset_runs_on_every_node_with_two_capabilities_only() {
    let ds: DaemonSet = the("DaemonSet", "twill-agent");
    let spec = ds.spec.unwrap();
    let update = spec.update_strategy.unwrap();
    assert_eq!(update.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(
        update.rolling_update.unwrap().max_unavailable,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("twill-agent"));
    let tolerations = pod.tolerations.unwrap();
    assert_eq!(tolerations.len(), 1);
    assert_eq!(tolerations[0].operator.as_deref(), Some("Exists"));
    assert_eq!(tolerations[0].key, None);
    // Stopping must fit well within the peers' graceful restart time.
    let grace = pod.termination_grace_period_seconds.unwrap();
    let restart_time = config::GracefulRestart::default().restart_time;
    assert!(grace > 0 && grace * 2 <= i64::from(restart_time), "{grace}");
    let c = &pod.containers[0];
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let caps = sc.capabilities.unwrap();
    assert_eq!(caps.add.unwrap(), ["NET_ADMIN", "NET_BIND_SERVICE"]);
    assert_eq!(caps.drop.unwrap(), ["ALL"]);
    assert!(c
        .args
        .as_ref()
        .unwrap()
        .contains(&"--kubernetes".to_string()));
    let env = c.env.clone().unwrap();
    let node_name = env.iter().find(|e| e.name == "NODE_NAME").unwrap();
    assert_eq!(
        node_name
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
    assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
}

#[test]
fn rbac_is_least_privilege() {
    let cr: ClusterRole = the("ClusterRole", "twill-agent");
    let read = ["get", "list", "watch"];
    for rule in cr.rules.unwrap() {
        let resources = rule.resources.clone().unwrap();
        let verbs = rule.verbs.clone();
        assert!(
            !resources.iter().any(|r| r == "*" || r == "secrets"),
            "{rule:?}"
        );
        assert!(
            !verbs
                .iter()
                .any(|v| v == "*" || v == "delete" || v == "deletecollection"),
            "{rule:?}"
        );
        let writes: Vec<&String> = verbs
            .iter()
            .filter(|v| !read.contains(&v.as_str()))
            .collect();
        if !writes.is_empty() {
            assert_eq!(
                rule.api_groups.as_deref(),
                Some(&["twill.io".to_string()][..])
            );
            assert!(
                resources.iter().all(|r| r.starts_with("bgpnodestatuses")),
                "writes only to the status resource: {rule:?}"
            );
        }
    }
    let role: Role = the("Role", "twill-agent-secrets");
    assert_eq!(role.metadata.namespace.as_deref(), Some("twill-system"));
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["secrets".to_string()][..])
    );
    assert_eq!(rules[0].verbs, read);
}

#[test]
fn the_example_resources_configure_a_rack_node() {
    let examples = deploy().join("examples/kubernetes");
    let configuration: BgpConfiguration =
        serde_json::from_value(documents(&examples.join("bgpconfiguration.yaml"))[0].clone())
            .unwrap();
    let peers: Vec<BgpPeer> = documents(&examples.join("bgppeers.yaml"))
        .into_iter()
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    let secret: Secret =
        serde_json::from_value(documents(&examples.join("secret.yaml"))[0].clone()).unwrap();
    let node: Node = serde_json::from_value(json!({
        "metadata": { "name": "n1", "labels": { "topology.kubernetes.io/zone": "rack-1" } },
        "spec": { "podCIDRs": ["198.19.1.0/24"] },
        "status": { "addresses": [{ "type": "InternalIP", "address": "198.18.0.11" }] },
    }))
    .unwrap();
    let local = LocalSettings::default();
    let d = k8s::desired_config(&Inputs {
        node_name: "n1",
        nodes: &[&node],
        services: &[],
        slices: &[],
        configurations: &[&configuration],
        peers: &peers.iter().collect::<Vec<_>>(),
        secrets: &[&secret],
        local: &local,
    })
    .unwrap();
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let tors: Vec<(IpAddr, Option<Password>)> = d
        .config
        .neighbors
        .iter()
        .map(|n| (n.address, n.password.clone()))
        .collect();
    assert_eq!(
        tors,
        [
            (
                "198.18.0.1".parse().unwrap(),
                Some(Password("example-key-a".into()))
            ),
            (
                "198.18.0.2".parse().unwrap(),
                Some(Password("example-key-b".into()))
            ),
        ]
    );
    if let Err(e) = config::validate(d.config) {
        panic!("the examples do not make a valid configuration:\n{e}");
    }
}

#[test]
fn the_image_holds_both_binaries() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("FROM ")).count(),
        2,
        "multi-stage"
    );
    for bin in ["twill-agent", "twillctl"] {
        assert!(text.contains(&format!("--bin {bin}")), "builds {bin}");
        assert!(
            text.contains(&format!("COPY --from=build /usr/local/bin/{bin} ")),
            "copies {bin}"
        );
    }
}
