//! Kernel FIB install and removal: Twill's writer against three references,
//! each in a fresh network namespace.
//!
//! ```text
//! cargo bench -p node-agent --bench fib -- [N ...] [--refs-up-to M] [--repeat R] [--only twill]
//! ```
//!
//! Each time is the best of R rounds (default 1; every method once per
//! round), each run in a fresh namespace. `--only NAME[,NAME]` (errors-only,
//! errors-only-shuffled, twill, twill-inline, ip, single) runs those
//! methods beside the reference.
//!
//! N defaults to 100000 and 901899 (every IPv4 prefix of
//! `../shared/data/prefixes-dfz.txt.gz`), one next hop (198.18.0.2 on a
//! veth). Twill twice: with the next hop as one nexthop object that every
//! route names (the default), and with the next hop in each route (the
//! fallback). References: the same routes as pre-built `RTM_NEWROUTE` /
//! `RTM_DELROUTE` messages sent 1,024 per `sendmsg` (with an
//! acknowledgement for every message, and with errors only; the latter
//! also in a shuffled order, as the writer's hash table walks a large
//! table: the kernel's time depends on the order), `ip -batch`,
//! and one request per route awaited in turn. `--refs-up-to M` runs the last
//! two only for N <= M. Each Twill run also prints the bytes of the
//! writer's per-prefix table and its bytes a route ([`FibView::table_bytes`])
//! and the (target, kernel state) pairs its routes name. Needs root.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_agent::fib::netlink::{self, Forward, Hop, RouteKey, NLMSG_ERROR};
use node_agent::fib::socket::{request_ack, NetlinkSocket};
use node_agent::fib::{
    FibConfig, FibHandle, FibView, Gateway, RouteChange, Target, DEFAULT_PROTOCOL,
};
use ribs::Prefix;

const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const BATCH: usize = 1024;

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("twill-fib-bench-{}-{tag}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        ns.ip(&["link", "add", "a0", "type", "veth", "peer", "name", "b0"]);
        ns.ip(&["addr", "add", "198.18.0.1/24", "dev", "a0"]);
        ns.ip(&["link", "set", "a0", "up"]);
        ns.ip(&["link", "set", "b0", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.0];
        v.extend_from_slice(args);
        sh(&v)
    }

    fn ifindex(&self) -> u32 {
        let s = self.ip(&["-o", "link", "show", "a0"]);
        s.split(':').next().unwrap().trim().parse().unwrap()
    }

    fn count(&self) -> usize {
        let out = Command::new("ip")
            .args(["-n", &self.0, "-4", "route", "show", "proto", "84"])
            .output()
            .unwrap();
        out.stdout.iter().filter(|&&b| b == b'\n').count()
    }

    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let fd = File::open(&path).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn load_prefixes() -> Vec<Prefix> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/prefixes-dfz.txt.gz"
    );
    let f = File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    r.lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let (a, len) = l.trim().split_once('/')?;
            let a: Ipv4Addr = a.parse().ok()?;
            Prefix::new(IpAddr::V4(a), len.parse().ok()?)
        })
        .collect()
}

/// The writer's table after Twill's install of `v.entries`.
fn report(v: &FibView, objects: bool) {
    let n = v.entries.len();
    let how = match objects {
        true => "nexthop object",
        false => "next hop in each route",
    };
    let (bytes, pairs) = (v.table_bytes, v.pairs);
    let each = bytes as f64 / n as f64;
    println!(
        "{n} routes, {how}: the writer's table {bytes} bytes, {each:.1} a route; {pairs} pair(s)"
    );
}

/// Twill's writer: apply all, wait until written; withdraw all, wait.
/// `objects`: the next hop as a nexthop object (the default), else in
/// each route (the fallback for kernels without nexthop objects).
fn twill(prefixes: &[Prefix], objects: bool) -> (Duration, Duration) {
    let ns = Netns::new(if objects { "twill" } else { "twill-inline" });
    // one target shared by every route, as the RIB task's `Targets` gives
    let target = Arc::new(Target::Unicast(vec![Gateway::new(IpAddr::V4(GATEWAY))]));
    let routes: Vec<RouteChange> = prefixes
        .iter()
        .map(|p| RouteChange::to(*p, Arc::clone(&target)))
        .collect();
    let withdrawals: Vec<RouteChange> =
        prefixes.iter().map(|p| RouteChange::withdraw(*p)).collect();
    let n = prefixes.len();
    let (install, count, remove) = {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let name = ns.0.clone();
        let t = std::thread::spawn(move || {
            let fd = File::open(format!("/var/run/netns/{name}")).unwrap();
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let fib = FibHandle::spawn(FibConfig {
                    nexthop_objects: objects,
                    ..FibConfig::default()
                })
                .unwrap();
                let t0 = Instant::now();
                fib.apply(routes).unwrap();
                fib.sync().await.unwrap();
                let install = t0.elapsed();
                let v = fib.view().await.unwrap();
                assert_eq!(v.counters.installed as usize, n, "{:?}", v.counters);
                assert_eq!(v.nexthop_objects, objects.then_some(1));
                // one target, one kernel state: one pair
                assert_eq!(v.pairs, 1);
                report(&v, objects);
                // the main thread counts the kernel's routes, then says go
                tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let t1 = Instant::now();
                fib.apply(withdrawals).unwrap();
                fib.sync().await.unwrap();
                let remove = t1.elapsed();
                (install, remove)
            })
        });
        rx.recv().unwrap();
        let count = ns.count();
        go_tx.send(()).unwrap();
        let (install, remove) = t.join().unwrap();
        (install, count, remove)
    };
    assert_eq!(count, n, "routes in the kernel after Twill's install");
    assert_eq!(ns.count(), 0);
    (install, remove)
}

