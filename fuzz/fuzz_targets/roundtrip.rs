//! decode → encode → decode must give back the same message.
//!
//! Same input layout as `decode_message`: 5 context bytes, then one BGP
//! message (header included). When the bytes decode cleanly (for an UPDATE:
//! with no non-fatal RFC 7606 findings, since those drop or rewrite
//! attributes), the message is encoded under the same context and decoded
//! again; the two decoded values must be structurally equal. An encode error
//! (e.g. the message would exceed the maximum length) is allowed and skips
//! the check.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgp::wire::{Context, Message};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let mut u = Unstructured::new(raw);
    let Ok(ctx) = Context::arbitrary(&mut u) else {
        return;
    };
    let data = u.take_rest();

    let Ok(first) = bgp::wire::decode_message(data, &ctx) else {
        return;
    };
    if let Message::Update(update) = &first {
        if !update.errors.is_empty() {
            return;
        }
    }

    let mut buf = BytesMut::new();
    if first.encode(&ctx, &mut buf).is_err() {
        return;
    }
    // Our own encoding must frame as exactly one whole message.
    let framed = bgp::wire::frame(&buf, &ctx);
    assert!(
        matches!(framed, Ok(Some(n)) if n == buf.len()),
        "frame(encode(m)) = {framed:?}, expected Ok(Some({}))\nctx: {ctx:?}\nencoded: {}",
        buf.len(),
        hex(&buf)
    );

    let second = match bgp::wire::decode_message(&buf, &ctx) {
        Ok(m) => m,
        Err(e) => panic!(
            "re-decoding our own encoding failed: {e:?}\nctx: {ctx:?}\nfirst: {first:?}\nencoded: {}",
            hex(&buf)
        ),
    };
    assert_eq!(
        first,
        second,
        "decode(encode(m)) != m\nctx: {ctx:?}\ninput: {}\nencoded: {}",
        hex(data),
        hex(&buf)
    );
});

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
