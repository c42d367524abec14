//! Cross-interpreter synchronisation primitives with the semantics of Python's `threading`.
//!
//! Every blocking method takes `timeout: Option<Duration>` (`None` waits forever) and waits
//! on an [`Instant`](std::time::Instant) deadline, so retries after spurious wake-ups never
//! stretch the wait. A wait that times out leaves no trace (no waiter registered, nothing
//! consumed), so callers may wait in short slices and check for signals in between.

mod atomic_int;
mod barrier;
mod bounded_semaphore;
mod condition;
pub(crate) mod deadline;
mod error;
mod event;
mod lock;
mod rlock;
mod semaphore;

pub use atomic_int::AtomicInt;
pub use barrier::{Barrier, BarrierWait};
pub use bounded_semaphore::BoundedSemaphore;
pub use condition::{CondLock, CondWait, Condition};
pub use error::{BarrierError, SyncError};
pub use event::Event;
pub use lock::Lock;
pub use rlock::RLock;
pub use semaphore::Semaphore;
