//! Calls into interpreters (what `call`, `exec`, `set_main_attrs` and `submit` of `api` do):
//! dispatch a job to the worker, refusing one that would close a cycle of waiting
//! interpreters, and wait for its outcome with the GIL released, interrupting it past its
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::worker::{completion, Completion, WaitError};
use manygil_core::Value;

use crate::ffi::err::PyResult;
use crate::ffi::{Attached, Owned};
use crate::interp::jobs::{self, Outcome};
use crate::interp::registry::{self};
use crate::interp::worker::{self, InterruptReason, WorkerShared};

use super::convert::outcome_to_python;
use super::lookup::{current_id, interpreter_error, worker_for};

/// How long to wait for an interrupted job to stop before reporting it as stuck.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Record that the calling thread waits synchronously for interpreter `id`; refuse the call
/// (with nothing sent) if that would close a cycle of interpreters waiting on each other.
fn wait_edge(py: Attached<'_>, id: i64) -> PyResult<manygil_core::waits::WaitEdge> {
    let cur = current_id(py);
    let from = registry::get(cur)
        .ok()
        .filter(|w| w.is_current_thread())
        .map(|_| cur);
    manygil_core::waits::WaitEdge::enter(from, id).map_err(|cycle| {
        let path: Vec<String> = cycle.iter().map(i64::to_string).collect();
        interpreter_error(
            py,
            &format!(
                "calling into interpreter {id} would deadlock: interpreters wait for each \
                 other in a cycle ({}), and each runs one job at a time; use call_in_thread \
                 or a Queue instead of a nested synchronous call",
                path.join(" -> ")
            ),
        )
    })
}

/// Send a job to interpreter `id` (not the current one) and return its completion.
pub(crate) fn dispatch(
    py: Attached<'_>,
    id: i64,
    action: &str,
    job: impl for<'p> FnOnce(Attached<'p>, &worker::JobCtx<'_>) -> Outcome + Send + 'static,
) -> PyResult<(Arc<WorkerShared>, u64, Completion<Outcome>)> {
    if id != 0 && id == current_id(py) {
        return Err(interpreter_error(
            py,
            &format!("cannot {action} interpreter {id} from inside itself (it is the current interpreter)"),
        ));
    }
    let w = worker_for(py, id, action)?;
    let (done, result) = completion::<Outcome>();
    let seq = w
        .send(Box::new(move |py, ctx| {
            let outcome = job(py, ctx);
            ctx.mark_done();
            done.complete(outcome);
        }))
        .map_err(|_| {
            crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::InterpreterNotFound,
                &format!("interpreter {id} was closed"),
            )
        })?;
    Ok((w, seq, result))
}

/// Run `job` in interpreter `id` and wait for its outcome (GIL released, interruptibly),
/// interrupting it past `timeout`: what `call`, `exec` and `set_main_attrs` share. Refused,
/// with nothing sent, if the wait would close a cycle of interpreters waiting on each
/// other.
pub(crate) fn run_and_wait<'py>(
    py: Attached<'py>,
    id: i64,
    action: &str,
    timeout: Option<Duration>,
    job: impl for<'p> FnOnce(Attached<'p>, &worker::JobCtx<'_>) -> Outcome + Send + 'static,
) -> PyResult<Owned<'py>> {
    let _waiting = wait_edge(py, id)?;
    let (w, seq, result) = dispatch(py, id, action, job)?;
    finish(py, id, &w, seq, &result, timeout)
}

/// Wait for a dispatched job (interruptibly), applying `timeout` by interrupting it.
fn finish<'py>(
    py: Attached<'py>,
    id: i64,
    w: &WorkerShared,
    seq: u64,
    result: &Completion<Outcome>,
    timeout: Option<Duration>,
) -> PyResult<Owned<'py>> {
    let outcome = match crate::interp::wait_for_python(py, w, seq, result, timeout)? {
        Ok(o) => o,
        Err(WaitError::Abandoned) => {
            return Err(crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::InterpreterNotFound,
                &format!("interpreter {id} was closed before the call completed"),
            ))
        }
        Err(WaitError::Timeout) => {
            crate::ffi::tstate::detached_with(py, |d| {
                w.interrupt(d, seq, InterruptReason::Timeout)
            });
            match crate::interp::wait_for_python(py, w, seq, result, Some(INTERRUPT_GRACE))? {
                Ok(o) => o,
                Err(_) => Err(stuck_record()),
            }
        }
    };
    outcome_to_python(py, outcome)
}

/// The record of a job that ran past its timeout and did not stop when interrupted.
fn stuck_record() -> Value {
    let msg = "the task ran past its timeout and could not be interrupted: it is running code \
               that does not check for signals (e.g. a long C call); its interpreter stays busy \
               until that code returns";
    jobs::exc_record(
        "TimeoutError",
        "builtins",
        msg,
        &format!("TimeoutError: {msg}"),
        "",
        Value::None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_call_reports_a_timeout_that_says_why_it_did_not_stop() {
        let Value::Tuple(record) = stuck_record() else {
            panic!("a record is a tuple")
        };
        assert!(matches!(&record[0], Value::Str(s) if &**s == "TimeoutError"));
        assert!(matches!(&record[3], Value::Str(s) if s.contains("could not be interrupted")));
    }
}
