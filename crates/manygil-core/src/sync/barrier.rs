//! [`Barrier`]: a reusable rendezvous for a fixed number of parties (`threading.Barrier`).

use super::deadline::{deadline, Sleepers};
use super::BarrierError;
use crate::shim::Mutex;
use std::num::NonZeroUsize;
use std::time::Duration;

/// The barrier's phase, as in CPython's `threading.Barrier._state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Parties are arriving and waiting (CPython state 0).
    Filling,
    /// The last party arrived; the cycle's parties are leaving with success (state 1).
    Draining,
    /// `reset` was called while parties waited; they leave with an error (state -1).
    Resetting,
    /// Broken until `reset` (state -2).
    Broken,
}

/// The barrier's mutable state.
#[derive(Debug)]
struct State {
    /// The current phase. Leaves `Draining`/`Resetting` for `Filling` only when `inside` is 0.
    phase: Phase,
    /// Parties that arrived and have not left yet (live [`BarrierWait`]s).
    inside: usize,
}

/// A barrier with the semantics of `threading.Barrier` (without the `action` callable).
///
/// Each of `parties` callers of [`Barrier::wait`] blocks until all have arrived, then all return
/// their arrival index (`0..parties`). A wait that times out breaks the barrier; every party
/// waiting then, and every later caller until [`Barrier::reset`], gets
/// [`BarrierError::Broken`]. Resetting while parties wait breaks their waits but leaves the
/// barrier usable.
///
/// Since a timeout breaks the barrier, a Ctrl-C-interruptible wait cannot be made of short
/// [`Barrier::wait`] calls: use [`Barrier::arrive`] and wait on the [`BarrierWait`] in slices.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::Barrier;
/// use std::{num::NonZeroUsize, sync::Arc, thread};
///
/// let barrier = Arc::new(Barrier::new(NonZeroUsize::new(2).unwrap(), None));
/// let b2 = Arc::clone(&barrier);
/// let other = thread::spawn(move || b2.wait(None).unwrap());
/// let mine = barrier.wait(None).unwrap();
/// let mut indices = [mine, other.join().unwrap()];
/// indices.sort();
/// assert_eq!(indices, [0, 1]);
/// ```
#[derive(Debug)]
pub struct Barrier {
    /// Number of parties per cycle. Immutable.
    parties: usize,
    /// Timeout used when `wait` is given `None`. Immutable.
    default_timeout: Option<Duration>,
    /// Phase and arrivals; protected by this mutex, held only briefly.
    state: Mutex<State>,
    /// Every phase change wakes all waiters (arriving parties and parties waiting to enter).
    changed: Sleepers,
}

/// One party's stay inside a [`Barrier`], from [`Barrier::arrive`] until it is dropped.
///
/// Dropping it (after success, failure or a signal) makes the party leave; leaving before the
/// barrier released does *not* break it (as a `KeyboardInterrupt` in CPython's `wait` does not),
/// the barrier then simply waits for another party.
///
/// # Examples
///
/// ```
/// use manygil_core::sync::Barrier;
/// use std::{num::NonZeroUsize, time::Duration};
///
/// let barrier = Barrier::new(NonZeroUsize::new(2).unwrap(), None);
/// let mut stay = barrier.arrive().unwrap();
/// assert_eq!(stay.wait(Some(Duration::from_millis(5))), Ok(None)); // slice elapsed, no harm
/// assert_eq!(barrier.n_waiting(), 1);
/// drop(stay); // e.g. on Ctrl-C: leave without breaking
/// assert_eq!(barrier.n_waiting(), 0);
/// assert!(!barrier.broken());
/// ```
#[derive(Debug)]
pub struct BarrierWait<'a> {
    /// The barrier this party is inside; its `inside` counts this value.
    barrier: &'a Barrier,
    /// This party's arrival index.
    index: usize,
}

impl Barrier {
    /// Creates a barrier for `parties` parties; `timeout` is the default for [`Barrier::wait`].
    pub fn new(parties: NonZeroUsize, timeout: Option<Duration>) -> Self {
        Self {
            parties: parties.get(),
            default_timeout: timeout,
            state: Mutex::new(State {
                phase: Phase::Filling,
                inside: 0,
            }),
            changed: Sleepers::new(),
        }
    }

