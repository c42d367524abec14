//! Refuse `os.fork()` while manygil interpreters are alive.
//!
//! After `fork()`, CPython's child-side cleanup (`PyOS_AfterFork_Child` →
//! `_PyInterpreterState_DeleteExceptMain`) clears every sub-interpreter with no thread
//! state attached, which crashes the child (CPython gh-139759; the stdlib's
//! `concurrent.interpreters` is affected too). No hook runs before that cleanup, so the only
//! safe behaviour is to refuse the fork in the parent, with a clear error, while any manygil
//! interpreter exists. `os.fork` raises an audit event before forking; a C audit hook that
//! raises makes `os.fork()` raise instead (multiprocessing's "fork" start method included).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ffi::raw::{PyExc_RuntimeError, PyObject};
use crate::ffi::{add_audit_hook, Attached};

/// Whether the hook is installed (once per process). Plain data.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Install the hook once per process. Called from the main interpreter's module exec.
pub(crate) fn install(py: Attached<'_>) -> Result<(), crate::ffi::err::PyErrSet> {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    add_audit_hook(py, fork_hook).inspect_err(|_| INSTALLED.store(false, Ordering::Release))
}

unsafe extern "C" fn fork_hook(
    event: *const c_char,
    _args: *mut PyObject,
    _data: *mut c_void,
) -> c_int {
    let r = std::panic::catch_unwind(|| {
        // SAFETY: CPython passes a NUL-terminated event name.
        let event = unsafe { CStr::from_ptr(event) };
        if event.to_bytes() != b"os.fork" && event.to_bytes() != b"os.forkpty" {
            return 0;
        }
        let live = super::lifecycle::live();
        if live == 0 {
            return 0;
        }
        let msg = format!(
            "os.fork() refused: {live} manygil interpreter(s) (pool workers included) are \
             alive, and CPython crashes a forked child while sub-interpreters exist \
             (gh-139759); close them (Interpreter.close(), Pool.shutdown()) first, or use \
             the 'spawn' or 'forkserver' multiprocessing start method",
        );
        // SAFETY: audit hooks run with an attached thread state; RuntimeError is builtin.
        unsafe { crate::ffi::err::raise(Attached::assume(), PyExc_RuntimeError, &msg) };
        -1
    });
    r.unwrap_or(0)
}
