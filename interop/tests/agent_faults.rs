//! Scenarios 3 and 4 against `twill-agent`: TCP-MD5 (right and wrong
//! password) and GTSM with BIRD and FRR; hold-timer expiry on a cut link,
//! administrative shutdown with a message both ways, and route refresh.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use interop::agent::{AgentOptions, TwillAgent};
use interop::peer::wait_established;
use interop::{ensure, env, wait, Daemon, Family, Lab, Neighbor, Peer, Result, Router};
use interop::{Link, SessionState};

const T: Duration = Duration::from_secs(30);
const TWILL_AS: u32 = 65100;

fn down(peer: &dyn Peer, neighbor: IpAddr, timeout: Duration) -> Result<()> {
    wait::until(
        &format!("{}: session with {neighbor} down", peer.label()),
        timeout,
        || Ok((peer.session_state(neighbor)? != SessionState::Established).then_some(())),
        || peer.view(),
    )
}

fn never_established(peer: &dyn Peer, neighbor: IpAddr, period: Duration) -> Result<()> {
    wait::holds(
        &format!("{}: session with {neighbor} not Established", peer.label()),
        period,
        || Ok(peer.session_state(neighbor)? != SessionState::Established),
        || peer.view(),
    )
}

/// One agent and one peer per `daemon`, each on its own link; `tweak`
/// edits the agent's neighbour and the peer's.
struct Pair {
    peer: Box<dyn Peer>,
    link: Link,
}

fn pairs(
    lab: &mut Lab,
    daemons: &[Daemon],
    hold: Duration,
    tweak: impl Fn(usize, &mut Neighbor, &mut Neighbor),
) -> Result<(TwillAgent, Vec<Pair>)> {
    let node = lab.namespace("twill")?;
    let mut twill = Router::new("n1", TWILL_AS, Ipv4Addr::new(198, 18, 254, 1));
    let mut pending = Vec::new();
    for (i, daemon) in daemons.iter().enumerate() {
        let ns = lab.namespace(&format!("p{i}"))?;
        let link = lab.link(&node, &ns)?;
        let (ours, theirs) = (link.a.addr(Family::Ipv4), link.b.addr(Family::Ipv4));
        let asn = 65001 + i as u32;
        let mut mine = Neighbor::new(&format!("p{i}"), theirs, ours, asn);
        let mut r = Router::new(&format!("p{i}"), asn, link.b.v4);
        let mut back = Neighbor::new("twill", ours, theirs, TWILL_AS);
        mine.hold_time = hold;
        back.hold_time = hold;
        tweak(i, &mut mine, &mut back);
        twill.neighbors.push(mine);
        r.neighbors.push(back);
        pending.push((*daemon, ns, r, link));
    }
    let agent = TwillAgent::start(lab, &node, twill, AgentOptions::default())?;
    let mut out = Vec::new();
    for (daemon, ns, r, link) in pending {
        out.push(Pair {
            peer: interop::peer::start(daemon, lab, &ns, r)?,
            link,
        });
    }
    Ok((agent, out))
}

fn addrs(link: &Link) -> (IpAddr, IpAddr) {
    (link.a.addr(Family::Ipv4), link.b.addr(Family::Ipv4))
}

