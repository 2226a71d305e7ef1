//! The string forms of the configuration: prefixes, communities, next hops.
//! Each parser answers with the reason a value is refused.

use std::net::IpAddr;

use bgp::wire::{Community, LargeCommunity};
use ribs::{NextHop, Prefix};

/// `ADDRESS/LENGTH` with the host bits zero.
pub fn prefix(s: &str) -> Result<Prefix, String> {
    let Some((a, l)) = s.split_once('/') else {
        return Err(format!("{s:?} is not a prefix: expected ADDRESS/LENGTH"));
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{s:?} is not a prefix: {a:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = match l.parse() {
        Ok(len) if len <= max => len,
        _ => {
            return Err(format!(
                "{s:?} is not a prefix: the length must be 0 to {max}"
            ))
        }
    };
    let p = Prefix::new(addr, len)
        .ok_or_else(|| format!("{s:?} is not a prefix: the length must be 0 to {max}"))?;
    if p.addr() != addr {
        return Err(format!("{s} has host bits set (did you mean {p}?)"));
    }
    Ok(p)
}

/// A standard community (RFC 1997): `ASN:VALUE` (two 16-bit numbers) or a
/// well-known name.
pub fn community(s: &str) -> Result<Community, String> {
    match s {
        "no-export" => return Ok(Community::NO_EXPORT),
        "no-advertise" => return Ok(Community::NO_ADVERTISE),
        "no-export-subconfed" => return Ok(Community::NO_EXPORT_SUBCONFED),
        "graceful-shutdown" => return Ok(Community::GRACEFUL_SHUTDOWN),
        _ => {}
    }
    let bad = || {
        format!(
            "{s:?} is not a community: expected ASN:VALUE with two numbers from 0 to 65535, \
             or no-export, no-advertise, no-export-subconfed, graceful-shutdown"
        )
    };
    let (a, v) = s.split_once(':').ok_or_else(bad)?;
    let a: u16 = a.parse().map_err(|_| bad())?;
    let v: u16 = v.parse().map_err(|_| bad())?;
    Ok(Community::new(a, v))
}

/// A large community (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`, three 32-bit
/// numbers.
pub fn large_community(s: &str) -> Result<LargeCommunity, String> {
    let bad = || {
        format!(
            "{s:?} is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with three \
             numbers from 0 to 4294967295"
        )
    };
    let mut parts = s.split(':').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(g)), Some(Ok(l1)), Some(Ok(l2)), None) => Ok(LargeCommunity {
            global_admin: g,
            local_data_1: l1,
            local_data_2: l2,
        }),
        _ => Err(bad()),
    }
}

/// A next hop: `self` or an address.
pub fn next_hop(s: &str) -> Result<NextHop, String> {
    if s == "self" {
        return Ok(NextHop::Local);
    }
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ok(NextHop::V4(a)),
        Ok(IpAddr::V6(a)) => Ok(NextHop::V6 {
            global: a,
            link_local: None,
        }),
        Err(_) => Err(format!(
            "{s:?} is not a next hop: expected an IP address or self"
        )),
    }
}
