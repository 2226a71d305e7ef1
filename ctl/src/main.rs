//! `twillctl`: the operator CLI that talks to the agent's local API.
//!
//! Not built yet: see the open "twill-agent ... twillctl" issue.

fn main() {
    eprintln!("twillctl: not implemented yet (no agent API to talk to)");
    std::process::exit(2);
}
