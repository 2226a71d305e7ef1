//! Conformance matrix for the BGP codec's error handling: RFC 4271 §6.1–6.3,
//! RFC 7606 §3–7, and where they apply RFC 4760 §7, RFC 6793 §4.2.3 and §6,
//! RFC 7313 §5, RFC 7911, RFC 8654, RFC 8950, RFC 9072 and RFC 9234.
//!
//! One table, one row per case. Each row states the decode context, the
//! bytes of one whole message, the expected verdict (session reset with the
//! exact NOTIFICATION, treat-as-withdraw, attribute discard, or accepted),
//! the field and byte offset of the finding (offsets count from the first
//! marker byte and point at the first byte of the named field), and the
//! whole NOTIFICATION message the codec must produce ("none" when the
//! session stays up). The test runs every row and reports all failing rows
//! at once.

use std::fmt::Display;
use std::net::Ipv4Addr;

use bgp::wire::{
    decode_message, frame, reconstruct_as4, AsPath, AttributeValue, Capability, Context,
    DecodeError, FamilyFlags, Message, MpNextHop, Nlri, Notification, Prefixes,
    RouteRefreshSubtype, Update, Verdict,
};

// ---------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------

/// The 16-octet marker, for literal messages inside `concat!`.
macro_rules! marker {
    () => {
        "ffffffffffffffffffffffffffffffff "
    };
}

/// Bytes from hex; spaces and underscores are ignored.
fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'_')
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {s:?}"
    );
    digits
        .chunks(2)
        .map(|c| {
            u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16)
                .unwrap_or_else(|_| panic!("bad hex {s:?}"))
        })
        .collect()
}

/// Bytes from several hex strings, in order.
fn hs(parts: &[&str]) -> Vec<u8> {
    parts.iter().flat_map(|p| h(p)).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A whole message of type `t` with a correct header.
fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(19 + body.len()).expect("message fits u16");
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(t);
    m.extend_from_slice(body);
    m
}

/// An UPDATE body with correct Withdrawn Routes Length and Total Path
/// Attribute Length.
fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

/// A whole UPDATE with every length field computed.
fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    msg(2, &update_body(withdrawn, attrs, nlri))
}

/// One path attribute with a correct length field (extended when the flags
/// say so).
fn attr(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, type_code];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    } else {
        a.push(u8::try_from(value.len()).unwrap());
    }
    a.extend_from_slice(value);
    a
}

/// An UPDATE body of exactly `n` bytes: no routes, one unknown optional
/// transitive attribute (type 254, extended length) filling the rest.
fn filler_update_body(n: usize) -> Vec<u8> {
    let value = vec![0u8; n - 8];
    let a = attr(0xd0, 0xfe, &value);
    let b = update_body(&[], &a, &[]);
    assert_eq!(b.len(), n);
    b
}

/// An OPEN body of exactly `n` bytes using RFC 9072 extended optional
/// parameters, filled with unknown capabilities (code 200).
fn filler_open_body(n: usize) -> Vec<u8> {
    let mut caps = Vec::new();
    let mut left = n - 13 - 3; // fixed part + ext header, param header
    while left > 0 {
        let v = (left - 2).min(255);
        caps.push(200u8);
        caps.push(u8::try_from(v).unwrap());
        caps.extend(std::iter::repeat_n(0u8, v));
        left -= 2 + v;
    }
    let mut b = h("04 fde8 00b4 c0000201 ff ff");
    b.extend_from_slice(&u16::try_from(3 + caps.len()).unwrap().to_be_bytes());
    b.push(2);
    b.extend_from_slice(&u16::try_from(caps.len()).unwrap().to_be_bytes());
    b.extend_from_slice(&caps);
    assert_eq!(b.len(), n);
    b
}

// ---------------------------------------------------------------------------
// Building blocks of the rows
// ---------------------------------------------------------------------------

/// ORIGIN IGP.
const ORIGIN: &str = "40 01 01 00";
/// AS_PATH AS_SEQUENCE [65000], 2-octet ASes.
const AS_PATH2: &str = "40 02 04 02 01 fde8";
/// AS_PATH AS_SEQUENCE [65000], 4-octet ASes.
const AS_PATH4: &str = "40 02 06 02 01 0000fde8";
/// NEXT_HOP 192.0.2.1.
const NEXT_HOP: &str = "40 03 04 c0000201";
/// NLRI 198.51.100.0/24.
const NLRI: &str = "18 c63364";
const P4: &str = "198.51.100.0/24";
/// MP_REACH_NLRI IPv6 unicast, next hop 2001:db8::1, NLRI 2001:db8:1::/48
/// (31 bytes).
const MP_REACH_V6: &str =
    "80 0e 1c 0002 01 10 20010db8 00000000 00000000 00000001 00 30 20010db80001";
const P6: &str = "2001:db8:1::/48";
/// MP_REACH_NLRI IPv6 unicast whose Next Hop Length is 5 (20 bytes).
const MP_REACH_NH5: &str = "80 0e 11 0002 01 05 20010db800 00 30 20010db80001";

/// "none": no NOTIFICATION, the session stays up.
const NONE: &str = "none";

const NO_ADD_PATH: FamilyFlags = FamilyFlags {
    ipv4_unicast: false,
    ipv6_unicast: false,
};
/// A 2-octet-AS session ("OLD" peer, RFC 6793), nothing else negotiated.
const OLD: Context = Context {
    four_octet_as: false,
    extended_message: false,
    add_path: NO_ADD_PATH,
    extended_next_hop_ipv4: false,
};
/// A 4-octet-AS session ("NEW" peer).
const NEW: Context = Context {
    four_octet_as: true,
    ..OLD
};
/// NEW with Extended Messages (RFC 8654).
const NEW_EXT: Context = Context {
    extended_message: true,
    ..NEW
};
/// NEW with ADD-PATH receive for IPv4 unicast (RFC 7911).
const NEW_AP4: Context = Context {
    add_path: FamilyFlags {
        ipv4_unicast: true,
        ipv6_unicast: false,
    },
    ..NEW
};
/// NEW with ADD-PATH receive for IPv6 unicast.
const NEW_AP6: Context = Context {
    add_path: FamilyFlags {
        ipv4_unicast: false,
        ipv6_unicast: true,
    },
    ..NEW
};
/// NEW with IPv4 NLRI over IPv6 next hops (RFC 8950).
const NEW_ENH: Context = Context {
    extended_next_hop_ipv4: true,
    ..NEW
};

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

type Check = fn(&Message) -> Result<(), String>;
type Extra = fn(&Update) -> Result<(), String>;

#[derive(Debug)]
enum Want {
    /// RFC 4271 §6: NOTIFICATION (code, subcode, data as hex) and close.
    Reset {
        code: u8,
        subcode: u8,
        data: &'static str,
    },
    /// RFC 7606 §2 treat-as-withdraw: decodes, every prefix withdrawn.
    TreatAsWithdraw { withdrawn: &'static [&'static str] },
    /// RFC 7606 §2 attribute discard: decodes, `type_code` dropped (`left`
    /// occurrences remain), the routes are still announced.
    AttributeDiscard {
        type_code: u8,
        left: usize,
        announced: &'static [&'static str],
    },
    /// Accepted: decodes without findings and passes the check.
    Ok(Check),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameWant {
    /// `frame` returns the whole message.
    Accepts,
    /// `frame` rejects the header with the row's error, from the first 19
    /// bytes alone.
    Rejects,
    /// Either is fine (the check needs the body).
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    expected_as: u32,
    local_as: u32,
    local_id: Ipv4Addr,
}

