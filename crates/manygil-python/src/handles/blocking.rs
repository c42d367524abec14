//! Blocking waits of the handle types (queue get/put, lock acquire, ...): always with the
//! GIL released, and interruptible where Python expects it.
//!
//! - In the main thread of the main interpreter (where Ctrl-C's handler runs) the wait is
//!   cut into slices of [`SIGNAL_SLICE`]; between slices `PyErr_CheckSignals()` runs the
//!   signal handlers with the GIL held, so Ctrl-C raises `KeyboardInterrupt` within ~20 ms.
//! - In a sub-interpreter the wait is cut into slices of [`INTERRUPT_SLICE`]; between
//!   slices a code object compiled at module exec (`None`) is evaluated: entering the eval
//!   loop (its `RESUME`) is where CPython raises an exception scheduled with
//!   `PyThreadState_SetAsyncExc`. That is how `Interpreter.call`
//!   timeouts, Ctrl-C forwarded to a call, and exit-time shutdown reach code blocked in
//!   `q.get()`: without it, a worker blocked forever could never be interrupted.
//! - Elsewhere (other threads of the main interpreter) the wait is one uninterrupted wait,
//!   as `threading`'s are.
//!
//! Data never waits for a slice: every wait sleeps on the core's condition variable and
//! wakes as soon as the event happens. The core's timed-out waits have no side effects, so
//! slicing changes nothing but responsiveness; the overall deadline is fixed once, at the
//! start, so float timeouts stay exact to the millisecond.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ffi::err::{PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::{current_interpreter_id, err, is_main_interpreter, Attached};

/// How long a wait spins (GIL released, retrying without sleeping) before it sleeps: a
/// reply that comes within a few microseconds (a queue ping-pong, a lock handed over)
/// then costs no sleep and wake-up, which take 5-20 µs each on a busy machine.
const SPIN: Duration = Duration::from_micros(50);
/// Wait slice in the main thread of the main interpreter (Ctrl-C latency).
const SIGNAL_SLICE: Duration = Duration::from_millis(20);
/// Wait slice in sub-interpreters (latency of `Interpreter` interrupts).
const INTERRUPT_SLICE: Duration = Duration::from_millis(100);

/// How the current thread waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Main thread of the main interpreter: slices, signal handlers in between.
    Signals,
    /// A sub-interpreter: slices, pending asynchronous exceptions raised in between.
    Interrupts,
    /// One wait.
    Plain,
}

impl Mode {
    fn current(py: Attached<'_>) -> Mode {
        if crate::runtime::main_thread::is_current(py) {
            return Mode::Signals;
        }
        if is_main_interpreter(py) {
            Mode::Plain
        } else {
            Mode::Interrupts
        }
    }

    fn slice(self) -> Option<Duration> {
        match self {
            Mode::Signals => Some(SIGNAL_SLICE),
            Mode::Interrupts => Some(INTERRUPT_SLICE),
            Mode::Plain => None,
        }
    }

    /// Between slices, with the GIL held: raise what is pending for this thread.
    fn check(self, py: Attached<'_>) -> PyResult<()> {
        match self {
            Mode::Signals => {
                if crate::ffi::err::check_signals(py).is_err() {
                    return Err(PyErrSet);
                }
                Ok(())
            }
            Mode::Interrupts => {
                // Entering the eval loop checks the eval breaker, which raises an
                // exception set by PyThreadState_SetAsyncExc (Interpreter interrupts).
                match super::state::current(py) {
                    Ok(m) => m.state().check_interrupts(py),
                    Err(PyErrSet) => {
                        // Cannot happen once manygil._native is imported; never fail a wait
                        // for it.
                        err::clear(py);
                        Ok(())
                    }
                }
            }
            Mode::Plain => Ok(()),
        }
    }
}

