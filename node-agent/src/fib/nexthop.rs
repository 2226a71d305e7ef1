//! Nexthop objects and groups on the wire (`RTM_NEWNEXTHOP`,
//! `RTM_DELNEXTHOP`, `RTM_GETNEXTHOP`, Linux 5.3+; `include/uapi/linux/
//! nexthop.h`), and routes that name one by id (`RTA_NH_ID`).
//!
//! ```text
//!  nlmsghdr (16)     nhmsg (8)                       attributes
//! +-----+----+-----+ +------+-----+-----+-----+      +--------+---------+-------------+
//! | len |type|flags| |family|scope|proto|resvd|      | NHA_ID | NHA_OIF | NHA_GATEWAY |  one next hop
//! | seq      | pid | |flags (u32): RTNH_F_ONLINK |   +--------+---------+-------------+
//! +-----+----+-----+ +---------------------------+   | NHA_ID | NHA_GROUP: {id u32, weight u8,  |  a group
//!                                                    |        |  weight_high u8, resvd u16}...  |
//!                                                    +--------+---------------------------------+
//! ```
//!
//! Decoding never panics: every length is checked.

use std::net::IpAddr;

use ribs::Prefix;

use super::netlink::{
    addr_bytes, attrs, begin, family_of, finish, put_attr, put_u32, route_head, u32_of, Hop,
    RouteKey, RouteMsg, AF_INET, AF_INET6, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
    RTA_NH_ID, RTNH_F_ONLINK, RTN_UNICAST,
};

/// `RTM_NEWNEXTHOP`.
pub const RTM_NEWNEXTHOP: u16 = 104;
/// `RTM_DELNEXTHOP`.
pub const RTM_DELNEXTHOP: u16 = 105;
/// `RTM_GETNEXTHOP`.
pub const RTM_GETNEXTHOP: u16 = 106;

/// `RTNLGRP_NEXTHOP` (32) as a legacy group bit: nexthop notifications.
pub const NEXTHOP_GROUP_BIT: u32 = 1 << 31;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const AF_UNSPEC: u8 = 0;

/// What a nexthop object is: one next hop, or a group of others (ECMP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NexthopKind {
    /// One gateway on one interface.
    Hop(Hop),
    /// A multipath group of these object ids (equal weights).
    Group(Vec<u32>),
    /// Anything else (blackhole, FDB, resilient, encapsulation): never one
    /// of Twill's.
    Other,
}

/// A nexthop object as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelNexthop {
    /// `NHA_ID`.
    pub id: u32,
    /// `nh_protocol`.
    pub protocol: u8,
    /// What it is.
    pub kind: NexthopKind,
}

fn put_nhmsg(buf: &mut Vec<u8>, family: u8, protocol: u8, flags: u32) {
    buf.extend_from_slice(&[family, 0, protocol, 0]);
    put_u32(buf, flags);
}

fn mode(replace: bool) -> u16 {
    NLM_F_REQUEST | NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL }
}

/// Appends an `RTM_NEWNEXTHOP` for object `id`, one next hop. The kernel
/// requires the interface (`NHA_OIF`): `hop.ifindex` must not be 0.
/// `replace` selects `NLM_F_REPLACE` (an object known to be Twill's) over
/// `NLM_F_EXCL` (fails with `EEXIST` when the id is taken).
pub fn new_hop(buf: &mut Vec<u8>, seq: u32, protocol: u8, id: u32, hop: &Hop, replace: bool) {
    let start = begin(buf, RTM_NEWNEXTHOP, mode(replace), seq);
    let flags = if hop.onlink { RTNH_F_ONLINK } else { 0 };
    put_nhmsg(buf, family_of(&hop.addr), protocol, flags);
    put_attr(buf, NHA_ID, &id.to_ne_bytes());
    put_attr(buf, NHA_OIF, &hop.ifindex.to_ne_bytes());
    let (bytes, n) = addr_bytes(&hop.addr);
    put_attr(buf, NHA_GATEWAY, &bytes[..n]);
    finish(buf, start);
}

/// Appends an `RTM_NEWNEXTHOP` for group `id` of the objects `members`
/// (multipath, equal weights).
pub fn new_group(
    buf: &mut Vec<u8>,
    seq: u32,
    protocol: u8,
    id: u32,
    members: &[u32],
    replace: bool,
) {
    let start = begin(buf, RTM_NEWNEXTHOP, mode(replace), seq);
    put_nhmsg(buf, AF_UNSPEC, protocol, 0);
    put_attr(buf, NHA_ID, &id.to_ne_bytes());
    // struct nexthop_grp: id, weight - 1, weight_high, reserved
    let mut grp = Vec::with_capacity(members.len() * 8);
    for m in members {
        grp.extend_from_slice(&m.to_ne_bytes());
        grp.extend_from_slice(&[0, 0, 0, 0]);
    }
    put_attr(buf, NHA_GROUP, &grp);
    finish(buf, start);
}

/// Appends an `RTM_DELNEXTHOP` for object `id`. The kernel does not match
/// the protocol on delete: the caller only names ids it knows are Twill's.
pub fn del_nexthop(buf: &mut Vec<u8>, seq: u32, id: u32) {
    let start = begin(buf, RTM_DELNEXTHOP, NLM_F_REQUEST, seq);
    put_nhmsg(buf, AF_UNSPEC, 0, 0);
    put_attr(buf, NHA_ID, &id.to_ne_bytes());
    finish(buf, start);
}