/// Pre-built messages, `BATCH` per `sendmsg`; `ack_each`: every message
/// asks for an acknowledgement, else only the last of each batch.
fn prebuilt(prefixes: &[Prefix], ack_each: bool) -> (Duration, Duration) {
    let ns = Netns::new(if ack_each { "ref-ack" } else { "ref-err" });
    let ifindex = ns.ifindex();
    let ps = prefixes.to_vec();
    let (install, remove) = ns.run(move || {
        let key = RouteKey {
            protocol: DEFAULT_PROTOCOL,
            table: 254,
            metric: None,
        };
        let fwd = Forward::Hops(vec![Hop {
            addr: IpAddr::V4(GATEWAY),
            ifindex,
            onlink: false,
        }]);
        let mut sock = NetlinkSocket::open(0).unwrap();
        let build = |sock: &mut NetlinkSocket, del: bool| -> Vec<(u32, usize, Vec<u8>)> {
            ps.chunks(BATCH)
                .map(|chunk| {
                    let first = sock.next_seqs(chunk.len() as u32);
                    let mut buf = Vec::with_capacity(chunk.len() * 64);
                    let mut start = 0;
                    for (i, p) in chunk.iter().enumerate() {
                        start = buf.len();
                        let seq = first + i as u32;
                        if del {
                            netlink::del_route(&mut buf, seq, &key, p);
                        } else {
                            netlink::new_route(&mut buf, seq, &key, p, &fwd, false);
                        }
                        if ack_each {
                            request_ack(&mut buf, start);
                        }
                    }
                    request_ack(&mut buf, start);
                    (first, chunk.len(), buf)
                })
                .collect()
        };
        let send = |sock: &mut NetlinkSocket, batches: &[(u32, usize, Vec<u8>)]| {
            for (first, n, buf) in batches {
                if ack_each {
                    sock.send(buf).unwrap();
                    let mut got = 0;
                    while got < *n {
                        sock.recv_with(true, |m| {
                            if m.kind == NLMSG_ERROR {
                                assert_eq!(netlink::ack_error(m.payload), Some(0));
                                got += 1;
                            }
                        })
                        .unwrap();
                    }
                } else {
                    sock.send_batch(buf, *first, *n, |i, e| panic!("message {i}: errno {e}"))
                        .unwrap();
                }
            }
        };
        let adds = build(&mut sock, false);
        let t0 = Instant::now();
        send(&mut sock, &adds);
        let install = t0.elapsed();
        let dels = build(&mut sock, true);
        let t1 = Instant::now();
        send(&mut sock, &dels);
        (install, t1.elapsed())
    });
    assert_eq!(ns.count(), 0);
    (install, remove)
}

