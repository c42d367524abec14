//! Python exceptions at the boundary: [`PyErrSet`], raising helpers and exception text.

use std::ffi::{c_char, CStr, CString};

use super::owned::{Attached, Borrowed, Owned};
/// Defined beside [`Owned`] (whose constructors return them), named from here.
pub(crate) use super::owned::{PyErrSet, PyResult};
use pyo3_ffi::*;

fn cstring(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Raise `exc_type(msg)` and return the marker.
///
/// # Safety
///
/// `exc_type` is a valid exception class of the attached interpreter.
pub(crate) unsafe fn raise(_py: Attached<'_>, exc_type: *mut PyObject, msg: &str) -> PyErrSet {
    let msg = cstring(msg);
    // SAFETY: attached; caller guarantees the type; the message is NUL-terminated.
    unsafe { PyErr_SetString(exc_type, msg.as_ptr()) };
    PyErrSet
}

/// Raise `class(msg)`: any object may be passed (CPython raises `SystemError` for one that
/// is not an exception class).
pub(crate) fn raise_class(py: Attached<'_>, class: Borrowed<'_, '_>, msg: &str) -> PyErrSet {
    // SAFETY: attached (py); a valid object of it; PyErr_SetString checks that it is an
    // exception class (SystemError otherwise).
    unsafe { raise(py, class.as_ptr(), msg) }
}

/// A builtin exception class (see [`builtin_class`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Builtin {
    /// `Exception`.
    Exception,
    /// `TypeError`.
    TypeError,
}

/// The builtin exception class `which`, as a new reference.
pub(crate) fn builtin_class<'py>(py: Attached<'py>, which: Builtin) -> Owned<'py> {
    // SAFETY: reading builtin exception class pointers (static, valid in every
    // interpreter); the classes are immortal; a new reference is taken (attached: py).
    unsafe {
        let class = match which {
            Builtin::Exception => PyExc_Exception,
            Builtin::TypeError => PyExc_TypeError,
        };
        Owned::from_borrowed(py, class)
    }
}

/// Raise a builtin `ValueError`.
pub(crate) fn value_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: PyExc_ValueError is a builtin exception class, valid in every interpreter.
    unsafe { raise(py, PyExc_ValueError, msg) }
}

/// Raise a builtin `TypeError`.
pub(crate) fn type_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_TypeError, msg) }
}

/// Raise a builtin `MemoryError` for a copy of `len` bytes that could not be allocated.
pub(crate) fn no_memory(py: Attached<'_>, len: usize) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe {
        raise(
            py,
            PyExc_MemoryError,
            &format!("cannot allocate {len} bytes to copy the value to another interpreter"),
        )
    }
}

/// A copy of `data` in memory that Rust owns; `MemoryError` instead of aborting the
/// process when it cannot be allocated (its size comes from user data).
pub(crate) fn try_copy(py: Attached<'_>, data: &[u8]) -> PyResult<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(data.len())
        .map_err(|_| no_memory(py, data.len()))?;
    v.extend_from_slice(data);
    Ok(v)
}

/// Raise a builtin `MemoryError`.
pub(crate) fn memory_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_MemoryError, msg) }
}

/// Raise a builtin `OSError`.
pub(crate) fn os_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_OSError, msg) }
}

/// Raise a builtin `IndexError`.
pub(crate) fn index_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_IndexError, msg) }
}

/// Whether the exception set now is a `ValueError` (or a subclass).
pub(crate) fn value_error_is_set(_py: Attached<'_>) -> bool {
    // SAFETY: attached; reads this thread's error indicator and a builtin class.
    unsafe { PyErr_ExceptionMatches(PyExc_ValueError) != 0 }
}

/// Raise a builtin `AttributeError`.
pub(crate) fn attribute_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_AttributeError, msg) }
}

/// Raise a builtin `RuntimeError`.
pub(crate) fn runtime_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    // SAFETY: builtin exception class.
    unsafe { raise(py, PyExc_RuntimeError, msg) }
}

