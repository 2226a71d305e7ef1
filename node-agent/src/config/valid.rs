//! A configuration that passed validation, with what validation computed:
//! compiled policies, originated routes, TCP MD5 keys.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ribs::policy::Policy;
use ribs::{PathAttrs, Prefix};

use super::neighbor::Neighbor;
use super::types::Config;

/// A TCP MD5 key (RFC 2385) read from `password` or `password_file`. Its
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Key(pub(crate) Vec<u8>);

impl Md5Key {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Key(<redacted>)")
    }
}

/// A validated configuration. Only [`super::validate`] builds one, so
/// everything it holds is known to be consistent: every policy a neighbour
/// names exists, every prefix parsed, every password file was read.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub(crate) config: Config,
    /// Compiled policies by name, with the built-in `accept-all` and
    /// `reject-all`.
    pub(crate) policies: BTreeMap<String, Policy>,
    /// TCP MD5 keys by neighbour address.
    pub(crate) keys: BTreeMap<IpAddr, Md5Key>,
    /// Originated routes, in document order.
    pub(crate) originated: Vec<(Prefix, PathAttrs)>,
}

impl ValidConfig {
    /// The document as written.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The neighbour with this address.
    pub fn neighbor(&self, address: IpAddr) -> Option<&Neighbor> {
        self.config.neighbors.iter().find(|n| n.address == address)
    }

    /// The compiled policy with this name (including `accept-all` and
    /// `reject-all`).
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// All compiled policies by name.
    pub fn policies(&self) -> &BTreeMap<String, Policy> {
        &self.policies
    }

    /// The TCP MD5 key of the neighbour with this address, if it has one.
    pub fn md5_key(&self, address: IpAddr) -> Option<&Md5Key> {
        self.keys.get(&address)
    }

    /// The routes to originate (`Rib::originate`): prefix and attributes
    /// (ORIGIN IGP, empty AS_PATH, next hop ourselves, the configured
    /// communities, MED and LOCAL_PREF).
    pub fn originated(&self) -> &[(Prefix, PathAttrs)] {
        &self.originated
    }

    /// The families of a neighbour's session: its `families`, or its
    /// address's own family when none are listed.
    pub fn families(&self, neighbor: &Neighbor) -> Vec<super::FamilyConfig> {
        if neighbor.families.is_empty() {
            vec![super::FamilyConfig {
                family: super::AfiSafi::of(neighbor.address),
                extended_next_hop: false,
                add_path: super::AddPathMode::None,
                add_path_send_max: None,
            }]
        } else {
            neighbor.families.clone()
        }
    }
}
