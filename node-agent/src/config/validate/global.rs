//! Global settings, originated prefixes, and the FIB, API and metrics
//! sections.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ribs::{PathAttrs, Prefix};

use super::asn_problem;
use crate::config::error::ConfigErrors;
use crate::config::parse;
use crate::config::types::Config;

/// Local AS, router id, cluster id, listener, decision.
pub(super) fn check(c: &Config, errors: &mut ConfigErrors) {
    if let Some(r) = asn_problem(c.local_asn) {
        errors.push("local_asn", r);
    }
    if c.router_id == Ipv4Addr::UNSPECIFIED {
        errors.push(
            "router_id",
            "0.0.0.0 is not a valid BGP Identifier: it must be non-zero (RFC 6286 §2.1)",
        );
    }
    if c.cluster_id == Some(Ipv4Addr::UNSPECIFIED) {
        errors.push(
            "cluster_id",
            "0.0.0.0 is not a valid CLUSTER_ID: it must be non-zero",
        );
    }
    if c.listen.port == 0 {
        errors.push("listen.port", "0 is not a port to listen on");
    }
    for (i, a) in c.listen.addresses.iter().enumerate() {
        if let Some(j) = c.listen.addresses[..i].iter().position(|b| b == a) {
            errors.push(
                format!("listen.addresses[{i}]"),
                format!("{a} is already listed as listen.addresses[{j}]"),
            );
        }
    }
    for (field, v) in [
        ("max_paths_ebgp", c.decision.max_paths_ebgp),
        ("max_paths_ibgp", c.decision.max_paths_ibgp),
    ] {
        if v == 0 {
            errors.push(
                format!("decision.{field}"),
                "0 leaves no path: use 1 for no multipath",
            );
        }
    }
}

/// The routes of `originate`.
pub(super) fn originate(c: &Config, errors: &mut ConfigErrors) -> Vec<(Prefix, PathAttrs)> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<Prefix, usize> = BTreeMap::new();
    for (i, o) in c.originate.iter().enumerate() {
        let path = format!("originate[{i}]");
        let prefix = match parse::prefix(&o.prefix) {
            Ok(p) => Some(p),
            Err(r) => {
                errors.push(format!("{path}.prefix"), r);
                None
            }
        };
        if let Some(p) = prefix {
            if let Some(j) = seen.insert(p, i) {
                errors.push(
                    format!("{path}.prefix"),
                    format!("{p} is already originated by originate[{j}]"),
                );
            }
        }
        let mut attrs = PathAttrs::local();
        attrs.med = o.med;
        attrs.local_pref = o.local_pref;
        for (k, s) in o.communities.iter().enumerate() {
            match parse::community(s) {
                Ok(c) if !attrs.communities.contains(&c) => attrs.communities.push(c),
                Ok(_) => {}
                Err(r) => errors.push(format!("{path}.communities[{k}]"), r),
            }
        }
        for (k, s) in o.large_communities.iter().enumerate() {
            match parse::large_community(s) {
                Ok(c) if !attrs.large_communities.contains(&c) => attrs.large_communities.push(c),
                Ok(_) => {}
                Err(r) => errors.push(format!("{path}.large_communities[{k}]"), r),
            }
        }
        if let Some(p) = prefix {
            out.push((p, attrs));
        }
    }
    out
}

/// Route protocol numbers that belong to someone else: the kernel's own
/// (`RTPROT_UNSPEC` to `RTPROT_STATIC`), the other daemons named in
/// `linux/rtnetlink.h`, and FRR's (its `rt_protos.d/frr.conf`).
fn protocol_owner(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186..=198 => "FRR",
        _ => return None,
    })
}

/// The FIB, API and metrics sections.
pub(super) fn check_services(c: &Config, errors: &mut ConfigErrors) {
    match c.fib.table {
        0 => errors.push("fib.table", "0 is not a routing table (RT_TABLE_UNSPEC)"),
        255 => errors.push(
            "fib.table",
            "255 is the kernel's local table (RT_TABLE_LOCAL)",
        ),
        _ => {}
    }
    if let Some(owner) = protocol_owner(c.fib.protocol) {
        errors.push(
            "fib.protocol",
            format!(
                "{} is the protocol number of {owner}: Twill replaces and flushes the \
                 routes of its protocol number, so it needs one of its own",
                c.fib.protocol
            ),
        );
    }
    if !c.api.socket.is_absolute() {
        errors.push(
            "api.socket",
            format!("{} is not an absolute path", c.api.socket.display()),
        );
    }
    if let Some(a) = c.api.tcp {
        if a.port() == 0 {
            errors.push("api.tcp", format!("{a}: port 0 is not a port to listen on"));
        }
    }
    if let Some(a) = c.metrics.address {
        if a.port() == 0 {
            errors.push(
                "metrics.address",
                format!("{a}: port 0 is not a port to listen on"),
            );
        } else if c.api.tcp == Some(a) {
            errors.push("metrics.address", format!("{a} is also api.tcp"));
        } else if c.listen.port == a.port()
            && c.listen
                .addresses
                .iter()
                .any(|l| *l == a.ip() || l.is_unspecified() && same_family(*l, a.ip()))
        {
            errors.push(
                "metrics.address",
                format!("{a} is also a BGP listen address"),
            );
        }
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}
