//! Deadline-based waiting shared by every blocking primitive of the crate.
//!
//! A timeout is turned into an [`Instant`] once, at the start of the call; every re-wait after
//! a spurious or stolen wake-up waits only for what is left of it. Threads sleep on
//! [`Sleepers`], which also counts them, so tests and callers can observe that a thread is
//! really blocked (instead of sleeping and hoping it is).

use crate::shim::{AtomicUsize, Condvar, MutexGuard};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// The instant at which a wait of `timeout`, starting now, ends.
///
/// `None` (wait forever) stays `None`; so does a timeout too large to be represented.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// The deadline of a `threading`-style `acquire(blocking, timeout)`: `timeout`'s when blocking,
/// otherwise one that has already passed (`timeout` is ignored), so nothing waits.
pub(crate) fn acquire_deadline(blocking: bool, timeout: Option<Duration>) -> Option<Instant> {
    if blocking {
        deadline(timeout)
    } else {
        Some(Instant::now())
    }
}

/// Threads asleep until a state guarded by one mutex changes: a condition variable that counts
/// its sleepers.
#[derive(Debug, Default)]
pub(crate) struct Sleepers {
    /// Where the threads sleep.
    cv: Condvar,
    /// Threads inside [`Sleepers::wait_while`] that found the state blocked and have not
    /// returned yet. Changed only while the caller holds the state's mutex: a thread counted
    /// here has either not released that mutex yet or is asleep on `cv`, so a notify issued
    /// after seeing the count (and taking the mutex) reaches it.
    count: AtomicUsize,
}

impl Sleepers {
    /// No sleeper yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sleeps (releasing `guard`'s mutex) as long as `blocked` holds for the guarded state, or
    /// until `deadline` passes.
    ///
    /// Returns `true` once `blocked` is false, `false` if the deadline passed while it was still
    /// true. The condition is always re-checked after waking, including after a timeout, so a
    /// waiter never gives up on a state change that has already happened.
    pub(crate) fn wait_while<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
        mut blocked: impl FnMut(&T) -> bool,
    ) -> bool {
        let mut counted = false;
        let unblocked = loop {
            if !blocked(guard) {
                break true;
            }
            if deadline.is_some_and(|end| Instant::now() >= end) {
                break false;
            }
            if !counted {
                self.count.fetch_add(1, SeqCst);
                counted = true;
            }
            match deadline {
                None => self.cv.wait(guard),
                // Timed out or not, the loop re-checks the condition and the clock.
                Some(end) => {
                    let _ = self.cv.wait_until(guard, end);
                }
            }
        };
        if counted {
            self.count.fetch_sub(1, SeqCst);
        }
        unblocked
    }

    /// Wakes one sleeper; returns whether one was woken (always `true` under loom).
    pub(crate) fn notify_one(&self) -> bool {
        self.cv.notify_one()
    }

    /// Wakes every sleeper.
    pub(crate) fn notify_all(&self) {
        self.cv.notify_all();
    }

    /// The number of threads blocked in [`Sleepers::wait_while`] now (a snapshot).
    pub(crate) fn count(&self) -> usize {
        self.count.load(SeqCst)
    }
}
