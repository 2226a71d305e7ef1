//! Netlink route sockets: one for requests (batched writes and dumps), one
//! for the watch (multicast notifications of links, addresses and routes).
//!
//! A socket belongs to the network namespace of the thread that opens it.
//!
//! Batching: the kernel runs every message of one `sendmsg` in that call
//! (`netlink_rcv_skb`), so when `send` returns, the answers of the whole
//! batch are queued on the socket. Only the last message of a batch asks
//! for an acknowledgement (`NLM_F_ACK`); the kernel answers any other one
//! only when it fails, with an `NLMSG_ERROR` carrying that message's
//! sequence number. Reading up to the last acknowledgement thus yields
//! every error of the batch, each matched to its route by sequence number.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    bind, getsockname, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags,
    NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use super::netlink::{self, Message, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK};

/// Errors of the netlink sockets themselves (not of one route).
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A system call failed.
    #[error("netlink {op}: {errno}")]
    Sys {
        /// The call.
        op: &'static str,
        /// Its error.
        errno: Errno,
    },
    /// The answers of a batch did not all arrive (lost or timed out).
    #[error("netlink: {missing} answers of a batch missing")]
    Incomplete {
        /// How many messages got no answer.
        missing: usize,
    },
    /// A dump ended with an error.
    #[error("netlink dump failed: errno {0}")]
    Dump(i32),
}

fn sys<T>(op: &'static str, r: nix::Result<T>) -> Result<T, SocketError> {
    r.map_err(|errno| SocketError::Sys { op, errno })
}

/// Buffer sizes requested with `SO_RCVBUFFORCE` / `SO_SNDBUFFORCE` (needs
/// `CAP_NET_ADMIN`, which writing routes needs anyway; falls back to the
/// capped `SO_RCVBUF` otherwise).
const SOCKET_BUFFER: usize = 32 << 20;

/// A netlink route socket.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    port_id: u32,
    seq: u32,
    rx: Vec<u8>,
}

