//! The `manygil._native` extension module: its definition, slots and method table, and
//! `exec`, which builds this interpreter's types into the module state. Everything the
//! functions and types do lives in the layers below (see `lib.rs`).

mod methods;

use std::ffi::{c_int, c_void};

use crate::ffi::entry::guard_c;
use crate::ffi::module::add_type;
use crate::ffi::raw::{visitproc, PyObject};
use crate::ffi::{is_main_interpreter, Borrowed};
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
        let pool_type = crate::pool::api::create_type(py, module)?;
        add_type(module, pool_type.borrow())?;
        let cache_type = crate::serve::cache::create_type(py, module)?;
        add_type(module, cache_type.borrow())?;
        methods::add_constants(module)?;
        crate::serve::add_functions(module)?;
        crate::interp::frames_guard::install(py, module)?;
        if is_main_interpreter(py) {
            crate::interp::fork_guard::install(py)?;
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
        // SAFETY: `st` is our state, not otherwise borrowed during clear; the interpreter
        // is attached (CPython calls m_clear/m_free with it attached).
        unsafe { (*st).clear(crate::ffi::Attached::assume()) };
    }
    0
}

unsafe extern "C" fn module_free(module: *mut c_void) {
    // SAFETY: same contract as m_clear.
    unsafe { module_clear(module.cast()) };
}

crate::ffi::module::module_def! {
    name: c"manygil._native",
    doc: c"manygil's native core: own-GIL interpreters, the value codec, shared handles.",
    state: crate::handles::state::ModuleState,
    methods: crate::module::methods::METHODS,
    exec: crate::module::module_exec,
    traverse: crate::module::module_traverse,
    clear: crate::module::module_clear,
    free: crate::module::module_free,
    init: PyInit__native,
    export: PyModExport__native,
}
