//! The harness proven on real daemons: labs, BIRD, FRR, GoBGP and ExaBGP
//! in network namespaces, and the guard that takes them down.
//!
//! Each test builds its own lab (unique namespace names and subnets), so
//! the tests run in parallel. They need root and the Debian packages; they
//! fail saying what is missing, or skip with `TWILL_SKIP_NETNS=1`.

use std::net::IpAddr;
use std::time::Duration;

use interop::bird::Bird;
use interop::exabgp::{Announcement, ExaBgp, RawAttribute};
use interop::frr::Frr;
use interop::gobgp::GoBgp;
use interop::peer::{self, wait_established, wait_no_route, wait_route};
use interop::{
    ensure, env, kernel, prefix, process, wait, Daemon, Family, Lab, Neighbor, Peer, Result, Route,
    Router, SessionState, UnknownAttribute,
};

/// Deadline for a session or a route (they take 1-5 s with the short
/// timers the harness configures; gobgpd is the slowest).
const T: Duration = Duration::from_secs(30);

fn neighbor(name: &str, to: IpAddr, from: IpAddr, asn: u32) -> Neighbor {
    Neighbor::new(name, to, from, asn)
}

fn route_with(p: &str, communities: &[(u16, u16)], large: &[(u32, u32, u32)]) -> Route {
    let mut r = Route::new(prefix(p));
    r.communities = communities.to_vec();
    r.large_communities = large.to_vec();
    r
}

/// BIRD (AS 65001) and FRR (a 4-octet AS) over one link, over `family`
/// transport: both sides Established; BIRD's route reaches FRR with its
/// AS_PATH and communities and is installed in FRR's namespace kernel
/// table; FRR's route reaches BIRD with its MED and community.
fn bird_frr_ebgp(test: &str, family: Family, ours: &str, theirs: &str) -> Result<()> {
    let mut lab = Lab::new(test)?;
    let a = lab.namespace("bird")?;
    let b = lab.namespace("frr")?;
    let link = lab.link(&a, &b)?;
    let (bird_addr, frr_addr) = (link.a.addr(family), link.b.addr(family));
    const FRR_AS: u32 = 4_200_000_002;

    let mut r1 = Router::new("r1", 65001, link.a.v4);
    r1.neighbors
        .push(neighbor("frr", frr_addr, bird_addr, FRR_AS));
    r1.originate
        .push(route_with(ours, &[(65001, 42)], &[(65001, 1, 2)]));
    let mut r2 = Router::new("r2", FRR_AS, link.b.v4);
    r2.neighbors
        .push(neighbor("bird", bird_addr, frr_addr, 65001));
    let mut back = route_with(theirs, &[(64512, 9)], &[]);
    back.med = Some(77);
    r2.originate.push(back);

    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr = Frr::start(&mut lab, &b, r2)?;
    wait_established(&bird, frr_addr, T)?;
    wait_established(&frr, bird_addr, T)?;

    let got = wait_route(&frr, prefix(ours), T)?;
    ensure(got.as_path == [65001], || {
        format!("AS_PATH at FRR: {got:?}")
    })?;
    ensure(got.communities == [(65001, 42)], || {
        format!("communities at FRR: {got:?}")
    })?;
    ensure(got.large_communities == [(65001, 1, 2)], || {
        format!("large communities at FRR: {got:?}")
    })?;
    ensure(got.next_hop == Some(bird_addr), || {
        format!("next hop at FRR: {got:?}")
    })?;

    // zebra installs it in FRR's namespace, through BIRD's address on the
    // link (for IPv6, FRR may prefer BIRD's link-local address).
    let mut gateways = vec![bird_addr];
    if family == Family::Ipv6 {
        gateways.push(IpAddr::V6(link.a.link_local()?));
    }
    let installed = wait::until(
        &format!("{ours} in FRR's kernel table"),
        T,
        || kernel::route(&b, prefix(ours)),
        || frr.view(),
    )?;
    ensure(
        installed.protocol.as_deref() == Some("bgp")
            && installed.devices == [link.b.ifname.clone()]
            && installed.gateways.len() == 1
            && gateways.contains(&installed.gateways[0]),
        || format!("kernel route in FRR's namespace: {installed:?}, want via one of {gateways:?}"),
    )?;

    let got = wait_route(&bird, prefix(theirs), T)?;
    ensure(got.as_path == [FRR_AS], || {
        format!("AS_PATH at BIRD: {got:?}")
    })?;
    ensure(got.med == Some(77), || format!("MED at BIRD: {got:?}"))?;
    ensure(got.communities == [(64512, 9)], || {
        format!("communities at BIRD: {got:?}")
    })?;
    // BIRD's kernel protocol installs what it learned, in its namespace.
    let installed = wait::until(
        &format!("{theirs} in BIRD's kernel table"),
        T,
        || kernel::route(&a, prefix(theirs)),
        || bird.view(),
    )?;
    ensure(installed.protocol.as_deref() == Some("bird"), || {
        format!("kernel route in BIRD's namespace: {installed:?}")
    })
}

