//! The `serve_*` functions of `manygil._native`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use manygil_serve::{
    BindError, BodyError, BodyWriter, Cancel, CancelReason, Config, Listen, Recv, Responder,
    ResponseHead, Server,
};
use parking_lot::Mutex;

use crate::ffi::args;
use crate::ffi::entry::{entry, method};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::values::new_bytes;
use crate::ffi::*;

use super::environ;
use super::interrupt::{self, ServeThread};

/// Servers of this process by id (bound in the main interpreter, used from all).
static SERVERS: Mutex<Option<HashMap<u64, Arc<Server>>>> = Mutex::new(None);
/// Source of server ids.
static NEXT_SERVER: AtomicU64 = AtomicU64::new(1);
/// Requests being answered, by id. A request is used by one thread at a time (the one
/// that took it); the map lock is held only to find or remove it.
static ACTIVE: Mutex<Option<HashMap<u64, Arc<Mutex<Active>>>>> = Mutex::new(None);
/// Source of request ids (0 means "none").
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A request taken by a worker thread and not yet done.
struct Active {
    /// The request body.
    body: manygil_serve::BodyReader,
    /// Set until the answer head is sent.
    responder: Option<Responder>,
    /// Set while a streamed answer is being written.
    writer: Option<BodyWriter>,
    /// The request's cancellation (shared with the front).
    cancel: Arc<Cancel>,
    /// The last body read error.
    body_error: Option<BodyError>,
    /// The thread working on it.
    thread: Arc<ServeThread>,
}

fn server(py: Attached<'_>, id: u64) -> PyResult<Arc<Server>> {
    SERVERS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&id).cloned())
        .ok_or_else(|| err::value_error(py, &format!("no server with id {id} (closed?)")))
}

fn active(py: Attached<'_>, rid: u64) -> PyResult<Arc<Mutex<Active>>> {
    ACTIVE
        .lock()
        .as_ref()
        .and_then(|m| m.get(&rid).cloned())
        .ok_or_else(|| err::value_error(py, &format!("no active request {rid} (already done?)")))
}

// ---- arguments: converted by ffi::args ---------------------------------------------

/// A server or request id (a non-negative int).
fn id_arg(py: Attached<'_>, what: &str, o: Borrowed<'_, '_>) -> PyResult<u64> {
    Ok(args::count(py, what, o)? as u64)
}

/// Seconds (int or float), `None` or infinite meaning no limit; negative or NaN raise.
fn seconds_arg(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<Option<Duration>> {
    args::timeout(py, Some(o))
}

/// `tuple(obj)` for an iterable (a snapshot whose items cannot change).
fn tuple_of(py: Attached<'_>, obj: Borrowed<'_, '_>) -> PyResult<Owned> {
    // SAFETY: attached; a valid object; a new tuple reference or NULL.
    unsafe { Owned::from_new(py, PySequence_Tuple(obj.as_ptr())) }
}

fn os_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { err::raise(py, PyExc_OSError, msg) }
}

/// A WSGI status line and header list as a validated head. Header values are native
/// strings encoded as latin-1 (PEP 3333).
fn head_from(
    py: Attached<'_>,
    status: Borrowed<'_, '_>,
    headers: Borrowed<'_, '_>,
) -> PyResult<ResponseHead> {
    let status = args::string(py, "status", status)?;
    let mut head = ResponseHead::from_status_line(&status)
        .map_err(|e| err::value_error(py, &e.to_string()))?;
    if !headers.is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(
            py,
            &format!(
                "response headers must be a list, not {}",
                err::type_name(py, headers)
            ),
        ));
    }
    // A snapshot: the loop runs `str` conversions only, but a list could still be changed
    // by them in theory, so hold a tuple of its items.
    let items = headers.to_sequence(c"response headers must be a list")?;
    let items = tuple_of(py, items.borrow(py))?;
    // SAFETY: a tuple we own: its items cannot change.
    for (i, &item) in unsafe { items.borrow(py).sequence_items() }
        .iter()
        .enumerate()
    {
        let pair = item.is_instance(&raw mut PyTuple_Type).then(|| {
            // SAFETY: a tuple, kept alive by `items`; it cannot change.
            unsafe { item.sequence_items() }
        });
        let Some(&[name, value]) = pair else {
            return Err(err::type_error(
                py,
                &format!(
                    "response header {i} must be a (name, value) tuple, not {}",
                    err::describe(py, item)
                ),
            ));
        };
        let name = args::string(py, "a response header name", name)?;
        if !value.is_instance(&raw mut PyUnicode_Type) {
            return Err(err::type_error(
                py,
                &format!(
                    "the value of response header {name:?} must be a str, not {}",
                    err::type_name(py, value)
                ),
            ));
        }
        // SAFETY: a str; returns a new bytes reference or NULL (not latin-1).
        let encoded = unsafe { Owned::from_new(py, PyUnicode_AsLatin1String(value.as_ptr())) }
            .map_err(|_| {
                err::clear(py);
                err::value_error(
                    py,
                    &format!(
                        "the value of response header {name:?} is not latin-1 text (PEP 3333)"
                    ),
                )
            })?;
        let bytes = args::bytes(py, "header value", encoded.borrow(py))?;
        head.push_header(&name, &bytes)
            .map_err(|e| err::value_error(py, &e.to_string()))?;
    }
    Ok(head)
}