struct Row {
    name: &'static str,
    rfc: &'static str,
    ctx: Context,
    input: Vec<u8>,
    want: Want,
    field: &'static str,
    offset: usize,
    notification: &'static str,
    frame: FrameWant,
    /// Number of entries expected in `Update::errors` for TaW / discard.
    findings: usize,
    peer: Option<Peer>,
    extra: Option<Extra>,
}

fn row(name: &'static str, rfc: &'static str, ctx: Context, input: Vec<u8>) -> Row {
    Row {
        name,
        rfc,
        ctx,
        input,
        want: Want::Ok(|_| Ok(())),
        field: "-",
        offset: 0,
        notification: NONE,
        frame: FrameWant::Accepts,
        findings: 0,
        peer: None,
        extra: None,
    }
}

impl Row {
    fn reset(
        mut self,
        (code, subcode, data): (u8, u8, &'static str),
        field: &'static str,
        offset: usize,
        notification: &'static str,
    ) -> Self {
        self.want = Want::Reset {
            code,
            subcode,
            data,
        };
        self.field = field;
        self.offset = offset;
        self.notification = notification;
        self
    }

    fn taw(
        mut self,
        field: &'static str,
        offset: usize,
        withdrawn: &'static [&'static str],
        notification: &'static str,
    ) -> Self {
        self.want = Want::TreatAsWithdraw { withdrawn };
        self.field = field;
        self.offset = offset;
        self.notification = notification;
        self.findings = 1;
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn discard(
        mut self,
        type_code: u8,
        left: usize,
        field: &'static str,
        offset: usize,
        announced: &'static [&'static str],
        notification: &'static str,
    ) -> Self {
        self.want = Want::AttributeDiscard {
            type_code,
            left,
            announced,
        };
        self.field = field;
        self.offset = offset;
        self.notification = notification;
        self.findings = 1;
        self
    }

    fn ok(mut self, check: Check) -> Self {
        self.want = Want::Ok(check);
        self
    }

    fn findings(mut self, n: usize) -> Self {
        self.findings = n;
        self
    }

    fn extra(mut self, f: Extra) -> Self {
        self.extra = Some(f);
        self
    }

    fn frame_rejects(mut self) -> Self {
        self.frame = FrameWant::Rejects;
        self
    }

    fn frame_any(mut self) -> Self {
        self.frame = FrameWant::Any;
        self
    }

    fn peer(mut self, expected_as: u32, local_as: u32, local_id: [u8; 4]) -> Self {
        self.peer = Some(Peer {
            expected_as,
            local_as,
            local_id: Ipv4Addr::from(local_id),
        });
        self
    }
}

// ---------------------------------------------------------------------------
// Checks used by accepted rows
// ---------------------------------------------------------------------------

fn upd(m: &Message) -> Result<&Update, String> {
    match m {
        Message::Update(u) => Ok(u),
        other => Err(format!("expected an UPDATE, got {other:?}")),
    }
}

fn nlri_str<P: Display>(n: &Nlri<P>) -> String {
    match n.path_id {
        Some(id) => format!("{}#{}", n.prefix, id),
        None => n.prefix.to_string(),
    }
}

fn prefixes(p: &Prefixes) -> Vec<String> {
    let mut v: Vec<String> = p.ipv4.iter().map(nlri_str).collect();
    v.extend(p.ipv6.iter().map(nlri_str));
    v.sort();
    v
}

