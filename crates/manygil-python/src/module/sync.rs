//! `manygil.Lock`, `RLock`, `Semaphore` and `BoundedSemaphore`: handles on the core's
//! primitives, with `threading`'s names, arguments, return values and errors.
//!
//! Acquiring first tries without waiting, with the GIL held; only if that fails does it
//! wait, with the GIL released (see `blocking`: Ctrl-C in the main thread interrupts).

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::{BoundedSemaphore, Lock, RLock, Semaphore, SyncError};

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use super::blocking::{block_on, owner_id};
use super::handles::{make_type, new_object, this, Handle, TypeDef};
use super::params::{self, getter, handle_accessor, kw_entry, kw_method, kw_new, property, Call};

/// `acquire`: try now (GIL held), then, if `blocking`, wait up to `timeout` (GIL released).
pub(crate) fn acquire_with(
    py: Attached<'_>,
    blocking: bool,
    timeout: Option<Duration>,
    try_now: impl FnOnce() -> bool,
    mut wait: impl FnMut(Option<Duration>) -> bool,
) -> PyResult<bool> {
    if try_now() {
        return Ok(true);
    }
    if !blocking || timeout == Some(Duration::ZERO) {
        return Ok(false);
    }
    Ok(block_on(py, timeout, true, |w| wait(w).then_some(()))?.is_some())
}

/// The `RuntimeError`/`ValueError`/`OverflowError` `threading` raises for `e`.
pub(crate) fn sync_error(py: Attached<'_>, e: SyncError) -> PyErrSet {
    match e {
        SyncError::NotLocked | SyncError::NotOwned => err::runtime_error(py, &e.to_string()),
        SyncError::TooManyReleases => err::value_error(py, &e.to_string()),
        // SAFETY: builtin exception class.
        SyncError::Overflow => unsafe { err::raise(py, PyExc_OverflowError, &e.to_string()) },
    }
}

/// `(blocking, timeout)` of `Lock.acquire`/`RLock.acquire` (timeout -1: forever).
pub(crate) fn lock_args(py: Attached<'_>, call: &Call<'_>) -> PyResult<(bool, Option<Duration>)> {
    let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
    params::lock_timeout(py, params::truth(blocking, true)?, timeout)
}

const NO_GETSET: PyGetSetDef = PyGetSetDef {
    name: std::ptr::null(),
    get: None,
    set: None,
    doc: std::ptr::null(),
    closure: std::ptr::null_mut(),
};

// --- Lock ------------------------------------------------------------------------------

const LOCK_DOC: &std::ffi::CStr = c"Lock()
--

A lock shared by every interpreter and thread, with threading.Lock's API: acquire(),
release(), locked() and use as a context manager. Any thread of any interpreter may
release it. Waiting releases the GIL; Ctrl-C in the main thread interrupts it. Passing
the lock to another interpreter gives that interpreter the same lock.";

pub(crate) fn create_lock_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 6] = [
        kw_method!(c"acquire", c_lock_acquire, c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock; return whether it was acquired.\n\nWith blocking true, wait (with the GIL released) while another party holds it, for at\nmost timeout seconds (-1 or None: forever). With blocking false, never wait (a timeout\nthen raises ValueError)."),
        kw_method!(c"release", c_lock_release, c"release($self, /)\n--\n\nRelease the lock (from any thread or interpreter); RuntimeError if it is not locked."),
        kw_method!(c"locked", c_lock_locked, c"locked($self, /)\n--\n\nWhether the lock is held."),
        kw_method!(c"__enter__", c_lock_acquire, c"__enter__($self, /)\n--\n\nacquire()"),
        kw_method!(c"__exit__", c_lock_exit, c"__exit__($self, *exc)\n--\n\nrelease()"),
        PyMethodDef::zeroed(),
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Lock",
            doc: LOCK_DOC,
            new: c_lock_new,
            methods: (&raw mut METHODS).cast(),
            getset: None,
            extra: &[],
        },
    )
}

