//! The netlink side of the next-hop check: the start-up dump of links and
//! routes, and the watch thread that keeps the table current
//! (`RTM_NEWROUTE` / `RTM_DELROUTE`, `RTM_NEWLINK` / `RTM_DELLINK`). A
//! lost notification (the socket overflowed) costs a full re-read.
//!
//! The watch socket drops Twill's own route notifications in the kernel (a
//! socket filter on `rtm_protocol`): a full table written by the FIB writer
//! never reaches this thread.

use std::os::fd::AsFd;
use std::sync::{Arc, Weak};
use std::time::Duration;

use nix::errno::Errno;
use tracing::{debug, info, warn};

use super::table::{ReachRoute, ReachTable, RouteKind};
use super::{ReachConfig, Shared};
use crate::fib::netlink::{
    self, RTM_DELLINK, RTM_DELROUTE, RTM_GETLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWROUTE,
};
use crate::fib::socket::{NetlinkSocket, SocketError};

/// Errors starting the check.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// A netlink socket failed.
    #[error("next-hop check: {0}")]
    Socket(#[from] SocketError),
    /// The watch thread could not be started.
    #[error("next-hop check thread: {0}")]
    Thread(std::io::Error),
}

/// Legacy multicast groups: links (`RTMGRP_LINK`), IPv4 and IPv6 routes
/// (`RTMGRP_IPV4_ROUTE`, `RTMGRP_IPV6_ROUTE`).
pub const GROUPS: u32 = 0x1 | 0x40 | 0x400;

/// `RTA_OIF`.
const RTA_OIF: u16 = 4;

/// The main routing table (`RT_TABLE_MAIN`), read whatever `fib.table` is.
const MAIN_TABLE: u32 = 254;

/// How often the watch thread looks whether the resolver is gone.
const POLL: Duration = Duration::from_millis(500);