/// `prefixes` in a fixed pseudo-random order (Fisher-Yates with an
/// xorshift generator of a constant seed).
fn shuffled(prefixes: &[Prefix]) -> Vec<Prefix> {
    let mut v = prefixes.to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// `ip -batch` with one `route add` / `route del` line per prefix.
fn ip_batch(prefixes: &[Prefix]) -> (Duration, Duration) {
    let ns = Netns::new("ipbatch");
    let dir = std::env::temp_dir();
    let add = dir.join(format!("twill-fib-bench-{}-add", std::process::id()));
    let del = dir.join(format!("twill-fib-bench-{}-del", std::process::id()));
    {
        let mut a = std::io::BufWriter::new(File::create(&add).unwrap());
        let mut d = std::io::BufWriter::new(File::create(&del).unwrap());
        for p in prefixes {
            writeln!(
                a,
                "route add {}/{} via {GATEWAY} dev a0 proto 84",
                p.addr(),
                p.len()
            )
            .unwrap();
            writeln!(d, "route del {}/{} proto 84", p.addr(), p.len()).unwrap();
        }
    }
    let t0 = Instant::now();
    ns.ip(&["-batch", add.to_str().unwrap()]);
    let install = t0.elapsed();
    assert_eq!(ns.count(), prefixes.len());
    let t1 = Instant::now();
    ns.ip(&["-batch", del.to_str().unwrap()]);
    let remove = t1.elapsed();
    let _ = std::fs::remove_file(add);
    let _ = std::fs::remove_file(del);
    (install, remove)
}

/// One request per route, each acknowledgement awaited before the next.
fn one_by_one(prefixes: &[Prefix]) -> (Duration, Duration) {
    let ns = Netns::new("single");
    let ifindex = ns.ifindex();
    let ps = prefixes.to_vec();
    ns.run(move || {
        let key = RouteKey {
            protocol: DEFAULT_PROTOCOL,
            table: 254,
            metric: None,
        };
        let fwd = Forward::Hops(vec![Hop {
            addr: IpAddr::V4(GATEWAY),
            ifindex,
            onlink: false,
        }]);
        let mut sock = NetlinkSocket::open(0).unwrap();
        let mut buf = Vec::with_capacity(128);
        let mut time = |del: bool| {
            let t = Instant::now();
            for p in &ps {
                buf.clear();
                let seq = sock.next_seqs(1);
                if del {
                    netlink::del_route(&mut buf, seq, &key, p);
                } else {
                    netlink::new_route(&mut buf, seq, &key, p, &fwd, false);
                }
                request_ack(&mut buf, 0);
                sock.send_batch(&buf, seq, 1, |_, e| panic!("errno {e}"))
                    .unwrap();
            }
            t.elapsed()
        };
        (time(false), time(true))
    })
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut ns: Vec<usize> = Vec::new();
    let mut refs_up_to = usize::MAX;
    let mut repeat = 1;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--refs-up-to" => refs_up_to = it.next().and_then(|v| v.parse().ok()).unwrap(),
            "--repeat" => repeat = it.next().and_then(|v| v.parse().ok()).unwrap(),
            "--only" => only = it.next().cloned(),
            "--bench" => {}
            v => {
                if let Ok(n) = v.parse() {
                    ns.push(n)
                }
            }
        }
    }
    if ns.is_empty() {
        ns = vec![100_000, 901_899];
    }
    let all = load_prefixes();
    println!("{} IPv4 prefixes loaded", all.len());
    for n in ns {
        let prefixes = &all[..n.min(all.len())];
        let n = prefixes.len();
        // Every method once per round, rounds interleaved, the best of
        // `repeat` rounds kept: the machine is shared.
        type Run<'a> = (&'static str, Box<dyn Fn() -> (Duration, Duration) + 'a>);
        let mut methods: Vec<Run> = vec![(
            "pre-built batched, ack each",
            Box::new(|| prebuilt(prefixes, true)),
        )];
        let want = |name: &str| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|o| o == name))
        };
        if want("errors-only") {
            methods.push((
                "pre-built batched, errors only",
                Box::new(|| prebuilt(prefixes, false)),
            ));
        }
        if want("errors-only-shuffled") {
            let mixed = shuffled(prefixes);
            methods.push((
                "pre-built batched, errors only, shuffled",
                Box::new(move || prebuilt(&mixed, false)),
            ));
        }
        if want("twill") {
            methods.push((
                "Twill FibHandle, nexthop object",
                Box::new(|| twill(prefixes, true)),
            ));
        }
        if want("twill-inline") {
            methods.push((
                "Twill FibHandle, next hop in each route",
                Box::new(|| twill(prefixes, false)),
            ));
        }
        if n <= refs_up_to && want("ip") {
            methods.push(("ip -batch", Box::new(|| ip_batch(prefixes))));
        }
        if n <= refs_up_to && want("single") {
            methods.push((
                "one request awaited per route",
                Box::new(|| one_by_one(prefixes)),
            ));
        }
        let mut best = vec![(Duration::MAX, Duration::MAX); methods.len()];
        for _ in 0..repeat {
            for (b, (_, f)) in best.iter_mut().zip(&methods) {
                let (i, r) = f();
                *b = (b.0.min(i), b.1.min(r));
            }
        }
        let reference = best[0];
        println!("| N | method | install | remove | vs pre-built, ack each (install / remove) |");
        println!("| ---: | --- | ---: | ---: | ---: |");
        for ((name, _), (i, r)) in methods.iter().zip(&best) {
            println!(
                "| {n} | {name} | {} | {} | {:.2}x / {:.2}x |",
                secs(*i),
                secs(*r),
                i.as_secs_f64() / reference.0.as_secs_f64(),
                r.as_secs_f64() / reference.1.as_secs_f64()
            );
        }
    }
}
