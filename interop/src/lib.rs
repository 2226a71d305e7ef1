//! Interop harness: labs of network namespaces with real BGP daemons.
//!
//! Not built yet: see the open "Interop suite" issue.
#![forbid(unsafe_code)]
