//! Waking a worker thread blocked in a system call, so that an interrupt reaches a task
//! stuck in C (`time.sleep`, a blocking `recv`, `select`, a lock...).
//!
//! CPython's blocking calls retry a system call that fails with EINTR (PEP 475), calling
//! `PyErr_CheckSignals` first. From 3.15 that also raises the exception scheduled by
//! `PyThreadState_SetAsyncExc` in any thread (gh-144748), so a signal sent to the worker
//! thread after the interrupt makes the call return with it. Before 3.15 the call just
//! restarts: the signal is harmless, and the task stays stuck until the call returns.
//!
//! The signal is SIGURG (as the Go runtime does for preemption): ignored by default, so a
//! stray one does nothing, and almost never used otherwise. manygil installs a handler that
//! does nothing (without `SA_RESTART`, so the system call fails with EINTR) only if SIGURG
//! still has its default disposition, and sends it only while that handler is installed:
//! a handler of the user's (or `signal.signal(SIGURG, ...)`) is never replaced or triggered.

use std::sync::Once;

/// The signal used to wake a thread.
const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

/// The handler: returning is all it does (the point is the EINTR it causes).
extern "C" fn wake_handler(_sig: libc::c_int) {}

/// Install [`wake_handler`] for [`WAKE_SIGNAL`] if nothing else handles it (once).
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed, then filled, struct; the handler is async-signal
        // safe (it does nothing); querying first leaves another handler in place.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(WAKE_SIGNAL, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                return;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = wake_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
            new.sa_flags = libc::SA_ONSTACK; // no SA_RESTART: the blocked call gets EINTR
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(WAKE_SIGNAL, &new, std::ptr::null_mut());
        }
    });
}

/// Whether [`wake_handler`] is the current handler of [`WAKE_SIGNAL`].
fn installed() -> bool {
    // SAFETY: a query only (no new action).
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(WAKE_SIGNAL, std::ptr::null(), &mut cur) == 0
            && cur.sa_sigaction == wake_handler as extern "C" fn(libc::c_int) as libc::sighandler_t
    }
}

/// The calling thread, as [`wake`] needs it.
pub(crate) fn this_thread() -> libc::pthread_t {
    // SAFETY: always callable.
    unsafe { libc::pthread_self() }
}

/// Make a system call that `thread` is blocked in fail with EINTR (see the module docs).
///
/// # Safety
///
/// `thread` has not ended (a pthread_t of an ended thread may be reused).
pub(crate) unsafe fn wake(thread: libc::pthread_t) {
    install();
    if installed() {
        // SAFETY: `thread` is alive (caller's duty); the signal's handler does nothing.
        unsafe { libc::pthread_kill(thread, WAKE_SIGNAL) };
    }
}
