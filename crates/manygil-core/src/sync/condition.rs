//! [`Condition`]: a condition variable over a shared [`Lock`] or [`RLock`]
//! (`threading.Condition`).

use super::deadline::{deadline, Sleepers};
use super::{Lock, RLock, SyncError};
use crate::shim::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

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

    /// Releases `owner`'s whole hold; returns the recursion count to restore (1 for a plain
    /// lock).
    fn release_save(&self, owner: u64) -> Result<usize, SyncError> {
        match self {
            CondLock::Lock(lock) => lock.release().map(|()| 1),
            CondLock::RLock(lock) => lock.release_all(owner),
        }
    }

    /// Takes the lock back for `owner` with recursion count `saved`, waiting for at most
    /// `timeout` (`None`: forever); returns whether it did.
    fn acquire_restore(&self, owner: u64, saved: usize, timeout: Option<Duration>) -> bool {
        match self {
            CondLock::Lock(lock) => lock.acquire(true, timeout),
            CondLock::RLock(lock) => lock.acquire_restore(owner, saved, timeout),
        }
    }
}

/// One waiting call's private wake-up slot.
#[derive(Debug, Default)]
struct Waiter {
    /// Set (once) by a notify that chose this waiter, under the condition's `waiters` mutex
    /// and then this mutex; never cleared.
    notified: Mutex<bool>,
    /// The waiting thread sleeps here until `notified`.
    wake: Sleepers,
}

/// A condition variable with the semantics of `threading.Condition`.
///
/// Waiters are woken in FIFO order. A waiter registers itself *before* releasing the lock, so
/// a notify issued after it released the lock always reaches it; a waiter that times out
/// unregisters itself atomically with respect to notifies, so it never swallows a notify meant
/// for a later waiter (a notify that picked it first makes its `wait` return `true`).
///
/// [`Condition::wait`] does everything in one call. [`Condition::begin_wait`] splits it into
/// phases for a caller that must do something between them (the glue releases the GIL, and
/// waits in slices to check for Ctrl-C): register and release the lock, wait for a notify
/// in as many side-effect-free slices as needed ([`CondWait::wait`]), re-acquire the lock
/// ([`CondWait::try_reacquire`] / [`CondWait::reacquire`]). The registration lasts from
/// the first phase to the last, so no notify is lost between slices.
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

/// One call's wait on a [`Condition`], from [`Condition::begin_wait`] (registered, lock
/// released) until the lock is held again.
///
/// Dropping it before [`CondWait::reacquire`] or a successful [`CondWait::try_reacquire`]
/// unregisters and re-acquires the lock, blocking for as long as that takes (as `threading`'s
/// `wait` does in its `finally`), so the caller holds the lock again whatever happened.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::{CondLock, Condition, Lock};
/// use std::{sync::Arc, time::Duration};
///
/// let cond = Condition::new(CondLock::Lock(Arc::new(Lock::new())));
/// assert!(cond.lock().acquire(0, true, None));
/// let mut wait = cond.begin_wait(0).unwrap();
/// assert!(!cond.is_owned(0)); // released while waiting
/// for _slice in 0..3 {
///     if wait.wait(Some(Duration::from_millis(1))) {
///         break;
///     }
///     // between slices: check for signals, with no registration lost
/// }
/// assert_eq!(cond.notify(1), 1);
/// assert!(wait.wait(None));
/// assert!(wait.try_reacquire());
/// assert!(wait.reacquire()); // already held: reports the notify
/// assert!(cond.is_owned(0));
/// ```
#[derive(Debug)]
pub struct CondWait<'a> {
    /// The condition waited on.
    cond: &'a Condition,
    /// This call's slot; in `cond.waiters` until a notify pops it or `leave` removes it.
    me: Arc<Waiter>,
    /// Whose hold on the lock was released.
    owner: u64,
    /// The recursion count released, restored on re-acquiring.
    saved: usize,
    /// `Some(notified)` once this call has left the waiters (after which no notify can pick
    /// it any more).
    left: Option<bool>,
    /// Whether the lock is held again.
    relocked: bool,
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
        let mut wait = self.begin_wait(owner)?;
        wait.wait_deadline(end);
        Ok(wait.reacquire())
    }

    /// The first phase of a wait: registers `owner` as a waiter, then releases its whole hold
    /// on the lock (all recursion levels of an [`RLock`]). Never blocks.
    ///
    /// A notify issued from now on can pick this waiter; continue with [`CondWait::wait`].
    ///
    /// # Errors
    ///
    /// [`SyncError::NotOwned`] if `owner` does not hold the lock (or a plain lock was released
    /// by someone else meanwhile); nothing is registered then.
    pub fn begin_wait(&self, owner: u64) -> Result<CondWait<'_>, SyncError> {
        if !self.lock.is_owned(owner) {
            return Err(SyncError::NotOwned);
        }
        let me = Arc::new(Waiter::default());
        self.waiters.lock().push_back(Arc::clone(&me));
        match self.lock.release_save(owner) {
            Ok(saved) => Ok(CondWait {
                cond: self,
                me,
                owner,
                saved,
                left: None,
                relocked: false,
            }),
            Err(error) => {
                // Someone released the plain lock between our check and our release; a
                // notify that picked us meanwhile is passed on to the next waiter.
                if !self.unregister(&me) {
                    self.notify(1);
                }
                Err(error)
            }
        }
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