kw_entry!(c_lock_acquire => lock_acquire);
kw_entry!(c_lock_release => lock_release);
kw_entry!(c_lock_exit => lock_exit);
kw_entry!(c_lock_locked => lock_locked);

kw_new!(c_lock_new => lock_new);

fn lock_new(py: Attached<'_>, subtype: *mut PyTypeObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "Lock", [], 0)?;
    // SAFETY: `subtype` is our (final) Lock type.
    unsafe { new_object(py, subtype, Handle::Lock(Arc::new(Lock::new()))) }
}

handle_accessor!(lock_of, Lock, Arc<Lock>, "manygil.Lock");

fn lock_acquire(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let lock = lock_of(py, slf)?;
    let (blocking, timeout) = lock_args(py, call)?;
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || lock.acquire(false, None),
        |w| lock.acquire(true, w),
    )?;
    Ok(boolean(py, got))
}

fn lock_release(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "release", [], 0)?;
    lock_of(py, slf)?.release().map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn lock_exit(py: Attached<'_>, slf: *mut PyObject, _call: &Call<'_>) -> PyResult<Owned> {
    lock_of(py, slf)?.release().map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn lock_locked(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "locked", [], 0)?;
    Ok(boolean(py, lock_of(py, slf)?.locked()))
}

// --- RLock -----------------------------------------------------------------------------

const RLOCK_DOC: &std::ffi::CStr = c"RLock()
--

A reentrant lock shared by every interpreter and thread, with threading.RLock's API: the
thread (of the interpreter) that acquired it may acquire it again, and must release it as
many times; releasing it from another thread or interpreter raises RuntimeError. Waiting
releases the GIL; Ctrl-C in the main thread interrupts it.";

pub(crate) fn create_rlock_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 8] = [
        kw_method!(c"acquire", c_rlock_acquire, c"acquire($self, blocking=True, timeout=-1)\n--\n\nAcquire the lock, or add a level if this thread holds it; return whether it did.\n\nBlocks (GIL released) while another thread or interpreter holds it, for at most\ntimeout seconds (-1 or None: forever); never with blocking false."),
        kw_method!(c"release", c_rlock_release, c"release($self, /)\n--\n\nRelease one level; RuntimeError if the calling thread does not hold the lock."),
        kw_method!(c"locked", c_rlock_locked, c"locked($self, /)\n--\n\nWhether any thread holds the lock."),
        kw_method!(c"_is_owned", c_rlock_is_owned, c"_is_owned($self, /)\n--\n\nWhether the calling thread holds the lock."),
        kw_method!(c"_recursion_count", c_rlock_count, c"_recursion_count($self, /)\n--\n\nHow many times the calling thread holds the lock."),
        kw_method!(c"__enter__", c_rlock_acquire, c"__enter__($self, /)\n--\n\nacquire()"),
        kw_method!(c"__exit__", c_rlock_exit, c"__exit__($self, *exc)\n--\n\nrelease()"),
        PyMethodDef::zeroed(),
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.RLock",
            doc: RLOCK_DOC,
            new: c_rlock_new,
            methods: (&raw mut METHODS).cast(),
            getset: None,
            extra: &[],
        },
    )
}

kw_entry!(c_rlock_acquire => rlock_acquire);
kw_entry!(c_rlock_release => rlock_release);
kw_entry!(c_rlock_exit => rlock_exit);
kw_entry!(c_rlock_locked => rlock_locked);
kw_entry!(c_rlock_is_owned => rlock_is_owned);
kw_entry!(c_rlock_count => rlock_count);

kw_new!(c_rlock_new => rlock_new);

fn rlock_new(py: Attached<'_>, subtype: *mut PyTypeObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "RLock", [], 0)?;
    // SAFETY: `subtype` is our (final) RLock type.
    unsafe { new_object(py, subtype, Handle::RLock(Arc::new(RLock::new()))) }
}

handle_accessor!(rlock_of, RLock, Arc<RLock>, "manygil.RLock");

fn rlock_acquire(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
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

fn rlock_release(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "release", [], 0)?;
    rlock_exit(py, slf, call)
}

