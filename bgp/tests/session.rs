//! Session tests over in-memory streams (`tokio::io::duplex`) with paused
//! tokio time: a scripted fake peer built from `bgp::wire` messages on the
//! far end of each connection. Times are asserted exactly: with paused time
//! the clock only moves when every task waits.

mod session_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bgp::fsm::{Config, DownReason, State};
use bgp::session::{
    spawn_session, ConnectFuture, Connector, GracefulRestartConfig, PeerEvent, QueueSizes,
    RouteRetention, SessionCommand, SessionConfig, SessionEvent, SessionHandle,
};
use bgp::wire::{
    Capability, Family, GracefulRestart, GracefulRestartFamily, Message, Notification, Open,
    RouteRefresh, RouteRefreshSubtype, Update,
};
use session_support::{open, update, within, FakePeer};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER: IpAddr = IpAddr::V4(PEER_ID);

/// Each connection attempt makes a duplex pair and hands the far end to the
/// test.
#[derive(Clone)]
struct DuplexConnector {
    far: mpsc::UnboundedSender<DuplexStream>,
}

impl Connector for DuplexConnector {
    type Stream = DuplexStream;
    fn connect(&self) -> ConnectFuture<DuplexStream> {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let tx = self.far.clone();
        Box::pin(async move {
            tx.send(far)
                .map_err(|_| std::io::Error::other("test gone"))?;
            Ok(near)
        })
    }
}

struct Harness {
    handle: SessionHandle<DuplexStream>,
    events: mpsc::Receiver<PeerEvent>,
    dials: mpsc::UnboundedReceiver<DuplexStream>,
}

impl Harness {
    fn start(config: SessionConfig) -> Harness {
        Harness::with_events(config, 64)
    }

    fn with_events(config: SessionConfig, queue: usize) -> Harness {
        let (far, dials) = mpsc::unbounded_channel();
        let (tx, events) = mpsc::channel(queue);
        let handle = spawn_session(config, DuplexConnector { far }, tx).expect("config");
        Harness {
            handle,
            events,
            dials,
        }
    }

    /// The next outgoing connection, as a fake peer.
    async fn dialed(&mut self) -> FakePeer<DuplexStream> {
        FakePeer::new(self.dials.recv().await.expect("a connection attempt"))
    }

    /// Hand the session an incoming connection; returns its far end.
    async fn incoming(&mut self) -> FakePeer<DuplexStream> {
        let (near, far) = tokio::io::duplex(64 * 1024);
        self.handle
            .incoming
            .send(near)
            .await
            .expect("session alive");
        FakePeer::new(far)
    }

    async fn event(&mut self) -> SessionEvent {
        let e = self.events.recv().await.expect("an event");
        assert_eq!(e.peer, PEER);
        e.event
    }

    async fn command(&self, c: SessionCommand) {
        self.handle.commands.send(c).await.expect("session alive");
    }
}

fn fsm_config() -> Config {
    Config::new(LOCAL_AS, LOCAL_ID, PEER_AS)
}

fn config() -> SessionConfig {
    SessionConfig::new(PEER, fsm_config())
}

fn passive() -> SessionConfig {
    let mut c = config();
    c.fsm.passive = true;
    c
}

fn established(e: SessionEvent) -> bgp::fsm::Negotiated {
    match e {
        SessionEvent::Established(n) => *n,
        other => panic!("expected Established, got {other:?}"),
    }
}

fn down(e: SessionEvent) -> (DownReason, RouteRetention) {
    match e {
        SessionEvent::Down { reason, retention } => (reason, retention),
        other => panic!("expected Down, got {other:?}"),
    }
}

fn sent(code: u8, subcode: u8, data: &[u8]) -> DownReason {
    DownReason::NotificationSent(Notification::new(code, subcode, data.to_vec()))
}

/// Establish over the first outgoing connection with the peer proposing
/// `hold`.
async fn up(h: &mut Harness, hold: u16) -> FakePeer<DuplexStream> {
    let mut p = h.dialed().await;
    p.establish(open(PEER_AS, hold, PEER_ID)).await;
    established(h.event().await);
    p
}

