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
        // SAFETY: alive (the `Borrowed` invariant); `ob_type` of a live object is never
        // NULL, and a type outlives its instances.
        unsafe { Py_TYPE(self.as_ptr()) }
    }

    /// `isinstance(obj, tp)` for a type object `tp` (no `__instancecheck__` involved).
    #[inline]
    pub(crate) fn is_instance(self, tp: *mut PyTypeObject) -> bool {
        // SAFETY: `self` is alive and its interpreter attached (the `Borrowed` invariant);
        // `tp` is a type object (callers pass builtin or our types); the check only walks
        // the MRO.
        unsafe { PyObject_TypeCheck(self.as_ptr(), tp) != 0 }
    }

    /// `callable(obj)`.
    #[inline]
    pub(crate) fn is_callable(self) -> bool {
        // SAFETY: `self` is alive and its interpreter attached (the `Borrowed` invariant);
        // only its type's slots are read.
        unsafe { PyCallable_Check(self.as_ptr()) != 0 }
    }

    /// The current reference count (a hint: other threads of this interpreter cannot run
    /// while we are attached, but the count includes references we hold ourselves).
    #[inline]
    pub(crate) fn refcnt(self) -> isize {
        // SAFETY: `self` is alive (the `Borrowed` invariant); reads its count field only.
        unsafe { Py_REFCNT(self.as_ptr()) }
    }

    /// Whether this is a `slice`.
    #[inline]
    pub(crate) fn is_slice(self) -> bool {
        // SAFETY: `self` is alive (the `Borrowed` invariant); only its type is read.
        unsafe { PySlice_Check(self.as_ptr()) != 0 }
    }

    /// Whether this has `__index__` (an int or an int-like object).
    #[inline]
    pub(crate) fn is_index(self) -> bool {
        // SAFETY: `self` is alive (the `Borrowed` invariant); only its type's slots are
        // read.
        unsafe { PyIndex_Check(self.as_ptr()) != 0 }
    }

    /// `operator.index(obj)`: `TypeError` if it has no `__index__`.
    pub(crate) fn index(self) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant); a new reference or NULL.
        unsafe { Owned::from_new(self.py(), PyNumber_Index(self.as_ptr())) }
    }

    /// `operator.index(obj)` as a `Py_ssize_t`, raising `IndexError` (as sequence indexing
    /// does) if it does not fit, `TypeError` if it has no `__index__`.
    pub(crate) fn index_as_isize(self) -> PyResult<isize> {
        // SAFETY: attached and alive (the `Borrowed` invariant); PyExc_IndexError is a
        // builtin class, valid in every interpreter.
        let i = unsafe { PyNumber_AsSsize_t(self.as_ptr(), PyExc_IndexError) };
        // SAFETY: attached; only reads this thread's error indicator.
        if i == -1 && unsafe { !PyErr_Occurred().is_null() } {
            return Err(PyErrSet);
        }
        Ok(i)
    }

    /// `bytes(obj)`.
    pub(crate) fn bytes(self) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant); a new reference or NULL.
        unsafe { Owned::from_new(self.py(), PyObject_Bytes(self.as_ptr())) }
    }

    /// `tuple(obj)` for an iterable (a snapshot whose items cannot change).
    pub(crate) fn to_tuple(self) -> PyResult<Owned<'py>> {
        // SAFETY: attached and alive (the `Borrowed` invariant); a new reference or NULL.
        unsafe { Owned::from_new(self.py(), PySequence_Tuple(self.as_ptr())) }
    }

    /// `obj.name`.
    #[inline]
    pub(crate) fn get_attr(self, name: &CStr) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; `name` is
        // NUL-terminated; a new reference or NULL.
        unsafe {
            Owned::from_new(
                self.py(),
                PyObject_GetAttrString(self.as_ptr(), name.as_ptr()),
            )
        }
    }

    /// `obj.<name>` for a `str` object `name`.
    #[inline]
    pub(crate) fn get_attr_obj(self, name: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
        // SAFETY: attached; both valid.
        unsafe { Owned::from_new(self.py(), PyObject_GetAttr(self.as_ptr(), name.as_ptr())) }
    }

    /// `obj.name = value`.
    #[inline]
    pub(crate) fn set_attr(self, name: &CStr, value: Borrowed<'_, 'py>) -> PyResult<()> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a (and `value`
        // for its own 'a); NUL-terminated name; the value is not stolen.
        let r = unsafe { PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if r < 0 {
            Err(PyErrSet)
        } else {
            Ok(())
        }
    }

    /// `obj(*args)`.
    #[inline]
    pub(crate) fn call(self, args: &[Borrowed<'_, 'py>]) -> PyResult<Owned<'py>> {
        // SAFETY: attached; `Borrowed` is `repr(transparent)` over a non-NULL
        // `*mut PyObject`, so `args` is an array of valid borrowed references for the call
        // (vectorcall only reads it: no PY_VECTORCALL_ARGUMENTS_OFFSET).
        unsafe {
            Owned::from_new(
                self.py(),
                PyObject_Vectorcall(
                    self.as_ptr(),
                    args.as_ptr().cast::<*mut PyObject>(),
                    args.len(),
                    std::ptr::null_mut(),
                ),
            )
        }
    }

    /// `obj(*args, **kwargs)` for a tuple `args` and a dict (or `None` for no keywords).
    pub(crate) fn call_tuple_dict(
        self,
        args: Borrowed<'_, 'py>,
        kwargs: Option<Borrowed<'_, 'py>>,
    ) -> PyResult<Owned<'py>> {
        let kw = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
        // SAFETY: attached; `args` is a tuple and `kw` a dict or NULL (callers check).
        unsafe { Owned::from_new(self.py(), PyObject_Call(self.as_ptr(), args.as_ptr(), kw)) }
    }

    /// `obj.<name>(*args)` for a `str` object `name` (vectorcall: no bound method made).
    pub(crate) fn call_method(
        self,
        name: Borrowed<'_, 'py>,
        args: &[Borrowed<'_, 'py>],
    ) -> PyResult<Owned<'py>> {
        // The receiver and the arguments, on the stack for the usual few arguments (this
        // delivers every pool result).
        const ON_STACK: usize = 4;
        let mut stack = [std::ptr::null_mut::<PyObject>(); ON_STACK];
        let mut heap = Vec::new();
        let argv: &mut [*mut PyObject] = if args.len() < ON_STACK {
            &mut stack[..=args.len()]
        } else {
            heap.resize(args.len() + 1, std::ptr::null_mut());
            &mut heap
        };
        argv[0] = self.as_ptr();
        for (slot, a) in argv[1..].iter_mut().zip(args) {
            *slot = a.as_ptr();
        }
        // SAFETY: attached; `name` is a str; `argv` holds the receiver and the arguments,
        // valid borrowed references for the call.
        unsafe {
            Owned::from_new(
                self.py(),
                PyObject_VectorcallMethod(
                    name.as_ptr(),
                    argv.as_ptr(),
                    argv.len() | PY_VECTORCALL_ARGUMENTS_OFFSET,
                    std::ptr::null_mut(),
                ),
            )
        }
    }

    /// `bool(obj)`.
    #[inline]
    pub(crate) fn is_true(self) -> PyResult<bool> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; -1 with an
        // exception set on failure.
        match unsafe { PyObject_IsTrue(self.as_ptr()) } {
            -1 => Err(PyErrSet),
            r => Ok(r != 0),
        }
    }

    /// `str(obj)`.
    pub(crate) fn str(self) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; a new
        // reference or NULL.
        unsafe { Owned::from_new(self.py(), PyObject_Str(self.as_ptr())) }
    }

    /// `obj[key]`.
    pub(crate) fn get_item(self, key: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a (and `key`);
        // a new reference or NULL.
        unsafe { Owned::from_new(self.py(), PyObject_GetItem(self.as_ptr(), key.as_ptr())) }
    }

    /// `obj[key] = value`.
    pub(crate) fn set_item(self, key: Borrowed<'_, 'py>, value: Borrowed<'_, 'py>) -> PyResult<()> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a (and `key`,
        // `value`); neither is stolen; -1 with an exception set on failure.
        if unsafe { PyObject_SetItem(self.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
            Err(PyErrSet)
        } else {
            Ok(())
        }
    }

    /// `repr(obj)`.
    pub(crate) fn repr(self) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; a new
        // reference or NULL.
        unsafe { Owned::from_new(self.py(), PyObject_Repr(self.as_ptr())) }
    }

    /// `iter(obj)`.
    pub(crate) fn iter(self) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; a new
        // reference or NULL.
        unsafe { Owned::from_new(self.py(), PyObject_GetIter(self.as_ptr())) }
    }

    /// `next(it)` for an iterator: `Ok(None)` when exhausted (no exception set).
    pub(crate) fn next(self) -> PyResult<Option<Owned<'py>>> {
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

    /// `obj` as a list or tuple (itself if it is one, else `list(obj)`), raising
    /// `TypeError(msg)` if it is not iterable.
    pub(crate) fn to_sequence(self, msg: &CStr) -> PyResult<Owned<'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; `msg` is
        // NUL-terminated; a new reference or NULL.
        unsafe { Owned::from_new(self.py(), PySequence_Fast(self.as_ptr(), msg.as_ptr())) }
    }

    /// The items of a list or tuple (as made by [`Borrowed::to_sequence`]), borrowed from it.
    ///
    /// # Safety
    ///
    /// `self` is a list or tuple, and (if a list) it is not changed while the slice is used:
    /// no Python code that could reach it runs meanwhile.
    pub(crate) unsafe fn sequence_items(self) -> &'a [Borrowed<'a, 'py>] {
        // SAFETY: per the caller, a list or tuple: its items are stored contiguously and
        // are valid, non-NULL, and kept alive by it for as long as it is unchanged.
        unsafe {
            Borrowed::slice(
                self.py(),
                PySequence_Fast_ITEMS(self.as_ptr()),
                PySequence_Fast_GET_SIZE(self.as_ptr()) as usize,
            )
        }
    }

    /// The module a heap type made with `PyType_FromModuleAndSpec` belongs to, for an
    /// instance of such a type (borrowed: the type holds the module, the instance its type).
    pub(crate) fn type_module(self) -> PyResult<Borrowed<'a, 'py>> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a, so its type
        // is alive too; NULL + TypeError if the type is not a heap type with a module.
        let m = unsafe { PyType_GetModule(self.type_ptr()) };
        if m.is_null() {
            return Err(PyErrSet);
        }
        // SAFETY: non-NULL, kept alive by the type, which `self` keeps alive for 'a.
        Ok(unsafe { Borrowed::from_ptr(self.py(), m) })
    }

    /// The items of a tuple (`None` for any other object), borrowed from it: a tuple
    /// never changes, so they stay valid for as long as it lives.
    pub(crate) fn tuple_items(self) -> Option<&'a [Borrowed<'a, 'py>]> {
        if !self.is_instance(&raw mut PyTuple_Type) {
            return None;
        }
        // SAFETY: a tuple (checked above): immutable, items valid for 'a.
        Some(unsafe { self.sequence_items() })
    }

    /// `len(obj)`.
    pub(crate) fn len(self) -> PyResult<usize> {
        // SAFETY: the `Borrowed` invariant: 'py attached, the object alive for 'a; -1 with an
        // exception set on failure.
        let n = unsafe { PyObject_Length(self.as_ptr()) };
        usize::try_from(n).map_err(|_| PyErrSet)
    }

    /// `d.update(other)` for a dict `d` and a mapping `other`.
    pub(crate) fn dict_update(self, other: Borrowed<'_, 'py>) -> PyResult<()> {
        if !self.is_instance(&raw mut PyDict_Type) {
            return Err(super::err::type_error(
                self.py(),
                "dict_update() needs a dict",
            ));
        }
        // SAFETY: attached; `self` is a dict (checked), `other` alive (the `Borrowed` invariant).
        if unsafe { PyDict_Update(self.as_ptr(), other.as_ptr()) } < 0 {
            Err(PyErrSet)
        } else {
            Ok(())
        }
    }
}

impl Borrowed<'_, '_> {
    /// Whether the object is a type (a class).
    #[inline]
    pub(crate) fn is_type(self) -> bool {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type's flags.
        unsafe { PyType_Check(self.as_ptr()) != 0 }
    }

    /// Whether the object is a builtin function or method (implemented in C).
    #[inline]
    pub(crate) fn is_builtin_function(self) -> bool {
        // SAFETY: alive (the `Borrowed` invariant); only reads its type.
        unsafe { PyCFunction_Check(self.as_ptr()) != 0 }
    }
}
