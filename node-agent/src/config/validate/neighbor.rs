//! Neighbour checks, and the TCP MD5 keys they read.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{asn_problem, ACCEPT_ALL, REJECT_ALL};
use crate::config::error::ConfigErrors;
use crate::config::neighbor::{AfiSafi, MaxPrefixAction, Neighbor};
use crate::config::types::Config;
use crate::config::valid::Md5Key;

/// Longest TCP MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_MD5_KEY_LEN: usize = 80;

/// Check every neighbour; returns the TCP MD5 keys read.
pub(super) fn check_all(c: &Config, errors: &mut ConfigErrors) -> BTreeMap<IpAddr, Md5Key> {
    let policy_names: BTreeSet<&str> = c
        .policies
        .iter()
        .map(|p| p.name.as_str())
        .chain([ACCEPT_ALL, REJECT_ALL])
        .collect();
    let mut keys = BTreeMap::new();
    for (i, n) in c.neighbors.iter().enumerate() {
        let path = format!("neighbors[{i}]");
        if let Some(j) = c.neighbors[..i].iter().position(|m| m.address == n.address) {
            errors.push(
                format!("{path}.address"),
                format!("{} is also the address of neighbors[{j}]", n.address),
            );
        }
        check(c, n, &path, &policy_names, errors);
        if let Some(key) = md5_key(n, &path, errors) {
            keys.insert(n.address, key);
        }
    }
    keys
}

fn check(
    c: &Config,
    n: &Neighbor,
    path: &str,
    policies: &BTreeSet<&str>,
    errors: &mut ConfigErrors,
) {
    let a = n.address;
    if a.is_unspecified() || a.is_multicast() {
        errors.push(
            format!("{path}.address"),
            format!("{a} is not a neighbour address"),
        );
    }
    if let Some(r) = asn_problem(n.asn) {
        errors.push(format!("{path}.asn"), r);
    }
    if n.port == 0 {
        errors.push(format!("{path}.port"), "0 is not a port to connect to");
    }
    if n.multihop_ttl == Some(0) {
        errors.push(
            format!("{path}.multihop_ttl"),
            "0 would let no packet leave",
        );
    }
    if n.gtsm && n.multihop_ttl.is_some() {
        errors.push(
            format!("{path}.gtsm"),
            "gtsm and multihop_ttl are both set: GTSM sends with TTL 255 and accepts only \
             directly connected neighbours (RFC 5082)",
        );
    }
    if let Some(s) = n.source_address {
        if s.is_ipv4() != a.is_ipv4() {
            errors.push(
                format!("{path}.source_address"),
                format!("{s} and the neighbour address {a} are of different families"),
            );
        }
    }
    if n.passive && c.listen.addresses.is_empty() {
        errors.push(
            format!("{path}.passive"),
            "the neighbour is passive but listen.addresses is empty: no connection could \
             ever be made",
        );
    }
    timers(n, path, errors);
    if n.graceful_restart.restart_time > 4095 {
        errors.push(
            format!("{path}.graceful_restart.restart_time"),
            format!(
                "{} does not fit the capability's 12 bits (at most 4095, RFC 4724 §3)",
                n.graceful_restart.restart_time
            ),
        );
    }
    for (j, f) in n.families.iter().enumerate() {
        if let Some(k) = n.families[..j].iter().position(|g| g.family == f.family) {
            errors.push(
                format!("{path}.families[{j}].family"),
                format!("{} is already listed as families[{k}]", f.family),
            );
        }
        match f.add_path_send_max {
            Some(m) if !(1..=255).contains(&m) => errors.push(
                format!("{path}.families[{j}].add_path_send_max"),
                format!("{m} is not 1 to 255: leave it out to send every path"),
            ),
            Some(_) if !f.add_path.sends() => errors.push(
                format!("{path}.families[{j}].add_path_send_max"),
                format!(
                    "only with add_path send or both (ADD-PATH send, RFC 7911), and add_path \
                     is {}",
                    f.add_path
                ),
            ),
            _ => {}
        }
        if f.extended_next_hop && f.family != AfiSafi::Ipv4Unicast {
            errors.push(
                format!("{path}.families[{j}].extended_next_hop"),
                format!(
                    "extended next hop is for ipv4-unicast routes with IPv6 next hops \
                     (RFC 8950), not {}",
                    f.family
                ),
            );
        }
    }
    for (field, name) in [
        ("import_policy", &n.import_policy),
        ("export_policy", &n.export_policy),
    ] {
        if let Some(name) = name {
            if !policies.contains(name.as_str()) {
                errors.push(
                    format!("{path}.{field}"),
                    format!("no policy named {name:?}"),
                );
            }
        }
    }
    if n.route_reflector_client && n.asn != c.local_asn {
        errors.push(
            format!("{path}.route_reflector_client"),
            format!(
                "route reflection is for iBGP neighbours (RFC 4456), and AS {} is not \
                 local_asn {}",
                n.asn, c.local_asn
            ),
        );
    }
    if let Some(m) = &n.max_prefix {
        let p = format!("{path}.max_prefix");
        if m.limit == 0 {
            errors.push(format!("{p}.limit"), "0 would refuse every prefix");
        }
        match (m.action, m.restart_after) {
            (MaxPrefixAction::Restart, None) => {
                errors.push(format!("{p}.restart_after"), "required with action restart")
            }
            (MaxPrefixAction::Restart, Some(0)) => errors.push(
                format!("{p}.restart_after"),
                "0 would restart the session at once: give at least 1 second",
            ),
            (MaxPrefixAction::Warn | MaxPrefixAction::Shutdown, Some(_)) => errors.push(
                format!("{p}.restart_after"),
                "only used with action restart",
            ),
            _ => {}
        }
    }
}