#[tokio::test(start_paused = true)]
async fn active_session_establishes_with_our_open() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    let ours = p.establish(open(PEER_AS, 30, PEER_ID)).await;
    assert_eq!(ours, open(LOCAL_AS, 90, LOCAL_ID));
    let n = established(h.event().await);
    assert_eq!(n.hold_time, 30);
    assert_eq!(n.keepalive_time, 10);
    assert_eq!(n.peer_as, PEER_AS);
    assert_eq!(n.peer_id, PEER_ID);
    assert!(n.decode.four_octet_as && n.encode.four_octet_as);
    assert_eq!(*h.handle.state.borrow(), State::Established);
}

#[tokio::test(start_paused = true)]
async fn hold_timer_expiry_sends_notification_4_0() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 9).await;
    let t0 = Instant::now();
    // Keepalives every hold/3 = 3 s; the peer sends nothing more.
    p.expect_keepalive().await;
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    p.expect_keepalive().await;
    assert_eq!(t0.elapsed(), Duration::from_secs(6));
    let n = p.expect_notification().await;
    assert_eq!(t0.elapsed(), Duration::from_secs(9));
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (4, 0, &[][..]));
    p.expect_eof().await;
    let (reason, retention) = down(h.event().await);
    assert_eq!(reason, sent(4, 0, &[]));
    assert_eq!(retention, RouteRetention::Flush);
}

#[tokio::test(start_paused = true)]
async fn keepalive_cadence_keeps_the_session_up() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 30).await;
    let t0 = Instant::now();
    // The peer answers each of our keepalives: 10 s cadence for 5 minutes.
    for i in 1..=30u64 {
        p.expect_keepalive().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(10 * i), "keepalive {i}");
        p.send(&Message::Keepalive).await;
    }
    assert_eq!(*h.handle.state.borrow(), State::Established);
    assert!(
        h.events.try_recv().is_err(),
        "no event while the session is up"
    );
}

#[tokio::test(start_paused = true)]
async fn hold_time_zero_sends_no_keepalives() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 0).await;
    let quiet = tokio::time::timeout(Duration::from_secs(3600), p.recv()).await;
    assert!(quiet.is_err(), "nothing sent in an hour with hold time 0");
    assert_eq!(*h.handle.state.borrow(), State::Established);
}

/// Send `their` OPEN (raw bytes) and expect this NOTIFICATION back.
async fn open_refused(their: &[u8], config: SessionConfig, expect: (u8, u8, &[u8])) {
    let mut h = Harness::start(config);
    let mut p = h.dialed().await;
    p.expect_open().await;
    p.send_raw(their).await;
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode, n.data.as_slice()), expect);
    p.expect_eof().await;
    assert!(h.events.try_recv().is_err(), "never established: no event");
}

fn open_bytes(o: &Open) -> Vec<u8> {
    Message::Open(o.clone())
        .to_bytes(&Default::default())
        .unwrap()
        .to_vec()
}

#[tokio::test(start_paused = true)]
async fn open_with_bad_version_gets_2_1() {
    let mut o = open(PEER_AS, 90, PEER_ID);
    o.version = 3;
    // RFC 4271 §6.2: data is the largest supported version, 2 octets.
    open_refused(&open_bytes(&o), config(), (2, 1, &[0, 4])).await;
}

