//! What a reload changes: `config::diff` between two validated
//! configurations. Each case asserts the whole `ConfigChange`, so a change
//! that touched anything else would fail.

use std::net::IpAddr;

use node_agent::config::{
    self, diff, ConfigChange, GlobalReset, NeighborReset, NeighborUpdate, ResetCause, SoftChange,
    ValidConfig,
};
use ribs::Prefix;

const BASE: &str = "\
local_asn: 64512
router_id: 198.18.0.10
neighbors:
  - address: 198.18.0.1
    asn: 65001
    import_policy: in
    export_policy: out
  - address: 198.18.0.2
    asn: 65002
    import_policy: in
    export_policy: out
  - address: 198.18.0.3
    asn: 64512
prefix_lists:
  - name: pods
    entries:
      - prefix: 198.18.128.0/17
        ge: 24
policies:
  - name: in
    terms:
      - match:
          prefix_list: pods
        action: accept
  - name: out
    default_action: accept
originate:
  - prefix: 198.18.128.0/24
  - prefix: 198.18.129.0/24
";

fn valid(text: &str) -> ValidConfig {
    match config::from_yaml(text) {
        Ok(c) => c,
        Err(e) => panic!("does not validate:\n{e}\n---\n{text}"),
    }
}

/// The difference from `BASE` to `BASE` with `from` replaced by `to`.
fn change(from: &str, to: &str) -> ConfigChange {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    diff(&valid(BASE), &valid(&BASE.replacen(from, to, 1)))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn pfx(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

fn updated(address: &str, changes: &[SoftChange]) -> NeighborUpdate {
    NeighborUpdate {
        address: ip(address),
        changes: changes.to_vec(),
    }
}

fn reset(address: &str, causes: &[ResetCause]) -> NeighborReset {
    NeighborReset {
        address: ip(address),
        causes: causes.to_vec(),
    }
}

#[test]
fn the_same_configuration_changes_nothing() {
    let c = diff(&valid(BASE), &valid(BASE));
    assert!(c.is_empty(), "{c:#?}");
}

#[test]
fn adding_one_neighbor_changes_nothing_else() {
    let c = change(
        "prefix_lists:",
        "  - address: 198.18.0.4\n    asn: 65004\nprefix_lists:",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_added: vec![ip("198.18.0.4")],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn removing_one_neighbor_changes_nothing_else() {
    let c = change(
        "  - address: 198.18.0.2\n    asn: 65002\n    import_policy: in\n    export_policy: out\n",
        "",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_removed: vec![ip("198.18.0.2")],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn a_changed_address_is_a_removal_and_an_addition() {
    let c = change("address: 198.18.0.3", "address: 198.18.0.5");
    assert_eq!(
        c,
        ConfigChange {
            neighbors_added: vec![ip("198.18.0.5")],
            neighbors_removed: vec![ip("198.18.0.3")],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn a_changed_policy_definition_is_a_soft_change_for_its_users_only() {
    let c = change("      - match:\n          prefix_list: pods\n        action: accept", "      - match:\n          prefix_list: pods\n        set:\n          local_pref: 200\n        action: accept");
    assert_eq!(
        c,
        ConfigChange {
            neighbors_updated: vec![
                updated("198.18.0.1", &[SoftChange::ImportPolicy]),
                updated("198.18.0.2", &[SoftChange::ImportPolicy]),
            ],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn a_changed_prefix_list_reaches_the_policies_that_use_it() {
    let c = change("ge: 24", "ge: 25");
    assert_eq!(
        c,
        ConfigChange {
            neighbors_updated: vec![
                updated("198.18.0.1", &[SoftChange::ImportPolicy]),
                updated("198.18.0.2", &[SoftChange::ImportPolicy]),
            ],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn another_export_policy_for_one_neighbor_is_a_soft_change() {
    let c = change(
        "    asn: 65002\n    import_policy: in\n    export_policy: out",
        "    asn: 65002\n    import_policy: in\n    export_policy: reject-all",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_updated: vec![updated("198.18.0.2", &[SoftChange::ExportPolicy])],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn renaming_a_policy_with_the_same_terms_changes_nothing() {
    let text = BASE
        .replace("import_policy: in", "import_policy: inbound")
        .replace("  - name: in\n", "  - name: inbound\n");
    let c = diff(&valid(BASE), &valid(&text));
    assert!(c.is_empty(), "{c:#?}");
}

#[test]
fn soft_neighbor_settings_do_not_reset() {
    let c = change(
        "  - address: 198.18.0.3\n    asn: 64512\n",
        "  - address: 198.18.0.3\n    asn: 64512\n    description: node-3\n    passive: true\n    \
         route_reflector_client: true\n    next_hop_self: true\n    soft_reconfiguration_inbound: true\n    \
         allowas_in: 1\n    max_prefix:\n      limit: 100\n    timers:\n      connect_retry: 10\n      \
         delay_open: 5\n    graceful_restart:\n      stale_time: 100\n",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_updated: vec![updated(
                "198.18.0.3",
                &[
                    SoftChange::AllowasIn,
                    SoftChange::SoftReconfigurationInbound,
                    SoftChange::NextHopSelf,
                    SoftChange::RouteReflectorClient,
                    SoftChange::MaxPrefix,
                    SoftChange::Description,
                    SoftChange::Passive,
                    SoftChange::ConnectRetry,
                    SoftChange::DelayOpen,
                    SoftChange::StaleTime,
                ]
            )],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn session_settings_reset_that_neighbor_only() {
    let c = change(
        "  - address: 198.18.0.3\n    asn: 64512\n",
        "  - address: 198.18.0.3\n    asn: 64513\n    port: 1179\n    multihop_ttl: 3\n    \
         password: k\n    source_address: 198.18.0.10\n    timers:\n      hold: 30\n      keepalive: 10\n    \
         families:\n      - family: ipv4-unicast\n        add_path: both\n    \
         graceful_restart:\n      enabled: true\n",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_reset: vec![reset(
                "198.18.0.3",
                &[
                    ResetCause::Asn,
                    ResetCause::Port,
                    ResetCause::MultihopTtl,
                    ResetCause::Password,
                    ResetCause::SourceAddress,
                    ResetCause::HoldTime,
                    ResetCause::Keepalive,
                    ResetCause::Families,
                    ResetCause::GracefulRestart,
                ]
            )],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn a_reset_hides_the_soft_changes_of_the_same_neighbor() {
    let c = change(
        "  - address: 198.18.0.3\n    asn: 64512\n",
        "  - address: 198.18.0.3\n    asn: 64512\n    gtsm: true\n    description: x\n",
    );
    assert_eq!(
        c,
        ConfigChange {
            neighbors_reset: vec![reset("198.18.0.3", &[ResetCause::Gtsm])],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn add_path_send_max_is_not_in_the_open_and_only_re_exports() {
    let families = |max: &str| {
        format!(
            "  - address: 198.18.0.3\n    asn: 64512\n    families:\n      \
             - family: ipv4-unicast\n        add_path: send\n{max}"
        )
    };
    let old = BASE.replacen(
        "  - address: 198.18.0.3\n    asn: 64512\n",
        &families(""),
        1,
    );
    for max in ["        add_path_send_max: 2\n", ""] {
        let new = BASE.replacen(
            "  - address: 198.18.0.3\n    asn: 64512\n",
            &families(max),
            1,
        );
        let c = diff(&valid(&old), &valid(&new));
        let expected = if max.is_empty() {
            ConfigChange::default()
        } else {
            ConfigChange {
                neighbors_updated: vec![updated("198.18.0.3", &[SoftChange::AddPathSendMax])],
                ..ConfigChange::default()
            }
        };
        assert_eq!(c, expected, "{max:?}");
    }
}

#[test]
fn listing_the_default_family_explicitly_changes_nothing() {
    let c = change(
        "  - address: 198.18.0.3\n    asn: 64512\n",
        "  - address: 198.18.0.3\n    asn: 64512\n    families:\n      - family: ipv4-unicast\n",
    );
    assert!(c.is_empty(), "{c:#?}");
}

#[test]
fn a_changed_password_file_content_resets_the_session() {
    let key = std::env::temp_dir().join(format!("twill-config-diff-{}.key", std::process::id()));
    let text = BASE.replacen(
        "    asn: 65001\n",
        &format!("    asn: 65001\n    password_file: {}\n", key.display()),
        1,
    );
    std::fs::write(&key, b"one\n").expect("write key");
    let old = valid(&text);
    std::fs::write(&key, b"two\n").expect("write key");
    let new = valid(&text);
    std::fs::write(&key, b"two").expect("write key");
    let same = valid(&text);
    std::fs::remove_file(&key).expect("remove key");
    assert_eq!(
        diff(&old, &new),
        ConfigChange {
            neighbors_reset: vec![reset("198.18.0.1", &[ResetCause::Password])],
            ..ConfigChange::default()
        }
    );
    assert!(
        diff(&new, &same).is_empty(),
        "the trailing newline is not part of the key"
    );
}

#[test]
fn identity_and_decision_changes_reset_everything() {
    assert_eq!(
        change("router_id: 198.18.0.10", "router_id: 198.18.0.11"),
        ConfigChange {
            reset_all: vec![GlobalReset::RouterId],
            ..ConfigChange::default()
        }
    );
    assert_eq!(
        change(
            "router_id: 198.18.0.10\n",
            "router_id: 198.18.0.10\ncluster_id: 198.18.0.1\ndecision:\n  max_paths_ebgp: 2\n"
        ),
        ConfigChange {
            reset_all: vec![GlobalReset::ClusterId, GlobalReset::Decision],
            ..ConfigChange::default()
        }
    );
    // A new local AS also turns 198.18.0.3 from iBGP into eBGP; the global
    // reset covers it.
    let c = change("local_asn: 64512", "local_asn: 64513");
    assert_eq!(c.reset_all, vec![GlobalReset::LocalAsn]);
}

#[test]
fn originated_prefixes() {
    let c = change(
        "  - prefix: 198.18.128.0/24\n  - prefix: 198.18.129.0/24\n",
        "  - prefix: 198.18.128.0/24\n    communities: [no-export]\n  - prefix: 198.18.130.0/24\n",
    );
    assert_eq!(
        c,
        ConfigChange {
            originate_added: vec![pfx("198.18.130.0/24")],
            originate_removed: vec![pfx("198.18.129.0/24")],
            originate_changed: vec![pfx("198.18.128.0/24")],
            ..ConfigChange::default()
        }
    );
}

#[test]
fn services_each_their_own_flag() {
    let c = change(
        "originate:",
        "listen:\n  port: 1179\nfib:\n  table: 100\napi:\n  socket: /run/t.sock\nmetrics:\n  \
         address: 127.0.0.1:9179\nlogging:\n  format: json\noriginate:",
    );
    assert_eq!(
        c,
        ConfigChange {
            listen: true,
            fib: true,
            api: true,
            metrics: true,
            logging: true,
            ..ConfigChange::default()
        }
    );
}

#[test]
fn an_unreachable_route_turned_on_changes_only_that_prefix() {
    assert_eq!(
        change(
            "  - prefix: 198.18.129.0/24\n",
            "  - prefix: 198.18.129.0/24\n    unreachable: true\n"
        ),
        ConfigChange {
            originate_changed: vec![pfx("198.18.129.0/24")],
            ..ConfigChange::default()
        }
    );
}
