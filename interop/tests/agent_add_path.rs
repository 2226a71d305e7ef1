//! ADD-PATH send (RFC 7911) against BIRD: `twill-agent` learns one prefix
//! from two eBGP peers and, towards a BIRD that negotiated receiving
//! several paths (`add paths rx`), sends both, each with its own Path
//! Identifier; a BIRD without ADD-PATH gets the best path only. When one
//! path goes, BIRD with ADD-PATH keeps the other.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use interop::agent::{AgentOptions, TwillAgent};
use interop::bird::{protocol_name, Bird};
use interop::peer::{wait_established, wait_route};
use interop::{
    ensure, env, prefix, wait, AddPath, Daemon, Lab, Neighbor, Peer, Result, Route, Router,
};
use interop::{Family, Prefix};

const T: Duration = Duration::from_secs(30);
const TWILL_AS: u32 = 65000;

/// The AS_PATH of every route BIRD holds for `p` from the protocol of
/// neighbour `name` (`show route for P all`: one entry per path, the
/// attributes indented below it).
fn bird_paths(bird: &Bird, p: Prefix, name: &str) -> Result<BTreeSet<Vec<u32>>> {
    let out = bird.birdc(&["show", "route", "for", &p.to_string(), "all"])?;
    let proto = format!("[{} ", protocol_name(name));
    let mut paths = BTreeSet::new();
    let mut current: Option<Vec<u32>> = None;
    let mut entries = 0;
    for line in out.lines() {
        if !line.starts_with('\t') {
            if let Some(path) = current.take() {
                paths.insert(path);
            }
            if line.contains(&proto) {
                entries += 1;
                current = Some(Vec::new());
            }
            continue;
        }
        if let (Some(path), Some(value)) =
            (current.as_mut(), line.trim().strip_prefix("BGP.as_path:"))
        {
            *path = value
                .split_whitespace()
                .filter_map(|a| a.parse().ok())
                .collect();
        }
    }
    if let Some(path) = current.take() {
        paths.insert(path);
    }
    // Two entries with the same AS_PATH would be a duplicate path.
    ensure(entries == paths.len(), || {
        format!(
            "BIRD: {entries} entries for {p} but {} AS_PATHs:\n{out}",
            paths.len()
        )
    })?;
    Ok(paths)
}

/// Waits until BIRD holds exactly `want` (AS_PATHs) for `p` from `name`.
fn wait_paths(bird: &Bird, p: Prefix, name: &str, want: &[&[u32]]) -> Result<()> {
    let want: BTreeSet<Vec<u32>> = want.iter().map(|p| p.to_vec()).collect();
    wait::until(
        &format!("BIRD {}: paths {want:?} for {p}", bird.router().name),
        T,
        || Ok((bird_paths(bird, p, name)? == want).then_some(())),
        || {
            bird.birdc(&["show", "route", "for", &p.to_string(), "all"])
                .unwrap_or_default()
        },
    )
}

#[test]
fn agent_add_path_send_to_bird() -> Result<()> {
    let test = "agent_add_path_send_to_bird";
    if !env::preflight(test, &[Daemon::Bird]) {
        return Ok(());
    }
    let mut lab = Lab::new(test)?;
    let names = ["twill", "a", "b", "rx", "plain"];
    let (ns, ends) = lab.on_segment("seg", &names)?;
    let addr = |i: usize| ends[i].addr(Family::Ipv4);
    let asn = |i: usize| TWILL_AS + i as u32;
    let p = prefix("198.19.80.0/24");

    // The agent peers with all four; a and b announce `p`; rx receives
    // several paths, plain does not.
    let mut twill = Router::new("twill", TWILL_AS, ends[0].v4);
    let mut birds = Vec::new();
    for i in 1..names.len() {
        let mut n = Neighbor::new(names[i], addr(i), addr(0), asn(i));
        if names[i] == "rx" {
            n.add_path = AddPath::Send;
        }
        twill.neighbors.push(n);
        let mut r = Router::new(names[i], asn(i), ends[i].v4);
        let mut back = Neighbor::new("twill", addr(0), addr(i), TWILL_AS);
        if names[i] == "rx" {
            back.add_path = AddPath::Receive;
        }
        r.neighbors.push(back);
        if i <= 2 {
            r.originate.push(Route::new(p));
        }
        birds.push(r);
    }
    let agent = TwillAgent::start(&mut lab, &ns[0], twill.clone(), AgentOptions::default())?;
    let birds: Vec<Bird> = birds
        .into_iter()
        .enumerate()
        .map(|(k, r)| Bird::start(&mut lab, &ns[k + 1], r))
        .collect::<Result<_>>()?;
    for n in &twill.neighbors {
        wait_established(&agent, n.address, T)?;
    }
    let (rx, plain) = (&birds[2], &birds[3]);

    // rx: both paths, through us.
    let via_a = [TWILL_AS, asn(1)];
    let via_b = [TWILL_AS, asn(2)];
    wait_paths(rx, p, "twill", &[&via_a, &via_b])?;
    // plain: the best only (a's: the lower BGP Identifier, RFC 4271
    // §9.1.2.2 f, as both AS_PATHs are one AS long).
    wait_route(plain, p, T)?;
    wait_paths(plain, p, "twill", &[&via_a])?;

    // The agent's Adj-RIB-Out towards rx: two paths, Path Identifiers 1
    // and 2 (ours, RFC 7911 §3); towards plain: one, identifier 0.
    let ids = |neighbor: IpAddr| -> Result<BTreeSet<u64>> {
        let v = agent.ctl(&["rib", "out", &neighbor.to_string()])?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["prefix"] == p.to_string().as_str())
            .flat_map(|r| r["paths"].as_array().cloned().unwrap_or_default())
            .filter_map(|path| path["path_id"].as_u64())
            .collect())
    };
    let got = ids(addr(3))?;
    ensure(got == BTreeSet::from([1, 2]), || {
        format!("Adj-RIB-Out towards rx: path ids {got:?}")
    })?;
    let got = ids(addr(4))?;
    ensure(got == BTreeSet::from([0]), || {
        format!("Adj-RIB-Out towards plain: path ids {got:?}")
    })?;

    // A reload with at most one path towards rx: b's path is withdrawn by
    // its identifier, the session is not reset (not in the OPEN).
    let transitions = |agent: &TwillAgent| -> Result<u64> {
        let n = agent.neighbor(addr(3))?;
        n["established_transitions"]
            .as_u64()
            .ok_or_else(|| interop::Error::Assertion(format!("neighbour rx: {n}")))
    };
    let before = transitions(&agent)?;
    let mut one = twill.clone();
    one.neighbors[2].add_path_send_max = Some(1);
    let mut agent = agent;
    agent.reload(one)?;
    wait_paths(rx, p, "twill", &[&via_a])?;
    let after = transitions(&agent)?;
    ensure(after == before, || {
        format!("the reload reset the session with rx: {before} -> {after} Established")
    })?;
    // And back to every path.
    agent.reload(twill.clone())?;
    wait_paths(rx, p, "twill", &[&via_a, &via_b])?;

    // a goes away: rx keeps b's path alone, plain gets b's instead.
    lab.stop("bird-a");
    wait_paths(rx, p, "twill", &[&via_b])?;
    wait_paths(plain, p, "twill", &[&via_b])?;
    Ok(())
}
