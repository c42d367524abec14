//! Module-level objects by (module, qualname).
//!
//! Only objects of importable modules other than `__main__` travel by reference: each
//! interpreter has its own `__main__`, so a `__main__` name could find a different object
//! (or none) on the other side; such objects travel by value (see `manygil._pickle`).

use std::ffi::CString;

use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::{import_module, new_str, Attached, Borrowed, Owned};

/// `getattr(obj, name)` as a Rust string; `None` when missing (any error is cleared) or
/// not a `str`.
fn string_attr(obj: Borrowed<'_, '_>, name: &std::ffi::CStr) -> PyResult<Option<String>> {
    let py = obj.py();
    let Ok(v) = obj.get_attr(name) else {
        err::clear(py);
        return Ok(None);
    };
    let v = v.borrow();
    if !v.is_str() {
        return Ok(None);
    }
    v.str_utf8().map(|s| Some(s.to_owned()))
}

/// `obj.__module__` as a Rust string; `None` when missing or not a `str`.
pub(crate) fn module_of(obj: Borrowed<'_, '_>) -> PyResult<Option<String>> {
    string_attr(obj, c"__module__")
}

/// A [`Value::Ref`] to `obj` if it can be found again by module and qualname (the check
/// pickle does), else `None` with no exception set.
pub(crate) fn reference_to(obj: Borrowed<'_, '_>) -> PyResult<Option<Value>> {
    let py = obj.py();
    let (Some(module), Some(qualname)) = (
        string_attr(obj, c"__module__")?,
        string_attr(obj, c"__qualname__")?,
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
        Ok(found) if found.borrow().is(obj) => Ok(Some(Value::Ref {
            module: module.into(),
            qualname: qualname.into(),
        })),
        Ok(_) => Ok(None),
        Err(PyErrSet) => {
            err::clear(py);
            Ok(None)
        }
    }
}

/// Find `module.qualname` in this interpreter.
fn lookup_here<'py>(py: Attached<'py>, module: &str, qualname: &str) -> PyResult<Owned<'py>> {
    walk(py, &import(py, module)?, qualname)
}

/// Resolve a [`Value::Ref`] in the attached interpreter (decoding side).
pub(crate) fn resolve<'py>(
    py: Attached<'py>,
    module: &str,
    qualname: &str,
) -> PyResult<Owned<'py>> {
    walk(py, &import(py, module)?, qualname)
}

fn import<'py>(py: Attached<'py>, module: &str) -> PyResult<Owned<'py>> {
    let name = CString::new(module).map_err(|_| err::value_error(py, "NUL in module name"))?;
    import_module(py, &name)
}

fn walk<'py>(py: Attached<'py>, start: &Owned<'py>, qualname: &str) -> PyResult<Owned<'py>> {
    let mut cur = start.clone();
    for part in qualname.split('.') {
        let name = new_str(py, part)?;
        cur = cur.borrow().get_attr_obj(name.borrow())?;
    }
    Ok(cur)
}
