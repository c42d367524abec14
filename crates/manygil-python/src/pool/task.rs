//! One pool task: what the worker runs, and how the outcome reaches the caller.
//!
//! A task's reply goes either to a `concurrent.futures.Future` of the main interpreter
//! (`submit`), or into a completion slot that the caller reads itself (`map`'s chunks).
//! A future's outcome is handed over in one of two ways:
//! - a caller of the main interpreter is polling for deliveries (`result()` on a short
//!   task, see `PoolCore.spin_for_delivery`): the worker leaves the still-encoded outcome
//!   in the pool's [`Handoff`] and the caller decodes and delivers it itself, with the main
//!   GIL it is about to take anyway — the worker never switches interpreters;
//! - nobody polls: the worker attaches the main interpreter with its own thread state and
//!   calls the future's `_deliver`, so the caller wakes directly.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_core::worker::Completer;
use manygil_core::Value;
use parking_lot::Mutex;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::{boolean, new_str, none, set_sys_attr, Attached, Detached, Owned};
use crate::interp::jobs::{self, Outcome};
use crate::interp::worker::JobCtx;

use super::Pool;
use crate::runtime::main_ref::{self, MainRef};

/// What to run.
pub(crate) enum Payload {
    /// `func(*args, **kwargs)`.
    Call {
        /// The callable.
        func: Value,
        /// A tuple.
        args: Value,
        /// A dict.
        kwargs: Value,
    },
    /// `[func(*a) for a in items]` (one `map` chunk); stops at the first exception.
    Chunk {
        /// The callable.
        func: Value,
        /// Argument tuples.
        items: Vec<Value>,
    },
}

/// Where the outcome goes.
pub(crate) enum Reply {
    /// A `manygil.pool._PoolFuture` of the main interpreter.
    Future(MainRef),
    /// A slot the caller waits on.
    Slot(Completer<Outcome>),
}

/// A task's reply once the task runs, shared with the watchdog when the task has a
/// deadline: whoever takes it first delivers (the worker the task's outcome, the watchdog a
/// `TimeoutError` at the deadline, even if the task is stuck in a C call).
pub(crate) type SharedReply = Arc<Mutex<Option<Reply>>>;

/// A task as queued.
pub(crate) struct Task {
    /// What to run.
    pub(crate) payload: Payload,
    /// Its own timeout (overrides the pool's `task_timeout`).
    pub(crate) timeout: Option<Duration>,
    /// Where the outcome goes.
    pub(crate) reply: Reply,
    /// What it runs, for snapshots (`module.qualname` of the function).
    pub(crate) label: Option<Box<str>>,
}

/// A new worker's set-up: adopt `sys_path`, then run the initializer.
pub(crate) fn setup_worker(
    py: Attached<'_>,
    sys_path: Option<&Value>,
    initializer: Option<&(Value, Value)>,
) -> Result<(), String> {
    let r = (|| -> PyResult<()> {
        if let Some(paths) = sys_path {
            let list = decode(py, paths)?;
            set_sys_attr(py, c"path", list.borrow())?;
        }
        if let Some((func, args)) = initializer {
            let func = decode(py, func)?;
            let args = decode(py, args)?;
            // `args` is a tuple (checked by the Python layer).
            func.borrow().call_tuple_dict(args.borrow(), None)?;
        }
        Ok(())
    })();
    r.map_err(|PyErrSet| {
        // The full traceback when there is one, else `Type: message`.
        let e = crate::interp::RemoteError::from_record(&jobs::capture_exception(py));
        [e.traceback, e.formatted]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or_else(|| "the initializer raised".to_owned())
    })
}

/// Future outcomes that a polling caller of the main interpreter delivers itself.
///
/// Every outcome offered is delivered exactly once: a worker offers one only while at
/// least one caller is polling (both under `state`'s lock), and every caller takes what
/// is there when it stops polling (under the same lock), so the last caller to stop takes
/// whatever was offered while it polled.
pub(crate) struct Handoff {
    /// Invariant: `ready` is empty whenever `polling` is 0 (an outcome is pushed only while
    /// `polling > 0`, and the caller that brings `polling` to 0 empties `ready` in the same
    /// critical section). Never held while waiting for a GIL.
    state: Mutex<HandoffState>,
}

struct HandoffState {
    /// Callers between [`Handoff::enter`] and [`Handoff::leave`].
    polling: usize,
    /// Outcomes offered, not yet taken by a leaving caller.
    ready: Vec<(MainRef, Outcome)>,
}

impl Handoff {
    pub(crate) fn new() -> Self {
        Handoff {
            state: Mutex::new(HandoffState {
                polling: 0,
                ready: Vec::new(),
            }),
        }
    }

