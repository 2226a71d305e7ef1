//! Validation: every problem of a configuration, each named by its field
//! path and reason, and, when there is none, the [`ValidConfig`] with the
//! compiled policies, originated routes and TCP MD5 keys.
//!
//! Validation goes on after a problem, so that one run names them all. It
//! reads the password files (the only I/O here).

mod global;
mod neighbor;
mod policy;

use std::collections::BTreeMap;

use ribs::policy::Policy;

use super::error::ConfigErrors;
use super::types::Config;
use super::valid::ValidConfig;

/// The built-in policy that accepts every route unchanged.
pub const ACCEPT_ALL: &str = "accept-all";
/// The built-in policy that rejects every route.
pub const REJECT_ALL: &str = "reject-all";

/// Check `config` and compile it, or name every problem.
pub fn validate(config: Config) -> Result<ValidConfig, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    global::check(&config, &mut errors);
    let keys = neighbor::check_all(&config, &mut errors);
    let prefix_lists = policy::prefix_lists(&config, &mut errors);
    let mut policies: BTreeMap<String, Policy> =
        policy::policies(&config, &prefix_lists, &mut errors);
    policies.insert(ACCEPT_ALL.to_owned(), Policy::accept_all(ACCEPT_ALL));
    policies.insert(REJECT_ALL.to_owned(), Policy::reject_all(REJECT_ALL));
    let originated = global::originate(&config, &mut errors);
    global::check_services(&config, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidConfig {
        config,
        policies,
        keys,
        originated,
    })
}

/// Why `asn` cannot be an AS number, if it cannot.
pub(crate) fn asn_problem(asn: u32) -> Option<String> {
    match asn {
        0 => Some("0 is not a valid AS number".to_owned()),
        23456 => Some("23456 is AS_TRANS, not a valid AS number (RFC 6793 §9)".to_owned()),
        65535 | 4_294_967_295 => Some(format!("{asn} is a reserved AS number (RFC 7300)")),
        _ => None,
    }
}
