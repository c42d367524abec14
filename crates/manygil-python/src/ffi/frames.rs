//! Reading the Python stacks of the attached interpreter's threads (for snapshots,
//! `interp::inspect`), with the public frame C-API.
//!
//! `sys._current_frames()` cannot be used for this: it walks the threads of *every*
//! interpreter and makes frame objects of other interpreters' frames in the calling one
//! (with their code objects' reference counts touched without their GIL). This walks the
//! attached interpreter's own thread states only.

use std::ffi::CStr;

use super::err;
use super::owned::{Attached, Borrowed, Owned};
use pyo3_ffi::*;

/// One frame of a stack.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// `co_filename` of its code.
    pub(crate) file: String,
    /// The line it runs now (0 if unknown).
    pub(crate) line: i64,
    /// `co_qualname` of its code.
    pub(crate) function: String,
}

/// The stack of one thread of the interpreter.
#[derive(Debug, Clone)]
pub(crate) struct ThreadStack {
    /// Address of the thread's thread state (a name, never dereferenced by the holder).
    pub(crate) tstate_addr: usize,
    /// The name of the `threading.Thread` it runs, when its outermost frame is
    /// `Thread._bootstrap`.
    pub(crate) thread_name: Option<String>,
    /// Its frames, outermost first (as `traceback.extract_stack` lists them); only the
    /// innermost ones when it is deeper than asked.
    pub(crate) frames: Vec<Frame>,
    /// Frames left out at the outer end.
    pub(crate) omitted: usize,
}

/// The stacks of the attached interpreter's threads that run Python code, at most
/// `max_threads` of them, with at most `max_frames` (innermost) frames each. The calling
/// thread state is left out. Exceptions met on the way are cleared (a part that cannot be
/// read is left empty).
pub(crate) fn interpreter_stacks(
    py: Attached<'_>,
    max_threads: usize,
    max_frames: usize,
) -> Vec<ThreadStack> {
    // First pass: the current frame of every thread state, as new references. Nothing here
    // runs Python code, so the GIL is held throughout and the thread list cannot change
    // under us: thread states of this interpreter are removed by their own thread with
    // the GIL held (Python threads at exit, manygil's temporary ones), and added at the
    // head of the list (which we have read already).
    let mut tops: Vec<(usize, Owned<'_>)> = Vec::new();
    // SAFETY: attached (py): the current thread state and its interpreter are valid.
    let own = unsafe { PyThreadState_Get() };
    // SAFETY: as above.
    let interp = unsafe { PyInterpreterState_Get() };
    // SAFETY: attached to `interp`, whose thread list we walk with its GIL held (see above).
    let mut ts = unsafe { PyInterpreterState_ThreadHead(interp) };
    while !ts.is_null() && tops.len() < max_threads {
        if ts != own {
            // SAFETY: `ts` is a live thread state of the attached interpreter (see above);
            // the call returns a new reference to its current frame object (made in this
            // interpreter, the frame's own), or NULL without an exception if it runs none.
            let frame = unsafe { PyThreadState_GetFrame(ts) };
            if !frame.is_null() {
                // SAFETY: a new reference to a valid frame object.
                if let Ok(f) = unsafe { Owned::from_new(py, frame.cast()) } {
                    tops.push((ts as usize, f));
                }
            }
        }
        // SAFETY: `ts` is live (see above).
        ts = unsafe { PyThreadState_Next(ts) };
    }
    // The list is newest first: oldest first reads better (the interpreter's own thread,
    // then the threads it started, in order).
    tops.reverse();
    // Second pass: read the frames (may run Python code: a thread's name is a property).
    let stacks = tops
        .into_iter()
        .map(|(addr, top)| read_stack(py, addr, top, max_frames))
        .collect();
    err::clear(py);
    stacks
}

fn read_stack<'py>(
    py: Attached<'py>,
    tstate_addr: usize,
    top: Owned<'py>,
    max_frames: usize,
) -> ThreadStack {
    let mut frames = Vec::new();
    let mut omitted = 0;
    let mut outermost = top.clone();
    let mut frame = Some(top);
    while let Some(f) = frame {
        if frames.len() < max_frames {
            frames.push(read_frame(py, f.borrow()));
        } else {
            omitted += 1;
        }
        // SAFETY: `f` is a frame object; a new reference to its caller's frame or NULL
        // (without an exception) at the outermost one.
        let back = unsafe { PyFrame_GetBack(f.as_ptr().cast()) };
        // SAFETY: a new reference or NULL.
        frame = unsafe { Owned::from_new(py, back.cast()) }.ok();
        if let Some(b) = &frame {
            outermost = b.clone();
        }
    }
    frames.reverse();
    let thread_name = bootstrapped_thread_name(py, outermost.borrow());
    err::clear(py);
    ThreadStack {
        tstate_addr,
        thread_name,
        frames,
        omitted,
    }
}

