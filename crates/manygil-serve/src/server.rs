//! Binding, accepting, and shutting down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use parking_lot::Mutex;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UnixListener};
use tokio::runtime::Runtime;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::cancel::CancelReason;
use crate::config::{Config, Listen};
use crate::conn::{self, Shared};
use crate::queue::{IdleWaiters, RequestQueue};
use crate::request::Peer;
use crate::static_files::StaticFiles;

/// An address the server listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAddr {
    /// TCP, with the port actually bound.
    Tcp(SocketAddr),
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl std::fmt::Display for BoundAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoundAddr::Tcp(a) => write!(f, "http://{a}"),
            BoundAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindError {
    /// Another process listens there.
    InUse(String),
    /// Any other failure (bad address, permissions, no runtime threads...).
    Other(String),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::InUse(a) => write!(
                f,
                "address {a} is already in use (another server runs there; pick another --bind or stop it)"
            ),
            BindError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BindError {}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every connection finished within the grace period.
    pub graceful: bool,
    /// Requests cancelled when the grace period ended.
    pub cancelled: usize,
}

/// A bound listener, not yet accepting.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// An HTTP/1.1 server: listeners bound at [`Server::bind`], serving from
/// [`Server::start`] until [`Server::shutdown`] (or drop, which shuts down at once).
pub struct Server {
    /// Shared with connections.
    shared: Arc<Shared>,
    /// The I/O threads; taken at shutdown.
    runtime: Mutex<Option<Runtime>>,
    /// What was bound, in `Config::listen` order.
    addrs: Vec<BoundAddr>,
    /// Bound listeners until `start` moves them into accept loops.
    pending: Mutex<Vec<Listener>>,
    /// The accept loops.
    accepting: Mutex<Vec<JoinHandle<()>>>,
    /// The workers' end of the queue.
    queue: RequestQueue,
    /// Dropped to tell workers that no request will come again.
    closed_tx: Mutex<Option<crossbeam_channel::Sender<()>>>,
    /// Socket files to remove at shutdown (those of [`Listen::Unix`], not inherited ones).
    unix_paths: Vec<PathBuf>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

fn bind_tcp(addr: SocketAddr, backlog: u32) -> Result<(OwnedFd, BoundAddr), BindError> {
    let err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            BindError::InUse(addr.to_string())
        } else {
            BindError::Other(format!("cannot listen on {addr}: {e}"))
        }
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(backlog_arg(backlog)).map_err(err)?;
    let bound = socket
        .local_addr()
        .map_err(err)?
        .as_socket()
        .ok_or_else(|| BindError::Other(format!("cannot listen on {addr}: no address bound")))?;
    Ok((socket.into(), BoundAddr::Tcp(bound)))
}

fn bind_unix(path: &Path, backlog: u32) -> Result<(OwnedFd, BoundAddr), BindError> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display().to_string();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(BindError::Other(format!(
                "cannot listen on {shown}: the path exists and is not a socket"
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(shown));
        }
        // A stale socket from a server that is gone.
        std::fs::remove_file(path)
            .map_err(|e| BindError::Other(format!("cannot replace stale socket {shown}: {e}")))?;
    }
    let err = |e: std::io::Error| BindError::Other(format!("cannot listen on {shown}: {e}"));
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(err)?;
    socket
        .bind(&SockAddr::unix(path).map_err(err)?)
        .map_err(err)?;
    socket.listen(backlog_arg(backlog)).map_err(err)?;
    Ok((socket.into(), BoundAddr::Unix(path.to_owned())))
}

