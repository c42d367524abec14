//! [`BoundedSemaphore`]: a semaphore that refuses to exceed its initial value.

use super::{Semaphore, SyncError};
use std::time::Duration;

/// A semaphore with the semantics of `threading.BoundedSemaphore`: releasing above the
/// initial value is an error.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::{BoundedSemaphore, SyncError};
///
/// let sem = BoundedSemaphore::new(2);
/// assert!(sem.acquire(false, None));
/// assert_eq!(sem.release(2), Err(SyncError::TooManyReleases)); // would reach 3
/// sem.release(1).unwrap();
/// assert_eq!(sem.value(), 2);
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    /// The underlying semaphore; its value never exceeds `bound` (checked under its lock).
    sem: Semaphore,
    /// The initial value, which is also the maximum value. Immutable.
    bound: usize,
}

impl BoundedSemaphore {
    /// Creates a bounded semaphore holding `value` units, which is also its maximum.
    pub fn new(value: usize) -> Self {
        Self {
            sem: Semaphore::new(value),
            bound: value,
        }
    }

    /// Takes one unit; blocks exactly as [`Semaphore::acquire`] does.
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        self.sem.acquire(blocking, timeout)
    }

    /// Returns `n` units and wakes up to `n` waiters.
    ///
    /// # Errors
    ///
    /// [`SyncError::TooManyReleases`] if the value would exceed the initial value; the value
    /// is then unchanged (no unit is released).
    pub fn release(&self, n: usize) -> Result<(), SyncError> {
        self.sem
            .release_up_to(n, self.bound, SyncError::TooManyReleases)
    }

    /// The current value.
    pub fn value(&self) -> usize {
        self.sem.value()
    }

    /// The number of threads blocked in [`BoundedSemaphore::acquire`] now (a snapshot).
    pub fn n_waiting(&self) -> usize {
        self.sem.n_waiting()
    }

    /// The initial (and maximum) value.
    pub fn initial_value(&self) -> usize {
        self.bound
    }
}
