//! The native side of ASGI workers (`manygil/_serve/asgi.py`): an interpreter's event loop
//! serves many requests at once, so a request is not tied to the thread that took it.
//!
//! - `serve_asgi_next` takes a request like `serve_next` (GIL released while waiting) and
//!   returns its ASGI HTTP scope. No thread is interrupted when it times out: its
//!   cancellations (timeout, shutdown, and the client leaving) go to the interpreter's
//!   [`Inbox`] instead.
//! - `serve_asgi_events` waits (GIL released) for the inbox's cancellations; a thread of
//!   the worker hands them to the loop (which cancels the request's task, or answers
//!   `http.disconnect`).
//! - `serve_asgi_close` closes the inbox (the waiting thread returns None).
//! - The *feed* wakes an idle loop without a thread in between: once the loop found the
//!   queue empty it arms the feed (`serve_asgi_want`), which registers a wake-up with the
//!   server's queue; the I/O thread that queues the next request writes a byte to a
//!   socket pair the loop watches (`serve_asgi_feed_fd`), and the loop takes from the
//!   queue itself (`serve_asgi_woken`, then `serve_asgi_next` with timeout 0: one look, no
//!   wait). A busy loop leaves the feed unarmed: under load nothing goes between threads
//!   but the request and its answer. The worker's taker thread waits in `serve_asgi_feed`
//!   (GIL released) for the server to close, the interpreter to be retired or the loop to
//!   stop taking requests (`serve_asgi_feed_stop`).
//! - `serve_asgi_start`, `serve_asgi_respond`, `serve_asgi_stream`: an answer's head is
//!   built natively from the `http.response.start` message's bytes headers and kept until
//!   its body follows.
//!
//! The body and answer functions (`serve_read`, `serve_respond`, ...) are shared with WSGI.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use manygil_serve::{
    CancelReason, CancelWatcher, Peer, RequestHead, RequestQueue, ResponseHead, Wake,
};
use parking_lot::{Condvar, Mutex};

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::tstate;
use crate::ffi::values::new_bytes;
use crate::ffi::{
    boolean, current_interpreter_id, new_dict, new_int, new_list, new_str, new_tuple, none,
    Attached, Borrowed, Owned,
};

use super::args::{id_arg, os_error, seconds_arg, tuple_of};
use super::interrupt::{self, ServeThread};
use super::requests;
use super::servers::server;

/// The cancellations of one interpreter's requests, waiting for its event thread.
#[derive(Default)]
struct Inbox {
    /// (request id, reason) in order, and whether the inbox is closed.
    state: Mutex<(Vec<(u64, CancelReason)>, bool)>,
    /// Signalled on a push and on close.
    cv: Condvar,
}

impl Inbox {
    fn push(&self, rid: u64, reason: CancelReason) {
        let mut st = self.state.lock();
        if !st.1 {
            st.0.push((rid, reason));
            self.cv.notify_all();
        }
    }
}

/// Inboxes by interpreter id (ids are never reused).
static INBOXES: Mutex<Option<HashMap<i64, Arc<Inbox>>>> = Mutex::new(None);

fn inbox(py: Attached<'_>) -> Arc<Inbox> {
    INBOXES
        .lock()
        .get_or_insert_with(HashMap::new)
        .entry(current_interpreter_id(py))
        .or_default()
        .clone()
}

/// `serve_asgi_next(id, timeout) -> (rid, scope, more_body) | False | None`: the next
/// request with its ASGI scope (without `state`), and whether a body is still to be read
/// (False on timeout, None once the server is closed or this interpreter was retired).
/// Timeout 0 looks once without waiting.
pub(super) fn next<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    match requests::take(py, "serve_asgi_next", a)? {
        Ok((request, thread)) => hand_out(py, request, thread),
        Err(nothing) => {
            if nothing.borrow().is_none() {
                // This loop takes no more (retired, or the server closed): a wake-up it
                // accepted just before goes to another idle loop.
                server(py, id_arg(py, "server id", a[0])?)?
                    .queue()
                    .wake_idle();
            }
            Ok(nothing)
        }
    }
}