fn read_frame(py: Attached<'_>, f: Borrowed<'_, '_>) -> Frame {
    // SAFETY: `f` is a frame object; a new reference to its code object (never NULL).
    let code = unsafe { Owned::from_new(py, PyFrame_GetCode(f.as_ptr().cast()).cast()) };
    // SAFETY: `f` is a frame object; its current line (-1 if unknown; no exception).
    let line = unsafe { PyFrame_GetLineNumber(f.as_ptr().cast()) };
    let (file, function) = match code {
        Ok(code) => (
            str_attr(code.borrow(), c"co_filename"),
            str_attr(code.borrow(), c"co_qualname"),
        ),
        Err(_) => (String::new(), String::new()),
    };
    err::clear(py);
    Frame {
        file,
        line: i64::from(line.max(0)),
        function,
    }
}

/// `obj.<name>` when it is a `str`, else `""` (errors cleared).
fn str_attr(obj: Borrowed<'_, '_>, name: &CStr) -> String {
    let text = obj
        .get_attr(name)
        .ok()
        .and_then(|v| v.borrow().str_utf8().ok().map(str::to_owned));
    if text.is_none() {
        err::clear(obj.py());
    }
    text.unwrap_or_default()
}

/// The name of the `threading.Thread` whose `_bootstrap` is `frame` (a thread's outermost
/// frame), if it is one.
fn bootstrapped_thread_name(py: Attached<'_>, frame: Borrowed<'_, '_>) -> Option<String> {
    let f = read_frame(py, frame);
    if f.function != "Thread._bootstrap" || !f.file.ends_with("threading.py") {
        return None;
    }
    // SAFETY: `frame` is a frame object; `self` is a NUL-terminated name; a new reference
    // to the local's value, or NULL with NameError (cleared by the caller).
    let this = unsafe {
        Owned::from_new(
            py,
            PyFrame_GetVarString(frame.as_ptr().cast(), c"self".as_ptr().cast_mut()),
        )
    }
    .ok()?;
    let name = str_attr(this.borrow(), c"name");
    (!name.is_empty()).then_some(name)
}

/// CPython 3.13's `sys._current_frames()` and `sys._current_exceptions()` walk the thread
/// states of *every* interpreter, without their GILs, and make frame objects of other
/// interpreters' running frames with the calling interpreter's allocator (or hand back
/// their exception objects). When the other interpreter pops that frame it frees the frame
/// object with its own allocator: glibc aborts (`double free or corruption`, `free():
/// invalid size`) or the process segfaults. Dask's profiler calls `sys._current_frames()`
/// every few milliseconds, so a Dask worker running a pool died within seconds. 3.14 walks
/// the calling interpreter only. These are the 3.14 behaviour for 3.13: the attached
/// interpreter's threads only, keyed by `threading.get_ident()` like the originals.
#[cfg(not(Py_3_14))]
pub(crate) mod own_interpreter {
    use std::ffi::{c_int, c_uint, c_ulong, c_void};

    use super::super::err::PyResult;
    use super::super::owned::{Attached, Owned};
    use super::super::values::{new_dict, new_uint};
    use pyo3_ffi::*;

    /// The head of CPython 3.13's `struct _ts` (Include/cpython/pystate.h, a public header
    /// whose layout is fixed within a minor version), up to `thread_id`. Checked against the
    /// running interpreter by [`layout_ok`] before anything reads it.
    #[repr(C)]
    struct Ts313 {
        prev: *mut PyThreadState,
        next: *mut PyThreadState,
        interp: *mut PyInterpreterState,
        eval_breaker: usize,
        status: c_uint,
        whence: c_int,
        state: c_int,
        py_recursion_remaining: c_int,
        py_recursion_limit: c_int,
        c_recursion_remaining: c_int,
        recursion_headroom: c_int,
        tracing: c_int,
        what_event: c_int,
        current_frame: *mut c_void,
        c_profilefunc: *mut c_void,
        c_tracefunc: *mut c_void,
        c_profileobj: *mut PyObject,
        c_traceobj: *mut PyObject,
        current_exception: *mut PyObject,
        exc_info: *mut ErrStackItem,
        dict: *mut PyObject,
        gilstate_counter: c_int,
        async_exc: *mut PyObject,
        thread_id: c_ulong,
    }

