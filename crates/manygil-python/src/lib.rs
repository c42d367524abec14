//! manygil's CPython glue, written on `pyo3-ffi` (PyO3's module machinery cannot load in
//! own-GIL sub-interpreters).
//!
//! - [`Worker`]: the Rust API: an own-GIL interpreter on its own thread, driven from Rust.
//! - `module`: the `manygil._native` extension module (imports in every interpreter).
//! - `interp`: interpreter lifecycle on worker threads, jobs, interrupts, the registry.
//! - `codec`: Python objects ⇄ [`Value`].
//! - `ffi`: the only module that touches the C-API directly.
//!
//! Invariants held throughout:
//! - No `PyObject*` is reachable from another interpreter: data crosses as [`Value`].
//! - A thread state is used only on the thread that created it; `PyGILState_*` is never
//!   called.
//! - Interpreters are created and ended under one process-wide mutex, never while a GIL is
//!   held; each is ended on the thread that created it.
//! - Every `extern "C"` entry catches panics.

mod codec;
mod ffi;
mod interp;
mod module;
mod pool;

pub use interp::{Error, RemoteError, Worker};
pub use manygil_core::Value;
