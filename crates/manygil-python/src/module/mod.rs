//! The `manygil._native` extension module: multi-phase init, per-interpreter state,
//! per-interpreter heap types; importable in every interpreter (own GIL included).
//!
//! - `functions`: the module's functions (interpreter lifecycle, calls, codec helpers).
//! - `pending`: the `PendingCall` heap type (a call running in another interpreter).
//! - `handles`: shared handles (queues, buffers, locks) crossing as `Value::Shared`.
//! - `args`: argument checking helpers.

mod args;
mod blocking;
mod buffer;
mod fork_guard;
mod functions;
pub(crate) mod handles;
mod params;
mod pending;
mod pool_core;
mod queue;
mod sync;
mod sync_barrier;
mod sync_cond;

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::ffi::err::{PyErrSet, PyResult};
use crate::ffi::*;

/// Per-interpreter module state. Every field is a strong reference owned by this
/// interpreter's module object (visited by `traverse`, released by `clear`).
#[repr(C)]
pub(crate) struct ModuleState {
    /// The `PendingCall` heap type of this interpreter (NULL before exec / after clear).
    pub(crate) pending_type: *mut PyObject,
    /// The shared-handle types (Queue, SharedBuffer, Lock, ...) of this interpreter.
    pub(crate) handles: handles::HandleTypes,
}

/// `threading.main_thread().ident` of the process, recorded when the module is first
/// executed in the main interpreter; 0 before. Plain data, no Python object.
static MAIN_THREAD_IDENT: AtomicU64 = AtomicU64::new(0);

/// The user's main script: (file path, module name for `-m`), set from the main
/// interpreter by `manygil` at import. Plain data, no Python object.
static MAIN_SCRIPT: Mutex<(Option<String>, Option<String>)> = Mutex::new((None, None));

pub(crate) fn main_thread_ident() -> u64 {
    MAIN_THREAD_IDENT.load(Ordering::Relaxed)
}

/// Whether other interpreters can load the user's main script.
pub(crate) fn main_script_known() -> bool {
    let s = MAIN_SCRIPT.lock();
    s.0.is_some() || s.1.is_some()
}

pub(crate) fn set_main_script(path: Option<String>, module: Option<String>) {
    *MAIN_SCRIPT.lock() = (path, module);
}

pub(crate) fn main_script() -> (Option<String>, Option<String>) {
    MAIN_SCRIPT.lock().clone()
}

pub(crate) fn is_main_interpreter(_py: Attached<'_>) -> bool {
    // SAFETY: attached; reads runtime state only.
    unsafe { PyInterpreterState_Get() == PyInterpreterState_Main() }
}

/// Run an `extern "C"` entry's body: catch panics (turning them into `SystemError`), and
/// turn `Err(PyErrSet)` into NULL.
pub(crate) fn guard(f: impl FnOnce(Attached<'_>) -> PyResult<Owned>) -> *mut PyObject {
    // SAFETY: every caller is a C-API entry point called by CPython with an attached
    // thread state, which stays attached for the call.
    let py = unsafe { Attached::assume() };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py))) {
        Ok(Ok(obj)) => obj.into_raw(),
        Ok(Err(PyErrSet)) => std::ptr::null_mut(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // SAFETY: attached; SystemError is a builtin class.
            unsafe {
                crate::ffi::err::raise(
                    py,
                    PyExc_SystemError,
                    &format!("manygil internal error: {msg}"),
                )
            };
            std::ptr::null_mut()
        }
    }
}

/// The module state of `module`.
///
/// # Safety
///
/// `module` is a `manygil._native` module object of the attached interpreter.
pub(crate) unsafe fn state<'a>(module: *mut PyObject) -> &'a mut ModuleState {
    // SAFETY: per the caller, the module was created from our definition, whose state is
    // a zero-initialised `ModuleState` of the declared size.
    unsafe { &mut *PyModule_GetState(module).cast::<ModuleState>() }
}

unsafe extern "C" fn module_exec(module: *mut PyObject) -> c_int {
    let r = guard(|py| {
        // SAFETY: CPython calls exec with our freshly created module.
        let st = unsafe { state(module) };
        st.pending_type = pending::create_type(py, module)?.into_raw();
        // SAFETY: attached; a type object we own a reference to; AddType does not steal.
        if unsafe { PyModule_AddType(module, st.pending_type.cast()) } < 0 {
            return Err(PyErrSet);
        }
        st.handles.init(py, module)?;
        let pool_type = pool_core::create_type(py, module)?;
        // SAFETY: attached; a type object we own; AddType does not steal.
        if unsafe { PyModule_AddType(module, pool_type.as_ptr().cast()) } < 0 {
            return Err(PyErrSet);
        }
        functions::add_constants(py, module)?;
        if is_main_interpreter(py) {
            fork_guard::install()?;
        }
        if is_main_interpreter(py) && main_thread_ident() == 0 {
            let main = import_attr(py, c"threading", c"main_thread")?;
            let thread = call(py, &main, &[])?;
            // SAFETY: attached; valid object; attribute name NUL-terminated.
            let ident = unsafe {
                Owned::from_new(
                    py,
                    PyObject_GetAttrString(thread.as_ptr(), c"ident".as_ptr()),
                )?
            };
            // SAFETY: attached; `ident` is an int.
            let v = unsafe { PyLong_AsUnsignedLongLong(ident.as_ptr()) };
            MAIN_THREAD_IDENT.store(v, Ordering::Relaxed);
        }
        Ok(none(py))
    });
    if r.is_null() {
        -1
    } else {
        // SAFETY: `r` is the new reference to None returned above.
        unsafe { Py_DECREF(r) };
        0
    }
}

unsafe extern "C" fn module_traverse(
    module: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: called by the GC with our module; the state may be NULL before exec.
    let st = unsafe { PyModule_GetState(module).cast::<ModuleState>() };
    if st.is_null() {
        return 0;
    }
    // SAFETY: `st` points at our state; visiting a non-NULL owned reference.
    unsafe {
        let t = (*st).pending_type;
        if !t.is_null() {
            let r = visit(t, arg);
            if r != 0 {
                return r;
            }
        }
        (*st).handles.traverse(visit, arg)
    }
}

unsafe extern "C" fn module_clear(module: *mut PyObject) -> c_int {
    // SAFETY: called with our module while its interpreter is attached.
    let st = unsafe { PyModule_GetState(module).cast::<ModuleState>() };
    if !st.is_null() {
        // SAFETY: `st` is our state; Py_CLEAR-like release of the owned reference.
        unsafe {
            let t = std::mem::replace(&mut (*st).pending_type, std::ptr::null_mut());
            if !t.is_null() {
                Py_DECREF(t);
            }
            (*st).handles.clear();
        }
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
        m_methods: (&raw mut super::functions::METHODS).cast(),
        m_slots: (&raw mut SLOTS).cast(),
        m_traverse: Some(module_traverse),
        m_clear: Some(module_clear),
        m_free: Some(module_free),
    };

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

    pyo3_ffi::PyABIInfo_VAR!(ABI_INFO);

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
        PySlot_STATIC_DATA(Py_mod_methods, (&raw mut super::functions::METHODS).cast()),
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

    /// Module entry point for CPython 3.15+ (PEP 793).
    #[allow(unreachable_pub)]
    #[allow(non_snake_case)]
    #[no_mangle]
    pub unsafe extern "C" fn PyModExport__native() -> *mut PySlot {
        // SAFETY: the slot array is static data that CPython only reads.
        unsafe { (&raw mut SLOTS).cast() }
    }
}
