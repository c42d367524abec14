//! The Rust API for programs that embed CPython: start the runtime ([`Runtime`]), run a
//! pool of own-GIL worker interpreters ([`Pool`]) and call Python functions on it from Rust
//! ([`Task`]). The pool is the same engine `manygil.Pool` drives from Python (`pool`): the
//! same workers, watchdog, cancellation and delivery; only the reply is a Rust completion
//! slot instead of a `concurrent.futures.Future`.
//!
//! Arguments and results are [`Value`]s, copied once into (and out of) the worker
//! interpreter; a [`SharedMemory`] passed as [`buffer`] is not copied at all: the task sees
//! it as a `manygil.SharedBuffer` over the same memory.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::buffer::SharedMemory;
use manygil_core::value::{Shared, SharedKind};
use manygil_core::worker::{completion, Completion, WaitError};
use manygil_core::Value;

use crate::ffi::embed::MainThreadState;
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::interp::{Error, RemoteError};
use crate::pool::{Payload, PoolConfig, Refused, Reply, Task as PoolTask};

/// The embedded CPython runtime: started by [`Runtime::start`], ended by
/// [`Runtime::shutdown`] (or when dropped), on the same thread.
///
/// Starting initializes CPython if the program has not done so (without Python's signal
/// handlers), puts `sys_path` entries first on the main interpreter's `sys.path` (every
/// worker adopts it), and detaches the main thread so that workers can start from any
/// thread. Ending stops every pool (their queued tasks still run), joins every worker,
/// and finalizes CPython if this runtime initialized it.
///
/// # Examples
///
/// ```
/// use manygil_native::{Pool, Runtime, Value};
///
/// let runtime = Runtime::start(&[] as &[&str]).unwrap();
/// let pool = Pool::new(2).unwrap();
/// let task = pool.submit("math", "factorial", vec![Value::Int(20)]).unwrap();
/// assert_eq!(task.wait().unwrap(), Value::Int(2_432_902_008_176_640_000));
/// drop(pool);
/// runtime.shutdown();
/// ```
pub struct Runtime {
    /// The main thread state when this runtime initialized CPython (then it finalizes it);
    /// `None` when the program had initialized it already.
    main: Option<MainThreadState>,
}

impl Runtime {
    /// Start the runtime; `sys_path` entries (directories of the Python code the tasks
    /// call) go first on `sys.path`.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] if CPython is finalizing; [`Error::Raised`] if `sys.path`
    /// cannot be set.
    pub fn start<P: AsRef<std::path::Path>>(sys_path: &[P]) -> Result<Runtime, Error> {
        let _ = crate::handles::state::MAKE_EMBEDDED.set(crate::module::make_embedded);
        let main = crate::ffi::embed::initialize();
        if !crate::ffi::tstate::is_running() {
            return Err(Error::NoRuntime);
        }
        let paths: Vec<String> = sys_path
            .iter()
            .map(|p| p.as_ref().to_string_lossy().into_owned())
            .collect();
        let runtime = Runtime { main };
        let set = |py: crate::ffi::Attached<'_>| prepend_sys_path(py, &paths);
        let sys_path = match &runtime.main {
            // This thread initialized the runtime just now and detached its thread state.
            Some(main) => crate::ffi::Detached::on_plain_thread(|d| {
                crate::ffi::embed::with_main(d, main, set)
            })?,
            None => with_main_of_program(set)?,
        };
        *SYS_PATH.lock() = Some(sys_path);
        Ok(runtime)
    }

    /// Stop every pool (queued tasks still run), close every worker interpreter and join
    /// their threads, then finalize CPython if this runtime initialized it. Blocks until
    /// then; a task stuck in a C call is interrupted and waited for at most 2 seconds
    /// (the runtime is then left initialized rather than finalized under a live thread).
    pub fn shutdown(mut self) {
        self.end();
    }

