//! The calling thread's worker thread name (`manygil-w<id>`), if it is a worker thread:
//! set by the worker (`interp::worker`) when it starts, read by [`super::main_ref`] to name
//! the thread in the main interpreter's `threading` when it completes futures there.

use std::cell::RefCell;

thread_local! {
    /// This worker thread's name; `None` on any other thread.
    static WORKER_NAME: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Record the calling thread's worker thread name (once, as the worker starts).
pub(crate) fn set(name: String) {
    WORKER_NAME.with(|n| *n.borrow_mut() = Some(name));
}

/// The calling thread's worker thread name, if it is a worker thread.
pub(crate) fn get() -> Option<String> {
    WORKER_NAME.with(|n| n.borrow().clone())
}
