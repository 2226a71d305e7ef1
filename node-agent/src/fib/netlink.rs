//! rtnetlink messages, encoded and decoded by hand (`rtnetlink(7)`,
//! `netlink(7)`): the few the FIB writer needs, built straight into one
//! buffer so that many fit in one `sendmsg`.
//!
//! ```text
//!  nlmsghdr (16)         rtmsg (12)                      attributes (rtattr: len u16, type u16, value, pad to 4)
//! +-----+----+-----+   +------+-------+-------+-----+   +-----------+-----------+------------+-----------+
//! | len |type|flags|   |family|dst_len|src_len| tos |   | RTA_TABLE | RTA_DST   | RTA_GATEWAY| RTA_OIF   |
//! | seq      | pid |   |table |proto  |scope  |type |   | or RTA_MULTIPATH: rtnexthop{len,flags,hops, |
//! +-----+----+-----+   |flags (u32)                 |   |   ifindex} + RTA_GATEWAY / RTA_VIA, ...     |
//!                      +----------------------------+   +---------------------------------------------+
//! ```
//!
//! Decoding never panics on what the kernel sends: every length is checked,
//! and a malformed message is skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ribs::Prefix;

use super::route::Gateway;

/// `NLMSG_ERROR`: an acknowledgement (error 0) or an error.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a dump.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: answer with an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_REPLACE`: replace an existing route with the same key.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL`: fail if a route with the same key exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: create the route if it does not exist.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;

pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
pub(super) const RTA_NH_ID: u16 = 30;

/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_UNREACHABLE`.
pub const RTN_UNREACHABLE: u8 = 7;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
const RT_TABLE_COMPAT: u8 = 252;

/// `RTNH_F_DEAD`: the next hop's link is down.
pub const RTNH_F_DEAD: u32 = 1;
/// `RTNH_F_ONLINK`.
pub const RTNH_F_ONLINK: u32 = 4;
/// `RTNH_F_LINKDOWN`: the next hop's carrier is down.
pub const RTNH_F_LINKDOWN: u32 = 16;

/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOWER_UP`: the link has carrier.
pub const IFF_LOWER_UP: u32 = 0x1_0000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// Legacy multicast group bits (`RTMGRP_*`) the watch socket joins: links,
/// IPv4 and IPv6 addresses and routes.
pub const WATCH_GROUPS: u32 = 0x1 | 0x10 | 0x40 | 0x100 | 0x400;

/// The parameters common to every route the writer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKey {
    /// Twill's routing protocol number (`rtm_protocol`).
    pub protocol: u8,
    /// The routing table.
    pub table: u32,
    /// `RTA_PRIORITY`, if set (else the kernel's default: 0 for IPv4, 1024
    /// for IPv6).
    pub metric: Option<u32>,
}

/// A next hop as written to (or read from) the kernel: the address and the
/// resolved interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hop {
    /// Gateway address (`RTA_GATEWAY`, or `RTA_VIA` across families).
    pub addr: IpAddr,
    /// Outgoing interface (`RTA_OIF` / `rtnh_ifindex`), 0 when unset.
    pub ifindex: u32,
    /// `RTNH_F_ONLINK`.
    pub onlink: bool,
}

impl From<Gateway> for Hop {
    fn from(g: Gateway) -> Self {
        Hop {
            addr: g.addr,
            ifindex: g.ifindex.unwrap_or(0),
            onlink: g.onlink,
        }
    }
}

/// What a route does, as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Forward {
    /// Via these next hops (sorted).
    Hops(Vec<Hop>),
    /// `RTN_UNREACHABLE`.
    Unreachable,
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

pub(super) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn pad4(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

pub(super) fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    put_u16(buf, len as u16);
    put_u16(buf, kind);
    buf.extend_from_slice(value);
    pad4(buf);
}

pub(super) fn addr_bytes(a: &IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            out[..4].copy_from_slice(&v.octets());
            (out, 4)
        }
        IpAddr::V6(v) => {
            out.copy_from_slice(&v.octets());
            (out, 16)
        }
    }
}

