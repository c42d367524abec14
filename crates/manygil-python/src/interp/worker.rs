//! One worker: an OS thread that owns one interpreter for its whole life.
//!
//! The thread creates the interpreter, keeps its one thread state, runs jobs from its
//! [`Inbox`] with the interpreter attached, and ends the interpreter on the same thread.
//! Between jobs it waits with no thread state attached.
//!
//! The interpreter has its own GIL unless its [`InterpConfig`] says `Gil::Shared`: then it
//! runs under the main interpreter's GIL, and nothing here changes but what "attached"
//! excludes. Every wait already happens detached (idle, `detached(..)` around blocking
//! calls, the switch to the main interpreter), so a worker never holds the shared GIL
//! while it waits; interrupters take the target's GIL through a temporary thread state
//! exactly as for an own GIL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_utils::Backoff;
use manygil_core::worker::{completion, Inbox};
use parking_lot::{Condvar, Mutex};

use crate::ffi::err;
use crate::ffi::interp_config::InterpConfig;
use crate::ffi::tstate::{self, Interp, ThreadState};
use crate::ffi::{current_thread_ident, new_str, Attached, Detached};

use super::lifecycle;

/// Stack size of worker threads: room for deep Python recursion before RecursionError.
const WORKER_STACK: usize = 16 << 20;

/// First thing a new interpreter runs (e.g. copying `sys.path`); an error ends it.
pub(crate) type SetupFn = Box<dyn for<'py> FnOnce(Attached<'py>) -> Result<(), String> + Send>;

/// Runs on the new worker thread once its interpreter is ready, before it takes any job
/// (e.g. a pool lists the worker there, so that it can find every task that runs).
pub(crate) type OnReady = Box<dyn FnOnce(&Arc<WorkerShared>) + Send>;

/// What a new worker is called and which part of manygil made it (see [`WorkerShared::name`]).
pub(crate) struct Naming {
    /// The interpreter's name; `None`: `interpreter-<id>`.
    pub(crate) name: Option<String>,
    /// Which part of manygil made it: one of [`ORIGINS`].
    pub(crate) origin: &'static str,
}

/// The values of [`Naming::origin`]: `manygil.create()`, a `Pool`, `manygil serve`.
pub(crate) const ORIGINS: [&str; 3] = ["create", "pool", "serve"];

impl Naming {
    /// A worker of `manygil.create()` with the default name.
    pub(crate) fn created() -> Naming {
        Naming {
            name: None,
            origin: ORIGINS[0],
        }
    }
}

/// Work for a worker, run with its interpreter attached.
pub(crate) type JobFn = Box<dyn for<'py> FnOnce(Attached<'py>, &JobCtx<'_>) + Send>;

/// What a running job may ask about itself.
pub(crate) struct JobCtx<'a> {
    /// The worker running the job.
    shared: &'a Arc<WorkerShared>,
}

impl JobCtx<'_> {
    /// The worker running the job.
    pub(crate) fn worker(&self) -> &Arc<WorkerShared> {
        self.shared
    }

    /// Mark the job as no longer running, before its result is handed over, so that a
    /// caller who sees the result also sees the interpreter idle (e.g. can close it).
    pub(crate) fn mark_done(&self) {
        self.shared.current_job.store(0, Ordering::Release);
    }

    /// Why the job was interrupted, if it was (consumes the record).
    pub(crate) fn interrupted(&self) -> Option<InterruptReason> {
        self.shared.take_interrupt()
    }
}

/// What a worker's inbox carries: work to run with the interpreter attached. A worker
/// ends when its inbox is closed and empty (or when it is retired).
pub(crate) struct Job {
    /// The job's sequence number (see [`next_seq`]).
    pub(crate) seq: u64,
    /// The work.
    pub(crate) run: JobFn,
}

/// Why a running job was interrupted (stored in [`WorkerShared::interrupt_reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum InterruptReason {
    /// Ctrl-C in the caller.
    KeyboardInterrupt = 1,
    /// The job ran past its timeout.
    Timeout = 2,
    /// The caller cancelled the job.
    Cancelled = 3,
    /// The interpreter is being closed (process exit).
    Shutdown = 4,
}

