//! `PendingCall`: a call running in another interpreter, created by `submit()`.
//!
//! A heap type made per interpreter with `PyType_FromModuleAndSpec`; its instances hold only
//! Rust data (the worker handle and the completion slot), never a Python object of another
//! interpreter, so the type needs no GC support.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use manygil_core::worker::{Completion, WaitError};
use parking_lot::{Mutex, MutexGuard};

use crate::ffi::err::{self, PyResult};
use crate::ffi::*;
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::interp::Interrupt;

use crate::ffi::args;
use crate::ffi::entry::{guard, method};
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

/// Instance layout.
#[repr(C)]
struct PendingObject {
    /// The object header.
    ob_base: PyObject,
    /// Owned `Box<Inner>`; NULL only after dealloc.
    inner: *mut Inner,
}

/// Create the `PendingCall` type for `module`'s interpreter.
pub(crate) fn create_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 5] = [
        method!(c"wait", pending_wait, c"wait($self, timeout=None, /)\n--\n\nBlock until the call completes; TimeoutError if it does not within timeout."),
        method!(c"done", pending_done, c"done($self, /)\n--\n\nWhether wait() would return at once: the outcome arrived, or the interpreter was closed first (wait() then raises)."),
        method!(c"waiting", pending_waiting, c"waiting($self, /)\n--\n\nHow many threads are blocked in wait() on this call now."),
        method!(c"interrupt", pending_interrupt, c"interrupt($self, /)\n--\n\nRaise KeyboardInterrupt inside the call if it is running."),
        PyMethodDef::zeroed(),
    ];
    static mut SLOTS: [PyType_Slot; 3] = [
        PyType_Slot {
            slot: Py_tp_dealloc,
            pfunc: pending_dealloc as *mut c_void,
        },
        PyType_Slot {
            slot: Py_tp_methods,
            pfunc: (&raw mut METHODS).cast(),
        },
        PyType_Slot {
            slot: 0,
            pfunc: std::ptr::null_mut(),
        },
    ];
    static mut SPEC: PyType_Spec = PyType_Spec {
        name: c"manygil._native.PendingCall".as_ptr(),
        basicsize: std::mem::size_of::<PendingObject>() as c_int,
        itemsize: 0,
        flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE)
            as _,
        slots: (&raw mut SLOTS).cast(),
    };
    // SAFETY: attached; the spec is static data CPython only reads; `module` is ours.
    unsafe {
        Owned::from_new(
            py,
            PyType_FromModuleAndSpec(module, &raw mut SPEC, std::ptr::null_mut()),
        )
    }
}

/// A new `PendingCall` of `module`'s interpreter.
pub(crate) fn new(
    py: Attached<'_>,
    module: *mut PyObject,
    worker: Arc<dyn Interrupt>,
    seq: u64,
    result: Completion<Outcome>,
) -> PyResult<Owned> {
    // SAFETY: `module` is our module (entry points receive it as `self`).
    let tp = unsafe { state(module) }.pending_type;
    if tp.is_null() {
        return Err(err::runtime_error(
            py,
            "manygil._native is not initialized in this interpreter",
        ));
    }
    // SAFETY: attached; `tp` is our heap type; PyType_GenericAlloc zero-fills and increfs it.
    let obj = unsafe { Owned::from_new(py, PyType_GenericAlloc(tp.cast(), 0))? };
    let inner = Box::new(Inner {
        worker,
        seq,
        result,
        outcome: Mutex::new(None),
        waiters: AtomicUsize::new(0),
    });
    // SAFETY: `obj` is a fresh PendingObject; we own its `inner` field.
    unsafe { (*obj.as_ptr().cast::<PendingObject>()).inner = Box::into_raw(inner) };
    Ok(obj)
}

/// # Safety
/// `slf` is a live PendingCall instance.
unsafe fn inner<'a>(slf: *mut PyObject) -> &'a Inner {
    // SAFETY: instances are created only by `new`, which sets `inner`; it stays valid until
    // dealloc (the caller's `slf` keeps the object alive), and `Inner` is only ever shared
    // (`&`), its one mutable part behind a mutex.
    unsafe { &*(*slf.cast::<PendingObject>()).inner }
}

unsafe extern "C" fn pending_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython calls dealloc once, attached, when the refcount reaches zero.
    unsafe {
        let tp = Py_TYPE(slf);
        let p = std::mem::replace(
            &mut (*slf.cast::<PendingObject>()).inner,
            std::ptr::null_mut(),
        );
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
        let free = PyType_GetSlot(tp, Py_tp_free);
        let free: freefunc = std::mem::transmute(free);
        free(slf.cast());
        Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn pending_wait(
    slf: *mut PyObject,
    argv: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: exactly the arguments CPython passed to this running method.
    let argv = unsafe { fastcall_args(argv, nargs) };
    guard(|py| {
        args::positional(py, "wait", argv, 0, 1)?;
        let timeout = args::timeout(py, argv.first().copied())?;
        // SAFETY: `slf` is a PendingCall (method of our type).
        let me = unsafe { inner(slf) };
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
        super::calls::outcome_to_python(py, outcome)
    })
}

unsafe extern "C" fn pending_done(
    slf: *mut PyObject,
    _argv: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: `slf` is a PendingCall.
        let me = unsafe { inner(slf) };
        // An abandoned call is done too: `wait()` then raises at once.
        Ok(boolean(py, !matches!(me.arrived(), Ok(false))))
    })
}

unsafe extern "C" fn pending_waiting(
    slf: *mut PyObject,
    _argv: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: `slf` is a PendingCall.
        let me = unsafe { inner(slf) };
        new_int(py, me.waiters.load(Ordering::SeqCst) as i64)
    })
}

unsafe extern "C" fn pending_interrupt(
    slf: *mut PyObject,
    _argv: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: `slf` is a PendingCall.
        let me = unsafe { inner(slf) };
        let (w, seq) = (me.worker.clone(), me.seq);
        let hit = crate::ffi::tstate::detached(py, || {
            // SAFETY: detached, as `interrupt` requires.
            unsafe { w.interrupt_job(seq, InterruptReason::Cancelled) }
        });
        Ok(boolean(py, hit))
    })
}
