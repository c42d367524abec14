//! Thread states: every attach, detach, creation and deletion of one, and the creation and
//! end of interpreters. Nothing outside this file switches thread states.
//!
//! The rules these functions rely on (their `# Safety` sections say which applies):
//! one thread state per (thread, interpreter), created, attached and deleted on the thread
//! that uses it; at most one attached per thread; `PyGILState_*` never used.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::owned::Attached;
use pyo3_ffi::*;

/// Proof that no thread state is attached on the current thread: what attaching one (a
/// temporary one, a worker's own, an interpreter's first) and ending an interpreter need.
///
/// Only lent (`&mut Detached`), for a scope where that holds: by [`Detached::scope`],
/// which looks first, by [`Detached::on_plain_thread`], and by [`detached_with`] for its
/// closure. It is `!Send` (the fact is about this thread) and neither `Copy` nor `Clone`,
/// so it cannot leave its scope; whatever attaches a thread state borrows it mutably for as
/// long as that one stays attached ([`ThreadState::attach`]'s token carries the borrow,
/// [`with_temporary`]'s closure cannot capture it), so it cannot be used while it is false.
#[derive(Debug)]
pub(crate) struct Detached {
    /// Keeps it on its thread.
    _not_send: PhantomData<*mut ()>,
}

impl Detached {
    /// Run `f` with the proof if no thread state is attached on this thread now (else
    /// `None`, and `f` is not run).
    pub(crate) fn scope<R>(f: impl FnOnce(&mut Detached) -> R) -> Option<R> {
        if is_attached() {
            return None;
        }
        Some(f(&mut Detached {
            _not_send: PhantomData,
        }))
    }

    /// Run `f` with the proof on a thread that attaches no thread state but through it (a
    /// thread this crate spawned, or a Rust thread pool's); panics if one is attached.
    pub(crate) fn on_plain_thread<R>(f: impl FnOnce(&mut Detached) -> R) -> R {
        Detached::scope(f).expect("no thread state is attached on this thread")
    }
}

/// Run `f` with the current thread state detached (the GIL released), then re-attach.
///
/// `f` must not touch Python objects: it gets no [`Attached`] token, and it must be `Send`,
/// so the compiler refuses a closure that captures a raw `*mut PyObject` or an [`Owned`]
/// (neither is `Send`). The `py` token proves a thread state was attached on entry.
///
/// [`Owned`]: super::Owned
pub(crate) fn detached<R>(py: Attached<'_>, f: impl FnOnce() -> R + Send) -> R {
    detached_with(py, |_| f())
}

/// [`detached`], giving `f` the proof that nothing is attached while it runs.
pub(crate) fn detached_with<R>(py: Attached<'_>, f: impl FnOnce(&mut Detached) -> R + Send) -> R {
    let _ = py;
    // SAFETY: a thread state is attached (py); SaveThread detaches it and returns it.
    let ts = unsafe { PyEval_SaveThread() };
    let _guard = Reattach(ts);
    // Nothing is attached until `_guard` drops, after `f` (which only borrows the proof).
    f(&mut Detached {
        _not_send: PhantomData,
    })
}

/// Run `f` with this thread's thread state detached if one is attached (for Rust callers
/// that may or may not be inside Python), then re-attach it. `f` gets the proof that
/// nothing is attached while it runs.
pub(crate) fn detached_if_attached<R>(f: impl FnOnce(&mut Detached) -> R) -> R {
    let mut d = Detached {
        _not_send: PhantomData,
    };
    // SAFETY: reading the current thread state is always allowed.
    let ts = unsafe { PyThreadState_GetUnchecked() };
    if ts.is_null() {
        return f(&mut d);
    }
    // SAFETY: `ts` is attached on this thread; the guard re-attaches it after `f`, even
    // if `f` panics (the panic then unwinds with the thread state attached, as it came).
    unsafe { PyEval_SaveThread() };
    let _guard = Reattach(ts);
    f(&mut d)
}

