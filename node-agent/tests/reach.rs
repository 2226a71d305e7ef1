//! The kernel-backed next-hop check against a real kernel: a namespace
//! `node` (where the check runs) joined to `peer` by a veth pair
//! (198.18.x.1/24 and .2, fd00:7e11::/64). Needs root and iproute2, and
//! ExaBGP for the agent test; fails clearly without them, skips with
//! `TWILL_SKIP_NETNS=1`. The namespaces go with the lab (also on panic).

use std::net::IpAddr;
use std::time::Duration;

use interop::exabgp::{Announcement, ExaBgp};
use interop::router::{prefix, Neighbor, Route, Router};
use interop::{env, kernel, Daemon, Lab, Link, Ns};
use node_agent::agent::{Agent, Options};
use node_agent::api::model::{RibQuery, Route as RibRoute};
use node_agent::api::request::ApiRequest;
use node_agent::fib::netlink::{self, RTM_NEWROUTE};
use node_agent::fib::socket::NetlinkSocket;
use node_agent::metrics::Metrics;
use node_agent::reach::watch::{ignore_protocol, GROUPS};
use node_agent::reach::{KernelResolver, ReachConfig};
use ribs::decision::Reachability;

/// Twill's protocol number and the main table.
const CONFIG: ReachConfig = ReachConfig {
    protocol: 84,
    table: 254,
};

/// A deadline for the watch or the agent to act (not a speed assertion).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread inside `ns`: sockets opened there stay in it.
fn in_ns<T: Send + 'static>(ns: &Ns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", ns.name);
    let t = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    });
    t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// `ip -n NS ARGS...`.
fn ip(ns: &Ns, args: &str) {
    let mut v = vec!["-n", ns.name.as_str()];
    v.extend(args.split_whitespace());
    interop::cmd::run("ip", v).unwrap_or_else(|e| panic!("{e}"));
}

/// A lab of two namespaces, `node` and `peer`, joined by a veth pair.
fn pair(test: &str) -> (Lab, Ns, Ns, Link) {
    let mut lab = Lab::new(test).unwrap();
    let node = lab.namespace("node").unwrap();
    let peer = lab.namespace("peer").unwrap();
    let link = lab.link(&node, &peer).unwrap();
    (lab, node, peer, link)
}

fn at(metric: u32) -> Reachability {
    Reachability::Reachable {
        igp_cost: Some(metric),
    }
}

const UNREACHABLE: Reachability = Reachability::Unreachable;

