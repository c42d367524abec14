//! `manygil.Condition`.
//!
//! The condition is the core's [`Condition`], waited on in its phases
//! ([`Condition::begin_wait`]): register and release the lock with the GIL held, wait for
//! a notify with the GIL released in slices (Ctrl-C is checked between them, see
//! `blocking`; the registration lasts for the whole wait, so no notify is lost between
//! slices), then re-acquire the lock, releasing the GIL only if it is not free at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_core::sync::{CondLock, Condition, Lock, RLock, SyncError};

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{getters, kw_new, methods};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::*;
use crate::handles::blocking::{block_on, owner_id};

use super::lock::{acquire_with, lock_args, sync_error, ENTER_DOC, EXIT_DOC};
use crate::handles::{handle_of, make_type, new_object, this, Handle, TypeDef};

// --- Condition -------------------------------------------------------------------------

const CONDITION_DOC: &std::ffi::CStr = c"Condition(lock=None)
--

A condition variable shared by every interpreter and thread, with threading.Condition's
API. lock must be a manygil.Lock or manygil.RLock (None: a new RLock); it can be shared
with other code. wait() releases the lock and blocks (GIL released; Ctrl-C in the main
thread interrupts) until notified or the timeout passes, then re-acquires the lock.
wait(), notify() and notify_all() raise RuntimeError unless the caller holds the lock.";

methods! {
    /// The methods of `manygil.Condition` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"acquire" => c_cond_acquire(cond_acquire), c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the underlying lock (see Lock.acquire / RLock.acquire).";
        call c"release" => c_cond_release(cond_release), c"release($self, /)\n--\n\nRelease the underlying lock.";
        call c"__enter__" => c_cond_acquire, ENTER_DOC;
        call c"__exit__" => c_cond_exit(cond_exit), EXIT_DOC;
        call c"wait" => c_cond_wait(cond_wait), c"wait($self, timeout=None)\n--\n\nRelease the lock, block until notified or for at most timeout seconds (None:\nforever), re-acquire the lock; return False on timeout, else True. RuntimeError if the\ncaller does not hold the lock.";
        call c"wait_for" => c_cond_wait_for(cond_wait_for), c"wait_for($self, predicate, timeout=None)\n--\n\nWait until predicate() is true, for at most timeout seconds; return the last result\nof predicate().";
        call c"notify" => c_cond_notify(cond_notify), c"notify($self, n=1)\n--\n\nWake up to n waiters (in any interpreter), oldest first. RuntimeError if the caller\ndoes not hold the lock.";
        call c"notify_all" => c_cond_notify_all(cond_notify_all), c"notify_all($self, /)\n--\n\nWake every waiter. RuntimeError if the caller does not hold the lock.";
        call c"_is_owned" => c_cond_is_owned(cond_is_owned), c"_is_owned($self, /)\n--\n\nWhether the caller holds the lock.";
    ];
}

getters! {
    /// The properties of `manygil.Condition` (static C data; CPython only reads it).
    static TYPE_GETSET = [
        get c"_n_waiting" => g_cond_n_waiting(cond_n_waiting), c"Threads blocked in wait() for a notify (registered\nand not yet notified) now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).";
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
            name: c"manygil.Condition",
            doc: CONDITION_DOC,
            new: c_condition_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: Some((&raw mut TYPE_GETSET).cast()),
            extra: &[],
        },
    )
}

kw_new!(c_condition_new => condition_new);

fn condition_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [lock] = call.bind(py, "Condition", [c"lock"], 0)?;
    let lock = match args::given(lock) {
        None => CondLock::RLock(Arc::new(RLock::new())),
        Some(l) => match handle_of(l) {
            Some(Handle::Lock(l)) => CondLock::Lock(Arc::<Lock>::clone(l)),
            Some(Handle::RLock(l)) => CondLock::RLock(l.clone()),
            _ => {
                return Err(err::type_error(
                    py,
                    &format!(
                        "Condition lock must be a manygil.Lock or manygil.RLock, not {}",
                        err::type_name(py, l)
                    ),
                ))
            }
        },
    };
    let cond = Condition::new(lock);
    // SAFETY: `subtype` is our (final) Condition type.
    unsafe { new_object(py, subtype, Handle::Condition(Arc::new(cond))) }
}

