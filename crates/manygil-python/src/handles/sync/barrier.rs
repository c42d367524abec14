//! `manygil.Barrier` and `manygil.AtomicInt`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::Barrier;

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::*;

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{getters, kw_new, methods};
use crate::handles::blocking::block_on;
use crate::handles::{make_type, new_object, this, Handle, TypeDef};

// --- Barrier ---------------------------------------------------------------------------

/// A barrier and its default timeout.
pub(crate) struct BarrierState {
    /// The core barrier (made without a default timeout: waits get theirs from here).
    pub(crate) barrier: Barrier,
    /// The default of `wait(timeout=None)`; `None`: forever.
    timeout: Option<Duration>,
}

const BARRIER_DOC: &std::ffi::CStr = c"Barrier(parties, action=None, timeout=None)
--

A reusable barrier for parties threads in any interpreters, with threading.Barrier's
API: wait() blocks (GIL released; Ctrl-C in the main thread interrupts, leaving the
barrier intact) until parties callers have arrived, then returns each its arrival index
(0 .. parties-1). A wait that times out breaks the barrier: that wait and every other,
current or later until reset(), raise threading.BrokenBarrierError. action is not
supported (ValueError): run it where wait() returned 0. parties < 1 raises ValueError.";

methods! {
    /// The methods of `manygil.Barrier` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"wait" => c_barrier_wait(barrier_wait), c"wait($self, timeout=None)\n--\n\nWait for all parties; return this party's arrival index.\n\nBlocks for at most timeout seconds (None: the barrier's timeout); on timeout the\nbarrier breaks and threading.BrokenBarrierError is raised, as it is if the barrier is\nbroken or reset while waiting.";
        call c"reset" => c_barrier_reset(barrier_reset), c"reset($self, /)\n--\n\nReturn the barrier to its initial state; current waiters get BrokenBarrierError.";
        call c"abort" => c_barrier_abort(barrier_abort), c"abort($self, /)\n--\n\nBreak the barrier: current and future waits raise BrokenBarrierError until reset().";
    ];
}

getters! {
    /// The properties of `manygil.Barrier` (static C data; CPython only reads it).
    static TYPE_GETSET = [
        get c"parties" => g_parties(parties), c"The number of parties required.";
        get c"n_waiting" => g_n_waiting(n_waiting), c"The number of parties waiting now.";
        get c"broken" => g_broken(broken), c"Whether the barrier is broken.";
    ];
}

pub(crate) fn create_type<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
) -> PyResult<Owned<'py>> {
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Barrier",
            doc: BARRIER_DOC,
            new: c_barrier_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: Some((&raw mut TYPE_GETSET).cast()),
            extra: &[],
        },
    )
}

kw_new!(c_barrier_new => barrier_new);

fn barrier_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
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
    let state = BarrierState {
        barrier: Barrier::new(parties, None),
        timeout,
    };
    // SAFETY: `subtype` is our (final) Barrier type.
    unsafe { new_object(py, subtype, Handle::Barrier(Arc::new(state))) }
}

/// The state of `slf`, a `manygil.Barrier` (`TypeError` for any other object).
fn barrier_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<BarrierState>> {
    match this(py, slf)? {
        Handle::Barrier(state) => Ok(state),
        _ => Err(err::type_error(py, "expected a manygil.Barrier")),
    }
}

fn broken_error(py: Attached<'_>) -> PyErrSet {
    crate::handles::errors::raise(py, crate::handles::errors::Exc::BrokenBarrier, "")
}

fn barrier_wait<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let state = barrier_of(py, slf)?;
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

fn barrier_reset<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "reset", [], 0)?;
    barrier_of(py, slf)?.barrier.reset();
    Ok(none(py))
}

fn barrier_abort<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "abort", [], 0)?;
    barrier_of(py, slf)?.barrier.abort();
    Ok(none(py))
}

fn parties<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, barrier_of(py, slf)?.barrier.parties() as i64)
}

fn n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, barrier_of(py, slf)?.barrier.n_waiting() as i64)
}

fn broken<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    Ok(boolean(py, barrier_of(py, slf)?.barrier.broken()))
}