fn want_prefixes(what: &str, got: &Prefixes, want: &[&str]) -> Result<(), String> {
    let got = prefixes(got);
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn announces(m: &Message, want: &[&str]) -> Result<(), String> {
    want_prefixes("announced", &upd(m)?.announced(), want)
}

fn value(u: &Update, t: u8) -> Option<&AttributeValue> {
    u.attribute(t).map(|a| &a.value)
}

fn as_path_of(u: &Update, t: u8) -> Option<&AsPath> {
    match value(u, t)? {
        AttributeValue::AsPath(p) | AttributeValue::As4Path(p) => Some(p),
        _ => None,
    }
}

/// RFC 6793 §4.2.3 reconstruction over the decoded attributes.
fn rebuilt(u: &Update) -> Result<(AsPath, Option<u32>), String> {
    let as_path = as_path_of(u, 2).ok_or("AS_PATH missing")?;
    let agg = match value(u, 7) {
        Some(AttributeValue::Aggregator(a)) => Some(*a),
        _ => None,
    };
    let as4_agg = match value(u, 18) {
        Some(AttributeValue::As4Aggregator(a)) => Some(*a),
        _ => None,
    };
    let (p, a) = reconstruct_as4(as_path, agg.as_ref(), as_path_of(u, 17), as4_agg.as_ref());
    Ok((p, a.map(|a| a.asn)))
}

fn want_path(got: &AsPath, want: &[u32]) -> Result<(), String> {
    let want = AsPath::sequence(want.to_vec());
    if *got == want {
        Ok(())
    } else {
        Err(format!("AS path: expected {want:?}, got {got:?}"))
    }
}

fn absent(u: &Update, types: &[u8]) -> Result<(), String> {
    for &t in types {
        if u.attribute(t).is_some() {
            return Err(format!("attribute {t} should have been removed"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

#[allow(clippy::too_many_lines)]
fn rows() -> Vec<Row> {
    vec![
        // ----- Message header (RFC 4271 §6.1, RFC 8654) -----
        row("header: marker not all ones", "RFC 4271 §6.1", OLD,
            h("00ffffffffffffffffffffffffffffff 0013 04"))
            .reset((1, 1, ""), "header.marker", 0,
                concat!(marker!(), "0015 03 0101"))
            .frame_rejects(),
        row("header: length 18 < 19", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "0012 04")))
            .reset((1, 2, "0012"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 0012"))
            .frame_rejects(),
        row("header: UPDATE length 22 < 23", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "0016 02 0000 00")))
            .reset((1, 2, "0016"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 0016"))
            .frame_rejects(),
        row("header: UPDATE length 4097 without Extended Message", "RFC 4271 §6.1, RFC 8654 §4", OLD,
            cat(&[&h(concat!(marker!(), "1001 02")), &filler_update_body(4097 - 19)]))
            .reset((1, 2, "1001"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 1001"))
            .frame_rejects(),
        row("header: UPDATE length 5000 without Extended Message", "RFC 8654 §4", NEW,
            cat(&[&h(concat!(marker!(), "1388 02")), &filler_update_body(5000 - 19)]))
            .reset((1, 2, "1388"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 1388"))
            .frame_rejects(),
        row("header: UPDATE of 5000 bytes accepted with Extended Message", "RFC 8654 §4", NEW_EXT, {
            let big = attr(0xd0, 0xfe, &[0u8; 4949]);
            let m = update(&[], &cat(&[&hs(&[ORIGIN, AS_PATH4, NEXT_HOP]), &big]), &h(NLRI));
            assert_eq!(m.len(), 5000);
            m
        })
            .ok(|m| {
                announces(m, &[P4])?;
                let a = upd(m)?.attribute(0xfe).ok_or("attribute 254 missing")?;
                match &a.value {
                    AttributeValue::Unknown { value, .. } if value.len() == 4949 && a.flags == 0xd0 => Ok(()),
                    _ => Err(format!("attribute 254 garbled: flags {:#04x}", a.flags)),
                }
            }),
        row("header: OPEN of 4097 bytes rejected even with Extended Message", "RFC 8654 §4", NEW_EXT,
            cat(&[&h(concat!(marker!(), "1001 01")), &filler_open_body(4097 - 19)]))
            .reset((1, 2, "1001"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 1001"))
            .frame_rejects(),
        row("header: OPEN length 28 < 29", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "001c 01 04 fde8 00b4 c0000201")))
            .reset((1, 2, "001c"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 001c"))
            .frame_rejects(),
        row("header: KEEPALIVE of length 20", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "0014 04 00")))
            .reset((1, 2, "0014"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 0014"))
            .frame_rejects(),
        row("header: KEEPALIVE of length 19 accepted", "RFC 4271 §4.4", OLD,
            h(concat!(marker!(), "0013 04")))
            .ok(|m| match m {
                Message::Keepalive => Ok(()),
                other => Err(format!("expected KEEPALIVE, got {other:?}")),
            }),
        row("header: message type 6", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "0013 06")))
            .reset((1, 3, "06"), "header.type", 18,
                concat!(marker!(), "0016 03 0103 06"))
            .frame_rejects(),
        row("header: NOTIFICATION of length 20 < 21", "RFC 4271 §6.1", OLD,
            h(concat!(marker!(), "0014 03 06")))
            .reset((1, 2, "0014"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 0014"))
            .frame_rejects(),
        row("NOTIFICATION with a shutdown communication accepted", "RFC 4271 §4.5, RFC 9003 §2", OLD,
            h(concat!(marker!(), "001b 03 0602 05 68656c6c6f")))
            .ok(|m| match m {
                Message::Notification(n)
                    if n.code == 6 && n.subcode == 2 && n.shutdown_communication() == Some("hello") => Ok(()),
                other => Err(format!("expected Cease/2 \"hello\", got {other:?}")),
            }),

        // ----- OPEN (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 9072) -----
        row("OPEN: version 3", "RFC 4271 §6.2", OLD,
            h(concat!(marker!(), "001d 01 03 fde8 00b4 c0000201 00")))
            .reset((2, 1, "0004"), "open.version", 19,
                concat!(marker!(), "0017 03 0201 0004")),
        row("OPEN: hold time 1", "RFC 4271 §6.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde8 0001 c0000201 00")))
            .reset((2, 6, ""), "open.hold_time", 22,
                concat!(marker!(), "0015 03 0206")),
        row("OPEN: hold time 2", "RFC 4271 §6.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde8 0002 c0000201 00")))
            .reset((2, 6, ""), "open.hold_time", 22,
                concat!(marker!(), "0015 03 0206")),
        row("OPEN: hold time 0 accepted", "RFC 4271 §4.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde8 0000 c0000201 00")))
            .ok(|m| match m {
                Message::Open(o) if o.hold_time == 0 && o.my_as == 65000 => Ok(()),
                other => Err(format!("expected OPEN with hold time 0, got {other:?}")),
            }),
        row("OPEN: BGP identifier 0", "RFC 4271 §6.2, RFC 6286 §2.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde8 00b4 00000000 00")))
            .reset((2, 3, ""), "open.bgp_identifier", 24,
                concat!(marker!(), "0015 03 0203")),
        row("OPEN: peer AS 65001, configured 65002 (validate_peer)", "RFC 4271 §6.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde9 00b4 c0000201 00")))
            .peer(65002, 65000, [192, 0, 2, 254])
            .reset((2, 2, ""), "open.my_as", 20,
                concat!(marker!(), "0015 03 0202")),
        row("OPEN: iBGP peer with our BGP identifier (validate_peer)", "RFC 6286 §2.2", OLD,
            h(concat!(marker!(), "001d 01 04 fde8 00b4 c0000201 00")))
            .peer(65000, 65000, [192, 0, 2, 1])
            .reset((2, 3, ""), "open.bgp_identifier", 24,
                concat!(marker!(), "0015 03 0203")),
        row("OPEN: AS_TRANS with 4-octet AS capability 65536 accepted (validate_peer)", "RFC 6793 §4.1", NEW,
            h(concat!(marker!(), "0025 01 04 5ba0 00b4 c0000201 08 02 06 41 04 00010000")))
            .peer(65536, 65000, [192, 0, 2, 254])
            .ok(|m| match m {
                Message::Open(o) if o.asn() == 65536 && o.my_as == 23456 => Ok(()),
                other => Err(format!("expected OPEN of AS 65536, got {other:?}")),
            }),
        row("OPEN: unsupported optional parameter type 1", "RFC 4271 §6.2", OLD,
            h(concat!(marker!(), "0021 01 04 fde8 00b4 c0000201 04 01 02 abcd")))
            .reset((2, 4, ""), "open.optional_parameter.type", 29,
                concat!(marker!(), "0015 03 0204")),
        row("OPEN: 4-octet AS capability of length 2", "RFC 4271 §6.2 (malformed parameter: subcode 0), RFC 6793 §3", OLD,
            h(concat!(marker!(), "0023 01 04 fde8 00b4 c0000201 06 02 04 41 02 fde8")))
            .reset((2, 0, ""), "capability.value", 33,
                concat!(marker!(), "0015 03 0200")),
        row("OPEN: RFC 9072 extended optional parameters accepted", "RFC 9072 §2", NEW,
            h(concat!(marker!(), "002b 01 04 fde8 00b4 c0000201 ff ff 000b 02 0008 41 04 0000fde8 02 00")))
            .ok(|m| match m {
                Message::Open(o)
                    if o.capabilities == [Capability::FourOctetAs(65000), Capability::RouteRefresh] => Ok(()),
                other => Err(format!("expected OPEN with 4-octet AS and route refresh, got {other:?}")),
            }),

        // ----- ROUTE-REFRESH (RFC 2918, RFC 7313 §5) -----
        row("ROUTE-REFRESH: BoRR of length 24", "RFC 7313 §5", NEW,
            h(concat!(marker!(), "0018 05 0001 01 01 00")))
            .reset((7, 1, concat!(marker!(), "0018 05 0001 01 01 00")), "header.length", 16,
                concat!(marker!(), "002d 03 0701", marker!(), "0018 05 0001 01 01 00"))
            .frame_any(),
        row("ROUTE-REFRESH: request of length 22", "RFC 4271 §6.1, RFC 2918 §3", NEW,
            h(concat!(marker!(), "0016 05 0001 00")))
            .reset((1, 2, "0016"), "header.length", 16,
                concat!(marker!(), "0017 03 0102 0016"))
            .frame_any(),
        row("ROUTE-REFRESH: EoRR for IPv6 unicast accepted", "RFC 7313 §3.2", NEW,
            h(concat!(marker!(), "0017 05 0002 02 01")))
            .ok(|m| match m {
                Message::RouteRefresh(r)
                    if r.subtype == RouteRefreshSubtype::EndOfRouteRefresh && r.family.afi == 2 && r.family.safi == 1 => Ok(()),
                other => Err(format!("expected EoRR ipv6-unicast, got {other:?}")),
            }),
        row("ROUTE-REFRESH: reserved subtype 3 decoded (to be ignored)", "RFC 7313 §5", NEW,
            h(concat!(marker!(), "0017 05 0001 03 01")))
            .ok(|m| match m {
                Message::RouteRefresh(r) if r.subtype == RouteRefreshSubtype::Reserved(3) => Ok(()),
                other => Err(format!("expected reserved subtype 3, got {other:?}")),
            }),

        // ----- UPDATE lengths (RFC 4271 §6.3, RFC 7606 §4) -----
        // Withdrawn Routes Length 8, only 6 bytes follow.
        row("UPDATE: Withdrawn Routes Length beyond the message", "RFC 4271 §6.3, RFC 7606 §4", OLD,
            h(concat!(marker!(), "001b 02 0008 18c63364 0000")))
            .reset((3, 1, ""), "update.withdrawn_routes", 21,
                concat!(marker!(), "0015 03 0301")),
        // Total Path Attribute Length 16, only 4 bytes follow.
        row("UPDATE: Total Path Attribute Length beyond the message", "RFC 4271 §6.3, RFC 7606 §4", OLD,
            h(concat!(marker!(), "001b 02 0000 0010 40010100")))
            .reset((3, 1, ""), "update.path_attributes", 23,
                concat!(marker!(), "0015 03 0301")),
        row("UPDATE: empty (zero-length withdrawn) is IPv4 End-of-RIB", "RFC 4271 §4.3, RFC 4724 §2", OLD,
            h(concat!(marker!(), "0017 02 0000 0000")))
            .ok(|m| match upd(m)?.end_of_rib_family() {
                Some(f) if f.afi == 1 && f.safi == 1 => Ok(()),
                f => Err(format!("expected IPv4 End-of-RIB, got {f:?}")),
            }),
        row("UPDATE: empty MP_UNREACH_NLRI is IPv6 End-of-RIB", "RFC 4724 §2, RFC 7606 §3.d (nothing announced)", NEW,
            update(&[], &h("80 0f 03 0002 01"), &[]))
            .ok(|m| match upd(m)?.end_of_rib_family() {
                Some(f) if f.afi == 2 && f.safi == 1 => Ok(()),
                f => Err(format!("expected IPv6 End-of-RIB, got {f:?}")),
            }),
        row("UPDATE: withdrawn routes only accepted", "RFC 4271 §4.3", OLD,
            update(&h(NLRI), &[], &[]))
            .ok(|m| want_prefixes("withdrawn", &upd(m)?.withdrawn(), &[P4])),
        // Unknown attribute of length 10 at 41, value at 44, 4 bytes left.
        row("UPDATE: attribute length overruns the path attributes", "RFC 7606 §4", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 63 0a 01020304"]), &h(NLRI)))
            .taw("path_attribute.value", 44, &[P4], NONE),
        // Two stray octets at 41: no room for an attribute header.
        row("UPDATE: fewer than 3 octets left for an attribute", "RFC 7606 §4", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 05"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),

        // ----- Well-known mandatory attributes (RFC 7606 §3.c, §3.d, §7.1–7.3) -----
        row("ORIGIN: flags 0xc0 (optional)", "RFC 7606 §3.c", OLD,
            update(&[], &hs(&["c0 01 01 00", AS_PATH2, NEXT_HOP]), &h(NLRI)))
            .taw("path_attribute.flags", 23, &[P4], NONE),
        row("ORIGIN: length 2", "RFC 7606 §7.1", OLD,
            update(&[], &hs(&["40 01 02 0000", AS_PATH2, NEXT_HOP]), &h(NLRI)))
            .taw("path_attribute.length", 25, &[P4], NONE),
        row("ORIGIN: value 3", "RFC 7606 §7.1", OLD,
            update(&[], &hs(&["40 01 01 03", AS_PATH2, NEXT_HOP]), &h(NLRI)))
            .taw("ORIGIN", 26, &[P4], NONE),
        row("missing ORIGIN with NLRI", "RFC 7606 §3.d", OLD,
            update(&[], &hs(&[AS_PATH2, NEXT_HOP]), &h(NLRI)))
            .taw("update.path_attributes", 23, &[P4], NONE),
        row("missing AS_PATH with NLRI", "RFC 7606 §3.d", OLD,
            update(&[], &hs(&[ORIGIN, NEXT_HOP]), &h(NLRI)))
            .taw("update.path_attributes", 23, &[P4], NONE),
        row("missing NEXT_HOP with NLRI", "RFC 7606 §3.d", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2]), &h(NLRI)))
            .taw("update.path_attributes", 23, &[P4], NONE),
        row("missing ORIGIN with only MP_REACH_NLRI", "RFC 7606 §3.d", OLD,
            update(&[], &hs(&[AS_PATH2, MP_REACH_V6]), &[]))
            .taw("update.path_attributes", 23, &[P6], NONE),
        row("missing NEXT_HOP accepted when only MP_REACH_NLRI carries NLRI", "RFC 4760 §3, RFC 7606 §3.d", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, MP_REACH_V6]), &[]))
            .ok(|m| announces(m, &[P6])),
        row("ORIGIN with Extended Length bit accepted", "RFC 4271 §4.3", OLD,
            update(&[], &hs(&["50 01 0001 00", AS_PATH2, NEXT_HOP]), &h(NLRI)))
            .ok(|m| announces(m, &[P4])),
        // AS_PATH at 27, value (first segment) at 30.
        row("AS_PATH: unknown segment type 5", "RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 04 05 01 fde8", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 30, &[P4], NONE),
        row("AS_PATH: segment of length 0", "RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 02 02 00", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 30, &[P4], NONE),
        row("AS_PATH: segment overruns the attribute", "RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 04 02 02 fde8", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 30, &[P4], NONE),
        // Second segment at 34 is a lone type octet.
        row("AS_PATH: one octet left after the last segment", "RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 05 02 01 fde8 02", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 34, &[P4], NONE),
        row("AS_PATH: contains AS 0", "RFC 7607 §2, RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 04 02 01 0000", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 30, &[P4], NONE),
        row("AS_PATH: 4-octet ASes with the 4-octet context accepted", "RFC 6793 §3", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP]), &h(NLRI)))
            .ok(|m| want_path(as_path_of(upd(m)?, 2).ok_or("AS_PATH missing")?, &[65000])),
        // Read with 2-octet ASes: [0] then a segment of type 0xfd at 34.
        row("AS_PATH: 4-octet ASes with the 2-octet context", "RFC 6793 §3, RFC 7606 §7.2", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 34, &[P4], NONE),
        row("AS_PATH: 2-octet ASes with the 4-octet context", "RFC 6793 §3, RFC 7606 §7.2", NEW,
            update(&[], &hs(&[ORIGIN, "40 02 06 02 02 fde8 fde9", NEXT_HOP]), &h(NLRI)))
            .taw("AS_PATH", 30, &[P4], NONE),
        row("AS_PATH: empty accepted (iBGP)", "RFC 4271 §5.1.2", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 00", NEXT_HOP]), &h(NLRI)))
            .ok(|m| want_path(as_path_of(upd(m)?, 2).ok_or("AS_PATH missing")?, &[])),
        // NEXT_HOP at 34, length at 36, value at 37.
        row("NEXT_HOP: length 5", "RFC 7606 §7.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "40 03 05 c000020101"]), &h(NLRI)))
            .taw("path_attribute.length", 36, &[P4], NONE),
        row("NEXT_HOP: 0.0.0.0", "RFC 4271 §6.3, RFC 7606 §7.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "40 03 04 00000000"]), &h(NLRI)))
            .taw("NEXT_HOP", 37, &[P4], NONE),
        row("NEXT_HOP: 224.0.0.1", "RFC 4271 §6.3, RFC 7606 §7.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "40 03 04 e0000001"]), &h(NLRI)))
            .taw("NEXT_HOP", 37, &[P4], NONE),

        // ----- Other attributes: bad attribute at 41, its length octet at 43 -----
        row("MULTI_EXIT_DISC: length 3", "RFC 7606 §7.4", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "80 04 03 000001"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("LOCAL_PREF: length 5", "RFC 7606 §7.5", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 05 05 0000006400"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("ATOMIC_AGGREGATE: length 1", "RFC 7606 §7.6", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 06 01 00"]), &h(NLRI)))
            .discard(6, 0, "path_attribute.length", 43, &[P4], NONE),
        // 4-octet session: attributes end at 43, AGGREGATOR length at 45.
        row("AGGREGATOR: length 7 (4-octet session)", "RFC 7606 §7.7", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP, "c0 07 07 0000fde8 c00002"]), &h(NLRI)))
            .discard(7, 0, "path_attribute.length", 45, &[P4], NONE),
        row("AGGREGATOR: length 8 (2-octet session)", "RFC 7606 §7.7, RFC 6793 §3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 07 08 0000fde8 c0000202"]), &h(NLRI)))
            .discard(7, 0, "path_attribute.length", 43, &[P4], NONE),
        // AGGREGATOR at 41, value at 44.
        row("AGGREGATOR: AS 0", "RFC 7607 §2, RFC 7606 §7.7", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 07 06 0000 c0000202"]), &h(NLRI)))
            .discard(7, 0, "AGGREGATOR", 44, &[P4], NONE),
        row("ATOMIC_AGGREGATE: flags 0x80 (optional)", "RFC 7606 §3.c, §7.6", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "80 06 00"]), &h(NLRI)))
            .discard(6, 0, "path_attribute.flags", 41, &[P4], NONE),
        row("COMMUNITIES: flags 0x40 (well-known)", "RFC 7606 §3.c, §7.8", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 08 04 fde80001"]), &h(NLRI)))
            .taw("path_attribute.flags", 41, &[P4], NONE),
        row("COMMUNITIES: length 5", "RFC 7606 §7.8", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 08 05 fde80001 00"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("ORIGINATOR_ID: length 3", "RFC 7606 §7.9", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "80 09 03 c00002"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("CLUSTER_LIST: length 6", "RFC 7606 §7.10", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "80 0a 06 c0000201 0000"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("EXTENDED_COMMUNITIES: length 9", "RFC 7606 §7.14", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 10 09 0002fde8 00000064 00"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("LARGE_COMMUNITY: length 13", "RFC 8092 §5", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 20 0d 0000fde8 00000001 00000002 00"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),
        row("OTC: length 3", "RFC 9234 §5", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 23 03 00fde8"]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4], NONE),

        // ----- AS4_PATH / AS4_AGGREGATOR (RFC 6793 §4.2.3, §6) -----
        row("AS4_PATH: unknown segment type 5 (from OLD speaker)", "RFC 6793 §6", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 11 06 05 01 0000fde8"]), &h(NLRI)))
            .discard(17, 0, "AS4_PATH", 44, &[P4], NONE),
        row("AS4_PATH: length 0 (< 6, from OLD speaker)", "RFC 6793 §6", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 11 00"]), &h(NLRI)))
            .discard(17, 0, "path_attribute.length", 43, &[P4], NONE),
        row("AS4_AGGREGATOR: length 7", "RFC 6793 §6", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 12 07 0000fde8 c00002"]), &h(NLRI)))
            .discard(18, 0, "path_attribute.length", 43, &[P4], NONE),
        // 4-octet session: the attribute at 43, its type octet at 44.
        row("AS4_PATH from a NEW speaker is discarded", "RFC 6793 §6", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP, "c0 11 06 02 01 00010000"]), &h(NLRI)))
            .discard(17, 0, "path_attribute.type", 44, &[P4], NONE),
        row("AS4_AGGREGATOR from a NEW speaker is discarded", "RFC 6793 §6", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP, "c0 12 08 00010000 c0000202"]), &h(NLRI)))
            .discard(18, 0, "path_attribute.type", 44, &[P4], NONE),
        row("AS4_PATH merged into AS_PATH [65000, AS_TRANS]", "RFC 6793 §4.2.3", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 06 02 02 fde8 5ba0", NEXT_HOP, "c0 11 06 02 01 00010000"]), &h(NLRI)))
            .ok(|m| want_path(&rebuilt(upd(m)?)?.0, &[65000, 65536])),
        row("AS4_PATH ignored: AGGREGATOR holds an AS other than AS_TRANS", "RFC 6793 §4.2.3", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 06 02 02 fde8 5ba0", NEXT_HOP,
                "c0 07 06 fde9 c0000202", "c0 11 06 02 01 00010000", "c0 12 08 00010001 c0000203"]), &h(NLRI)))
            .ok(|m| {
                let (p, agg) = rebuilt(upd(m)?)?;
                want_path(&p, &[65000, 23456])?;
                if agg == Some(65001) { Ok(()) } else { Err(format!("aggregator: expected 65001, got {agg:?}")) }
            }),
        row("AS4_PATH ignored: AS_PATH shorter than AS4_PATH", "RFC 6793 §4.2.3", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 04 02 01 5ba0", NEXT_HOP, "c0 11 0a 02 02 0000fde8 00010000"]), &h(NLRI)))
            .ok(|m| want_path(&rebuilt(upd(m)?)?.0, &[23456])),
        row("AS4_PATH confederation segments dropped", "RFC 6793 §6", OLD,
            update(&[], &hs(&[ORIGIN, "40 02 06 02 02 fde8 5ba0", NEXT_HOP,
                "c0 11 0c 03 01 0000fde9 02 01 00010000"]), &h(NLRI)))
            .ok(|m| want_path(&rebuilt(upd(m)?)?.0, &[65000, 65536])),

        // ----- Duplicates and unknown attributes (RFC 7606 §3.g, RFC 4271 §6.3) -----
        // Second COMMUNITIES at 48, its type octet at 49.
        row("COMMUNITIES twice: the second is discarded", "RFC 7606 §3.g", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 08 04 fde80001", "c0 08 04 fde80002"]), &h(NLRI)))
            .discard(8, 1, "path_attribute.type", 49, &[P4], NONE)
            .extra(|u| match value(u, 8) {
                Some(AttributeValue::Communities(c)) if c.len() == 1 && c[0].0 == 0xfde8_0001 => Ok(()),
                v => Err(format!("expected the first COMMUNITIES [65000:1], got {v:?}")),
            }),
        // MP_REACH_NLRI at 34 and 65, second type octet at 66.
        row("MP_REACH_NLRI twice", "RFC 7606 §3.g", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, MP_REACH_V6, MP_REACH_V6]), &[]))
            .reset((3, 1, ""), "path_attribute.type", 66,
                concat!(marker!(), "0015 03 0301")),
        row("unrecognized well-known attribute 40 (flags 0x40)", "RFC 4271 §6.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 28 02 abcd"]), &h(NLRI)))
            .reset((3, 2, "4028 02 abcd"), "path_attribute.type", 42,
                concat!(marker!(), "001a 03 0302 4028 02 abcd")),
        row("unknown optional transitive attribute kept with its flags", "RFC 4271 §5, §9", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "c0 63 03 010203"]), &h(NLRI)))
            .ok(|m| {
                announces(m, &[P4])?;
                match upd(m)?.attribute(99) {
                    Some(a) if a.flags == 0xc0 && a.value == (AttributeValue::Unknown { type_code: 99, value: vec![1, 2, 3] }) => Ok(()),
                    a => Err(format!("expected attribute 99 flags 0xc0 value 010203, got {a:?}")),
                }
            }),
        row("unknown optional transitive Partial attribute kept with its flags", "RFC 4271 §5, §9", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "e0 64 02 0405"]), &h(NLRI)))
            .ok(|m| match upd(m)?.attribute(100) {
                Some(a) if a.flags == 0xe0 => Ok(()),
                a => Err(format!("expected attribute 100 with flags 0xe0, got {a:?}")),
            }),

        // ----- MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §7, RFC 7606 §5.3, §7.11) -----
        // MP_REACH_NLRI at 34, value at 37, Next Hop Length at 40.
        row("MP_REACH_NLRI: IPv6 next hop of length 5", "RFC 4760 §7, RFC 7606 §7.11", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, MP_REACH_NH5]), &[]))
            .reset((3, 9, "800e11 000201 05 20010db800 00 30 20010db80001"), "MP_REACH_NLRI", 40,
                concat!(marker!(), "0029 03 0309 800e11 000201 05 20010db800 00 30 20010db80001")),
        row("MP_REACH_NLRI: truncated (length 4, next hop length 16)", "RFC 7606 §5.3, RFC 4760 §7", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "80 0e 04 0002 01 10"]), &[]))
            .reset((3, 9, "800e04 000201 10"), "MP_REACH_NLRI", 40,
                concat!(marker!(), "001c 03 0309 800e04 000201 10")),
        row("MP_REACH_NLRI: flags 0xc0 (transitive)", "RFC 7606 §5.3, RFC 4760 §7", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "c0 0e 1c 0002 01 10 20010db8 00000000 00000000 00000001 00 30 20010db80001"]), &[]))
            .reset((3, 9, "c00e1c 000201 10 20010db8000000000000000000000001 00 30 20010db80001"), "path_attribute.flags", 34,
                concat!(marker!(), "0034 03 0309 c00e1c 000201 10 20010db8000000000000000000000001 00 30 20010db80001")),
        // MP_UNREACH_NLRI at 23, value at 26, prefix length octet at 29.
        row("MP_UNREACH_NLRI: IPv6 prefix length 129", "RFC 7606 §5.3, RFC 4760 §7", OLD,
            update(&[], &h("80 0f 08 0002 01 81 20010db8"), &[]))
            .reset((3, 9, "800f08 000201 81 20010db8"), "MP_UNREACH_NLRI.withdrawn", 29,
                concat!(marker!(), "0020 03 0309 800f08 000201 81 20010db8")),
        row("MP_UNREACH_NLRI: length 2 (< 3)", "RFC 7606 §5.3, RFC 4760 §7", OLD,
            update(&[], &h("80 0f 02 0002"), &[]))
            .reset((3, 9, "800f02 0002"), "MP_UNREACH_NLRI", 26,
                concat!(marker!(), "001a 03 0309 800f02 0002")),
        row("MP_REACH_NLRI: IPv6 global and link-local next hop accepted", "RFC 2545 §3, RFC 4760 §3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "80 0e 2c 0002 01 20 20010db8 00000000 00000000 00000001 fe800000 00000000 00000000 00000001 00 30 20010db80001"]), &[]))
            .ok(|m| {
                announces(m, &[P6])?;
                match upd(m)?.mp_reach().map(|r| &r.next_hop) {
                    Some(MpNextHop::Ipv6 { link_local: Some(ll), .. }) if *ll == "fe80::1".parse::<std::net::Ipv6Addr>().unwrap() => Ok(()),
                    nh => Err(format!("expected link-local next hop fe80::1, got {nh:?}")),
                }
            }),
        // MP_REACH_NLRI at 36, Next Hop Length at 42.
        row("MP_REACH_NLRI: IPv4 NLRI, IPv6 next hop, no extended next hop", "RFC 8950 §3, RFC 4760 §7", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, "80 0e 19 0001 01 10 20010db8 00000000 00000000 00000001 00 18 c63364"]), &[]))
            .reset((3, 9, "800e19 000101 10 20010db8000000000000000000000001 00 18c63364"), "MP_REACH_NLRI", 42,
                concat!(marker!(), "0031 03 0309 800e19 000101 10 20010db8000000000000000000000001 00 18c63364")),
        row("MP_REACH_NLRI: IPv4 NLRI, IPv6 next hop, extended next hop accepted", "RFC 8950 §3", NEW_ENH,
            update(&[], &hs(&[ORIGIN, AS_PATH4, "80 0e 19 0001 01 10 20010db8 00000000 00000000 00000001 00 18 c63364"]), &[]))
            .ok(|m| {
                announces(m, &[P4])?;
                match upd(m)?.mp_reach().map(|r| &r.next_hop) {
                    Some(MpNextHop::Ipv6 { global, link_local: None }) if *global == "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap() => Ok(()),
                    nh => Err(format!("expected next hop 2001:db8::1, got {nh:?}")),
                }
            }),
        row("MP_REACH_NLRI: IPv6 with ADD-PATH path ids", "RFC 7911 §3", NEW_AP6,
            update(&[], &hs(&[ORIGIN, AS_PATH4, "80 0e 20 0002 01 10 20010db8 00000000 00000000 00000001 00 00000007 30 20010db80001"]), &[]))
            .ok(|m| announces(m, &["2001:db8:1::/48#7"])),
        // MED length 3 at 41 (length octet 43) plus MP_REACH_NLRI: both families withdrawn.
        row("treat-as-withdraw covers NLRI and MP_REACH_NLRI", "RFC 7606 §2, §7.4", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "80 04 03 000001", MP_REACH_V6]), &h(NLRI)))
            .taw("path_attribute.length", 43, &[P4, P6], NONE),

        // ----- NLRI and Withdrawn Routes (RFC 4271 §6.3, RFC 7606 §5.3, RFC 7911) -----
        row("NLRI: default route 0.0.0.0/0 accepted", "RFC 4271 §4.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP]), &h("00")))
            .ok(|m| announces(m, &["0.0.0.0/0"])),
        row("NLRI: prefix length 33", "RFC 4271 §6.3, RFC 7606 §5.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP]), &h("21 c0000201 00")))
            .reset((3, 10, ""), "update.nlri", 41,
                concat!(marker!(), "0015 03 030a")),
        row("NLRI: prefix overruns the message", "RFC 4271 §6.3, RFC 7606 §5.3", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP]), &h("18 c633")))
            .reset((3, 10, ""), "update.nlri", 41,
                concat!(marker!(), "0015 03 030a")),
        row("Withdrawn Routes: prefix length 33", "RFC 4271 §6.3, RFC 7606 §5.3", OLD,
            update(&h("21 c0000201 00"), &[], &[]))
            .reset((3, 1, ""), "update.withdrawn_routes", 21,
                concat!(marker!(), "0015 03 0301")),
        row("ADD-PATH: NLRI with path id 100 when negotiated", "RFC 7911 §3", NEW_AP4,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP]), &h("00000064 18 c63364")))
            .ok(|m| announces(m, &["198.51.100.0/24#100"])),
        // Read without path ids: three /0 prefixes, then length 100 at 46.
        row("ADD-PATH: the same NLRI bytes without ADD-PATH", "RFC 7911 §3, RFC 4271 §6.3", NEW,
            update(&[], &hs(&[ORIGIN, AS_PATH4, NEXT_HOP]), &h("00000064 18 c63364")))
            .reset((3, 10, ""), "update.nlri", 46,
                concat!(marker!(), "0015 03 030a")),
        row("ADD-PATH: withdrawn route with path id", "RFC 7911 §3", NEW_AP4,
            update(&h("00000001 18 c63364"), &[], &[]))
            .ok(|m| want_prefixes("withdrawn", &upd(m)?.withdrawn(), &["198.51.100.0/24#1"])),

        // ----- Several errors in one UPDATE: the most severe wins (RFC 7606 §3.h) -----
        // ATOMIC_AGGREGATE length 1 at 34; bad MP_REACH_NLRI at 38, Next Hop Length at 44.
        row("discard then MP_REACH_NLRI error: session reset wins", "RFC 7606 §3.h, §7.6, RFC 4760 §7", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, "40 06 01 00", MP_REACH_NH5]), &[]))
            .reset((3, 9, "800e11 000201 05 20010db800 00 30 20010db80001"), "MP_REACH_NLRI", 44,
                concat!(marker!(), "0029 03 0309 800e11 000201 05 20010db800 00 30 20010db80001")),
        // ATOMIC_AGGREGATE length 1 at 41 (length 43); MED length 3 at 45 (length 47).
        row("discard plus treat-as-withdraw: treat-as-withdraw wins", "RFC 7606 §3.h", OLD,
            update(&[], &hs(&[ORIGIN, AS_PATH2, NEXT_HOP, "40 06 01 00", "80 04 03 000001"]), &h(NLRI)))
            .taw("path_attribute.length", 47, &[P4], NONE)
            .findings(2)
            .extra(|u| {
                absent(u, &[4, 6])?;
                if u.errors.iter().any(|e| e.verdict == Verdict::AttributeDiscard && e.offset == 43) {
                    Ok(())
                } else {
                    Err("[field/offset] no attribute-discard finding for ATOMIC_AGGREGATE at 43".into())
                }
            }),
        // ORIGIN length 2 (23..28), AS_PATH, NEXT_HOP, then type 40 at 42 (type octet 43).
        row("treat-as-withdraw then unrecognized well-known: session reset wins", "RFC 7606 §3.h, RFC 4271 §6.3", OLD,
            update(&[], &hs(&["40 01 02 0000", AS_PATH2, NEXT_HOP, "40 28 00"]), &h(NLRI)))
            .reset((3, 2, "402800"), "path_attribute.type", 43,
                concat!(marker!(), "0018 03 0302 402800")),
    ]
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