/// `(rid, scope, more_body)` of a request taken by `thread` (of this interpreter), now
/// answerable by `rid` and watched for cancellations through the interpreter's inbox.
fn hand_out<'py>(
    py: Attached<'py>,
    request: manygil_serve::Request,
    thread: Arc<ServeThread>,
) -> PyResult<Owned<'py>> {
    let scope = scope(py, &request.head)?;
    let more_body = !request.head.is_websocket() && !request.body.is_finished();
    let rid = requests::new_rid();
    let inbox = inbox(py);
    let to_inbox = inbox.clone();
    let watcher: CancelWatcher = Arc::new(move |reason| to_inbox.push(rid, reason));
    // Already cancelled (e.g. the client left while it was queued): the loop learns it
    // from the inbox like a later cancellation (it may hear it twice).
    if let Some(reason) = request.cancel.set_watcher(watcher) {
        inbox.push(rid, reason);
    }
    // `thread.current` stays 0: nothing interrupts the thread that took the request.
    requests::activate(rid, request, thread);
    new_tuple(
        py,
        vec![new_int(py, rid as i64)?, scope, boolean(py, more_body)],
    )
}

/// `serve_asgi_read(rid, max) -> (data, more_body)`: what the client has sent, up to
/// `max` bytes (at least 1 unless the body ended), waiting (GIL released) until it sends
/// something; `more_body` is False once the body is complete.
pub(super) fn read<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_read", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let max = args::count(py, "size", a[1])?.max(1);
    let (data, more) = requests::read_some(py, rid, max)?;
    new_tuple(py, vec![data, boolean(py, more)])
}

/// `serve_asgi_start(rid, status, headers, bodiless) -> int | None`: the head of an
/// `http.response.start` message (`headers` pairs of bytes), kept for request `rid` until
/// its body follows (`serve_asgi_respond`, `serve_asgi_stream`); returns the declared
/// Content-Length (None without one, or when `bodiless`: a HEAD request, a 304). Raises
/// TypeError for a header that is not a pair of bytes, ValueError for an invalid one.
pub(super) fn start<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_start", a, 4, 4)?;
    let rid = id_arg(py, "request id", a[0])?;
    let status = args::int(py, "status", a[1])?;
    let bodiless = a[3].is_true()?;
    let bad_status = || err::value_error(py, &format!("invalid HTTP status {status}"));
    let code = u16::try_from(status).map_err(|_| bad_status())?;
    // The line form: a code without a standard reason phrase gets an empty one.
    let mut head =
        ResponseHead::from_status_line(code.to_string().as_bytes()).map_err(|_| bad_status())?;
    let items = tuple_of(py, a[2])?;
    let items = items.borrow().tuple_items().unwrap_or_default();
    let mut declared = None;
    for (i, &item) in items.iter().enumerate() {
        let pair = tuple_of(py, item)?;
        let Some(&[name, value]) = pair.borrow().tuple_items() else {
            return Err(err::type_error(
                py,
                &format!("response header {i} must be a (name, value) pair"),
            ));
        };
        // Bytes only: the Python side converts other bytes-like objects and calls again.
        let name = args::bytes(py, "a response header name", name)?;
        let value = args::bytes(py, "a response header value", value)?;
        let value = value.as_slice();
        let name: String = name.iter().map(|&b| char::from(b)).collect();
        if !bodiless && name.eq_ignore_ascii_case("content-length") {
            let text = value.trim_ascii();
            let n = (!text.is_empty() && text.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(text).ok()?.parse::<u64>().ok())
                .flatten();
            let Some(n) = n else {
                let shown: String = value.iter().map(|&b| char::from(b)).collect();
                return Err(err::value_error(
                    py,
                    &format!("invalid Content-Length {shown:?}"),
                ));
            };
            declared = Some(n);
        }
        head.push_header(&name, value)
            .map_err(|e| err::value_error(py, &e.to_string()))?;
    }
    requests::hold_head(py, rid, head)?;
    match declared {
        Some(n) => new_int(py, i64::try_from(n).unwrap_or(i64::MAX)),
        None => Ok(none(py)),
    }
}

/// `serve_asgi_respond(rid, body) -> bool`: answer request `rid` at once with the head
/// `serve_asgi_start` kept and `body`; False if the client can no longer receive it.
/// Never blocks.
pub(super) fn respond<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_respond", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let body = Bytes::from(args::bytes(py, "the response body", a[1])?);
    let ok = requests::respond_held(py, rid, body)?;
    Ok(boolean(py, ok))
}