/// Re-attaches, when dropped, the thread state that this thread detached.
struct Reattach(*mut PyThreadState);

impl Drop for Reattach {
    fn drop(&mut self) {
        // SAFETY: `self.0` is the thread state this thread detached when it made this
        // guard; no thread state is attached now (the code run meanwhile cannot attach
        // one without detaching it again).
        unsafe { PyEval_RestoreThread(self.0) };
    }
}

/// Whether the runtime is finalizing (no new thread state may be attached then).
pub(crate) fn is_finalizing() -> bool {
    // SAFETY: reads a runtime flag; allowed from any thread.
    unsafe { Py_IsFinalizing() != 0 }
}

/// Whether the runtime is initialized and not finalizing.
pub(crate) fn is_running() -> bool {
    // SAFETY: read runtime flags; allowed from any thread.
    unsafe { Py_IsInitialized() != 0 && Py_IsFinalizing() == 0 }
}

/// Whether a thread state (of any interpreter) is attached on this thread.
pub(crate) fn is_attached() -> bool {
    // SAFETY: reading the current thread state is always allowed.
    unsafe { !PyThreadState_GetUnchecked().is_null() }
}

/// Whether the main interpreter is the one attached on this thread (false if none is).
pub(crate) fn main_attached() -> bool {
    // SAFETY: reading the current thread state and its interpreter is always allowed.
    unsafe {
        let ts = PyThreadState_GetUnchecked();
        !ts.is_null() && PyThreadState_GetInterpreter(ts) == PyInterpreterState_Main()
    }
}

/// An interpreter, named by its `PyInterpreterState`. Only a name: it may be sent between
/// threads, and is only dereferenced (by CPython) through the functions of this file, whose
/// callers guarantee the interpreter is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interp(*mut PyInterpreterState);

// SAFETY: a pointer used as a name; see the type's docs.
unsafe impl Send for Interp {}
// SAFETY: as above.
unsafe impl Sync for Interp {}

impl Interp {
    /// The attached interpreter.
    pub(crate) fn current(_py: Attached<'_>) -> Interp {
        // SAFETY: attached (py), so the current interpreter is valid.
        Interp(unsafe { PyInterpreterState_Get() })
    }

    /// The main interpreter.
    pub(crate) fn main() -> Interp {
        // SAFETY: reads a runtime field; allowed from any thread while Python is initialized.
        Interp(unsafe { PyInterpreterState_Main() })
    }
}

/// A thread state made by this thread, for one interpreter. `!Send`: it is attached,
/// detached and deleted on this thread only. Dropping it does nothing (the runtime deletes
/// leftover thread states at finalization); [`ThreadState::delete`] deletes it.
#[derive(Debug)]
pub(crate) struct ThreadState {
    /// Never NULL; created by `PyThreadState_New` or `Py_NewInterpreterFromConfig` on
    /// this thread.
    ptr: NonNull<PyThreadState>,
    /// Keeps it on its thread.
    _not_send: PhantomData<*mut ()>,
}

impl ThreadState {
    /// A new, detached thread state of `interp` for this thread (`None` if CPython could
    /// not allocate one).
    ///
    /// # Safety
    ///
    /// `interp` is alive, and stays alive until this thread state is deleted.
    pub(crate) unsafe fn new(interp: Interp) -> Option<ThreadState> {
        // SAFETY: `interp` is alive (caller's duty); PyThreadState_New binds the new thread
        // state to this thread and does not attach it.
        let ptr = unsafe { PyThreadState_New(interp.0) };
        NonNull::new(ptr).map(|ptr| ThreadState {
            ptr,
            _not_send: PhantomData,
        })
    }

