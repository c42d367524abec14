//! [`Condition`]: a condition variable over a shared [`Lock`] or [`RLock`]
//! (`threading.Condition`).

use super::deadline::{deadline, wait_while};
use super::{Lock, RLock, SyncError};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lock a [`Condition`] is built on, shared with whoever else uses it.
#[derive(Debug, Clone)]
pub enum CondLock {
    /// A plain lock: "held by the caller" means "locked by anyone", as in `threading`.
    Lock(Arc<Lock>),
    /// A reentrant lock: held by the caller means owned by the caller's identity.
    RLock(Arc<RLock>),
}

impl CondLock {
    /// Acquires the lock for `owner` (ignored for a plain [`Lock`]); see [`Lock::acquire`] and
    /// [`RLock::acquire`] for what blocks and times out.
    pub fn acquire(&self, owner: u64, blocking: bool, timeout: Option<Duration>) -> bool {
        match self {
            CondLock::Lock(lock) => lock.acquire(blocking, timeout),
            CondLock::RLock(lock) => lock.acquire(owner, blocking, timeout),
        }
    }

    /// Releases the lock for `owner` (ignored for a plain [`Lock`]).
    ///
    /// # Errors
    ///
    /// [`SyncError::NotLocked`] (plain lock not locked) or [`SyncError::NotOwned`] (rlock not
    /// held by `owner`).
    pub fn release(&self, owner: u64) -> Result<(), SyncError> {
        match self {
            CondLock::Lock(lock) => lock.release(),
            CondLock::RLock(lock) => lock.release(owner),
        }
    }

    /// Whether `owner` holds the lock (for a plain [`Lock`]: whether it is locked at all).
    pub fn is_owned(&self, owner: u64) -> bool {
        match self {
            CondLock::Lock(lock) => lock.locked(),
            CondLock::RLock(lock) => lock.is_owned(owner),
        }
    }
}

/// One waiting call's private wake-up slot.
#[derive(Debug, Default)]
struct Waiter {
    /// Set (once) by a notify that chose this waiter; protected by this mutex.
    notified: Mutex<bool>,
    /// The waiting thread sleeps here until `notified`.
    wake: Condvar,
}

/// A condition variable with the semantics of `threading.Condition`.
///
/// Waiters are woken in FIFO order. A waiter registers itself *before* releasing the lock, so
/// a notify issued after it released the lock always reaches it; a waiter that times out
/// unregisters itself atomically with respect to notifies, so it never swallows a notify meant
/// for a later waiter (a notify that picked it first makes its `wait` return `true`).
///
/// # Examples
///
/// ```
/// use manygil_core::sync::{CondLock, Condition, RLock};
/// use std::{sync::Arc, thread, time::Duration};
///
/// let cond = Arc::new(Condition::new(CondLock::RLock(Arc::new(RLock::new()))));
/// let c2 = Arc::clone(&cond);
/// let waiter = thread::spawn(move || {
///     assert!(c2.lock().acquire(7, true, None));
///     let notified = c2.wait(7, Some(Duration::from_secs(10))).unwrap();
///     c2.lock().release(7).unwrap();
///     notified
/// });
/// // Notify once the waiter waits (it holds the lock until then).
/// while cond.notify(1) == 0 {
///     thread::yield_now();
/// }
/// assert!(waiter.join().unwrap());
/// ```
#[derive(Debug)]
pub struct Condition {
    /// The user-visible lock. Immutable; shared with other users of the lock.
    lock: CondLock,
    /// Registered waiters, oldest first. A waiter is in here from before it releases the lock
    /// until a notify pops it or it removes itself on timeout; whichever happens first, under
    /// this mutex, decides whether its wait returns `true`. Lock order: this mutex, then a
    /// waiter's `notified`.
    waiters: Mutex<VecDeque<Arc<Waiter>>>,
}

impl Condition {
    /// Creates a condition over `lock`.
    pub fn new(lock: CondLock) -> Self {
        Self {
            lock,
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// The lock this condition is built on (the glue's `acquire`/`release`/`__enter__`).
    pub fn lock(&self) -> &CondLock {
        &self.lock
    }

    /// Whether `owner` holds the condition's lock (see [`CondLock::is_owned`]); the glue checks
    /// this before [`Condition::notify`] to raise `RuntimeError` as `threading` does.
    pub fn is_owned(&self, owner: u64) -> bool {
        self.lock.is_owned(owner)
    }

    /// Releases the lock, blocks until notified or for at most `timeout` (`None`: forever),
    /// then re-acquires the lock (waiting for it as long as it takes, like `threading`).
    ///
    /// Returns `Ok(true)` if notified, `Ok(false)` on timeout. A timed-out wait leaves no
    /// registration behind and consumes no notify; the lock is held again on return.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotOwned`] if `owner` does not hold the lock; nothing happens then.
    pub fn wait(&self, owner: u64, timeout: Option<Duration>) -> Result<bool, SyncError> {
        let end = deadline(timeout);
        if !self.lock.is_owned(owner) {
            return Err(SyncError::NotOwned);
        }
        let me = Arc::new(Waiter::default());
        self.waiters.lock().push_back(Arc::clone(&me));
        let saved = match &self.lock {
            CondLock::Lock(lock) => lock.release().map(|()| 1),
            CondLock::RLock(lock) => lock.release_all(owner),
        };
        let saved = match saved {
            Ok(saved) => saved,
            Err(error) => {
                // Someone released the plain lock between our check and our release.
                self.unregister(&me);
                return Err(error);
            }
        };
        let notified = self.sleep(&me, end) || !self.unregister(&me);
        match &self.lock {
            CondLock::Lock(lock) => lock.acquire(true, None),
            CondLock::RLock(lock) => lock.acquire_restore(owner, saved, None),
        };
        Ok(notified)
    }

    /// Wakes up to `n` waiters, oldest first; returns how many were woken.
    ///
    /// `threading` requires the caller to hold the lock; check [`Condition::is_owned`] first.
    pub fn notify(&self, n: usize) -> usize {
        let mut waiters = self.waiters.lock();
        let count = n.min(waiters.len());
        for waiter in waiters.drain(..count) {
            *waiter.notified.lock() = true;
            waiter.wake.notify_one();
        }
        count
    }

    /// The number of waiters registered and not yet notified (a snapshot).
    pub fn n_waiting(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Wakes every waiter; returns how many were woken.
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// Sleeps until `me` is notified or `end` passes; returns whether it was notified.
    fn sleep(&self, me: &Waiter, end: Option<Instant>) -> bool {
        let mut notified = me.notified.lock();
        wait_while(&me.wake, &mut notified, end, |&n| !n)
    }

    /// Removes `me` from the waiters; returns `false` if a notify already removed it.
    fn unregister(&self, me: &Arc<Waiter>) -> bool {
        let mut waiters = self.waiters.lock();
        match waiters.iter().position(|w| Arc::ptr_eq(w, me)) {
            Some(index) => {
                waiters.remove(index);
                true
            }
            None => false,
        }
    }
}
