//! `manygil.RLock`: a handle on the core's reentrant lock, with `threading.RLock`'s API.

use std::sync::Arc;

use manygil_core::sync::RLock;

use crate::ffi::err::PyResult;
use crate::ffi::{boolean, new_int, Attached, Owned};
use crate::handles::blocking::owner_id;

use super::lock_like::{lock_like_type, release, N_WAITING_ACQUIRE_DOC};

lock_like_type! {
    RLock,
    name: c"manygil.RLock",
    new: default,
    doc: c"RLock()
--

A reentrant lock shared by every interpreter and thread, with threading.RLock's API: the
thread (of the interpreter) that acquired it may acquire it again, and must release it as
many times; releasing it from another thread or interpreter raises RuntimeError. Waiting
releases the GIL; Ctrl-C in the main thread interrupts it.",
    acquire: c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock, or add a level if this thread holds it; return whether it did.\n\nBlocks (GIL released) while another thread or interpreter holds it, for at most\ntimeout seconds (-1 or None: forever); never with blocking false.",
    n_waiting: N_WAITING_ACQUIRE_DOC,
    methods: [
        noargs c"release" => c_release(release::<RLock>), c"release($self, /)\n--\n\nRelease one level; RuntimeError if the calling thread does not hold the lock.";
        noargs c"locked" => c_locked(locked), c"locked($self, /)\n--\n\nWhether any thread holds the lock.";
        noargs c"_is_owned" => c_is_owned(is_owned), c"_is_owned($self, /)\n--\n\nWhether the calling thread holds the lock.";
        noargs c"_recursion_count" => c_count(count), c"_recursion_count($self, /)\n--\n\nHow many times the calling thread holds the lock.";
    ],
    getters: [],
}

fn locked<'py>(py: Attached<'py>, lock: &RLock) -> PyResult<Owned<'py>> {
    Ok(boolean(py, lock.locked()))
}

fn is_owned<'py>(py: Attached<'py>, lock: &RLock) -> PyResult<Owned<'py>> {
    Ok(boolean(py, lock.is_owned(owner_id(py))))
}

fn count<'py>(py: Attached<'py>, lock: &RLock) -> PyResult<Owned<'py>> {
    new_int(py, lock.recursion_count(owner_id(py)) as i64)
}
