//! `twill-crds`: prints Twill's CustomResourceDefinitions as YAML.
//!
//! `cargo run -p node-agent --bin twill-crds > deploy/crds/twill.io.yaml`
//! regenerates the committed file; `node-agent/tests/k8s_deploy.rs` fails
//! when it is stale.

use std::process::ExitCode;

fn main() -> ExitCode {
    match node_agent::k8s::crds_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("twill-crds: {e}");
            ExitCode::FAILURE
        }
    }
}
