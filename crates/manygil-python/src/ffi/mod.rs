//! The only module that talks to `pyo3_ffi` directly.
//!
//! - [`Owned`]: a strong reference that is released on drop (never `Send`).
//! - [`Borrowed`]: a reference someone else keeps alive; [`object`] has the operations on it.
//! - [`Attached`]: proof that the current thread has an attached thread state.
//! - [`err`]: fetching, raising and describing Python exceptions.
//! - [`tstate`]: detaching and re-attaching around blocking waits.
//! - [`entry`]: entry points (panics caught) and the macros that define them.
//! - [`args`]: binding and converting arguments, with errors that name them.
//! - [`values`]: the builtin value types (int, float, str, bytes, containers, ...): telling
//!   them apart, reading and making them.
//!
//! Other modules use `crate::ffi::*` and these wrappers; the raw C-API names they need are
//! re-exported from here so that every use of the C-API can be found in one place.

pub(crate) mod args;
pub(crate) mod entry;
pub(crate) mod err;
mod object;
mod owned;
pub(crate) mod tstate;
pub(crate) mod values;

pub(crate) use object::import_module;
pub(crate) use owned::{Attached, Borrowed, Owned};
#[allow(unreachable_pub)]
pub use pyo3_ffi::*;

use std::ffi::{c_char, CStr};

/// A `str` object from Rust text.
pub(crate) fn new_str(py: Attached<'_>, s: &str) -> err::PyResult<Owned> {
    // SAFETY: attached (py); the pointer/length pair describes valid UTF-8 owned by `s`.
    unsafe {
        Owned::from_new(
            py,
            PyUnicode_FromStringAndSize(s.as_ptr().cast::<c_char>(), s.len() as Py_ssize_t),
        )
    }
}

/// `None`.
pub(crate) fn none(py: Attached<'_>) -> Owned {
    // SAFETY: attached (py); None is immortal and valid in every interpreter.
    unsafe { Owned::from_borrowed(py, Py_None()) }
}

/// `True` or `False`.
pub(crate) fn boolean(py: Attached<'_>, b: bool) -> Owned {
    // SAFETY: attached (py); True/False are immortal and valid in every interpreter.
    unsafe { Owned::from_borrowed(py, if b { Py_True() } else { Py_False() }) }
}

/// The positional arguments of a METH_FASTCALL entry as a slice.
///
/// # Safety
///
/// `argv`/`nargs` are exactly what CPython passed to the entry point, which is still running.
pub(crate) unsafe fn fastcall_args<'a>(
    argv: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> &'a [*mut PyObject] {
    if nargs <= 0 || argv.is_null() {
        return &[];
    }
    // SAFETY: CPython passes `nargs` valid borrowed references at `argv`, alive for the call.
    unsafe { std::slice::from_raw_parts(argv, nargs as usize) }
}

/// An `int` object.
pub(crate) fn new_int(py: Attached<'_>, v: i64) -> err::PyResult<Owned> {
    // SAFETY: attached (py).
    unsafe { Owned::from_new(py, PyLong_FromLongLong(v)) }
}

/// A `tuple` of the given items (references are stolen into the tuple).
pub(crate) fn new_tuple(py: Attached<'_>, items: Vec<Owned>) -> err::PyResult<Owned> {
    // SAFETY: attached (py); PyTuple_New returns a new reference or NULL.
    let tuple = unsafe { Owned::from_new(py, PyTuple_New(items.len() as Py_ssize_t))? };
    for (i, item) in items.into_iter().enumerate() {
        // SAFETY: `tuple` is a fresh tuple of the right length, slot i is empty;
        // PyTuple_SET_ITEM steals the item's reference, which `into_raw` gives up.
        unsafe { PyTuple_SET_ITEM(tuple.as_ptr(), i as Py_ssize_t, item.into_raw()) };
    }
    Ok(tuple)
}