/// Take over `fd`, which must be a listening TCP socket or a Unix socket bound to a path.
fn adopt(fd: RawFd) -> Result<(OwnedFd, BoundAddr), BindError> {
    let bad =
        |m: &dyn std::fmt::Display| BindError::Other(format!("cannot listen on fd://{fd}: {m}"));
    // SAFETY: F_GETFD only reads the flags of descriptor `fd`; one not open gives EBADF.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(bad(&std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is open (checked above) and `Listen::Fd` gives its ownership to us.
    let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
    if !socket.is_listener().map_err(|e| bad(&e))? {
        return Err(bad(&"not a listening socket"));
    }
    // Inherited without close-on-exec; not passed on to anything this process runs.
    socket.set_cloexec(true).map_err(|e| bad(&e))?;
    let local = socket.local_addr().map_err(|e| bad(&e))?;
    let addr = if let Some(a) = local.as_socket() {
        BoundAddr::Tcp(a)
    } else if let Some(p) = local.as_pathname() {
        BoundAddr::Unix(p.to_owned())
    } else {
        return Err(bad(&"not a TCP socket or a Unix socket with a path"));
    };
    Ok((socket.into(), addr))
}

fn backlog_arg(backlog: u32) -> i32 {
    i32::try_from(backlog).unwrap_or(i32::MAX)
}

/// A listening socket for `listen`, made without any I/O thread (the kernel queues
/// connections until someone accepts them), and the address it is bound to. A TCP
/// socket gets `SO_REUSEADDR`; a stale Unix socket file is replaced (a live one is
/// [`BindError::InUse`]); a [`Listen::Fd`] is checked and taken over as it is.
///
/// `manygil serve`'s supervisor opens its sockets with this once, and passes them to each
/// server process it starts as [`Listen::Fd`]: the sockets outlive the servers.
///
/// # Errors
///
/// [`BindError::InUse`] if the address is taken; [`BindError::Other`] otherwise.
pub fn open_listener(listen: &Listen, backlog: u32) -> Result<(OwnedFd, BoundAddr), BindError> {
    match listen {
        Listen::Tcp(a) => bind_tcp(*a, backlog),
        Listen::Unix(p) => bind_unix(p, backlog),
        Listen::Fd(fd) => adopt(*fd),
    }
}

/// The tokio listener of an open listening socket (in the runtime entered by the caller).
fn into_tokio(fd: OwnedFd, addr: &BoundAddr) -> std::io::Result<Listener> {
    Ok(match addr {
        BoundAddr::Tcp(_) => {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true)?;
            Listener::Tcp(TcpListener::from_std(l)?)
        }
        BoundAddr::Unix(p) => {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true)?;
            Listener::Unix(UnixListener::from_std(l)?, p.clone())
        }
    })
}

