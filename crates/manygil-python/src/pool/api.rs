//! `PoolCore`: the native half of `manygil.Pool` (the Python class keeps the
//! `concurrent.futures.Executor` protocol; this type owns the workers).
//!
//! Created with `PoolCore(workers, sys_path, initializer, initargs, max_tasks_per_worker,
//! task_timeout, config)` (`config`: a settings tuple, see `interp::config`); a heap type per interpreter (made by `create_type`, exposed as a module
//! attribute), instances hold an `Arc` of the Rust pool only.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_core::worker::completion;
use manygil_core::Value;

use super::{task, Payload, Pool, PoolConfig, Refused, Reply, Task};
use crate::codec::{encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::raw::PyList_Type;
use crate::ffi::{
    boolean, new_dict, new_int, new_list, new_str, new_uint, none, Attached, Borrowed, Owned,
};
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::runtime::main_ref::{self, MainRef};

use crate::ffi::args::{self, Call};
use crate::ffi::entry::FromSelf;
use crate::ffi::tstate;
use crate::ffi::types::native_type;
use crate::interp::convert::encode_call;

/// The value of a `PoolCore`: the pool, shut down (without waiting) when the object goes.
struct PoolBox(Arc<Pool>);

impl Drop for PoolBox {
    fn drop(&mut self) {
        self.0.shutdown(false); // workers finish what is queued, then stop
        self.0.reap_in_background();
    }
}

impl std::ops::Deref for PoolBox {
    type Target = Arc<Pool>;
    fn deref(&self) -> &Arc<Pool> {
        &self.0
    }
}

native_type! {
    name: c"manygil._native.PoolCore",
    value: PoolBox,
    new: pool_new,
    methods: [
        args c"is_running" => c_is_running(is_running), c"is_running($self, seq, /)\n--\n\nWhether task seq runs now.";
        args c"submit" => c_submit(submit), c"submit($self, future, fn, args, kwargs, timeout, /)\n--\n\nQueue fn(*args, **kwargs); its outcome completes future. Returns the task number.";
        args c"submit_chunk" => c_submit_chunk(submit_chunk), c"submit_chunk($self, fn, items, timeout, /)\n--\n\nQueue [fn(*a) for a in items] as one task; returns a PendingCall.";
        args c"cancel" => c_cancel(cancel), c"cancel($self, seq, /)\n--\n\nInterrupt task seq if running (True), else skip it when dequeued.";
        args c"cancel_all" => c_cancel_all(cancel_all), c"cancel_all($self, interrupt, /)\n--\n\nCancel all queued tasks; interrupt running ones if interrupt.";
        args c"shutdown" => c_shutdown(shutdown), c"shutdown($self, wait, /)\n--\n\nStop taking tasks; with wait, join the workers.";
        args c"stats" => c_stats(stats), c"stats($self, /)\n--\n\nActivity counters.";
        args c"deliveries" => c_deliveries(deliveries), c"deliveries($self, /)\n--\n\nHow many outcomes workers have handed to futures so far.";
        args c"spin_for_delivery" => c_spin_for_delivery(spin_for_delivery), c"spin_for_delivery($self, seen, /)\n--\n\nWith the GIL released, poll for up to about 50 microseconds until deliveries() differs from seen; then deliver the outcomes workers left for a polling caller meanwhile; returns deliveries().";
        args c"broken" => c_broken(broken), c"broken($self, /)\n--\n\nWhy the pool is broken, or None.";
        args c"name" => c_name(name), c"name($self, /)\n--\n\nThe pool's name, pool-<n>.";
        args c"worker_ids" => c_worker_ids(worker_ids), c"worker_ids($self, /)\n--\n\nInterpreter ids of the pool's workers (those taking tasks, then those stuck in a task that ignored its interrupt).";
    ],
}

fn pool_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<PoolBox> {
    if !crate::ffi::is_main_interpreter(py) {
        return Err(crate::handles::errors::raise(
            py,
            crate::handles::errors::Exc::Interpreter,
            "manygil.Pool can only be created in the main interpreter",
        ));
    }
    let [workers, sys_path, initializer, initargs, max_tasks, task_timeout, interp] =
        args::exact(py, "PoolCore", call.positionals())?;
    // Checked before anything is created.
    let interp = crate::interp::config::parse(py, Some(interp))?;
    let workers = args::count(py, "max_workers", workers)?;
    if workers < 1 {
        return Err(err::value_error(py, "max_workers must be greater than 0"));
    }
    let sys_path = Some(encode(sys_path, EncodeMode::NativeOnly)?);
    let initializer = match args::given(Some(initializer)) {
        None => None,
        Some(f) => {
            let f = encode(f, EncodeMode::Full)?;
            let a = encode(initargs, EncodeMode::Full)?;
            Some((f, a))
        }
    };
    let max_tasks = match args::given(Some(max_tasks)) {
        None => None,
        Some(n) => Some(args::count(py, "max_tasks_per_worker", n)? as u64),
    };
    let task_timeout = args::timeout(py, Some(task_timeout))?;
    let config = PoolConfig {
        workers,
        sys_path,
        initializer,
        max_tasks_per_worker: max_tasks,
        task_timeout,
        interp,
        name: super::next_pool_name(),
    };
    let pool = crate::ffi::tstate::detached(py, || Pool::start(config)).map_err(|m| {
        crate::handles::errors::raise(
            py,
            crate::handles::errors::Exc::Interpreter,
            &format!("could not start the pool: {m}"),
        )
    })?;
    Ok(PoolBox(pool))
}

fn refused(py: Attached<'_>, why: Refused) -> PyErrSet {
    match why {
        Refused::ShutDown => err::runtime_error(py, "cannot schedule new futures after shutdown"),
        Refused::Broken(text) => crate::handles::errors::raise(
            py,
            crate::handles::errors::Exc::BrokenPool,
            &format!("the pool is broken: {text}"),
        ),
    }
}

fn submit<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [future, func, a, kw, timeout] = args::exact(py, "submit", argv)?;
    main_ref::release_deferred(py);
    let (func, a, kw) = encode_call(py, func, a, kw)?;
    let timeout = args::timeout(py, Some(timeout))?;
    // SAFETY: PoolCore exists only in the main interpreter (checked in tp_new), which is
    // attached here; the future is a main-interpreter object.
    let fut = unsafe { MainRef::new(future) };
    let task = Task {
        payload: Payload::Call {
            func,
            args: a,
            kwargs: kw,
        },
        timeout,
        reply: Reply::Future(fut),
        label: Some(crate::interp::inspect::function_label(argv[1])),
    };
    match pool.submit(task) {
        Ok(seq) => new_int(py, seq as i64),
        // The refused task was dropped with main attached: its future reference is released.
        Err(why) => Err(refused(py, why)),
    }
}

