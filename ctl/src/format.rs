//! Human output: aligned columns, readable durations. Pure functions of
//! the API's model, so that their output is pinned by snapshot tests.

use node_agent::api::model::{
    ActionDone, Event, FibRoute, FibState, MessageCounts, Neighbor, NeighborAction,
    NotificationInfo, Route, SessionState, Status,
};

use crate::duration::{duration, time_of_day_ms, utc};

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Rows under a header, each column as wide as its widest cell, two
/// spaces between columns, no trailing spaces.
pub fn table(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|(h, _)| h.to_string()).collect();
    for row in std::iter::once(&head).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let align = header.get(i).map_or(Align::Left, |(_, a)| *a);
            if i > 0 {
                line.push_str("  ");
            }
            let pad = width.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Idle => "Idle",
        SessionState::Connect => "Connect",
        SessionState::Active => "Active",
        SessionState::OpenSent => "OpenSent",
        SessionState::OpenConfirm => "OpenConfirm",
        SessionState::Established => "Established",
    }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `twillctl neighbors`: one line per neighbour, like BIRD's `show
/// protocols`. `SINCE` is the time in the current state; `INFO` is the
/// description, and why the session went down when it is not up.
pub fn neighbors(neighbors: &[Neighbor]) -> String {
    use Align::{Left, Right};
    let rows: Vec<Vec<String>> = neighbors
        .iter()
        .map(|n| {
            let info = match (&n.description, n.state, &n.last_down_reason) {
                (Some(d), SessionState::Established, _) | (Some(d), _, None) => d.clone(),
                (Some(d), _, Some(reason)) => format!("{d}: {reason}"),
                (None, SessionState::Established, _) | (None, _, None) => String::new(),
                (None, _, Some(reason)) => reason.clone(),
            };
            vec![
                n.address.to_string(),
                n.asn.to_string(),
                n.kind.clone(),
                state_name(n.state).to_string(),
                duration(n.state_secs),
                n.prefixes.received.to_string(),
                n.prefixes.accepted.to_string(),
                n.prefixes.advertised.to_string(),
                info,
            ]
        })
        .collect();
    table(
        &[
            ("NEIGHBOR", Left),
            ("AS", Right),
            ("KIND", Left),
            ("STATE", Left),
            ("SINCE", Right),
            ("RECEIVED", Right),
            ("ACCEPTED", Right),
            ("ADVERTISED", Right),
            ("INFO", Left),
        ],
        &rows,
    )
}

fn counts(c: &MessageCounts) -> String {
    format!(
        "open {}, update {}, notification {}, keepalive {}, route-refresh {}",
        c.open, c.update, c.notification, c.keepalive, c.route_refresh
    )
}

fn notification(n: &Option<NotificationInfo>) -> String {
    let Some(n) = n else {
        return "-".to_string();
    };
    let mut text = format!("{} ({}/{})", n.description, n.code, n.subcode);
    if let Some(message) = &n.communication {
        text.push_str(&format!(" \"{message}\""));
    }
    if !n.data_hex.is_empty() && n.communication.is_none() {
        text.push_str(&format!(" data {}", n.data_hex));
    }
    text.push_str(&format!(" at {}", utc(n.at_unix_secs)));
    text
}

/// `twillctl neighbor ADDR`: every field, one a line.
pub fn neighbor(n: &Neighbor) -> String {
    let uptime = n.uptime_secs.map(duration);
    let lines: Vec<(&str, String)> = vec![
        ("Neighbor", n.address.to_string()),
        ("Description", or_dash(n.description.as_ref())),
        ("AS", format!("{} ({})", n.asn, n.kind)),
        (
            "State",
            format!("{} for {}", state_name(n.state), duration(n.state_secs)),
        ),
        ("Uptime", or_dash(uptime)),
        (
            "Established transitions",
            n.established_transitions.to_string(),
        ),
        ("Router ID", or_dash(n.router_id)),
        (
            "Hold time",
            n.hold_time.map_or_else(
                || "-".to_string(),
                |h| format!("{h}s (keepalive {}s)", or_dash(n.keepalive_time)),
            ),
        ),
        (
            "Capabilities",
            if n.capabilities.is_empty() {
                "-".to_string()
            } else {
                n.capabilities.join(", ")
            },
        ),
        (
            "Prefixes",
            format!(
                "received {}, accepted {}, advertised {}",
                n.prefixes.received, n.prefixes.accepted, n.prefixes.advertised
            ),
        ),
        ("Stale routes", n.stale_routes.to_string()),
        ("Messages received", counts(&n.messages_received)),
        ("Messages sent", counts(&n.messages_sent)),
        (
            "Last NOTIFICATION sent",
            notification(&n.last_notification_sent),
        ),
        (
            "Last NOTIFICATION received",
            notification(&n.last_notification_received),
        ),
        ("Last down reason", or_dash(n.last_down_reason.as_ref())),
    ];
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {value}\n"))
        .collect()
}

