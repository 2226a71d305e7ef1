//! GoBGP (`gobgpd`): a BGP peer only (it has no kernel code of its own).
//! Configuration from a [`Router`] as TOML, originated routes through
//! `gobgp global rib add`, its view through `gobgp ... -j`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use std::collections::BTreeSet;

use crate::capability::{self, Capabilities, Capability};
use crate::cmd::{self, file_tail};
use crate::error::{Error, Result};
use crate::netns::{Lab, Ns};
use crate::peer::{Daemon, Peer};
use crate::router::{BgpRoute, Family, LastError, Prefix, Router, SessionState, UnknownAttribute};
use crate::wait;

/// The gRPC API port, on the namespace's own loopback.
pub const API_PORT: u16 = 50051;

/// A running gobgpd.
#[derive(Debug)]
pub struct GoBgp {
    router: Router,
    ns: Ns,
    log: PathBuf,
}

fn afi_safi(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4-unicast",
        Family::Ipv6 => "ipv6-unicast",
    }
}

/// gobgpd's TOML configuration for `router` (routes are added after start).
pub fn config(router: &Router) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = 179",
        router.asn, router.router_id
    );
    for n in &router.neighbors {
        let _ = writeln!(
            c,
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}",
            n.address, n.asn
        );
        if let Some(password) = &n.password {
            let _ = writeln!(c, "    auth-password = \"{password}\"");
        }
        let _ = writeln!(
            c,
            "  [neighbors.transport.config]\n    local-address = \"{}\"\n    passive-mode = {}",
            n.local_address, n.passive
        );
        if let Some(ttl) = n.multihop {
            let _ = writeln!(
                c,
                "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = {ttl}"
            );
        }
        if n.route_reflector_client {
            let _ = writeln!(
                c,
                "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = \"{}\"",
                router.cluster_id.unwrap_or(router.router_id)
            );
        }
        if n.ttl_security {
            c.push_str(
                "  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n",
            );
        }
        let _ = writeln!(
            c,
            "  [neighbors.timers.config]\n    connect-retry = {}\n    hold-time = {}\n    keepalive-interval = {}",
            n.connect_retry.as_secs().max(1),
            n.hold_time.as_secs(),
            n.keepalive()
        );
        for family in &n.families {
            let _ = writeln!(
                c,
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{}\"",
                afi_safi(*family)
            );
        }
    }
    c
}