fn submit_chunk<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let pool = <&PoolBox>::from_self(py, slf)?;
    let [f, items, timeout] = args::exact(py, "submit_chunk", argv)?;
    if !items.is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(
            py,
            "items must be a list of argument tuples",
        ));
    }
    if !f.is_callable() {
        return Err(err::type_error(
            py,
            &format!("{} object is not callable", err::type_name(py, f)),
        ));
    }
    let func = encode(f, EncodeMode::Full)?;
    // The list and its argument tuples do not count towards the nesting limit.
    let items = match crate::codec::encode_wrapper(items, EncodeMode::Full, 2)? {
        Value::List(items) => items,
        // The items share objects (a `Value::Graph`): each item is decoded on its own in
        // the worker, so each is encoded on its own (sharing is kept within an item).
        _ => encode_each(items)?,
    };
    let timeout = args::timeout(py, Some(timeout))?;
    let (done, result) = completion::<Outcome>();
    let label = format!(
        "{} (map chunk of {})",
        crate::interp::inspect::function_label(f),
        items.len()
    );
    let task = Task {
        payload: Payload::Chunk { func, items },
        timeout,
        reply: Reply::Slot(done),
        label: Some(label.into()),
    };
    let seq = pool.submit(task).map_err(|why| refused(py, why))?;
    // `slf`'s type was made by PyType_FromModuleAndSpec with our module.
    let module = slf.type_module()?;
    crate::interp::pending::new(py, module, pool.0.clone(), seq, result)
}

/// Encode every item of `list` separately.
fn encode_each(list: Borrowed<'_, '_>) -> PyResult<Vec<Value>> {
    let mut out = Vec::new();
    // A list iterator: encoding may run user code that changes the list.
    let items = list.iter()?;
    while let Some(item) = items.borrow().next()? {
        out.push(crate::codec::encode_wrapper(
            item.borrow(),
            EncodeMode::Full,
            1,
        )?);
    }
    Ok(out)
}

fn cancel<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [seq] = args::exact(py, "cancel", argv)?;
    let seq = args::count(py, "seq", seq)? as u64;
    let (running, reply) =
        crate::ffi::tstate::detached(py, || pool.cancel_taking(seq, InterruptReason::Cancelled));
    if let Some(reply) = reply {
        // The main interpreter is attached: its future is notified right here.
        task::deliver_cancelled(py, reply);
    }
    Ok(boolean(py, running))
}