#[tokio::test(start_paused = true)]
async fn open_with_bad_peer_as_gets_2_2() {
    open_refused(
        &open_bytes(&open(65099, 90, PEER_ID)),
        config(),
        (2, 2, &[]),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn open_with_hold_time_2_gets_2_6() {
    open_refused(
        &open_bytes(&open(PEER_AS, 2, PEER_ID)),
        config(),
        (2, 6, &[]),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn ibgp_open_with_our_identifier_gets_2_3() {
    let mut c = config();
    c.fsm.peer_as = LOCAL_AS;
    open_refused(&open_bytes(&open(LOCAL_AS, 90, LOCAL_ID)), c, (2, 3, &[])).await;
}

#[tokio::test(start_paused = true)]
async fn peer_silent_after_connect_is_dropped_when_its_timer_runs_out() {
    let mut h = Harness::start(passive());
    let mut p = h.incoming().await;
    let t0 = Instant::now();
    p.expect_open().await;
    // RFC 4271 §8.2.2: OpenSent waits for the OPEN with a 4-minute hold.
    let n = p.expect_notification().await;
    assert_eq!(t0.elapsed(), Duration::from_secs(240));
    assert_eq!((n.code, n.subcode), (4, 0));
    p.expect_eof().await;
}

#[tokio::test(start_paused = true)]
async fn failing_peer_backs_off_exponentially() {
    let mut h = Harness::start(config());
    // Each attempt: the peer answers with an OPEN of the wrong AS.
    let mut times = Vec::new();
    let t0 = Instant::now();
    for _ in 0..6 {
        let mut p = h.dialed().await;
        times.push(t0.elapsed().as_secs());
        p.expect_open().await;
        p.send(&Message::Open(open(65099, 90, PEER_ID))).await;
        assert_eq!(p.expect_notification().await.subcode, 2);
    }
    // IdleHold 1, 2, 4, 8, 16 s between attempts (DampPeerOscillations).
    assert_eq!(times, vec![0, 1, 3, 7, 15, 31]);
}

#[tokio::test(start_paused = true)]
async fn connection_closed_in_open_sent_retries_after_connect_retry_time() {
    let mut h = Harness::start(config());
    let mut times = Vec::new();
    let t0 = Instant::now();
    for _ in 0..3 {
        let mut p = h.dialed().await;
        times.push(t0.elapsed().as_secs());
        p.expect_open().await;
        drop(p);
    }
    // RFC 4271 §8.2.2: OpenSent + TcpConnectionFails goes to Active and
    // waits for the ConnectRetry timer (120 s).
    assert_eq!(times, vec![0, 120, 240]);
}

#[tokio::test(start_paused = true)]
async fn updates_flow_both_ways() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    let theirs = update(PEER_AS, PEER_ID, &["198.51.100.0/24", "203.0.113.0/24"]);
    p.send(&Message::Update(theirs.clone())).await;
    assert_eq!(h.event().await, SessionEvent::Update(Box::new(theirs)));
    p.send(&Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)))
        .await;
    assert_eq!(
        h.event().await,
        SessionEvent::EndOfRib(Family::IPV4_UNICAST)
    );

    let ours = update(LOCAL_AS, LOCAL_ID, &["192.0.2.0/24"]);
    h.command(SessionCommand::SendUpdate(Box::new(ours.clone())))
        .await;
    assert_eq!(p.expect().await, Message::Update(ours));
    h.command(SessionCommand::SendEndOfRib(Family::IPV6_UNICAST))
        .await;
    assert_eq!(
        p.expect().await,
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST))
    );
    // An UPDATE encoded by the RIB (shared by an update group) goes out
    // as it is.
    let shared = update(LOCAL_AS, LOCAL_ID, &["192.0.2.128/25"]);
    let ctx = bgp::wire::Context {
        four_octet_as: true,
        ..Default::default()
    };
    let mut bytes = bytes::BytesMut::new();
    shared.encode_message(&ctx, &mut bytes).unwrap();
    assert_eq!(
        bytes,
        Message::Update(shared.clone()).to_bytes(&ctx).unwrap()
    );
    h.command(SessionCommand::SendEncodedUpdate(bytes.freeze()))
        .await;
    assert_eq!(p.expect().await, Message::Update(shared));
}

#[tokio::test(start_paused = true)]
async fn malformed_update_gets_its_exact_notification() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    // Withdrawn Routes Length 0x00ff beyond the message: 3/1.
    let mut raw = vec![0xff; 16];
    raw.extend_from_slice(&[0, 23, 2, 0, 0xff, 0, 0]);
    p.send_raw(&raw).await;
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode), (3, 1));
    p.expect_eof().await;
    let (reason, _) = down(h.event().await);
    assert!(matches!(reason, DownReason::NotificationSent(ref n) if n.code == 3 && n.subcode == 1));
}

#[tokio::test(start_paused = true)]
async fn update_longer_than_4096_without_extended_messages_is_refused_at_its_header() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    // Only the header of a 5000-octet UPDATE: no Extended Messages were
    // negotiated, so 1/2 with the length (RFC 4271 §6.1) comes without
    // waiting for the body (RFC 8654 §4).
    let mut raw = vec![0xff; 16];
    raw.extend_from_slice(&[0x13, 0x88, 2]);
    p.send_raw(&raw).await;
    let n = within(5, p.expect_notification()).await;
    assert_eq!(
        (n.code, n.subcode, n.data.as_slice()),
        (1, 2, &[0x13, 0x88][..])
    );
    p.expect_eof().await;
}

