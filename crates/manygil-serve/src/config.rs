//! What a server listens on and the limits it enforces.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::static_files::StaticMount;

/// One address to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address; port 0 picks a free port (read it back from [`crate::Server::addrs`]).
    Tcp(SocketAddr),
    /// A Unix domain socket path. A stale socket file (nobody accepting) is replaced; a
    /// live one is an "address in use" error.
    Unix(PathBuf),
    /// A socket already listening (TCP or Unix), e.g. opened by [`crate::open_listener`] in
    /// a parent process that outlives this server (`manygil serve`'s supervisor) and
    /// inherited as this descriptor. [`crate::Server::bind`] takes ownership of it (it is
    /// closed when the server stops accepting; copies of it in other processes keep the
    /// socket open and queueing connections) and never removes a Unix socket's file.
    Fd(RawFd),
}

/// Server settings. [`Config::default`] gives production-minded values.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (at least one).
    pub listen: Vec<Listen>,
    /// tokio I/O threads (at least 1).
    pub io_threads: usize,
    /// Largest request head in bytes (request line + headers); larger gets 431.
    pub max_header_bytes: usize,
    /// Most header fields in a request; more gets 431.
    pub max_headers: usize,
    /// Largest request body in bytes: a larger `Content-Length` gets 413 before any worker
    /// sees the request; a chunked body that grows past it fails the worker's read with
    /// [`crate::BodyError::TooLarge`].
    pub max_body: u64,
    /// Time a client has to send a complete request head, counted from when the
    /// connection is ready for a request (so it also bounds idle keep-alive connections).
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body when a worker reads it.
    pub body_timeout: Duration,
    /// Time from when a worker takes the request off the queue until its answer head
    /// (time waiting in the queue does not count: a request that waited is not cut
    /// short); past it the client gets 504 and the request is cancelled
    /// ([`crate::CancelReason::Timeout`]). A streamed answer still running at the deadline
    /// is cut off: the request is cancelled and the connection closed, whether or not the
    /// client reads. `None`: no limit. Also the longest a write to a client may stall (see
    /// [`Config::write_stall`]).
    pub request_timeout: Option<Duration>,
    /// Response body chunks buffered between a worker and the connection before
    /// [`crate::BodyWriter::write`] blocks.
    pub response_buffer: usize,
    /// Pending connections the kernel queues per listener.
    pub backlog: u32,
    /// Write one access-log line per request to stderr (or to `access_log_sink`).
    pub access_log: bool,
    /// Where access-log lines go instead of stderr (each without its newline), when set.
    pub access_log_sink: Option<AccessLogSink>,
    /// Largest WebSocket message (and frame) a client may send, in bytes; a larger one
    /// closes the connection with 1009.
    pub ws_max_size: usize,
    /// Directories served under URL prefixes by the I/O threads (requests under them
    /// never reach a worker); opened by [`crate::Server::bind`].
    pub statics: Vec<StaticMount>,
}

/// A receiver of access-log lines (see [`Config::access_log_sink`]). Called on the I/O
/// threads: it must not block.
#[derive(Clone)]
pub struct AccessLogSink(pub std::sync::Arc<dyn Fn(String) + Send + Sync>);

impl std::fmt::Debug for AccessLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLogSink")
    }
}

impl Config {
    /// How long a write to a client may make no progress before the connection is closed:
    /// [`Config::request_timeout`], or [`Config::body_timeout`] without one. Holds for
    /// every response (a whole body too, and a static file), and for WebSocket messages.
    pub fn write_stall(&self) -> Duration {
        self.request_timeout.unwrap_or(self.body_timeout)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 8000)))],
            io_threads: 1,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body: 100 * 1024 * 1024,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            request_timeout: Some(Duration::from_secs(30)),
            response_buffer: 8,
            backlog: 1024,
            access_log: false,
            access_log_sink: None,
            // uvicorn's default.
            ws_max_size: 16 * 1024 * 1024,
            statics: Vec::new(),
        }
    }
}
