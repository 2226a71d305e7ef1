//! The kernel FIB writer against a real kernel, each test inside a network
//! namespace it creates and deletes (also on panic). Needs root and
//! iproute2; `TWILL_SKIP_NETNS=1` skips. Addresses: 198.18.0.0/15 and
//! fd00::/8 on the links; the routes' prefixes are documentation ones.

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use node_agent::fib::netlink::{self, RTM_DELROUTE};
use node_agent::fib::socket::NetlinkSocket;
use node_agent::fib::{
    ExitMode, FibConfig, FibHandle, Gateway, RouteChange, RouteError, RouteState,
};
use ribs::Prefix;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace with two veth pairs: a0 (198.18.0.1/24, fd00::1/64)
/// with its peer b0, and a1 (198.18.1.1/24, fd00:1::1/64) with b1.
struct Netns {
    ns: Ns,
}

/// A namespace's name, for commands run inside it.
#[derive(Clone)]
struct Ns {
    name: String,
}

impl std::ops::Deref for Netns {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
    }
}

fn skip() -> bool {
    if std::env::var("TWILL_SKIP_NETNS").as_deref() == Ok("1") {
        eprintln!("skipped: TWILL_SKIP_NETNS=1");
        return true;
    }
    false
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?} (is iproute2 installed?): {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed (root needed; TWILL_SKIP_NETNS=1 skips): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Netns {
    fn new() -> Netns {
        let name = format!(
            "twill-fib-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { ns: Ns { name } };
        ns.ip(&["link", "set", "lo", "up"]);
        for (a, b, v4, v6) in [
            ("a0", "b0", "198.18.0.1/24", "fd00::1/64"),
            ("a1", "b1", "198.18.1.1/24", "fd00:1::1/64"),
        ] {
            ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
            ns.ip(&["addr", "add", v4, "dev", a]);
            ns.ip(&["-6", "addr", "add", v6, "dev", a, "nodad"]);
            ns.ip(&["link", "set", a, "up"]);
            ns.ip(&["link", "set", b, "up"]);
        }
        ns
    }

    /// Runs `f` on a thread inside the namespace, with a tokio runtime.
    fn run<F, Fut>(&self, f: F)
    where
        F: FnOnce(Ns) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let path = format!("/var/run/netns/{}", self.name);
        let ns = self.ns.clone();
        let t = std::thread::spawn(move || {
            let fd = File::open(&path).expect("open netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f(ns));
        });
        if let Err(e) = t.join() {
            std::panic::resume_unwind(e);
        }
    }
}

impl Ns {
    fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// The routes of a protocol in the main table, one normalised line each
    /// (without `nhid N`: see [`Ns::json`] for the objects).
    fn routes(&self, family: &str, proto: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .ip(&[
                family, "-o", "route", "show", "table", "main", "proto", proto,
            ])
            .lines()
            .map(|l| {
                let mut words = Vec::new();
                let mut it = l.split_whitespace().map(|w| w.trim_end_matches('\\'));
                while let Some(w) = it.next() {
                    match w {
                        "" => {}
                        "nhid" => {
                            it.next();
                        }
                        w => words.push(w),
                    }
                }
                words.join(" ")
            })
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v
    }

    fn twill4(&self) -> Vec<String> {
        self.routes("-4", "84")
    }

    fn twill6(&self) -> Vec<String> {
        self.routes("-6", "84")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn p(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

fn via(prefix: &str, hops: &[&str]) -> RouteChange {
    RouteChange::via(
        p(prefix),
        hops.iter()
            .map(|h| Gateway::new(h.parse().unwrap()))
            .collect(),
    )
}

/// Polls `cond` until it holds, failing after 5 s (a deadline for the
/// watch to act, not a speed assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The writer's configuration: next hops as nexthop objects (`objects`),
/// or in each route (`RTA_MULTIPATH`, the fallback for kernels without
/// them).
fn config(objects: bool) -> FibConfig {
    FibConfig {
        nexthop_objects: objects,
        ..FibConfig::default()
    }
}

/// The tests that hold in both modes: the kernel's routes forward the
/// same way (`ip route` lines compared without `nhid N`).
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        mod multipath {
            $(#[test]
            fn $name() {
                super::$name(false)
            })*
        }
        mod objects {
            $(#[test]
            fn $name() {
                super::$name(true)
            })*
        }
    };
}

in_both_modes!(
    install_replace_and_withdraw_ipv4_and_ipv6,
    ecmp_next_hop_added_and_removed,
    foreign_routes_are_left_untouched,
    restart_reconciles_without_a_gap,
    a_route_deleted_by_hand_is_restored,
    link_down_removes_its_next_hop,
    a_conflict_is_retried_until_the_foreign_route_goes,
    onlink_and_link_local_next_hops,
);

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn install_replace_and_withdraw_ipv4_and_ipv6(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
            via("198.51.100.0/24", &["fd00::2"]), // RFC 8950
            RouteChange::unreachable(p("10.244.1.0/24")),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&[
                "192.0.2.0/24 via 198.18.0.2 dev a0",
                "198.51.100.0/24 via inet6 fd00::2 dev a0",
                "unreachable 10.244.1.0/24",
            ])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8::/32 via fd00::2 dev a0 metric 1024 pref medium"])
        );
        // replace: new next hops, no other route touched
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.1.2"]),
            via("2001:db8::/32", &["fd00:1::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&[
                "192.0.2.0/24 via 198.18.1.2 dev a1",
                "198.51.100.0/24 via inet6 fd00::2 dev a0",
                "unreachable 10.244.1.0/24",
            ])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8::/32 via fd00:1::2 dev a1 metric 1024 pref medium"])
        );
        // withdraw
        fib.apply(vec![
            RouteChange::withdraw(p("192.0.2.0/24")),
            RouteChange::withdraw(p("2001:db8::/32")),
            RouteChange::withdraw(p("10.244.1.0/24")),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&["198.51.100.0/24 via inet6 fd00::2 dev a0"])
        );
        assert!(ns.twill6().is_empty());
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries.len(), 1);
        assert_eq!(view.entries[0].state, RouteState::Installed);
        assert_eq!(view.counters.installed, 6);
        assert_eq!(view.counters.removed, 3);
        assert_eq!(view.counters.errors, 0);
        // exit removing the routes when told to
        fib.shutdown(ExitMode::RemoveRoutes).await.unwrap();
        assert!(ns.twill4().is_empty());
    });
}

