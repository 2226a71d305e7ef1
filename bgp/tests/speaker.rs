//! Speaker tests over real TCP on the loopback interface (127.0.0.1,
//! 127.0.0.2 as a second source, ::1) with ephemeral ports: listeners,
//! refused strangers, active connect from a source address, collisions
//! between two of our speakers, UPDATE exchange, TCP-MD5 and GTSM.
//!
//! TCP-MD5 and GTSM need a kernel with `TCP_MD5SIG` / `IP_MINTTL`; the
//! tests that use them fail with a clear message when not run as root
//! (as CI is), unless `TWILL_SKIP_NETNS=1`.

mod session_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bgp::fsm::{Config, State};
use bgp::session::{PeerEvent, SessionCommand, SessionConfig, SessionEvent};
use bgp::speaker::{PeerConfig, Speaker, SpeakerConfig, TcpConnector, TransportOptions};
use bgp::wire::Message;
use session_support::{open, update, within, FakePeer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const LO1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const LO2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const ID_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ID_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const AS_A: u32 = 65001;
const AS_B: u32 = 4_200_000_002;

/// A free port on `ip` (bound once and released).
fn free_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

fn peer(
    addr: IpAddr,
    port: u16,
    local_as: u32,
    local_id: Ipv4Addr,
    peer_as: u32,
    local_address: Option<IpAddr>,
) -> PeerConfig {
    let mut fsm = Config::new(local_as, local_id, peer_as);
    fsm.hold_time = 30;
    fsm.connect_retry_time = 2;
    let mut p = PeerConfig::new(SessionConfig::new(addr, fsm));
    p.port = port;
    p.local_address = local_address;
    p
}

async fn next_event(events: &mut mpsc::Receiver<PeerEvent>) -> PeerEvent {
    within(20, events.recv()).await.expect("event channel open")
}

async fn expect_established(events: &mut mpsc::Receiver<PeerEvent>, from: IpAddr) {
    let e = next_event(events).await;
    assert_eq!(e.peer, from);
    assert!(
        matches!(e.event, SessionEvent::Established(_)),
        "expected Established, got {:?}",
        e.event
    );
}

/// Fail (or skip with TWILL_SKIP_NETNS=1) unless root.
fn require_root(what: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var("TWILL_SKIP_NETNS").as_deref() == Ok("1") {
        eprintln!("skipping {what}: not root and TWILL_SKIP_NETNS=1");
        return false;
    }
    panic!("{what} needs root (CAP_NET_ADMIN for TCP-MD5 / GTSM socket options); run as root or set TWILL_SKIP_NETNS=1");
}

#[tokio::test]
async fn listener_accepts_a_configured_peer_and_refuses_others() {
    // A passive peer 127.0.0.2; anything else is closed and counted.
    let mut p = peer(LO2, 179, AS_A, ID_A, AS_B, None);
    p.session.fsm.passive = true;
    let (speaker, mut events) = Speaker::start(SpeakerConfig {
        listen: vec![SocketAddr::new(LO1, 0)],
        peers: vec![p],
        event_queue: 0,
    })
    .await
    .unwrap();
    let addr = speaker.local_addrs()[0];
    assert_ne!(addr.port(), 0);

    // From 127.0.0.1: not a peer.
    let stranger = TcpStream::connect(addr).await.unwrap();
    let mut stranger = FakePeer::new(stranger);
    within(5, stranger.expect_eof()).await;
    assert_eq!(speaker.rejected_connections(), 1);

    // From 127.0.0.2: the session runs.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(LO2, 0)).unwrap();
    let mut fake = FakePeer::new(sock.connect(addr).await.unwrap());
    let ours = within(5, fake.establish(open(AS_B, 30, ID_B))).await;
    assert_eq!(ours.asn(), AS_A);
    expect_established(&mut events, LO2).await;
    assert_eq!(speaker.state(LO2), Some(State::Established));
    assert_eq!(speaker.rejected_connections(), 1);
}

#[tokio::test]
async fn active_connect_uses_the_configured_source_address() {
    let listener = TcpListener::bind((LO1, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_speaker, mut events) = Speaker::start(SpeakerConfig {
        listen: vec![],
        peers: vec![peer(LO1, port, AS_A, ID_A, AS_B, Some(LO2))],
        event_queue: 0,
    })
    .await
    .unwrap();
    let (stream, from) = within(5, listener.accept()).await.unwrap();
    assert_eq!(
        from.ip(),
        LO2,
        "the connection comes from the source address"
    );
    let mut fake = FakePeer::new(stream);
    within(5, fake.establish(open(AS_B, 30, ID_B))).await;
    expect_established(&mut events, LO1).await;
}

/// Two of our speakers, A on 127.0.0.1 and B on 127.0.0.2 (or both on ::1).
struct Pair {
    a: Speaker,
    b: Speaker,
    a_events: mpsc::Receiver<PeerEvent>,
    b_events: mpsc::Receiver<PeerEvent>,
    a_port: u16,
    b_port: u16,
}

async fn pair(
    a_ip: IpAddr,
    b_ip: IpAddr,
    id_a: Ipv4Addr,
    id_b: Ipv4Addr,
    edit: impl Fn(&mut PeerConfig),
) -> Pair {
    let a_port = free_port(a_ip);
    let b_port = free_port(b_ip);
    let mut pa = peer(b_ip, b_port, AS_A, id_a, AS_B, Some(a_ip));
    let mut pb = peer(a_ip, a_port, AS_B, id_b, AS_A, Some(b_ip));
    edit(&mut pa);
    edit(&mut pb);
    let (a, a_events) = Speaker::start(SpeakerConfig {
        listen: vec![SocketAddr::new(a_ip, a_port)],
        peers: vec![pa],
        event_queue: 0,
    })
    .await
    .unwrap();
    let (b, b_events) = Speaker::start(SpeakerConfig {
        listen: vec![SocketAddr::new(b_ip, b_port)],
        peers: vec![pb],
        event_queue: 0,
    })
    .await
    .unwrap();
    Pair {
        a,
        b,
        a_events,
        b_events,
        a_port,
        b_port,
    }
}

async fn exchange_update(p: &mut Pair, a_peer: IpAddr, b_peer: IpAddr) {
    expect_established(&mut p.a_events, a_peer).await;
    expect_established(&mut p.b_events, b_peer).await;
    assert_eq!(p.a.state(a_peer), Some(State::Established));
    assert_eq!(p.b.state(b_peer), Some(State::Established));
    let u = update(AS_A, ID_A, &["198.51.100.0/24", "203.0.113.0/25"]);
    p.a.commands(a_peer)
        .unwrap()
        .send(SessionCommand::SendUpdate(Box::new(u.clone())))
        .await
        .unwrap();
    let e = next_event(&mut p.b_events).await;
    assert_eq!(e.peer, b_peer);
    assert_eq!(e.event, SessionEvent::Update(Box::new(u)));
}

#[tokio::test]
async fn two_speakers_establish_and_exchange_an_update_over_ipv4() {
    let mut p = pair(LO1, LO2, ID_A, ID_B, |_| {}).await;
    exchange_update(&mut p, LO2, LO1).await;
}

#[tokio::test]
async fn two_speakers_establish_and_exchange_an_update_over_ipv6() {
    let mut p = pair(LO6, LO6, ID_A, ID_B, |_| {}).await;
    exchange_update(&mut p, LO6, LO6).await;
}

#[tokio::test]
async fn two_speakers_with_two_octet_asns() {
    let mut p = pair(LO1, LO2, ID_A, ID_B, |c| {
        // No 4-octet AS capability: AS numbers fit two octets.
        c.session.fsm.capabilities.clear();
        if c.session.fsm.peer_as > 65535 {
            c.session.fsm.peer_as = 65002;
        } else {
            c.session.fsm.local_as = 65002;
        }
    })
    .await;
    expect_established(&mut p.a_events, LO2).await;
    let e = next_event(&mut p.b_events).await;
    match e.event {
        SessionEvent::Established(n) => {
            assert!(!n.decode.four_octet_as);
            assert_eq!(n.peer_as, AS_A);
        }
        other => panic!("{other:?}"),
    }
}

/// Established TCP connections (from /proc/net/tcp) between 127.0.0.1 and
/// 127.0.0.2 involving `port`: (local, remote).
fn established_with(port: u16) -> Vec<(SocketAddr, SocketAddr)> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let parse = |s: &str| -> SocketAddr {
        let (ip, port) = s.split_once(':').unwrap();
        let ip = u32::from_str_radix(ip, 16).unwrap();
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(ip.swap_bytes())),
            u16::from_str_radix(port, 16).unwrap(),
        )
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"01")).then(|| (parse(f[1]), parse(f[2])))
        })
        .filter(|(l, r)| l.port() == port || r.port() == port)
        .filter(|(l, r)| [LO1, LO2].contains(&l.ip()) && [LO1, LO2].contains(&r.ip()))
        .collect::<std::collections::BTreeSet<_>>()
        // /proc/net/tcp is read in pages while other tests open and close
        // connections: a line can come twice.
        .into_iter()
        .collect()
}

