//! Snapshot tests of twillctl's human output, for the fixed model values
//! of `node_agent::api::fake`: the expected text is written out here, so
//! any change of a column, a width or a word shows in review.

use ctl::format;
use node_agent::api::fake;
use node_agent::api::model::{ActionDone, Event, NeighborAction, RibQuery};

#[test]
fn neighbors_table() {
    assert_eq!(
        format::neighbors(&fake::neighbors()),
        "\
NEIGHBOR       AS  KIND  STATE        SINCE  RECEIVED  ACCEPTED  ADVERTISED  INFO
198.18.0.1  65001  ebgp  Established  3m12s         3         2           1  tor-a
198.18.0.5  65002  ebgp  Active        2h3m         0         0           0  NOTIFICATION received: Bad Peer AS
"
    );
}

#[test]
fn neighbor_detail() {
    assert_eq!(
        format::neighbor(&fake::neighbors()[0]),
        "\
Neighbor                    198.18.0.1
Description                 tor-a
AS                          65001 (ebgp)
State                       Established for 3m12s
Uptime                      3m12s
Established transitions     2
Router ID                   198.18.0.1
Hold time                   90s (keepalive 30s)
Capabilities                ipv4-unicast, ipv6-unicast, four-octet-as, route-refresh
Prefixes                    received 3, accepted 2, advertised 1
Stale routes                0
Messages received           open 2, update 5, notification 0, keepalive 7, route-refresh 0
Messages sent               open 2, update 1, notification 1, keepalive 7, route-refresh 1
Last NOTIFICATION sent      Cease / Administrative Reset (6/4) \"maintenance\" at 2026-11-28 21:06:40 UTC
Last NOTIFICATION received  -
Last down reason            administrative reset
"
    );
    let down = format::neighbor(&fake::neighbors()[1]);
    assert!(down.contains("\nState                       Active for 2h3m\n"));
    assert!(down.contains("\nUptime                      -\n"));
    assert!(down.contains(
        "\nLast NOTIFICATION received  OPEN Message Error / Bad Peer AS (2/2) at 2026-11-28 19:06:07 UTC\n"
    ));
}

#[test]
fn rib_table() {
    let routes = fake::select(fake::routes(), &RibQuery::default()).unwrap();
    assert_eq!(
        format::routes(&routes, false),
        "\
PREFIX            NEXT HOP    FROM        AS PATH      ORIGIN  LOCAL PREF  MED  COMMUNITIES
198.18.1.0/24  *  198.18.0.1  198.18.0.1  65001        igp            100    -  65001:100 no-export
                  198.18.0.5  198.18.0.5  65002 65010  igp            100   20
198.18.2.0/24  *  0.0.0.0     local       -            igp              -    -
fd00:18::/48   *  fd00::1     198.18.0.1  65001 65020  igp            100    -  65001:1:2
"
    );
}

#[test]
fn rib_table_with_add_path_identifiers() {
    // An Adj-RIB-Out with ADD-PATH send (RFC 7911): two paths of one
    // prefix, each under its own Path Identifier.
    let mut routes = fake::select(fake::routes(), &RibQuery::default()).unwrap();
    routes.truncate(1);
    routes[0].paths[0].path_id = 1;
    routes[0].paths[1].path_id = 2;
    assert_eq!(
        format::routes(&routes, false),
        "\
PREFIX            NEXT HOP    FROM        PATH ID  AS PATH      ORIGIN  LOCAL PREF  MED  COMMUNITIES
198.18.1.0/24  *  198.18.0.1  198.18.0.1        1  65001        igp            100    -  65001:100 no-export
                  198.18.0.5  198.18.0.5        2  65002 65010  igp            100   20
"
    );
}

#[test]
fn rib_table_explained() {
    let query = RibQuery {
        prefix: Some("198.18.1.0/24".to_string()),
        explain: true,
        ..RibQuery::default()
    };
    let routes = fake::select(fake::routes(), &query).unwrap();
    assert_eq!(
        format::routes(&routes, true),
        "\
PREFIX            NEXT HOP    FROM        AS PATH      ORIGIN  LOCAL PREF  MED  COMMUNITIES          WHY
198.18.1.0/24  *  198.18.0.1  198.18.0.1  65001        igp            100    -  65001:100 no-export
                  198.18.0.5  198.18.0.5  65002 65010  igp            100   20                       lost to #0: longer AS_PATH 2 > 1
"
    );
    assert_eq!(format::routes(&[], false), "no routes\n");
}

#[test]
fn fib_table() {
    assert_eq!(
        format::fib(&fake::fib()),
        "\
PREFIX         STATE      NEXT HOPS   ERROR
198.18.1.0/24  installed  198.18.0.1
fd00:18::/48   pending    fd00::1
198.18.3.0/24  failed     198.18.0.9  Network is unreachable (os error 101)
3 routes: 1 installed, 1 pending, 1 failed
"
    );
}

#[test]
fn status_text() {
    assert_eq!(
        format::status(&fake::status()),
        "\
Agent            twill-agent 0.1.0 (API v1)
Router ID        198.18.0.100
Local AS         65000
Uptime           2d4h
Neighbors        2 (1 established)
Loc-RIB          2 IPv4 prefixes, 1 IPv6 prefixes
Attribute sets   3
Route selection  running
"
    );
}

#[test]
fn watch_lines_and_actions() {
    let event = Event {
        at_unix_ms: 1_795_900_000_123,
        kind: "session".to_string(),
        neighbor: Some(fake::PEER_UP),
        message: "Established".to_string(),
    };
    assert_eq!(
        format::event(&event),
        "21:06:40.123 session 198.18.0.1 Established"
    );
    let event = Event {
        neighbor: None,
        kind: "route".to_string(),
        message: "198.18.1.0/24 withdrawn".to_string(),
        ..event
    };
    assert_eq!(
        format::event(&event),
        "21:06:40.123 route 198.18.1.0/24 withdrawn"
    );
    let done = |action| {
        format::action(&ActionDone {
            neighbor: fake::PEER_UP,
            action,
        })
    };
    assert_eq!(
        done(NeighborAction::Reset {
            message: "maintenance".to_string()
        }),
        "198.18.0.1: reset (\"maintenance\")\n"
    );
    assert_eq!(
        done(NeighborAction::Shutdown {
            message: String::new()
        }),
        "198.18.0.1: shut down\n"
    );
    assert_eq!(
        done(NeighborAction::Refresh),
        "198.18.0.1: route refresh requested\n"
    );
    assert_eq!(done(NeighborAction::Start), "198.18.0.1: started\n");
}