fn show_err(e: &DecodeError) -> String {
    format!(
        "Err({}@{}: {:?}, {:?})",
        e.field, e.offset, e.kind, e.verdict
    )
}

fn show_findings(u: &Update) -> String {
    let v: Vec<String> = u
        .errors
        .iter()
        .map(|e| format!("{}@{} {:?} {:?}", e.field, e.offset, e.kind, e.verdict))
        .collect();
    format!("[{}]", v.join("; "))
}

fn canon(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .collect::<String>()
        .to_lowercase()
}

/// The whole NOTIFICATION message for `n`, as hex.
fn encoded(n: &Notification, ctx: &Context) -> String {
    match Message::Notification(n.clone()).to_bytes(ctx) {
        Ok(b) => hex(&b),
        Err(e) => format!("<encode error {e}>"),
    }
}

/// Check one row; returns the mismatches, each tagged with what differs.
fn check(r: &Row) -> Vec<String> {
    let mut bad = Vec::new();
    let ctx = &r.ctx;

    // The row's own NOTIFICATION literal must match its code/subcode/data.
    if let Want::Reset {
        code,
        subcode,
        data,
    } = r.want
    {
        let own = encoded(&Notification::new(code, subcode, h(data)), ctx);
        if own != canon(r.notification) {
            bad.push(format!(
                "[ROW BUG] notification literal {} does not encode {code}/{subcode} data {data:?} ({own})",
                canon(r.notification)
            ));
        }
    } else if r.notification != NONE {
        bad.push("[ROW BUG] only session-reset rows carry a NOTIFICATION".into());
    }

    // Framing.
    let full_len = r.input.len();
    match r.frame {
        FrameWant::Any => {}
        FrameWant::Accepts => {
            match frame(&r.input, ctx) {
                Ok(Some(n)) if n == full_len => {}
                other => bad.push(format!(
                    "[frame] expected Ok(Some({full_len})), got {}",
                    match other {
                        Ok(x) => format!("Ok({x:?})"),
                        Err(e) => show_err(&e),
                    }
                )),
            }
            if full_len > 19 {
                if let Ok(Some(_)) | Err(_) = frame(&r.input[..full_len - 1], ctx) {
                    bad.push("[frame] a message missing its last byte is not Ok(None)".into());
                }
            }
        }
        FrameWant::Rejects => {
            for (what, buf) in [
                ("whole message", &r.input[..]),
                ("header only", &r.input[..19]),
            ] {
                match frame(buf, ctx) {
                    Err(e) => {
                        if e.field != r.field || e.offset != r.offset {
                            bad.push(format!(
                                "[frame] {what}: expected {}@{}, got {}@{}",
                                r.field, r.offset, e.field, e.offset
                            ));
                        }
                        if let Want::Reset {
                            code,
                            subcode,
                            data,
                        } = r.want
                        {
                            let want = Verdict::reset(code, subcode, h(data));
                            if e.verdict != want {
                                bad.push(format!(
                                    "[frame] {what}: expected {want:?}, got {:?}",
                                    e.verdict
                                ));
                            }
                        }
                    }
                    Ok(x) => bad.push(format!("[frame] {what}: expected Err, got Ok({x:?})")),
                }
            }
        }
    }

    // Decoding (and the peer check for OPEN rows that have one).
    let outcome = decode_message(&r.input, ctx).and_then(|m| match (&r.peer, &m) {
        (Some(p), Message::Open(o)) => o
            .validate_peer(p.expected_as, p.local_as, p.local_id)
            .map(|()| m),
        _ => Ok(m),
    });

    match (&r.want, outcome) {
        (
            Want::Reset {
                code,
                subcode,
                data,
            },
            Err(e),
        ) => {
            let want = Verdict::reset(*code, *subcode, h(data));
            if e.verdict != want {
                bad.push(format!("[verdict] expected {want:?}, got {:?}", e.verdict));
            }
            if e.field != r.field || e.offset != r.offset {
                bad.push(format!(
                    "[field/offset] expected {}@{}, got {}@{} ({:?})",
                    r.field, r.offset, e.field, e.offset, e.kind
                ));
            }
            match e.notification() {
                Some(n) => {
                    let got = encoded(n, ctx);
                    if got != canon(r.notification) {
                        bad.push(format!(
                            "[notification] expected {}, got {got}",
                            canon(r.notification)
                        ));
                    }
                }
                None => bad.push(format!(
                    "[notification] expected {}, got none",
                    canon(r.notification)
                )),
            }
        }
        (Want::Reset { code, subcode, .. }, Ok(m)) => {
            let detail = match &m {
                Message::Update(u) => format!(
                    "UPDATE, treat-as-withdraw {}, findings {}",
                    u.treat_as_withdraw(),
                    show_findings(u)
                ),
                other => format!("{other:?}"),
            };
            bad.push(format!(
                "[verdict] expected session reset {code}/{subcode}, got Ok: {detail}"
            ));
        }
        (_, Err(e)) => bad.push(format!(
            "[verdict] expected Ok decode, got {}",
            show_err(&e)
        )),
        (Want::Ok(f), Ok(m)) => {
            if let Message::Update(u) = &m {
                if !u.errors.is_empty() {
                    bad.push(format!(
                        "[verdict] expected no findings, got {}",
                        show_findings(u)
                    ));
                }
            }
            if let Err(s) = f(&m) {
                bad.push(format!("[content] {s}"));
            }
        }
        (Want::TreatAsWithdraw { withdrawn }, Ok(m)) => match upd(&m) {
            Err(s) => bad.push(format!("[verdict] {s}")),
            Ok(u) => {
                if !u.treat_as_withdraw() {
                    bad.push(format!(
                        "[verdict] expected treat-as-withdraw, findings {}",
                        show_findings(u)
                    ));
                }
                let ann = prefixes(&u.announced());
                if !ann.is_empty() {
                    bad.push(format!("[verdict] expected nothing announced, got {ann:?}"));
                }
                if let Err(s) = want_prefixes("withdrawn", &u.withdrawn(), withdrawn) {
                    bad.push(format!("[content] {s}"));
                }
                finding(r, u, &Verdict::TreatAsWithdraw, &mut bad);
                if let Some(f) = r.extra {
                    if let Err(s) = f(u) {
                        bad.push(tagged(s));
                    }
                }
            }
        },
        (
            Want::AttributeDiscard {
                type_code,
                left,
                announced,
            },
            Ok(m),
        ) => match upd(&m) {
            Err(s) => bad.push(format!("[verdict] {s}")),
            Ok(u) => {
                if u.treat_as_withdraw() {
                    bad.push(format!(
                        "[verdict] expected attribute discard, got treat-as-withdraw: {}",
                        show_findings(u)
                    ));
                }
                let n = u
                    .path_attributes
                    .iter()
                    .filter(|a| a.type_code() == *type_code)
                    .count();
                if n != *left {
                    bad.push(format!(
                        "[verdict] expected {left} attribute(s) of type {type_code} left, got {n}"
                    ));
                }
                if let Err(s) = want_prefixes("announced", &u.announced(), announced) {
                    bad.push(format!("[verdict] {s}"));
                }
                finding(r, u, &Verdict::AttributeDiscard, &mut bad);
                if let Some(f) = r.extra {
                    if let Err(s) = f(u) {
                        bad.push(tagged(s));
                    }
                }
            }
        },
    }
    bad
}

