//! The only module that talks to `pyo3_ffi` directly.
//!
//! - [`Owned`]: a strong reference that is released on drop (never `Send`).
//! - [`Borrowed`]: a reference someone else keeps alive; [`object`] has the operations on it.
//! - [`Attached`]: proof that the current thread has an attached thread state.
//! - [`err`]: fetching, raising and describing Python exceptions.
//! - [`tstate`]: detaching and re-attaching around blocking waits; [`Detached`]: proof that
//!   the current thread has no thread state attached.
//! - [`interp_config`]: a new interpreter's settings (`PyInterpreterConfig`) as plain values.
//! - [`entry`]: entry points (panics caught) and the macros that define them.
//! - [`args`]: binding and converting arguments, with errors that name them.
//! - [`frames`]: the Python stacks of the attached interpreter's threads.
//! - [`embed`]: starting and ending CPython in a Rust program that embeds it.
//! - [`buffer`]: the buffer protocol: reading another object's bytes, exporting Rust
//!   memory, memoryviews released on drop.
//! - [`values`]: the builtin value types (int, float, str, bytes, containers, ...): telling
//!   them apart, reading and making them.
//!
//! Other modules import these wrappers by name (no glob import of `crate::ffi`). There is
//! no glob re-export of `pyo3_ffi`: the few raw C-API names the rest of the crate still
//! needs are listed in [`raw`] and imported from there by name, so every use of the C-API
//! outside this folder can be found from here.

pub(crate) mod args;
pub(crate) mod buffer;
pub(crate) mod embed;
pub(crate) mod entry;
pub(crate) mod err;
pub(crate) mod frames;
pub(crate) mod interp_config;
pub(crate) mod module;
mod object;
mod owned;
pub(crate) mod tstate;
pub(crate) mod types;
pub(crate) mod values;

pub(crate) use owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;
pub(crate) use tstate::Detached;
pub(crate) use values::{boolean, new_dict, new_int, new_list, new_str, new_tuple, new_uint, none};

/// The raw C-API names the rest of the crate uses, reachable only as `ffi::raw::…` (so
/// every use outside this folder is an explicit `use crate::ffi::raw::…`): declarations
/// only (types, constants, slot ids, exception classes). No C-API function is called
/// outside `ffi/` (`toolchain/check_layers.py` checks it).
pub(crate) mod raw {
    pub(crate) use pyo3_ffi::{
        newfunc, visitproc, PyDict_Type, PyExc_KeyError, PyExc_OSError, PyExc_OverflowError,
        PyExc_RuntimeError, PyExc_TimeoutError, PyGetSetDef, PyList_Type, PyMethodDef,
        PyMethodDefPointer, PyModuleDef, PyObject, PyTuple_Type, PyTypeObject, PyType_Slot, Py_EQ,
        Py_NE, Py_bf_getbuffer, Py_bf_releasebuffer, Py_hash_t, Py_mp_ass_subscript, Py_mp_length,
        Py_mp_subscript, Py_sq_length, Py_ssize_t, Py_tp_doc, Py_tp_getset, Py_tp_hash, Py_tp_iter,
        Py_tp_iternext, Py_tp_methods, Py_tp_new, Py_tp_repr, Py_tp_richcompare, METH_CLASS,
        METH_FASTCALL, METH_KEYWORDS, METH_STATIC,
    };
}
// For the files of this folder that import `super::*`.
pub(in crate::ffi) use pyo3_ffi::{PyUnicode_AsLatin1String, Py_DECREF};

use std::ffi::CStr;

/// `NotImplemented` (what a rich comparison returns for types it does not know).
pub(crate) fn not_implemented<'py>(py: Attached<'py>) -> Owned<'py> {
    // SAFETY: attached (py); NotImplemented is immortal and valid in every interpreter.
    unsafe { Owned::from_borrowed(py, Py_NotImplemented()) }
}

/// The hash of an address, as `object.__hash__` computes it (for identity-hashed objects).
pub(crate) fn hash_address(addr: usize) -> Py_hash_t {
    // SAFETY: hashes the pointer value only; never dereferenced, never fails.
    unsafe { Py_HashPointer(addr as *const std::ffi::c_void) }
}

/// The namespace of the attached interpreter's `__main__` module (created if absent).
pub(crate) fn main_dict<'py>(py: Attached<'py>) -> err::PyResult<Owned<'py>> {
    // SAFETY: attached (py); a new reference to sys.modules['__main__'], or NULL.
    let main = unsafe { Owned::from_new(py, PyImport_AddModuleRef(c"__main__".as_ptr()))? };
    // SAFETY: a module object; PyModule_GetDict returns a borrowed reference it keeps alive.
    Ok(unsafe { Owned::from_borrowed(py, PyModule_GetDict(main.as_ptr())) })
}

/// The builtin `name` of the attached interpreter (`builtins.<name>`), if it exists.
pub(crate) fn builtin<'py>(py: Attached<'py>, name: &CStr) -> Option<Owned<'py>> {
    // SAFETY: attached (py); a borrowed reference to this interpreter's builtins dict.
    let builtins = unsafe { PyEval_GetBuiltins() };
    // SAFETY: a dict; borrowed lookup (NULL if missing, no exception); NUL-terminated key.
    let f = unsafe { PyDict_GetItemString(builtins, name.as_ptr()) };
    // SAFETY: non-NULL items are kept alive by the builtins dict; we take a reference.
    (!f.is_null()).then(|| unsafe { Owned::from_borrowed(py, f) })
}