/// `RTA_OIF` of a route message: the interface of a route without a
/// gateway (a connected or `dev` route), which [`netlink::parse_route`]
/// does not report.
fn oif(payload: &[u8]) -> Option<u32> {
    let mut at = 12; // struct rtmsg
    while let Some(h) = payload.get(at..at + 4) {
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        if len < 4 {
            return None;
        }
        if u16::from_ne_bytes([h[2], h[3]]) & 0x3fff == RTA_OIF {
            return Some(u32::from_ne_bytes(
                payload.get(at + 4..at + 8)?.try_into().ok()?,
            ));
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

/// A route message as the check keeps it; `None` for Twill's routes,
/// routes of other tables and types that neither forward nor drop.
pub fn reach_route(config: &ReachConfig, payload: &[u8]) -> Option<ReachRoute> {
    let r = netlink::parse_route(payload)?;
    if r.protocol == config.protocol || (r.table != MAIN_TABLE && r.table != config.table) {
        return None;
    }
    let kind = RouteKind::of(r.kind)?;
    let mut oifs: Vec<u32> = r.hops.iter().map(|h| h.ifindex).collect();
    if oifs.is_empty() {
        oifs.extend(oif(payload));
    }
    oifs.retain(|&i| i != 0);
    oifs.sort_unstable();
    oifs.dedup();
    Some(ReachRoute {
        prefix: r.prefix,
        table: r.table,
        metric: r.metric,
        kind,
        oifs,
    })
}

/// Applies one notification (or dump message) to `table`; true if it
/// changed.
pub fn apply(config: &ReachConfig, table: &mut ReachTable, kind: u16, payload: &[u8]) -> bool {
    match kind {
        RTM_NEWROUTE => reach_route(config, payload).is_some_and(|r| table.add(r)),
        RTM_DELROUTE => reach_route(config, payload).is_some_and(|r| table.remove(&r)),
        RTM_NEWLINK => netlink::parse_link(payload).is_some_and(|(i, f)| table.set_link(i, f)),
        RTM_DELLINK => netlink::parse_link(payload).is_some_and(|(i, _)| table.remove_link(i)),
        _ => false,
    }
}

/// Reads the links and routes of the socket's namespace into a new table.
fn load(config: &ReachConfig, req: &mut NetlinkSocket) -> Result<ReachTable, SocketError> {
    let mut table = ReachTable::new();
    for kind in [RTM_GETLINK, RTM_GETROUTE] {
        req.dump(kind, |m| {
            apply(config, &mut table, m.kind, m.payload);
        })?;
    }
    Ok(table)
}

/// A socket filter (classic BPF) that drops route notifications of
/// protocol `protocol`: Twill's own writes.
pub fn ignore_protocol(sock: &NetlinkSocket, protocol: u8) -> Result<(), SocketError> {
    use socket2::SockFilter;
    let io = |op| {
        move |e: std::io::Error| SocketError::Sys {
            op,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        }
    };
    // BPF_LD|BPF_H|BPF_ABS loads in network order: compare with the
    // host-order bytes read as big-endian.
    let be = |kind: u16| u32::from(u16::from_be_bytes(kind.to_ne_bytes()));
    let prog = [
        SockFilter::new(0x28, 0, 0, 4),                // A = nlmsg_type
        SockFilter::new(0x15, 2, 0, be(RTM_NEWROUTE)), // route? check it
        SockFilter::new(0x15, 1, 0, be(RTM_DELROUTE)),
        SockFilter::new(0x06, 0, 0, u32::MAX), // accept the rest
        SockFilter::new(0x30, 0, 0, 16 + 5),   // A = rtm_protocol
        SockFilter::new(0x15, 0, 1, u32::from(protocol)), // Twill's?
        SockFilter::new(0x06, 0, 0, 0),        // drop
        SockFilter::new(0x06, 0, 0, u32::MAX), // accept
    ];
    let fd = sock.as_fd().try_clone_to_owned().map_err(io("dup"))?;
    socket2::Socket::from(fd)
        .attach_filter(&prog)
        .map_err(io("setsockopt(SO_ATTACH_FILTER)"))
}

/// Opens the sockets in the calling thread's namespace, loads the table
/// into `shared` and starts the watch thread.
pub(super) fn start(config: ReachConfig, shared: &Arc<Shared>) -> Result<(), ReachError> {
    // Watch first, so that nothing changes unseen between dump and watch.
    let watch = NetlinkSocket::open(GROUPS)?;
    ignore_protocol(&watch, config.protocol)?;
    watch.set_receive_timeout(POLL)?;
    let mut req = NetlinkSocket::open(0)?;
    let table = load(&config, &mut req)?;
    info!(routes = table.len(), "next-hop check started");
    shared.lock().table = table;
    let weak = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name("twill-reach".into())
        .spawn(move || watch_loop(config, watch, req, weak))
        .map_err(ReachError::Thread)?;
    Ok(())
}

/// Blocking reads of the watch socket until the resolver is gone; each
/// burst of notifications is applied at once.
fn watch_loop(
    config: ReachConfig,
    mut watch: NetlinkSocket,
    mut req: NetlinkSocket,
    shared: Weak<Shared>,
) {
    let mut msgs: Vec<(u16, Vec<u8>)> = Vec::new();
    loop {
        let mut r = watch.recv_with(true, |m| msgs.push((m.kind, m.payload.to_vec())));
        while matches!(r, Ok(true)) {
            r = watch.recv_with(false, |m| msgs.push((m.kind, m.payload.to_vec())));
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match r {
            Ok(_)
            | Err(SocketError::Sys {
                errno: Errno::EAGAIN | Errno::EINTR,
                ..
            }) => {}
            Err(SocketError::Sys {
                errno: Errno::ENOBUFS,
                ..
            }) => {
                warn!("next-hop check: notifications lost, reading the table again");
                msgs.clear();
                match load(&config, &mut req) {
                    Ok(table) => shared.update(|t| {
                        *t = table;
                        true
                    }),
                    Err(e) => warn!("next-hop check: {e}"),
                }
            }
            Err(e) => {
                warn!("next-hop check stopped: {e}");
                return;
            }
        }
        if !msgs.is_empty() {
            debug!(messages = msgs.len(), "next-hop check: kernel changes");
            shared.update(|t| {
                msgs.iter()
                    .fold(false, |ch, (kind, p)| apply(&config, t, *kind, p) | ch)
            });
            msgs.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::{messages, new_route, Forward, Hop, RouteKey};
    use ribs::decision::Reachability;
    use ribs::Prefix;

    const CONFIG: ReachConfig = ReachConfig {
        protocol: 84,
        table: 100,
    };

    fn route_msg(protocol: u8, table: u32, prefix: &str, forward: Forward) -> Vec<u8> {
        let (a, l) = prefix.split_once('/').unwrap();
        let prefix = Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap();
        let key = RouteKey {
            protocol,
            table,
            metric: Some(10),
        };
        let mut buf = Vec::new();
        new_route(&mut buf, 1, &key, &prefix, &forward, true);
        let m = messages(&buf).next().unwrap();
        m.payload.to_vec()
    }

    fn via(addr: &str, ifindex: u32) -> Forward {
        Forward::Hops(vec![Hop {
            addr: addr.parse().unwrap(),
            ifindex,
            onlink: false,
        }])
    }

    #[test]
    fn twill_routes_and_other_tables_are_left_out() {
        let mut t = ReachTable::new();
        let static_route = route_msg(4, 254, "198.19.5.0/24", via("198.18.0.2", 3));
        let twill = route_msg(84, 254, "203.0.113.0/24", via("198.18.0.2", 3));
        let other_table = route_msg(4, 200, "192.0.2.0/24", via("198.18.0.2", 3));
        let fib_table = route_msg(4, 100, "198.51.100.0/24", Forward::Unreachable);
        assert!(apply(&CONFIG, &mut t, RTM_NEWROUTE, &static_route));
        assert!(!apply(&CONFIG, &mut t, RTM_NEWROUTE, &twill));
        assert!(!apply(&CONFIG, &mut t, RTM_NEWROUTE, &other_table));
        assert!(apply(&CONFIG, &mut t, RTM_NEWROUTE, &fib_table));
        assert_eq!(
            reach_route(&CONFIG, &static_route).map(|r| (r.metric, r.oifs)),
            Some((10, vec![3]))
        );
        let at = |t: &ReachTable, a: &str| t.resolve(a.parse().unwrap());
        assert_eq!(
            at(&t, "198.19.5.1"),
            Reachability::Reachable { igp_cost: Some(10) }
        );
        assert_eq!(at(&t, "203.0.113.1"), Reachability::Unreachable);
        assert_eq!(at(&t, "192.0.2.1"), Reachability::Unreachable);
        assert_eq!(at(&t, "198.51.100.1"), Reachability::Unreachable);
        assert!(apply(&CONFIG, &mut t, RTM_DELROUTE, &static_route));
        assert_eq!(at(&t, "198.19.5.1"), Reachability::Unreachable);
    }

    #[test]
    fn the_interface_of_a_route_without_gateway_is_read() {
        let mut buf = route_msg(2, 254, "198.18.0.0/24", via("198.18.0.2", 7));
        // the same message with RTA_GATEWAY renamed to an unknown type:
        // only RTA_OIF names the interface
        let gw = buf
            .windows(4)
            .position(|w| w == [8, 0, 5, 0])
            .expect("RTA_GATEWAY");
        buf[gw + 2] = 99;
        assert_eq!(oif(&buf), Some(7));
        let r = reach_route(&CONFIG, &buf).unwrap();
        assert_eq!(r.oifs, vec![7]);
        // truncated input: no panic, no interface
        for cut in 0..buf.len() {
            let _ = oif(&buf[..cut]);
            let _ = reach_route(&CONFIG, &buf[..cut]);
        }
    }
}
