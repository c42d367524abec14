//! The main thread of the main interpreter: the only place where Python signal handlers
//! (Ctrl-C) run, so the only place where blocking waits must wake up to run them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ffi::err::PyResult;
use crate::ffi::{current_thread_ident, import_attr, is_main_interpreter, Attached};

/// `threading.main_thread().ident` of the process, recorded when the module is first
/// executed in the main interpreter; 0 before. Plain data, no Python object.
static MAIN_THREAD_IDENT: AtomicU64 = AtomicU64::new(0);

/// The main thread's ident (0 until [`record`] ran).
pub(crate) fn ident() -> u64 {
    MAIN_THREAD_IDENT.load(Ordering::Relaxed)
}

/// Record `threading.main_thread().ident` (once; from the main interpreter's module exec).
pub(crate) fn record(py: Attached<'_>) -> PyResult<()> {
    if !is_main_interpreter(py) || ident() != 0 {
        return Ok(());
    }
    let main = import_attr(py, c"threading", c"main_thread")?;
    let thread = main.borrow().call(&[])?;
    let ident = thread.borrow().get_attr(c"ident")?;
    MAIN_THREAD_IDENT.store(ident.borrow().int_to_u64()?, Ordering::Relaxed);
    Ok(())
}

/// Whether this thread is the main thread of the main interpreter.
pub(crate) fn is_current(py: Attached<'_>) -> bool {
    is_main_interpreter(py) && current_thread_ident() == ident()
}
