//! WebSockets of ASGI workers (`manygil/_serve_websocket.py`): accepting a handshake,
//! and the messages of accepted connections, all without blocking the event loop.
//!
//! The front frames messages on its I/O threads (`manygil_serve::WebSocket`); a worker's
//! loop serves many connections from its one thread, so nothing here waits:
//! `serve_ws_recv` returns None when no message is there yet, `serve_ws_send` False when
//! the client is behind. Either arms the connection: the next message in (or place freed)
//! puts its request id on the interpreter's *ready list* and, if the list was empty,
//! writes a byte to the list's socket pair, which the loop watches (`add_reader` on
//! `serve_ws_fd()`): the loop thread wakes straight from the I/O thread, and takes the
//! ids with `serve_ws_ready()`.
//!
//! Connections are found by request id (the one `serve_asgi_next` gave); `serve_done`
//! forgets a connection (still open: closed with 1000).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use bytes::Bytes;
use manygil_serve::{
    valid_close_code, ResponseHead, WsMessage, WsNotify, WsRecv, WsSendError, MAX_CLOSE_REASON,
};
use parking_lot::Mutex;

use crate::ffi::args::{self, TextOrBytes};
use crate::ffi::err::{self, PyResult};
use crate::ffi::values::new_bytes;
use crate::ffi::{
    boolean, current_interpreter_id, new_int, new_list, new_str, new_tuple, new_uint, none,
    Attached, Borrowed, Owned,
};

use super::args::{id_arg, os_error, tuple_of};
use super::requests;
use super::sockets::{self, socket};

/// Ready lists by interpreter id (ids are never reused).
static READY: Mutex<Option<HashMap<i64, Arc<Ready>>>> = Mutex::new(None);

/// The connections of one interpreter that can go on, and the socket pair that wakes its
/// loop.
struct Ready {
    /// Request ids notified since the loop last took them (a connection is notified once
    /// per arming: the list stays short).
    rids: Mutex<Vec<u64>>,
    /// Written (one byte, non-blocking) when `rids` stops being empty.
    wake: UnixStream,
    /// The loop's end: readable while a byte is unread.
    watch: UnixStream,
}

impl Ready {
    fn new() -> std::io::Result<Ready> {
        let (wake, watch) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        watch.set_nonblocking(true)?;
        Ok(Ready {
            rids: Mutex::new(Vec::new()),
            wake,
            watch,
        })
    }

    /// Runs on an I/O thread: never blocks (a full socket buffer already wakes the loop).
    fn push(&self, rid: u64) {
        let was_empty = {
            let mut rids = self.rids.lock();
            let was_empty = rids.is_empty();
            rids.push(rid);
            was_empty
        };
        if was_empty {
            let _ = (&self.wake).write(&[1]);
        }
    }

    /// The ids notified since the last call. The bytes are read first: a push after that
    /// finds the list empty (taken below, or about to be) and writes again.
    fn take(&self) -> Vec<u64> {
        let mut buf = [0u8; 64];
        while matches!((&self.watch).read(&mut buf), Ok(n) if n > 0) {}
        let mut rids = std::mem::take(&mut *self.rids.lock());
        rids.sort_unstable();
        rids.dedup();
        rids
    }
}

/// The attached interpreter's ready list, made on first use.
fn ready(py: Attached<'_>) -> PyResult<Arc<Ready>> {
    let mut map = READY.lock();
    let map = map.get_or_insert_with(HashMap::new);
    let id = current_interpreter_id(py);
    if let Some(r) = map.get(&id) {
        return Ok(r.clone());
    }
    let r = Arc::new(Ready::new().map_err(|e| {
        os_error(
            py,
            &format!("cannot make the WebSocket wake-up socket pair: {e}"),
        )
    })?);
    map.insert(id, r.clone());
    Ok(r)
}

/// `serve_ws_fd() -> int`: the descriptor the loop watches for readability (this
/// interpreter's; valid until `serve_ws_fd_close`).
pub(super) fn fd<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_fd", a, 0, 0)?;
    new_int(py, i64::from(ready(py)?.watch.as_raw_fd()))
}

/// `serve_ws_fd_close()`: this interpreter's loop stopped watching (the socket pair
/// closes once its open connections are gone).
pub(super) fn fd_close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_fd_close", a, 0, 0)?;
    let id = current_interpreter_id(py);
    let gone = READY.lock().as_mut().and_then(|m| m.remove(&id));
    drop(gone);
    Ok(none(py))
}

/// `serve_ws_ready() -> [rid]`: the connections of this interpreter that can go on since
/// the last call (never waits).
pub(super) fn ready_ids<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_ready", a, 0, 0)?;
    let rids = ready(py)?.take();
    let items = rids
        .into_iter()
        .map(|rid| new_uint(py, rid))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}

