//! Entry points: how Rust functions become CPython callables. Every method and property
//! the module exposes is a row of a [`methods!`] or [`getters!`] table, which defines the
//! table and the `extern "C"` entry points together; slots (`tp_new` by the macros that
//! make the types, the others by hand) run their bodies inside [`guard`]/[`guard_c`] too
//! (panics caught, errors turned into NULL/-1). Each row names the Python-visible name,
//! the C function it defines (`c_<name>`) and the Rust body it calls, so grepping for any
//! of them finds the others. A body takes `self` as a [`FromSelf`] type: the object, or
//! the Rust value of a native type's instance.

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

/// What a method's (or getter's) body takes as `self`: the object itself ([`Borrowed`]),
/// or `&T`, the Rust value inside an instance of a native type (implemented by the macros
/// that make those types: `native_type!`, `handle_type!`). The entry point converts
/// `self` before the body runs; a `self` of another type raises `TypeError` (CPython
/// checks the type of `self` for methods and getters of a type already, so that is a
/// second line of defence, which keeps the conversion safe to call anywhere).
pub(crate) trait FromSelf<'a, 'py>: Sized {
    /// `slf` as `Self`, or `TypeError`.
    fn from_self(py: Attached<'py>, slf: Borrowed<'a, 'py>) -> PyResult<Self>;
}

impl<'a, 'py> FromSelf<'a, 'py> for Borrowed<'a, 'py> {
    fn from_self(_py: Attached<'py>, slf: Borrowed<'a, 'py>) -> PyResult<Self> {
        Ok(slf)
    }
}

/// `TypeError: expected a <name>, got <type of obj>` (a `self` or an argument that is not
/// an instance of the native type `name`).
#[cold]
pub(crate) fn wrong_type(
    py: Attached<'_>,
    name: &std::ffi::CStr,
    obj: Borrowed<'_, '_>,
) -> PyErrSet {
    let name = name.to_string_lossy();
    let got = super::err::type_name(py, obj);
    super::err::type_error(py, &format!("expected a {name}, got {got}"))
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
///         call c"acquire" => c_acquire(acquire::<Lock>), c"acquire($self, ...)\n--\n\n...";
///         call c"__enter__" => c_acquire, c"__enter__($self, /)\n--\n\nacquire()";
///     ];
/// }
/// ```
///
/// Kinds of row, by the body's signature (`S` is any [`FromSelf`] type: `Borrowed` for
/// the object itself, `&T` for the Rust value of a native type's instance):
/// - `args`: `METH_FASTCALL`, `fn(py, slf: S, args: &[Borrowed]) -> PyResult<Owned>`
///   (`slf` is the module for module functions);
/// - `call`, `call_class`: `METH_FASTCALL | METH_KEYWORDS` (plus `METH_CLASS`, where
///   `slf` is the class), `fn(py, slf: S, call: &Call) -> PyResult<Owned>`;
/// - `noargs`: a `call` row whose body takes no arguments, `fn(py, slf: S) ->
///   PyResult<Owned>`; the entry point refuses any argument with the errors of
///   [`Call::bind`](super::args::Call::bind) (it is not CPython's `METH_NOARGS`, whose
///   messages differ);
/// - `call_static`: `METH_FASTCALL | METH_KEYWORDS | METH_STATIC`, `fn(py, call: &Call)
///   -> PyResult<Owned>` (a static method has no `self`: CPython passes NULL).
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
        $( $crate::ffi::entry::methods!(@entry $kind $name $c_name $(($body))?); )*
        $(#[$meta])*
        $vis static mut $table: [$crate::ffi::raw::PyMethodDef; [$(stringify!($c_name)),*].len() + 1] = [
            $( $crate::ffi::entry::methods!(@row $kind $name, $c_name, $doc), )*
            $crate::ffi::raw::PyMethodDef::zeroed(),
        ];
    };
    // A row that reuses an entry point made elsewhere.
    (@entry $kind:ident $name:literal $c_name:ident) => {};
    (@entry args $name:literal $c_name:ident ($body:path)) => {
        unsafe extern "C" fn $c_name(
            slf: *mut $crate::ffi::raw::PyObject,
            argv: *mut *mut $crate::ffi::raw::PyObject,
            nargs: $crate::ffi::raw::Py_ssize_t,
        ) -> *mut $crate::ffi::raw::PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: exactly the arguments CPython passed to this running entry point:
                // self (or the module) and `nargs` valid references, all alive for the call.
                let (slf, argv) = unsafe {
                    (
                        $crate::ffi::Borrowed::from_ptr(py, slf),
                        $crate::ffi::Borrowed::slice(py, argv, nargs.max(0) as usize),
                    )
                };
                $body(py, $crate::ffi::entry::FromSelf::from_self(py, slf)?, argv)
            })
        }
    };
    (@entry $kind:ident $name:literal $c_name:ident ($body:path)) => {
        unsafe extern "C" fn $c_name(
            slf: *mut $crate::ffi::raw::PyObject,
            argv: *const *mut $crate::ffi::raw::PyObject,
            nargs: $crate::ffi::raw::Py_ssize_t,
            kwnames: *mut $crate::ffi::raw::PyObject,
        ) -> *mut $crate::ffi::raw::PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: exactly the arguments CPython passed to this running method: valid
                // references alive for the call.
                let call = unsafe { $crate::ffi::args::Call::fastcall(py, argv, nargs, kwnames) };
                $crate::ffi::entry::methods!(@call $kind $name, $body, py, slf, call)
            })
        }
    };
    (@call call_static $name:literal, $body:path, $py:ident, $slf:ident, $call:ident) => {{
        let _ = $slf; // a static method has no self: CPython passes NULL
        $body($py, &$call)
    }};
    (@call $kind:ident $name:literal, $body:path, $py:ident, $slf:ident, $call:ident) => {{
        // SAFETY: the instance (or, for a class method, the class) CPython passed to this
        // running method, alive for the call.
        let slf = unsafe { $crate::ffi::Borrowed::from_ptr($py, $slf) };
        $crate::ffi::entry::methods!(@body $kind $name, $body, $py, slf, $call)
    }};
    (@body noargs $name:literal, $body:path, $py:ident, $slf:ident, $call:ident) => {{
        $call.no_args($py, $name)?;
        $body($py, $crate::ffi::entry::FromSelf::from_self($py, $slf)?)
    }};
    (@body $kind:ident $name:literal, $body:path, $py:ident, $slf:ident, $call:ident) => {
        $body($py, $crate::ffi::entry::FromSelf::from_self($py, $slf)?, &$call)
    };
    (@row args $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::raw::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: $crate::ffi::raw::PyMethodDefPointer {
                PyCFunctionFast: $c_name,
            },
            ml_flags: $crate::ffi::raw::METH_FASTCALL,
            ml_doc: $doc.as_ptr(),
        }
    };
    (@row call $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(@kw $name, $c_name, $doc, $crate::ffi::raw::METH_FASTCALL | $crate::ffi::raw::METH_KEYWORDS)
    };
    (@row noargs $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(@kw $name, $c_name, $doc, $crate::ffi::raw::METH_FASTCALL | $crate::ffi::raw::METH_KEYWORDS)
    };
    (@row call_static $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(
            @kw $name, $c_name, $doc, $crate::ffi::raw::METH_FASTCALL | $crate::ffi::raw::METH_KEYWORDS | $crate::ffi::raw::METH_STATIC
        )
    };
    (@row call_class $name:literal, $c_name:ident, $doc:expr) => {
        $crate::ffi::entry::methods!(
            @kw $name, $c_name, $doc, $crate::ffi::raw::METH_FASTCALL | $crate::ffi::raw::METH_KEYWORDS | $crate::ffi::raw::METH_CLASS
        )
    };
    (@kw $name:literal, $c_name:ident, $doc:expr, $flags:expr) => {
        $crate::ffi::raw::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: $crate::ffi::raw::PyMethodDefPointer {
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
/// `fn(py, slf: S) -> PyResult<Owned>` with `S` a [`FromSelf`] type (a row without a body
/// reuses a getter made by an earlier row). Defines `static mut $table: [PyGetSetDef;
/// rows + 1]`, zero-terminated.
macro_rules! getters {
    (
        $(#[$meta:meta])*
        $vis:vis static $table:ident = [
            $( get $name:literal => $c_name:ident $(($body:path))?, $doc:expr; )*
        ];
    ) => {
        $( $crate::ffi::entry::getters!(@getter $c_name $(($body))?); )*
        $(#[$meta])*
        $vis static mut $table: [$crate::ffi::raw::PyGetSetDef; [$(stringify!($c_name)),*].len() + 1] = [
            $(
                $crate::ffi::raw::PyGetSetDef {
                    name: $name.as_ptr(),
                    get: Some($c_name),
                    set: None,
                    doc: $doc.as_ptr(),
                    closure: std::ptr::null_mut(),
                },
            )*
            $crate::ffi::raw::PyGetSetDef {
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
            slf: *mut $crate::ffi::raw::PyObject,
            _closure: *mut std::ffi::c_void,
        ) -> *mut $crate::ffi::raw::PyObject {
            $crate::ffi::entry::guard(|py| {
                // SAFETY: the object CPython is getting the attribute of, alive for the call.
                let slf = unsafe { $crate::ffi::Borrowed::from_ptr(py, slf) };
                $body(py, $crate::ffi::entry::FromSelf::from_self(py, slf)?)
            })
        }
    };
}
pub(crate) use getters;

/// Define a type's `tp_new`, `$c_name`, around `fn(py, subtype, &Call) -> PyResult<Owned>`
/// (used by the macros that make the types).
macro_rules! kw_new {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            subtype: *mut $crate::ffi::raw::PyTypeObject,
            args: *mut $crate::ffi::raw::PyObject,
            kwargs: *mut $crate::ffi::raw::PyObject,
        ) -> *mut $crate::ffi::raw::PyObject {
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
