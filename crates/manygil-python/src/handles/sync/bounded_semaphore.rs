//! `manygil.BoundedSemaphore`: a `manygil.Semaphore` that refuses releases past its
//! initial value, as `threading.BoundedSemaphore` (its bodies are the semaphore's).

use std::sync::Arc;

use manygil_core::sync::BoundedSemaphore;

use crate::ffi::err::PyResult;
use crate::ffi::{new_int, Attached, Owned};

use super::semaphore::semaphore_type;

semaphore_type! {
    BoundedSemaphore,
    name: c"manygil.BoundedSemaphore",
    doc: c"BoundedSemaphore(value=1)
--

A Semaphore that raises ValueError when released above its initial value, as
threading.BoundedSemaphore.",
    release: c"release($self, n=1)\n--\n\nReturn n units, waking up to n waiters; ValueError if the value would exceed the\ninitial value (nothing is released then), or if n < 1.",
    getters: [
        get c"_initial_value" => g_initial(initial), c"The initial (and maximum) value.";
    ],
}

fn initial<'py>(py: Attached<'py>, sem: &BoundedSemaphore) -> PyResult<Owned<'py>> {
    new_int(py, sem.initial_value() as i64)
}