#[tokio::test(start_paused = true)]
async fn update_longer_than_4096_with_extended_messages_is_read() {
    let mut c = config();
    c.fsm.capabilities.push(Capability::ExtendedMessage);
    let mut h = Harness::start(c);
    let mut p = h.dialed().await;
    let mut theirs = open(PEER_AS, 90, PEER_ID);
    theirs.capabilities.push(Capability::ExtendedMessage);
    p.establish(theirs).await;
    let n = established(h.event().await);
    assert!(n.decode.extended_message);
    // About 1,200 /24s: one UPDATE of about 4,850 octets.
    let prefixes: Vec<String> = (0..1200)
        .map(|i| format!("198.{}.{}.0/24", 18 + i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let u = update(PEER_AS, PEER_ID, &refs);
    let bytes = Message::Update(u.clone()).to_bytes(&n.decode).unwrap();
    assert!(bytes.len() > 4096, "{}", bytes.len());
    p.send_raw(&bytes).await;
    match within(5, h.event()).await {
        SessionEvent::Update(got) => assert_eq!(*got, u),
        other => panic!("expected the UPDATE, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn bad_marker_gets_1_1() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    let mut raw = vec![0xff; 15];
    raw.extend_from_slice(&[0, 0, 19, 4]);
    p.send_raw(&raw).await;
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (1, 1, &[][..]));
    p.expect_eof().await;
}

#[tokio::test(start_paused = true)]
async fn administrative_shutdown_carries_the_shutdown_communication() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    h.command(SessionCommand::Shutdown {
        communication: "maintenance".into(),
    })
    .await;
    let n = p.expect_notification().await;
    let mut data = vec![11];
    data.extend_from_slice(b"maintenance");
    assert_eq!((n.code, n.subcode, &n.data), (6, 2, &data));
    assert_eq!(n.shutdown_communication(), Some("maintenance"));
    p.expect_eof().await;
    let (reason, retention) = down(h.event().await);
    assert_eq!(reason, sent(6, 2, &data));
    assert_eq!(retention, RouteRetention::Flush);
    // Stays down: no new connection attempt in an hour.
    let again = tokio::time::timeout(Duration::from_secs(3600), h.dials.recv()).await;
    assert!(again.is_err());
    assert_eq!(*h.handle.state.borrow(), State::Idle);
    // Until started again.
    h.command(SessionCommand::Start).await;
    up(&mut h, 90).await;
}

#[tokio::test(start_paused = true)]
async fn administrative_reset_reconnects_at_once() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    h.command(SessionCommand::Reset {
        communication: String::new(),
    })
    .await;
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (6, 4, &[0][..]));
    down(h.event().await);
    let t0 = Instant::now();
    up(&mut h, 90).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn max_prefix_cease_names_family_and_limit() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    h.command(SessionCommand::MaxPrefix {
        family: Family::IPV6_UNICAST,
        limit: 1000,
    })
    .await;
    let n = p.expect_notification().await;
    assert_eq!(
        (n.code, n.subcode, n.data.as_slice()),
        (6, 1, &[0, 2, 1, 0, 0, 0x03, 0xe8][..])
    );
    p.expect_eof().await;
}

#[tokio::test(start_paused = true)]
async fn notification_received_ends_the_session() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    let n = Notification::cease_with_communication(2, "bye");
    p.send(&Message::Notification(n.clone())).await;
    p.expect_eof().await;
    let (reason, _) = down(h.event().await);
    assert_eq!(reason, DownReason::NotificationReceived(n));
}

#[tokio::test(start_paused = true)]
async fn route_refresh_both_ways() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    let req = RouteRefresh::request(Family::IPV4_UNICAST);
    p.send(&Message::RouteRefresh(req)).await;
    assert_eq!(h.event().await, SessionEvent::RouteRefresh(req));
    // A reserved subtype is ignored (RFC 7313 §5).
    p.send(&Message::RouteRefresh(RouteRefresh {
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Reserved(9),
    }))
    .await;
    // So is a family we did not advertise (RFC 2918 §4): only IPv4
    // unicast without Multiprotocol capabilities.
    p.send(&Message::RouteRefresh(RouteRefresh::request(
        Family::IPV6_UNICAST,
    )))
    .await;
    let borr = RouteRefresh {
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
    };
    p.send(&Message::RouteRefresh(borr)).await;
    assert_eq!(h.event().await, SessionEvent::RouteRefresh(borr));
    // We answer with BoRR, the table, EoRR; and can ask for one.
    let eorr = RouteRefresh {
        subtype: RouteRefreshSubtype::EndOfRouteRefresh,
        ..borr
    };
    let u = update(LOCAL_AS, LOCAL_ID, &["192.0.2.0/24"]);
    for c in [
        SessionCommand::SendRouteRefresh(borr),
        SessionCommand::SendUpdate(Box::new(u.clone())),
        SessionCommand::SendRouteRefresh(eorr),
        SessionCommand::SendRouteRefresh(req),
    ] {
        h.command(c).await;
    }
    assert_eq!(p.expect().await, Message::RouteRefresh(borr));
    assert_eq!(p.expect().await, Message::Update(u));
    assert_eq!(p.expect().await, Message::RouteRefresh(eorr));
    assert_eq!(p.expect().await, Message::RouteRefresh(req));
}

