//! Interrupting the Python thread that runs a request, from a thread of the HTTP front.
//!
//! Each thread that serves requests (in any interpreter) has one [`ServeThread`]. The
//! front's cancel hook of a request calls [`interrupt`] for the thread working on it, which
//! raises `KeyboardInterrupt` in that thread if it still works on that request.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ffi::tstate::{self, Interp};
use crate::ffi::{current_interpreter_id, current_thread_ident, Attached};

/// One Python thread that serves requests.
pub(crate) struct ServeThread {
    /// The interpreter the thread runs in; only passed to CPython under `alive` while it
    /// is `true` (the thread is still inside the serve loop, so the interpreter exists).
    interp: Interp,
    /// `PyThread_get_thread_ident` of the thread; fixed.
    thread_ident: u64,
    /// The OS thread, woken from a blocking call after an interrupt on 3.15+
    /// ([`crate::interp::wake`]); only signalled under `alive` while it is `true`. Fixed.
    pthread: libc::pthread_t,
    /// CPython's id of the interpreter; fixed.
    interp_id: i64,
    /// The OS thread's name when it registered (`manygil-s<id>.<n>`), for snapshots; fixed.
    name: Arc<str>,
    /// The last request interrupted in this thread and when the interrupt was sent (it may
    /// not have arrived); written by interrupters.
    interrupted: Mutex<Option<(u64, Instant)>>,
    /// `true` from registration until the thread leaves the serve loop. Held by an
    /// interrupter for as long as its temporary thread state exists; set to `false` by the
    /// thread itself with its GIL released (so the two never wait on each other).
    alive: Mutex<bool>,
    /// Id of the request the thread works on, 0 between requests. Written only by the
    /// thread with its interpreter attached, so an interrupter holding that interpreter's
    /// GIL reads a stable value.
    pub(crate) current: AtomicU64,
    /// Disconnected when the interpreter is retired ([`retire`]): wakes the thread from
    /// its wait for a request (`RequestQueue::recv_unless`). Fixed.
    pub(crate) retired: crossbeam_channel::Receiver<()>,
    /// Keeps the interpreter's entry in `SIGNALS` alive while the thread is registered.
    _signal: Arc<RetireSignal>,
}

/// The retirement signal of one interpreter, shared by its serving threads: its sender is
/// dropped when the interpreter is retired.
struct RetireSignal {
    /// Taken (dropped) by [`retire`].
    tx: Mutex<Option<crossbeam_channel::Sender<()>>>,
    /// Cloned into each [`ServeThread`] of the interpreter.
    rx: crossbeam_channel::Receiver<()>,
}

/// Every registered thread (dead entries pruned when scanned).
static THREADS: Mutex<Vec<Weak<ServeThread>>> = Mutex::new(Vec::new());

/// Interpreters told to stop serving (see [`retire`]); ids are never reused.
static RETIRED: Mutex<Option<HashSet<i64>>> = Mutex::new(None);

/// The retirement signal of each interpreter with a registered serving thread, by id;
/// an entry lives as long as one of its threads is registered (dead ones are pruned when
/// another is added). Lock order: `RETIRED`, then this.
static SIGNALS: Mutex<Option<HashMap<i64, Weak<RetireSignal>>>> = Mutex::new(None);

/// The retirement signal of interpreter `id` (made on first use; already disconnected if
/// the interpreter was retired).
fn signal_of(id: i64) -> Arc<RetireSignal> {
    let retired = RETIRED.lock();
    let mut signals = SIGNALS.lock();
    let signals = signals.get_or_insert_with(HashMap::new);
    if let Some(s) = signals.get(&id).and_then(Weak::upgrade) {
        return s;
    }
    signals.retain(|_, w| w.strong_count() > 0);
    let (tx, rx) = crossbeam_channel::bounded(0);
    let gone = retired.as_ref().is_some_and(|r| r.contains(&id));
    let s = Arc::new(RetireSignal {
        tx: Mutex::new((!gone).then_some(tx)),
        rx,
    });
    signals.insert(id, Arc::downgrade(&s));
    s
}

thread_local! {
    /// This OS thread's registration, while it is inside a serve loop.
    static CURRENT: RefCell<Option<Arc<ServeThread>>> = const { RefCell::new(None) };
}

impl ServeThread {
    /// CPython's id of the thread's interpreter.
    pub(crate) fn interp_id(&self) -> i64 {
        self.interp_id
    }

    /// The OS thread's name when it registered.
    pub(crate) fn name(&self) -> Arc<str> {
        self.name.clone()
    }
}

/// The calling OS thread's name (`pthread_getname_np`), or `""`.
fn os_thread_name() -> String {
    let mut buf = [0u8; 64];
    // SAFETY: `pthread_self()` is the calling thread; `buf` is writable for its length,
    // and the call writes a NUL-terminated name of at most that many bytes.
    let rc = unsafe {
        libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr().cast(), buf.len())
    };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The calling thread's registration, made on first use.
