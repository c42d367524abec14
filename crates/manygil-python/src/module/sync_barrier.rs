//! `manygil.Barrier` and `manygil.AtomicInt`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::{AtomicInt, Barrier};

use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::tstate::detached;
use crate::ffi::*;

use super::blocking::block_on;
use super::handles::{make_type, new_object, raise_from, Handle, TypeDef};
use super::params::{self, getter, handle_accessor, kw_entry, kw_method, kw_new, property, Call};

const NO_GETSET: PyGetSetDef = PyGetSetDef {
    name: std::ptr::null(),
    get: None,
    set: None,
    doc: std::ptr::null(),
    closure: std::ptr::null_mut(),
};

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

pub(crate) fn create_barrier_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 4] = [
        kw_method!(c"wait", c_barrier_wait, c"wait($self, timeout=None)\n--\n\nWait for all parties; return this party's arrival index.\n\nBlocks for at most timeout seconds (None: the barrier's timeout); on timeout the\nbarrier breaks and threading.BrokenBarrierError is raised, as it is if the barrier is\nbroken or reset while waiting."),
        kw_method!(c"reset", c_barrier_reset, c"reset($self, /)\n--\n\nReturn the barrier to its initial state; current waiters get BrokenBarrierError."),
        kw_method!(c"abort", c_barrier_abort, c"abort($self, /)\n--\n\nBreak the barrier: current and future waits raise BrokenBarrierError until reset()."),
        PyMethodDef::zeroed(),
    ];
    static mut GETSET: [PyGetSetDef; 4] = [
        property!(c"parties", g_parties, c"The number of parties required."),
        property!(
            c"n_waiting",
            g_n_waiting,
            c"The number of parties waiting now."
        ),
        property!(c"broken", g_broken, c"Whether the barrier is broken."),
        NO_GETSET,
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.Barrier",
            doc: BARRIER_DOC,
            new: c_barrier_new,
            methods: (&raw mut METHODS).cast(),
            getset: Some((&raw mut GETSET).cast()),
            extra: &[],
        },
    )
}

kw_entry!(c_barrier_wait => barrier_wait);
kw_entry!(c_barrier_reset => barrier_reset);
kw_entry!(c_barrier_abort => barrier_abort);
getter!(g_parties => parties);
getter!(g_n_waiting => n_waiting);
getter!(g_broken => broken);

kw_new!(c_barrier_new => barrier_new);

fn barrier_new(py: Attached<'_>, subtype: *mut PyTypeObject, call: &Call<'_>) -> PyResult<Owned> {
    let [parties, action, timeout] =
        call.bind(py, "Barrier", [c"parties", c"action", c"timeout"], 1)?;
    let parties = params::int(py, "parties", parties.ok_or(PyErrSet)?)?;
    let parties = usize::try_from(parties)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| err::value_error(py, &format!("parties must be >= 1, got {parties}")))?;
    if !params::is_none(action) {
        return Err(err::value_error(
            py,
            "manygil.Barrier does not support an action (it would have to run in one \
             interpreter while all wait): run it where wait() returned 0",
        ));
    }
    let timeout = params::sync_timeout(py, timeout)?;
    let state = BarrierState {
        barrier: Barrier::new(parties, None),
        timeout,
    };
    // SAFETY: `subtype` is our (final) Barrier type.
    unsafe { new_object(py, subtype, Handle::Barrier(Arc::new(state))) }
}

handle_accessor!(barrier_of, Barrier, Arc<BarrierState>, "manygil.Barrier");

fn broken_error(py: Attached<'_>) -> PyErrSet {
    raise_from(py, c"threading", c"BrokenBarrierError", "")
}

fn barrier_wait(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let state = barrier_of(py, slf)?;
    let [timeout] = call.bind(py, "wait", [c"timeout"], 0)?;
    let timeout = if params::is_none(timeout) {
        state.timeout
    } else {
        params::sync_timeout(py, timeout)?
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

fn barrier_reset(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "reset", [], 0)?;
    barrier_of(py, slf)?.barrier.reset();
    Ok(none(py))
}

fn barrier_abort(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "abort", [], 0)?;
    barrier_of(py, slf)?.barrier.abort();
    Ok(none(py))
}

