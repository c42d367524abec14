//! The HTTP front of `manygil serve`: hyper 1.x connections on a few tokio I/O threads,
//! handing each request to whichever worker thread takes it first.
//!
//! No CPython here: the workers are whatever pulls from the [`RequestQueue`] (in manygil,
//! one or more threads inside each own-GIL interpreter; in this crate's tests, plain Rust
//! threads). The flow of one request:
//!
//! 1. An I/O thread parses the request head (hyper). Malformed heads get 400, oversized
//!    heads 431, a declared body over [`Config::max_body`] 413, without any worker seeing
//!    them.
//! 2. The head becomes a [`Request`] (plain data), with a [`BodyReader`] that streams the
//!    body from the connection when the worker reads it (so `Expect: 100-continue` is
//!    answered only then) and a [`Responder`] for the answer. It goes straight from the
//!    I/O thread into the [`RequestQueue`].
//! 3. A worker takes it, and answers with [`Responder::send_full`] or
//!    [`Responder::start_stream`] + [`BodyWriter::write`] (bounded: a slow client slows
//!    the writer down instead of filling memory).
//! 4. If no answer head arrives within [`Config::request_timeout`] of the worker taking
//!    the request, the client gets 504 and the request's [`Cancel`] fires: its hook (set
//!    by the worker) interrupts the worker.
//!
//! A WebSocket opening handshake reaches a worker as a request too; a worker that
//! accepts it ([`Responder::accept_websocket`]) gets a [`WebSocket`] whose messages the
//! front frames on the I/O threads (see the `websocket` module).
//! A request under one of [`Config::statics`]' URL prefixes is answered from the files by
//! the I/O thread itself, and never queued (see `static_files`).
//!
//! [`Server::shutdown`] stops accepting, lets in-flight requests finish within a grace
//! period, then cancels what is left and closes the queue.
//!
//! [`Watch`] watches source trees for `manygil serve --reload` (no HTTP in it: it lives
//! here because only the server uses it).

mod access_log;
mod body;
mod cancel;
mod config;
mod conn;
mod memory;
mod queue;
mod request;
mod response;
mod server;
mod static_files;
mod watch;
mod websocket;

pub use body::{BodyError, BodyReader};
pub use cancel::{Cancel, CancelHook, CancelReason, CancelWatcher};
pub use config::{AccessLogSink, Config, Listen};
pub use memory::release_free_memory;
pub use queue::{Recv, RequestQueue, Wake};
pub use request::{percent_decode, Peer, Request, RequestHead};
pub use response::{BodyWriter, HeadError, Responder, ResponseHead, SendError};
pub use server::{open_listener, BindError, BoundAddr, Server, ShutdownReport};
pub use static_files::StaticMount;
pub use watch::{fnmatch_str, ignored_dir, ignored_file, Changes, Watch, WatchError};
pub use websocket::{
    valid_close_code, WebSocket, WsClose, WsMessage, WsNotify, WsRecv, WsSendError, CLOSE_TIMEOUT,
    MAX_CLOSE_REASON, QUEUE as WS_QUEUE,
};
