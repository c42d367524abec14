//! The one way to make a native type: every type of the module is a heap type made for
//! one interpreter's module ([`make_type`]), whose instances have one layout
//! ([`BoxObject`]: the object header and an owned `Box<T>`), are created by
//! [`new_instance`] and freed by [`dealloc`].

use std::ffi::{c_int, c_void, CStr};

use super::err::PyResult;
use super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// Instance layout of every native type: the header and one owned value.
#[repr(C)]
pub(crate) struct BoxObject<T> {
    /// The object header.
    ob_base: PyObject,
    /// `Box::into_raw` of the value; NULL only between allocation and [`new_instance`]
    /// setting it, and after [`dealloc`].
    value: *mut T,
}

/// What makes one native type.
pub(crate) struct TypeSpec<'a> {
    /// The qualified name (`manygil.Lock`, `manygil._native.PoolCore`).
    pub(crate) name: &'static CStr,
    /// The type's `tp_dealloc`: a one-line function calling [`dealloc`] for its `T`.
    pub(crate) dealloc: destructor,
    /// Whether Python code may call the type to make instances (else only Rust does).
    pub(crate) instantiable: bool,
    /// Every other slot (`Py_tp_new`, `Py_tp_methods`, `Py_tp_doc`, ...); static data.
    pub(crate) slots: &'a [PyType_Slot],
}

/// A type slot (for [`TypeSpec::slots`]).
pub(crate) fn slot(slot: c_int, pfunc: *mut c_void) -> PyType_Slot {
    PyType_Slot { slot, pfunc }
}

/// Build the heap type described by `spec`, with instances of layout `BoxObject<T>`, for
/// `module` (an immutable, final type: no subclasses, no attribute changes).
///
/// # Safety
///
/// `module` is this interpreter's `manygil._native` module; every pointer in `spec.slots`
/// is valid for its slot and points to static data or functions; `spec.dealloc` frees
/// instances as `BoxObject<T>` (calls [`dealloc::<T>`]).
pub(crate) unsafe fn make_type<'py, T>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    spec: TypeSpec<'_>,
) -> PyResult<Owned<'py>> {
    let mut slots = Vec::with_capacity(spec.slots.len() + 2);
    slots.push(slot(Py_tp_dealloc, spec.dealloc as *mut c_void));
    slots.extend(spec.slots.iter().map(|s| slot(s.slot, s.pfunc)));
    slots.push(slot(0, std::ptr::null_mut()));
    let mut flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE;
    if !spec.instantiable {
        flags |= Py_TPFLAGS_DISALLOW_INSTANTIATION;
    }
    let mut type_spec = PyType_Spec {
        name: spec.name.as_ptr(),
        basicsize: std::mem::size_of::<BoxObject<T>>() as c_int,
        itemsize: 0,
        flags: flags as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached (py); `module` is ours; the spec and slot array outlive the call
    // (CPython copies what it keeps); what the slots point to is static (caller's duty).
    unsafe {
        Owned::from_new(
            py,
            PyType_FromModuleAndSpec(module.as_ptr(), &mut type_spec, std::ptr::null_mut()),
        )
    }
}

/// A new instance of `tp` holding `value`.
///
/// # Safety
///
/// `tp` was made by [`make_type::<T>`] (or is a `tp_new` subtype argument of such a type,
/// the same type since they are final).
pub(crate) unsafe fn new_instance<'py, T>(
    py: Attached<'py>,
    tp: *mut PyTypeObject,
    value: T,
) -> PyResult<Owned<'py>> {
    // SAFETY: attached; a heap type of ours; GenericAlloc zero-fills and increfs the type.
    let obj = unsafe { Owned::from_new(py, PyType_GenericAlloc(tp, 0))? };
    // SAFETY: a fresh BoxObject<T> (caller's duty) whose `value` we own.
    unsafe { (*obj.as_ptr().cast::<BoxObject<T>>()).value = Box::into_raw(Box::new(value)) };
    Ok(obj)
}

/// The value of an instance, borrowed for as long as the instance is.
///
/// # Safety
///
/// `obj` is an instance of a type made by [`make_type::<T>`], created by
/// [`new_instance`].
pub(crate) unsafe fn value_of<'a, T>(obj: Borrowed<'a, '_>) -> &'a T {
    // SAFETY: per the caller, a BoxObject<T> whose value was set by `new_instance`; it is
    // only freed by `dealloc`, after the last reference (`obj` holds one for 'a) is gone.
    unsafe { &*(*obj.as_ptr().cast::<BoxObject<T>>()).value }
}

/// Whether `obj`'s type frees its instances with `dealloc_fn` (identifies the types made
/// with that `TypeSpec::dealloc`).
pub(crate) fn has_dealloc(obj: Borrowed<'_, '_>, dealloc_fn: destructor) -> bool {
    // SAFETY: a valid object, so its type is a valid type object.
    let d = unsafe { (*obj.type_ptr()).tp_dealloc };
    d.map(|f| f as usize) == Some(dealloc_fn as usize)
}