fn ecmp_next_hop_added_and_removed(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("203.0.113.0/24", &["198.18.0.2"]),
            via("2001:db8:1::/48", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        fib.apply(vec![
            via("203.0.113.0/24", &["198.18.0.2", "198.18.1.2"]),
            via("2001:db8:1::/48", &["fd00::2", "fd00:1::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&["203.0.113.0/24 nexthop via 198.18.0.2 dev a0 weight 1 nexthop via 198.18.1.2 dev a1 weight 1"])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8:1::/48 metric 1024 pref medium nexthop via fd00::2 dev a0 weight 1 nexthop via fd00:1::2 dev a1 weight 1"])
        );
        fib.apply(vec![
            via("203.0.113.0/24", &["198.18.1.2"]),
            via("2001:db8:1::/48", &["fd00:1::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&["203.0.113.0/24 via 198.18.1.2 dev a1"])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8:1::/48 via fd00:1::2 dev a1 metric 1024 pref medium"])
        );
        drop(fib);
    });
}

fn foreign_routes_are_left_untouched(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    // another daemon's route (protocol bird) and a static route for the
    // prefix Twill will be asked for
    ns.ip(&[
        "route",
        "add",
        "192.0.2.0/24",
        "via",
        "198.18.1.9",
        "proto",
        "bird",
    ]);
    ns.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.18.1.7",
        "proto",
        "static",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8::/32",
        "via",
        "fd00:1::7",
        "proto",
        "static",
    ]);
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("203.0.113.0/24", &["198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
            // connected prefix of a0: never replaced
            via("198.18.0.0/24", &["198.18.1.2"]),
            via("198.51.100.0/24", &["198.18.0.2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        let view = fib.view().await.unwrap();
        let state = |s: &str| {
            view.entries
                .iter()
                .find(|e| e.prefix == p(s))
                .map(|e| e.state.clone())
        };
        let conflict = Some(RouteState::Failed {
            error: RouteError::Conflict,
            attempts: 1,
        });
        assert_eq!(state("203.0.113.0/24"), conflict);
        assert_eq!(state("2001:db8::/32"), conflict);
        assert_eq!(state("198.18.0.0/24"), conflict);
        assert_eq!(state("198.51.100.0/24"), Some(RouteState::Installed));
        assert_eq!(view.counters.conflicts, 3);
        // withdrawing never deletes the foreign routes
        fib.apply(vec![
            RouteChange::withdraw(p("192.0.2.0/24")),
            RouteChange::withdraw(p("203.0.113.0/24")),
            RouteChange::withdraw(p("2001:db8::/32")),
            RouteChange::withdraw(p("198.18.0.0/24")),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        fib.shutdown(ExitMode::RemoveRoutes).await.unwrap();
        assert!(ns.twill4().is_empty());
        assert_eq!(
            ns.routes("-4", "bird"),
            strs(&["192.0.2.0/24 via 198.18.1.9 dev a1"])
        );
        assert_eq!(
            ns.routes("-4", "static"),
            strs(&["203.0.113.0/24 via 198.18.1.7 dev a1"])
        );
        assert_eq!(
            ns.routes("-6", "static"),
            strs(&["2001:db8::/32 via fd00:1::7 dev a1 metric 1024 pref medium"])
        );
        assert_eq!(
            ns.routes("-4", "kernel"),
            strs(&[
                "198.18.0.0/24 dev a0 scope link src 198.18.0.1",
                "198.18.1.0/24 dev a1 scope link src 198.18.1.1",
            ])
        );
    });
}

fn restart_reconciles_without_a_gap(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("198.51.100.0/24", &["198.18.0.2"]),
            via("203.0.113.0/24", &["198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
            via("2001:db8:1::/48", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        fib.shutdown(ExitMode::LeaveRoutes).await.unwrap();
        let before4 = ns.twill4();
        assert_eq!(before4.len(), 3);
        assert_eq!(ns.twill6().len(), 2);

        // every route deletion from now on is recorded
        let mut monitor = NetlinkSocket::open(netlink::WATCH_GROUPS).unwrap();

        // restart: the new RIB keeps 192.0.2.0/24 and 2001:db8::/32,
        // changes 198.51.100.0/24, adds 192.0.2.128/25, drops the rest
        let fib = FibHandle::spawn(config(objects)).unwrap();
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries.len(), 5);
        assert!(view.entries.iter().all(|e| e.state == RouteState::Stale));
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("198.51.100.0/24", &["198.18.1.2"]),
            via("2001:db8::/32", &["fd00::2"]),
            via("192.0.2.128/25", &["198.18.0.2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        // before convergence the stale routes stay
        assert_eq!(ns.twill4().len(), 4);
        assert_eq!(ns.twill6().len(), 2);
        assert_eq!(fib.converged().await.unwrap(), 2);
        assert_eq!(
            ns.twill4(),
            strs(&[
                "192.0.2.0/24 via 198.18.0.2 dev a0",
                "192.0.2.128/25 via 198.18.0.2 dev a0",
                "198.51.100.0/24 via 198.18.1.2 dev a1",
            ])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8::/32 via fd00::2 dev a0 metric 1024 pref medium"])
        );
        let view = fib.view().await.unwrap();
        // only the two unchanged prefixes were not written again
        assert_eq!(view.counters.installed, 2);
        assert_eq!(view.counters.removed, 2);
        drop(fib);

        // no deletion of a prefix that stayed (or changed) at any moment
        let mut deleted = Vec::new();
        while monitor
            .recv_with(false, |m| {
                if m.kind == RTM_DELROUTE {
                    if let Some(r) = netlink::parse_route(m.payload) {
                        deleted.push(r.prefix);
                    }
                }
            })
            .unwrap()
        {}
        deleted.sort();
        assert_eq!(deleted, vec![p("203.0.113.0/24"), p("2001:db8:1::/48")]);
    });
}

fn a_route_deleted_by_hand_is_restored(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        ns.ip(&["route", "del", "192.0.2.0/24", "proto", "84"]);
        ns.ip(&["-6", "route", "del", "2001:db8::/32", "proto", "84"]);
        eventually("routes restored", || {
            ns.twill4().len() == 1 && ns.twill6().len() == 1
        });
        assert_eq!(ns.twill4(), strs(&["192.0.2.0/24 via 198.18.0.2 dev a0"]));
        let view = fib.view().await.unwrap();
        assert_eq!(view.counters.restored, 2);
        drop(fib);
    });
}

fn link_down_removes_its_next_hop(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            via("203.0.113.0/24", &["198.18.0.2", "198.18.1.2"]),
            via("192.0.2.0/24", &["198.18.1.2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        // carrier loss on a1 (its peer goes down): the kernel keeps the
        // next hop ("linkdown"); Twill drops it at once
        ns.ip(&["link", "set", "b1", "down"]);
        eventually("next hop via a1 removed", || {
            ns.twill4() == strs(&["203.0.113.0/24 via 198.18.0.2 dev a0"])
        });
        let view = fib.view().await.unwrap();
        let state = |s: &str| {
            view.entries
                .iter()
                .find(|e| e.prefix == p(s))
                .map(|e| e.state.clone())
        };
        assert_eq!(state("192.0.2.0/24"), Some(RouteState::Unusable));
        assert_eq!(state("203.0.113.0/24"), Some(RouteState::Installed));
        ns.ip(&["link", "set", "b1", "up"]);
        eventually("next hop via a1 back", || {
            ns.twill4()
                == strs(&[
                    "192.0.2.0/24 via 198.18.1.2 dev a1",
                    "203.0.113.0/24 nexthop via 198.18.0.2 dev a0 weight 1 nexthop via 198.18.1.2 dev a1 weight 1",
                ])
        });
        // administrative down of a0
        ns.ip(&["link", "set", "a0", "down"]);
        eventually("next hop via a0 removed", || {
            ns.twill4()
                == strs(&[
                    "192.0.2.0/24 via 198.18.1.2 dev a1",
                    "203.0.113.0/24 via 198.18.1.2 dev a1",
                ])
        });
        drop(fib);
    });
}

fn a_conflict_is_retried_until_the_foreign_route_goes(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.18.1.7",
        "proto",
        "static",
    ]);
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(FibConfig {
            retry_min: Duration::from_millis(50),
            ..config(objects)
        })
        .unwrap();
        fib.apply(vec![via("203.0.113.0/24", &["198.18.0.2"])])
            .unwrap();
        fib.sync().await.unwrap();
        assert!(ns.twill4().is_empty());
        // the operator removes the static route: the next retry installs
        ns.ip(&["route", "del", "203.0.113.0/24", "proto", "static"]);
        eventually("route installed after the conflict", || {
            ns.twill4() == strs(&["203.0.113.0/24 via 198.18.0.2 dev a0"])
        });
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries[0].state, RouteState::Installed);
        assert!(view.counters.conflicts >= 1);
        assert_eq!(ns.routes("-4", "static"), Vec::<String>::new());
    });
}

