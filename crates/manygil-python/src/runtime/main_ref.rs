//! Reaching the main interpreter from a worker thread, to complete its futures there.
//!
//! A worker thread may own one thread state of the main interpreter besides its own
//! interpreter's (one thread state per thread and interpreter, created on the thread that
//! uses it). [`with_main`] swaps to it around a closure. [`MainRef`] is a strong reference to
//! a main-interpreter object held by Rust: it is only dereferenced or released while the
//! main interpreter is attached on the current thread; a `MainRef` dropped anywhere else is
//! queued and released by the next main-interpreter code that calls [`release_deferred`].

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::ffi::raw::PyObject;
use crate::ffi::tstate::{self, Interp, ThreadState};
use crate::ffi::{new_str, Attached, Borrowed, Detached, Owned};

thread_local! {
    /// This thread's thread state for the main interpreter (`None` until first needed).
    /// Created, used and deleted on this thread only.
    static MAIN_TS: RefCell<Option<ThreadState>> = const { RefCell::new(None) };
}

/// Whether the main interpreter is the one attached on this thread.
pub(crate) fn main_attached() -> bool {
    tstate::main_attached()
}

/// Run `f` with the main interpreter attached on this thread, then re-attach whatever was
/// attached before (the worker's own interpreter). Returns `None` if Python is finalizing
/// (nothing is run then).
///
/// `py` proves a thread state (of a sub-interpreter) is attached now; it must not be used
/// inside `f`.
pub(crate) fn with_main<R>(
    py: Attached<'_>,
    f: impl for<'m> FnOnce(Attached<'m>) -> R,
) -> Option<R> {
    if tstate::is_finalizing() {
        return None;
    }
    MAIN_TS.with(|cell| {
        let mut main_ts = cell.borrow_mut();
        let fresh = main_ts.is_none();
        if fresh {
            // SAFETY: the main interpreter lives as long as the runtime.
            *main_ts = unsafe { ThreadState::new(Interp::main()) };
        }
        let main_ts = main_ts.as_ref()?;
        // SAFETY: `py` belongs to a sub-interpreter (callers run in worker threads), and
        // the main interpreter is alive (not finalizing, checked above).
        Some(unsafe {
            tstate::switched(py, main_ts, |m| {
                if fresh {
                    name_in_main(m);
                }
                f(m)
            })
        })
    })
}

/// A worker thread's first time in the main interpreter: give it its name in main's
/// `threading` (`manygil-w<id>` instead of `Dummy-<n>`, for `threading.enumerate()` and the
/// `threadName` of records logged by callbacks run here), if `threading` is imported there.
/// Errors are dropped.
fn name_in_main(m: Attached<'_>) {
    let Some(name) = super::worker_name::get() else {
        return;
    };
    let r = super::py_names::HOOKS_NAME_THREAD.get(m).and_then(|f| {
        let name = new_str(m, &name)?;
        f.borrow().call(&[name.borrow()])
    });
    if r.is_err() {
        crate::ffi::err::clear(m);
    }
}

/// Run `f` with the main interpreter attached on this thread, which has no thread state
/// attached (e.g. the pool's watchdog thread), through a temporary thread state deleted
/// before returning (so the thread keeps none that would need the main GIL to delete when
/// it ends). Returns `None` if Python is finalizing (nothing is run then).
pub(crate) fn with_main_detached<R>(
    d: &mut Detached,
    f: impl for<'m> FnOnce(Attached<'m>) -> R,
) -> Option<R> {
    // SAFETY: the main interpreter lives as long as the runtime, and `with_temporary`
    // refuses once it finalizes.
    unsafe { tstate::with_temporary(d, Interp::main(), f) }
}

/// Delete this thread's main-interpreter thread state, if it has one. Called by a worker
/// thread before it exits, with no thread state attached (`d`).
pub(crate) fn release_for_this_thread(d: &mut Detached) {
    let Some(ts) = MAIN_TS.with(|c| c.borrow_mut().take()) else {
        return;
    };
    if tstate::is_finalizing() {
        return; // the runtime deletes remaining thread states itself
    }
    // SAFETY: `ts` was created on this thread for the main interpreter, which is alive
    // (not finalizing, checked above).
    unsafe { ts.delete(d) };
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
    /// `obj` is an object of the main interpreter (which is then the attached one).
    pub(crate) unsafe fn new(obj: Borrowed<'_, '_>) -> MainRef {
        let owned = obj.to_owned();
        MainRef(NonNull::new(owned.into_raw()).expect("non-null object"))
    }

    /// Release the reference now.
    ///
    /// # Safety
    ///
    /// The main interpreter is attached on this thread.
    unsafe fn release(ptr: *mut PyObject) {
        // SAFETY: per the caller; `ptr` is a strong reference taken by `new`, handed over to
        // an `Owned` that releases it as it drops.
        drop(unsafe { Owned::from_new(Attached::assume(), ptr) });
    }

    /// Turn into an [`Owned`] reference usable while main is attached.
    ///
    /// # Safety
    ///
    /// The main interpreter is attached on this thread.
    pub(crate) unsafe fn into_owned<'py>(self, py: Attached<'py>) -> Owned<'py> {
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
            unsafe { MainRef::release(self.0.as_ptr()) };
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
        unsafe { MainRef::release(p as *mut PyObject) };
    }
}
