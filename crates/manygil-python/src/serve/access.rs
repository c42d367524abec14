//! Access-log lines handed to the main interpreter's `logging` (`manygil serve` with its
//! log forwarding on), instead of the HTTP front writing them to stderr itself.
//!
//! The I/O threads put each line in a bounded channel without ever blocking: a line that
//! finds it full is counted as dropped (and the count reported with the next lines), so a
//! slow log handler can neither stall the front nor grow memory. A thread of the main
//! interpreter takes them with `serve_access_lines` and logs them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, RecvTimeoutError, TrySendError};
use manygil_serve::AccessLogSink;
use parking_lot::Mutex;

use crate::ffi::args;
use crate::ffi::err::PyResult;
use crate::ffi::tstate;
use crate::ffi::{new_list, new_str, new_tuple, new_uint, none, Attached, Borrowed, Owned};

use super::args::{id_arg, seconds_arg};

/// Lines waiting for the main interpreter, at most.
const CAPACITY: usize = 16 * 1024;
/// Lines one `serve_access_lines` call returns, at most.
const BATCH: usize = 1024;

/// One server's lines.
struct Lines {
    rx: Receiver<String>,
    dropped: Arc<AtomicU64>,
}

/// The lines of each server that sends them to Python, by server id.
static LINES: Mutex<Option<HashMap<u64, Arc<Lines>>>> = Mutex::new(None);

/// A sink for a new server's access log, and what `register` needs to expose its lines.
pub(super) fn sink() -> (AccessLogSink, impl FnOnce(u64)) {
    let (tx, rx) = crossbeam_channel::bounded::<String>(CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let sink = AccessLogSink(Arc::new(move |line| {
        if let Err(TrySendError::Full(_)) = tx.try_send(line) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let register = move |id: u64| {
        LINES
            .lock()
            .get_or_insert_with(HashMap::new)
            .insert(id, Arc::new(Lines { rx, dropped }));
    };
    (sink, register)
}

/// `serve_access_lines(id, timeout) -> ([line], dropped) | None`: the access-log lines of
/// server `id` written since the last call (waiting up to `timeout` seconds, GIL released,
/// for the first), and how many were dropped meanwhile because too many were waiting;
/// None once the server is closed and every line was taken (or it sends none).
pub(super) fn lines<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_access_lines", a, 2, 2)?;
    let id = id_arg(py, "server id", a[0])?;
    let timeout = seconds_arg(py, a[1])?;
    let Some(lines) = LINES.lock().as_ref().and_then(|m| m.get(&id).cloned()) else {
        return Ok(none(py));
    };
    let got = tstate::detached(py, || {
        let first = match timeout {
            Some(t) => lines.rx.recv_timeout(t),
            None => lines.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match first {
            Ok(line) => {
                let mut batch = vec![line];
                batch.extend(lines.rx.try_iter().take(BATCH - 1));
                Some(batch)
            }
            Err(RecvTimeoutError::Timeout) => Some(Vec::new()),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    });
    let dropped = lines.dropped.swap(0, Ordering::Relaxed);
    let Some(batch) = got else {
        LINES.lock().as_mut().map(|m| m.remove(&id));
        return Ok(none(py));
    };
    let items = batch
        .iter()
        .map(|l| new_str(py, l))
        .collect::<PyResult<Vec<_>>>()?;
    new_tuple(py, vec![new_list(py, items)?, new_uint(py, dropped)?])
}