pub(super) fn family_of(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// `RTA_GATEWAY` when the next hop has the route's family, else `RTA_VIA`
/// (`struct rtvia`: family, address), RFC 8950.
fn put_gateway(buf: &mut Vec<u8>, route_family: u8, addr: &IpAddr) {
    let (bytes, n) = addr_bytes(addr);
    if family_of(addr) == route_family {
        put_attr(buf, RTA_GATEWAY, &bytes[..n]);
    } else {
        let mut via = Vec::with_capacity(2 + n);
        via.extend_from_slice(&u16::from(family_of(addr)).to_ne_bytes());
        via.extend_from_slice(&bytes[..n]);
        put_attr(buf, RTA_VIA, &via);
    }
}

pub(super) fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let start = buf.len();
    put_u32(buf, 0); // length, patched by `finish`
    put_u16(buf, kind);
    put_u16(buf, flags);
    put_u32(buf, seq);
    put_u32(buf, 0); // to the kernel
    start
}

pub(super) fn finish(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

#[allow(clippy::too_many_arguments)]
pub(super) fn put_rtmsg(
    buf: &mut Vec<u8>,
    family: u8,
    dst_len: u8,
    table: u32,
    protocol: u8,
    scope: u8,
    kind: u8,
    flags: u32,
) {
    buf.extend_from_slice(&[
        family,
        dst_len,
        0,
        0,
        if table < 256 {
            table as u8
        } else {
            RT_TABLE_COMPAT
        },
        protocol,
        scope,
        kind,
    ]);
    put_u32(buf, flags);
}

pub(super) fn put_dst_table_metric(buf: &mut Vec<u8>, prefix: &Prefix, key: &RouteKey) {
    put_attr(buf, RTA_TABLE, &key.table.to_ne_bytes());
    if prefix.len() > 0 {
        let (bytes, n) = addr_bytes(&prefix.addr());
        put_attr(buf, RTA_DST, &bytes[..n]);
    }
    if let Some(m) = key.metric {
        put_attr(buf, RTA_PRIORITY, &m.to_ne_bytes());
    }
}

fn prefix_family(prefix: &Prefix) -> u8 {
    match prefix {
        Prefix::V4(_) => AF_INET,
        Prefix::V6(_) => AF_INET6,
    }
}

/// Which route message [`route_head`] starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum RouteMsg {
    /// `RTM_NEWROUTE`: create or replace (`replace` as for [`new_route`]),
    /// of type `kind` with `rtm_flags`.
    New { replace: bool, kind: u8, flags: u32 },
    /// `RTM_DELROUTE`.
    Del,
}

impl RouteMsg {
    /// `RTM_NEWROUTE` of type `kind` with `rtm_flags` `flags`.
    pub(super) fn new(replace: bool, kind: u8, flags: u32) -> Self {
        RouteMsg::New {
            replace,
            kind,
            flags,
        }
    }
}

/// Starts a route message for `prefix` (header, `rtmsg`, table,
/// destination, metric); returns where it starts, for [`finish`].
pub(super) fn route_head(
    buf: &mut Vec<u8>,
    seq: u32,
    key: &RouteKey,
    prefix: &Prefix,
    msg: RouteMsg,
) -> usize {
    let (start, scope, kind, flags) = match msg {
        RouteMsg::New {
            replace,
            kind,
            flags,
        } => {
            let mode = if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
            let start = begin(buf, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | mode, seq);
            (start, RT_SCOPE_UNIVERSE, kind, flags)
        }
        RouteMsg::Del => (
            begin(buf, RTM_DELROUTE, NLM_F_REQUEST, seq),
            RT_SCOPE_NOWHERE,
            0,
            0,
        ),
    };
    put_rtmsg(
        buf,
        prefix_family(prefix),
        prefix.len(),
        key.table,
        key.protocol,
        scope,
        kind,
        flags,
    );
    put_dst_table_metric(buf, prefix, key);
    start
}

