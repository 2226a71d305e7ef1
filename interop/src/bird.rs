//! BIRD 2 (`bird2`): configuration from a [`Router`], start, and its view
//! through `birdc` (`show protocols all NAME`, `show route PREFIX all`).
//!
//! BIRD has no JSON output; its `birdc` text is stable and line-oriented,
//! and is parsed here field by field.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::capability::{self, Capabilities, Capability, FamilyKey};
use crate::cmd::{self, file_tail};
use crate::error::{Error, Result};
use crate::netns::{Lab, Ns};
use crate::peer::{Daemon, Peer};
use crate::router::{
    AddPath, BgpRoute, Family, LastError, Prefix, Router, SessionState, UnknownAttribute,
};
use crate::wait;

/// A running BIRD.
#[derive(Debug)]
pub struct Bird {
    router: Router,
    socket: PathBuf,
    log: PathBuf,
    pid: u32,
}

/// The BIRD protocol name of neighbour `name` (prefixed: a bare name may
/// be a keyword of BIRD's configuration language, like `rr`).
pub fn protocol_name(name: &str) -> String {
    format!("peer_{name}")
}

/// BIRD's configuration for `router`: `protocol device` (without it a BGP
/// session stays Idle), kernel protocols that install learned BGP routes,
/// static protocols for the originated routes (blackholes carrying their
/// attributes), and one `protocol bgp` per neighbour.
pub fn config(router: &Router, log: &std::path::Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "router id {};", router.router_id);
    let _ = writeln!(c, "log \"{}\" all;", log.display());
    c.push_str("protocol device { scan time 10; }\n");
    for (family, channel) in [(Family::Ipv4, "ipv4"), (Family::Ipv6, "ipv6")] {
        let _ = writeln!(
            c,
            "protocol kernel kernel_{channel} {{ {channel} {{ import none; export where source = RTS_BGP; }}; }}"
        );
        let routes: Vec<_> = router
            .originate
            .iter()
            .filter(|r| r.prefix.family() == family)
            .collect();
        if routes.is_empty() {
            continue;
        }
        let _ = writeln!(c, "protocol static static_{channel} {{\n  {channel};");
        for route in routes {
            let _ = write!(c, "  route {} blackhole {{", route.prefix);
            for (asn, value) in &route.communities {
                let _ = write!(c, " bgp_community.add(({asn},{value}));");
            }
            for (g, l1, l2) in &route.large_communities {
                let _ = write!(c, " bgp_large_community.add(({g},{l1},{l2}));");
            }
            if let Some(med) = route.med {
                let _ = write!(c, " bgp_med = {med};");
            }
            if let Some(lp) = route.local_pref {
                let _ = write!(c, " bgp_local_pref = {lp};");
            }
            c.push_str(" };\n");
        }
        c.push_str("}\n");
    }
    for n in &router.neighbors {
        let _ = writeln!(c, "protocol bgp {} {{", protocol_name(&n.name));
        let _ = writeln!(c, "  local {} as {};", n.local_address, router.asn);
        let _ = writeln!(c, "  neighbor {} as {};", n.address, n.asn);
        if n.asn == router.asn && n.multihop.is_none() {
            // iBGP defaults to multihop with recursive next hops.
            c.push_str("  direct;\n");
        }
        if n.passive {
            c.push_str("  passive on;\n");
        }
        if let Some(password) = &n.password {
            let _ = writeln!(c, "  password \"{password}\";");
        }
        if let Some(ttl) = n.multihop {
            let _ = writeln!(c, "  multihop {ttl};");
        }
        if n.ttl_security {
            c.push_str("  ttl security on;\n");
        }
        if n.route_reflector_client {
            c.push_str("  rr client;\n");
            if let Some(id) = router.cluster_id {
                let _ = writeln!(c, "  rr cluster id {id};");
            }
        }
        let _ = writeln!(
            c,
            "  connect delay time 1; connect retry time {}; hold time {}; keepalive time {}; error wait time 1,5;",
            n.connect_retry.as_secs().max(1),
            n.hold_time.as_secs(),
            n.keepalive()
        );
        for family in &n.families {
            let channel = match family {
                Family::Ipv4 => "ipv4",
                Family::Ipv6 => "ipv6",
            };
            let add_paths = match n.add_path {
                AddPath::Off => "",
                AddPath::Send => " add paths tx;",
                AddPath::Receive => " add paths rx;",
                AddPath::Both => " add paths on;",
            };
            let _ = writeln!(c, "  {channel} {{ import all; export all;{add_paths} }};");
        }
        c.push_str("}\n");
    }
    c
}

