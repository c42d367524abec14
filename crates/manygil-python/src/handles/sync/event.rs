//! `manygil.Event`: a handle on the core's event, with `threading.Event`'s API.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::sync::Event;

use crate::ffi::args::{self, Call};
use crate::ffi::err::PyResult;
use crate::ffi::{boolean, new_int, none, Attached, Owned};
use crate::handles::blocking::block_on;
use crate::handles::handle_type;

handle_type! {
    name: c"manygil.Event",
    state: Handle::Event(Arc<Event>),
    new: default,
    doc: c"Event()
--

A flag shared by every interpreter and thread, with threading.Event's API: set(),
clear(), is_set() and wait(timeout=None), which blocks (GIL released; Ctrl-C in the main
thread interrupts) until the flag is set.",
    methods: [
        noargs c"is_set" => c_is_set(is_set), c"is_set($self, /)\n--\n\nWhether the flag is set.";
        noargs c"set" => c_set(set), c"set($self, /)\n--\n\nSet the flag and wake every waiter, in every interpreter.";
        noargs c"clear" => c_clear(clear), c"clear($self, /)\n--\n\nClear the flag.";
        call c"wait" => c_wait(wait), c"wait($self, timeout=None)\n--\n\nBlock (GIL released) until the flag is set, for at most timeout seconds (None:\nforever); return True if it is (or was set during the wait), False on timeout.";
    ],
    getters: [
        get c"_n_waiting" => g_n_waiting(n_waiting), c"Threads blocked in wait() now, in every interpreter (a snapshot; lets tests wait\nfor a thread to block instead of sleeping).";
    ],
}

fn is_set<'py>(py: Attached<'py>, event: &Event) -> PyResult<Owned<'py>> {
    Ok(boolean(py, event.is_set()))
}

fn set<'py>(py: Attached<'py>, event: &Event) -> PyResult<Owned<'py>> {
    event.set();
    Ok(none(py))
}

fn clear<'py>(py: Attached<'py>, event: &Event) -> PyResult<Owned<'py>> {
    event.clear();
    Ok(none(py))
}

fn wait<'py>(py: Attached<'py>, event: &Event, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
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

fn n_waiting<'py>(py: Attached<'py>, event: &Event) -> PyResult<Owned<'py>> {
    new_int(py, event.n_waiting() as i64)
}
