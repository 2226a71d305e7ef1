//! Labs: network namespaces joined by veth pairs and bridges, and the
//! guard that takes them down.
//!
//! Every name is unique to the lab (process id and a counter), so tests run
//! in parallel. Nothing is created in the root namespace: a veth pair is
//! created inside one namespace with its peer placed straight into the
//! other, and a shared segment's bridge lives in a namespace of its own.
//! Addresses come only from 198.18.0.0/15 (RFC 2544) and fd00::/8
//! (RFC 4193); IPv6 addresses are added `nodad` so daemons can bind at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cmd::{self, run};
use crate::error::{Error, Result};
use crate::process::{self, Process};

/// Labs started by this process so far (part of every name).
static LABS: AtomicU32 = AtomicU32::new(0);
/// Subnets handed out by this process so far: one /24 and one /64 each.
static SUBNETS: AtomicU32 = AtomicU32::new(0);

/// A network namespace of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ns {
    /// Its name in `ip netns list`.
    pub name: String,
    /// The short name the test gave it.
    pub short: String,
}

/// One end of a link or a segment: an interface and its addresses.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The namespace the interface is in.
    pub ns: Ns,
    /// The interface name (inside `ns`).
    pub ifname: String,
    /// Its IPv4 address (prefix length 24).
    pub v4: Ipv4Addr,
    /// Its IPv6 address (prefix length 64).
    pub v6: Ipv6Addr,
}

impl Endpoint {
    /// The address of the given family.
    pub fn addr(&self, family: crate::router::Family) -> IpAddr {
        match family {
            crate::router::Family::Ipv4 => IpAddr::V4(self.v4),
            crate::router::Family::Ipv6 => IpAddr::V6(self.v6),
        }
    }

    /// The subnet of the link or segment in `family` (/24 or /64).
    pub fn subnet(&self, family: crate::router::Family) -> crate::router::Prefix {
        match family {
            crate::router::Family::Ipv4 => crate::router::Prefix {
                addr: IpAddr::V4(Ipv4Addr::from(u32::from(self.v4) & !0xff)),
                len: 24,
            },
            crate::router::Family::Ipv6 => crate::router::Prefix {
                addr: IpAddr::V6(Ipv6Addr::from(u128::from(self.v6) & !((1u128 << 64) - 1))),
                len: 64,
            },
        }
    }

    /// The interface's IPv6 link-local address (`fe80::/64`), once the
    /// kernel has assigned it.
    pub fn link_local(&self) -> Result<Ipv6Addr> {
        let out = run(
            "ip",
            [
                "-n",
                &self.ns.name,
                "-j",
                "-6",
                "addr",
                "show",
                "dev",
                &self.ifname,
                "scope",
                "link",
            ],
        )?;
        let value = cmd::json("ip -j addr", &out)?;
        value
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|link| link["addr_info"].as_array().into_iter().flatten())
            .find_map(|a| a["local"].as_str()?.parse().ok())
            .ok_or_else(|| Error::Parse {
                what: format!("link-local address of {} in {}", self.ifname, self.ns.short),
                detail: "none assigned".into(),
                output: out,
            })
    }
}

/// A point-to-point link between two namespaces.
#[derive(Debug, Clone)]
pub struct Link {
    /// The end in the first namespace (host .1 / ::1).
    pub a: Endpoint,
    /// The end in the second namespace (host .2 / ::2).
    pub b: Endpoint,
}

/// A lab: namespaces, links, daemons, and a per-lab directory for
/// configurations, sockets and logs. Dropping it stops every process it
/// started (by PID, then any process left in its namespaces) and deletes
/// every namespace, also when the test panics. The directory is removed
/// unless the thread is panicking (then its path is printed, to read logs).
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: PathBuf,
    namespaces: Vec<Ns>,
    processes: Vec<Process>,
    links: u32,
}

