//! Calls into interpreters from `manygil._native` (call, exec, set_main_attrs, submit,
//! interrupt): encode, dispatch to the worker, wait with the GIL released, decode. Each
//! checks its arguments, does its work in Rust (waiting with the GIL released), and
//! reports errors as the exceptions documented in `manygil/_native.pyi`. Their entry
//! points and method table are in `module::methods`.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::worker::{completion, Completion, WaitError};
use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyResult};
use crate::ffi::*;
use crate::interp::jobs::{self, Outcome};
use crate::interp::registry::{self};
use crate::interp::worker::{self, InterruptReason, WorkerShared};

use crate::ffi::args;

use super::api::{current_id, interpreter_error, worker_for};

/// How long to wait for an interrupted job to stop before reporting it as stuck.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Encode `(callable, args, kwargs)` after checking their types.
pub(crate) fn encode_call(
    py: Attached<'_>,
    func: Borrowed<'_, '_>,
    a: Borrowed<'_, '_>,
    kw: Borrowed<'_, '_>,
) -> PyResult<(Value, Value, Value)> {
    if !a.is_instance(&raw mut PyTuple_Type) {
        return Err(err::type_error(
            py,
            &format!("args must be a tuple, not {}", err::type_name(py, a)),
        ));
    }
    if !kw.is_instance(&raw mut PyDict_Type) {
        return Err(err::type_error(
            py,
            &format!("kwargs must be a dict, not {}", err::type_name(py, kw)),
        ));
    }
    if !func.is_callable() {
        return Err(err::type_error(
            py,
            &format!("{} object is not callable", err::type_name(py, func)),
        ));
    }
    let f = encode(func, EncodeMode::Full)?;
    // limit: each argument may nest as deep as any value.)
    let a = crate::codec::encode_wrapper(a, EncodeMode::Full, 1)?;
    let kw = crate::codec::encode_wrapper(kw, EncodeMode::Full, 1)?;
    Ok((f, a, kw))
}

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
fn dispatch(
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
fn run_and_wait<'py>(
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
            crate::ffi::tstate::detached(py, || {
                // SAFETY: detached, as `interrupt` requires.
                unsafe { w.interrupt(seq, InterruptReason::Timeout) }
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

/// `(True, result)` or `(False, exception_record)`.
pub(crate) fn outcome_to_python<'py>(py: Attached<'py>, outcome: Outcome) -> PyResult<Owned<'py>> {
    let (ok, v) = match &outcome {
        Ok(v) => (true, v),
        Err(rec) => (false, rec),
    };
    crate::runtime::main_ref::release_deferred(py);
    let obj = decode(py, v)?;
    // Drop the value's memory while still attached is not required (Rust memory), but do it
    // before building the tuple to keep peak memory low for large results.
    drop(outcome);
    new_tuple(py, vec![boolean(py, ok), obj])
}

pub(crate) fn call_fn<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "call", argv, 4, 5)?;
    let id = args::interp_id(py, argv[0])?;
    let timeout = args::timeout(py, argv.get(4).copied())?;
    let (f, a, kw) = encode_call(py, argv[1], argv[2], argv[3])?;
    let label = super::inspect::function_label(argv[1]);
    run_and_wait(py, id, "call into", timeout, move |py, ctx| {
        ctx.worker().set_job_label(Some(label));
        jobs::run_call(py, ctx, &f, &a, &kw)
    })
}

pub(crate) fn exec_fn<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "exec", argv, 2, 3)?;
    let id = args::interp_id(py, argv[0])?;
    let source = args::string(py, "code", argv[1])?;
    let timeout = args::timeout(py, argv.get(2).copied())?;
    run_and_wait(py, id, "run code in", timeout, move |py, ctx| {
        ctx.worker().set_job_label(Some("exec()".into()));
        jobs::run_exec(py, ctx, &source)
    })
}

pub(crate) fn set_main_attrs<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id, ns] = args::exact(py, "set_main_attrs", argv)?;
    let id = args::interp_id(py, id)?;
    if !ns.is_instance(&raw mut PyDict_Type) {
        return Err(err::type_error(py, "ns must be a dict"));
    }
    let ns = encode(ns, EncodeMode::Full)?;
    run_and_wait(py, id, "prepare", None, move |py, ctx| {
        jobs::run_set_main(py, ctx, &ns)
    })
}

pub(crate) fn submit<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id, f, a, kw] = args::exact(py, "submit", argv)?;
    let id = args::interp_id(py, id)?;
    let label = super::inspect::function_label(f);
    let (f, a, kw) = encode_call(py, f, a, kw)?;
    let (w, seq, result) = dispatch(py, id, "call into", move |py, ctx| {
        ctx.worker().set_job_label(Some(label));
        jobs::run_call(py, ctx, &f, &a, &kw)
    })?;
    super::pending::new(py, module, w, seq, result)
}

pub(crate) fn interrupt<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id] = args::exact(py, "interrupt", argv)?;
    let id = args::interp_id(py, id)?;
    let w = worker_for(py, id, "interrupt")?;
    let hit = crate::ffi::tstate::detached(py, || {
        // SAFETY: detached, as `interrupt` requires.
        unsafe { w.interrupt(0, InterruptReason::KeyboardInterrupt) }
    });
    Ok(boolean(py, hit))
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
