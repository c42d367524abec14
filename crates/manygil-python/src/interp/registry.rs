//! The process-wide table of the interpreters `manygil.create()` made, by CPython
//! interpreter id (every running worker, pool and serve ones too, is listed by
//! `worker::known`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::worker::{InterruptReason, WorkerShared};
use crate::ffi::Detached;

/// Live workers by interpreter id. An entry is removed when its interpreter starts
/// closing, so a lookup never returns a worker that is being ended. Plain Rust data: no
/// Python object is reachable from here.
static LIVE: Mutex<BTreeMap<i64, Arc<WorkerShared>>> = Mutex::new(BTreeMap::new());

/// Interpreters released by their owner (`Interpreter` object dropped): stopped, ending
/// on their own once idle; joined here when found finished, or at process exit.
static CLOSING: Mutex<Vec<Arc<WorkerShared>>> = Mutex::new(Vec::new());

/// Ids of interpreters that belonged to the parent of this (forked) process.
static FORKED_AWAY: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No such manygil interpreter (never existed, or closed).
    NotFound,
    /// It existed in the parent process before `fork()`.
    ForkedAway,
}

pub(crate) fn insert(worker: Arc<WorkerShared>) {
    LIVE.lock().insert(worker.id, worker);
}

pub(crate) fn get(id: i64) -> Result<Arc<WorkerShared>, Missing> {
    if let Some(w) = LIVE.lock().get(&id) {
        return Ok(w.clone());
    }
    if FORKED_AWAY.lock().contains(&id) {
        return Err(Missing::ForkedAway);
    }
    Err(Missing::NotFound)
}

/// Remove and return the worker, unless `refuse` says no (checked under the table's lock,
/// so two closers cannot both succeed).
pub(crate) fn remove_if(
    id: i64,
    refuse: impl FnOnce(&WorkerShared) -> Option<String>,
) -> Result<Result<Arc<WorkerShared>, String>, Missing> {
    let mut live = LIVE.lock();
    let Some(w) = live.get(&id) else {
        drop(live);
        return Err(get(id).err().unwrap_or(Missing::NotFound));
    };
    if let Some(why) = refuse(w) {
        return Ok(Err(why));
    }
    Ok(Ok(live.remove(&id).expect("present")))
}

pub(crate) fn ids() -> Vec<i64> {
    LIVE.lock().keys().copied().collect()
}

/// Every live interpreter, and every released one not joined yet, removed from the tables.
pub(crate) fn take_all() -> Vec<Arc<WorkerShared>> {
    let mut all: Vec<_> = std::mem::take(&mut *LIVE.lock()).into_values().collect();
    all.append(&mut CLOSING.lock());
    all
}

/// Stop `worker` (already removed from the live table) once its queued jobs are done,
/// without waiting; it is joined later (here, by a later release, or at process exit).
/// Joins released workers that have finished meanwhile.
pub(crate) fn release(worker: Arc<WorkerShared>) {
    worker.stop();
    let mut closing = CLOSING.lock();
    closing.retain(|w| {
        let done = w.wait_exited(Some(std::time::Instant::now()));
        if done {
            w.join(); // prompt: the thread has ended its interpreter
        }
        !done
    });
    closing.push(worker);
}

/// In a forked child: forget every worker (their threads do not exist here) without
/// running any destructor that could touch them.
pub(crate) fn forget_after_fork() {
    if LIVE.is_locked() {
        // SAFETY: in the child only the forking thread exists; a holder from the parent
        // will never unlock.
        unsafe { LIVE.force_unlock() };
    }
    if FORKED_AWAY.is_locked() {
        // SAFETY: as above.
        unsafe { FORKED_AWAY.force_unlock() };
    }
    if CLOSING.is_locked() {
        // SAFETY: as above.
        unsafe { CLOSING.force_unlock() };
    }
    super::worker::forget_known_after_fork();
    std::mem::forget(std::mem::take(&mut *CLOSING.lock()));
    let old = std::mem::take(&mut *LIVE.lock());
    FORKED_AWAY.lock().extend(old.keys().copied());
    std::mem::forget(old);
}

/// How often [`close_all`] interrupts the jobs still running (a job may catch one).
const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

/// Stop every worker, interrupting running jobs, and join those that have ended by
/// `deadline` (`None`: wait for all). Returns the workers still running then, not joined:
/// their job is stuck in code that does not respond to interruption (a blocking C call).
///
/// The interrupts are sent from a helper thread, so that a job stuck in C *with its GIL
/// held* (which blocks an interrupter until it returns) cannot hold up the caller past
/// `deadline`; that thread is left behind only together with such a worker.
///
/// Called with no thread state attached (`d`).
pub(crate) fn close_all(
    d: &mut Detached,
    workers: &[Arc<WorkerShared>],
    deadline: Option<std::time::Instant>,
) -> Vec<Arc<WorkerShared>> {
    for w in workers {
        w.stop();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let interrupter = {
        let workers = workers.to_vec();
        let done = done.clone();
        std::thread::Builder::new()
            .name("manygil-exit-interrupt".to_owned())
            .spawn(move || {
                Detached::on_plain_thread(|d| {
                    while !done.load(std::sync::atomic::Ordering::Acquire) {
                        for w in workers.iter().filter(|w| w.is_running()) {
                            w.interrupt(d, 0, InterruptReason::Shutdown);
                        }
                        std::thread::sleep(INTERRUPT_EVERY);
                    }
                })
            })
    };
    if interrupter.is_err() {
        // No thread for it: interrupt once from here (may wait for a GIL-holding job).
        for w in workers.iter().filter(|w| w.is_running()) {
            w.interrupt(d, 0, InterruptReason::Shutdown);
        }
    }
    let mut left = Vec::new();
    for w in workers {
        if w.wait_exited(deadline) {
            w.join();
        } else {
            left.push(w.clone());
        }
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    if let Ok(t) = interrupter {
        if left.is_empty() {
            let _ = t.join();
        }
    }
    left
}
