//! The requests that threads of worker interpreters answer: `serve_next` hands one out
//! with its environ, the body and answer functions work on it by id, `serve_done` ends it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use manygil_serve::{BodyError, BodyWriter, Cancel, CancelReason, Recv, Responder, ResponseHead};
use parking_lot::Mutex;

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::PyList_Type;
use crate::ffi::tstate;
use crate::ffi::values::new_bytes;
use crate::ffi::{boolean, new_int, new_str, new_tuple, none, Attached, Borrowed, Owned};

use super::args::{id_arg, os_error, seconds_arg, tuple_of};
use super::environ;
use super::interrupt::{self, ServeThread};
use super::servers::server;

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
    /// An ASGI answer's head, from `http.response.start` until its first body message.
    head: Option<ResponseHead>,
    /// Set while a streamed answer is being written.
    writer: Option<BodyWriter>,
    /// The request's cancellation (shared with the front).
    cancel: Arc<Cancel>,
    /// The last body read error.
    body_error: Option<BodyError>,
    /// The thread working on it.
    thread: Arc<ServeThread>,
}

/// What a request being answered is, for snapshots (kept apart from [`Active`], whose lock a
/// thread holds while it waits on the client).
#[derive(Clone)]
pub(super) struct InFlight {
    /// The interpreter of the thread that took it.
    pub(super) interp_id: i64,
    /// The name of the OS thread that took it (for WSGI, the one running it).
    pub(super) thread: Arc<str>,
    /// `METHOD /path?query`.
    pub(super) what: Arc<str>,
    /// When a worker took it.
    pub(super) since: Instant,
}

/// [`InFlight`] of every request between `activate` and `serve_done`, by id.
static IN_FLIGHT: Mutex<Option<HashMap<u64, InFlight>>> = Mutex::new(None);

fn active(py: Attached<'_>, rid: u64) -> PyResult<Arc<Mutex<Active>>> {
    ACTIVE
        .lock()
        .as_ref()
        .and_then(|m| m.get(&rid).cloned())
        .ok_or_else(|| err::value_error(py, &format!("no active request {rid} (already done?)")))
}

/// A WSGI status line and header list as a validated head. Header values are native
/// strings encoded as latin-1 (PEP 3333).
fn head_from(
    py: Attached<'_>,
    status: Borrowed<'_, '_>,
    headers: Borrowed<'_, '_>,
) -> PyResult<ResponseHead> {
    let status = args::latin1(py, "the status", status)?;
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
    // A snapshot: the loop runs `str` conversions, which could change a list, so iterate
    // over a tuple of its items.
    let items = tuple_of(py, headers)?;
    let items = items.borrow().tuple_items().unwrap_or_default();
    for (i, &item) in items.iter().enumerate() {
        let Some(&[name, value]) = item.tuple_items() else {
            return Err(err::type_error(
                py,
                &format!(
                    "response header {i} must be a (name, value) tuple, not {}",
                    err::describe(py, item)
                ),
            ));
        };
        let name = args::string(py, "a response header name", name)?;
        let bytes = args::latin1(py, &format!("the value of response header {name:?}"), value)?;
        head.push_header(&name, &bytes)
            .map_err(|e| err::value_error(py, &e.to_string()))?;
    }
    Ok(head)
}

/// A request taken with the thread that took it, or the value to return instead.
pub(super) type Taken<'py> = Result<(manygil_serve::Request, Arc<ServeThread>), Owned<'py>>;

/// The next request of server `a[0]` within timeout `a[1]` (waiting with the GIL
/// released) and the calling thread's registration; or what to return instead: False on
/// timeout, None once the server is closed or the thread's interpreter was retired.
pub(super) fn take<'py>(
    py: Attached<'py>,
    name: &str,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Taken<'py>> {
    args::positional(py, name, a, 2, 2)?;
    let queue = server(py, id_arg(py, "server id", a[0])?)?.queue();
    let timeout = seconds_arg(py, a[1])?;
    let thread = interrupt::this_thread(py);
    if interrupt::is_retired(&thread) {
        return Ok(Err(none(py)));
    }
    let got = tstate::detached(py, || queue.recv_unless(timeout, &thread.retired));
    Ok(match got {
        Recv::Closed => Err(none(py)),
        Recv::Timeout => Err(boolean(py, false)),
        Recv::Request(r) => Ok((*r, thread)),
    })
}

/// `serve_next(id, timeout) -> (rid, environ) | False | None`: the next request (False on
/// timeout, None once the server is closed). Waits with the GIL released.
pub(super) fn next<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let (request, thread) = match take(py, "serve_next", a)? {
        Ok(taken) => taken,
        Err(nothing) => return Ok(nothing),
    };
    let env = environ::build(py, &request.head)?;
    let rid = new_rid();
    thread.current.store(rid, Ordering::Release);
    let hook_thread = thread.clone();
    // Already cancelled: the app still runs, its answer is refused.
    let _ = request.cancel.set_hook(Box::new(move |_| {
        interrupt::interrupt(&hook_thread, rid);
    }));
    activate(rid, request, thread);
    new_tuple(py, vec![new_int(py, rid as i64)?, env])
}

/// A new request id.
pub(super) fn new_rid() -> u64 {
    NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
}

