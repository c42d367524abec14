//! A pool of own-GIL workers behind `manygil.Pool`.
//!
//! - `task`: what a worker does with one pool task, and how the result reaches the caller.
//! - `watchdog`: interrupts tasks that run past their timeout.
//! - `at_exit`: the main interpreter's exit hook (pools, then interpreters).
//! - `native`: the `manygil._native.PoolCore` type the Python `Pool` drives.
//!
//! All workers take tasks from one shared [`Inbox`] (first free worker wins). Task sequence
//! numbers are process-unique, so a task can be cancelled or interrupted by number whether it
//! is queued (skipped when dequeued) or running (interrupted in its interpreter).

pub(crate) mod at_exit;
pub(crate) mod native;
pub(crate) mod task;
mod watchdog;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `join_workers` waits before looking again at which workers to wait for.
const JOIN_SLICE: Duration = Duration::from_millis(50);

use manygil_core::worker::Inbox;
use manygil_core::Value;
use parking_lot::Mutex;

use crate::interp::worker::{self, InterruptReason, Job, WorkerShared};
pub(crate) use task::{Payload, Reply, Task};

/// How a pool is set up; fixed at creation.
pub(crate) struct PoolConfig {
    /// Most workers alive at once. One starts with the pool; the others start as work
    /// arrives while every worker is busy (as `ThreadPoolExecutor` does), so a huge value
    /// costs nothing until there is work for that many.
    pub(crate) workers: usize,
    /// `sys.path` each worker adopts (a list value).
    pub(crate) sys_path: Option<Value>,
    /// `(initializer, initargs)` run first in each worker.
    pub(crate) initializer: Option<(Value, Value)>,
    /// Recycle a worker after this many tasks.
    pub(crate) max_tasks_per_worker: Option<u64>,
    /// Default timeout of each task.
    pub(crate) task_timeout: Option<Duration>,
}

/// Counters for `Pool.stats()`; each is only ever added to (gauges are derived).
#[derive(Default)]
pub(crate) struct Stats {
    /// Tasks accepted by `submit`.
    pub(crate) submitted: AtomicU64,
    /// Tasks that returned a value.
    pub(crate) succeeded: AtomicU64,
    /// Tasks that raised (or were interrupted).
    pub(crate) failed: AtomicU64,
    /// Tasks skipped because they were cancelled while queued.
    pub(crate) cancelled: AtomicU64,
    /// Tasks that started running.
    pub(crate) started: AtomicU64,
    /// Workers replaced after `max_tasks_per_worker`.
    pub(crate) recycled: AtomicU64,
    /// Workers replaced because a task did not stop when interrupted.
    pub(crate) replaced: AtomicU64,
}

/// Why a task was not accepted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// `shutdown()` was called.
    ShutDown,
    /// The pool cannot go on (e.g. an initializer failed); the text says why.
    Broken(String),
}

/// A pool's shared state.
pub(crate) struct Pool {
    /// Set-up, fixed.
    pub(crate) config: PoolConfig,
    /// The queue all workers take tasks from. Closed by `shutdown`: a task is either queued
    /// before the close (and run: workers end only once it is closed and empty) or refused.
    inbox: Inbox<Job>,
    /// Workers taking tasks now (retired ones move to `retired`).
    workers: Mutex<Vec<Arc<WorkerShared>>>,
    /// Workers that left after recycling, joined at shutdown.
    retired: Mutex<Vec<Arc<WorkerShared>>>,
    /// Workers replaced because their task ignored an interrupt (stuck in a C call): they
    /// leave when that call returns. `shutdown(wait=True)` does not wait for them; process
    /// exit does, for a bounded time (see [`shutdown_all`]).
    stuck: Mutex<Vec<Arc<WorkerShared>>>,
    /// Why the pool is broken, once it is.
    broken: Mutex<Option<String>>,
    /// Tasks cancelled while queued (removed when dequeued).
    cancelled: Mutex<HashSet<u64>>,
    /// Every task numbered below this is cancelled (`shutdown(cancel_futures=True)`).
    cancel_below: AtomicU64,
    /// Counters.
    pub(crate) stats: Stats,
    /// Interrupts tasks past their deadline.
    watchdog: watchdog::Watchdog,
    /// Workers being started (see [`Pool::grow_if_busy`]) or replaced (see
    /// [`Pool::replace_worker`]); they count towards `config.workers`. Lock order:
    /// `workers`, then `spawning`.
    spawning: Mutex<usize>,
    /// Signalled when `spawning` decreases.
    spawned: parking_lot::Condvar,
}

/// Every pool not yet joined, so that process exit can stop and join them (their worker
/// threads must be gone before the main interpreter finalizes). Plain Rust data.
static POOLS: Mutex<Vec<Arc<Pool>>> = Mutex::new(Vec::new());

