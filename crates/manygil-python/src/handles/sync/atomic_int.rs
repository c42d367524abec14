//! `manygil.AtomicInt`: an integer shared between interpreters, updated atomically.

use std::sync::Arc;

use manygil_core::sync::AtomicInt;

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{kw_new, methods};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

use crate::handles::{make_type, new_object, this, Handle, TypeDef};

// --- AtomicInt -------------------------------------------------------------------------

const ATOMIC_DOC: &std::ffi::CStr = c"AtomicInt(value=0)
--

A signed 64-bit integer shared by every interpreter and thread, changed atomically (no
lock, never blocks). Values outside the 64-bit range raise OverflowError, as does an
add() whose result would not fit (the value is then unchanged).";

methods! {
    /// The methods of `manygil.AtomicInt` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"get" => c_atomic_get(atomic_get), c"get($self, /)\n--\n\nThe current value.";
        call c"set" => c_atomic_set(atomic_set), c"set($self, value, /)\n--\n\nStore value.";
        call c"add" => c_atomic_add(atomic_add), c"add($self, delta=1, /)\n--\n\nAdd delta (may be negative) and return the new value.";
        call c"swap" => c_atomic_swap(atomic_swap), c"swap($self, value, /)\n--\n\nStore value and return the previous one.";
        call c"compare_exchange" => c_atomic_cas(atomic_cas), c"compare_exchange($self, expected, new, /)\n--\n\nStore new if the value is expected. Return (True, expected) if it was stored, else\n(False, actual value).";
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
            name: c"manygil.AtomicInt",
            doc: ATOMIC_DOC,
            new: c_atomic_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: None,
            extra: &[],
        },
    )
}

kw_new!(c_atomic_new => atomic_new);

fn atomic_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [value] = call.bind(py, "AtomicInt", [c"value"], 0)?;
    let value = match value {
        Some(v) => args::int(py, "value", v)?,
        None => 0,
    };
    // SAFETY: `subtype` is our (final) AtomicInt type.
    unsafe {
        new_object(
            py,
            subtype,
            Handle::AtomicInt(Arc::new(AtomicInt::new(value))),
        )
    }
}

/// The state of `slf`, a `manygil.AtomicInt` (`TypeError` for any other object).
fn atomic_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<AtomicInt>> {
    match this(py, slf)? {
        Handle::AtomicInt(state) => Ok(state),
        _ => Err(err::type_error(py, "expected a manygil.AtomicInt")),
    }
}

fn atomic_get<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "get", [], 0)?;
    new_int(py, atomic_of(py, slf)?.get())
}

fn atomic_set<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let a = atomic_of(py, slf)?;
    let [value] = call.bind(py, "set", [c"value"], 1)?;
    a.set(args::int(py, "value", value.ok_or(PyErrSet)?)?);
    Ok(none(py))
}

fn atomic_add<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let a = atomic_of(py, slf)?;
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

fn atomic_swap<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let a = atomic_of(py, slf)?;
    let [value] = call.bind(py, "swap", [c"value"], 1)?;
    let value = args::int(py, "value", value.ok_or(PyErrSet)?)?;
    new_int(py, a.swap(value))
}

fn atomic_cas<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let a = atomic_of(py, slf)?;
    let [expected, new] = call.bind(py, "compare_exchange", [c"expected", c"new"], 2)?;
    let expected = args::int(py, "expected", expected.ok_or(PyErrSet)?)?;
    let new = args::int(py, "new", new.ok_or(PyErrSet)?)?;
    let (ok, v) = match a.compare_exchange(expected, new) {
        Ok(v) => (true, v),
        Err(v) => (false, v),
    };
    new_tuple(py, vec![boolean(py, ok), new_int(py, v)?])
}
