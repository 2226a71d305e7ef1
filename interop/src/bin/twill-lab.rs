//! `twill-lab`: the README demo's lab, left running between two commands.
//!
//! ```text
//! twill-lab up   [--dir DIR] [--name NAME] [--tor bird|frr]
//! twill-lab down [--dir DIR]
//! ```
//!
//! `up` builds three nodes running `twill-agent`, a pod behind each and one
//! top-of-rack router (BIRD by default) in network namespaces named
//! `NAME-...` (default `twdemo`), waits until every node has every other
//! pod's routes, prints one node's neighbours and RIB and a ping between
//! two pods, and leaves it all running; its PIDs and namespaces are in
//! `DIR/lab.state` (default `/tmp/twill-demo`). `down` stops those PIDs and
//! deletes those namespaces. Needs root; addresses come from
//! 198.18.0.0/15 and fd00::/8 only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use interop::agent::{self, AgentOptions};
use interop::flat::{self, Fabric};
use interop::{cmd, netns, wait, Daemon, Family, Lab, Result};

const USAGE: &str = "usage: twill-lab up [--dir DIR] [--name NAME] [--tor bird|frr]\n       twill-lab down [--dir DIR]";

struct Args {
    command: String,
    dir: PathBuf,
    name: String,
    tor: Daemon,
}

fn parse() -> std::result::Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("no command")?;
    let mut args = Args {
        command,
        dir: PathBuf::from("/tmp/twill-demo"),
        name: "twdemo".into(),
        tor: Daemon::Bird,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value),
            "--name" => args.name = value,
            "--tor" => {
                args.tor = match value.as_str() {
                    "bird" => Daemon::Bird,
                    "frr" => Daemon::Frr,
                    other => return Err(format!("--tor {other}: bird or frr")),
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.name.contains('x') || args.name.is_empty() {
        // `tw<pid>x<n>` is a test lab's, swept when its process is gone.
        return Err("--name must be non-empty without an 'x'".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("twill-lab: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "up" => up(&args),
        "down" => down(&args),
        other => {
            eprintln!("twill-lab: unknown command {other}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twill-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn title(text: &str) {
    println!("\n== {text}");
}

fn up(args: &Args) -> Result<()> {
    let missing = interop::env::missing(&[args.tor]);
    if !missing.is_empty() {
        return Err(interop::Error::Environment(format!(
            "missing {} (scripts/demo installs them)",
            missing.join(", ")
        )));
    }
    agent::check_binaries()?;
    let mut lab = Lab::persistent(&args.name, &args.dir)?;
    let fabric = Fabric::Tor(args.tor);
    let net = flat::build(&mut lab, fabric, 3, &AgentOptions::default())?;
    // Converged: every node has every other pod's subnets in its kernel.
    for node in &net.nodes {
        for other in &net.nodes {
            for family in [Family::Ipv4, Family::Ipv6] {
                let p = other.pod_subnet(family);
                if std::ptr::eq(node, other) {
                    continue;
                }
                wait::until(
                    &format!("{p} in {}'s kernel table", node.agent.ns().name),
                    Duration::from_secs(60),
                    || node.agent.kernel_route(p),
                    || interop::Peer::view(&node.agent),
                )?;
            }
        }
    }
    let ctl = agent::binary(agent::CTL).display().to_string();
    let n0 = &net.nodes[0];
    let socket = n0.agent.socket().display().to_string();
    title(&format!(
        "twillctl neighbors   (node0, {})",
        n0.agent.ns().name
    ));
    print!(
        "{}",
        cmd::run(&ctl, ["--socket", socket.as_str(), "neighbors"])?
    );
    title("twillctl rib   (node0)");
    print!("{}", cmd::run(&ctl, ["--socket", socket.as_str(), "rib"])?);
    title("ip route show proto 84   (node0's kernel: Twill's routes)");
    for family in ["-4", "-6"] {
        print!(
            "{}",
            cmd::run(
                "ip",
                [
                    family,
                    "-n",
                    &n0.agent.ns().name,
                    "route",
                    "show",
                    "proto",
                    "84"
                ]
            )?
        );
    }
    let to = net.nodes[1].pod_addr(Family::Ipv4);
    title(&format!(
        "ping from pod0 ({}) to pod1 ({to}), no tunnel",
        n0.pod_addr(Family::Ipv4)
    ));
    print!(
        "{}",
        cmd::run_in(
            &n0.pod.name,
            "ping",
            ["-c", "3", "-i", "0.2", &to.to_string()]
        )?
    );
    let tor_ns = net
        .tor_ns
        .as_ref()
        .map(|n| n.name.clone())
        .unwrap_or_default();
    let pod1 = net.nodes[1].pod_addr(Family::Ipv6);
    let dir = args.dir.display();
    let tor_hint = match args.tor {
        Daemon::Frr => format!("vtysh --vty_socket {dir}/frr-tor -c 'show bgp summary'"),
        _ => format!("birdc -s {dir}/bird-tor.ctl show protocols"),
    };
    let pods: Vec<String> = net
        .nodes
        .iter()
        .map(|n| format!("{} {}", n.pod_addr(Family::Ipv4), n.pod_addr(Family::Ipv6)))
        .collect();
    drop(net); // the agents' handles only; the processes stay
    let state = lab.detach()?;
    title("the lab is running; explore it");
    println!(
        "  namespaces:   ip netns list | grep {name}-
  a node:       {ctl} --socket {socket} neighbors | rib | fib | neighbor ADDR
                (each node's API socket is {dir}/twill-nodeN.sock)
  its kernel:   ip -n {name}-node0 route show proto 84   (and ip -6 ...)
  a pod:        ip netns exec {name}-pod0 ping {pod1}
  pods:         {pods}
  the ToR:      {tor_hint}   (namespace {tor_ns})
  logs:         {dir}/*.log
  state:        {state}
  tear down:    scripts/demo down",
        name = args.name,
        state = state.display(),
        pods = pods.join(" | "),
    );
    Ok(())
}

fn down(args: &Args) -> Result<()> {
    for line in netns::teardown_detached(&args.dir)? {
        println!("{line}");
    }
    println!("lab in {} taken down", args.dir.display());
    Ok(())
}
