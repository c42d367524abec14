//! The file watchers of `manygil serve --reload` (made and read from the main
//! interpreter; plain Rust state found by id): `serve_watch`, `serve_watch_next`,
//! `serve_watch_close`. Paths cross as bytes (`os.fsencode`), so that no file name is
//! mangled on its way.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use manygil_serve::{Changes, Watch, WatchError};
use parking_lot::Mutex;

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::PyList_Type;
use crate::ffi::tstate;
use crate::ffi::values::new_bytes;
use crate::ffi::{boolean, new_int, new_list, none, Attached, Borrowed, Owned};

use super::args::{id_arg, os_error, seconds_arg, tuple_of};

/// Watchers of this process by id.
static WATCHES: Mutex<Option<HashMap<u64, Arc<Watch>>>> = Mutex::new(None);

/// Source of watcher ids.
static NEXT_WATCH: AtomicU64 = AtomicU64::new(1);

/// A burst of changes is reported at the latest this long after it began, even if events
/// keep coming (a checkout writing many files): as watchfiles's default.
const MAX_BATCH: Duration = Duration::from_millis(1600);

fn watch(py: Attached<'_>, id: u64) -> PyResult<Arc<Watch>> {
    WATCHES
        .lock()
        .as_ref()
        .and_then(|m| m.get(&id).cloned())
        .ok_or_else(|| err::value_error(py, &format!("no file watcher with id {id} (closed?)")))
}

fn is_open(id: u64) -> bool {
    WATCHES.lock().as_ref().is_some_and(|m| m.contains_key(&id))
}

/// The items of list `o`, each converted by `f`.
fn list_of<T>(
    py: Attached<'_>,
    what: &str,
    o: Borrowed<'_, '_>,
    f: impl Fn(Borrowed<'_, '_>) -> PyResult<T>,
) -> PyResult<Vec<T>> {
    if !o.is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(py, &format!("{what} must be a list")));
    }
    let items = tuple_of(py, o)?;
    let items = items.borrow().tuple_items().unwrap_or_default();
    items.iter().map(|&item| f(item)).collect()
}

/// `serve_watch(roots, include, quiet) -> id`: watch the directory trees `roots` (a list
/// of bytes paths) for files whose name matches one of `include` (fnmatch patterns); a
/// burst of changes ends after `quiet` seconds without one. Raises OSError naming the
/// directory that cannot be watched.
pub(super) fn start<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_watch", a, 3, 3)?;
    let roots = list_of(py, "roots", a[0], |o| {
        Ok(PathBuf::from(OsString::from_vec(args::bytes(
            py,
            "a directory",
            o,
        )?)))
    })?;
    let include = list_of(py, "include", a[1], |o| args::string(py, "a pattern", o))?;
    let quiet = seconds_arg(py, a[2])?.unwrap_or(Duration::from_millis(50));
    let made = tstate::detached(py, || Watch::new(roots, &include, quiet, MAX_BATCH));
    let w = made.map_err(|e| match e {
        WatchError::NotADirectory(_) | WatchError::Watch(..) => os_error(py, &e.to_string()),
    })?;
    let id = NEXT_WATCH.fetch_add(1, Ordering::Relaxed);
    WATCHES
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(id, Arc::new(w));
    new_int(py, id as i64)
}

/// `serve_watch_next(id, timeout) -> [path] | False | None`: the files changed in the
/// next burst (bytes paths), False on timeout, None once closed (also when it was closed
/// before the call). Waits with the GIL released.
pub(super) fn next<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_watch_next", a, 2, 2)?;
    let id = id_arg(py, "watcher id", a[0])?;
    if id > 0 && id < NEXT_WATCH.load(Ordering::Relaxed) && !is_open(id) {
        // Closed (ids are never reused).
        return Ok(none(py));
    }
    let w = watch(py, id)?;
    let timeout = seconds_arg(py, a[1])?;
    // The last reference may be this one (closed meanwhile): dropped with the GIL
    // released, as it stops the watcher's thread.
    let got = tstate::detached(py, move || {
        let got = w.next(timeout);
        drop(w);
        got
    });
    match got {
        Changes::Changed(paths) => {
            let items = paths
                .iter()
                .map(|p| new_bytes(py, p.as_os_str().as_bytes()))
                .collect::<PyResult<Vec<_>>>()?;
            new_list(py, items)
        }
        Changes::Timeout => Ok(boolean(py, false)),
        Changes::Closed => Ok(none(py)),
    }
}

/// `serve_watch_close(id)`: stop watching; a waiting `serve_watch_next` returns None.
pub(super) fn close<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    a: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "serve_watch_close", a, 1, 1)?;
    let id = id_arg(py, "watcher id", a[0])?;
    let w = WATCHES.lock().as_mut().and_then(|m| m.remove(&id));
    if let Some(w) = w {
        w.close();
        // The last reference may be the waiter's: its notify thread ends with it.
        tstate::detached(py, || drop(w));
    }
    Ok(none(py))
}
