//! `manygil serve`'s glue: the servers of this process (HTTP front in `manygil-serve`),
//! and the requests that Python threads in worker interpreters are answering.
//!
//! The WSGI protocol itself lives in `manygil/_serve_worker.py`, running in each worker
//! interpreter; it calls the functions here (registered on `manygil._native` as
//! `serve_*`) to take a request with its environ, read its body, send the answer and mark
//! it done. Neither a server nor a request holds a Python object: both are plain Rust data,
//! reached by integer ids from any interpreter.
//!
//! - `entries`: the module functions' registration and their shared argument helpers.
//! - `servers`: the servers (bound, started and stopped from the main interpreter).
//! - `requests`: the requests worker threads take, read and answer.
//! - `environ`: the CGI part of the PEP 3333 environ.
//! - `interrupt`: interrupting the thread that runs a request past its deadline.
//! - `cache`: `CacheCore`, a process-wide named cache every worker shares.
//! - `access`: access-log lines handed to the main interpreter's `logging`.
//! - `inspect`: the requests in flight, for snapshots.
//! - `asgi`: ASGI workers' requests (scope, cancellations delivered to the event loop).
//! - `watch`: the file watchers of `--reload`.
//! - `websocket`: ASGI workers' WebSocket connections (accept, messages, wake-ups).

mod access;
mod asgi;
pub(crate) mod cache;
mod entries;
mod environ;
mod inspect;
mod interrupt;
mod requests;
mod servers;
mod watch;
mod websocket;

pub(crate) use entries::add_functions;
