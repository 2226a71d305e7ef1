//! `twill-agent`: configuration from a [`Router`], start, restart (SIGTERM
//! then start again), kill -9, and its view through `twillctl --json`.
//!
//! The agent's YAML (`docs/configuration.md`) is generated from the same
//! [`Router`] description as BIRD's and FRR's, plus [`AgentOptions`] for
//! what only Twill has (graceful restart, multipath, FIB). Its API socket,
//! configuration and log are in the lab's directory; its kernel routes are
//! those of protocol [`FIB_PROTOCOL`] in its namespace.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::capability::{Capabilities, Capability, FamilyKey};
use crate::cmd::{self, file_tail};
use crate::error::{Error, Result};
use crate::kernel::{self, KernelRoute};
use crate::netns::{Lab, Ns};
use crate::peer::{Daemon, Peer};
use crate::process;
use crate::router::{AddPath, BgpRoute, Family, LastError, Prefix, Router, SessionState};
use crate::wait;

/// The route protocol number of the agent's kernel routes (`fib.protocol`).
pub const FIB_PROTOCOL: u8 = 84;

/// The agent binary's name.
pub const AGENT: &str = "twill-agent";
/// The CLI's name.
pub const CTL: &str = "twillctl";

/// What the agent's configuration has beyond the [`Router`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// Graceful restart (RFC 4724) on every neighbour, with this Restart
    /// Time; `None`: off.
    pub graceful_restart: Option<u16>,
    /// ECMP paths (`decision.max_paths_ebgp` and `max_paths_ibgp`).
    pub max_paths: u32,
    /// Install best routes into the namespace's kernel table.
    pub fib_install: bool,
    /// Log level.
    pub log_level: &'static str,
    /// `--selection-deferral` (seconds) after a restart.
    pub selection_deferral: u16,
}

impl Default for AgentOptions {
    fn default() -> AgentOptions {
        AgentOptions {
            graceful_restart: None,
            max_paths: 1,
            fib_install: true,
            log_level: "info",
            selection_deferral: 15,
        }
    }
}

/// Where the workspace's binaries are: `CARGO_TARGET_DIR`, or the
/// workspace's `target`, profile `debug` (or `TWILL_PROFILE`).
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
            interop.parent().unwrap_or(interop).join("target")
        });
    let profile = std::env::var("TWILL_PROFILE").unwrap_or_else(|_| "debug".into());
    target.join(profile).join(name)
}

