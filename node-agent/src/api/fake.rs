//! A stand-in for the RIB task with fixed answers: two neighbours, three
//! prefixes, three kernel routes. The API's and `twillctl`'s tests serve
//! it; it also shows what the real task answers for each request.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::model::{
    AddressFamily, FibRoute, FibState, LostTo, MessageCounts, Neighbor, NeighborAction,
    NotificationInfo, PathInfo, PrefixCounts, RibQuery, Route, SessionState, Status, API_VERSION,
};
use super::request::{ApiError, ApiRequest};

/// The first neighbour: Established.
pub const PEER_UP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
/// The second neighbour: Active, after a NOTIFICATION.
pub const PEER_DOWN: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 5));

/// The fixed status.
pub fn status() -> Status {
    Status {
        api_version: API_VERSION,
        version: "0.1.0".to_string(),
        local_asn: 65000,
        router_id: Ipv4Addr::new(198, 18, 0, 100),
        uptime_secs: 187_320,
        neighbors: 2,
        established: 1,
        rib_ipv4_prefixes: 2,
        rib_ipv6_prefixes: 1,
        attribute_sets: 3,
        selection_deferred: false,
    }
}

/// The fixed neighbours.
pub fn neighbors() -> Vec<Neighbor> {
    vec![
        Neighbor {
            address: PEER_UP,
            asn: 65001,
            description: Some("tor-a".to_string()),
            kind: "ebgp".to_string(),
            state: SessionState::Established,
            state_secs: 192,
            uptime_secs: Some(192),
            established_transitions: 2,
            router_id: Some(Ipv4Addr::new(198, 18, 0, 1)),
            hold_time: Some(90),
            keepalive_time: Some(30),
            capabilities: vec![
                "ipv4-unicast".to_string(),
                "ipv6-unicast".to_string(),
                "four-octet-as".to_string(),
                "route-refresh".to_string(),
            ],
            prefixes: PrefixCounts {
                received: 3,
                accepted: 2,
                advertised: 1,
            },
            messages_received: MessageCounts {
                open: 2,
                update: 5,
                notification: 0,
                keepalive: 7,
                route_refresh: 0,
            },
            messages_sent: MessageCounts {
                open: 2,
                update: 1,
                notification: 1,
                keepalive: 7,
                route_refresh: 1,
            },
            last_notification_sent: Some(NotificationInfo {
                code: 6,
                subcode: 4,
                description: "Cease / Administrative Reset".to_string(),
                communication: Some("maintenance".to_string()),
                data_hex: "0b6d61696e74656e616e6365".to_string(),
                at_unix_secs: 1_795_900_000,
            }),
            last_notification_received: None,
            last_down_reason: Some("administrative reset".to_string()),
            stale_routes: 0,
        },
        Neighbor {
            address: PEER_DOWN,
            asn: 65002,
            description: None,
            kind: "ebgp".to_string(),
            state: SessionState::Active,
            state_secs: 7_425,
            uptime_secs: None,
            established_transitions: 0,
            router_id: None,
            hold_time: None,
            keepalive_time: None,
            capabilities: Vec::new(),
            prefixes: PrefixCounts::default(),
            messages_received: MessageCounts {
                notification: 1,
                ..MessageCounts::default()
            },
            messages_sent: MessageCounts {
                open: 1,
                ..MessageCounts::default()
            },
            last_notification_sent: None,
            last_notification_received: Some(NotificationInfo {
                code: 2,
                subcode: 2,
                description: "OPEN Message Error / Bad Peer AS".to_string(),
                communication: None,
                data_hex: String::new(),
                at_unix_secs: 1_795_892_767,
            }),
            last_down_reason: Some("NOTIFICATION received: Bad Peer AS".to_string()),
            stale_routes: 0,
        },
    ]
}

fn path(from: Option<IpAddr>, next_hop: &str, as_path: &str) -> PathInfo {
    PathInfo {
        from,
        path_id: 0,
        best: false,
        multipath: false,
        next_hop: next_hop.to_string(),
        as_path: as_path.to_string(),
        origin: "igp".to_string(),
        med: None,
        local_pref: Some(100),
        communities: Vec::new(),
        large_communities: Vec::new(),
        originator_id: None,
        cluster_list: Vec::new(),
        lost: None,
    }
}

/// The fixed Loc-RIB, with the decision reasons.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            prefix: "198.18.1.0/24".to_string(),
            paths: vec![
                PathInfo {
                    best: true,
                    multipath: true,
                    communities: vec!["65001:100".to_string(), "no-export".to_string()],
                    ..path(Some(PEER_UP), "198.18.0.1", "65001")
                },
                PathInfo {
                    med: Some(20),
                    lost: Some(LostTo {
                        path: 0,
                        reason: "longer AS_PATH 2 > 1".to_string(),
                    }),
                    ..path(Some(PEER_DOWN), "198.18.0.5", "65002 65010")
                },
            ],
        },
        Route {
            prefix: "198.18.2.0/24".to_string(),
            paths: vec![PathInfo {
                best: true,
                local_pref: None,
                next_hop: "0.0.0.0".to_string(),
                as_path: String::new(),
                ..path(None, "", "")
            }],
        },
        Route {
            prefix: "fd00:18::/48".to_string(),
            paths: vec![PathInfo {
                best: true,
                large_communities: vec!["65001:1:2".to_string()],
                ..path(Some(PEER_UP), "fd00::1", "65001 65020")
            }],
        },
    ]
}