fn rlock_exit(py: Attached<'_>, slf: *mut PyObject, _call: &Call<'_>) -> PyResult<Owned> {
    rlock_of(py, slf)?
        .release(owner_id(py))
        .map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn rlock_locked(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "locked", [], 0)?;
    Ok(boolean(py, rlock_of(py, slf)?.locked()))
}

fn rlock_is_owned(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "_is_owned", [], 0)?;
    Ok(boolean(py, rlock_of(py, slf)?.is_owned(owner_id(py))))
}

fn rlock_count(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "_recursion_count", [], 0)?;
    new_int(py, rlock_of(py, slf)?.recursion_count(owner_id(py)) as i64)
}

// --- Semaphore / BoundedSemaphore ------------------------------------------------------

const SEMAPHORE_DOC: &std::ffi::CStr = c"Semaphore(value=1)
--

A counting semaphore shared by every interpreter and thread, with threading.Semaphore's
API: acquire() takes a unit, waiting (GIL released; Ctrl-C in the main thread interrupts)
while there is none; release(n=1) returns units. A negative value raises ValueError.";

const BOUNDED_DOC: &std::ffi::CStr = c"BoundedSemaphore(value=1)
--

A Semaphore that raises ValueError when released above its initial value, as
threading.BoundedSemaphore.";

const SEM_ACQUIRE_DOC: &std::ffi::CStr = c"acquire($self, blocking=True, timeout=None)\n--\n\nTake one unit; return whether it did.\n\nWith blocking true, wait (GIL released) while the value is 0, for at most timeout\nseconds (None: forever). With blocking false, never wait (a timeout raises ValueError).";

const SEM_RELEASE_DOC: &std::ffi::CStr =
    c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; n < 1 raises ValueError.";

pub(crate) fn create_semaphore_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 5] = [
        kw_method!(c"acquire", c_sem_acquire, SEM_ACQUIRE_DOC),
        kw_method!(c"release", c_sem_release, SEM_RELEASE_DOC),
        kw_method!(
            c"__enter__",
            c_sem_acquire,
            c"__enter__($self, /)\n--\n\nacquire()"
        ),
        kw_method!(
            c"__exit__",
            c_sem_exit,
            c"__exit__($self, *exc)\n--\n\nrelease()"
        ),
        PyMethodDef::zeroed(),
    ];
    static mut GETSET: [PyGetSetDef; 2] = [
        property!(c"_value", g_sem_value, c"The current value."),
        NO_GETSET,
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Semaphore",
            doc: SEMAPHORE_DOC,
            new: c_semaphore_new,
            methods: (&raw mut METHODS).cast(),
            getset: Some((&raw mut GETSET).cast()),
            extra: &[],
        },
    )
}

pub(crate) fn create_bounded_semaphore_type(
    py: Attached<'_>,
    module: *mut PyObject,
) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 5] = [
        kw_method!(c"acquire", c_sem_acquire, SEM_ACQUIRE_DOC),
        kw_method!(c"release", c_sem_release, c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; ValueError if the value would exceed the\ninitial value (nothing is released then), or if n < 1."),
        kw_method!(c"__enter__", c_sem_acquire, c"__enter__($self, /)\n--\n\nacquire()"),
        kw_method!(c"__exit__", c_sem_exit, c"__exit__($self, *exc)\n--\n\nrelease()"),
        PyMethodDef::zeroed(),
    ];
    static mut GETSET: [PyGetSetDef; 3] = [
        property!(c"_value", g_sem_value, c"The current value."),
        property!(
            c"_initial_value",
            g_sem_initial,
            c"The initial (and maximum) value."
        ),
        NO_GETSET,
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.BoundedSemaphore",
            doc: BOUNDED_DOC,
            new: c_bounded_semaphore_new,
            methods: (&raw mut METHODS).cast(),
            getset: Some((&raw mut GETSET).cast()),
            extra: &[],
        },
    )
}

