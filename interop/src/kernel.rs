//! A namespace's kernel routing table, as `ip -j route` prints it.

use std::net::IpAddr;

use crate::cmd::{self, run};
use crate::error::Result;
use crate::netns::Ns;
use crate::router::{Family, Prefix};

/// One kernel route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// The destination as printed (`203.0.113.0/24`, `default`, or a host
    /// address without a length).
    pub dst: String,
    /// The next hops' gateways (one, or several for ECMP).
    pub gateways: Vec<IpAddr>,
    /// The outgoing devices.
    pub devices: Vec<String>,
    /// The route's protocol (`bgp`, `bird`, `kernel`, ...).
    pub protocol: Option<String>,
}

/// The main table of `ns` for `family`.
pub fn routes(ns: &Ns, family: Family) -> Result<Vec<KernelRoute>> {
    let flag = match family {
        Family::Ipv4 => "-4",
        Family::Ipv6 => "-6",
    };
    let out = run("ip", ["-n", &ns.name, flag, "-j", "route", "show"])?;
    let value = cmd::json("ip -j route", &out)?;
    Ok(value
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut hops = vec![r];
            // ECMP: `nexthops` (multipath) holds one object per next hop.
            if let Some(multi) = r["nexthops"].as_array() {
                hops = multi.iter().collect();
            }
            KernelRoute {
                dst: r["dst"].as_str().unwrap_or_default().to_owned(),
                gateways: hops
                    .iter()
                    .filter_map(|h| h["gateway"].as_str()?.parse().ok())
                    .collect(),
                devices: hops
                    .iter()
                    .filter_map(|h| Some(h["dev"].as_str()?.to_owned()))
                    .collect(),
                protocol: r["protocol"].as_str().map(str::to_owned),
            }
        })
        .collect())
}

/// The kernel route for exactly `prefix` in `ns`, if any.
pub fn route(ns: &Ns, prefix: Prefix) -> Result<Option<KernelRoute>> {
    let want = prefix.to_string();
    let max = match prefix.family() {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    // `ip` prints a host route without its length.
    let host = (prefix.len == max).then(|| prefix.addr.to_string());
    Ok(routes(ns, prefix.family())?
        .into_iter()
        .find(|r| r.dst == want || Some(&r.dst) == host.as_ref()))
}
