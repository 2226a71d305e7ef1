//! Socket options that `socket2` does not cover: TCP-MD5 (RFC 2385) and the
//! GTSM minimum TTL / hop count (RFC 5082). Linux only.
//!
//! This is the one module of the crate with `unsafe`: each block is a single
//! `setsockopt(2)` call on a borrowed, open descriptor with a pointer to a
//! value that lives for the whole call.
#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

/// Largest TCP-MD5 key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_MD5_KEY_LEN: usize = 80;

/// Size of `struct sockaddr_storage` (`__kernel_sockaddr_storage`).
const SOCKADDR_STORAGE_LEN: usize = 128;
/// Size of `struct tcp_md5sig`: address, flags, prefix length, key length,
/// interface index, key.
const TCP_MD5SIG_LEN: usize = SOCKADDR_STORAGE_LEN + 1 + 1 + 2 + 4 + MAX_MD5_KEY_LEN;

/// `struct tcp_md5sig` from `<linux/tcp.h>`, laid out by hand.
#[repr(C, align(8))]
struct TcpMd5Sig([u8; TCP_MD5SIG_LEN]);

impl TcpMd5Sig {
    /// The option value for `peer` with `key` (empty key: remove the key).
    /// `v6_socket`: the socket is AF_INET6, so an IPv4 peer is written as
    /// an IPv4-mapped address (the kernel files it under AF_INET).
    fn new(peer: IpAddr, key: &[u8], v6_socket: bool) -> io::Result<Self> {
        if key.len() > MAX_MD5_KEY_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "TCP-MD5 key of {} octets (at most {MAX_MD5_KEY_LEN})",
                    key.len()
                ),
            ));
        }
        let mut v = [0u8; TCP_MD5SIG_LEN];
        let peer = match peer {
            IpAddr::V4(a) if v6_socket => IpAddr::V6(a.to_ipv6_mapped()),
            other => other,
        };
        match peer {
            IpAddr::V4(a) => {
                // struct sockaddr_in: family, port (0), address.
                v[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                v[4..8].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                // struct sockaddr_in6: family, port, flow info, address, scope.
                v[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                v[8..24].copy_from_slice(&a.octets());
            }
        }
        let keylen = SOCKADDR_STORAGE_LEN + 2;
        v[keylen..keylen + 2].copy_from_slice(&(key.len() as u16).to_ne_bytes());
        let key_at = SOCKADDR_STORAGE_LEN + 8;
        v[key_at..key_at + key.len()].copy_from_slice(key);
        Ok(TcpMd5Sig(v))
    }
}

/// Set (or, with an empty key, remove) the TCP-MD5 key for `peer` on
/// `socket` (RFC 2385; Linux `TCP_MD5SIG`). On a listening socket it
/// applies to connections from `peer`; on a connecting socket it must be set
/// before `connect`.
pub fn set_tcp_md5sig(socket: &impl AsFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    let fd = socket.as_fd();
    let v6_socket = socket2::SockRef::from(&fd).domain()? == socket2::Domain::IPV6;
    let value = TcpMd5Sig::new(peer, key, v6_socket)?;
    // SAFETY: `fd` is an open descriptor borrowed for this call; the pointer
    // and length describe `value`, a live, initialised `struct tcp_md5sig`
    // the kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&value as *const TcpMd5Sig).cast(),
            TCP_MD5SIG_LEN as libc::socklen_t,
        )
    };
    check(rc)
}

/// GTSM (RFC 5082 §3): refuse packets whose TTL (IPv4, `IP_MINTTL`) or hop
/// limit (IPv6, `IPV6_MINHOPCOUNT`) is below `min`.
pub fn set_min_ttl(socket: &impl AsFd, ipv6: bool, min: u8) -> io::Result<()> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    set_int(socket, level, name, libc::c_int::from(min))
}

fn set_int(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    let fd = socket.as_fd();
    // SAFETY: `fd` is an open descriptor borrowed for this call; the pointer
    // and length describe `v`, a live `c_int` the kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sig_layout() {
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
        let v = TcpMd5Sig::new("198.18.0.2".parse().unwrap(), b"secret", false).unwrap();
        assert_eq!(&v.0[..2], &(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(&v.0[4..8], &[198, 18, 0, 2]);
        assert_eq!(&v.0[130..132], &6u16.to_ne_bytes());
        assert_eq!(&v.0[136..142], b"secret");
        let m = TcpMd5Sig::new("198.18.0.2".parse().unwrap(), b"k", true).unwrap();
        assert_eq!(&m.0[..2], &(libc::AF_INET6 as u16).to_ne_bytes());
        assert_eq!(
            &m.0[8..24],
            &"::ffff:198.18.0.2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert!(TcpMd5Sig::new("fd00::1".parse().unwrap(), &[0; 81], true).is_err());
    }
}
