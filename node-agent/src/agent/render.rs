//! From the RIB's and the codec's types to the API's JSON model.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp::wire::error::code;
use bgp::wire::{AsPath, Capability, Family, Notification, Origin, SegmentType};
use ribs::rib::ExplainedPath;
use ribs::{NextHop, PathAttrs, PeerId, Prefix};

use crate::api::model::{LostTo, NotificationInfo, PathInfo};

/// AS_PATH as text: sequences as space-separated ASes, sets in braces,
/// confederation segments in parentheses ("65001 (65010) {65002,65003}").
pub fn as_path(p: &AsPath) -> String {
    let mut out: Vec<String> = Vec::new();
    for s in &p.segments {
        let list = |sep: &str| {
            s.asns
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(sep)
        };
        match s.kind {
            SegmentType::AsSequence => out.extend(s.asns.iter().map(u32::to_string)),
            SegmentType::AsSet => out.push(format!("{{{}}}", list(","))),
            SegmentType::ConfedSequence => out.push(format!("({})", list(" "))),
            SegmentType::ConfedSet => out.push(format!("[{}]", list(","))),
        }
    }
    out.join(" ")
}

/// ORIGIN in words (RFC 4271 §5.1.1).
pub fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
    }
}

/// A next hop as text ("198.18.0.2", "fd00::2 fe80::1", "self").
pub fn next_hop(nh: &NextHop) -> String {
    match nh {
        NextHop::Local => "self".to_string(),
        NextHop::V4(a) => a.to_string(),
        NextHop::V6 {
            global,
            link_local: Some(ll),
        } => format!("{global} {ll}"),
        NextHop::V6 {
            global,
            link_local: None,
        } => global.to_string(),
    }
}

/// One path for the API; `from` maps RIB peer ids to neighbour addresses.
pub fn path(
    attrs: &PathAttrs,
    peer: PeerId,
    path_id: u32,
    from: &HashMap<PeerId, IpAddr>,
) -> PathInfo {
    PathInfo {
        from: if peer == PeerId::LOCAL {
            None
        } else {
            from.get(&peer).copied()
        },
        path_id,
        best: false,
        multipath: false,
        next_hop: next_hop(&attrs.next_hop),
        as_path: as_path(&attrs.as_path),
        origin: origin(attrs.origin).to_string(),
        med: attrs.med,
        local_pref: attrs.local_pref,
        communities: attrs.communities.iter().map(ToString::to_string).collect(),
        large_communities: attrs
            .large_communities
            .iter()
            .map(ToString::to_string)
            .collect(),
        originator_id: attrs.originator_id,
        cluster_list: attrs.cluster_list.clone(),
        lost: None,
    }
}

/// The paths of a prefix from [`ribs::rib::Rib::explain`], best first,
/// with the reasons when `explain` is set.
pub fn explained(
    paths: &[ExplainedPath],
    from: &HashMap<PeerId, IpAddr>,
    explain: bool,
) -> Vec<PathInfo> {
    // Best first, then the multipath set, then the rest in RIB order; the
    // `lost` indices are remapped to the new order.
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| (!paths[i].best, !paths[i].multipath, i));
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    order
        .iter()
        .map(|&i| {
            let e = &paths[i];
            let mut p = path(&e.path.attrs, e.path.peer, e.path.path_id, from);
            p.best = e.best;
            p.multipath = e.multipath;
            if explain {
                p.lost = e.lost.as_ref().map(|(winner, reason)| LostTo {
                    path: position.get(winner).copied().unwrap_or(*winner),
                    reason: reason.to_string(),
                });
            }
            p
        })
        .collect()
}

/// A prefix as text.
pub fn prefix(p: &Prefix) -> String {
    p.to_string()
}

/// Family in words ("ipv4-unicast").
pub fn family(f: Family) -> String {
    match f {
        Family::IPV4_UNICAST => "ipv4-unicast".to_string(),
        Family::IPV6_UNICAST => "ipv6-unicast".to_string(),
        other => other.to_string(),
    }
}