impl Pool {
    /// Start a pool and its workers. Must be called with no thread state attached.
    ///
    /// An initializer that raises does not make this fail: the pool is then broken and
    /// refuses tasks with the initializer's error (as the stdlib executors do).
    ///
    /// # Errors
    ///
    /// The text of why an interpreter could not be created.
    pub(crate) fn start(config: PoolConfig) -> Result<Arc<Pool>, String> {
        let pool = Arc::new(Pool {
            config,
            inbox: Inbox::new(),
            workers: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            stuck: Mutex::new(Vec::new()),
            broken: Mutex::new(None),
            cancelled: Mutex::new(HashSet::new()),
            cancel_below: AtomicU64::new(0),
            stats: Stats::default(),
            watchdog: watchdog::Watchdog::start(),
            spawning: Mutex::new(0),
            spawned: parking_lot::Condvar::new(),
        });
        // One worker now (its errors are the constructor's), the others on demand.
        match pool.spawn_worker() {
            Ok(()) => {}
            Err(WorkerStart::Initializer(text)) => *pool.broken.lock() = Some(text),
            Err(WorkerStart::Interpreter(text)) => {
                pool.shutdown(true);
                return Err(text);
            }
        }
        pool.watchdog.set_owner(Arc::downgrade(&pool));
        POOLS.lock().push(pool.clone());
        Ok(pool)
    }

    /// Add one worker. Must be called with no thread state attached.
    fn spawn_worker(self: &Arc<Self>) -> Result<(), WorkerStart> {
        let sys_path = self.config.sys_path.clone();
        let init = self.config.initializer.clone();
        let failed_init = Arc::new(Mutex::new(None::<String>));
        let failed = failed_init.clone();
        let setup: worker::SetupFn = Box::new(move |py| {
            task::setup_worker(py, sys_path.as_ref(), init.as_ref()).inspect_err(|e| {
                *failed.lock() = Some(e.clone());
            })
        });
        // Listed before it takes a task, so that `cancel` finds every running task.
        let pool = self.clone();
        let on_ready: worker::OnReady = Box::new(move |w| pool.workers.lock().push(w.clone()));
        match worker::spawn_on(setup, Some(self.inbox.clone()), Some(on_ready)) {
            Ok(_) => Ok(()),
            Err(text) => match failed_init.lock().take() {
                Some(init_error) => Err(WorkerStart::Initializer(init_error)),
                None => Err(WorkerStart::Interpreter(text)),
            },
        }
    }

    /// Queue a task; returns its sequence number, or why it was refused (the task is then
    /// dropped here, on the calling thread).
    pub(crate) fn submit(self: &Arc<Self>, task: Task) -> Result<u64, Refused> {
        if let Some(why) = self.broken.lock().clone() {
            return Err(Refused::Broken(why));
        }
        let seq = worker::next_seq();
        let pool = self.clone();
        let run: worker::JobFn = Box::new(move |py, ctx| task::run(py, ctx, &pool, seq, task));
        match self.inbox.send(Job { seq, run }) {
            Ok(()) => {
                self.stats.submitted.fetch_add(1, Ordering::Relaxed);
                self.grow_if_busy();
                Ok(seq)
            }
            Err(refused) => {
                // Dropping the job here drops the task: its future reference is released at
                // once if main is attached (it is, for a submit), deferred otherwise.
                drop(refused);
                Err(Refused::ShutDown)
            }
        }
    }

    /// Start one more worker in the background if more tasks wait than workers are idle
    /// and the pool is below its size. Needs no particular thread state: the worker is
    /// started from a short-lived thread of its own (starting one takes the main GIL).
    fn grow_if_busy(self: &Arc<Self>) {
        {
            let workers = self.workers.lock();
            let mut spawning = self.spawning.lock();
            if workers.len() + *spawning >= self.config.workers {
                return;
            }
            let idle = workers.iter().filter(|w| !w.is_running()).count();
            if self.inbox.len() <= idle + *spawning {
                return;
            }
            *spawning += 1;
        }
        let pool = self.clone();
        let started = std::thread::Builder::new()
            .name("manygil-pool-grow".to_owned())
            .spawn(move || pool.grow_one());
        if started.is_err() {
            // No thread for it: the pool keeps the workers it has.
            self.spawn_done();
        }
    }