/// Free an instance of `BoxObject<T>`: drop its value, free its memory and release its
/// type (heap types are referenced by their instances). The body of every `tp_dealloc`.
///
/// # Safety
///
/// Called by CPython as `tp_dealloc` (once, attached, when the refcount reached zero) of
/// a type made by [`make_type::<T>`].
pub(crate) unsafe fn dealloc<T>(slf: *mut PyObject) {
    // SAFETY: per the caller: a BoxObject<T> no one references any more.
    unsafe {
        let tp = Py_TYPE(slf);
        let value = std::mem::replace(
            &mut (*slf.cast::<BoxObject<T>>()).value,
            std::ptr::null_mut(),
        );
        if !value.is_null() {
            // A panic in a value's Drop would unwind into CPython: catch and report it.
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                drop(Box::from_raw(value));
            }));
            if dropped.is_err() {
                eprintln!("manygil: internal error: a panic while freeing a native object");
            }
        }
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(slf.cast());
        Py_DECREF(tp.cast());
    }
}

/// Define a native type whose instances hold one Rust value `T` (`PoolCore`, `CacheCore`,
/// `PendingCall`; the handle types have their own `handle_type!` over [`make_type`]):
///
/// ```text
/// native_type! {
///     name: c"manygil._native.CacheCore",
///     value: CacheBox,
///     new: cache_new,                  // fn(py, &Call) -> PyResult<CacheBox>; omitted: not callable
///     methods: [ args c"get" => c_get(get), c"get($self, key, default, /)\n--\n\n..."; ],
/// }
/// ```
///
/// It makes the method table (rows as in `methods!`, whose bodies may take `&T` as self),
/// `pub(crate) fn create_type(py, module)`, the type's `tp_dealloc` and `tp_new`, and
/// `impl FromSelf for &T`, which checks that `self` is an instance of this type (by its
/// `tp_dealloc`) before reading its value.
macro_rules! native_type {
    (
        name: $name:literal,
        value: $t:ty,
        $(new: $new:path,)?
        methods: [ $($rows:tt)* ],
    ) => {
        /// Create the type for `module`'s interpreter.
        pub(crate) fn create_type<'py>(
            py: $crate::ffi::Attached<'py>,
            module: $crate::ffi::Borrowed<'_, 'py>,
        ) -> $crate::ffi::err::PyResult<$crate::ffi::Owned<'py>> {
            use $crate::ffi::types::slot;
            let spec = $crate::ffi::types::TypeSpec {
                name: $name,
                dealloc: type_dealloc,
                instantiable: $crate::ffi::types::native_type!(@given $($new)?),
                slots: &[
                    $(slot($crate::ffi::raw::Py_tp_new, $crate::ffi::types::native_type!(@new $new) as *mut std::ffi::c_void),)?
                    slot($crate::ffi::raw::Py_tp_methods, (&raw mut TYPE_METHODS).cast()),
                ],
            };
            // SAFETY: `module` is ours (called at module exec); the method table is static;
            // `type_dealloc` frees `BoxObject<T>` instances.
            unsafe { $crate::ffi::types::make_type::<$t>(py, module, spec) }
        }

        unsafe extern "C" fn type_dealloc(slf: *mut $crate::ffi::raw::PyObject) {
            // SAFETY: CPython's tp_dealloc of the type made by `create_type` above.
            unsafe { $crate::ffi::types::dealloc::<$t>(slf) }
        }

        impl<'a, 'py> $crate::ffi::entry::FromSelf<'a, 'py> for &'a $t {
            fn from_self(
                py: $crate::ffi::Attached<'py>,
                slf: $crate::ffi::Borrowed<'a, 'py>,
            ) -> $crate::ffi::err::PyResult<Self> {
                if !$crate::ffi::types::has_dealloc(slf, type_dealloc) {
                    return Err($crate::ffi::entry::wrong_type(py, $name, slf));
                }
                // SAFETY: an instance of the type made by `create_type` (only it frees its
                // instances with `type_dealloc`), so made by `new_instance::<T>`.
                Ok(unsafe { $crate::ffi::types::value_of::<$t>(slf) })
            }
        }

        $crate::ffi::entry::methods! {
            /// The methods of the type (static C data; CPython only reads it).
            static TYPE_METHODS = [ $($rows)* ];
        }

        $(
            $crate::ffi::entry::kw_new!(type_new => value_new);

            fn value_new<'py>(
                py: $crate::ffi::Attached<'py>,
                subtype: *mut $crate::ffi::raw::PyTypeObject,
                call: &$crate::ffi::args::Call<'_, 'py>,
            ) -> $crate::ffi::err::PyResult<$crate::ffi::Owned<'py>> {
                let value: $t = $new(py, call)?;
                // SAFETY: `subtype` is the type made by `create_type` (CPython calls the
                // tp_new of the type being called, and the type is final).
                unsafe { $crate::ffi::types::new_instance(py, subtype, value) }
            }
        )?
    };
    (@new $new:path) => {
        type_new
    };
    (@given) => {
        false
    };
    (@given $new:path) => {
        true
    };
}
pub(crate) use native_type;