    /// Attach it; the returned token is valid until [`ThreadState::detach`] or
    /// [`ThreadState::delete`], and borrows the proof that nothing was attached (`d`) for
    /// as long as it is used.
    ///
    /// # Safety
    ///
    /// Its interpreter is alive and not being ended by another thread.
    pub(crate) unsafe fn attach<'py>(&self, d: &'py mut Detached) -> Attached<'py> {
        let _ = d;
        // SAFETY: nothing is attached on this thread (d); the interpreter is alive (the
        // caller's duty); it was made on this thread (`!Send`).
        unsafe { PyEval_RestoreThread(self.ptr.as_ptr()) };
        // SAFETY: attached just now, until the caller detaches it.
        unsafe { Attached::assume() }
    }

    /// Detach it.
    ///
    /// # Safety
    ///
    /// It is the thread state attached on this thread, and no [`Attached`] token made for it
    /// is used afterwards.
    pub(crate) unsafe fn detach(&self) {
        // SAFETY: per the caller, `self` is attached here; SaveThread detaches it.
        let ts = unsafe { PyEval_SaveThread() };
        debug_assert_eq!(ts, self.ptr.as_ptr());
    }

    /// Attach it, clear it and delete it (nothing is attached afterwards).
    ///
    /// # Safety
    ///
    /// As [`ThreadState::attach`]; nothing else uses it afterwards (it is consumed).
    pub(crate) unsafe fn delete(self, d: &mut Detached) {
        let _ = d;
        // SAFETY: nothing is attached (d), so it may be attached; then it is the attached
        // one; its interpreter is alive (the caller's duty).
        unsafe {
            PyEval_RestoreThread(self.ptr.as_ptr());
            self.delete_attached();
        }
    }

    /// Clear and delete it while it is the attached thread state (nothing is attached
    /// afterwards).
    ///
    /// # Safety
    ///
    /// It is attached on this thread; no [`Attached`] token made for it is used afterwards.
    pub(crate) unsafe fn delete_attached(self) {
        // SAFETY: per the caller, the current thread state; clearing and deleting the
        // current thread state also detaches it.
        unsafe {
            PyThreadState_Clear(self.ptr.as_ptr());
            PyThreadState_DeleteCurrent();
        }
    }

    /// Its address: a name for it (e.g. to find it among its interpreter's thread states),
    /// never dereferenced by the holder.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Its interpreter.
    pub(crate) fn interp(&self) -> Interp {
        // SAFETY: a live thread state (made by this thread, not deleted: `delete` consumes).
        Interp(unsafe { PyThreadState_GetInterpreter(self.ptr.as_ptr()) })
    }
}

/// Run `f` with a temporary thread state of `interp` attached on this thread, deleted
/// before returning. `None` if Python is finalizing or no thread state could be made
/// (nothing is run then).
///
/// `d` stays borrowed while the temporary thread state is attached, so `f` cannot use it.
///
/// # Safety
///
/// `interp` is alive and cannot be ended before this returns (for a sub-interpreter: its
/// end is excluded by a lock the caller holds).
pub(crate) unsafe fn with_temporary<R>(
    d: &mut Detached,
    interp: Interp,
    f: impl for<'py> FnOnce(Attached<'py>) -> R,
) -> Option<R> {
    if is_finalizing() {
        return None;
    }
    // SAFETY: `interp` alive until we return (caller's duty).
    let ts = unsafe { ThreadState::new(interp) }?;
    // SAFETY: `interp` is alive (caller's duty); made on this thread just now.
    let py = unsafe { ts.attach(d) };
    let r = f(py);
    // SAFETY: `ts` is attached here; `py` is not used after.
    unsafe { ts.delete_attached() };
    Some(r)
}

/// Run `f` with `other` attached instead of the thread state attached now (`py`'s), then
/// switch back.
///
/// # Safety
///
/// `other` belongs to another interpreter than `py`'s, and its interpreter is alive.
pub(crate) unsafe fn switched<R>(
    py: Attached<'_>,
    other: &ThreadState,
    f: impl for<'o> FnOnce(Attached<'o>) -> R,
) -> R {
    let _ = py;
    // SAFETY: a thread state is attached (py); detach it and keep it to re-attach.
    let own = unsafe { PyEval_SaveThread() };
    let mut d = Detached {
        _not_send: PhantomData,
    };
    // SAFETY: nothing attached now (detached just above); `other` was made on this thread
    // (it is `!Send`) and its interpreter is alive (caller's duty).
    let r = f(unsafe { other.attach(&mut d) });
    // SAFETY: `other` is attached; then re-attach the one detached above (same thread).
    unsafe {
        other.detach();
        PyEval_RestoreThread(own);
    }
    r
}