/// ASGI header pairs (`bytes` or `str` names and values) as (name, value).
fn header_pairs(py: Attached<'_>, headers: Borrowed<'_, '_>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let items = tuple_of(py, headers)?;
    let items = items.borrow().tuple_items().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (i, &item) in items.iter().enumerate() {
        let pair = tuple_of(py, item)?;
        let Some(&[name, value]) = pair.borrow().tuple_items() else {
            return Err(err::type_error(
                py,
                &format!("websocket.accept header {i} must be a (name, value) pair"),
            ));
        };
        let bytes = |o, what: &str| match args::text_or_bytes(py, what, o)? {
            TextOrBytes::Text(t) => Ok(t.into_bytes()),
            TextOrBytes::Bytes(b) => Ok(b),
        };
        let name = bytes(name, "a websocket.accept header name")?;
        let name = String::from_utf8(name).map_err(|_| {
            err::value_error(
                py,
                &format!("websocket.accept header {i}: the name is not ASCII"),
            )
        })?;
        let value = bytes(value, "a websocket.accept header value")?;
        out.push((name, value));
    }
    Ok(out)
}

/// `serve_ws_accept(rid, subprotocol, headers) -> bool`: accept the WebSocket request
/// `rid` (`subprotocol` a str or None; `headers` extra (name, value) pairs): the client
/// gets `101 Switching Protocols`. False if the client is gone or already got an answer
/// (504 at `--timeout`). Never blocks.
pub(super) fn accept<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_accept", a, 3, 3)?;
    let rid = id_arg(py, "request id", a[0])?;
    let subprotocol = if args::is_none(Some(a[1])) {
        None
    } else {
        Some(args::string(py, "the subprotocol", a[1])?)
    };
    let headers = header_pairs(py, a[2])?;
    let head = ResponseHead::websocket_accept(&headers, subprotocol.as_deref())
        .map_err(|e| err::value_error(py, &format!("websocket.accept: {e}")))?;
    let ready = ready(py)?;
    let Some(responder) = requests::take_responder(py, rid)? else {
        return Ok(boolean(py, false));
    };
    let notify: WsNotify = Arc::new(move || ready.push(rid));
    match responder.accept_websocket(head, notify) {
        Ok(ws) => {
            sockets::insert(rid, ws);
            Ok(boolean(py, true))
        }
        Err(_) => Ok(boolean(py, false)),
    }
}

/// `serve_ws_recv(rid) -> str | bytes | None | (code, reason)`: the next message, None
/// if none is there yet (the connection is armed: its id comes from `serve_ws_ready`
/// when one arrives), or how the connection ended. Never blocks.
pub(super) fn recv<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_recv", a, 1, 1)?;
    let rid = id_arg(py, "request id", a[0])?;
    let got = socket(py, rid)?.lock().try_recv();
    match got {
        WsRecv::Message(WsMessage::Text(t)) => new_str(py, &t),
        WsRecv::Message(WsMessage::Binary(b)) => new_bytes(py, &b),
        WsRecv::Empty => Ok(none(py)),
        WsRecv::Closed(c) => new_tuple(
            py,
            vec![new_int(py, i64::from(c.code))?, new_str(py, &c.reason)?],
        ),
    }
}

/// `serve_ws_send(rid, data) -> True | False | None`: queue a text (str) or binary
/// (bytes) message: True once queued, False if the client is behind (armed: try again
/// when its id comes from `serve_ws_ready`), None if the connection is over. Never blocks.
pub(super) fn send<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_send", a, 2, 2)?;
    let rid = id_arg(py, "request id", a[0])?;
    let message = match args::text_or_bytes(py, "a websocket.send message", a[1])? {
        TextOrBytes::Text(t) => WsMessage::Text(t),
        TextOrBytes::Bytes(b) => WsMessage::Binary(Bytes::from(b)),
    };
    let sent = socket(py, rid)?.lock().try_send(message);
    Ok(match sent {
        Ok(()) => boolean(py, true),
        Err(WsSendError::Full(_)) => boolean(py, false),
        Err(WsSendError::Closed(_)) => none(py),
    })
}

/// `serve_ws_close(rid, code, reason) -> bool`: close the connection once the messages
/// already queued are sent; False if it was already over. `ValueError` for a code that
/// may not be sent or a reason over 123 bytes of UTF-8. Never blocks.
pub(super) fn close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_ws_close", a, 3, 3)?;
    let rid = id_arg(py, "request id", a[0])?;
    let code = args::int(py, "the close code", a[1])?;
    let code = u16::try_from(code).ok().filter(|&c| valid_close_code(c));
    let Some(code) = code else {
        return Err(err::value_error(
            py,
            &format!(
                "invalid WebSocket close code {}: use 1000-1003, 1007-1014 or 3000-4999",
                args::int(py, "the close code", a[1])?
            ),
        ));
    };
    let reason = args::string(py, "the close reason", a[2])?;
    if reason.len() > MAX_CLOSE_REASON {
        return Err(err::value_error(
            py,
            &format!(
                "WebSocket close reason too long: {} bytes of UTF-8, at most {MAX_CLOSE_REASON}",
                reason.len()
            ),
        ));
    }
    let closed = socket(py, rid)?.lock().close(code, &reason);
    Ok(boolean(py, closed))
}
