//! [`Inbox`]: a worker's job queue.

use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

/// The job could not be delivered: the worker has stopped and dropped its receiving end.
/// The job is handed back so nothing is lost silently.
#[derive(Debug, thiserror::Error)]
#[error("the worker has stopped")]
pub struct InboxClosed<J>(pub J);

/// An unbounded multi-producer FIFO of jobs for one worker thread.
///
/// Cloning an `Inbox` gives another sending end to the same worker. When the worker stops
/// it calls [`Inbox::drain`] to fail whatever is still queued; a job sent after that is
/// returned to its sender by [`Inbox::send`] once the worker drops its inbox.
///
/// # Examples
///
/// ```
/// use manygil_core::worker::Inbox;
///
/// let inbox = Inbox::new();
/// inbox.send(7).unwrap();
/// assert_eq!(inbox.recv(None), Some(7));
/// ```
#[derive(Debug)]
pub struct Inbox<J> {
    /// Sending end; any thread.
    tx: Sender<J>,
    /// Receiving end; only the worker thread calls `recv`/`drain`.
    rx: Receiver<J>,
}

impl<J> Clone for Inbox<J> {
    fn clone(&self) -> Self {
        Inbox {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }
    }
}

impl<J> Default for Inbox<J> {
    fn default() -> Self {
        Self::new()
    }
}

impl<J> Inbox<J> {
    /// An empty inbox.
    pub fn new() -> Self {
        let (tx, rx) = unbounded();
        Inbox { tx, rx }
    }

    /// Queue a job. Never blocks.
    ///
    /// # Errors
    ///
    /// [`InboxClosed`] with the job if no receiver is left.
    pub fn send(&self, job: J) -> Result<(), InboxClosed<J>> {
        self.tx.send(job).map_err(|e| InboxClosed(e.into_inner()))
    }

    /// Take the next job. Blocks until one arrives or `timeout` passes (`None`: forever);
    /// returns `None` on timeout.
    pub fn recv(&self, timeout: Option<Duration>) -> Option<J> {
        match timeout {
            None => self.rx.recv().ok(),
            Some(t) => self.rx.recv_timeout(t).ok(),
        }
    }

    /// Take every job queued right now, without blocking.
    pub fn drain(&self) -> Vec<J> {
        self.rx.try_iter().collect()
    }

    /// Jobs waiting right now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no job is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}
