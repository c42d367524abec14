//! Readiness callbacks: a list of `Fn()`s invoked after a queue's state changes.

use crate::shim::AtomicUsize;
use crate::shim::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A readiness callback. It runs on the thread that changed the queue, outside the queue's
/// lock, so it may call back into the queue, but it should be quick, must not block and must
/// not panic (the panic would reach the putting or getting caller).
pub type Callback = Arc<dyn Fn() + Send + Sync>;

/// Identifies a subscription for [`Queue::unsubscribe`](super::Queue::unsubscribe); unique
/// within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

impl SubscriptionId {
    /// The id as a number, e.g. to store in a Python object.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id from a number obtained with [`SubscriptionId::as_u64`].
    pub fn from_u64(id: u64) -> Self {
        Self(id)
    }
}

/// Source of subscription ids; only ever incremented. A plain `std` atomic even under loom:
/// a process-wide counter is not part of any model.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The callbacks of one kind of readiness of one queue.
#[derive(Default)]
pub(crate) struct Subscribers {
    /// Length of `list`, written under `list`'s lock; lets `notify` skip locking when zero.
    /// A subscriber that checks the queue's state after subscribing cannot be missed: its
    /// increment happens before its check, which (through the queue's lock) happens before a
    /// state change that it did not see, which happens before that changer's `notify` read.
    len: AtomicUsize,
    /// The callbacks in subscription order; protected by this mutex, which is never held
    /// while a callback runs nor together with the queue's lock.
    list: Mutex<Vec<(SubscriptionId, Callback)>>,
}

impl Subscribers {
    /// Adds `callback`; returns its new id.
    pub(crate) fn add(&self, callback: Callback) -> SubscriptionId {
        let id = SubscriptionId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.lock();
        list.push((id, callback));
        self.len.store(list.len(), Ordering::SeqCst);
        id
    }

    /// Removes the callback with `id`; returns whether it was there.
    pub(crate) fn remove(&self, id: SubscriptionId) -> bool {
        let mut list = self.list.lock();
        let Some(index) = list.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        list.remove(index);
        self.len.store(list.len(), Ordering::SeqCst);
        true
    }

    /// The number of callbacks.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Invokes every callback, outside any lock.
    pub(crate) fn notify(&self) {
        if self.len() == 0 {
            return;
        }
        let callbacks: Vec<Callback> = self.list.lock().iter().map(|(_, c)| c.clone()).collect();
        for callback in callbacks {
            callback();
        }
    }
}

impl std::fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subscribers({})", self.len())
    }
}