/// The thread-shareable part of a worker.
pub(crate) struct WorkerShared {
    /// CPython's id of the interpreter; fixed at creation.
    pub(crate) id: i64,
    /// Jobs for the worker. Closed by [`Self::stop`] (own inbox) or by the pool (shared):
    /// a job is either sent before the close, and then run or drained and failed, or
    /// refused; the closable inbox decides, no lock of ours is needed.
    inbox: Inbox<Job>,
    /// Sequence number of the job running now; 0 when idle. Written only by the worker
    /// thread while its interpreter is attached, so an interrupter that holds the
    /// interpreter's GIL sees a stable value.
    current_job: AtomicU64,
    /// Whether `inbox` belongs to this worker alone (a pool's workers share one, which
    /// the pool closes; its workers run what was queued before, then end).
    owns_inbox: bool,
    /// Set to make the worker end after its current job (recycling).
    retire: AtomicBool,
    /// Jobs this worker has run.
    jobs_run: AtomicU64,
    /// The worker thread's `PyThread_get_thread_ident`, the key for
    /// `PyThreadState_SetAsyncExc`. Fixed at creation.
    thread_ident: u64,
    /// The worker thread, for [`super::wake::wake`]. Fixed at creation.
    pthread: libc::pthread_t,
    /// The interpreter, valid while `ended` (inside `lifecycle`) is false.
    interp: Interp,
    /// `ended`: the interpreter is gone. Held by interrupters for as long as their
    /// temporary thread state exists, and by the worker while it ends the interpreter, so
    /// the two never overlap ("not the last thread" otherwise).
    lifecycle: Mutex<bool>,
    /// Reason for an interrupt of job `current_job` (an [`InterruptReason`] as u64), 0 if none.
    interrupt_reason: AtomicU64,
    /// The worker thread, taken by whoever joins it.
    join: Mutex<Option<JoinHandle<()>>>,
    /// `true` once the worker thread has ended its interpreter and is about to return
    /// (set by [`ExitSignal`] even if the thread unwinds); `exited_cv` is notified then.
    exited: Mutex<bool>,
    /// Signalled when `exited` becomes true.
    exited_cv: Condvar,
    /// When the worker began waiting, before its end, for what its tasks left behind
    /// (threads still running, atexit callbacks: see `before_end`); `None` until then.
    /// Written once by the worker thread; read by whoever decides to stop waiting for it.
    ending_since: Mutex<Option<std::time::Instant>>,
    /// The interpreter's name (`Interpreter.name`): given at creation (`create(name=)`,
    /// `pool-1.worker-3`, `serve-1.worker-2`) or `interpreter-<id>`. Fixed.
    pub(crate) name: String,
    /// Which part of manygil made it (one of [`ORIGINS`]). Fixed.
    pub(crate) origin: &'static str,
    /// The worker OS thread's name, `manygil-w<id>` (what `top -H` and py-spy show). Fixed.
    pub(crate) thread_name: String,
    /// Address of the worker thread's own thread state, to tell it apart from the
    /// interpreter's other threads in a stack snapshot (`super::inspect`). Fixed; never
    /// dereferenced.
    pub(crate) tstate_addr: usize,
    /// When the running job started, in nanoseconds since [`epoch`]; meaningful while
    /// `current_job` is not 0.
    job_started: AtomicU64,
    /// What the running job runs (a pool task's `module.qualname`), if its runner said.
    job_label: Mutex<Option<Box<str>>>,
    /// Set while a stack snapshot waits for this interpreter's GIL (`super::inspect`): at
    /// most one at a time, so a worker stuck in C holding its GIL strands one thread, not
    /// one per snapshot.
    pub(crate) probing: AtomicBool,
}

/// Sets [`WorkerShared::exited`] when dropped at the end of the worker thread.
struct ExitSignal(Arc<WorkerShared>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        *self.0.exited.lock() = true;
        self.0.exited_cv.notify_all();
    }
}

