//! The one object layout of every handle type, and the one way to build a handle type:
//! [`make_type`] gives the common slots (dealloc, compare, hash, repr) plus a type's own.

use std::ffi::{c_int, c_void, CStr};

use crate::ffi::entry::{guard, guard_c};
use crate::ffi::err::PyResult;
use crate::ffi::types::{self, slot, TypeSpec};
use crate::ffi::*;

use super::{this, Handle};

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

/// Build a handle type (instances hold a [`Handle`]): the common slots (dealloc, compare,
/// hash, repr) plus those of `def`, whose tables are static.
pub(crate) fn make_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    def: TypeDef<'_>,
) -> PyResult<Owned<'py>> {
    let TypeDef {
        name,
        doc,
        new,
        methods,
        getset,
        extra,
    } = def;
    let mut slots = vec![
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
    let spec = TypeSpec {
        name,
        dealloc: handle_dealloc,
        instantiable: true,
        slots: &slots,
    };
    // SAFETY: `module` is ours (every caller is a type's `create_type`, called at module
    // exec); the slots point to static tables and to functions of this file or of the
    // handle type; `handle_dealloc` frees `BoxObject<Handle>` instances.
    unsafe { types::make_type::<Handle>(py, module, spec) }
}

/// A new instance of handle type `tp` around `handle`.
///
/// # Safety
///
/// `tp` is one of this interpreter's handle types (or a `tp_new` subtype argument, which
/// is the same since the types are final).
pub(crate) unsafe fn new_object<'py>(
    py: Attached<'py>,
    tp: *mut PyTypeObject,
    handle: Handle,
) -> PyResult<Owned<'py>> {
    // SAFETY: a type made by `make_type`, i.e. by `types::make_type::<Handle>`.
    unsafe { types::new_instance(py, tp, handle) }
}

/// The handle inside `obj`, if `obj` is a handle object; borrowed for as long as `obj` is.
pub(crate) fn handle_of<'a>(obj: Borrowed<'a, '_>) -> Option<&'a Handle> {
    // Handle types, and only they, free their instances with `handle_dealloc`.
    if !types::has_dealloc(obj, handle_dealloc) {
        return None;
    }
    // SAFETY: an instance of a handle type (checked above), made by `new_object`.
    Some(unsafe { types::value_of::<Handle>(obj) })
}

unsafe extern "C" fn handle_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython's tp_dealloc of the handle types, made by `make_type`.
    unsafe { types::dealloc::<Handle>(slf) }
}

unsafe extern "C" fn handle_richcompare(
    slf: *mut PyObject,
    other: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    guard(|py| {
        // SAFETY: both are the objects CPython is comparing, alive for the call.
        let (slf, other) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, other)) };
        let (a, b) = (handle_of(slf), handle_of(other));
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(not_implemented(py));
        };
        let same = a.kind() == b.kind() && a.identity() == b.identity();
        if op == Py_EQ {
            Ok(boolean(py, same))
        } else if op == Py_NE {
            Ok(boolean(py, !same))
        } else {
            Ok(not_implemented(py))
        }
    })
}

unsafe extern "C" fn handle_hash(slf: *mut PyObject) -> Py_hash_t {
    guard_c(-1, |py| {
        // SAFETY: the object CPython is hashing, alive for the call.
        let h = this(py, unsafe { Borrowed::from_ptr(py, slf) })?;
        Ok(hash_address(h.identity().0))
    })
}

unsafe extern "C" fn handle_repr(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        // SAFETY: the object CPython is getting the repr of, alive for the call.
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        let h = this(py, slf)?;
        // SAFETY: tp_name is a NUL-terminated string owned by the type.
        let name = unsafe { CStr::from_ptr((*slf.type_ptr()).tp_name) }.to_string_lossy();
        new_str(py, &h.describe(&name))
    })
}
