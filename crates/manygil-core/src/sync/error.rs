//! Errors of the synchronisation primitives.

use thiserror::Error;

/// Why releasing or waiting on a lock-like primitive failed; the glue maps each variant to the
/// exception `threading` raises (`RuntimeError` or `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SyncError {
    /// [`Lock::release`](super::Lock::release) on a lock that is not locked
    /// (`RuntimeError: release unlocked lock`).
    #[error("release unlocked lock")]
    NotLocked,
    /// The caller does not hold the [`RLock`](super::RLock) or the
    /// [`Condition`](super::Condition)'s lock (`RuntimeError: cannot release un-acquired lock`).
    #[error("cannot release un-acquired lock")]
    NotOwned,
    /// [`BoundedSemaphore::release`](super::BoundedSemaphore::release) would raise the value
    /// above its initial value (`ValueError: Semaphore released too many times`).
    #[error("Semaphore released too many times")]
    TooManyReleases,
    /// A count would exceed `usize::MAX` (a semaphore value or an rlock recursion count).
    #[error("counter overflow")]
    Overflow,
}

/// Why [`Barrier::wait`](super::Barrier::wait) failed (`threading.BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BarrierError {
    /// The barrier is broken: it was aborted, a waiter timed out, or it was reset while this
    /// party was waiting.
    #[error("barrier is broken")]
    Broken,
}