/// Both speakers connect at once and hold their OPENs back one second
/// (DelayOpen), so both connections reach the OPEN exchange: a real
/// collision. The connection opened by the higher BGP Identifier survives.
async fn collision(id_a: Ipv4Addr, id_b: Ipv4Addr) {
    let mut p = pair(LO1, LO2, id_a, id_b, |c| c.session.fsm.delay_open = Some(1)).await;
    expect_established(&mut p.a_events, LO2).await;
    expect_established(&mut p.b_events, LO1).await;
    // Let the loser close.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_a = established_with(p.a_port);
    let to_b = established_with(p.b_port);
    let (kept, dropped, initiator) = if id_a > id_b {
        (to_b, to_a, LO1)
    } else {
        (to_a, to_b, LO2)
    };
    assert!(dropped.is_empty(), "loser still open: {dropped:?}");
    // Both ends of the one connection, initiated from the higher ID's side.
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept
        .iter()
        .any(|(l, _)| l.ip() == initiator && l.port() != p.a_port && l.port() != p.b_port));
    // Still one session each, and it carries UPDATEs.
    let u = update(AS_A, ID_A, &["198.51.100.0/24"]);
    p.a.commands(LO2)
        .unwrap()
        .send(SessionCommand::SendUpdate(Box::new(u.clone())))
        .await
        .unwrap();
    let e = next_event(&mut p.b_events).await;
    assert_eq!(e.event, SessionEvent::Update(Box::new(u)));
}

