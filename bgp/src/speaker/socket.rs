//! Building the listening and connecting sockets with the options of RFC
//! 2385 (TCP-MD5), RFC 5082 (GTSM), TTL, `TCP_NODELAY` and MSS.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::sockopt;
use crate::session::{ConnectFuture, Connector};

/// Well-known BGP port (RFC 4271 §8.2.1).
pub const BGP_PORT: u16 = 179;

/// Per-peer transport settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportOptions {
    /// TCP-MD5 key (RFC 2385), at most 80 octets; set on the listening
    /// sockets for the peer's address and on the connecting socket.
    pub md5_key: Option<Vec<u8>>,
    /// GTSM (RFC 5082): send with TTL 255 and refuse packets from more than
    /// this many hops away (minimum TTL 256 - hops). Usually `Some(1)`.
    pub gtsm_hops: Option<u8>,
    /// TTL (hop limit) of sent packets without GTSM; `None`: 1 for eBGP
    /// (a directly connected peer), the system default for iBGP. eBGP
    /// multihop sets it higher.
    pub ttl: Option<u8>,
    /// TCP maximum segment size (`TCP_MAXSEG`).
    pub mss: Option<u32>,
    /// Give up an outgoing connection attempt after this long (the FSM then
    /// backs off); `None`: wait until the ConnectRetry timer.
    pub connect_timeout: Option<Duration>,
}

impl TransportOptions {
    /// Options on a connected or connecting socket: TTL / GTSM, MSS,
    /// `TCP_NODELAY`. `ebgp` picks the default TTL.
    pub fn apply(&self, fd: &impl AsFd, ipv6: bool, ebgp: bool) -> io::Result<()> {
        let sock = SockRef::from(fd);
        sock.set_tcp_nodelay(true)?;
        let ttl = match (self.gtsm_hops, self.ttl) {
            (Some(_), _) => Some(255),
            (None, Some(t)) => Some(t),
            (None, None) if ebgp => Some(1),
            (None, None) => None,
        };
        if let Some(ttl) = ttl {
            if ipv6 {
                sock.set_unicast_hops_v6(u32::from(ttl))?;
            } else {
                sock.set_ttl_v4(u32::from(ttl))?;
            }
        }
        if let Some(hops) = self.gtsm_hops {
            // RFC 5082 §3: accept TTL >= 255 - (hops - 1).
            let min = 256u16.saturating_sub(u16::from(hops.max(1))) as u8;
            sockopt::set_min_ttl(fd, ipv6, min)?;
        }
        if let Some(mss) = self.mss {
            sock.set_tcp_mss(mss)?;
        }
        Ok(())
    }
}

/// Bind a listening socket on `addr` (`SO_REUSEADDR`; an IPv6 socket takes
/// IPv6 only), with the TCP-MD5 key of each `(peer, key)`. `gtsm`: some
/// peer uses GTSM, so the SYN-ACK must leave with TTL 255 (RFC 5082 §3);
/// accepted sockets get each peer's own options.
pub fn listen(addr: SocketAddr, md5: &[(IpAddr, Vec<u8>)], gtsm: bool) -> io::Result<TcpListener> {
    let domain = Domain::for_address(addr);
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    for (peer, key) in md5 {
        if peer.is_ipv6() == addr.is_ipv6() {
            sockopt::set_tcp_md5sig(&s, *peer, key)?;
        }
    }
    if gtsm {
        if addr.is_ipv6() {
            s.set_unicast_hops_v6(255)?;
        } else {
            s.set_ttl_v4(255)?;
        }
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    TcpListener::from_std(s.into())
}

/// Outgoing connections to one peer (RFC 4271 §8: active establishment),
/// from a chosen source address, with the peer's socket options.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Source address; `None`: the kernel chooses.
    pub local: Option<IpAddr>,
    /// Socket options.
    pub options: TransportOptions,
    /// eBGP (default TTL 1) or iBGP.
    pub ebgp: bool,
}

impl TcpConnector {
    /// One connection attempt.
    pub async fn connect_once(&self) -> io::Result<TcpStream> {
        let fut = self.clone().attempt();
        match self.options.connect_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?,
            None => fut.await,
        }
    }

    async fn attempt(self) -> io::Result<TcpStream> {
        let ipv6 = self.remote.is_ipv6();
        let s = Socket::new(
            Domain::for_address(self.remote),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if let Some(key) = &self.options.md5_key {
            sockopt::set_tcp_md5sig(&s, self.remote.ip(), key)?;
        }
        self.options.apply(&s, ipv6, self.ebgp)?;
        if let Some(local) = self.local {
            s.bind(&SocketAddr::new(local, 0).into())?;
        }
        s.set_nonblocking(true)?;
        let std: std::net::TcpStream = s.into();
        TcpSocket::from_std_stream(std).connect(self.remote).await
    }
}

impl Connector for TcpConnector {
    type Stream = TcpStream;

    fn connect(&self) -> ConnectFuture<TcpStream> {
        let this = self.clone();
        Box::pin(async move { this.connect_once().await })
    }
}
