//! The kernel FIB writer against a real kernel, each test inside a network
//! namespace it creates and deletes (also on panic). Needs root and
//! iproute2; `TWILL_SKIP_NETNS=1` skips. Addresses: 198.18.0.0/15 and
//! fd00::/8 on the links; the routes' prefixes are documentation ones.

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use node_agent::fib::netlink::{self, Forward, Hop, RTM_DELROUTE};
use node_agent::fib::nexthop::{parse_nexthop, NEXTHOP_GROUP_BIT, RTM_DELNEXTHOP, RTM_NEWNEXTHOP};
use node_agent::fib::socket::NetlinkSocket;
use node_agent::fib::{
    ExitMode, FibConfig, FibHandle, FibView, Gateway, RouteChange, RouteError, RouteState,
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

    /// The nexthop objects, one line each, sorted by id: `id N via G dev D
    /// proto P [onlink]` or `id N group A/B proto P` (from `ip -j`).
    fn nexthops(&self) -> Vec<String> {
        let out = self.ip(&["-j", "nexthop", "show"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j nexthop show");
        let mut objs: Vec<(u64, String)> = v
            .as_array()
            .expect("a list")
            .iter()
            .map(|o| {
                let id = o["id"].as_u64().expect("id");
                let proto = o["protocol"].as_str().unwrap_or("?");
                let line = match o["group"].as_array() {
                    Some(g) => {
                        let ids: Vec<String> = g.iter().map(|m| m["id"].to_string()).collect();
                        format!("id {id} group {} proto {proto}", ids.join("/"))
                    }
                    None => {
                        let onlink = o["flags"]
                            .as_array()
                            .is_some_and(|f| f.iter().any(|f| f == "onlink"));
                        format!(
                            "id {id} via {} dev {} proto {proto}{}",
                            o["gateway"].as_str().unwrap_or("?"),
                            o["dev"].as_str().unwrap_or("?"),
                            if onlink { " onlink" } else { "" }
                        )
                    }
                };
                (id, line)
            })
            .collect();
        objs.sort();
        objs.into_iter().map(|(_, l)| l).collect()
    }

    /// Twill's routes (IPv4 and IPv6) as `prefix nhid N` (0: next hops
    /// in the route), sorted.
    fn route_objects(&self) -> Vec<String> {
        let mut r = Vec::new();
        for family in ["-4", "-6"] {
            let out = self.ip(&[
                family, "-j", "route", "show", "table", "main", "proto", "84",
            ]);
            let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j route show");
            r.extend(v.as_array().expect("a list").iter().map(|r| {
                format!(
                    "{} nhid {}",
                    r["dst"].as_str().unwrap_or("?"),
                    r["nhid"].as_u64().unwrap_or(0)
                )
            }));
        }
        r.sort();
        r
    }

    /// The nexthop objects and Twill's routes (see [`Ns::nexthops`],
    /// [`Ns::route_objects`]).
    fn kernel(&self) -> (Vec<String>, Vec<String>) {
        (self.nexthops(), self.route_objects())
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
    lost_answers_are_recovered_by_a_re_read,
    changes_sent_during_a_write_are_taken_between_batches,
    a_large_table_is_written_through_growth_and_changes_between_batches,
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
        // a (target, kernel state) pair per target: the routes via
        // fd00::2 of both families share one
        assert_eq!(fib.view().await.unwrap().pairs, 3);
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
        // one pair a route now; the replaced routes' old pairs are gone
        assert_eq!(fib.view().await.unwrap().pairs, 4);
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
        assert_eq!((view.entries.len(), view.pairs), (1, 1));
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
        // the failed write left the route's pair as it was: wanted,
        // nothing installed
        let view = fib.view().await.unwrap();
        assert_eq!((view.pairs, &view.entries[0].installed), (1, &None));
        assert!(
            matches!(
                view.entries[0].state,
                RouteState::Failed {
                    error: RouteError::Conflict,
                    ..
                }
            ),
            "{:?}",
            view.entries[0].state
        );
        // the operator removes the static route: the next retry installs
        ns.ip(&["route", "del", "203.0.113.0/24", "proto", "static"]);
        eventually("route installed after the conflict", || {
            ns.twill4() == strs(&["203.0.113.0/24 via 198.18.0.2 dev a0"])
        });
        let view = fib.view().await.unwrap();
        assert_eq!(
            (&view.entries[0].state, view.pairs),
            (&RouteState::Installed, 1)
        );
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

/// The id of Twill's `n`-th nexthop object (protocol 84: `84 << 24 | n`).
fn nh(n: u32) -> u32 {
    (84 << 24) | n
}

/// Twill's object number `n` as [`Ns::nexthops`] shows it: `what` is
/// `via G dev D`, or `group A/B` with the members' numbers.
fn obj(n: u32, what: &str) -> String {
    let what = match what.strip_prefix("group ") {
        Some(members) => {
            let ids: Vec<String> = members
                .split('/')
                .map(|m| nh(m.parse().unwrap()).to_string())
                .collect();
            format!("group {}", ids.join("/"))
        }
        None => what.to_string(),
    };
    format!("id {} {what} proto 84", nh(n))
}

/// The objects (number, `via ...` or `group A/B`) and routes (prefix,
/// object number) as [`Ns::kernel`] shows them.
fn want(objects: &[(u32, &str)], routes: &[(&str, u32)]) -> (Vec<String>, Vec<String>) {
    (
        objects.iter().map(|(n, what)| obj(*n, what)).collect(),
        nhids(routes),
    )
}

/// Routes as [`Ns::route_objects`] shows them: (prefix, object number;
/// 0: next hops in the route), sorted.
fn nhids(routes: &[(&str, u32)]) -> Vec<String> {
    let mut v: Vec<String> = routes
        .iter()
        .map(|(p, n)| format!("{p} nhid {}", if *n == 0 { 0 } else { nh(*n) }))
        .collect();
    v.sort();
    v
}

/// Polls the writer's view until `cond` holds, failing after 5 s.
async fn view_until(fib: &FibHandle, what: &str, cond: impl Fn(&FibView) -> bool) -> FibView {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = fib.view().await.unwrap();
        if cond(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}: {:?} {:?}",
            v.counters,
            v.entries.iter().take(4).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state_of(view: &FibView, prefix: &str) -> Option<RouteState> {
    view.entries
        .iter()
        .find(|e| e.prefix == p(prefix))
        .map(|e| e.state.clone())
}

fn installed_of(view: &FibView, prefix: &str) -> Option<Forward> {
    view.entries
        .iter()
        .find(|e| e.prefix == p(prefix))
        .and_then(|e| e.installed.clone())
}

impl Ns {
    fn ifindex(&self, dev: &str) -> u32 {
        let out = self.ip(&["-o", "link", "show", dev]);
        out.split(':').next().unwrap().trim().parse().unwrap()
    }

    fn hop(&self, addr: &str, dev: &str) -> Hop {
        Hop {
            addr: addr.parse().unwrap(),
            ifindex: self.ifindex(dev),
            onlink: false,
        }
    }
}

/// Runs `f` with a writer of `config` in a fresh namespace (unless
/// skipped).
fn with_writer<F, Fut>(config: FibConfig, f: F)
where
    F: FnOnce(Ns, FibHandle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(config).unwrap();
        f(ns, fib).await
    });
}

/// Every message a monitor socket has queued: (type, payload).
fn drain(monitor: &mut NetlinkSocket) -> Vec<(u16, Vec<u8>)> {
    let mut got = Vec::new();
    while monitor
        .recv_with(false, |m| got.push((m.kind, m.payload.to_vec())))
        .unwrap()
    {}
    got
}

#[test]
fn nexthop_objects_for_one_and_two_next_hops() {
    with_writer(FibConfig::default(), |ns, fib| async move {
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("198.51.100.0/24", &["198.18.1.2", "198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
            via("2001:db8:1::/48", &["fd00::2", "fd00:1::2"]),
            via("203.0.113.0/24", &["198.18.0.2"]),
            via("192.0.2.128/25", &["fd00::2"]), // RFC 8950
            RouteChange::unreachable(p("10.244.1.0/24")),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        // one object per distinct next hop, one group per distinct set
        assert_eq!(
            ns.kernel(),
            want(
                &[
                    (1, "via 198.18.0.2 dev a0"),
                    (2, "via 198.18.1.2 dev a1"),
                    (3, "group 1/2"),
                    (4, "via fd00::2 dev a0"),
                    (5, "via fd00:1::2 dev a1"),
                    (6, "group 4/5")
                ],
                &[
                    ("10.244.1.0/24", 0),
                    ("192.0.2.0/24", 1),
                    ("192.0.2.128/25", 4),
                    ("198.51.100.0/24", 3),
                    ("203.0.113.0/24", 1),
                    ("2001:db8::/32", 4),
                    ("2001:db8:1::/48", 6)
                ]
            )
        );
        // the kernel forwards as the routes say
        assert_eq!(
            ns.twill4(),
            strs(&[
                "192.0.2.0/24 via 198.18.0.2 dev a0",
                "192.0.2.128/25 via inet6 fd00::2 dev a0",
                "198.51.100.0/24 nexthop via 198.18.0.2 dev a0 weight 1 nexthop via 198.18.1.2 dev a1 weight 1",
                "203.0.113.0/24 via 198.18.0.2 dev a0",
                "unreachable 10.244.1.0/24",
            ])
        );
        // the view resolves each route's next hops from the objects
        let view = fib.view().await.unwrap();
        assert_eq!(view.nexthop_objects, Some(6));
        assert_eq!(
            installed_of(&view, "198.51.100.0/24"),
            Some(Forward::Hops(vec![
                ns.hop("198.18.0.2", "a0"),
                ns.hop("198.18.1.2", "a1")
            ]))
        );
        assert_eq!(
            installed_of(&view, "2001:db8::/32"),
            Some(Forward::Hops(vec![ns.hop("fd00::2", "a0")]))
        );
        assert_eq!(
            installed_of(&view, "10.244.1.0/24"),
            Some(Forward::Unreachable)
        );
        assert!(view
            .entries
            .iter()
            .all(|e| e.state == RouteState::Installed));
        assert_eq!((view.counters.installed, view.counters.nexthops), (7, 6));

        // the groups' last routes go, one moves to another next hop: the
        // unused objects are deleted, the others stay
        fib.apply(vec![
            RouteChange::withdraw(p("198.51.100.0/24")),
            RouteChange::withdraw(p("2001:db8:1::/48")),
            via("203.0.113.0/24", &["198.18.1.2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        assert_eq!(
            ns.kernel(),
            want(
                &[
                    (1, "via 198.18.0.2 dev a0"),
                    (2, "via 198.18.1.2 dev a1"),
                    (4, "via fd00::2 dev a0")
                ],
                &[
                    ("10.244.1.0/24", 0),
                    ("192.0.2.0/24", 1),
                    ("192.0.2.128/25", 4),
                    ("203.0.113.0/24", 2),
                    ("2001:db8::/32", 4)
                ]
            )
        );
        let view = fib.view().await.unwrap();
        assert_eq!(view.nexthop_objects, Some(3));
        assert_eq!(view.counters.nexthops, 6 + 3);
        fib.shutdown(ExitMode::RemoveRoutes).await.unwrap();
        assert!(ns.twill4().is_empty() && ns.twill6().is_empty());
        assert!(ns.nexthops().is_empty(), "{:?}", ns.nexthops());
    });
}

#[test]
fn an_ecmp_group_loses_a_member_with_its_link() {
    with_writer(FibConfig::default(), |ns, fib| async move {
        fib.apply(vec![
            via("198.51.100.0/24", &["198.18.0.2", "198.18.1.2"]),
            via("203.0.113.0/24", &["198.18.0.2", "198.18.1.2"]),
            via("2001:db8::/32", &["fd00::2", "fd00:1::2"]),
            via("192.0.2.0/24", &["198.18.1.2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        let all = vec![
            obj(1, "via 198.18.0.2 dev a0"),
            obj(2, "via 198.18.1.2 dev a1"),
            obj(3, "group 1/2"),
            obj(4, "via fd00::2 dev a0"),
            obj(5, "via fd00:1::2 dev a1"),
            obj(6, "group 4/5"),
        ];
        assert_eq!(ns.nexthops(), all);
        let before = fib.view().await.unwrap().counters;
        assert_eq!((before.installed, before.nexthops), (4, 6));
        let mut monitor = NetlinkSocket::open(netlink::WATCH_GROUPS | NEXTHOP_GROUP_BIT).unwrap();
        // What is still pending from the setup is not a reaction to the
        // link change.
        drain(&mut monitor);

        // carrier loss on a1: the kernel removes the objects on a1 and
        // shrinks the groups, in one change; the routes stay on a0
        ns.ip(&["link", "set", "b1", "down"]);
        let down = vec![
            obj(1, "via 198.18.0.2 dev a0"),
            obj(3, "group 1"),
            obj(4, "via fd00::2 dev a0"),
            obj(6, "group 4"),
        ];
        eventually("objects on a1 removed", || ns.nexthops() == down);
        let a0 = Forward::Hops(vec![ns.hop("198.18.0.2", "a0")]);
        let view = view_until(&fib, "the writer sees the kernel's change", |v| {
            state_of(v, "192.0.2.0/24") == Some(RouteState::Unusable)
                && installed_of(v, "198.51.100.0/24") == Some(a0.clone())
        })
        .await;
        assert_eq!(installed_of(&view, "203.0.113.0/24"), Some(a0.clone()));
        assert_eq!(
            installed_of(&view, "2001:db8::/32"),
            Some(Forward::Hops(vec![ns.hop("fd00::2", "a0")]))
        );
        assert_eq!(installed_of(&view, "192.0.2.0/24"), None);
        assert_eq!(
            state_of(&view, "198.51.100.0/24"),
            Some(RouteState::Installed)
        );
        // Twill wrote nothing: no route and no object rewritten
        assert_eq!(view.counters.installed, before.installed);
        assert_eq!(view.counters.nexthops, before.nexthops);
        // Twill's writes carry its protocol (rtm_protocol, octet 5 of a
        // route message; nh_protocol, octet 2 of a nexthop message).
        let seen = drain(&mut monitor);
        let ours = |(k, m): &(u16, Vec<u8>)| match *k {
            netlink::RTM_NEWROUTE => m.get(5) == Some(&84),
            RTM_NEWNEXTHOP => m.get(2) == Some(&84),
            _ => false,
        };
        assert!(
            !seen.iter().any(ours),
            "{:?}",
            seen.iter()
                .map(|(k, m)| (k, m.get(..8).map(<[u8]>::to_vec)))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            ns.route_objects(),
            nhids(&[
                ("198.51.100.0/24", 3),
                ("203.0.113.0/24", 3),
                ("2001:db8::/32", 6)
            ])
        );
        assert_eq!(
            ns.twill4(),
            strs(&[
                "198.51.100.0/24 via 198.18.0.2 dev a0",
                "203.0.113.0/24 via 198.18.0.2 dev a0",
            ])
        );

        // the link comes back: the objects on a1 are created again with
        // their ids, the groups grow back, the route via a1 alone returns
        ns.ip(&["link", "set", "b1", "up"]);
        eventually("objects on a1 back", || ns.nexthops() == all);
        eventually("route via a1 back", || {
            ns.route_objects()
                == nhids(&[
                    ("192.0.2.0/24", 2),
                    ("198.51.100.0/24", 3),
                    ("203.0.113.0/24", 3),
                    ("2001:db8::/32", 6),
                ])
        });
        let view = view_until(&fib, "the writer settles", |v| {
            v.entries.iter().all(|e| e.state == RouteState::Installed)
        })
        .await;
        // two objects created, two groups replaced, one route written
        assert_eq!(view.counters.nexthops, before.nexthops + 4);
        assert_eq!(view.counters.installed, before.installed + 1);
        drop(fib);
    });
}

#[test]
fn foreign_nexthop_objects_are_left_untouched() {
    if skip() {
        return;
    }
    let ns = Netns::new();
    // another owner's objects: one with an id of Twill's range, one group
    // and a static route through it
    let first = nh(1).to_string();
    ns.ip(&[
        "nexthop",
        "add",
        "id",
        &first,
        "via",
        "198.18.0.9",
        "dev",
        "a0",
        "proto",
        "static",
    ]);
    ns.ip(&[
        "nexthop",
        "add",
        "id",
        "7",
        "via",
        "198.18.1.9",
        "dev",
        "a1",
        "proto",
        "static",
    ]);
    ns.ip(&["nexthop", "add", "id", "8", "group", "7", "proto", "static"]);
    ns.ip(&[
        "route",
        "add",
        "192.0.2.0/24",
        "nhid",
        "8",
        "proto",
        "static",
    ]);
    let foreign = vec![
        "id 7 via 198.18.1.9 dev a1 proto static".to_string(),
        "id 8 group 7 proto static".to_string(),
        format!("id {} via 198.18.0.9 dev a0 proto static", nh(1)),
    ];
    assert_eq!(ns.nexthops(), foreign);
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(FibConfig::default()).unwrap();
        fib.apply(vec![
            via("198.51.100.0/24", &["198.18.0.2"]),
            via("2001:db8::/32", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        // the taken id is skipped
        let mut want = foreign.clone();
        want.push(obj(2, "via 198.18.0.2 dev a0"));
        want.push(obj(3, "via fd00::2 dev a0"));
        assert_eq!(ns.nexthops(), want);
        assert_eq!(
            ns.route_objects(),
            nhids(&[("198.51.100.0/24", 2), ("2001:db8::/32", 3)])
        );
        // someone rewrites Twill's object with another protocol: it is
        // theirs now; Twill moves its route to a new object of its own
        ns.ip(&[
            "nexthop",
            "replace",
            "id",
            &nh(2).to_string(),
            "via",
            "198.18.0.2",
            "dev",
            "a0",
            "proto",
            "static",
        ]);
        eventually("route moved to a new object", || {
            ns.route_objects() == nhids(&[("198.51.100.0/24", 4), ("2001:db8::/32", 3)])
        });
        fib.shutdown(ExitMode::RemoveRoutes).await.unwrap();
        assert!(ns.twill4().is_empty() && ns.twill6().is_empty());
        let mut left = foreign.clone();
        left.push(format!("id {} via 198.18.0.2 dev a0 proto static", nh(2)));
        assert_eq!(ns.nexthops(), left);
        assert_eq!(
            ns.routes("-4", "static"),
            strs(&["192.0.2.0/24 via 198.18.1.9 dev a1"])
        );
    });
}

#[test]
fn restart_adopts_nexthop_objects_without_a_gap() {
    with_writer(FibConfig::default(), |ns, fib| async move {
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("198.51.100.0/24", &["198.18.0.2"]),
            via("203.0.113.0/24", &["198.18.0.2", "198.18.1.2"]),
            via("2001:db8::/32", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        fib.shutdown(ExitMode::LeaveRoutes).await.unwrap();
        let objects = vec![
            obj(1, "via 198.18.0.2 dev a0"),
            obj(2, "via 198.18.1.2 dev a1"),
            obj(3, "group 1/2"),
            obj(4, "via fd00::2 dev a0"),
        ];
        assert_eq!(ns.nexthops(), objects);
        // every deletion from now on is recorded
        let mut monitor = NetlinkSocket::open(netlink::WATCH_GROUPS | NEXTHOP_GROUP_BIT).unwrap();

        // restart: the RIB keeps 192.0.2.0/24 and 2001:db8::/32, moves
        // 198.51.100.0/24 to 198.18.1.2, drops 203.0.113.0/24
        let fib = FibHandle::spawn(FibConfig::default()).unwrap();
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries.len(), 4);
        assert!(view.entries.iter().all(|e| e.state == RouteState::Stale));
        assert_eq!(view.nexthop_objects, Some(4));
        fib.apply(vec![
            via("192.0.2.0/24", &["198.18.0.2"]),
            via("198.51.100.0/24", &["198.18.1.2"]),
            via("2001:db8::/32", &["fd00::2"]),
        ])
        .unwrap();
        fib.sync().await.unwrap();
        // adopted: no object written, one route moved to an adopted one
        assert_eq!(ns.nexthops(), objects);
        let view = fib.view().await.unwrap();
        assert_eq!((view.counters.installed, view.counters.nexthops), (1, 0));
        assert_eq!(
            ns.route_objects(),
            nhids(&[
                ("192.0.2.0/24", 1),
                ("198.51.100.0/24", 2),
                ("203.0.113.0/24", 3),
                ("2001:db8::/32", 4),
            ])
        );
        // convergence: the stale route goes, then its unused group
        assert_eq!(fib.converged().await.unwrap(), 1);
        assert_eq!(
            ns.kernel(),
            want(
                &[
                    (1, "via 198.18.0.2 dev a0"),
                    (2, "via 198.18.1.2 dev a1"),
                    (4, "via fd00::2 dev a0")
                ],
                &[
                    ("192.0.2.0/24", 1),
                    ("198.51.100.0/24", 2),
                    ("2001:db8::/32", 4)
                ]
            )
        );
        let view = fib.view().await.unwrap();
        assert_eq!((view.counters.removed, view.counters.nexthops), (1, 1));
        drop(fib);

        // no route deleted but the dropped one, no object but its group
        let mut deleted = Vec::new();
        for (kind, payload) in drain(&mut monitor) {
            if kind == netlink::RTM_DELROUTE {
                if let Some(r) = netlink::parse_route(&payload) {
                    deleted.push(r.prefix.to_string());
                }
            }
            if kind == RTM_DELNEXTHOP {
                if let Some(n) = parse_nexthop(&payload) {
                    deleted.push(n.id.to_string());
                }
            }
        }
        assert_eq!(
            deleted,
            vec!["203.0.113.0/24".to_string(), nh(3).to_string()]
        );
    });
}

/// A tiny receive buffer loses the answers of a batch with many errors
/// (each error is queued as its own message): the writer re-reads the
/// kernel, knows the routes that were written, and retries the rest.
fn lost_answers_are_recovered_by_a_re_read(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    let dir = std::env::temp_dir();
    let file = |what: &str| dir.join(format!("{}-{what}", ns.name));
    let (add, del) = (file("add"), file("del"));
    let mut a = String::new();
    let mut d = String::new();
    for i in 0..200 {
        a += &format!("route add 198.19.1.{i}/32 via 198.18.0.9 proto static\n");
        d += &format!("route del 198.19.1.{i}/32 proto static\n");
    }
    std::fs::write(&add, a).unwrap();
    std::fs::write(&del, d).unwrap();
    ns.ip(&["-batch", add.to_str().unwrap()]);
    let del_file = del.clone();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(FibConfig {
            receive_buffer: Some(1),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            ..config(objects)
        })
        .unwrap();
        let mut changes = Vec::new();
        for i in 0..200 {
            changes.push(via(&format!("198.19.1.{i}/32"), &["198.18.0.2"]));
            changes.push(via(&format!("198.19.2.{i}/32"), &["198.18.0.2"]));
        }
        fib.apply(changes).unwrap();
        fib.sync().await.unwrap();
        // the 200 conflicts' errors overflowed the socket; the re-read
        // finds the 200 routes that were written
        let view = view_until(&fib, "the written routes known", |v| {
            (0..200)
                .all(|i| state_of(v, &format!("198.19.2.{i}/32")) == Some(RouteState::Installed))
        })
        .await;
        assert!(view.counters.resyncs >= 1, "{:?}", view.counters);
        assert!((0..200).all(|i| {
            !matches!(
                state_of(&view, &format!("198.19.1.{i}/32")),
                Some(RouteState::Installed)
            )
        }));
        assert_eq!(ns.twill4().len(), 200);
        assert_eq!(ns.routes("-4", "static").len(), 200);
        assert!(ns
            .twill4()
            .iter()
            .all(|r| r.starts_with("198.19.2.") && r.ends_with(" via 198.18.0.2 dev a0")));
        // the static routes go: the retries install the rest
        ns.ip(&["-batch", del_file.to_str().unwrap()]);
        view_until(&fib, "every route installed", |v| {
            v.entries.len() == 400 && v.entries.iter().all(|e| e.state == RouteState::Installed)
        })
        .await;
        assert_eq!(ns.twill4().len(), 400);
        drop(fib);
    });
    let _ = std::fs::remove_file(add);
    let _ = std::fs::remove_file(del);
}

/// The host routes a test wants: host number -> gateway (198.18.0.2 on
/// a0, 198.18.1.2 on a1).
struct Hosts {
    prefix: fn(u32) -> String,
    routes: std::collections::BTreeMap<u32, &'static str>,
}

impl Hosts {
    fn new(prefix: fn(u32) -> String) -> Hosts {
        Hosts {
            prefix,
            routes: std::collections::BTreeMap::new(),
        }
    }

    /// The change for host `i` to `gw` (`None`: withdrawn), recorded.
    fn change(&mut self, i: u32, gw: Option<&'static str>) -> RouteChange {
        let prefix = (self.prefix)(i);
        match gw {
            Some(gw) => {
                self.routes.insert(i, gw);
                via(&prefix, &[gw])
            }
            None => {
                self.routes.remove(&i);
                RouteChange::withdraw(p(&prefix))
            }
        }
    }

    /// The writer's view, with one entry per wanted route, each installed.
    async fn all_installed(&self, fib: &FibHandle) -> FibView {
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries.len(), self.routes.len());
        assert!(view
            .entries
            .iter()
            .all(|e| e.state == RouteState::Installed));
        view
    }

    /// The kernel's `ip route` lines for the wanted routes, sorted.
    fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .routes
            .iter()
            .map(|(&i, &gw)| {
                let dev = if gw == "198.18.0.2" { "a0" } else { "a1" };
                let prefix = (self.prefix)(i);
                format!("{} via {gw} dev {dev}", prefix.trim_end_matches("/32"))
            })
            .collect();
        v.sort();
        v
    }
}

/// One route per batch, so that the changes sent while a table is written
/// are taken between its batches (withdrawals, a new next hop, new
/// prefixes, of prefixes already written and not yet written alike): the
/// kernel ends with exactly the last change of every prefix, also when no
/// command follows them, and `sync` returns only once every change sent
/// before it is written.
fn changes_sent_during_a_write_are_taken_between_batches(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    // a quiet namespace: no address event may wake the writer (the link-
    // local addresses of the four veths past duplicate address detection)
    eventually("link-local addresses settled", || {
        let all = ns.ip(&["-6", "addr", "show", "scope", "link"]);
        let tentative = ns.ip(&["-6", "addr", "show", "tentative"]);
        all.matches("fe80::").count() == 4 && tentative.trim().is_empty()
    });
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(FibConfig {
            batch: 1,
            ..config(objects)
        })
        .unwrap();
        {
            let mut model = Hosts::new(|i| format!("198.19.{}.{}/32", 16 + i / 256, i % 256));
            let first = (0..4096)
                .map(|i| model.change(i, Some("198.18.0.2")))
                .collect();
            fib.apply(first).unwrap();
            // one route per sendmsg: 4,096 take far longer than this
            std::thread::sleep(Duration::from_millis(10));
            let mut second: Vec<RouteChange> =
                (0..200).map(|i| model.change(i * 20, None)).collect();
            second.extend((0..100).map(|i| model.change(i * 40 + 1, Some("198.18.1.2"))));
            second.extend((4096..4196).map(|i| model.change(i, Some("198.18.0.2"))));
            fib.apply(second).unwrap();
            let want = model.lines();
            // no command after the changes: the writer writes them unasked
            eventually("the last change of every prefix in the kernel", || {
                ns.twill4() == want
            });
            let mut third: Vec<RouteChange> = (4096..4196).map(|i| model.change(i, None)).collect();
            third.extend((0..100).map(|i| model.change(i * 20, Some("198.18.1.2"))));
            fib.apply(third).unwrap();
            fib.sync().await.unwrap();
            assert_eq!(ns.twill4(), model.lines());
            model.all_installed(&fib).await;
            drop(fib);
        }
    });
}

/// More routes than the writer lists in order (16,384): a flush walks its
/// table, which grows under it as changes arrive between its batches (new
/// prefixes, withdrawals and new next hops of prefixes written and not yet
/// written). The kernel ends with exactly the last change of every prefix,
/// and withdrawing them all leaves no route, no entry and no object.
fn a_large_table_is_written_through_growth_and_changes_between_batches(objects: bool) {
    if skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(move |ns| async move {
        let fib = FibHandle::spawn(FibConfig {
            batch: 64,
            ..config(objects)
        })
        .unwrap();
        let mut model = Hosts::new(|i| format!("198.19.{}.{}/32", i / 256, i % 256));
        let (a0, a1) = (Some("198.18.0.2"), Some("198.18.1.2"));
        let first: Vec<RouteChange> = (0..20_000).map(|i| model.change(i, a0)).collect();
        fib.apply(first).unwrap();
        // 313 batches take far longer than this: the table grows from
        // 20,000 to 40,000 entries during the write
        std::thread::sleep(Duration::from_millis(10));
        let mut second: Vec<RouteChange> = (20_000..40_000).map(|i| model.change(i, a0)).collect();
        second.extend((0..20_000).step_by(3).map(|i| model.change(i, None)));
        second.extend((1..20_000).step_by(7).map(|i| model.change(i, a1)));
        fib.apply(second).unwrap();
        fib.sync().await.unwrap();
        let (got, want) = (ns.twill4(), model.lines());
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "the kernel's routes differ from the last changes"
        );
        let view = model.all_installed(&fib).await;
        assert_eq!(view.nexthop_objects, objects.then_some(2));
        let all: Vec<u32> = model.routes.keys().copied().collect();
        let all: Vec<RouteChange> = all.into_iter().map(|i| model.change(i, None)).collect();
        fib.apply(all).unwrap();
        fib.sync().await.unwrap();
        assert!(ns.twill4().is_empty());
        let view = fib.view().await.unwrap();
        assert_eq!(view.entries.len(), 0);
        assert_eq!(view.nexthop_objects, objects.then_some(0));
        drop(fib);
    });
}