/// The instant job start times count from (see [`WorkerShared::running_job_info`]).
fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// Source of job sequence numbers, unique in the process (0 means "no job").
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh, process-unique job sequence number.
pub(crate) fn next_seq() -> u64 {
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Why a job could not be delivered.
#[derive(Debug)]
pub(crate) struct Closed;

impl WorkerShared {
    /// Queue `f` to run in the interpreter; returns its sequence number.
    pub(crate) fn send(&self, f: JobFn) -> Result<u64, Closed> {
        let seq = next_seq();
        // A refused job is dropped here, which drops its completer: nobody waits for it.
        self.inbox.send(Job { seq, run: f }).map_err(|_| Closed)?;
        Ok(seq)
    }

    /// Ask the worker to end its interpreter once the jobs queued before are done: closes
    /// its inbox (later sends fail). A pool's workers are stopped by the pool instead,
    /// which closes their shared inbox; for them this does nothing.
    pub(crate) fn stop(&self) {
        if self.owns_inbox {
            self.inbox.close();
        }
    }

    /// Make the worker end once its current job is done (it takes no further job).
    pub(crate) fn retire(&self) {
        self.retire.store(true, Ordering::Release);
    }

    /// Jobs this worker has run so far.
    pub(crate) fn jobs_run(&self) -> u64 {
        self.jobs_run.load(Ordering::Relaxed)
    }

    /// Whether the calling thread is this worker's thread.
    pub(crate) fn is_current_thread(&self) -> bool {
        self.thread_ident == current_thread_ident()
    }

    /// Whether `seq` is the job running now.
    pub(crate) fn is_running_job(&self, seq: u64) -> bool {
        seq != 0 && self.current_job.load(Ordering::Acquire) == seq
    }

    /// The sequence number of the job running now; 0 when idle.
    pub(crate) fn running_job(&self) -> u64 {
        self.current_job.load(Ordering::Acquire)
    }

    /// The running job: its sequence number, how long it has been running and its label
    /// (see [`Self::set_job_label`]); `None` when idle. A moment's reading: the job may end
    /// (or another start) right after.
    pub(crate) fn running_job_info(&self) -> Option<(u64, std::time::Duration, Option<String>)> {
        let seq = self.current_job.load(Ordering::Acquire);
        if seq == 0 {
            return None;
        }
        let since =
            epoch() + std::time::Duration::from_nanos(self.job_started.load(Ordering::Acquire));
        let label = self.job_label.lock().as_deref().map(str::to_owned);
        Some((seq, since.elapsed(), label))
    }

    /// Say what the running job runs (e.g. a pool task's function), for snapshots; cleared
    /// when the job ends. Called by the job itself, on the worker thread.
    pub(crate) fn set_job_label(&self, label: Option<Box<str>>) {
        *self.job_label.lock() = label;
    }

    /// How long the worker has been waiting, before its end, for what its tasks left
    /// behind (a thread still running...); `None` if it is not there yet.
    pub(crate) fn ending_for(&self) -> Option<std::time::Duration> {
        self.ending_since.lock().map(|t| t.elapsed())
    }

    /// Whether a job is running now.
    pub(crate) fn is_running(&self) -> bool {
        self.current_job.load(Ordering::Acquire) != 0
    }

    /// Whether jobs are waiting or running.
    pub(crate) fn is_busy(&self) -> bool {
        self.is_running() || !self.inbox.is_empty()
    }

    /// Wait until the worker thread has ended its interpreter, or `deadline` passes
    /// (`None`: no limit). Returns whether it has; [`Self::join`] is then prompt.
    pub(crate) fn wait_exited(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut exited = self.exited.lock();
        while !*exited {
            match deadline {
                None => self.exited_cv.wait(&mut exited),
                Some(d) => {
                    if self.exited_cv.wait_until(&mut exited, d).timed_out() {
                        return *exited;
                    }
                }
            }
        }
        true
    }

    /// Wait for the worker thread to finish (after [`Self::stop`]).
    ///
    /// Must be called with no thread state attached (the worker may need GILs to finish).
    pub(crate) fn join(&self) {
        let handle = self.join.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The reason recorded for interrupting the running job, if it was interrupted.
    fn take_interrupt(&self) -> Option<InterruptReason> {
        match self.interrupt_reason.swap(0, Ordering::AcqRel) {
            1 => Some(InterruptReason::KeyboardInterrupt),
            2 => Some(InterruptReason::Timeout),
            3 => Some(InterruptReason::Cancelled),
            4 => Some(InterruptReason::Shutdown),
            _ => None,
        }
    }

    /// Run `f` in this interpreter on the calling thread, through a temporary thread state
    /// (so it waits for the interpreter's GIL: at most a switch interval while Python code
    /// runs there, but for as long as code stuck in C holds it). `None` if the interpreter
    /// has ended or Python is finalizing (nothing is run then).
    pub(crate) fn with_interpreter<R>(
        &self,
        d: &mut Detached,
        f: impl for<'py> FnOnce(Attached<'py>) -> R,
    ) -> Option<R> {
        let ended = self.lifecycle.lock();
        if *ended {
            return None;
        }
        // SAFETY: the interpreter is alive and cannot be ended meanwhile (`ended` is false
        // and we hold `lifecycle`, which the worker takes to end it).
        unsafe { tstate::with_temporary(d, self.interp, f) }
    }

    /// Raise `KeyboardInterrupt` inside job `seq` if it is still running (`seq == 0`: any
    /// running job). Returns whether an exception was scheduled.
    ///
    /// Takes the interpreter's GIL on this thread through a temporary thread state, so it
    /// waits until the running code reaches an eval-breaker check (at most the switch
    /// interval while Python code runs). Code blocked in C that never checks signals is
    /// not interrupted until it returns.
    pub(crate) fn interrupt(&self, d: &mut Detached, seq: u64, reason: InterruptReason) -> bool {
        let ended = self.lifecycle.lock();
        if *ended || !self.is_running() {
            return false;
        }
        // SAFETY: the interpreter is alive and cannot be ended meanwhile (`ended` is false
        // and we hold `lifecycle`, which the worker takes to end it).
        let hit = unsafe {
            tstate::with_temporary(d, self.interp, |py| {
                // Holding the target's GIL: `current_job` cannot change under us.
                let current = self.current_job.load(Ordering::Acquire);
                let hit = current != 0 && (seq == 0 || current == seq);
                if hit {
                    self.interrupt_reason
                        .store(reason as u64, Ordering::Release);
                    tstate::set_async_interrupt(py, self.thread_ident, true);
                }
                hit
            })
        };
        let hit = hit.unwrap_or(false);
        // A job blocked in a system call sees the exception only once the call returns; a
        // signal makes it return where CPython allows it (3.15+: see `wake`). Before 3.15
        // the call would only restart, so no signal is sent (nor a handler installed): C
        // code that does not retry on EINTR is not disturbed for nothing.
        if hit && cfg!(Py_3_15) {
            // SAFETY: the worker thread is alive: it ends only after ending its
            // interpreter, which needs `lifecycle`, held here.
            unsafe { super::wake::wake(self.pthread) };
        }
        hit
    }
}

/// Start a worker thread and wait until its interpreter, made with `config`, is ready.
///
/// `setup` runs first in the new interpreter (e.g. to copy `sys.path`); if it fails, the
/// interpreter is ended and the error returned.
///
/// Must be called with no thread state attached.
pub(crate) fn spawn(
    config: InterpConfig,
    setup: SetupFn,
    naming: Naming,
) -> Result<Arc<WorkerShared>, String> {
    spawn_on(config, setup, None, None, naming)
}

/// [`spawn`], taking jobs from `shared_inbox` (shared with other workers) when given.
pub(crate) fn spawn_on(
    config: InterpConfig,
    setup: SetupFn,
    shared_inbox: Option<Inbox<Job>>,
    on_ready: Option<OnReady>,
    naming: Naming,
) -> Result<Arc<WorkerShared>, String> {
    let (ready_tx, ready_rx) = completion::<Result<Arc<WorkerShared>, String>>();
    let handle = std::thread::Builder::new()
        .name("manygil-worker".to_owned())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            Detached::on_plain_thread(|d| {
                worker_main(d, config, setup, shared_inbox, on_ready, naming, ready_tx)
            })
        })
        .map_err(|e| format!("could not start a worker thread: {e}"))?;
    match ready_rx.wait(None) {
        Ok(Ok(shared)) => {
            *shared.join.lock() = Some(handle);
            Ok(shared)
        }
        Ok(Err(msg)) => {
            let _ = handle.join();
            Err(msg)
        }
        Err(_) => {
            let _ = handle.join();
            Err("the worker thread died while creating its interpreter".to_owned())
        }
    }
}

