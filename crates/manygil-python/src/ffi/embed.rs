//! Starting and ending CPython from a Rust program that embeds it (the Rust API's
//! `Runtime`), and making `manygil._native` from the definition linked into that program.

use std::ffi::CStr;
use std::ptr::NonNull;

use pyo3_ffi::*;

use super::err::PyResult;
use super::{Attached, Detached, Owned};

/// The main thread state of a runtime this program initialized, detached. Not `Send`: it
/// is re-attached on the thread that initialized the runtime.
pub(crate) struct MainThreadState {
    /// Detached; the thread state `Py_InitializeEx` made for the initializing thread.
    ts: NonNull<PyThreadState>,
}

/// Initialize CPython on this thread (without Python's own signal handlers: the program
/// owns its signals) and detach the main thread state, so that worker interpreters can be
/// created from any thread. `None` if the runtime was initialized already (by someone
/// else, who then also finalizes it).
pub(crate) fn initialize() -> Option<MainThreadState> {
    // SAFETY: Py_IsInitialized may be called at any time, from any thread.
    if unsafe { Py_IsInitialized() } != 0 {
        return None;
    }
    // SAFETY: the runtime is not initialized (checked above); Py_InitializeEx initializes
    // it on this thread and leaves its main thread state attached, which is then
    // detached (PyEval_SaveThread returns it).
    let ts = unsafe {
        Py_InitializeEx(0);
        PyEval_SaveThread()
    };
    NonNull::new(ts).map(|ts| MainThreadState { ts })
}

/// Re-attach the main thread state and finalize CPython.
///
/// # Safety
///
/// Every worker interpreter has ended and its thread has been joined.
pub(crate) unsafe fn finalize(d: &mut Detached, main: MainThreadState) -> bool {
    let _ = d;
    // SAFETY: the state is this thread's (`MainThreadState` is `!Send`) and detached, and
    // nothing is attached on this thread (d); no other interpreter is left (the caller's
    // duty), so finalizing cannot wait for a thread of ours.
    unsafe {
        PyEval_RestoreThread(main.ts.as_ptr());
        Py_FinalizeEx() == 0
    }
}

/// Run `f` with the main interpreter attached through this thread's main thread state
/// (`d` stays borrowed meanwhile, so `f` cannot use it).
pub(crate) fn with_main<R>(
    d: &mut Detached,
    main: &MainThreadState,
    f: impl for<'py> FnOnce(Attached<'py>) -> R,
) -> R {
    let _ = d;
    // SAFETY: this thread's main thread state (`MainThreadState` is `!Send`), detached;
    // nothing is attached on this thread (d).
    unsafe { PyEval_RestoreThread(main.ts.as_ptr()) };
    // SAFETY: attached just above, until the save below.
    let r = f(unsafe { Attached::assume() });
    // SAFETY: attached above on this thread; detached again as it was.
    unsafe { PyEval_SaveThread() };
    r
}

/// A module object made from `def` (multi-phase init: created, then executed), named by
/// `def`; not added to `sys.modules`.
///
/// # Safety
///
/// `def` is a module definition that lives for the whole process.
#[cfg(not(Py_3_15))]
pub(crate) unsafe fn module_from_def<'py>(
    py: Attached<'py>,
    def: *mut PyModuleDef,
    name: &CStr,
) -> PyResult<Owned<'py>> {
    let spec = module_spec(py, name)?;
    // SAFETY: attached; `def` lives for the process (caller's duty) and is initialized
    // by PyModuleDef_Init first; `spec` has a `name`. New reference or NULL.
    let module = unsafe {
        let def = PyModuleDef_Init(def).cast::<PyModuleDef>();
        Owned::from_new(
            py,
            PyModule_FromDefAndSpec2(def, spec.as_ptr(), PYTHON_API_VERSION),
        )?
    };
    // SAFETY: a module just made from `def`; runs its exec slots.
    if unsafe { PyModule_ExecDef(module.as_ptr(), PyModuleDef_Init(def).cast()) } != 0 {
        return Err(super::err::PyErrSet);
    }
    Ok(module)
}

/// A module object made from export `slots` (PEP 793: created, then executed); not added
/// to `sys.modules`.
///
/// # Safety
///
/// `slots` is a slot array that lives for the whole process.
#[cfg(Py_3_15)]
pub(crate) unsafe fn module_from_slots<'py>(
    py: Attached<'py>,
    slots: *const PySlot,
    name: &CStr,
) -> PyResult<Owned<'py>> {
    let spec = module_spec(py, name)?;
    // SAFETY: attached; `slots` lives for the process (caller's duty); `spec` has a
    // `name`. New reference or NULL.
    let module = unsafe { Owned::from_new(py, PyModule_FromSlotsAndSpec(slots, spec.as_ptr()))? };
    // SAFETY: a module just made from slots; runs its exec slot.
    if unsafe { PyModule_Exec(module.as_ptr()) } != 0 {
        return Err(super::err::PyErrSet);
    }
    Ok(module)
}

/// `ModuleSpec(name, None, origin="built-in")`: what the import system would give a module
/// linked into the program.
fn module_spec<'py>(py: Attached<'py>, name: &CStr) -> PyResult<Owned<'py>> {
    let spec_type = super::import_attr(py, c"_frozen_importlib", c"ModuleSpec")?;
    let name = super::new_str(py, name.to_str().unwrap_or("manygil._native"))?;
    let spec = spec_type
        .borrow()
        .call(&[name.borrow(), super::none(py).borrow()])?;
    let origin = super::new_str(py, "built-in")?;
    spec.borrow().set_attr(c"origin", origin.borrow())?;
    Ok(spec)
}

/// `sys.modules[name] = module` in the attached interpreter.
pub(crate) fn add_to_sys_modules(
    py: Attached<'_>,
    name: &CStr,
    module: super::Borrowed<'_, '_>,
) -> PyResult<()> {
    // SAFETY: attached (py); returns a borrowed reference to sys.modules (or NULL).
    let modules = unsafe { PyImport_GetModuleDict() };
    if modules.is_null() {
        return Err(super::err::runtime_error(py, "sys.modules is gone"));
    }
    // SAFETY: a dict; NUL-terminated key; a new reference to `module` is stored.
    if unsafe { PyDict_SetItemString(modules, name.as_ptr(), module.as_ptr()) } != 0 {
        return Err(super::err::PyErrSet);
    }
    Ok(())
}

/// `sys.modules.get(name)` in the attached interpreter.
pub(crate) fn from_sys_modules<'py>(py: Attached<'py>, name: &CStr) -> Option<Owned<'py>> {
    // SAFETY: attached (py); a borrowed reference to sys.modules (or NULL).
    let modules = unsafe { PyImport_GetModuleDict() };
    if modules.is_null() {
        return None;
    }
    // SAFETY: a dict; borrowed lookup, NULL when missing (no exception set).
    let m = unsafe { PyDict_GetItemString(modules, name.as_ptr()) };
    // SAFETY: kept alive by sys.modules; a reference of our own is taken.
    (!m.is_null()).then(|| unsafe { Owned::from_borrowed(py, m) })
}