/// Waits until the check answers `want` for `addr`.
fn wait_for(r: &KernelResolver, addr: impl Into<IpAddr>, want: Reachability) {
    let addr = addr.into();
    interop::wait::until(
        &format!("{addr}: {want:?}"),
        TIMEOUT,
        || Ok((r.resolve_addr(addr) == want).then_some(())),
        || format!("the check says {:?}", r.resolve_addr(addr)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn ask(r: &KernelResolver, addr: &str) -> Reachability {
    r.resolve_addr(addr.parse().unwrap())
}

#[test]
fn the_check_follows_the_kernel_routes_and_links() {
    if !env::preflight("reach", &[]) {
        return;
    }
    let (_lab, node, peer, link) = pair("reach");
    let (here, there) = (&link.a.ifname, &link.b.ifname);
    let gw = link.b.v4;
    let r = in_ns(&node, || {
        KernelResolver::spawn(CONFIG).expect("next-hop check")
    });
    let changed = r.changed();
    let woken = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async { tokio::time::timeout(TIMEOUT, changed.notified()).await })
            .is_ok()
    };

    // on the link: the connected routes (IPv4 metric 0, IPv6 256)
    assert_eq!(r.resolve_addr(gw.into()), at(0));
    assert_eq!(r.resolve_addr(link.b.v6.into()), at(256));
    let ll = link.b.link_local().unwrap();
    assert_eq!(r.resolve_addr(ll.into()), at(256));
    // elsewhere: nothing covers it
    assert_eq!(ask(&r, "198.19.5.1"), UNREACHABLE);
    assert_eq!(ask(&r, "198.19.7.1"), UNREACHABLE);

    // a route of Twill's protocol does not count (no resolution through
    // BGP routes); a static one does, at its metric, and wakes the RIB
    ip(&node, &format!("route add 198.19.7.0/24 via {gw} proto 84"));
    ip(
        &node,
        &format!("route add 198.19.5.0/24 via {gw} proto static metric 20"),
    );
    wait_for(&r, [198, 19, 5, 1], at(20));
    assert!(woken(), "a verdict changed: the RIB is woken");
    assert_eq!(ask(&r, "198.19.7.1"), UNREACHABLE);
    // a blackhole inside it
    ip(&node, "route add blackhole 198.19.5.128/25");
    wait_for(&r, [198, 19, 5, 200], UNREACHABLE);
    assert_eq!(ask(&r, "198.19.5.1"), at(20));
    // IPv6: a static route at the kernel's default metric
    assert_eq!(ask(&r, "fd00:99::1"), UNREACHABLE);
    ip(
        &node,
        &format!("-6 route add fd00:99::/64 via {} proto static", link.b.v6),
    );
    wait_for(&r, "fd00:99::1".parse::<IpAddr>().unwrap(), at(1024));

    // carrier lost (the far end goes down): the kernel keeps the routes
    // ("linkdown"), the check does not use them
    ip(&peer, &format!("link set {there} down"));
    wait_for(&r, gw, UNREACHABLE);
    assert_eq!(ask(&r, "198.19.5.1"), UNREACHABLE);
    assert_eq!(r.resolve_addr(ll.into()), UNREACHABLE);
    assert_eq!(ask(&r, "fd00:99::1"), UNREACHABLE);
    ip(&peer, &format!("link set {there} up"));
    wait_for(&r, gw, at(0));
    assert_eq!(ask(&r, "198.19.5.1"), at(20));
    assert_eq!(r.resolve_addr(ll.into()), at(256));
    assert_eq!(ask(&r, "fd00:99::1"), at(1024));

    // administratively down: the kernel flushes the routes of the link
    ip(&node, &format!("link set {here} down"));
    wait_for(&r, gw, UNREACHABLE);
    assert_eq!(ask(&r, "198.19.5.1"), UNREACHABLE);
    ip(&node, &format!("link set {here} up"));
    wait_for(&r, gw, at(0));
    // the static route did not come back, in the kernel nor in the check
    let static_route = kernel::route(&node, prefix("198.19.5.0/24")).unwrap();
    assert_eq!(static_route, None);
    assert_eq!(ask(&r, "198.19.5.1"), UNREACHABLE);
    assert_eq!(ask(&r, "198.19.5.200"), UNREACHABLE); // the blackhole stays
    drop(r);
}

/// The watch socket's filter drops Twill's route notifications in the
/// kernel: of a Twill route and a static one added in that order, the
/// static one is the first the socket receives.
#[test]
fn the_watch_socket_never_sees_twill_routes() {
    if !env::preflight("reach_filter", &[]) {
        return;
    }
    let (_lab, node, _peer, link) = pair("reach-filter");
    let gw = link.b.v4;
    let ns = node.clone();
    let first = in_ns(&node, move || {
        let mut sock = NetlinkSocket::open(GROUPS).unwrap();
        ignore_protocol(&sock, 84).unwrap();
        ip(&ns, &format!("route add 198.19.7.0/24 via {gw} proto 84"));
        ip(
            &ns,
            &format!("route add 198.19.5.0/24 via {gw} proto static"),
        );
        let mut first = None;
        while first.is_none() {
            sock.recv_with(true, |m| {
                if m.kind == RTM_NEWROUTE && first.is_none() {
                    first = netlink::parse_route(m.payload);
                }
            })
            .unwrap();
        }
        first.unwrap()
    });
    assert_eq!(
        (first.prefix.to_string().as_str(), first.protocol),
        ("198.19.5.0/24", 4)
    );
}

async fn rib(agent: &Agent) -> Vec<RibRoute> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    agent
        .api
        .send(ApiRequest::Rib(RibQuery::default(), tx))
        .await
        .unwrap();
    rx.await.unwrap().unwrap()
}