/// The UPDATE's findings: the right number, and one with `verdict` at the
/// row's field and offset.
fn finding(r: &Row, u: &Update, verdict: &Verdict, bad: &mut Vec<String>) {
    if u.errors.len() != r.findings {
        bad.push(format!(
            "[findings] expected {} finding(s), got {}",
            r.findings,
            show_findings(u)
        ));
    }
    let here = u
        .errors
        .iter()
        .find(|e| e.field == r.field && e.offset == r.offset);
    match here {
        Some(e) if e.verdict == *verdict => {}
        Some(e) => bad.push(format!(
            "[verdict] finding {}@{} has {:?}, expected {verdict:?}",
            r.field, r.offset, e.verdict
        )),
        None if u.errors.iter().any(|e| e.verdict == *verdict) => bad.push(format!(
            "[field/offset] expected a {verdict:?} finding at {}@{}, got {}",
            r.field,
            r.offset,
            show_findings(u)
        )),
        None => bad.push(format!(
            "[verdict] no {verdict:?} finding, got {}",
            show_findings(u)
        )),
    }
}

/// An extra check's message, tagged `[content]` unless it carries a tag.
fn tagged(s: String) -> String {
    if s.starts_with('[') {
        s
    } else {
        format!("[content] {s}")
    }
}

