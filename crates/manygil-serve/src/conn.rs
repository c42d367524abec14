//! One connection: hyper's HTTP/1 state machine, and the service that turns each request
//! into a [`Request`] for the workers and waits for the answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, Notify};

use crate::body::BodyReader;
use crate::cancel::{Cancel, CancelReason};
use crate::config::Config;
use crate::request::{Peer, Request, RequestHead};
use crate::response::{Aborted, Chunk, Chunks, Reply, Responder, ResponseHead};
use crate::static_files::{FileBody, StaticBody, StaticFiles, StaticReply};

/// State shared by the accept loops, connections and the [`crate::Server`].
pub(crate) struct Shared {
    /// Settings, fixed at bind time.
    pub(crate) config: Config,
    /// The directories of [`Config::statics`], open (`None` without any).
    pub(crate) statics: Option<StaticFiles>,
    /// hyper's connection settings, derived from `config`.
    pub(crate) http: http1::Builder,
    /// Into the workers' queue. Sending never blocks (unbounded: the number of queued
    /// requests is bounded by the number of open connections, hyper reads one request
    /// per connection at a time).
    pub(crate) queue: crossbeam_channel::Sender<Box<Request>>,
    /// Idle consumers to wake when a request is queued.
    pub(crate) idle: Arc<crate::queue::IdleWaiters>,
    /// Cancellation of every request dispatched and not yet fully answered, by id.
    pub(crate) inflight: Mutex<HashMap<u64, Arc<Cancel>>>,
    /// Next request id.
    pub(crate) next_id: AtomicU64,
    /// The runtime (for blocking hooks and workers' blocking calls).
    pub(crate) handle: Handle,
    /// Open connections.
    pub(crate) conns: AtomicUsize,
    /// Notified whenever `conns` drops to zero.
    pub(crate) conns_gone: Notify,
    /// `true` once the server stops accepting: connections finish their current request
    /// and close.
    pub(crate) stop: watch::Sender<bool>,
}

impl Shared {
    /// Wait until no connection is open.
    pub(crate) async fn all_conns_closed(&self) {
        loop {
            let gone = self.conns_gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if self.conns.load(Ordering::Acquire) == 0 {
                return;
            }
            gone.await;
        }
    }
}

/// Counts one open connection for as long as it lives (a WebSocket session holds one of
/// its own: hyper lets go of an upgraded connection).
struct ConnCount(Arc<Shared>);

impl ConnCount {
    fn new(shared: &Arc<Shared>) -> ConnCount {
        shared.conns.fetch_add(1, Ordering::AcqRel);
        ConnCount(shared.clone())
    }
}

impl Drop for ConnCount {
    fn drop(&mut self) {
        if self.0.conns.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.conns_gone.notify_waiters();
        }
    }
}

/// Both ends of a connection.
struct ConnInfo {
    /// The client.
    peer: Peer,
    /// The server's end.
    local: Peer,
    /// Notified to drop the connection at once (a streamed answer ran past its deadline,
    /// maybe with hyper stuck writing to a client that stopped reading).
    kill: Notify,
    /// Set (and `first_request` notified) when the first request's head arrived.
    started: AtomicBool,
    /// Notified once, with `started`.
    first_request: Notify,
    /// Bytes written to the connection so far (see [`cut_when_stalled`]).
    written: AtomicU64,
}