/// Name the calling OS thread (what `top -H`, `ps -L`, py-spy and debuggers show). Linux
/// keeps 15 bytes of a thread name: a longer one is cut there (at a character boundary).
pub(crate) fn name_this_thread(name: &str) {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let Ok(name) = std::ffi::CString::new(&name[..end]) else {
        return; // an interior NUL: keep the name it has
    };
    // SAFETY: `pthread_self()` is the calling thread, alive for the call; `name` is a
    // NUL-terminated string of at most 15 bytes plus NUL, the most Linux accepts.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), name.as_ptr()) };
}

/// Every manygil interpreter whose worker thread runs (pool and serve workers included),
/// by id, for `list_all` and snapshots: added once the interpreter is ready, removed when
/// its thread starts ending it. Weak: being listed keeps nothing alive.
static KNOWN: Mutex<std::collections::BTreeMap<i64, std::sync::Weak<WorkerShared>>> =
    Mutex::new(std::collections::BTreeMap::new());

/// List `worker` among the known interpreters (by its own thread, once it is ready).
fn insert_known(worker: &Arc<WorkerShared>) {
    KNOWN.lock().insert(worker.id, Arc::downgrade(worker));
}

/// Unlist interpreter `id` (by its own thread, as it starts ending it).
fn remove_known(id: i64) {
    KNOWN.lock().remove(&id);
}