impl Bird {
    /// Writes `router`'s configuration, starts `bird -f` in `ns`, and waits
    /// until its control socket answers.
    pub fn start(lab: &mut Lab, ns: &Ns, router: Router) -> Result<Bird> {
        let base = lab.dir().join(format!("bird-{}", router.name));
        let conf = base.with_extension("conf");
        let socket = base.with_extension("ctl");
        let log = base.with_extension("log");
        std::fs::write(&conf, config(&router, &log)).map_err(|source| Error::Io {
            what: format!("cannot write {}", conf.display()),
            source,
        })?;
        let args = [
            "-f".to_owned(),
            "-c".to_owned(),
            conf.display().to_string(),
            "-s".to_owned(),
            socket.display().to_string(),
            "-P".to_owned(),
            base.with_extension("pid").display().to_string(),
        ];
        let label = format!("bird-{}", router.name);
        let pid = lab.spawn(ns, &label, "bird", &args, &[])?;
        let bird = Bird {
            router,
            socket,
            log,
            pid,
        };
        wait::until(
            &format!("BIRD {}: control socket", bird.router.name),
            Duration::from_secs(10),
            || {
                if let Some(p) = lab.process(&label) {
                    p.check_running()?;
                }
                Ok(bird.birdc(&["show", "status"]).ok().map(|_| ()))
            },
            || bird.view(),
        )?;
        Ok(bird)
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Runs `birdc -s SOCKET args...`.
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-s", self.socket.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        cmd::run("birdc", all)
    }

    /// The protocol name of the neighbour at `neighbor`.
    fn protocol(&self, neighbor: IpAddr) -> Result<String> {
        self.router
            .neighbor(neighbor)
            .map(|n| protocol_name(&n.name))
            .ok_or_else(|| {
                Error::Assertion(format!(
                    "BIRD {} has no neighbour {neighbor}",
                    self.router.name
                ))
            })
    }

    /// `show protocols all NAME`, parsed into `field: value` pairs (a line
    /// without a colon is a field with an empty value).
    pub fn protocol_details(&self, neighbor: IpAddr) -> Result<Vec<(String, String)>> {
        let out = self.birdc(&["show", "protocols", "all", &self.protocol(neighbor)?])?;
        Ok(out
            .lines()
            .skip(1)
            .map(|line| line.split_once(':').unwrap_or((line, "")))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect())
    }
}

/// Parses the first (best) route of `show route PREFIX all`.
pub fn parse_route(prefix: Prefix, out: &str) -> Result<Option<BgpRoute>> {
    if out.contains("Network not found") {
        return Ok(None);
    }
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with(&prefix.to_string()));
    if lines.next().is_none() {
        return Ok(None);
    }
    let bad = |detail: String| Error::Parse {
        what: format!("BIRD route {prefix}"),
        detail,
        output: out.to_owned(),
    };
    let number = |v: &str| v.parse::<u32>().map_err(|e| bad(format!("{v}: {e}")));
    let mut route = BgpRoute {
        prefix: Some(prefix),
        ..BgpRoute::default()
    };
    for line in lines.take_while(|l| l.starts_with('\t')) {
        let Some((key, value)) = line.trim().split_once(": ") else {
            continue;
        };
        match key {
            "BGP.as_path" => {
                route.as_path = value
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|s| !s.is_empty())
                    .map(number)
                    .collect::<Result<_>>()?;
            }
            "BGP.next_hop" => {
                let first = value.split_whitespace().next().unwrap_or_default();
                route.next_hop = Some(
                    first
                        .parse()
                        .map_err(|_| bad(format!("next hop {value}")))?,
                );
            }
            "BGP.med" => route.med = Some(number(value)?),
            "BGP.originator_id" => {
                route.originator_id = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("originator {value}")))?,
                );
            }
            "BGP.cluster_list" => {
                route.cluster_list = value
                    .split_whitespace()
                    .map(|id| id.parse().map_err(|_| bad(format!("cluster list {value}"))))
                    .collect::<Result<_>>()?;
            }
            "BGP.local_pref" => route.local_pref = Some(number(value)?),
            "BGP.community" => {
                for c in value.split_whitespace() {
                    let (a, b) = c
                        .trim_matches(['(', ')'])
                        .split_once(',')
                        .ok_or_else(|| bad(format!("community {c}")))?;
                    let a = a.parse().map_err(|_| bad(format!("community {c}")))?;
                    let b = b.parse().map_err(|_| bad(format!("community {c}")))?;
                    route.communities.push((a, b));
                }
            }
            "BGP.large_community" => {
                for c in value.split(')').filter(|s| !s.trim().is_empty()) {
                    let parts: Vec<u32> = c
                        .trim()
                        .trim_start_matches('(')
                        .split(',')
                        .map(|p| number(p.trim()))
                        .collect::<Result<_>>()?;
                    match parts[..] {
                        [g, l1, l2] => route.large_communities.push((g, l1, l2)),
                        _ => return Err(bad(format!("large community {c}"))),
                    }
                }
            }
            // An unknown attribute: `BGP.c8 [t]: 01 02 03 04`.
            other => {
                let code = other
                    .strip_prefix("BGP.")
                    .and_then(|k| k.strip_suffix(" [t]").or(Some(k)))
                    .filter(|k| k.len() == 2)
                    .and_then(|k| u8::from_str_radix(k, 16).ok());
                if let Some(code) = code {
                    let value = value
                        .split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16))
                        .collect::<Result<Vec<u8>, _>>()
                        .map_err(|_| bad(format!("attribute {other}: {value}")))?;
                    route.unknown.push(UnknownAttribute {
                        code,
                        flags: None,
                        value,
                    });
                }
            }
        }
    }
    Ok(Some(route))
}

