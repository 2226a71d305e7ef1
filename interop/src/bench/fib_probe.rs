//! When is a whole table in the kernel? A cheap probe first, one exact
//! count last.
//!
//! The exact count (`Prefixes:` of the main table in
//! `/proc/PID/net/fib_triestat`) walks the whole FIB trie under
//! `rcu_read_lock`: about 60 ms with a full table on this machine. Polled
//! every 20 ms it keeps a reader inside the trie most of the time, and
//! every `synchronize_rcu` the device's own inserts trigger (the trie frees
//! its replaced nodes in batches of `net.ipv4.fib_sync_mem`, 512 KiB by
//! default) waits for that reader: the harness would slow down what it
//! measures, by seconds on a full table.
//!
//! So [`FibProbe`] first looks up a sample of the table's /24 prefixes,
//! each with one `RTM_GETROUTE` and `RTM_F_FIB_MATCH` (the FIB entry that
//! matches, rtnetlink(7)): a few microseconds each, and a prefix found
//! is not looked up again. Only once the whole sample is there (with 4,096
//! sampled prefixes, about one route in 4,000 is still missing) does the
//! caller read the exact count.

use std::os::fd::{AsRawFd, OwnedFd};
use std::thread;

use bgp::wire::Ipv4Prefix;
use nix::libc;
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use crate::bench::speaker::enter_namespace;
use crate::bench::BenchError;

/// Prefixes sampled (at most).
pub const SAMPLE: usize = 4096;
/// Lookups written in one `send` (the replies of one batch fit the
/// socket's default receive buffer).
const BATCH: usize = 128;

// The kernel's values (libc), in the widths of their fields.
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const RTM_NEWROUTE: u16 = libc::RTM_NEWROUTE;
const RTM_GETROUTE: u16 = libc::RTM_GETROUTE;
/// rtnetlink(7): return the FIB entry that matches, not a resolved route.
const RTM_F_FIB_MATCH: u32 = libc::RTM_F_FIB_MATCH;
const RTA_DST: u16 = libc::RTA_DST;
const AF_INET: u8 = libc::AF_INET as u8;
/// nlmsghdr (16) + rtmsg (12) + RTA_DST (4 + 4).
const REQUEST_LEN: usize = 36;

/// A netlink socket in the device's namespace and the sampled prefixes
/// not seen in its FIB yet.
#[derive(Debug)]
pub struct FibProbe {
    socket: OwnedFd,
    missing: Vec<Ipv4Prefix>,
}

impl FibProbe {
    /// A probe of network namespace `ns` for up to [`SAMPLE`] of the /24
    /// prefixes of `table`, spread over it. A table without /24s gives
    /// an empty sample: [`FibProbe::all_present`] is then true at once.
    pub fn new(ns: &str, table: &[Ipv4Prefix]) -> Result<Self, BenchError> {
        let slash24: Vec<Ipv4Prefix> = table.iter().copied().filter(|p| p.len() == 24).collect();
        let step = slash24.len().div_ceil(SAMPLE).max(1);
        let missing = slash24.into_iter().step_by(step).collect();
        let ns = ns.to_string();
        // The socket belongs to the namespace of the thread that opens it.
        let socket = thread::spawn(move || -> Result<OwnedFd, BenchError> {
            enter_namespace(&ns)?;
            let fd = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )
            .map_err(|e| BenchError::Setup(format!("netlink socket: {e}")))?;
            bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
                .map_err(|e| BenchError::Setup(format!("netlink bind: {e}")))?;
            // A lost reply (a full receive buffer) fails the run instead
            // of hanging it.
            setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(5, 0))
                .map_err(|e| BenchError::Setup(format!("netlink SO_RCVTIMEO: {e}")))?;
            Ok(fd)
        })
        .join()
        .map_err(|_| BenchError::Setup("netlink probe thread panicked".into()))??;
        Ok(FibProbe { socket, missing })
    }

    /// Looks up the sampled prefixes not seen yet; whether all are now in
    /// the FIB (exactly: a /24 in a table of /24 and shorter matches only
    /// itself).
    pub fn all_present(&mut self) -> Result<bool, BenchError> {
        let mut still = Vec::new();
        for batch in self.missing.chunks(BATCH) {
            let mut buf = Vec::with_capacity(batch.len() * REQUEST_LEN);
            for (seq, p) in batch.iter().enumerate() {
                request(&mut buf, seq as u32, *p);
            }
            send(self.socket.as_raw_fd(), &buf, MsgFlags::empty())
                .map_err(|e| BenchError::Run(format!("netlink send: {e}")))?;
            let mut found = vec![false; batch.len()];
            let mut answered = 0;
            let mut rx = vec![0u8; 64 * 1024];
            while answered < batch.len() {
                let n = recv(self.socket.as_raw_fd(), &mut rx, MsgFlags::empty())
                    .map_err(|e| BenchError::Run(format!("netlink recv: {e}")))?;
                for (seq, hit) in replies(&rx[..n]) {
                    if let Some(f) = found.get_mut(seq as usize) {
                        *f = hit.is_some_and(|len| len == 24);
                        answered += 1;
                    }
                }
            }
            still.extend(batch.iter().zip(found).filter(|(_, f)| !f).map(|(p, _)| *p));
        }
        self.missing = still;
        Ok(self.missing.is_empty())
    }
}