/// The condition of `slf`, a `manygil.Condition` (`TypeError` for any other object).
fn cond_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<Condition>> {
    match this(py, slf)? {
        Handle::Condition(cond) => Ok(cond),
        _ => Err(err::type_error(py, "expected a manygil.Condition")),
    }
}

fn cond_acquire<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let cond = cond_of(py, slf)?;
    let (blocking, timeout) = lock_args(py, call)?;
    let me = owner_id(py);
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || cond.lock().acquire(me, false, None),
        |w| cond.lock().acquire(me, true, w),
    )?;
    Ok(boolean(py, got))
}

fn cond_release<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "release", [], 0)?;
    cond_exit(py, slf, call)
}

fn cond_exit<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    _call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let cond = cond_of(py, slf)?;
    cond.lock()
        .release(owner_id(py))
        .map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn cond_is_owned<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "_is_owned", [], 0)?;
    Ok(boolean(py, cond_of(py, slf)?.is_owned(owner_id(py))))
}

/// Release the lock, wait to be notified (at most `timeout`), re-acquire; whether notified.
fn wait_once(py: Attached<'_>, cond: &Condition, timeout: Option<Duration>) -> PyResult<bool> {
    let mut wait = cond.begin_wait(owner_id(py)).map_err(|e| match e {
        SyncError::NotOwned => err::runtime_error(py, "cannot wait on un-acquired lock"),
        other => sync_error(py, other),
    })?;
    let waited = if timeout == Some(Duration::ZERO) {
        Ok(None)
    } else {
        block_on(py, timeout, true, |w| wait.wait(w).then_some(()))
    };
    // Re-acquire as threading does (in its `finally`): even on Ctrl-C, and without a
    // timeout; only the wait for a notify above is interruptible. A notify that picked
    // this waiter before it stopped waiting counts, even if the last slice missed it.
    let notified = if wait.try_reacquire() {
        wait.reacquire()
    } else {
        detached(py, move || wait.reacquire())
    };
    waited?;
    Ok(notified)
}

fn cond_wait<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let cond = cond_of(py, slf)?;
    let [timeout] = call.bind(py, "wait", [c"timeout"], 0)?;
    let timeout = args::sync_timeout(py, timeout)?;
    Ok(boolean(py, wait_once(py, cond, timeout)?))
}

fn cond_wait_for<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let cond = cond_of(py, slf)?;
    let [predicate, timeout] = call.bind(py, "wait_for", [c"predicate", c"timeout"], 1)?;
    let predicate = predicate.ok_or(PyErrSet)?;
    let timeout = args::sync_timeout(py, timeout)?;
    let end = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let result = predicate.call(&[])?;
        if result.borrow().is_true()? {
            return Ok(result);
        }
        let left = match (timeout, end) {
            (None, _) | (Some(_), None) => None,
            (Some(_), Some(end)) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(result);
                }
                Some(left)
            }
        };
        wait_once(py, cond, left)?;
    }
}

fn notify_checked<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    n: usize,
) -> PyResult<Owned<'py>> {
    let cond = cond_of(py, slf)?;
    if !cond.lock().is_owned(owner_id(py)) {
        return Err(err::runtime_error(py, "cannot notify on un-acquired lock"));
    }
    cond.notify(n);
    Ok(none(py))
}

fn cond_notify<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [n] = call.bind(py, "notify", [c"n"], 0)?;
    let n = match n {
        Some(n) => args::int(py, "n", n)?.max(0) as usize,
        None => 1,
    };
    notify_checked(py, slf, n)
}

fn cond_notify_all<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "notify_all", [], 0)?;
    notify_checked(py, slf, usize::MAX)
}

fn cond_n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, cond_of(py, slf)?.n_waiting() as i64)
}
