//! `bench`: Twill against BIRD, FRR and GoBGP on the same work, in one run
//! (`docs/performance.md`). See `interop/src/bench/mod.rs`.

#![forbid(unsafe_code)]

#[path = "../bench/mod.rs"]
mod bench;

// The harness, under the names the bench modules use.
use interop::{cmd, env, frr, gobgp, router, Endpoint, Error, Lab, Ns};

fn main() {
    std::process::exit(bench::main());
}