fn verdict_text(w: &Want) -> String {
    match w {
        Want::Reset {
            code,
            subcode,
            data,
        } => format!("SessionReset({code}/{subcode}, data {:?})", canon(data)),
        Want::TreatAsWithdraw { .. } => "TreatAsWithdraw".into(),
        Want::AttributeDiscard { type_code, .. } => format!("AttributeDiscard({type_code})"),
        Want::Ok(_) => "Ok".into(),
    }
}

#[test]
fn conformance_matrix() {
    let rows = rows();
    assert!(rows.len() >= 45, "the matrix has only {} rows", rows.len());
    let mut names = std::collections::HashSet::new();
    for r in &rows {
        assert!(names.insert(r.name), "duplicate row name {:?}", r.name);
    }

    let mut report = Vec::new();
    for r in &rows {
        let bad = check(r);
        if bad.is_empty() {
            println!("ok    {}", r.name);
        } else {
            println!("FAIL  {}", r.name);
            let mut s = format!(
                "\n--- {} ({})\n    context: {:?}\n    input: {}\n    expected: {}, {}@{}, notification {}\n",
                r.name,
                r.rfc,
                r.ctx,
                if r.input.len() > 96 {
                    format!("{}... ({} bytes)", hex(&r.input[..96]), r.input.len())
                } else {
                    hex(&r.input)
                },
                verdict_text(&r.want),
                r.field,
                r.offset,
                if r.notification == NONE { NONE.to_owned() } else { canon(r.notification) },
            );
            for b in &bad {
                s.push_str("    ");
                s.push_str(b);
                s.push('\n');
            }
            report.push(s);
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} conformance rows failed:\n{}",
        report.len(),
        rows.len(),
        report.concat()
    );
}
