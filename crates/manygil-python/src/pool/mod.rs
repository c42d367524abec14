//! A pool of workers behind `manygil.Pool` (own-GIL interpreters unless its
//! `InterpreterConfig` says otherwise).
//!
//! - `task`: what a worker does with one pool task, and how the result reaches the caller.
//! - `watchdog`: interrupts tasks that run past their timeout.
//! - `at_exit`: the main interpreter's exit hook (pools, then interpreters).
//! - `api`: the `manygil._native.PoolCore` type the Python `Pool` drives (its Python-facing
//!   entry points).
//! - `workers`: the pool's workers: started on demand, replaced, recycled, joined.
//!
//! All workers take tasks from one shared [`Inbox`] (first free worker wins). Task sequence
//! numbers are process-unique, so a task can be cancelled or interrupted by number whether it
//! is queued (skipped when dequeued) or running (interrupted in its interpreter).

pub(crate) mod api;
pub(crate) mod at_exit;
pub(crate) mod task;
mod watchdog;
mod workers;

use workers::WorkerStart;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_core::worker::Inbox;
use manygil_core::Value;
use parking_lot::Mutex;

use crate::ffi::interp_config::InterpConfig;
use crate::ffi::Detached;
use crate::interp::worker::{self, InterruptReason, Job, WorkerShared};
use task::SharedReply;
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
    /// The settings of every worker's interpreter (replacements included).
    pub(crate) interp: InterpConfig,
    /// The pool's name, `pool-<n>` (its workers are `pool-<n>.worker-<k>`).
    pub(crate) name: String,
}

/// Source of pool numbers (`pool-1`, `pool-2`, ...), unique in the process.
static NEXT_POOL: AtomicU64 = AtomicU64::new(1);

/// A fresh pool name.
pub(crate) fn next_pool_name() -> String {
    format!("pool-{}", NEXT_POOL.fetch_add(1, Ordering::Relaxed))
}

/// Counters for `Pool.stats()`; each is only ever added to (the gauges `running` and
/// `queued` are derived, see [`Stats::snapshot`]), except that `submitted` is taken back
/// when the inbox refuses a task.
///
/// A task's outcome is counted once, by whoever takes its reply first (the worker, the
/// watchdog at the task's deadline, or `cancel`), so a task that timed out or was
/// cancelled while stuck in a C call stops counting as running at once.
#[derive(Default)]
pub(crate) struct Stats {
    /// Tasks accepted by `submit` (counted before they are queued).
    pub(crate) submitted: AtomicU64,
    /// Tasks that returned a value.
    pub(crate) succeeded: AtomicU64,
    /// Tasks that raised, were interrupted or timed out.
    pub(crate) failed: AtomicU64,
    /// Tasks skipped because they were cancelled while queued.
    pub(crate) cancelled: AtomicU64,
    /// Tasks cancelled (by `future.cancel()`) while running.
    pub(crate) cancelled_running: AtomicU64,
    /// Tasks that started running.
    pub(crate) started: AtomicU64,
    /// Workers replaced after `max_tasks_per_worker`.
    pub(crate) recycled: AtomicU64,
    /// Workers replaced because a task did not stop when interrupted.
    pub(crate) replaced: AtomicU64,
    /// Outcomes handed over by the workers, counted once each delivery has returned (the
    /// main interpreter released) or the outcome is in the pool's [`task::Handoff`]: a
    /// caller polling in `result()` watches it to pick its result up without going to
    /// sleep (see `spin_for_delivery`).
    pub(crate) delivered: AtomicU64,
}

/// One consistent reading of [`Stats`]: `submitted == done + failed + cancelled + running +
/// queued` whenever it is taken.
pub(crate) struct Snapshot {
    pub(crate) submitted: u64,
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) running: u64,
    pub(crate) queued: u64,
}