    /// Start a worker (on a thread with no thread state), then count it as started. After
    /// shutdown none is started: the workers there are run what is queued. A worker that
    /// starts while the inbox is being closed simply ends once it is closed and empty.
    fn grow_one(self: &Arc<Self>) {
        if !self.inbox.is_closed() {
            if let Err(WorkerStart::Initializer(t) | WorkerStart::Interpreter(t)) =
                self.spawn_worker()
            {
                // The workers already running go on with the queued tasks.
                *self.broken.lock() = Some(format!("a worker could not start: {t}"));
            }
        }
        self.spawn_done();
    }

    fn spawn_done(&self) {
        let mut spawning = self.spawning.lock();
        *spawning -= 1;
        self.spawned.notify_all();
    }

    /// Wait until no worker is being started, or `deadline` passes; returns whether none is.
    fn wait_spawns(&self, deadline: Option<Instant>) -> bool {
        let mut spawning = self.spawning.lock();
        while *spawning > 0 {
            match deadline {
                None => self.spawned.wait(&mut spawning),
                Some(d) => {
                    if self.spawned.wait_until(&mut spawning, d).timed_out() {
                        return *spawning == 0;
                    }
                }
            }
        }
        true
    }

    /// Whether task `seq` was cancelled while queued (forgets it).
    pub(crate) fn take_cancelled(&self, seq: u64) -> bool {
        seq < self.cancel_below.load(Ordering::Acquire) || self.cancelled.lock().remove(&seq)
    }

    /// Cancel task `seq`: if it is queued, workers skip it; if it is running, it is
    /// interrupted (by the watchdog thread, without waiting). Returns whether it was running.
    ///
    /// The task is marked cancelled *before* looking for it among the running ones: a
    /// worker checks the mark after it has published the task as running, so either the
    /// worker sees the mark (and skips the task) or this sees the task running (and
    /// interrupts it); a cancelled task can never run unnoticed.
    pub(crate) fn cancel(&self, seq: u64, reason: InterruptReason) -> bool {
        self.cancelled.lock().insert(seq);
        for w in self.workers.lock().iter() {
            if w.is_running_job(seq) {
                self.cancelled.lock().remove(&seq);
                self.watchdog.interrupt_soon(seq, w, reason);
                return true;
            }
        }
        false
    }

    /// Cancel every task queued now, and interrupt the running ones if `interrupt`.
    /// Must be called with no thread state attached.
    pub(crate) fn cancel_all(&self, interrupt: bool) {
        self.cancel_below
            .store(worker::next_seq(), Ordering::Release);
        if interrupt {
            for w in self.workers.lock().clone() {
                // SAFETY: no thread state attached (caller's duty).
                unsafe { w.interrupt(0, InterruptReason::Cancelled) };
            }
        }
    }

    /// Stop taking tasks; the workers stop after the tasks already queued. With `wait`,
    /// block until they have. Must be called with no thread state attached.
    pub(crate) fn shutdown(&self, wait: bool) {
        self.inbox.close();
        if wait {
            self.join_workers(None);
            self.forget_if_joined();
        }
    }