/// `serve_asgi_stream(rid) -> bool`: send the head `serve_asgi_start` kept for request
/// `rid`; its body follows by `serve_write`. False if the client is gone. Never blocks.
pub(super) fn stream<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_stream", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let ok = requests::stream_held(py, rid)?;
    Ok(boolean(py, ok))
}

fn reason_name(r: CancelReason) -> &'static str {
    match r {
        CancelReason::Timeout => "timeout",
        CancelReason::Shutdown => "shutdown",
        CancelReason::ClientGone => "client_gone",
    }
}

/// `serve_asgi_events(timeout) -> [(rid, reason)] | None`: this interpreter's request
/// cancellations since the last call, waiting (GIL released) up to `timeout` (None: no
/// limit) for one; `[]` on timeout, None once the inbox is closed.
pub(super) fn events<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_events", a, 1, 1)?;
    let timeout = seconds_arg(py, a[0])?;
    let inbox = inbox(py);
    let got = tstate::detached(py, || {
        let deadline = timeout.map(|t| Instant::now() + t.min(Duration::from_secs(86_400)));
        let mut st = inbox.state.lock();
        loop {
            if !st.0.is_empty() {
                return Some(std::mem::take(&mut st.0));
            }
            if st.1 {
                return None;
            }
            match deadline {
                None => inbox.cv.wait(&mut st),
                Some(d) => {
                    if inbox.cv.wait_until(&mut st, d).timed_out() && st.0.is_empty() {
                        return Some(Vec::new());
                    }
                }
            }
        }
    });
    let Some(got) = got else {
        return Ok(none(py));
    };
    let items = got
        .into_iter()
        .map(|(rid, r)| {
            new_tuple(
                py,
                vec![new_int(py, rid as i64)?, new_str(py, reason_name(r))?],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}

/// `serve_asgi_close()`: close this interpreter's inbox (a waiting `serve_asgi_events`
/// returns None, and so does every later call).
pub(super) fn close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_close", a, 0, 0)?;
    // Kept (closed) in the map: a `serve_asgi_events` called after this returns None
    // instead of waiting on a new inbox. One small entry per worker interpreter.
    let inbox = inbox(py);
    let mut st = inbox.state.lock();
    st.1 = true;
    st.0.clear();
    inbox.cv.notify_all();
    Ok(none(py))
}

// ---- the feed: wake-ups of an idle loop --------------------------------------------

/// How often the feed thread looks whether the server closed or the interpreter was
/// retired.
const FEED_POLL: Duration = Duration::from_millis(200);

/// What the feed of one interpreter holds.
#[derive(Default)]
struct FeedState {
    /// The loop found nothing to take and waits for a wake-up (until `serve_asgi_woken`).
    want: bool,
    /// The loop will take no more (its quota is reached): the feed thread returns False.
    stopped: bool,
    /// The queue the wake-up is registered with, and its id there.
    registered: Option<(RequestQueue, u64)>,
}

impl FeedState {
    /// Drop the wake-up still registered, if any.
    fn forget(&mut self) {
        if let Some((queue, id)) = self.registered.take() {
            queue.forget_wake(id);
        }
    }
}

/// The feed of one interpreter: its state and the socket pair that wakes its loop.
struct Feed {
    state: Mutex<FeedState>,
    /// Signalled when the loop stops the feed.
    cv: Condvar,
    /// Written (one byte, non-blocking) to wake the loop.
    wake: UnixStream,
    /// The loop's end: readable while a byte is unread.
    watch: UnixStream,
}

impl Feed {
    fn ring(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

/// Feeds by interpreter id (ids are never reused).
static FEEDS: Mutex<Option<HashMap<i64, Arc<Feed>>>> = Mutex::new(None);

/// The attached interpreter's feed, or None before `serve_asgi_feed_fd` made it.
fn feed_of(py: Attached<'_>) -> Option<Arc<Feed>> {
    FEEDS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&current_interpreter_id(py)).cloned())
}

fn no_feed(py: Attached<'_>) -> crate::ffi::err::PyErrSet {
    crate::ffi::err::value_error(
        py,
        "this interpreter has no ASGI feed (serve_asgi_feed_fd first)",
    )
}

/// `serve_asgi_feed_fd() -> int`: make this interpreter's feed (replacing an earlier one)
/// and return the descriptor its loop watches for readability (valid until
/// `serve_asgi_feed_close`).
pub(super) fn feed_fd<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_feed_fd", a, 0, 0)?;
    let (wake, watch) = UnixStream::pair()
        .and_then(|(w, r)| {
            w.set_nonblocking(true)?;
            r.set_nonblocking(true)?;
            Ok((w, r))
        })
        .map_err(|e| os_error(py, &format!("cannot make the ASGI feed's socket pair: {e}")))?;
    let feed = Arc::new(Feed {
        state: Mutex::new(FeedState::default()),
        cv: Condvar::new(),
        wake,
        watch,
    });
    let fd = feed.watch.as_raw_fd();
    let old = FEEDS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(current_interpreter_id(py), feed);
    if let Some(old) = &old {
        old.state.lock().forget();
    }
    // Dropped outside the map lock.
    drop(old);
    new_int(py, i64::from(fd))
}