/// Fails clearly when `twill-agent` or `twillctl` has not been built.
pub fn check_binaries() -> Result<()> {
    for name in [AGENT, CTL] {
        let path = binary(name);
        if !path.is_file() {
            return Err(Error::Environment(format!(
                "{} is missing: build it first with `cargo build -p node-agent -p ctl --bins` \
                 (scripts/test does), with the same CARGO_TARGET_DIR",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The agent's YAML configuration for `router`.
pub fn config(router: &Router, options: &AgentOptions, socket: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "local_asn: {}", router.asn);
    let _ = writeln!(c, "router_id: {}", router.router_id);
    if let Some(id) = router.cluster_id {
        let _ = writeln!(c, "cluster_id: {id}");
    }
    let _ = writeln!(
        c,
        "decision:\n  max_paths_ebgp: {m}\n  max_paths_ibgp: {m}\n  as_path_relax: {relax}",
        m = options.max_paths,
        relax = options.max_paths > 1
    );
    c.push_str("neighbors:\n");
    for n in &router.neighbors {
        let _ = writeln!(c, "  - address: {}", n.address);
        let _ = writeln!(c, "    asn: {}", n.asn);
        let _ = writeln!(c, "    description: {}", n.name);
        let _ = writeln!(c, "    source_address: {}", n.local_address);
        if n.passive {
            c.push_str("    passive: true\n");
        }
        if let Some(password) = &n.password {
            let _ = writeln!(c, "    password: \"{password}\"");
        }
        if let Some(ttl) = n.multihop {
            let _ = writeln!(c, "    multihop_ttl: {ttl}");
        }
        if n.ttl_security {
            c.push_str("    gtsm: true\n");
        }
        if n.route_reflector_client {
            c.push_str("    route_reflector_client: true\n");
        }
        let _ = writeln!(
            c,
            "    timers:\n      hold: {}\n      keepalive: {}\n      connect_retry: {}",
            n.hold_time.as_secs(),
            n.keepalive(),
            n.connect_retry.as_secs().max(1)
        );
        if let Some(restart_time) = options.graceful_restart {
            let _ = writeln!(
                c,
                "    graceful_restart:\n      enabled: true\n      restart_time: {restart_time}"
            );
        }
        c.push_str("    families:\n");
        for family in &n.families {
            let name = match family {
                Family::Ipv4 => "ipv4-unicast",
                Family::Ipv6 => "ipv6-unicast",
            };
            let _ = writeln!(c, "      - family: {name}");
            let add_path = match n.add_path {
                AddPath::Off => continue,
                AddPath::Send => "send",
                AddPath::Receive => "receive",
                AddPath::Both => "both",
            };
            let _ = writeln!(c, "        add_path: {add_path}");
            if let Some(max) = n.add_path_send_max {
                let _ = writeln!(c, "        add_path_send_max: {max}");
            }
        }
        c.push_str("    import_policy: accept-all\n    export_policy: accept-all\n");
    }
    if !router.originate.is_empty() {
        c.push_str("originate:\n");
        for r in &router.originate {
            let _ = writeln!(c, "  - prefix: {}", r.prefix);
            if !r.communities.is_empty() {
                let list: Vec<_> = r
                    .communities
                    .iter()
                    .map(|(a, v)| format!("\"{a}:{v}\""))
                    .collect();
                let _ = writeln!(c, "    communities: [{}]", list.join(", "));
            }
            if !r.large_communities.is_empty() {
                let list: Vec<_> = r
                    .large_communities
                    .iter()
                    .map(|(g, a, b)| format!("\"{g}:{a}:{b}\""))
                    .collect();
                let _ = writeln!(c, "    large_communities: [{}]", list.join(", "));
            }
            if let Some(med) = r.med {
                let _ = writeln!(c, "    med: {med}");
            }
            if let Some(lp) = r.local_pref {
                let _ = writeln!(c, "    local_pref: {lp}");
            }
        }
    }
    let _ = writeln!(
        c,
        "fib:\n  install: {}\n  protocol: {FIB_PROTOCOL}\n  keep_on_exit: true",
        options.fib_install
    );
    let _ = writeln!(c, "api:\n  socket: {}", socket.display());
    let _ = writeln!(c, "logging:\n  level: {}", options.log_level);
    c
}

/// A running `twill-agent` in a namespace.
#[derive(Debug)]
pub struct TwillAgent {
    router: Router,
    options: AgentOptions,
    ns: Ns,
    label: String,
    conf: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    pid: u32,
}

impl TwillAgent {
    /// Writes `router`'s configuration, starts `twill-agent -c FILE` in
    /// `ns`, and waits until its API answers.
    pub fn start(lab: &mut Lab, ns: &Ns, router: Router, options: AgentOptions) -> Result<Self> {
        check_binaries()?;
        let base = lab.dir().join(format!("twill-{}", router.name));
        let conf = base.with_extension("yaml");
        let socket = base.with_extension("sock");
        let label = format!("twill-{}", router.name);
        let log = lab.dir().join(format!("{label}.log"));
        std::fs::write(&conf, config(&router, &options, &socket)).map_err(|source| Error::Io {
            what: format!("cannot write {}", conf.display()),
            source,
        })?;
        let mut agent = TwillAgent {
            router,
            options,
            ns: ns.clone(),
            label,
            conf,
            socket,
            log,
            pid: 0,
        };
        agent.spawn(lab)?;
        Ok(agent)
    }

    fn spawn(&mut self, lab: &mut Lab) -> Result<()> {
        let _ = std::fs::remove_file(&self.socket);
        let args = vec![
            "-c".to_owned(),
            self.conf.display().to_string(),
            "--selection-deferral".to_owned(),
            self.options.selection_deferral.to_string(),
        ];
        self.pid = lab.spawn(
            &self.ns,
            &self.label,
            &binary(AGENT).display().to_string(),
            &args,
            &[("NO_COLOR".to_owned(), "1".to_owned())],
        )?;
        let label = self.label.clone();
        wait::until(
            &format!("twill-agent {}: API socket", self.router.name),
            Duration::from_secs(15),
            || {
                if let Some(p) = lab.process(&label) {
                    p.check_running()?;
                }
                Ok(self.ctl(&["status"]).ok().map(|_| ()))
            },
            || self.view(),
        )
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its namespace.
    pub fn ns(&self) -> &Ns {
        &self.ns
    }

    /// Its API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Its configuration file.
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// Stops it with SIGTERM (graceful: sessions closed without Cease where
    /// graceful restart is on, kernel routes left), waits for it to exit,
    /// and starts it again with the same configuration.
    pub fn restart(&mut self, lab: &mut Lab) -> Result<()> {
        lab.stop(&self.label);
        self.spawn(lab)
    }

    /// Writes `router`'s configuration and sends SIGHUP: the agent applies
    /// the difference (`docs/configuration.md`, Reload).
    pub fn reload(&mut self, router: Router) -> Result<()> {
        std::fs::write(&self.conf, config(&router, &self.options, &self.socket)).map_err(
            |source| Error::Io {
                what: format!("cannot write {}", self.conf.display()),
                source,
            },
        )?;
        self.router = router;
        process::signal(self.pid, "HUP");
        Ok(())
    }

    /// Stops it with SIGTERM and waits for it to exit.
    pub fn stop(&mut self, lab: &mut Lab) {
        lab.stop(&self.label);
    }

    /// Kills it (SIGKILL: no NOTIFICATION, no cleanup) and reaps it.
    pub fn kill(&mut self, lab: &mut Lab) {
        process::signal(self.pid, "KILL");
        lab.stop(&self.label);
    }

    /// Runs `twillctl --socket S --json args...` and parses its answer.
    pub fn ctl(&self, args: &[&str]) -> Result<Value> {
        let socket = self.socket.display().to_string();
        let mut all = vec!["--socket", &socket, "--json"];
        all.extend_from_slice(args);
        let out = cmd::run(&binary(CTL).display().to_string(), all)?;
        cmd::json("twillctl --json", &out)
    }

    /// Its answer for `neighbor ADDR`.
    pub fn neighbor(&self, neighbor: IpAddr) -> Result<Value> {
        self.ctl(&["neighbor", &neighbor.to_string()])
    }

    /// Its kernel routes (protocol [`FIB_PROTOCOL`]) of `family`.
    pub fn kernel_routes(&self, family: Family) -> Result<Vec<KernelRoute>> {
        kernel_routes(&self.ns, family)
    }

    /// Its kernel route for exactly `prefix` (protocol [`FIB_PROTOCOL`]).
    pub fn kernel_route(&self, prefix: Prefix) -> Result<Option<KernelRoute>> {
        Ok(kernel::route(&self.ns, prefix)?.filter(is_twill))
    }
}

/// Whether a kernel route is Twill's (protocol 84: `ip` prints the number).
pub fn is_twill(route: &KernelRoute) -> bool {
    route.protocol.as_deref() == Some(&FIB_PROTOCOL.to_string())
}

/// The kernel routes of protocol [`FIB_PROTOCOL`] in `ns`.
pub fn kernel_routes(ns: &Ns, family: Family) -> Result<Vec<KernelRoute>> {
    Ok(kernel::routes(ns, family)?
        .into_iter()
        .filter(is_twill)
        .collect())
}

/// The best path of `route` (a `twillctl rib --json` entry) in neutral terms.
pub fn parse_route(route: &Value) -> Option<BgpRoute> {
    let prefix = route["prefix"].as_str()?.parse().ok();
    let paths = route["paths"].as_array()?;
    let best = paths.iter().find(|p| p["best"] == true).or(paths.first())?;
    let as_path = best["as_path"]
        .as_str()
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || "{},".contains(c))
        .filter_map(|a| a.parse().ok())
        .collect();
    let strings = |key: &str| -> Vec<String> {
        best[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| Some(v.as_str()?.to_owned()))
            .collect()
    };
    let communities = strings("communities")
        .iter()
        .filter_map(|c| {
            let (a, v) = c.split_once(':')?;
            Some((a.parse().ok()?, v.parse().ok()?))
        })
        .collect();
    let large_communities = strings("large_communities")
        .iter()
        .filter_map(|c| {
            let mut it = c.split(':').map(|x| x.parse::<u32>());
            Some((it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect();
    let number = |key: &str| best[key].as_u64().and_then(|v| u32::try_from(v).ok());
    Some(BgpRoute {
        prefix,
        as_path,
        next_hop: best["next_hop"]
            .as_str()
            .and_then(|s| s.split_whitespace().next()?.parse().ok()),
        communities,
        large_communities,
        med: number("med"),
        local_pref: number("local_pref"),
        originator_id: best["originator_id"]
            .as_str()
            .and_then(|s| s.parse::<Ipv4Addr>().ok()),
        cluster_list: strings("cluster_list")
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        unknown: Vec::new(),
    })
}

/// The agent's capability words (`twillctl neighbor`'s `capabilities`)
/// in the harness's vocabulary.
/// (`four-octet-as 4200000001`, `graceful-restart 120s`: the first word
/// names it).
pub fn capability(words: &str) -> Option<Capability> {
    let word = words.split_whitespace().next()?;
    Some(match word {
        "ipv4-unicast" => Capability::MultiProtocol(FamilyKey::Ipv4),
        "ipv6-unicast" => Capability::MultiProtocol(FamilyKey::Ipv6),
        "route-refresh" => Capability::RouteRefresh,
        "enhanced-route-refresh" => Capability::EnhancedRouteRefresh,
        "extended-next-hop" => Capability::ExtendedNextHop,
        "extended-message" => Capability::ExtendedMessage,
        "graceful-restart" => Capability::GracefulRestart,
        "four-octet-as" => Capability::FourOctetAs,
        "add-path" => Capability::AddPath,
        _ => return None,
    })
}

impl Peer for TwillAgent {
    fn daemon(&self) -> Daemon {
        Daemon::Twill
    }

    fn router(&self) -> &Router {
        &self.router
    }

    fn session_state(&self, neighbor: IpAddr) -> Result<SessionState> {
        let n = self.neighbor(neighbor)?;
        let state = n["state"].as_str().unwrap_or_default();
        SessionState::parse(state).ok_or_else(|| Error::Parse {
            what: "twillctl neighbor state".into(),
            detail: format!("unknown state {state:?}"),
            output: n.to_string(),
        })
    }

    fn route(&self, prefix: Prefix) -> Result<Option<BgpRoute>> {
        let routes = self.ctl(&["rib", &prefix.to_string()])?;
        let want = prefix.to_string();
        Ok(routes
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["prefix"].as_str() == Some(want.as_str()))
            .and_then(parse_route))
    }

    /// The agent reports the negotiated capabilities only: both sets are
    /// those.
    fn capabilities(&self, neighbor: IpAddr) -> Result<Capabilities> {
        let n = self.neighbor(neighbor)?;
        let set: std::collections::BTreeSet<_> = n["capabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| capability(w.as_str()?))
            .collect();
        Ok(Capabilities {
            advertised: set.clone(),
            received: set,
        })
    }

    fn request_refresh(&self, neighbor: IpAddr) -> Result<()> {
        self.ctl(&["neighbor", &neighbor.to_string(), "refresh"])
            .map(|_| ())
    }

    fn last_error(&self, neighbor: IpAddr) -> Result<Option<LastError>> {
        let n = self.neighbor(neighbor)?;
        let sent = &n["last_notification_sent"];
        let received = &n["last_notification_received"];
        let at = |v: &Value| v["at_unix_secs"].as_u64();
        // The more recent of the two NOTIFICATIONs.
        let last = match (at(sent), at(received)) {
            (Some(s), Some(r)) if s > r => sent,
            (Some(_), None) => sent,
            (_, Some(_)) => received,
            (None, None) => &Value::Null,
        };
        let reason = n["last_down_reason"].as_str().map(str::to_owned);
        if reason.is_none() && last.is_null() {
            return Ok(None);
        }
        let code = match (last["code"].as_u64(), last["subcode"].as_u64()) {
            (Some(c), Some(s)) => Some((c as u8, s as u8)),
            _ => None,
        };
        Ok(Some(LastError {
            text: reason
                .or_else(|| last["description"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            code,
            shutdown_message: received["communication"].as_str().map(str::to_owned),
        }))
    }

    fn shutdown(&self, neighbor: IpAddr, message: &str) -> Result<()> {
        self.ctl(&[
            "neighbor",
            &neighbor.to_string(),
            "shutdown",
            "--message",
            message,
        ])
        .map(|_| ())
    }

    fn enable(&self, neighbor: IpAddr) -> Result<()> {
        self.ctl(&["neighbor", &neighbor.to_string(), "start"])
            .map(|_| ())
    }

    fn view(&self) -> String {
        let socket = self.socket.display().to_string();
        let neighbors = cmd::run(
            &binary(CTL).display().to_string(),
            ["--socket", socket.as_str(), "neighbors"],
        )
        .unwrap_or_else(|e| format!("(twillctl neighbors: {e})"));
        format!(
            "--- twill-agent {} ---\n{neighbors}\n--- log ---\n{}",
            self.router.name,
            file_tail(&self.log, 30)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{prefix, Neighbor, Route};

    #[test]
    fn parses_a_rib_entry() {
        let v: Value = serde_json::from_str(
            r#"{"prefix":"198.18.9.0/24","paths":[{"from":"198.18.0.1","path_id":0,
            "best":true,"multipath":false,"next_hop":"198.18.0.1","as_path":"65001 4200000002",
            "origin":"igp","med":7,"local_pref":null,"communities":["65001:42","no-export"],
            "large_communities":["65001:1:2"],"originator_id":"198.18.0.9",
            "cluster_list":["198.18.0.7"],"lost":null}]}"#,
        )
        .unwrap();
        let r = parse_route(&v).unwrap();
        assert_eq!(r.prefix, Some(prefix("198.18.9.0/24")));
        assert_eq!(r.as_path, vec![65001, 4200000002]);
        assert_eq!(r.next_hop, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(r.communities, vec![(65001, 42)]);
        assert_eq!(r.large_communities, vec![(65001, 1, 2)]);
        assert_eq!(r.med, Some(7));
        assert_eq!(r.local_pref, None);
        assert_eq!(r.originator_id, Some(Ipv4Addr::new(198, 18, 0, 9)));
        assert_eq!(r.cluster_list, vec![Ipv4Addr::new(198, 18, 0, 7)]);
    }

    #[test]
    fn writes_a_configuration_the_agent_reads() {
        let mut r = Router::new("n1", 4200000001, Ipv4Addr::new(198, 18, 0, 1));
        let mut n = Neighbor::new(
            "tor",
            "198.18.0.2".parse().unwrap(),
            "198.18.0.1".parse().unwrap(),
            65001,
        );
        n.password = Some("pw".into());
        n.ttl_security = true;
        r.neighbors.push(n);
        let mut route = Route::new(prefix("198.19.1.0/24"));
        route.communities.push((65001, 42));
        route.large_communities.push((65001, 1, 2));
        route.med = Some(5);
        r.originate.push(route);
        let options = AgentOptions {
            graceful_restart: Some(30),
            max_paths: 2,
            ..AgentOptions::default()
        };
        let text = config(&r, &options, Path::new("/tmp/x.sock"));
        let expected = "local_asn: 4200000001
router_id: 198.18.0.1
decision:
  max_paths_ebgp: 2
  max_paths_ibgp: 2
  as_path_relax: true
neighbors:
  - address: 198.18.0.2
    asn: 65001
    description: tor
    source_address: 198.18.0.1
    password: \"pw\"
    gtsm: true
    timers:
      hold: 9
      keepalive: 3
      connect_retry: 1
    graceful_restart:
      enabled: true
      restart_time: 30
    families:
      - family: ipv4-unicast
    import_policy: accept-all
    export_policy: accept-all
originate:
  - prefix: 198.19.1.0/24
    communities: [\"65001:42\"]
    large_communities: [\"65001:1:2\"]
    med: 5
fib:
  install: true
  protocol: 84
  keep_on_exit: true
api:
  socket: /tmp/x.sock
logging:
  level: info
";
        assert_eq!(text, expected);
    }
}
