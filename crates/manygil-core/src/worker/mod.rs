//! The parts a worker thread is made of, with no CPython in them.
//!
//! - [`Inbox`]: the worker's FIFO of jobs; senders never block, and fail once it is closed.
//! - [`completion`]: a one-shot slot a job's result travels back through.
//!
//! A job travels: caller encodes a [`crate::Value`], [`Inbox::send`]s a job holding it and a
//! [`Completer`], the worker [`Inbox::recv`]s it (wake-up 1), runs it and calls
//! [`Completer::complete`], which wakes the caller blocked in [`Completion::wait`] (wake-up 2).

mod completion;
mod inbox;

pub use completion::{completion, Completer, Completion, WaitError};
pub use inbox::{Inbox, InboxClosed};