fn onlink_and_link_local_next_hops(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    let out = ns.ip(&["-o", "link", "show", "a0"]);
    let a0: u32 = out.split(':').next().unwrap().trim().parse().unwrap();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config(objects)).unwrap();
        fib.apply(vec![
            // a peer on a0's segment outside its connected prefix
            RouteChange::via(
                p("192.0.2.0/24"),
                vec![Gateway::onlink("198.19.0.1".parse().unwrap(), a0)],
            ),
            // an IPv6 peer known by its link-local address on a0
            RouteChange::via(
                p("2001:db8:2::/48"),
                vec![Gateway {
                    addr: "fe80::2".parse().unwrap(),
                    ifindex: Some(a0),
                    onlink: false,
                }],
            ),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.twill4(),
            strs(&["192.0.2.0/24 via 198.19.0.1 dev a0 onlink"])
        );
        assert_eq!(
            ns.twill6(),
            strs(&["2001:db8:2::/48 via fe80::2 dev a0 metric 1024 pref medium"])
        );
        // written once: the kernel's view matches what was asked
        let view = fib.view().await.unwrap();
        assert_eq!(view.counters.installed, 2);
        assert!(view
            .entries
            .iter()
            .all(|e| e.state == RouteState::Installed));
    });
}

/// The whole agent in a namespace: an originated prefix configured with
/// `unreachable` gets an unreachable kernel route of ours; a reload that
/// turns it off removes it, and nothing else is written.
#[test]
fn agent_installs_an_unreachable_route_for_its_own_prefix() {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(|ns| async move {
        let yaml = |unreachable: bool| {
            format!(
                "local_asn: 65001\nrouter_id: 198.18.0.1\nlisten: {{ addresses: [198.18.0.1], port: 17979 }}\n\
                 originate:\n  - prefix: 198.19.5.0/24\n    unreachable: {unreachable}\n  - prefix: 198.19.6.0/24\n"
            )
        };
        let config = node_agent::config::from_yaml(&yaml(true)).unwrap();
        let mut agent = node_agent::agent::Agent::start(
            config,
            node_agent::agent::Options::default(),
            node_agent::metrics::Metrics::new(),
        )
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ns.twill4().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            ns.twill4(),
            vec!["unreachable 198.19.5.0/24".to_string()]
        );
        agent
            .reconfigure(node_agent::config::from_yaml(&yaml(false)).unwrap())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ns.twill4().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ns.twill4().is_empty(), "{:?}", ns.twill4());
        agent.stop().await;
    });
}
