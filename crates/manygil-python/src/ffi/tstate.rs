//! Detaching the current thread state around blocking waits, and re-attaching after.

use super::owned::Attached;
use pyo3_ffi::*;

/// Run `f` with the current thread state detached (the GIL released), then re-attach.
///
/// `f` must not touch Python objects: it gets no [`Attached`] token, and it must be `Send`,
/// so the compiler refuses a closure that captures a raw `*mut PyObject` or an [`Owned`]
/// (neither is `Send`). The `py` token proves a thread state was attached on entry.
///
/// [`Owned`]: super::Owned
pub(crate) fn detached<R>(py: Attached<'_>, f: impl FnOnce() -> R + Send) -> R {
    let _ = py;
    // SAFETY: a thread state is attached (py); SaveThread detaches it and returns it.
    let ts = unsafe { PyEval_SaveThread() };
    struct Reattach(*mut PyThreadState);
    impl Drop for Reattach {
        fn drop(&mut self) {
            // SAFETY: `self.0` is the thread state this thread detached above; no thread
            // state is attached now (f cannot attach one without detaching it again).
            unsafe { PyEval_RestoreThread(self.0) };
        }
    }
    let _guard = Reattach(ts);
    f()
}
