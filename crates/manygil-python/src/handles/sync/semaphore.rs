//! `manygil.Semaphore` and `manygil.BoundedSemaphore`: handles on the core's semaphores,
//! with `threading`'s names, arguments, return values and errors.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::{BoundedSemaphore, Semaphore, SyncError};

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{getters, kw_new, methods};
use crate::ffi::err::{self, PyResult};
use crate::ffi::*;

use super::lock::{acquire_with, sync_error, ENTER_DOC, EXIT_DOC, N_WAITING_ACQUIRE_DOC};
use crate::handles::{make_type, new_object, this, Handle, TypeDef};

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

methods! {
    /// The methods of `manygil.Semaphore` (static C data; CPython only reads it).
    static SEMAPHORE_METHODS = [
        call c"acquire" => c_sem_acquire(sem_acquire), SEM_ACQUIRE_DOC;
        call c"release" => c_sem_release(sem_release), SEM_RELEASE_DOC;
        call c"__enter__" => c_sem_acquire, ENTER_DOC;
        call c"__exit__" => c_sem_exit(sem_exit), EXIT_DOC;
    ];
}

getters! {
    /// The properties of `manygil.Semaphore` (static C data; CPython only reads it).
    static SEMAPHORE_GETSET = [
        get c"_value" => g_sem_value(sem_value), c"The current value.";
        get c"_n_waiting" => g_sem_n_waiting(sem_n_waiting), N_WAITING_ACQUIRE_DOC;
    ];
}

pub(crate) fn create_semaphore_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Semaphore",
            doc: SEMAPHORE_DOC,
            new: c_semaphore_new,
            methods: (&raw mut SEMAPHORE_METHODS).cast(),
            getset: Some((&raw mut SEMAPHORE_GETSET).cast()),
            extra: &[],
        },
    )
}

methods! {
    /// The methods of `manygil.BoundedSemaphore` (static C data; CPython only reads it).
    static BOUNDED_SEMAPHORE_METHODS = [
        call c"acquire" => c_sem_acquire, SEM_ACQUIRE_DOC;
        call c"release" => c_sem_release, c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; ValueError if the value would exceed the\ninitial value (nothing is released then), or if n < 1.";
        call c"__enter__" => c_sem_acquire, ENTER_DOC;
        call c"__exit__" => c_sem_exit, EXIT_DOC;
    ];
}

getters! {
    /// The properties of `manygil.BoundedSemaphore` (static C data; CPython only reads it).
    static BOUNDED_SEMAPHORE_GETSET = [
        get c"_value" => g_sem_value, c"The current value.";
        get c"_n_waiting" => g_sem_n_waiting, N_WAITING_ACQUIRE_DOC;
        get c"_initial_value" => g_sem_initial(sem_initial), c"The initial (and maximum) value.";
    ];
}

pub(crate) fn create_bounded_semaphore_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.BoundedSemaphore",
            doc: BOUNDED_DOC,
            new: c_bounded_semaphore_new,
            methods: (&raw mut BOUNDED_SEMAPHORE_METHODS).cast(),
            getset: Some((&raw mut BOUNDED_SEMAPHORE_GETSET).cast()),
            extra: &[],
        },
    )
}

fn initial_value(py: Attached<'_>, func: &str, call: &Call<'_, '_>) -> PyResult<usize> {
    let [value] = call.bind(py, func, [c"value"], 0)?;
    let Some(value) = value else { return Ok(1) };
    let v = args::int(py, "value", value)?;
    usize::try_from(v).map_err(|_| err::value_error(py, "semaphore initial value must be >= 0"))
}

kw_new!(c_semaphore_new => semaphore_new);

fn semaphore_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let v = initial_value(py, "Semaphore", call)?;
    // SAFETY: `subtype` is our (final) Semaphore type.
    unsafe { new_object(py, subtype, Handle::Semaphore(Arc::new(Semaphore::new(v)))) }
}

kw_new!(c_bounded_semaphore_new => bounded_semaphore_new);

fn bounded_semaphore_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
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

fn sem_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<Sem<'a>> {
    match this(py, slf)? {
        Handle::Semaphore(s) => Ok(Sem::Plain(s)),
        Handle::BoundedSemaphore(s) => Ok(Sem::Bounded(s)),
        _ => Err(err::type_error(py, "expected a manygil.Semaphore")),
    }
}

fn sem_acquire<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let sem = sem_of(py, slf)?;
    let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
    let blocking = args::truth(blocking, true)?;
    if !blocking && !args::is_none(timeout) {
        return Err(err::value_error(
            py,
            "can't specify timeout for non-blocking acquire",
        ));
    }
    let timeout = args::sync_timeout(py, timeout)?;
    let got = acquire_with(
        py,
        blocking,
        timeout,
        || sem.acquire(false, None),
        |w| sem.acquire(true, w),
    )?;
    Ok(boolean(py, got))
}

fn sem_release<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let sem = sem_of(py, slf)?;
    let [n] = call.bind(py, "release", [c"n"], 0)?;
    let n = match n {
        Some(n) => args::int(py, "n", n)?,
        None => 1,
    };
    if n < 1 {
        return Err(err::value_error(py, "n must be one or more"));
    }
    let n = usize::try_from(n).map_err(|_| err::value_error(py, "n is too large"))?;
    sem.release(n).map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn sem_exit<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    _call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    sem_of(py, slf)?.release(1).map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

fn sem_value<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    let v = sem_of(py, slf)?.value();
    // The value is unsigned and may exceed i64 (released past 2**63 - 1).
    new_uint(py, v as u64)
}

fn sem_n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    let n = match sem_of(py, slf)? {
        Sem::Plain(s) => s.n_waiting(),
        Sem::Bounded(s) => s.n_waiting(),
    };
    new_int(py, n as i64)
}

fn sem_initial<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    match this(py, slf)? {
        Handle::BoundedSemaphore(s) => new_int(py, s.initial_value() as i64),
        _ => Err(err::type_error(py, "expected a manygil.BoundedSemaphore")),
    }
}