// ---- main interpreter: servers ------------------------------------------------------

/// `serve_bind(listen, io_threads, max_header_bytes, max_headers, max_body,
/// header_timeout, body_timeout, request_timeout, access_log) -> (id, [address])`.
fn bind(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_bind", a, 9, 9)?;
    if !a[0].is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(py, "listen must be a list of str"));
    }
    let listen_items = tuple_of(py, a[0])?;
    let mut listen = Vec::new();
    // SAFETY: a tuple we own: its items cannot change.
    for &item in unsafe { listen_items.borrow(py).sequence_items() } {
        let s = args::string(py, "a listen address", item)?;
        if let Some(path) = s.strip_prefix("unix:") {
            listen.push(Listen::Unix(path.into()));
        } else {
            use std::net::ToSocketAddrs;
            let addr = s
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    err::value_error(
                        py,
                        &format!("cannot use {s:?} as an address: expected HOST:PORT, e.g. 127.0.0.1:8000"),
                    )
                })?;
            listen.push(Listen::Tcp(addr));
        }
    }
    let default = Config::default();
    let config = Config {
        listen,
        io_threads: args::count(py, "io_threads", a[1])?.clamp(1, 64),
        max_header_bytes: args::count(py, "max_header_bytes", a[2])?.max(1024),
        max_headers: args::count(py, "max_headers", a[3])?.max(1),
        max_body: args::count(py, "max_body", a[4])? as u64,
        // None, infinite or 0: the default.
        header_timeout: seconds_arg(py, a[5])?
            .filter(|d| !d.is_zero())
            .unwrap_or(default.header_timeout),
        body_timeout: seconds_arg(py, a[6])?
            .filter(|d| !d.is_zero())
            .unwrap_or(default.body_timeout),
        // None, infinite or 0: no limit.
        request_timeout: seconds_arg(py, a[7])?.filter(|d| !d.is_zero()),
        access_log: a[8].is_true()?,
        ..default
    };
    let bound = tstate::detached(py, || Server::bind(config));
    let server = bound.map_err(|e| match e {
        BindError::InUse(_) | BindError::Other(_) => os_error(py, &e.to_string()),
    })?;
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    let id = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
    SERVERS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(id, Arc::new(server));
    let items = addrs
        .iter()
        .map(|s| new_str(py, s))
        .collect::<PyResult<Vec<_>>>()?;
    new_tuple(py, vec![new_int(py, id as i64)?, new_list(py, items)?])
}

/// `serve_start(id)`: start accepting connections.
fn start(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_start", a, 1, 1)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    s.start();
    Ok(none(py))
}

/// `serve_shutdown(id, grace) -> (graceful, cancelled)`: blocks with the GIL released.
fn shutdown(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_shutdown", a, 2, 2)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    // None or infinite: wait for every connection.
    let grace = seconds_arg(py, a[1])?.unwrap_or(Duration::MAX);
    let report = tstate::detached(py, || s.shutdown(grace));
    new_tuple(
        py,
        vec![
            boolean(py, report.graceful),
            new_int(py, report.cancelled as i64)?,
        ],
    )
}

/// `serve_close(id)`: forget the server (shutting it down at once if still running).
fn close(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_close", a, 1, 1)?;
    let id = id_arg(py, "server id", a[0])?;
    let s = SERVERS.lock().as_mut().and_then(|m| m.remove(&id));
    if let Some(s) = s {
        tstate::detached(py, || drop(s));
    }
    Ok(none(py))
}