/// `sys.<name> = value` in the attached interpreter.
pub(crate) fn set_sys_attr(
    _py: Attached<'_>,
    name: &CStr,
    value: Borrowed<'_, '_>,
) -> err::PyResult<()> {
    // SAFETY: attached; NUL-terminated name; PySys_SetObject does not steal `value`.
    if unsafe { PySys_SetObject(name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(err::PyErrSet);
    }
    Ok(())
}

/// What [`compile`] compiles: an expression or statements.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// One expression (`eval`).
    Eval,
    /// Statements (`exec`).
    Exec,
}

/// `compile(source, filename, mode)`: a code object.
pub(crate) fn compile<'py>(
    py: Attached<'py>,
    source: &CStr,
    filename: &CStr,
    mode: Mode,
) -> err::PyResult<Owned<'py>> {
    let start = match mode {
        Mode::Eval => Py_eval_input,
        Mode::Exec => Py_file_input,
    };
    // SAFETY: attached (py); NUL-terminated strings; a new reference or NULL.
    unsafe {
        Owned::from_new(
            py,
            Py_CompileString(source.as_ptr(), filename.as_ptr(), start),
        )
    }
}

/// Run `code` (from [`compile`]) with `globals` as its globals and locals; its value.
pub(crate) fn eval_code<'py>(
    py: Attached<'py>,
    code: Borrowed<'_, 'py>,
    globals: Borrowed<'_, 'py>,
) -> err::PyResult<Owned<'py>> {
    debug_assert!(code.is_instance(&raw mut PyCode_Type));
    debug_assert!(globals.is_instance(&raw mut PyDict_Type));
    // SAFETY: attached (py); a code object and a dict (callers pass what `compile` and a
    // dict constructor made); a new reference or NULL.
    unsafe {
        Owned::from_new(
            py,
            PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    }
}

/// `sys.modules[name]` if the module is imported (a dict lookup), else `import name`.
pub(crate) fn import_module<'py>(py: Attached<'py>, name: &CStr) -> err::PyResult<Owned<'py>> {
    // SAFETY: attached; NUL-terminated UTF-8 name; a new reference or NULL.
    let key = unsafe { Owned::from_new(py, PyUnicode_FromString(name.as_ptr()))? };
    // SAFETY: attached; a str; a new reference, or NULL (with an exception only on error).
    let m = unsafe { PyImport_GetModule(key.as_ptr()) };
    if !m.is_null() {
        // SAFETY: a non-NULL new reference.
        return unsafe { Owned::from_new(py, m) };
    }
    if err::occurred(py) {
        return Err(err::PyErrSet);
    }
    // SAFETY: attached; NUL-terminated name; a new reference or NULL.
    unsafe { Owned::from_new(py, PyImport_ImportModule(name.as_ptr())) }
}

/// `module.attr` as a new reference, importing `module` if needed (a dict lookup when it is
/// imported already).
pub(crate) fn import_attr<'py>(
    py: Attached<'py>,
    module: &CStr,
    attr: &CStr,
) -> err::PyResult<Owned<'py>> {
    let m = import_module(py, module)?;
    // SAFETY: attached; `m` is a valid module object; `attr` is NUL-terminated.
    unsafe { Owned::from_new(py, PyObject_GetAttrString(m.as_ptr(), attr.as_ptr())) }
}

/// Whether the attached interpreter is the main interpreter.
pub(crate) fn is_main_interpreter(_py: Attached<'_>) -> bool {
    // SAFETY: a thread state is attached (py); both calls only read runtime state.
    unsafe { PyInterpreterState_Get() == PyInterpreterState_Main() }
}

/// The id of the attached interpreter.
pub(crate) fn current_interpreter_id(_py: Attached<'_>) -> i64 {
    // SAFETY: a thread state is attached (py), so the current interpreter is valid.
    unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) }
}

/// The OS-level ident of the current thread (`threading.get_ident()`).
pub(crate) fn current_thread_ident() -> u64 {
    // SAFETY: callable from any thread, attached or not.
    unsafe { PyThread_get_thread_ident() as u64 }
}

/// Add `hook` to the process-wide audit hooks (called for every audited event in every
/// interpreter, with an attached thread state; it may raise by returning -1).
pub(crate) fn add_audit_hook(_py: Attached<'_>, hook: missing::AuditHook) -> err::PyResult<()> {
    // SAFETY: attached (py); `hook` is a C function of the audit hook signature (its type
    // says so) that lives as long as the process (a function item); no user data.
    if unsafe { missing::PySys_AddAuditHook(hook, std::ptr::null_mut()) } < 0 {
        return Err(err::PyErrSet);
    }
    Ok(())
}

/// C-API functions pyo3-ffi does not declare.
pub(crate) mod missing {
    use std::ffi::{c_char, c_int, c_void};

    use pyo3_ffi::PyObject;

    /// `Py_AuditHookFunction` (Include/cpython/sysmodule.h).
    pub(crate) type AuditHook =
        unsafe extern "C" fn(*const c_char, *mut PyObject, *mut c_void) -> c_int;

    extern "C" {
        /// `int PySys_AddAuditHook(Py_AuditHookFunction hook, void *userData)`: a
        /// process-wide hook, called for every audited event in every interpreter.
        pub(crate) fn PySys_AddAuditHook(hook: AuditHook, user_data: *mut c_void) -> c_int;
    }
}
