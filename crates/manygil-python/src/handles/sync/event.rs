//! `manygil.Event`: a handle on the core's event, with `threading.Event`'s API.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::Event;

use crate::ffi::err::{self, PyResult};
use crate::ffi::*;

use crate::ffi::args::{self, Call};
use crate::ffi::entry::{getters, kw_new, methods};
use crate::handles::blocking::block_on;
use crate::handles::{make_type, new_object, this, Handle, TypeDef};

// --- Event -----------------------------------------------------------------------------

const EVENT_DOC: &std::ffi::CStr = c"Event()
--

A flag shared by every interpreter and thread, with threading.Event's API: set(),
clear(), is_set() and wait(timeout=None), which blocks (GIL released; Ctrl-C in the main
thread interrupts) until the flag is set.";

methods! {
    /// The methods of `manygil.Event` (static C data; CPython only reads it).
    static TYPE_METHODS = [
        call c"is_set" => c_event_is_set(event_is_set), c"is_set($self, /)\n--\n\nWhether the flag is set.";
        call c"set" => c_event_set(event_set), c"set($self, /)\n--\n\nSet the flag and wake every waiter, in every interpreter.";
        call c"clear" => c_event_clear(event_clear), c"clear($self, /)\n--\n\nClear the flag.";
        call c"wait" => c_event_wait(event_wait), c"wait($self, timeout=None)\n--\n\nBlock (GIL released) until the flag is set, for at most timeout seconds (None:\nforever); return True if it is (or was set during the wait), False on timeout.";
    ];
}

getters! {
    /// The properties of `manygil.Event` (static C data; CPython only reads it).
    static TYPE_GETSET = [
        get c"_n_waiting" => g_event_n_waiting(event_n_waiting), c"Threads blocked in wait() now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).";
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
            name: c"manygil.Event",
            doc: EVENT_DOC,
            new: c_event_new,
            methods: (&raw mut TYPE_METHODS).cast(),
            getset: Some((&raw mut TYPE_GETSET).cast()),
            extra: &[],
        },
    )
}

kw_new!(c_event_new => event_new);

fn event_new<'py>(
    py: Attached<'py>,
    subtype: *mut PyTypeObject,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "Event", [], 0)?;
    // SAFETY: `subtype` is our (final) Event type.
    unsafe { new_object(py, subtype, Handle::Event(Arc::new(Event::new()))) }
}

/// The state of `slf`, a `manygil.Event` (`TypeError` for any other object).
fn event_of<'a>(py: Attached<'_>, slf: Borrowed<'a, '_>) -> PyResult<&'a Arc<Event>> {
    match this(py, slf)? {
        Handle::Event(state) => Ok(state),
        _ => Err(err::type_error(py, "expected a manygil.Event")),
    }
}

fn event_is_set<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "is_set", [], 0)?;
    Ok(boolean(py, event_of(py, slf)?.is_set()))
}

fn event_set<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "set", [], 0)?;
    event_of(py, slf)?.set();
    Ok(none(py))
}

fn event_clear<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    call.bind(py, "clear", [], 0)?;
    event_of(py, slf)?.clear();
    Ok(none(py))
}

fn event_wait<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let event = event_of(py, slf)?;
    let [timeout] = call.bind(py, "wait", [c"timeout"], 0)?;
    let timeout = args::sync_timeout(py, timeout)?;
    if event.is_set() {
        return Ok(boolean(py, true));
    }
    if timeout == Some(Duration::ZERO) {
        return Ok(boolean(py, false));
    }
    // A set-then-clear that happens exactly between two slices (main thread only) is not
    // seen; one during a slice is (the core counts sets).
    let got = block_on(py, timeout, true, |w| event.wait(w).then_some(()))?;
    Ok(boolean(py, got.is_some()))
}

fn event_n_waiting<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    new_int(py, event_of(py, slf)?.n_waiting() as i64)
}
