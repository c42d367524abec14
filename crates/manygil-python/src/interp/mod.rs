//! Own-GIL interpreters on worker threads: lifecycle, jobs, interrupts, and the public
//! Rust API ([`Worker`]).
//!
//! - `lifecycle`: creating and ending interpreters under the process-wide mutex.
//! - `worker`: the worker thread, its inbox and interrupts.
//! - `jobs`: calls / exec / prepare_main as run inside the interpreter.
//! - `registry`: the interpreters `create()` made, by id; stopping them all at exit.
//! - `lookup`: finding the interpreter an operation names (errors that say why not).
//! - `fork_guard`, `datetime_guard`: workarounds for CPython bugs (fork; 3.13's `_datetime`).
//! - `api`: the interpreter functions of `manygil._native` (its Python-facing entry points).
//! - `calls`: dispatching a call to a worker and waiting for its outcome.
//! - `convert`: a call's arguments encoded, its outcome as `(ok, value)`.
//! - `config`: interpreter settings (`manygil.InterpreterConfig`) read from Python and back.
//! - `pending`: `PendingCall`, a call running in another interpreter.
//! - `inspect`: snapshots of what interpreters run (their Python stacks), bounded in time.
//!
//! Refusing synchronous calls that would wait in a cycle is the core's `waits`.

pub(crate) mod api;
pub(crate) mod calls;
pub(crate) mod config;
pub(crate) mod convert;
pub(crate) mod datetime_guard;
pub(crate) mod fork_guard;
pub(crate) mod frames_guard;
pub(crate) mod inspect;
pub(crate) mod jobs;
pub(crate) mod lifecycle;
pub(crate) mod lookup;
pub(crate) mod pending;
pub(crate) mod registry;
pub(crate) mod wake;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Duration;

use manygil_core::worker::{completion, Completion, WaitError};
use manygil_core::Value;

use crate::ffi::{Attached, Detached};
use worker::{InterruptReason, WorkerShared};

/// An error from the Rust API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Python is not initialized, or is shutting down.
    NoRuntime,
    /// The interpreter could not be created.
    Create(String),
    /// The interpreter is closed (or closing).
    Closed,
    /// Code raised an exception inside the interpreter.
    Raised(RemoteError),
    /// A wait with a timeout ended before the result arrived (the task goes on).
    TimedOut,
    /// The task was cancelled.
    Cancelled,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoRuntime => {
                f.write_str("the Python runtime is not initialized or is finalizing")
            }
            Error::Create(m) => write!(f, "could not create an interpreter: {m}"),
            Error::Closed => f.write_str("the interpreter is closed"),
            Error::Raised(e) => write!(f, "{}", e.formatted),
            Error::TimedOut => f.write_str("timed out waiting for the result"),
            Error::Cancelled => f.write_str("the task was cancelled"),
        }
    }
}

impl std::error::Error for Error {}

/// An exception raised inside a worker's interpreter, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// The exception type's qualified name, e.g. `ValueError`.
    pub type_name: String,
    /// The exception type's module, e.g. `builtins`.
    pub module: String,
    /// `str(exc)`.
    pub message: String,
    /// `Type: message`, as `traceback.format_exception_only` gives it.
    pub formatted: String,
    /// The full traceback text.
    pub traceback: String,
}

