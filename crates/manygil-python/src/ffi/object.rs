//! Operations on any object, through a [`Borrowed`] reference: identity and type checks,
//! attributes, calls, truth, `repr`/`str`, items and iteration. Each is a thin, inlined
//! wrapper over one C-API call that turns NULL/-1 into `Err(PyErrSet)`.

use std::ffi::CStr;

use super::err::{PyErrSet, PyResult};
use super::owned::{Borrowed, Owned};
use pyo3_ffi::*;

impl<'a, 'py> Borrowed<'a, 'py> {
    /// Whether this is `None`.
    #[inline]
    pub(crate) fn is_none(self) -> bool {
        // SAFETY: reading the address of the None singleton is always allowed.
        self.as_ptr() == unsafe { Py_None() }
    }

    /// The object's type (borrowed; a type outlives its instances).
    #[inline]
    pub(crate) fn type_ptr(self) -> *mut PyTypeObject {
        // SAFETY: a valid object (the type's invariant); `ob_type` is never NULL.
        unsafe { Py_TYPE(self.as_ptr()) }
    }

    /// The current reference count (a hint: other threads of this interpreter cannot run
    /// while we are attached, but the count includes references we hold ourselves).
    #[inline]
    pub(crate) fn refcnt(self) -> isize {
        // SAFETY: valid object.
        unsafe { Py_REFCNT(self.as_ptr()) }
    }

    /// `obj.name`.
    #[inline]
    pub(crate) fn get_attr(self, name: &CStr) -> PyResult<Owned> {
        // SAFETY: attached (self.py()); valid object; `name` is NUL-terminated.
        unsafe {
            Owned::from_new(
                self.py(),
                PyObject_GetAttrString(self.as_ptr(), name.as_ptr()),
            )
        }
    }

    /// `obj.<name>` for a `str` object `name`.
    #[inline]
    pub(crate) fn get_attr_obj(self, name: Borrowed<'_, 'py>) -> PyResult<Owned> {
        // SAFETY: attached; both valid.
        unsafe { Owned::from_new(self.py(), PyObject_GetAttr(self.as_ptr(), name.as_ptr())) }
    }

    /// `obj.name = value`.
    #[inline]
    pub(crate) fn set_attr(self, name: &CStr, value: Borrowed<'_, 'py>) -> PyResult<()> {
        // SAFETY: attached; valid objects; NUL-terminated name.
        let r = unsafe { PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if r < 0 {
            Err(PyErrSet)
        } else {
            Ok(())
        }
    }

    /// `obj(*args)`.
    #[inline]
    pub(crate) fn call(self, args: &[Borrowed<'_, 'py>]) -> PyResult<Owned> {
        // A `Borrowed` is a non-NULL pointer with the layout of `*mut PyObject`, but build
        // the vector explicitly rather than rely on that.
        let mut argv: Vec<*mut PyObject> = args.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: attached; `argv` holds valid borrowed references for the call.
        unsafe {
            Owned::from_new(
                self.py(),
                PyObject_Vectorcall(
                    self.as_ptr(),
                    argv.as_mut_ptr(),
                    argv.len(),
                    std::ptr::null_mut(),
                ),
            )
        }
    }

    /// `repr(obj)`.
    pub(crate) fn repr(self) -> PyResult<Owned> {
        // SAFETY: attached; valid object.
        unsafe { Owned::from_new(self.py(), PyObject_Repr(self.as_ptr())) }
    }

    /// `iter(obj)`.
    pub(crate) fn iter(self) -> PyResult<Owned> {
        // SAFETY: attached; valid object.
        unsafe { Owned::from_new(self.py(), PyObject_GetIter(self.as_ptr())) }
    }

    /// `next(it)` for an iterator: `Ok(None)` when exhausted (no exception set).
    pub(crate) fn next(self) -> PyResult<Option<Owned>> {
        // SAFETY: attached; `self` is an iterator (made by `iter`); NULL means exhausted
        // or failed, told apart by whether an exception is set.
        let item = unsafe { PyIter_Next(self.as_ptr()) };
        if item.is_null() {
            return if super::err::occurred(self.py()) {
                Err(PyErrSet)
            } else {
                Ok(None)
            };
        }
        // SAFETY: a new reference.
        unsafe { Owned::from_new(self.py(), item) }.map(Some)
    }
}

impl Borrowed<'_, '_> {
    /// Whether the object is a type (a class).
    #[inline]
    pub(crate) fn is_type(self) -> bool {
        // SAFETY: a valid object; only reads its type's flags.
        unsafe { PyType_Check(self.as_ptr()) != 0 }
    }

    /// Whether the object is a builtin function or method (implemented in C).
    #[inline]
    pub(crate) fn is_builtin_function(self) -> bool {
        // SAFETY: a valid object; only reads its type.
        unsafe { PyCFunction_Check(self.as_ptr()) != 0 }
    }
}

/// `importlib.import_module(name)`.
pub(crate) fn import_module(py: super::Attached<'_>, name: &CStr) -> PyResult<Owned> {
    // SAFETY: attached (py); NUL-terminated name; returns a new reference or NULL.
    unsafe { Owned::from_new(py, PyImport_ImportModule(name.as_ptr())) }
}
