//! `manygil serve`'s glue: the servers of this process (HTTP front in `manygil-serve`),
//! and the requests that Python threads in worker interpreters are answering.
//!
//! The WSGI protocol itself lives in `manygil/_serve_worker.py`, running in each worker
//! interpreter; it calls the functions here (registered on `manygil._native` as
//! `serve_*`) to take a request with its environ, read its body, send the answer and mark
//! it done. Neither a server nor a request holds a Python object: both are plain Rust data,
//! reached by integer ids from any interpreter.
//!
//! - `api`: the `serve_*` functions' method table (the Python-facing entry points).
//! - `args`: the argument helpers those functions share.
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
//! - `sockets`: the accepted WebSocket connections by request id.

mod access;
mod api;
mod args;
mod asgi;
pub(crate) mod cache;
mod environ;
mod inspect;
mod interrupt;
mod requests;
mod servers;
mod sockets;
mod watch;
mod websocket;

pub(crate) use api::add_functions;