/// RFC 4271 §4.2, §4.4 and §10.
fn timers(n: &Neighbor, path: &str, errors: &mut ConfigErrors) {
    let t = &n.timers;
    let p = format!("{path}.timers");
    if matches!(t.hold, 1 | 2) {
        errors.push(
            format!("{p}.hold"),
            format!(
                "{} is neither 0 nor at least 3 seconds (RFC 4271 §4.2)",
                t.hold
            ),
        );
    }
    match t.keepalive {
        Some(k) if t.hold == 0 && k != 0 => errors.push(
            format!("{p}.keepalive"),
            format!(
                "{k} with hold 0: no KEEPALIVE may be sent when the hold time is 0 (RFC 4271 §4.4)"
            ),
        ),
        Some(0) if t.hold != 0 => errors.push(
            format!("{p}.keepalive"),
            format!(
                "0 sends no KEEPALIVE, so the hold time {} would expire",
                t.hold
            ),
        ),
        Some(k) if t.hold != 0 && k >= t.hold => errors.push(
            format!("{p}.keepalive"),
            format!(
                "{k} is not less than the hold time {} (RFC 4271 §10)",
                t.hold
            ),
        ),
        _ => {}
    }
    if t.connect_retry == 0 {
        errors.push(format!("{p}.connect_retry"), "0 would retry without pause");
    }
    if t.delay_open == Some(0) {
        errors.push(
            format!("{p}.delay_open"),
            "0 is no delay: leave delay_open unset instead",
        );
    }
}

/// The key from `password` or `password_file`.
fn md5_key(n: &Neighbor, path: &str, errors: &mut ConfigErrors) -> Option<Md5Key> {
    let (field, key) = match (&n.password, &n.password_file) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            errors.push(
                format!("{path}.password_file"),
                "password and password_file are both set: choose one",
            );
            return None;
        }
        (Some(p), None) => ("password", p.0.as_bytes().to_vec()),
        (None, Some(file)) => match std::fs::read(file) {
            Ok(mut bytes) => {
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                ("password_file", bytes)
            }
            Err(e) => {
                errors.push(
                    format!("{path}.password_file"),
                    format!("cannot read {}: {e}", file.display()),
                );
                return None;
            }
        },
    };
    if key.is_empty() {
        errors.push(format!("{path}.{field}"), "the key is empty");
        return None;
    }
    if key.len() > MAX_MD5_KEY_LEN {
        errors.push(
            format!("{path}.{field}"),
            format!(
                "the key is {} bytes long; TCP MD5 keys are at most {MAX_MD5_KEY_LEN}",
                key.len()
            ),
        );
        return None;
    }
    Some(Md5Key(key))
}
