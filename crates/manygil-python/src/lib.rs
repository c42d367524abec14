//! manygil's CPython glue, written on `pyo3-ffi` (PyO3's module machinery cannot load in
//! own-GIL sub-interpreters).
//!
//! Folders, each depending only on those listed before it (a lower folder never reaches
//! up; `docs/design.md` draws the picture):
//!
//! - `ffi`: the C-API gate, the only folder that names `pyo3_ffi`: attach tokens, owned
//!   and borrowed references, operations on objects and builtin values, errors, all
//!   thread-state switching, the native-type kit, module state, entry points (panics
//!   caught), argument parsing. Outside it, safe functions never take a raw `PyObject*`.
//! - `runtime`: process-wide facts: the main thread, main-interpreter references held by
//!   Rust.
//! - `handles`: the shared handle types (SharedBuffer; in `sync/`: Lock, RLock, Semaphore,
//!   Event, Condition, Barrier, AtomicInt), their encode/decode, module state, manygil's
//!   exception types, the blocking-wait policy.
//! - `codec`: Python objects ⇄ [`Value`].
//! - `queue`: `manygil.Queue`, the handle that carries values (so it sits above the codec).
//! - `interp`: interpreters on worker threads, jobs, interrupts, `PendingCall`, the
//!   interpreter functions of the module, the fork guard, and the Rust [`Worker`] API.
//! - `pool`: the executor core behind `manygil.Pool`.
//! - `serve`: `manygil serve`'s servers and the requests that threads of worker
//!   interpreters answer (the HTTP front itself is the `manygil-serve` crate).
//! - `module`: the `manygil._native` module definition, slots and method table.
//! - `embed`: the Rust API for programs that embed CPython ([`Runtime`], [`Pool`],
//!   [`Task`]): the same pool engine, replies into Rust completion slots.
//!
//! Invariants held throughout:
//! - No `PyObject*` is reachable from another interpreter: data crosses as [`Value`].
//! - A thread state is used only on the thread that created it; `PyGILState_*` is never
//!   called.
//! - Interpreters are created and ended under one process-wide mutex, never while a GIL is
//!   held; each is ended on the thread that created it.
//! - Every `extern "C"` entry catches panics (`ffi::entry`).

mod codec;
mod embed;
mod ffi;
mod handles;
mod interp;
mod module;
mod pool;
mod queue;
mod runtime;
mod serve;

pub use embed::{buffer, buffer_read_only, Call, Pool, Runtime, Task};
pub use interp::{Error, RemoteError, Worker};
pub use manygil_core::buffer::SharedMemory;
pub use manygil_core::Value;