    /// A caller starts polling; it must call [`Self::leave`] and deliver what it returns.
    pub(crate) fn enter(&self) {
        self.state.lock().polling += 1;
    }

    /// A caller stops polling: the outcomes it must now deliver (main interpreter attached).
    pub(crate) fn leave(&self) -> Vec<(MainRef, Outcome)> {
        let mut st = self.state.lock();
        st.polling -= 1;
        std::mem::take(&mut st.ready)
    }

    /// Leave `outcome` for a polling caller; gives it back when nobody polls.
    fn offer(&self, fut: MainRef, outcome: Outcome) -> Result<(), (MainRef, Outcome)> {
        let mut st = self.state.lock();
        if st.polling == 0 {
            return Err((fut, outcome));
        }
        // An allocation failure here aborts like any small Vec growth; one entry per
        // running task at most.
        st.ready.push((fut, outcome));
        Ok(())
    }
}

/// Run task `seq` on the current worker (its interpreter attached).
pub(crate) fn run(py: Attached<'_>, ctx: &JobCtx<'_>, pool: &Arc<Pool>, seq: u64, task: Task) {
    let Task {
        payload,
        timeout,
        reply,
        label,
    } = task;
    ctx.worker().set_job_label(label);
    let reply: SharedReply = Arc::new(Mutex::new(Some(reply)));
    if !pool.start_task(seq, &reply) {
        ctx.mark_done();
        if let Some(reply) = reply.lock().take() {
            deliver_cancelled(py, reply);
        }
        return;
    }
    // This worker counts as busy from now on. If tasks still wait and no worker is idle,
    // start another: `submit` alone can miss it, having counted this worker idle in the
    // moment between its taking the task and starting it (a task then waited behind a
    // long one although the pool was below `max_workers`).
    pool.grow_if_busy();
    // A timeout too large to have a deadline (`inf`, centuries) is no timeout.
    let deadline = timeout
        .or(pool.config.task_timeout)
        .and_then(|t| Instant::now().checked_add(t));
    if let Some(d) = deadline {
        pool.watchdog().arm(d, seq, ctx.worker(), &reply);
    }
    // A panic (a bug of ours) must fail this task's future, never leave it pending.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &payload {
        Payload::Call { func, args, kwargs } => jobs::run_call(py, ctx, func, args, kwargs),
        Payload::Chunk { func, items } => run_chunk(py, ctx, func, items),
    }))
    .unwrap_or_else(|panic| {
        // Whatever the unwound code left set is dropped.
        err::clear(py);
        Err(internal_error_record(&*panic))
    });
    if let Some(d) = deadline {
        pool.watchdog().disarm(d, seq);
    }
    pool.end_task(seq);
    // Taken already if the watchdog delivered TimeoutError at the deadline, or if the task
    // was cancelled: the outcome was counted then.
    let reply = reply.lock().take();
    if reply.is_some() {
        let counter = if outcome.is_ok() {
            &pool.stats.succeeded
        } else {
            &pool.stats.failed
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
    ctx.mark_done();
    if let Some(reply) = reply {
        deliver(py, &pool.handoff, reply, outcome);
        pool.stats.delivered.fetch_add(1, Ordering::Release);
    }
    if let Some(max) = pool.config.max_tasks_per_worker {
        if ctx.worker().jobs_run() >= max {
            let (pool, worker) = (pool.clone(), ctx.worker().clone());
            crate::ffi::tstate::detached(py, || pool.recycle(&worker));
        }
    }
}

/// `[func(*a) for a in items]`, encoded as one list; the first exception ends the chunk.
fn run_chunk(py: Attached<'_>, ctx: &JobCtx<'_>, func: &Value, items: &[Value]) -> Outcome {
    let r = (|| -> PyResult<Value> {
        // Until the first call starts, a failure to decode can be retried elsewhere.
        let (func, first) = jobs::before_call(py, || {
            let func = decode(py, func)?;
            let first = items.first().map(|item| decode(py, item)).transpose()?;
            Ok((func, first))
        })?;
        let mut out = Vec::with_capacity(items.len());
        let mut first = first;
        for item in items {
            let args = match first.take() {
                Some(args) => args,
                None => decode(py, item)?,
            };
            // `args` is a tuple (the Python layer sends tuples).
            let res = func.borrow().call_tuple_dict(args.borrow(), None)?;
            out.push(encode(res.borrow(), EncodeMode::Full)?);
        }
        Ok(Value::List(out))
    })();
    jobs::finish(py, ctx, r)
}

/// Hand `outcome` to whoever waits for it: to a polling caller through `handoff` when
/// one polls, else into its future with the main interpreter attached on this thread.
fn deliver(py: Attached<'_>, handoff: &Handoff, reply: Reply, outcome: Outcome) {
    match reply {
        Reply::Slot(done) => done.complete(outcome),
        Reply::Future(fut) => {
            if let Err((fut, outcome)) = handoff.offer(fut, outcome) {
                // SAFETY: inside with_main, `m` is the main interpreter, attached here.
                main_ref::with_main(py, move |m| unsafe { deliver_in_main(m, fut, outcome) });
            }
        }
    }
}

/// `fut._deliver(...)`; an error there is reported as unraisable (the future's own code
/// failed).
///
/// # Safety
///
/// `m` is the main interpreter, attached on this thread.
pub(crate) unsafe fn deliver_in_main(m: Attached<'_>, fut: MainRef, outcome: Outcome) {
    // SAFETY: the main interpreter is attached (caller's duty).
    let fut = unsafe { fut.into_owned(m) };
    main_ref::release_deferred(m);
    if call_deliver(m, &fut, outcome).is_err() {
        report_unraisable(m, &fut);
    }
}

/// Deliver `outcome` from a thread with no thread state attached (the watchdog).
pub(crate) fn deliver_detached(d: &mut Detached, reply: Reply, outcome: Outcome) {
    match reply {
        Reply::Slot(done) => done.complete(outcome),
        Reply::Future(fut) => {
            // If Python is finalizing nothing runs, and `fut` is released later.
            // SAFETY: inside with_main_detached, `m` is the main interpreter, attached here.
            let deliver = move |m: Attached<'_>| unsafe { deliver_in_main(m, fut, outcome) };
            let _ = main_ref::with_main_detached(d, deliver);
        }
    }
}

/// `fut._deliver(ok, value)`: `ok` True → result, False → exception record, None → an
/// exception object (the result could not be decoded here).
fn call_deliver<'py>(m: Attached<'py>, fut: &Owned<'py>, outcome: Outcome) -> PyResult<()> {
    let (ok, value) = match &outcome {
        Ok(v) => (true, v),
        Err(v) => (false, v),
    };
    let (flag, obj) = match decode(m, value) {
        Ok(obj) => (boolean(m, ok), obj),
        Err(PyErrSet) => (none(m), err::take(m)),
    };
    drop(outcome);
    let name = new_str(m, "_deliver")?;
    fut.borrow()
        .call_method(name.borrow(), &[flag.borrow(), obj.borrow()])?;
    Ok(())
}