/// Capabilities in words, for `twillctl neighbor`.
pub fn capabilities(caps: &[Capability]) -> Vec<String> {
    caps.iter()
        .map(|c| match c {
            Capability::Multiprotocol(f) => family(*f),
            Capability::RouteRefresh => "route-refresh".to_string(),
            Capability::EnhancedRouteRefresh => "enhanced-route-refresh".to_string(),
            Capability::ExtendedMessage => "extended-message".to_string(),
            Capability::FourOctetAs(asn) => format!("four-octet-as {asn}"),
            Capability::GracefulRestart(g) => {
                format!("graceful-restart {}s", g.restart_time)
            }
            Capability::ExtendedNextHop(e) => format!(
                "extended-next-hop {}",
                e.iter()
                    .map(|e| family(e.nlri_family))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Capability::AddPath(e) => format!(
                "add-path {}",
                e.iter()
                    .map(|e| format!("{} {:?}", family(e.family), e.direction).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Capability::Unknown { code, .. } => format!("unknown-{code}"),
        })
        .collect()
}

/// Error code and subcode in words (RFC 4271 §4.5, RFC 4486, RFC 7313).
pub fn notification_description(n: &Notification) -> String {
    let c = match n.code {
        code::MESSAGE_HEADER => "Message Header Error",
        code::OPEN_MESSAGE => "OPEN Message Error",
        code::UPDATE_MESSAGE => "UPDATE Message Error",
        code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        code::FSM => "Finite State Machine Error",
        code::CEASE => "Cease",
        code::ROUTE_REFRESH_MESSAGE => "ROUTE-REFRESH Message Error",
        _ => "Unknown error",
    };
    let s = match (n.code, n.subcode) {
        (code::CEASE, 1) => "Maximum Number of Prefixes Reached",
        (code::CEASE, 2) => "Administrative Shutdown",
        (code::CEASE, 3) => "Peer De-configured",
        (code::CEASE, 4) => "Administrative Reset",
        (code::CEASE, 5) => "Connection Rejected",
        (code::CEASE, 6) => "Other Configuration Change",
        (code::CEASE, 7) => "Connection Collision Resolution",
        (code::CEASE, 8) => "Out of Resources",
        (code::CEASE, 9) => "Hard Reset",
        (code::OPEN_MESSAGE, 1) => "Unsupported Version Number",
        (code::OPEN_MESSAGE, 2) => "Bad Peer AS",
        (code::OPEN_MESSAGE, 3) => "Bad BGP Identifier",
        (code::OPEN_MESSAGE, 4) => "Unsupported Optional Parameter",
        (code::OPEN_MESSAGE, 6) => "Unacceptable Hold Time",
        (code::OPEN_MESSAGE, 7) => "Unsupported Capability",
        (code::MESSAGE_HEADER, 1) => "Connection Not Synchronized",
        (code::MESSAGE_HEADER, 2) => "Bad Message Length",
        (code::MESSAGE_HEADER, 3) => "Bad Message Type",
        (code::UPDATE_MESSAGE, 1) => "Malformed Attribute List",
        (code::UPDATE_MESSAGE, 2) => "Unrecognized Well-known Attribute",
        (code::UPDATE_MESSAGE, 3) => "Missing Well-known Attribute",
        (code::UPDATE_MESSAGE, 4) => "Attribute Flags Error",
        (code::UPDATE_MESSAGE, 5) => "Attribute Length Error",
        (code::UPDATE_MESSAGE, 6) => "Invalid ORIGIN Attribute",
        (code::UPDATE_MESSAGE, 8) => "Invalid NEXT_HOP Attribute",
        (code::UPDATE_MESSAGE, 9) => "Optional Attribute Error",
        (code::UPDATE_MESSAGE, 10) => "Invalid Network Field",
        (code::UPDATE_MESSAGE, 11) => "Malformed AS_PATH",
        (_, 0) => "",
        _ => "subcode unknown",
    };
    if s.is_empty() {
        c.to_string()
    } else {
        format!("{c} / {s}")
    }
}

/// A NOTIFICATION for the API.
pub fn notification(n: &Notification, at_unix_secs: u64) -> NotificationInfo {
    NotificationInfo {
        code: n.code,
        subcode: n.subcode,
        description: notification_description(n),
        communication: n.shutdown_communication().map(str::to_string),
        data_hex: n.data.iter().map(|b| format!("{b:02x}")).collect(),
        at_unix_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::wire::AsSegment;

    #[test]
    fn as_path_text() {
        let p = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![65010, 65011],
                },
                AsSegment {
                    kind: SegmentType::AsSequence,
                    asns: vec![65001, 65002],
                },
                AsSegment {
                    kind: SegmentType::AsSet,
                    asns: vec![65003, 65004],
                },
            ],
        };
        assert_eq!(as_path(&p), "(65010 65011) 65001 65002 {65003,65004}");
        assert_eq!(as_path(&AsPath::default()), "");
    }

    #[test]
    fn notification_words() {
        let n = Notification::new(code::CEASE, 2, []);
        assert_eq!(
            notification_description(&n),
            "Cease / Administrative Shutdown"
        );
        let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, []);
        assert_eq!(notification_description(&n), "Hold Timer Expired");
    }
}
