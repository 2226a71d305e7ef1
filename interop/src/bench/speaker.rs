//! The injector and the monitors: minimal BGP speakers on blocking
//! sockets, each in a thread that has entered a lab namespace (setns).
//!
//! Both connect to the device under test (whose neighbours are passive),
//! exchange OPEN and KEEPALIVE (RFC 4271 §8.2.2), and then only write
//! pre-encoded bytes (the injector) or only read and count (a monitor). A
//! KEEPALIVE goes out every [`KEEPALIVE_EVERY`] under a lock on the
//! writer, so it never lands inside another message.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bgp::wire::{Capability, Context, Family, Message, Open};

use crate::bench::BenchError;

/// Hold time we offer; the devices are configured with the same.
pub const HOLD_TIME: u16 = 240;
/// How often the speakers send KEEPALIVE (well inside the hold time).
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);

/// Enters network namespace `name` (this thread only).
pub fn enter_namespace(name: &str) -> Result<(), BenchError> {
    let file = std::fs::File::open(format!("/run/netns/{name}"))
        .map_err(|e| BenchError::Setup(format!("namespace {name}: {e}")))?;
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| BenchError::Setup(format!("setns {name}: {e}")))
}

/// This thread's CPU time so far (`/proc/thread-self/schedstat`, ns).
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// Connects from `local` to `remote:179`, retrying for up to `patience`
/// (the device may still be starting).
fn connect(local: Ipv4Addr, remote: Ipv4Addr, patience: Duration) -> Result<TcpStream, BenchError> {
    let deadline = Instant::now() + patience;
    loop {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| BenchError::Setup(format!("socket: {e}")))?;
        socket
            .bind(&SocketAddr::new(IpAddr::V4(local), 0).into())
            .map_err(|e| BenchError::Setup(format!("bind {local}: {e}")))?;
        match socket.connect_timeout(
            &SocketAddr::new(IpAddr::V4(remote), 179).into(),
            Duration::from_secs(2),
        ) {
            Ok(()) => {
                let stream: TcpStream = socket.into();
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if Instant::now() > deadline => {
                return Err(BenchError::Setup(format!(
                    "connect {local} -> {remote}:179: {e}"
                )))
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Reads one whole message (header included) into a new vector.
fn read_message(stream: &mut TcpStream) -> Result<Vec<u8>, BenchError> {
    let mut header = [0u8; 19];
    stream
        .read_exact(&mut header)
        .map_err(|e| BenchError::Run(format!("reading a message: {e}")))?;
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    if len < 19 {
        return Err(BenchError::Run(format!("message length {len}")));
    }
    let mut msg = header.to_vec();
    msg.resize(len, 0);
    stream
        .read_exact(&mut msg[19..])
        .map_err(|e| BenchError::Run(format!("reading a message: {e}")))?;
    Ok(msg)
}

fn keepalive() -> Vec<u8> {
    Message::Keepalive
        .to_bytes(&Context::default())
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// Opens a session from `local` (AS `asn`) to the device at `remote`:
/// OPEN, the device's OPEN, KEEPALIVE both ways. Returns the stream once
/// Established.
pub fn establish(
    local: Ipv4Addr,
    remote: Ipv4Addr,
    asn: u32,
    patience: Duration,
) -> Result<TcpStream, BenchError> {
    let deadline = Instant::now() + patience;
    loop {
        match try_establish(local, remote, asn, patience) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => return Err(e),
            // A device that refused the first attempt (it was still
            // configuring the neighbour) gets another.
            Err(_) => thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn try_establish(
    local: Ipv4Addr,
    remote: Ipv4Addr,
    asn: u32,
    patience: Duration,
) -> Result<TcpStream, BenchError> {
    let mut stream = connect(local, remote, patience)?;
    let open = Open::new(
        asn,
        HOLD_TIME,
        local,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    );
    let bytes = Message::Open(open)
        .to_bytes(&Context::default())
        .map_err(|e| BenchError::Setup(format!("encoding OPEN: {e}")))?;
    stream
        .write_all(&bytes)
        .map_err(|e| BenchError::Run(format!("sending OPEN: {e}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| BenchError::Run(format!("{e}")))?;
    let mut got_open = false;
    loop {
        let msg = read_message(&mut stream)?;
        match msg[18] {
            1 => {
                got_open = true;
                stream
                    .write_all(&keepalive())
                    .map_err(|e| BenchError::Run(format!("sending KEEPALIVE: {e}")))?;
            }
            4 if got_open => break,
            3 => {
                return Err(BenchError::Run(format!(
                    "{remote} sent NOTIFICATION {}/{}",
                    msg.get(19).copied().unwrap_or(0),
                    msg.get(20).copied().unwrap_or(0)
                )))
            }
            _ => {}
        }
    }
    stream
        .set_read_timeout(None)
        .map_err(|e| BenchError::Run(format!("{e}")))?;
    Ok(stream)
}

/// A KEEPALIVE every [`KEEPALIVE_EVERY`] on `writer` until `stop`.
pub fn keepalives(writer: Arc<Mutex<TcpStream>>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ka = keepalive();
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(200));
            if last.elapsed() >= KEEPALIVE_EVERY {
                if let Ok(mut w) = writer.lock() {
                    let _ = w.write_all(&ka);
                }
                last = Instant::now();
            }
        }
    })
}

/// Reads and drops whatever arrives on `stream` until `stop` or the end
/// of the connection.
pub fn drain(stream: &mut TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// What a monitor publishes while it runs (shared with the runner).
#[derive(Debug, Default)]
pub struct MonitorState {
    /// Distinct prefixes it holds now.
    pub held: AtomicU64,
    /// Nanoseconds since the run's epoch of the last change of `held`.
    pub last_change: AtomicU64,
    /// Nanoseconds since the epoch when `held` last reached the target.
    pub reached: AtomicU64,
    /// Nanoseconds since the epoch of the last UPDATE with prefixes.
    pub last_entry: AtomicU64,
    /// The target count (0: none).
    pub target: AtomicU64,
    /// Prefixes announced or withdrawn it has read (NLRI entries).
    pub entries: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// CPU time of its reader thread, ns.
    pub cpu: AtomicU64,
    /// Set when its session ended (error or close).
    pub closed: AtomicBool,
}

/// Reads UPDATEs from `stream` until it closes or `stop`, keeping the set
/// of IPv4 prefixes held (announced and not withdrawn since) and when it
/// changed, in nanoseconds since `epoch`.
pub fn monitor(
    mut stream: TcpStream,
    state: Arc<MonitorState>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) {
    let mut held: std::collections::HashSet<u64, foldhash::fast::RandomState> =
        std::collections::HashSet::with_capacity_and_hasher(1 << 20, Default::default());
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0usize;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut entries = 0u64;
    let mut bytes = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                state
                    .cpu
                    .store(thread_cpu().as_nanos() as u64, Ordering::Relaxed);
                continue;
            }
            Err(_) => break,
        };
        bytes += n as u64;
        filled += n;
        let mut at = 0;
        let before = held.len();
        while filled - at >= 19 {
            let len = usize::from(u16::from_be_bytes([buf[at + 16], buf[at + 17]]));
            if len < 19 || filled - at < len {
                break;
            }
            if buf[at + 18] == 2 {
                entries += count_update(&buf[at + 19..at + len], &mut held);
            }
            at += len;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if entries != state.entries.load(Ordering::Relaxed) {
            state
                .last_entry
                .store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        if held.len() != before {
            let now = epoch.elapsed().as_nanos() as u64;
            state.held.store(held.len() as u64, Ordering::Relaxed);
            state.last_change.store(now, Ordering::Relaxed);
            let target = state.target.load(Ordering::Relaxed);
            if target != 0 && held.len() as u64 == target {
                state.reached.store(now, Ordering::Relaxed);
            }
        }
        state.entries.store(entries, Ordering::Relaxed);
        state.bytes.store(bytes, Ordering::Relaxed);
    }
    state
        .cpu
        .store(thread_cpu().as_nanos() as u64, Ordering::Relaxed);
    state.closed.store(true, Ordering::Relaxed);
}

/// Applies one UPDATE body (after the header) to `held`: withdrawn routes
/// out, NLRI in (RFC 4271 §4.3). Returns the number of entries. A
/// malformed body stops counting it (the devices are trusted here).
fn count_update(
    body: &[u8],
    held: &mut std::collections::HashSet<u64, foldhash::fast::RandomState>,
) -> u64 {
    let mut entries = 0;
    if body.len() < 4 {
        return 0;
    }
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let Some(withdrawn) = body.get(2..2 + wlen) else {
        return 0;
    };
    walk_prefixes(withdrawn, |k| {
        held.remove(&k);
        entries += 1;
    });
    let Some(alen) = body.get(2 + wlen..4 + wlen) else {
        return entries;
    };
    let alen = usize::from(u16::from_be_bytes([alen[0], alen[1]]));
    if let Some(nlri) = body.get(4 + wlen + alen..) {
        walk_prefixes(nlri, |k| {
            held.insert(k);
            entries += 1;
        });
    }
    entries
}

/// Calls `f` with the key of every IPv4 prefix in an NLRI field.
fn walk_prefixes(mut field: &[u8], mut f: impl FnMut(u64)) {
    while let Some((&len, rest)) = field.split_first() {
        let n = usize::from(len).div_ceil(8);
        if len > 32 || rest.len() < n {
            return;
        }
        let mut addr = [0u8; 4];
        addr[..n].copy_from_slice(&rest[..n]);
        f(crate::bench::workload::key(u32::from_be_bytes(addr), len));
        field = &rest[n..];
    }
}

/// The injector's result: when it began and finished writing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Nanoseconds since the epoch when the first byte was written.
    pub start: u64,
    /// Nanoseconds since the epoch when the last byte was taken by TCP.
    pub end: u64,
    /// CPU time of the writing thread for this burst.
    pub cpu: Duration,
}

/// Writes `bytes` to `writer` as fast as TCP takes them.
pub fn inject(writer: &Mutex<TcpStream>, bytes: &[u8], epoch: Instant) -> Result<Sent, BenchError> {
    let cpu0 = thread_cpu();
    let start = epoch.elapsed().as_nanos() as u64;
    // Chunks of 256 KiB: a KEEPALIVE may go out between them.
    for chunk in bytes.chunks(256 * 1024) {
        let mut w = writer
            .lock()
            .map_err(|_| BenchError::Run("injector lock poisoned".into()))?;
        w.write_all(chunk)
            .map_err(|e| BenchError::Run(format!("injector write: {e}")))?;
    }
    Ok(Sent {
        start,
        end: epoch.elapsed().as_nanos() as u64,
        cpu: thread_cpu().saturating_sub(cpu0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_update_adds_nlri_and_removes_withdrawn() {
        let mut held = std::collections::HashSet::default();
        // NLRI 10.0.0.0/8 and 192.0.2.0/24; no withdrawn, no attributes.
        let body = [0, 0, 0, 0, 8, 10, 24, 192, 0, 2];
        assert_eq!(count_update(&body, &mut held), 2);
        assert_eq!(held.len(), 2);
        // Withdraw 10.0.0.0/8.
        let body = [0, 2, 8, 10, 0, 0];
        assert_eq!(count_update(&body, &mut held), 1);
        assert!(held.contains(&crate::bench::workload::key(0xc000_0200, 24)));
        assert_eq!(held.len(), 1);
    }
}