/// A task cancelled while queued: let its future know (it may already say cancelled).
pub(crate) fn deliver_cancelled(py: Attached<'_>, reply: Reply) {
    match reply {
        Reply::Slot(done) => done.complete(Err(cancelled_record())),
        Reply::Future(fut) if crate::ffi::is_main_interpreter(py) => notify_cancelled(py, fut),
        Reply::Future(fut) => {
            main_ref::with_main(py, move |m| notify_cancelled(m, fut));
        }
    }
}

/// The reply of a running task that `Pool::cancel` cancelled: its future (which says
/// cancelled already) is notified, so that `wait`/`as_completed` see it done; a `map`
/// chunk's waiter gets `CancelledError`.
pub(crate) fn deliver_cancelled_detached(d: &mut Detached, reply: Reply) {
    match reply {
        Reply::Slot(done) => done.complete(Err(cancelled_record())),
        Reply::Future(fut) => {
            // If Python is finalizing nothing runs, and `fut` is released later.
            let _ = main_ref::with_main_detached(d, move |m| notify_cancelled(m, fut));
        }
    }
}

/// `fut._deliver_cancelled()`, with the main interpreter attached.
fn notify_cancelled(m: Attached<'_>, fut: MainRef) {
    // SAFETY: the main interpreter is attached (caller's duty: `m`).
    let fut = unsafe { fut.into_owned(m) };
    main_ref::release_deferred(m);
    let r = (|| -> PyResult<()> {
        let name = new_str(m, "_deliver_cancelled")?;
        fut.borrow().call_method(name.borrow(), &[])?;
        Ok(())
    })();
    if r.is_err() {
        report_unraisable(m, &fut);
    }
}

/// The exception record of a task that failed because of a bug in manygil (a panic).
fn internal_error_record(panic: &(dyn std::any::Any + Send)) -> Value {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    let msg = format!("manygil internal error while running the task (please report it): {what}");
    jobs::exc_record(
        "SystemError",
        "builtins",
        &msg,
        &format!("SystemError: {msg}"),
        "",
        Value::None,
    )
}

fn cancelled_record() -> Value {
    let msg = "the task was cancelled before it started";
    jobs::exc_record(
        "CancelledError",
        "concurrent.futures",
        msg,
        &format!("CancelledError: {msg}"),
        "",
        Value::None,
    )
}

fn report_unraisable<'py>(m: Attached<'py>, fut: &Owned<'py>) {
    err::write_unraisable(m, fut.borrow());
}
