//! Tests of the BGP FSM (RFC 4271 §8) and of collision resolution
//! (RFC 4271 §6.8, RFC 6286 §2.3).
//!
//! The table test runs one row per (start state, event) of RFC 4271 §8.2.2
//! and checks the new state and the exact actions; it reports every failing
//! row at once. Scenario tests follow whole sessions.

use std::net::Ipv4Addr;

use bgp::fsm::{
    resolve_collision, Action, Config, ConfigError, ConnectionDirection, DownReason, Event, Fsm,
    Keep, State, Timer,
};
use bgp::wire::{Capability, Context, Notification, Open};

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const RETRY: u16 = 5;

fn config() -> Config {
    let mut c = Config::new(LOCAL_AS, LOCAL_ID, PEER_AS);
    c.connect_retry_time = RETRY;
    c
}

fn peer_open(hold: u16) -> Open {
    Open::new(
        PEER_AS,
        hold,
        PEER_ID,
        vec![Capability::FourOctetAs(PEER_AS)],
    )
}

fn our_open() -> Action {
    Action::SendOpen(config().open())
}

fn n(code: u8, subcode: u8) -> Notification {
    Notification::new(code, subcode, Vec::new())
}

fn send(code: u8, subcode: u8) -> Action {
    Action::SendNotification(n(code, subcode))
}

fn start(t: Timer, s: u16) -> Action {
    Action::StartTimer(t, s)
}

fn stop(t: Timer) -> Action {
    Action::StopTimer(t)
}

fn down(reason: DownReason) -> Action {
    Action::SessionDown { reason }
}

fn sent(code: u8, subcode: u8) -> Action {
    down(DownReason::NotificationSent(n(code, subcode)))
}

fn run(fsm: &mut Fsm, events: impl IntoIterator<Item = Event>) -> Vec<Action> {
    events.into_iter().flat_map(|e| fsm.handle(e)).collect()
}

/// Where a table row starts.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Idle,
    /// Active start, connection attempt in progress.
    Connect,
    /// Passive start, listening.
    Active,
    /// Connected with DelayOpen running in Connect.
    ConnectDelay,
    /// Passive, connected with DelayOpen running in Active.
    ActiveDelay,
    /// Our OPEN sent.
    OpenSent,
    /// Peer OPEN with hold 30 received.
    OpenConfirm,
    Established,
}

fn setup(s: Setup) -> Fsm {
    let mut c = config();
    if matches!(s, Setup::ConnectDelay | Setup::ActiveDelay) {
        c.delay_open = Some(3);
    }
    let mut fsm = Fsm::new(c).unwrap();
    let events = match s {
        Setup::Idle => vec![],
        Setup::Connect => vec![Event::ManualStart],
        Setup::Active => vec![Event::ManualStartPassive],
        Setup::ConnectDelay => vec![Event::ManualStart, Event::TcpCrAcked],
        Setup::ActiveDelay => vec![Event::ManualStartPassive, Event::TcpConnectionConfirmed],
        Setup::OpenSent => vec![Event::ManualStart, Event::TcpCrAcked],
        Setup::OpenConfirm => vec![
            Event::ManualStart,
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open(30)),
        ],
        Setup::Established => vec![
            Event::ManualStart,
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open(30)),
            Event::KeepAliveMsg,
        ],
    };
    run(&mut fsm, events);
    fsm
}

fn setup_state(s: Setup) -> State {
    match s {
        Setup::Idle => State::Idle,
        Setup::Connect | Setup::ConnectDelay => State::Connect,
        Setup::Active | Setup::ActiveDelay => State::Active,
        Setup::OpenSent => State::OpenSent,
        Setup::OpenConfirm => State::OpenConfirm,
        Setup::Established => State::Established,
    }
}

fn established_action() -> Action {
    let their = vec![Capability::FourOctetAs(PEER_AS)];
    let (decode, encode) = Context::negotiate(&config().capabilities, &their);
    Action::SessionEstablished {
        negotiated: bgp::fsm::Negotiated {
            hold_time: 30,
            keepalive_time: 10,
            peer_as: PEER_AS,
            peer_id: PEER_ID,
            peer_capabilities: their,
            decode,
            encode,
        },
    }
}

