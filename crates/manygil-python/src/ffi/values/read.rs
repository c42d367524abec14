//! Telling the builtin types apart ([`ExactType`]) and reading them (methods on
//! [`Borrowed`]).

use std::ffi::c_char;

use super::super::err::{PyErrSet, PyResult};
use super::super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// The builtin type an object is exactly an instance of (subclasses are [`ExactType::Other`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExactType {
    None,
    Bool,
    Int,
    Float,
    Complex,
    Str,
    Bytes,
    ByteArray,
    Tuple,
    List,
    Dict,
    Set,
    FrozenSet,
    /// A function defined in Python (`types.FunctionType`).
    Function,
    Other,
}

/// `Py_ssize_t` length → `usize` (CPython lengths are never negative once checked).
#[inline]
fn len_of(n: Py_ssize_t) -> PyResult<usize> {
    usize::try_from(n).map_err(|_| PyErrSet)
}

impl<'a, 'py> Borrowed<'a, 'py> {
    /// Which builtin type the object is exactly.
    #[inline]
    pub(crate) fn exact_type(self) -> ExactType {
        let tp = self.type_ptr();
        // Most common types first: this runs for every object the codec meets.
        if tp == &raw mut PyLong_Type {
            ExactType::Int
        } else if tp == &raw mut PyUnicode_Type {
            ExactType::Str
        } else if tp == &raw mut PyFloat_Type {
            ExactType::Float
        } else if tp == &raw mut PyTuple_Type {
            ExactType::Tuple
        } else if tp == &raw mut PyList_Type {
            ExactType::List
        } else if tp == &raw mut PyDict_Type {
            ExactType::Dict
        } else if self.is_none() {
            ExactType::None
        } else if tp == &raw mut PyBool_Type {
            ExactType::Bool
        } else if tp == &raw mut PyBytes_Type {
            ExactType::Bytes
        } else if tp == &raw mut PyByteArray_Type {
            ExactType::ByteArray
        } else if tp == &raw mut PyComplex_Type {
            ExactType::Complex
        } else if tp == &raw mut PySet_Type {
            ExactType::Set
        } else if tp == &raw mut PyFrozenSet_Type {
            ExactType::FrozenSet
        } else if tp == &raw mut PyFunction_Type {
            ExactType::Function
        } else {
            ExactType::Other
        }
    }

    /// Whether the object is a `str` (or a subclass).
    #[inline]
    pub(crate) fn is_str(self) -> bool {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type's flags.
        unsafe { PyUnicode_Check(self.as_ptr()) != 0 }
    }

    /// Whether this is `True` (by identity).
    #[inline]
    pub(crate) fn is_true_singleton(self) -> bool {
        // SAFETY: reading the address of the True singleton is always allowed.
        self.as_ptr() == unsafe { Py_True() }
    }

    /// An `int`'s value as `i64`: `Ok(None)` when it does not fit (no exception set).
    #[inline]
    pub(crate) fn int_to_i64(self) -> PyResult<Option<i64>> {
        let mut overflow = 0;
        // SAFETY: attached and alive (the `Borrowed` invariant; TypeError unless an int or
        // `__index__`); `overflow` is a writable int.
        let v = unsafe { PyLong_AsLongLongAndOverflow(self.as_ptr(), &mut overflow) };
        if overflow != 0 {
            return Ok(None);
        }
        if v == -1 && super::super::err::occurred(self.py()) {
            return Err(PyErrSet);
        }
        Ok(Some(v))
    }

    /// An `int`'s value as `u64` (`OverflowError` if negative or too large).
    pub(crate) fn int_to_u64(self) -> PyResult<u64> {
        // SAFETY: attached and alive (the `Borrowed` invariant; TypeError unless an int).
        let v = unsafe { PyLong_AsUnsignedLongLong(self.as_ptr()) };
        if v == u64::MAX && super::super::err::occurred(self.py()) {
            return Err(PyErrSet);
        }
        Ok(v)
    }

    /// An `int` of any size as little-endian two's-complement bytes (as many as needed to
    /// keep the sign), readable back with [`int_from_le_bytes`].
    pub(crate) fn int_to_le_bytes(self) -> PyResult<Vec<u8>> {
        let flags = Py_ASNATIVEBYTES_LITTLE_ENDIAN;
        // SAFETY: attached and alive (the `Borrowed` invariant); a NULL buffer of size 0 asks for
        // the size needed.
        let needed = unsafe { PyLong_AsNativeBytes(self.as_ptr(), std::ptr::null_mut(), 0, flags) };
        let mut buf = vec![0u8; len_of(needed)?];
        // SAFETY: attached; `buf` has `needed` writable bytes.
        let n =
            unsafe { PyLong_AsNativeBytes(self.as_ptr(), buf.as_mut_ptr().cast(), needed, flags) };
        len_of(n)?;
        Ok(buf)
    }

