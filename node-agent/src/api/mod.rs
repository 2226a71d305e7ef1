//! The local API: an HTTP/JSON service on a Unix socket (and optionally a
//! TCP address) that `twillctl` talks to.
//!
//! - [`model`]: the JSON schema.
//! - [`request`]: how the API asks the RIB task, which alone owns the
//!   state, for answers (a bounded channel of requests with one-shot
//!   replies).
//! - [`server`]: the listeners ([`serve`]); [`routes`]: the endpoints.
//! - [`fake`]: a stand-in RIB task with fixed answers, for tests and for
//!   trying `twillctl` without a speaker.

pub mod fake;
pub mod model;
pub mod request;
pub mod routes;
pub mod server;

pub use server::{serve, ApiServer, ServeError};