/// `serve_asgi_feed_close()`: forget this interpreter's feed (its loop stopped watching).
pub(super) fn feed_close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_feed_close", a, 0, 0)?;
    let id = current_interpreter_id(py);
    let gone = FEEDS.lock().as_mut().and_then(|m| m.remove(&id));
    if let Some(feed) = &gone {
        let mut st = feed.state.lock();
        st.forget();
        st.stopped = true;
        feed.cv.notify_all();
    }
    drop(gone);
    Ok(none(py))
}

/// `serve_asgi_want(id)`: the loop found no request of server `id` to take: the I/O
/// thread that queues the next one wakes the loop (its descriptor turns readable; at once
/// if one is already waiting). Never waits.
pub(super) fn want<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_want", a, 1, 1)?;
    let queue = server(py, id_arg(py, "server id", a[0])?)?.queue();
    let feed = feed_of(py).ok_or_else(|| no_feed(py))?;
    let mut st = feed.state.lock();
    if st.want || st.stopped {
        return Ok(none(py));
    }
    st.want = true;
    let weak = Arc::downgrade(&feed);
    let interp = current_interpreter_id(py);
    // Declined (the next idle loop is woken instead) once this loop takes no more.
    let ring: Wake = Arc::new(move || {
        let Some(feed) = weak.upgrade() else {
            return false;
        };
        if feed.state.lock().stopped || interrupt::is_retired_id(interp) {
            return false;
        }
        feed.ring();
        true
    });
    let (id, waiting) = queue.wake_me(ring);
    st.registered = Some((queue, id));
    drop(st);
    if waiting {
        feed.ring();
    }
    Ok(none(py))
}

/// `serve_asgi_woken()`: the loop's descriptor turned readable: read it and drop the
/// wake-up still registered (the loop looks at the queue next). Never waits.
pub(super) fn woken<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_woken", a, 0, 0)?;
    if let Some(feed) = feed_of(py) {
        // The bytes first: a wake-up after this finds them read and writes again.
        let mut buf = [0u8; 64];
        while matches!((&feed.watch).read(&mut buf), Ok(n) if n > 0) {}
        let mut st = feed.state.lock();
        st.want = false;
        st.forget();
    }
    Ok(none(py))
}

/// `serve_asgi_feed_stop()`: the loop takes no more requests (its quota is reached): the
/// feed thread returns False. Never waits.
pub(super) fn feed_stop<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_feed_stop", a, 0, 0)?;
    if let Some(feed) = feed_of(py) {
        let mut st = feed.state.lock();
        st.forget();
        st.stopped = true;
        feed.cv.notify_all();
    }
    Ok(none(py))
}

/// `serve_asgi_feed(id) -> None | False`: wait in the calling thread (GIL released) until
/// server `id` closes or this interpreter is retired (None), or the loop stops taking
/// requests (False).
pub(super) fn feed<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_asgi_feed", a, 1, 1)?;
    let queue = server(py, id_arg(py, "server id", a[0])?)?.queue();
    let feed = feed_of(py).ok_or_else(|| no_feed(py))?;
    let thread = interrupt::this_thread(py);
    let stopped = tstate::detached(py, || {
        let mut st = feed.state.lock();
        loop {
            if st.stopped {
                return true;
            }
            if interrupt::is_retired(&thread) || queue.is_closed() {
                // The loop takes no more (`serve_asgi_next` says so): no wake-up for it
                // any more; wake it, so that it looks.
                st.forget();
                feed.ring();
                return false;
            }
            feed.cv.wait_for(&mut st, FEED_POLL);
        }
    });
    Ok(if stopped {
        boolean(py, false)
    } else {
        none(py)
    })
}

