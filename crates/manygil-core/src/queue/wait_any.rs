//! [`wait_any`]: block until one of several queues can be read.

use super::Queue;
use crate::shim::Mutex;
use crate::sync::deadline::{deadline, Sleepers};
use std::sync::Arc;
use std::time::Duration;

/// A one-shot wake-up flag fed by queue subscriptions.
#[derive(Default)]
struct Signal {
    /// Set by a subscription callback, cleared by the waiter before each scan.
    raised: Mutex<bool>,
    /// The waiter sleeps here.
    wake: Sleepers,
}

/// Blocks until one of `queues` holds an item or is closed, for at most `timeout`
/// (`None`: forever); returns its index (the lowest if several are ready), or `None` on
/// timeout or if `queues` is empty.
///
/// Nothing is consumed, so the result can race with other consumers: follow up with
/// [`Queue::try_get`] and call again on [`GetError::Empty`](super::GetError::Empty). A wait that
/// times out leaves nothing behind (its temporary subscriptions are removed).
///
/// # Examples
///
/// ```
/// use manygil_core::queue::{wait_any, Queue};
/// use std::time::Duration;
///
/// let (a, b) = (Queue::new(0), Queue::new(0));
/// assert_eq!(wait_any(&[&a, &b], Some(Duration::from_millis(5))), None);
/// b.put("x", None).unwrap();
/// assert_eq!(wait_any(&[&a, &b], None), Some(1));
/// assert_eq!(b.try_get(), Ok("x"));
/// ```
pub fn wait_any<T>(queues: &[&Queue<T>], timeout: Option<Duration>) -> Option<usize> {
    let end = deadline(timeout);
    let ready = || queues.iter().position(|q| q.is_ready());
    if queues.is_empty() || ready().is_some() {
        return ready();
    }
    let signal = Arc::new(Signal::default());
    let callback = {
        let signal = Arc::clone(&signal);
        Arc::new(move || {
            *signal.raised.lock() = true;
            signal.wake.notify_one();
        })
    };
    let ids: Vec<_> = queues
        .iter()
        .map(|q| q.subscribe(callback.clone()))
        .collect();
    let found = loop {
        if let Some(index) = ready() {
            break Some(index);
        }
        let mut raised = signal.raised.lock();
        if !signal.wake.wait_while(&mut raised, end, |&r| !r) {
            drop(raised);
            break ready();
        }
        *raised = false;
    };
    for (queue, id) in queues.iter().zip(ids) {
        queue.unsubscribe(id);
    }
    found
}
