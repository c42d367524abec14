//! Checking the arguments of the module's functions, with errors that name the argument.

use std::time::Duration;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

/// Check the number of positional arguments.
pub(crate) fn count(
    py: Attached<'_>,
    func: &str,
    args: &[*mut PyObject],
    min: usize,
    max: usize,
) -> PyResult<()> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(err::type_error(
            py,
            &format!(
                "{func}() takes {want} positional arguments ({} given)",
                args.len()
            ),
        ));
    }
    Ok(())
}

/// An interpreter id argument.
pub(crate) fn interp_id(py: Attached<'_>, obj: *mut PyObject) -> PyResult<i64> {
    // SAFETY: attached; `obj` is a borrowed argument.
    if unsafe { PyLong_Check(obj) } == 0 {
        return Err(err::type_error(
            py,
            &format!(
                "interpreter id must be an int, not {}",
                err::type_name(py, obj)
            ),
        ));
    }
    // SAFETY: an int.
    let v = unsafe { PyLong_AsLongLong(obj) };
    // SAFETY: attached.
    if v == -1 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    if v < 0 {
        return Err(err::value_error(
            py,
            &format!("interpreter id must be >= 0, got {v}"),
        ));
    }
    Ok(v)
}

/// A `str` argument.
pub(crate) fn string(py: Attached<'_>, what: &str, obj: *mut PyObject) -> PyResult<String> {
    // SAFETY: attached; borrowed argument.
    if unsafe { PyUnicode_Check(obj) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{what} must be a str, not {}", err::type_name(py, obj)),
        ));
    }
    // SAFETY: a str.
    unsafe { str_to_string(py, obj) }
}

/// An optional `str` argument (`None` allowed).
pub(crate) fn opt_string(
    py: Attached<'_>,
    what: &str,
    obj: *mut PyObject,
) -> PyResult<Option<String>> {
    // SAFETY: comparing with the None singleton.
    if obj == unsafe { Py_None() } {
        return Ok(None);
    }
    string(py, what, obj).map(Some)
}

/// A timeout in seconds: `None` means forever; negative or NaN is a `ValueError`.
pub(crate) fn timeout(py: Attached<'_>, obj: Option<*mut PyObject>) -> PyResult<Option<Duration>> {
    let Some(obj) = obj else { return Ok(None) };
    // SAFETY: comparing with the None singleton.
    if obj == unsafe { Py_None() } {
        return Ok(None);
    }
    // SAFETY: attached; converts int/float (raises TypeError otherwise).
    let secs = unsafe { PyFloat_AsDouble(obj) };
    // SAFETY: attached.
    if secs == -1.0 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    if secs.is_nan() || secs < 0.0 {
        return Err(err::value_error(
            py,
            &format!("timeout must be a non-negative number or None, got {secs}"),
        ));
    }
    Ok(Some(
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
    ))
}

/// Whether `obj` is exactly of a builtin type (checked with `PyObject_TypeCheck`).
pub(crate) fn is_instance(obj: *mut PyObject, tp: *mut PyTypeObject) -> bool {
    // SAFETY: both valid; type checks only read the type chain.
    unsafe { PyObject_TypeCheck(obj, tp) != 0 }
}
