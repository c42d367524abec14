//! Module-level objects by (module, qualname).
//!
//! Only objects of importable modules other than `__main__` travel by reference: each
//! interpreter has its own `__main__`, so a `__main__` name could find a different object
//! (or none) on the other side; such objects travel by value (see `manygil._pickle`).

use std::ffi::CString;

use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

/// `getattr(obj, name)` as a Rust string; `None` when missing or not a `str`.
fn string_attr(
    py: Attached<'_>,
    obj: *mut PyObject,
    name: &std::ffi::CStr,
) -> PyResult<Option<String>> {
    // SAFETY: attached; `obj` valid (callers hold it); name NUL-terminated.
    let v = unsafe { PyObject_GetAttrString(obj, name.as_ptr()) };
    if v.is_null() {
        // SAFETY: attached.
        unsafe { PyErr_Clear() };
        return Ok(None);
    }
    // SAFETY: non-NULL new reference.
    let v = unsafe { Owned::from_new(py, v)? };
    // SAFETY: valid object.
    if unsafe { PyUnicode_Check(v.as_ptr()) } == 0 {
        return Ok(None);
    }
    // SAFETY: a str object.
    unsafe { str_to_string(py, v.as_ptr()) }.map(Some)
}

/// `obj.__module__` as a Rust string; `None` when missing or not a `str`.
pub(crate) fn module_of(py: Attached<'_>, obj: *mut PyObject) -> PyResult<Option<String>> {
    string_attr(py, obj, c"__module__")
}

/// A [`Value::Ref`] to `obj` if it can be found again by module and qualname (the check
/// pickle does), else `None` with no exception set.
pub(crate) fn reference_to(py: Attached<'_>, obj: *mut PyObject) -> PyResult<Option<Value>> {
    let (Some(module), Some(qualname)) = (
        string_attr(py, obj, c"__module__")?,
        string_attr(py, obj, c"__qualname__")?,
    ) else {
        return Ok(None);
    };
    if qualname.contains('<') {
        return Ok(None); // <locals>, <lambda>: not reachable by name
    }
    if module == "__main__" || module == "__mp_main__" {
        return Ok(None); // this interpreter's own main module: sent by value
    }
    match lookup_here(py, &module, &qualname) {
        Ok(found) if found.as_ptr() == obj => Ok(Some(Value::Ref {
            module: module.into(),
            qualname: qualname.into(),
        })),
        Ok(_) => Ok(None),
        Err(PyErrSet) => {
            // SAFETY: attached.
            unsafe { PyErr_Clear() };
            Ok(None)
        }
    }
}

/// Find `module.qualname` in this interpreter.
fn lookup_here(py: Attached<'_>, module: &str, qualname: &str) -> PyResult<Owned> {
    walk(py, &import(py, module)?, qualname)
}

/// Resolve a [`Value::Ref`] in the attached interpreter (decoding side).
pub(crate) fn resolve(py: Attached<'_>, module: &str, qualname: &str) -> PyResult<Owned> {
    walk(py, &import(py, module)?, qualname)
}

fn import(py: Attached<'_>, module: &str) -> PyResult<Owned> {
    let name = CString::new(module).map_err(|_| err::value_error(py, "NUL in module name"))?;
    // SAFETY: attached; NUL-terminated name.
    unsafe { Owned::from_new(py, PyImport_ImportModule(name.as_ptr())) }
}

fn walk(py: Attached<'_>, start: &Owned, qualname: &str) -> PyResult<Owned> {
    let mut cur = start.clone();
    for part in qualname.split('.') {
        let name = new_str(py, part)?;
        // SAFETY: attached; both objects valid.
        cur = unsafe { Owned::from_new(py, PyObject_GetAttr(cur.as_ptr(), name.as_ptr()))? };
    }
    Ok(cur)
}
