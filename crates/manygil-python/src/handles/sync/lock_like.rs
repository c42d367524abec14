//! What the lock-like handles (`Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Condition`) share: the [`LockLike`] trait over their core primitives (implemented
//! here, and for the semaphores in `semaphore`), the generic bodies of `acquire`,
//! `release`, `__enter__`/`__exit__` and `_n_waiting`, and [`lock_like_type!`], which
//! makes a lock-like handle type with the rows for them.
//!
//! Acquiring first tries without waiting, with the GIL held; only if that fails does it
//! wait, with the GIL released (see `blocking`: Ctrl-C in the main thread interrupts).

use std::ffi::CStr;
use std::time::Duration;

use manygil_core::sync::{Condition, Lock, RLock, SyncError};

use crate::ffi::args::{self, Call};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::raw::PyExc_OverflowError;
use crate::ffi::{boolean, new_int, none, Attached, Owned};
use crate::handles::blocking::{block_on, owner_id};

/// Define a lock-like handle type: `handle_type!` with the rows every lock-like type has
/// (`acquire` and `__enter__`, `__exit__`, and the `_n_waiting` property, over the
/// generic bodies of this file) before the given ones; the state is `Arc<$t>`, held in
/// `Handle::$t`.
macro_rules! lock_like_type {
    (
        $t:ident,
        name: $name:literal,
        new: $new:ident,
        doc: $doc:expr,
        acquire: $acquire_doc:expr,
        n_waiting: $n_waiting_doc:expr,
        methods: [ $($methods:tt)* ],
        getters: [ $($getters:tt)* ],
    ) => {
        $crate::handles::handle_type! {
            name: $name,
            state: Handle::$t(Arc<$t>),
            new: $new,
            doc: $doc,
            methods: [
                call c"acquire" => c_acquire($crate::handles::sync::lock_like::acquire::<$t>), $acquire_doc;
                call c"__enter__" => c_acquire, c"__enter__($self, /)\n--\n\nacquire()";
                call c"__exit__" => c_exit($crate::handles::sync::lock_like::exit::<$t>), c"__exit__($self, *exc)\n--\n\nrelease()";
                $($methods)*
            ],
            getters: [
                get c"_n_waiting" => g_n_waiting($crate::handles::sync::lock_like::n_waiting::<$t>), $n_waiting_doc;
                $($getters)*
            ],
        }
    };
}
pub(crate) use lock_like_type;

/// What `_n_waiting` means for the types that block in `acquire` only.
pub(crate) const N_WAITING_ACQUIRE_DOC: &CStr = c"Threads blocked in acquire() now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).";

/// A core primitive behind a lock-like handle.
pub(crate) trait LockLike: Sync {
    /// Whether the primitive records which thread holds it (RLock, a Condition's lock):
    /// then [`acquire_as`](Self::acquire_as) and [`release_as`](Self::release_as) get the
    /// calling thread's id ([`owner_id`]); else 0.
    const OWNED: bool;

    /// `acquire`'s `(blocking, timeout)`; by default `threading.Lock.acquire`'s
    /// (`timeout=-1`: forever; a timeout with `blocking=False` is a `ValueError`).
    fn acquire_args(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<(bool, Option<Duration>)> {
        let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
        args::lock_timeout(py, args::truth(blocking, true)?, timeout)
    }

    /// Take it for `owner`; if `blocking`, wait at most `timeout` (`None`: forever).
    fn acquire_as(&self, owner: u64, blocking: bool, timeout: Option<Duration>) -> bool;

    /// Give back what one `acquire_as(owner, ..)` took.
    fn release_as(&self, owner: u64) -> Result<(), SyncError>;

    /// What `_n_waiting` reports: the threads blocked now, in every interpreter, in
    /// `acquire` (in `wait` for a Condition).
    fn waiters(&self) -> usize;
}

impl LockLike for Lock {
    const OWNED: bool = false;
    fn acquire_as(&self, _: u64, blocking: bool, timeout: Option<Duration>) -> bool {
        self.acquire(blocking, timeout)
    }
    fn release_as(&self, _: u64) -> Result<(), SyncError> {
        self.release()
    }
    fn waiters(&self) -> usize {
        self.n_waiting()
    }
}

impl LockLike for RLock {
    const OWNED: bool = true;
    fn acquire_as(&self, owner: u64, blocking: bool, timeout: Option<Duration>) -> bool {
        self.acquire(owner, blocking, timeout)
    }
    fn release_as(&self, owner: u64) -> Result<(), SyncError> {
        self.release(owner)
    }
    fn waiters(&self) -> usize {
        self.n_waiting()
    }
}

/// A Condition acquires and releases its underlying lock.
impl LockLike for Condition {
    const OWNED: bool = true;
    fn acquire_as(&self, owner: u64, blocking: bool, timeout: Option<Duration>) -> bool {
        self.lock().acquire(owner, blocking, timeout)
    }
    fn release_as(&self, owner: u64) -> Result<(), SyncError> {
        self.lock().release(owner)
    }
    fn waiters(&self) -> usize {
        self.n_waiting()
    }
}

/// The owner id to pass to `L`'s methods (computed only for primitives that use it).
fn owner<L: LockLike>(py: Attached<'_>) -> u64 {
    if L::OWNED {
        owner_id(py)
    } else {
        0
    }
}

/// `acquire(blocking=True, timeout=...)`: try now (GIL held), then, if `blocking`, wait up
/// to `timeout` (GIL released); whether it was acquired. Also `__enter__`.
pub(crate) fn acquire<'py, L: LockLike>(
    py: Attached<'py>,
    lock: &L,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let (blocking, timeout) = L::acquire_args(py, call)?;
    let me = owner::<L>(py);
    if lock.acquire_as(me, false, None) {
        return Ok(boolean(py, true));
    }
    if !blocking || timeout == Some(Duration::ZERO) {
        return Ok(boolean(py, false));
    }
    let got = block_on(py, timeout, true, |w| {
        lock.acquire_as(me, true, w).then_some(())
    })?;
    Ok(boolean(py, got.is_some()))
}

/// `release()` (no arguments); `RuntimeError` (or `ValueError`) as `threading` raises it.
pub(crate) fn release<'py, L: LockLike>(py: Attached<'py>, lock: &L) -> PyResult<Owned<'py>> {
    lock.release_as(owner::<L>(py))
        .map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

/// `__exit__(*exc)`: `release()`, whatever the arguments.
pub(crate) fn exit<'py, L: LockLike>(
    py: Attached<'py>,
    lock: &L,
    _exc: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    release(py, lock)
}

/// The `_n_waiting` property.
pub(crate) fn n_waiting<'py, L: LockLike>(py: Attached<'py>, lock: &L) -> PyResult<Owned<'py>> {
    new_int(py, lock.waiters() as i64)
}

/// The `RuntimeError`/`ValueError`/`OverflowError` `threading` raises for `e`.
pub(crate) fn sync_error(py: Attached<'_>, e: SyncError) -> PyErrSet {
    match e {
        SyncError::NotLocked | SyncError::NotOwned => err::runtime_error(py, &e.to_string()),
        SyncError::TooManyReleases => err::value_error(py, &e.to_string()),
        // SAFETY: reading a builtin exception class (valid in every interpreter) to raise it.
        SyncError::Overflow => unsafe { err::raise(py, PyExc_OverflowError, &e.to_string()) },
    }
}
