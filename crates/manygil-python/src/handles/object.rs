//! The one object layout of every handle type, and the one way to build a handle type:
//! [`make_type`] gives the common slots (dealloc, compare, hash, repr) plus a type's own.

use std::ffi::{c_int, c_void, CStr};

use crate::ffi::entry::{guard, guard_c};
use crate::ffi::err::PyResult;
use crate::ffi::*;

use super::{this, Handle};

/// Instance layout of every handle type.
#[repr(C)]
pub(crate) struct HandleObject {
    /// The object header.
    ob_base: PyObject,
    /// Owned `Box<Handle>`; NULL only between allocation and initialisation, and after
    /// dealloc.
    inner: *mut Handle,
}

/// What makes one handle type besides the common slots.
pub(crate) struct TypeDef<'a> {
    /// `manygil.Name`.
    pub(crate) name: &'static CStr,
    /// The class docstring (with a `__text_signature__` line).
    pub(crate) doc: &'static CStr,
    /// `tp_new`.
    pub(crate) new: newfunc,
    /// A static, zero-terminated method table.
    pub(crate) methods: *mut PyMethodDef,
    /// A static, zero-terminated property table, if any.
    pub(crate) getset: Option<*mut PyGetSetDef>,
    /// Type-specific slots (iteration, buffer protocol, ...).
    pub(crate) extra: &'a [PyType_Slot],
}

/// Build a handle type: the common slots (dealloc, compare, hash, repr) plus those of
/// `def`. The spec and slot array are only read during the call; the tables in `def` are
/// static.
pub(crate) fn make_type(
    py: Attached<'_>,
    module: *mut PyObject,
    def: TypeDef<'_>,
) -> PyResult<Owned> {
    let TypeDef {
        name,
        doc,
        new,
        methods,
        getset,
        extra,
    } = def;
    let slot = |slot: c_int, pfunc: *mut c_void| PyType_Slot { slot, pfunc };
    let mut slots = vec![
        slot(Py_tp_dealloc, handle_dealloc as *mut c_void),
        slot(Py_tp_richcompare, handle_richcompare as *mut c_void),
        slot(Py_tp_hash, handle_hash as *mut c_void),
        slot(Py_tp_repr, handle_repr as *mut c_void),
        slot(Py_tp_doc, doc.as_ptr() as *mut c_void),
        slot(Py_tp_new, new as *mut c_void),
        slot(Py_tp_methods, methods.cast()),
    ];
    if let Some(g) = getset {
        slots.push(slot(Py_tp_getset, g.cast()));
    }
    slots.extend(extra.iter().map(|s| slot(s.slot, s.pfunc)));
    slots.push(slot(0, std::ptr::null_mut()));
    let mut spec = PyType_Spec {
        name: name.as_ptr(),
        basicsize: std::mem::size_of::<HandleObject>() as c_int,
        itemsize: 0,
        flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached; `module` is ours; the spec and slots outlive the call (CPython
    // copies what it keeps), methods/getset/doc are static.
    unsafe {
        Owned::from_new(
            py,
            PyType_FromModuleAndSpec(module, &mut spec, std::ptr::null_mut()),
        )
    }
}

/// A new instance of handle type `tp` around `handle`.
///
/// # Safety
///
/// `tp` is one of this interpreter's handle types (or a `tp_new` subtype argument, which
/// is the same since the types are final).
pub(crate) unsafe fn new_object(
    py: Attached<'_>,
    tp: *mut PyTypeObject,
    handle: Handle,
) -> PyResult<Owned> {
    // SAFETY: attached; a handle type; GenericAlloc zero-fills and increfs the heap type.
    let obj = unsafe { Owned::from_new(py, PyType_GenericAlloc(tp, 0))? };
    // SAFETY: a fresh HandleObject whose `inner` we own.
    unsafe { (*obj.as_ptr().cast::<HandleObject>()).inner = Box::into_raw(Box::new(handle)) };
    Ok(obj)
}

/// Whether `obj` is a handle object (see the module docs).
fn is_handle(obj: *mut PyObject) -> bool {
    // SAFETY: `obj` is a valid object, so its type is a valid type object.
    let dealloc = unsafe { (*Py_TYPE(obj)).tp_dealloc };
    dealloc.map(|f| f as usize) == Some(handle_dealloc as destructor as usize)
}

/// The handle inside `obj`, if `obj` is a handle object.
///
/// # Safety
///
/// `obj` is a valid object that stays alive while the result is used.
pub(crate) unsafe fn handle_of<'a>(obj: *mut PyObject) -> Option<&'a Handle> {
    if !is_handle(obj) {
        return None;
    }
    // SAFETY: a HandleObject (checked above); `inner` is set before the object is visible
    // to Python and only freed by dealloc, after the last reference is gone.
    unsafe { (*obj.cast::<HandleObject>()).inner.as_ref() }
}

unsafe extern "C" fn handle_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython calls dealloc once, attached, when the refcount reaches zero.
    unsafe {
        let tp = Py_TYPE(slf);
        let p = std::mem::replace(
            &mut (*slf.cast::<HandleObject>()).inner,
            std::ptr::null_mut(),
        );
        if !p.is_null() {
            // Dropping Rust state only (Arcs); a panic here would abort, none is possible.
            drop(Box::from_raw(p));
        }
        let free = PyType_GetSlot(tp, Py_tp_free);
        let free: freefunc = std::mem::transmute(free);
        free(slf.cast());
        Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn handle_richcompare(
    slf: *mut PyObject,
    other: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: both are valid objects for the call.
        let (a, b) = unsafe { (handle_of(slf), handle_of(other)) };
        let (Some(a), Some(b)) = (a, b) else {
            // SAFETY: NotImplemented is immortal.
            return Ok(unsafe { Owned::from_borrowed(py, Py_NotImplemented()) });
        };
        let same = a.kind() == b.kind() && a.identity() == b.identity();
        if op == Py_EQ {
            Ok(boolean(py, same))
        } else if op == Py_NE {
            Ok(boolean(py, !same))
        } else {
            // SAFETY: NotImplemented is immortal.
            Ok(unsafe { Owned::from_borrowed(py, Py_NotImplemented()) })
        }
    })
}

unsafe extern "C" fn handle_hash(slf: *mut PyObject) -> Py_hash_t {
    guard_c(-1, |py| {
        let h = this(py, slf)?;
        // SAFETY: hashing an address; never fails.
        Ok(unsafe { Py_HashPointer(h.identity().0 as *const c_void) })
    })
}

unsafe extern "C" fn handle_repr(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        let h = this(py, slf)?;
        // SAFETY: tp_name is a NUL-terminated string owned by the type.
        let name = unsafe { CStr::from_ptr((*Py_TYPE(slf)).tp_name) }.to_string_lossy();
        new_str(py, &h.describe(&name))
    })
}