/// Appends an `RTM_NEWROUTE` (without `NLM_F_ACK`: see
/// [`super::socket::request_ack`]) for `prefix` to `buf`. `replace` selects
/// `NLM_F_CREATE | NLM_F_REPLACE` (a route known to be Twill's) over
/// `NLM_F_CREATE | NLM_F_EXCL` (fails with `EEXIST` when any route, a
/// foreign one included, holds the key).
pub fn new_route(
    buf: &mut Vec<u8>,
    seq: u32,
    key: &RouteKey,
    prefix: &Prefix,
    forward: &Forward,
    replace: bool,
) {
    let family = prefix_family(prefix);
    let start = match forward {
        Forward::Unreachable => route_head(
            buf,
            seq,
            key,
            prefix,
            RouteMsg::new(replace, RTN_UNREACHABLE, 0),
        ),
        Forward::Hops(hops) => match hops.as_slice() {
            [hop] => {
                let flags = if hop.onlink { RTNH_F_ONLINK } else { 0 };
                let start = route_head(
                    buf,
                    seq,
                    key,
                    prefix,
                    RouteMsg::new(replace, RTN_UNICAST, flags),
                );
                put_gateway(buf, family, &hop.addr);
                if hop.ifindex != 0 {
                    put_attr(buf, RTA_OIF, &hop.ifindex.to_ne_bytes());
                }
                start
            }
            _ => {
                let start = route_head(
                    buf,
                    seq,
                    key,
                    prefix,
                    RouteMsg::new(replace, RTN_UNICAST, 0),
                );
                // RTA_MULTIPATH: a sequence of struct rtnexthop, each
                // followed by its own attributes.
                let mp = buf.len();
                put_u16(buf, 0);
                put_u16(buf, RTA_MULTIPATH);
                for hop in hops {
                    let nh = buf.len();
                    put_u16(buf, 0);
                    buf.push(if hop.onlink { RTNH_F_ONLINK as u8 } else { 0 });
                    buf.push(0); // hops: weight - 1
                    put_u32(buf, hop.ifindex);
                    put_gateway(buf, family, &hop.addr);
                    let len = (buf.len() - nh) as u16;
                    buf[nh..nh + 2].copy_from_slice(&len.to_ne_bytes());
                }
                let len = (buf.len() - mp) as u16;
                buf[mp..mp + 2].copy_from_slice(&len.to_ne_bytes());
                start
            }
        },
    };
    finish(buf, start);
}

/// Appends an `RTM_DELROUTE` for Twill's route for `prefix`. The kernel
/// matches `rtm_protocol` on delete (IPv4 `fib_table_delete`, IPv6
/// `ip6_route_del`): a route of another protocol is never removed, the
/// request fails with `ESRCH` instead.
pub fn del_route(buf: &mut Vec<u8>, seq: u32, key: &RouteKey, prefix: &Prefix) {
    let start = route_head(buf, seq, key, prefix, RouteMsg::Del);
    finish(buf, start);
}

/// Appends a dump request (`RTM_GETROUTE`, `RTM_GETLINK`, `RTM_GETADDR`,
/// `RTM_GETNEXTHOP`)
/// for all families.
pub fn dump_request(buf: &mut Vec<u8>, seq: u32, kind: u16) {
    let start = begin(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq);
    match kind {
        // struct ifinfomsg (16 bytes)
        RTM_GETLINK => buf.extend_from_slice(&[0u8; 16]),
        // struct ifaddrmsg, struct nhmsg (8 bytes)
        RTM_GETADDR | super::nexthop::RTM_GETNEXTHOP => buf.extend_from_slice(&[0u8; 8]),
        // struct rtmsg (12 bytes)
        _ => buf.extend_from_slice(&[0u8; 12]),
    }
    finish(buf, start);
}

/// One netlink message: its header fields and payload.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The payload after the 16-byte header.
    pub payload: &'a [u8],
}

/// The messages in one datagram, stopping at the first malformed one.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let hdr = buf.get(..16)?;
        let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
        if len < 16 || len > buf.len() {
            buf = &[];
            return None;
        }
        let msg = Message {
            kind: u16::from_ne_bytes(hdr[4..6].try_into().ok()?),
            flags: u16::from_ne_bytes(hdr[6..8].try_into().ok()?),
            seq: u32::from_ne_bytes(hdr[8..12].try_into().ok()?),
            payload: &buf[16..len],
        };
        let next = len.div_ceil(4) * 4;
        buf = buf.get(next..).unwrap_or(&[]);
        Some(msg)
    })
}

/// The error of an `NLMSG_ERROR` payload: 0 for an acknowledgement, else a
/// positive errno.
pub fn ack_error(payload: &[u8]) -> Option<i32> {
    let e = i32::from_ne_bytes(payload.get(..4)?.try_into().ok()?);
    Some(-e)
}

/// Route attributes as `(type, value)` pairs, stopping at a malformed one.
pub(super) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let hdr = buf.get(..4)?;
        let len = u16::from_ne_bytes([hdr[0], hdr[1]]) as usize;
        let kind = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            buf = &[];
            return None;
        }
        let value = &buf[4..len];
        buf = buf.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
        Some((kind, value))
    })
}

