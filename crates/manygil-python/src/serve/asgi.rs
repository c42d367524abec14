//! The native side of ASGI workers (`manygil/_serve_asgi.py`): an interpreter's event loop
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
//!
//! The body and answer functions (`serve_read`, `serve_respond`, ...) are shared with WSGI.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_serve::{CancelReason, CancelWatcher, Peer, RequestHead};
use parking_lot::{Condvar, Mutex};

use crate::ffi::args;
use crate::ffi::err::PyResult;
use crate::ffi::tstate;
use crate::ffi::values::new_bytes;
use crate::ffi::*;

use super::args::{id_arg, seconds_arg};
use super::requests;

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
pub(super) fn next<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let (request, thread) = match requests::take(py, "serve_asgi_next", a)? {
        Ok(taken) => taken,
        Err(nothing) => return Ok(nothing),
    };
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