/// Raise `KeyboardInterrupt` asynchronously in the thread `thread_ident` of the attached
/// interpreter (`interrupt = false`: cancel a pending one). Returns whether a thread state
/// was found.
pub(crate) fn set_async_interrupt(_py: Attached<'_>, thread_ident: u64, interrupt: bool) -> bool {
    let exc = if interrupt {
        // SAFETY: reading a builtin exception class, valid in every interpreter.
        unsafe { PyExc_KeyboardInterrupt }
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: attached (py); the call only looks up the attached interpreter's thread
    // states by ident and stores (a new reference to) the exception class or clears it.
    unsafe { PyThreadState_SetAsyncExc(thread_ident as _, exc) > 0 }
}

/// Create an interpreter with `config` (own or shared GIL); its first thread state belongs
/// to this thread and is returned detached, with the interpreter's id.
///
/// # Safety
///
/// Interpreter creation and ending are serialized by the caller; Python is initialized.
pub(crate) unsafe fn new_interpreter(
    d: &mut Detached,
    config: &super::interp_config::InterpConfig,
) -> Result<(ThreadState, i64), String> {
    let config = config.to_c();
    // SAFETY: the main interpreter lives as long as the runtime.
    let Some(main_ts) = (unsafe { ThreadState::new(Interp::main()) }) else {
        return Err("could not create a thread state for the main interpreter".to_owned());
    };
    // SAFETY: (whole block) nothing is attached (d), so attaching the fresh
    // main thread state is allowed; the C-API requires an attached thread state for
    // Py_NewInterpreterFromConfig, which on success leaves the new one attached (creation
    // detaches main's midway, whichever GIL the new one uses; a shared one is then taken
    // again for the new thread state). The temporary main thread state is deleted on this
    // same thread afterwards.
    unsafe {
        let _py = main_ts.attach(d);
        let mut sub: *mut PyThreadState = std::ptr::null_mut();
        let status = Py_NewInterpreterFromConfig(&mut sub, &config);
        let failed = PyStatus_Exception(status) != 0;
        let mut made = None;
        if !failed {
            let ts = ThreadState {
                ptr: NonNull::new(sub).expect("a new interpreter has a thread state"),
                _not_send: PhantomData,
            };
            ts.detach();
            let id = PyInterpreterState_GetID(ts.interp().0);
            made = Some((ts, id));
        } else if !PyThreadState_GetUnchecked().is_null() {
            // On failure CPython leaves main_ts attached, or nothing attached.
            PyEval_SaveThread();
        }
        main_ts.delete(d); // attaches it again (nothing is attached here), then deletes it
        made.ok_or_else(|| {
            if status.err_msg.is_null() {
                "Py_NewInterpreterFromConfig failed".to_owned()
            } else {
                std::ffi::CStr::from_ptr(status.err_msg)
                    .to_string_lossy()
                    .into_owned()
            }
        })
    }
}

/// End the interpreter of `ts`.
///
/// # Safety
///
/// `ts` is its interpreter's only remaining thread state, detached, and nothing of the
/// interpreter is used afterwards; creation and ending are serialized by the caller.
pub(crate) unsafe fn end_interpreter(d: &mut Detached, ts: ThreadState) {
    let _ = d;
    // SAFETY: nothing is attached on this thread (d); the rest per the caller's duties;
    // Py_EndInterpreter needs its thread state attached
    // and current, and leaves no thread state attached afterwards.
    unsafe {
        PyEval_RestoreThread(ts.ptr.as_ptr());
        Py_EndInterpreter(ts.ptr.as_ptr());
    }
}
