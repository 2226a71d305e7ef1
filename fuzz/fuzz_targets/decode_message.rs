//! Decoding arbitrary bytes under an arbitrary negotiated context must never
//! panic (no slice-index, overflow or `unwrap` panics; overflow checks are on
//! because cargo-fuzz builds with `-Cdebug-assertions`).
//!
//! Input layout (see `fuzz/seed.py`): the first 5 bytes build the
//! `bgp::wire::Context` (each `bool` field is one byte, odd = true, in field
//! order: four_octet_as, extended_message, add_path.ipv4_unicast,
//! add_path.ipv6_unicast, extended_next_hop_ipv4); every remaining byte is
//! the data handed to the codec.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgp::wire::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let mut u = Unstructured::new(raw);
    let Ok(ctx) = Context::arbitrary(&mut u) else {
        return;
    };
    let data = u.take_rest();

    // The framer, on a stream buffer that may hold a partial message, a whole
    // one, or a whole one followed by more bytes.
    let framed = bgp::wire::frame(data, &ctx);
    if let Ok(Some(len)) = framed {
        // Contract: Some(n) only when a whole message of n bytes is buffered.
        assert!(
            (19..=data.len()).contains(&len),
            "frame returned Some({len}) for a {}-byte buffer",
            data.len()
        );
        assert!(
            len <= ctx.max_message_len(),
            "frame returned Some({len}) above the max"
        );
        let _ = bgp::wire::decode_message(&data[..len], &ctx);
    }

    // The decoder on the raw bytes (whatever their header says).
    let _ = bgp::wire::decode_message(data, &ctx);
});
