//! FRR 8 (`frr`): zebra and bgpd inside a namespace, each with its own
//! configuration, PID file, zserv socket and vty socket directory, run as
//! the packaged `frr` user; its view through `vtysh ... json`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::capability::{self, Capabilities, Capability, FamilyKey};
use crate::cmd::{self, file_tail};
use crate::error::{Error, Result};
use crate::netns::{Lab, Ns};
use crate::peer::{Daemon, Peer};
use crate::router::{BgpRoute, Family, LastError, Prefix, Router, SessionState};
use crate::wait;

/// The zebra binary of the Debian package.
pub const ZEBRA: &str = "/usr/lib/frr/zebra";
/// The bgpd binary of the Debian package.
pub const BGPD: &str = "/usr/lib/frr/bgpd";

/// A running FRR (zebra and bgpd).
#[derive(Debug)]
pub struct Frr {
    router: Router,
    dir: PathBuf,
}

fn afi(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// bgpd's configuration for `router`. RFC 8212's default (no eBGP routes
/// without policy) is switched off: every router imports and exports
/// everything. Originated routes are `network` statements whose route-maps
/// set their attributes (`no bgp network import-check`: no IGP route needed).
pub fn config(router: &Router, log: &Path) -> String {
    let mut c = String::new();
    c.push_str("frr defaults traditional\n");
    let _ = writeln!(c, "hostname {}", router.name);
    let _ = writeln!(c, "log file {}", log.display());
    c.push_str("!\n");
    let _ = writeln!(c, "router bgp {}", router.asn);
    let _ = writeln!(c, " bgp router-id {}", router.router_id);
    c.push_str(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n");
    c.push_str(" no bgp network import-check\n");
    if let Some(id) = router.cluster_id {
        let _ = writeln!(c, " bgp cluster-id {id}");
    }
    for n in &router.neighbors {
        let a = n.address;
        let _ = writeln!(c, " neighbor {a} remote-as {}", n.asn);
        let _ = writeln!(c, " neighbor {a} update-source {}", n.local_address);
        let _ = writeln!(
            c,
            " neighbor {a} timers connect {}",
            n.connect_retry.as_secs().max(1)
        );
        let _ = writeln!(
            c,
            " neighbor {a} timers {} {}",
            n.keepalive(),
            n.hold_time.as_secs()
        );
        if n.passive {
            let _ = writeln!(c, " neighbor {a} passive");
        }
        if let Some(password) = &n.password {
            let _ = writeln!(c, " neighbor {a} password {password}");
        }
        if let Some(ttl) = n.multihop {
            let _ = writeln!(c, " neighbor {a} ebgp-multihop {ttl}");
        }
        if n.ttl_security {
            let _ = writeln!(c, " neighbor {a} ttl-security hops 1");
        }
    }
    for family in [Family::Ipv4, Family::Ipv6] {
        let _ = writeln!(c, " address-family {} unicast", afi(family));
        for (i, route) in router.originate.iter().enumerate() {
            if route.prefix.family() == family {
                let _ = writeln!(c, "  network {} route-map originate{i}", route.prefix);
            }
        }
        for n in router
            .neighbors
            .iter()
            .filter(|n| n.families.contains(&family))
        {
            let _ = writeln!(c, "  neighbor {} activate", n.address);
            if n.route_reflector_client {
                let _ = writeln!(c, "  neighbor {} route-reflector-client", n.address);
            }
        }
        c.push_str(" exit-address-family\n");
    }
    c.push_str("!\n");
    for (i, route) in router.originate.iter().enumerate() {
        let _ = writeln!(c, "route-map originate{i} permit 10");
        if !route.communities.is_empty() {
            let list: Vec<String> = route
                .communities
                .iter()
                .map(|(a, v)| format!("{a}:{v}"))
                .collect();
            let _ = writeln!(c, " set community {}", list.join(" "));
        }
        if !route.large_communities.is_empty() {
            let list: Vec<String> = route
                .large_communities
                .iter()
                .map(|(g, l1, l2)| format!("{g}:{l1}:{l2}"))
                .collect();
            let _ = writeln!(c, " set large-community {}", list.join(" "));
        }
        if let Some(med) = route.med {
            let _ = writeln!(c, " set metric {med}");
        }
        if let Some(lp) = route.local_pref {
            let _ = writeln!(c, " set local-preference {lp}");
        }
        c.push_str("!\n");
    }
    c
}

impl Frr {
    /// Writes the configurations into a runtime directory owned by `frr`,
    /// starts zebra, waits for its zserv socket, starts bgpd, and waits
    /// until bgpd's vty answers.
    pub fn start(lab: &mut Lab, ns: &Ns, router: Router) -> Result<Frr> {
        let dir = lab.dir().join(format!("frr-{}", router.name));
        let io = |what: String| move |source| Error::Io { what, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let zebra_conf = dir.join("zebra.conf");
        let bgpd_conf = dir.join("bgpd.conf");
        std::fs::write(&zebra_conf, format!("hostname {}\n", router.name))
            .map_err(io(format!("cannot write {}", zebra_conf.display())))?;
        std::fs::write(&bgpd_conf, config(&router, &dir.join("bgpd.log")))
            .map_err(io(format!("cannot write {}", bgpd_conf.display())))?;
        // As root the daemons exit ("not part of vty group frrvty").
        cmd::run("chown", ["-R", "frr:frr", dir.to_str().unwrap_or_default()])?;
        let frr = Frr { router, dir };
        let common = |daemon: &str, conf: &Path| -> Vec<String> {
            let d = frr.dir.display();
            vec![
                "-u".into(),
                "frr".into(),
                "-g".into(),
                "frr".into(),
                "-z".into(),
                format!("{d}/zserv.api"),
                "-i".into(),
                format!("{d}/{daemon}.pid"),
                "--vty_socket".into(),
                d.to_string(),
                "-P".into(),
                "0".into(),
                "-f".into(),
                conf.display().to_string(),
            ]
        };
        let zebra_label = format!("zebra-{}", frr.router.name);
        lab.spawn(ns, &zebra_label, ZEBRA, &common("zebra", &zebra_conf), &[])?;
        let zserv = frr.dir.join("zserv.api");
        wait::until(
            &format!("FRR {}: zebra's zserv socket", frr.router.name),
            Duration::from_secs(10),
            || {
                if let Some(p) = lab.process(&zebra_label) {
                    p.check_running()?;
                }
                Ok(zserv.exists().then_some(()))
            },
            || frr.view(),
        )?;
        let bgpd_label = format!("bgpd-{}", frr.router.name);
        lab.spawn(ns, &bgpd_label, BGPD, &common("bgpd", &bgpd_conf), &[])?;
        wait::until(
            &format!("FRR {}: bgpd's vty", frr.router.name),
            Duration::from_secs(10),
            || {
                if let Some(p) = lab.process(&bgpd_label) {
                    p.check_running()?;
                }
                Ok(frr.vtysh("show bgp summary json").ok().map(|_| ()))
            },
            || frr.view(),
        )?;
        Ok(frr)
    }

    /// Runs one `vtysh` command against this instance's daemons.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        cmd::run(
            "vtysh",
            [
                "--vty_socket",
                self.dir.to_str().unwrap_or_default(),
                "-c",
                command,
            ],
        )
    }

    /// Runs configuration commands under `router bgp ASN`.
    pub fn configure_bgp(&self, lines: &[&str]) -> Result<()> {
        let router = format!("router bgp {}", self.router.asn);
        let mut args = vec![
            "--vty_socket",
            self.dir.to_str().unwrap_or_default(),
            "-c",
            "configure terminal",
            "-c",
            &router,
        ];
        for line in lines {
            args.extend(["-c", line]);
        }
        let out = cmd::run("vtysh", args)?;
        // vtysh reports a rejected line on standard output, exit status 0.
        if out.contains('%') {
            return Err(Error::Command {
                command: format!("vtysh: {router}: {lines:?}"),
                status: "rejected".into(),
                stderr: out,
            });
        }
        Ok(())
    }

    /// Runs a `... json` command and parses its answer.
    pub fn vtysh_json(&self, command: &str) -> Result<Value> {
        cmd::json(&format!("vtysh -c '{command}'"), &self.vtysh(command)?)
    }

    /// `show bgp neighbors ADDR json`, the object for that neighbour.
    pub fn neighbor_json(&self, neighbor: IpAddr) -> Result<Value> {
        let value = self.vtysh_json(&format!("show bgp neighbors {neighbor} json"))?;
        match value.get(neighbor.to_string()) {
            Some(n) => Ok(n.clone()),
            None => Err(Error::Parse {
                what: format!("FRR neighbour {neighbor}"),
                detail: "not in the answer".into(),
                output: value.to_string(),
            }),
        }
    }
}

/// Reads the best path of `show bgp ipv4|ipv6 unicast PREFIX json`.
pub fn parse_route(prefix: Prefix, value: &Value) -> Result<Option<BgpRoute>> {
    let Some(paths) = value["paths"].as_array() else {
        return Ok(None);
    };
    let Some(best) = paths
        .iter()
        .find(|p| p["bestpath"]["overall"].as_bool() == Some(true))
        .or_else(|| paths.first())
    else {
        return Ok(None);
    };
    let bad = |detail: String| Error::Parse {
        what: format!("FRR route {prefix}"),
        detail,
        output: best.to_string(),
    };
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let mut route = BgpRoute {
        prefix: Some(prefix),
        ..BgpRoute::default()
    };
    for segment in best["aspath"]["segments"].as_array().into_iter().flatten() {
        for asn in segment["list"].as_array().into_iter().flatten() {
            route
                .as_path
                .push(number(asn).ok_or_else(|| bad(format!("AS {asn}")))?);
        }
    }
    route.next_hop = best["nexthops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["scope"].as_str() != Some("link-local"))
        .find_map(|n| n["ip"].as_str()?.parse().ok());
    route.med = number(&best["metric"]);
    route.originator_id = best["originatorId"].as_str().and_then(|s| s.parse().ok());
    route.cluster_list = best["clusterList"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str()?.parse().ok())
        .collect();
    route.local_pref = number(&best["locPrf"]);
    for c in best["community"]["list"].as_array().into_iter().flatten() {
        let text = c.as_str().unwrap_or_default();
        // Well-known communities are printed by name; only `a:b` is kept.
        if let Some((a, v)) = text.split_once(':') {
            if let (Ok(a), Ok(v)) = (a.parse(), v.parse()) {
                route.communities.push((a, v));
            }
        }
    }
    for c in best["largeCommunity"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let text = c.as_str().unwrap_or_default();
        let parts: Vec<u32> = text.split(':').filter_map(|p| p.parse().ok()).collect();
        match parts[..] {
            [g, l1, l2] => route.large_communities.push((g, l1, l2)),
            _ => return Err(bad(format!("large community {text}"))),
        }
    }
    Ok(Some(route))
}

/// Reads `neighborCapabilities` of `show bgp neighbors ADDR json`: a
/// string per capability (`advertised`, `received`,
/// `advertisedAndReceived...`), an object per family for multiprotocol and
/// ADD-PATH, and the advertised/received hostnames.
pub fn parse_capabilities(value: &Value) -> Capabilities {
    let mut caps = Capabilities::default();
    let Some(object) = value.as_object() else {
        return caps;
    };
    let mut add = |c: Capability, advertised: bool, received: bool| {
        if advertised {
            caps.advertised.insert(c);
        }
        if received {
            caps.received.insert(c);
        }
    };
    let says = |v: &Value, word: &str| match v {
        Value::String(s) => s.to_ascii_lowercase().contains(word),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| k.to_ascii_lowercase().contains(word) && v.as_bool() != Some(false)),
        _ => false,
    };
    for (key, v) in object {
        if key == "multiprotocolExtensions" {
            for (af, flags) in v.as_object().into_iter().flatten() {
                let family = match af.as_str() {
                    "ipv4Unicast" => FamilyKey::Ipv4,
                    "ipv6Unicast" => FamilyKey::Ipv6,
                    _ => continue,
                };
                add(
                    Capability::MultiProtocol(family),
                    says(flags, "advertised"),
                    says(flags, "received"),
                );
            }
        } else if key == "hostName" {
            add(
                Capability::Hostname,
                v.get("advHostName").is_some(),
                v.get("rcvHostName").is_some(),
            );
        } else if let Some(c) = capability::from_frr_key(key) {
            let per_family: Vec<&Value> = match v {
                Value::Object(o) => o.values().collect(),
                other => vec![other],
            };
            add(
                c,
                per_family.iter().any(|v| says(v, "advertised")),
                per_family.iter().any(|v| says(v, "received")),
            );
        }
    }
    caps
}

impl Peer for Frr {
    fn daemon(&self) -> Daemon {
        Daemon::Frr
    }

    fn router(&self) -> &Router {
        &self.router
    }

    fn session_state(&self, neighbor: IpAddr) -> Result<SessionState> {
        let n = self.neighbor_json(neighbor)?;
        let state = n["bgpState"].as_str().unwrap_or_default();
        SessionState::parse(state).ok_or_else(|| Error::Parse {
            what: "FRR bgpState".into(),
            detail: format!("unknown state {state:?}"),
            output: n.to_string(),
        })
    }

    fn route(&self, prefix: Prefix) -> Result<Option<BgpRoute>> {
        let value = self.vtysh_json(&format!(
            "show bgp {} unicast {prefix} json",
            afi(prefix.family())
        ))?;
        parse_route(prefix, &value)
    }

    fn capabilities(&self, neighbor: IpAddr) -> Result<Capabilities> {
        let n = self.neighbor_json(neighbor)?;
        Ok(parse_capabilities(&n["neighborCapabilities"]))
    }

    fn request_refresh(&self, neighbor: IpAddr) -> Result<()> {
        self.vtysh(&format!("clear bgp {neighbor} soft in"))
            .map(|_| ())
    }

    fn last_error(&self, neighbor: IpAddr) -> Result<Option<LastError>> {
        let n = self.neighbor_json(neighbor)?;
        let Some(due_to) = n["lastResetDueTo"].as_str() else {
            return Ok(None);
        };
        // `lastErrorCodeSubcode`: four hex digits, code then subcode.
        let code = n["lastErrorCodeSubcode"]
            .as_str()
            .filter(|s| s.len() == 4)
            .and_then(|s| {
                Some((
                    u8::from_str_radix(s.get(..2)?, 16).ok()?,
                    u8::from_str_radix(s.get(2..)?, 16).ok()?,
                ))
            });
        let text = n["lastNotificationReason"]
            .as_str()
            .unwrap_or(due_to)
            .to_owned();
        Ok(Some(LastError {
            text,
            code,
            shutdown_message: n["lastShutdownDescription"].as_str().map(str::to_owned),
        }))
    }

    fn shutdown(&self, neighbor: IpAddr, message: &str) -> Result<()> {
        self.configure_bgp(&[&format!("neighbor {neighbor} shutdown message {message}")])
    }

    fn enable(&self, neighbor: IpAddr) -> Result<()> {
        self.configure_bgp(&[&format!("no neighbor {neighbor} shutdown")])
    }

    fn view(&self) -> String {
        let summary = self
            .vtysh("show bgp summary")
            .unwrap_or_else(|e| e.to_string());
        format!(
            "--- FRR {} `show bgp summary` ---\n{summary}\n--- FRR {} bgpd log ---\n{}\n--- zebra ---\n{}",
            self.router.name,
            self.router.name,
            file_tail(&self.dir.join("bgpd.log"), 15),
            file_tail(&self.dir.join("..").join(format!("zebra-{}.log", self.router.name)), 5),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    #[test]
    fn parses_capabilities() {
        let value: Value = serde_json::from_str(
            r#"{"4byteAs":"advertisedAndReceived",
            "addPath":{"ipv4Unicast":{"rxAdvertised":true},"ipv6Unicast":{"rxAdvertised":true}},
            "addressFamiliesByPeer":"none","enhancedRouteRefresh":"advertisedAndReceived",
            "extendedMessage":"advertised","gracefulRestart":"received",
            "gracefulRestartRemoteTimerMsecs":120000,
            "hostName":{"advDomainName":"n/a","advHostName":"r2"},
            "multiprotocolExtensions":{"ipv4Unicast":{"advertisedAndReceived":true},
                                       "ipv6Unicast":{"advertised":true}},
            "routeRefresh":"advertisedAndReceivedNew"}"#,
        )
        .unwrap();
        let caps = parse_capabilities(&value);
        assert_eq!(
            caps.advertised,
            [
                MultiProtocol(FamilyKey::Ipv4),
                MultiProtocol(FamilyKey::Ipv6),
                RouteRefresh,
                ExtendedMessage,
                FourOctetAs,
                AddPath,
                EnhancedRouteRefresh,
                Hostname
            ]
            .into()
        );
        assert_eq!(
            caps.received,
            [
                MultiProtocol(FamilyKey::Ipv4),
                RouteRefresh,
                GracefulRestart,
                FourOctetAs,
                EnhancedRouteRefresh
            ]
            .into()
        );
    }
}
