//! `manygil.BoundedSemaphore`: a `manygil.Semaphore` that refuses releases past its
//! initial value, as `threading.BoundedSemaphore` (its bodies are the semaphore's).

use std::sync::Arc;

use manygil_core::sync::BoundedSemaphore;

use crate::ffi::args::Call;
use crate::ffi::err::PyResult;
use crate::ffi::*;
use crate::handles::handle_type;

use super::lock_like::{acquire, exit, n_waiting};
use super::lock_like::{ENTER_DOC, EXIT_DOC, N_WAITING_ACQUIRE_DOC};
use super::semaphore::{initial_value, release, value, SEM_ACQUIRE_DOC, SEM_VALUE_DOC};

const BOUNDED_DOC: &std::ffi::CStr = c"BoundedSemaphore(value=1)
--

A Semaphore that raises ValueError when released above its initial value, as
threading.BoundedSemaphore.";

handle_type! {
    name: c"manygil.BoundedSemaphore",
    doc: BOUNDED_DOC,
    state: Handle::BoundedSemaphore(Arc<BoundedSemaphore>),
    new: bounded_semaphore_new,
    methods: [
        call c"acquire" => c_acquire(acquire::<BoundedSemaphore>), SEM_ACQUIRE_DOC;
        call c"release" => c_release(release::<BoundedSemaphore>), c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; ValueError if the value would exceed the\ninitial value (nothing is released then), or if n < 1.";
        call c"__enter__" => c_acquire, ENTER_DOC;
        call c"__exit__" => c_exit(exit::<BoundedSemaphore>), EXIT_DOC;
    ],
    getters: [
        get c"_value" => g_value(value::<BoundedSemaphore>), SEM_VALUE_DOC;
        get c"_n_waiting" => g_n_waiting(n_waiting::<BoundedSemaphore>), N_WAITING_ACQUIRE_DOC;
        get c"_initial_value" => g_initial(initial), c"The initial (and maximum) value.";
    ],
}

fn bounded_semaphore_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<BoundedSemaphore>> {
    let v = initial_value(py, "BoundedSemaphore", call)?;
    Ok(Arc::new(BoundedSemaphore::new(v)))
}

fn initial<'py>(py: Attached<'py>, sem: &BoundedSemaphore) -> PyResult<Owned<'py>> {
    new_int(py, sem.initial_value() as i64)
}