/// The fixed kernel routes.
pub fn fib() -> Vec<FibRoute> {
    vec![
        FibRoute {
            prefix: "198.18.1.0/24".to_string(),
            next_hops: vec!["198.18.0.1".to_string()],
            state: FibState::Installed,
            error: None,
        },
        FibRoute {
            prefix: "fd00:18::/48".to_string(),
            next_hops: vec!["fd00::1".to_string()],
            state: FibState::Pending,
            error: None,
        },
        FibRoute {
            prefix: "198.18.3.0/24".to_string(),
            next_hops: vec!["198.18.0.9".to_string()],
            state: FibState::Failed,
            error: Some("Network is unreachable (os error 101)".to_string()),
        },
    ]
}

/// [`routes`] as the RIB task would answer `query`: by family, by exact
/// prefix or longest match of an address (a plain string match here:
/// the fake knows only its own prefixes), without `lost` unless asked.
pub fn select(routes: Vec<Route>, query: &RibQuery) -> Result<Vec<Route>, ApiError> {
    let mut selected: Vec<Route> = routes
        .into_iter()
        .filter(|route| match query.family {
            Some(AddressFamily::Ipv4) => !route.prefix.contains(':'),
            Some(AddressFamily::Ipv6) => route.prefix.contains(':'),
            None => true,
        })
        .filter(|route| match &query.prefix {
            Some(prefix) => &route.prefix == prefix,
            None => true,
        })
        .collect();
    if let Some(prefix) = &query.prefix {
        if selected.is_empty() {
            return Err(ApiError::NotFound(format!("no route for {prefix}")));
        }
    }
    if !query.explain {
        for path in selected.iter_mut().flat_map(|r| r.paths.iter_mut()) {
            path.lost = None;
        }
    }
    Ok(selected)
}

fn known(neighbor: IpAddr) -> Result<(), ApiError> {
    if neighbors().iter().any(|n| n.address == neighbor) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no neighbor {neighbor}")))
    }
}

/// A running fake: the actions it was asked to do, in order.
#[derive(Debug, Clone, Default)]
pub struct FakeRib {
    actions: Arc<Mutex<Vec<(IpAddr, NeighborAction)>>>,
}

impl FakeRib {
    /// The actions received so far.
    pub fn actions(&self) -> Vec<(IpAddr, NeighborAction)> {
        self.actions
            .lock()
            .map(|actions| actions.clone())
            .unwrap_or_default()
    }
}

/// Answers every request on `requests` with the fixed data until the
/// channel closes.
pub fn spawn(mut requests: mpsc::Receiver<ApiRequest>) -> (FakeRib, JoinHandle<()>) {
    let fake = FakeRib::default();
    let recorder = fake.clone();
    let task = tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            // A dropped reply (the client went) is not the fake's concern.
            let _ = match request {
                ApiRequest::Status(reply) => reply.send(Ok(status())).map_err(drop),
                ApiRequest::Neighbors(reply) => reply.send(Ok(neighbors())).map_err(drop),
                ApiRequest::Neighbor(address, reply) => {
                    let found = neighbors()
                        .into_iter()
                        .find(|n| n.address == address)
                        .ok_or_else(|| ApiError::NotFound(format!("no neighbor {address}")));
                    reply.send(found).map_err(drop)
                }
                ApiRequest::Rib(query, reply) => reply.send(select(routes(), &query)).map_err(drop),
                ApiRequest::RibIn(neighbor, query, reply) => {
                    let answer = known(neighbor).and_then(|()| {
                        let received = routes()
                            .into_iter()
                            .filter_map(|mut route| {
                                route.paths.retain(|p| p.from == Some(neighbor));
                                (!route.paths.is_empty()).then_some(route)
                            })
                            .collect();
                        select(received, &query)
                    });
                    reply.send(answer).map_err(drop)
                }
                ApiRequest::RibOut(neighbor, query, reply) => {
                    let answer = known(neighbor).and_then(|()| {
                        let advertised = routes()
                            .into_iter()
                            .filter(|route| route.paths.first().is_some_and(|p| p.from.is_none()))
                            .collect();
                        select(advertised, &query)
                    });
                    reply.send(answer).map_err(drop)
                }
                ApiRequest::Fib(reply) => reply.send(Ok(fib())).map_err(drop),
                ApiRequest::Action(neighbor, action, reply) => {
                    let answer = known(neighbor).map(|()| {
                        if let Ok(mut actions) = recorder.actions.lock() {
                            actions.push((neighbor, action));
                        }
                    });
                    reply.send(answer).map_err(drop)
                }
            };
        }
    });
    (fake, task)
}