/// Make `request` answerable by id `rid` (the `serve_read`/`serve_respond`/... functions)
/// until `serve_done(rid)`.
pub(super) fn activate(rid: u64, request: manygil_serve::Request, thread: Arc<ServeThread>) {
    let head = &request.head;
    let what = if head.query.is_empty() {
        format!("{} {}", head.method, head.path)
    } else {
        format!("{} {}?{}", head.method, head.path, head.query)
    };
    IN_FLIGHT.lock().get_or_insert_with(HashMap::new).insert(
        rid,
        InFlight {
            interp_id: thread.interp_id(),
            thread: thread.name(),
            what: what.into(),
            since: Instant::now(),
        },
    );
    let act = Active {
        body: request.body,
        responder: Some(request.responder),
        head: None,
        writer: None,
        cancel: request.cancel,
        body_error: None,
        thread,
    };
    ACTIVE
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(rid, Arc::new(Mutex::new(act)));
}

/// `serve_done(rid)`: the worker is done with the request (an unanswered one gets 500; an
/// unfinished streamed body is cut). Cancels an interrupt not yet delivered.
pub(super) fn done<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_done", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let act = ACTIVE.lock().as_mut().and_then(|m| m.remove(&rid));
    IN_FLIGHT.lock().as_mut().map(|m| m.remove(&rid));
    // An accepted WebSocket still open is closed (1000).
    super::sockets::forget(rid);
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
pub(super) fn thread_exit<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_thread_exit", a, 0, 0)?;
    interrupt::leave(py);
    interrupt::clear_pending(py);
    Ok(none(py))
}

fn body_op<'py>(
    py: Attached<'py>,
    rid: u64,
    f: impl FnOnce(&mut manygil_serve::BodyReader) -> Result<Vec<u8>, BodyError> + Send,
) -> PyResult<Owned<'py>> {
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

/// Up to `max` bytes of the body as they arrive (at least 1 unless it ended), and whether
/// more is to come; waits with the GIL released.
pub(super) fn read_some<'py>(
    py: Attached<'py>,
    rid: u64,
    max: usize,
) -> PyResult<(Owned<'py>, bool)> {
    let act = active(py, rid)?;
    let mut act = act.lock();
    let body = &mut act.body;
    let r = tstate::detached(py, || {
        let data = body.read(max)?;
        // Ended with this chunk? (Finding out may wait for the chunk after it: only when
        // nothing is pending.)
        let more = !data.is_empty() && !body.is_finished();
        Ok::<_, BodyError>((data, more))
    });
    match r {
        Ok((data, more)) => Ok((new_bytes(py, &data)?, more)),
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
pub(super) fn read<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_read", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    match size_arg(py, a[1])? {
        None => body_op(py, rid, |b| b.read_to_end(None)),
        // A read of n returns n bytes unless the body ends first (file semantics).
        Some(n) => body_op(py, rid, |b| b.read_to_end(Some(n))),
    }
}

/// `serve_readline(rid, size)`: one line, at most `size` bytes.
pub(super) fn readline<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_readline", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let size = size_arg(py, a[1])?;
    body_op(py, rid, |b| b.read_line(size))
}

/// The responder of request `rid` (to answer it some other way: a WebSocket accept), or
/// `None` if its answer was already sent.
pub(super) fn take_responder(py: Attached<'_>, rid: u64) -> PyResult<Option<Responder>> {
    Ok(active(py, rid)?.lock().responder.take())
}

/// `serve_respond(rid, status, headers, body) -> bool`: the whole answer at once;
/// False if the client can no longer receive it.
pub(super) fn respond<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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

/// Keep `head` as request `rid`'s answer head until its body follows
/// ([`respond_held`], [`stream_held`]).
pub(super) fn hold_head(py: Attached<'_>, rid: u64, head: ResponseHead) -> PyResult<()> {
    active(py, rid)?.lock().head = Some(head);
    Ok(())
}

/// The held head of an ASGI answer and the responder that sends it (both taken).
fn take_held(py: Attached<'_>, act: &mut Active) -> PyResult<(ResponseHead, Responder)> {
    match (act.head.take(), act.responder.take()) {
        (Some(head), Some(responder)) => Ok((head, responder)),
        _ => Err(err::runtime_error(
            py,
            "no response head held, or the response was already sent",
        )),
    }
}

/// Answer request `rid` at once with its held head and `body`; false if the client can no
/// longer receive it.
pub(super) fn respond_held(py: Attached<'_>, rid: u64, body: Bytes) -> PyResult<bool> {
    let act = active(py, rid)?;
    let mut act = act.lock();
    let (head, responder) = take_held(py, &mut act)?;
    drop(act);
    Ok(responder.send_full(head, body).is_ok())
}

/// Send request `rid`'s held head; its body follows by `serve_write`. False if the client
/// is gone.
pub(super) fn stream_held(py: Attached<'_>, rid: u64) -> PyResult<bool> {
    let act = active(py, rid)?;
    let mut act = act.lock();
    let (head, responder) = take_held(py, &mut act)?;
    match responder.start_stream(head) {
        Ok(w) => {
            act.writer = Some(w);
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// `serve_start_stream(rid, status, headers) -> bool`: send the head; the body follows by
/// `serve_write`.
pub(super) fn start_stream<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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
pub(super) fn write<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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
pub(super) fn finish<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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
pub(super) fn abort<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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
/// ("too_large", "timeout", "cancelled", "malformed", "broken" or None).
pub(super) fn status<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
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
        Some(BodyError::Malformed(_)) => new_str(py, "malformed")?,
        Some(BodyError::Broken(_)) => new_str(py, "broken")?,
    };
    new_tuple(py, vec![cancelled, body])
}

/// The requests being answered now, for snapshots.
pub(super) fn in_flight() -> Vec<InFlight> {
    IN_FLIGHT
        .lock()
        .as_ref()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default()
}
