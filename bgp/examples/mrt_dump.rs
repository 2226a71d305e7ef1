//! Decode every BGP message of an MRT capture and print it, one line per
//! message, then the totals: `cargo run -p bgp --example mrt_dump -- FILE`.

#[path = "../tests/support/mrt.rs"]
mod mrt;

use std::fmt::Write as _;
use std::path::PathBuf;

use bgp::wire::{decode_message, AttributeValue, Message};

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: mrt_dump FILE (an MRT capture, gzip or raw)");
        std::process::exit(2);
    };
    let records = match mrt::bgp_messages(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mrt_dump: {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let (mut updates, mut prefixes, mut errors) = (0usize, 0usize, 0usize);
    let started = std::time::Instant::now();
    for r in &records {
        let ctx = r.context();
        let line = match decode_message(&r.message, &ctx) {
            Ok(Message::Update(u)) => {
                updates += 1;
                prefixes += u.prefix_count();
                let mut s = String::new();
                let (a, w) = (u.announced(), u.withdrawn());
                for p in a.ipv4.iter().take(2) {
                    let _ = write!(s, " +{}", p.prefix);
                }
                for p in a.ipv6.iter().take(2) {
                    let _ = write!(s, " +{}", p.prefix);
                }
                for p in w.ipv4.iter().take(2) {
                    let _ = write!(s, " -{}", p.prefix);
                }
                for p in w.ipv6.iter().take(2) {
                    let _ = write!(s, " -{}", p.prefix);
                }
                let n = a.ipv4.len() + a.ipv6.len() + w.ipv4.len() + w.ipv6.len();
                if n > 4 {
                    let _ = write!(s, " (+{} more)", n - 4);
                }
                for attr in &u.path_attributes {
                    match &attr.value {
                        AttributeValue::AsPath(p) => {
                            let asns: Vec<String> = p
                                .segments
                                .iter()
                                .flat_map(|s| s.asns.iter().map(u32::to_string))
                                .collect();
                            let _ = write!(s, " path [{}]", asns.join(" "));
                        }
                        AttributeValue::Communities(c) => {
                            let _ = write!(s, " communities {}", c.len());
                        }
                        AttributeValue::LargeCommunities(c) => {
                            let _ = write!(s, " large-communities {}", c.len());
                        }
                        _ => {}
                    }
                }
                if u.treat_as_withdraw() {
                    s.push_str(" TREAT-AS-WITHDRAW");
                }
                format!("UPDATE{s}")
            }
            Ok(m) => format!("{:?}", m.message_type()).to_uppercase(),
            Err(e) => {
                errors += 1;
                format!("ERROR {e}")
            }
        };
        println!("{} AS{} {} {line}", r.timestamp, r.peer_as, r.peer_ip);
    }
    println!(
        "{} messages, {updates} UPDATEs, {prefixes} prefixes, {errors} errors, decoded in {:?}",
        records.len(),
        started.elapsed()
    );
}
