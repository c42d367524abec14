//! The synchronization handles, `threading`'s primitives shared by every interpreter and
//! thread: `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`,
//! `Barrier`, and `AtomicInt`. Each file makes one type (with `handle_type!`) over the
//! core's primitive of the same name; `lock_like` has what the lock-like ones share; waits
//! go through `handles::blocking`.

pub(crate) mod atomic_int;
pub(crate) mod barrier;
pub(crate) mod bounded_semaphore;
pub(crate) mod condition;
pub(crate) mod event;
pub(crate) mod lock;
pub(crate) mod lock_like;
pub(crate) mod rlock;
pub(crate) mod semaphore;