// --- collisions (RFC 4271 §6.8) ----------------------------------------

/// Two connections to one peer: our outgoing one and an incoming one. The
/// peer's OPEN arrives first on `first`; `peer_id` decides. Returns which
/// connection survived (true: the incoming one).
async fn collision(peer_id: Ipv4Addr, open_first_on_incoming: bool) -> bool {
    let mut h = Harness::start(config());
    let mut out = h.dialed().await;
    out.expect_open().await;
    let mut inc = h.incoming().await;
    inc.expect_open().await;
    let peer_open = open(PEER_AS, 90, peer_id);
    let (first, second) = if open_first_on_incoming {
        (&mut inc, &mut out)
    } else {
        (&mut out, &mut inc)
    };
    first.send(&Message::Open(peer_open.clone())).await;
    // Either the first connection is dumped at once, or it goes on and the
    // other one is dumped.
    let m = first.expect().await;
    let first_kept = match m {
        Message::Keepalive => {
            let n = second.expect_notification().await;
            assert_eq!((n.code, n.subcode), (6, 7), "the loser gets Cease 6/7");
            second.expect_eof().await;
            first.send(&Message::Keepalive).await;
            true
        }
        Message::Notification(n) => {
            assert_eq!((n.code, n.subcode), (6, 7));
            first.expect_eof().await;
            second.send(&Message::Open(peer_open)).await;
            second.expect_keepalive().await;
            second.send(&Message::Keepalive).await;
            false
        }
        other => panic!("unexpected {other:?}"),
    };
    let n = established(h.event().await);
    assert_eq!(n.peer_id, peer_id);
    assert_eq!(*h.handle.state.borrow(), State::Established);
    // The survivor carries the session: an UPDATE still flows.
    let u = update(PEER_AS, PEER_ID, &["198.51.100.0/24"]);
    let survivor = if first_kept { first } else { second };
    survivor.send(&Message::Update(u.clone())).await;
    assert_eq!(h.event().await, SessionEvent::Update(Box::new(u)));
    first_kept == open_first_on_incoming
}

#[tokio::test(start_paused = true)]
async fn collision_lower_local_id_keeps_the_incoming_connection() {
    // Local 198.18.0.1 < remote 198.18.0.2: keep the one the peer opened.
    assert!(collision(Ipv4Addr::new(198, 18, 0, 2), true).await);
    assert!(collision(Ipv4Addr::new(198, 18, 0, 2), false).await);
}

#[tokio::test(start_paused = true)]
async fn collision_higher_local_id_keeps_our_connection() {
    // Local 198.18.0.1 > remote 198.18.0.0: keep the one we opened.
    assert!(!collision(Ipv4Addr::new(198, 18, 0, 0), true).await);
    assert!(!collision(Ipv4Addr::new(198, 18, 0, 0), false).await);
}

