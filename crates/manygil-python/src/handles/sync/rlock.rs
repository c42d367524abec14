//! `manygil.RLock`: a handle on the core's reentrant lock, with `threading.RLock`'s API.

use std::sync::Arc;

use manygil_core::sync::RLock;

use crate::ffi::args::Call;
use crate::ffi::entry::{getters, kw_new, methods};
use crate::ffi::err::{self, PyResult};
use crate::ffi::*;
use crate::handles::blocking::owner_id;

use super::lock::{
    acquire_with, lock_args, sync_error, ENTER_DOC, EXIT_DOC, N_WAITING_ACQUIRE_DOC,
};
use crate::handles::{make_type, new_object, this, Handle, TypeDef};

// --- RLock -----------------------------------------------------------------------------

const RLOCK_DOC: &std::ffi::CStr = c"RLock()
--

A reentrant lock shared by every interpreter and thread, with threading.RLock's API: the
thread (of the interpreter) that acquired it may acquire it again, and must release it as
many times; releasing it from another thread or interpreter raises RuntimeError. Waiting
releases the GIL; Ctrl-C in the main thread interrupts it.";

methods! {
    /// The methods of `manygil.RLock` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"acquire" => c_rlock_acquire(rlock_acquire), c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock, or add a level if this thread holds it; return whether it did.\n\nBlocks (GIL released) while another thread or interpreter holds it, for at most\ntimeout seconds (-1 or None: forever); never with blocking false.";
        call c"release" => c_rlock_release(rlock_release), c"release($self, /)\n--\n\nRelease one level; RuntimeError if the calling thread does not hold the lock.";
        call c"locked" => c_rlock_locked(rlock_locked), c"locked($self, /)\n--\n\nWhether any thread holds the lock.";
        call c"_is_owned" => c_rlock_is_owned(rlock_is_owned), c"_is_owned($self, /)\n--\n\nWhether the calling thread holds the lock.";
        call c"_recursion_count" => c_rlock_count(rlock_count), c"_recursion_count($self, /)\n--\n\nHow many times the calling thread holds the lock.";
        call c"__enter__" => c_rlock_acquire, ENTER_DOC;
        call c"__exit__" => c_rlock_exit(rlock_exit), EXIT_DOC;
    ];
}

getters! {
    /// The properties of `manygil.RLock` (static C data; CPython only reads it).
    static TYPE_GETSET = [
        get c"_n_waiting" => g_rlock_n_waiting(rlock_n_waiting), N_WAITING_ACQUIRE_DOC;
    ];
}

pub(crate) fn create_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.RLock",
            doc: RLOCK_DOC,
            new: c_rlock_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: Some((&raw mut TYPE_GETSET).cast()),
            extra: &[],
        },
    )
}

kw_new!(c_rlock_new => rlock_new);

fn rlock_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "RLock", [], 0)?;
    // SAFETY: `subtype` is our (final) RLock type.
    unsafe { new_object(py, subtype, Handle::RLock(Arc::new(RLock::new()))) }
}

/// The state of `slf`, a `manygil.RLock` (`TypeError` for any other object).
fn rlock_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<RLock>> {
    match this(py, slf)? {
        Handle::RLock(state) => Ok(state),
        _ => Err(err::type_error(py, "expected a manygil.RLock")),
    }
}

fn rlock_acquire<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let lock = rlock_of(py, slf)?;
    let (blocking, timeout) = lock_args(py, call)?;
    let me = owner_id(py);
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || lock.acquire(me, false, None),
        |w| lock.acquire(me, true, w),
    )?;
    Ok(boolean(py, got))
}

fn rlock_release<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "release", [], 0)?;
    rlock_exit(py, slf, call)
}

fn rlock_exit<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    _call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    rlock_of(py, slf)?
        .release(owner_id(py))
        .map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn rlock_locked<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "locked", [], 0)?;
    Ok(boolean(py, rlock_of(py, slf)?.locked()))
}

fn rlock_is_owned<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "_is_owned", [], 0)?;
    Ok(boolean(py, rlock_of(py, slf)?.is_owned(owner_id(py))))
}

fn rlock_count<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "_recursion_count", [], 0)?;
    new_int(py, rlock_of(py, slf)?.recursion_count(owner_id(py)) as i64)
}

fn rlock_n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, rlock_of(py, slf)?.n_waiting() as i64)
}
