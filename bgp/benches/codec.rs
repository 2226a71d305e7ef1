//! UPDATE codec benchmark: Twill's `bgp::wire` against bgpkit-parser on
//! real and synthetic UPDATEs.
//!
//! Run: `cargo bench -p bgp --bench codec` (about 3 minutes on 2 cores);
//! one input: `cargo bench -p bgp --bench codec -- ris2024`.
//!
//! Inputs (each one criterion group):
//! - `ris2024`: every UPDATE of `shared/data/mrt/ris-rrc01.updates.20241001.0055.gz`
//!   (93,166 messages, 4-octet AS, no ADD-PATH);
//! - `packed_ipv4`, `packed_ipv6`: synthetic UPDATEs filled to 4,096 bytes
//!   (raw NLRI decoding speed);
//! - `table_ipv4`, `table_ipv6`: synthetic full table, 40 prefixes per
//!   attribute set (see `tests/support/synth.rs`).
//!
//! Benches per input, each over every message of the input per iteration:
//! - `twill_decode`: `bgp::wire::decode_message(&msg, &ctx)`;
//! - `bgpkit_decode`: bgpkit-parser 0.23, `parser` feature only:
//!   `bgpkit_parser::parser::bgp::messages::parse_bgp_message(&mut data, false, &AsnLength::Bits32)`
//!   with `data: bytes::Bytes` holding the whole message (marker and header
//!   included), `add_path: bool` for RFC 7911 path identifiers, and
//!   `asn_len: &bgpkit_parser::models::AsnLength` (Bits32 for 4-octet AS
//!   sessions). It returns `Result<BgpMessage, ParserError>`; the same
//!   function is re-exported as `bgpkit_parser::parser::bgp::parse_bgp_message`.
//!   The `Bytes` handles are made before timing; cloning one in the loop is a
//!   reference-count increment.
//! - `twill_encode`: `Message::encode(&ctx, &mut BytesMut)` of the messages
//!   decoded beforehand, into one reused buffer.
//!
//! Criterion reports time per iteration and messages/s and bytes/s
//! (`Throughput::ElementsAndBytes`). Prefix counts are printed once per input
//! on stderr, and a short self-timed summary table (messages/s, prefixes/s,
//! MB/s) is printed at the end of a full run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bgp::wire::{decode_message, Context, Message};
use bgpkit_parser::models::AsnLength;
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, BenchmarkGroup, Criterion, SamplingMode, Throughput};

#[path = "../tests/support/mrt.rs"]
mod mrt;
#[path = "../tests/support/synth.rs"]
mod synth;

/// One benchmark input: whole BGP messages and what they hold.
struct Input {
    name: &'static str,
    messages: Vec<Vec<u8>>,
    /// The same messages as `Bytes`, for bgpkit-parser.
    shared: Vec<Bytes>,
    /// The messages Twill decoded without error, for the encode bench.
    decoded: Vec<Message>,
    ctx: Context,
    add_path: bool,
    asn_len: AsnLength,
    bytes: usize,
    /// Prefixes withdrawn and announced (classic and MP), counted on the raw
    /// bytes by `synth::count_prefixes`.
    prefixes: usize,
}

impl Input {
    fn new(name: &'static str, messages: Vec<Vec<u8>>, ctx: Context) -> Self {
        let add_path = ctx.add_path.ipv4_unicast || ctx.add_path.ipv6_unicast;
        let asn_len = if ctx.four_octet_as {
            AsnLength::Bits32
        } else {
            AsnLength::Bits16
        };
        let bytes = messages.iter().map(Vec::len).sum();
        let prefixes = messages
            .iter()
            .map(|m| synth::count_prefixes(m, add_path).unwrap_or(0))
            .sum();
        let shared: Vec<Bytes> = messages.iter().map(|m| Bytes::copy_from_slice(m)).collect();

        // Decode once: the messages to re-encode, and sanity numbers.
        let mut decoded = Vec::with_capacity(messages.len());
        let mut twill_errors = 0usize;
        let mut twill_prefixes = 0usize;
        let mut with_findings = 0usize;
        let mut buf = BytesMut::with_capacity(65_536);
        let (mut encoded_bytes, mut identical, mut encode_errors) = (0usize, 0usize, 0usize);
        for m in &messages {
            let Ok(msg) = decode_message(m, &ctx) else {
                twill_errors += 1;
                continue;
            };
            if let Message::Update(u) = &msg {
                twill_prefixes += u.prefix_count();
                with_findings += usize::from(!u.errors.is_empty());
            }
            // Round trip: how many re-encode to the very same bytes.
            buf.clear();
            match msg.encode(&ctx, &mut buf) {
                Ok(()) => {
                    encoded_bytes += buf.len();
                    identical += usize::from(buf[..] == m[..]);
                }
                Err(_) => encode_errors += 1,
            }
            decoded.push(msg);
        }
        let mut bgpkit_errors = 0usize;
        for b in &shared {
            let mut data: Bytes = b.clone();
            if bgpkit_parser::parser::bgp::messages::parse_bgp_message(
                &mut data, add_path, &asn_len,
            )
            .is_err()
            {
                bgpkit_errors += 1;
            }
        }
        eprintln!(
            "input {name}: {} messages, {bytes} bytes, {prefixes} prefixes ({:.1} per message, {:.1} bytes per message); \
             twill: {twill_errors} decode errors, {with_findings} UPDATEs with RFC 7606 findings, {twill_prefixes} prefixes; \
             bgpkit: {bgpkit_errors} errors; re-encode: {encode_errors} errors, {encoded_bytes} bytes, {identical} byte-identical",
            messages.len(),
            prefixes as f64 / messages.len().max(1) as f64,
            bytes as f64 / messages.len().max(1) as f64,
        );
        Input {
            name,
            messages,
            shared,
            decoded,
            ctx,
            add_path,
            asn_len,
            bytes,
            prefixes,
        }
    }