#[tokio::test]
async fn collision_between_two_speakers_keeps_the_higher_identifiers_connection() {
    collision(ID_A, ID_B).await;
}

#[tokio::test]
async fn collision_between_two_speakers_with_identifiers_swapped() {
    collision(ID_B, ID_A).await;
}

#[tokio::test]
async fn planned_stop_with_graceful_restart_sends_no_cease() {
    use bgp::session::{GracefulRestartConfig, RouteRetention};
    use bgp::wire::Family;
    let mut p = pair(LO1, LO2, ID_A, ID_B, |c| {
        c.session.graceful_restart = Some(GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            forwarding_preserved: true,
            families: vec![Family::IPV4_UNICAST],
            stale_path_time: 360,
        })
    })
    .await;
    expect_established(&mut p.a_events, LO2).await;
    expect_established(&mut p.b_events, LO1).await;
    p.a.stop_graceful().await;
    let e = next_event(&mut p.b_events).await;
    match e.event {
        SessionEvent::Down { reason, retention } => {
            assert_eq!(reason, bgp::fsm::DownReason::ConnectionFailed);
            assert_eq!(
                retention,
                RouteRetention::KeepStale {
                    families: vec![Family::IPV4_UNICAST],
                    restart_time: 120
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

// --- TCP-MD5 (RFC 2385) ----------------------------------------------------

async fn md5_connect(
    listen_ip: IpAddr,
    from: IpAddr,
    server_key: &[u8],
    client_key: Option<&[u8]>,
) -> bool {
    let mut p = peer(from, 179, AS_A, ID_A, AS_B, None);
    p.session.fsm.passive = true;
    p.transport.md5_key = Some(server_key.to_vec());
    let (speaker, _events) = Speaker::start(SpeakerConfig {
        listen: vec![SocketAddr::new(listen_ip, 0)],
        peers: vec![p],
        event_queue: 0,
    })
    .await
    .expect("listener with a TCP-MD5 key");
    let c = TcpConnector {
        remote: speaker.local_addrs()[0],
        local: Some(from),
        options: TransportOptions {
            md5_key: client_key.map(<[u8]>::to_vec),
            connect_timeout: Some(Duration::from_secs(2)),
            ..TransportOptions::default()
        },
        ebgp: true,
    };
    match c.connect_once().await {
        Ok(s) => {
            // The session answers with its OPEN over the signed connection.
            let mut f = FakePeer::new(s);
            matches!(within(5, f.recv()).await, Some(Message::Open(_)))
        }
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
            false
        }
    }
}

#[tokio::test]
async fn tcp_md5_with_the_right_key_establishes_over_ipv4() {
    if !require_root("TCP-MD5 test") {
        return;
    }
    assert!(md5_connect(LO1, LO2, b"twill-secret", Some(b"twill-secret")).await);
}

#[tokio::test]
async fn tcp_md5_with_a_wrong_or_no_key_does_not_connect() {
    if !require_root("TCP-MD5 test") {
        return;
    }
    assert!(!md5_connect(LO1, LO2, b"twill-secret", Some(b"wrong")).await);
    assert!(!md5_connect(LO1, LO2, b"twill-secret", None).await);
}

#[tokio::test]
async fn tcp_md5_over_ipv6() {
    if !require_root("TCP-MD5 test") {
        return;
    }
    assert!(md5_connect(LO6, LO6, b"k6", Some(b"k6")).await);
    assert!(!md5_connect(LO6, LO6, b"k6", Some(b"other")).await);
}

// --- GTSM (RFC 5082) ---------------------------------------------------------

#[tokio::test]
async fn gtsm_on_both_speakers_establishes() {
    if !require_root("GTSM test") {
        return;
    }
    let mut p = pair(LO1, LO2, ID_A, ID_B, |c| c.transport.gtsm_hops = Some(1)).await;
    exchange_update(&mut p, LO2, LO1).await;
}

#[tokio::test]
async fn gtsm_refuses_a_peer_sending_with_a_low_ttl() {
    if !require_root("GTSM test") {
        return;
    }
    // A plain listener answers with the default TTL (64): our GTSM socket
    // (minimum TTL 255) never sees its SYN-ACK.
    let listener = TcpListener::bind((LO1, 0)).await.unwrap();
    let c = TcpConnector {
        remote: listener.local_addr().unwrap(),
        local: None,
        options: TransportOptions {
            gtsm_hops: Some(1),
            connect_timeout: Some(Duration::from_secs(2)),
            ..TransportOptions::default()
        },
        ebgp: true,
    };
    let e = c.connect_once().await.expect_err("GTSM must drop TTL 64");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    // The same connector without GTSM connects.
    let plain = TcpConnector {
        options: TransportOptions {
            connect_timeout: Some(Duration::from_secs(2)),
            ..TransportOptions::default()
        },
        ..c
    };
    plain.connect_once().await.expect("plain connect");
}

#[tokio::test]
async fn peers_added_and_removed_at_run_time() {
    let mut p = pair(LO1, LO2, ID_A, ID_B, |_| {}).await;
    expect_established(&mut p.a_events, LO2).await;
    expect_established(&mut p.b_events, LO1).await;
    // A holds on to the command channel, as a RIB task would.
    let _held = p.a.commands(LO2).unwrap().clone();
    assert!(p.a.remove_peer(LO2));
    assert!(!p.a.remove_peer(LO2));
    // B sees Cease 6/3 (Peer De-configured).
    let e = next_event(&mut p.b_events).await;
    match e.event {
        SessionEvent::Down { reason, .. } => assert_eq!(
            reason,
            bgp::fsm::DownReason::NotificationReceived(bgp::wire::Notification::new(6, 3, vec![]))
        ),
        other => panic!("{other:?}"),
    }
    // Added back: the session comes up again.
    let pa = peer(LO2, p.b_port, AS_A, ID_A, AS_B, Some(LO1));
    let (_commands, mut state) = p.a.add_peer(pa).unwrap();
    within(20, state.wait_for(|s| *s == State::Established))
        .await
        .unwrap();
    assert!(matches!(
        p.a.add_peer(peer(LO2, p.b_port, AS_A, ID_A, AS_B, None)),
        Err(bgp::speaker::SpeakerError::DuplicatePeer(_))
    ));
}

// --- TTL, multihop, MSS, TCP_NODELAY on the connecting socket --------------

async fn connect_with(options: TransportOptions, ebgp: bool) -> TcpStream {
    let listener = TcpListener::bind((LO1, 0)).await.unwrap();
    let c = TcpConnector {
        remote: listener.local_addr().unwrap(),
        local: None,
        options,
        ebgp,
    };
    let (s, accepted) = tokio::join!(c.connect_once(), listener.accept());
    accepted.unwrap();
    s.unwrap()
}

#[tokio::test]
async fn connecting_socket_options() {
    // eBGP: TTL 1 (directly connected) unless multihop sets it.
    let s = connect_with(TransportOptions::default(), true).await;
    assert_eq!(s.ttl().unwrap(), 1);
    assert!(s.nodelay().unwrap());
    let multihop = TransportOptions {
        ttl: Some(5),
        ..TransportOptions::default()
    };
    assert_eq!(connect_with(multihop, true).await.ttl().unwrap(), 5);
    // iBGP: the system default.
    let default_ttl = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl")
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    let s = connect_with(TransportOptions::default(), false).await;
    assert_eq!(s.ttl().unwrap(), default_ttl);
    // MSS: the segment size is capped.
    let mss = TransportOptions {
        mss: Some(1000),
        ..TransportOptions::default()
    };
    let s = connect_with(mss, true).await;
    let got = socket2::SockRef::from(&s).tcp_mss().unwrap();
    assert!(got <= 1000 && got > 0, "MSS {got}");
}

#[tokio::test]
async fn gtsm_sends_with_ttl_255() {
    if !require_root("GTSM test") {
        return;
    }
    let gtsm = TransportOptions {
        gtsm_hops: Some(1),
        ttl: Some(5),
        connect_timeout: Some(Duration::from_secs(2)),
        ..TransportOptions::default()
    };
    // The listener must answer with TTL 255 for the connect to complete.
    let l = bgp::speaker::listen(SocketAddr::new(LO1, 0), &[], true).unwrap();
    let c = TcpConnector {
        remote: l.local_addr().unwrap(),
        local: None,
        options: gtsm,
        ebgp: true,
    };
    let (s, accepted) = tokio::join!(c.connect_once(), l.accept());
    accepted.unwrap();
    assert_eq!(s.unwrap().ttl().unwrap(), 255, "GTSM overrides the TTL");
}