/// Polls `cond` until it holds; fails after [`TIMEOUT`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the node's kernel has Twill's route for `p` (via `via`).
fn installed(ns: &Ns, p: &str, via: &str) -> bool {
    kernel::route(ns, prefix(p)).unwrap().is_some_and(|k| {
        k.protocol.as_deref() == Some("84") && k.gateways == [via.parse::<IpAddr>().unwrap()]
    })
}

/// The agent with an eBGP peer (ExaBGP) that announces one route with its
/// own address as next hop and one with a next hop nothing reaches: only
/// the first is selected and installed; a static route to the second's
/// next hop makes it eligible, and it is installed.
#[test]
fn the_agent_installs_no_route_whose_next_hop_is_unreachable() {
    if !env::preflight("reach_agent", &[Daemon::ExaBgp]) {
        return;
    }
    let (mut lab, node, peer, link) = pair("reach-agent");
    let (a, b) = (link.a.v4, link.b.v4);
    let mut router = Router::new("peer", 65002, b);
    router
        .neighbors
        .push(Neighbor::new("node", a.into(), b.into(), 65001));
    router.originate.push(Route::new(prefix("198.19.8.0/24")));
    let exa = ExaBgp::start(&mut lab, &peer, router).unwrap();
    let mut far = Announcement::new(Route::new(prefix("198.19.9.0/24")));
    far.next_hop = Some("198.19.5.1".parse().unwrap());
    exa.announce(&far).unwrap();

    let yaml = format!(
        "local_asn: 65001\nrouter_id: {a}\nlisten: {{ addresses: [{a}], port: 179 }}\n\
         neighbors:\n  - address: {b}\n    asn: 65002\n    import_policy: accept-all\n    \
         export_policy: accept-all\n    timers: {{ hold: 9, connect_retry: 1 }}\n"
    );
    let config = node_agent::config::from_yaml(&yaml).unwrap();
    assert_eq!(
        config.config().fib.next_hop_check(),
        node_agent::config::NextHopCheck::Kernel
    );
    let ns = node.clone();
    in_ns(&node, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let agent = Agent::start(config, Options::default(), Metrics::new())
                .await
                .unwrap();
            let b = b.to_string();
            eventually("the near route installed", || {
                installed(&ns, "198.19.8.0/24", &b)
            })
            .await;
            // both routes learned; the far one not eligible
            let mut routes = rib(&agent).await;
            for _ in 0..200 {
                if routes.len() == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                routes = rib(&agent).await;
            }
            let best: Vec<(&str, bool, &str)> = routes
                .iter()
                .map(|r| {
                    (
                        r.prefix.as_str(),
                        r.paths[0].best,
                        r.paths[0].next_hop.as_str(),
                    )
                })
                .collect();
            assert_eq!(
                best,
                [
                    ("198.19.8.0/24", true, b.as_str()),
                    ("198.19.9.0/24", false, "198.19.5.1")
                ]
            );
            assert_eq!(kernel::route(&ns, prefix("198.19.9.0/24")).unwrap(), None);
            // a static route on the link to the far next hop: eligible now
            ip(
                &ns,
                &format!("route add 198.19.5.0/24 dev {} proto static", link.a.ifname),
            );
            eventually("the far route installed once its next hop resolves", || {
                installed(&ns, "198.19.9.0/24", "198.19.5.1")
            })
            .await;
            // and withdrawn with the static route
            ip(&ns, "route del 198.19.5.0/24 proto static");
            eventually("the far route withdrawn", || {
                kernel::route(&ns, prefix("198.19.9.0/24"))
                    .unwrap()
                    .is_none()
            })
            .await;
            agent.stop().await;
        });
    });
}
