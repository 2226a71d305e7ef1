//! Scenario 7 against `twill-agent`: a flat network end to end. Three
//! nodes, each with a pod behind it, joined by a BIRD or an FRR top-of-rack
//! router (eBGP) or by an iBGP full mesh; every pod reaches every other
//! pod over IPv4 and IPv6 through plain kernel routes (no tunnel), and a
//! node taken away (agent killed, link cut) has its routes gone everywhere
//! within its hold time.

use std::time::{Duration, Instant};

use interop::agent::AgentOptions;
use interop::flat::{self, Fabric, Flat};
use interop::{ensure, env, kernel, ping, wait, Daemon, Family, Lab, Peer, Result};

const T: Duration = Duration::from_secs(40);
/// The hold time of every session (`Neighbor::new`), and a margin.
const HOLD: Duration = Duration::from_secs(9);
const MARGIN: Duration = Duration::from_secs(3);
const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

/// Every node's kernel table has every other pod's subnet, via its uplink,
/// from the agent (protocol 84).
fn converged(net: &Flat) -> Result<()> {
    for node in &net.nodes {
        for other in &net.nodes {
            if std::ptr::eq(node, other) {
                continue;
            }
            for family in FAMILIES {
                let p = other.pod_subnet(family);
                let route = wait::until(
                    &format!("{p} in {}'s kernel table", node.agent.ns().short),
                    T,
                    || node.agent.kernel_route(p),
                    || node.agent.view(),
                )?;
                ensure(route.devices == [node.uplink.ifname.clone()], || {
                    format!(
                        "{}: {p} is not a plain route over the uplink {}: {route:?}",
                        node.agent.ns().short,
                        node.uplink.ifname
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// Every pod pings every other pod (IPv4 and IPv6), skipping `gone`.
fn all_pairs_ping(net: &Flat, gone: Option<usize>) -> Result<()> {
    for (i, a) in net.nodes.iter().enumerate() {
        for (j, b) in net.nodes.iter().enumerate() {
            if i == j || Some(i) == gone || Some(j) == gone {
                continue;
            }
            for family in FAMILIES {
                let to = b.pod_addr(family);
                wait::until(
                    &format!("pod{i} reaches pod{j} at {to}"),
                    Duration::from_secs(10),
                    || Ok(ping::once(&a.pod, to, Duration::from_secs(1)).ok()),
                    || a.agent.view(),
                )?;
            }
        }
    }
    Ok(())
}

/// No interface of a node is a tunnel: only `lo` and veths.
fn no_encapsulation(net: &Flat) -> Result<()> {
    for node in &net.nodes {
        let out = interop::cmd::run("ip", ["-n", &node.agent.ns().name, "-d", "-j", "link"])?;
        let links = interop::cmd::json("ip -d -j link", &out)?;
        for link in links.as_array().into_iter().flatten() {
            let name = link["ifname"].as_str().unwrap_or_default();
            let kind = link["linkinfo"]["info_kind"].as_str().unwrap_or("");
            ensure(name == "lo" || kind == "veth", || {
                format!(
                    "{}: interface {name} of kind {kind:?}",
                    node.agent.ns().short
                )
            })?;
        }
    }
    Ok(())
}

fn flat_network(fabric: Fabric, test: &str) -> Result<()> {
    let needs: Vec<Daemon> = match fabric {
        Fabric::Tor(d) => vec![d],
        Fabric::Mesh => vec![],
    };
    if !env::preflight(test, &needs) {
        return Ok(());
    }
    let mut lab = Lab::new(test)?;
    let mut net = flat::build(&mut lab, fabric, 3, &AgentOptions::default())?;
    converged(&net)?;
    no_encapsulation(&net)?;
    all_pairs_ping(&net, None)?;

    // Node 0 taken away: its link cut, then its agent killed (so that not
    // even the kernel's FIN of its sockets gets out).
    let gone: Vec<_> = FAMILIES
        .iter()
        .map(|f| net.nodes[0].pod_subnet(*f))
        .collect();
    let started = Instant::now();
    lab.set_link(&net.nodes[0].uplink, false)?;
    net.nodes[0].agent.kill(&mut lab);
    let within = HOLD + MARGIN;
    for node in &net.nodes[1..] {
        for p in &gone {
            let left = within.saturating_sub(started.elapsed());
            wait::until(
                &format!("{p} gone from {}'s RIB and kernel", node.agent.ns().short),
                left,
                || {
                    let rib = interop::Peer::route(&node.agent, *p)?;
                    let kernel = node.agent.kernel_route(*p)?;
                    Ok((rib.is_none() && kernel.is_none()).then_some(()))
                },
                || {
                    format!(
                        "kernel: {:?}\n{}",
                        kernel::routes(node.agent.ns(), p.family()),
                        node.agent.view()
                    )
                },
            )?;
        }
    }
    if let Some(tor) = &net.tor {
        for p in &gone {
            let left = within.saturating_sub(started.elapsed());
            interop::peer::wait_no_route(tor.as_ref(), *p, left)?;
        }
    }
    all_pairs_ping(&net, Some(0))?;
    Ok(())
}

#[test]
fn agent_flat_network_with_a_bird_top_of_rack() -> Result<()> {
    flat_network(
        Fabric::Tor(Daemon::Bird),
        "agent_flat_network_with_a_bird_top_of_rack",
    )
}

#[test]
fn agent_flat_network_with_an_frr_top_of_rack() -> Result<()> {
    flat_network(
        Fabric::Tor(Daemon::Frr),
        "agent_flat_network_with_an_frr_top_of_rack",
    )
}

#[test]
fn agent_flat_network_ibgp_mesh() -> Result<()> {
    flat_network(Fabric::Mesh, "agent_flat_network_ibgp_mesh")
}
