//! Entry points: how Rust functions become CPython callables. Every `extern "C"` function
//! the module exposes is made by one of these macros, whose body runs inside [`guard`]
//! (panics caught, errors turned into NULL/-1). Each macro is given the name of the C
//! function it defines (`c_<name>`) next to the Rust body it calls, so grepping for a
//! Python-visible name finds both.

use super::err::{PyErrSet, PyResult};
use super::*;

/// Run an `extern "C"` entry's body: catch panics (turning them into `SystemError`), and
/// turn `Err(PyErrSet)` into NULL. The body gets a token for the call only (`for<'py>`):
/// nothing it makes can outlive the call but the result, handed to CPython as a new reference.
pub(crate) fn guard(
    f: impl for<'py> FnOnce(Attached<'py>) -> PyResult<Owned<'py>>,
) -> *mut PyObject {
    // SAFETY: every caller is a C-API entry point called by CPython with an attached
    // thread state, which stays attached for the call.
    let py = unsafe { Attached::assume() };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py))) {
        Ok(Ok(obj)) => obj.into_raw(),
        Ok(Err(PyErrSet)) => std::ptr::null_mut(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // SAFETY: attached; SystemError is a builtin class.
            unsafe {
                crate::ffi::err::raise(
                    py,
                    PyExc_SystemError,
                    &format!("manygil internal error: {msg}"),
                )
            };
            std::ptr::null_mut()
        }
    }
}

/// Define a METH_FASTCALL entry point around
/// `fn(py, module: Borrowed, args: &[Borrowed]) -> PyResult<Owned>`.
macro_rules! entry {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            module: *mut PyObject,
            argv: *mut *mut PyObject,
            nargs: Py_ssize_t,
        ) -> *mut PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: exactly the arguments CPython passed to this running entry point:
                // the module and `nargs` valid references, all alive for the call.
                let (module, argv) = unsafe {
                    (
                        $crate::ffi::Borrowed::from_ptr(py, module),
                        $crate::ffi::Borrowed::slice(py, argv, nargs.max(0) as usize),
                    )
                };
                $body(py, module, argv)
            })
        }
    };
}

/// A METH_FASTCALL `PyMethodDef` (shared by the module's functions and its types' methods).
macro_rules! method {
    ($name:literal, $c_name:ident, $doc:literal) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFast: $c_name,
            },
            ml_flags: METH_FASTCALL,
            ml_doc: $doc.as_ptr(),
        }
    };
}

pub(crate) use entry;
pub(crate) use method;

/// Define a `METH_FASTCALL | METH_KEYWORDS` entry point around
/// `fn(py, slf: Borrowed, &Call) -> PyResult<Owned>`.
macro_rules! kw_entry {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            argv: *const *mut PyObject,
            nargs: Py_ssize_t,
            kwnames: *mut PyObject,
        ) -> *mut PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: exactly the arguments CPython passed to this running method: `slf`
                // and the arguments are valid references alive for the call.
                let (slf, call) = unsafe {
                    (
                        $crate::ffi::Borrowed::from_ptr(py, slf),
                        $crate::ffi::args::Call::fastcall(py, argv, nargs, kwnames),
                    )
                };
                $body(py, slf, &call)
            })
        }
    };
}
pub(crate) use kw_entry;

/// Define a handle type's `tp_new` around `fn(py, subtype, &Call) -> PyResult<Owned>`.
macro_rules! kw_new {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            subtype: *mut PyTypeObject,
            args: *mut PyObject,
            kwargs: *mut PyObject,
        ) -> *mut PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: what CPython passed to this running tp_new, alive for the call.
                let call = unsafe { $crate::ffi::args::Call::tuple_dict(py, args, kwargs) };
                $body(py, subtype, &call)
            })
        }
    };
}
pub(crate) use kw_new;

/// A `PyMethodDef` for an entry made by [`kw_entry!`] (`static` for a static method).
macro_rules! kw_method {
    (@ $name:literal, $c_name:ident, $doc:expr, $flags:expr) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFastWithKeywords: $c_name,
            },
            ml_flags: $flags,
            ml_doc: $doc.as_ptr(),
        }
    };
    ($name:literal, $c_name:ident, $doc:expr, static) => {
        $crate::ffi::entry::kw_method!(
            @ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_STATIC
        )
    };
    ($name:literal, $c_name:ident, $doc:expr, class) => {
        $crate::ffi::entry::kw_method!(
            @ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_CLASS
        )
    };
    ($name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::kw_method!(@ $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS)
    };
}
pub(crate) use kw_method;

/// Define a getter (`fn(py, slf: Borrowed) -> PyResult<Owned>`) for a `PyGetSetDef`.
macro_rules! getter {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            _closure: *mut std::ffi::c_void,
        ) -> *mut PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: the object CPython is getting the attribute of, alive for the call.
                $body(py, unsafe { $crate::ffi::Borrowed::from_ptr(py, slf) })
            })
        }
    };
}
pub(crate) use getter;

/// A read-only property of a handle type.
macro_rules! property {
    ($name:literal, $c_name:ident, $doc:expr) => {
        PyGetSetDef {
            name: $name.as_ptr(),
            get: Some($c_name),
            set: None,
            doc: $doc.as_ptr(),
            closure: std::ptr::null_mut(),
        }
    };
}
pub(crate) use property;

/// [`guard`] for entries that return a C value: `error` when an exception is raised (or a
/// panic caught, which becomes `SystemError`).
pub(crate) fn guard_c<R: Copy>(error: R, f: impl FnOnce(Attached<'_>) -> PyResult<R>) -> R {
    let mut out = error;
    let r = guard(|py| {
        out = f(py)?;
        Ok(none(py))
    });
    if r.is_null() {
        return error;
    }
    // SAFETY: `r` is the new reference to None returned above.
    unsafe { Py_DECREF(r) };
    out
}
