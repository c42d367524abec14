//! `manygil.Lock`: a handle on the core's lock, with `threading.Lock`'s names, arguments,
//! return values and errors (the bodies it shares with the other lock-like handles are in
//! `lock_like`).

use std::sync::Arc;

use manygil_core::sync::Lock;

use crate::ffi::err::PyResult;
use crate::ffi::{boolean, Attached, Owned};

use super::lock_like::{lock_like_type, release, N_WAITING_ACQUIRE_DOC};

lock_like_type! {
    Lock,
    name: c"manygil.Lock",
    new: default,
    doc: c"Lock()
--

A lock shared by every interpreter and thread, with threading.Lock's API: acquire(),
release(), locked() and use as a context manager. Any thread of any interpreter may
release it. Waiting releases the GIL; Ctrl-C in the main thread interrupts it. Passing
the lock to another interpreter gives that interpreter the same lock.",
    acquire: c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock; return whether it was acquired.\n\nWith blocking true, wait (with the GIL released) while another party holds it, for at\nmost timeout seconds (-1 or None: forever). With blocking false, never wait (a timeout\nthen raises ValueError).",
    n_waiting: N_WAITING_ACQUIRE_DOC,
    methods: [
        noargs c"release" => c_release(release::<Lock>), c"release($self, /)\n--\n\nRelease the lock (from any thread or interpreter); RuntimeError if it is not locked.";
        noargs c"locked" => c_locked(locked), c"locked($self, /)\n--\n\nWhether the lock is held.";
    ],
    getters: [],
}

fn locked<'py>(py: Attached<'py>, lock: &Lock) -> PyResult<Owned<'py>> {
    Ok(boolean(py, lock.locked()))
}
