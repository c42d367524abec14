//! `PendingCall`: a call running in another interpreter, created by `submit()`.
//!
//! A heap type made per interpreter with `PyType_FromModuleAndSpec`; its instances hold only
//! Rust data (the worker handle and the completion slot), never a Python object of another
//! interpreter, so the type needs no GC support.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use manygil_core::worker::{Completion, WaitError};

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::interp::Interrupt;

use super::functions::method;
use super::{args, guard, state};

/// The Rust side of a `PendingCall`.
struct Inner {
    /// The worker (or pool) running the call.
    worker: Arc<dyn Interrupt>,
    /// The job's sequence number (for targeted interrupts).
    seq: u64,
    /// Where the outcome arrives.
    result: Completion<Outcome>,
    /// The outcome once received (it can be read only once from `result`).
    outcome: Option<Outcome>,
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
    static mut METHODS: [PyMethodDef; 4] = [
        method!(c"wait", pending_wait, c"wait($self, timeout=None, /)\n--\n\nBlock until the call completes; TimeoutError if it does not within timeout."),
        method!(c"done", pending_done, c"done($self, /)\n--\n\nWhether the outcome has arrived."),
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
        outcome: None,
    });
    // SAFETY: `obj` is a fresh PendingObject; we own its `inner` field.
    unsafe { (*obj.as_ptr().cast::<PendingObject>()).inner = Box::into_raw(inner) };
    Ok(obj)
}

/// # Safety
/// `slf` is a live PendingCall instance.
unsafe fn inner<'a>(slf: *mut PyObject) -> &'a mut Inner {
    // SAFETY: instances are created only by `new`, which sets `inner`; it stays valid until
    // dealloc, and the GIL of this interpreter serializes access.
    unsafe { &mut *(*slf.cast::<PendingObject>()).inner }
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
        args::count(py, "wait", argv, 0, 1)?;
        let timeout = args::timeout(py, argv.first().copied())?;
        // SAFETY: `slf` is a PendingCall (method of our type).
        let me = unsafe { inner(slf) };
        if me.outcome.is_none() {
            let got = crate::interp::wait_for_python(py, &*me.worker, me.seq, &me.result, timeout)?;
            match got {
                Ok(o) => me.outcome = Some(o),
                Err(WaitError::Timeout) => {
                    // SAFETY: builtin exception class.
                    return Err(unsafe {
                        err::raise(py, PyExc_TimeoutError, "the call has not completed yet")
                    });
                }
                Err(WaitError::Abandoned) => {
                    return Err(err::raise_manygil(
                        py,
                        c"InterpreterNotFoundError",
                        &format!(
                            "interpreter {} was closed before the call completed",
                            me.worker.describe()
                        ),
                    ))
                }
            }
        }
        let outcome = me.outcome.clone().ok_or(PyErrSet)?;
        super::functions::outcome_to_python(py, outcome)
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
        if me.outcome.is_none() {
            me.outcome = me.result.try_take();
        }
        Ok(boolean(py, me.outcome.is_some()))
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
