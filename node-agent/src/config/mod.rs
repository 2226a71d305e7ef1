//! The agent's configuration (standalone mode: a YAML file).
//!
//! ```text
//!  YAML text --load::parse_yaml--> Config --validate--> ValidConfig --convert--> RibConfig,
//!  (serde-saphyr:  line/column     (types.rs,   (every problem  (policies,      PeerConfig,
//!   errors)                         neighbor.rs, by path)        keys, routes)  fsm::Config
//!                                   policy.rs)                        |
//!                                                 diff(old, new) -----+--> ConfigChange (reload)
//! ```
//!
//! - [`types`], [`neighbor`], [`policy`]: the document, field for field
//!   (serde + `schemars::JsonSchema`, so the same types later serve as the
//!   specs of the Kubernetes resources).
//! - [`load`]: YAML to [`Config`].
//! - [`validate()`]: every problem as a [`ConfigError`] (`path: reason`), or a
//!   [`ValidConfig`].
//! - [`convert`]: [`ValidConfig`] to the RIB's and the FSM's types.
//! - [`diff()`]: what a reload changes.
//!
//! `docs/configuration.md` documents every field.

pub mod convert;
pub mod diff;
pub mod error;
pub mod load;
pub mod neighbor;
pub mod parse;
pub mod policy;
pub mod types;
pub mod valid;
pub mod validate;

pub use convert::RestartFlags;
pub use diff::{
    diff, ConfigChange, GlobalReset, NeighborReset, NeighborUpdate, ResetCause, SoftChange,
};
pub use error::{ConfigError, ConfigErrors};
pub use load::{from_yaml, load, parse_yaml};
pub use neighbor::{
    AddPathMode, AfiSafi, FamilyConfig, GracefulRestart, MaxPrefix, MaxPrefixAction, Neighbor,
    Password, Timers,
};
pub use policy::{
    MatchDef, PolicyAction, PolicyDef, PrefixListDef, PrefixRange, Prepend, RouteSource, SetDef,
    TermAction, TermDef,
};
pub use types::{
    Api, Config, Decision, Fib, Listen, LogFormat, LogLevel, Logging, Metrics, NextHopCheck,
    Originate, DEFAULT_API_SOCKET, DEFAULT_FIB_PROTOCOL,
};
pub use valid::{Md5Key, ValidConfig};
pub use validate::{validate, ACCEPT_ALL, REJECT_ALL};
