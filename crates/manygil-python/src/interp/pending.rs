//! `PendingCall`: a call running in another interpreter, created by `submit()`.
//!
//! A heap type made per interpreter with `PyType_FromModuleAndSpec`; its instances hold only
//! Rust data (the worker handle and the completion slot), never a Python object of another
//! interpreter, so the type needs no GC support.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use manygil_core::worker::{Completion, WaitError};
use parking_lot::{Mutex, MutexGuard};

use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::PyExc_TimeoutError;
use crate::ffi::{boolean, new_int, Attached, Borrowed, Owned};
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::interp::Interrupt;

use crate::ffi::args;
use crate::ffi::types::{self, native_type};
use crate::handles::state::state;

/// The Rust side of a `PendingCall`. Never mutated through a shared reference except
/// through `outcome`'s mutex, so any number of threads of the interpreter may use one
/// `PendingCall` at once (each `wait()` detaches, so they really do run concurrently).
struct Inner {
    /// The worker (or pool) running the call. Immutable.
    worker: Arc<dyn Interrupt>,
    /// The job's sequence number (for targeted interrupts). Immutable.
    seq: u64,
    /// Where the outcome arrives. Its value is taken only while `outcome` is locked, and
    /// stored there in the same critical section, so a waiter that finds `result` empty
    /// and disconnected under the lock knows the call was truly abandoned.
    result: Completion<Outcome>,
    /// The outcome once received (it can be read only once from `result`); `None` until
    /// then. Locked only briefly, never across a wait.
    outcome: Mutex<Option<Outcome>>,
    /// How many threads are inside `wait()` now (for `waiting()`; diagnostics and tests).
    waiters: AtomicUsize,
}

impl Inner {
    /// The outcome slot, locked, with the result moved in if it has arrived;
    /// `Err(Abandoned)` if it never will.
    fn filled(&self) -> Result<MutexGuard<'_, Option<Outcome>>, WaitError> {
        let mut outcome = self.outcome.lock();
        if outcome.is_none() {
            *outcome = self.result.poll()?;
        }
        Ok(outcome)
    }

    /// The outcome if it has arrived: `Ok(Some)`; `Ok(None)` if not yet; `Err(Abandoned)`
    /// if it never will.
    fn poll(&self) -> Result<Option<Outcome>, WaitError> {
        Ok(self.filled()?.clone())
    }

    /// Whether the outcome has arrived (`Err(Abandoned)` if it never will), without
    /// copying it.
    fn arrived(&self) -> Result<bool, WaitError> {
        Ok(self.filled()?.is_some())
    }
}

native_type! {
    name: c"manygil._native.PendingCall",
    value: Inner,
    methods: [
        args c"wait" => c_pending_wait(pending_wait), c"wait($self, timeout=None, /)\n--\n\nBlock until the call completes; TimeoutError if it does not within timeout.";
        args c"done" => c_pending_done(pending_done), c"done($self, /)\n--\n\nWhether wait() would return at once: the outcome arrived, or the interpreter was closed first (wait() then raises).";
        args c"waiting" => c_pending_waiting(pending_waiting), c"waiting($self, /)\n--\n\nHow many threads are blocked in wait() on this call now.";
        args c"interrupt" => c_pending_interrupt(pending_interrupt), c"interrupt($self, /)\n--\n\nRaise KeyboardInterrupt inside the call if it is running.";
    ],
}

/// A new `PendingCall` of `module`'s interpreter.
pub(crate) fn new<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    worker: Arc<dyn Interrupt>,
    seq: u64,
    result: Completion<Outcome>,
) -> PyResult<Owned<'py>> {
    // SAFETY: `module` is our module (module functions receive it as `self`).
    let tp = unsafe { state(module.as_ptr()) }.pending_type.as_ptr();
    if tp.is_null() {
        return Err(err::runtime_error(
            py,
            "manygil._native is not initialized in this interpreter",
        ));
    }
    let inner = Inner {
        worker,
        seq,
        result,
        outcome: Mutex::new(None),
        waiters: AtomicUsize::new(0),
    };
    // SAFETY: `tp` is the PendingCall type, made by `create_type`.
    unsafe { types::new_instance(py, tp.cast(), inner) }
}

fn pending_wait<'py>(
    py: Attached<'py>,
    me: &Inner,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "wait", argv, 0, 1)?;
    let timeout = args::timeout(py, argv.first().copied())?;
    let abandoned = |py| {
        crate::handles::errors::raise(
            py,
            crate::handles::errors::Exc::InterpreterNotFound,
            &format!(
                "interpreter {} was closed before the call completed",
                me.worker.describe()
            ),
        )
    };
    me.waiters.fetch_add(1, Ordering::SeqCst);
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leave = Leave(&me.waiters);
    // One deadline for the whole wait, however often `wait_ready` wakes early.
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    let outcome = loop {
        match me.poll() {
            Ok(Some(outcome)) => break outcome,
            Err(_) => return Err(abandoned(py)),
            Ok(None) => {}
        }
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let ready = crate::interp::wait_in_slices(py, &*me.worker, me.seq, left, |slice| {
            if me.result.wait_ready(slice) {
                Ok(())
            } else {
                Err(WaitError::Timeout)
            }
        })?;
        if ready.is_err() {
            // SAFETY: builtin exception class.
            return Err(unsafe {
                err::raise(py, PyExc_TimeoutError, "the call has not completed yet")
            });
        }
    };
    super::convert::outcome_to_python(py, outcome)
}

fn pending_done<'py>(
    py: Attached<'py>,
    me: &Inner,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "done", argv, 0, 0)?;
    // An abandoned call is done too: `wait()` then raises at once.
    Ok(boolean(py, !matches!(me.arrived(), Ok(false))))
}

fn pending_waiting<'py>(
    py: Attached<'py>,
    me: &Inner,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "waiting", argv, 0, 0)?;
    new_int(py, me.waiters.load(Ordering::SeqCst) as i64)
}

fn pending_interrupt<'py>(
    py: Attached<'py>,
    me: &Inner,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "interrupt", argv, 0, 0)?;
    let (w, seq) = (me.worker.clone(), me.seq);
    let hit = crate::ffi::tstate::detached_with(py, |d| {
        w.interrupt_job(d, seq, InterruptReason::Cancelled)
    });
    Ok(boolean(py, hit))
}