pub(crate) fn this_thread(py: Attached<'_>) -> Arc<ServeThread> {
    CURRENT.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| {
                let interp_id = current_interpreter_id(py);
                let signal = signal_of(interp_id);
                let t = Arc::new(ServeThread {
                    interp: Interp::current(py),
                    thread_ident: current_thread_ident(),
                    pthread: crate::interp::wake::this_thread(),
                    interp_id,
                    name: os_thread_name().into(),
                    interrupted: Mutex::new(None),
                    alive: Mutex::new(true),
                    current: AtomicU64::new(0),
                    retired: signal.rx.clone(),
                    _signal: signal,
                });
                THREADS.lock().push(Arc::downgrade(&t));
                t
            })
            .clone()
    })
}

/// The calling thread leaves the serve loop: interrupters no longer touch it.
pub(crate) fn leave(py: Attached<'_>) {
    let Some(t) = CURRENT.with(|c| c.borrow_mut().take()) else {
        return;
    };
    t.current.store(0, Ordering::Release);
    // The GIL is released while waiting for `alive`: an interrupter may hold it while it
    // waits for this interpreter's GIL.
    tstate::detached(py, || *t.alive.lock() = false);
}

/// Raise `KeyboardInterrupt` in `thread` if it still works on request `rid`, without
/// waiting for it: the interrupt is sent from a thread of its own.
///
/// Sending it takes the thread's interpreter GIL: at most a switch interval while Python
/// code runs there, but never while the handler is stuck in C code that holds its GIL (a
/// catastrophic regex). The interrupt counts from now all the same (see [`stuck`]), so a
/// worker stuck that way is replaced after `--stuck-after`, its interrupt abandoned on its
/// own thread (delivered, or dropped, once the call returns).
///
/// Called from the front's blocking pool (no thread state attached).
pub(crate) fn interrupt(thread: &Arc<ServeThread>, rid: u64) {
    if thread.current.load(Ordering::Acquire) != rid {
        return;
    }
    *thread.interrupted.lock() = Some((rid, Instant::now()));
    let target = thread.clone();
    let sent = std::thread::Builder::new()
        .name("manygil-serve-interrupt".to_owned())
        .spawn(move || deliver(&target, rid));
    if sent.is_err() {
        // No thread for it: send it from here (may wait for the handler's GIL).
        deliver(thread, rid);
    }
}

/// Raise `KeyboardInterrupt` in `thread` if it still works on request `rid`; waits for
/// the thread's interpreter GIL. A thread state attached on the calling thread is detached
/// meanwhile.
fn deliver(thread: &ServeThread, rid: u64) {
    tstate::detached_if_attached(|d| {
        let alive = thread.alive.lock();
        if !*alive || thread.current.load(Ordering::Acquire) != rid {
            return;
        }
        // SAFETY: the interpreter is alive and cannot end meanwhile: `alive` is true and we hold it, so the thread is still in
        // the serve loop. The temporary thread state is deleted before `alive` is released.
        let hit = unsafe {
            tstate::with_temporary(d, thread.interp, |py| {
                // Holding the target's GIL: `current` cannot change under us.
                thread.current.load(Ordering::Acquire) == rid
                    && tstate::set_async_interrupt(py, thread.thread_ident, true)
            })
        };
        // A handler blocked in a system call (`time.sleep`, a `recv`) sees the exception
        // only once the call returns; from 3.15 a signal makes it return at once, as for a
        // Pool's worker (see `interp::wake`). Before 3.15 the call would just restart.
        if hit == Some(true) && cfg!(Py_3_15) {
            // SAFETY: the OS thread is alive: it is still in the serve loop (`alive` is
            // true and held here, and it leaves only after taking it), so it has not ended.
            unsafe { crate::interp::wake::wake(thread.pthread) };
        }
        drop(alive);
    });
}

/// Cancel an interrupt scheduled for the calling thread that has not fired yet.
pub(crate) fn clear_pending(py: Attached<'_>) {
    tstate::set_async_interrupt(py, current_thread_ident(), false);
}

/// Interpreters with a thread still working on a request it was interrupted in at least
/// `after` ago (a handler that ignores or cannot see the interrupt, e.g. blocked in C).
pub(crate) fn stuck(after: Duration) -> Vec<i64> {
    let mut threads = THREADS.lock();
    threads.retain(|w| w.strong_count() > 0);
    let mut ids: Vec<i64> = threads
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|t| {
            let current = t.current.load(Ordering::Acquire);
            matches!(*t.interrupted.lock(), Some((rid, at)) if rid == current && at.elapsed() >= after)
        })
        .map(|t| t.interp_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Make the threads of interpreter `id` take no further request: those waiting for one
/// return at once, and a request sent after this is never taken by them.
pub(crate) fn retire(id: i64) {
    let mut retired = RETIRED.lock();
    retired.get_or_insert_with(HashSet::new).insert(id);
    let signal = SIGNALS
        .lock()
        .as_ref()
        .and_then(|m| m.get(&id))
        .and_then(Weak::upgrade);
    if let Some(s) = signal {
        // Dropped: every receiver sees the channel disconnected.
        s.tx.lock().take();
    }
    drop(retired);
}

/// Whether the calling thread's interpreter was retired.
pub(crate) fn is_retired(thread: &ServeThread) -> bool {
    is_retired_id(thread.interp_id)
}

/// Whether interpreter `id` was retired.
pub(crate) fn is_retired_id(id: i64) -> bool {
    RETIRED.lock().as_ref().is_some_and(|r| r.contains(&id))
}