/// TCP-MD5 (RFC 2385) between the agent and BIRD, and the agent and FRR:
/// with the same password both sides reach Established; with a wrong one
/// (a second pair of sessions) neither side does for 6 s of retries.
#[test]
fn agent_tcp_md5_with_bird_and_frr() -> Result<()> {
    if !env::preflight(
        "agent_tcp_md5_with_bird_and_frr",
        &[Daemon::Bird, Daemon::Frr],
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-md5")?;
    let daemons = [Daemon::Bird, Daemon::Frr, Daemon::Bird, Daemon::Frr];
    let (agent, pairs) = pairs(&mut lab, &daemons, Duration::from_secs(9), |i, a, b| {
        a.password = Some("twill-secret".into());
        b.password = Some(if i < 2 { "twill-secret" } else { "wrong" }.into());
    })?;
    for pair in &pairs[..2] {
        let (ours, theirs) = addrs(&pair.link);
        wait_established(&agent, theirs, T)?;
        wait_established(pair.peer.as_ref(), ours, T)?;
    }
    for pair in &pairs[2..] {
        let (ours, theirs) = addrs(&pair.link);
        never_established(&agent, theirs, Duration::from_secs(6))?;
        never_established(pair.peer.as_ref(), ours, Duration::from_millis(10))?;
    }
    Ok(())
}

/// GTSM (RFC 5082) between the agent and BIRD, and the agent and FRR: with
/// GTSM on both sides the session is Established; an agent with GTSM never
/// reaches Established (6 s) with a BIRD or FRR without it, whose packets
/// arrive with TTL 1.
#[test]
fn agent_gtsm_with_bird_and_frr() -> Result<()> {
    if !env::preflight("agent_gtsm_with_bird_and_frr", &[Daemon::Bird, Daemon::Frr]) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-gtsm")?;
    let daemons = [Daemon::Bird, Daemon::Frr, Daemon::Bird, Daemon::Frr];
    let (agent, pairs) = pairs(&mut lab, &daemons, Duration::from_secs(9), |i, a, b| {
        a.ttl_security = true;
        b.ttl_security = i < 2;
    })?;
    for pair in &pairs[..2] {
        let (ours, theirs) = addrs(&pair.link);
        wait_established(&agent, theirs, T)?;
        wait_established(pair.peer.as_ref(), ours, T)?;
    }
    for pair in &pairs[2..] {
        let (_, theirs) = addrs(&pair.link);
        never_established(&agent, theirs, Duration::from_secs(6))?;
    }
    Ok(())
}

/// Hold time 3 s with BIRD and with FRR; the link is partitioned (traffic
/// dropped, interfaces up): the agent and the peer leave Established
/// within 8 s and the agent reports Hold Timer Expired (4, 0) sent; healed,
/// the session returns.
#[test]
fn agent_hold_timer_expires_on_a_cut_link() -> Result<()> {
    if !env::preflight(
        "agent_hold_timer_expires_on_a_cut_link",
        &[Daemon::Bird, Daemon::Frr],
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-hold")?;
    let (agent, pairs) = pairs(
        &mut lab,
        &[Daemon::Bird, Daemon::Frr],
        Duration::from_secs(3),
        |_, _, _| {},
    )?;
    for pair in &pairs {
        let (ours, theirs) = addrs(&pair.link);
        wait_established(&agent, theirs, T)?;
        wait_established(pair.peer.as_ref(), ours, T)?;
    }
    for pair in &pairs {
        let (ours, theirs) = addrs(&pair.link);
        lab.partition(&pair.link, true)?;
        down(&agent, theirs, Duration::from_secs(8))?;
        down(pair.peer.as_ref(), ours, Duration::from_secs(8))?;
        let seen = agent.last_error(theirs)?;
        ensure(seen.as_ref().and_then(|e| e.code) == Some((4, 0)), || {
            format!(
                "the agent's last error with {}: {seen:?}",
                pair.peer.label()
            )
        })?;
        lab.partition(&pair.link, false)?;
        wait_established(&agent, theirs, T)?;
        wait_established(pair.peer.as_ref(), ours, T)?;
    }
    Ok(())
}

/// Administrative shutdown with a message (RFC 9003) both ways, with BIRD,
/// FRR and GoBGP: the agent shuts down and BIRD shows the message, FRR
/// Cease/Administrative Shutdown (6, 2) and the message; the peer shuts
/// down and the agent shows (6, 2) and the message (BIRD, FRR); start
/// brings each back. Route refresh (RFC 2918): a ROUTE-REFRESH asked by
/// BIRD or FRR is counted received by the agent, one the agent asks is
/// counted sent.
#[test]
fn agent_shutdown_with_a_message_and_route_refresh() -> Result<()> {
    if !env::preflight(
        "agent_shutdown_with_a_message_and_route_refresh",
        &Daemon::PEERS,
    ) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-shutdown")?;
    let (agent, pairs) = pairs(
        &mut lab,
        &[Daemon::Bird, Daemon::Frr, Daemon::GoBgp],
        Duration::from_secs(9),
        |_, _, _| {},
    )?;
    for pair in &pairs {
        let peer = pair.peer.as_ref();
        let (ours, theirs) = addrs(&pair.link);
        wait_established(&agent, theirs, T)?;
        wait_established(peer, ours, T)?;

        // The agent shuts down.
        let message = format!("twill maintenance for {}", peer.daemon().name());
        agent.shutdown(theirs, &message)?;
        down(peer, ours, T)?;
        let seen = peer.last_error(ours)?;
        let ok = match peer.daemon() {
            Daemon::Bird => seen
                .as_ref()
                .is_some_and(|e| e.shutdown_message.as_deref() == Some(message.as_str())),
            Daemon::Frr => seen.as_ref().is_some_and(|e| {
                e.code == Some((6, 2)) && e.shutdown_message.as_deref() == Some(message.as_str())
            }),
            // GoBGP keeps only counts.
            _ => seen.as_ref().is_some_and(|e| e.text.contains("received 1")),
        };
        ensure(ok, || format!("{}'s last error: {seen:?}", peer.label()))?;
        ensure(
            agent.session_state(theirs)? != SessionState::Established,
            || "the agent's session came back before start".into(),
        )?;
        agent.enable(theirs)?;
        wait_established(&agent, theirs, T)?;
        wait_established(peer, ours, T)?;

        if peer.daemon() == Daemon::GoBgp {
            continue; // its CLI neither sends a message nor a refresh
        }
        // The peer shuts down.
        let message = format!("{} maintenance", peer.daemon().name());
        peer.shutdown(ours, &message)?;
        down(&agent, theirs, T)?;
        let seen = agent.last_error(theirs)?;
        ensure(
            seen.as_ref().is_some_and(|e| {
                e.code == Some((6, 2)) && e.shutdown_message.as_deref() == Some(message.as_str())
            }),
            || format!("the agent's last error from {}: {seen:?}", peer.label()),
        )?;
        peer.enable(ours)?;
        wait_established(&agent, theirs, T)?;
        wait_established(peer, ours, T)?;

        // Route refresh both ways, counted by the agent.
        let count = |key: &str| -> Result<u64> {
            Ok(agent.neighbor(theirs)?[key]["route_refresh"]
                .as_u64()
                .unwrap_or(0))
        };
        let before = count("messages_received")?;
        peer.request_refresh(ours)?;
        wait::until(
            &format!("the agent counts a ROUTE-REFRESH from {}", peer.label()),
            T,
            || Ok((count("messages_received")? > before).then_some(())),
            || agent.view(),
        )?;
        let before = count("messages_sent")?;
        agent.request_refresh(theirs)?;
        wait::until(
            &format!("the agent counts a ROUTE-REFRESH sent to {}", peer.label()),
            T,
            || Ok((count("messages_sent")? > before).then_some(())),
            || agent.view(),
        )?;
    }
    Ok(())
}