impl Lab {
    /// Creates an empty lab named after `test` (for its directory). The
    /// first lab of a process also clears what labs of dead test processes
    /// left (a run killed by a signal skips every Drop).
    pub fn new(test: &str) -> Result<Lab> {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale_labs);
        let id = format!(
            "tw{}x{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("twill-interop-{test}-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })?;
        Ok(Lab {
            id,
            dir,
            namespaces: Vec::new(),
            processes: Vec::new(),
            links: 0,
        })
    }

    /// A lab meant to outlive this process (the demo, `twill-lab`): its
    /// namespaces are named `<id>-<name>` (`id` must not look like a test
    /// lab's `tw<pid>x<n>`, so that no test run sweeps it) and its files are
    /// in `dir`, which must not hold a lab already. [`Lab::detach`] leaves
    /// it running; [`teardown_detached`] takes it down.
    pub fn persistent(id: &str, dir: &Path) -> Result<Lab> {
        if dir.join(STATE_FILE).exists() {
            return Err(Error::Environment(format!(
                "a lab is already up in {} (take it down first)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })?;
        Ok(Lab {
            id: id.to_owned(),
            dir: dir.to_owned(),
            namespaces: Vec::new(),
            processes: Vec::new(),
            links: 0,
        })
    }

    /// Leaves the lab running after this process: writes its PIDs and
    /// namespaces to `<dir>/lab.state` for [`teardown_detached`], and gives
    /// up its guard.
    pub fn detach(mut self) -> Result<PathBuf> {
        let mut state = String::new();
        for p in &self.processes {
            state.push_str(&format!("pid {} {}\n", p.pid(), p.label()));
        }
        for ns in &self.namespaces {
            state.push_str(&format!("netns {}\n", ns.name));
        }
        let path = self.dir.join(STATE_FILE);
        std::fs::write(&path, state).map_err(|source| Error::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })?;
        for p in self.processes.drain(..) {
            std::mem::forget(p);
        }
        self.namespaces.clear();
        // No Drop: it would remove the directory (state, sockets, logs).
        std::mem::forget(self);
        Ok(path)
    }

    /// The lab's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a namespace with `lo` up and forwarding on (it may route).
    pub fn namespace(&mut self, short: &str) -> Result<Ns> {
        let ns = Ns {
            name: format!("{}-{short}", self.id),
            short: short.to_owned(),
        };
        run("ip", ["netns", "add", &ns.name])?;
        // Registered before anything else can fail, so Drop deletes it.
        self.namespaces.push(ns.clone());
        run("ip", ["-n", &ns.name, "link", "set", "lo", "up"])?;
        cmd::run_in(
            &ns.name,
            "sysctl",
            [
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.conf.default.accept_dad=0",
            ],
        )?;
        Ok(ns)
    }

    /// The next free /24 and /64 (process-wide, so labs never share one).
    fn subnet() -> Result<(Ipv4Addr, Ipv6Addr)> {
        let k = SUBNETS.fetch_add(1, Ordering::Relaxed);
        if k >= 512 {
            return Err(Error::Environment(
                "198.18.0.0/15 exhausted: more than 512 links in one test process".into(),
            ));
        }
        let v4 = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (k << 8));
        let v6 = Ipv6Addr::new(0xfd00, 0x7e11, 0, k as u16, 0, 0, 0, 0);
        Ok((v4, v6))
    }

    /// Gives `ifname` in `ns` host number `host` of the subnet, and sets it up.
    fn address(ns: &Ns, ifname: &str, subnet: (Ipv4Addr, Ipv6Addr), host: u8) -> Result<Endpoint> {
        let v4 = Ipv4Addr::from(u32::from(subnet.0) + u32::from(host));
        let v6 = Ipv6Addr::from(u128::from(subnet.1) + u128::from(host));
        let n = &ns.name;
        run(
            "ip",
            ["-n", n, "addr", "add", &format!("{v4}/24"), "dev", ifname],
        )?;
        run(
            "ip",
            [
                "-n",
                n,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ],
        )?;
        run("ip", ["-n", n, "link", "set", ifname, "up"])?;
        Ok(Endpoint {
            ns: ns.clone(),
            ifname: ifname.to_owned(),
            v4,
            v6,
        })
    }

    /// Joins `a` and `b` with a veth pair, created in `a` with its peer
    /// placed straight into `b`; both ends named `l<N>` and addressed
    /// from a fresh /24 and /64.
    pub fn link(&mut self, a: &Ns, b: &Ns) -> Result<Link> {
        let ifname = format!("l{}", self.links);
        self.links += 1;
        run(
            "ip",
            [
                "-n", &a.name, "link", "add", &ifname, "type", "veth", "peer", "name", &ifname,
                "netns", &b.name,
            ],
        )?;
        let subnet = Self::subnet()?;
        Ok(Link {
            a: Self::address(a, &ifname, subnet, 1)?,
            b: Self::address(b, &ifname, subnet, 2)?,
        })
    }

    /// Namespaces named `names`, all on one shared segment `short` (see
    /// [`Lab::segment`]): the namespaces and their endpoints, in order.
    pub fn on_segment(&mut self, short: &str, names: &[&str]) -> Result<(Vec<Ns>, Vec<Endpoint>)> {
        let ns: Vec<Ns> = names
            .iter()
            .map(|n| self.namespace(n))
            .collect::<Result<_>>()?;
        let members: Vec<&Ns> = ns.iter().collect();
        let ends = self.segment(short, &members)?;
        Ok((ns, ends))
    }

    /// A shared segment: a bridge in a namespace of its own, and one veth
    /// from each member to it; member `i` gets host number `i + 1`.
    pub fn segment(&mut self, short: &str, members: &[&Ns]) -> Result<Vec<Endpoint>> {
        let hub = self.namespace(short)?;
        run(
            "ip",
            ["-n", &hub.name, "link", "add", "br0", "type", "bridge"],
        )?;
        run("ip", ["-n", &hub.name, "link", "set", "br0", "up"])?;
        let subnet = Self::subnet()?;
        let mut ends = Vec::new();
        for (i, member) in members.iter().enumerate() {
            let ifname = format!("l{}", self.links);
            self.links += 1;
            run(
                "ip",
                [
                    "-n",
                    &hub.name,
                    "link",
                    "add",
                    &ifname,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &ifname,
                    "netns",
                    &member.name,
                ],
            )?;
            run(
                "ip",
                [
                    "-n", &hub.name, "link", "set", &ifname, "master", "br0", "up",
                ],
            )?;
            let host = u8::try_from(i + 1)
                .map_err(|_| Error::Environment(format!("segment {short}: too many members")))?;
            ends.push(Self::address(member, &ifname, subnet, host)?);
        }
        Ok(ends)
    }

    /// Adds a route in `ns` to `dst` (a prefix, or `default`) via `via`.
    pub fn route(&self, ns: &Ns, dst: &str, via: IpAddr) -> Result<()> {
        let family = if via.is_ipv4() { "-4" } else { "-6" };
        run(
            "ip",
            [
                "-n",
                &ns.name,
                family,
                "route",
                "add",
                dst,
                "via",
                &via.to_string(),
            ],
        )?;
        Ok(())
    }

    /// A host (a pod, say) behind `router`: a new namespace linked to it,
    /// with default routes (IPv4 and IPv6) via the router's end of the link.
    /// Returns the host's namespace and the link (`a` is the router's end).
    pub fn host_behind(&mut self, router: &Ns, short: &str) -> Result<(Ns, Link)> {
        let host = self.namespace(short)?;
        let link = self.link(router, &host)?;
        self.route(&host, "default", IpAddr::V4(link.a.v4))?;
        self.route(&host, "default", IpAddr::V6(link.a.v6))?;
        Ok((host, link))
    }

    /// Sets an interface up or down (a cable pulled: both ends lose
    /// carrier, and daemons see the interface event).
    pub fn set_link(&self, end: &Endpoint, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        run(
            "ip",
            ["-n", &end.ns.name, "link", "set", &end.ifname, state],
        )?;
        Ok(())
    }

    /// Silently drops all traffic between the two ends of `link` (`on`), or
    /// restores it: blackhole host routes for the far address, in both
    /// namespaces and both families. The interfaces stay up, so only a
    /// hold timer (RFC 4271 §6.5) notices.
    pub fn partition(&self, link: &Link, on: bool) -> Result<()> {
        let verb = if on { "add" } else { "del" };
        for (here, there) in [(&link.a, &link.b), (&link.b, &link.a)] {
            let v4 = format!("{}/32", there.v4);
            let v6 = format!("{}/128", there.v6);
            for dst in [v4, v6] {
                run(
                    "ip",
                    ["-n", &here.ns.name, "route", verb, "blackhole", &dst],
                )?;
            }
        }
        Ok(())
    }

    /// Starts `program args...` in `ns` (see [`Process::spawn`]); its log
    /// is `<lab dir>/<label>.log`. Returns its PID.
    pub fn spawn(
        &mut self,
        ns: &Ns,
        label: &str,
        program: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<u32> {
        let log = self.dir.join(format!("{label}.log"));
        let process = Process::spawn(label, &ns.name, program, args, env, &log)?;
        let pid = process.pid();
        self.processes.push(process);
        Ok(pid)
    }

    /// The process started under `label`.
    pub fn process(&mut self, label: &str) -> Option<&mut Process> {
        self.processes.iter_mut().find(|p| p.label() == label)
    }

    /// Stops the process started under `label` (a restart test starts it
    /// again with [`Lab::spawn`]).
    pub fn stop(&mut self, label: &str) {
        if let Some(i) = self.processes.iter().position(|p| p.label() == label) {
            let mut process = self.processes.remove(i);
            process.stop();
        }
    }

    /// The PIDs of the processes this lab started and still runs.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }

    /// The names of this lab's namespaces.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.iter().map(|n| n.name.clone()).collect()
    }

    /// Every PID running in this lab's namespaces (`ip netns pids`):
    /// the daemons and whatever they started.
    pub fn pids_in_namespaces(&self) -> Vec<u32> {
        self.namespaces.iter().flat_map(pids_in).collect()
    }

    /// Stops every process and deletes every namespace (what Drop does).
    fn teardown(&mut self) {
        for mut process in self.processes.drain(..).rev() {
            process.stop();
        }
        // Anything still in a namespace (a daemon's own children that left
        // its process group) is stopped by PID.
        for _ in 0..3 {
            let left = self.pids_in_namespaces();
            if left.is_empty() {
                break;
            }
            for pid in &left {
                tracing::warn!(pid, "process left in a lab namespace: SIGKILL");
                process::signal(*pid, "KILL");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = run("ip", ["netns", "del", &ns.name]) {
                eprintln!("interop: cannot delete namespace {}: {e}", ns.name);
            }
        }
    }
}

/// The file in a detached lab's directory that lists its PIDs and
/// namespaces.
pub const STATE_FILE: &str = "lab.state";

/// Takes down a lab left running by [`Lab::detach`]: every process it
/// started, by PID (SIGTERM to its process group, SIGKILL after 3 s), then
/// anything left in its namespaces, then the namespaces and the directory.
/// Returns what it stopped and deleted, as lines for the user.
pub fn teardown_detached(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(STATE_FILE);
    let state = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        what: format!("no lab is up in {} ({})", dir.display(), path.display()),
        source,
    })?;
    let mut pids = Vec::new();
    let mut namespaces = Vec::new();
    for line in state.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("pid"), Some(pid)) => {
                if let Ok(pid) = pid.parse::<u32>() {
                    pids.push((pid, words.next().unwrap_or("").to_owned()));
                }
            }
            (Some("netns"), Some(name)) => namespaces.push(name.to_owned()),
            _ => {}
        }
    }
    let mut done = Vec::new();
    for (pid, label) in pids.iter().rev() {
        if !process::alive(*pid) {
            continue;
        }
        process::signal_group(*pid, "TERM");
        let start = std::time::Instant::now();
        while process::alive(*pid) && start.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        process::signal_group(*pid, "KILL");
        done.push(format!("stopped {label} (pid {pid})"));
    }
    for name in namespaces.iter().rev() {
        let ns = Ns {
            name: name.clone(),
            short: name.clone(),
        };
        for _ in 0..3 {
            let left = pids_in(&ns);
            if left.is_empty() {
                break;
            }
            for pid in left {
                process::signal(pid, "KILL");
                done.push(format!("killed pid {pid} left in {name}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        match run("ip", ["netns", "del", name]) {
            Ok(_) => done.push(format!("deleted namespace {name}")),
            Err(e) => done.push(format!("namespace {name}: {e}")),
        }
    }
    std::fs::remove_dir_all(dir).map_err(|source| Error::Io {
        what: format!("cannot remove {}", dir.display()),
        source,
    })?;
    Ok(done)
}

/// The live processes in namespace `ns` (`ip netns pids`).
pub fn pids_in(ns: &Ns) -> Vec<u32> {
    run("ip", ["netns", "pids", &ns.name])
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .filter(|&pid| process::alive(pid))
                .collect()
        })
        .unwrap_or_default()
}