pub(super) fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn addr_of(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => {
            let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        AF_INET6 => {
            let b: [u8; 16] = v.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn via_of(v: &[u8]) -> Option<IpAddr> {
    let fam = u16::from_ne_bytes(v.get(..2)?.try_into().ok()?);
    addr_of(u8::try_from(fam).ok()?, v.get(2..)?)
}

/// A route read from the kernel (a dump or a notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination.
    pub prefix: Prefix,
    /// Table (`RTA_TABLE`, else `rtm_table`).
    pub table: u32,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `rtm_type`.
    pub kind: u8,
    /// `RTA_PRIORITY` (0 when absent).
    pub metric: u32,
    /// Next hops (empty for routes without a gateway, e.g. connected).
    pub hops: Vec<Hop>,
    /// Next hops marked dead or link-down by the kernel.
    pub dead_hops: usize,
    /// The nexthop object the route forwards through (`RTA_NH_ID`), if any.
    pub nh_id: Option<u32>,
}

impl KernelRoute {
    /// What the route does, in the form the writer compares with.
    pub fn forward(&self) -> Forward {
        if self.kind == RTN_UNREACHABLE {
            Forward::Unreachable
        } else {
            let mut hops = self.hops.clone();
            hops.sort_unstable();
            Forward::Hops(hops)
        }
    }
}

/// Decodes an `RTM_NEWROUTE` / `RTM_DELROUTE` payload; `None` if malformed
/// or of another family.
pub fn parse_route(payload: &[u8]) -> Option<KernelRoute> {
    let hdr = payload.get(..12)?;
    let family = hdr[0];
    let dst_len = hdr[1];
    let mut table = u32::from(hdr[4]);
    let protocol = hdr[5];
    let kind = hdr[7];
    let rtm_flags = u32::from_ne_bytes(hdr[8..12].try_into().ok()?);
    let mut dst = None;
    let mut metric = 0;
    let mut gateway = None;
    let mut oif = 0;
    let mut hops = Vec::new();
    let mut dead_hops = 0;
    let mut nh_id = None;
    for (t, v) in attrs(payload.get(12..)?) {
        match t {
            RTA_NH_ID => nh_id = u32_of(v),
            RTA_DST => dst = addr_of(family, v),
            RTA_TABLE => table = u32_of(v)?,
            RTA_PRIORITY => metric = u32_of(v)?,
            RTA_OIF => oif = u32_of(v)?,
            RTA_GATEWAY => gateway = addr_of(family, v),
            RTA_VIA => gateway = via_of(v),
            RTA_MULTIPATH => {
                let mut rest = v;
                while rest.len() >= 8 {
                    let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
                    if len < 8 || len > rest.len() {
                        break;
                    }
                    let flags = u32::from(rest[2]);
                    let ifindex = u32_of(&rest[4..8])?;
                    let mut gw = None;
                    for (t, v) in attrs(&rest[8..len]) {
                        match t {
                            RTA_GATEWAY => gw = addr_of(family, v),
                            RTA_VIA => gw = via_of(v),
                            _ => {}
                        }
                    }
                    if flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN) != 0 {
                        dead_hops += 1;
                    }
                    if let Some(addr) = gw {
                        hops.push(Hop {
                            addr,
                            ifindex,
                            onlink: flags & RTNH_F_ONLINK != 0,
                        });
                    }
                    rest = rest.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }
    if let Some(addr) = gateway {
        if rtm_flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN) != 0 {
            dead_hops += 1;
        }
        hops.push(Hop {
            addr,
            ifindex: oif,
            onlink: rtm_flags & RTNH_F_ONLINK != 0,
        });
    }
    let addr = match (dst, family) {
        (Some(a), _) => a,
        (None, AF_INET) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    Some(KernelRoute {
        prefix: Prefix::new(addr, dst_len)?,
        table,
        protocol,
        kind,
        metric,
        hops,
        dead_hops,
        nh_id,
    })
}

/// A link's index and flags (`struct ifinfomsg`).
pub fn parse_link(payload: &[u8]) -> Option<(u32, u32)> {
    let h = payload.get(..16)?;
    let index = u32::from_ne_bytes(h[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(h[8..12].try_into().ok()?);
    Some((index, flags))
}

/// An interface address as its connected prefix and interface index
/// (`struct ifaddrmsg` with `IFA_ADDRESS`, else `IFA_LOCAL`).
pub fn parse_addr(payload: &[u8]) -> Option<(Prefix, u32)> {
    let h = payload.get(..8)?;
    let (family, len) = (h[0], h[1]);
    let index = u32::from_ne_bytes(h[4..8].try_into().ok()?);
    let mut address = None;
    let mut local = None;
    for (t, v) in attrs(payload.get(8..)?) {
        match t {
            IFA_ADDRESS => address = addr_of(family, v),
            IFA_LOCAL => local = addr_of(family, v),
            _ => {}
        }
    }
    Some((Prefix::new(address.or(local)?, len)?, index))
}

/// A netlink header as the encoders write it (for tests).
#[cfg(test)]
pub(super) fn header(len: u32, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut h = Vec::new();
    put_u32(&mut h, len);
    put_u16(&mut h, kind);
    put_u16(&mut h, flags);
    put_u32(&mut h, seq);
    put_u32(&mut h, 0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    const KEY: RouteKey = RouteKey {
        protocol: 196,
        table: 254,
        metric: None,
    };

    #[test]
    fn new_route_ipv4_one_hop_bytes() {
        let mut buf = Vec::new();
        let hop = Hop {
            addr: "198.18.0.2".parse().unwrap(),
            ifindex: 3,
            onlink: false,
        };
        new_route(
            &mut buf,
            7,
            &KEY,
            &p("203.0.113.0/24"),
            &Forward::Hops(vec![hop]),
            false,
        );
        let mut want = header(
            60,
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
            7,
        );
        want.extend_from_slice(&[2, 24, 0, 0, 254, 196, 0, 1, 0, 0, 0, 0]);
        want.extend_from_slice(&[8, 0, 15, 0]);
        want.extend_from_slice(&254u32.to_ne_bytes());
        want.extend_from_slice(&[8, 0, 1, 0, 203, 0, 113, 0]);
        want.extend_from_slice(&[8, 0, 5, 0, 198, 18, 0, 2]);
        want.extend_from_slice(&[8, 0, 4, 0]);
        want.extend_from_slice(&3u32.to_ne_bytes());
        assert_eq!(buf, want);
    }

    #[test]
    fn routes_round_trip_through_the_parser() {
        let cases = [
            (
                p("203.0.113.0/24"),
                Forward::Hops(vec![
                    Hop {
                        addr: "198.18.0.2".parse().unwrap(),
                        ifindex: 3,
                        onlink: false,
                    },
                    Hop {
                        addr: "198.18.1.2".parse().unwrap(),
                        ifindex: 4,
                        onlink: true,
                    },
                ]),
            ),
            (
                p("2001:db8::/32"),
                Forward::Hops(vec![Hop {
                    addr: "fd00::2".parse().unwrap(),
                    ifindex: 0,
                    onlink: false,
                }]),
            ),
            (
                p("192.0.2.0/24"),
                Forward::Hops(vec![Hop {
                    addr: "fd00::2".parse().unwrap(),
                    ifindex: 5,
                    onlink: false,
                }]),
            ),
            (p("10.244.1.0/24"), Forward::Unreachable),
            (
                p("0.0.0.0/0"),
                Forward::Hops(vec![Hop {
                    addr: "198.18.0.2".parse().unwrap(),
                    ifindex: 3,
                    onlink: true,
                }]),
            ),
        ];
        for (prefix, fwd) in cases {
            let mut buf = Vec::new();
            new_route(&mut buf, 1, &KEY, &prefix, &fwd, true);
            let msgs: Vec<_> = messages(&buf).collect();
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].kind, RTM_NEWROUTE);
            let r = parse_route(msgs[0].payload).unwrap();
            assert_eq!(r.prefix, prefix);
            assert_eq!((r.table, r.protocol), (254, 196));
            assert_eq!(r.forward(), fwd);
        }
    }

    #[test]
    fn del_route_carries_the_protocol() {
        let mut buf = Vec::new();
        del_route(&mut buf, 9, &KEY, &p("2001:db8::/32"));
        let m = messages(&buf).next().unwrap();
        assert_eq!((m.kind, m.seq), (RTM_DELROUTE, 9));
        let r = parse_route(m.payload).unwrap();
        assert_eq!(
            (r.prefix, r.protocol, r.table),
            (p("2001:db8::/32"), 196, 254)
        );
    }

    #[test]
    fn malformed_input_is_skipped_not_panicking() {
        let mut buf = Vec::new();
        new_route(
            &mut buf,
            1,
            &KEY,
            &p("203.0.113.0/24"),
            &Forward::Unreachable,
            true,
        );
        for cut in 0..buf.len() {
            for m in messages(&buf[..cut]) {
                let _ = parse_route(m.payload);
            }
            let _ = parse_route(&buf[16.min(cut)..cut]);
            let _ = parse_addr(&buf[..cut]);
            let _ = parse_link(&buf[..cut]);
        }
        // a header claiming more than there is ends the iteration
        let mut bad = buf.clone();
        bad[0] = 255;
        assert_eq!(messages(&bad).count(), 0);
    }
}