    /// `_PyErr_StackItem` (Include/cpython/pystate.h).
    #[repr(C)]
    struct ErrStackItem {
        exc_value: *mut PyObject,
        previous_item: *mut ErrStackItem,
    }

    /// Whether [`Ts313`] matches the running CPython: the calling thread's state names its
    /// interpreter, its neighbours and its thread ident where the struct says.
    pub(crate) fn layout_ok(_py: Attached<'_>) -> bool {
        // SAFETY: attached: the current thread state is valid and stays so for the call;
        // `Ts313` is a prefix of `struct _ts` no larger than it (checked field by field
        // against values known independently before any other use).
        unsafe {
            let ts = PyThreadState_Get();
            let head = &*(ts.cast::<Ts313>());
            head.interp == PyInterpreterState_Get()
                && head.thread_id == PyThread_get_thread_ident()
                && (head.prev.is_null() || (*head.prev.cast::<Ts313>()).next == ts)
                && (head.next.is_null() || (*head.next.cast::<Ts313>()).prev == ts)
                && !head.exc_info.is_null()
        }
    }

    /// `{thread ident: innermost frame}` for the attached interpreter's threads that run
    /// Python code (3.14's `sys._current_frames()`). The caller checked [`layout_ok`].
    pub(crate) fn frames(py: Attached<'_>) -> PyResult<Owned<'_>> {
        walk(py, |ts| {
            // SAFETY: `ts` is a live thread state of the attached interpreter (see `walk`);
            // a new reference to its current frame object, made with this interpreter's
            // allocator (the frame's own), or NULL without an exception if it runs none.
            unsafe { PyThreadState_GetFrame(ts).cast() }
        })
    }

    /// `{thread ident: exception being handled, or None}` for the attached interpreter's
    /// threads (3.14's `sys._current_exceptions()`). The caller checked [`layout_ok`].
    pub(crate) fn exceptions(py: Attached<'_>) -> PyResult<Owned<'_>> {
        walk(py, |ts| {
            // SAFETY: `ts` is a live thread state of the attached interpreter, whose GIL we
            // hold, so its exception stack is stable; the walk is CPython's
            // `_PyErr_GetTopmostException`. A new reference, or NULL to leave `ts` out.
            unsafe {
                let mut item = (*ts.cast::<Ts313>()).exc_info;
                while !item.is_null()
                    && ((*item).exc_value.is_null() || (*item).exc_value == Py_None())
                    && !(*item).previous_item.is_null()
                {
                    item = (*item).previous_item;
                }
                if item.is_null() {
                    return std::ptr::null_mut();
                }
                let exc = match (*item).exc_value {
                    e if e.is_null() => Py_None(),
                    e => e,
                };
                Py_INCREF(exc);
                exc
            }
        })
    }

    /// A dict of `{thread ident: value(ts)}` over the attached interpreter's thread states,
    /// skipping those where `value` gives NULL (a new reference otherwise).
    fn walk<'py>(
        py: Attached<'py>,
        value: impl Fn(*mut PyThreadState) -> *mut PyObject,
    ) -> PyResult<Owned<'py>> {
        let out = new_dict(py)?;
        // Collect first (nothing here runs Python code, so the GIL is held throughout and
        // the thread list cannot change under us: see `interpreter_stacks`), then fill the
        // dict (which may run Python code: a key's hash is not, but stay uniform).
        let mut found: Vec<(u64, Owned<'py>)> = Vec::new();
        // SAFETY: attached (py): the current interpreter is valid.
        let interp = unsafe { PyInterpreterState_Get() };
        // SAFETY: attached to `interp`, whose thread list we walk with its GIL held.
        let mut ts = unsafe { PyInterpreterState_ThreadHead(interp) };
        while !ts.is_null() {
            let v = value(ts);
            if !v.is_null() {
                // SAFETY: `ts` is live; the caller checked the layout.
                let id = unsafe { (*ts.cast::<Ts313>()).thread_id } as u64;
                // SAFETY: `v` is a new reference.
                found.push((id, unsafe { Owned::from_new(py, v)? }));
            }
            // SAFETY: `ts` is live (see above).
            ts = unsafe { PyThreadState_Next(ts) };
        }
        for (id, v) in found {
            let key = new_uint(py, id)?;
            out.borrow().dict_set(key.borrow(), v.borrow())?;
        }
        Ok(out)
    }
}
