//! Creating and ending own-GIL interpreters, serialized process-wide.
//!
//! Lock order, everywhere: [`LIFECYCLE`] first, then (maybe) a GIL. Never take
//! [`LIFECYCLE`] while a thread state is attached: creation needs the main interpreter's
//! GIL, so a thread holding that GIL while waiting for [`LIFECYCLE`] would deadlock.

use std::ffi::CStr;
use std::ptr;

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::ffi::*;

/// Serializes `Py_NewInterpreterFromConfig` and `Py_EndInterpreter` across the process
/// (concurrent creation is unsafe on 3.12 and not well-tested after: gh-123134).
/// Holds no data; only its critical sections matter.
pub(crate) static LIFECYCLE: Mutex<()> = Mutex::new(());

/// Number of interpreters made by [`create`] and not yet ended by [`end`] (pool workers
/// included). Changed only while [`LIFECYCLE`] is held.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many manygil interpreters exist now (pool workers included).
pub(crate) fn live() -> usize {
    LIVE.load(Ordering::Acquire)
}

/// The configuration of every manygil interpreter: its own GIL and allocator, only
/// extensions that declare per-interpreter-GIL support, no fork/exec/daemon threads.
fn isolated_config() -> PyInterpreterConfig {
    PyInterpreterConfig {
        use_main_obmalloc: 0,
        allow_fork: 0,
        allow_exec: 0,
        allow_threads: 1,
        allow_daemon_threads: 0,
        check_multi_interp_extensions: 1,
        gil: PyInterpreterConfig_OWN_GIL,
    }
}

/// A new interpreter's thread state, created on (and bound to) the calling thread.
/// It is detached on return.
pub(crate) struct NewInterpreter {
    /// The interpreter's first thread state; belongs to the calling thread only.
    pub(crate) tstate: *mut PyThreadState,
}

/// Create an own-GIL interpreter whose first thread state belongs to the calling thread.
///
/// # Safety
///
/// The calling thread has no attached thread state, and the main interpreter is not
/// finalizing (checked by the caller under the GIL just before).
pub(crate) unsafe fn create() -> Result<NewInterpreter, String> {
    let _serial = LIFECYCLE.lock();
    // SAFETY: (whole block) no thread state is attached here (caller's duty), so attaching a
    // fresh main-interpreter thread state made on this thread is allowed; the C-API requires
    // an attached thread state for Py_NewInterpreterFromConfig, and an own-GIL creation
    // detaches it again (the main GIL is held only briefly). The temporary main thread
    // state is cleared and deleted on this same thread afterwards.
    unsafe {
        if Py_IsFinalizing() != 0 {
            return Err("Python is shutting down".to_owned());
        }
        // Counted before the main GIL is first taken (creation releases it midway), so the
        // fork guard never sees 0 while a sub-interpreter exists; undone on failure.
        LIVE.fetch_add(1, Ordering::AcqRel);
        let main_ts = PyThreadState_New(PyInterpreterState_Main());
        if main_ts.is_null() {
            LIVE.fetch_sub(1, Ordering::AcqRel);
            return Err("could not create a thread state for the main interpreter".to_owned());
        }
        PyEval_RestoreThread(main_ts);
        let mut sub: *mut PyThreadState = ptr::null_mut();
        let config = isolated_config();
        let status = Py_NewInterpreterFromConfig(&mut sub, &config);
        let failed = PyStatus_Exception(status) != 0;
        if !failed {
            // `sub` is attached now; detach it before going back to main_ts.
            PyEval_SaveThread();
        }
        // Back on main_ts (on failure CPython leaves it attached, or nothing attached).
        if PyThreadState_GetUnchecked().is_null() {
            PyEval_RestoreThread(main_ts);
        }
        PyThreadState_Clear(main_ts);
        PyThreadState_DeleteCurrent();
        if failed {
            let msg = if status.err_msg.is_null() {
                "Py_NewInterpreterFromConfig failed".to_owned()
            } else {
                CStr::from_ptr(status.err_msg)
                    .to_string_lossy()
                    .into_owned()
            };
            LIVE.fetch_sub(1, Ordering::AcqRel);
            return Err(msg);
        }
        Ok(NewInterpreter { tstate: sub })
    }
}

/// End the interpreter of `tstate`.
///
/// # Safety
///
/// `tstate` is the interpreter's only remaining thread state, it was created on the calling
/// thread, it is detached, and nothing of the interpreter is used afterwards. No thread
/// state is attached on the calling thread.
pub(crate) unsafe fn end(tstate: *mut PyThreadState) {
    let _serial = LIFECYCLE.lock();
    // SAFETY: per the caller's duties; Py_EndInterpreter needs its tstate attached and
    // current, and leaves no thread state attached afterwards.
    unsafe {
        PyEval_RestoreThread(tstate);
        Py_EndInterpreter(tstate);
    }
    LIVE.fetch_sub(1, Ordering::AcqRel);
}

/// Release [`LIFECYCLE`] if a thread that no longer exists (in a forked child) held it.
pub(crate) fn reset_after_fork() {
    if LIFECYCLE.is_locked() {
        // SAFETY: after fork() only the forking thread exists in the child; a holder of the
        // lock in the parent has no counterpart here, so nobody will unlock it otherwise.
        unsafe { LIFECYCLE.force_unlock() };
    }
    // The parent's interpreters do not exist in the child.
    LIVE.store(0, Ordering::Release);
}