/// `serve_stats(id) -> (in_flight, queued)`.
fn stats(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_stats", a, 1, 1)?;
    let s = server(py, id_arg(py, "server id", a[0])?)?;
    let q = s.queue();
    new_tuple(
        py,
        vec![
            new_int(py, s.in_flight() as i64)?,
            new_int(py, q.len() as i64)?,
        ],
    )
}

// ---- worker threads: requests ----------------------------------------------------------

/// `serve_next(id, timeout) -> (rid, environ) | False | None`: the next request (False on
/// timeout, None once the server is closed). Waits with the GIL released.
fn next(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_next", a, 2, 2)?;
    let queue = server(py, id_arg(py, "server id", a[0])?)?.queue();
    let timeout = seconds_arg(py, a[1])?;
    let thread = interrupt::this_thread(py);
    if interrupt::is_retired(&thread) {
        return Ok(none(py));
    }
    let got = tstate::detached(py, || queue.recv(timeout));
    let request = match got {
        Recv::Closed => return Ok(none(py)),
        Recv::Timeout => return Ok(boolean(py, false)),
        Recv::Request(r) => *r,
    };
    let env = environ::build(py, &request.head)?;
    let rid = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    thread.current.store(rid, Ordering::Release);
    let hook_thread = thread.clone();
    // Already cancelled: the app still runs, its answer is refused.
    let _ = request.cancel.set_hook(Box::new(move |_| {
        interrupt::interrupt(&hook_thread, rid);
    }));
    let act = Active {
        body: request.body,
        responder: Some(request.responder),
        writer: None,
        cancel: request.cancel,
        body_error: None,
        thread,
    };
    ACTIVE
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(rid, Arc::new(Mutex::new(act)));
    new_tuple(py, vec![new_int(py, rid as i64)?, env])
}

/// `serve_done(rid)`: the worker is done with the request (an unanswered one gets 500; an
/// unfinished streamed body is cut). Cancels an interrupt not yet delivered.
fn done(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_done", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let act = ACTIVE.lock().as_mut().and_then(|m| m.remove(&rid));
    if let Some(act) = act {
        let act = act.lock();
        act.cancel.clear_hook();
        let _ = act
            .thread
            .current
            .compare_exchange(rid, 0, Ordering::AcqRel, Ordering::Acquire);
    }
    interrupt::clear_pending(py);
    Ok(none(py))
}

/// `serve_thread_exit()`: the calling thread leaves its serve loop.
fn thread_exit(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_thread_exit", a, 0, 0)?;
    interrupt::leave(py);
    interrupt::clear_pending(py);
    Ok(none(py))
}

fn body_op(
    py: Attached<'_>,
    rid: u64,
    f: impl FnOnce(&mut manygil_serve::BodyReader) -> Result<Vec<u8>, BodyError> + Send,
) -> PyResult<Owned> {
    let act = active(py, rid)?;
    let mut act = act.lock();
    let body = &mut act.body;
    let r = tstate::detached(py, || f(body));
    match r {
        Ok(data) => new_bytes(py, &data),
        Err(e) => {
            let msg = e.to_string();
            act.body_error = Some(e);
            Err(os_error(py, &msg))
        }
    }
}

/// A read size: None or negative means "all".
fn size_arg(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<Option<usize>> {
    if args::is_none(Some(o)) {
        return Ok(None);
    }
    let n = args::int(py, "size", o)?;
    Ok(usize::try_from(n).ok())
}

/// `serve_read(rid, size)`: up to `size` bytes (`size` < 0 or None: the rest).
fn read(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_read", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    match size_arg(py, a[1])? {
        None => body_op(py, rid, |b| b.read_to_end(None)),
        // A read of n returns n bytes unless the body ends first (file semantics).
        Some(n) => body_op(py, rid, |b| b.read_to_end(Some(n))),
    }
}

/// `serve_readline(rid, size)`: one line, at most `size` bytes.
fn readline(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_readline", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let size = size_arg(py, a[1])?;
    body_op(py, rid, |b| b.read_line(size))
}

/// `serve_respond(rid, status, headers, body) -> bool`: the whole answer at once;
/// False if the client can no longer receive it.
fn respond(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_respond", a, 4, 4)?;
    let rid = id_arg(py, "request id", a[0])?;
    let head = head_from(py, a[1], a[2])?;
    let body = Bytes::from(args::bytes(py, "the response body", a[3])?);
    let act = active(py, rid)?;
    let responder = act.lock().responder.take();
    let Some(responder) = responder else {
        return Err(err::runtime_error(py, "the response was already sent"));
    };
    Ok(boolean(py, responder.send_full(head, body).is_ok()))
}

