//! `manygil.Barrier`: a handle on the core's barrier, with `threading.Barrier`'s API.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::Barrier;

use crate::ffi::args::{self, Call};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::{boolean, new_int, none, Attached, Owned};
use crate::handles::blocking::block_on;
use crate::handles::errors::{self, Exc};
use crate::handles::handle_type;

/// A barrier and its default timeout.
pub(crate) struct BarrierState {
    /// The core barrier (made without a default timeout: waits get theirs from here).
    pub(crate) barrier: Barrier,
    /// The default of `wait(timeout=None)`; `None`: forever.
    pub(crate) timeout: Option<Duration>,
}

handle_type! {
    name: c"manygil.Barrier",
    state: Handle::Barrier(Arc<BarrierState>),
    new: barrier_new,
    doc: c"Barrier(parties, action=None, timeout=None)
--

A reusable barrier for parties threads in any interpreters, with threading.Barrier's
API: wait() blocks (GIL released; Ctrl-C in the main thread interrupts, leaving the
barrier intact) until parties callers have arrived, then returns each its arrival index
(0 .. parties-1). A wait that times out breaks the barrier: that wait and every other,
current or later until reset(), raise threading.BrokenBarrierError. action is not
supported (ValueError): run it where wait() returned 0. parties < 1 raises ValueError.",
    methods: [
        call c"wait" => c_wait(wait), c"wait($self, timeout=None)\n--\n\nWait for all parties; return this party's arrival index.\n\nBlocks for at most timeout seconds (None: the barrier's timeout); on timeout the\nbarrier breaks and threading.BrokenBarrierError is raised, as it is if the barrier is\nbroken or reset while waiting.";
        noargs c"reset" => c_reset(reset), c"reset($self, /)\n--\n\nReturn the barrier to its initial state; current waiters get BrokenBarrierError.";
        noargs c"abort" => c_abort(abort), c"abort($self, /)\n--\n\nBreak the barrier: current and future waits raise BrokenBarrierError until reset().";
    ],
    getters: [
        get c"parties" => g_parties(parties), c"The number of parties required.";
        get c"n_waiting" => g_n_waiting(n_waiting), c"The number of parties waiting now.";
        get c"broken" => g_broken(broken), c"Whether the barrier is broken.";
    ],
}

fn barrier_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<BarrierState>> {
    let [parties, action, timeout] =
        call.bind(py, "Barrier", [c"parties", c"action", c"timeout"], 1)?;
    let parties = args::int(py, "parties", parties.ok_or(PyErrSet)?)?;
    let parties = usize::try_from(parties)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| err::value_error(py, &format!("parties must be >= 1, got {parties}")))?;
    if !args::is_none(action) {
        return Err(err::value_error(
            py,
            "manygil.Barrier does not support an action (it would have to run in one \
             interpreter while all wait): run it where wait() returned 0",
        ));
    }
    let timeout = args::sync_timeout(py, timeout)?;
    let barrier = Barrier::new(parties, None);
    Ok(Arc::new(BarrierState { barrier, timeout }))
}

fn broken_error(py: Attached<'_>) -> PyErrSet {
    errors::raise(py, Exc::BrokenBarrier, "")
}

fn wait<'py>(
    py: Attached<'py>,
    state: &BarrierState,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [timeout] = call.bind(py, "wait", [c"timeout"], 0)?;
    let timeout = if args::is_none(timeout) {
        state.timeout
    } else {
        args::sync_timeout(py, timeout)?
    };
    let barrier = &state.barrier;
    // Arriving blocks only while the previous cycle drains (briefly).
    let Ok(mut stay) = detached(py, || barrier.arrive()) else {
        return Err(broken_error(py));
    };
    let waited = block_on(py, timeout, true, |w| match stay.wait(w) {
        Ok(None) => None,
        other => Some(other),
    });
    let outcome = match waited {
        Ok(Some(Ok(Some(index)))) => Ok(index),
        Ok(Some(_)) => Err(()),
        Ok(None) => stay.time_out().map_err(drop),
        // Interrupted (Ctrl-C): `stay` is dropped on return, leaving without breaking.
        Err(e) => return Err(e),
    };
    match outcome {
        Ok(index) => new_int(py, index as i64),
        Err(()) => Err(broken_error(py)),
    }
}

fn reset<'py>(py: Attached<'py>, state: &BarrierState) -> PyResult<Owned<'py>> {
    state.barrier.reset();
    Ok(none(py))
}

fn abort<'py>(py: Attached<'py>, state: &BarrierState) -> PyResult<Owned<'py>> {
    state.barrier.abort();
    Ok(none(py))
}

fn parties<'py>(py: Attached<'py>, state: &BarrierState) -> PyResult<Owned<'py>> {
    new_int(py, state.barrier.parties() as i64)
}

fn n_waiting<'py>(py: Attached<'py>, state: &BarrierState) -> PyResult<Owned<'py>> {
    new_int(py, state.barrier.n_waiting() as i64)
}

fn broken<'py>(py: Attached<'py>, state: &BarrierState) -> PyResult<Owned<'py>> {
    Ok(boolean(py, state.barrier.broken()))
}
