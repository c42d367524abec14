//! Snapshots of what manygil interpreters are doing: each one's running job (what, since
//! when) and the Python stacks of its threads, read *inside* the interpreter.
//!
//! A stack is read by a probe thread of its own that attaches a temporary thread state of
//! the interpreter (taking its GIL) and walks its thread states (`ffi::frames`). A worker
//! stuck in C code that holds its GIL never lets the probe in: the caller stops waiting at
//! its deadline and reports the job it last knew of with "no answer"; the probe thread
//! stays blocked until that call returns (then reads, and ends). At most one probe per
//! interpreter exists at a time ([`WorkerShared::probing`]), so repeated snapshots of a
//! stuck worker strand one thread, not one each.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use manygil_core::worker::{completion, Completion};

use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::frames::{self, ThreadStack};
use crate::ffi::raw::PyList_Type;
use crate::ffi::{
    boolean, new_dict, new_int, new_list, new_str, new_tuple, new_uint, none, Attached, Borrowed,
    Detached, Owned,
};

use super::worker;
use super::worker::WorkerShared;

/// `module.qualname` of a callable (its `__qualname__` or `__name__`, else its type's
/// name), for snapshots; never fails (errors are cleared).
pub(crate) fn function_label(f: Borrowed<'_, '_>) -> Box<str> {
    let py = f.py();
    let text = |name: &std::ffi::CStr| {
        let s = f
            .get_attr(name)
            .ok()
            .and_then(|v| v.borrow().str_utf8().ok().map(str::to_owned));
        if s.is_none() {
            err::clear(py); // no such attribute, or not a str: the next try starts clean
        }
        s
    };
    let qualname = text(c"__qualname__").or_else(|| text(c"__name__"));
    let module = qualname.as_ref().and_then(|_| text(c"__module__"));
    match (module, qualname) {
        (Some(m), Some(q)) => format!("{m}.{q}").into(),
        (None, Some(q)) => q.into(),
        _ => format!("<{} object>", err::type_name(py, f)).into(),
    }
}

/// Most threads and frames per thread a snapshot reports for one interpreter.
const MAX_THREADS: usize = 64;
const MAX_FRAMES: usize = 64;

/// What became of one interpreter's probe.
enum Probe {
    /// Its stacks, read inside it.
    Answered(Vec<ThreadStack>),
    /// It did not let the probe in before the deadline (its GIL is held: a C call?).
    NoAnswer,
    /// An earlier probe still waits for its GIL: none was started.
    StillWaiting,
    /// It ended meanwhile.
    Gone,
}

/// Start a probe of `w` on a thread of its own; `None` if one is already under way (or no
/// thread could be started).
fn start_probe(w: &Arc<WorkerShared>) -> Option<Completion<Option<Vec<ThreadStack>>>> {
    if w.probing.swap(true, Ordering::AcqRel) {
        return None;
    }
    let (done, result) = completion();
    let target = w.clone();
    let started = std::thread::Builder::new()
        .name("manygil-inspect".to_owned())
        .spawn(move || {
            let stacks = Detached::on_plain_thread(|d| {
                target.with_interpreter(d, |py| {
                    frames::interpreter_stacks(py, MAX_THREADS, MAX_FRAMES)
                })
            });
            target.probing.store(false, Ordering::Release);
            done.complete(stacks);
        });
    if started.is_err() {
        w.probing.store(false, Ordering::Release);
        return None;
    }
    Some(result)
}

/// Probe every worker in `workers` at once and wait for their answers until `timeout`
/// has passed (from the start). Must be called with no thread state attached.
fn probe_all(workers: &[Arc<WorkerShared>], timeout: Duration) -> Vec<Probe> {
    let deadline = Instant::now().checked_add(timeout);
    let pending: Vec<_> = workers.iter().map(start_probe).collect();
    pending
        .into_iter()
        .map(|p| {
            let Some(result) = p else {
                return Probe::StillWaiting;
            };
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match result.wait(left) {
                Ok(Some(stacks)) => Probe::Answered(stacks),
                Ok(None) => Probe::Gone,
                Err(manygil_core::worker::WaitError::Timeout) => Probe::NoAnswer,
                Err(_) => Probe::Gone,
            }
        })
        .collect()
}

fn set<'py>(py: Attached<'py>, d: &Owned<'py>, key: &str, value: Owned<'py>) -> PyResult<()> {
    let k = new_str(py, key)?;
    d.borrow().dict_set(k.borrow(), value.borrow())
}

fn opt_str<'py>(py: Attached<'py>, s: Option<&str>) -> PyResult<Owned<'py>> {
    match s {
        Some(s) => new_str(py, s),
        None => Ok(none(py)),
    }
}

