//! The buffer protocol, both ways:
//!
//! - reading another object's bytes: [`BytesView`] holds a contiguous view
//!   (`PyObject_GetBuffer(PyBUF_SIMPLE)`) and releases it on drop;
//! - exporting memory that Rust owns: [`export`] fills a `Py_buffer` (`bf_getbuffer`) and
//!   stores an owner in it, which [`release_export`] drops (`bf_releasebuffer`);
//! - [`memoryview`] of an exporter, and [`ScopedView`], one released (`.release()`) as
//!   soon as it is dropped, so that no export outlives the call that made it.

use std::ffi::c_int;
use std::marker::PhantomData;
use std::sync::Arc;

use super::err::{PyErrSet, PyResult};
use super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// `Py_buffer`, for the signatures of `bf_getbuffer`/`bf_releasebuffer` slots.
pub(crate) use pyo3_ffi::Py_buffer;

/// A contiguous read-only view of another object's bytes (`bytes`, `bytearray`,
/// `memoryview`, `array`, ...), released when dropped. While it is held the exporter keeps
/// the bytes in place (a `bytearray` cannot resize while exported).
pub(crate) struct BytesView<'py> {
    /// Filled by a successful `PyObject_GetBuffer`; released exactly once, in `drop`.
    view: Py_buffer,
    /// Released while attached: dropped within the attach scope `'py` (`!Send`).
    _py: PhantomData<Attached<'py>>,
}

impl<'py> BytesView<'py> {
    /// `PyObject_GetBuffer(obj, PyBUF_SIMPLE)`: `TypeError` if `obj` does not export its
    /// bytes contiguously.
    pub(crate) fn simple(_py: Attached<'py>, obj: Borrowed<'_, 'py>) -> PyResult<Self> {
        // SAFETY: a zeroed Py_buffer is the documented starting state for
        // PyObject_GetBuffer (all fields plain data or NULL pointers).
        let mut view: Py_buffer = unsafe { std::mem::zeroed() };
        // SAFETY: attached ('py); `obj` is alive (the `Borrowed` invariant); PyBUF_SIMPLE
        // asks for contiguous bytes; on failure the view is left unfilled (not released).
        if unsafe { PyObject_GetBuffer(obj.as_ptr(), &mut view, PyBUF_SIMPLE) } < 0 {
            return Err(PyErrSet);
        }
        Ok(BytesView {
            view,
            _py: PhantomData,
        })
    }

    /// The exported bytes, valid while the view is held.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let len = self.view.len as usize;
        if len == 0 {
            return &[]; // an empty view may have any pointer, even NULL
        }
        // SAFETY: the exporter guarantees `len` readable bytes at `buf` while the view is
        // held, and `self` holds it for as long as the returned borrow lives.
        unsafe { std::slice::from_raw_parts(self.view.buf.cast::<u8>(), len) }
    }
}

impl Drop for BytesView<'_> {
    fn drop(&mut self) {
        // SAFETY: a view obtained by `simple`, released once, here; attached: a
        // `BytesView<'py>` cannot leave its attach scope (it is `!Send`, so not even a
        // `detached` closure can take it).
        unsafe { PyBuffer_Release(&mut self.view) };
    }
}

/// Fill `view` as the export of `len` bytes at `ptr` by `exporter`, and store `owner` in
/// it (`view.internal`) until [`release_export`]: the body of a `bf_getbuffer` slot.
/// `BufferError` if a writable view of `readonly` memory is asked (`flags`).
///
/// # Safety
///
/// - `view` is the `Py_buffer` CPython passed to `exporter`'s `bf_getbuffer`, and the
///   type's `bf_releasebuffer` calls [`release_export`] with the same `T`.
/// - `ptr` is valid for reads (and writes unless `readonly`) of `len` bytes for as long as
///   `owner` lives.
pub(crate) unsafe fn export<T: Send + Sync>(
    view: *mut Py_buffer,
    exporter: Borrowed<'_, '_>,
    owner: Arc<T>,
    ptr: *mut u8,
    len: usize,
    readonly: bool,
    flags: c_int,
) -> PyResult<()> {
    // SAFETY: attached and `exporter` alive (the `Borrowed` invariant); `view` per the
    // caller's duty; the memory is valid for `len` bytes while `owner` (stored below) and
    // the exporter (held by view.obj) live.
    let r = unsafe {
        PyBuffer_FillInfo(
            view,
            exporter.as_ptr(),
            ptr.cast(),
            len as Py_ssize_t,
            c_int::from(readonly),
            flags,
        )
    };
    if r < 0 {
        return Err(PyErrSet);
    }
    let keep: Box<Arc<T>> = Box::new(owner);
    // SAFETY: FillInfo succeeded, `view` is ours to annotate until it is released.
    unsafe { (*view).internal = Box::into_raw(keep).cast() };
    Ok(())
}

/// Drop the owner [`export`] stored in `view`: the body of a `bf_releasebuffer` slot.
///
/// # Safety
///
/// `view` is the `Py_buffer` CPython passes to `bf_releasebuffer`, filled by [`export`]
/// with the same `T` (its `internal` is a `Box<Arc<T>>`, or NULL once released).
pub(crate) unsafe fn release_export<T: Send + Sync>(view: *mut Py_buffer) {
    // SAFETY: per the caller's duty `internal` is NULL or the `Box<Arc<T>>` of `export`;
    // it is taken (set to NULL) before the drop, so it is dropped exactly once.
    unsafe {
        let keep = std::mem::replace(&mut (*view).internal, std::ptr::null_mut());
        if !keep.is_null() {
            drop(Box::from_raw(keep.cast::<Arc<T>>()));
        }
    }
}

/// `memoryview(obj)`.
pub(crate) fn memoryview<'py>(py: Attached<'py>, obj: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    // SAFETY: attached (py); `obj` is alive (the `Borrowed` invariant); a new reference or
    // NULL.
    unsafe { Owned::from_new(py, PyMemoryView_FromObject(obj.as_ptr())) }
}

/// `memoryview(obj)`, released (`.release()`) when dropped: the exporter has no view left
/// from it once the caller returns.
pub(crate) struct ScopedView<'py>(Owned<'py>);

impl<'py> ScopedView<'py> {
    /// `memoryview(obj)`.
    pub(crate) fn new(py: Attached<'py>, obj: Borrowed<'_, 'py>) -> PyResult<Self> {
        memoryview(py, obj).map(ScopedView)
    }

    /// The memoryview.
    pub(crate) fn get(&self) -> Borrowed<'_, 'py> {
        self.0.borrow()
    }
}

impl Drop for ScopedView<'_> {
    fn drop(&mut self) {
        // SAFETY: attached: the view is an `Owned<'py>`, which cannot leave its attach
        // scope. A pending exception is set aside around the call and restored;
        // `release()` keeps no reference, and its failure (views still exported from it)
        // is impossible here and only cleared.
        unsafe {
            let pending = PyErr_GetRaisedException();
            let r = PyObject_CallMethod(self.0.as_ptr(), c"release".as_ptr(), std::ptr::null());
            if r.is_null() {
                PyErr_Clear();
            } else {
                Py_DECREF(r);
            }
            if !pending.is_null() {
                PyErr_SetRaisedException(pending);
            }
        }
    }
}