impl NetlinkSocket {
    /// A socket joined to the multicast `groups` (legacy `RTMGRP_*` bits;
    /// 0 for a request socket). Blocking, with a receive timeout.
    pub fn open(groups: u32) -> Result<Self, SocketError> {
        let fd = sys(
            "socket",
            socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            ),
        )?;
        if setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
        }
        if setsockopt(&fd, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
        }
        // A batch is answered within its sendmsg: a long wait means loss.
        let timeout = TimeVal::new(RECEIVE_TIMEOUT.as_secs() as _, 0);
        sys(
            "setsockopt(SO_RCVTIMEO)",
            setsockopt(&fd, sockopt::ReceiveTimeout, &timeout),
        )?;
        sys("bind", bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)))?;
        let port_id = sys("getsockname", getsockname::<NetlinkAddr>(fd.as_raw_fd()))?.pid();
        Ok(NetlinkSocket {
            fd,
            port_id,
            seq: 1,
            rx: vec![0; 1 << 16],
        })
    }

    /// The socket's netlink port id (`nlmsg_pid` of the kernel's
    /// notifications about this socket's requests).
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Drops every notification caused by requests of the socket with port
    /// id `port_id` (a classic BPF filter on `nlmsg_pid`): the watch then
    /// sees only what others change, and not the echo of Twill's own
    /// writes (a million of them for a full table).
    pub fn ignore_port(&self, port_id: u32) -> Result<(), SocketError> {
        use socket2::SockFilter;
        // BPF_LD|BPF_W|BPF_ABS loads in network order: compare with the
        // host-order bytes of `port_id` read as big-endian.
        let k = u32::from_be_bytes(port_id.to_ne_bytes());
        let prog = [
            SockFilter::new(0x20, 0, 0, 12),       // A = nlmsg_pid
            SockFilter::new(0x15, 1, 0, k),        // if A == k goto drop
            SockFilter::new(0x06, 0, 0, u32::MAX), // accept
            SockFilter::new(0x06, 0, 0, 0),        // drop
        ];
        let s = socket2::Socket::from(self.fd.try_clone().map_err(|e| SocketError::Sys {
            op: "dup",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?);
        s.attach_filter(&prog).map_err(|e| SocketError::Sys {
            op: "setsockopt(SO_ATTACH_FILTER)",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })
    }

    /// Sets the receive buffer (`SO_RCVBUFFORCE`, else the capped
    /// `SO_RCVBUF`): a small one loses answers to large batches.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<(), SocketError> {
        if setsockopt(&self.fd, sockopt::RcvBufForce, &bytes).is_ok() {
            return Ok(());
        }
        sys(
            "setsockopt(SO_RCVBUF)",
            setsockopt(&self.fd, sockopt::RcvBuf, &bytes),
        )
    }

    /// Sets how long a blocking receive waits (`SO_RCVTIMEO`).
    pub fn set_receive_timeout(&self, timeout: Duration) -> Result<(), SocketError> {
        let tv = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
        sys(
            "setsockopt(SO_RCVTIMEO)",
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv),
        )
    }

    /// Reserves `n` consecutive sequence numbers; returns the first.
    pub fn next_seqs(&mut self, n: u32) -> u32 {
        let first = self.seq;
        self.seq = self.seq.wrapping_add(n);
        if self.seq < first {
            // wrapped: keep batches contiguous
            self.seq = n.wrapping_add(1);
            return 1;
        }
        first
    }

    /// Sends `buf`, one or more whole messages.
    pub fn send(&self, buf: &[u8]) -> Result<(), SocketError> {
        let n = sys("send", send(self.fd.as_raw_fd(), buf, MsgFlags::empty()))?;
        if n != buf.len() {
            return Err(SocketError::Sys {
                op: "send (short)",
                errno: Errno::EMSGSIZE,
            });
        }
        Ok(())
    }

    /// Receives one datagram and calls `f` for each message in it. With
    /// `wait == false`, returns `Ok(false)` when nothing is queued.
    pub fn recv_with(
        &mut self,
        wait: bool,
        mut f: impl FnMut(Message<'_>),
    ) -> Result<bool, SocketError> {
        let flags = if wait {
            MsgFlags::empty()
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        let n = match recv(self.fd.as_raw_fd(), &mut self.rx, flags) {
            Ok(n) => n,
            Err(Errno::EAGAIN) if !wait => return Ok(false),
            Err(errno) => return Err(SocketError::Sys { op: "recv", errno }),
        };
        for m in netlink::messages(&self.rx[..n]) {
            f(m);
        }
        Ok(true)
    }

    /// Sends one batch of `count` messages numbered from `first_seq`, the
    /// last of which asked for an acknowledgement, and calls
    /// `on_error(index, errno)` for each message the kernel refused.
    pub fn send_batch(
        &mut self,
        buf: &[u8],
        first_seq: u32,
        count: usize,
        mut on_error: impl FnMut(usize, i32),
    ) -> Result<(), SocketError> {
        self.send(buf)?;
        let last = first_seq.wrapping_add(count as u32).wrapping_sub(1);
        let mut done = false;
        while !done {
            // Every answer was queued before `send` returned: an empty
            // queue before the last acknowledgement means it was lost (no
            // need to wait for the receive timeout).
            let r = self.recv_with(false, |m| {
                if m.kind != NLMSG_ERROR {
                    return;
                }
                let index = m.seq.wrapping_sub(first_seq) as usize;
                if index >= count {
                    return; // an answer to an older request
                }
                let err = netlink::ack_error(m.payload).unwrap_or(0);
                if err != 0 {
                    on_error(index, err);
                }
                if m.seq == last {
                    done = true;
                }
            });
            match r {
                Ok(true) => {}
                Ok(false) => return Err(SocketError::Incomplete { missing: count }),
                Err(SocketError::Sys {
                    errno: Errno::EAGAIN | Errno::ENOBUFS,
                    ..
                }) => return Err(SocketError::Incomplete { missing: count }),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Dumps `kind` (`RTM_GETROUTE`, `RTM_GETLINK`, `RTM_GETADDR`) and
    /// calls `f` for each message of the answer.
    pub fn dump(&mut self, kind: u16, mut f: impl FnMut(Message<'_>)) -> Result<(), SocketError> {
        let seq = self.next_seqs(1);
        let mut buf = Vec::with_capacity(32);
        netlink::dump_request(&mut buf, seq, kind);
        self.send(&buf)?;
        let mut done = false;
        let mut failed = 0;
        while !done {
            let r = self.recv_with(true, |m| {
                if m.seq != seq {
                    return;
                }
                match m.kind {
                    NLMSG_DONE => done = true,
                    NLMSG_ERROR => {
                        failed = netlink::ack_error(m.payload).unwrap_or(0);
                        done = true;
                    }
                    _ => f(m),
                }
            });
            match r {
                // An overflow lost earlier answers (the caller re-reads
                // for that); the kernel fills a dump only when there is
                // room, so none of its own messages is lost.
                Err(SocketError::Sys {
                    errno: Errno::ENOBUFS,
                    ..
                }) => {}
                r => {
                    r?;
                }
            }
        }
        if failed != 0 {
            return Err(SocketError::Dump(failed));
        }
        Ok(())
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NetlinkSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// Marks the message that starts at `start` in `buf` as asking for an
/// acknowledgement (`NLM_F_ACK`).
pub fn request_ack(buf: &mut [u8], start: usize) {
    if let Some(f) = buf.get_mut(start + 6..start + 8) {
        let flags = u16::from_ne_bytes([f[0], f[1]]) | NLM_F_ACK;
        f.copy_from_slice(&flags.to_ne_bytes());
    }
}

/// How long a blocking receive waits before a batch is declared lost.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);
