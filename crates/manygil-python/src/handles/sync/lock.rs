//! `manygil.Lock`: a handle on the core's lock, with `threading.Lock`'s names, arguments,
//! return values and errors; and the helpers the other lock-like handles share.
//!
//! Acquiring first tries without waiting, with the GIL held; only if that fails does it
//! wait, with the GIL released (see `blocking`: Ctrl-C in the main thread interrupts).

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::{Lock, SyncError};

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{getters, kw_new, methods};
use crate::handles::blocking::block_on;
use crate::handles::{make_type, new_object, this, Handle, TypeDef};

/// `acquire`: try now (GIL held), then, if `blocking`, wait up to `timeout` (GIL released).
pub(crate) fn acquire_with(
    py: Attached<'_>,
    blocking: bool,
    timeout: Option<Duration>,
    try_now: impl FnOnce() -> bool,
    mut wait: impl FnMut(Option<Duration>) -> bool + Send,
) -> PyResult<bool> {
    if try_now() {
        return Ok(true);
    }
    if !blocking || timeout == Some(Duration::ZERO) {
        return Ok(false);
    }
    Ok(block_on(py, timeout, true, |w| wait(w).then_some(()))?.is_some())
}

/// The `RuntimeError`/`ValueError`/`OverflowError` `threading` raises for `e`.
pub(crate) fn sync_error(py: Attached<'_>, e: SyncError) -> PyErrSet {
    match e {
        SyncError::NotLocked | SyncError::NotOwned => err::runtime_error(py, &e.to_string()),
        SyncError::TooManyReleases => err::value_error(py, &e.to_string()),
        // SAFETY: builtin exception class.
        SyncError::Overflow => unsafe { err::raise(py, PyExc_OverflowError, &e.to_string()) },
    }
}

/// The docstrings the lock-like handles share (`__enter__`/`__exit__` and `_n_waiting` of
/// Lock, RLock, Semaphore, BoundedSemaphore; Condition's context-manager methods).
pub(crate) const ENTER_DOC: &std::ffi::CStr = c"__enter__($self, /)\n--\n\nacquire()";
pub(crate) const EXIT_DOC: &std::ffi::CStr = c"__exit__($self, *exc)\n--\n\nrelease()";
pub(crate) const N_WAITING_ACQUIRE_DOC: &std::ffi::CStr = c"Threads blocked in acquire() now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).";

/// `(blocking, timeout)` of `Lock.acquire`/`RLock.acquire` (timeout -1: forever).
pub(crate) fn lock_args(
    py: Attached<'_>,
    call: &Call<'_, '_>,
) -> PyResult<(bool, Option<Duration>)> {
    let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
    args::lock_timeout(py, args::truth(blocking, true)?, timeout)
}

// --- Lock ------------------------------------------------------------------------------

const LOCK_DOC: &std::ffi::CStr = c"Lock()
--

A lock shared by every interpreter and thread, with threading.Lock's API: acquire(),
release(), locked() and use as a context manager. Any thread of any interpreter may
release it. Waiting releases the GIL; Ctrl-C in the main thread interrupts it. Passing
the lock to another interpreter gives that interpreter the same lock.";

methods! {
    /// The methods of `manygil.Lock` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"acquire" => c_lock_acquire(lock_acquire), c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock; return whether it was acquired.\n\nWith blocking true, wait (with the GIL released) while another party holds it, for at\nmost timeout seconds (-1 or None: forever). With blocking false, never wait (a timeout\nthen raises ValueError).";
        call c"release" => c_lock_release(lock_release), c"release($self, /)\n--\n\nRelease the lock (from any thread or interpreter); RuntimeError if it is not locked.";
        call c"locked" => c_lock_locked(lock_locked), c"locked($self, /)\n--\n\nWhether the lock is held.";
        call c"__enter__" => c_lock_acquire, ENTER_DOC;
        call c"__exit__" => c_lock_exit(lock_exit), EXIT_DOC;
    ];
}

getters! {
    /// The properties of `manygil.Lock` (static C data; CPython only reads it).
    static TYPE_GETSET = [
        get c"_n_waiting" => g_lock_n_waiting(lock_n_waiting), N_WAITING_ACQUIRE_DOC;
    ];
}

pub(crate) fn create_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Lock",
            doc: LOCK_DOC,
            new: c_lock_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: Some((&raw mut TYPE_GETSET).cast()),
            extra: &[],
        },
    )
}

kw_new!(c_lock_new => lock_new);

fn lock_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "Lock", [], 0)?;
    // SAFETY: `subtype` is our (final) Lock type.
    unsafe { new_object(py, subtype, Handle::Lock(Arc::new(Lock::new()))) }
}

/// The state of `slf`, a `manygil.Lock` (`TypeError` for any other object).
fn lock_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<Lock>> {
    match this(py, slf)? {
        Handle::Lock(state) => Ok(state),
        _ => Err(err::type_error(py, "expected a manygil.Lock")),
    }
}

fn lock_acquire<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let lock = lock_of(py, slf)?;
    let (blocking, timeout) = lock_args(py, call)?;
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || lock.acquire(false, None),
        |w| lock.acquire(true, w),
    )?;
    Ok(boolean(py, got))
}

fn lock_release<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "release", [], 0)?;
    lock_of(py, slf)?.release().map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn lock_exit<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    _call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    lock_of(py, slf)?.release().map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn lock_locked<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "locked", [], 0)?;
    Ok(boolean(py, lock_of(py, slf)?.locked()))
}

fn lock_n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, lock_of(py, slf)?.n_waiting() as i64)
}