/// The PID of the test process that created namespace `name`
/// (`tw<pid>x<lab>-<short>`), if it is a lab's.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("tw")?;
    let (pid, rest) = rest.split_once('x')?;
    let (lab, _) = rest.split_once('-')?;
    lab.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Stops the processes in, and deletes, every lab namespace whose test
/// process is gone.
fn sweep_stale_labs() {
    let Ok(list) = run("ip", ["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = owner(name) else { continue };
        if process::alive(pid) {
            continue;
        }
        if let Ok(pids) = run("ip", ["netns", "pids", name]) {
            for p in pids.split_whitespace().filter_map(|p| p.parse().ok()) {
                process::signal(p, "KILL");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        eprintln!("interop: deleting namespace {name} left by dead test process {pid}");
        let _ = run("ip", ["netns", "del", name]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
        if std::thread::panicking() {
            eprintln!("interop: lab logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::owner;

    #[test]
    fn reads_the_owner_of_a_lab_namespace() {
        assert_eq!(owner("tw1234x0-bird"), Some(1234));
        assert_eq!(owner("tw1234x17-frr-good"), Some(1234));
        assert_eq!(owner("tw1234-bird"), None);
        assert_eq!(owner("twxx0-bird"), None);
        assert_eq!(owner("cni-1234"), None);
    }
}
