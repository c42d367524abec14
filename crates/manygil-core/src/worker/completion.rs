//! A one-shot completion slot: one result, one waiter.

use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Select, Sender, TryRecvError};

/// Why [`Completion::wait`] returned without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The timeout passed; the result may still arrive, so waiting again is allowed.
    #[error("timed out")]
    Timeout,
    /// The [`Completer`] was dropped without completing (its job was discarded).
    #[error("the job was abandoned before it completed")]
    Abandoned,
}

/// The sending half: whoever runs the job calls [`Completer::complete`] once.
#[derive(Debug)]
pub struct Completer<T> {
    /// Capacity-1 channel; the single send never blocks.
    tx: Sender<T>,
}

/// The receiving half, held by whoever waits for the result.
#[derive(Debug)]
pub struct Completion<T> {
    /// Receives at most one value.
    rx: Receiver<T>,
}

/// A connected [`Completer`] / [`Completion`] pair.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use manygil_core::worker::{completion, WaitError};
///
/// let (done, result) = completion::<u32>();
/// assert_eq!(result.wait(Some(Duration::from_millis(1))), Err(WaitError::Timeout));
/// std::thread::spawn(move || done.complete(5));
/// assert_eq!(result.wait(None), Ok(5));
/// ```
pub fn completion<T>() -> (Completer<T>, Completion<T>) {
    let (tx, rx) = bounded(1);
    (Completer { tx }, Completion { rx })
}

impl<T> Completer<T> {
    /// Deliver the result and wake the waiter. If the waiter is gone the result is dropped
    /// here, on the completing thread.
    pub fn complete(self, value: T) {
        let _ = self.tx.send(value);
    }
}

impl<T> Completion<T> {
    /// Block until the result arrives or `timeout` passes (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`WaitError::Timeout`] when the timeout passes first (nothing is consumed);
    /// [`WaitError::Abandoned`] when the completer was dropped.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<T, WaitError> {
        match timeout {
            None => self.rx.recv().map_err(|_| WaitError::Abandoned),
            Some(t) => self.rx.recv_timeout(t).map_err(|e| match e {
                RecvTimeoutError::Timeout => WaitError::Timeout,
                RecvTimeoutError::Disconnected => WaitError::Abandoned,
            }),
        }
    }

    /// The result if it is already there.
    pub fn try_take(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The result if it is there (`Ok(Some)`), nothing yet (`Ok(None)`), or
    /// [`WaitError::Abandoned`] if it will never come (or was already taken).
    pub fn poll(&self) -> Result<Option<T>, WaitError> {
        match self.rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(WaitError::Abandoned),
        }
    }

    /// Block until [`poll`](Self::poll) would not return `Ok(None)` (the result arrived or
    /// the completer is gone), without consuming anything, or until `timeout` passes
    /// (`None`: forever). Returns whether it is ready. Lets several waiters wait on one
    /// completion while one of them, under their own lock, takes the result.
    pub fn wait_ready(&self, timeout: Option<Duration>) -> bool {
        let mut sel = Select::new();
        sel.recv(&self.rx);
        match timeout {
            None => {
                sel.ready();
                true
            }
            Some(t) => sel.ready_timeout(t).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_ready_does_not_consume_and_poll_sees_abandoned_after_take() {
        let (done, result) = completion::<u32>();
        assert!(!result.wait_ready(Some(Duration::from_millis(1))));
        done.complete(7);
        assert!(result.wait_ready(None));
        assert!(result.wait_ready(Some(Duration::ZERO)));
        assert_eq!(result.poll(), Ok(Some(7)));
        // Taken: the completer is gone, so every later poll says so at once.
        assert!(result.wait_ready(None));
        assert_eq!(result.poll(), Err(WaitError::Abandoned));
    }

    #[test]
    fn dropped_completer_is_ready_and_abandoned() {
        let (done, result) = completion::<u32>();
        drop(done);
        assert!(result.wait_ready(None));
        assert_eq!(result.poll(), Err(WaitError::Abandoned));
    }
}