fn cancel_all<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [interrupt] = args::exact(py, "cancel_all", argv)?;
    let interrupt = interrupt.is_true()?;
    crate::ffi::tstate::detached(py, || pool.cancel_all(interrupt));
    Ok(none(py))
}

fn shutdown<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [wait] = args::exact(py, "shutdown", argv)?;
    let wait = wait.is_true()?;
    crate::ffi::tstate::detached(py, || pool.shutdown(false));
    if wait {
        let waited = wait_for_workers(py, pool);
        main_ref::release_deferred(py);
        waited?;
        pool.forget_if_joined();
    } else {
        pool.reap_in_background();
    }
    main_ref::release_deferred(py);
    Ok(none(py))
}

/// Wait until the pool's workers have ended (not those stuck in a C call: they leave when
/// it returns). In the main thread of the main interpreter the wait is cut into slices so
/// that Ctrl-C raises `KeyboardInterrupt` promptly (the workers go on; the caller decides
/// what to cancel).
fn wait_for_workers(py: Attached<'_>, pool: &Arc<Pool>) -> PyResult<()> {
    const SLICE: std::time::Duration = std::time::Duration::from_millis(20);
    if !crate::runtime::main_thread::is_current(py) {
        crate::ffi::tstate::detached(py, || pool.join_workers(None));
        return Ok(());
    }
    loop {
        let done = crate::ffi::tstate::detached(py, || {
            pool.join_workers(std::time::Instant::now().checked_add(SLICE))
        });
        if done {
            return Ok(());
        }
        // Completions delivered meanwhile may have dropped references to release.
        main_ref::release_deferred(py);
        crate::ffi::err::check_signals(py)?;
    }
}

fn stats<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "stats", argv, 0, 0)?;
    let s = &pool.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as i64;
    let snap = s.snapshot();
    let rows = [
        ("workers", pool.worker_count() as i64),
        ("submitted", snap.submitted as i64),
        ("done", snap.done as i64),
        ("failed", snap.failed as i64),
        ("cancelled", snap.cancelled as i64),
        ("running", snap.running as i64),
        ("queued", snap.queued as i64),
        ("recycled", load(&s.recycled)),
        ("replaced", load(&s.replaced)),
    ];
    let d = new_dict(py)?;
    for (k, v) in rows {
        d.borrow()
            .set_item(new_str(py, k)?.borrow(), new_int(py, v)?.borrow())?;
    }
    Ok(d)
}

fn broken<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "broken", argv, 0, 0)?;
    match pool.broken() {
        Some(t) => new_str(py, &t),
        None => Ok(none(py)),
    }
}

fn deliveries<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "deliveries", argv, 0, 0)?;
    new_uint(py, pool.stats.delivered.load(Ordering::Acquire))
}

/// How long a caller about to wait for a result polls first: a short task's outcome then
/// arrives without a cross-thread wake-up of the caller (tens of microseconds on busy or
/// virtualized machines), as an idle worker polls its inbox for the next task.
const RESULT_SPIN: Duration = Duration::from_micros(50);

fn spin_for_delivery<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [seen] = args::exact(py, "spin_for_delivery", argv)?;
    let seen = args::count(py, "seen", seen)? as u64;
    // A pool's core lives in the main interpreter (checked at creation), which is attached.
    let main = crate::ffi::is_main_interpreter(py);
    if main {
        pool.handoff.enter();
    }
    let now = tstate::detached(py, || {
        let start = Instant::now();
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            let now = pool.stats.delivered.load(Ordering::Acquire);
            if now != seen || start.elapsed() >= RESULT_SPIN {
                return now;
            }
            backoff.snooze();
        }
    });
    if main {
        // Outcomes left for a polling caller while this one polled: delivered here, with
        // the main GIL this thread holds again, instead of by the workers.
        for (fut, outcome) in pool.handoff.leave() {
            // SAFETY: `py` is the main interpreter (checked above), attached.
            unsafe { task::deliver_in_main(py, fut, outcome) };
        }
    }
    new_uint(py, now)
}

fn is_running<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [seq] = args::exact(py, "is_running", argv)?;
    let seq = args::count(py, "seq", seq)? as u64;
    Ok(boolean(py, pool.is_running(seq)))
}

fn name<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "name", argv, 0, 0)?;
    new_str(py, &pool.config.name)
}

fn worker_ids<'py>(
    py: Attached<'py>,
    pool: &PoolBox,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "worker_ids", argv, 0, 0)?;
    let ids = pool
        .workers_for_snapshot()
        .iter()
        .map(|w| new_int(py, w.id))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, ids)
}
