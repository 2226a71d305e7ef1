//! `twillctl`: the operator CLI that talks to the agent's local API
//! (see `docs/operations.md`).

fn main() -> std::process::ExitCode {
    ctl::run::main()
}
