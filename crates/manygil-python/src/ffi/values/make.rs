//! Making builtin values: `None`/`True`/`False`, numbers, text and bytes, containers,
//! functions. Each constructor is one C-API call turning NULL into `Err(PyErrSet)`.

use std::ffi::c_char;

use super::super::err::PyResult;
use super::super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// A slice's length as `Py_ssize_t` (a Rust allocation never exceeds `isize::MAX` bytes).
#[inline]
fn ssize(b: &[u8]) -> Py_ssize_t {
    b.len() as Py_ssize_t
}

/// `None`.
pub(crate) fn none<'py>(py: Attached<'py>) -> Owned<'py> {
    // SAFETY: attached (py); None is immortal and valid in every interpreter.
    unsafe { Owned::from_borrowed(py, Py_None()) }
}

/// `True` or `False`.
pub(crate) fn boolean<'py>(py: Attached<'py>, b: bool) -> Owned<'py> {
    // SAFETY: attached (py); True/False are immortal and valid in every interpreter.
    unsafe { Owned::from_borrowed(py, if b { Py_True() } else { Py_False() }) }
}

/// An `int` object.
pub(crate) fn new_int<'py>(py: Attached<'py>, v: i64) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); a new reference or NULL.
    unsafe { Owned::from_new(py, PyLong_FromLongLong(v)) }
}

/// A `str` object from Rust text.
pub(crate) fn new_str<'py>(py: Attached<'py>, s: &str) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); the pointer/length pair describes valid UTF-8 owned by `s`.
    unsafe {
        Owned::from_new(
            py,
            PyUnicode_FromStringAndSize(s.as_ptr().cast::<c_char>(), s.len() as Py_ssize_t),
        )
    }
}

/// An `int` from a `u64` (for values that may exceed `i64`).
pub(crate) fn new_uint<'py>(py: Attached<'py>, v: u64) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); returns a new reference or NULL.
    unsafe { Owned::from_new(py, PyLong_FromUnsignedLongLong(v)) }
}

/// An `int` from little-endian two's-complement bytes (see [`Borrowed::int_to_le_bytes`]).
pub(crate) fn int_from_le_bytes<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached; `b` is readable for its length during the call.
    unsafe {
        Owned::from_new(
            py,
            PyLong_FromNativeBytes(b.as_ptr().cast(), b.len(), Py_ASNATIVEBYTES_LITTLE_ENDIAN),
        )
    }
}

/// A `float`.
#[inline]
pub(crate) fn new_float<'py>(py: Attached<'py>, v: f64) -> PyResult<Owned<'py>> {
    // SAFETY: attached; returns a new reference or NULL.
    unsafe { Owned::from_new(py, PyFloat_FromDouble(v)) }
}

/// A `complex`.
pub(crate) fn new_complex<'py>(py: Attached<'py>, re: f64, im: f64) -> PyResult<Owned<'py>> {
    // SAFETY: attached; returns a new reference or NULL.
    unsafe { Owned::from_new(py, PyComplex_FromDoubles(re, im)) }
}

/// A `str` from UTF-8 that may hold encoded lone surrogates (`surrogatepass`).
pub(crate) fn str_from_surrogatepass<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached; `b` readable for its length; NUL-terminated error-handler name.
    unsafe {
        Owned::from_new(
            py,
            PyUnicode_DecodeUTF8(
                b.as_ptr().cast::<c_char>(),
                ssize(b),
                c"surrogatepass".as_ptr(),
            ),
        )
    }
}

/// A `str` of the bytes decoded as latin-1 (every byte is one character; cannot fail but
/// for memory).
pub(crate) fn str_from_latin1<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); pointer/length describe `b`; latin-1 decoding cannot fail
    // (NULL only for memory, with the exception set); a new reference.
    unsafe {
        Owned::from_new(
            py,
            PyUnicode_DecodeLatin1(
                b.as_ptr().cast::<std::ffi::c_char>(),
                b.len() as Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }
}

/// A `bytes` object holding a copy of `b`.
#[inline]
pub(crate) fn new_bytes<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached; `b` readable for its length during the call (copied).
    unsafe {
        Owned::from_new(
            py,
            PyBytes_FromStringAndSize(b.as_ptr().cast::<c_char>(), ssize(b)),
        )
    }
}

