//! The local API: an HTTP/JSON service on a Unix socket (and optionally a
//! TCP address) that `twillctl` talks to.
//!
//! - [`model`]: the JSON schema.
//! - [`request`]: how the API asks the RIB task, which alone owns the
//!   state, for answers (a bounded channel of requests with one-shot
//!   replies).

pub mod model;
pub mod request;