/// Every known interpreter whose thread runs, by increasing id.
pub(crate) fn known() -> Vec<Arc<WorkerShared>> {
    KNOWN
        .lock()
        .values()
        .filter_map(std::sync::Weak::upgrade)
        .collect()
}

/// The known interpreter `id` (any origin), if its thread runs.
pub(crate) fn find_known(id: i64) -> Option<Arc<WorkerShared>> {
    KNOWN.lock().get(&id).and_then(std::sync::Weak::upgrade)
}

/// In a forked child: unlist every worker (their threads do not exist here).
pub(crate) fn forget_known_after_fork() {
    if KNOWN.is_locked() {
        // SAFETY: in the child only the forking thread exists; a holder from the parent
        // will never unlock.
        unsafe { KNOWN.force_unlock() };
    }
    // Weak references: dropping them frees no worker.
    KNOWN.lock().clear();
}

fn worker_main(
    d: &mut Detached,
    config: InterpConfig,
    setup: SetupFn,
    shared_inbox: Option<Inbox<Job>>,
    on_ready: Option<OnReady>,
    naming: Naming,
    ready: manygil_core::worker::Completer<Result<Arc<WorkerShared>, String>>,
) {
    let new = match lifecycle::create(d, &config) {
        Ok(n) => n,
        Err(msg) => return ready.complete(Err(msg)),
    };
    let (ts, id) = (new.tstate, new.id);
    let thread_name = format!("manygil-w{id}");
    name_this_thread(&thread_name);
    crate::runtime::worker_name::set(thread_name.clone());
    let interp = ts.interp();
    // SAFETY: `ts` was created on this thread with its interpreter, which lives until this
    // thread ends it.
    let py = unsafe { ts.attach(d) };
    name_in_threading(py, &thread_name);
    let setup_result = setup(py);
    // SAFETY: attached above; `py` is not used after; detach until the first job.
    unsafe { ts.detach() };
    if let Err(msg) = setup_result {
        // SAFETY: `ts` is the only thread state, made on this thread, detached.
        unsafe { lifecycle::end(d, ts, id) };
        return ready.complete(Err(msg));
    }
    let shared = Arc::new(WorkerShared {
        id,
        owns_inbox: shared_inbox.is_none(),
        inbox: shared_inbox.unwrap_or_default(),
        retire: AtomicBool::new(false),
        jobs_run: AtomicU64::new(0),
        current_job: AtomicU64::new(0),
        thread_ident: current_thread_ident(),
        pthread: super::wake::this_thread(),
        interp,
        lifecycle: Mutex::new(false),
        interrupt_reason: AtomicU64::new(0),
        join: Mutex::new(None),
        exited: Mutex::new(false),
        exited_cv: Condvar::new(),
        ending_since: Mutex::new(None),
        name: naming.name.unwrap_or_else(|| format!("interpreter-{id}")),
        origin: naming.origin,
        thread_name,
        tstate_addr: ts.addr(),
        job_started: AtomicU64::new(0),
        job_label: Mutex::new(None),
        probing: AtomicBool::new(false),
    });
    insert_known(&shared);
    let _exit_signal = ExitSignal(shared.clone());
    if let Some(f) = on_ready {
        f(&shared);
    }
    ready.complete(Ok(shared.clone()));
    run_jobs(d, &shared, &ts);
    // Refuse new jobs, then fail the queued ones (dropping a job drops its completer, so
    // its waiter sees the job abandoned instead of hanging). A shared inbox is the pool's.
    if shared.owns_inbox {
        shared.inbox.close();
        drop(shared.inbox.drain());
    }
    crate::runtime::main_ref::release_for_this_thread(d);
    *shared.ending_since.lock() = Some(std::time::Instant::now());
    // SAFETY: `ts` belongs to this thread; its interpreter lives until `lifecycle::end`
    // below.
    let py = unsafe { ts.attach(d) };
    before_end(py);
    // SAFETY: attached above; `py` is not used after.
    unsafe { ts.detach() };
    let mut ended = shared.lifecycle.lock();
    *ended = true;
    remove_known(shared.id);
    // SAFETY: `ts` is this interpreter's only thread state (interrupters delete theirs
    // under `lifecycle`, which we hold), made on this thread, detached.
    unsafe { lifecycle::end(d, ts, id) };
    drop(ended);
}