impl GoBgp {
    /// Writes the configuration, starts gobgpd in `ns` with its API on the
    /// namespace's loopback, waits until the API answers, and adds the
    /// originated routes.
    pub fn start(lab: &mut Lab, ns: &Ns, router: Router) -> Result<GoBgp> {
        let conf = lab.dir().join(format!("gobgp-{}.toml", router.name));
        std::fs::write(&conf, config(&router)).map_err(|source| Error::Io {
            what: format!("cannot write {}", conf.display()),
            source,
        })?;
        let label = format!("gobgpd-{}", router.name);
        let args = [
            "-f".to_owned(),
            conf.display().to_string(),
            "--api-hosts".to_owned(),
            format!("127.0.0.1:{API_PORT}"),
            "--pprof-disable".to_owned(),
        ];
        lab.spawn(ns, &label, "gobgpd", &args, &[])?;
        let gobgp = GoBgp {
            router,
            ns: ns.clone(),
            log: lab.dir().join(format!("{label}.log")),
        };
        wait::until(
            &format!("GoBGP {}: API", gobgp.router.name),
            Duration::from_secs(15),
            || {
                if let Some(p) = lab.process(&label) {
                    p.check_running()?;
                }
                Ok(gobgp.gobgp(&["global"]).ok().map(|_| ()))
            },
            || gobgp.view(),
        )?;
        for route in &gobgp.router.originate {
            let family = match route.prefix.family() {
                Family::Ipv4 => "ipv4",
                Family::Ipv6 => "ipv6",
            };
            let mut args = vec![
                "global".to_owned(),
                "rib".into(),
                "-a".into(),
                family.into(),
                "add".into(),
                route.prefix.to_string(),
            ];
            if !route.communities.is_empty() {
                args.push("community".into());
                let list: Vec<String> = route
                    .communities
                    .iter()
                    .map(|(a, v)| format!("{a}:{v}"))
                    .collect();
                args.push(list.join(","));
            }
            if !route.large_communities.is_empty() {
                args.push("large-community".into());
                let list: Vec<String> = route
                    .large_communities
                    .iter()
                    .map(|(g, l1, l2)| format!("{g}:{l1}:{l2}"))
                    .collect();
                args.push(list.join(","));
            }
            if let Some(med) = route.med {
                args.extend(["med".into(), med.to_string()]);
            }
            if let Some(lp) = route.local_pref {
                args.extend(["local-pref".into(), lp.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            gobgp.gobgp(&args)?;
        }
        Ok(gobgp)
    }

    /// Runs `gobgp -p PORT args...` inside the namespace.
    pub fn gobgp(&self, args: &[&str]) -> Result<String> {
        let port = API_PORT.to_string();
        let mut all = vec!["-u", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        cmd::run_in(&self.ns.name, "gobgp", all)
    }

    /// `gobgp neighbor -j`, the entry of `neighbor`.
    pub fn neighbor_json(&self, neighbor: IpAddr) -> Result<Value> {
        let out = self.gobgp(&["neighbor", "-j"])?;
        let value = cmd::json("gobgp neighbor -j", &out)?;
        value
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["conf"]["neighbor_address"].as_str() == Some(&neighbor.to_string()))
            .cloned()
            .ok_or_else(|| Error::Parse {
                what: format!("GoBGP neighbour {neighbor}"),
                detail: "not in the answer".into(),
                output: out,
            })
    }
}

/// Reads the best path of `gobgp global rib -a AFI PREFIX -j`.
pub fn parse_route(prefix: Prefix, value: &Value) -> Result<Option<BgpRoute>> {
    let Some(paths) = value[prefix.to_string()].as_array() else {
        return Ok(None);
    };
    let Some(best) = paths
        .iter()
        .find(|p| p["best"].as_bool() == Some(true))
        .or_else(|| paths.first())
    else {
        return Ok(None);
    };
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let bad = |detail: String| Error::Parse {
        what: format!("GoBGP route {prefix}"),
        detail,
        output: best.to_string(),
    };
    let mut route = BgpRoute {
        prefix: Some(prefix),
        ..BgpRoute::default()
    };
    for attr in best["attrs"].as_array().into_iter().flatten() {
        match attr["type"].as_u64() {
            // AS_PATH
            Some(2) => {
                for segment in attr["as_paths"].as_array().into_iter().flatten() {
                    route.as_path.extend(
                        segment["asns"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(number),
                    );
                }
            }
            // NEXT_HOP, MP_REACH_NLRI
            Some(3) | Some(14) => {
                route.next_hop = attr["nexthop"].as_str().and_then(|s| s.parse().ok());
            }
            Some(4) => route.med = number(&attr["metric"]),
            // ORIGINATOR_ID, CLUSTER_LIST
            Some(9) => route.originator_id = attr["value"].as_str().and_then(|s| s.parse().ok()),
            Some(10) => {
                route.cluster_list = attr["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str()?.parse().ok())
                    .collect();
            }
            Some(5) => route.local_pref = number(&attr["value"]),
            Some(8) => {
                route.communities = attr["communities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(number)
                    .map(|c| ((c >> 16) as u16, c as u16))
                    .collect();
            }
            Some(32) => {
                for c in attr["value"].as_array().into_iter().flatten() {
                    if let (Some(g), Some(l1), Some(l2)) = (
                        number(&c["ASN"]),
                        number(&c["LocalData1"]),
                        number(&c["LocalData2"]),
                    ) {
                        route.large_communities.push((g, l1, l2));
                    }
                }
            }
            // Unknown: `{"flags":224,"type":201,"value":"Cgs="}`.
            Some(code) if attr.get("flags").is_some() && attr["value"].is_string() => {
                let text = attr["value"].as_str().unwrap_or_default();
                route.unknown.push(UnknownAttribute {
                    code: u8::try_from(code).map_err(|_| bad(format!("type {code}")))?,
                    flags: attr["flags"].as_u64().and_then(|f| u8::try_from(f).ok()),
                    value: base64(text).ok_or_else(|| bad(format!("base64 {text}")))?,
                });
            }
            _ => {}
        }
    }
    Ok(Some(route))
}

impl Peer for GoBgp {
    fn daemon(&self) -> Daemon {
        Daemon::GoBgp
    }

    fn router(&self) -> &Router {
        &self.router
    }

    fn session_state(&self, neighbor: IpAddr) -> Result<SessionState> {
        let n = self.neighbor_json(neighbor)?;
        // The API's enum: 0 unknown, 1 idle, 2 connect, 3 active,
        // 4 opensent, 5 openconfirm, 6 established.
        Ok(match n["state"]["session_state"].as_u64() {
            Some(2) => SessionState::Connect,
            Some(3) => SessionState::Active,
            Some(4) => SessionState::OpenSent,
            Some(5) => SessionState::OpenConfirm,
            Some(6) => SessionState::Established,
            _ => SessionState::Idle,
        })
    }

    fn route(&self, prefix: Prefix) -> Result<Option<BgpRoute>> {
        let family = match prefix.family() {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        };
        let out = self.gobgp(&["global", "rib", "-a", family, &prefix.to_string(), "-j"])?;
        if out.trim().is_empty() || out.contains("not found") {
            return Ok(None);
        }
        parse_route(prefix, &cmd::json("gobgp global rib -j", &out)?)
    }

    fn capabilities(&self, neighbor: IpAddr) -> Result<Capabilities> {
        let n = self.neighbor_json(neighbor)?;
        let read = |list: &Value| -> BTreeSet<Capability> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let name = c["type_url"].as_str()?.rsplit('.').next()?;
                    if name == "MultiProtocolCapability" {
                        let value = base64(c["value"].as_str()?)?;
                        Some(Capability::MultiProtocol(capability::gobgp_family(&value)?))
                    } else {
                        capability::from_gobgp_type(name)
                    }
                })
                .collect()
        };
        Ok(Capabilities {
            advertised: read(&n["state"]["local_cap"]),
            received: read(&n["state"]["remote_cap"]),
        })
    }

    fn request_refresh(&self, _neighbor: IpAddr) -> Result<()> {
        // `gobgp neighbor ADDR softresetin` re-runs policy over GoBGP's own
        // Adj-RIB-In and sends no ROUTE-REFRESH.
        Err(Error::Environment(
            "GoBGP's CLI cannot send a ROUTE-REFRESH: use BIRD or FRR".into(),
        ))
    }

    fn last_error(&self, neighbor: IpAddr) -> Result<Option<LastError>> {
        // gobgp's JSON counts NOTIFICATIONs but keeps no reason.
        let n = self.neighbor_json(neighbor)?;
        let received = n["state"]["messages"]["received"]["notification"].as_u64();
        let sent = n["state"]["messages"]["sent"]["notification"].as_u64();
        Ok(match (received, sent) {
            (None, None) => None,
            (r, s) => Some(LastError {
                text: format!(
                    "NOTIFICATIONs received {}, sent {}",
                    r.unwrap_or(0),
                    s.unwrap_or(0)
                ),
                code: None,
                shutdown_message: None,
            }),
        })
    }

    fn shutdown(&self, neighbor: IpAddr, message: &str) -> Result<()> {
        let address = neighbor.to_string();
        self.gobgp(&["neighbor", &address, "shutdown", "--reason", message])
            .map(|_| ())
    }

    fn enable(&self, neighbor: IpAddr) -> Result<()> {
        let address = neighbor.to_string();
        self.gobgp(&["neighbor", &address, "enable"]).map(|_| ())
    }

    fn view(&self) -> String {
        let neighbors = self.gobgp(&["neighbor"]).unwrap_or_else(|e| e.to_string());
        format!(
            "--- GoBGP {} `gobgp neighbor` ---\n{neighbors}\n--- GoBGP {} log ---\n{}",
            self.router.name,
            self.router.name,
            file_tail(&self.log, 15)
        )
    }
}

/// Decodes standard base64 (RFC 4648 §4, with padding), as GoBGP's JSON
/// carries raw attribute values.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::prefix;

    #[test]
    fn decodes_base64() {
        assert_eq!(base64("AQIDBA=="), Some(vec![1, 2, 3, 4]));
        assert_eq!(base64("Cgs="), Some(vec![10, 11]));
        assert_eq!(base64("AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(base64("A"), None);
        assert_eq!(base64("A*=="), None);
    }

    #[test]
    fn parses_a_route_with_an_unknown_attribute() {
        let value: Value = serde_json::from_str(
            r#"{"198.51.101.0/24":[{"nlri":{"prefix":"198.51.101.0/24"},"best":true,
            "attrs":[{"type":1,"value":0},
            {"type":2,"as_paths":[{"segment_type":2,"num":2,"asns":[65004,4200000000]}]},
            {"type":3,"nexthop":"198.18.0.2"},{"type":4,"metric":5},
            {"type":8,"communities":[4260102151]},
            {"type":32,"value":[{"ASN":65004,"LocalData1":1,"LocalData2":2}]},
            {"flags":224,"type":201,"value":"Cgs="}]}]}"#,
        )
        .unwrap();
        let route = parse_route(prefix("198.51.101.0/24"), &value)
            .unwrap()
            .unwrap();
        assert_eq!(route.as_path, vec![65004, 4_200_000_000]);
        assert_eq!(route.next_hop, Some("198.18.0.2".parse().unwrap()));
        assert_eq!(route.med, Some(5));
        assert_eq!(route.communities, vec![(65004, 7)]);
        assert_eq!(route.large_communities, vec![(65004, 1, 2)]);
        assert_eq!(
            route.unknown,
            vec![UnknownAttribute {
                code: 201,
                flags: Some(0xe0),
                value: vec![10, 11]
            }]
        );
        assert_eq!(
            parse_route(prefix("198.51.102.0/24"), &value).unwrap(),
            None
        );
    }
}
