//! [`Inbox`]: a worker's job queue, which can be closed.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::queue::Queue;

/// The job could not be delivered: the inbox was closed (its worker stopped or is stopping).
/// The job is handed back so nothing is lost silently.
#[derive(Debug, thiserror::Error)]
#[error("the worker has stopped")]
pub struct InboxClosed<J>(pub J);

/// An unbounded multi-producer multi-consumer FIFO of jobs for one worker thread, or for a
/// pool of workers that share it. Built on the core [`Queue`].
///
/// Cloning an `Inbox` gives another handle to the same queue. [`Inbox::close`] ends it:
/// every later [`Inbox::send`] fails with the job handed back, while the jobs sent before
/// stay and can still be received (or [`Inbox::drain`]ed to fail them); once they are gone a
/// blocked [`Inbox::recv`] returns `None`. A send either happens before the close (and its
/// job is received or drained) or fails: no job can slip in unseen.
///
/// # Examples
///
/// ```
/// use manygil_core::worker::{Inbox, InboxClosed};
///
/// let inbox = Inbox::new();
/// inbox.send(7).unwrap();
/// inbox.send(8).unwrap();
/// assert!(inbox.close());
/// assert!(matches!(inbox.send(9), Err(InboxClosed(9))));
/// assert_eq!(inbox.recv(None), Some(7)); // jobs sent before the close stay
/// assert_eq!(inbox.drain(), vec![8]);
/// assert_eq!(inbox.recv(None), None); // closed and empty: does not block
/// ```
#[derive(Debug)]
pub struct Inbox<J> {
    /// The jobs, shared by every clone; unbounded, so a put fails only once closed.
    queue: Arc<Queue<J>>,
    /// Jobs sent minus jobs received, shared by every clone: raised after a successful
    /// send, lowered after a successful receive, so it may dip below zero for a moment.
    /// Only a hint for pollers ([`Inbox::maybe_has_jobs`]), never a count to rely on.
    hint: Arc<AtomicIsize>,
}

impl<J> Clone for Inbox<J> {
    fn clone(&self) -> Self {
        Inbox {
            queue: Arc::clone(&self.queue),
            hint: Arc::clone(&self.hint),
        }
    }
}

impl<J> Default for Inbox<J> {
    fn default() -> Self {
        Self::new()
    }
}

impl<J> Inbox<J> {
    /// An empty, open inbox.
    pub fn new() -> Self {
        Inbox {
            queue: Arc::new(Queue::new(0)),
            hint: Arc::new(AtomicIsize::new(0)),
        }
    }

    /// Queue a job. Never blocks.
    ///
    /// # Errors
    ///
    /// [`InboxClosed`] with the job once the inbox is closed.
    pub fn send(&self, job: J) -> Result<(), InboxClosed<J>> {
        // Unbounded: the only way a put fails is a closed queue.
        self.queue
            .put(job, None)
            .map_err(|e| InboxClosed(e.into_inner()))?;
        self.hint.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether a job may be queued, without taking the queue's lock: a poller checks this
    /// before [`Inbox::try_recv`] so that idle workers spinning on a shared inbox do not
    /// contend for the lock a sender needs. `false` can be stale for a moment (a job whose
    /// send has not finished yet), never for long.
    pub fn maybe_has_jobs(&self) -> bool {
        self.hint.load(Ordering::Acquire) > 0
    }

    /// Take the next job. Blocks until one arrives or `timeout` passes (`None`: forever);
    /// returns `None` on timeout, or at once when the inbox is closed and empty.
    pub fn recv(&self, timeout: Option<Duration>) -> Option<J> {
        let job = self.queue.get(timeout).ok()?;
        self.hint.fetch_sub(1, Ordering::Release);
        Some(job)
    }

    /// Take the next job if one is queued now, never blocking.
    pub fn try_recv(&self) -> Option<J> {
        let job = self.queue.try_get().ok()?;
        self.hint.fetch_sub(1, Ordering::Release);
        Some(job)
    }

    /// Refuse every later job and wake every blocked receiver; returns `false` if the inbox
    /// was already closed. Jobs already queued stay.
    pub fn close(&self) -> bool {
        self.queue.close()
    }

    /// Whether [`Inbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Take every job queued right now, without blocking (after [`Inbox::close`]: every job
    /// that will ever be there).
    pub fn drain(&self) -> Vec<J> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// Jobs waiting right now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no job is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Receivers blocked in [`Inbox::recv`] now (e.g. idle workers), a snapshot.
    pub fn receivers_waiting(&self) -> usize {
        self.queue.getters_waiting()
    }
}