/// Reads the `Local capabilities` and `Neighbor capabilities` sections of
/// `show protocols all NAME`: one item per line, one level deeper than the
/// section; `AF announced: ipv4 ipv6` under `Multiprotocol`.
pub fn parse_capabilities(out: &str) -> Capabilities {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut caps = Capabilities::default();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        let set = match line.trim() {
            "Local capabilities" => &mut caps.advertised,
            "Neighbor capabilities" => &mut caps.received,
            _ => continue,
        };
        let section = indent(line);
        let mut item = "";
        while let Some(next) = lines.next_if(|l| indent(l) > section) {
            let text = next.trim();
            if indent(next) == section + 2 {
                item = text;
                if let Some(c) = capability::from_bird_name(text) {
                    set.insert(c);
                }
            } else if item == "Multiprotocol" {
                if let Some(families) = text.strip_prefix("AF announced:") {
                    for family in families.split_whitespace() {
                        match family {
                            "ipv4" => set.insert(Capability::MultiProtocol(FamilyKey::Ipv4)),
                            "ipv6" => set.insert(Capability::MultiProtocol(FamilyKey::Ipv6)),
                            _ => false,
                        };
                    }
                }
            }
        }
    }
    caps
}

impl Peer for Bird {
    fn daemon(&self) -> Daemon {
        Daemon::Bird
    }

    fn router(&self) -> &Router {
        &self.router
    }

    fn session_state(&self, neighbor: IpAddr) -> Result<SessionState> {
        let details = self.protocol_details(neighbor)?;
        let state = details
            .iter()
            .find(|(k, _)| k == "BGP state")
            .map(|(_, v)| v.as_str())
            .unwrap_or("Idle");
        SessionState::parse(state).ok_or_else(|| Error::Parse {
            what: "BIRD BGP state".into(),
            detail: format!("unknown state {state}"),
            output: state.into(),
        })
    }