impl Stats {
    /// Read the counters so that the gauges are never negative: every task's counters
    /// are increased in the order submitted → started (or skipped) → its outcome, so
    /// reading them in the reverse order (sequentially consistent) never sees a later
    /// stage of a task without its earlier ones.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let done = load(&self.succeeded);
        let failed = load(&self.failed);
        let cancelled_running = load(&self.cancelled_running);
        let skipped = load(&self.cancelled);
        let started = load(&self.started);
        let submitted = load(&self.submitted);
        let running = started.saturating_sub(done + failed + cancelled_running);
        Snapshot {
            submitted,
            done,
            failed,
            cancelled: skipped + cancelled_running,
            running,
            queued: submitted.saturating_sub(started + skipped),
        }
    }
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
    /// The reply of each running task, for `cancel` to take (see [`Stats`]). A worker
    /// checks whether its task was cancelled and registers it here under this lock, so
    /// `cancel` either finds it here or leaves the mark the worker then sees. Lock order:
    /// `running`, then `cancelled`, then a reply's own lock.
    running: Mutex<HashMap<u64, SharedReply>>,
    /// Every task numbered below this is cancelled (`shutdown(cancel_futures=True)`).
    cancel_below: AtomicU64,
    /// Counters.
    pub(crate) stats: Stats,
    /// Outcomes left by workers for a caller that polls for them (see [`task::Handoff`]).
    pub(crate) handoff: task::Handoff,
    /// Interrupts tasks past their deadline.
    watchdog: watchdog::Watchdog,
    /// Workers being started (see [`Pool::grow_if_busy`]) or replaced (see
    /// [`Pool::replace_worker`]); they count towards `config.workers`. Lock order:
    /// `workers`, then `spawning`.
    spawning: Mutex<usize>,
    /// Signalled when `spawning` decreases.
    spawned: parking_lot::Condvar,
    /// Source of worker numbers (`pool-<n>.worker-<k>`; replacements get new numbers).
    next_worker: AtomicU64,
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
            running: Mutex::new(HashMap::new()),
            cancel_below: AtomicU64::new(0),
            stats: Stats::default(),
            handoff: task::Handoff::new(),
            watchdog: watchdog::Watchdog::start(),
            spawning: Mutex::new(0),
            spawned: parking_lot::Condvar::new(),
            next_worker: AtomicU64::new(1),
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

    /// Queue a task; returns its sequence number, or why it was refused (the task is then
    /// dropped here, on the calling thread).
    pub(crate) fn submit(self: &Arc<Self>, task: Task) -> Result<u64, Refused> {
        if let Some(why) = self.broken.lock().clone() {
            return Err(Refused::Broken(why));
        }
        let seq = worker::next_seq();
        let pool = self.clone();
        let run: worker::JobFn = Box::new(move |py, ctx| task::run(py, ctx, &pool, seq, task));
        // Counted before a worker can take it (see `Stats::snapshot`).
        self.stats.submitted.fetch_add(1, Ordering::SeqCst);
        match self.inbox.send(Job { seq, run }) {
            Ok(()) => {
                self.grow_if_busy();
                Ok(seq)
            }
            Err(refused) => {
                self.stats.submitted.fetch_sub(1, Ordering::SeqCst);
                // Dropping the job here drops the task: its future reference is released at
                // once if main is attached (it is, for a submit), deferred otherwise.
                drop(refused);
                Err(Refused::ShutDown)
            }
        }
    }

    /// Whether task `seq` was cancelled while queued (forgets it).
    pub(crate) fn take_cancelled(&self, seq: u64) -> bool {
        seq < self.cancel_below.load(Ordering::Acquire) || self.cancelled.lock().remove(&seq)
    }

    /// Cancel task `seq`: if it is queued, workers skip it; if it is running, it is
    /// interrupted (by the watchdog thread, without waiting). Returns whether it was running.
    ///
    /// The task is marked cancelled *before* looking for it among the running ones: a
    /// worker checks the mark when it registers the task as running (under the same
    /// lock), so either the worker sees the mark (and skips the task) or this sees the
    /// task running (and interrupts it); a cancelled task can never run unnoticed.
    ///
    /// A running task cancelled (`reason` is [`InterruptReason::Cancelled`]) counts as
    /// cancelled now, even if it is stuck in a C call, and its reply is delivered here
    /// (its future, which says cancelled already, is notified; a `map` chunk's slot gets
    /// `CancelledError`).
    ///
    /// No thread state is attached on the calling thread (`d`): a future is notified with
    /// the main interpreter attached through a temporary thread state.
    pub(crate) fn cancel(&self, d: &mut Detached, seq: u64, reason: InterruptReason) -> bool {
        let (running, reply) = self.cancel_taking(seq, reason);
        if let Some(reply) = reply {
            task::deliver_cancelled_detached(d, reply);
        }
        running
    }

    /// [`Self::cancel`], handing the cancelled running task's reply to the caller, who
    /// must deliver it (see `task::deliver_cancelled`).
    pub(crate) fn cancel_taking(&self, seq: u64, reason: InterruptReason) -> (bool, Option<Reply>) {
        let running = self.running.lock();
        self.cancelled.lock().insert(seq);
        let Some(reply) = running.get(&seq).cloned() else {
            // Queued (or not started yet: its worker will see the mark), or already done.
            return (false, None);
        };
        self.cancelled.lock().remove(&seq);
        let taken = if reason == InterruptReason::Cancelled {
            reply.lock().take()
        } else {
            None
        };
        drop(running);
        if taken.is_some() {
            self.stats.cancelled_running.fetch_add(1, Ordering::SeqCst);
        }
        for w in self.workers.lock().iter() {
            if w.is_running_job(seq) {
                self.watchdog.interrupt_soon(seq, w, reason);
                break;
            }
        }
        (true, taken)
    }

    /// Register task `seq` as running (its reply, for [`Self::cancel`]) unless it was
    /// cancelled while queued: then returns false and the task must be skipped.
    pub(crate) fn start_task(&self, seq: u64, reply: &SharedReply) -> bool {
        let mut running = self.running.lock();
        if self.take_cancelled(seq) {
            self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
            return false;
        }
        self.stats.started.fetch_add(1, Ordering::SeqCst);
        running.insert(seq, reply.clone());
        true
    }

    /// Task `seq` has ended: forget its reply.
    pub(crate) fn end_task(&self, seq: u64) {
        self.running.lock().remove(&seq);
    }

    /// Cancel every task queued now, and interrupt the running ones if `interrupt` (from
    /// the watchdog thread, like [`Self::cancel`]: a task that does not stop within the
    /// watchdog's grace period is stuck in C, and its worker is replaced, so that
    /// `shutdown` stops waiting for it).
    pub(crate) fn cancel_all(&self, interrupt: bool) {
        self.cancel_below
            .store(worker::next_seq(), Ordering::Release);
        if interrupt {
            for w in self.workers.lock().iter() {
                let seq = w.running_job();
                if seq != 0 {
                    self.watchdog
                        .interrupt_soon(seq, w, InterruptReason::Cancelled);
                }
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

    /// Whether the pool cannot take tasks any more, and why.
    pub(crate) fn broken(&self) -> Option<String> {
        self.broken.lock().clone()
    }

    /// Workers taking tasks now.
    pub(crate) fn worker_count(&self) -> usize {
        self.workers.lock().len()
    }

    /// The workers taking tasks now, and those replaced because a task did not stop when
    /// interrupted that have not left yet (a snapshot should show those too).
    pub(crate) fn workers_for_snapshot(&self) -> Vec<Arc<WorkerShared>> {
        let mut all: Vec<_> = self.workers.lock().clone();
        all.extend(self.stuck.lock().iter().cloned());
        all
    }

    /// Whether task `seq` runs now.
    pub(crate) fn is_running(&self, seq: u64) -> bool {
        self.workers.lock().iter().any(|w| w.is_running_job(seq))
    }

    pub(crate) fn watchdog(&self) -> &watchdog::Watchdog {
        &self.watchdog
    }
}

impl crate::interp::Interrupt for Pool {
    fn interrupt_job(&self, d: &mut Detached, seq: u64, reason: InterruptReason) -> bool {
        self.cancel(d, seq, reason)
    }

    fn describe(&self) -> String {
        "the pool".to_owned()
    }
}

/// Stop every pool at process exit: the tasks already queued still run (as with the
/// stdlib executors), then the workers end and are joined. Returns the workers replaced
/// because a task was stuck in a C call (not joined): the exit hook interrupts them again
/// and waits for them for a bounded time (see `at_exit`).
/// Must be called with no thread state attached.
/// How often process exit checks for workers to give up on while it joins pool workers.
const EXIT_JOIN_SLICE: Duration = Duration::from_millis(100);
/// How long process exit waits for a worker held back by a thread its task left running.
const EXIT_GIVE_UP: Duration = Duration::from_secs(2);

pub(crate) fn shutdown_all() -> Vec<Arc<WorkerShared>> {
    let pools: Vec<_> = std::mem::take(&mut *POOLS.lock());
    for p in &pools {
        p.shutdown(false);
    }
    // Queued tasks still run to the end (no deadline for them), but a worker that has
    // finished and waits for a thread its task left running is given up after the grace
    // period: such a thread may never end (process exit then ends the process without
    // finalizing, as for a worker stuck in C).
    for p in &pools {
        while !p.join_workers(Instant::now().checked_add(EXIT_JOIN_SLICE)) {
            p.give_up_on_ending(EXIT_GIVE_UP);
        }
    }
    pools
        .iter()
        .flat_map(|p| std::mem::take(&mut *p.stuck.lock()))
        .collect()
}
