//! Creating and ending interpreters (own-GIL or shared-GIL, per their [`InterpConfig`]),
//! serialized process-wide, and the settings of each live one.
//!
//! Lock order, everywhere: [`LIFECYCLE`] first, then (maybe) a GIL. Never take
//! [`LIFECYCLE`] while a thread state is attached: creation needs the main interpreter's
//! GIL, so a thread holding that GIL while waiting for [`LIFECYCLE`] would deadlock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::ffi::interp_config::InterpConfig;
use crate::ffi::tstate::{self, ThreadState};
use crate::ffi::Detached;

/// Serializes `Py_NewInterpreterFromConfig` and `Py_EndInterpreter` across the process
/// (concurrent creation is unsafe on 3.12 and not well-tested after: gh-123134).
/// Holds no data; only its critical sections matter.
pub(crate) static LIFECYCLE: Mutex<()> = Mutex::new(());

/// Number of interpreters made by [`create`] and not yet ended by [`end`] (pool workers
/// included). Changed only while [`LIFECYCLE`] is held.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The settings of every interpreter made by [`create`] and not yet ended, by id (pool
/// workers included), for `Interpreter.config`. Plain data.
static CONFIGS: Mutex<BTreeMap<i64, InterpConfig>> = Mutex::new(BTreeMap::new());

/// How many manygil interpreters exist now (pool workers included).
pub(crate) fn live() -> usize {
    LIVE.load(Ordering::Acquire)
}

/// The settings interpreter `id` was created with, if it is a live manygil interpreter.
pub(crate) fn config_of(id: i64) -> Option<InterpConfig> {
    CONFIGS.lock().get(&id).copied()
}

/// A new interpreter's thread state, created on (and bound to) the calling thread, detached.
pub(crate) struct NewInterpreter {
    /// The interpreter's first thread state; belongs to the calling thread only.
    pub(crate) tstate: ThreadState,
    /// The interpreter's id.
    pub(crate) id: i64,
}

/// Create an interpreter with `config` (checked: see [`InterpConfig::problem`]) whose first
/// thread state belongs to the calling thread (which has none attached: `d`).
pub(crate) fn create(d: &mut Detached, config: &InterpConfig) -> Result<NewInterpreter, String> {
    if let Some(problem) = config.problem() {
        return Err(problem);
    }
    let _serial = LIFECYCLE.lock();
    if tstate::is_finalizing() {
        return Err("Python is shutting down".to_owned());
    }
    // Counted before the main GIL is first taken (creation releases it midway), so the
    // fork guard never sees 0 while a sub-interpreter exists; undone on failure.
    LIVE.fetch_add(1, Ordering::AcqRel);
    // SAFETY: creation is serialized by LIFECYCLE, held; Python is initialized (not
    // finalizing, checked under the lock).
    match unsafe { tstate::new_interpreter(d, config) } {
        Ok((tstate, id)) => {
            CONFIGS.lock().insert(id, *config);
            Ok(NewInterpreter { tstate, id })
        }
        Err(msg) => {
            LIVE.fetch_sub(1, Ordering::AcqRel);
            Err(msg)
        }
    }
}

/// End the interpreter of `tstate`, whose id is `id`.
///
/// # Safety
///
/// `tstate` is the interpreter's only remaining thread state, it is detached, and nothing
/// of the interpreter is used afterwards.
pub(crate) unsafe fn end(d: &mut Detached, tstate: ThreadState, id: i64) {
    let _serial = LIFECYCLE.lock();
    // SAFETY: per the caller's duties; ending is serialized by LIFECYCLE, held.
    unsafe { tstate::end_interpreter(d, tstate) };
    CONFIGS.lock().remove(&id);
    LIVE.fetch_sub(1, Ordering::AcqRel);
}

/// Release [`LIFECYCLE`] if a thread that no longer exists (in a forked child) held it.
pub(crate) fn reset_after_fork() {
    if LIFECYCLE.is_locked() {
        // SAFETY: after fork() only the forking thread exists in the child; a holder of the
        // lock in the parent has no counterpart here, so nobody will unlock it otherwise.
        unsafe { LIFECYCLE.force_unlock() };
    }
    // The parent's interpreters do not exist in the child.
    LIVE.store(0, Ordering::Release);
    if CONFIGS.is_locked() {
        // SAFETY: as above, for this lock.
        unsafe { CONFIGS.force_unlock() };
    }
    CONFIGS.lock().clear();
}