impl CondWait<'_> {
    /// Waits until this waiter is notified, for at most `timeout` (`None`: forever); returns
    /// whether it has been notified.
    ///
    /// A slice that times out has no effect: the registration stays, and a notify that comes
    /// between two slices is seen by the next one. Once notified, every call returns `true`
    /// at once. After the wait has ended (the lock was re-acquired), it reports whether it
    /// was notified.
    pub fn wait(&mut self, timeout: Option<Duration>) -> bool {
        self.wait_deadline(deadline(timeout))
    }

    /// Whether a notify has picked this waiter (a snapshot, never blocks).
    pub fn is_notified(&self) -> bool {
        self.left.unwrap_or_else(|| *self.me.notified.lock())
    }

    /// Stops waiting and takes the lock back if that is possible without blocking; returns
    /// whether the lock is held again (if not, call [`CondWait::reacquire`], e.g. with the
    /// GIL released). Stopping is final: a notify from now on goes to other waiters.
    pub fn try_reacquire(&mut self) -> bool {
        self.leave();
        if !self.relocked {
            self.relocked =
                self.cond
                    .lock
                    .acquire_restore(self.owner, self.saved, Some(Duration::ZERO));
        }
        self.relocked
    }

    /// Stops waiting and takes the lock back, blocking for as long as that takes; returns
    /// whether this waiter was notified (`false`: it timed out, or gave up).
    pub fn reacquire(mut self) -> bool {
        let notified = self.leave();
        self.relock();
        notified
    }

    /// [`CondWait::wait`] with a deadline.
    fn wait_deadline(&mut self, end: Option<std::time::Instant>) -> bool {
        if let Some(notified) = self.left {
            return notified;
        }
        let mut notified = self.me.notified.lock();
        self.me.wake.wait_while(&mut notified, end, |&n| !n)
    }

    /// Leaves the waiters (once); returns whether a notify picked this waiter first.
    fn leave(&mut self) -> bool {
        *self
            .left
            .get_or_insert_with(|| !self.cond.unregister(&self.me))
    }

    /// Re-acquires the lock (once), blocking for as long as that takes.
    fn relock(&mut self) {
        if !self.relocked {
            // Without a timeout, this returns only once the lock is held.
            self.relocked = self.cond.lock.acquire_restore(self.owner, self.saved, None);
        }
    }
}

impl Drop for CondWait<'_> {
    /// Leaves the waiters and re-acquires the lock unless that was done already.
    fn drop(&mut self) {
        self.leave();
        self.relock();
    }
}
