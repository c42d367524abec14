//! [`RLock`]: a reentrant lock owned by a caller-supplied identity (`threading.RLock`).

use super::deadline::{acquire_deadline, Sleepers};
use super::SyncError;
use crate::shim::Mutex;
use std::time::Duration;

/// Who holds an [`RLock`] and how many times.
#[derive(Debug, Default)]
struct Held {
    /// The owner identity holding the lock, `None` when unlocked.
    owner: Option<u64>,
    /// Recursion depth; `0` exactly when `owner` is `None`.
    count: usize,
}

/// A reentrant lock with the semantics of `threading.RLock`.
///
/// Ownership is an opaque `u64` chosen by the caller (the glue combines interpreter id and
/// thread id), so only the acquiring owner may release; it may acquire again without blocking,
/// and must release as many times as it acquired.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::{RLock, SyncError};
///
/// let lock = RLock::new();
/// assert!(lock.acquire(1, true, None));
/// assert!(lock.acquire(1, true, None)); // reentrant
/// assert!(!lock.acquire(2, false, None)); // another owner cannot
/// assert_eq!(lock.release(2), Err(SyncError::NotOwned));
/// assert_eq!(lock.recursion_count(1), 2);
/// lock.release(1).unwrap();
/// lock.release(1).unwrap();
/// assert!(!lock.locked());
/// ```
#[derive(Debug, Default)]
pub struct RLock {
    /// Current owner and recursion count; protected by this mutex, which is only held briefly
    /// inside a call, never across calls.
    held: Mutex<Held>,
    /// Waiters for the lock to become free; a full release wakes one of them.
    freed: Sleepers,
}

impl RLock {
    /// Creates an unlocked reentrant lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Acquires the lock for `owner`; returns whether it was acquired.
    ///
    /// If `owner` already holds it the recursion count grows and this returns `true` at once.
    /// Otherwise it blocks while another owner holds the lock (not at all when
    /// `blocking == false`, which ignores `timeout`; at most `timeout` otherwise, `None`
    /// meaning forever) and returns `false` on timeout with no other effect. It also returns
    /// `false` if the recursion count is already `usize::MAX`.
    pub fn acquire(&self, owner: u64, blocking: bool, timeout: Option<Duration>) -> bool {
        self.acquire_count(owner, 1, acquire_deadline(blocking, timeout))
    }

    /// Releases one level of `owner`'s hold; the last level frees the lock and wakes a waiter.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotOwned`] if `owner` does not hold the lock.
    pub fn release(&self, owner: u64) -> Result<(), SyncError> {
        let mut held = self.held.lock();
        if held.owner != Some(owner) {
            return Err(SyncError::NotOwned);
        }
        held.count -= 1;
        if held.count == 0 {
            held.owner = None;
            drop(held);
            self.freed.notify_one();
        }
        Ok(())
    }

    /// Releases every level of `owner`'s hold at once and returns how many there were, for
    /// [`RLock::acquire_restore`] (this is `RLock._release_save`, used by conditions).
    ///
    /// # Errors
    ///
    /// [`SyncError::NotOwned`] if `owner` does not hold the lock.
    pub fn release_all(&self, owner: u64) -> Result<usize, SyncError> {
        let mut held = self.held.lock();
        if held.owner != Some(owner) {
            return Err(SyncError::NotOwned);
        }
        let count = std::mem::take(&mut held.count);
        held.owner = None;
        drop(held);
        self.freed.notify_one();
        Ok(count)
    }

    /// Re-acquires the lock for `owner` with recursion count `count` (as returned by
    /// [`RLock::release_all`]; `0` is treated as `1`); this is `RLock._acquire_restore`.
    ///
    /// Blocks while another owner holds the lock, for at most `timeout` (`None`: forever);
    /// returns `false` on timeout with no other effect. If `owner` already holds the lock,
    /// `count` is added to its recursion count (`false` if that would overflow).
    pub fn acquire_restore(&self, owner: u64, count: usize, timeout: Option<Duration>) -> bool {
        self.acquire_count(owner, count.max(1), acquire_deadline(true, timeout))
    }

    /// Whether `owner` currently holds the lock.
    pub fn is_owned(&self, owner: u64) -> bool {
        self.held.lock().owner == Some(owner)
    }

    /// How many times `owner` holds the lock (`0` if it does not).
    pub fn recursion_count(&self, owner: u64) -> usize {
        let held = self.held.lock();
        if held.owner == Some(owner) {
            held.count
        } else {
            0
        }
    }

    /// Whether anyone holds the lock.
    pub fn locked(&self) -> bool {
        self.held.lock().owner.is_some()
    }

    /// The number of threads blocked in [`RLock::acquire`] or [`RLock::acquire_restore`] now
    /// (a snapshot; see [`Lock::n_waiting`](super::Lock::n_waiting)).
    pub fn n_waiting(&self) -> usize {
        self.freed.count()
    }

    /// Waits until the lock is free or owned by `owner` (or `end` passes), then adds `levels`.
    fn acquire_count(&self, owner: u64, levels: usize, end: Option<std::time::Instant>) -> bool {
        let mut held = self.held.lock();
        let free = self
            .freed
            .wait_while(&mut held, end, |h| h.owner.is_some_and(|o| o != owner));
        if !free {
            return false;
        }
        let Some(count) = held.count.checked_add(levels) else {
            return false;
        };
        held.owner = Some(owner);
        held.count = count;
        true
    }
}