/// Simultaneous opens where our outgoing connection already went
/// Established when the peer's OPEN arrives on its own connection: still a
/// collision, settled by the identifiers like the peer settles it, not a
/// restart. Returns whether the incoming (new) connection survived.
async fn collision_after_established(peer_id: Ipv4Addr) -> bool {
    let mut h = Harness::start(config());
    let mut out = h.dialed().await;
    let mut o = open(PEER_AS, 90, peer_id);
    o.capabilities
        .push(Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: 120,
            families: vec![],
        }));
    out.establish(o.clone()).await;
    established(h.event().await);
    let mut inc = h.incoming().await;
    inc.expect_open().await;
    inc.send(&Message::Open(o)).await;
    match inc.expect().await {
        Message::Notification(n) => {
            assert_eq!((n.code, n.subcode), (6, 7));
            inc.expect_eof().await;
            // The established session goes on.
            let u = update(PEER_AS, PEER_ID, &["198.51.100.0/24"]);
            out.send(&Message::Update(u.clone())).await;
            assert_eq!(h.event().await, SessionEvent::Update(Box::new(u)));
            false
        }
        Message::Keepalive => {
            let n = out.expect_notification().await;
            assert_eq!((n.code, n.subcode), (6, 7), "the loser gets Cease 6/7");
            let (reason, _) = down(h.event().await);
            assert_eq!(
                reason,
                DownReason::NotificationSent(Notification::new(6, 7, []))
            );
            inc.send(&Message::Keepalive).await;
            established(h.event().await);
            true
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn collision_with_a_young_established_session_follows_the_identifiers() {
    // Local 198.18.0.1 < remote 198.18.0.2: the peer's connection wins,
    // as the peer decides too; with a lower remote identifier ours stays.
    assert!(collision_after_established(Ipv4Addr::new(198, 18, 0, 2)).await);
    assert!(!collision_after_established(Ipv4Addr::new(198, 18, 0, 0)).await);
}

#[tokio::test(start_paused = true)]
async fn incoming_connection_while_established_is_refused() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    // Past the young-session window (a collision of simultaneous opens).
    tokio::time::advance(std::time::Duration::from_secs(6)).await;
    let mut late = h.incoming().await;
    late.expect_open().await;
    late.send(&Message::Open(open(PEER_AS, 90, PEER_ID))).await;
    let n = late.expect_notification().await;
    assert_eq!((n.code, n.subcode), (6, 7));
    late.expect_eof().await;
    // The established session is untouched.
    p.send(&Message::Keepalive).await;
    let u = update(PEER_AS, PEER_ID, &["198.51.100.0/24"]);
    p.send(&Message::Update(u.clone())).await;
    assert_eq!(h.event().await, SessionEvent::Update(Box::new(u)));
}

// --- graceful restart (RFC 4724) -----------------------------------------

fn gr_open(restart_time: u16, forwarding: bool) -> Open {
    Open::new(
        PEER_AS,
        90,
        PEER_ID,
        vec![
            Capability::FourOctetAs(PEER_AS),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time,
                families: vec![GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_state: forwarding,
                }],
            }),
        ],
    )
}

fn keep_stale(restart_time: u16) -> RouteRetention {
    RouteRetention::KeepStale {
        families: vec![Family::IPV4_UNICAST],
        restart_time,
    }
}

#[tokio::test(start_paused = true)]
async fn gr_helper_keeps_routes_stale_until_end_of_rib() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    // The peer restarts: TCP closes without a NOTIFICATION.
    drop(p);
    let (reason, retention) = down(h.event().await);
    assert_eq!(reason, DownReason::ConnectionFailed);
    assert_eq!(retention, keep_stale(120));
    // It comes back (after our 1 s IdleHold) with the F bit set.
    let mut p = h.dialed().await;
    let mut back = gr_open(120, true);
    if let Capability::GracefulRestart(gr) = &mut back.capabilities[1] {
        gr.restart_state = true;
    }
    p.establish(back).await;
    established(h.event().await);
    let u = update(PEER_AS, PEER_ID, &["198.51.100.0/24"]);
    p.send(&Message::Update(u.clone())).await;
    p.send(&Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)))
        .await;
    assert_eq!(h.event().await, SessionEvent::Update(Box::new(u)));
    assert_eq!(
        h.event().await,
        SessionEvent::EndOfRib(Family::IPV4_UNICAST)
    );
    assert_eq!(
        h.event().await,
        SessionEvent::SweepStale(Family::IPV4_UNICAST)
    );
}

#[tokio::test(start_paused = true)]
async fn gr_helper_sweeps_when_the_restart_time_runs_out() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    drop(p);
    let t0 = Instant::now();
    assert_eq!(down(h.event().await).1, keep_stale(120));
    // Connections are attempted but the peer never answers.
    assert_eq!(
        h.event().await,
        SessionEvent::SweepStale(Family::IPV4_UNICAST)
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn gr_helper_sweeps_at_once_without_the_forwarding_bit() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    drop(p);
    assert_eq!(down(h.event().await).1, keep_stale(120));
    let mut p = h.dialed().await;
    p.establish(gr_open(120, false)).await;
    established(h.event().await);
    assert_eq!(
        h.event().await,
        SessionEvent::SweepStale(Family::IPV4_UNICAST)
    );
}

