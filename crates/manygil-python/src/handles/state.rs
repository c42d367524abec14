//! The module state of `manygil._native` in one interpreter: the types this interpreter
//! built at module exec, as strong references owned by the module object.

use std::ffi::{c_int, c_void};

use crate::ffi::err::{PyErrSet, PyResult};
use crate::ffi::*;

use super::errors::ErrorTypes;
use super::{Kind, MakeType, KINDS};

/// Per-interpreter module state. Every field is a strong reference owned by this
/// interpreter's module object (visited by `traverse`, released by `clear`).
#[repr(C)]
pub(crate) struct ModuleState {
    /// The `PendingCall` heap type of this interpreter (NULL before exec / after clear).
    pub(crate) pending_type: *mut PyObject,
    /// The shared-handle types (Queue, SharedBuffer, Lock, ...) of this interpreter.
    pub(crate) handles: HandleTypes,
    /// manygil's exception types in this interpreter.
    pub(crate) errors: ErrorTypes,
    /// A compiled `None` expression: evaluating it enters the eval loop, which raises an
    /// exception scheduled by `PyThreadState_SetAsyncExc` (see `blocking`).
    pub(crate) interrupt_check: *mut PyObject,
    /// The globals `interrupt_check` is evaluated in (an empty dict).
    pub(crate) interrupt_globals: *mut PyObject,
}

impl ModuleState {
    /// Fill the state at module exec (handle and exception types, the interrupt check).
    pub(crate) fn init(
        &mut self,
        py: Attached<'_>,
        module: *mut PyObject,
        makers: &[(Kind, MakeType); KINDS],
    ) -> PyResult<()> {
        self.errors.init(py, module)?;
        self.handles.init(py, module, makers)?;
        // SAFETY: attached; NUL-terminated source and name; a new reference or NULL.
        let code = unsafe {
            Owned::from_new(
                py,
                Py_CompileString(
                    c"None".as_ptr(),
                    c"<manygil interrupt check>".as_ptr(),
                    Py_eval_input,
                ),
            )?
        };
        // SAFETY: attached; a new empty dict or NULL.
        let globals = unsafe { Owned::from_new(py, PyDict_New())? };
        replace(&mut self.interrupt_check, code);
        replace(&mut self.interrupt_globals, globals);
        Ok(())
    }

    /// Raise what is pending for this thread from `PyThreadState_SetAsyncExc`, by entering
    /// the eval loop once.
    pub(crate) fn check_interrupts(&self, py: Attached<'_>) -> PyResult<()> {
        if self.interrupt_check.is_null() {
            return Ok(());
        }
        // SAFETY: attached; a code object and a dict owned by this state, alive for the
        // call; returns a new reference (None) or NULL with the pending exception set.
        unsafe {
            Owned::from_new(
                py,
                PyEval_EvalCode(
                    self.interrupt_check,
                    self.interrupt_globals,
                    self.interrupt_globals,
                ),
            )
        }
        .map(drop)
    }

    /// `tp_traverse` of the module state.
    ///
    /// # Safety
    ///
    /// Called from the module's traverse with CPython's `visit`/`arg`.
    pub(crate) unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        for t in [
            self.pending_type,
            self.interrupt_check,
            self.interrupt_globals,
        ] {
            if !t.is_null() {
                // SAFETY: visiting a strong reference this state owns.
                let r = unsafe { visit(t, arg) };
                if r != 0 {
                    return r;
                }
            }
        }
        // SAFETY: per this function's contract.
        let r = unsafe { self.handles.traverse(visit, arg) };
        if r != 0 {
            return r;
        }
        // SAFETY: per this function's contract.
        unsafe { self.errors.traverse(visit, arg) }
    }

    /// Release everything (module clear/free).
    ///
    /// # Safety
    ///
    /// The owning interpreter is attached.
    pub(crate) unsafe fn clear(&mut self) {
        for t in [
            &mut self.pending_type,
            &mut self.interrupt_check,
            &mut self.interrupt_globals,
        ] {
            let old = std::mem::replace(t, std::ptr::null_mut());
            if !old.is_null() {
                // SAFETY: a strong reference this state owned; attached per the caller.
                unsafe { Py_DECREF(old) };
            }
        }
        // SAFETY: attached per the caller.
        unsafe {
            self.handles.clear();
            self.errors.clear();
        }
    }
}

/// Store `new` in `slot`, releasing what was there.
fn replace(slot: &mut *mut PyObject, new: Owned) {
    let old = std::mem::replace(slot, new.into_raw());
    if !old.is_null() {
        // SAFETY: a strong reference the state owned; module exec runs attached.
        unsafe { Py_DECREF(old) };
    }
}

/// This interpreter's `manygil._native` module, held for as long as its state is used.
pub(crate) struct CurrentModule {
    /// A strong reference to the module, which owns the state.
    module: Owned,
}

impl CurrentModule {
    /// The module state (shared: its lazily filled parts use interior mutability).
    pub(crate) fn state(&self) -> &ModuleState {
        // SAFETY: `current` checked this is our module with a state; `self.module` keeps
        // the module, hence the state, alive while the borrow lasts.
        unsafe { state(self.module.as_ptr()) }
    }
}

