//! Reaching the main interpreter from a worker thread, to complete its futures there.
//!
//! A worker thread may own one thread state of the main interpreter besides its own
//! interpreter's (one thread state per thread and interpreter, created on the thread that
//! uses it). [`with_main`] swaps to it around a closure. [`MainRef`] is a strong reference to
//! a main-interpreter object held by Rust: it is only dereferenced or released while the
//! main interpreter is attached on the current thread; a `MainRef` dropped anywhere else is
//! queued and released by the next main-interpreter code that calls [`release_deferred`].

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::ffi::*;

thread_local! {
    /// This thread's thread state for the main interpreter (NULL until first needed).
    /// Created, used and deleted on this thread only.
    static MAIN_TS: Cell<*mut PyThreadState> = const { Cell::new(std::ptr::null_mut()) };
}

/// Whether the main interpreter is the one attached on this thread.
pub(crate) fn main_attached() -> bool {
    // SAFETY: reading the current thread state and its interpreter is always allowed.
    unsafe {
        let ts = PyThreadState_GetUnchecked();
        !ts.is_null() && PyThreadState_GetInterpreter(ts) == PyInterpreterState_Main()
    }
}

/// Run `f` with the main interpreter attached on this thread, then re-attach whatever was
/// attached before (the worker's own interpreter). Returns `None` if Python is finalizing
/// (nothing is run then).
///
/// `py` proves a thread state is attached now; it must not be used inside `f`.
pub(crate) fn with_main<R>(
    py: Attached<'_>,
    f: impl for<'m> FnOnce(Attached<'m>) -> R,
) -> Option<R> {
    let _ = py;
    // SAFETY: reads a runtime flag.
    if unsafe { Py_IsFinalizing() } != 0 {
        return None;
    }
    // SAFETY: a thread state is attached (py); detach it and keep it to re-attach.
    let own = unsafe { PyEval_SaveThread() };
    let main_ts = MAIN_TS.with(|c| {
        if c.get().is_null() {
            // SAFETY: no thread state is attached now; the new thread state is bound to
            // this thread and only ever used here.
            c.set(unsafe { PyThreadState_New(PyInterpreterState_Main()) });
        }
        c.get()
    });
    // SAFETY: `main_ts` belongs to this thread; nothing is attached.
    unsafe { PyEval_RestoreThread(main_ts) };
    // SAFETY: the main interpreter is attached until the SaveThread below.
    let r = f(unsafe { Attached::assume() });
    // SAFETY: detach main, re-attach the thread state detached above (same thread).
    unsafe {
        PyEval_SaveThread();
        PyEval_RestoreThread(own);
    }
    Some(r)
}

/// Run `f` with the main interpreter attached on this thread, which has no thread state
/// attached (e.g. the pool's watchdog thread), through a temporary thread state deleted
/// before returning (so the thread keeps none that would need the main GIL to delete when
/// it ends). Returns `None` if Python is finalizing (nothing is run then).
pub(crate) fn with_main_detached<R>(f: impl for<'m> FnOnce(Attached<'m>) -> R) -> Option<R> {
    // SAFETY: reads a runtime flag.
    if unsafe { Py_IsFinalizing() } != 0 {
        return None;
    }
    // SAFETY: no thread state is attached (caller's duty), so making one for the main
    // interpreter on this thread and attaching it is allowed.
    let ts = unsafe { PyThreadState_New(PyInterpreterState_Main()) };
    if ts.is_null() {
        return None;
    }
    // SAFETY: `ts` was made on this thread; nothing is attached.
    unsafe { PyEval_RestoreThread(ts) };
    // SAFETY: the main interpreter is attached until the DeleteCurrent below.
    let r = f(unsafe { Attached::assume() });
    // SAFETY: `ts` is attached on this thread; clearing and deleting it detaches it.
    unsafe {
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }
    Some(r)
}

/// Delete this thread's main-interpreter thread state, if it has one. Called by a worker
/// thread before it exits, with no thread state attached.
pub(crate) fn release_for_this_thread() {
    let ts = MAIN_TS.with(|c| c.replace(std::ptr::null_mut()));
    if ts.is_null() {
        return;
    }
    // SAFETY: reads a runtime flag.
    if unsafe { Py_IsFinalizing() } != 0 {
        return; // the runtime deletes remaining thread states itself
    }
    // SAFETY: `ts` was created on this thread for the main interpreter and is detached;
    // nothing is attached on this thread now.
    unsafe {
        PyEval_RestoreThread(ts);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }
}

/// A strong reference to a main-interpreter object, movable between threads.
pub(crate) struct MainRef(NonNull<PyObject>);

// SAFETY: the pointer is only dereferenced or released while the main interpreter is
// attached on the current thread (see the module docs); moving the pointer value between
// threads is harmless.
unsafe impl Send for MainRef {}

/// Main-interpreter objects whose `MainRef` was dropped where main was not attached.
static DEFERRED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Whether `DEFERRED` may be non-empty (lets the common case skip the lock).
static HAS_DEFERRED: AtomicBool = AtomicBool::new(false);

impl MainRef {
    /// Keep `obj` alive from Rust.
    ///
    /// # Safety
    ///
    /// The main interpreter is attached on this thread and `obj` is one of its objects.
    pub(crate) unsafe fn new(_py: Attached<'_>, obj: *mut PyObject) -> MainRef {
        // SAFETY: per the caller.
        unsafe { Py_INCREF(obj) };
        MainRef(NonNull::new(obj).expect("non-null object"))
    }

    /// Turn into an [`Owned`] reference usable while main is attached.
    ///
    /// # Safety
    ///
    /// The main interpreter is attached on this thread.
    pub(crate) unsafe fn into_owned(self, py: Attached<'_>) -> Owned {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: we hand over the strong reference taken in `new`.
        unsafe { Owned::from_new(py, p) }.expect("non-null")
    }
}

impl Drop for MainRef {
    fn drop(&mut self) {
        if main_attached() {
            // SAFETY: main is attached on this thread and the object belongs to it.
            unsafe { Py_DECREF(self.0.as_ptr()) };
        } else {
            DEFERRED.lock().push(self.0.as_ptr() as usize);
            HAS_DEFERRED.store(true, Ordering::Release);
        }
    }
}

/// Release references dropped while main was not attached.
pub(crate) fn release_deferred(_py: Attached<'_>) {
    if !HAS_DEFERRED.load(Ordering::Acquire) || !main_attached() {
        return;
    }
    HAS_DEFERRED.store(false, Ordering::Release);
    let pending = std::mem::take(&mut *DEFERRED.lock());
    for p in pending {
        // SAFETY: main is attached; each entry is a strong reference taken by `MainRef::new`
        // on a main-interpreter object and not released yet.
        unsafe { Py_DECREF(p as *mut PyObject) };
    }
}
