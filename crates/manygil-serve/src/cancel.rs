//! Cancelling one request: the deadline passed, the server is shutting down, or the
//! client went away.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Why a request was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CancelReason {
    /// It ran past [`crate::Config::request_timeout`] (counted from when a worker took
    /// it); the client got 504.
    Timeout = 1,
    /// The server's grace period ended with the request still running; the client got 503
    /// (or a cut-off body).
    Shutdown = 2,
    /// The connection closed before the answer was complete.
    ClientGone = 3,
}

impl CancelReason {
    fn from_u8(v: u8) -> Option<CancelReason> {
        match v {
            1 => Some(CancelReason::Timeout),
            2 => Some(CancelReason::Shutdown),
            3 => Some(CancelReason::ClientGone),
            _ => None,
        }
    }
}

/// A hook that stops whoever works on a request (e.g. interrupts a Python thread).
pub type CancelHook = Box<dyn FnOnce(CancelReason) + Send>;

/// Told of every cancellation of a request, for any reason (an event-loop worker that
/// must learn of a client that left as well as of a timeout). Runs on the thread that
/// cancels (an I/O thread, or the front's blocking pool): it must not block.
pub type CancelWatcher = Arc<dyn Fn(CancelReason) + Send + Sync>;

/// The cancellation state of one request, shared by the front and the worker.
pub struct Cancel {
    /// 0 until cancelled, then the [`CancelReason`]; set once, never reset.
    state: AtomicU8,
    /// Wakes async waiters (body reads and writes blocked on the connection) once `state`
    /// is set; they register before re-checking `state`, so no wake-up is lost.
    notify: Notify,
    /// Run at most once, by the first Timeout or Shutdown cancellation after it was set.
    /// Taken under this lock, run after releasing it.
    hook: Mutex<Option<CancelHook>>,
    /// Called on each [`Self::fire`] while set (see [`CancelWatcher`]); cloned under this
    /// lock, called after releasing it.
    watcher: Mutex<Option<CancelWatcher>>,
    /// 0 while the request waits in the queue; then 1 + nanoseconds from [`epoch`] to when
    /// a worker took it (set once). Stored before the taker checks `state`, and `state` is
    /// set before the front reads this (both SeqCst): a request cancelled while queued is
    /// either skipped by the taker or seen as taken by the front.
    taken: AtomicU64,
}

/// The origin of [`Cancel`]'s `taken` times.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("reason", &self.reason())
            .finish()
    }
}

impl Cancel {
    pub(crate) fn new() -> Cancel {
        Cancel {
            state: AtomicU8::new(0),
            notify: Notify::new(),
            hook: Mutex::new(None),
            watcher: Mutex::new(None),
            taken: AtomicU64::new(0),
        }
    }

    /// Why the request was cancelled, or `None` while it is not.
    pub fn reason(&self) -> Option<CancelReason> {
        CancelReason::from_u8(self.state.load(Ordering::SeqCst))
    }

