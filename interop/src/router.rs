//! A small description of a router, from which each daemon's
//! configuration is generated, and the daemon-neutral view of its state.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// An address family (AFI 1 / AFI 2, unicast SAFI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast (RFC 4760 MP-BGP).
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// An IP prefix, `address/length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub len: u8,
}

impl Prefix {
    /// Its family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = Error;
    fn from_str(s: &str) -> Result<Prefix, Error> {
        let bad = |detail: &str| Error::Parse {
            what: "prefix".into(),
            detail: detail.into(),
            output: s.into(),
        };
        let (addr, len) = s.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let addr: IpAddr = addr.parse().map_err(|_| bad("bad address"))?;
        let len: u8 = len.parse().map_err(|_| bad("bad length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad("length too long"));
        }
        Ok(Prefix { addr, len })
    }
}

/// Parses a prefix written in a test; panics on a typo (test code only).
pub fn prefix(s: &str) -> Prefix {
    match s.parse() {
        Ok(p) => p,
        Err(e) => panic!("bad prefix in test: {e}"),
    }
}

/// A route the router originates, with the attributes it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination.
    pub prefix: Prefix,
    /// COMMUNITIES (RFC 1997), as `(asn, value)`.
    pub communities: Vec<(u16, u16)>,
    /// LARGE_COMMUNITY (RFC 8092), as `(global, local1, local2)`.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF (RFC 4271 §5.1.5), sent to iBGP peers.
    pub local_pref: Option<u32>,
}

impl Route {
    /// A route to `prefix` with no optional attributes.
    pub fn new(prefix: Prefix) -> Route {
        Route {
            prefix,
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
            local_pref: None,
        }
    }
}

/// A configured BGP neighbour (RFC 4271 §8: one session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// A name for it (BIRD's protocol name): letters, digits, `_`.
    pub name: String,
    /// The neighbour's address (the session's transport family).
    pub address: IpAddr,
    /// Our address on the session.
    pub local_address: IpAddr,
    /// The neighbour's AS (equal to ours: iBGP).
    pub asn: u32,
    /// Wait for the neighbour to connect (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// TCP-MD5 signature password (RFC 2385).
    pub password: Option<String>,
    /// eBGP multihop: the TTL of our packets.
    pub multihop: Option<u8>,
    /// GTSM (RFC 5082): accept only packets with TTL 255.
    pub ttl_security: bool,
    /// Address families to negotiate (RFC 4760); default: the transport's.
    pub families: Vec<Family>,
    /// An iBGP neighbour we reflect routes to (RFC 4456 §6).
    pub route_reflector_client: bool,
    /// Hold time to offer (RFC 4271 §4.2).
    pub hold_time: Duration,
    /// ConnectRetryTimer (RFC 4271 §8.2.2).
    pub connect_retry: Duration,
    /// ADD-PATH (RFC 7911) in every family of the session. Only the agent
    /// and BIRD configurations carry it.
    pub add_path: AddPath,
    /// With ADD-PATH send: the most paths per prefix the agent sends
    /// (`add_path_send_max`); `None`: every path. The agent only.
    pub add_path_send_max: Option<u8>,
}

/// ADD-PATH (RFC 7911 §4): whether we send several paths per prefix,
/// receive them, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddPath {
    /// No ADD-PATH.
    #[default]
    Off,
    /// Send several paths.
    Send,
    /// Receive several paths.
    Receive,
    /// Both.
    Both,
}

impl Neighbor {
    /// An active neighbour with short test timers (hold 9 s, retry 1 s).
    pub fn new(name: &str, address: IpAddr, local_address: IpAddr, asn: u32) -> Neighbor {
        Neighbor {
            name: name.to_owned(),
            address,
            local_address,
            asn,
            passive: false,
            password: None,
            multihop: None,
            ttl_security: false,
            families: vec![Family::of(address)],
            route_reflector_client: false,
            hold_time: Duration::from_secs(9),
            connect_retry: Duration::from_secs(1),
            add_path: AddPath::Off,
            add_path_send_max: None,
        }
    }

    /// Its keepalive interval: a third of the hold time (RFC 4271 §10).
    pub fn keepalive(&self) -> u64 {
        (self.hold_time.as_secs() / 3).max(1)
    }
}

/// A router: what every daemon's configuration is generated from. All
/// routers import and export everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// A name (for files and messages).
    pub name: String,
    /// Its AS number (RFC 6793: may need four octets).
    pub asn: u32,
    /// Its BGP Identifier (RFC 4271 §4.2).
    pub router_id: Ipv4Addr,
    /// CLUSTER_ID when it reflects routes (RFC 4456 §7; default: the
    /// router id).
    pub cluster_id: Option<Ipv4Addr>,
    /// Its neighbours.
    pub neighbors: Vec<Neighbor>,
    /// Routes it originates.
    pub originate: Vec<Route>,
}

impl Router {
    /// A router with no neighbours and no routes.
    pub fn new(name: &str, asn: u32, router_id: Ipv4Addr) -> Router {
        Router {
            name: name.to_owned(),
            asn,
            router_id,
            cluster_id: None,
            neighbors: Vec::new(),
            originate: Vec::new(),
        }
    }

    /// The neighbour at `address`.
    pub fn neighbor(&self, address: IpAddr) -> Option<&Neighbor> {
        self.neighbors.iter().find(|n| n.address == address)
    }
}

/// A session's state, RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Idle.
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
}

impl SessionState {
    /// Reads a state name as the daemons print it (any case).
    pub fn parse(name: &str) -> Option<SessionState> {
        Some(match name.to_ascii_lowercase().as_str() {
            "idle" => SessionState::Idle,
            "connect" => SessionState::Connect,
            "active" => SessionState::Active,
            "opensent" => SessionState::OpenSent,
            "openconfirm" => SessionState::OpenConfirm,
            "established" => SessionState::Established,
            _ => return None,
        })
    }
}

/// A route as a daemon holds it (its best path), in daemon-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BgpRoute {
    /// The destination.
    pub prefix: Option<Prefix>,
    /// AS_PATH (RFC 4271 §5.1.2), flattened (sets in order).
    pub as_path: Vec<u32>,
    /// NEXT_HOP or the MP_REACH next hop (RFC 4760), global address.
    pub next_hop: Option<IpAddr>,
    /// COMMUNITIES, `(asn, value)`.
    pub communities: Vec<(u16, u16)>,
    /// LARGE_COMMUNITY, `(global, local1, local2)`.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ORIGINATOR_ID (RFC 4456 §8), set by a route reflector.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456 §8), most recent reflector first.
    pub cluster_list: Vec<Ipv4Addr>,
    /// Attributes the daemon does not know, as it shows them (BIRD and
    /// GoBGP show them; FRR's JSON does not).
    pub unknown: Vec<UnknownAttribute>,
}

/// An attribute a daemon received but does not know (RFC 4271 §5: passed
/// on when optional transitive, with the Partial bit set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttribute {
    /// Attribute type code.
    pub code: u8,
    /// Attribute flags as received, when the daemon shows them (GoBGP
    /// does; BIRD shows only whether it is transitive: `None`).
    pub flags: Option<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// Why a session last went down, as a daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastError {
    /// The daemon's description (`Cease/Administrative Shutdown`,
    /// `Received: Hold timer expired`, ...).
    pub text: String,
    /// NOTIFICATION error code and subcode (RFC 4271 §4.5), when the
    /// daemon reports them as numbers (FRR).
    pub code: Option<(u8, u8)>,
    /// The shutdown communication received (RFC 9003), if any.
    pub shutdown_message: Option<String>,
}
