//! The configuration: parsing (exact values), every validation error
//! (exact messages), conversion to the RIB's and FSM's types, and the
//! reload difference.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use node_agent::config::{
    self, AddPathMode, AfiSafi, Api, Config, Decision, FamilyConfig, Fib, GracefulRestart, Listen,
    LogFormat, LogLevel, Logging, MatchDef, MaxPrefix, MaxPrefixAction, Metrics, Neighbor,
    Originate, Password, PolicyAction, PolicyDef, PrefixListDef, PrefixRange, Prepend, RouteSource,
    SetDef, TermAction, TermDef, Timers, ValidConfig,
};

const EXAMPLE: &str = include_str!("../../deploy/examples/twill-agent.yaml");
const EXAMPLE_KEY_PATH: &str = "/etc/twill/tor-a.key";

/// A file under the system temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// A new temporary file (one per call: tests run in parallel).
fn temp_file(name: &str, content: &[u8]) -> TempFile {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("twill-config-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, content).expect("write temporary file");
    TempFile(path)
}

/// The example with its password file replaced by a temporary one (which
/// lives as long as the returned guard).
fn example_text(key_name: &str, key: &[u8]) -> (String, TempFile) {
    let key_file = temp_file(key_name, key);
    let text = EXAMPLE.replace(EXAMPLE_KEY_PATH, key_file.to_str().expect("utf-8 path"));
    (text, key_file)
}

fn example() -> ValidConfig {
    let (text, _key) = example_text("example.key", b"tor-a-key\n");
    match config::from_yaml(&text) {
        Ok(c) => c,
        Err(e) => panic!("the example does not validate:\n{e}"),
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn range(prefix: &str, ge: Option<u8>, le: Option<u8>) -> PrefixRange {
    PrefixRange {
        prefix: prefix.to_owned(),
        ge,
        le,
    }
}

/// A neighbour with every field at its default.
fn neighbor(address: &str, asn: u32) -> Neighbor {
    Neighbor {
        address: ip(address),
        asn,
        description: None,
        port: 179,
        passive: false,
        multihop_ttl: None,
        gtsm: false,
        password: None,
        password_file: None,
        source_address: None,
        timers: Timers {
            hold: 90,
            keepalive: None,
            connect_retry: 120,
            delay_open: None,
        },
        graceful_restart: GracefulRestart {
            enabled: false,
            restart_time: 120,
            stale_time: 360,
        },
        families: vec![],
        import_policy: None,
        export_policy: None,
        route_reflector_client: false,
        next_hop_self: false,
        soft_reconfiguration_inbound: false,
        allowas_in: 0,
        max_prefix: None,
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn minimal_document_takes_every_default() {
    let c = config::parse_yaml("local_asn: 64512\nrouter_id: 198.18.0.10\n").expect("parses");
    assert_eq!(
        c,
        Config {
            local_asn: 64512,
            router_id: v4("198.18.0.10"),
            cluster_id: None,
            listen: Listen {
                addresses: vec![ip("0.0.0.0"), ip("::")],
                port: 179,
            },
            decision: Decision {
                always_compare_med: false,
                med_missing_as_worst: false,
                max_paths_ebgp: 1,
                max_paths_ibgp: 1,
                as_path_relax: false,
                local_pref_default: 100,
            },
            neighbors: vec![],
            prefix_lists: vec![],
            policies: vec![],
            originate: vec![],
            fib: Fib {
                install: true,
                table: 254,
                protocol: 84,
                keep_on_exit: true,
                next_hop_check: None,
            },
            api: Api {
                socket: PathBuf::from("/run/twill/twill-agent.sock"),
                tcp: None,
            },
            metrics: Metrics { address: None },
            logging: Logging {
                level: LogLevel::Info,
                format: LogFormat::Human,
            },
        }
    );
    let v = config::validate(c).expect("validates");
    assert_eq!(
        v.policies().keys().collect::<Vec<_>>(),
        ["accept-all", "reject-all"]
    );
}

#[test]
fn a_neighbor_with_only_address_and_asn_takes_every_default() {
    let c = config::parse_yaml(
        "local_asn: 64512\nrouter_id: 198.18.0.10\nneighbors:\n  - address: 198.18.0.1\n    asn: 65001\n",
    )
    .expect("parses");
    assert_eq!(c.neighbors, vec![neighbor("198.18.0.1", 65001)]);
}

#[test]
fn the_example_file_parses_to_exactly_these_values() {
    let (text, key_file) = example_text("exact.key", b"k\n");
    let c = config::parse_yaml(&text).expect("parses");
    let tor_a = Neighbor {
        description: Some("tor-a".into()),
        gtsm: true,
        password_file: Some(key_file.to_path_buf()),
        source_address: Some(ip("198.18.0.10")),
        timers: Timers {
            hold: 9,
            keepalive: Some(3),
            connect_retry: 5,
            delay_open: Some(2),
        },
        graceful_restart: GracefulRestart {
            enabled: true,
            restart_time: 120,
            stale_time: 360,
        },
        families: vec![FamilyConfig {
            family: AfiSafi::Ipv4Unicast,
            extended_next_hop: false,
            add_path: AddPathMode::None,
            add_path_send_max: None,
        }],
        import_policy: Some("from-tor".into()),
        export_policy: Some("to-tor".into()),
        soft_reconfiguration_inbound: true,
        max_prefix: Some(MaxPrefix {
            limit: 10000,
            action: MaxPrefixAction::Restart,
            restart_after: Some(60),
        }),
        ..neighbor("198.18.0.1", 65001)
    };
    let tor_b = Neighbor {
        description: Some("tor-b".into()),
        multihop_ttl: Some(2),
        password: Some(Password("s3cret".into())),
        families: vec![
            FamilyConfig {
                family: AfiSafi::Ipv6Unicast,
                extended_next_hop: false,
                add_path: AddPathMode::Receive,
                add_path_send_max: None,
            },
            FamilyConfig {
                family: AfiSafi::Ipv4Unicast,
                extended_next_hop: true,
                add_path: AddPathMode::None,
                add_path_send_max: None,
            },
        ],
        import_policy: Some("from-tor".into()),
        export_policy: Some("to-tor".into()),
        max_prefix: Some(MaxPrefix {
            limit: 10000,
            action: MaxPrefixAction::Warn,
            restart_after: None,
        }),
        ..neighbor("fd00:198:18::1", 65002)
    };
    let node_2 = Neighbor {
        description: Some("node-2".into()),
        passive: true,
        route_reflector_client: true,
        next_hop_self: true,
        import_policy: Some("accept-all".into()),
        ..neighbor("198.18.0.20", 64512)
    };
    let expected = Config {
        local_asn: 64512,
        router_id: v4("198.18.0.10"),
        cluster_id: Some(v4("198.18.0.10")),
        listen: Listen {
            addresses: vec![ip("0.0.0.0"), ip("::")],
            port: 179,
        },
        decision: Decision {
            always_compare_med: false,
            med_missing_as_worst: false,
            max_paths_ebgp: 4,
            max_paths_ibgp: 1,
            as_path_relax: true,
            local_pref_default: 100,
        },
        neighbors: vec![tor_a, tor_b, node_2],
        prefix_lists: vec![
            PrefixListDef {
                name: "pod-cidrs".into(),
                entries: vec![
                    range("198.18.128.0/17", Some(24), Some(32)),
                    range("fd00:198:18:8000::/49", Some(64), None),
                ],
            },
            PrefixListDef {
                name: "default-route".into(),
                entries: vec![range("0.0.0.0/0", None, None), range("::/0", None, None)],
            },
        ],
        policies: vec![
            PolicyDef {
                name: "from-tor".into(),
                default_action: PolicyAction::Reject,
                terms: vec![
                    TermDef {
                        name: Some("default-only".into()),
                        conditions: MatchDef {
                            prefix_list: Some("default-route".into()),
                            ..MatchDef::default()
                        },
                        set: SetDef {
                            local_pref: Some(200),
                            ..SetDef::default()
                        },
                        action: TermAction::Accept,
                    },
                    TermDef {
                        name: Some("tag-the-rest".into()),
                        conditions: MatchDef {
                            communities: strings(&["65001:100"]),
                            as_path_contains: Some(65001),
                            ..MatchDef::default()
                        },
                        set: SetDef {
                            add_communities: strings(&["64512:1"]),
                            ..SetDef::default()
                        },
                        action: TermAction::Continue,
                    },
                    TermDef {
                        name: None,
                        conditions: MatchDef {
                            prefixes: vec![range("198.18.64.0/18", None, Some(24))],
                            ..MatchDef::default()
                        },
                        set: SetDef::default(),
                        action: TermAction::Accept,
                    },
                ],
            },
            PolicyDef {
                name: "to-tor".into(),
                default_action: PolicyAction::Reject,
                terms: vec![
                    TermDef {
                        name: Some("pods".into()),
                        conditions: MatchDef {
                            prefix_list: Some("pod-cidrs".into()),
                            source: Some(RouteSource::Local),
                            ..MatchDef::default()
                        },
                        set: SetDef {
                            local_pref: None,
                            med: Some(10),
                            clear_communities: false,
                            remove_communities: strings(&["no-export"]),
                            add_communities: strings(&["64512:100"]),
                            remove_large_communities: strings(&["64512:0:0"]),
                            add_large_communities: strings(&["64512:1:1"]),
                            prepend: Some(Prepend {
                                asn: Some(64512),
                                count: 2,
                            }),
                            next_hop: Some("self".into()),
                        },
                        action: TermAction::Accept,
                    },
                    TermDef {
                        name: Some("from-node-2".into()),
                        conditions: MatchDef {
                            prefix_list: None,
                            prefixes: vec![],
                            communities: vec![],
                            large_communities: strings(&["64512:2:2"]),
                            as_path_contains: None,
                            as_path_originated_by: Some(64512),
                            as_path_neighbor: Some(64512),
                            neighbor: Some(ip("198.18.0.20")),
                            neighbor_asn: Some(64512),
                            source: Some(RouteSource::Ibgp),
                            family: Some(AfiSafi::Ipv4Unicast),
                            next_hop_in: Some("198.18.0.0/24".into()),
                        },
                        set: SetDef::default(),
                        action: TermAction::Accept,
                    },
                ],
            },
        ],
        originate: vec![
            Originate {
                prefix: "198.18.128.0/24".into(),
                communities: strings(&["64512:100", "no-export"]),
                large_communities: strings(&["64512:1:2"]),
                med: Some(0),
                local_pref: Some(100),
                unreachable: false,
            },
            Originate {
                prefix: "fd00:198:18:8000::/64".into(),
                communities: vec![],
                large_communities: vec![],
                med: None,
                local_pref: None,
                unreachable: false,
            },
        ],
        fib: Fib {
            install: true,
            table: 254,
            protocol: 84,
            keep_on_exit: true,
            next_hop_check: None,
        },
        api: Api {
            socket: PathBuf::from("/run/twill/twill-agent.sock"),
            tcp: Some(SocketAddr::from((v4("127.0.0.1"), 50179))),
        },
        metrics: Metrics {
            address: Some(SocketAddr::from((v4("127.0.0.1"), 9179))),
        },
        logging: Logging {
            level: LogLevel::Info,
            format: LogFormat::Human,
        },
    };
    assert_eq!(c, expected);
}

#[test]
fn the_example_file_validates_and_reads_its_keys() {
    let v = example();
    assert_eq!(
        v.md5_key(ip("198.18.0.1")).map(|k| k.as_bytes().to_vec()),
        Some(b"tor-a-key".to_vec()),
        "one trailing newline of the key file is dropped"
    );
    assert_eq!(
        v.md5_key(ip("fd00:198:18::1"))
            .map(|k| k.as_bytes().to_vec()),
        Some(b"s3cret".to_vec())
    );
    assert_eq!(v.md5_key(ip("198.18.0.20")), None);
    assert_eq!(
        v.policies().keys().collect::<Vec<_>>(),
        ["accept-all", "from-tor", "reject-all", "to-tor"]
    );
}

#[test]
fn secrets_are_not_in_debug_output() {
    let v = example();
    let shown = format!("{v:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("tor-a-key"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn load_reads_a_file_and_names_it_in_yaml_errors() {
    let (text, _key) = example_text("load.key", b"k");
    let path = temp_file("load.yaml", text.as_bytes());
    let v = config::load(&path).expect("loads");
    assert_eq!(v.config().local_asn, 64512);

    let bad = temp_file(
        "bad.yaml",
        b"local_asn: 1\nrouter_id: 198.18.0.1\nbogus: 1\n",
    );
    let e = config::load(&bad).expect_err("unknown field");
    assert_eq!(e.errors().len(), 1);
    assert_eq!(
        e.errors()[0].path,
        format!("{} line 3 column 1", bad.display())
    );

    let missing = std::env::temp_dir().join("twill-config-does-not-exist.yaml");
    let e = config::load(&missing).expect_err("no file");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

// ------------------------------------------------------------- validation

const HEAD: &str = "local_asn: 64512\nrouter_id: 198.18.0.10\n";

/// The error lines of a document that must not validate.
fn errors(doc: &str) -> Vec<String> {
    match config::from_yaml(doc) {
        Ok(_) => panic!("validated, but should not have:\n{doc}"),
        Err(e) => {
            let lines: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
            assert_eq!(lines.len(), e.errors().len(), "one error per line");
            lines
        }
    }
}

/// [`errors`] of `HEAD` followed by `rest`.
fn errors_with(rest: &str) -> Vec<String> {
    errors(&format!("{HEAD}{rest}"))
}

/// The one error of `HEAD` + `rest`.
fn error_with(rest: &str) -> String {
    let e = errors_with(rest);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().expect("one error")
}

/// `HEAD` + one neighbour 198.18.0.1 AS 65001 with `extra` (indented
/// lines of the neighbour).
fn with_neighbor(extra: &str) -> String {
    error_with(&format!(
        "neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n{extra}"
    ))
}

#[test]
fn every_problem_is_reported_at_once_in_document_order() {
    let doc = "\
local_asn: 0
router_id: 0.0.0.0
neighbors:
  - address: 198.18.0.1
    asn: 65001
  - address: 198.18.0.2
    asn: 65002
    timers:
      hold: 2
  - address: 198.18.0.3
    asn: 0
    import_policy: nope
originate:
  - prefix: 198.18.1.1/24
";
    let e = errors(doc);
    assert_eq!(
        e,
        [
            "local_asn: 0 is not a valid AS number",
            "router_id: 0.0.0.0 is not a valid BGP Identifier: it must be non-zero (RFC 6286 §2.1)",
            "neighbors[1].timers.hold: 2 is neither 0 nor at least 3 seconds (RFC 4271 §4.2)",
            "neighbors[2].asn: 0 is not a valid AS number",
            "neighbors[2].import_policy: no policy named \"nope\"",
            "originate[0].prefix: 198.18.1.1/24 has host bits set (did you mean 198.18.1.0/24?)",
        ]
    );
}

#[test]
fn as_numbers_0_as_trans_and_reserved_are_refused() {
    assert_eq!(
        error_with("neighbors:\n  - address: 198.18.0.1\n    asn: 0\n"),
        "neighbors[0].asn: 0 is not a valid AS number"
    );
    assert_eq!(
        error_with("neighbors:\n  - address: 198.18.0.1\n    asn: 23456\n"),
        "neighbors[0].asn: 23456 is AS_TRANS, not a valid AS number (RFC 6793 §9)"
    );
    assert_eq!(
        error_with("neighbors:\n  - address: 198.18.0.1\n    asn: 4294967295\n"),
        "neighbors[0].asn: 4294967295 is a reserved AS number (RFC 7300)"
    );
    assert_eq!(
        errors("local_asn: 65535\nrouter_id: 198.18.0.10\n"),
        ["local_asn: 65535 is a reserved AS number (RFC 7300)"]
    );
}

#[test]
fn router_id_and_cluster_id_must_not_be_zero() {
    assert_eq!(
        errors("local_asn: 64512\nrouter_id: 0.0.0.0\ncluster_id: 0.0.0.0\n"),
        [
            "router_id: 0.0.0.0 is not a valid BGP Identifier: it must be non-zero (RFC 6286 §2.1)",
            "cluster_id: 0.0.0.0 is not a valid CLUSTER_ID: it must be non-zero",
        ]
    );
}

#[test]
fn listen_and_decision() {
    assert_eq!(
        errors_with("listen:\n  addresses: [198.18.0.10, 198.18.0.10]\n  port: 0\ndecision:\n  max_paths_ebgp: 0\n  max_paths_ibgp: 0\n"),
        [
            "listen.port: 0 is not a port to listen on",
            "listen.addresses[1]: 198.18.0.10 is already listed as listen.addresses[0]",
            "decision.max_paths_ebgp: 0 leaves no path: use 1 for no multipath",
            "decision.max_paths_ibgp: 0 leaves no path: use 1 for no multipath",
        ]
    );
}

#[test]
fn duplicate_neighbor_addresses() {
    assert_eq!(
        error_with("neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n  - address: 198.18.0.2\n    asn: 65002\n  - address: 198.18.0.1\n    asn: 65003\n"),
        "neighbors[2].address: 198.18.0.1 is also the address of neighbors[0]"
    );
}

#[test]
fn neighbor_address_port_ttl_gtsm_source() {
    assert_eq!(
        error_with("neighbors:\n  - address: 0.0.0.0\n    asn: 65001\n"),
        "neighbors[0].address: 0.0.0.0 is not a neighbour address"
    );
    assert_eq!(
        with_neighbor("    port: 0\n"),
        "neighbors[0].port: 0 is not a port to connect to"
    );
    assert_eq!(
        with_neighbor("    multihop_ttl: 0\n"),
        "neighbors[0].multihop_ttl: 0 would let no packet leave"
    );
    assert_eq!(
        with_neighbor("    multihop_ttl: 2\n    gtsm: true\n"),
        "neighbors[0].gtsm: gtsm and multihop_ttl are both set: GTSM sends with TTL 255 and \
         accepts only directly connected neighbours (RFC 5082)"
    );
    assert_eq!(
        with_neighbor("    source_address: fd00::1\n"),
        "neighbors[0].source_address: fd00::1 and the neighbour address 198.18.0.1 are of different families"
    );
    assert_eq!(
        error_with("listen:\n  addresses: []\nneighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    passive: true\n"),
        "neighbors[0].passive: the neighbour is passive but listen.addresses is empty: no \
         connection could ever be made"
    );
}

#[test]
fn timers() {
    assert_eq!(
        with_neighbor("    timers:\n      hold: 2\n"),
        "neighbors[0].timers.hold: 2 is neither 0 nor at least 3 seconds (RFC 4271 §4.2)"
    );
    assert_eq!(
        with_neighbor("    timers:\n      hold: 1\n"),
        "neighbors[0].timers.hold: 1 is neither 0 nor at least 3 seconds (RFC 4271 §4.2)"
    );
    assert_eq!(
        with_neighbor("    timers:\n      hold: 9\n      keepalive: 9\n"),
        "neighbors[0].timers.keepalive: 9 is not less than the hold time 9 (RFC 4271 §10)"
    );
    assert_eq!(
        with_neighbor("    timers:\n      hold: 0\n      keepalive: 3\n"),
        "neighbors[0].timers.keepalive: 3 with hold 0: no KEEPALIVE may be sent when the hold \
         time is 0 (RFC 4271 §4.4)"
    );
    assert_eq!(
        with_neighbor("    timers:\n      keepalive: 0\n"),
        "neighbors[0].timers.keepalive: 0 sends no KEEPALIVE, so the hold time 90 would expire"
    );
    assert_eq!(
        with_neighbor("    timers:\n      connect_retry: 0\n"),
        "neighbors[0].timers.connect_retry: 0 would retry without pause"
    );
    assert_eq!(
        with_neighbor("    timers:\n      delay_open: 0\n"),
        "neighbors[0].timers.delay_open: 0 is no delay: leave delay_open unset instead"
    );
    // Valid edge cases.
    for ok in [
        "hold: 0",
        "hold: 3",
        "hold: 0\n      keepalive: 0",
        "hold: 3\n      keepalive: 1",
    ] {
        let doc = format!(
            "{HEAD}neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    timers:\n      {ok}\n"
        );
        assert!(config::from_yaml(&doc).is_ok(), "{ok}");
    }
}

#[test]
fn passwords() {
    assert_eq!(
        with_neighbor("    password: a\n    password_file: /nonexistent/twill.key\n"),
        "neighbors[0].password_file: password and password_file are both set: choose one"
    );
    assert_eq!(
        with_neighbor("    password_file: /nonexistent/twill.key\n"),
        "neighbors[0].password_file: cannot read /nonexistent/twill.key: No such file or \
         directory (os error 2)"
    );
    assert_eq!(
        with_neighbor("    password: \"\"\n"),
        "neighbors[0].password: the key is empty"
    );
    let empty = temp_file("empty.key", b"\n");
    assert_eq!(
        with_neighbor(&format!("    password_file: {}\n", empty.display())),
        "neighbors[0].password_file: the key is empty"
    );
    let long = "x".repeat(81);
    assert_eq!(
        with_neighbor(&format!("    password: {long}\n")),
        "neighbors[0].password: the key is 81 bytes long; TCP MD5 keys are at most 80"
    );
    let crlf = temp_file("crlf.key", b"abc\r\n");
    let v = config::from_yaml(&format!(
        "{HEAD}neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    password_file: {}\n",
        crlf.display()
    ))
    .expect("valid");
    assert_eq!(
        v.md5_key(ip("198.18.0.1")).map(|k| k.as_bytes()),
        Some(&b"abc"[..])
    );
}

#[test]
fn graceful_restart_families_route_reflection() {
    assert_eq!(
        with_neighbor("    graceful_restart:\n      enabled: true\n      restart_time: 4096\n"),
        "neighbors[0].graceful_restart.restart_time: 4096 does not fit the capability's 12 bits \
         (at most 4095, RFC 4724 §3)"
    );
    assert_eq!(
        errors_with("neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    families:\n      - family: ipv4-unicast\n      - family: ipv6-unicast\n        extended_next_hop: true\n      - family: ipv4-unicast\n"),
        [
            "neighbors[0].families[1].extended_next_hop: extended next hop is for ipv4-unicast \
             routes with IPv6 next hops (RFC 8950), not ipv6-unicast",
            "neighbors[0].families[2].family: ipv4-unicast is already listed as families[0]",
        ]
    );
    assert_eq!(
        with_neighbor("    route_reflector_client: true\n"),
        "neighbors[0].route_reflector_client: route reflection is for iBGP neighbours (RFC 4456), \
         and AS 65001 is not local_asn 64512"
    );
}

#[test]
fn add_path_send_max_only_with_add_path_send() {
    let family = |add_path: &str, max: &str| {
        format!(
            "neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    families:\n      \
             - family: ipv4-unicast\n        add_path: {add_path}\n        \
             add_path_send_max: {max}\n"
        )
    };
    for mode in ["none", "receive"] {
        assert_eq!(
            error_with(&family(mode, "2")),
            format!(
                "neighbors[0].families[0].add_path_send_max: only with add_path send or both \
                 (ADD-PATH send, RFC 7911), and add_path is {mode}"
            )
        );
    }
    for max in ["0", "256"] {
        assert_eq!(
            error_with(&family("send", max)),
            format!(
                "neighbors[0].families[0].add_path_send_max: {max} is not 1 to 255: leave it \
                 out to send every path"
            )
        );
    }
    for mode in ["send", "both"] {
        for max in [1, 255] {
            let v = config::from_yaml(&format!("{HEAD}{}", family(mode, &max.to_string())))
                .expect(mode);
            assert_eq!(
                v.config().neighbors[0].families[0].add_path_send_max,
                Some(max)
            );
        }
    }
}

#[test]
fn unknown_policy_names() {
    assert_eq!(
        errors_with("neighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    import_policy: in\n    export_policy: out\n"),
        [
            "neighbors[0].import_policy: no policy named \"in\"",
            "neighbors[0].export_policy: no policy named \"out\"",
        ]
    );
}

#[test]
fn max_prefix() {
    assert_eq!(
        with_neighbor("    max_prefix:\n      limit: 0\n"),
        "neighbors[0].max_prefix.limit: 0 would refuse every prefix"
    );
    assert_eq!(
        with_neighbor("    max_prefix:\n      limit: 10\n      action: restart\n"),
        "neighbors[0].max_prefix.restart_after: required with action restart"
    );
    assert_eq!(
        with_neighbor("    max_prefix:\n      limit: 10\n      action: restart\n      restart_after: 0\n"),
        "neighbors[0].max_prefix.restart_after: 0 would restart the session at once: give at least 1 second"
    );
    assert_eq!(
        with_neighbor(
            "    max_prefix:\n      limit: 10\n      action: warn\n      restart_after: 5\n"
        ),
        "neighbors[0].max_prefix.restart_after: only used with action restart"
    );
}

#[test]
fn prefixes_host_bits_syntax_and_length() {
    assert_eq!(
        error_with("originate:\n  - prefix: 198.18.10.1/24\n"),
        "originate[0].prefix: 198.18.10.1/24 has host bits set (did you mean 198.18.10.0/24?)"
    );
    assert_eq!(
        error_with("originate:\n  - prefix: fd00::1/64\n"),
        "originate[0].prefix: fd00::1/64 has host bits set (did you mean fd00::/64?)"
    );
    assert_eq!(
        error_with("originate:\n  - prefix: 198.18.10.0\n"),
        "originate[0].prefix: \"198.18.10.0\" is not a prefix: expected ADDRESS/LENGTH"
    );
    assert_eq!(
        error_with("originate:\n  - prefix: 198.18.10.0/33\n"),
        "originate[0].prefix: \"198.18.10.0/33\" is not a prefix: the length must be 0 to 32"
    );
    assert_eq!(
        error_with("originate:\n  - prefix: 198.18.300.0/24\n"),
        "originate[0].prefix: \"198.18.300.0/24\" is not a prefix: \"198.18.300.0\" is not an IP address"
    );
    assert_eq!(
        error_with("originate:\n  - prefix: 198.18.10.0/24\n  - prefix: 198.18.10.0/24\n"),
        "originate[1].prefix: 198.18.10.0/24 is already originated by originate[0]"
    );
}

#[test]
fn communities() {
    assert_eq!(
        errors_with("originate:\n  - prefix: 198.18.10.0/24\n    communities: [\"65536:1\", no-such]\n    large_communities: [\"1:2\"]\n"),
        [
            "originate[0].communities[0]: \"65536:1\" is not a community: expected ASN:VALUE with \
             two numbers from 0 to 65535, or no-export, no-advertise, no-export-subconfed, \
             graceful-shutdown",
            "originate[0].communities[1]: \"no-such\" is not a community: expected ASN:VALUE with \
             two numbers from 0 to 65535, or no-export, no-advertise, no-export-subconfed, \
             graceful-shutdown",
            "originate[0].large_communities[0]: \"1:2\" is not a large community: expected \
             GLOBAL:LOCAL1:LOCAL2 with three numbers from 0 to 4294967295",
        ]
    );
}

#[test]
fn prefix_list_ge_le() {
    let doc = "prefix_lists:
  - name: l
    entries:
      - prefix: 198.18.0.0/24
        le: 33
      - prefix: 198.18.0.0/24
        ge: 16
      - prefix: 198.18.0.0/24
        ge: 28
        le: 26
      - prefix: fd00::/8
        ge: 129
      - prefix: 198.18.0.0/24
        le: 16
      - prefix: 198.18.0.0/24
        ge: 24
        le: 32
";
    assert_eq!(
        errors_with(doc),
        [
            "prefix_lists[0].entries[0].le: 33 is longer than an IPv4 prefix (32 bits)",
            "prefix_lists[0].entries[1].ge: 16 is shorter than the prefix length 24",
            "prefix_lists[0].entries[2].ge: 28 is greater than le 26: the entry would match nothing",
            "prefix_lists[0].entries[3].ge: 129 is longer than an IPv6 prefix (128 bits)",
            "prefix_lists[0].entries[4].le: 16 is shorter than the prefix length 24",
        ]
    );
}

#[test]
fn policy_and_prefix_list_names() {
    let doc = "neighbors:
  - address: 198.18.0.1
    asn: 65001
prefix_lists:
  - name: l
    entries: []
  - name: l
    entries: []
  - name: \"\"
    entries: []
policies:
  - name: accept-all
  - name: p
    terms:
      - name: t
        action: accept
      - name: t
        action: accept
      - match:
          prefix_list: nope
        action: accept
      - match:
          prefix_list: l
          prefixes:
            - prefix: 198.18.0.0/24
        action: accept
  - name: p
  - name: \"\"
";
    assert_eq!(
        errors_with(doc),
        [
            "prefix_lists[1].name: \"l\" is also the name of prefix_lists[0]",
            "prefix_lists[2].name: the name is empty",
            "policies[0].name: \"accept-all\" is a built-in policy",
            "policies[1].terms[1].name: \"t\" is also the name of terms[0]",
            "policies[1].terms[2].match.prefix_list: no prefix list named \"nope\"",
            "policies[1].terms[3].match.prefixes: prefix_list and prefixes are both set: choose one",
            "policies[2].name: \"p\" is also the name of policies[1]",
            "policies[3].name: the name is empty",
        ]
    );
}

#[test]
fn policy_matches_and_actions() {
    let doc = "neighbors:
  - address: 198.18.0.1
    asn: 65001
policies:
  - name: p
    terms:
      - match:
          communities: [\"x\"]
          large_communities: [\"1:2:x\"]
          as_path_contains: 0
          as_path_originated_by: 23456
          as_path_neighbor: 4294967295
          neighbor_asn: 0
          neighbor: 198.18.0.9
          next_hop_in: 198.18.0.1/24
        set:
          remove_communities: [\"1\"]
          add_communities: [\"1:x\"]
          remove_large_communities: [\"a\"]
          add_large_communities: [\"1:2:3:4\"]
          prepend:
            asn: 0
            count: 33
          next_hop: myself
        action: accept
      - set:
          prepend:
            count: 0
        action: reject
";
    let e = errors_with(doc);
    let p = "policies[0].terms[0]";
    assert_eq!(
        e,
        [
            format!("{p}.match.communities[0]: \"x\" is not a community: expected ASN:VALUE with two numbers from 0 to 65535, or no-export, no-advertise, no-export-subconfed, graceful-shutdown"),
            format!("{p}.match.large_communities[0]: \"1:2:x\" is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with three numbers from 0 to 4294967295"),
            format!("{p}.match.as_path_contains: 0 is not a valid AS number"),
            format!("{p}.match.as_path_originated_by: 23456 is AS_TRANS, not a valid AS number (RFC 6793 §9)"),
            format!("{p}.match.as_path_neighbor: 4294967295 is a reserved AS number (RFC 7300)"),
            format!("{p}.match.neighbor_asn: 0 is not a valid AS number"),
            format!("{p}.match.neighbor: 198.18.0.9 is not the address of a configured neighbour"),
            format!("{p}.match.next_hop_in: 198.18.0.1/24 has host bits set (did you mean 198.18.0.0/24?)"),
            format!("{p}.set.remove_communities[0]: \"1\" is not a community: expected ASN:VALUE with two numbers from 0 to 65535, or no-export, no-advertise, no-export-subconfed, graceful-shutdown"),
            format!("{p}.set.add_communities[0]: \"1:x\" is not a community: expected ASN:VALUE with two numbers from 0 to 65535, or no-export, no-advertise, no-export-subconfed, graceful-shutdown"),
            format!("{p}.set.remove_large_communities[0]: \"a\" is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with three numbers from 0 to 4294967295"),
            format!("{p}.set.add_large_communities[0]: \"1:2:3:4\" is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with three numbers from 0 to 4294967295"),
            format!("{p}.set.prepend.asn: 0 is not a valid AS number"),
            format!("{p}.set.prepend.count: 33 is not from 1 to 32"),
            format!("{p}.set.next_hop: \"myself\" is not a next hop: expected an IP address or self"),
            "policies[0].terms[1].set.prepend.count: 0 is not from 1 to 32".to_owned(),
        ]
    );
}

#[test]
fn fib_api_metrics() {
    assert_eq!(
        errors_with("fib:\n  table: 0\n  protocol: 12\napi:\n  socket: twill.sock\n  tcp: 127.0.0.1:0\nmetrics:\n  address: 127.0.0.1:0\n"),
        [
            "fib.table: 0 is not a routing table (RT_TABLE_UNSPEC)",
            "fib.protocol: 12 is the protocol number of bird: Twill replaces and flushes the routes \
             of its protocol number, so it needs one of its own",
            "api.socket: twill.sock is not an absolute path",
            "api.tcp: 127.0.0.1:0: port 0 is not a port to listen on",
            "metrics.address: 127.0.0.1:0: port 0 is not a port to listen on",
        ]
    );
    assert_eq!(
        error_with("fib:\n  table: 255\n"),
        "fib.table: 255 is the kernel's local table (RT_TABLE_LOCAL)"
    );
    for (proto, owner) in [
        (2, "kernel"),
        (4, "static"),
        (186, "FRR"),
        (198, "FRR"),
        (99, "openr"),
    ] {
        assert_eq!(
            error_with(&format!("fib:\n  protocol: {proto}\n")),
            format!("fib.protocol: {proto} is the protocol number of {owner}: Twill replaces and flushes the routes of its protocol number, so it needs one of its own")
        );
    }
    assert_eq!(
        error_with("api:\n  tcp: 127.0.0.1:9179\nmetrics:\n  address: 127.0.0.1:9179\n"),
        "metrics.address: 127.0.0.1:9179 is also api.tcp"
    );
    assert_eq!(
        error_with("metrics:\n  address: 127.0.0.1:179\n"),
        "metrics.address: 127.0.0.1:179 is also a BGP listen address"
    );
    for ok in [
        "fib:\n  table: 253\n  protocol: 5\n",
        "metrics:\n  address: \"[::1]:9179\"\n",
    ] {
        assert!(config::from_yaml(&format!("{HEAD}{ok}")).is_ok(), "{ok}");
    }
}

// ------------------------------------------------ errors from the YAML layer

fn yaml_error(doc: &str) -> config::ConfigError {
    config::parse_yaml(doc).expect_err("should not parse")
}

#[test]
fn unknown_fields_are_refused_with_line_and_column() {
    let e = yaml_error("local_asn: 64512\nrouter_id: 198.18.0.10\nneighbors:\n  - address: 198.18.0.1\n    asn: 65001\n    pasive: true\n");
    assert_eq!(e.path, "line 6 column 5");
    assert!(
        e.reason
            .starts_with("unknown field `pasive`, expected one of"),
        "{}",
        e.reason
    );
    let e = yaml_error("local_asn: 64512\nrouter_id: 198.18.0.10\nfib:\n  tabel: 10\n");
    assert_eq!(e.path, "line 4 column 3");
    assert!(
        e.reason.starts_with("unknown field `tabel`"),
        "{}",
        e.reason
    );
}

#[test]
fn type_errors_missing_fields_and_duplicate_keys_have_line_and_column() {
    let e = yaml_error("local_asn: 64512\nrouter_id: 198.18.0.10\nneighbors:\n  - address: 198.18.0.1\n    asn: -1\n");
    assert_eq!(e.to_string(), "line 5 column 10: invalid u32");
    let e = yaml_error(
        "local_asn: 64512\nrouter_id: 198.18.0.10\nneighbors:\n  - address: 198.18.0.1\n",
    );
    assert_eq!(e.to_string(), "line 4 column 5: missing field `asn`");
    let e = yaml_error("local_asn: 64512\nlocal_asn: 64513\nrouter_id: 198.18.0.10\n");
    assert_eq!(e.path, "line 2 column 1");
    assert!(
        e.reason.starts_with("duplicate mapping key: local_asn"),
        "{}",
        e.reason
    );
    let e = yaml_error("local_asn: 64512\nrouter_id: 198.18.0.x\n");
    assert_eq!(
        e.to_string(),
        "line 2 column 12: invalid IPv4 address syntax"
    );
    let e = yaml_error("router_id: 198.18.0.10\n");
    assert!(e.reason.contains("missing field `local_asn`"), "{e}");
    let e = yaml_error("local_asn: [1\n");
    assert_eq!(e.to_string(), "line 1 column 12: expected string scalar");
}