#[tokio::test(start_paused = true)]
async fn gr_helper_sweeps_when_the_stale_path_time_runs_out() {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        forwarding_preserved: false,
        families: vec![Family::IPV4_UNICAST],
        stale_path_time: 60,
    });
    let mut h = Harness::start(c);
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    drop(p);
    down(h.event().await);
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    let t0 = Instant::now();
    // No End-of-RIB: swept after the stale-path time; the peer keeps the
    // session up meanwhile.
    let keepalives = tokio::spawn(async move {
        while let Some(m) = p.recv().await {
            if m == Message::Keepalive {
                p.send(&Message::Keepalive).await;
            }
        }
    });
    assert_eq!(
        h.event().await,
        SessionEvent::SweepStale(Family::IPV4_UNICAST)
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(60));
    keepalives.abort();
}

#[tokio::test(start_paused = true)]
async fn gr_helper_flushes_after_a_notification() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    p.send(&Message::Notification(Notification::new(6, 2, vec![])))
        .await;
    assert_eq!(down(h.event().await).1, RouteRetention::Flush);
}

#[tokio::test(start_paused = true)]
async fn gr_new_open_while_established_replaces_the_old_session() {
    let mut h = Harness::start(config());
    let mut p = h.dialed().await;
    p.establish(gr_open(120, true)).await;
    established(h.event().await);
    // The peer restarted so fast that we never saw the old TCP close.
    tokio::time::advance(std::time::Duration::from_secs(6)).await;
    let mut q = h.incoming().await;
    q.establish(gr_open(120, true)).await;
    let (reason, retention) = down(h.event().await);
    assert_eq!(reason, DownReason::ConnectionFailed);
    assert_eq!(retention, keep_stale(120));
    established(h.event().await);
    p.expect_eof().await;
    q.send(&Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)))
        .await;
    assert_eq!(
        h.event().await,
        SessionEvent::EndOfRib(Family::IPV4_UNICAST)
    );
    assert_eq!(
        h.event().await,
        SessionEvent::SweepStale(Family::IPV4_UNICAST)
    );
}

#[tokio::test(start_paused = true)]
async fn gr_restarting_speaker_advertises_r_and_f_and_stops_without_cease() {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 90,
        restarting: true,
        forwarding_preserved: true,
        families: vec![Family::IPV4_UNICAST],
        stale_path_time: 360,
    });
    let mut h = Harness::start(c);
    let mut p = h.dialed().await;
    let ours = p.establish(gr_open(120, true)).await;
    assert_eq!(
        ours.capabilities,
        vec![
            Capability::FourOctetAs(LOCAL_AS),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 90,
                families: vec![GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_state: true,
                }],
            }),
        ]
    );
    established(h.event().await);
    h.command(SessionCommand::StopGraceful).await;
    // No NOTIFICATION: the stream just ends.
    p.expect_eof().await;
    h.handle.task.await.expect("task ends");
}

#[tokio::test(start_paused = true)]
async fn stop_without_graceful_restart_sends_cease() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    h.command(SessionCommand::StopGraceful).await;
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode), (6, 2));
    p.expect_eof().await;
}

// --- back-pressure -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn slow_rib_pushes_back_on_the_peer() {
    // The event channel holds 2 events and nobody reads them; the inbound
    // queue holds 4 frames; the duplex holds 4 KiB.
    let mut c = config();
    c.queues = QueueSizes {
        inbound: 4,
        outbound: 4,
    };
    let (far, mut dials) = mpsc::unbounded_channel();
    let (tx, mut events) = mpsc::channel(2);
    let _h = spawn_session(c, DuplexConnector { far }, tx).unwrap();
    let mut p = FakePeer::new(dials.recv().await.unwrap());
    p.establish(open(PEER_AS, 0, PEER_ID)).await;
    let u = Message::Update(update(PEER_AS, PEER_ID, &["198.51.100.0/24"]))
        .to_bytes(&session_support::CTX4)
        .unwrap();
    let mut sent = 0usize;
    let blocked = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::io::AsyncWriteExt::write_all(&mut p.stream, &u)
                .await
                .unwrap();
            sent += 1;
        }
    })
    .await;
    assert!(blocked.is_err(), "the peer's writes must block");
    // Bounded: no more than the duplex buffer (64 KiB), the read buffer and
    // the 4 queued batches plus the one in hand (at most 32 KiB each).
    let bound = 64 * 1024 + 6 * 32 * 1024;
    assert!(sent * u.len() <= bound, "{sent} UPDATEs accepted");
    // Reading the events releases the flow.
    let mut got = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
        got += 1;
    }
    assert!(got >= 2, "{got} events");
}

