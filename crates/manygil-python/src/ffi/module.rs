//! Module objects: their state, what module exec adds to them, and [`StateRef`], the strong
//! references a module state holds.

use std::ffi::{c_int, c_void, CStr};

use super::err::{PyErrSet, PyResult};
use super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// A strong reference held by a module state: NULL (empty) or owned by the state. The
/// module state is zero-initialised memory, which is a valid empty `StateRef`.
#[repr(transparent)]
#[derive(Debug)]
pub(crate) struct StateRef(*mut PyObject);

impl StateRef {
    /// Hold `obj`, releasing what was held before.
    pub(crate) fn set<'py>(&mut self, obj: Owned<'py>) {
        let old = std::mem::replace(&mut self.0, obj.into_raw());
        if !old.is_null() {
            // SAFETY: a reference the state owned. An `Owned` exists only where its
            // interpreter (the module's: states are filled with their own objects) is
            // attached, so releasing is allowed.
            unsafe { Py_DECREF(old) };
        }
    }

    /// The object, borrowed from the state (`None` when empty).
    pub(crate) fn get<'a, 'py>(&'a self, py: Attached<'py>) -> Option<Borrowed<'a, 'py>> {
        // SAFETY: NULL or a strong reference the state keeps for as long as `self` lives.
        (!self.0.is_null()).then(|| unsafe { Borrowed::from_ptr(py, self.0) })
    }

    /// The raw pointer (NULL when empty), still owned by the state.
    pub(crate) fn as_ptr(&self) -> *mut PyObject {
        self.0
    }

    /// Release the reference (module clear/free; `py` is the module's interpreter's).
    pub(crate) fn clear(&mut self, py: Attached<'_>) {
        let old = std::mem::replace(&mut self.0, std::ptr::null_mut());
        if !old.is_null() {
            // SAFETY: a reference the state owned, handed to an `Owned` that releases it
            // as it drops (attached: py).
            drop(unsafe { Owned::from_new(py, old) });
        }
    }

    /// Report the reference to the garbage collector (`tp_traverse` of the module state).
    ///
    /// # Safety
    ///
    /// `visit`/`arg` are what CPython passed to the running traverse.
    pub(crate) unsafe fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        if self.0.is_null() {
            return 0;
        }
        // SAFETY: a strong reference the state owns; per the caller's duty.
        unsafe { visit(self.0, arg) }
    }
}

/// A strong reference held by a module state and filled through a shared reference (for
/// parts filled lazily, while Python code that runs meanwhile may reach the state again):
/// NULL (empty) or owned by the state. Zero-initialised memory is a valid empty value.
/// Only touched with the module's interpreter attached (an `Owned` or `Attached` proves it).
#[repr(transparent)]
#[derive(Debug)]
pub(crate) struct StateCell(std::cell::Cell<*mut PyObject>);

impl StateCell {
    /// Hold `obj`, releasing what was held before.
    pub(crate) fn set(&self, obj: Owned<'_>) {
        let old = self.0.replace(obj.into_raw());
        if !old.is_null() {
            // SAFETY: a reference the state owned, no longer reachable from it. An `Owned`
            // exists only where its interpreter (the module's: states are filled with
            // their own objects) is attached, so releasing is allowed.
            unsafe { Py_DECREF(old) };
        }
    }

    /// A new reference to the object (`None` when empty).
    pub(crate) fn get<'py>(&self, py: Attached<'py>) -> Option<Owned<'py>> {
        let p = self.0.get();
        // SAFETY: NULL or a strong reference the state owns (alive now); a new reference
        // is taken, so a later `set` cannot invalidate it.
        (!p.is_null()).then(|| unsafe { Owned::from_borrowed(py, p) })
    }

    /// Release the reference (module clear/free).
    pub(crate) fn clear(&self, py: Attached<'_>) {
        let old = self.0.replace(std::ptr::null_mut());
        if !old.is_null() {
            // SAFETY: a strong reference the state owned, handed to an `Owned` that
            // releases it as it drops (attached: py).
            drop(unsafe { Owned::from_new(py, old) });
        }
    }

    /// Report the reference to the garbage collector (`tp_traverse` of the module state).
    ///
    /// # Safety
    ///
    /// `visit`/`arg` are what CPython passed to the running traverse.
    pub(crate) unsafe fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let p = self.0.get();
        if p.is_null() {
            return 0;
        }
        // SAFETY: a strong reference the state owns; per the caller's duty.
        unsafe { visit(p, arg) }
    }
}