/// Appends an `RTM_NEWROUTE` for `prefix` that forwards through nexthop
/// object `nh_id` (`RTA_NH_ID`). `replace` as for
/// [`super::netlink::new_route`].
pub fn new_route_via_object(
    buf: &mut Vec<u8>,
    seq: u32,
    key: &RouteKey,
    prefix: &Prefix,
    nh_id: u32,
    replace: bool,
) {
    let unicast = RouteMsg::new(replace, RTN_UNICAST, 0);
    let start = route_head(buf, seq, key, prefix, unicast);
    put_attr(buf, RTA_NH_ID, &nh_id.to_ne_bytes());
    finish(buf, start);
}

fn gateway_of(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::from(<[u8; 4]>::try_from(v.get(..4)?).ok()?)),
        AF_INET6 => Some(IpAddr::from(<[u8; 16]>::try_from(v.get(..16)?).ok()?)),
        _ => None,
    }
}

/// Decodes an `RTM_NEWNEXTHOP` / `RTM_DELNEXTHOP` payload; `None` if
/// malformed or without an id.
pub fn parse_nexthop(payload: &[u8]) -> Option<KernelNexthop> {
    let hdr = payload.get(..8)?;
    let (family, protocol) = (hdr[0], hdr[2]);
    let flags = u32::from_ne_bytes(hdr[4..8].try_into().ok()?);
    let mut id = None;
    let mut oif = 0;
    let mut gateway = None;
    let mut group = None;
    let mut other = false;
    for (t, v) in attrs(payload.get(8..)?) {
        match t {
            NHA_ID => id = u32_of(v),
            NHA_OIF => oif = u32_of(v)?,
            NHA_GATEWAY => gateway = gateway_of(family, v),
            NHA_GROUP => {
                group = Some(
                    v.chunks_exact(8)
                        .filter_map(|c| u32_of(&c[..4]))
                        .collect::<Vec<u32>>(),
                )
            }
            // NHA_GROUP_TYPE (mpath, 0, or resilient) is checked below;
            // blackhole, encapsulation, FDB, master: not Twill's.
            3 => other |= u16::from_ne_bytes(v.get(..2)?.try_into().ok()?) != 0,
            4 | 7 | 8 | 10 | 11 | 12 => other = true,
            _ => {}
        }
    }
    let kind = match (other, group, gateway) {
        (false, Some(g), _) => NexthopKind::Group(g),
        (false, None, Some(addr)) if oif != 0 => NexthopKind::Hop(Hop {
            addr,
            ifindex: oif,
            onlink: flags & RTNH_F_ONLINK != 0,
        }),
        _ => NexthopKind::Other,
    };
    Some(KernelNexthop {
        id: id?,
        protocol,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::{header, messages, parse_route};

    fn hop(a: &str, ifindex: u32, onlink: bool) -> Hop {
        Hop {
            addr: a.parse().unwrap(),
            ifindex,
            onlink,
        }
    }

    #[test]
    fn new_hop_bytes() {
        let mut buf = Vec::new();
        new_hop(
            &mut buf,
            5,
            84,
            0x5400_0001,
            &hop("198.18.0.2", 3, true),
            false,
        );
        let mut want = header(
            48,
            RTM_NEWNEXTHOP,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
            5,
        );
        want.extend_from_slice(&[2, 0, 84, 0]);
        want.extend_from_slice(&4u32.to_ne_bytes());
        want.extend_from_slice(&[8, 0, 1, 0]);
        want.extend_from_slice(&0x5400_0001u32.to_ne_bytes());
        want.extend_from_slice(&[8, 0, 5, 0]);
        want.extend_from_slice(&3u32.to_ne_bytes());
        want.extend_from_slice(&[8, 0, 6, 0, 198, 18, 0, 2]);
        assert_eq!(buf, want);
    }

    #[test]
    fn objects_round_trip_through_the_parser() {
        let mut buf = Vec::new();
        new_hop(&mut buf, 1, 84, 7, &hop("fd00::2", 4, false), true);
        new_group(&mut buf, 2, 84, 9, &[7, 8], false);
        del_nexthop(&mut buf, 3, 9);
        let m: Vec<_> = messages(&buf).collect();
        assert_eq!(m.len(), 3);
        assert_eq!(
            parse_nexthop(m[0].payload),
            Some(KernelNexthop {
                id: 7,
                protocol: 84,
                kind: NexthopKind::Hop(hop("fd00::2", 4, false)),
            })
        );
        assert_eq!(
            parse_nexthop(m[1].payload),
            Some(KernelNexthop {
                id: 9,
                protocol: 84,
                kind: NexthopKind::Group(vec![7, 8]),
            })
        );
        assert_eq!(
            (m[2].kind, parse_nexthop(m[2].payload).map(|n| n.id)),
            (RTM_DELNEXTHOP, Some(9))
        );
    }

    #[test]
    fn route_via_object_carries_the_id() {
        let key = RouteKey {
            protocol: 84,
            table: 254,
            metric: None,
        };
        let mut buf = Vec::new();
        let p = Prefix::new("203.0.113.0".parse().unwrap(), 24).unwrap();
        new_route_via_object(&mut buf, 1, &key, &p, 0x5400_0002, false);
        let m = messages(&buf).next().unwrap();
        let r = parse_route(m.payload).unwrap();
        assert_eq!((r.prefix, r.protocol, r.nh_id), (p, 84, Some(0x5400_0002)));
    }

    #[test]
    fn malformed_objects_are_skipped_not_panicking() {
        let mut buf = Vec::new();
        new_group(&mut buf, 2, 84, 9, &[7, 8, 10], false);
        for cut in 0..buf.len() {
            let _ = parse_nexthop(&buf[16.min(cut)..cut]);
        }
    }
}
