//! `manygil.Lock`: a handle on the core's lock, with `threading.Lock`'s names, arguments,
//! return values and errors (the bodies it shares with the other lock-like handles are in
//! `lock_like`).

use std::sync::Arc;

use manygil_core::sync::Lock;

use crate::ffi::args::Call;
use crate::ffi::err::PyResult;
use crate::ffi::*;
use crate::handles::handle_type;

use super::lock_like::{acquire, exit, n_waiting, release};
use super::lock_like::{ENTER_DOC, EXIT_DOC, N_WAITING_ACQUIRE_DOC};

const LOCK_DOC: &std::ffi::CStr = c"Lock()
--

A lock shared by every interpreter and thread, with threading.Lock's API: acquire(),
release(), locked() and use as a context manager. Any thread of any interpreter may
release it. Waiting releases the GIL; Ctrl-C in the main thread interrupts it. Passing
the lock to another interpreter gives that interpreter the same lock.";

handle_type! {
    name: c"manygil.Lock",
    doc: LOCK_DOC,
    state: Handle::Lock(Arc<Lock>),
    new: lock_new,
    methods: [
        call c"acquire" => c_acquire(acquire::<Lock>), c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock; return whether it was acquired.\n\nWith blocking true, wait (with the GIL released) while another party holds it, for at\nmost timeout seconds (-1 or None: forever). With blocking false, never wait (a timeout\nthen raises ValueError).";
        noargs c"release" => c_release(release::<Lock>), c"release($self, /)\n--\n\nRelease the lock (from any thread or interpreter); RuntimeError if it is not locked.";
        noargs c"locked" => c_locked(locked), c"locked($self, /)\n--\n\nWhether the lock is held.";
        call c"__enter__" => c_acquire, ENTER_DOC;
        call c"__exit__" => c_exit(exit::<Lock>), EXIT_DOC;
    ],
    getters: [
        get c"_n_waiting" => g_n_waiting(n_waiting::<Lock>), N_WAITING_ACQUIRE_DOC;
    ],
}

fn lock_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<Lock>> {
    call.bind(py, "Lock", [], 0)?;
    Ok(Arc::new(Lock::new()))
}

fn locked<'py>(py: Attached<'py>, lock: &Lock) -> PyResult<Owned<'py>> {
    Ok(boolean(py, lock.locked()))
}