/// The state of `module`.
///
/// # Safety
///
/// `module` is a module created from a definition whose state is a `T` (zero-initialised
/// at creation), alive while the result is used.
pub(crate) unsafe fn state_ptr<T>(module: *mut PyObject) -> *mut T {
    // SAFETY: per the caller, a module with a state of type T.
    unsafe { PyModule_GetState(module).cast::<T>() }
}

/// What identifies the kind of a module with a state: its definition (`Some(NULL)` for a
/// module made without one, as 3.15's slot-based export makes them), or `None` for an object
/// that is not a module or a module without a state. Any exception this raises is cleared.
pub(crate) fn stateful_definition(
    py: Attached<'_>,
    module: Borrowed<'_, '_>,
) -> Option<*mut PyModuleDef> {
    if !module.is_instance(&raw mut PyModule_Type) {
        return None;
    }
    // SAFETY: attached; a module object; reads its state pointer (NULL without a state).
    if unsafe { PyModule_GetState(module.as_ptr()) }.is_null() {
        super::err::clear(py);
        return None;
    }
    // SAFETY: attached; a module object; reads its `md_def` (NULL without one).
    let def = unsafe { PyModule_GetDef(module.as_ptr()) };
    if def.is_null() {
        super::err::clear(py);
    }
    Some(def)
}

/// Add type `tp` to `module` under its short name.
pub(crate) fn add_type(module: Borrowed<'_, '_>, tp: Borrowed<'_, '_>) -> PyResult<()> {
    debug_assert!(tp.is_instance(&raw mut PyType_Type));
    // SAFETY: attached (the borrows' token); a module and a type object (every caller
    // passes one it just made); AddType does not steal.
    check(unsafe { PyModule_AddType(module.as_ptr(), tp.as_ptr().cast()) })
}

/// `module.name = obj`.
pub(crate) fn add_object(
    module: Borrowed<'_, '_>,
    name: &CStr,
    obj: Borrowed<'_, '_>,
) -> PyResult<()> {
    // SAFETY: attached; valid objects; NUL-terminated name; AddObjectRef does not steal.
    check(unsafe { PyModule_AddObjectRef(module.as_ptr(), name.as_ptr(), obj.as_ptr()) })
}

/// `module.name = value` for an int constant.
pub(crate) fn add_int(module: Borrowed<'_, '_>, name: &CStr, value: i64) -> PyResult<()> {
    // SAFETY: attached; a module; NUL-terminated name.
    check(unsafe { PyModule_AddIntConstant(module.as_ptr(), name.as_ptr(), value as _) })
}

/// Add the functions of a method table to `module`.
///
/// # Safety
///
/// `table` is a static, zero-terminated method table whose entries are valid.
pub(crate) unsafe fn add_functions(
    module: Borrowed<'_, '_>,
    table: *mut PyMethodDef,
) -> PyResult<()> {
    // SAFETY: attached; a module; the table per the caller's duty (CPython only reads it).
    check(unsafe { PyModule_AddFunctions(module.as_ptr(), table) })
}

fn check(r: c_int) -> PyResult<()> {
    if r < 0 {
        Err(PyErrSet)
    } else {
        Ok(())
    }
}

