//! Deadline-based waiting shared by every blocking primitive of the crate.
//!
//! A timeout is turned into an [`Instant`] once, at the start of the call; every re-wait after
//! a spurious or stolen wake-up waits only for what is left of it.

use parking_lot::{Condvar, MutexGuard};
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

/// Waits on `cv` (which releases `guard` while asleep) as long as `blocked` holds for the
/// guarded state, or until `deadline` passes.
///
/// Returns `true` once `blocked` is false, `false` if the deadline passed while it was still
/// true. The condition is always re-checked after waking, including after a timeout, so a
/// waiter never gives up on a state change that has already happened.
pub(crate) fn wait_while<T>(
    cv: &Condvar,
    guard: &mut MutexGuard<'_, T>,
    deadline: Option<Instant>,
    mut blocked: impl FnMut(&T) -> bool,
) -> bool {
    while blocked(guard) {
        match deadline {
            None => cv.wait(guard),
            Some(end) => {
                if Instant::now() >= end {
                    return false;
                }
                // Timed out or not, the loop re-checks the condition and the clock.
                let _ = cv.wait_until(guard, end);
            }
        }
    }
    true
}