/// A new exception class `name` (a dotted `module.Name`) with docstring `doc` and the
/// classes of the tuple `bases` as its bases.
pub(crate) fn new_exception_type<'py>(
    py: Attached<'py>,
    name: &CStr,
    doc: &CStr,
    bases: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); NUL-terminated name and doc; `bases` is alive (the `Borrowed`
    // invariant) and CPython checks it is a tuple of classes; no dict. A new reference or
    // NULL.
    unsafe {
        Owned::from_new(
            py,
            PyErr_NewExceptionWithDoc(
                name.as_ptr(),
                doc.as_ptr(),
                bases.as_ptr(),
                std::ptr::null_mut(),
            ),
        )
    }
}

/// Take the currently set exception (there must be one).
pub(crate) fn take<'py>(py: Attached<'py>) -> Owned<'py> {
    // SAFETY: attached; returns a new reference or NULL when nothing is set.
    let exc = unsafe { PyErr_GetRaisedException() };
    if exc.is_null() {
        // SAFETY: attached; build a placeholder so callers always get an exception.
        unsafe { PyErr_SetString(PyExc_SystemError, c"error indicator unset".as_ptr()) };
        // SAFETY: an exception is set now.
        let exc = unsafe { PyErr_GetRaisedException() };
        // SAFETY: a new reference to the SystemError just raised.
        return unsafe { Owned::from_new(py, exc) }.expect("exception just set");
    }
    // SAFETY: non-NULL new reference.
    unsafe { Owned::from_new(py, exc) }.expect("non-null")
}

/// Put an exception taken with [`take`] back as the current exception.
pub(crate) fn restore<'py>(_py: Attached<'py>, exc: Owned<'py>) -> PyErrSet {
    // SAFETY: attached; PyErr_SetRaisedException steals the reference.
    unsafe { PyErr_SetRaisedException(exc.into_raw()) };
    PyErrSet
}

/// `str(obj)`, or a placeholder when even that fails (the failure is cleared).
pub(crate) fn describe(py: Attached<'_>, obj: Borrowed<'_, '_>) -> String {
    match obj
        .str()
        .and_then(|s| s.borrow().str_utf8().map(str::to_owned))
    {
        Ok(s) => s,
        Err(PyErrSet) => {
            clear(py);
            "<unprintable object>".to_owned()
        }
    }
}

/// The qualified type name of `obj` (e.g. `collections.OrderedDict`).
pub(crate) fn type_name(py: Attached<'_>, obj: Borrowed<'_, '_>) -> String {
    let tp = obj.type_ptr();
    // SAFETY: attached; a type object; returns a new str reference or NULL.
    let name = unsafe { Owned::from_new(py, PyType_GetFullyQualifiedName(tp)) };
    match name.and_then(|s| s.borrow().str_utf8().map(str::to_owned)) {
        Ok(s) => s,
        Err(PyErrSet) => {
            clear(py);
            // SAFETY: tp_name is a NUL-terminated C string owned by the type.
            unsafe { std::ffi::CStr::from_ptr((*tp).tp_name.cast::<c_char>()) }
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// Report the current exception as unraisable (printed through `sys.unraisablehook`, with
/// `obj` as the context), and clear it.
pub(crate) fn write_unraisable(_py: Attached<'_>, obj: Borrowed<'_, '_>) {
    // SAFETY: attached; an exception is set (callers just failed); `obj` is valid.
    unsafe { PyErr_WriteUnraisable(obj.as_ptr()) }
}

/// Run pending signal handlers (in the main thread of the main interpreter; a no-op
/// elsewhere); `Err` with their exception (e.g. `KeyboardInterrupt`) set.
pub(crate) fn check_signals(_py: Attached<'_>) -> PyResult<()> {
    // SAFETY: attached (py); runs Python signal handlers when this is the main thread.
    if unsafe { PyErr_CheckSignals() } < 0 {
        Err(PyErrSet)
    } else {
        Ok(())
    }
}

/// Whether an exception is set on the current thread state.
#[inline]
pub(crate) fn occurred(_py: Attached<'_>) -> bool {
    // SAFETY: attached (py); only reads the thread state's exception slot.
    unsafe { !PyErr_Occurred().is_null() }
}

/// Discard the current exception, if any (the caller has decided it does not matter).
#[inline]
pub(crate) fn clear(_py: Attached<'_>) {
    // SAFETY: attached (py); clearing is always allowed.
    unsafe { PyErr_Clear() }
}
