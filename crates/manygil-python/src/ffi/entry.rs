//! Entry points: how Rust functions become CPython callables. Every method and property
//! the module exposes is a row of a [`methods!`] or [`getters!`] table, which defines the
//! table and the `extern "C"` entry points together; slots (`tp_new` by [`kw_new!`], the
//! others by hand) run their bodies inside [`guard`]/[`guard_c`] too (panics caught, errors
//! turned into NULL/-1). Each row names the Python-visible name, the C function it defines
//! (`c_<name>`) and the Rust body it calls, so grepping for any of them finds the others.

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

/// A method table and the entry points it names, written together. Each row names the
/// Python-visible name, the `extern "C"` entry point (`c_<name>`) and, the first time that
/// entry point appears, the Rust body it calls; a row without a body reuses an entry point
/// made by an earlier row (of this table or another in the same module):
///
/// ```text
/// methods! {
///     /// The methods of `manygil.Lock` (static C data; CPython only reads it).
///     static LOCK_METHODS = [
///         call c"acquire" => c_lock_acquire(lock_acquire), c"acquire($self, ...)\n--\n\n...";
///         call c"__enter__" => c_lock_acquire, c"__enter__($self, /)\n--\n\nacquire()";
///     ];
/// }
/// ```
///
/// Kinds of row, by the body's signature:
/// - `args`: `METH_FASTCALL`, `fn(py, slf: Borrowed, args: &[Borrowed]) -> PyResult<Owned>`
///   (`slf` is the module for module functions);
/// - `call`, `call_static`, `call_class`: `METH_FASTCALL | METH_KEYWORDS` (plus
///   `METH_STATIC`/`METH_CLASS`), `fn(py, slf: Borrowed, call: &Call) -> PyResult<Owned>`.
///
/// It defines `static mut $table: [PyMethodDef; rows + 1]`, zero-terminated, and one
/// `unsafe extern "C" fn` per row with a body, whose body runs inside [`guard`].
macro_rules! methods {
    (
        $(#[$meta:meta])*
        $vis:vis static $table:ident = [
            $( $kind:ident $name:literal => $c_name:ident $(($body:path))?, $doc:expr; )*
        ];
    ) => {
        $( $crate::ffi::entry::methods!(@entry $kind $c_name $(($body))?); )*
        $(#[$meta])*
        $vis static mut $table: [PyMethodDef; [$(stringify!($c_name)),*].len() + 1] = [
            $( $crate::ffi::entry::methods!(@row $kind $name, $c_name, $doc), )*
            PyMethodDef::zeroed(),
        ];
    };
    // A row that reuses an entry point made elsewhere.
    (@entry $kind:ident $c_name:ident) => {};
    (@entry args $c_name:ident ($body:path)) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            argv: *mut *mut PyObject,
            nargs: Py_ssize_t,
        ) -> *mut PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: exactly the arguments CPython passed to this running entry point:
                // self (or the module) and `nargs` valid references, all alive for the call.
                let (slf, argv) = unsafe {
                    (
                        $crate::ffi::Borrowed::from_ptr(py, slf),
                        $crate::ffi::Borrowed::slice(py, argv, nargs.max(0) as usize),
                    )
                };
                $body(py, slf, argv)
            })
        }
    };
    (@entry $kind:ident $c_name:ident ($body:path)) => {
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
    (@row args $name:literal, $c_name:ident, $doc:expr) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFast: $c_name,
            },
            ml_flags: METH_FASTCALL,
            ml_doc: $doc.as_ptr(),
        }
    };
    (@row call $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(@kw $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS)
    };
    (@row call_static $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(
            @kw $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_STATIC
        )
    };
    (@row call_class $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(
            @kw $name, $c_name, $doc, METH_FASTCALL | METH_KEYWORDS | METH_CLASS
        )
    };
    (@kw $name:literal, $c_name:ident, $doc:expr, $flags:expr) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFastWithKeywords: $c_name,
            },
            ml_flags: $flags,
            ml_doc: $doc.as_ptr(),
        }
    };
}
pub(crate) use methods;

/// A table of read-only properties and the getters it names, written together, in the
/// style of [`methods!`]: `get c"name" => g_<name>(body), c"doc";` where the body is
/// `fn(py, slf: Borrowed) -> PyResult<Owned>` (a row without a body reuses a getter made
/// by an earlier row). Defines `static mut $table: [PyGetSetDef; rows + 1]`,
/// zero-terminated.
macro_rules! getters {
    (
        $(#[$meta:meta])*
        $vis:vis static $table:ident = [
            $( get $name:literal => $c_name:ident $(($body:path))?, $doc:expr; )*
        ];
    ) => {
        $( $crate::ffi::entry::getters!(@getter $c_name $(($body))?); )*
        $(#[$meta])*
        $vis static mut $table: [PyGetSetDef; [$(stringify!($c_name)),*].len() + 1] = [
            $(
                PyGetSetDef {
                    name: $name.as_ptr(),
                    get: Some($c_name),
                    set: None,
                    doc: $doc.as_ptr(),
                    closure: std::ptr::null_mut(),
                },
            )*
            PyGetSetDef {
                name: std::ptr::null(),
                get: None,
                set: None,
                doc: std::ptr::null(),
                closure: std::ptr::null_mut(),
            },
        ];
    };
    (@getter $c_name:ident) => {};
    (@getter $c_name:ident ($body:path)) => {
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
pub(crate) use getters;

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
