//! Finding the manygil interpreter an operation names, with the errors that say why it
//! cannot be used (closed, forked away, the main interpreter, a pool's or a server's
//! worker).

use std::sync::Arc;

use crate::ffi::err::{PyErrSet, PyResult};
use crate::ffi::{current_interpreter_id, Attached};

use super::registry::{self, Missing};
use super::worker::{self, WorkerShared};

/// The id of the interpreter the caller runs in.
pub(crate) fn current_id(py: Attached<'_>) -> i64 {
    current_interpreter_id(py)
}

/// Raise `InterpreterError(msg)`.
pub(crate) fn interpreter_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    crate::handles::errors::raise(py, crate::handles::errors::Exc::Interpreter, msg)
}

/// Look up a manygil interpreter for an operation that needs one.
pub(crate) fn worker_for(py: Attached<'_>, id: i64, action: &str) -> PyResult<Arc<WorkerShared>> {
    match registry::get(id) {
        Ok(w) => Ok(w),
        Err(Missing::ForkedAway) => Err(interpreter_error(
            py,
            &format!(
                "interpreter {id} belonged to the parent process: manygil interpreters do not \
                 survive fork(); create new ones in the child"
            ),
        )),
        Err(Missing::NotFound) if id != 0 && worker::find_known(id).is_some() => {
            let w = worker::find_known(id).expect("checked");
            Err(interpreter_error(
                py,
                &format!(
                    "cannot {action} interpreter {id} ({}): it is a worker of a manygil {} \
                     and takes work only from it",
                    w.name,
                    if w.origin == "pool" { "Pool (submit to the pool)" } else { w.origin }
                ),
            ))
        }
        Err(Missing::NotFound) if id == 0 => Err(interpreter_error(
            py,
            &format!("cannot {action} the main interpreter: manygil only runs work in interpreters it created"),
        )),
        Err(Missing::NotFound) => Err(crate::handles::errors::raise(py, crate::handles::errors::Exc::InterpreterNotFound,
            &format!("interpreter {id} not found (it was closed, or was not created by manygil)"),
        )),
    }
}