#[test]
fn transition_table() {
    use Event as E;
    use Setup as S;
    use State::*;
    use Timer::*;
    let bad_as = Open::new(65003, 30, PEER_ID, vec![]);
    let rows: Vec<(Setup, Event, State, Vec<Action>)> = vec![
        // --- Idle -------------------------------------------------------
        (
            S::Idle,
            E::ManualStart,
            Connect,
            vec![start(ConnectRetry, RETRY), Action::InitiateTcpConnection],
        ),
        (
            S::Idle,
            E::AutomaticStart,
            Connect,
            vec![start(ConnectRetry, RETRY), Action::InitiateTcpConnection],
        ),
        (S::Idle, E::ManualStartPassive, Active, vec![]),
        (S::Idle, E::ManualStop, Idle, vec![]),
        (
            S::Idle,
            E::TcpConnectionConfirmed,
            Idle,
            vec![Action::DropTcpConnection],
        ),
        (
            S::Idle,
            E::TcpCrAcked,
            Idle,
            vec![Action::DropTcpConnection],
        ),
        (S::Idle, E::KeepAliveMsg, Idle, vec![]),
        (S::Idle, E::BgpOpen(peer_open(30)), Idle, vec![]),
        (S::Idle, E::NotifMsg(n(6, 2)), Idle, vec![]),
        (S::Idle, E::ConnectRetryTimerExpires, Idle, vec![]),
        (S::Idle, E::HoldTimerExpires, Idle, vec![]),
        // --- Connect ----------------------------------------------------
        (S::Connect, E::ManualStart, Connect, vec![]),
        (S::Connect, E::AutomaticStart, Connect, vec![]),
        (
            S::Connect,
            E::ManualStop,
            Idle,
            vec![
                stop(ConnectRetry),
                Action::DropTcpConnection,
                down(DownReason::ManualStop),
            ],
        ),
        (
            S::Connect,
            E::ConnectRetryTimerExpires,
            Connect,
            vec![
                Action::DropTcpConnection,
                start(ConnectRetry, RETRY),
                Action::InitiateTcpConnection,
            ],
        ),
        (
            S::Connect,
            E::TcpCrAcked,
            OpenSent,
            vec![stop(ConnectRetry), our_open(), start(Hold, 240)],
        ),
        (
            S::Connect,
            E::TcpConnectionConfirmed,
            OpenSent,
            vec![stop(ConnectRetry), our_open(), start(Hold, 240)],
        ),
        (
            S::Connect,
            E::TcpConnectionFails,
            Active,
            vec![Action::DropTcpConnection, start(ConnectRetry, RETRY)],
        ),
        (
            S::Connect,
            E::BgpHeaderErr(n(1, 1)),
            Idle,
            vec![
                send(1, 1),
                stop(ConnectRetry),
                Action::DropTcpConnection,
                sent(1, 1),
            ],
        ),
        (
            S::Connect,
            E::NotifMsgVerErr,
            Idle,
            vec![
                stop(ConnectRetry),
                Action::DropTcpConnection,
                down(DownReason::VersionError),
            ],
        ),
        (
            S::Connect,
            E::NotifMsg(n(6, 2)),
            Idle,
            vec![
                stop(ConnectRetry),
                Action::DropTcpConnection,
                down(DownReason::NotificationReceived(n(6, 2))),
            ],
        ),
        (
            S::Connect,
            E::KeepAliveMsg,
            Idle,
            vec![
                stop(ConnectRetry),
                Action::DropTcpConnection,
                down(DownReason::UnexpectedEvent),
            ],
        ),
        (
            S::Connect,
            E::BgpOpen(peer_open(30)),
            Idle,
            vec![
                stop(ConnectRetry),
                Action::DropTcpConnection,
                down(DownReason::UnexpectedEvent),
            ],
        ),
        (S::Connect, E::HoldTimerExpires, Connect, vec![]),
        (S::Connect, E::DelayOpenTimerExpires, Connect, vec![]),
        // --- Connect with DelayOpen running -------------------------------
        (
            S::ConnectDelay,
            E::DelayOpenTimerExpires,
            OpenSent,
            vec![our_open(), start(Hold, 240)],
        ),
        (
            S::ConnectDelay,
            E::BgpOpen(peer_open(30)),
            OpenConfirm,
            vec![
                stop(DelayOpen),
                our_open(),
                Action::SendKeepalive,
                start(Keepalive, 10),
                start(Hold, 30),
            ],
        ),
        (
            S::ConnectDelay,
            E::BgpOpen(bad_as.clone()),
            Idle,
            vec![
                send(2, 2),
                stop(DelayOpen),
                Action::DropTcpConnection,
                sent(2, 2),
            ],
        ),
        (
            S::ConnectDelay,
            E::TcpConnectionFails,
            Active,
            vec![stop(DelayOpen), start(ConnectRetry, RETRY)],
        ),
        (
            S::ConnectDelay,
            E::ManualStop,
            Idle,
            vec![
                send(6, 2),
                stop(DelayOpen),
                Action::DropTcpConnection,
                down(DownReason::ManualStop),
            ],
        ),
        // --- Active -----------------------------------------------------
        (S::Active, E::ManualStartPassive, Active, vec![]),
        (S::Active, E::AutomaticStart, Active, vec![]),
        (
            S::Active,
            E::TcpConnectionConfirmed,
            OpenSent,
            vec![our_open(), start(Hold, 240)],
        ),
        (
            S::Active,
            E::ManualStop,
            Idle,
            vec![down(DownReason::ManualStop)],
        ),
        (
            S::Active,
            E::TcpConnectionFails,
            Idle,
            vec![down(DownReason::ConnectionFailed)],
        ),
        (
            S::Active,
            E::UpdateMsg,
            Idle,
            vec![down(DownReason::UnexpectedEvent)],
        ),
        (
            S::Active,
            E::BgpOpenMsgErr(n(2, 1)),
            Idle,
            vec![send(2, 1), sent(2, 1)],
        ),
        (S::Active, E::ConnectRetryTimerExpires, Active, vec![]),
        // --- Active with DelayOpen running --------------------------------
        (
            S::ActiveDelay,
            E::DelayOpenTimerExpires,
            OpenSent,
            vec![our_open(), start(Hold, 240)],
        ),
        (
            S::ActiveDelay,
            E::TcpConnectionFails,
            Idle,
            vec![
                stop(DelayOpen),
                Action::DropTcpConnection,
                down(DownReason::ConnectionFailed),
            ],
        ),
        (
            S::ActiveDelay,
            E::BgpOpen(peer_open(30)),
            OpenConfirm,
            vec![
                stop(DelayOpen),
                our_open(),
                Action::SendKeepalive,
                start(Keepalive, 10),
                start(Hold, 30),
            ],
        ),
        // --- OpenSent ---------------------------------------------------
        (
            S::OpenSent,
            E::BgpOpen(peer_open(30)),
            OpenConfirm,
            vec![Action::SendKeepalive, start(Keepalive, 10), start(Hold, 30)],
        ),
        (
            S::OpenSent,
            E::BgpOpen(bad_as),
            Idle,
            vec![
                send(2, 2),
                stop(Hold),
                Action::DropTcpConnection,
                sent(2, 2),
            ],
        ),
        (
            S::OpenSent,
            E::BgpOpen(peer_open(2)),
            Idle,
            vec![
                send(2, 6),
                stop(Hold),
                Action::DropTcpConnection,
                sent(2, 6),
            ],
        ),
        (
            S::OpenSent,
            E::HoldTimerExpires,
            Idle,
            vec![send(4, 0), Action::DropTcpConnection, sent(4, 0)],
        ),
        (
            S::OpenSent,
            E::ManualStop,
            Idle,
            vec![
                send(6, 2),
                stop(Hold),
                Action::DropTcpConnection,
                down(DownReason::ManualStop),
            ],
        ),
        (
            S::OpenSent,
            E::TcpConnectionFails,
            Active,
            vec![
                stop(Hold),
                Action::DropTcpConnection,
                start(ConnectRetry, RETRY),
            ],
        ),
        (
            S::OpenSent,
            E::KeepAliveMsg,
            Idle,
            vec![
                send(5, 1),
                stop(Hold),
                Action::DropTcpConnection,
                sent(5, 1),
            ],
        ),
        (
            S::OpenSent,
            E::UpdateMsg,
            Idle,
            vec![
                send(5, 1),
                stop(Hold),
                Action::DropTcpConnection,
                sent(5, 1),
            ],
        ),
        (
            S::OpenSent,
            E::UpdateMsgErr(n(3, 1)),
            Idle,
            vec![
                send(5, 1),
                stop(Hold),
                Action::DropTcpConnection,
                sent(5, 1),
            ],
        ),
        (
            S::OpenSent,
            E::RouteRefreshMsg,
            Idle,
            vec![
                send(5, 1),
                stop(Hold),
                Action::DropTcpConnection,
                sent(5, 1),
            ],
        ),
        (
            S::OpenSent,
            E::NotifMsg(n(6, 4)),
            Idle,
            vec![
                stop(Hold),
                Action::DropTcpConnection,
                down(DownReason::NotificationReceived(n(6, 4))),
            ],
        ),
        (
            S::OpenSent,
            E::NotifMsgVerErr,
            Idle,
            vec![
                stop(Hold),
                Action::DropTcpConnection,
                down(DownReason::VersionError),
            ],
        ),
        (
            S::OpenSent,
            E::OpenCollisionDump,
            Idle,
            vec![
                send(6, 7),
                stop(Hold),
                Action::DropTcpConnection,
                sent(6, 7),
            ],
        ),
        (
            S::OpenSent,
            E::BgpHeaderErr(n(1, 2)),
            Idle,
            vec![
                send(1, 2),
                stop(Hold),
                Action::DropTcpConnection,
                sent(1, 2),
            ],
        ),
        (
            S::OpenSent,
            E::BgpOpenMsgErr(n(2, 4)),
            Idle,
            vec![
                send(2, 4),
                stop(Hold),
                Action::DropTcpConnection,
                sent(2, 4),
            ],
        ),
        (S::OpenSent, E::TcpConnectionConfirmed, OpenSent, vec![]),
        (S::OpenSent, E::ManualStart, OpenSent, vec![]),
        (S::OpenSent, E::KeepaliveTimerExpires, OpenSent, vec![]),
        // --- OpenConfirm ------------------------------------------------
        (
            S::OpenConfirm,
            E::KeepAliveMsg,
            Established,
            vec![start(Hold, 30), established_action()],
        ),
        (
            S::OpenConfirm,
            E::KeepaliveTimerExpires,
            OpenConfirm,
            vec![Action::SendKeepalive, start(Keepalive, 10)],
        ),
        (
            S::OpenConfirm,
            E::HoldTimerExpires,
            Idle,
            vec![
                send(4, 0),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(4, 0),
            ],
        ),
        (
            S::OpenConfirm,
            E::ManualStop,
            Idle,
            vec![
                send(6, 2),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::ManualStop),
            ],
        ),
        (
            S::OpenConfirm,
            E::UpdateMsg,
            Idle,
            vec![
                send(5, 2),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(5, 2),
            ],
        ),
        (
            S::OpenConfirm,
            E::BgpOpen(peer_open(30)),
            Idle,
            vec![
                send(5, 2),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(5, 2),
            ],
        ),
        (
            S::OpenConfirm,
            E::RouteRefreshMsg,
            Idle,
            vec![
                send(5, 2),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(5, 2),
            ],
        ),
        (
            S::OpenConfirm,
            E::TcpConnectionFails,
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::ConnectionFailed),
            ],
        ),
        (
            S::OpenConfirm,
            E::NotifMsg(n(6, 2)),
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::NotificationReceived(n(6, 2))),
            ],
        ),
        (
            S::OpenConfirm,
            E::NotifMsgVerErr,
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::VersionError),
            ],
        ),
        (
            S::OpenConfirm,
            E::OpenCollisionDump,
            Idle,
            vec![
                send(6, 7),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(6, 7),
            ],
        ),
        (
            S::OpenConfirm,
            E::BgpOpenMsgErr(n(2, 7)),
            Idle,
            vec![
                send(2, 7),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(2, 7),
            ],
        ),
        (S::OpenConfirm, E::TcpCrAcked, OpenConfirm, vec![]),
        (
            S::OpenConfirm,
            E::ConnectRetryTimerExpires,
            OpenConfirm,
            vec![],
        ),
        // --- Established ------------------------------------------------
        (
            S::Established,
            E::KeepAliveMsg,
            Established,
            vec![start(Hold, 30)],
        ),
        (
            S::Established,
            E::UpdateMsg,
            Established,
            vec![Action::ProcessUpdate, start(Hold, 30)],
        ),
        (
            S::Established,
            E::RouteRefreshMsg,
            Established,
            vec![Action::ProcessRouteRefresh],
        ),
        (
            S::Established,
            E::KeepaliveTimerExpires,
            Established,
            vec![Action::SendKeepalive, start(Keepalive, 10)],
        ),
        (
            S::Established,
            E::HoldTimerExpires,
            Idle,
            vec![
                send(4, 0),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(4, 0),
            ],
        ),
        (
            S::Established,
            E::ManualStop,
            Idle,
            vec![
                send(6, 2),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::ManualStop),
            ],
        ),
        (
            S::Established,
            E::UpdateMsgErr(n(3, 1)),
            Idle,
            vec![
                send(3, 1),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(3, 1),
            ],
        ),
        (
            S::Established,
            E::BgpOpen(peer_open(30)),
            Idle,
            vec![
                send(5, 3),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(5, 3),
            ],
        ),
        (
            S::Established,
            E::TcpConnectionFails,
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::ConnectionFailed),
            ],
        ),
        (
            S::Established,
            E::NotifMsg(n(6, 4)),
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::NotificationReceived(n(6, 4))),
            ],
        ),
        (
            S::Established,
            E::NotifMsgVerErr,
            Idle,
            vec![
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                down(DownReason::VersionError),
            ],
        ),
        (
            S::Established,
            E::OpenCollisionDump,
            Idle,
            vec![
                send(6, 7),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(6, 7),
            ],
        ),
        (
            S::Established,
            E::BgpHeaderErr(n(1, 3)),
            Idle,
            vec![
                send(1, 3),
                stop(Hold),
                stop(Keepalive),
                Action::DropTcpConnection,
                sent(1, 3),
            ],
        ),
        (S::Established, E::ManualStart, Established, vec![]),
        (
            S::Established,
            E::TcpConnectionConfirmed,
            Established,
            vec![],
        ),
        (
            S::Established,
            E::DelayOpenTimerExpires,
            Established,
            vec![],
        ),
    ];
    assert!(rows.len() >= 40);
    let mut failures = Vec::new();
    for (i, (from, event, to, actions)) in rows.into_iter().enumerate() {
        let fsm = setup(from);
        assert_eq!(fsm.state(), setup_state(from), "row {i}: setup");
        let (next, got) = fsm.step(event.clone());
        if next.state() != to || got != actions {
            failures.push(format!(
                "row {i}: {from:?} + {event:?}\n  want {to:?} {actions:?}\n  got  {:?} {got:?}",
                next.state()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn step_is_pure() {
    let fsm = setup(Setup::OpenSent);
    let before = fsm.clone();
    let (next, _) = fsm.step(Event::HoldTimerExpires);
    assert_eq!(fsm, before);
    assert_eq!(next.state(), State::Idle);
}

#[test]
fn passive_establishment() {
    let mut c = config();
    c.passive = true;
    let mut fsm = Fsm::new(c).unwrap();
    let mut all = fsm.handle(Event::ManualStart);
    assert_eq!(fsm.state(), State::Active);
    all.extend(fsm.handle(Event::TcpConnectionConfirmed));
    assert_eq!(fsm.state(), State::OpenSent);
    // Connection lost: back to Active, still no outgoing connection.
    all.extend(fsm.handle(Event::TcpConnectionFails));
    assert_eq!(fsm.state(), State::Active);
    all.extend(run(
        &mut fsm,
        [
            Event::TcpConnectionConfirmed,
            Event::BgpOpen(peer_open(30)),
            Event::KeepAliveMsg,
        ],
    ));
    assert_eq!(fsm.state(), State::Established);
    assert!(!all.contains(&Action::InitiateTcpConnection), "{all:?}");
    assert!(!all
        .iter()
        .any(|a| matches!(a, Action::StartTimer(Timer::ConnectRetry, _))));
    assert!(all
        .iter()
        .any(|a| matches!(a, Action::SessionEstablished { .. })));
    // AutomaticStart follows the passive configuration too.
    let mut c = config();
    c.passive = true;
    let mut fsm = Fsm::new(c).unwrap();
    assert_eq!(fsm.handle(Event::AutomaticStart), vec![]);
    assert_eq!(fsm.state(), State::Active);
}

#[test]
fn active_establishment_negotiates_hold_time() {
    let mut fsm = Fsm::new(config()).unwrap();
    assert_eq!(
        run(&mut fsm, [Event::ManualStart, Event::TcpCrAcked]),
        vec![
            start(Timer::ConnectRetry, RETRY),
            Action::InitiateTcpConnection,
            stop(Timer::ConnectRetry),
            our_open(),
            start(Timer::Hold, 240),
        ]
    );
    assert_eq!(
        fsm.handle(Event::BgpOpen(peer_open(30))),
        vec![
            Action::SendKeepalive,
            start(Timer::Keepalive, 10),
            start(Timer::Hold, 30)
        ]
    );
    assert_eq!(fsm.negotiated_hold_time(), Some(30));
    let acts = fsm.handle(Event::KeepAliveMsg);
    let Some(Action::SessionEstablished { negotiated }) = acts.last() else {
        panic!("{acts:?}");
    };
    assert_eq!((negotiated.hold_time, negotiated.keepalive_time), (30, 10));
    assert_eq!(negotiated.peer_as, PEER_AS);
    assert_eq!(negotiated.peer_id, PEER_ID);
    assert!(negotiated.decode.four_octet_as && negotiated.encode.four_octet_as);
    assert_eq!(fsm.state(), State::Established);

    // The smaller wins whichever side proposes it.
    let mut c = config();
    c.hold_time = 9;
    let mut fsm = Fsm::new(c).unwrap();
    let acts = run(
        &mut fsm,
        [
            Event::ManualStart,
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open(90)),
        ],
    );
    assert!(acts.contains(&start(Timer::Keepalive, 3)));
    assert!(acts.contains(&start(Timer::Hold, 9)));
    assert_eq!(fsm.negotiated_hold_time(), Some(9));
}

#[test]
fn a_configured_keepalive_is_used_up_to_a_third_of_the_hold_time() {
    // (configured keepalive, our hold, their hold) -> KeepaliveTime.
    for (keepalive, ours, theirs, expected) in [(5, 90, 90, 5), (60, 90, 90, 30), (20, 90, 9, 3)] {
        let mut c = config();
        c.hold_time = ours;
        c.keepalive_time = Some(keepalive);
        let mut fsm = Fsm::new(c).unwrap();
        let acts = run(
            &mut fsm,
            [
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::BgpOpen(peer_open(theirs)),
            ],
        );
        assert!(
            acts.contains(&start(Timer::Keepalive, expected)),
            "{acts:?}"
        );
        let acts = fsm.handle(Event::KeepAliveMsg);
        let Some(Action::SessionEstablished { negotiated }) = acts.last() else {
            panic!("{acts:?}");
        };
        assert_eq!(negotiated.keepalive_time, expected);
        // RFC 4271 §8.2.2: the timer is restarted with the same interval.
        let acts = fsm.handle(Event::KeepaliveTimerExpires);
        assert_eq!(
            acts,
            vec![Action::SendKeepalive, start(Timer::Keepalive, expected)]
        );
    }
}

#[test]
fn hold_time_zero_means_no_timers() {
    for (ours, theirs) in [(90, 0), (0, 90), (0, 0)] {
        let mut c = config();
        c.hold_time = ours;
        let mut fsm = Fsm::new(c).unwrap();
        run(&mut fsm, [Event::ManualStart, Event::TcpCrAcked]);
        assert_eq!(
            fsm.handle(Event::BgpOpen(peer_open(theirs))),
            vec![Action::SendKeepalive, stop(Timer::Hold)],
            "ours {ours} theirs {theirs}"
        );
        let acts = fsm.handle(Event::KeepAliveMsg);
        let [Action::SessionEstablished { negotiated }] = acts.as_slice() else {
            panic!("{acts:?}");
        };
        assert_eq!((negotiated.hold_time, negotiated.keepalive_time), (0, 0));
        assert_eq!(fsm.handle(Event::KeepAliveMsg), vec![]);
        assert_eq!(fsm.handle(Event::UpdateMsg), vec![Action::ProcessUpdate]);
        // No timer runs, so expiries are stale.
        assert_eq!(fsm.handle(Event::HoldTimerExpires), vec![]);
        assert_eq!(fsm.handle(Event::KeepaliveTimerExpires), vec![]);
        assert!(!fsm.is_running(Timer::Hold) && !fsm.is_running(Timer::Keepalive));
        assert_eq!(fsm.state(), State::Established);
    }
}

#[test]
fn hold_time_one_or_two_refused() {
    for bad in [1, 2] {
        let mut c = config();
        c.hold_time = bad;
        assert_eq!(
            Fsm::new(c).unwrap_err(),
            ConfigError::UnacceptableHoldTime(bad)
        );
        let mut fsm = setup(Setup::OpenSent);
        let acts = fsm.handle(Event::BgpOpen(peer_open(bad)));
        assert_eq!(acts.first(), Some(&send(2, 6)));
        assert_eq!(fsm.state(), State::Idle);
    }
    for ok in [0, 3] {
        let mut c = config();
        c.hold_time = ok;
        assert!(Fsm::new(c).is_ok());
    }
    let mut c = config();
    c.delay_open = Some(0);
    assert!(Fsm::new(c).is_err());
}

#[test]
fn hold_timer_expiry_sends_exactly_4_0() {
    for s in [Setup::OpenSent, Setup::OpenConfirm, Setup::Established] {
        let mut fsm = setup(s);
        let acts = fsm.handle(Event::HoldTimerExpires);
        let notes: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                Action::SendNotification(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(notes, vec![Notification::new(4, 0, Vec::new())], "{s:?}");
        assert!(acts.contains(&Action::DropTcpConnection));
        assert_eq!(fsm.state(), State::Idle);
    }
}

#[test]
fn bad_peer_as_is_2_2() {
    let mut fsm = setup(Setup::OpenSent);
    let wrong = Open::new(65099, 90, PEER_ID, vec![Capability::FourOctetAs(65099)]);
    let acts = fsm.handle(Event::BgpOpen(wrong));
    assert_eq!(acts.first(), Some(&send(2, 2)));
    assert!(acts.contains(&Action::DropTcpConnection));
    assert_eq!(fsm.state(), State::Idle);

    // iBGP with our own identifier: Bad BGP Identifier (RFC 6286 §2.2).
    let mut c = Config::new(LOCAL_AS, LOCAL_ID, LOCAL_AS);
    c.connect_retry_time = RETRY;
    let mut fsm = Fsm::new(c).unwrap();
    run(&mut fsm, [Event::ManualStart, Event::TcpCrAcked]);
    let acts = fsm.handle(Event::BgpOpen(Open::new(LOCAL_AS, 90, LOCAL_ID, vec![])));
    assert_eq!(acts.first(), Some(&send(2, 3)));
}

#[test]
fn unexpected_update_in_open_confirm_is_5_2() {
    let mut fsm = setup(Setup::OpenConfirm);
    let acts = fsm.handle(Event::UpdateMsg);
    assert_eq!(acts.first(), Some(&send(5, 2)));
    assert!(acts.contains(&Action::DropTcpConnection));
    assert_eq!(fsm.state(), State::Idle);
}

#[test]
fn manual_stop_everywhere_ends_in_idle() {
    for s in [
        Setup::Idle,
        Setup::Connect,
        Setup::Active,
        Setup::ConnectDelay,
        Setup::ActiveDelay,
        Setup::OpenSent,
        Setup::OpenConfirm,
        Setup::Established,
    ] {
        let mut fsm = setup(s);
        let acts = fsm.handle(Event::ManualStop);
        assert_eq!(fsm.state(), State::Idle, "{s:?}");
        let connected = !matches!(s, Setup::Idle | Setup::Connect | Setup::Active);
        assert_eq!(acts.contains(&send(6, 2)), connected, "{s:?}: {acts:?}");
        assert_eq!(fsm.connect_retry_counter(), 0);
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::DelayOpen,
            Timer::IdleHold,
        ] {
            assert!(!fsm.is_running(t), "{s:?}: {t:?}");
        }
    }
}

/// Fail one session attempt: start (automatically), connect, no OPEN
/// before the Hold timer.
fn fail_once(fsm: &mut Fsm) -> Option<u16> {
    let acts = fsm.handle(Event::AutomaticStart);
    let wait = match acts.as_slice() {
        [Action::StartTimer(Timer::IdleHold, s)] => {
            assert_eq!(fsm.state(), State::Idle);
            // A second AutomaticStart while waiting does nothing.
            assert_eq!(fsm.handle(Event::AutomaticStart), vec![]);
            fsm.handle(Event::IdleHoldTimerExpires);
            Some(*s)
        }
        _ => None,
    };
    assert_eq!(fsm.state(), State::Connect);
    // The connection comes up, but the peer never sends its OPEN.
    fsm.handle(Event::TcpCrAcked);
    assert_eq!(fsm.state(), State::OpenSent);
    fsm.handle(Event::HoldTimerExpires);
    assert_eq!(fsm.state(), State::Idle);
    wait
}

#[test]
fn idle_hold_backoff_doubles_and_caps() {
    let mut c = config();
    c.idle_hold_base = 1;
    c.idle_hold_max = 8;
    let mut fsm = Fsm::new(c).unwrap();
    let waits: Vec<_> = (0..7).map(|_| fail_once(&mut fsm)).collect();
    assert_eq!(
        waits,
        vec![None, Some(1), Some(2), Some(4), Some(8), Some(8), Some(8)]
    );
    assert_eq!(fsm.idle_hold_time(), 8);

    // Reaching Established resets the back-off.
    run(
        &mut fsm,
        [Event::AutomaticStart, Event::IdleHoldTimerExpires],
    );
    run(
        &mut fsm,
        [
            Event::TcpCrAcked,
            Event::BgpOpen(peer_open(30)),
            Event::KeepAliveMsg,
        ],
    );
    assert_eq!(fsm.state(), State::Established);
    assert_eq!(fsm.idle_hold_time(), 0);
    fsm.handle(Event::HoldTimerExpires);
    assert_eq!(fail_once(&mut fsm), Some(1));
    assert_eq!(fail_once(&mut fsm), Some(2));

    // ManualStop cancels a pending restart and forgets failures.
    assert_eq!(
        fsm.handle(Event::AutomaticStart),
        vec![start(Timer::IdleHold, 4)]
    );
    assert_eq!(fsm.handle(Event::ManualStop), vec![stop(Timer::IdleHold)]);
    assert_eq!(fsm.idle_hold_time(), 0);
    assert_eq!(fsm.handle(Event::IdleHoldTimerExpires), vec![]);
    assert_eq!(fsm.state(), State::Idle);

    // ManualStart does not wait.
    fail_once(&mut fsm);
    assert_eq!(fsm.idle_hold_time(), 1);
    fsm.handle(Event::ManualStart);
    assert_eq!(fsm.state(), State::Connect);

    // A lost collision is not a failure.
    let mut fsm = setup(Setup::OpenConfirm);
    fsm.handle(Event::OpenCollisionDump);
    assert_eq!(fsm.idle_hold_time(), 0);
}

#[test]
fn delay_open() {
    let mut c = config();
    c.delay_open = Some(3);
    // The timer runs out first: then our OPEN goes.
    let mut fsm = Fsm::new(c.clone()).unwrap();
    let acts = run(&mut fsm, [Event::ManualStart, Event::TcpCrAcked]);
    assert!(!acts.iter().any(|a| matches!(a, Action::SendOpen(_))));
    assert_eq!(acts.last(), Some(&start(Timer::DelayOpen, 3)));
    assert_eq!(fsm.state(), State::Connect);
    assert_eq!(
        fsm.handle(Event::DelayOpenTimerExpires),
        vec![Action::SendOpen(c.open()), start(Timer::Hold, 240)]
    );
    assert_eq!(fsm.state(), State::OpenSent);

    // The peer's OPEN comes first: ours and a KEEPALIVE go together.
    let mut fsm = Fsm::new(c.clone()).unwrap();
    run(&mut fsm, [Event::ManualStart, Event::TcpCrAcked]);
    let acts = fsm.handle(Event::BgpOpen(peer_open(30)));
    assert_eq!(
        acts,
        vec![
            stop(Timer::DelayOpen),
            Action::SendOpen(c.open()),
            Action::SendKeepalive,
            start(Timer::Keepalive, 10),
            start(Timer::Hold, 30),
        ]
    );
    assert_eq!(fsm.state(), State::OpenConfirm);
    fsm.handle(Event::KeepAliveMsg);
    assert_eq!(fsm.state(), State::Established);

    // Without DelayOpen, an OPEN before ours is unexpected in Connect.
    let mut fsm = setup(Setup::Connect);
    fsm.handle(Event::BgpOpen(peer_open(30)));
    assert_eq!(fsm.state(), State::Idle);
}

#[test]
fn collision_by_identifier() {
    use ConnectionDirection::{Inbound, Outbound};
    let low = Ipv4Addr::new(1, 1, 1, 1);
    let high = Ipv4Addr::new(2, 2, 2, 2);
    // Local lower: keep the connection the remote initiated (Inbound).
    assert_eq!(resolve_collision(low, high, 1, 2, Inbound), Keep::Existing);
    assert_eq!(resolve_collision(low, high, 1, 2, Outbound), Keep::New);
    // Local higher: keep the connection we initiated (Outbound).
    assert_eq!(resolve_collision(high, low, 1, 2, Outbound), Keep::Existing);
    assert_eq!(resolve_collision(high, low, 1, 2, Inbound), Keep::New);
    // Identifiers compare as unsigned integers, not bytewise signed.
    let big = Ipv4Addr::new(200, 0, 0, 1);
    assert_eq!(resolve_collision(low, big, 9, 1, Inbound), Keep::Existing);
}

#[test]
fn collision_equal_identifiers_compare_as() {
    use ConnectionDirection::{Inbound, Outbound};
    let id = Ipv4Addr::new(1, 1, 1, 1);
    // RFC 6286 §2.3: the speaker with the larger AS keeps its connection.
    assert_eq!(
        resolve_collision(id, id, 65002, 65001, Outbound),
        Keep::Existing
    );
    assert_eq!(resolve_collision(id, id, 65002, 65001, Inbound), Keep::New);
    assert_eq!(
        resolve_collision(id, id, 65001, 65002, Inbound),
        Keep::Existing
    );
    assert_eq!(resolve_collision(id, id, 65001, 65002, Outbound), Keep::New);
    // Nothing to tell them apart: keep what exists.
    assert_eq!(resolve_collision(id, id, 1, 1, Inbound), Keep::Existing);
    assert_eq!(Inbound.opposite(), Outbound);
}
