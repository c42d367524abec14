//! The Python functions of the `manygil` package that this crate calls, by module and
//! name: the one list of them. Every other file names a [`PyName`] from here, never a
//! `c"manygil.…"` string, so moving one of these functions in `python/manygil/` means
//! changing its line here (tests/test_layout.py imports each one, and checks no other
//! file of the crate imports a `manygil` module by name).
//!
//! Most live in `manygil._wire` (what the glue calls into Python for), the others are the
//! homes of public names (`manygil._errors`, `manygil._queue`). They are resolved with
//! the caller's interpreter attached, from `sys.modules` once imported (a dict lookup).

use std::ffi::CStr;

use crate::ffi::err::PyResult;
use crate::ffi::{import_attr, Attached, Owned};

/// A module-level attribute of the `manygil` package: `module.attr`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PyName {
    /// The module's full dotted name.
    pub(crate) module: &'static CStr,
    /// The attribute's name in it.
    pub(crate) attr: &'static CStr,
}

impl PyName {
    /// `module.attr` in the attached interpreter, importing the module if needed. Raises
    /// what the import or the attribute lookup raises.
    pub(crate) fn get<'py>(&self, py: Attached<'py>) -> PyResult<Owned<'py>> {
        import_attr(py, self.module, self.attr)
    }

    /// `"module.attr"`, for messages.
    pub(crate) fn dotted(&self) -> String {
        format!(
            "{}.{}",
            self.module.to_string_lossy(),
            self.attr.to_string_lossy()
        )
    }
}

const fn name(module: &'static CStr, attr: &'static CStr) -> PyName {
    PyName { module, attr }
}

// --- the codec (codec/) ------------------------------------------------------------------

/// Pickles what the codec cannot encode natively: `(bytes, handles, key)`.
pub(crate) const PICKLE_DUMPS: PyName = name(c"manygil._wire.pickle", c"dumps");
/// Loads what `PICKLE_DUMPS` made, in the receiving interpreter.
pub(crate) const UNPICKLE_LOADS: PyName = name(c"manygil._wire.unpickle", c"loads");
/// A function already decoded in this interpreter under its key, or None.
pub(crate) const UNPICKLE_CACHED: PyName = name(c"manygil._wire.unpickle", c"cached");
/// The globals of a closure-free function sent as code (`Value::Code`).
pub(crate) const CODE_GLOBALS: PyName = name(c"manygil._wire.codeglobals", c"globals_for");

// --- interpreters (interp/, runtime/) -----------------------------------------------------

/// An exception as a plain record (type, message, traceback text, pickled form).
pub(crate) const REMOTE_CAPTURE: PyName = name(c"manygil._wire.remote", c"capture");
/// Runs first in every worker, on its thread: its name in `threading`.
pub(crate) const HOOKS_START: PyName = name(c"manygil._wire.hooks", c"start");
/// Names a worker thread in the main interpreter's `threading`.
pub(crate) const HOOKS_NAME_THREAD: PyName = name(c"manygil._wire.hooks", c"name_thread");
/// Runs in a worker just before it is ended.
pub(crate) const HOOKS_BEFORE_END: PyName = name(c"manygil._wire.hooks", c"before_end");

// --- handles (handles/, queue/) -----------------------------------------------------------

/// `manygil.BrokenPool` (a `concurrent.futures.BrokenExecutor`), made on first use.
pub(crate) const BROKEN_POOL: PyName = name(c"manygil._errors", c"BrokenPool");
/// The asyncio side of `Queue.aget`.
pub(crate) const QUEUE_AGET: PyName = name(c"manygil._queue", c"_aget");
/// The asyncio side of `Queue.aput`.
pub(crate) const QUEUE_APUT: PyName = name(c"manygil._queue", c"_aput");
