//! The pool's workers: started as work arrives (up to the pool's size), replaced when
//! stuck or broken, recycled after `max_tasks_per_worker`, joined at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{task, Pool, POOLS};
use crate::interp::worker::{self, WorkerShared};

/// How long `join_workers` waits before looking again at which workers to wait for.
const JOIN_SLICE: Duration = Duration::from_millis(50);

/// Why a worker did not start.
pub(super) enum WorkerStart {
    /// The initializer raised; the formatted exception.
    Initializer(String),
    /// The interpreter could not be created.
    Interpreter(String),
}

impl Pool {
    /// Add one worker. Must be called with no thread state attached.
    pub(super) fn spawn_worker(self: &Arc<Self>) -> Result<(), WorkerStart> {
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
        let k = self.next_worker.fetch_add(1, Ordering::Relaxed);
        let naming = worker::Naming {
            name: Some(format!("{}.worker-{k}", self.config.name)),
            origin: "pool",
        };
        match worker::spawn_on(
            self.config.interp,
            setup,
            Some(self.inbox.clone()),
            Some(on_ready),
            naming,
        ) {
            Ok(_) => Ok(()),
            Err(text) => match failed_init.lock().take() {
                Some(init_error) => Err(WorkerStart::Initializer(init_error)),
                None => Err(WorkerStart::Interpreter(text)),
            },
        }
    }

    /// Start one more worker in the background if more tasks wait than workers are idle
    /// and the pool is below its size. Needs no particular thread state: the worker is
    /// started from a short-lived thread of its own (starting one takes the main GIL).
    pub(super) fn grow_if_busy(self: &Arc<Self>) {
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

    /// Stop waiting for the workers that have been waiting, before their end, for
    /// something their tasks left behind (a non-daemon thread still running) for at least
    /// `grace`: they are moved to `stuck`, as workers stuck in a C call are (process exit
    /// then ends the process without finalizing instead of hanging).
    pub(crate) fn give_up_on_ending(&self, grace: Duration) {
        let mut moved = Vec::new();
        for list in [&self.workers, &self.retired] {
            list.lock().retain(|w| {
                let give_up = w.ending_for().is_some_and(|d| d >= grace);
                if give_up {
                    moved.push(w.clone());
                }
                !give_up
            });
        }
        self.stuck.lock().extend(moved);
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
}