/// Block until `attempt` succeeds or `timeout` (None: forever) passes, with the GIL
/// released; returns `Ok(None)` on timeout, `Err` if a signal handler or an interrupt
/// raised (the exception is set).
///
/// `attempt(wait)` must wait at most `wait` (None: as long as it takes) for its event and
/// return `None` if it did not happen, with no side effect (the core's timed-out waits
/// have none). It runs with the GIL released, so it must not touch Python objects. With
/// `spin`, it is first retried with a zero wait for up to [`SPIN`] before sleeping.
pub(crate) fn block_on<T>(
    py: Attached<'_>,
    timeout: Option<Duration>,
    spin: bool,
    mut attempt: impl FnMut(Option<Duration>) -> Option<T> + Send,
) -> PyResult<Option<T>> {
    let mode = Mode::current(py);
    let start = Instant::now();
    let deadline = timeout.and_then(|t| start.checked_add(t));
    let mut spin = spin;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait = match (mode.slice(), left) {
            (None, left) => left,
            (Some(slice), None) => Some(slice),
            (Some(slice), Some(left)) => Some(left.min(slice)),
        };
        let spin_for = if std::mem::take(&mut spin) {
            wait.map_or(SPIN, |w| w.min(SPIN))
        } else {
            Duration::ZERO
        };
        let got = detached(py, || {
            if spin_for.is_zero() {
                return attempt(wait);
            }
            let spinning = Instant::now();
            if let Some(done) = spin_on(spin_for, &mut attempt) {
                return Some(done);
            }
            attempt(wait.map(|w| w.saturating_sub(spinning.elapsed())))
        });
        if let Some(done) = got {
            return Ok(Some(done));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        mode.check(py)?;
    }
}

/// A `yield` that takes longer than this means other threads wait for this CPU.
const CONTENDED_YIELD: Duration = Duration::from_micros(20);
/// Waits that skip spinning after a first spin found the CPUs oversubscribed; doubled
/// after each further such spin (up to [`MAX_COOLDOWN`]), reset by a spin that worked.
const MIN_COOLDOWN: u32 = 64;
const MAX_COOLDOWN: u32 = 1 << 14;

thread_local! {
    /// (waits left before this thread spins again, the next cooldown): see [`spin_on`].
    static SPIN_COOLDOWN: Cell<(u32, u32)> = const { Cell::new((0, MIN_COOLDOWN)) };
}

/// Retry `attempt` without sleeping for up to `budget`, yielding the CPU between tries.
///
/// Not crossbeam's `Backoff`: its spin hints keep the CPU the replying thread needs when
/// the CPUs are oversubscribed (measured: the queue ping-pong of `bench_exchange` took 2-3x
/// as long with it on a loaded 2-core machine); yielding at once hands it over.
///
/// When the CPUs are free a yield returns at once, and a reply that comes within the
/// budget is taken without the cost of a sleep and a wake-up. When they are
/// oversubscribed, yielding hands the CPU to another thread for a whole time slice: the
/// first slow yield stops the spin, and this thread then sleeps at once for its next
/// waits (64, then twice as many after every further slow spin), so spinning steals next
/// to no time from the threads it waits for.
fn spin_on<T>(
    budget: Duration,
    attempt: &mut impl FnMut(Option<Duration>) -> Option<T>,
) -> Option<T> {
    let (left, next) = SPIN_COOLDOWN.get();
    if left > 0 {
        SPIN_COOLDOWN.set((left - 1, next));
        return None;
    }
    let start = Instant::now();
    loop {
        if let Some(done) = attempt(Some(Duration::ZERO)) {
            SPIN_COOLDOWN.set((0, MIN_COOLDOWN));
            return Some(done);
        }
        let before = Instant::now();
        if before.duration_since(start) >= budget {
            return None;
        }
        std::thread::yield_now();
        if before.elapsed() > CONTENDED_YIELD {
            SPIN_COOLDOWN.set((next, next.saturating_mul(2).min(MAX_COOLDOWN)));
            return None;
        }
    }
}

/// Source of owner identities (never reused in the process).
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's owner identity in each interpreter it ran code of: (interpreter id,
    /// owner).
    static OWNERS: RefCell<Vec<(i64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// The identity that owns an `RLock` (or a `Condition` over one) for the calling thread of
/// the calling interpreter: `threading.get_ident()` alone is not enough (two interpreters
/// can run on one OS thread, and a finished thread's ident is reused by the next thread).
///
/// Each (OS thread, interpreter id) pair gets a number from a process-wide counter the
/// first time it asks, kept in a thread-local: distinct pairs can never collide, and
/// interpreter ids are never reused by CPython. A lock held by a thread that ends stays
/// held, as with `threading.RLock`.
pub(crate) fn owner_id(py: Attached<'_>) -> u64 {
    let interp = current_interpreter_id(py);
    OWNERS.with(|owners| {
        let mut owners = owners.borrow_mut();
        if let Some(&(_, id)) = owners.iter().find(|(i, _)| *i == interp) {
            return id;
        }
        let id = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        owners.push((interp, id));
        id
    })
}
