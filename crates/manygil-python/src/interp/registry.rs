//! The process-wide table of live manygil interpreters, by CPython interpreter id.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::worker::WorkerShared;

/// Live workers by interpreter id. An entry is removed when its interpreter starts
/// closing, so a lookup never returns a worker that is being ended. Plain Rust data: no
/// Python object is reachable from here.
static LIVE: Mutex<BTreeMap<i64, Arc<WorkerShared>>> = Mutex::new(BTreeMap::new());

/// Every manygil interpreter whose worker thread runs (pool and serve workers included),
/// by id, for `list_all` and snapshots: added once the interpreter is ready, removed when
/// its thread starts ending it. Weak: being listed keeps nothing alive.
static KNOWN: Mutex<BTreeMap<i64, std::sync::Weak<WorkerShared>>> = Mutex::new(BTreeMap::new());

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

/// List `worker` among the known interpreters (by its own thread, once it is ready).
pub(crate) fn insert_known(worker: &Arc<WorkerShared>) {
    KNOWN.lock().insert(worker.id, Arc::downgrade(worker));
}

/// Unlist interpreter `id` (by its own thread, as it starts ending it).
pub(crate) fn remove_known(id: i64) {
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
    if KNOWN.is_locked() {
        // SAFETY: as above.
        unsafe { KNOWN.force_unlock() };
    }
    // Weak references: dropping them frees no worker.
    KNOWN.lock().clear();
    std::mem::forget(std::mem::take(&mut *CLOSING.lock()));
    let old = std::mem::take(&mut *LIVE.lock());
    FORKED_AWAY.lock().extend(old.keys().copied());
    std::mem::forget(old);
}