/// The text of a `str` object as a Rust `String` (lossy for lone surrogates).
///
/// # Safety
///
/// `obj` must be a valid object of the attached interpreter.
pub(crate) unsafe fn str_to_string(py: Attached<'_>, obj: *mut PyObject) -> err::PyResult<String> {
    let _ = py;
    let mut len: Py_ssize_t = 0;
    // SAFETY: caller guarantees `obj` is valid and we are attached.
    let p = unsafe { PyUnicode_AsUTF8AndSize(obj, &mut len) };
    if p.is_null() {
        return Err(err::PyErrSet);
    }
    // SAFETY: CPython guarantees `len` bytes of UTF-8 at `p`, alive as long as `obj`.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) };
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// `module.attr` as a new reference, importing `module` if needed.
pub(crate) fn import_attr(py: Attached<'_>, module: &CStr, attr: &CStr) -> err::PyResult<Owned> {
    // SAFETY: attached (py); both strings are NUL-terminated.
    let m = unsafe { Owned::from_new(py, PyImport_ImportModule(module.as_ptr()))? };
    // SAFETY: attached; `m` is a valid module object.
    unsafe { Owned::from_new(py, PyObject_GetAttrString(m.as_ptr(), attr.as_ptr())) }
}

/// `callable(*args)` as a new reference.
pub(crate) fn call(py: Attached<'_>, callable: &Owned, args: &[&Owned]) -> err::PyResult<Owned> {
    let mut argv: Vec<*mut PyObject> = args.iter().map(|a| a.as_ptr()).collect();
    // SAFETY: attached (py); `argv` holds borrowed valid references for the call's length.
    unsafe {
        Owned::from_new(
            py,
            PyObject_Vectorcall(
                callable.as_ptr(),
                argv.as_mut_ptr(),
                argv.len(),
                std::ptr::null_mut(),
            ),
        )
    }
}

/// Whether the attached interpreter is the main interpreter.
pub(crate) fn is_main_interpreter(_py: Attached<'_>) -> bool {
    // SAFETY: a thread state is attached (py); both calls only read runtime state.
    unsafe { PyInterpreterState_Get() == PyInterpreterState_Main() }
}

/// The id of the attached interpreter.
pub(crate) fn current_interpreter_id(_py: Attached<'_>) -> i64 {
    // SAFETY: a thread state is attached (py), so the current interpreter is valid.
    unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) }
}

/// The OS-level ident of the current thread (`threading.get_ident()`).
pub(crate) fn current_thread_ident() -> u64 {
    // SAFETY: callable from any thread, attached or not.
    unsafe { PyThread_get_thread_ident() as u64 }
}

/// `obj.name` as a new reference.
pub(crate) fn get_attr(py: Attached<'_>, obj: &Owned, name: &CStr) -> err::PyResult<Owned> {
    // SAFETY: attached (py); `obj` is a valid object; `name` is NUL-terminated.
    unsafe { Owned::from_new(py, PyObject_GetAttrString(obj.as_ptr(), name.as_ptr())) }
}

/// An `int` object's value as `u64` (`OverflowError` if it does not fit).
pub(crate) fn as_u64(_py: Attached<'_>, obj: &Owned) -> err::PyResult<u64> {
    // SAFETY: attached (py); `obj` is a valid object (TypeError if not an int).
    let v = unsafe { PyLong_AsUnsignedLongLong(obj.as_ptr()) };
    // SAFETY: attached.
    if v == u64::MAX && unsafe { !PyErr_Occurred().is_null() } {
        return Err(err::PyErrSet);
    }
    Ok(v)
}

/// C-API functions pyo3-ffi does not declare.
pub(crate) mod missing {
    use std::ffi::{c_char, c_int, c_void};

    use pyo3_ffi::PyObject;

    /// `Py_AuditHookFunction` (Include/cpython/sysmodule.h).
    pub(crate) type AuditHook =
        unsafe extern "C" fn(*const c_char, *mut PyObject, *mut c_void) -> c_int;

    extern "C" {
        /// `int PySys_AddAuditHook(Py_AuditHookFunction hook, void *userData)`: a
        /// process-wide hook, called for every audited event in every interpreter.
        pub(crate) fn PySys_AddAuditHook(hook: AuditHook, user_data: *mut c_void) -> c_int;
    }
}
