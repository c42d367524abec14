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
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::{boolean, none, Attached, Owned};
use crate::handles::blocking::{block_on, owner_id};
use crate::handles::{handle_of, Handle};

use super::lock_like::{lock_like_type, release, sync_error};

lock_like_type! {
    Condition,
    name: c"manygil.Condition",
    new: condition_new,
    doc: c"Condition(lock=None)
--

A condition variable shared by every interpreter and thread, with threading.Condition's
API. lock must be a manygil.Lock or manygil.RLock (None: a new RLock); it can be shared
with other code. wait() releases the lock and blocks (GIL released; Ctrl-C in the main
thread interrupts) until notified or the timeout passes, then re-acquires the lock.
wait(), notify() and notify_all() raise RuntimeError unless the caller holds the lock.",
    acquire: c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the underlying lock (see Lock.acquire / RLock.acquire).",
    n_waiting: c"Threads blocked in wait() for a notify (registered\nand not yet notified) now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).",
    methods: [
        noargs c"release" => c_release(release::<Condition>), c"release($self, /)\n--\n\nRelease the underlying lock.";
        call c"wait" => c_wait(wait), c"wait($self, timeout=None)\n--\n\nRelease the lock, block until notified or for at most timeout seconds (None:\nforever), re-acquire the lock; return False on timeout, else True. RuntimeError if the\ncaller does not hold the lock.";
        call c"wait_for" => c_wait_for(wait_for), c"wait_for($self, predicate, timeout=None)\n--\n\nWait until predicate() is true, for at most timeout seconds; return the last result\nof predicate().";
        call c"notify" => c_notify(notify), c"notify($self, n=1)\n--\n\nWake up to n waiters (in any interpreter), oldest first. RuntimeError if the caller\ndoes not hold the lock.";
        noargs c"notify_all" => c_notify_all(notify_all), c"notify_all($self, /)\n--\n\nWake every waiter. RuntimeError if the caller does not hold the lock.";
        noargs c"_is_owned" => c_is_owned(is_owned), c"_is_owned($self, /)\n--\n\nWhether the caller holds the lock.";
    ],
    getters: [],
}

fn condition_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<Condition>> {
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
    Ok(Arc::new(Condition::new(lock)))
}

fn is_owned<'py>(py: Attached<'py>, cond: &Condition) -> PyResult<Owned<'py>> {
    Ok(boolean(py, cond.is_owned(owner_id(py))))
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

fn wait<'py>(py: Attached<'py>, cond: &Condition, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [timeout] = call.bind(py, "wait", [c"timeout"], 0)?;
    let timeout = args::sync_timeout(py, timeout)?;
    Ok(boolean(py, wait_once(py, cond, timeout)?))
}

fn wait_for<'py>(
    py: Attached<'py>,
    cond: &Condition,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
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

/// Wake up to `n` waiters; `RuntimeError` unless the caller holds the lock.
fn notify_checked<'py>(py: Attached<'py>, cond: &Condition, n: usize) -> PyResult<Owned<'py>> {
    if !cond.lock().is_owned(owner_id(py)) {
        return Err(err::runtime_error(py, "cannot notify on un-acquired lock"));
    }
    cond.notify(n);
    Ok(none(py))
}

fn notify<'py>(py: Attached<'py>, cond: &Condition, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [n] = call.bind(py, "notify", [c"n"], 0)?;
    let n = match n {
        Some(n) => args::int(py, "n", n)?.max(0) as usize,
        None => 1,
    };
    notify_checked(py, cond, n)
}

fn notify_all<'py>(py: Attached<'py>, cond: &Condition) -> PyResult<Owned<'py>> {
    notify_checked(py, cond, usize::MAX)
}
