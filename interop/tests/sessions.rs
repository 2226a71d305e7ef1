//! The harness drives what later scenarios need: administrative shutdown
//! with a message, hold-timer expiry on a partitioned link, the kernel's
//! ECMP routes, and a continuous ping that counts losses.

use std::net::IpAddr;
use std::time::Duration;

use interop::bird::Bird;
use interop::frr::Frr;
use interop::peer::wait_established;
use interop::ping::{self, ContinuousPing};
use interop::{ensure, env, kernel, prefix, wait, Daemon, Lab, Neighbor, Peer, Result, Router};
use interop::{Family, SessionState};

const T: Duration = Duration::from_secs(30);

fn down(peer: &dyn Peer, neighbor: IpAddr, timeout: Duration) -> Result<()> {
    wait::until(
        &format!("{}: session with {neighbor} down", peer.label()),
        timeout,
        || Ok((peer.session_state(neighbor)? != SessionState::Established).then_some(())),
        || peer.view(),
    )
}

/// Shutdown with a message (RFC 9003), both ways, between BIRD and each
/// of FRR and GoBGP, written once over the `Peer` trait: the far side goes
/// down and reports the message (or, GoBGP, the NOTIFICATION); enabling
/// brings the session back.
#[test]
fn shutdown_with_a_message_both_ways() -> Result<()> {
    if !env::preflight("shutdown_with_a_message_both_ways", &Daemon::PEERS) {
        return Ok(());
    }
    let mut lab = Lab::new("shutdown")?;
    let hub = lab.namespace("bird")?;
    let mut r1 = Router::new("r1", 65001, std::net::Ipv4Addr::new(198, 18, 254, 1));
    let mut others: Vec<(Box<dyn Peer>, IpAddr, IpAddr)> = Vec::new();
    let mut pending = Vec::new();
    for (i, daemon) in [Daemon::Frr, Daemon::GoBgp].into_iter().enumerate() {
        let ns = lab.namespace(&format!("p{i}"))?;
        let link = lab.link(&hub, &ns)?;
        let (bird_addr, addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
        let asn = 65002 + i as u32;
        r1.neighbors
            .push(Neighbor::new(&format!("p{i}"), addr, bird_addr, asn));
        let mut r = Router::new(&format!("p{i}"), asn, link.b.v4);
        r.neighbors
            .push(Neighbor::new("bird", bird_addr, addr, 65001));
        pending.push((daemon, ns, r, bird_addr, addr));
    }
    let bird = Bird::start(&mut lab, &hub, r1)?;
    for (daemon, ns, r, bird_addr, addr) in pending {
        others.push((
            interop::peer::start(daemon, &mut lab, &ns, r)?,
            bird_addr,
            addr,
        ));
    }
    for (peer, bird_addr, addr) in &others {
        let peer = peer.as_ref();
        wait_established(peer, *bird_addr, T)?;
        wait_established(&bird, *addr, T)?;

        // The peer shuts down: BIRD reports the message it received.
        let message = format!("maintenance by {}", peer.daemon().name());
        peer.shutdown(*bird_addr, &message)?;
        down(&bird, *addr, T)?;
        let seen = bird.last_error(*addr)?;
        ensure(
            seen.as_ref().and_then(|e| e.shutdown_message.as_deref()) == Some(message.as_str()),
            || format!("BIRD's last error for {}: {seen:?}", peer.label()),
        )?;
        peer.enable(*bird_addr)?;
        wait_established(&bird, *addr, T)?;

        // BIRD shuts down: the peer reports Cease / Administrative Shutdown.
        bird.shutdown(*addr, "bye from bird")?;
        down(peer, *bird_addr, T)?;
        let seen = peer.last_error(*bird_addr)?;
        let ok = match peer.daemon() {
            Daemon::Frr => seen.as_ref().is_some_and(|e| {
                e.code == Some((6, 2)) && e.shutdown_message.as_deref() == Some("bye from bird")
            }),
            // GoBGP keeps only counts.
            _ => seen.as_ref().is_some_and(|e| e.text.contains("received 1")),
        };
        ensure(ok, || format!("{}'s last error: {seen:?}", peer.label()))?;
        bird.enable(*addr)?;
        wait_established(peer, *bird_addr, T)?;
    }
    Ok(())
}

/// A partitioned link (traffic dropped, interfaces up) takes a BIRD-FRR
/// session down by hold-timer expiry (hold time 3 s) on both sides; healed,
/// the session comes back.
#[test]
fn hold_timer_expires_on_a_partitioned_link() -> Result<()> {
    if !env::preflight(
        "hold_timer_expires_on_a_partitioned_link",
        &[Daemon::Bird, Daemon::Frr],
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("hold")?;
    let a = lab.namespace("bird")?;
    let b = lab.namespace("frr")?;
    let link = lab.link(&a, &b)?;
    let (bird_addr, frr_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
    let mut r1 = Router::new("r1", 65001, link.a.v4);
    let mut n = Neighbor::new("frr", frr_addr, bird_addr, 65002);
    n.hold_time = Duration::from_secs(3);
    r1.neighbors.push(n);
    let mut r2 = Router::new("r2", 65002, link.b.v4);
    let mut n = Neighbor::new("bird", bird_addr, frr_addr, 65001);
    n.hold_time = Duration::from_secs(3);
    r2.neighbors.push(n);
    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr = Frr::start(&mut lab, &b, r2)?;
    wait_established(&bird, frr_addr, T)?;
    wait_established(&frr, bird_addr, T)?;

    lab.partition(&link, true)?;
    // Hold time 3 s, plus the time to notice.
    down(&bird, frr_addr, Duration::from_secs(8))?;
    down(&frr, bird_addr, Duration::from_secs(8))?;
    // FRR's hold timer expired: it sent (tried to send) the NOTIFICATION
    // Hold Timer Expired (RFC 4271 §6.5: code 4, subcode 0).
    let seen = frr.last_error(bird_addr)?;
    ensure(
        seen.as_ref().is_some_and(|e| e.code == Some((4, 0))),
        || format!("FRR's last error: {seen:?}"),
    )?;
    // BIRD's expired too; FRR advertised graceful restart (RFC 4724), so
    // BIRD keeps its routes and shows the restart, not the timer.
    let seen = bird.last_error(frr_addr)?;
    ensure(
        seen.as_ref().is_some_and(|e| {
            let text = e.text.to_ascii_lowercase();
            text.contains("hold timer") || text.contains("graceful restart")
        }),
        || format!("BIRD's last error: {seen:?}"),
    )?;
    lab.partition(&link, false)?;
    wait_established(&bird, frr_addr, T)?;
    wait_established(&frr, bird_addr, T)
}

/// `kernel::routes` reads ECMP routes with two next hops, both as a
/// multipath route and as a nexthop group (zebra's form).
#[test]
fn kernel_table_reads_ecmp_routes() -> Result<()> {
    if !env::preflight("kernel_table_reads_ecmp_routes", &[]) {
        return Ok(());
    }
    let mut lab = Lab::new("ecmp")?;
    let node = lab.namespace("node")?;
    let tor1 = lab.namespace("tor1")?;
    let tor2 = lab.namespace("tor2")?;
    let l1 = lab.link(&node, &tor1)?;
    let l2 = lab.link(&node, &tor2)?;
    let n = node.name.as_str();
    let (g1, g2) = (l1.b.v4.to_string(), l2.b.v4.to_string());
    let run = |args: &[&str]| interop::cmd::run("ip", args);
    run(&[
        "-n",
        n,
        "route",
        "add",
        "203.0.113.0/24",
        "nexthop",
        "via",
        &g1,
        "nexthop",
        "via",
        &g2,
    ])?;
    run(&[
        "-n",
        n,
        "nexthop",
        "add",
        "id",
        "1",
        "via",
        &g1,
        "dev",
        &l1.a.ifname,
    ])?;
    run(&[
        "-n",
        n,
        "nexthop",
        "add",
        "id",
        "2",
        "via",
        &g2,
        "dev",
        &l2.a.ifname,
    ])?;
    run(&["-n", n, "nexthop", "add", "id", "10", "group", "1/2"])?;
    run(&["-n", n, "route", "add", "198.51.100.0/24", "nhid", "10"])?;
    let want = vec![IpAddr::V4(l1.b.v4), IpAddr::V4(l2.b.v4)];
    for p in ["203.0.113.0/24", "198.51.100.0/24"] {
        let got = kernel::route(&node, prefix(p))?;
        ensure(
            got.as_ref().is_some_and(|r| {
                r.gateways == want && r.devices == [l1.a.ifname.clone(), l2.a.ifname.clone()]
            }),
            || format!("{p}: {got:?}, want gateways {want:?}"),
        )?;
    }
    ensure(
        kernel::route(&node, prefix("192.0.2.0/24"))?.is_none(),
        || "a route that was never added".into(),
    )?;
    let all = kernel::routes(&node, Family::Ipv4)?;
    ensure(all.len() == 4, || format!("routes: {all:?}"))
}

/// A continuous ping counts every reply on a healthy link, and counts the
/// losses while the link is partitioned.
#[test]
fn continuous_ping_counts_losses() -> Result<()> {
    if !env::preflight("continuous_ping_counts_losses", &[]) {
        return Ok(());
    }
    let mut lab = Lab::new("ping")?;
    let a = lab.namespace("a")?;
    let b = lab.namespace("b")?;
    let link = lab.link(&a, &b)?;
    let to = IpAddr::V4(link.b.v4);
    ping::once(&a, to, Duration::from_secs(2))?;
    let interval = Duration::from_millis(50);
    let healthy = ContinuousPing::start(&mut lab, &a, "ping-healthy", to, interval)?;
    std::thread::sleep(Duration::from_secs(1));
    let stats = healthy.stop(&mut lab)?;
    ping::ensure_no_loss("healthy link", stats)?;
    ensure(stats.transmitted >= 10, || {
        format!("too few sent: {stats:?}")
    })?;

    let cut = ContinuousPing::start(&mut lab, &a, "ping-cut", to, interval)?;
    std::thread::sleep(Duration::from_millis(500));
    lab.partition(&link, true)?;
    std::thread::sleep(Duration::from_millis(500));
    lab.partition(&link, false)?;
    std::thread::sleep(Duration::from_millis(500));
    let stats = cut.stop(&mut lab)?;
    ensure(stats.lost() > 0 && stats.received > 0, || {
        format!("a 0.5 s partition: {stats:?}")
    })
}

/// Capabilities read from both sides agree (what one advertised is what
/// the other received), for BIRD-FRR over IPv4 and IPv6 and BIRD-GoBGP;
/// the expected ones are negotiated. A ROUTE-REFRESH asked by BIRD is
/// counted received by FRR, and one asked by FRR counted sent.
#[test]
fn capabilities_agree_and_route_refresh() -> Result<()> {
    if !env::preflight("capabilities_agree_and_route_refresh", &Daemon::PEERS) {
        return Ok(());
    }
    use interop::capability::{Capability::*, FamilyKey};
    let mut lab = Lab::new("caps")?;
    let hub = lab.namespace("bird")?;
    let fns = lab.namespace("frr")?;
    let gns = lab.namespace("gobgp")?;
    let lf = lab.link(&hub, &fns)?;
    let lg = lab.link(&hub, &gns)?;
    let v4 = |x: std::net::Ipv4Addr| IpAddr::V4(x);
    let mut r1 = Router::new("r1", 65001, lf.a.v4);
    let mut n = Neighbor::new("frr", v4(lf.b.v4), v4(lf.a.v4), 65002);
    n.families = vec![Family::Ipv4, Family::Ipv6];
    r1.neighbors.push(n);
    r1.neighbors
        .push(Neighbor::new("gobgp", v4(lg.b.v4), v4(lg.a.v4), 65003));
    let mut r2 = Router::new("r2", 65002, lf.b.v4);
    let mut n = Neighbor::new("bird", v4(lf.a.v4), v4(lf.b.v4), 65001);
    n.families = vec![Family::Ipv4, Family::Ipv6];
    r2.neighbors.push(n);
    let mut r3 = Router::new("r3", 65003, lg.b.v4);
    r3.neighbors
        .push(Neighbor::new("bird", v4(lg.a.v4), v4(lg.b.v4), 65001));
    let bird = Bird::start(&mut lab, &hub, r1)?;
    let frr = Frr::start(&mut lab, &fns, r2)?;
    let gobgp = interop::gobgp::GoBgp::start(&mut lab, &gns, r3)?;

    let pairs: [(&dyn Peer, IpAddr, IpAddr, Vec<interop::Capability>); 2] = [
        (
            &frr,
            v4(lf.a.v4),
            v4(lf.b.v4),
            vec![
                MultiProtocol(FamilyKey::Ipv4),
                MultiProtocol(FamilyKey::Ipv6),
                RouteRefresh,
                EnhancedRouteRefresh,
                FourOctetAs,
                GracefulRestart,
            ],
        ),
        (
            &gobgp,
            v4(lg.a.v4),
            v4(lg.b.v4),
            vec![MultiProtocol(FamilyKey::Ipv4), RouteRefresh, FourOctetAs],
        ),
    ];
    for (peer, bird_addr, addr, expected) in pairs {
        wait_established(&bird, addr, T)?;
        wait_established(peer, bird_addr, T)?;
        let ours = bird.capabilities(addr)?;
        let theirs = peer.capabilities(bird_addr)?;
        ensure(
            ours.advertised == theirs.received && theirs.advertised == ours.received,
            || format!("BIRD {ours:#?}\n{} {theirs:#?}", peer.label()),
        )?;
        let negotiated = ours.negotiated();
        ensure(expected.iter().all(|c| negotiated.contains(c)), || {
            format!(
                "negotiated with {}: {negotiated:?}, want {expected:?}",
                peer.label()
            )
        })?;
    }

    let counter = |name: &str| -> Result<u64> {
        Ok(frr.neighbor_json(v4(lf.a.v4))?["messageStats"][name]
            .as_u64()
            .unwrap_or(0))
    };
    let (recv, sent) = (counter("routeRefreshRecv")?, counter("routeRefreshSent")?);
    bird.request_refresh(v4(lf.b.v4))?;
    wait::until(
        "FRR counts a ROUTE-REFRESH received",
        T,
        || Ok((counter("routeRefreshRecv")? > recv).then_some(())),
        || frr.view(),
    )?;
    frr.request_refresh(v4(lf.a.v4))?;
    wait::until(
        "FRR counts a ROUTE-REFRESH sent",
        T,
        || Ok((counter("routeRefreshSent")? > sent).then_some(())),
        || frr.view(),
    )?;
    ensure(gobgp.request_refresh(v4(lg.a.v4)).is_err(), || {
        "GoBGP cannot send a ROUTE-REFRESH from its CLI".into()
    })
}

/// Route reflection (RFC 4456) in one AS with BIRD, FRR and GoBGP, the
/// reflector being `reflector` and the others its clients: a route from
/// the first client reaches the second with an empty AS_PATH, the
/// originator's router id as ORIGINATOR_ID and the reflector's cluster id
/// as CLUSTER_LIST.
fn route_reflection(test: &str, reflector: Daemon, clients: [Daemon; 2]) -> Result<()> {
    let mut lab = Lab::new(test)?;
    let rr_ns = lab.namespace("rr")?;
    let cluster = std::net::Ipv4Addr::new(198, 18, 250, 250);
    let mut rr = Router::new("rr", 65050, std::net::Ipv4Addr::new(198, 18, 250, 1));
    rr.cluster_id = Some(cluster);
    let mut started = Vec::new();
    for (i, daemon) in clients.into_iter().enumerate() {
        let ns = lab.namespace(&format!("c{i}"))?;
        let link = lab.link(&rr_ns, &ns)?;
        let (rr_addr, addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
        let mut n = Neighbor::new(&format!("c{i}"), addr, rr_addr, 65050);
        n.route_reflector_client = true;
        rr.neighbors.push(n);
        let mut client = Router::new(&format!("c{i}"), 65050, link.b.v4);
        client
            .neighbors
            .push(Neighbor::new("rr", rr_addr, addr, 65050));
        if i == 0 {
            let mut r = interop::Route::new(prefix("203.0.113.0/24"));
            r.communities = vec![(65050, 1)];
            client.originate.push(r);
        }
        started.push((daemon, ns, client, rr_addr, addr));
    }
    let rr = interop::peer::start(reflector, &mut lab, &rr_ns, rr)?;
    let mut clients = Vec::new();
    for (daemon, ns, client, rr_addr, addr) in started {
        let id = client.router_id;
        clients.push((
            interop::peer::start(daemon, &mut lab, &ns, client)?,
            rr_addr,
            addr,
            id,
        ));
    }
    for (client, rr_addr, addr, _) in &clients {
        wait_established(rr.as_ref(), *addr, T)?;
        wait_established(client.as_ref(), *rr_addr, T)?;
    }
    let (to, _, _, _) = &clients[1];
    let originator = clients[0].3;
    let got = interop::peer::wait_route(to.as_ref(), prefix("203.0.113.0/24"), T)?;
    ensure(
        got.as_path.is_empty()
            && got.communities == [(65050, 1)]
            && got.originator_id == Some(originator)
            && got.cluster_list == [cluster],
        || {
            format!(
                "reflected by {} to {}: {got:?}, want ORIGINATOR_ID {originator}, CLUSTER_LIST [{cluster}]",
                rr.label(),
                to.label()
            )
        },
    )
}

#[test]
fn route_reflection_frr_reflector() -> Result<()> {
    if !env::preflight("route_reflection_frr_reflector", &Daemon::PEERS) {
        return Ok(());
    }
    route_reflection("rr-frr", Daemon::Frr, [Daemon::Bird, Daemon::GoBgp])
}

#[test]
fn route_reflection_frr_client() -> Result<()> {
    if !env::preflight("route_reflection_frr_client", &Daemon::PEERS) {
        return Ok(());
    }
    route_reflection("rr-bird", Daemon::Bird, [Daemon::Frr, Daemon::GoBgp])
}