fn parties(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Owned> {
    new_int(py, barrier_of(py, slf)?.barrier.parties() as i64)
}

fn n_waiting(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Owned> {
    new_int(py, barrier_of(py, slf)?.barrier.n_waiting() as i64)
}

fn broken(py: Attached<'_>, slf: *mut PyObject) -> PyResult<Owned> {
    Ok(boolean(py, barrier_of(py, slf)?.barrier.broken()))
}

// --- AtomicInt -------------------------------------------------------------------------

const ATOMIC_DOC: &std::ffi::CStr = c"AtomicInt(value=0)
--

A signed 64-bit integer shared by every interpreter and thread, changed atomically (no
lock, never blocks). Values outside the 64-bit range raise OverflowError, as does an
add() whose result would not fit (the value is then unchanged).";

pub(crate) fn create_atomic_int_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 6] = [
        kw_method!(c"get", c_atomic_get, c"get($self, /)\n--\n\nThe current value."),
        kw_method!(c"set", c_atomic_set, c"set($self, value, /)\n--\n\nStore value."),
        kw_method!(c"add", c_atomic_add, c"add($self, delta=1, /)\n--\n\nAdd delta (may be negative) and return the new value."),
        kw_method!(c"swap", c_atomic_swap, c"swap($self, value, /)\n--\n\nStore value and return the previous one."),
        kw_method!(c"compare_exchange", c_atomic_cas, c"compare_exchange($self, expected, new, /)\n--\n\nStore new if the value is expected. Return (True, expected) if it was stored, else\n(False, actual value)."),
        PyMethodDef::zeroed(),
    ];
    make_type(
        py,
        module,
        TypeDef {
            name: c"manygil.AtomicInt",
            doc: ATOMIC_DOC,
            new: c_atomic_new,
            methods: (&raw mut METHODS).cast(),
            getset: None,
            extra: &[],
        },
    )
}

kw_entry!(c_atomic_get => atomic_get);
kw_entry!(c_atomic_set => atomic_set);
kw_entry!(c_atomic_add => atomic_add);
kw_entry!(c_atomic_swap => atomic_swap);
kw_entry!(c_atomic_cas => atomic_cas);

kw_new!(c_atomic_new => atomic_new);

fn atomic_new(py: Attached<'_>, subtype: *mut PyTypeObject, call: &Call<'_>) -> PyResult<Owned> {
    let [value] = call.bind(py, "AtomicInt", [c"value"], 0)?;
    let value = match value {
        Some(v) => params::int(py, "value", v)?,
        None => 0,
    };
    // SAFETY: `subtype` is our (final) AtomicInt type.
    unsafe {
        new_object(
            py,
            subtype,
            Handle::AtomicInt(Arc::new(AtomicInt::new(value))),
        )
    }
}

handle_accessor!(atomic_of, AtomicInt, Arc<AtomicInt>, "manygil.AtomicInt");

fn atomic_get(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    call.bind(py, "get", [], 0)?;
    new_int(py, atomic_of(py, slf)?.get())
}

fn atomic_set(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let a = atomic_of(py, slf)?;
    let [value] = call.bind(py, "set", [c"value"], 1)?;
    a.set(params::int(py, "value", value.ok_or(PyErrSet)?)?);
    Ok(none(py))
}

fn atomic_add(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let a = atomic_of(py, slf)?;
    let [delta] = call.bind(py, "add", [c"delta"], 0)?;
    let delta = match delta {
        Some(d) => params::int(py, "delta", d)?,
        None => 1,
    };
    let mut current = a.get();
    loop {
        let Some(new) = current.checked_add(delta) else {
            // SAFETY: builtin exception class.
            return Err(unsafe {
                err::raise(
                    py,
                    PyExc_OverflowError,
                    &format!("AtomicInt.add: {current} + {delta} does not fit in 64 bits"),
                )
            });
        };
        match a.compare_exchange(current, new) {
            Ok(_) => return new_int(py, new),
            Err(actual) => current = actual,
        }
    }
}

fn atomic_swap(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let a = atomic_of(py, slf)?;
    let [value] = call.bind(py, "swap", [c"value"], 1)?;
    let value = params::int(py, "value", value.ok_or(PyErrSet)?)?;
    new_int(py, a.swap(value))
}

fn atomic_cas(py: Attached<'_>, slf: *mut PyObject, call: &Call<'_>) -> PyResult<Owned> {
    let a = atomic_of(py, slf)?;
    let [expected, new] = call.bind(py, "compare_exchange", [c"expected", c"new"], 2)?;
    let expected = params::int(py, "expected", expected.ok_or(PyErrSet)?)?;
    let new = params::int(py, "new", new.ok_or(PyErrSet)?)?;
    let (ok, v) = match a.compare_exchange(expected, new) {
        Ok(v) => (true, v),
        Err(v) => (false, v),
    };
    new_tuple(py, vec![boolean(py, ok), new_int(py, v)?])
}
