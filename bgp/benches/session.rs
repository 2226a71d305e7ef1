//! Session throughput: UPDATEs through one `bgp::session` task, from a peer
//! to the events channel (receive) and from commands to the peer (send),
//! over `tokio::io::duplex` and over TCP on 127.0.0.1.
//!
//! Run: `cargo bench -p bgp --bench session` (a few seconds). Prints, per
//! case, the median of 5 runs of 200,000 UPDATEs of 10 IPv4 prefixes each
//! (87 bytes each), in messages/s and prefixes/s.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::fsm::Config;
use bgp::session::{
    spawn_session, ConnectFuture, Connector, PeerEvent, SessionCommand, SessionConfig, SessionEvent,
};
use bgp::wire::{
    decode_message, frame, AsPath, AttributeValue, Capability, Context, FamilyFlags, Ipv4Prefix,
    Message, Nlri, Open, Origin, PathAttribute, Update,
};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

const N: usize = 200_000;
const PREFIXES: usize = 10;
const RUNS: usize = 5;
const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;
const CTX: Context = Context {
    four_octet_as: true,
    extended_message: false,
    add_path: FamilyFlags {
        ipv4_unicast: false,
        ipv6_unicast: false,
    },
    extended_next_hop_ipv4: false,
};

fn update(i: usize) -> Update {
    Update {
        path_attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![
                PEER_AS, 64512,
            ]))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(198, 18, 0, 2))),
        ],
        nlri: (0..PREFIXES)
            .map(|j| {
                let n = (i * PREFIXES + j) as u32;
                Nlri::new(Ipv4Prefix::new(Ipv4Addr::from(0x0a00_0000 | (n << 8)), 24).unwrap())
            })
            .collect(),
        ..Update::default()
    }
}

enum Kind {
    Duplex,
    Tcp,
}

struct Dial {
    kind: Kind,
    addr: Option<SocketAddr>,
    far: mpsc::UnboundedSender<Box<dyn Stream>>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Connector for Dial {
    type Stream = Box<dyn Stream>;
    fn connect(&self) -> ConnectFuture<Box<dyn Stream>> {
        let far = self.far.clone();
        match self.kind {
            Kind::Duplex => {
                let (a, b) = tokio::io::duplex(256 * 1024);
                Box::pin(async move {
                    far.send(Box::new(b)).ok();
                    Ok(Box::new(a) as Box<dyn Stream>)
                })
            }
            Kind::Tcp => {
                let addr = self.addr.unwrap();
                let l = std::net::TcpListener::bind(addr).unwrap();
                let local = l.local_addr().unwrap();
                l.set_nonblocking(true).unwrap();
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                Box::pin(async move {
                    let c = tokio::net::TcpStream::connect(local).await?;
                    let (s, _) = l.accept().await?;
                    s.set_nodelay(true)?;
                    far.send(Box::new(s)).ok();
                    Ok(Box::new(c) as Box<dyn Stream>)
                })
            }
        }
    }
}

async fn read_msg<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> Message {
    loop {
        if let Some(n) = frame(buf, &CTX).unwrap() {
            let m = buf.split_to(n);
            return decode_message(&m, &CTX).unwrap();
        }
        if s.read_buf(buf).await.unwrap() == 0 {
            panic!("end of stream; buffered {:?}", &buf[..]);
        }
    }
}

/// One run: establish, then time N UPDATEs in; then N UPDATEs out.
async fn run(kind: Kind) -> (Duration, Duration) {
    let (far_tx, mut far_rx) = mpsc::unbounded_channel();
    let dial = Dial {
        kind,
        addr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
        far: far_tx,
    };
    let (tx, mut events) = mpsc::channel::<PeerEvent>(1024);
    let fsm = Config::new(LOCAL_AS, Ipv4Addr::new(198, 18, 0, 1), PEER_AS);
    let cfg = SessionConfig::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), fsm);
    let h = spawn_session(cfg, dial, tx).unwrap();
    let mut peer = far_rx.recv().await.unwrap();
    let mut buf = BytesMut::new();
    read_msg(&mut peer, &mut buf).await;
    let open = Open::new(
        PEER_AS,
        90,
        Ipv4Addr::new(198, 18, 0, 2),
        vec![Capability::FourOctetAs(PEER_AS)],
    );
    let mut out = BytesMut::new();
    Message::Open(open).encode(&CTX, &mut out).unwrap();
    Message::Keepalive.encode(&CTX, &mut out).unwrap();
    peer.write_all(&out).await.unwrap();
    read_msg(&mut peer, &mut buf).await;
    assert!(matches!(
        events.recv().await.unwrap().event,
        SessionEvent::Established(_)
    ));

    // Receive: the peer writes N UPDATEs, we count the events.
    let mut wire = BytesMut::new();
    for i in 0..N {
        Message::Update(update(i)).encode(&CTX, &mut wire).unwrap();
    }
    let (mut r, mut w) = tokio::io::split(peer);
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        w.write_all(&wire).await.unwrap();
        w
    });
    let mut got = 0;
    while got < N {
        if let SessionEvent::Update(_) = events.recv().await.unwrap().event {
            got += 1;
        }
    }
    let rx_time = t0.elapsed();
    let _w = writer.await.unwrap();

    // Send: N commands, the peer reads N UPDATEs.
    let cmds = h.commands.clone();
    let updates: Vec<Update> = (0..N).map(update).collect();
    let t0 = Instant::now();
    tokio::spawn(async move {
        for u in updates {
            cmds.send(SessionCommand::SendUpdate(Box::new(u)))
                .await
                .unwrap();
        }
    });
    let mut n = 0;
    while n < N {
        if let Message::Update(_) = read_msg(&mut r, &mut buf).await {
            n += 1;
        }
    }
    let tx_time = t0.elapsed();
    h.task.abort();
    (rx_time, tx_time)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let size = Message::Update(update(0)).to_bytes(&CTX).unwrap().len();
    println!("{N} UPDATEs of {PREFIXES} IPv4 /24s ({size} bytes each), median of {RUNS} runs");
    for (name, k) in [("duplex", 0), ("tcp", 1)] {
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for _ in 0..RUNS {
            let kind = if k == 0 { Kind::Duplex } else { Kind::Tcp };
            let (a, b) = rt.block_on(run(kind));
            rx.push(a);
            tx.push(b);
        }
        rx.sort();
        tx.sort();
        let rate = |d: Duration| N as f64 / d.as_secs_f64();
        println!(
            "{name:7} receive: {:>8.0} ms  {:>6.2} M msg/s  {:>6.1} M prefixes/s | send: {:>8.0} ms  {:>6.2} M msg/s",
            rx[RUNS / 2].as_secs_f64() * 1e3,
            rate(rx[RUNS / 2]) / 1e6,
            rate(rx[RUNS / 2]) * PREFIXES as f64 / 1e6,
            tx[RUNS / 2].as_secs_f64() * 1e3,
            rate(tx[RUNS / 2]) / 1e6,
        );
    }
}
