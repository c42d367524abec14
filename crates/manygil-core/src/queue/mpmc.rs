//! [`Queue`]: the bounded or unbounded MPMC FIFO queue.

use super::subscribers::{Callback, Subscribers, SubscriptionId};
use super::{GetError, PutError};
use crate::shim::Mutex;
use crate::sync::deadline::{deadline, Sleepers};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// The queue's contents.
struct State<T> {
    /// Items, oldest first; never longer than `maxsize` when `maxsize > 0`.
    items: VecDeque<T>,
    /// Set once by `close`, never cleared.
    closed: bool,
}

/// A multi-producer multi-consumer FIFO queue, bounded (`maxsize > 0`) or unbounded
/// (`maxsize == 0`), that can be closed. Share it as `Arc<Queue<T>>`.
///
/// Blocking calls wait on an exact deadline and a timed-out call changes nothing (no item is
/// taken, lost or kept), so the glue can wait in short slices and check signals in between.
///
/// # Examples
///
/// ```
/// use manygil_core::queue::{GetError, PutError, Queue};
/// use std::{sync::Arc, thread, time::Duration};
///
/// let queue = Arc::new(Queue::new(1));
/// queue.put(1, None).unwrap();
/// assert!(matches!(queue.try_put(2), Err(PutError::Full(2))));
/// let q2 = Arc::clone(&queue);
/// let consumer = thread::spawn(move || q2.get(Some(Duration::from_secs(10))));
/// assert_eq!(consumer.join().unwrap(), Ok(1));
/// queue.put(3, None).unwrap();
/// queue.close();
/// assert_eq!(queue.get(None), Ok(3)); // drains first
/// assert_eq!(queue.get(None), Err(GetError::Closed));
/// ```
pub struct Queue<T> {
    /// Items and the closed flag; protected by this mutex, held only inside a call and never
    /// while a callback runs.
    state: Mutex<State<T>>,
    /// Getters waiting for an item; one is woken per put, all on close.
    not_empty: Sleepers,
    /// Putters waiting for room; one is woken per get, all on close.
    not_full: Sleepers,
    /// Capacity, `0` for unbounded. Immutable.
    maxsize: usize,
    /// Callbacks invoked after every put and after close.
    readable: Subscribers,
    /// Callbacks invoked after every get and after close.
    writable: Subscribers,
}

impl<T> Queue<T> {
    /// Creates an empty queue holding at most `maxsize` items (`0`: unbounded).
    pub fn new(maxsize: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            not_empty: Sleepers::new(),
            not_full: Sleepers::new(),
            maxsize,
            readable: Subscribers::default(),
            writable: Subscribers::default(),
        }
    }

    /// Appends `item`, blocking while the queue is full for at most `timeout` (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] if still full at the timeout, [`PutError::Closed`] if the queue is or
    /// becomes closed; both give `item` back and leave the queue unchanged.
    pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let end = deadline(timeout);
        let mut state = self.state.lock();
        let room = self
            .not_full
            .wait_while(&mut state, end, |s| !s.closed && self.is_full_state(s));
        if state.closed {
            return Err(PutError::Closed(item));
        }
        if !room {
            return Err(PutError::Full(item));
        }
        state.items.push_back(item);
        drop(state);
        self.not_empty.notify_one();
        self.readable.notify();
        Ok(())
    }

    /// Appends `item` if there is room now, never blocking.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`]: [`PutError::Full`] or [`PutError::Closed`], with `item` given back.
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.put(item, Some(Duration::ZERO))
    }

    /// Removes the oldest item, blocking while the queue is empty and open for at most `timeout`
    /// (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] if still empty at the timeout; [`GetError::Closed`] once the queue is
    /// closed and drained (a closed queue still yields its remaining items).
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, GetError> {
        let end = deadline(timeout);
        let mut state = self.state.lock();
        self.not_empty
            .wait_while(&mut state, end, |s| s.items.is_empty() && !s.closed);
        match state.items.pop_front() {
            Some(item) => {
                drop(state);
                self.not_full.notify_one();
                self.writable.notify();
                Ok(item)
            }
            None if state.closed => Err(GetError::Closed),
            None => Err(GetError::Empty),
        }
    }

    /// Removes the oldest item if there is one now, never blocking.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`]: [`GetError::Empty`] or [`GetError::Closed`].
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get(Some(Duration::ZERO))
    }

    /// The number of items in the queue (a snapshot).
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Whether the queue holds no item (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.state.lock().items.is_empty()
    }

    /// Whether the queue is bounded and holds `maxsize` items (a snapshot).
    pub fn is_full(&self) -> bool {
        self.is_full_state(&self.state.lock())
    }

    /// The number of threads blocked in [`Queue::get`] now, waiting for an item (a snapshot; a
    /// put or close issued after seeing a getter counted here wakes it).
    pub fn getters_waiting(&self) -> usize {
        self.not_empty.count()
    }

    /// The number of threads blocked in [`Queue::put`] now, waiting for room (a snapshot).
    pub fn putters_waiting(&self) -> usize {
        self.not_full.count()
    }

    /// The number of readiness callbacks registered with [`Queue::subscribe`] (a snapshot;
    /// e.g. to see that a [`wait_any`](super::wait_any) is waiting on this queue).
    pub fn n_subscribed(&self) -> usize {
        self.readable.len()
    }

    /// The capacity given to [`Queue::new`] (`0`: unbounded).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Closes the queue and wakes every waiter and subscriber; returns `false` if it was
    /// already closed (then nothing happens).
    ///
    /// Afterwards puts fail with [`PutError::Closed`] and gets return the remaining items, then
    /// fail with [`GetError::Closed`].
    pub fn close(&self) -> bool {
        let mut state = self.state.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        drop(state);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.readable.notify();
        self.writable.notify();
        true
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Registers `callback` to be invoked after every successful put and after close (a get
    /// may now succeed or report `Closed`).
    ///
    /// Callbacks run on the putting/closing thread, outside the queue's lock, after the change
    /// is visible. They are edge-triggered and may be spurious (another consumer may have taken
    /// the item already): react with [`Queue::try_get`]. Changes made before subscribing are
    /// not reported, so check the queue once *after* subscribing.
    pub fn subscribe(&self, callback: Callback) -> SubscriptionId {
        self.readable.add(callback)
    }

    /// Registers `callback` to be invoked after every successful get and after close (a put
    /// may now succeed or report `Closed`); otherwise as [`Queue::subscribe`].
    pub fn subscribe_space(&self, callback: Callback) -> SubscriptionId {
        self.writable.add(callback)
    }

    /// Removes a subscription made by [`Queue::subscribe`] or [`Queue::subscribe_space`];
    /// returns whether it existed. Once this returns, the callback is not started again (a call
    /// already running on another thread may still finish).
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        self.readable.remove(id) || self.writable.remove(id)
    }

    /// Whether a get would not block now: an item is there or the queue is closed.
    pub(crate) fn is_ready(&self) -> bool {
        let state = self.state.lock();
        !state.items.is_empty() || state.closed
    }

    /// Whether `state` is at capacity.
    fn is_full_state(&self, state: &State<T>) -> bool {
        self.maxsize > 0 && state.items.len() >= self.maxsize
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Queue")
            .field("len", &state.items.len())
            .field("maxsize", &self.maxsize)
            .field("closed", &state.closed)
            .field("subscribers", &self.readable.len())
            .field("space_subscribers", &self.writable.len())
            .finish()
    }
}
