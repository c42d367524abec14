//! [`Lock`]: a non-reentrant lock that any thread may release (`threading.Lock`).

use super::deadline::{acquire_deadline, Sleepers};
use super::SyncError;
use crate::shim::Mutex;
use std::time::Duration;

/// A non-reentrant lock with the semantics of `threading.Lock`.
///
/// The lock has no owner: any thread (of any interpreter) may release it, not only the one
/// that acquired it. It is not fair: a releasing thread may re-acquire before a woken waiter.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::{Lock, SyncError};
/// use std::{sync::Arc, thread, time::Duration};
///
/// let lock = Arc::new(Lock::new());
/// assert!(lock.acquire(true, None));
/// assert!(!lock.acquire(false, None)); // already locked
/// // Another thread may release it.
/// let l2 = Arc::clone(&lock);
/// thread::spawn(move || l2.release().unwrap()).join().unwrap();
/// assert!(!lock.locked());
/// assert_eq!(lock.release(), Err(SyncError::NotLocked));
/// assert!(lock.acquire(true, Some(Duration::from_millis(10))));
/// ```
#[derive(Debug, Default)]
pub struct Lock {
    /// Whether the lock is held. Changed only under this mutex; the mutex is held only for
    /// the few instructions that test or set the flag, never across calls.
    locked: Mutex<bool>,
    /// Waiters for `locked` to become false; [`Lock::release`] wakes one of them.
    unlocked: Sleepers,
}

impl Lock {
    /// Creates an unlocked lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Acquires the lock; returns whether it was acquired.
    ///
    /// With `blocking == false` this never blocks and `timeout` is ignored. Otherwise it blocks
    /// while another party holds the lock, for at most `timeout` (`None`: forever), and returns
    /// `false` on timeout with no other effect.
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> bool {
        let end = acquire_deadline(blocking, timeout);
        let mut locked = self.locked.lock();
        if !self.unlocked.wait_while(&mut locked, end, |&held| held) {
            return false;
        }
        *locked = true;
        true
    }

    /// Releases the lock, from any thread, and wakes one waiter.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotLocked`] if the lock is not locked.
    pub fn release(&self) -> Result<(), SyncError> {
        let mut locked = self.locked.lock();
        if !*locked {
            return Err(SyncError::NotLocked);
        }
        *locked = false;
        drop(locked);
        self.unlocked.notify_one();
        Ok(())
    }

    /// Whether the lock is currently held (by anyone).
    pub fn locked(&self) -> bool {
        *self.locked.lock()
    }

    /// The number of threads blocked in [`Lock::acquire`] now (a snapshot). A thread counted
    /// here is asleep or about to sleep, and a [`Lock::release`] issued after seeing it
    /// reaches it.
    pub fn n_waiting(&self) -> usize {
        self.unlocked.count()
    }
}
