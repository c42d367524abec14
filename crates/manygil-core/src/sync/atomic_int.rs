//! [`AtomicInt`]: a shared 64-bit integer.

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

/// A signed 64-bit integer shared by every interpreter, updated atomically.
///
/// All operations are sequentially consistent. Arithmetic wraps around on overflow
/// (`i64::MAX + 1 == i64::MIN`), like Rust's `wrapping_add`; the glue may check ranges first.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::AtomicInt;
///
/// let n = AtomicInt::new(5);
/// assert_eq!(n.add(3), 8);
/// assert_eq!(n.swap(1), 8);
/// assert_eq!(n.compare_exchange(1, 2), Ok(1));
/// assert_eq!(n.compare_exchange(1, 3), Err(2));
/// assert_eq!(AtomicInt::new(i64::MAX).add(1), i64::MIN);
/// ```
#[derive(Debug, Default)]
pub struct AtomicInt {
    /// The value; every access is an atomic operation, nothing else protects it.
    value: AtomicI64,
}

impl AtomicInt {
    /// Creates an integer holding `value`.
    pub fn new(value: i64) -> Self {
        Self {
            value: AtomicI64::new(value),
        }
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(SeqCst)
    }

    /// Stores `value`.
    pub fn set(&self, value: i64) {
        self.value.store(value, SeqCst);
    }

    /// Adds `delta` (wrapping on overflow) and returns the new value.
    pub fn add(&self, delta: i64) -> i64 {
        self.value.fetch_add(delta, SeqCst).wrapping_add(delta)
    }

    /// Stores `value` and returns the previous value.
    pub fn swap(&self, value: i64) -> i64 {
        self.value.swap(value, SeqCst)
    }

    /// Stores `new` if the value is `current`.
    ///
    /// # Errors
    ///
    /// `Err(actual)` with the value found if it was not `current`; `Ok(current)` otherwise.
    pub fn compare_exchange(&self, current: i64, new: i64) -> Result<i64, i64> {
        self.value.compare_exchange(current, new, SeqCst, SeqCst)
    }
}