/// This interpreter's `manygil._native` (found in `sys.modules`, a dict lookup; imported if
/// it was not yet). Anything else found under that name is refused with `RuntimeError`.
pub(crate) fn current(py: Attached<'_>) -> PyResult<CurrentModule> {
    let module = native_module(py)?;
    // SAFETY: attached; `module` is a valid object; PyModule_GetState returns NULL with an
    // exception set for a non-module, and NULL without one for a module with no state.
    let ok = unsafe {
        PyModule_Check(module.as_ptr()) != 0 && {
            let st = PyModule_GetState(module.as_ptr());
            if st.is_null() {
                PyErr_Clear();
            }
            !st.is_null() && PyModule_GetDef(module.as_ptr()) == own_def()
        }
    };
    if !ok {
        return Err(crate::ffi::err::runtime_error(
            py,
            "sys.modules['manygil._native'] is not manygil's native module",
        ));
    }
    Ok(CurrentModule { module })
}

/// The module definition every `manygil._native` module is created from (`module/` owns
/// it and records it here at exec, since this layer cannot name it).
static OWN_DEF: std::sync::atomic::AtomicPtr<PyModuleDef> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// Record the module's definition (from module exec).
pub(crate) fn record_def(module: *mut PyObject) {
    // SAFETY: called from exec with our module object; GetDef only reads it.
    let def = unsafe { PyModule_GetDef(module) };
    OWN_DEF.store(def, std::sync::atomic::Ordering::Release);
}

fn own_def() -> *mut PyModuleDef {
    OWN_DEF.load(std::sync::atomic::Ordering::Acquire)
}

/// The module state of `module`, shared.
///
/// # Safety
///
/// `module` is a `manygil._native` module object of the attached interpreter, kept alive
/// while the result is used.
pub(crate) unsafe fn state<'a>(module: *mut PyObject) -> &'a ModuleState {
    // SAFETY: per the caller, the module was created from our definition, whose state is
    // a zero-initialised `ModuleState` of the declared size.
    unsafe { &*PyModule_GetState(module).cast::<ModuleState>() }
}

/// The module state of `module`, for filling it at exec and emptying it at clear.
///
/// # Safety
///
/// As [`state`], and no other reference to the state exists while the result is used
/// (module exec and clear/free run before/after any other use).
pub(crate) unsafe fn state_mut<'a>(module: *mut PyObject) -> &'a mut ModuleState {
    // SAFETY: per the caller.
    unsafe { &mut *PyModule_GetState(module).cast::<ModuleState>() }
}

/// The handle types of one interpreter: strong references owned by the module state
/// (NULL before exec and after clear). Zero-initialised memory is a valid empty value.
#[repr(C)]
pub(crate) struct HandleTypes {
    types: [*mut PyObject; KINDS],
}

impl HandleTypes {
    /// Create every handle type for `module` and add them to it.
    pub(crate) fn init(
        &mut self,
        py: Attached<'_>,
        module: *mut PyObject,
        makers: &[(Kind, MakeType); KINDS],
    ) -> PyResult<()> {
        for &(kind, make) in makers {
            let tp = make(py, module)?;
            // SAFETY: attached; a type object we own; PyModule_AddType does not steal it.
            if unsafe { PyModule_AddType(module, tp.as_ptr().cast()) } < 0 {
                return Err(PyErrSet);
            }
            let old = std::mem::replace(&mut self.types[kind as usize], tp.into_raw());
            if !old.is_null() {
                // SAFETY: a reference this state owned (exec runs once; defensive).
                unsafe { Py_DECREF(old) };
            }
        }
        Ok(())
    }

    /// The type of `kind` (NULL before exec / after clear).
    pub(crate) fn get(&self, kind: Kind) -> *mut PyObject {
        self.types[kind as usize]
    }

    /// `tp_traverse` of the module state.
    ///
    /// # Safety
    ///
    /// Called from the module's traverse with CPython's `visit`/`arg`.
    pub(crate) unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        for &t in &self.types {
            if !t.is_null() {
                // SAFETY: visiting a strong reference this state owns.
                let r = unsafe { visit(t, arg) };
                if r != 0 {
                    return r;
                }
            }
        }
        0
    }

    /// Release every type (module clear/free).
    ///
    /// # Safety
    ///
    /// The owning interpreter is attached.
    pub(crate) unsafe fn clear(&mut self) {
        for t in &mut self.types {
            let old = std::mem::replace(t, std::ptr::null_mut());
            if !old.is_null() {
                // SAFETY: a strong reference this state owned; attached per the caller.
                unsafe { Py_DECREF(old) };
            }
        }
    }
}

/// This interpreter's `manygil._native` (from `sys.modules`, imported if needed).
pub(crate) fn native_module(py: Attached<'_>) -> PyResult<Owned> {
    let name = new_str(py, "manygil._native")?;
    // SAFETY: attached; a new reference, or NULL (with an exception only on error).
    let m = unsafe { PyImport_GetModule(name.as_ptr()) };
    if !m.is_null() {
        // SAFETY: non-NULL new reference.
        return unsafe { Owned::from_new(py, m) };
    }
    // SAFETY: attached.
    if unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    // SAFETY: attached; NUL-terminated name.
    unsafe { Owned::from_new(py, PyImport_ImportModule(c"manygil._native".as_ptr())) }
}
