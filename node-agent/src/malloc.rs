//! Tuning of the C library's allocator, glibc's malloc (mallopt(3)).
//!
//! The agent's large allocations are a few long-lived tables that grow by
//! doubling (the Loc-RIB's hash table, each Adj-RIB-Out's sorted store, the
//! FIB writer's tables) and short-lived lists as large (a full table's FIB
//! changes, a peer's routes when its session goes down). By default glibc
//! serves a block from a mapping of its own only above the mmap threshold,
//! and raises that threshold to the size of every such block freed (up to
//! 32 MiB on 64-bit): after the first table doubles, the later ones come
//! from the heap, where a freed block below a live one is never returned
//! to the kernel. Peak RSS with a full table then carries the dead copies.
//! A fixed threshold (which also turns the dynamic one off) keeps each
//! large block in its own mapping, unmapped when freed; a table that grows
//! is moved with mremap(2), not copied.
//!
//! glibc also gives each thread that contends for the allocator an arena
//! of its own (up to eight per core), each keeping the memory freed in it.
//! The agent's allocations are made by one RIB task and the session tasks
//! on a handful of runtime threads: one arena is enough, and on a host
//! with many cores keeps the footprint independent of the core count.
//!
//! The one module of the crate with `unsafe`: a single FFI call to
//! mallopt(3), which takes integers and touches no Rust memory.

#![allow(unsafe_code)]

/// Blocks of this size and above get a mapping of their own (glibc's
/// initial threshold, made fixed).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Sets the allocator's parameters; call first thing in `main`, before
/// any thread starts. A C library other than glibc is left alone.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::libc::{mallopt, M_ARENA_MAX, M_MMAP_THRESHOLD};
        // SAFETY: mallopt takes two integers and sets allocator
        // parameters, which glibc allows at any time; it is called before
        // any other thread exists. A refused value (return 0) leaves the
        // default, which is only less frugal.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            mallopt(M_ARENA_MAX, 1);
        }
    }
}