    /// Wait until every worker has ended (stuck ones excepted) and join them, or until
    /// `deadline` passes. Returns whether all have ended. Must be called with no thread
    /// state attached, after [`Self::shutdown`] (workers end once the inbox is closed and
    /// empty).
    pub(crate) fn join_workers(&self, deadline: Option<Instant>) -> bool {
        // A worker still starting is listed (before it takes a task) when it is ready.
        if !self.wait_spawns(deadline) {
            return false;
        }
        loop {
            // Recycling may add workers while we join: repeat until none is left.
            let batch: Vec<_> = {
                let workers = self.workers.lock();
                let retired = self.retired.lock();
                workers.iter().chain(retired.iter()).cloned().collect()
            };
            if batch.is_empty() {
                return true;
            }
            // Waits are sliced so that a worker that turns out to be stuck (moved to
            // `stuck` by the watchdog meanwhile) stops being waited for.
            let slice_end = Instant::now().checked_add(JOIN_SLICE);
            let until = match (deadline, slice_end) {
                (Some(d), Some(s)) => Some(d.min(s)),
                (d, s) => d.or(s),
            };
            if !batch.iter().all(|w| w.wait_exited(until)) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return false;
                }
                continue;
            }
            let joined = |w: &Arc<WorkerShared>| batch.iter().any(|b| Arc::ptr_eq(b, w));
            self.workers.lock().retain(|w| !joined(w));
            self.retired.lock().retain(|w| !joined(w));
            for w in &batch {
                w.join();
            }
        }
    }

    /// After `shutdown(wait=False)` or when the pool's Python object is dropped: join the
    /// workers on a background thread once they have finished the queued tasks, then let
    /// the pool go (its watchdog thread ends when the last reference is dropped), as the
    /// stdlib executors reclaim their threads. Process exit still joins whatever is left.
    pub(crate) fn reap_in_background(self: &Arc<Self>) {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("manygil-pool-reaper".to_owned())
            .spawn(move || {
                pool.join_workers(None);
                pool.forget_if_joined();
            });
        // Without a thread the pool is reclaimed at process exit instead.
        drop(spawned);
    }

    /// Once every worker is joined (stuck ones aside), process exit need not visit this
    /// pool again unless a worker is stuck.
    pub(crate) fn forget_if_joined(&self) {
        if self.stuck.lock().is_empty() {
            POOLS.lock().retain(|p| !std::ptr::eq(&**p, self));
        }
    }

    /// Replace `old`, whose task does not respond to interruption, with a fresh worker;
    /// `old` leaves once that task returns. Must be called with no thread state attached.
    pub(crate) fn replace_stuck(self: &Arc<Self>, old: &Arc<WorkerShared>) {
        if !self.workers.lock().iter().any(|w| Arc::ptr_eq(w, old)) {
            return; // already retired or replaced
        }
        self.replace_worker(old, &self.stats.replaced, &self.stuck);
    }

    /// Replace `old` (recycled after `max_tasks_per_worker`) with a fresh worker.
    /// Must be called with no thread state attached.
    pub(crate) fn recycle(self: &Arc<Self>, old: &Arc<WorkerShared>) {
        self.replace_worker(old, &self.stats.recycled, &self.retired);
    }

    /// Retire `old` into `to` and start a fresh worker in its place, counting it in
    /// `counter`.
    fn replace_worker(
        self: &Arc<Self>,
        old: &Arc<WorkerShared>,
        counter: &AtomicU64,
        to: &Mutex<Vec<Arc<WorkerShared>>>,
    ) {
        {
            let mut workers = self.workers.lock();
            workers.retain(|w| !Arc::ptr_eq(w, old));
            to.lock().push(old.clone());
            // The replacement counts as starting from now, so that `grow_if_busy` never
            // sees a pool below its size meanwhile (it would start one worker too many).
            *self.spawning.lock() += 1;
        }
        old.retire();
        if self.inbox.is_closed() && self.inbox.is_empty() {
            self.spawn_done();
            return; // shut down and nothing left to run: no replacement needed
        }
        counter.fetch_add(1, Ordering::Relaxed);
        // Also after shutdown while tasks are still queued: the replacement runs them and
        // ends once the inbox is closed and empty (the pool might have no other worker).
        match self.spawn_worker() {
            Ok(()) => {}
            Err(WorkerStart::Initializer(t) | WorkerStart::Interpreter(t)) => {
                *self.broken.lock() = Some(format!("a replacement worker could not start: {t}"));
            }
        }
        self.spawn_done();
    }

    /// Whether the pool cannot take tasks any more, and why.
    pub(crate) fn broken(&self) -> Option<String> {
        self.broken.lock().clone()
    }

    /// Workers taking tasks now.
    pub(crate) fn worker_count(&self) -> usize {
        self.workers.lock().len()
    }

    /// Tasks waiting in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.inbox.len()
    }

    /// Whether task `seq` runs now.
    pub(crate) fn is_running(&self, seq: u64) -> bool {
        self.workers.lock().iter().any(|w| w.is_running_job(seq))
    }

    /// Tasks running now.
    pub(crate) fn running(&self) -> usize {
        self.workers
            .lock()
            .iter()
            .filter(|w| w.is_running())
            .count()
    }

    pub(crate) fn watchdog(&self) -> &watchdog::Watchdog {
        &self.watchdog
    }
}

impl crate::interp::Interrupt for Pool {
    unsafe fn interrupt_job(&self, seq: u64, reason: InterruptReason) -> bool {
        self.cancel(seq, reason)
    }

    fn describe(&self) -> String {
        "the pool".to_owned()
    }
}

/// Why a worker did not start.
enum WorkerStart {
    /// The initializer raised; the formatted exception.
    Initializer(String),
    /// The interpreter could not be created.
    Interpreter(String),
}

/// Stop every pool at process exit: the tasks already queued still run (as with the
/// stdlib executors), then the workers end. Workers replaced because a task was stuck in
/// a C call are interrupted again and waited for last (the main interpreter may not
/// finalize while their interpreters exist), with a warning on stderr if that takes long.
/// Must be called with no thread state attached.
pub(crate) fn shutdown_all() {
    let pools: Vec<_> = std::mem::take(&mut *POOLS.lock());
    for p in &pools {
        p.shutdown(false);
    }
    for p in &pools {
        p.join_workers(None);
    }
    let stuck: Vec<_> = pools
        .iter()
        .flat_map(|p| std::mem::take(&mut *p.stuck.lock()))
        .collect();
    crate::interp::api::close_all(&stuck);
}
