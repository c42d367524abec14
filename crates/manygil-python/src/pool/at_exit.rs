//! The main interpreter's exit hook (`_native.shutdown`, registered with `atexit` by the
//! Python package): every pool first, then every interpreter made with `create()`, all
//! joined before the main interpreter finalizes.

use std::time::{Duration, Instant};

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::{is_main_interpreter, new_int, new_list, Attached, Borrowed, Detached, Owned};
use crate::interp::registry;
use crate::interp::registry::close_all;

/// How long process exit waits for interpreters whose running code was interrupted and has
/// not stopped (stuck in a C call: `time.sleep`, a blocking `recv`, ...). After that the
/// exit hook reports them and the Python side ends the process without finalizing (the
/// main interpreter may not finalize while their threads exist; see docs/reliability.md).
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Stop every pool (queued tasks still run, as with the stdlib executors), then close
/// every interpreter made with `create()`, interrupting running jobs. Returns the ids of
/// the interpreters still running [`EXIT_GRACE`] after their interrupt (not joined): an
/// empty list means every worker thread is gone and CPython may finalize.
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
    let left = crate::ffi::tstate::detached_with(py, stop_all);
    crate::runtime::main_ref::release_deferred(py);
    let ids = left
        .iter()
        .map(|w| new_int(py, w.id))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, ids)
}

/// Stop every pool, then close every interpreter made with `create()` (or the Rust API),
/// interrupting running jobs, and join them. Returns those still running [`EXIT_GRACE`]
/// after their interrupt (not joined). Called with no thread state attached (`d`).
pub(crate) fn stop_all(
    d: &mut Detached,
) -> Vec<std::sync::Arc<crate::interp::worker::WorkerShared>> {
    // Pools first (their queued tasks still run and complete their futures, as with the
    // stdlib executors), then the interpreters made with create() together with the pools'
    // workers that were replaced because their task was stuck.
    let mut workers = super::shutdown_all();
    workers.extend(registry::take_all());
    let deadline = Instant::now().checked_add(EXIT_GRACE);
    close_all(d, &workers, deadline)
}