    /// Waits until all parties have arrived; returns this party's arrival index.
    ///
    /// Blocks until the barrier has drained from its previous cycle (briefly), then until the
    /// last party arrives, for at most `timeout` (`None`: the barrier's default timeout, which
    /// may itself be `None`, meaning forever).
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken, is reset while waiting,
    /// or this wait times out (which breaks it).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize, BarrierError> {
        let end = deadline(timeout.or(self.default_timeout));
        let mut stay = self.arrive()?;
        match stay.wait_deadline(end)? {
            Some(index) => Ok(index),
            None => stay.time_out(),
        }
    }

    /// Arrives at the barrier without waiting for the others; the last party's arrival
    /// releases everyone. Blocks only while the previous cycle drains.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is broken.
    pub fn arrive(&self) -> Result<BarrierWait<'_>, BarrierError> {
        let mut state = self.state.lock();
        self.changed.wait_while(&mut state, None, |s| {
            matches!(s.phase, Phase::Draining | Phase::Resetting)
        });
        if state.phase == Phase::Broken {
            return Err(BarrierError::Broken);
        }
        let index = state.inside;
        state.inside += 1;
        if index + 1 == self.parties {
            state.phase = Phase::Draining;
            self.changed.notify_all();
        }
        Ok(BarrierWait {
            barrier: self,
            index,
        })
    }

    /// Returns the barrier to its initial state; parties waiting now get
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        let mut state = self.state.lock();
        if state.inside > 0 {
            if matches!(state.phase, Phase::Filling | Phase::Broken) {
                state.phase = Phase::Resetting;
            }
        } else {
            state.phase = Phase::Filling;
        }
        self.changed.notify_all();
    }

    /// Breaks the barrier: current and future waits fail until [`Barrier::reset`].
    pub fn abort(&self) {
        self.state.lock().phase = Phase::Broken;
        self.changed.notify_all();
    }

    /// The number of parties per cycle.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of parties currently waiting for the others.
    pub fn n_waiting(&self) -> usize {
        let state = self.state.lock();
        if state.phase == Phase::Filling {
            state.inside
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }
}

impl BarrierWait<'_> {
    /// Waits for the barrier to release, for at most `timeout` (`None`: forever).
    ///
    /// Returns `Ok(Some(index))` once released, or `Ok(None)` if `timeout` elapsed first, with
    /// no effect at all (call again, give up with [`BarrierWait::time_out`], or drop to leave). Once
    /// released or broken, every later call returns the same result at once.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier was broken or reset while this party waited.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<usize>, BarrierError> {
        self.wait_deadline(deadline(timeout))
    }

    /// This party's arrival index (`parties - 1` for the party that released the barrier).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Gives up because this party's overall timeout expired, and leaves: breaks the barrier
    /// as a timed-out `threading.Barrier.wait` does, unless it released in the meantime.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] unless the barrier had released (then `Ok(index)`).
    pub fn time_out(self) -> Result<usize, BarrierError> {
        let barrier = self.barrier;
        let mut state = barrier.state.lock();
        match state.phase {
            Phase::Draining => Ok(self.index),
            Phase::Filling => {
                state.phase = Phase::Broken;
                barrier.changed.notify_all();
                Err(BarrierError::Broken)
            }
            Phase::Resetting | Phase::Broken => Err(BarrierError::Broken),
        }
    }

    /// [`BarrierWait::wait`] with a deadline.
    fn wait_deadline(
        &mut self,
        end: Option<std::time::Instant>,
    ) -> Result<Option<usize>, BarrierError> {
        let barrier = self.barrier;
        let mut state = barrier.state.lock();
        if !barrier
            .changed
            .wait_while(&mut state, end, |s| s.phase == Phase::Filling)
        {
            return Ok(None);
        }
        match state.phase {
            Phase::Draining => Ok(Some(self.index)),
            _ => Err(BarrierError::Broken),
        }
    }
}

impl Drop for BarrierWait<'_> {
    /// Leaves the barrier; the last party out of a finished cycle re-opens it.
    fn drop(&mut self) {
        let barrier = self.barrier;
        let mut state = barrier.state.lock();
        state.inside -= 1;
        if state.inside == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state.phase = Phase::Filling;
            barrier.changed.notify_all();
        }
    }
}
