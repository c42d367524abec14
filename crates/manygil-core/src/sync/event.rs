//! [`Event`]: a flag that threads can wait for (`threading.Event`).

use super::deadline::{deadline, Sleepers};
use crate::shim::Mutex;
use std::time::Duration;

/// The flag and how many times it was set.
#[derive(Debug, Default)]
struct Flag {
    /// Whether the event is set.
    set: bool,
    /// Incremented by every [`Event::set`]; lets a waiter see a set that was cleared again
    /// before it woke up.
    sets: u64,
}

/// An event flag with the semantics of `threading.Event`.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::Event;
/// use std::{sync::Arc, thread, time::Duration};
///
/// let event = Arc::new(Event::new());
/// assert!(!event.wait(Some(Duration::from_millis(5))));
/// let e2 = Arc::clone(&event);
/// let waiter = thread::spawn(move || e2.wait(None));
/// event.set();
/// assert!(waiter.join().unwrap());
/// event.clear();
/// assert!(!event.is_set());
/// ```
#[derive(Debug, Default)]
pub struct Event {
    /// The flag and its set counter; protected by this mutex, held only briefly.
    flag: Mutex<Flag>,
    /// Every waiter sleeps here; [`Event::set`] wakes them all.
    changed: Sleepers,
}

impl Event {
    /// Creates an event that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut flag = self.flag.lock();
        flag.set = true;
        flag.sets = flag.sets.wrapping_add(1);
        drop(flag);
        self.changed.notify_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.flag.lock().set = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.lock().set
    }

    /// The number of threads blocked in [`Event::wait`] now (a snapshot; a [`Event::set`]
    /// issued after seeing a waiter counted here wakes it).
    pub fn n_waiting(&self) -> usize {
        self.changed.count()
    }

    /// Blocks until the flag is set, for at most `timeout` (`None`: forever).
    ///
    /// Returns `true` if the flag was set at the start or was set during the wait (even if
    /// cleared again before this thread woke), `false` on timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let end = deadline(timeout);
        let mut flag = self.flag.lock();
        let start = flag.sets;
        self.changed
            .wait_while(&mut flag, end, |f| !f.set && f.sets == start)
    }
}