    /// Record that a worker took the request off the queue (now): its
    /// [`crate::Config::request_timeout`] counts from here. Later calls keep the first time.
    pub(crate) fn mark_taken(&self) {
        let since = Instant::now().saturating_duration_since(epoch());
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .taken
            .compare_exchange(0, nanos, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// When a worker took the request, or `None` while it waits in the queue.
    pub fn taken_at(&self) -> Option<Instant> {
        match self.taken.load(Ordering::SeqCst) {
            0 => None,
            n => Some(epoch() + std::time::Duration::from_nanos(n - 1)),
        }
    }

    /// Set the hook that stops the worker if the request times out or the server's grace
    /// period ends (not on [`CancelReason::ClientGone`]: the worker's next write fails
    /// instead). Replaces an earlier hook. If the request is already cancelled for one of
    /// those reasons, the hook is not kept and the reason is returned: the caller stops on
    /// its own.
    ///
    /// The hook runs on a thread of the front's blocking pool, and may block there.
    pub fn set_hook(&self, hook: CancelHook) -> Result<(), CancelReason> {
        let mut slot = self.hook.lock();
        // Checked under the lock: `fire` sets `state` before taking the hook under it.
        match self.reason() {
            Some(r @ (CancelReason::Timeout | CancelReason::Shutdown)) => Err(r),
            _ => {
                *slot = Some(hook);
                Ok(())
            }
        }
    }

    /// Set the watcher, told of every later cancellation (see [`CancelWatcher`]). Returns
    /// the reason if the request is already cancelled (the watcher is kept all the same:
    /// a later Timeout or Shutdown still reaches it).
    pub fn set_watcher(&self, watcher: CancelWatcher) -> Option<CancelReason> {
        *self.watcher.lock() = Some(watcher);
        // Read after storing: `fire` sets `state` before reading the watcher.
        self.reason()
    }

    /// Remove the hook and the watcher (the worker is done with the request); after this
    /// returns the hook is neither running nor going to run, and the watcher is not
    /// called again once a call in progress returns.
    pub fn clear_hook(&self) {
        self.hook.lock().take();
        self.watcher.lock().take();
    }

    /// Cancel for `reason` ([`Self::reason`] keeps the first one). Returns the hook to run,
    /// if any: a Timeout or Shutdown takes it even after a ClientGone (the worker may still
    /// be computing for a client that left).
    #[must_use]
    pub(crate) fn fire(&self, reason: CancelReason) -> Option<CancelHook> {
        if self
            .state
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.notify.notify_waiters();
        }
        let watcher = self.watcher.lock().clone();
        if let Some(w) = watcher {
            w(reason);
        }
        match reason {
            CancelReason::ClientGone => None,
            _ => self.hook.lock().take(),
        }
    }

    /// Cancel for `reason` and run the hook on the runtime's blocking pool.
    pub(crate) fn fire_on(&self, reason: CancelReason, handle: &tokio::runtime::Handle) {
        if let Some(hook) = self.fire(reason) {
            handle.spawn_blocking(move || hook(reason));
        }
    }

    /// Wait until cancelled; returns the reason.
    pub(crate) async fn cancelled(&self) -> CancelReason {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.reason() {
                return r;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn first_reason_wins_and_hook_runs_once() {
        let c = Cancel::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let r2 = runs.clone();
        c.set_hook(Box::new(move |r| {
            assert_eq!(r, CancelReason::Timeout);
            r2.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
        c.fire(CancelReason::Timeout).unwrap()(CancelReason::Timeout);
        assert!(c.fire(CancelReason::Shutdown).is_none());
        assert!(c.fire(CancelReason::ClientGone).is_none());
        assert_eq!(c.reason(), Some(CancelReason::Timeout));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            c.set_hook(Box::new(|_| {})).unwrap_err(),
            CancelReason::Timeout
        );
    }

    #[test]
    fn client_gone_keeps_the_hook_for_a_later_timeout() {
        let c = Cancel::new();
        c.set_hook(Box::new(|_| {})).unwrap();
        assert!(c.fire(CancelReason::ClientGone).is_none());
        assert_eq!(c.reason(), Some(CancelReason::ClientGone));
        assert!(c.fire(CancelReason::Timeout).is_some());
        assert_eq!(c.reason(), Some(CancelReason::ClientGone));
    }

    #[test]
    fn taken_time_is_set_once() {
        let c = Cancel::new();
        assert_eq!(c.taken_at(), None);
        let before = Instant::now();
        c.mark_taken();
        let at = c.taken_at().unwrap();
        assert!(at >= before - std::time::Duration::from_micros(1) && at <= Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(2));
        c.mark_taken();
        assert_eq!(c.taken_at(), Some(at));
    }

    #[test]
    fn the_watcher_sees_every_reason_until_cleared() {
        let c = Cancel::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        assert_eq!(c.set_watcher(Arc::new(move |r| s2.lock().push(r))), None);
        assert!(c.fire(CancelReason::ClientGone).is_none());
        assert!(c.fire(CancelReason::Timeout).is_none());
        assert_eq!(
            *seen.lock(),
            [CancelReason::ClientGone, CancelReason::Timeout]
        );
        c.clear_hook();
        assert!(c.fire(CancelReason::Shutdown).is_none());
        assert_eq!(seen.lock().len(), 2);
        assert_eq!(
            c.set_watcher(Arc::new(|_| {})),
            Some(CancelReason::ClientGone)
        );
    }

    #[test]
    fn a_cleared_hook_never_runs() {
        let c = Cancel::new();
        c.set_hook(Box::new(|_| panic!("must not run"))).unwrap();
        c.clear_hook();
        assert!(c.fire(CancelReason::Timeout).is_none());
    }
}
