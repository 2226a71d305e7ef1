//! Scenarios 5 and 6 against `twill-agent`, seen in the kernel: graceful
//! restart under a continuous ping (BIRD and FRR as helpers), and ECMP
//! from two top-of-rack routers (BIRD and FRR).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use interop::agent::{AgentOptions, TwillAgent};
use interop::peer::{wait_established, wait_route};
use interop::ping::{self, ContinuousPing};
use interop::{ensure, env, kernel, prefix, wait, Daemon, Family, Lab, Neighbor, Peer, Result};
use interop::{Capability, Route, Router};

const T: Duration = Duration::from_secs(30);
const TWILL_AS: u32 = 65100;

/// ECMP: the agent (multipath 2) peers over IPv4 and IPv6 with two
/// top-of-rack routers, BIRD (AS 65001) and FRR (AS 65002), which both
/// announce 198.19.200.0/24 and fd00:19:200::/48. Both prefixes are in the
/// agent's namespace kernel table (protocol 84) with exactly the two
/// routers as next hops; BIRD stopped, each has FRR's next hop only.
#[test]
fn agent_ecmp_from_two_top_of_rack_routers() -> Result<()> {
    if !env::preflight(
        "agent_ecmp_from_two_top_of_rack_routers",
        &[Daemon::Bird, Daemon::Frr],
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-ecmp")?;
    let node = lab.namespace("twill")?;
    let mut twill = Router::new("n1", TWILL_AS, Ipv4Addr::new(198, 18, 253, 1));
    let prefixes = [prefix("198.19.200.0/24"), prefix("fd00:19:200::/48")];
    let mut tors = Vec::new();
    for (i, daemon) in [Daemon::Bird, Daemon::Frr].into_iter().enumerate() {
        let ns = lab.namespace(&format!("tor{i}"))?;
        let link = lab.link(&node, &ns)?;
        let asn = 65001 + i as u32;
        let mut r = Router::new(&format!("tor{i}"), asn, link.b.v4);
        let mut addrs = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            let (ours, theirs) = (link.a.addr(family), link.b.addr(family));
            let name = format!("tor{i}_{}", if family == Family::Ipv4 { 4 } else { 6 });
            twill
                .neighbors
                .push(Neighbor::new(&name, theirs, ours, asn));
            let back = format!("twill{}", if family == Family::Ipv4 { 4 } else { 6 });
            r.neighbors
                .push(Neighbor::new(&back, ours, theirs, TWILL_AS));
            addrs.push((ours, theirs));
        }
        r.originate = prefixes.iter().map(|p| Route::new(*p)).collect();
        tors.push((daemon, ns, r, addrs));
    }
    let options = AgentOptions {
        max_paths: 2,
        ..AgentOptions::default()
    };
    let agent = TwillAgent::start(&mut lab, &node, twill, options)?;
    // Each router with its (our address, its address) per family.
    type Tor = (Box<dyn Peer>, Vec<(IpAddr, IpAddr)>);
    let mut peers: Vec<Tor> = Vec::new();
    for (daemon, ns, r, addrs) in tors {
        peers.push((interop::peer::start(daemon, &mut lab, &ns, r)?, addrs));
    }
    for (peer, addrs) in &peers {
        for (ours, theirs) in addrs {
            wait_established(&agent, *theirs, T)?;
            wait_established(peer.as_ref(), *ours, T)?;
        }
    }
    let hops = |p: interop::Prefix| -> Result<Option<BTreeSet<IpAddr>>> {
        Ok(agent
            .kernel_route(p)?
            .map(|r| r.gateways.into_iter().collect()))
    };
    for (k, p) in prefixes.iter().enumerate() {
        let want: BTreeSet<IpAddr> = peers.iter().map(|(_, a)| a[k].1).collect();
        wait::until(
            &format!("{p} in the agent's kernel table with next hops {want:?}"),
            T,
            || Ok(hops(*p)?.filter(|h| *h == want).map(|_| ())),
            || {
                format!(
                    "kernel: {:?}\n{}",
                    kernel::routes(&node, p.family()),
                    agent.view()
                )
            },
        )?;
    }
    // One router down: BIRD stops.
    lab.stop("bird-tor0");
    for (k, p) in prefixes.iter().enumerate() {
        let want: BTreeSet<IpAddr> = [peers[1].1[k].1].into();
        wait::until(
            &format!("{p} with FRR's next hop only, BIRD down"),
            T,
            || Ok(hops(*p)?.filter(|h| *h == want).map(|_| ())),
            || {
                format!(
                    "kernel: {:?}\n{}",
                    kernel::routes(&node, p.family()),
                    agent.view()
                )
            },
        )?;
    }
    Ok(())
}