/// Appends an `RTM_GETROUTE` of the FIB entry matching `p`'s address.
fn request(buf: &mut Vec<u8>, seq: u32, p: Ipv4Prefix) {
    // nlmsghdr
    buf.extend_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    buf.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    buf.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type,
    // flags
    buf.extend_from_slice(&[AF_INET, 32, 0, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&RTM_F_FIB_MATCH.to_ne_bytes());
    // RTA_DST
    buf.extend_from_slice(&8u16.to_ne_bytes());
    buf.extend_from_slice(&RTA_DST.to_ne_bytes());
    buf.extend_from_slice(&p.addr().octets());
}

/// The (sequence number, matched prefix length) of each reply in `buf`:
/// `None` for an error (no route).
fn replies(mut buf: &[u8]) -> Vec<(u32, Option<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        match kind {
            RTM_NEWROUTE if len >= 18 => out.push((seq, Some(buf[17]))),
            NLMSG_ERROR => out.push((seq, None)),
            _ => {}
        }
        // NLMSG_ALIGN
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::{env, Lab};

    /// An nlmsghdr: length, type, flags, sequence number, port 0.
    fn header(len: u32, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_ne_bytes());
        h.extend_from_slice(&kind.to_ne_bytes());
        h.extend_from_slice(&flags.to_ne_bytes());
        h.extend_from_slice(&seq.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h
    }

    /// `ip -n NS -batch -` of `lines`.
    fn ip_batch(ns: &str, lines: &[String]) {
        let mut child = Command::new("ip")
            .args(["-n", ns, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.join("\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// In a namespace of its own: the probe misses routes not installed
    /// yet (a covering /16 is not the /24), then sees them all.
    #[test]
    fn the_probe_sees_a_table_arrive() {
        if !env::preflight("fib_probe", &[]) {
            return;
        }
        let mut lab = Lab::new("fibprobe").unwrap();
        let ns = lab.namespace("dut").unwrap();
        // 300 /24s of 198.18.0.0/15.
        let table: Vec<Ipv4Prefix> = (0..300u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0xC612_0000 | i << 8);
                Ipv4Prefix::new(a, 24).unwrap()
            })
            .collect();
        let add = |ps: &[Ipv4Prefix]| -> Vec<String> {
            // (A blackhole route cannot be looked up: EINVAL.)
            ps.iter().map(|p| format!("route add {p} dev lo")).collect()
        };
        let mut probe = FibProbe::new(&ns.name, &table).unwrap();
        assert!(!probe.all_present().unwrap());
        ip_batch(
            &ns.name,
            &[
                "link set lo up".to_string(),
                "route add 198.19.0.0/16 dev lo".to_string(),
            ],
        );
        ip_batch(&ns.name, &add(&table[..299]));
        assert!(!probe.all_present().unwrap());
        assert_eq!(probe.missing, vec![table[299]]);
        ip_batch(&ns.name, &add(&table[299..]));
        assert!(probe.all_present().unwrap());
    }

    /// The request is the 36 bytes rtnetlink expects.
    #[test]
    fn a_request_is_one_fib_match_lookup() {
        let mut buf = Vec::new();
        request(&mut buf, 7, "198.18.5.0/24".parse().unwrap());
        let mut want = header(36, 26, 1, 7);
        want.extend_from_slice(&[2, 32, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&0x2000u32.to_ne_bytes());
        want.extend_from_slice(&8u16.to_ne_bytes());
        want.extend_from_slice(&1u16.to_ne_bytes());
        want.extend_from_slice(&[198, 18, 5, 0]);
        assert_eq!(buf, want);
    }

    /// A route reply gives its prefix length, an error reply none; a
    /// truncated message ends the walk.
    #[test]
    fn replies_are_read_by_sequence_number() {
        // RTM_NEWROUTE, seq 3, 28 bytes: header + rtmsg (dst_len 24).
        let mut buf = header(28, 24, 0, 3);
        buf.extend_from_slice(&[2, 24, 0, 0, 254, 84, 0, 1, 0, 0, 0, 0]);
        // NLMSG_ERROR, seq 4, 36 bytes (error code and the request's
        // header).
        buf.extend(header(36, 2, 0, 4));
        buf.extend_from_slice(&(-101i32).to_ne_bytes());
        buf.extend_from_slice(&[0; 16]);
        // A truncated header.
        buf.extend_from_slice(&[40, 0, 0]);
        assert_eq!(replies(&buf), vec![(3, Some(24)), (4, None)]);
    }
}
