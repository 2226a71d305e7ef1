//! Topologies beyond one link: hosts behind routers, and multihop eBGP
//! across a router, where the path depends on routes.

use std::net::IpAddr;
use std::time::Duration;

use interop::bird::Bird;
use interop::frr::Frr;
use interop::peer::{wait_established, wait_route};
use interop::{
    ensure, env, kernel, ping, prefix, wait, Daemon, Family, Lab, Neighbor, Peer, Result, Router,
};

const T: Duration = Duration::from_secs(30);

/// Two hosts behind one router reach each other over IPv4 and IPv6
/// through it; without the router's forwarding path (its link to one host
/// down) they do not.
#[test]
fn hosts_behind_a_router_reach_each_other() -> Result<()> {
    if !env::preflight("hosts_behind_a_router_reach_each_other", &[]) {
        return Ok(());
    }
    let mut lab = Lab::new("hosts")?;
    let router = lab.namespace("router")?;
    let (h1, l1) = lab.host_behind(&router, "h1")?;
    let (h2, l2) = lab.host_behind(&router, "h2")?;
    let second = Duration::from_secs(1);
    ping::once(&h1, IpAddr::V4(l2.b.v4), second)?;
    ping::once(&h1, IpAddr::V6(l2.b.v6), second)?;
    ping::once(&h2, IpAddr::V4(l1.b.v4), second)?;
    lab.set_link(&l2.a, false)?;
    ensure(
        ping::once(&h1, IpAddr::V4(l2.b.v4), second).is_err(),
        || "h2 reachable with the router's link to it down".into(),
    )?;
    lab.set_link(&l2.a, true)?;
    wait::until(
        "h2 reachable again",
        Duration::from_secs(10),
        || Ok(ping::once(&h1, IpAddr::V4(l2.b.v4), second).ok()),
        String::new,
    )
}

/// Multihop eBGP (TTL 2) between BIRD and FRR across a router namespace
/// that has no BGP: the session establishes over static routes, BIRD's
/// route reaches FRR with its next hop two hops away, and FRR installs it
/// via the router.
#[test]
fn multihop_ebgp_across_a_router() -> Result<()> {
    if !env::preflight(
        "multihop_ebgp_across_a_router",
        &[Daemon::Bird, Daemon::Frr],
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("multihop")?;
    let a = lab.namespace("bird")?;
    let mid = lab.namespace("mid")?;
    let b = lab.namespace("frr")?;
    let la = lab.link(&a, &mid)?;
    let lb = lab.link(&mid, &b)?;
    let (bird_addr, frr_addr) = (IpAddr::V4(la.a.v4), IpAddr::V4(lb.b.v4));
    // Each speaker reaches the other's subnet through the middle router.
    lab.route(
        &a,
        &lb.a.subnet(Family::Ipv4).to_string(),
        IpAddr::V4(la.b.v4),
    )?;
    lab.route(
        &b,
        &la.a.subnet(Family::Ipv4).to_string(),
        IpAddr::V4(lb.a.v4),
    )?;

    let mut r1 = Router::new("r1", 65001, la.a.v4);
    let mut n = Neighbor::new("frr", frr_addr, bird_addr, 65002);
    n.multihop = Some(2);
    r1.neighbors.push(n);
    let mut route = interop::Route::new(prefix("203.0.113.0/24"));
    route.communities = vec![(65001, 5)];
    r1.originate.push(route);
    let mut r2 = Router::new("r2", 65002, lb.b.v4);
    let mut n = Neighbor::new("bird", bird_addr, frr_addr, 65001);
    n.multihop = Some(2);
    r2.neighbors.push(n);

    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr = Frr::start(&mut lab, &b, r2)?;
    wait_established(&bird, frr_addr, T)?;
    wait_established(&frr, bird_addr, T)?;
    let got = wait_route(&frr, prefix("203.0.113.0/24"), T)?;
    ensure(
        got.as_path == [65001] && got.next_hop == Some(bird_addr),
        || format!("route at FRR: {got:?}"),
    )?;
    // zebra resolves the next hop through the static route.
    let installed = wait::until(
        "203.0.113.0/24 in FRR's kernel table",
        T,
        || kernel::route(&b, prefix("203.0.113.0/24")),
        || frr.view(),
    )?;
    ensure(
        installed.gateways == [IpAddr::V4(lb.a.v4)] && installed.devices == [lb.b.ifname.clone()],
        || format!("kernel route: {installed:?}, want via {}", lb.a.v4),
    )
}
