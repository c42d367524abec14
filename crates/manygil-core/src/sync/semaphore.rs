//! [`Semaphore`]: a counting semaphore (`threading.Semaphore`).

use super::deadline::{acquire_deadline, Sleepers};
use super::SyncError;
use crate::shim::Mutex;
use std::time::Duration;

/// A counting semaphore with the semantics of `threading.Semaphore`.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::Semaphore;
/// use std::time::Duration;
///
/// let sem = Semaphore::new(1);
/// assert!(sem.acquire(true, None));
/// assert!(!sem.acquire(true, Some(Duration::from_millis(5)))); // value is 0
/// sem.release(2).unwrap(); // an unbounded semaphore may go above its initial value
/// assert_eq!(sem.value(), 2);
/// ```
#[derive(Debug)]
pub struct Semaphore {
    /// The current value (units available); protected by this mutex, held only briefly.
    value: Mutex<usize>,
    /// Waiters for `value > 0`; a release of `n` wakes up to `n` of them.
    available: Sleepers,
}

impl Semaphore {
    /// Creates a semaphore holding `value` units.
    pub fn new(value: usize) -> Self {
        Self {
            value: Mutex::new(value),
            available: Sleepers::new(),
        }
    }

    /// Takes one unit; returns whether it did.
    ///
    /// With `blocking == false` this never blocks and `timeout` is ignored. Otherwise it blocks
    /// while the value is 0, for at most `timeout` (`None`: forever), and returns `false` on
    /// timeout with nothing taken.
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        let end = acquire_deadline(blocking, timeout);
        let mut value = self.value.lock();
        if !self.available.wait_while(&mut value, end, |&v| v == 0) {
            return false;
        }
        *value -= 1;
        true
    }

    /// Returns `n` units and wakes up to `n` waiters (`n == 0` does nothing; the glue rejects
    /// it as `threading` does).
    ///
    /// # Errors
    ///
    /// [`SyncError::Overflow`] if the value would exceed `usize::MAX`; nothing changes then.
    pub fn release(&self, n: usize) -> Result<(), SyncError> {
        self.release_up_to(n, usize::MAX, SyncError::Overflow)
    }

    /// The current value.
    pub fn value(&self) -> usize {
        *self.value.lock()
    }

    /// The number of threads blocked in [`Semaphore::acquire`] now (a snapshot; see
    /// [`Lock::n_waiting`](super::Lock::n_waiting)).
    pub fn n_waiting(&self) -> usize {
        self.available.count()
    }

    /// Adds `n` units unless the value would exceed `bound` (then fails with `error`).
    pub(super) fn release_up_to(
        &self,
        n: usize,
        bound: usize,
        error: SyncError,
    ) -> Result<(), SyncError> {
        let mut value = self.value.lock();
        let new = value.checked_add(n).filter(|&v| v <= bound).ok_or(error)?;
        *value = new;
        drop(value);
        for _ in 0..n {
            if !self.available.notify_one() {
                break; // nobody else is waiting
            }
        }
        Ok(())
    }
}
