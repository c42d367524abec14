//! `manygil.AtomicInt`: an integer shared between interpreters, updated atomically.

use std::sync::Arc;

use manygil_core::sync::AtomicInt;

use crate::ffi::args::{self, Call};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::raw::PyExc_OverflowError;
use crate::ffi::{boolean, new_int, new_tuple, none, Attached, Owned};
use crate::handles::handle_type;

handle_type! {
    name: c"manygil.AtomicInt",
    state: Handle::AtomicInt(Arc<AtomicInt>),
    new: atomic_new,
    doc: c"AtomicInt(value=0)
--

A signed 64-bit integer shared by every interpreter and thread, changed atomically (no
lock, never blocks). Values outside the 64-bit range raise OverflowError, as does an
add() whose result would not fit (the value is then unchanged).",
    methods: [
        noargs c"get" => c_get(get), c"get($self, /)\n--\n\nThe current value.";
        call c"set" => c_set(set), c"set($self, value, /)\n--\n\nStore value.";
        call c"add" => c_add(add), c"add($self, delta=1, /)\n--\n\nAdd delta (may be negative) and return the new value.";
        call c"swap" => c_swap(swap), c"swap($self, value, /)\n--\n\nStore value and return the previous one.";
        call c"compare_exchange" => c_cas(cas), c"compare_exchange($self, expected, new, /)\n--\n\nStore new if the value is expected. Return (True, expected) if it was stored, else\n(False, actual value).";
    ],
}

fn atomic_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<AtomicInt>> {
    let [value] = call.bind(py, "AtomicInt", [c"value"], 0)?;
    let value = match value {
        Some(v) => args::int(py, "value", v)?,
        None => 0,
    };
    Ok(Arc::new(AtomicInt::new(value)))
}

fn get<'py>(py: Attached<'py>, a: &AtomicInt) -> PyResult<Owned<'py>> {
    new_int(py, a.get())
}

fn set<'py>(py: Attached<'py>, a: &AtomicInt, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [value] = call.bind(py, "set", [c"value"], 1)?;
    a.set(args::int(py, "value", value.ok_or(PyErrSet)?)?);
    Ok(none(py))
}

fn add<'py>(py: Attached<'py>, a: &AtomicInt, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [delta] = call.bind(py, "add", [c"delta"], 0)?;
    let delta = match delta {
        Some(d) => args::int(py, "delta", d)?,
        None => 1,
    };
    let mut current = a.get();
    loop {
        let Some(new) = current.checked_add(delta) else {
            // SAFETY: builtin exception class.
            return Err(unsafe {
                err::raise(
                    py,
                    PyExc_OverflowError,
                    &format!("AtomicInt.add: {current} + {delta} does not fit in 64 bits"),
                )
            });
        };
        match a.compare_exchange(current, new) {
            Ok(_) => return new_int(py, new),
            Err(actual) => current = actual,
        }
    }
}

fn swap<'py>(py: Attached<'py>, a: &AtomicInt, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [value] = call.bind(py, "swap", [c"value"], 1)?;
    let value = args::int(py, "value", value.ok_or(PyErrSet)?)?;
    new_int(py, a.swap(value))
}

fn cas<'py>(py: Attached<'py>, a: &AtomicInt, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [expected, new] = call.bind(py, "compare_exchange", [c"expected", c"new"], 2)?;
    let expected = args::int(py, "expected", expected.ok_or(PyErrSet)?)?;
    let new = args::int(py, "new", new.ok_or(PyErrSet)?)?;
    let (ok, v) = match a.compare_exchange(expected, new) {
        Ok(v) => (true, v),
        Err(v) => (false, v),
    };
    new_tuple(py, vec![boolean(py, ok), new_int(py, v)?])
}
