//! The module state of `manygil._native` in one interpreter: the types this interpreter
//! built at module exec, as strong references owned by the module object.

use std::ffi::{c_int, c_void};

use crate::ffi::err::PyResult;
use crate::ffi::module::{add_type, StateRef};
use crate::ffi::raw::{visitproc, PyModuleDef, PyObject};
use crate::ffi::{compile, eval_code, import_module, new_dict, Attached, Borrowed, Mode, Owned};

use super::error_types::ErrorTypes;
use super::{Kind, MakeType, KINDS};

/// Per-interpreter module state. Every field is a strong reference owned by this
/// interpreter's module object (visited by `traverse`, released by `clear`).
#[repr(C)]
pub(crate) struct ModuleState {
    /// The `PendingCall` heap type of this interpreter (NULL before exec / after clear).
    pub(crate) pending_type: StateRef,
    /// The shared-handle types (Queue, SharedBuffer, Lock, ...) of this interpreter.
    pub(crate) handles: HandleTypes,
    /// manygil's exception types in this interpreter.
    pub(crate) errors: ErrorTypes,
    /// A compiled `None` expression: evaluating it enters the eval loop, which raises an
    /// exception scheduled by `PyThreadState_SetAsyncExc` (see `blocking`).
    pub(crate) interrupt_check: StateRef,
    /// The globals `interrupt_check` is evaluated in (an empty dict).
    pub(crate) interrupt_globals: StateRef,
}

impl ModuleState {
    /// Fill the state at module exec (handle and exception types, the interrupt check).
    pub(crate) fn init(
        &mut self,
        py: Attached<'_>,
        module: Borrowed<'_, '_>,
        makers: &[(Kind, MakeType); KINDS],
    ) -> PyResult<()> {
        self.errors.init(py, module)?;
        for &(kind, make) in makers {
            let tp = make(py, module)?;
            add_type(module, tp.borrow())?;
            self.handles.types[kind as usize].set(tp);
        }
        let code = compile(py, c"None", c"<manygil interrupt check>", Mode::Eval)?;
        self.interrupt_check.set(code);
        self.interrupt_globals.set(new_dict(py)?);
        Ok(())
    }

    /// Raise what is pending for this thread from `PyThreadState_SetAsyncExc`, by entering
    /// the eval loop once.
    pub(crate) fn check_interrupts(&self, py: Attached<'_>) -> PyResult<()> {
        let (Some(code), Some(globals)) =
            (self.interrupt_check.get(py), self.interrupt_globals.get(py))
        else {
            return Ok(());
        };
        eval_code(py, code, globals).map(drop)
    }

    /// `tp_traverse` of the module state.
    ///
    /// # Safety
    ///
    /// Called from the module's traverse with CPython's `visit`/`arg`.
    pub(crate) unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let refs = [
            &self.pending_type,
            &self.interrupt_check,
            &self.interrupt_globals,
        ];
        for t in refs.into_iter().chain(&self.handles.types) {
            // SAFETY: per this function's contract.
            let r = unsafe { t.visit(visit, arg) };
            if r != 0 {
                return r;
            }
        }
        // SAFETY: per this function's contract.
        unsafe { self.errors.traverse(visit, arg) }
    }

    /// Release everything (module clear/free; `py` is the owning interpreter's).
    pub(crate) fn clear(&mut self, py: Attached<'_>) {
        let refs = [
            &mut self.pending_type,
            &mut self.interrupt_check,
            &mut self.interrupt_globals,
        ];
        for t in refs.into_iter().chain(&mut self.handles.types) {
            t.clear(py);
        }
        self.errors.clear(py);
    }
}

/// This interpreter's `manygil._native` module, held for as long as its state is used.
pub(crate) struct CurrentModule<'py> {
    /// A strong reference to the module, which owns the state.
    module: Owned<'py>,
}

impl CurrentModule<'_> {
    /// The module state (shared: its lazily filled parts use interior mutability).
    pub(crate) fn state(&self) -> &ModuleState {
        // SAFETY: `current` checked this is our module with a state; `self.module` keeps
        // the module, hence the state, alive while the borrow lasts.
        unsafe { state(self.module.as_ptr()) }
    }
}

/// This interpreter's `manygil._native` (found in `sys.modules`, a dict lookup; imported if
/// it was not yet). Anything else found under that name is refused with `RuntimeError`.
pub(crate) fn current<'py>(py: Attached<'py>) -> PyResult<CurrentModule<'py>> {
    let module = native_module(py)?;
    // A module with a state, made from our definition (none on 3.15, where the module is
    // made from export slots), hence with a `ModuleState` (allocated at creation).
    let ours = crate::ffi::module::stateful_definition(py, module.borrow());
    if ours != Some(own_def()) {
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
pub(crate) fn record_def(py: Attached<'_>, module: Borrowed<'_, '_>) {
    let def = crate::ffi::module::stateful_definition(py, module).unwrap_or_default();
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
    unsafe { &*crate::ffi::module::state_ptr::<ModuleState>(module) }
}

/// The module state of `module`, for filling it at exec and emptying it at clear.
///
/// # Safety
///
/// As [`state`], and no other reference to the state exists while the result is used
/// (module exec and clear/free run before/after any other use).
pub(crate) unsafe fn state_mut<'a>(module: *mut PyObject) -> &'a mut ModuleState {
    // SAFETY: per the caller.
    unsafe { &mut *crate::ffi::module::state_ptr::<ModuleState>(module) }
}

/// The handle types of one interpreter: strong references owned by the module state
/// (NULL before exec and after clear; visited and released with the state's other
/// references). Zero-initialised memory is a valid empty value.
#[repr(C)]
pub(crate) struct HandleTypes {
    types: [StateRef; KINDS],
}

impl HandleTypes {
    /// The type of `kind` (NULL before exec / after clear).
    pub(crate) fn get(&self, kind: Kind) -> *mut PyObject {
        self.types[kind as usize].as_ptr()
    }
}

/// How a program that embeds CPython (the Rust API's `Runtime`) makes `manygil._native`
/// from the definition linked into it: set once, before any interpreter needs the module.
pub(crate) type MakeModule = for<'py> fn(Attached<'py>) -> PyResult<Owned<'py>>;

/// Set by the Rust API's `Runtime` (see [`MakeModule`]); unset in a Python process, where the
/// module is the extension file the import system finds.
pub(crate) static MAKE_EMBEDDED: std::sync::OnceLock<MakeModule> = std::sync::OnceLock::new();

/// This interpreter's `manygil._native` (from `sys.modules`, imported if needed). In a
/// program that embeds CPython the module is made from the definition linked into the
/// program, never imported from a file: an extension file of the Python package would be a
/// second copy of the engine, with its own interpreters and pools.
pub(crate) fn native_module<'py>(py: Attached<'py>) -> PyResult<Owned<'py>> {
    match MAKE_EMBEDDED.get() {
        None => import_module(py, c"manygil._native"),
        Some(make) => match crate::ffi::embed::from_sys_modules(py, c"manygil._native") {
            Some(m) => Ok(m),
            None => {
                let m = make(py)?;
                crate::ffi::embed::add_to_sys_modules(py, c"manygil._native", m.borrow())?;
                Ok(m)
            }
        },
    }
}
