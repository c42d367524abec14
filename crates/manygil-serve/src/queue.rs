//! Requests on their way from the I/O threads to the workers.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::request::Request;

/// What [`RequestQueue::recv`] got.
#[derive(Debug)]
pub enum Recv {
    /// A request to answer.
    Request(Box<Request>),
    /// Nothing arrived within the timeout.
    Timeout,
    /// The server has shut down: no request will come again.
    Closed,
}

/// The workers' end of the dispatch queue: every worker thread pulls from the same queue,
/// so an idle worker takes the next request. Cloning gives another handle to it.
#[derive(Clone, Debug)]
pub struct RequestQueue {
    /// Requests in arrival order.
    pub(crate) requests: Receiver<Box<Request>>,
    /// Disconnected (its sender dropped) when the server has shut down.
    pub(crate) closed: Receiver<()>,
}

/// How long an idle worker keeps polling before it parks: a request arriving within this
/// window is taken without a cross-thread wake-up (tens of microseconds on busy or
/// virtualized machines). The poll yields the CPU between checks.
const IDLE_SPIN: Duration = Duration::from_micros(50);

impl RequestQueue {
    /// The next request, waiting at most `timeout` (`None`: until one comes or the server
    /// shuts down). Requests already cancelled (their client left, or the server is
    /// shutting down) are skipped. The request's deadline
    /// ([`crate::Config::request_timeout`]) starts now.
    pub fn recv(&self, timeout: Option<Duration>) -> Recv {
        let start = Instant::now();
        loop {
            match self.recv_any(start, timeout) {
                Recv::Request(r) => {
                    // Marked before the check: see `Cancel::taken`.
                    r.cancel.mark_taken();
                    if r.cancel.reason().is_none() {
                        return Recv::Request(r);
                    }
                }
                other => return other,
            }
        }
    }

    fn recv_any(&self, start: Instant, timeout: Option<Duration>) -> Recv {
        while start.elapsed() < IDLE_SPIN {
            match self.requests.try_recv() {
                Ok(r) => return Recv::Request(r),
                Err(TryRecvError::Disconnected) => return Recv::Closed,
                Err(TryRecvError::Empty) => {}
            }
            if self.is_closed() {
                return Recv::Closed;
            }
            std::thread::yield_now();
        }
        let Some(timeout) = timeout else {
            return crossbeam_channel::select! {
                recv(self.requests) -> r => r.map_or(Recv::Closed, Recv::Request),
                recv(self.closed) -> _ => Recv::Closed,
            };
        };
        let left = timeout.saturating_sub(start.elapsed());
        crossbeam_channel::select! {
            recv(self.requests) -> r => r.map_or(Recv::Closed, Recv::Request),
            recv(self.closed) -> _ => Recv::Closed,
            default(left) => Recv::Timeout,
        }
    }

    /// Whether the server has shut down (no request will come again).
    pub fn is_closed(&self) -> bool {
        matches!(
            self.closed.recv_timeout(Duration::ZERO),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    /// Requests waiting for a worker.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}
