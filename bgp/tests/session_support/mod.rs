//! A scripted fake BGP peer over any byte stream, built from `bgp::wire`
//! messages, and helpers shared by the session and speaker tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp::wire::{
    decode_message, frame, AsPath, AttributeValue, Capability, Context, Ipv4Prefix, Message, Nlri,
    Notification, Open, Origin, PathAttribute, Update,
};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The negotiated context when both sides send the 4-octet AS capability.
pub const CTX4: Context = Context {
    four_octet_as: true,
    extended_message: false,
    add_path: bgp::wire::FamilyFlags {
        ipv4_unicast: false,
        ipv6_unicast: false,
    },
    extended_next_hop_ipv4: false,
};

/// The far end of a session's connection.
pub struct FakePeer<S> {
    pub stream: S,
    buf: BytesMut,
    pub ctx: Context,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FakePeer<S> {
    pub fn new(stream: S) -> Self {
        FakePeer {
            stream,
            buf: BytesMut::new(),
            ctx: CTX4,
        }
    }

    pub async fn send(&mut self, msg: &Message) {
        let b = msg.to_bytes(&self.ctx).expect("encode");
        self.stream.write_all(&b).await.expect("write");
    }

    pub async fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.expect("write");
    }

    /// The next message, or `None` at end of stream.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(n) = frame(&self.buf, &self.ctx).expect("frame") {
                let m = self.buf.split_to(n);
                return Some(decode_message(&m, &self.ctx).expect("decode"));
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next message's raw bytes.
    pub async fn recv_raw(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(n) = frame(&self.buf, &self.ctx).expect("frame") {
                return Some(self.buf.split_to(n).to_vec());
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn expect(&mut self) -> Message {
        self.recv().await.expect("a message, not end of stream")
    }

    pub async fn expect_open(&mut self) -> Open {
        match self.expect().await {
            Message::Open(o) => o,
            other => panic!("expected OPEN, got {other:?}"),
        }
    }

    pub async fn expect_keepalive(&mut self) {
        match self.expect().await {
            Message::Keepalive => {}
            other => panic!("expected KEEPALIVE, got {other:?}"),
        }
    }

    pub async fn expect_notification(&mut self) -> Notification {
        match self.expect().await {
            Message::Notification(n) => n,
            other => panic!("expected NOTIFICATION, got {other:?}"),
        }
    }

    /// End of stream follows (nothing else was sent).
    pub async fn expect_eof(&mut self) {
        if let Some(m) = self.recv().await {
            panic!("expected end of stream, got {m:?}");
        }
    }

    /// OPEN exchange as the peer: read ours, send `open`, read our
    /// KEEPALIVE, send one.
    pub async fn establish(&mut self, open: Open) -> Open {
        let ours = self.expect_open().await;
        self.send(&Message::Open(open)).await;
        self.expect_keepalive().await;
        self.send(&Message::Keepalive).await;
        ours
    }
}

/// An OPEN with the 4-octet AS capability.
pub fn open(asn: u32, hold: u16, id: Ipv4Addr) -> Open {
    Open::new(asn, hold, id, vec![Capability::FourOctetAs(asn)])
}

/// An UPDATE announcing `prefixes` from `asn` with next hop `nh`.
pub fn update(asn: u32, nh: Ipv4Addr, prefixes: &[&str]) -> Update {
    Update {
        path_attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![asn]))),
            PathAttribute::new(AttributeValue::NextHop(nh)),
        ],
        nlri: prefixes
            .iter()
            .map(|p| Nlri::new(p.parse::<Ipv4Prefix>().expect("prefix")))
            .collect(),
        ..Update::default()
    }
}

/// Wait at most `secs` seconds (real or paused time) for a future.
pub async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}
