//! [`Owned`] and [`Borrowed`] references, the [`Attached`] token, and [`PyErrSet`] (what
//! their constructors return when CPython failed).

use std::marker::PhantomData;
use std::ptr::NonNull;

use pyo3_ffi::*;

/// Marker: a Python exception is set on the current thread state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyErrSet;

/// Result of an operation that may leave a Python exception set.
pub(crate) type PyResult<T> = Result<T, PyErrSet>;

/// Proof that the current thread has an attached thread state (it holds its
/// interpreter's GIL). It cannot leave the thread (`!Send`), and its lifetime ends before
/// the thread state is detached.
#[derive(Clone, Copy)]
pub(crate) struct Attached<'py> {
    /// Ties the token to the scope where the thread state is known to be attached, and
    /// makes it `!Send`/`!Sync`.
    _scope: PhantomData<&'py *mut ()>,
}

impl Attached<'_> {
    /// Assert that a thread state is attached.
    ///
    /// # Safety
    ///
    /// The caller must know that the current thread has an attached thread state for the
    /// whole lifetime chosen for the token (e.g. it is inside a C-API callback, or it just
    /// called `PyEval_RestoreThread` and will not detach before the token is gone).
    pub(crate) unsafe fn assume() -> Self {
        // SAFETY: only a cheap consistency check; reading the current tstate is always allowed.
        debug_assert!(unsafe { !PyThreadState_GetUnchecked().is_null() });
        Attached {
            _scope: PhantomData,
        }
    }
}

/// A strong reference to an object of the interpreter that is attached on this thread,
/// valid while the thread state of `'py` stays attached.
///
/// Dropping it releases the reference, so an `Owned` must only be dropped while its own
/// interpreter is attached on the current thread: its lifetime is the [`Attached`] token's
/// it was made under, so it cannot outlive the attached scope (nor be carried into
/// [`detached`](super::detached), whose closure must be `Send`), and it is `!Send`, which
/// keeps it on the thread that created it.
#[derive(Debug)]
pub(crate) struct Owned<'py> {
    /// Never NULL; one strong reference owned by this value.
    ptr: NonNull<PyObject>,
    /// The attach scope; `!Send`/`!Sync` through `Attached`.
    _py: PhantomData<Attached<'py>>,
}

impl<'py> Owned<'py> {
    /// Take ownership of a new reference, turning NULL into `Err(PyErrSet)`.
    ///
    /// # Safety
    ///
    /// `ptr` is NULL with a Python exception set, or a new (owned) reference to a valid
    /// object of the attached interpreter.
    pub(crate) unsafe fn from_new(_py: Attached<'py>, ptr: *mut PyObject) -> PyResult<Self> {
        NonNull::new(ptr)
            .map(|ptr| Owned {
                ptr,
                _py: PhantomData,
            })
            .ok_or(PyErrSet)
    }

    /// Take a new strong reference to a borrowed object.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid, non-NULL object of the attached interpreter.
    pub(crate) unsafe fn from_borrowed(_py: Attached<'py>, ptr: *mut PyObject) -> Self {
        debug_assert!(!ptr.is_null());
        // SAFETY: caller guarantees a valid object and an attached thread state.
        unsafe { Py_INCREF(ptr) };
        Owned {
            // SAFETY: caller guarantees non-NULL.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _py: PhantomData,
        }
    }

    /// The attach token this reference was made under.
    pub(crate) fn py(&self) -> Attached<'py> {
        Attached {
            _scope: PhantomData,
        }
    }

    /// The raw pointer (still owned by `self`).
    pub(crate) fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// Give up ownership and return the raw new reference.
    pub(crate) fn into_raw(self) -> *mut PyObject {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Clone for Owned<'_> {
    fn clone(&self) -> Self {
        // SAFETY: an `Owned` lives within the attached scope of its token ('py) on the
        // thread that made it (`!Send`), so its interpreter is attached: incref is allowed.
        unsafe { Py_INCREF(self.ptr.as_ptr()) };
        Owned {
            ptr: self.ptr,
            _py: PhantomData,
        }
    }
}

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        // SAFETY: see `Clone`: the owning interpreter is attached on this thread for as long
        // as an `Owned` lives ('py), drop included.
        unsafe { Py_DECREF(self.ptr.as_ptr()) };
    }
}

/// A borrowed reference to an object of the attached interpreter, valid for `'a` (the
/// call's arguments, an item of a container the caller holds, an [`Owned`] it borrows
/// from) and only while the thread state of `'py` is attached. `Copy` and `!Send`.
///
/// Safe functions take `Borrowed` instead of a raw `*mut PyObject`: whoever makes one
/// (an entry point, [`Owned::borrow`]) has argued that the object is alive, so the
/// functions that receive it need not trust their caller.
#[derive(Clone, Copy)]
#[repr(transparent)] // the layout of `*mut PyObject`: `Borrowed::slice` relies on it
pub(crate) struct Borrowed<'a, 'py> {
    /// Never NULL; kept alive by someone else for `'a`.
    ptr: NonNull<PyObject>,
    /// The borrow and the attach scope; `!Send`/`!Sync` through `Attached`.
    _life: PhantomData<(&'a PyObject, Attached<'py>)>,
}

impl<'a, 'py> Borrowed<'a, 'py> {
    /// Borrow a raw reference.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid, non-NULL object of the attached interpreter that stays alive for
    /// `'a` (a reference CPython lent to a running entry point, or one held by the caller).
    pub(crate) unsafe fn from_ptr(_py: Attached<'py>, ptr: *mut PyObject) -> Self {
        debug_assert!(!ptr.is_null());
        Borrowed {
            // SAFETY: non-NULL per the caller's duty.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _life: PhantomData,
        }
    }

    /// Borrow `n` raw references stored contiguously (a vectorcall's arguments, a tuple's
    /// items).
    ///
    /// # Safety
    ///
    /// `items` points to `n` valid, non-NULL objects of the attached interpreter that stay
    /// alive, at that place, for `'a` (or `n` is 0).
    pub(crate) unsafe fn slice(
        _py: Attached<'py>,
        items: *const *mut PyObject,
        n: usize,
    ) -> &'a [Borrowed<'a, 'py>] {
        if n == 0 || items.is_null() {
            return &[];
        }
        // SAFETY: `Borrowed` is `repr(transparent)` over a non-NULL pointer, and the caller
        // guarantees `n` non-NULL valid pointers alive for 'a.
        unsafe { std::slice::from_raw_parts(items.cast::<Borrowed<'a, 'py>>(), n) }
    }

    /// The raw pointer (borrowed; do not release it).
    pub(crate) fn as_ptr(self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// The attach token this borrow was made under.
    pub(crate) fn py(self) -> Attached<'py> {
        Attached {
            _scope: PhantomData,
        }
    }

    /// A new strong reference to the same object.
    pub(crate) fn to_owned(self) -> Owned<'py> {
        // SAFETY: valid and alive for 'a (the type's invariant), attached ('py).
        unsafe { Owned::from_borrowed(self.py(), self.as_ptr()) }
    }

    /// Whether both are the same object.
    pub(crate) fn is(self, other: Borrowed<'_, '_>) -> bool {
        self.ptr == other.ptr
    }
}

impl<'py> Owned<'py> {
    /// Borrow this reference for as long as `self` lives.
    pub(crate) fn borrow(&self) -> Borrowed<'_, 'py> {
        // SAFETY: `self` holds a strong reference for as long as the borrow lasts, within
        // the attached scope 'py.
        unsafe { Borrowed::from_ptr(self.py(), self.as_ptr()) }
    }
}