    fn end(&mut self) {
        let stuck = crate::ffi::tstate::detached_if_attached(crate::pool::at_exit::stop_all);
        if let Some(main) = self.main.take() {
            if stuck.is_empty() {
                // Nothing is attached: this thread initialized the runtime (`main` is not
                // `Send`) and attaches main only inside calls that detach it again.
                crate::ffi::Detached::scope(|d| {
                    // SAFETY: every worker joined (`stuck` is empty).
                    unsafe { crate::ffi::embed::finalize(d, main) }
                });
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.end();
    }
}

/// The main interpreter's `sys.path` as [`Runtime::start`] left it: every pool's workers
/// adopt it, as `manygil.Pool`'s do.
static SYS_PATH: parking_lot::Mutex<Option<Value>> = parking_lot::Mutex::new(None);

/// Run `f` in the main interpreter of a runtime the program initialized itself: through
/// this thread's attached main thread state, or a temporary one if nothing is attached.
fn with_main_of_program<R>(
    f: impl for<'py> FnOnce(crate::ffi::Attached<'py>) -> Result<R, Error>,
) -> Result<R, Error> {
    if crate::ffi::tstate::main_attached() {
        // SAFETY: the main interpreter is attached on this thread (checked just above).
        return f(unsafe { crate::ffi::Attached::assume() });
    }
    if crate::ffi::tstate::is_attached() {
        return Err(Error::Create(
            "Runtime::start was called from a thread running another interpreter".into(),
        ));
    }
    crate::ffi::Detached::scope(|d| crate::runtime::main_ref::with_main_detached(d, f))
        .flatten()
        .unwrap_or(Err(Error::NoRuntime))
}

/// Put `paths` first on `sys.path`; returns the resulting `sys.path`.
fn prepend_sys_path(py: crate::ffi::Attached<'_>, paths: &[String]) -> Result<Value, Error> {
    let r = (|| -> crate::ffi::err::PyResult<Value> {
        let sys_path = crate::ffi::import_attr(py, c"sys", c"path")?;
        for (i, p) in paths.iter().enumerate() {
            let s = crate::ffi::new_str(py, p)?;
            let at = crate::ffi::new_int(py, i as i64)?;
            let insert = crate::ffi::new_str(py, "insert")?;
            sys_path
                .borrow()
                .call_method(insert.borrow(), &[at.borrow(), s.borrow()])?;
        }
        crate::codec::encode(sys_path.borrow(), crate::codec::EncodeMode::Full)
    })();
    r.map_err(|crate::ffi::err::PyErrSet| {
        Error::Raised(RemoteError::from_record(
            &crate::interp::jobs::capture_exception(py),
        ))
    })
}

/// A [`SharedMemory`] as a task argument: the task gets a writable `manygil.SharedBuffer`
/// over the same memory (nothing is copied; what the task writes, Rust reads).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use manygil_native::{buffer, Pool, Runtime, SharedMemory, Value};
///
/// let runtime = Runtime::start(&[] as &[&str]).unwrap();
/// let pool = Pool::new(1).unwrap();
/// let memory = Arc::new(SharedMemory::from_bytes(b"hello").unwrap());
/// // bytes(buffer) in the worker reads the same memory.
/// let task = pool.submit("builtins", "bytes", vec![buffer(&memory)]).unwrap();
/// assert_eq!(task.wait().unwrap(), Value::Bytes(b"hello".to_vec().into()));
/// drop(pool);
/// runtime.shutdown();
/// ```
pub fn buffer(memory: &Arc<SharedMemory>) -> Value {
    Value::Shared(Shared::new(SharedKind::Buffer, memory.clone()))
}

/// As [`buffer`], read-only in the task (writing raises `TypeError` there).
pub fn buffer_read_only(memory: &Arc<SharedMemory>) -> Value {
    Value::Shared(Shared::new(SharedKind::ReadOnlyBuffer, memory.clone()))
}

/// A call for [`Pool::submit_call`]: `module.qualname(*args, **kwargs)`, with its own
/// timeout (past it the task is interrupted in its interpreter and fails with Python's
/// `TimeoutError`).
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The importable module that defines the callable, e.g. `"math"`.
    pub module: String,
    /// The callable's qualified name in it, e.g. `"factorial"` or `"Class.method"`.
    pub qualname: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments (keys are strings).
    pub kwargs: Vec<(String, Value)>,
    /// Interrupt the task if it runs longer than this.
    pub timeout: Option<Duration>,
}

/// A pool of own-GIL worker interpreters (the engine behind `manygil.Pool`). Workers
/// start as tasks arrive, up to the pool's size; all take tasks from one queue. Dropping
/// the pool stops it after the queued tasks, without waiting; [`Pool::shutdown`] waits.
pub struct Pool {
    /// The shared engine.
    inner: Arc<crate::pool::Pool>,
    /// Whether [`Pool::shutdown`] has stopped and joined it (else dropping stops it).
    joined: bool,
}