/// `twillctl rib`: one line per path, the prefix on its first path;
/// `*` marks the best path, `=` another path of the multipath (ECMP) set.
/// With `explain`, `WHY` says what each other path lost on. `PATH ID`, the
/// ADD-PATH Path Identifier (RFC 7911), is shown when a path has one.
pub fn routes(routes: &[Route], explain: bool) -> String {
    use Align::{Left, Right};
    if routes.is_empty() {
        return "no routes\n".to_string();
    }
    let path_ids = routes.iter().flat_map(|r| &r.paths).any(|p| p.path_id != 0);
    let mut rows = Vec::new();
    for route in routes {
        for (i, path) in route.paths.iter().enumerate() {
            let marker = if path.best {
                "*"
            } else if path.multipath {
                "="
            } else {
                ""
            };
            let mut communities = path.communities.clone();
            communities.extend(path.large_communities.iter().cloned());
            let mut row = vec![
                if i == 0 {
                    route.prefix.clone()
                } else {
                    String::new()
                },
                marker.to_string(),
                if path.next_hop.is_empty() {
                    "-".to_string()
                } else {
                    path.next_hop.clone()
                },
                path.from
                    .map_or_else(|| "local".to_string(), |a| a.to_string()),
                if path.as_path.is_empty() {
                    "-".to_string()
                } else {
                    path.as_path.clone()
                },
                path.origin.clone(),
                or_dash(path.local_pref),
                or_dash(path.med),
                communities.join(" "),
            ];
            if path_ids {
                row.insert(4, path.path_id.to_string());
            }
            if explain {
                row.push(
                    path.lost
                        .as_ref()
                        .map(|lost| format!("lost to #{}: {}", lost.path, lost.reason))
                        .unwrap_or_default(),
                );
            }
            rows.push(row);
        }
    }
    let mut header = vec![
        ("PREFIX", Left),
        ("", Left),
        ("NEXT HOP", Left),
        ("FROM", Left),
        ("AS PATH", Left),
        ("ORIGIN", Left),
        ("LOCAL PREF", Right),
        ("MED", Right),
        ("COMMUNITIES", Left),
    ];
    if path_ids {
        header.insert(4, ("PATH ID", Right));
    }
    if explain {
        header.push(("WHY", Left));
    }
    table(&header, &rows)
}

fn fib_state(state: FibState) -> &'static str {
    match state {
        FibState::Installed => "installed",
        FibState::Pending => "pending",
        FibState::Failed => "failed",
    }
}

/// `twillctl fib`: the kernel routes, then a count by state.
pub fn fib(routes: &[FibRoute]) -> String {
    use Align::Left;
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            vec![
                r.prefix.clone(),
                fib_state(r.state).to_string(),
                if r.next_hops.is_empty() {
                    "unreachable".to_string()
                } else {
                    r.next_hops.join(", ")
                },
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let count = |state| routes.iter().filter(|r| r.state == state).count();
    let mut out = table(
        &[
            ("PREFIX", Left),
            ("STATE", Left),
            ("NEXT HOPS", Left),
            ("ERROR", Left),
        ],
        &rows,
    );
    out.push_str(&format!(
        "{} routes: {} installed, {} pending, {} failed\n",
        routes.len(),
        count(FibState::Installed),
        count(FibState::Pending),
        count(FibState::Failed)
    ));
    out
}

/// `twillctl status`.
pub fn status(s: &Status) -> String {
    let lines = [
        (
            "Agent",
            format!("twill-agent {} (API v{})", s.version, s.api_version),
        ),
        ("Router ID", s.router_id.to_string()),
        ("Local AS", s.local_asn.to_string()),
        ("Uptime", duration(s.uptime_secs)),
        (
            "Neighbors",
            format!("{} ({} established)", s.neighbors, s.established),
        ),
        (
            "Loc-RIB",
            format!(
                "{} IPv4 prefixes, {} IPv6 prefixes",
                s.rib_ipv4_prefixes, s.rib_ipv6_prefixes
            ),
        ),
        ("Attribute sets", s.attribute_sets.to_string()),
        (
            "Route selection",
            if s.selection_deferred {
                "deferred (graceful restart)".to_string()
            } else {
                "running".to_string()
            },
        ),
    ];
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {value}\n"))
        .collect()
}

/// One line of `twillctl watch`: `21:06:40.123 session 198.18.0.1 Established`.
pub fn event(e: &Event) -> String {
    match e.neighbor {
        Some(neighbor) => format!(
            "{} {} {} {}",
            time_of_day_ms(e.at_unix_ms),
            e.kind,
            neighbor,
            e.message
        ),
        None => format!("{} {} {}", time_of_day_ms(e.at_unix_ms), e.kind, e.message),
    }
}

/// The answer to `twillctl neighbor ADDR ACTION`.
pub fn action(done: &ActionDone) -> String {
    let n = done.neighbor;
    match &done.action {
        NeighborAction::Reset { message } if message.is_empty() => format!("{n}: reset\n"),
        NeighborAction::Reset { message } => format!("{n}: reset (\"{message}\")\n"),
        NeighborAction::Refresh => format!("{n}: route refresh requested\n"),
        NeighborAction::Shutdown { message } if message.is_empty() => {
            format!("{n}: shut down\n")
        }
        NeighborAction::Shutdown { message } => format!("{n}: shut down (\"{message}\")\n"),
        NeighborAction::Start => format!("{n}: started\n"),
    }
}
