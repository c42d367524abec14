//! The main interpreter's exit hook (`_native.shutdown`, registered with `atexit` by the
//! Python package): every pool first, then every interpreter made with `create()`, all
//! joined before the main interpreter finalizes.

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::*;
use crate::interp::api::close_all;
use crate::interp::registry;

/// Stop every pool (queued tasks still run, as with the stdlib executors), then close
/// every interpreter made with `create()`, interrupting running jobs.
pub(crate) fn shutdown<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "shutdown", argv, 0, 0)?;
    if !is_main_interpreter(py) {
        return Err(err::runtime_error(
            py,
            "shutdown() can only be called from the main interpreter",
        ));
    }
    // Pools first (their queued tasks still run and complete their futures, as with the
    // stdlib executors), then the interpreters made with create().
    crate::ffi::tstate::detached(py, super::shutdown_all);
    crate::runtime::main_ref::release_deferred(py);
    let workers = registry::take_all();
    crate::ffi::tstate::detached(py, || close_all(&workers));
    Ok(none(py))
}