/// Graceful restart (RFC 4724) with `daemon` as the helper: a pod behind
/// the agent pings a pod behind the router every 50 ms, over the agent's
/// kernel route to the router's pod and the router's BGP route to the
/// agent's pod; the router received the agent's Graceful Restart
/// capability. The agent is stopped with SIGTERM: while it is down the
/// router still has its route and the agent's kernel route is still there;
/// started again, the session returns; no ping is lost.
fn graceful_restart_keeps_forwarding(daemon: Daemon, test: &str) -> Result<()> {
    if !env::preflight(test, &[daemon]) {
        return Ok(());
    }
    let mut lab = Lab::new(test)?;
    let node = lab.namespace("twill")?;
    let tor = lab.namespace("tor")?;
    let link = lab.link(&node, &tor)?;
    let (pod_a, pod_a_link) = lab.host_behind(&node, "poda")?;
    let (pod_b, pod_b_link) = lab.host_behind(&tor, "podb")?;
    let net_a = pod_a_link.a.subnet(Family::Ipv4);
    let net_b = pod_b_link.a.subnet(Family::Ipv4);
    let (ours, theirs) = (link.a.addr(Family::Ipv4), link.b.addr(Family::Ipv4));

    let mut twill = Router::new("n1", TWILL_AS, Ipv4Addr::new(198, 18, 252, 1));
    twill
        .neighbors
        .push(Neighbor::new("tor", theirs, ours, 65001));
    twill.originate.push(Route::new(net_a));
    let mut r = Router::new("tor", 65001, link.b.v4);
    r.neighbors
        .push(Neighbor::new("twill", ours, theirs, TWILL_AS));
    r.originate.push(Route::new(net_b));
    let options = AgentOptions {
        graceful_restart: Some(30),
        ..AgentOptions::default()
    };
    let mut agent = TwillAgent::start(&mut lab, &node, twill, options)?;
    let peer = interop::peer::start(daemon, &mut lab, &tor, r)?;
    wait_established(&agent, theirs, T)?;
    wait_established(peer.as_ref(), ours, T)?;
    wait_route(peer.as_ref(), net_a, T)?;
    let caps = peer.capabilities(ours)?;
    ensure(caps.received.contains(&Capability::GracefulRestart), || {
        format!(
            "{}: no Graceful Restart capability from the agent: {caps:?}",
            peer.label()
        )
    })?;
    wait::until(
        &format!("{net_b} in the agent's kernel table"),
        T,
        || agent.kernel_route(net_b),
        || agent.view(),
    )?;
    let to = IpAddr::V4(pod_b_link.b.v4);
    wait::until(
        "pod A reaches pod B",
        T,
        || Ok(ping::once(&pod_a, to, Duration::from_secs(1)).ok()),
        || agent.view(),
    )?;

    let pinger = ContinuousPing::start(&mut lab, &pod_a, "ping-gr", to, Duration::from_millis(50))?;
    std::thread::sleep(Duration::from_secs(1));
    agent.stop(&mut lab);
    // While the agent is away: its routes stay, in the peer and in the
    // kernel.
    std::thread::sleep(Duration::from_secs(1));
    ensure(peer.route(net_a)?.is_some(), || {
        format!(
            "{} dropped the restarting agent's route {net_a}\n{}",
            peer.label(),
            peer.view()
        )
    })?;
    ensure(agent.kernel_route(net_b)?.is_some(), || {
        format!(
            "the agent's kernel route {net_b} is gone while it restarts: {:?}",
            kernel::routes(&node, Family::Ipv4)
        )
    })?;
    agent.restart(&mut lab)?;
    wait_established(&agent, theirs, T)?;
    wait_established(peer.as_ref(), ours, T)?;
    // Past selection deferral: the routes are current again.
    wait::until(
        "the agent's RIB has the router's route again",
        T,
        || agent.route(net_b),
        || agent.view(),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let stats = pinger.stop(&mut lab)?;
    ensure(stats.transmitted > 40, || {
        format!("too few pings: {stats:?}")
    })?;
    ping::ensure_no_loss(&format!("pod A to pod B across a restart ({test})"), stats)?;
    ensure(peer.route(net_a)?.is_some(), || {
        format!("{}: {net_a} gone after the restart", peer.label())
    })?;
    ensure(agent.kernel_route(net_b)?.is_some(), || {
        format!("the agent's kernel route {net_b} gone after the restart")
    })?;
    ping::once(&pod_b, IpAddr::V4(pod_a_link.b.v4), Duration::from_secs(1))?;
    Ok(())
}

#[test]
fn agent_graceful_restart_with_bird() -> Result<()> {
    graceful_restart_keeps_forwarding(Daemon::Bird, "agent_graceful_restart_with_bird")
}

#[test]
fn agent_graceful_restart_with_frr() -> Result<()> {
    graceful_restart_keeps_forwarding(Daemon::Frr, "agent_graceful_restart_with_frr")
}
