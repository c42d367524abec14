//! The `manygil._native` extension module: its definition, slots and method table, and
//! `exec`, which builds this interpreter's types into the module state. Everything the
//! functions and types do lives in the layers below (see `lib.rs`).

mod methods;

pub(crate) use export::make_embedded;

use std::ffi::{c_int, c_void};

use crate::ffi::entry::guard_c;
use crate::ffi::err::PyResult;
use crate::ffi::module::add_type;
use crate::ffi::*;
use crate::handles::state::{record_def, state_mut, ModuleState};
use crate::handles::Kind;

/// Each handle kind with the function that makes its type for a module.
const HANDLE_TYPES: [(Kind, crate::handles::MakeType); crate::handles::KINDS] = [
    (Kind::Queue, crate::queue::create_type),
    (Kind::Buffer, crate::handles::buffer::create_type),
    (Kind::Lock, crate::handles::sync::lock::create_type),
    (Kind::RLock, crate::handles::sync::rlock::create_type),
    (
        Kind::Semaphore,
        crate::handles::sync::semaphore::create_type,
    ),
    (
        Kind::BoundedSemaphore,
        crate::handles::sync::bounded_semaphore::create_type,
    ),
    (Kind::Event, crate::handles::sync::event::create_type),
    (
        Kind::Condition,
        crate::handles::sync::condition::create_type,
    ),
    (Kind::Barrier, crate::handles::sync::barrier::create_type),
    (
        Kind::AtomicInt,
        crate::handles::sync::atomic_int::create_type,
    ),
];

unsafe extern "C" fn module_exec(module: *mut PyObject) -> c_int {
    guard_c(-1, |py| {
        // SAFETY: CPython calls exec with our freshly created module, alive for the call;
        // no other reference to its state exists yet.
        let (st, module) = unsafe { (state_mut(module), Borrowed::from_ptr(py, module)) };
        let pending_type = crate::interp::pending::create_type(py, module)?;
        add_type(module, pending_type.borrow())?;
        st.pending_type.set(pending_type);
        record_def(py, module);
        st.init(py, module, &HANDLE_TYPES)?;
        let pool_type = crate::pool::native::create_type(py, module)?;
        add_type(module, pool_type.borrow())?;
        let cache_type = crate::serve::cache::create_type(py, module)?;
        add_type(module, cache_type.borrow())?;
        methods::add_constants(module)?;
        crate::serve::add_functions(module)?;
        if is_main_interpreter(py) {
            crate::interp::fork_guard::install()?;
            crate::interp::datetime_guard::prime(py);
        }
        crate::runtime::main_thread::record(py)?;
        Ok(0)
    })
}

unsafe extern "C" fn module_traverse(
    module: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: called by the GC with our module; the state may be NULL before exec.
    let st = unsafe { crate::ffi::module::state_ptr::<ModuleState>(module) };
    if st.is_null() {
        return 0;
    }
    // SAFETY: `st` points at our state; called by the GC with its visit/arg.
    unsafe { (*st).traverse(visit, arg) }
}

unsafe extern "C" fn module_clear(module: *mut PyObject) -> c_int {
    // SAFETY: called with our module while its interpreter is attached.
    let st = unsafe { crate::ffi::module::state_ptr::<ModuleState>(module) };
    if !st.is_null() {
        // SAFETY: `st` is our state; the interpreter is attached.
        unsafe { (*st).clear() };
    }
    0
}

unsafe extern "C" fn module_free(module: *mut c_void) {
    // SAFETY: same contract as m_clear.
    unsafe { module_clear(module.cast()) };
}

#[cfg(not(Py_3_15))]
mod export {
    use super::*;

    static mut SLOTS: [PyModuleDef_Slot; 4] = [
        PyModuleDef_Slot {
            slot: Py_mod_exec,
            value: module_exec as *mut c_void,
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
        m_name: c"manygil._native".as_ptr(),
        m_doc: c"manygil's native core: own-GIL interpreters, the value codec, shared handles."
            .as_ptr(),
        m_size: std::mem::size_of::<ModuleState>() as Py_ssize_t,
        m_methods: (&raw mut super::methods::METHODS).cast(),
        m_slots: (&raw mut SLOTS).cast(),
        m_traverse: Some(module_traverse),
        m_clear: Some(module_clear),
        m_free: Some(module_free),
    };

    /// The module made from this definition, in a program that embeds CPython.
    pub(crate) fn make_embedded(py: Attached<'_>) -> PyResult<Owned<'_>> {
        // SAFETY: the definition is static data, alive for the whole process.
        unsafe { crate::ffi::embed::module_from_def(py, &raw mut MODULE_DEF, c"manygil._native") }
    }

    /// Module entry point (multi-phase init) for CPython 3.13 and 3.14.
    #[allow(unreachable_pub)]
    #[allow(non_snake_case)]
    #[no_mangle]
    pub unsafe extern "C" fn PyInit__native() -> *mut PyObject {
        // SAFETY: the definition is static data that CPython only reads (it fills in the
        // base's index once, under its import lock).
        unsafe { PyModuleDef_Init(&raw mut MODULE_DEF) }
    }
}

#[cfg(Py_3_15)]
mod export {
    use super::*;

    crate::ffi::PyABIInfo_VAR!(ABI_INFO);

    static mut SLOTS: [PySlot; 12] = [
        PySlot_STATIC_DATA(Py_mod_abi, (&raw mut ABI_INFO).cast()),
        PySlot_STATIC_DATA(Py_mod_name, c"manygil._native".as_ptr() as *mut c_void),
        PySlot_STATIC_DATA(
            Py_mod_doc,
            c"manygil's native core: own-GIL interpreters, the value codec, shared handles."
                .as_ptr() as *mut c_void,
        ),
        PySlot_SIZE(
            Py_mod_state_size,
            std::mem::size_of::<ModuleState>() as Py_ssize_t,
        ),
        PySlot_STATIC_DATA(Py_mod_methods, (&raw mut super::methods::METHODS).cast()),
        // SAFETY: function pointers of the signatures these slots expect.
        unsafe { PySlot_FUNC(Py_mod_state_traverse, module_traverse as *mut c_void) },
        // SAFETY: as above.
        unsafe { PySlot_FUNC(Py_mod_state_clear, module_clear as *mut c_void) },
        // SAFETY: as above.
        unsafe { PySlot_FUNC(Py_mod_state_free, module_free as *mut c_void) },
        // SAFETY: as above.
        unsafe { PySlot_FUNC(Py_mod_exec, module_exec as *mut c_void) },
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
        unsafe {
            crate::ffi::embed::module_from_slots(py, (&raw mut SLOTS).cast(), c"manygil._native")
        }
    }

    /// Module entry point for CPython 3.15+ (PEP 793).
    #[allow(unreachable_pub)]
    #[allow(non_snake_case)]
    #[no_mangle]
    pub unsafe extern "C" fn PyModExport__native() -> *mut PySlot {
        // The slot array is static data that CPython only reads.
        (&raw mut SLOTS).cast()
    }
}