fn seconds<'py>(py: Attached<'py>, d: Duration) -> PyResult<Owned<'py>> {
    crate::ffi::values::new_float(py, d.as_secs_f64())
}

/// The snapshot of one interpreter as a dict (see `inspect` for its keys).
fn report<'py>(
    py: Attached<'py>,
    w: &WorkerShared,
    job: Option<(u64, Duration, Option<String>)>,
    probe: Probe,
    timeout: Duration,
) -> PyResult<Owned<'py>> {
    let d = new_dict(py)?;
    set(py, &d, "id", new_int(py, w.id)?)?;
    set(py, &d, "name", new_str(py, &w.name)?)?;
    set(py, &d, "origin", new_str(py, w.origin)?)?;
    set(py, &d, "thread", new_str(py, &w.thread_name)?)?;
    let job_value = match &job {
        None => none(py),
        Some((seq, running_for, label)) => {
            let j = new_dict(py)?;
            set(py, &j, "id", new_uint(py, *seq)?)?;
            set(py, &j, "function", opt_str(py, label.as_deref())?)?;
            set(py, &j, "running_for", seconds(py, *running_for)?)?;
            j
        }
    };
    set(py, &d, "task", job_value)?;
    let ms = timeout.as_secs_f64() * 1e3;
    let (answered, note, stacks) = match probe {
        Probe::Answered(stacks) => (true, None, Some(stacks)),
        Probe::NoAnswer => (
            false,
            Some(format!(
                "no answer within {ms:.0} ms: its GIL is held (code stuck in a C call?)"
            )),
            None,
        ),
        Probe::StillWaiting => (
            false,
            Some(
                "no answer: an earlier snapshot still waits for its GIL (code stuck in a C call?)"
                    .to_owned(),
            ),
            None,
        ),
        Probe::Gone => (false, Some("it has ended".to_owned()), None),
    };
    set(py, &d, "answered", boolean(py, answered))?;
    set(py, &d, "note", opt_str(py, note.as_deref())?)?;
    let threads = match stacks {
        None => none(py),
        Some(stacks) => {
            let mut items = Vec::with_capacity(stacks.len());
            for s in stacks {
                let t = new_dict(py)?;
                let name = if s.tstate_addr == w.tstate_addr {
                    Some(w.thread_name.as_str())
                } else {
                    s.thread_name.as_deref()
                };
                set(py, &t, "name", opt_str(py, name)?)?;
                set(py, &t, "omitted", new_int(py, s.omitted as i64)?)?;
                let frames = s
                    .frames
                    .iter()
                    .map(|f| {
                        new_tuple(
                            py,
                            vec![
                                new_str(py, &f.file)?,
                                new_int(py, f.line)?,
                                new_str(py, &f.function)?,
                            ],
                        )
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                set(py, &t, "frames", new_list(py, frames)?)?;
                items.push(t);
            }
            new_list(py, items)?
        }
    };
    set(py, &d, "threads", threads)?;
    Ok(d)
}

/// `inspect(ids, timeout) -> [dict]`: a snapshot of each manygil interpreter in `ids`
/// that still exists (in that order; others are left out), waiting at most `timeout`
/// seconds in all (with the GIL released). Each dict has `id`, `name`, `origin`,
/// `thread` (its worker OS thread's name), `task` (None when idle, else `id`, `function`,
/// `running_for` in seconds), `answered`, `note` (why there is no answer) and `threads`
/// (None without an answer, else `name`, `frames` as `(file, line, function)` outermost
/// first, `omitted`).
pub(crate) fn inspect<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "inspect", argv, 2, 2)?;
    if !argv[0].is_instance(&raw mut PyList_Type) {
        return Err(err::type_error(py, "ids must be a list of int"));
    }
    let n = argv[0].list_len()?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let item = argv[0].list_get(i)?;
        ids.push(args::interp_id(py, item.borrow())?);
    }
    let timeout = args::timeout(py, Some(argv[1]))?.unwrap_or(Duration::from_secs(1));
    let own = crate::ffi::current_interpreter_id(py);
    let workers: Vec<_> = ids
        .iter()
        .filter(|&&id| id != own)
        .filter_map(|&id| worker::find_known(id))
        .collect();
    // What each runs, read before probing: a stuck one reports its last known job.
    let jobs: Vec<_> = workers.iter().map(|w| w.running_job_info()).collect();
    let probes = crate::ffi::tstate::detached(py, || probe_all(&workers, timeout));
    let items = workers
        .iter()
        .zip(jobs)
        .zip(probes)
        .map(|((w, job), probe)| report(py, w, job, probe, timeout))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}
