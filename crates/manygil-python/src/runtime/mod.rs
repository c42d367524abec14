//! Process-wide facts every layer above may ask about, held as plain Rust data (never a
//! Python object):
//!
//! - `main_thread`: which OS thread is the main thread of the main interpreter.
//! - `main_ref`: reaching the main interpreter from a worker thread, and main-interpreter
//!   objects held by Rust (released only while the main interpreter is attached).
//! - `py_names`: the functions of the `manygil` Python package this crate calls by name.
//! - `worker_name`: the calling thread's worker thread name, if it is a worker thread.

pub(crate) mod main_ref;
pub(crate) mod main_thread;
pub(crate) mod py_names;
pub(crate) mod worker_name;