    fn twill_decode(&self) {
        for m in &self.messages {
            let _ = black_box(decode_message(black_box(m), &self.ctx));
        }
    }

    fn bgpkit_decode(&self) {
        for b in &self.shared {
            let mut data = b.clone();
            let _ = black_box(bgpkit_parser::parser::bgp::messages::parse_bgp_message(
                black_box(&mut data),
                self.add_path,
                &self.asn_len,
            ));
        }
    }

    fn twill_encode(&self, buf: &mut BytesMut) {
        for msg in &self.decoded {
            buf.clear();
            let _ = black_box(msg.encode(&self.ctx, buf));
        }
    }
}

fn inputs() -> Vec<Input> {
    let four_octet = Context {
        four_octet_as: true,
        ..Context::default()
    };
    let mut out = Vec::new();

    let path = mrt::data_dir().join("ris-rrc01.updates.20241001.0055.gz");
    let file = mrt::read_mrt(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(file.error, None, "{}", path.display());
    let updates: Vec<Vec<u8>> = file.updates().map(|r| r.message.clone()).collect();
    assert!(file.updates().all(|r| r.as4 && !r.add_path));
    out.push(Input::new("ris2024", updates, four_octet));

    let prefixes = synth::Prefixes::load()
        .unwrap_or_else(|e| panic!("{}: {e}", synth::prefixes_path().display()));
    out.push(Input::new(
        "packed_ipv4",
        synth::packed_ipv4(&prefixes),
        four_octet,
    ));
    out.push(Input::new(
        "packed_ipv6",
        synth::packed_ipv6(&prefixes),
        four_octet,
    ));
    out.push(Input::new(
        "table_ipv4",
        synth::table_ipv4(&prefixes),
        four_octet,
    ));
    out.push(Input::new(
        "table_ipv6",
        synth::table_ipv6(&prefixes),
        four_octet,
    ));
    out
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, input: &Input) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::ElementsAndBytes {
            elements: input.messages.len() as u64,
            bytes: input.bytes as u64,
        });
}

fn codec(c: &mut Criterion, inputs: &[Input]) {
    for input in inputs {
        let mut group = c.benchmark_group(input.name);
        configure(&mut group, input);
        group.bench_function("twill_decode", |b| b.iter(|| input.twill_decode()));
        group.bench_function("bgpkit_decode", |b| b.iter(|| input.bgpkit_decode()));
        let mut buf = BytesMut::with_capacity(65_536);
        group.bench_function("twill_encode", |b| b.iter(|| input.twill_encode(&mut buf)));
        group.finish();
    }
}

/// Times `f` (one pass over an input) for about `budget`; seconds per pass.
fn time_per_pass(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut passes = 0u32;
    while passes < 3 || start.elapsed() < budget {
        f();
        passes += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(passes)
}

/// A compact table of messages/s, prefixes/s and MB/s, timed here (not by
/// criterion) for about one second per cell.
fn summary(inputs: &[Input]) {
    eprintln!();
    eprintln!(
        "{:<12} {:<14} {:>10} {:>12} {:>13} {:>9}",
        "input", "bench", "ms/pass", "msgs/s", "prefixes/s", "MB/s"
    );
    let budget = Duration::from_secs(1);
    for input in inputs {
        let mut buf = BytesMut::with_capacity(65_536);
        let rows: [(&str, f64); 3] = [
            (
                "twill_decode",
                time_per_pass(budget, || input.twill_decode()),
            ),
            (
                "bgpkit_decode",
                time_per_pass(budget, || input.bgpkit_decode()),
            ),
            (
                "twill_encode",
                time_per_pass(budget, || input.twill_encode(&mut buf)),
            ),
        ];
        for (bench, secs) in rows {
            let n = if bench == "twill_encode" {
                input.decoded.len()
            } else {
                input.messages.len()
            };
            eprintln!(
                "{:<12} {:<14} {:>10.2} {:>12.0} {:>13.0} {:>9.1}",
                input.name,
                bench,
                secs * 1e3,
                n as f64 / secs,
                input.prefixes as f64 / secs,
                input.bytes as f64 / secs / 1e6,
            );
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
}

fn bench_all(c: &mut Criterion) {
    let inputs = inputs();
    codec(c, &inputs);
    let args: Vec<String> = std::env::args().collect();
    let quick = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    // A filter argument (anything not starting with '-') runs only part of
    // the benches; the summary is for full runs.
    let filtered = args.iter().skip(1).any(|a| !a.starts_with('-'));
    if !quick && !filtered {
        summary(&inputs);
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_all
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