/// Define the extension module: its definition (3.13/3.14: a `PyModuleDef` with
/// multi-phase init, PEP 489; 3.15+: a slot array, PEP 793), the entry point CPython looks
/// up (`PyInit_<name>` / `PyModExport_<name>`), and `make_embedded`, which makes the module
/// in a program that embeds CPython. The module declares per-interpreter GIL support and
/// no need of the GIL, and keeps `$state` as its zero-initialised module state.
///
/// The slot functions are checked against the signatures CPython calls them with, so the
/// casts to `void *` the C definitions need are made here only.
macro_rules! module_def {
    (
        name: $name:literal,
        doc: $doc:literal,
        state: $state:ty,
        methods: $methods:path,
        exec: $exec:path,
        traverse: $traverse:path,
        clear: $clear:path,
        free: $free:path,
        init: $init:ident,
        export: $export:ident $(,)?
    ) => {
        const _: unsafe extern "C" fn(*mut ::pyo3_ffi::PyObject) -> ::std::ffi::c_int = $exec;
        const _: ::pyo3_ffi::traverseproc = $traverse;
        const _: ::pyo3_ffi::inquiry = $clear;
        const _: ::pyo3_ffi::freefunc = $free;

        #[cfg(not(Py_3_15))]
        mod module_def {
            use std::ffi::c_void;

            use ::pyo3_ffi::*;

            use $crate::ffi::err::PyResult;
            use $crate::ffi::{Attached, Owned};

            static mut SLOTS: [PyModuleDef_Slot; 4] = [
                PyModuleDef_Slot {
                    slot: Py_mod_exec,
                    value: $exec as *mut c_void,
                },
                PyModuleDef_Slot {
                    slot: Py_mod_multiple_interpreters,
                    value: Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
                },
                PyModuleDef_Slot {
                    slot: Py_mod_gil,
                    value: Py_MOD_GIL_NOT_USED,
                },
                PyModuleDef_Slot {
                    slot: 0,
                    value: std::ptr::null_mut(),
                },
            ];

            static mut MODULE_DEF: PyModuleDef = PyModuleDef {
                m_base: PyModuleDef_HEAD_INIT,
                m_name: $name.as_ptr(),
                m_doc: $doc.as_ptr(),
                m_size: std::mem::size_of::<$state>() as Py_ssize_t,
                m_methods: (&raw mut $methods).cast(),
                m_slots: (&raw mut SLOTS).cast(),
                m_traverse: Some($traverse),
                m_clear: Some($clear),
                m_free: Some($free),
            };

            /// The module made from this definition, in a program that embeds CPython.
            pub(crate) fn make_embedded(py: Attached<'_>) -> PyResult<Owned<'_>> {
                // SAFETY: the definition is static data, alive for the whole process.
                unsafe { $crate::ffi::embed::module_from_def(py, &raw mut MODULE_DEF, $name) }
            }

            /// Module entry point (multi-phase init) for CPython 3.13 and 3.14.
            #[allow(unreachable_pub)]
            #[allow(non_snake_case)]
            #[no_mangle]
            pub unsafe extern "C" fn $init() -> *mut PyObject {
                // SAFETY: the definition is static data that CPython only reads (it fills
                // in the base's index once, under its import lock).
                unsafe { PyModuleDef_Init(&raw mut MODULE_DEF) }
            }
        }

        #[cfg(Py_3_15)]
        mod module_def {
            use std::ffi::c_void;

            use ::pyo3_ffi::*;

            use $crate::ffi::err::PyResult;
            use $crate::ffi::{Attached, Owned};

            ::pyo3_ffi::PyABIInfo_VAR!(ABI_INFO);

            static mut SLOTS: [PySlot; 12] = [
                PySlot_STATIC_DATA(Py_mod_abi, (&raw mut ABI_INFO).cast()),
                PySlot_STATIC_DATA(Py_mod_name, $name.as_ptr() as *mut c_void),
                PySlot_STATIC_DATA(Py_mod_doc, $doc.as_ptr() as *mut c_void),
                PySlot_SIZE(
                    Py_mod_state_size,
                    std::mem::size_of::<$state>() as Py_ssize_t,
                ),
                PySlot_STATIC_DATA(Py_mod_methods, (&raw mut $methods).cast()),
                // SAFETY: function pointers of the signatures these slots expect (checked
                // by the `const _` items of the macro).
                unsafe { PySlot_FUNC(Py_mod_state_traverse, $traverse as *mut c_void) },
                // SAFETY: as above.
                unsafe { PySlot_FUNC(Py_mod_state_clear, $clear as *mut c_void) },
                // SAFETY: as above.
                unsafe { PySlot_FUNC(Py_mod_state_free, $free as *mut c_void) },
                // SAFETY: as above.
                unsafe { PySlot_FUNC(Py_mod_exec, $exec as *mut c_void) },
                PySlot_DATA(
                    Py_mod_multiple_interpreters,
                    Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
                ),
                PySlot_DATA(Py_mod_gil, Py_MOD_GIL_NOT_USED),
                PySlot_END(),
            ];

            /// The module made from these slots, in a program that embeds CPython.
            pub(crate) fn make_embedded(py: Attached<'_>) -> PyResult<Owned<'_>> {
                // SAFETY: the slot array is static data, alive for the whole process.
                unsafe { $crate::ffi::embed::module_from_slots(py, (&raw mut SLOTS).cast(), $name) }
            }

            /// Module entry point for CPython 3.15+ (PEP 793).
            #[allow(unreachable_pub)]
            #[allow(non_snake_case)]
            #[no_mangle]
            pub unsafe extern "C" fn $export() -> *mut PySlot {
                // The slot array is static data that CPython only reads.
                (&raw mut SLOTS).cast()
            }
        }

        pub(crate) use module_def::make_embedded;
    };
}
pub(crate) use module_def;