    /// A `float`'s value (or `__float__`'s for other objects).
    #[inline]
    pub(crate) fn float_to_f64(self) -> PyResult<f64> {
        // SAFETY: attached and alive (the `Borrowed` invariant); -1.0 with an exception set on
        // failure.
        let v = unsafe { PyFloat_AsDouble(self.as_ptr()) };
        if v == -1.0 && super::super::err::occurred(self.py()) {
            return Err(PyErrSet);
        }
        Ok(v)
    }

    /// A `complex`'s real and imaginary parts.
    pub(crate) fn complex_parts(self) -> PyResult<(f64, f64)> {
        // SAFETY: attached and alive (the `Borrowed` invariant; non-complex objects go through
        // `__complex__` or `__float__`, -1.0 with an exception set on failure).
        let re = unsafe { PyComplex_RealAsDouble(self.as_ptr()) };
        if re == -1.0 && super::super::err::occurred(self.py()) {
            return Err(PyErrSet);
        }
        // SAFETY: as above.
        let im = unsafe { PyComplex_ImagAsDouble(self.as_ptr()) };
        if im == -1.0 && super::super::err::occurred(self.py()) {
            return Err(PyErrSet);
        }
        Ok((re, im))
    }

    /// A `bytes` object's contents (`TypeError` for anything else). A `bytes` object is
    /// immutable and its buffer never moves, so the slice is valid as long as the object.
    #[inline]
    pub(crate) fn bytes_data(self) -> PyResult<&'a [u8]> {
        let mut p: *mut c_char = std::ptr::null_mut();
        let mut n: Py_ssize_t = 0;
        // SAFETY: attached and alive (the `Borrowed` invariant; the call checks it is bytes);
        // `p`/`n` writable.
        if unsafe { PyBytes_AsStringAndSize(self.as_ptr(), &mut p, &mut n) } < 0 {
            return Err(PyErrSet);
        }
        // SAFETY: CPython gave `n` bytes at `p`, owned by the immutable object, alive for 'a.
        Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len_of(n)?) })
    }

    /// A copy of a `bytearray`'s contents (`TypeError` for anything else). A copy, because a
    /// bytearray can be resized by any code that runs.
    pub(crate) fn bytearray_to_vec(self) -> PyResult<Vec<u8>> {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type.
        if unsafe { PyByteArray_Check(self.as_ptr()) } == 0 {
            return Err(super::super::err::type_error(
                self.py(),
                "expected a bytearray",
            ));
        }
        // SAFETY: attached; a bytearray (checked); Size and AsString cannot fail for one and
        // describe its current buffer, copied before any other code runs.
        unsafe {
            let n = len_of(PyByteArray_Size(self.as_ptr()))?;
            let p = PyByteArray_AsString(self.as_ptr());
            if n == 0 {
                return Ok(Vec::new());
            }
            super::super::err::try_copy(self.py(), std::slice::from_raw_parts(p.cast::<u8>(), n))
        }
    }

    /// A `str`'s text (`TypeError` for anything else, `UnicodeEncodeError` when it holds
    /// lone surrogates: see [`Self::str_surrogatepass`]). CPython caches the UTF-8 inside
    /// the immutable object, so the text is valid as long as the object.
    #[inline]
    pub(crate) fn str_utf8(self) -> PyResult<&'a str> {
        let mut n: Py_ssize_t = 0;
        // SAFETY: attached and alive (the `Borrowed` invariant; the call checks it is a str); `n`
        // writable.
        let p = unsafe { PyUnicode_AsUTF8AndSize(self.as_ptr(), &mut n) };
        if p.is_null() {
            return Err(PyErrSet);
        }
        // SAFETY: CPython guarantees `n` bytes of valid UTF-8 at `p`, cached in the object,
        // alive for 'a.
        Ok(unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.cast::<u8>(), len_of(n)?))
        })
    }

    /// A `str` as UTF-8 `bytes` with lone surrogates kept (`surrogatepass`).
    pub(crate) fn str_surrogatepass(self) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant; TypeError unless a str);
        // NUL-terminated names.
        unsafe {
            Owned::from_new(
                self.py(),
                PyUnicode_AsEncodedString(
                    self.as_ptr(),
                    c"utf-8".as_ptr(),
                    c"surrogatepass".as_ptr(),
                ),
            )
        }
    }

    /// `len(t)` for a `tuple` (`TypeError` for anything else).
    #[inline]
    pub(crate) fn tuple_len(self) -> PyResult<usize> {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type's flags.
        if unsafe { PyTuple_Check(self.as_ptr()) } == 0 {
            return Err(super::super::err::type_error(self.py(), "expected a tuple"));
        }
        // SAFETY: a tuple (checked): reads its size field.
        Ok(unsafe { PyTuple_GET_SIZE(self.as_ptr()) } as usize)
    }

    /// `t[i]` for a `tuple` (`TypeError`/`IndexError` otherwise). A tuple never changes,
    /// so the item lives as long as the tuple.
    #[inline]
    pub(crate) fn tuple_get(self, i: usize) -> PyResult<Borrowed<'a, 'py>> {
        if i >= self.tuple_len()? {
            return Err(index_error(self.py()));
        }
        // SAFETY: a tuple (checked by `tuple_len`) and `i` below its size.
        let p = unsafe { PyTuple_GET_ITEM(self.as_ptr(), i as Py_ssize_t) };
        if p.is_null() {
            return Err(unfilled(self.py()));
        }
        // SAFETY: non-NULL, owned by the immutable tuple, which lives for 'a.
        Ok(unsafe { Borrowed::from_ptr(self.py(), p) })
    }

    /// `len(l)` for a `list` (`TypeError` for anything else).
    #[inline]
    pub(crate) fn list_len(self) -> PyResult<usize> {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type's flags.
        if unsafe { PyList_Check(self.as_ptr()) } == 0 {
            return Err(super::super::err::type_error(self.py(), "expected a list"));
        }
        // SAFETY: a list (checked): reads its current size.
        Ok(unsafe { PyList_GET_SIZE(self.as_ptr()) } as usize)
    }

    /// `l[i]` for a `list`, as a strong reference (the list may change meanwhile).
    #[inline]
    pub(crate) fn list_get(self, i: usize) -> PyResult<Owned<'py>> {
        if i >= self.list_len()? {
            return Err(index_error(self.py()));
        }
        // SAFETY: a list (checked by `list_len`) and `i` below its current size; nothing
        // runs between the check and the read (GIL build, attached).
        let p = unsafe { PyList_GET_ITEM(self.as_ptr(), i as Py_ssize_t) };
        if p.is_null() {
            return Err(unfilled(self.py()));
        }
        // SAFETY: a valid item of the list; the new strong reference keeps it alive however
        // the list changes afterwards.
        Ok(unsafe { Owned::from_borrowed(self.py(), p) })
    }

    /// `list(d.items())` for a `dict`: a snapshot of (key, value) tuples.
    pub(crate) fn dict_items(self) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant); the call checks it is a dict.
        unsafe { Owned::from_new(self.py(), PyDict_Items(self.as_ptr())) }
    }

    /// `d[key] = value` for a `dict`.
    #[inline]
    pub(crate) fn dict_set(self, key: Borrowed<'_, 'py>, value: Borrowed<'_, 'py>) -> PyResult<()> {
        // SAFETY: attached; valid objects; the call checks `self` is a dict.
        if unsafe { PyDict_SetItem(self.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
        Ok(())
    }

    /// `s.add(item)` for a `set`.
    #[inline]
    pub(crate) fn set_add(self, item: Borrowed<'_, 'py>) -> PyResult<()> {
        // SAFETY: attached; valid objects; the call checks `self` is a set.
        if unsafe { PySet_Add(self.as_ptr(), item.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
        Ok(())
    }

    /// `marshal.dumps(obj, version)`.
    pub(crate) fn marshal_dumps(self, version: i32) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant; ValueError if marshal cannot write
        // it).
        unsafe {
            Owned::from_new(
                self.py(),
                PyMarshal_WriteObjectToString(self.as_ptr(), version),
            )
        }
    }

    /// A Python function's closure cells: `None` when it has none, or when this is not a
    /// Python function.
    pub(crate) fn function_closure(self) -> Option<Borrowed<'a, 'py>> {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type.
        if unsafe { PyFunction_Check(self.as_ptr()) } == 0 {
            return None;
        }
        // SAFETY: a function (checked); returns its borrowed closure or NULL.
        let c = unsafe { PyFunction_GetClosure(self.as_ptr()) };
        // SAFETY: reading the address of the None singleton.
        if c.is_null() || c == unsafe { Py_None() } {
            return None;
        }
        // SAFETY: non-NULL; `__closure__` is read-only, so the function (alive for 'a)
        // keeps the tuple alive.
        Some(unsafe { Borrowed::from_ptr(self.py(), c) })
    }
}

/// Raise `IndexError` for an index past a sequence's end.
#[cold]
fn index_error(py: Attached<'_>) -> PyErrSet {
    // SAFETY: PyExc_IndexError is a builtin exception class, valid in every interpreter.
    unsafe { super::super::err::raise(py, PyExc_IndexError, "index out of range") }
}

/// Raise `SystemError` for a slot of a tuple or list that C code has not filled yet.
#[cold]
pub(super) fn unfilled(py: Attached<'_>) -> PyErrSet {
    // SAFETY: PyExc_SystemError is a builtin exception class.
    unsafe {
        super::super::err::raise(
            py,
            PyExc_SystemError,
            "an item of a container under construction",
        )
    }
}