/// `serve_start_stream(rid, status, headers) -> bool`: send the head; the body follows by
/// `serve_write`.
fn start_stream(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_start_stream", a, 3, 3)?;
    let rid = id_arg(py, "request id", a[0])?;
    let head = head_from(py, a[1], a[2])?;
    let act = active(py, rid)?;
    let mut act = act.lock();
    let Some(responder) = act.responder.take() else {
        return Err(err::runtime_error(py, "the response was already sent"));
    };
    match responder.start_stream(head) {
        Ok(w) => {
            act.writer = Some(w);
            Ok(boolean(py, true))
        }
        Err(_) => Ok(boolean(py, false)),
    }
}

/// `serve_write(rid, data) -> bool`: one body chunk (blocks, GIL released, while the
/// client is slow); False if the client is gone.
fn write(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_write", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let data = Bytes::from(args::bytes(py, "a body chunk", a[1])?);
    let act = active(py, rid)?;
    let mut act = act.lock();
    let Some(w) = act.writer.as_mut() else {
        return Err(err::runtime_error(py, "the response head was not sent"));
    };
    let ok = tstate::detached(py, || w.write(data).is_ok());
    Ok(boolean(py, ok))
}

/// `serve_finish(rid) -> bool`: end a streamed body.
fn finish(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_finish", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let act = active(py, rid)?;
    let w = act.lock().writer.take();
    let ok = match w {
        Some(w) => tstate::detached(py, || w.finish().is_ok()),
        None => false,
    };
    Ok(boolean(py, ok))
}

/// `serve_abort(rid)`: cut a streamed body (the application failed mid-body).
fn abort(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_abort", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let act = active(py, rid)?;
    let w = act.lock().writer.take();
    if let Some(w) = w {
        w.abort();
    }
    Ok(none(py))
}

/// `serve_status(rid) -> (cancelled, body_error)`: why the request was cancelled
/// ("timeout", "shutdown", "client_gone" or None) and how its body read failed
/// ("too_large", "timeout", "cancelled", "broken" or None).
fn status(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_status", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let act = active(py, rid)?;
    let act = act.lock();
    let cancelled = match act.cancel.reason() {
        None => none(py),
        Some(CancelReason::Timeout) => new_str(py, "timeout")?,
        Some(CancelReason::Shutdown) => new_str(py, "shutdown")?,
        Some(CancelReason::ClientGone) => new_str(py, "client_gone")?,
    };
    let body = match &act.body_error {
        None => none(py),
        Some(BodyError::TooLarge(_)) => new_str(py, "too_large")?,
        Some(BodyError::Timeout(_)) => new_str(py, "timeout")?,
        Some(BodyError::Cancelled(_)) => new_str(py, "cancelled")?,
        Some(BodyError::Broken(_)) => new_str(py, "broken")?,
    };
    new_tuple(py, vec![cancelled, body])
}

/// `serve_stuck(after) -> [interpreter id]`: interpreters with a request thread still
/// busy `after` seconds after it was interrupted.
fn stuck(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_stuck", a, 1, 1)?;
    // None or infinite: no worker is ever stuck.
    let after = seconds_arg(py, a[0])?;
    let ids = after.map(interrupt::stuck).unwrap_or_default();
    let items = ids
        .into_iter()
        .map(|id| new_int(py, id))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}

/// `serve_retire(interp_id)`: that interpreter's threads take no further request
/// (`serve_next` returns None there).
fn retire(py: Attached<'_>, _m: Borrowed<'_, '_>, a: &[Borrowed<'_, '_>]) -> PyResult<Owned> {
    args::positional(py, "serve_retire", a, 1, 1)?;
    interrupt::retire(args::interp_id(py, a[0])?);
    Ok(none(py))
}

/// `serve_release_memory() -> bool`: give the C allocator's free memory back to the
/// system (after the workers imported the application); True if any was released.
fn release_memory(
    py: Attached<'_>,
    _m: Borrowed<'_, '_>,
    a: &[Borrowed<'_, '_>],
) -> PyResult<Owned> {
    args::positional(py, "serve_release_memory", a, 0, 0)?;
    let released = tstate::detached(py, manygil_serve::release_free_memory);
    Ok(boolean(py, released))
}