impl Pool {
    /// A pool of at most `workers` interpreters (one starts now).
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] before [`Runtime::start`]; [`Error::Create`] if the first
    /// interpreter cannot be created.
    pub fn new(workers: usize) -> Result<Pool, Error> {
        Pool::with_timeout(workers, None)
    }

    /// As [`Pool::new`], with a default timeout for every task.
    ///
    /// # Errors
    ///
    /// As [`Pool::new`].
    pub fn with_timeout(workers: usize, task_timeout: Option<Duration>) -> Result<Pool, Error> {
        if !crate::ffi::tstate::is_running() {
            return Err(Error::NoRuntime);
        }
        if workers == 0 {
            return Err(Error::Create("a pool needs at least one worker".into()));
        }
        let config = PoolConfig {
            workers,
            sys_path: SYS_PATH.lock().clone(),
            initializer: None,
            max_tasks_per_worker: None,
            task_timeout,
            interp: crate::ffi::interp_config::InterpConfig::ISOLATED,
            name: crate::pool::next_pool_name(),
        };
        let inner = crate::ffi::tstate::detached_if_attached(|_| crate::pool::Pool::start(config))
            .map_err(Error::Create)?;
        Ok(Pool {
            inner,
            joined: false,
        })
    }

    /// Queue `module.qualname(*args)`; returns at once.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after shutdown; [`Error::Create`] if the pool is broken (a
    /// worker could not start).
    pub fn submit(&self, module: &str, qualname: &str, args: Vec<Value>) -> Result<Task, Error> {
        self.submit_call(Call {
            module: module.into(),
            qualname: qualname.into(),
            args,
            ..Call::default()
        })
    }

    /// Queue `call`; returns at once.
    ///
    /// # Errors
    ///
    /// As [`Pool::submit`].
    pub fn submit_call(&self, call: Call) -> Result<Task, Error> {
        let (done, result) = completion::<Outcome>();
        let kwargs = call
            .kwargs
            .into_iter()
            .map(|(k, v)| (Value::Str(k.into()), v))
            .collect();
        let label = format!("{}.{}", call.module, call.qualname).into();
        let task = PoolTask {
            payload: Payload::Call {
                func: Value::Ref {
                    module: call.module.into(),
                    qualname: call.qualname.into(),
                },
                args: Value::Tuple(call.args),
                kwargs: Value::Dict(kwargs),
            },
            timeout: call.timeout,
            reply: Reply::Slot(done),
            label: Some(label),
        };
        match self.inner.submit(task) {
            Ok(seq) => Ok(Task {
                pool: self.inner.clone(),
                seq,
                result,
            }),
            Err(Refused::ShutDown) => Err(Error::Closed),
            Err(Refused::Broken(why)) => Err(Error::Create(why)),
        }
    }

    /// Stop taking tasks and wait until the queued ones have run and every worker has
    /// ended (a worker stuck in a C call is left to end when the call returns).
    pub fn shutdown(mut self) {
        let inner = &self.inner;
        crate::ffi::tstate::detached_if_attached(|_| inner.shutdown(true));
        self.joined = true;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if !self.joined {
            self.inner.shutdown(false);
            self.inner.reap_in_background();
        }
    }
}

/// A task queued on a [`Pool`]: wait for its result, or cancel it.
pub struct Task {
    pool: Arc<crate::pool::Pool>,
    seq: u64,
    result: Completion<Outcome>,
}

impl Task {
    /// Wait for the result (the calling thread's Python thread state, if any, is detached
    /// meanwhile).
    ///
    /// # Errors
    ///
    /// [`Error::Raised`] with the exception's type, message and traceback;
    /// [`Error::Cancelled`] if the task was cancelled; [`Error::Closed`] if it was dropped
    /// unrun.
    pub fn wait(self) -> Result<Value, Error> {
        let r = crate::ffi::tstate::detached_if_attached(|_| self.result.wait(None));
        outcome(r)
    }

    /// Wait at most `timeout`. On [`Error::TimedOut`] the task goes on: wait again,
    /// or [`Task::cancel`] it.
    ///
    /// # Errors
    ///
    /// As [`Task::wait`], plus [`Error::TimedOut`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Value, Error> {
        let r = crate::ffi::tstate::detached_if_attached(|_| self.result.wait(Some(timeout)));
        outcome(r)
    }

    /// Cancel the task: a queued one never runs; a running one is interrupted in its
    /// interpreter (`KeyboardInterrupt` raised at its next bytecode; a call stuck in C is
    /// abandoned and its worker replaced). [`Task::wait`] then returns
    /// [`Error::Cancelled`]. Returns whether the task was running.
    pub fn cancel(&self) -> bool {
        let pool = &self.pool;
        let seq = self.seq;
        crate::ffi::tstate::detached_if_attached(|d| {
            pool.cancel(d, seq, InterruptReason::Cancelled)
        })
    }

    /// The task's process-unique sequence number.
    pub fn id(&self) -> u64 {
        self.seq
    }
}

fn outcome(r: Result<Outcome, WaitError>) -> Result<Value, Error> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(record)) => {
            let e = RemoteError::from_record(&record);
            if e.type_name == "CancelledError" && e.module.starts_with("concurrent.futures") {
                Err(Error::Cancelled)
            } else {
                Err(Error::Raised(e))
            }
        }
        Err(WaitError::Timeout) => Err(Error::TimedOut),
        Err(WaitError::Abandoned) => Err(Error::Closed),
    }
}
