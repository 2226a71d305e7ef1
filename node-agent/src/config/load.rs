//! Reading the YAML document.
//!
//! The YAML crate is `serde-saphyr` (see `docs/configuration.md`): a pure
//! Rust parser that does not panic on bad input, limits aliases and nesting
//! (no "billion laughs"), refuses duplicate keys, and reports the line and
//! column of every error.

use std::path::Path;

use super::error::{ConfigError, ConfigErrors};
use super::types::Config;
use super::valid::ValidConfig;
use super::validate::validate;

/// Parse a YAML document into a [`Config`] without validating it. A
/// document that is not YAML, or does not fit the types (an unknown field,
/// a missing one, a string for a number), gives one error located by line
/// and column.
pub fn parse_yaml(text: &str) -> Result<Config, ConfigError> {
    serde_saphyr::from_str::<Config>(text).map_err(|e| yaml_error(&e))
}

/// Parse and validate a YAML document.
pub fn from_yaml(text: &str) -> Result<ValidConfig, ConfigErrors> {
    validate(parse_yaml(text)?)
}

/// Read, parse and validate the configuration file at `path`.
pub fn load(path: &Path) -> Result<ValidConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path.display().to_string(), format!("cannot read: {e}")))?;
    from_yaml(&text).map_err(|mut errs| {
        for e in &mut errs.0 {
            if e.path.starts_with("line ") {
                e.path = format!("{} {}", path.display(), e.path);
            }
        }
        errs
    })
}

/// The parser's error as `line L column C: message`.
fn yaml_error(e: &serde_saphyr::Error) -> ConfigError {
    let plain = e.without_snippet().to_string();
    let Some(l) = e.location() else {
        return ConfigError::new("document", plain.trim_end());
    };
    let at = format!("line {} column {}", l.line(), l.column());
    let suffix = format!(" at line {}, column {}", l.line(), l.column());
    let mut reason = plain.trim_end().strip_suffix(&suffix).unwrap_or(&plain);
    // The parser's hint names its own API, which means nothing to an
    // operator.
    if let Some((msg, _)) = reason.split_once(", set DuplicateKeyPolicy") {
        reason = msg;
    }
    ConfigError::new(at, reason)
}