impl Server {
    /// Start the I/O threads and bind every listener (nothing is accepted until
    /// [`Self::start`]; the kernel queues early connections).
    ///
    /// # Errors
    ///
    /// [`BindError::InUse`] if an address is taken; [`BindError::Other`] otherwise.
    pub fn bind(config: Config) -> Result<Server, BindError> {
        if config.listen.is_empty() {
            return Err(BindError::Other("nothing to listen on".to_owned()));
        }
        let statics = StaticFiles::open(&config.statics).map_err(BindError::Other)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.io_threads.max(1))
            .thread_name("manygil-http")
            .enable_all()
            .build()
            .map_err(|e| BindError::Other(format!("cannot start the I/O threads: {e}")))?;
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        let mut unix_paths = Vec::new();
        {
            let _in_runtime = runtime.enter();
            for listen in &config.listen {
                let (fd, addr) = open_listener(listen, config.backlog)?;
                let l = into_tokio(fd, &addr)
                    .map_err(|e| BindError::Other(format!("cannot listen on {addr}: {e}")))?;
                if let Listen::Unix(p) = listen {
                    // Ours to remove at shutdown (an inherited socket's file is not).
                    unix_paths.push(p.clone());
                }
                addrs.push(addr);
                listeners.push(l);
            }
        }
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_timeout)
            .max_header_size(config.max_header_bytes)
            .keep_alive(true);
        if config.max_headers != 100 {
            // hyper's default; any other value costs a heap allocation per request.
            http.max_headers(config.max_headers);
        }
        let (queue_tx, queue_rx) = crossbeam_channel::unbounded();
        let (closed_tx, closed_rx) = crossbeam_channel::bounded(0);
        let idle = Arc::new(IdleWaiters::default());
        let shared = Arc::new(Shared {
            config,
            statics,
            http,
            queue: queue_tx.clone(),
            idle: idle.clone(),
            inflight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            handle: runtime.handle().clone(),
            conns: AtomicUsize::new(0),
            conns_gone: Notify::new(),
            stop: watch::channel(false).0,
        });
        Ok(Server {
            shared,
            runtime: Mutex::new(Some(runtime)),
            addrs,
            pending: Mutex::new(listeners),
            accepting: Mutex::new(Vec::new()),
            queue: RequestQueue {
                requests: queue_rx,
                closed: closed_rx,
                requeue: queue_tx,
                idle,
            },
            closed_tx: Mutex::new(Some(closed_tx)),
            unix_paths,
        })
    }

    /// The bound addresses, in `Config::listen` order.
    pub fn addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// The queue workers take requests from.
    pub fn queue(&self) -> RequestQueue {
        self.queue.clone()
    }

    /// Requests dispatched and not yet fully answered (queued, running or streaming).
    pub fn in_flight(&self) -> usize {
        self.shared.inflight.lock().len()
    }

    /// Connections open (accepted and not yet closed).
    pub fn connections(&self) -> usize {
        self.shared.conns.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Start accepting connections (once; later calls do nothing).
    pub fn start(&self) {
        let listeners = std::mem::take(&mut *self.pending.lock());
        let mut tasks = self.accepting.lock();
        for l in listeners {
            tasks.push(self.shared.handle.spawn(accept(l, self.shared.clone())));
        }
    }

    /// Stop accepting; let connections finish their current request for up to `grace`
    /// (a connection accepted before, that has not sent its first request yet, gets up to
    /// a second for it: it was on its way);
    /// then cancel the requests still running ([`CancelReason::Shutdown`]: their hooks
    /// interrupt the workers) and close the queue. Blocks; must not be called on an I/O
    /// thread. Later calls return at once.
    pub fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let Some(runtime) = self.runtime.lock().take() else {
            return ShutdownReport {
                graceful: true,
                cancelled: 0,
            };
        };
        self.shared.stop.send_replace(true);
        self.pending.lock().clear();
        let tasks = std::mem::take(&mut *self.accepting.lock());
        let shared = self.shared.clone();
        let graceful = runtime.block_on(async move {
            for t in tasks {
                let _ = t.await;
            }
            tokio::time::timeout(grace, shared.all_conns_closed())
                .await
                .is_ok()
        });
        for p in &self.unix_paths {
            let _ = std::fs::remove_file(p);
        }
        let cancels: Vec<_> = self.shared.inflight.lock().values().cloned().collect();
        for c in &cancels {
            c.fire_on(CancelReason::Shutdown, &self.shared.handle);
        }
        self.closed_tx.lock().take();
        if !cancels.is_empty() {
            // Let the cancelled requests' connections send their 503 or cut their body.
            let shared = self.shared.clone();
            runtime.block_on(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), shared.all_conns_closed()).await;
            });
        }
        runtime.shutdown_timeout(Duration::from_secs(5));
        ShutdownReport {
            graceful,
            cancelled: cancels.len(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

/// A new connection.
enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream, PathBuf),
}

async fn accept_one(l: &Listener) -> std::io::Result<Accepted> {
    Ok(match l {
        Listener::Tcp(l) => {
            let (s, peer) = l.accept().await?;
            Accepted::Tcp(s, peer)
        }
        Listener::Unix(l, path) => Accepted::Unix(l.accept().await?.0, path.clone()),
    })
}

/// Accept connections until the server stops.
async fn accept(listener: Listener, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            a = accept_one(&listener) => a,
        };
        match accepted {
            Ok(Accepted::Tcp(stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let local = match stream.local_addr() {
                    Ok(a) => Peer::Tcp(a),
                    Err(_) => continue,
                };
                tokio::spawn(conn::serve(stream, Peer::Tcp(peer), local, shared.clone()));
            }
            Ok(Accepted::Unix(stream, path)) => {
                let local = Peer::Unix(Some(path));
                tokio::spawn(conn::serve(stream, Peer::Unix(None), local, shared.clone()));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("manygil serve: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
