//! Scenario 8 against `twill-agent`: route reflection (RFC 4456), with FRR
//! as the reflector and the agent a client, and with the agent as the
//! reflector and FRR a client; BIRD is the other client in both.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use interop::agent::{AgentOptions, TwillAgent};
use interop::bird::Bird;
use interop::peer::{wait_established, wait_route};
use interop::{ensure, env, prefix, wait, Daemon, Family, Lab, Neighbor, Peer, Prefix, Result};
use interop::{Route, Router};

const T: Duration = Duration::from_secs(30);
const AS: u32 = 65200;

/// Asserts that `to` has `p` reflected: empty AS_PATH, the originator's
/// next hop and community, ORIGINATOR_ID the originating client's router
/// id, CLUSTER_LIST the reflector's cluster id.
fn reflected(
    to: &dyn Peer,
    p: Prefix,
    origin: &Router,
    next_hop: IpAddr,
    cluster: Ipv4Addr,
) -> Result<()> {
    let got = wait_route(to, p, T)?;
    ensure(
        got.as_path.is_empty()
            && got.next_hop == Some(next_hop)
            && got.communities == origin.originate[0].communities
            && got.originator_id == Some(origin.router_id)
            && got.cluster_list == [cluster],
        || format!("{}: reflected {p}: {got:?}", to.label()),
    )
}

/// The agent, FRR and BIRD on one segment, in one AS; `agent_reflects`
/// says who reflects (the agent, or FRR); the two others are its clients
/// and exchange one route each through it.
fn reflection(agent_reflects: bool, test: &str) -> Result<()> {
    if !env::preflight(test, &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    let mut lab = Lab::new(test)?;
    let (ns, ends) = lab.on_segment("seg", &["twill", "frr", "bird"])?;
    let addr = |i: usize| ends[i].addr(Family::Ipv4);
    let cluster = Ipv4Addr::new(198, 18, 250, if agent_reflects { 1 } else { 2 });
    let reflector = if agent_reflects { 0 } else { 1 };
    let mut routers: Vec<Router> = ["twill", "frr", "bird"]
        .iter()
        .enumerate()
        .map(|(i, n)| Router::new(n, AS, ends[i].v4))
        .collect();
    routers[reflector].cluster_id = Some(cluster);
    for (i, r) in routers.iter_mut().enumerate() {
        for j in 0..3 {
            if i == j || (i != reflector && j != reflector) {
                continue; // clients peer with the reflector only
            }
            let mut n = Neighbor::new(["twill", "frr", "bird"][j], addr(j), addr(i), AS);
            n.route_reflector_client = i == reflector;
            r.neighbors.push(n);
        }
        if i != reflector {
            let mut route = Route::new(prefix(&format!("198.19.{}.0/24", 70 + i)));
            route.communities.push((AS as u16, i as u16));
            r.originate.push(route);
        }
    }
    let agent = TwillAgent::start(
        &mut lab,
        &ns[0],
        routers[0].clone(),
        AgentOptions::default(),
    )?;
    let frr = interop::frr::Frr::start(&mut lab, &ns[1], routers[1].clone())?;
    let bird = Bird::start(&mut lab, &ns[2], routers[2].clone())?;
    let peers: [&dyn Peer; 3] = [&agent, &frr, &bird];
    for (i, r) in routers.iter().enumerate() {
        for n in &r.neighbors {
            wait_established(peers[i], n.address, T)?;
        }
    }
    let clients: Vec<usize> = (0..3).filter(|i| *i != reflector).collect();
    for &from in &clients {
        for &to in &clients {
            if from != to {
                let p = routers[from].originate[0].prefix;
                reflected(peers[to], p, &routers[from], addr(from), cluster)?;
            }
        }
    }
    // The agent installs what it learned, reflected or reflecting, via the
    // originating client.
    for &from in &clients {
        if from == 0 {
            continue;
        }
        let p = routers[from].originate[0].prefix;
        let route = wait::until(
            &format!("{p} in the agent's kernel table"),
            T,
            || agent.kernel_route(p),
            || agent.view(),
        )?;
        ensure(route.gateways == [addr(from)], || format!("{p}: {route:?}"))?;
    }
    Ok(())
}

#[test]
fn agent_route_reflection_frr_reflector() -> Result<()> {
    reflection(false, "agent_route_reflection_frr_reflector")
}

#[test]
fn agent_route_reflection_agent_reflector_frr_client() -> Result<()> {
    reflection(true, "agent_route_reflection_agent_reflector_frr_client")
}