#[test]
fn bird_frr_ebgp_over_ipv4() -> Result<()> {
    if !env::preflight("bird_frr_ebgp_over_ipv4", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    bird_frr_ebgp(
        "bird-frr-v4",
        Family::Ipv4,
        "203.0.113.0/24",
        "198.51.100.0/24",
    )
}

#[test]
fn bird_frr_ebgp_over_ipv6() -> Result<()> {
    if !env::preflight("bird_frr_ebgp_over_ipv6", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    bird_frr_ebgp(
        "bird-frr-v6",
        Family::Ipv6,
        "2001:db8:7::/48",
        "2001:db8:9::/48",
    )
}

/// BIRD and GoBGP: Established on both sides, and a route each way with
/// its AS_PATH and communities.
#[test]
fn bird_gobgp_ebgp() -> Result<()> {
    if !env::preflight("bird_gobgp_ebgp", &[Daemon::Bird, Daemon::GoBgp]) {
        return Ok(());
    }
    let mut lab = Lab::new("bird-gobgp")?;
    let a = lab.namespace("bird")?;
    let c = lab.namespace("gobgp")?;
    let link = lab.link(&a, &c)?;
    let (bird_addr, gobgp_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
    let mut r1 = Router::new("r1", 65001, link.a.v4);
    r1.neighbors
        .push(neighbor("gobgp", gobgp_addr, bird_addr, 65003));
    r1.originate
        .push(route_with("203.0.113.0/24", &[(65001, 42)], &[]));
    let mut r3 = Router::new("r3", 65003, link.b.v4);
    r3.neighbors
        .push(neighbor("bird", bird_addr, gobgp_addr, 65001));
    r3.originate
        .push(route_with("192.0.2.0/24", &[(65003, 3)], &[(65003, 0, 1)]));

    let bird = Bird::start(&mut lab, &a, r1)?;
    let gobgp = GoBgp::start(&mut lab, &c, r3)?;
    wait_established(&bird, gobgp_addr, T)?;
    wait_established(&gobgp, bird_addr, T)?;

    let got = wait_route(&gobgp, prefix("203.0.113.0/24"), T)?;
    ensure(
        got.as_path == [65001]
            && got.communities == [(65001, 42)]
            && got.next_hop == Some(bird_addr),
        || format!("route at GoBGP: {got:?}"),
    )?;
    let got = wait_route(&bird, prefix("192.0.2.0/24"), T)?;
    ensure(
        got.as_path == [65003]
            && got.communities == [(65003, 3)]
            && got.large_communities == [(65003, 0, 1)]
            && got.next_hop == Some(gobgp_addr),
        || format!("route at BIRD: {got:?}"),
    )
}

/// ExaBGP announces a route that BIRD then holds with its attributes, and
/// withdraws it through the same command channel.
#[test]
fn exabgp_announces_to_bird() -> Result<()> {
    if !env::preflight("exabgp_announces_to_bird", &[Daemon::Bird, Daemon::ExaBgp]) {
        return Ok(());
    }
    let mut lab = Lab::new("exa-bird")?;
    let a = lab.namespace("bird")?;
    let d = lab.namespace("exabgp")?;
    let link = lab.link(&a, &d)?;
    let (bird_addr, exa_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
    let mut r1 = Router::new("r1", 65001, link.a.v4);
    r1.neighbors
        .push(neighbor("exa", exa_addr, bird_addr, 65004));
    let mut r4 = Router::new("r4", 65004, link.b.v4);
    r4.neighbors
        .push(neighbor("bird", bird_addr, exa_addr, 65001));
    let mut sent = route_with("198.51.100.0/24", &[(65004, 7)], &[(65004, 1, 1)]);
    sent.med = Some(12);
    r4.originate.push(sent);

    let bird = Bird::start(&mut lab, &a, r1)?;
    let exa = ExaBgp::start(&mut lab, &d, r4)?;
    wait_established(&bird, exa_addr, T)
        .map_err(|e| interop::Error::Assertion(format!("{e}\n{}", exa.view())))?;
    let got = wait_route(&bird, prefix("198.51.100.0/24"), T)?;
    ensure(
        got.as_path == [65004]
            && got.communities == [(65004, 7)]
            && got.large_communities == [(65004, 1, 1)]
            && got.med == Some(12)
            && got.next_hop == Some(exa_addr),
        || format!("route at BIRD: {got:?}"),
    )?;

    let later = Announcement::new(route_with("198.51.101.0/24", &[(65004, 8)], &[]));
    exa.announce(&later)?;
    let got = wait_route(&bird, prefix("198.51.101.0/24"), T)?;
    ensure(got.communities == [(65004, 8)], || {
        format!("route at BIRD: {got:?}")
    })?;
    exa.withdraw(prefix("198.51.100.0/24"))?;
    wait_no_route(&bird, prefix("198.51.100.0/24"), T)?;
    ensure(bird.route(prefix("198.51.101.0/24"))?.is_some(), || {
        "the withdrawal took the other route too".into()
    })
}

/// The same scenario, written once against the `Peer` trait, run against
/// BIRD, FRR and GoBGP: ExaBGP announces an IPv4 and an IPv6 route with
/// communities, a large community, a MED and an unknown optional
/// transitive attribute with the Partial bit; every peer holds them with
/// those attributes (the unknown one where the daemon shows it); a
/// withdrawal removes the IPv4 route everywhere.
#[test]
fn every_peer_receives_exabgp_routes() -> Result<()> {
    let mut needs = Daemon::PEERS.to_vec();
    needs.push(Daemon::ExaBgp);
    if !env::preflight("every_peer_receives_exabgp_routes", &needs) {
        return Ok(());
    }
    let mut lab = Lab::new("exa-peers")?;
    let exa_ns = lab.namespace("exabgp")?;
    let mut r4 = Router::new("r4", 65004, std::net::Ipv4Addr::new(198, 18, 255, 4));
    let mut peers: Vec<(Box<dyn Peer>, IpAddr)> = Vec::new();
    let mut links = Vec::new();
    for (i, daemon) in Daemon::PEERS.into_iter().enumerate() {
        let ns = lab.namespace(&format!("peer{i}"))?;
        let link = lab.link(&ns, &exa_ns)?;
        let (peer_addr, exa_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
        let asn = 65100 + i as u32;
        let mut n = neighbor(&format!("peer{i}"), peer_addr, exa_addr, asn);
        n.families = vec![Family::Ipv4, Family::Ipv6];
        r4.neighbors.push(n);
        let mut router = Router::new(&format!("p{i}"), asn, link.a.v4);
        let mut n = neighbor("exa", exa_addr, peer_addr, 65004);
        n.families = vec![Family::Ipv4, Family::Ipv6];
        router.neighbors.push(n);
        links.push((ns.clone(), link));
        peers.push((peer::start(daemon, &mut lab, &ns, router)?, exa_addr));
    }
    let exa = ExaBgp::start(&mut lab, &exa_ns, r4)?;
    let unknown = RawAttribute {
        code: 0xc9,
        flags: 0xe0,
        value: vec![0x0a, 0x0b, 0x0c],
    };
    for p in ["198.51.100.0/24", "2001:db8:4::/48"] {
        let mut route = route_with(p, &[(65004, 7)], &[(65004, 1, 1)]);
        route.med = Some(12);
        let mut a = Announcement::new(route);
        a.raw_attributes.push(unknown.clone());
        if p.contains(':') {
            // IPv6 over an IPv4 session (RFC 4760): to each peer with
            // ExaBGP's IPv6 address on that peer's link as next hop.
            for (_, link) in &links {
                a.next_hop = Some(IpAddr::V6(link.b.v6));
                exa.announce_to(IpAddr::V4(link.a.v4), &a)?;
            }
        } else {
            exa.announce(&a)?;
        }
    }
    for (peer, exa_addr) in &peers {
        let peer = peer.as_ref();
        wait_established(peer, *exa_addr, T)
            .map_err(|e| interop::Error::Assertion(format!("{e}\n{}", exa.view())))?;
        for p in ["198.51.100.0/24", "2001:db8:4::/48"] {
            let got = wait_route(peer, prefix(p), T)?;
            ensure(
                got.as_path == [65004]
                    && got.communities == [(65004, 7)]
                    && got.large_communities == [(65004, 1, 1)]
                    && got.med == Some(12),
                || format!("{}: {p}: {got:?}", peer.label()),
            )?;
            let want_unknown = match peer.daemon() {
                Daemon::Frr => vec![],
                Daemon::Bird => vec![UnknownAttribute {
                    code: 0xc9,
                    flags: None,
                    value: unknown.value.clone(),
                }],
                _ => vec![UnknownAttribute {
                    code: 0xc9,
                    flags: Some(0xe0),
                    value: unknown.value.clone(),
                }],
            };
            ensure(got.unknown == want_unknown, || {
                format!(
                    "{}: {p}: unknown attributes {:?}",
                    peer.label(),
                    got.unknown
                )
            })?;
        }
        let v4 = prefix("198.51.100.0/24");
        ensure(got_next_hop(peer, v4)? == Some(*exa_addr), || {
            format!("{}: next hop of {v4}", peer.label())
        })?;
    }
    exa.withdraw(prefix("198.51.100.0/24"))?;
    for (peer, _) in &peers {
        wait_no_route(peer.as_ref(), prefix("198.51.100.0/24"), T)?;
        ensure(peer.route(prefix("2001:db8:4::/48"))?.is_some(), || {
            format!("{}: the IPv4 withdrawal took the IPv6 route", peer.label())
        })?;
    }
    Ok(())
}

fn got_next_hop(peer: &dyn Peer, p: interop::Prefix) -> Result<Option<IpAddr>> {
    Ok(peer.route(p)?.and_then(|r| r.next_hop))
}

/// iBGP between BIRD and FRR (one AS, FRR passive): LOCAL_PREF and MED
/// arrive as set, the AS_PATH stays empty, both ways.
#[test]
fn bird_frr_ibgp_passive() -> Result<()> {
    if !env::preflight("bird_frr_ibgp_passive", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    let mut lab = Lab::new("ibgp")?;
    let a = lab.namespace("bird")?;
    let b = lab.namespace("frr")?;
    let link = lab.link(&a, &b)?;
    let (bird_addr, frr_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
    let mut r1 = Router::new("r1", 65010, link.a.v4);
    r1.neighbors
        .push(neighbor("frr", frr_addr, bird_addr, 65010));
    let mut ours = route_with("203.0.113.0/24", &[(65010, 1)], &[]);
    ours.local_pref = Some(200);
    ours.med = Some(5);
    r1.originate.push(ours);
    let mut r2 = Router::new("r2", 65010, link.b.v4);
    let mut n = neighbor("bird", bird_addr, frr_addr, 65010);
    n.passive = true;
    r2.neighbors.push(n);
    let mut theirs = Route::new(prefix("198.51.100.0/24"));
    theirs.local_pref = Some(300);
    r2.originate.push(theirs);

    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr = Frr::start(&mut lab, &b, r2)?;
    wait_established(&frr, bird_addr, T)?;
    wait_established(&bird, frr_addr, T)?;
    let got = wait_route(&frr, prefix("203.0.113.0/24"), T)?;
    ensure(
        got.as_path.is_empty()
            && got.local_pref == Some(200)
            && got.med == Some(5)
            && got.communities == [(65010, 1)]
            && got.next_hop == Some(bird_addr),
        || format!("route at FRR: {got:?}"),
    )?;
    let got = wait_route(&bird, prefix("198.51.100.0/24"), T)?;
    ensure(
        got.as_path.is_empty() && got.local_pref == Some(300) && got.next_hop == Some(frr_addr),
        || format!("route at BIRD: {got:?}"),
    )
}

/// GTSM (RFC 5082) between BIRD and FRR: with `ttl security` on both
/// sides the session establishes; BIRD with GTSM never reaches
/// Established with an FRR without it (which sends TTL 1 to a direct eBGP
/// neighbour).
#[test]
fn gtsm_bird_frr() -> Result<()> {
    if !env::preflight("gtsm_bird_frr", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    let mut lab = Lab::new("gtsm")?;
    let a = lab.namespace("bird")?;
    let good_ns = lab.namespace("frrgood")?;
    let bad_ns = lab.namespace("frrbad")?;
    let good = lab.link(&a, &good_ns)?;
    let bad = lab.link(&a, &bad_ns)?;
    let v4 = |x: std::net::Ipv4Addr| IpAddr::V4(x);
    let mut r1 = Router::new("r1", 65001, good.a.v4);
    let mut n = neighbor("good", v4(good.b.v4), v4(good.a.v4), 65002);
    n.ttl_security = true;
    r1.neighbors.push(n);
    let mut n = neighbor("bad", v4(bad.b.v4), v4(bad.a.v4), 65003);
    n.ttl_security = true;
    r1.neighbors.push(n);
    let mut r2 = Router::new("r2", 65002, good.b.v4);
    let mut n = neighbor("bird", v4(good.a.v4), v4(good.b.v4), 65001);
    n.ttl_security = true;
    r2.neighbors.push(n);
    let mut r3 = Router::new("r3", 65003, bad.b.v4);
    r3.neighbors
        .push(neighbor("bird", v4(bad.a.v4), v4(bad.b.v4), 65001));

    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr_good = Frr::start(&mut lab, &good_ns, r2)?;
    let frr_bad = Frr::start(&mut lab, &bad_ns, r3)?;
    wait_established(&bird, v4(good.b.v4), T)?;
    wait_established(&frr_good, v4(good.a.v4), T)?;
    // The protected side never accepts the session. (The unprotected FRR
    // may count a moment of Established on a connection BIRD opened,
    // until its hold timer: GTSM filters what BIRD receives, not what FRR
    // receives.)
    wait::holds(
        "BIRD with GTSM never Established with a neighbour sending TTL 1",
        Duration::from_secs(6),
        || Ok(bird.session_state(v4(bad.b.v4))? != SessionState::Established),
        || format!("{}\n{}", bird.view(), frr_bad.view()),
    )
}

/// TCP-MD5 (RFC 2385) between BIRD and FRR: with the same password the
/// session establishes; with different passwords it never does, while
/// both keep trying (1 s connect retry) for the whole observation.
#[test]
fn tcp_md5_bird_frr() -> Result<()> {
    if !env::preflight("tcp_md5_bird_frr", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    let mut lab = Lab::new("md5")?;
    let a = lab.namespace("bird")?;
    let good_ns = lab.namespace("frrgood")?;
    let bad_ns = lab.namespace("frrbad")?;
    let good = lab.link(&a, &good_ns)?;
    let bad = lab.link(&a, &bad_ns)?;
    let v4 = |x: std::net::Ipv4Addr| IpAddr::V4(x);

    let mut r1 = Router::new("r1", 65001, good.a.v4);
    let mut n = neighbor("good", v4(good.b.v4), v4(good.a.v4), 65002);
    n.password = Some("s3cret-one".into());
    r1.neighbors.push(n);
    let mut n = neighbor("bad", v4(bad.b.v4), v4(bad.a.v4), 65003);
    n.password = Some("s3cret-one".into());
    r1.neighbors.push(n);

    let mut r2 = Router::new("r2", 65002, good.b.v4);
    let mut n = neighbor("bird", v4(good.a.v4), v4(good.b.v4), 65001);
    n.password = Some("s3cret-one".into());
    r2.neighbors.push(n);
    let mut r3 = Router::new("r3", 65003, bad.b.v4);
    let mut n = neighbor("bird", v4(bad.a.v4), v4(bad.b.v4), 65001);
    n.password = Some("s3cret-two".into());
    r3.neighbors.push(n);

    let bird = Bird::start(&mut lab, &a, r1)?;
    let frr_good = Frr::start(&mut lab, &good_ns, r2)?;
    let frr_bad = Frr::start(&mut lab, &bad_ns, r3)?;
    wait_established(&bird, v4(good.b.v4), T)?;
    wait_established(&frr_good, v4(good.a.v4), T)?;
    // The bad pair had the same time as the good one, and keeps trying.
    wait::holds(
        "no session with mismatched TCP-MD5 passwords",
        Duration::from_secs(6),
        || {
            Ok(
                bird.session_state(v4(bad.b.v4))? != SessionState::Established
                    && frr_bad.session_state(v4(bad.a.v4))? != SessionState::Established,
            )
        },
        || format!("{}\n{}", bird.view(), frr_bad.view()),
    )
}

/// Checks that nothing of a dropped lab is left: no namespace of its
/// names, no live process of its PIDs.
fn assert_gone(namespaces: &[String], pids: &[u32]) -> Result<()> {
    let list = interop::cmd::run("ip", ["netns", "list"])?;
    let left: Vec<&String> = namespaces
        .iter()
        .filter(|n| list.split_whitespace().any(|w| w == n.as_str()))
        .collect();
    ensure(left.is_empty(), || {
        format!("namespaces left behind: {left:?}")
    })?;
    let alive: Vec<&u32> = pids.iter().filter(|p| process::alive(**p)).collect();
    ensure(alive.is_empty(), || {
        format!("processes left behind: {alive:?}")
    })
}

/// Starts BIRD, FRR and ExaBGP (whose API helper is a child process) in a
/// lab, and returns its namespaces and every PID running in them.
fn busy_lab(lab: &mut Lab) -> Result<(Vec<String>, Vec<u32>)> {
    let a = lab.namespace("bird")?;
    let b = lab.namespace("frr")?;
    let d = lab.namespace("exabgp")?;
    let ab = lab.link(&a, &b)?;
    let ad = lab.link(&a, &d)?;
    lab.segment("seg", &[&a, &b, &d])?;
    let mut r1 = Router::new("r1", 65001, ab.a.v4);
    r1.neighbors
        .push(neighbor("frr", ab.b.v4.into(), ab.a.v4.into(), 65002));
    r1.neighbors
        .push(neighbor("exa", ad.b.v4.into(), ad.a.v4.into(), 65004));
    let mut r2 = Router::new("r2", 65002, ab.b.v4);
    r2.neighbors
        .push(neighbor("bird", ab.a.v4.into(), ab.b.v4.into(), 65001));
    let mut r4 = Router::new("r4", 65004, ad.b.v4);
    r4.neighbors
        .push(neighbor("bird", ad.a.v4.into(), ad.b.v4.into(), 65001));
    let bird = Bird::start(lab, &a, r1)?;
    Frr::start(lab, &b, r2)?;
    ExaBgp::start(lab, &d, r4)?;
    wait_established(&bird, ab.b.v4.into(), T)?;
    wait_established(&bird, ad.b.v4.into(), T)?;
    let pids = lab.pids_in_namespaces();
    // bird, zebra, bgpd, exabgp and its `tail` helper at least.
    ensure(pids.len() >= 5, || {
        format!("expected 5 processes, saw {pids:?}")
    })?;
    for pid in lab.pids() {
        ensure(pids.contains(&pid), || {
            format!("started pid {pid} not in the lab's namespaces {pids:?}")
        })?;
    }
    Ok((lab.namespace_names(), pids))
}

#[test]
fn guard_leaves_nothing_after_drop() -> Result<()> {
    if !env::preflight("guard_leaves_nothing_after_drop", &Daemon::ALL) {
        return Ok(());
    }
    let mut lab = Lab::new("guard-drop")?;
    let (namespaces, pids) = busy_lab(&mut lab)?;
    ensure(namespaces.len() == 4, || {
        format!("namespaces: {namespaces:?}")
    })?;
    drop(lab);
    assert_gone(&namespaces, &pids)
}

#[test]
fn guard_leaves_nothing_after_panic() -> Result<()> {
    if !env::preflight("guard_leaves_nothing_after_panic", &Daemon::ALL) {
        return Ok(());
    }
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = Lab::new("guard-panic").unwrap();
        let state = busy_lab(&mut lab);
        *seen.lock().unwrap() = Some((state, lab.dir().to_owned()));
        panic!("a failing scenario (deliberate)");
    }));
    ensure(outcome.is_err(), || "the closure did not panic".into())?;
    let (state, dir) = seen.into_inner().unwrap().unwrap();
    // On panic the guard keeps the lab's logs for reading; not needed here.
    let _ = std::fs::remove_dir_all(dir);
    let (namespaces, pids) = state?;
    assert_gone(&namespaces, &pids)
}

/// Links and segments carry traffic between namespaces over IPv4 and
/// IPv6 (ping), and nothing is added to the root namespace.
#[test]
fn lab_links_and_segments_carry_traffic() -> Result<()> {
    if !env::preflight("lab_links_and_segments_carry_traffic", &[]) {
        return Ok(());
    }
    let root_before = interop::cmd::run("ip", ["-j", "addr"])?;
    let mut lab = Lab::new("links")?;
    let a = lab.namespace("a")?;
    let b = lab.namespace("b")?;
    let c = lab.namespace("c")?;
    let link = lab.link(&a, &b)?;
    let seg = lab.segment("seg", &[&a, &b, &c])?;
    let ping = |ns: &interop::Ns, to: String| {
        interop::cmd::run_in(&ns.name, "ping", ["-c", "1", "-W", "2", to.as_str()])
    };
    ping(&a, link.b.v4.to_string())?;
    ping(&b, link.a.v6.to_string())?;
    for from in &seg {
        for to in &seg {
            if from.ns != to.ns {
                ping(&from.ns, to.v4.to_string())?;
                ping(&from.ns, to.v6.to_string())?;
            }
        }
    }
    for end in [&link.a, &link.b].into_iter().chain(&seg) {
        ensure(
            end.v4.octets()[0] == 198 && (end.v4.octets()[1] & 0xfe) == 18,
            || format!("{} is outside 198.18.0.0/15", end.v4),
        )?;
        ensure(end.v6.segments()[0] & 0xff00 == 0xfd00, || {
            format!("{} is outside fd00::/8", end.v6)
        })?;
    }
    let root_after = interop::cmd::run("ip", ["-j", "addr"])?;
    ensure(root_before == root_after, || {
        "the root namespace's addresses changed".into()
    })
}

/// The versions tested are the versions installed: `docs/interop.md`
/// names each daemon's version as its `--version` prints it.
#[test]
fn docs_name_the_installed_versions() -> Result<()> {
    if !env::preflight("docs_name_the_installed_versions", &Daemon::ALL) {
        return Ok(());
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/interop.md"))
        .map_err(|e| interop::Error::Environment(format!("docs/interop.md: {e}")))?;
    for daemon in Daemon::ALL {
        let version = daemon.version()?;
        println!("{}: {version}", daemon.name());
        ensure(doc.contains(&version), || {
            format!(
                "docs/interop.md does not name the installed {}: `{version}`",
                daemon.name()
            )
        })?;
    }
    Ok(())
}

/// ExaBGP delivers crafted bad input (scenario 9's tool): a route whose
/// COMMUNITIES attribute has a length that is not a multiple of 4 is
/// treated as withdrawn by BIRD, FRR and GoBGP (RFC 7606 §7.8), the
/// session stays up, and a good route on the same session stays.
#[test]
fn exabgp_malformed_attribute_is_treat_as_withdraw() -> Result<()> {
    let mut needs = Daemon::PEERS.to_vec();
    needs.push(Daemon::ExaBgp);
    if !env::preflight("exabgp_malformed_attribute_is_treat_as_withdraw", &needs) {
        return Ok(());
    }
    let mut lab = Lab::new("exa-7606")?;
    let exa_ns = lab.namespace("exabgp")?;
    let mut r4 = Router::new("r4", 65004, std::net::Ipv4Addr::new(198, 18, 255, 4));
    let mut peers: Vec<(Box<dyn Peer>, IpAddr)> = Vec::new();
    for (i, daemon) in Daemon::PEERS.into_iter().enumerate() {
        let ns = lab.namespace(&format!("peer{i}"))?;
        let link = lab.link(&ns, &exa_ns)?;
        let (peer_addr, exa_addr) = (IpAddr::V4(link.a.v4), IpAddr::V4(link.b.v4));
        let asn = 65100 + i as u32;
        r4.neighbors
            .push(neighbor(&format!("peer{i}"), peer_addr, exa_addr, asn));
        let mut router = Router::new(&format!("p{i}"), asn, link.a.v4);
        router
            .neighbors
            .push(neighbor("exa", exa_addr, peer_addr, 65004));
        peers.push((peer::start(daemon, &mut lab, &ns, router)?, exa_addr));
    }
    r4.originate
        .push(route_with("198.51.100.0/24", &[(65004, 1)], &[]));
    let exa = ExaBgp::start(&mut lab, &exa_ns, r4)?;
    for (peer, exa_addr) in &peers {
        wait_established(peer.as_ref(), *exa_addr, T)?;
        wait_route(peer.as_ref(), prefix("198.51.100.0/24"), T)?;
    }
    // First a good announcement of the prefix, then the malformed one: a
    // treat-as-withdraw removes it (a silently dropped UPDATE would not).
    exa.announce(&Announcement::new(route_with("198.51.101.0/24", &[], &[])))?;
    for (peer, _) in &peers {
        wait_route(peer.as_ref(), prefix("198.51.101.0/24"), T)?;
    }
    let mut bad = Announcement::new(Route::new(prefix("198.51.101.0/24")));
    bad.raw_attributes.push(RawAttribute {
        code: 8,
        flags: 0xc0,
        value: vec![0xfd, 0xec, 0x00],
    });
    exa.announce(&bad)?;
    for (peer, exa_addr) in &peers {
        let peer = peer.as_ref();
        wait_no_route(peer, prefix("198.51.101.0/24"), T)
            .map_err(|e| interop::Error::Assertion(format!("{e}\n{}", exa.view())))?;
        ensure(
            peer.session_state(*exa_addr)? == SessionState::Established,
            || {
                format!(
                    "{}: session reset by a treat-as-withdraw case",
                    peer.label()
                )
            },
        )?;
        ensure(peer.route(prefix("198.51.100.0/24"))?.is_some(), || {
            format!("{}: lost the good route", peer.label())
        })?;
    }
    Ok(())
}
