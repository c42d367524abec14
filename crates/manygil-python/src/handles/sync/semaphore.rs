//! `manygil.Semaphore`, and what it shares with `manygil.BoundedSemaphore`: handles on the
//! core's semaphores, with `threading`'s names, arguments, return values and errors.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::{BoundedSemaphore, Semaphore, SyncError};

use crate::ffi::args::{self, Call};
use crate::ffi::err::{self, PyResult};
use crate::ffi::{new_uint, none, Attached, Owned};

use super::lock_like::{sync_error, LockLike};

/// Define a semaphore handle type: a lock-like type with the `release(n)` and `_value`
/// both semaphores have (over the generic bodies of this file), plus the given properties.
macro_rules! semaphore_type {
    (
        $t:ident,
        name: $name:literal,
        doc: $doc:expr,
        release: $release_doc:expr,
        getters: [ $($getters:tt)* ],
    ) => {
        $crate::handles::sync::lock_like::lock_like_type! {
            $t,
            name: $name,
            new: semaphore_new,
            doc: $doc,
            acquire: c"acquire($self, blocking=True, timeout=None)\n--\n\nTake one unit; return whether it did.\n\nWith blocking true, wait (GIL released) while the value is 0, for at most timeout\nseconds (None: forever). With blocking false, never wait (a timeout raises ValueError).",
            n_waiting: $crate::handles::sync::lock_like::N_WAITING_ACQUIRE_DOC,
            methods: [
                call c"release" => c_release($crate::handles::sync::semaphore::release::<$t>), $release_doc;
            ],
            getters: [
                get c"_value" => g_value($crate::handles::sync::semaphore::value::<$t>), c"The current value.";
                $($getters)*
            ],
        }

        fn semaphore_new(
            py: $crate::ffi::Attached<'_>,
            call: &$crate::ffi::args::Call<'_, '_>,
        ) -> $crate::ffi::err::PyResult<Arc<$t>> {
            let value = $crate::handles::sync::semaphore::initial_value(py, stringify!($t), call)?;
            Ok(Arc::new($t::new(value)))
        }
    };
}
pub(crate) use semaphore_type;

semaphore_type! {
    Semaphore,
    name: c"manygil.Semaphore",
    doc: c"Semaphore(value=1)
--

A counting semaphore shared by every interpreter and thread, with threading.Semaphore's
API: acquire() takes a unit, waiting (GIL released; Ctrl-C in the main thread interrupts)
while there is none; release(n=1) returns units. A negative value raises ValueError.",
    release: c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; n < 1 raises ValueError.",
    getters: [],
}

/// The `value` argument of either constructor (default 1; negative: `ValueError`).
pub(crate) fn initial_value(py: Attached<'_>, func: &str, call: &Call<'_, '_>) -> PyResult<usize> {
    let [value] = call.bind(py, func, [c"value"], 0)?;
    let Some(value) = value else { return Ok(1) };
    let v = args::int(py, "value", value)?;
    usize::try_from(v).map_err(|_| err::value_error(py, "semaphore initial value must be >= 0"))
}

/// Either semaphore.
pub(crate) trait Counting: LockLike {
    /// Return `n` units.
    fn release_n(&self, n: usize) -> Result<(), SyncError>;
    /// The current value.
    fn current(&self) -> usize;
}

/// Both semaphores: one unit per acquire and `__exit__`, `threading.Semaphore`'s
/// `acquire(blocking=True, timeout=None)`, and [`Counting`].
macro_rules! semaphore_like {
    ($($t:ty),*) => {$(
        impl LockLike for $t {
            const OWNED: bool = false;
            fn acquire_args(
                py: Attached<'_>,
                call: &Call<'_, '_>,
            ) -> PyResult<(bool, Option<Duration>)> {
                let [blocking, timeout] = call.bind(py, "acquire", [c"blocking", c"timeout"], 0)?;
                let blocking = args::truth(blocking, true)?;
                if !blocking && !args::is_none(timeout) {
                    let msg = "can't specify timeout for non-blocking acquire";
                    return Err(err::value_error(py, msg));
                }
                Ok((blocking, args::sync_timeout(py, timeout)?))
            }
            fn acquire_as(&self, _: u64, blocking: bool, timeout: Option<Duration>) -> bool {
                self.acquire(blocking, timeout)
            }
            fn release_as(&self, _: u64) -> Result<(), SyncError> {
                self.release(1)
            }
            fn waiters(&self) -> usize {
                self.n_waiting()
            }
        }

        impl Counting for $t {
            fn release_n(&self, n: usize) -> Result<(), SyncError> {
                self.release(n)
            }
            fn current(&self) -> usize {
                self.value()
            }
        }
    )*};
}
semaphore_like!(Semaphore, BoundedSemaphore);

/// `release(n=1)`: `ValueError` if `n < 1` (or, bounded, past the initial value).
pub(crate) fn release<'py, S: Counting>(
    py: Attached<'py>,
    sem: &S,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [n] = call.bind(py, "release", [c"n"], 0)?;
    let n = match n {
        Some(n) => args::int(py, "n", n)?,
        None => 1,
    };
    if n < 1 {
        return Err(err::value_error(py, "n must be one or more"));
    }
    let n = usize::try_from(n).map_err(|_| err::value_error(py, "n is too large"))?;
    sem.release_n(n).map_err(|e| sync_error(py, e))?;
    Ok(none(py))
}

/// The `_value` property.
pub(crate) fn value<'py, S: Counting>(py: Attached<'py>, sem: &S) -> PyResult<Owned<'py>> {
    // The value is unsigned and may exceed i64 (released past 2**63 - 1).
    new_uint(py, sem.current() as u64)
}
