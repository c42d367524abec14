//! The pool's watchdog: a thread that interrupts tasks running past their deadline.
//!
//! Workers register a running task's deadline with [`Watchdog::arm`] and remove it with
//! [`Watchdog::disarm`] when it ends. The thread sleeps until the earliest deadline (no
//! polling), then interrupts that task inside its interpreter; the task's future gets
//! `TimeoutError` and the worker is reused.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::interp::worker::{InterruptReason, WorkerShared};

/// Deadlines of running tasks: `(deadline, task seq)` → the worker running it.
type Deadlines = BTreeMap<(Instant, u64), Weak<WorkerShared>>;

/// Shared state of the watchdog thread.
struct State {
    /// Armed deadlines and the `stop` flag, under one lock.
    inner: Mutex<(Deadlines, bool)>,
    /// Signalled when a new earliest deadline appears or on stop.
    wake: Condvar,
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
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("manygil-watchdog".to_owned())
            .spawn(move || run(&s))
            .ok();
        Watchdog { state, thread }
    }

    /// Interrupt task `seq` on `worker` if it still runs at `deadline`.
    pub(crate) fn arm(&self, deadline: Instant, seq: u64, worker: &Arc<WorkerShared>) {
        let mut g = self.state.inner.lock();
        let earliest = g.0.keys().next().map(|k| k.0);
        g.0.insert((deadline, seq), Arc::downgrade(worker));
        if earliest.is_none_or(|e| deadline < e) {
            self.state.wake.notify_one();
        }
    }

    /// Forget the deadline of task `seq` (it ended).
    pub(crate) fn disarm(&self, deadline: Instant, seq: u64) {
        self.state.inner.lock().0.remove(&(deadline, seq));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.inner.lock().1 = true;
        self.state.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(state: &State) {
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
        let worker = g.0.remove(&(deadline, seq)).and_then(|w| w.upgrade());
        drop(g);
        if let Some(w) = worker {
            // SAFETY: the watchdog thread never has a thread state attached.
            unsafe { w.interrupt(seq, InterruptReason::Timeout) };
        }
        g = state.inner.lock();
    }
}
