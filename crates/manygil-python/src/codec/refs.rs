//! Module-level objects by (module, qualname).
//!
//! `__main__` in a [`Value::Ref`] always means the user's main script. In the main
//! interpreter that is `sys.modules["__main__"]`; in other interpreters it is first their
//! own `__main__` (filled by `exec`/`prepare_main`), then the main script loaded once under
//! the name `__mp_main__` (as multiprocessing's spawn does, so `if __name__ == "__main__":`
//! blocks do not run again). Objects whose `__module__` is `__mp_main__` are sent back as
//! `__main__`.

use std::ffi::CString;

use manygil_core::Value;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;

/// `__mp_main__` → `__main__`; other names unchanged.
pub(crate) fn canonical_module(name: &str) -> &str {
    if name == "__mp_main__" {
        "__main__"
    } else {
        name
    }
}

/// `obj.__qualname__` (or its `repr` if it has none), for messages.
pub(crate) fn qualname_of(py: Attached<'_>, obj: *mut PyObject) -> String {
    match string_attr(py, obj, c"__qualname__") {
        Ok(Some(q)) => q,
        _ => err::describe(py, obj),
    }
}

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
    let module = canonical_module(&module).to_owned();
    if module == "__main__" && !crate::runtime::main_script::known() {
        return Ok(None); // interactive session / -c: other interpreters cannot load it
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

/// Find `module.qualname` in this interpreter as the *encoder* sees it: `__main__` is the
/// interpreter's own main module, or `__mp_main__` when that is where the object lives.
fn lookup_here(py: Attached<'_>, module: &str, qualname: &str) -> PyResult<Owned> {
    if module == "__main__" {
        let real = walk(py, &import(py, "__main__")?, qualname);
        if real.is_ok() {
            return real;
        }
        // SAFETY: attached.
        unsafe { PyErr_Clear() };
        if let Some(mp) = imported(py, "__mp_main__")? {
            return walk(py, &mp, qualname);
        }
        return real_err(py, module, qualname);
    }
    walk(py, &import(py, module)?, qualname)
}

fn real_err(py: Attached<'_>, module: &str, qualname: &str) -> PyResult<Owned> {
    // SAFETY: builtin exception class.
    Err(unsafe {
        err::raise(
            py,
            PyExc_AttributeError,
            &format!("module {module:?} has no attribute {qualname:?}"),
        )
    })
}

/// Resolve a [`Value::Ref`] in the attached interpreter (decoding side).
pub(crate) fn resolve(py: Attached<'_>, module: &str, qualname: &str) -> PyResult<Owned> {
    if module == "__main__" {
        if let Ok(found) = walk(py, &import(py, "__main__")?, qualname) {
            return Ok(found);
        }
        // SAFETY: attached.
        unsafe { PyErr_Clear() };
        if crate::ffi::is_main_interpreter(py) {
            return real_err(py, module, qualname);
        }
        let loader = import_attr(py, c"manygil._mainscript", c"main_module")?;
        let main = call(py, &loader, &[])?;
        return walk(py, &main, qualname).map_err(|e| {
            let cause = err::take(py);
            let why = err::describe(py, cause.as_ptr());
            let _ = e;
            crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::NotShareable,
                &format!(
                    "cannot find {qualname:?} in the main script from this interpreter ({why}): \
                     other interpreters load the script without running its \
                     `if __name__ == \"__main__\":` block, so define it at the script's top \
                     level or in a module"
                ),
            )
        });
    }
    walk(py, &import(py, module)?, qualname)
}

fn import(py: Attached<'_>, module: &str) -> PyResult<Owned> {
    let name = CString::new(module).map_err(|_| err::value_error(py, "NUL in module name"))?;
    // SAFETY: attached; NUL-terminated name.
    unsafe { Owned::from_new(py, PyImport_ImportModule(name.as_ptr())) }
}

/// `sys.modules[name]` if present (no import).
fn imported(py: Attached<'_>, module: &str) -> PyResult<Option<Owned>> {
    let name = new_str(py, module)?;
    // SAFETY: attached; returns a new reference, or NULL with no error when absent.
    let m = unsafe { PyImport_GetModule(name.as_ptr()) };
    if m.is_null() {
        // SAFETY: attached.
        if unsafe { !PyErr_Occurred().is_null() } {
            return Err(PyErrSet);
        }
        return Ok(None);
    }
    // SAFETY: non-NULL new reference.
    unsafe { Owned::from_new(py, m) }.map(Some)
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