// ---- registration -----------------------------------------------------------------------

entry!(c_serve_bind => bind);
entry!(c_serve_start => start);
entry!(c_serve_shutdown => shutdown);
entry!(c_serve_close => close);
entry!(c_serve_stats => stats);
entry!(c_serve_next => next);
entry!(c_serve_done => done);
entry!(c_serve_thread_exit => thread_exit);
entry!(c_serve_read => read);
entry!(c_serve_readline => readline);
entry!(c_serve_respond => respond);
entry!(c_serve_start_stream => start_stream);
entry!(c_serve_write => write);
entry!(c_serve_finish => finish);
entry!(c_serve_abort => abort);
entry!(c_serve_status => status);
entry!(c_serve_stuck => stuck);
entry!(c_serve_retire => retire);
entry!(c_serve_release_memory => release_memory);

/// The `serve_*` method table (static C data; CPython only reads it).
static mut METHODS: [PyMethodDef; 20] = [
    method!(c"serve_bind", c_serve_bind, c"serve_bind(listen, io_threads, max_header_bytes, max_headers, max_body, header_timeout, body_timeout, request_timeout, access_log, /)\n--\n\nBind an HTTP server (not accepting yet); return (id, [address])."),
    method!(c"serve_start", c_serve_start, c"serve_start(id, /)\n--\n\nStart accepting connections."),
    method!(c"serve_shutdown", c_serve_shutdown, c"serve_shutdown(id, grace, /)\n--\n\nStop accepting, finish in-flight requests within grace seconds, cancel the rest; return (graceful, cancelled)."),
    method!(c"serve_close", c_serve_close, c"serve_close(id, /)\n--\n\nForget a server, shutting it down at once if needed."),
    method!(c"serve_stats", c_serve_stats, c"serve_stats(id, /)\n--\n\nReturn (requests in flight, requests queued)."),
    method!(c"serve_next", c_serve_next, c"serve_next(id, timeout, /)\n--\n\nWait for the next request: (rid, environ), False on timeout, None once closed."),
    method!(c"serve_done", c_serve_done, c"serve_done(rid, /)\n--\n\nRelease a request (unanswered: 500)."),
    method!(c"serve_thread_exit", c_serve_thread_exit, c"serve_thread_exit()\n--\n\nThe calling thread stops serving."),
    method!(c"serve_read", c_serve_read, c"serve_read(rid, size, /)\n--\n\nRead up to size bytes of the request body (None or < 0: all)."),
    method!(c"serve_readline", c_serve_readline, c"serve_readline(rid, size, /)\n--\n\nRead one line of the request body."),
    method!(c"serve_respond", c_serve_respond, c"serve_respond(rid, status, headers, body, /)\n--\n\nSend the whole response; False if the client is gone."),
    method!(c"serve_start_stream", c_serve_start_stream, c"serve_start_stream(rid, status, headers, /)\n--\n\nSend the response head; False if the client is gone."),
    method!(c"serve_write", c_serve_write, c"serve_write(rid, data, /)\n--\n\nSend a body chunk; False if the client is gone."),
    method!(c"serve_finish", c_serve_finish, c"serve_finish(rid, /)\n--\n\nEnd a streamed body."),
    method!(c"serve_abort", c_serve_abort, c"serve_abort(rid, /)\n--\n\nCut a streamed body."),
    method!(c"serve_status", c_serve_status, c"serve_status(rid, /)\n--\n\nReturn (cancel reason, body error) as strings or None."),
    method!(c"serve_stuck", c_serve_stuck, c"serve_stuck(after, /)\n--\n\nIds of interpreters still busy with a request after seconds since it was interrupted."),
    method!(c"serve_retire", c_serve_retire, c"serve_retire(interp_id, /)\n--\n\nThe interpreter's threads take no further request."),
    method!(c"serve_release_memory", c_serve_release_memory, c"serve_release_memory()\n--\n\nGive the C allocator's free memory back to the system; True if any was released."),
    PyMethodDef::zeroed(),
];

/// Add the `serve_*` functions to `module` (in every interpreter).
pub(crate) fn add_functions(module: Borrowed<'_, '_>) -> PyResult<()> {
    // SAFETY: the table is static, zero-terminated, made of `method!` entries.
    unsafe { crate::ffi::module::add_functions(module, (&raw mut METHODS).cast()) }
}