/// A connection's I/O, counting the bytes written in [`ConnInfo::written`], and failing a
/// write that made no progress for [`Counted::stall`] (as nginx's `send_timeout`).
///
/// hyper has no write timeout: a client that stops reading while a response is on its way
/// (a whole body of any size, a head, a WebSocket message) would hold the connection and
/// the body's memory for as long as it stays connected. The failed write ends the
/// connection (hyper closes it on a write error; a WebSocket session ends).
struct Counted<I> {
    io: I,
    info: Arc<ConnInfo>,
    /// How long a write may stay pending (the socket full, nothing taken by the client).
    stall: Duration,
    /// Fires `stall` after the pending write began; made on the first stall of the
    /// connection and re-armed for each later one.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether `timer` is armed for the write now pending.
    armed: bool,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + AsFd + Unpin> Counted<I> {
    /// Count what a write wrote; time a write that waits for the client.
    fn count(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => {
                self.info.written.fetch_add(n as u64, Ordering::Relaxed);
                self.armed = false;
                r
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + self.stall;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !self.armed {
                    timer.as_mut().reset(deadline);
                    self.armed = true;
                }
                // Registers this task's waker with the timer too: hyper polls the write
                // again when it fires.
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        // Closed with a reset, not a FIN behind the unsent data: the kernel
                        // would otherwise keep the socket and its full send buffer for
                        // minutes, probing a client that takes nothing.
                        let _ = socket2::SockRef::from(&self.io).set_linger(Some(Duration::ZERO));
                        Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client took nothing of the response for the write timeout",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Poll::Ready(Err(_)) => r,
        }
    }
}

impl<I: AsyncWrite + AsFd + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.count(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.count(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How long, once the server stops, a connection it accepted before gets for its first
/// request (counted from the stop, at most [`Config::header_timeout`]). hyper's graceful
/// shutdown closes a connection that has not sent a byte yet at once, as it closes an idle
/// keep-alive one; but a client that just connected is sending its request (it is on its
/// way, a round trip at most behind the handshake the kernel completed): closed now, it
/// would be lost, though it reached the server before the stop. Bounded so that idle
/// connections opened in advance (browsers do) delay a stop by that much at most.
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(1);

/// Serve HTTP/1.1 on `io` until the client closes, an error, or the server stops (then
/// the request in progress is finished first).
pub(crate) async fn serve<I>(io: I, peer: Peer, local: Peer, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + AsFd + Unpin + Send + 'static,
{
    let _count = ConnCount::new(&shared);
    let mut stop = shared.stop.subscribe();
    let info = Arc::new(ConnInfo {
        peer,
        local,
        kill: Notify::new(),
        started: AtomicBool::new(false),
        first_request: Notify::new(),
        written: AtomicU64::new(0),
    });
    let svc_info = info.clone();
    let svc_shared = shared.clone();
    let svc = service_fn(move |req| handle(req, svc_info.clone(), svc_shared.clone()));
    let io = Counted {
        io,
        info: info.clone(),
        stall: shared.config.write_stall(),
        timer: None,
        armed: false,
    };
    let conn = shared
        .http
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    // Returning drops the connection (and closes it) wherever hyper is.
    tokio::select! {
        _ = conn.as_mut() => return,
        () = info.kill.notified() => return,
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    if !info.started.load(Ordering::Acquire) {
        // Accepted before the stop, its first request not read yet: serve that one.
        let wait = FIRST_REQUEST_WAIT.min(shared.config.header_timeout);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = info.kill.notified() => return,
            // A permit stored by `notify_one`: no wake-up lost before this registers.
            () = info.first_request.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn => {}
        () = info.kill.notified() => {}
    }
}

/// Registers a dispatched request in [`Shared::inflight`] until it is fully answered.
/// Dropped before the answer (the client left: hyper dropped the service future), it
/// cancels the request with [`CancelReason::ClientGone`]: a queued request is then skipped,
/// and for one a worker already took the deadline stays armed, so a worker still
/// computing for nobody is interrupted all the same.
struct Inflight {
    /// The server.
    shared: Arc<Shared>,
    /// The request.
    id: u64,
    /// Its cancellation.
    cancel: Arc<Cancel>,
    /// Whether the worker's answer head arrived.
    answered: bool,
    /// [`crate::Config::request_timeout`], counted from when a worker takes the request.
    timeout: Option<Duration>,
}

impl Inflight {
    fn new(shared: &Arc<Shared>, id: u64, cancel: &Arc<Cancel>) -> Inflight {
        shared.inflight.lock().insert(id, cancel.clone());
        Inflight {
            shared: shared.clone(),
            id,
            cancel: cancel.clone(),
            answered: false,
            timeout: shared.config.request_timeout,
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.shared.inflight.lock().remove(&self.id);
        if self.answered {
            return;
        }
        let deadline = deadline_of(&self.cancel, self.timeout);
        if deadline.is_some_and(|d| d <= tokio::time::Instant::now()) {
            // Past its deadline (the connection was cut for a write stalled as long, in
            // the same tick as the deadline's own cut): a timeout, whoever came first.
            self.cancel
                .fire_on(CancelReason::Timeout, &self.shared.handle);
            return;
        }
        let _ = self.cancel.fire(CancelReason::ClientGone);
        // Not taken yet: the taker sees ClientGone and skips it (see `Cancel::taken`).
        if let Some(deadline) = deadline {
            let cancel = self.cancel.clone();
            let handle = self.shared.handle.clone();
            self.shared.handle.spawn(async move {
                tokio::time::sleep_until(deadline).await;
                cancel.fire_on(CancelReason::Timeout, &handle);
            });
        }
    }
}

/// A response body: all at once, or streamed from a worker.
enum RespBody {
    /// The whole body (`None` once sent).
    Full(Option<Bytes>),
    /// A whole body shorter than its `Content-Length`: sent, then the connection is cut,
    /// so the client sees an incomplete response and never reads the next one as the rest
    /// of this one (`None` once sent).
    Short(Option<Bytes>),
    /// Chunks from a worker's [`crate::BodyWriter`].
    Stream {
        /// The chunks.
        rx: Chunks,
        /// Dropped with the body: tells [`cut_at_deadline`] that the body ended.
        _ended_tx: Option<oneshot::Sender<()>>,
        /// Keeps the request registered until the body ends; marked answered once it
        /// ended, so that a stream dropped before (the client left) cancels the request
        /// with ClientGone: a worker waiting for something else than its next write (an
        /// ASGI app waiting for `http.disconnect`) learns it.
        inflight: Inflight,
        /// Whether [`Chunk::End`] arrived.
        ended: bool,
        /// The `Content-Length` the head promised, if any.
        promised: Option<Promised>,
    },
    /// A static file read in chunks (its `Content-Length` is the body's length).
    File {
        /// The chunks.
        body: FileBody,
        /// Dropped with the body: tells [`cut_when_stalled`] that the body ended.
        _ended_tx: oneshot::Sender<()>,
    },
}

/// A streamed body held to the `Content-Length` its head promised: never a byte more (the
/// rest could pose as the next response on a keep-alive connection), and cut if it ends
/// short.
struct Promised {
    /// The promised length.
    length: u64,
    /// Bytes still owed.
    left: u64,
    /// The request, for the log.
    what: String,
}

impl Promised {
    /// Hold `data` to what is still owed.
    fn take(&mut self, mut data: Bytes) -> Bytes {
        if data.len() as u64 > self.left {
            warn_longer(&self.what, self.length);
            // `left` < `data.len()`, a usize.
            data.truncate(self.left as usize);
        }
        self.left -= data.len() as u64;
        data
    }
}

/// Log a body longer than its `Content-Length` (only the promised bytes are sent).
fn warn_longer(what: &str, length: u64) {
    eprintln!(
        "manygil serve: {what}: the application's body is longer than its Content-Length \
         ({length}): only the first {length} bytes were sent"
    );
}

/// Log a body shorter than its `Content-Length` (the connection is cut).
fn warn_shorter(what: &str, length: u64, sent: u64) {
    eprintln!(
        "manygil serve: {what}: the application's body ended after {sent} of the {length} \
         bytes of its Content-Length: connection closed"
    );
}

const SHORT: Aborted = Aborted("the body ended before its Content-Length");

impl Body for RespBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match self.get_mut() {
            RespBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            // The last frame: hyper, holding the body to the head's Content-Length, sends
            // it and then closes the connection. Nothing at all: cut before the head.
            RespBody::Short(data) => Poll::Ready(match data.take() {
                Some(d) if !d.is_empty() => Some(Ok(Frame::data(d))),
                Some(_) => Some(Err(SHORT)),
                None => None,
            }),
            RespBody::Stream {
                rx,
                ended,
                promised,
                inflight,
                ..
            } => {
                if *ended {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Chunk::Data(d))) => {
                        let Some(p) = promised else {
                            return Poll::Ready(Some(Ok(Frame::data(d))));
                        };
                        let d = p.take(d);
                        // All that was promised: the body is complete; whatever the worker
                        // writes next is refused (its writer sees the stream closed).
                        *ended = p.left == 0;
                        inflight.answered = *ended;
                        if d.is_empty() {
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Some(Ok(Frame::data(d))))
                    }
                    Poll::Ready(Some(Chunk::End)) => {
                        *ended = true;
                        inflight.answered = true;
                        match promised {
                            Some(p) if p.left > 0 => {
                                warn_shorter(&p.what, p.length, p.length - p.left);
                                // Pending once, so that hyper flushes what it holds; polled
                                // again, the body ends short of the length hyper holds it
                                // to, and hyper closes the connection.
                                cx.waker().wake_by_ref();
                                Poll::Pending
                            }
                            _ => Poll::Ready(None),
                        }
                    }
                    Poll::Ready(Some(Chunk::Abort(why))) => Poll::Ready(Some(Err(Aborted(why)))),
                    Poll::Ready(None) => Poll::Ready(Some(Err(Aborted(
                        "the response body was abandoned unfinished",
                    )))),
                }
            }
            RespBody::File { body, .. } => body
                .poll_chunk(cx)
                .map(|c| c.map(|c| c.map(Frame::data).map_err(Aborted))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Full(d) | RespBody::Short(d) => d.is_none(),
            RespBody::Stream { ended, .. } => *ended,
            RespBody::File { body, .. } => body.remaining() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            RespBody::File { body, .. } => SizeHint::with_exact(body.remaining()),
            // Unknown: hyper then holds the body to the head's Content-Length.
            RespBody::Short(_) | RespBody::Stream { .. } => SizeHint::default(),
        }
    }
}

/// A short plain-text response from the front itself.
fn simple(status: StatusCode, close: bool) -> Response<RespBody> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut r = Response::new(RespBody::Full(Some(Bytes::from(text))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if close {
        r.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    r
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_09 => "HTTP/0.9",
        _ => "HTTP/1.1",
    }
}

/// What the access log needs about a request.
struct LogLine {
    method: String,
    target: String,
    version: &'static str,
    started: Instant,
}

impl LogLine {
    /// The request as other log lines name it: `GET /path?query`.
    fn what(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

fn log(shared: &Shared, info: &ConnInfo, line: &LogLine, status: StatusCode, bytes: Option<usize>) {
    if shared.config.access_log {
        crate::access_log::write(
            shared.config.access_log_sink.as_ref(),
            &info.peer,
            (&line.method, &line.target, line.version),
            status.as_u16(),
            bytes,
            line.started.elapsed(),
        );
    }
}

/// The service: one request in, one response out.
async fn handle(
    req: hyper::Request<Incoming>,
    info: Arc<ConnInfo>,
    shared: Arc<Shared>,
) -> Result<Response<RespBody>, Infallible> {
    if !info.started.swap(true, Ordering::AcqRel) {
        info.first_request.notify_one();
    }
    let (mut parts, body) = req.into_parts();
    let ws_key = crate::websocket::handshake_key(&parts.method, parts.version, &parts.headers);
    // Kept until the worker answers: the connection is handed over only on an accept.
    let upgrade = ws_key
        .as_ref()
        .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
    let line = LogLine {
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), |p| p.as_str().to_owned()),
        version: version_str(parts.version),
        started: Instant::now(),
    };
    let mut hosts = parts.headers.get_all(hyper::header::HOST).iter();
    let no_host = hosts.next().is_none();
    if hosts.next().is_some() || (no_host && parts.version == Version::HTTP_11) {
        // RFC 9112 3.2: which of two hosts is meant is anyone's guess, and an HTTP/1.1
        // request must name one (an application building URLs from it would get
        // `SERVER_NAME` instead); hyper checks neither. HTTP/1.0 may leave it out.
        let status = StatusCode::BAD_REQUEST;
        log(&shared, &info, &line, status, None);
        return Ok(simple(status, true));
    }
    // Static files: answered here, before anything is made for a worker.
    if let Some(reply) = shared
        .statics
        .as_ref()
        .and_then(|s| s.serve(&parts.method, parts.uri.path(), &parts.headers))
    {
        return Ok(static_response(reply, &shared, &info, &line));
    }
    let head = RequestHead {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        method: line.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        version: line.version,
        peer: info.peer.clone(),
        local: info.local.clone(),
        headers: parts.headers,
        ws_key: upgrade.as_ref().and(ws_key.clone()),
    };
    if head
        .content_length()
        .is_some_and(|n| n > shared.config.max_body)
    {
        let status = StatusCode::PAYLOAD_TOO_LARGE;
        log(&shared, &info, &line, status, None);
        return Ok(simple(status, true));
    }
    let id = head.id;
    let cancel = Arc::new(Cancel::new());
    let (tx, rx) = oneshot::channel();
    let websocket = head.is_websocket();
    let request = Box::new(Request {
        body: BodyReader::new(
            body,
            shared.config.max_body,
            shared.config.body_timeout,
            cancel.clone(),
            shared.handle.clone(),
        ),
        responder: {
            let mut r = Responder::new(
                tx,
                cancel.clone(),
                shared.config.response_buffer,
                shared.handle.clone(),
            );
            r.websocket = websocket;
            r
        },
        cancel: cancel.clone(),
        head,
    });
    let mut inflight = Inflight::new(&shared, id, &cancel);
    let sent = shared.queue.send(request);
    shared.idle.wake_one();
    if sent.is_err() {
        inflight.answered = true;
        let status = StatusCode::SERVICE_UNAVAILABLE;
        log(&shared, &info, &line, status, None);
        return Ok(simple(status, true));
    }
    let timeout = inflight.timeout;
    let reply = tokio::select! {
        reply = rx => reply,
        _ = handler_deadline(&cancel, timeout) => {
            inflight.answered = true;
            cancel.fire_on(CancelReason::Timeout, &shared.handle);
            let status = StatusCode::GATEWAY_TIMEOUT;
            log(&shared, &info, &line, status, None);
            return Ok(simple(status, true));
        }
        _ = cancel.cancelled() => {
            // Only the server cancels a request whose service is still waiting: shutdown.
            inflight.answered = true;
            let status = StatusCode::SERVICE_UNAVAILABLE;
            log(&shared, &info, &line, status, None);
            return Ok(simple(status, true));
        }
    };
    inflight.answered = true;
    let head_request = line.method == "HEAD";
    let (head, body, bytes) = match reply {
        Ok(Reply::Full(head, mut data)) => {
            let body = match head.promised_length(head_request) {
                Some(length) if (data.len() as u64) < length => {
                    warn_shorter(&line.what(), length, data.len() as u64);
                    RespBody::Short(Some(data))
                }
                Some(length) if data.len() as u64 > length => {
                    warn_longer(&line.what(), length);
                    // `length` < `data.len()`, a usize.
                    data.truncate(length as usize);
                    RespBody::Full(Some(data))
                }
                _ => RespBody::Full(Some(data)),
            };
            let n = match &body {
                RespBody::Full(Some(d)) | RespBody::Short(Some(d)) => d.len(),
                _ => 0,
            };
            (head, body, Some(n))
        }
        Ok(Reply::Stream(head, rx)) => {
            let ended_tx = deadline_of(&cancel, timeout).map(|deadline| {
                let (tx, rx) = oneshot::channel();
                let (cancel, shared, info) = (cancel.clone(), shared.clone(), info.clone());
                shared
                    .handle
                    .clone()
                    .spawn(cut_at_deadline(deadline, rx, cancel, shared, info));
                tx
            });
            let promised = head.promised_length(head_request).map(|length| Promised {
                length,
                left: length,
                what: line.what(),
            });
            // Answered only once the body ended (see `RespBody::Stream::inflight`).
            inflight.answered = false;
            let body = RespBody::Stream {
                rx,
                _ended_tx: ended_tx,
                inflight,
                ended: false,
                promised,
            };
            (head, body, None)
        }
        Ok(Reply::WebSocket(head, ends)) => {
            let (Some(upgrade), Some(key)) = (upgrade, ws_key.as_deref()) else {
                // Not reached: `Responder::accept_websocket` refuses other requests.
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                log(&shared, &info, &line, status, None);
                return Ok(simple(status, true));
            };
            let head = crate::websocket::switching_protocols(head, key);
            log(&shared, &info, &line, head.status, None);
            // Registered (for shutdown's 1001) and counted as a connection until the
            // session ends.
            let guard = (inflight, ConnCount::new(&shared));
            shared.handle.spawn(crate::websocket::session(
                upgrade,
                ends,
                shared.config.ws_max_size,
                cancel,
                guard,
            ));
            return Ok(into_response(head, RespBody::Full(None)));
        }
        Err(_) => {
            // The worker dropped the responder without answering: it failed, or it
            // stopped because the request was cancelled.
            let status = match cancel.reason() {
                Some(CancelReason::Timeout) => StatusCode::GATEWAY_TIMEOUT,
                Some(CancelReason::Shutdown) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            log(&shared, &info, &line, status, None);
            return Ok(simple(status, status != StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    log(&shared, &info, &line, head.status, bytes);
    Ok(into_response(head, body))
}

/// The response for a static file answer (logged).
fn static_response(
    reply: StaticReply,
    shared: &Arc<Shared>,
    info: &Arc<ConnInfo>,
    line: &LogLine,
) -> Response<RespBody> {
    let (mut r, bytes) = match reply.body {
        StaticBody::Text => {
            let r = simple(reply.status, false);
            let n = match r.body() {
                RespBody::Full(Some(d)) => d.len(),
                _ => 0,
            };
            (r, n)
        }
        StaticBody::Empty => (Response::new(RespBody::Full(None)), 0),
        StaticBody::Bytes(data) => {
            let n = data.len();
            (Response::new(RespBody::Full(Some(data))), n)
        }
        StaticBody::File(body) => {
            let n = usize::try_from(body.remaining()).unwrap_or(usize::MAX);
            let (tx, rx) = oneshot::channel();
            shared.handle.spawn(cut_when_stalled(
                shared.config.body_timeout,
                rx,
                info.clone(),
            ));
            let body = RespBody::File {
                body,
                _ended_tx: tx,
            };
            (Response::new(body), n)
        }
    };
    *r.status_mut() = reply.status;
    r.headers_mut().extend(reply.headers);
    log(shared, info, line, reply.status, Some(bytes));
    r
}

/// Drop the connection of a streamed file once nothing was written to it for `stall`
/// (a client that stopped reading would hold its file and buffers forever), unless the
/// body ended first (`ended` resolves when it is dropped).
async fn cut_when_stalled(stall: Duration, ended: oneshot::Receiver<()>, info: Arc<ConnInfo>) {
    tokio::pin!(ended);
    let mut seen = info.written.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = &mut ended => return,
            () = tokio::time::sleep(stall) => {
                let now = info.written.load(Ordering::Relaxed);
                if now == seen {
                    info.kill.notify_one();
                    return;
                }
                seen = now;
            }
        }
    }
}

fn into_response(head: ResponseHead, body: RespBody) -> Response<RespBody> {
    let mut r = Response::new(body);
    *r.status_mut() = head.status;
    *r.headers_mut() = head.headers;
    if let Some(reason) = head.reason {
        r.extensions_mut().insert(reason);
    }
    r
}

/// Hold a streamed answer to its request's deadline whatever the client does: if the body
/// has not ended by then (`ended` resolves when it is dropped), cancel the request (its
/// hook interrupts the worker, a write blocked on the full buffer fails) and drop the
/// connection, which hyper may be stuck writing to a client that stopped reading.
async fn cut_at_deadline(
    deadline: tokio::time::Instant,
    ended: oneshot::Receiver<()>,
    cancel: Arc<Cancel>,
    shared: Arc<Shared>,
    info: Arc<ConnInfo>,
) {
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => {
            cancel.fire_on(CancelReason::Timeout, &shared.handle);
            info.kill.notify_one();
        }
        _ = ended => {}
    }
}

/// The request's deadline: `timeout` after a worker took it (`None` while it is queued,
/// or without a timeout).
fn deadline_of(cancel: &Cancel, timeout: Option<Duration>) -> Option<tokio::time::Instant> {
    let taken = cancel.taken_at()?;
    Some(tokio::time::Instant::from_std(taken) + timeout?)
}

/// Resolves once the request has run `timeout` since a worker took it; never without a
/// timeout. Time in the queue does not count: the timer is armed at dispatch and, while
/// the request still waits, re-armed one `timeout` later (no wake-up per take).
async fn handler_deadline(cancel: &Cancel, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    let mut check = tokio::time::Instant::now() + timeout;
    loop {
        tokio::time::sleep_until(check).await;
        match deadline_of(cancel, Some(timeout)) {
            Some(deadline) if deadline <= tokio::time::Instant::now() => return,
            Some(deadline) => check = deadline,
            None => check += timeout,
        }
    }
}
