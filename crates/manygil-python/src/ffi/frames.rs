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
