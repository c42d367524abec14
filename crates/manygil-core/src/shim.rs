//! The lock, condition variable and atomic counter every blocking primitive of the crate is
//! built on.
//!
//! Normally these are `parking_lot`'s and `std`'s. Under `cfg(loom)` (`make loom`) they are
//! loom's, wrapped to `parking_lot`'s API, so that loom can explore every interleaving of the
//! primitives: loom only models its own types, and a `parking_lot` lock contended inside a
//! model would block the single OS thread loom runs the model on. Nothing outside this module
//! names `parking_lot` in the primitives' code (`sync`, `queue`).
//!
//! Under loom a timed wait is an untimed one (loom does not model time), so models use only
//! `None` (forever) or zero timeouts.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicUsize;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(loom)]
pub(crate) use model::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
mod model {
    use std::fmt;
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    /// `parking_lot::Mutex`'s API over `loom::sync::Mutex` (no poisoning: a panic inside a
    /// model fails the model anyway).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// `parking_lot::MutexGuard`'s API: the loom guard, taken out only while a
    /// [`Condvar`] wait holds it.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    /// `parking_lot::Condvar`'s API over `loom::sync::Condvar`.
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("no poisoning in a loom model")))
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Mutex(..)")
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present outside a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present outside a wait")
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard present outside a wait");
            guard.0 = Some(self.0.wait(inner).expect("no poisoning in a loom model"));
        }

        /// Waits without a timeout (loom does not model time); returns whether it timed
        /// out, which is never.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _end: Instant) -> bool {
            self.wait(guard);
            false
        }

        /// Always `true`: loom does not tell whether a thread was woken.
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }

        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    impl Default for Condvar {
        fn default() -> Self {
            Self::new()
        }
    }

    impl fmt::Debug for Condvar {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Condvar")
        }
    }
}
