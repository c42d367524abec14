//! The pool's watchdog: a thread that interrupts tasks running past their deadline.
//!
//! Workers register a running task's deadline with [`Watchdog::arm`] and remove it with
//! [`Watchdog::disarm`] when it ends. The thread sleeps until the earliest deadline (no
//! polling), then interrupts that task inside its interpreter; the task's future gets
//! `TimeoutError` and the worker is reused. A task that is still running [`GRACE`] after its
//! interrupt is stuck in code that does not check for signals: its worker is retired (it
//! leaves once the call returns) and the pool starts a replacement, so capacity is kept.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::ffi::Detached;
use crate::interp::worker::{InterruptReason, WorkerShared};

use super::task::SharedReply;

/// How long an interrupted task may take to stop before its worker is replaced.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// What a deadline does when it passes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Interrupt the task (its timeout passed, or it was cancelled), for this reason.
    Interrupt(InterruptReason),
    /// The task was interrupted [`GRACE`] ago: replace its worker if it still runs it.
    Replace,
}

/// A deadline's entry: the worker running the task, what to do, and (for a timeout) the
/// task's reply, which the watchdog completes with `TimeoutError` at the deadline.
type Entry = (Weak<WorkerShared>, Action, Option<SharedReply>);

/// Deadlines of running tasks: `(deadline, task seq)` → its entry.
type Deadlines = BTreeMap<(Instant, u64), Entry>;

/// Shared state of the watchdog thread.
struct State {
    /// Armed deadlines and the `stop` flag, under one lock.
    inner: Mutex<(Deadlines, bool)>,
    /// Signalled when a new earliest deadline appears or on stop.
    wake: Condvar,
    /// The pool whose stuck workers get replaced (set once after the pool exists).
    owner: OnceLock<Weak<super::Pool>>,
}

/// A running watchdog thread (stopped and joined on drop).
pub(crate) struct Watchdog {
    /// Shared with the thread.
    state: Arc<State>,
    /// The thread; taken on drop.
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start() -> Watchdog {
        let state = Arc::new(State {
            inner: Mutex::new((BTreeMap::new(), false)),
            wake: Condvar::new(),
            owner: OnceLock::new(),
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("manygil-watchdog".to_owned())
            .spawn(move || Detached::on_plain_thread(|d| run(d, &s)))
            .ok();
        Watchdog { state, thread }
    }

    /// Let the watchdog replace stuck workers of `pool`.
    pub(crate) fn set_owner(&self, pool: Weak<super::Pool>) {
        let _ = self.state.owner.set(pool);
    }

    /// At `deadline`, complete `reply` with `TimeoutError` if the task has not taken it
    /// yet, and interrupt task `seq` on `worker` if it still runs.
    pub(crate) fn arm(
        &self,
        deadline: Instant,
        seq: u64,
        worker: &Arc<WorkerShared>,
        reply: &SharedReply,
    ) {
        self.state.add(
            deadline,
            seq,
            (
                Arc::downgrade(worker),
                Action::Interrupt(InterruptReason::Timeout),
                Some(reply.clone()),
            ),
        );
    }

    /// Interrupt task `seq` on `worker` as soon as possible, from the watchdog thread, for
    /// `reason`; then replace the worker if the task has not stopped [`GRACE`] later.
    ///
    /// The caller does not wait: an interrupt waits for the target interpreter's GIL (up to
    /// its switch interval), and a caller cancelling many tasks in a row must not let
    /// workers start queued tasks meanwhile (see `Pool::cancel`).
    pub(crate) fn interrupt_soon(
        &self,
        seq: u64,
        worker: &Arc<WorkerShared>,
        reason: InterruptReason,
    ) {
        self.state.add(
            Instant::now(),
            seq,
            (Arc::downgrade(worker), Action::Interrupt(reason), None),
        );
    }

    /// Forget the deadline of task `seq` (it ended).
    pub(crate) fn disarm(&self, deadline: Instant, seq: u64) {
        self.state.inner.lock().0.remove(&(deadline, seq));
    }
}

impl State {
    fn add(&self, deadline: Instant, seq: u64, entry: Entry) {
        let mut g = self.inner.lock();
        let earliest = g.0.keys().next().map(|k| k.0);
        g.0.insert((deadline, seq), entry);
        if earliest.is_none_or(|e| deadline < e) {
            self.wake.notify_one();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.inner.lock().1 = true;
        self.state.wake.notify_one();
        if let Some(t) = self.thread.take() {
            // The watchdog thread itself may drop the last reference to its pool (while
            // it replaces a stuck worker): it then ends on its own, unjoined.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

fn run(d: &mut Detached, state: &State) {
    let mut g = state.inner.lock();
    loop {
        if g.1 {
            return;
        }
        let Some(&(deadline, seq)) = g.0.keys().next() else {
            state.wake.wait(&mut g);
            continue;
        };
        if Instant::now() < deadline {
            state.wake.wait_until(&mut g, deadline);
            continue;
        }
        let entry = g.0.remove(&(deadline, seq));
        drop(g);
        if let Some((worker, action, reply)) = entry {
            // The timeout has passed: the future learns it now, whatever the task does.
            if let Some(reply) = reply.and_then(|r| r.lock().take()) {
                // Counted as failed now (it leaves `running` even if it stays stuck).
                if let Some(pool) = state.owner.get().and_then(Weak::upgrade) {
                    pool.stats
                        .failed
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let record = crate::interp::jobs::interrupt_value(InterruptReason::Timeout);
                super::task::deliver_detached(d, reply, Err(record));
            }
            if let Some(w) = worker.upgrade() {
                act(d, state, &w, seq, action);
            }
        }
        g = state.inner.lock();
    }
}

fn act(d: &mut Detached, state: &State, w: &Arc<WorkerShared>, seq: u64, action: Action) {
    match action {
        Action::Interrupt(reason) => {
            if !w.is_running_job(seq) {
                return;
            }
            // Replace the worker if the task still runs GRACE from now (a no-op if it has
            // stopped). Scheduled before interrupting, and the interrupt is sent from a
            // thread of its own: it takes the task's GIL, which a task stuck in C *with
            // the GIL held* (a long C computation, a ctypes.PyDLL call) keeps until the
            // call returns; the watchdog must stay free to replace that worker meanwhile.
            if let Some(at) = Instant::now().checked_add(GRACE) {
                state.add(at, seq, (Arc::downgrade(w), Action::Replace, None));
            }
            let target = w.clone();
            let sent = std::thread::Builder::new()
                .name("manygil-interrupt".to_owned())
                .spawn(move || Detached::on_plain_thread(|d| target.interrupt(d, seq, reason)));
            if sent.is_err() {
                // No thread for it: interrupt from here (may wait for the task's GIL).
                w.interrupt(d, seq, reason);
            }
        }
        Action::Replace => {
            if w.is_running_job(seq) {
                if let Some(pool) = state.owner.get().and_then(Weak::upgrade) {
                    // Starting the replacement needs no thread state: the watchdog has none.
                    pool.replace_stuck(w);
                }
            }
        }
    }
}