impl RemoteError {
    pub(crate) fn from_record(record: &Value) -> RemoteError {
        let text = |i: usize| match record {
            Value::Tuple(items) => match items.get(i) {
                Some(Value::Str(s)) => s.to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        RemoteError {
            type_name: text(1),
            module: text(2),
            message: text(3),
            formatted: text(4),
            traceback: text(5),
        }
    }
}

/// An own-GIL sub-interpreter that lives on its own OS thread, driven from Rust.
///
/// The embedding program must have initialized Python (`Py_InitializeEx`) in the main
/// interpreter. The methods block the calling thread until the interpreter has done the
/// work; if the calling thread has an attached thread state, it is detached while waiting
/// (so other Python threads, and the worker's need for the main GIL at creation, are not
/// blocked) and re-attached afterwards.
///
/// # Examples
///
/// ```no_run
/// use manygil_native::{Value, Worker};
///
/// // Python must be initialized by the embedding program first.
/// let worker = Worker::spawn().expect("interpreter");
/// worker.exec("import math").unwrap();
/// let v = worker.call("math", "factorial", vec![Value::Int(20)]).unwrap();
/// assert_eq!(v, Value::Int(2432902008176640000));
/// worker.close().unwrap();
/// ```
#[derive(Clone)]
pub struct Worker {
    /// The worker thread's shared state.
    shared: Arc<WorkerShared>,
}

impl Worker {
    /// Create an own-GIL interpreter on a new thread.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] if Python is not initialized or is finalizing;
    /// [`Error::Create`] if CPython refuses to create the interpreter.
    pub fn spawn() -> Result<Worker, Error> {
        if !crate::ffi::tstate::is_running() {
            return Err(Error::NoRuntime);
        }
        let shared = crate::ffi::tstate::detached_if_attached(|_| {
            worker::spawn(
                crate::ffi::interp_config::InterpConfig::ISOLATED,
                Box::new(|_py| Ok(())),
                worker::Naming::created(),
            )
        })
        .map_err(Error::Create)?;
        registry::insert(shared.clone());
        Ok(Worker { shared })
    }

    /// The CPython interpreter id.
    pub fn id(&self) -> i64 {
        self.shared.id
    }

    /// Run `source` as a module-level script in the interpreter's `__main__`.
    ///
    /// # Errors
    ///
    /// [`Error::Raised`] with the exception's text; [`Error::Closed`].
    pub fn exec(&self, source: &str) -> Result<(), Error> {
        let source = source.to_owned();
        self.run(move |py, ctx| jobs::run_exec(py, ctx, &source))
            .map(|_| ())
    }

    /// Call `module.qualname(*args)` in the interpreter and return its result.
    ///
    /// # Errors
    ///
    /// [`Error::Raised`] with the exception's text; [`Error::Closed`].
    pub fn call(&self, module: &str, qualname: &str, args: Vec<Value>) -> Result<Value, Error> {
        let func = Value::Ref {
            module: module.into(),
            qualname: qualname.into(),
        };
        self.run(move |py, ctx| {
            jobs::run_call(
                py,
                ctx,
                &func,
                &Value::Tuple(args),
                &Value::Dict(Vec::new()),
            )
        })
    }

    /// End the interpreter and join its thread, after the jobs already queued.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if it was already closed.
    pub fn close(self) -> Result<(), Error> {
        let shared = registry::remove_if(self.shared.id, |_| None)
            .map_err(|_| Error::Closed)?
            .map_err(|_| Error::Closed)?;
        shared.stop();
        crate::ffi::tstate::detached_if_attached(|_| shared.join());
        Ok(())
    }

    fn run(
        &self,
        f: impl for<'py> FnOnce(Attached<'py>, &worker::JobCtx<'_>) -> jobs::Outcome + Send + 'static,
    ) -> Result<Value, Error> {
        let (done, result) = completion::<jobs::Outcome>();
        self.shared
            .send(Box::new(move |py, ctx| {
                let outcome = f(py, ctx);
                ctx.mark_done();
                done.complete(outcome);
            }))
            .map_err(|_| Error::Closed)?;
        match crate::ffi::tstate::detached_if_attached(|_| result.wait(None)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(record)) => Err(Error::Raised(RemoteError::from_record(&record))),
            Err(_) => Err(Error::Closed),
        }
    }
}

/// Something whose jobs can be interrupted by sequence number (a worker, a pool).
pub(crate) trait Interrupt: Send + Sync {
    /// Interrupt job `seq` if it runs now (or keep it from running, for a pool).
    fn interrupt_job(&self, d: &mut Detached, seq: u64, reason: InterruptReason) -> bool;

    /// What to call it in messages ("interpreter 3", "the pool").
    fn describe(&self) -> String;
}

impl Interrupt for WorkerShared {
    fn interrupt_job(&self, d: &mut Detached, seq: u64, reason: InterruptReason) -> bool {
        self.interrupt(d, seq, reason)
    }

    fn describe(&self) -> String {
        format!("interpreter {}", self.id)
    }
}

/// Wait for a job's completion from Python code. In the main thread of the main
/// interpreter the wait is cut in slices so Ctrl-C is seen promptly: on a signal the running
/// job is interrupted and the signal's exception (normally `KeyboardInterrupt`) is returned.
pub(crate) fn wait_for_python<T: Send>(
    py: Attached<'_>,
    worker: &dyn Interrupt,
    seq: u64,
    result: &Completion<T>,
    timeout: Option<Duration>,
) -> Result<Result<T, WaitError>, crate::ffi::err::PyErrSet> {
    wait_in_slices(py, worker, seq, timeout, |slice| result.wait(slice))
}

/// The waiting policy of [`wait_for_python`] around any `step`, which waits (detached) for
/// at most the slice it is given (`None`: forever) and returns `Err(WaitError::Timeout)` if
/// nothing happened.
pub(crate) fn wait_in_slices<T>(
    py: Attached<'_>,
    worker: &dyn Interrupt,
    seq: u64,
    timeout: Option<Duration>,
    mut step: impl FnMut(Option<Duration>) -> Result<T, WaitError> + Send,
) -> Result<Result<T, WaitError>, crate::ffi::err::PyErrSet> {
    const SLICE: Duration = Duration::from_millis(20);
    let interruptible = crate::runtime::main_thread::is_current(py);
    // A deadline too far to represent is no deadline.
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let slice = match (interruptible, deadline) {
            (false, None) => None,
            (false, Some(d)) => Some(d.saturating_duration_since(std::time::Instant::now())),
            (true, None) => Some(SLICE),
            (true, Some(d)) => Some(
                d.saturating_duration_since(std::time::Instant::now())
                    .min(SLICE),
            ),
        };
        let got = crate::ffi::tstate::detached(py, || step(slice));
        match got {
            Err(WaitError::Timeout) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Ok(Err(WaitError::Timeout));
                }
                if crate::ffi::err::check_signals(py).is_err() {
                    crate::ffi::tstate::detached_with(py, |d| {
                        worker.interrupt_job(d, seq, InterruptReason::KeyboardInterrupt)
                    });
                    return Err(crate::ffi::err::PyErrSet);
                }
            }
            other => return Ok(other),
        }
    }
}
