//! The accepted WebSocket connections, by request id (the one `serve_asgi_next` gave):
//! added by `websocket::accept`, forgotten by `serve_done` (`requests::done`).

use std::collections::HashMap;
use std::sync::Arc;

use manygil_serve::WebSocket;
use parking_lot::Mutex;

use crate::ffi::err::{self, PyResult};
use crate::ffi::Attached;

/// Accepted connections by request id. The map lock is held only to find, add or remove
/// one; a connection is used by its worker's loop thread alone.
static SOCKETS: Mutex<Option<HashMap<u64, Arc<Mutex<WebSocket>>>>> = Mutex::new(None);

/// Add the connection accepted for request `rid`.
pub(super) fn insert(rid: u64, ws: WebSocket) {
    SOCKETS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(rid, Arc::new(Mutex::new(ws)));
}

/// Close the connection (1000) if it is still open: the worker is done with `rid`.
pub(super) fn forget(rid: u64) {
    let ws = SOCKETS.lock().as_mut().and_then(|m| m.remove(&rid));
    // Dropped outside the map lock.
    drop(ws);
}

/// The connection accepted for request `rid`; `ValueError` if there is none.
pub(super) fn socket(py: Attached<'_>, rid: u64) -> PyResult<Arc<Mutex<WebSocket>>> {
    SOCKETS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&rid).cloned())
        .ok_or_else(|| {
            err::value_error(
                py,
                &format!("no accepted WebSocket for request {rid} (not accepted, or done?)"),
            )
        })
}