// --- restarting speaker: selection deferral (RFC 4724 §4.1) ---------------

fn negotiated_with(caps: Vec<Capability>) -> SessionEvent {
    let (decode, encode) = bgp::wire::Context::negotiate(&[], &caps);
    SessionEvent::Established(Box::new(bgp::fsm::Negotiated {
        hold_time: 90,
        keepalive_time: 30,
        peer_as: PEER_AS,
        peer_id: PEER_ID,
        peer_capabilities: caps,
        decode,
        encode,
    }))
}

#[test]
fn selection_deferral_waits_for_every_end_of_rib_or_the_timer() {
    use bgp::session::SelectionDeferral;
    let p1: IpAddr = "198.18.0.2".parse().unwrap();
    let p2: IpAddr = "198.18.0.3".parse().unwrap();
    let p3: IpAddr = "fd00::3".parse().unwrap();
    let t0 = Instant::now();
    let mut d = SelectionDeferral::new([p1, p2, p3], t0, 60);
    assert_eq!(d.deadline(), t0 + Duration::from_secs(60));
    assert!(!d.is_over(t0));
    // p1: graceful restart for IPv4 and IPv6: both End-of-RIBs needed.
    let gr = gr_open(120, true).capabilities;
    let mut both = gr.clone();
    if let Capability::GracefulRestart(g) = &mut both[1] {
        g.families.push(GracefulRestartFamily {
            family: Family::IPV6_UNICAST,
            forwarding_state: true,
        });
    }
    d.on_event(p1, &negotiated_with(both));
    // p2: no graceful restart: not waited for once up.
    d.on_event(p2, &negotiated_with(vec![Capability::FourOctetAs(PEER_AS)]));
    // p3: graceful restart, IPv4 only.
    d.on_event(p3, &negotiated_with(gr));
    d.on_event(p1, &SessionEvent::EndOfRib(Family::IPV4_UNICAST));
    d.on_event(p3, &SessionEvent::EndOfRib(Family::IPV4_UNICAST));
    assert!(!d.is_over(t0), "p1 still owes its IPv6 End-of-RIB");
    d.on_event(p1, &SessionEvent::EndOfRib(Family::IPV6_UNICAST));
    assert!(d.is_over(t0));

    // A peer that never comes up holds selection until the deadline.
    let d = SelectionDeferral::new([p1], t0, 60);
    assert!(!d.is_over(t0 + Duration::from_secs(59)));
    assert!(d.is_over(t0 + Duration::from_secs(60)));
}

#[tokio::test(start_paused = true)]
async fn slow_peer_pushes_back_on_commands_and_resumes_at_once() {
    let mut c = config();
    c.queues = QueueSizes {
        inbound: 4,
        outbound: 2,
    };
    let mut h = Harness::start(c);
    let mut p = up(&mut h, 0).await;
    let commands = h.handle.commands.clone();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let total = 2000;
    tokio::spawn(async move {
        for _ in 0..total {
            let u = update(LOCAL_AS, LOCAL_ID, &["192.0.2.0/24"]);
            commands
                .send(SessionCommand::SendUpdate(Box::new(u)))
                .await
                .unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // The peer reads nothing for a minute: the RIB owner is held back.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let before = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        before < total,
        "all {before} commands taken by a peer that reads nothing"
    );
    // The peer reads: everything arrives, with no time passing (no stall
    // until some timer wakes the session).
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(1), async {
        for _ in 0..total {
            assert!(matches!(p.expect().await, Message::Update(_)));
        }
    })
    .await
    .expect("the session stalled with commands waiting");
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), total);
}

#[tokio::test(start_paused = true)]
async fn deconfigured_peer_gets_cease_6_3_even_with_commands_held() {
    let mut h = Harness::start(config());
    let mut p = up(&mut h, 90).await;
    let _still_held = h.handle.commands.clone();
    let (tx, _) = tokio::sync::oneshot::channel();
    let deconfigure = std::mem::replace(&mut h.handle.deconfigure, tx);
    deconfigure.send(()).unwrap();
    let n = p.expect_notification().await;
    assert_eq!((n.code, n.subcode), (6, 3));
    p.expect_eof().await;
    let (reason, _) = down(h.event().await);
    assert_eq!(reason, sent(6, 3, &[]));
    (&mut h.handle.task).await.expect("task ends");
}
