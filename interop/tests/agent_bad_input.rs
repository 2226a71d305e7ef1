//! Scenario 9 against `twill-agent`: bad input from ExaBGP while BIRD,
//! FRR and GoBGP are bystanders. RFC 7606 cases keep the session; RFC 4271
//! fatal cases reset it with the right NOTIFICATION; nothing learned from
//! the other peers is lost.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use interop::agent::{AgentOptions, TwillAgent};
use interop::exabgp::{Announcement, ExaBgp, RawAttribute};
use interop::peer::{wait_established, wait_no_route, wait_route};
use interop::{ensure, env, prefix, wait, Daemon, Family, Lab, Neighbor, Peer, Result};
use interop::{Route, Router, SessionState, UnknownAttribute};

const T: Duration = Duration::from_secs(30);
const TWILL_AS: u32 = 65100;
const EXA_AS: u32 = 65009;

/// ExaBGP sends the agent, in turn: a route with an unknown optional
/// transitive attribute (0xc9), which reaches BIRD (code and value) and
/// GoBGP (flags 0xe0: the Partial bit set, RFC 4271 §5); the same prefix
/// with a COMMUNITIES attribute of length 3, which the agent treats as a
/// withdrawal (RFC 7606 §7.8) with the session kept and ExaBGP's other
/// route kept; then an unrecognised well-known attribute, which resets the
/// session with NOTIFICATION (3, 2) Unrecognized Well-known Attribute
/// (RFC 4271 §6.3). Throughout, the routes of BIRD and FRR stay in the
/// agent's RIB and kernel and at GoBGP.
#[test]
fn agent_bad_input_from_exabgp() -> Result<()> {
    let needs = [Daemon::Bird, Daemon::Frr, Daemon::GoBgp, Daemon::ExaBgp];
    if !env::preflight("agent_bad_input_from_exabgp", &needs) {
        return Ok(());
    }
    let mut lab = Lab::new("agent-bad-input")?;
    let node = lab.namespace("twill")?;
    let mut twill = Router::new("n1", TWILL_AS, Ipv4Addr::new(198, 18, 251, 1));
    let mut bystanders = Vec::new();
    for (i, daemon) in [Daemon::Bird, Daemon::Frr, Daemon::GoBgp]
        .into_iter()
        .enumerate()
    {
        let ns = lab.namespace(&format!("p{i}"))?;
        let link = lab.link(&node, &ns)?;
        let (ours, theirs) = (link.a.addr(Family::Ipv4), link.b.addr(Family::Ipv4));
        let asn = 65001 + i as u32;
        twill
            .neighbors
            .push(Neighbor::new(&format!("p{i}"), theirs, ours, asn));
        let mut r = Router::new(&format!("p{i}"), asn, link.b.v4);
        r.neighbors
            .push(Neighbor::new("twill", ours, theirs, TWILL_AS));
        r.originate
            .push(Route::new(prefix(&format!("198.19.{}.0/24", 80 + i))));
        bystanders.push((daemon, ns, r, ours, theirs));
    }
    let exa_ns = lab.namespace("exabgp")?;
    let link = lab.link(&node, &exa_ns)?;
    let (ours, exa_addr) = (link.a.addr(Family::Ipv4), link.b.addr(Family::Ipv4));
    // Both sides active: ExaBGP never listens, so it is its connection
    // that the agent accepts.
    twill
        .neighbors
        .push(Neighbor::new("exa", exa_addr, ours, EXA_AS));
    let mut exa_router = Router::new("exa", EXA_AS, link.b.v4);
    exa_router
        .neighbors
        .push(Neighbor::new("twill", ours, exa_addr, TWILL_AS));
    let good = prefix("198.19.90.0/24");
    exa_router.originate.push(Route::new(good));

    let agent = TwillAgent::start(&mut lab, &node, twill, AgentOptions::default())?;
    let mut peers: Vec<(Box<dyn Peer>, IpAddr, IpAddr)> = Vec::new();
    for (daemon, ns, r, ours, theirs) in bystanders {
        peers.push((
            interop::peer::start(daemon, &mut lab, &ns, r)?,
            ours,
            theirs,
        ));
    }
    let exa = ExaBgp::start(&mut lab, &exa_ns, exa_router)?;
    for (peer, ours, theirs) in &peers {
        wait_established(&agent, *theirs, T)?;
        wait_established(peer.as_ref(), *ours, T)?;
    }
    wait_established(&agent, exa_addr, T)
        .map_err(|e| interop::Error::Assertion(format!("{e}\n{}", exa.view())))?;
    wait_route(&agent, good, T)?;
    let kept = [prefix("198.19.80.0/24"), prefix("198.19.81.0/24")];
    let bystanders_kept = |when: &str| -> Result<()> {
        for p in kept {
            wait_route(&agent, p, T)?;
            ensure(agent.kernel_route(p)?.is_some(), || {
                format!("{when}: {p} gone from the agent's kernel table")
            })?;
            wait_route(peers[2].0.as_ref(), p, T)?;
        }
        Ok(())
    };
    bystanders_kept("before")?;

    // An unknown optional transitive attribute: passed on, Partial set.
    let odd = prefix("198.19.91.0/24");
    let value = vec![0xde, 0xad, 0xbe, 0xef];
    let mut with_unknown = Announcement::new(Route::new(odd));
    with_unknown.raw_attributes.push(RawAttribute {
        code: 0xc9,
        flags: 0xc0,
        value: value.clone(),
    });
    exa.announce(&with_unknown)?;
    wait_route(&agent, odd, T)?;
    let at_bird = wait_route(peers[0].0.as_ref(), odd, T)?;
    ensure(
        at_bird.unknown
            == [UnknownAttribute {
                code: 0xc9,
                flags: None,
                value: value.clone(),
            }],
        || format!("BIRD: {odd}: {at_bird:?}"),
    )?;
    let at_gobgp = wait_route(peers[2].0.as_ref(), odd, T)?;
    ensure(
        at_gobgp.unknown
            == [UnknownAttribute {
                code: 0xc9,
                flags: Some(0xe0),
                value,
            }],
        || format!("GoBGP: {odd}: {at_gobgp:?} (flags 0xe0: Partial set)"),
    )?;

    // RFC 7606 §7.8: a malformed COMMUNITIES is treat-as-withdraw.
    let mut bad = Announcement::new(Route::new(odd));
    bad.raw_attributes.push(RawAttribute {
        code: 8,
        flags: 0xc0,
        value: vec![0xfd, 0xec, 0x00],
    });
    exa.announce(&bad)?;
    wait_no_route(&agent, odd, T)?;
    wait_no_route(peers[0].0.as_ref(), odd, T)?;
    ensure(
        agent.session_state(exa_addr)? == SessionState::Established,
        || {
            format!(
                "the session with ExaBGP was reset by a treat-as-withdraw case\n{}",
                exa.view()
            )
        },
    )?;
    ensure(wait_route(&agent, good, T).is_ok(), || {
        "ExaBGP's good route is gone".into()
    })?;
    bystanders_kept("after treat-as-withdraw")?;

    // RFC 4271 §6.3: an unrecognised well-known attribute resets the session.
    let mut fatal = Announcement::new(Route::new(prefix("198.19.92.0/24")));
    fatal.raw_attributes.push(RawAttribute {
        code: 0xca,
        flags: 0x40,
        value: vec![0x01],
    });
    exa.announce(&fatal)?;
    let sent = wait::until(
        "the agent sends NOTIFICATION (3, 2) to ExaBGP",
        T,
        || {
            let n = agent.neighbor(exa_addr)?;
            let s = &n["last_notification_sent"];
            Ok((s["code"] == 3 && s["subcode"] == 2).then(|| s.clone()))
        },
        || format!("{}\n{}", agent.view(), exa.view()),
    )?;
    ensure(
        sent["data_hex"]
            .as_str()
            .is_some_and(|d| d.starts_with("40ca01")),
        || format!("NOTIFICATION data is not the attribute (RFC 4271 §6.3): {sent}"),
    )?;
    bystanders_kept("after the session reset")?;
    ensure(agent.route(prefix("198.19.92.0/24"))?.is_none(), || {
        "the fatal UPDATE's route was accepted".into()
    })?;
    Ok(())
}