fn set<'py>(py: Attached<'py>, d: &Owned<'py>, key: &str, value: Owned<'py>) -> PyResult<()> {
    d.borrow()
        .set_item(new_str(py, key)?.borrow(), value.borrow())
}

/// `(host, port)` of a TCP end; `(path, None)` of a Unix socket with a path; None without.
fn address<'py>(py: Attached<'py>, peer: &Peer) -> PyResult<Owned<'py>> {
    match peer {
        Peer::Tcp(a) => new_tuple(
            py,
            vec![
                new_str(py, &a.ip().to_string())?,
                new_int(py, i64::from(a.port()))?,
            ],
        ),
        Peer::Unix(Some(path)) => new_tuple(
            py,
            vec![new_str(py, &path.display().to_string())?, none(py)],
        ),
        Peer::Unix(None) => Ok(none(py)),
    }
}

/// The ASGI connection scope of a request, without `state` (added by the worker from its
/// lifespan state): HTTP (ASGI 3.0, HTTP spec 2.3), or WebSocket (spec 2.4, with the
/// `websocket.http.response` extension) for a WebSocket opening handshake.
fn scope<'py>(py: Attached<'py>, head: &RequestHead) -> PyResult<Owned<'py>> {
    let websocket = head.is_websocket();
    let d = new_dict(py)?;
    let asgi = new_dict(py)?;
    set(py, &asgi, "version", new_str(py, "3.0")?)?;
    let version = head.version.strip_prefix("HTTP/").unwrap_or(head.version);
    set(py, &d, "http_version", new_str(py, version)?)?;
    if websocket {
        set(py, &d, "type", new_str(py, "websocket")?)?;
        set(py, &asgi, "spec_version", new_str(py, "2.4")?)?;
        set(py, &d, "scheme", new_str(py, "ws")?)?;
        let offered = head
            .websocket_subprotocols()
            .iter()
            .map(|p| new_str(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        set(py, &d, "subprotocols", new_list(py, offered)?)?;
        let extensions = new_dict(py)?;
        set(py, &extensions, "websocket.http.response", new_dict(py)?)?;
        set(py, &d, "extensions", extensions)?;
    } else {
        set(py, &d, "type", new_str(py, "http")?)?;
        set(py, &asgi, "spec_version", new_str(py, "2.3")?)?;
        set(py, &d, "method", new_str(py, &head.method)?)?;
        set(py, &d, "scheme", new_str(py, "http")?)?;
    }
    set(py, &d, "asgi", asgi)?;
    // Percent-escapes and UTF-8 decoded (invalid UTF-8 replaced, as uvicorn does).
    let path = head.decoded_path();
    set(
        py,
        &d,
        "path",
        new_str(py, &String::from_utf8_lossy(&path))?,
    )?;
    set(py, &d, "raw_path", new_bytes(py, head.path.as_bytes())?)?;
    set(
        py,
        &d,
        "query_string",
        new_bytes(py, head.query.as_bytes())?,
    )?;
    set(py, &d, "root_path", new_str(py, "")?)?;
    let headers = head
        .headers()
        .map(|(n, v)| new_tuple(py, vec![new_bytes(py, n.as_bytes())?, new_bytes(py, v)?]))
        .collect::<PyResult<Vec<_>>>()?;
    set(py, &d, "headers", new_list(py, headers)?)?;
    set(py, &d, "client", address(py, &head.peer)?)?;
    let server = match &head.local {
        // On a Unix socket without a path of its own: the Host header's name and port.
        Peer::Unix(None) => {
            let (name, port) = head.server_name_port();
            let port = match port.parse::<i64>() {
                Ok(p) => new_int(py, p)?,
                Err(_) => none(py),
            };
            new_tuple(py, vec![new_str(py, &name)?, port])?
        }
        local => address(py, local)?,
    };
    set(py, &d, "server", server)?;
    Ok(d)
}