/// A `bytearray` holding a copy of `b`.
pub(crate) fn new_bytearray<'py>(py: Attached<'py>, b: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached; `b` readable for its length during the call (copied).
    unsafe {
        Owned::from_new(
            py,
            PyByteArray_FromStringAndSize(b.as_ptr().cast::<c_char>(), ssize(b)),
        )
    }
}

/// A `list` of the given items (their references move into the list).
pub(crate) fn new_list<'py, I>(py: Attached<'py>, items: I) -> PyResult<Owned<'py>>
where
    I: IntoIterator<Item = Owned<'py>>,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    let n = items.len();
    // SAFETY: attached; returns a new reference or NULL.
    let list = unsafe { Owned::from_new(py, PyList_New(n as Py_ssize_t))? };
    // An exact-size iterator of `Owned` runs no Python code; `take(n)` guards a lying
    // `len()`, and a short one leaves NULL slots, refused below before anyone sees the list.
    let mut filled = 0;
    for (i, item) in items.take(n).enumerate() {
        // SAFETY: a fresh list of length n nobody else has seen; slot i < n is empty;
        // PyList_SET_ITEM steals the reference `into_raw` gives up.
        unsafe { PyList_SET_ITEM(list.as_ptr(), i as Py_ssize_t, item.into_raw()) };
        filled += 1;
    }
    if filled != n {
        return Err(super::read::unfilled(py));
    }
    Ok(list)
}

/// A `tuple` of the given items (their references move into the tuple).
pub(crate) fn new_tuple<'py, I>(py: Attached<'py>, items: I) -> PyResult<Owned<'py>>
where
    I: IntoIterator<Item = Owned<'py>>,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    let n = items.len();
    // SAFETY: attached; returns a new reference or NULL.
    let tuple = unsafe { Owned::from_new(py, PyTuple_New(n as Py_ssize_t))? };
    // As in `new_list`.
    let mut filled = 0;
    for (i, item) in items.take(n).enumerate() {
        // SAFETY: a fresh tuple of length n; slot i < n is empty; steals the reference.
        unsafe { PyTuple_SET_ITEM(tuple.as_ptr(), i as Py_ssize_t, item.into_raw()) };
        filled += 1;
    }
    if filled != n {
        return Err(super::read::unfilled(py));
    }
    Ok(tuple)
}

/// An empty `dict`.
pub(crate) fn new_dict<'py>(py: Attached<'py>) -> PyResult<Owned<'py>> {
    // SAFETY: attached; returns a new reference or NULL.
    unsafe { Owned::from_new(py, PyDict_New()) }
}

/// An empty `set`.
pub(crate) fn new_set<'py>(py: Attached<'py>) -> PyResult<Owned<'py>> {
    // SAFETY: attached; a NULL iterable means empty; returns a new reference or NULL.
    unsafe { Owned::from_new(py, PySet_New(std::ptr::null_mut())) }
}

/// `frozenset(iterable)`.
pub(crate) fn new_frozenset<'py>(iterable: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    // SAFETY: attached and alive (the `Borrowed` invariant); returns a new reference or NULL.
    unsafe { Owned::from_new(iterable.py(), PyFrozenSet_New(iterable.as_ptr())) }
}

/// `marshal.loads(data)`.
pub(crate) fn marshal_loads<'py>(py: Attached<'py>, data: &[u8]) -> PyResult<Owned<'py>> {
    // SAFETY: attached; `data` readable for its length; malformed data raises.
    unsafe {
        Owned::from_new(
            py,
            PyMarshal_ReadObjectFromString(data.as_ptr().cast::<c_char>(), ssize(data)),
        )
    }
}

/// `types.FunctionType(code, globals)` (`TypeError` unless `code` is a code object and
/// `globals` a dict).
pub(crate) fn new_function<'py>(
    code: Borrowed<'_, 'py>,
    globals: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let py = code.py();
    // SAFETY: valid objects; only their types are read. PyFunction_New reads code-object
    // fields without checking the type, so check both here.
    let ok = unsafe { PyCode_Check(code.as_ptr()) != 0 && PyDict_Check(globals.as_ptr()) != 0 };
    if !ok {
        return Err(super::super::err::type_error(
            py,
            "a function needs a code object and a dict of globals",
        ));
    }
    // SAFETY: attached; a code object and a dict (checked); new reference or NULL.
    unsafe { Owned::from_new(py, PyFunction_New(code.as_ptr(), globals.as_ptr())) }
}
