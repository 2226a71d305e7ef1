//! `twill-agent`: the node daemon (speaker, RIB task, FIB writer, local API).
//!
//! Not built yet: see the open "twill-agent in standalone mode" issue. The
//! binary exists so that the workspace layout is fixed from the start.

fn main() {
    eprintln!("twill-agent: not implemented yet (BGP codec only in this release)");
    std::process::exit(2);
}
