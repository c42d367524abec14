//! The synchronization handles, `threading`'s primitives shared by every interpreter and
//! thread: `Lock`, `RLock`, `Semaphore`/`BoundedSemaphore`, `Event`, `Condition`,
//! `Barrier`, and `AtomicInt`. Each file makes one type over the core's primitive of the
//! same name; waits go through `handles::blocking`.

pub(crate) mod atomic_int;
pub(crate) mod barrier;
pub(crate) mod condition;
pub(crate) mod event;
pub(crate) mod lock;
pub(crate) mod rlock;
pub(crate) mod semaphore;