kw_entry!(c_sem_acquire => sem_acquire);
kw_entry!(c_sem_release => sem_release);
kw_entry!(c_sem_exit => sem_exit);
getter!(g_sem_value => sem_value);
getter!(g_sem_initial => sem_initial);

fn initial_value(py: Attached<'_>, func: &str, call: &Call<'_>) -> PyResult<usize> {
    let [value] = call.bind(py, func, [c"value"], 0)?;
    let Some(value) = value else { return Ok(1) };
    let v = params::int(py, "value", value)?;
    usize::try_from(v).map_err(|_| err::value_error(py, "semaphore initial value must be >= 0"))
}

kw_new!(c_semaphore_new => semaphore_new);

fn semaphore_new(py: Attached<'_>, subtype: *mut PyTypeObject, call: &Call<'_>) -> PyResult<Owned> {
    let v = initial_value(py, "Semaphore", call)?;
    // SAFETY: `subtype` is our (final) Semaphore type.
    unsafe { new_object(py, subtype, Handle::Semaphore(Arc::new(Semaphore::new(v)))) }
}

kw_new!(c_bounded_semaphore_new => bounded_semaphore_new);

fn bounded_semaphore_new(
    py: Attached<'_>,
    subtype: *mut PyTypeObject,
    call: &Call<'_>,
) -> PyResult<Owned> {
    let v = initial_value(py, "BoundedSemaphore", call)?;
    let sem = Arc::new(BoundedSemaphore::new(v));
    // SAFETY: `subtype` is our (final) BoundedSemaphore type.
    unsafe { new_object(py, subtype, Handle::BoundedSemaphore(sem)) }
}

/// Either kind of semaphore.
enum Sem<'a> {
    Plain(&'a Semaphore),
    Bounded(&'a BoundedSemaphore),
}

impl Sem<'_> {
    fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        match self {
            Sem::Plain(s) => s.acquire(blocking, timeout),
            Sem::Bounded(s) => s.acquire(blocking, timeout),
        }
    }
    fn release(&self, n: usize) -> Result<(), SyncError> {
        match self {
            Sem::Plain(s) => s.release(n),
            Sem::Bounded(s) => s.release(n),
        }
    }
    fn value(&self) -> usize {
        match self {
            Sem::Plain(s) => s.value(),
            Sem::Bounded(s) => s.value(),
        }
    }
}

fn sem_of<'a>(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Sem<'a>> {
    match this(py, slf)? {
        Handle::Semaphore(s) => Ok(Sem::Plain(s)),
        Handle::BoundedSemaphore(s) => Ok(Sem::Bounded(s)),
        _ => Err(err::type_error(py, "expected a manygil.Semaphore")),
    }
}

fn sem_acquire(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let sem = sem_of(py, slf)?;
    let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
    let blocking = params::truth(blocking, true)?;
    if !blocking && !params::is_none(timeout) {
        return Err(err::value_error(
            py,
            "can't specify timeout for non-blocking acquire",
        ));
    }
    let timeout = params::sync_timeout(py, timeout)?;
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || sem.acquire(false, None),
        |w| sem.acquire(true, w),
    )?;
    Ok(boolean(py, got))
}

fn sem_release(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let sem = sem_of(py, slf)?;
    let [n] = call.bind(py, "release", [c"n"], 0)?;
    let n = match n {
        Some(n) => params::int(py, "n", n)?,
        None => 1,
    };
    if n < 1 {
        return Err(err::value_error(py, "n must be one or more"));
    }
    let n = usize::try_from(n).map_err(|_| err::value_error(py, "n is too large"))?;
    sem.release(n).map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn sem_exit(py: Attached<'_>, slf: *mut PyObject, _call: &Call<'_>) -> PyResult<Owned> {
    sem_of(py, slf)?.release(1).map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn sem_value(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Owned> {
    new_int(py, sem_of(py, slf)?.value() as i64)
}

fn sem_initial(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Owned> {
    match this(py, slf)? {
        Handle::BoundedSemaphore(s) => new_int(py, s.initial_value() as i64),
        _ => Err(err::type_error(py, "expected a manygil.BoundedSemaphore")),
    }
}
