//! Errors of [`Queue`](super::Queue) operations.

use std::fmt;
use thiserror::Error;

/// Why [`Queue::put`](super::Queue::put) or [`Queue::try_put`](super::Queue::try_put) failed;
/// the item is handed back.
#[derive(Clone, PartialEq, Eq, Error)]
pub enum PutError<T> {
    /// The queue stayed full until the timeout (Python's `queue.Full`).
    #[error("queue is full")]
    Full(T),
    /// The queue is closed.
    #[error("queue is closed")]
    Closed(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "Full(..)",
            PutError::Closed(_) => "Closed(..)",
        })
    }
}

/// Why [`Queue::get`](super::Queue::get) or [`Queue::try_get`](super::Queue::try_get) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GetError {
    /// The queue stayed empty until the timeout (Python's `queue.Empty`).
    #[error("queue is empty")]
    Empty,
    /// The queue is closed and every item has been taken.
    #[error("queue is closed")]
    Closed,
}