/// Give this worker thread its name in the interpreter's `threading` once that is imported
/// (`manygil._wire.hooks.start`), before anything else runs there. Errors are dropped (a
/// worker whose `sys.path` cannot reach manygil keeps `threading`'s default name).
fn name_in_threading(py: Attached<'_>, thread_name: &str) {
    let r = crate::runtime::py_names::HOOKS_START.get(py).and_then(|f| {
        let name = new_str(py, thread_name)?;
        f.borrow().call(&[name.borrow()])
    });
    if r.is_err() {
        err::clear(py);
    }
}

/// What `Py_EndInterpreter` would wait for — threads the tasks left running, the
/// interpreter's `atexit` callbacks — done first, while no process-wide lock is held:
/// ending stays serialized with creation (`lifecycle::end`), but an interpreter slow to
/// end never makes another's creation wait (`manygil._wire.hooks.before_end`). Errors are
/// dropped: the end must happen anyway.
fn before_end(py: Attached<'_>) {
    let r = crate::runtime::py_names::HOOKS_BEFORE_END
        .get(py)
        .and_then(|f| f.borrow().call(&[]));
    if r.is_err() {
        err::clear(py);
    }
}

/// How long an idle worker keeps checking its inbox before parking: a job sent within this
/// window starts without a cross-thread wake-up (which costs tens of microseconds on busy
/// or virtualized machines). Between polls it backs off (spins, then yields the CPU).
const IDLE_SPIN: Duration = Duration::from_micros(50);

/// The next job: polled for [`IDLE_SPIN`], then waited for with the thread asleep; `None`
/// once the inbox is closed and empty.
fn next_job(inbox: &Inbox<Job>) -> Option<Job> {
    let start = std::time::Instant::now();
    let backoff = Backoff::new();
    while start.elapsed() < IDLE_SPIN {
        // The lock-free hint first: idle workers polling a pool's shared inbox must not
        // contend for the queue lock that the sender needs.
        if inbox.maybe_has_jobs() {
            if let Some(job) = inbox.try_recv() {
                return Some(job);
            }
        }
        backoff.snooze();
    }
    inbox.recv(None)
}

/// Run jobs until the inbox is closed and empty, or the worker is retired. Jobs already
/// queued when one finishes run without detaching in between.
fn run_jobs(d: &mut Detached, shared: &Arc<WorkerShared>, ts: &ThreadState) {
    while let Some(job) = next_job(&shared.inbox) {
        // SAFETY: `ts` belongs to this thread; its interpreter lives until this thread
        // ends it after the loop.
        let py = unsafe { ts.attach(d) };
        let mut next = Some(job);
        let mut stop = false;
        while let Some(job) = next.take() {
            run_one(py, shared, job.seq, job.run);
            if shared.retire.load(Ordering::Acquire) {
                stop = true;
                break;
            }
            next = shared.inbox.try_recv();
        }
        // SAFETY: attached above; `py` is not used after; detach while idle.
        unsafe { ts.detach() };
        if stop {
            return;
        }
    }
}

fn run_one(py: Attached<'_>, shared: &Arc<WorkerShared>, seq: u64, f: JobFn) {
    let started = epoch().elapsed().as_nanos() as u64;
    shared.job_started.store(started, Ordering::Release);
    shared.current_job.store(seq, Ordering::Release);
    shared.jobs_run.fetch_add(1, Ordering::Relaxed);
    let ctx = JobCtx { shared };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py, &ctx)));
    // A job must never leak an exception, or a pending interrupt, into the next one.
    tstate::set_async_interrupt(py, shared.thread_ident, false);
    err::clear(py);
    shared.current_job.store(0, Ordering::Release);
    shared.interrupt_reason.store(0, Ordering::Release);
    if shared.job_label.lock().is_some() {
        shared.set_job_label(None);
    }
    if result.is_err() {
        // The job's completer was dropped during unwinding: its waiter sees "abandoned".
        eprintln!(
            "manygil: internal error: a job panicked in interpreter {}",
            shared.id
        );
    }
}
