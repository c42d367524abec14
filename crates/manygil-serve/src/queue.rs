//! Requests on their way from the I/O threads to the workers.

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use parking_lot::Mutex;

use crate::request::Request;

/// What [`RequestQueue::recv`] got.
#[derive(Debug)]
pub enum Recv {
    /// A request to answer.
    Request(Box<Request>),
    /// Nothing arrived within the timeout.
    Timeout,
    /// The server has shut down, or the `stop` channel given to
    /// [`RequestQueue::recv_unless`] was disconnected: no request will come again (to
    /// this caller).
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
    /// Into `requests`: where a request taken by a worker that was stopped meanwhile
    /// goes back (see [`RequestQueue::recv_unless`]).
    pub(crate) requeue: Sender<Box<Request>>,
    /// Idle consumers waiting elsewhere than on the queue (see [`RequestQueue::wake_me`]).
    pub(crate) idle: Arc<IdleWaiters>,
}

/// A wake-up of an idle consumer (it then takes from the queue itself); returns false if
/// that consumer takes nothing any more (stopped, retired): the next one is woken instead.
pub type Wake = Arc<dyn Fn() -> bool + Send + Sync>;

/// Consumers that wait on something of their own (an ASGI event loop on its descriptor)
/// and want one wake-up when a request is queued: the I/O thread that queues it wakes
/// one of them directly, with no thread in between.
#[derive(Default)]
pub(crate) struct IdleWaiters {
    /// `list.len()`, read without the lock by every send.
    count: AtomicUsize,
    /// (id, wake) in the order they came idle.
    list: Mutex<VecDeque<(u64, Wake)>>,
    /// Source of ids.
    next: AtomicU64,
}

impl std::fmt::Debug for IdleWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleWaiters")
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl IdleWaiters {
    /// After a request was queued: wake the consumer idle the longest, if any.
    pub(crate) fn wake_one(&self) {
        // Pairs with the fence in `RequestQueue::wake_me`: either that consumer's look at
        // the queue sees the request, or this sees its registration.
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        loop {
            let woken = {
                let mut list = self.list.lock();
                let w = list.pop_front();
                self.count.store(list.len(), Ordering::Relaxed);
                w
            };
            match woken {
                Some((_, wake)) if !wake() => {}
                _ => return,
            }
        }
    }
}

/// How long an idle worker keeps polling before it parks: a request arriving within this
/// window is taken without a cross-thread wake-up (tens of microseconds on busy or
/// virtualized machines). The poll yields the CPU between checks.
/// A timeout shorter than this spins for the timeout only (zero: a single look).
const IDLE_SPIN: Duration = Duration::from_micros(50);

impl RequestQueue {
    /// The next request, waiting at most `timeout` (`None`: until one comes or the server
    /// shuts down). Requests already cancelled (their client left, or the server is
    /// shutting down) are skipped. The request's deadline
    /// ([`crate::Config::request_timeout`]) starts now.
    pub fn recv(&self, timeout: Option<Duration>) -> Recv {
        self.recv_unless(timeout, &crossbeam_channel::never())
    }

    /// [`Self::recv`], unless `stop` is disconnected (its senders dropped) first or
    /// meanwhile: then [`Recv::Closed`], and no request is taken. A worker told to stop
    /// (a worker interpreter being replaced) thus takes no request sent after it was told:
    /// one it took in that instant goes back to the queue for another worker.
    pub fn recv_unless(&self, timeout: Option<Duration>, stop: &Receiver<()>) -> Recv {
        let start = Instant::now();
        loop {
            match self.recv_any(start, timeout, stop) {
                Recv::Request(r) => {
                    // Whoever stopped us did it before anything it then caused reached
                    // the queue (the send of a request happens before its receipt): a
                    // request taken with `stop` disconnected is put back, unmarked.
                    if is_disconnected(stop) {
                        let _ = self.requeue.send(r);
                        self.idle.wake_one();
                        return Recv::Closed;
                    }
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

    fn recv_any(&self, start: Instant, timeout: Option<Duration>, stop: &Receiver<()>) -> Recv {
        // A zero timeout is a poll (an ASGI loop looking for more work between its tasks):
        // one look, no spinning.
        let spin = timeout.map_or(IDLE_SPIN, |t| t.min(IDLE_SPIN));
        if spin.is_zero() {
            if is_disconnected(stop) {
                return Recv::Closed;
            }
            return match self.requests.try_recv() {
                Ok(r) => Recv::Request(r),
                Err(TryRecvError::Disconnected) => Recv::Closed,
                Err(TryRecvError::Empty) if self.is_closed() => Recv::Closed,
                Err(TryRecvError::Empty) => Recv::Timeout,
            };
        }
        while start.elapsed() < spin {
            if is_disconnected(stop) {
                return Recv::Closed;
            }
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
            return crossbeam_channel::select_biased! {
                recv(stop) -> _ => Recv::Closed,
                recv(self.requests) -> r => r.map_or(Recv::Closed, Recv::Request),
                recv(self.closed) -> _ => Recv::Closed,
            };
        };
        let left = timeout.saturating_sub(start.elapsed());
        crossbeam_channel::select_biased! {
            recv(stop) -> _ => Recv::Closed,
            recv(self.requests) -> r => r.map_or(Recv::Closed, Recv::Request),
            recv(self.closed) -> _ => Recv::Closed,
            default(left) => Recv::Timeout,
        }
    }

    /// Call `wake` once, from the thread queueing it, when a request is queued (a
    /// consumer idle elsewhere, e.g. an ASGI loop waiting on its own descriptor, which
    /// then takes from the queue itself; another consumer may take the request first).
    /// Returns an id for [`Self::forget_wake`], and whether a request is already waiting
    /// (then `wake` may never be called for it: look again).
    pub fn wake_me(&self, wake: Wake) -> (u64, bool) {
        let idle = &self.idle;
        let id = idle.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut list = idle.list.lock();
            list.push_back((id, wake));
            idle.count.store(list.len(), Ordering::Relaxed);
        }
        // Pairs with the fence in `IdleWaiters::wake_one`.
        fence(Ordering::SeqCst);
        (id, !self.requests.is_empty())
    }

    /// Wake an idle consumer registered by [`Self::wake_me`], if any: for a consumer that
    /// was woken but will take nothing (it was stopped meanwhile), so that the request it
    /// was woken for is not left waiting.
    pub fn wake_idle(&self) {
        self.idle.wake_one();
    }

    /// Drop the wake-up `id` registered by [`Self::wake_me`] if it was not called.
    pub fn forget_wake(&self, id: u64) {
        let idle = &self.idle;
        let mut list = idle.list.lock();
        list.retain(|(i, _)| *i != id);
        idle.count.store(list.len(), Ordering::Relaxed);
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

/// Whether `rx`'s senders are all gone (nothing is ever sent on a stop channel).
fn is_disconnected(rx: &Receiver<()>) -> bool {
    matches!(rx.try_recv(), Err(TryRecvError::Disconnected))
}