    fn route(&self, prefix: Prefix) -> Result<Option<BgpRoute>> {
        match self.birdc(&["show", "route", &prefix.to_string(), "all"]) {
            Ok(out) => parse_route(prefix, &out),
            // birdc exits 1 on an error reply, "Network not found" included.
            Err(Error::Command { stderr, .. }) if stderr.contains("Network not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn capabilities(&self, neighbor: IpAddr) -> Result<Capabilities> {
        let out = self.birdc(&["show", "protocols", "all", &self.protocol(neighbor)?])?;
        Ok(parse_capabilities(&out))
    }

    fn request_refresh(&self, neighbor: IpAddr) -> Result<()> {
        self.birdc(&["reload", "in", &self.protocol(neighbor)?])
            .map(|_| ())
    }

    fn last_error(&self, neighbor: IpAddr) -> Result<Option<LastError>> {
        let details = self.protocol_details(neighbor)?;
        let field = |name: &str| {
            details
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        // A session that went down without a NOTIFICATION from a
        // neighbour that advertised graceful restart (RFC 4724) shows no
        // error, only the restart in progress.
        let restart = details
            .iter()
            .any(|(k, _)| k == "Neighbor graceful restart active")
            .then(|| "Neighbor graceful restart active".to_owned());
        let text = field("Last error").or(restart);
        let shutdown_message = field("Message");
        if text.is_none() && shutdown_message.is_none() {
            return Ok(None);
        }
        Ok(Some(LastError {
            text: text.unwrap_or_default(),
            code: None,
            shutdown_message,
        }))
    }

    fn shutdown(&self, neighbor: IpAddr, message: &str) -> Result<()> {
        let name = self.protocol(neighbor)?;
        self.birdc(&["disable", &name, &format!("\"{message}\"")])
            .map(|_| ())
    }

    fn enable(&self, neighbor: IpAddr) -> Result<()> {
        self.birdc(&["enable", &self.protocol(neighbor)?])
            .map(|_| ())
    }

    fn view(&self) -> String {
        let protocols = self
            .birdc(&["show", "protocols"])
            .unwrap_or_else(|e| e.to_string());
        format!(
            "--- BIRD {} `show protocols` ---\n{protocols}\n--- BIRD {} log ---\n{}",
            self.router.name,
            self.router.name,
            file_tail(&self.log, 15)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::prefix;

    #[test]
    fn parses_the_best_route_of_show_route_all() {
        let out = "BIRD 2.0.12 ready.\nTable master4:\n\
198.51.100.0/24      unicast [exa 02:04:36.751] * (100) [AS65004i]\n\
\tvia 198.18.2.2 on eth-d\n\tType: BGP univ\n\tBGP.origin: IGP\n\
\tBGP.as_path: 65004 4200000000\n\tBGP.next_hop: 198.18.2.2\n\tBGP.med: 7\n\
\tBGP.local_pref: 100\n\tBGP.community: (65004,7) (65535,65281)\n\
\tBGP.large_community: (65001, 1, 2) (4200000000, 3, 4)\n\
\tBGP.c8 [t]: 01 02 0a ff\n\
\tBGP.originator_id: 198.18.0.9\n\tBGP.cluster_list: 198.18.250.250 198.18.0.7\n\
                     unicast [other 02:04:36.751] (100) [AS65009i]\n\
\tBGP.as_path: 65009\n";
        let route = parse_route(prefix("198.51.100.0/24"), out)
            .unwrap()
            .unwrap();
        assert_eq!(route.as_path, vec![65004, 4_200_000_000]);
        assert_eq!(route.next_hop, Some("198.18.2.2".parse().unwrap()));
        assert_eq!(route.med, Some(7));
        assert_eq!(route.local_pref, Some(100));
        assert_eq!(route.communities, vec![(65004, 7), (65535, 65281)]);
        assert_eq!(
            route.large_communities,
            vec![(65001, 1, 2), (4_200_000_000, 3, 4)]
        );
        assert_eq!(route.originator_id, Some("198.18.0.9".parse().unwrap()));
        assert_eq!(
            route.cluster_list,
            [
                "198.18.250.250".parse::<std::net::Ipv4Addr>().unwrap(),
                "198.18.0.7".parse().unwrap()
            ]
        );
        assert_eq!(
            route.unknown,
            vec![UnknownAttribute {
                code: 0xc8,
                flags: None,
                value: vec![1, 2, 0x0a, 0xff]
            }]
        );
    }

    #[test]
    fn parses_capabilities() {
        let out = [
            "BIRD 2.0.12 ready.",
            "frr        BGP        ---        up     02:21:04.832  Established",
            "  BGP state:          Established",
            "    Local capabilities",
            "      Multiprotocol",
            "        AF announced: ipv4 ipv6",
            "      Route refresh",
            "      4-octet AS numbers",
            "    Neighbor capabilities",
            "      Multiprotocol",
            "        AF announced: ipv4",
            "      ADD-PATH",
            "        RX: ipv4 ipv6",
            "      Hostname: r2",
            "    Session:          external AS4",
        ]
        .join("\n");
        let caps = parse_capabilities(&out);
        use Capability::*;
        assert_eq!(
            caps.advertised,
            [
                MultiProtocol(FamilyKey::Ipv4),
                MultiProtocol(FamilyKey::Ipv6),
                RouteRefresh,
                FourOctetAs
            ]
            .into()
        );
        assert_eq!(
            caps.received,
            [MultiProtocol(FamilyKey::Ipv4), AddPath, Hostname].into()
        );
    }

    #[test]
    fn a_missing_network_is_no_route() {
        let out = "BIRD 2.0.12 ready.\nNetwork not found\n";
        assert_eq!(parse_route(prefix("198.51.100.0/24"), out).unwrap(), None);
    }
}
