//! manygil's pure-Rust core: everything that crosses between CPython interpreters, with no
//! CPython in sight.
//!
//! - [`value`]: [`Value`], the owned tree that carries Python data between interpreters.
//! - [`worker`]: a worker thread's inbox, jobs and completion slots (the scheduler's parts).
//! - [`queue`]: multi-producer multi-consumer queues with blocking, timeouts and close.
//! - [`buffer`]: [`buffer::SharedMemory`], fixed-size byte memory shared by every interpreter.
//! - [`sync`]: locks, semaphores, events, conditions, barriers and atomic integers.
//! - [`cache`]: a key-value cache shared by every interpreter, with expiry and an LRU bound.
//!
//! The CPython glue (`manygil-python`) wraps these types; nothing here depends on Python, so
//! the crate builds and tests with `cargo test` alone.

pub mod buffer;
pub mod cache;
pub mod queue;
mod shim;
pub mod sync;
pub mod value;
pub mod waits;
pub mod worker;

pub use value::Value;
