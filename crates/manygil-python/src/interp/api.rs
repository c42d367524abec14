//! The interpreter functions of `manygil._native` (create, destroy, list_all, whence,
//! ...; calls into interpreters are in `calls`). Each checks its arguments, does its work in Rust (waiting with the GIL released),
//! and reports errors as the exceptions documented in `manygil/_native.pyi`. Their entry
//! points and method table are in `module::methods`.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;
use crate::interp::registry::{self, Missing};
use crate::interp::worker::{self, InterruptReason, WorkerShared};

use crate::ffi::args;

/// `whence` values, as in 3.14's `_interpreters` (plus manygil's own).
pub(crate) const WHENCE_UNKNOWN: i64 = 0;
pub(crate) const WHENCE_RUNTIME: i64 = 1;
pub(crate) const WHENCE_MANYGIL: i64 = 100;

pub(crate) fn current_id(py: Attached<'_>) -> i64 {
    current_interpreter_id(py)
}

pub(crate) fn interpreter_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    crate::handles::errors::raise(py, crate::handles::errors::Exc::Interpreter, msg)
}

/// Look up a manygil interpreter for an operation that needs one.
pub(crate) fn worker_for(py: Attached<'_>, id: i64, action: &str) -> PyResult<Arc<WorkerShared>> {
    match registry::get(id) {
        Ok(w) => Ok(w),
        Err(Missing::ForkedAway) => Err(interpreter_error(
            py,
            &format!(
                "interpreter {id} belonged to the parent process: manygil interpreters do not \
                 survive fork(); create new ones in the child"
            ),
        )),
        Err(Missing::NotFound) if id != 0 && registry::find_known(id).is_some() => {
            let w = registry::find_known(id).expect("checked");
            Err(interpreter_error(
                py,
                &format!(
                    "cannot {action} interpreter {id} ({}): it is a worker of a manygil {} \
                     and takes work only from it",
                    w.name,
                    if w.origin == "pool" { "Pool (submit to the pool)" } else { w.origin }
                ),
            ))
        }
        Err(Missing::NotFound) if id == 0 => Err(interpreter_error(
            py,
            &format!("cannot {action} the main interpreter: manygil only runs work in interpreters it created"),
        )),
        Err(Missing::NotFound) => Err(crate::handles::errors::raise(py, crate::handles::errors::Exc::InterpreterNotFound,
            &format!("interpreter {id} not found (it was closed, or was not created by manygil)"),
        )),
    }
}

pub(crate) fn create<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "create", argv, 0, 4)?;
    // Checked before anything is created.
    let config = super::config::parse(py, argv.get(3).copied())?;
    let name = match args::given(argv.get(1).copied()) {
        Some(n) => Some(interp_name(py, n)?),
        None => None,
    };
    let origin = match args::given(argv.get(2).copied()) {
        Some(o) => {
            let o = args::string(py, "origin", o)?;
            *worker::ORIGINS.iter().find(|k| **k == o).ok_or_else(|| {
                err::value_error(
                    py,
                    &format!("origin must be one of {:?}, got {o:?}", worker::ORIGINS),
                )
            })?
        }
        None => worker::ORIGINS[0],
    };
    let paths = match args::given(argv.first().copied()) {
        Some(p) => {
            if !p.is_instance(&raw mut PyList_Type) {
                return Err(err::type_error(
                    py,
                    "sys_path must be a list of str or None",
                ));
            }
            Some(encode(p, EncodeMode::NativeOnly)?)
        }
        None => None,
    };
    let made = crate::ffi::tstate::detached(py, || {
        worker::spawn(
            config,
            Box::new(move |py| setup_worker(py, paths.as_ref())),
            worker::Naming { name, origin },
        )
    });
    match made {
        Ok(w) => {
            let id = w.id;
            registry::insert(w);
            new_int(py, id)
        }
        Err(msg) => Err(interpreter_error(
            py,
            &format!("could not create an interpreter: {msg}"),
        )),
    }
}

/// Longest interpreter name accepted.
const MAX_NAME: usize = 200;

/// An interpreter name: a non-empty `str` of at most [`MAX_NAME`] characters, without
/// control characters (it goes into log lines and snapshots).
fn interp_name(py: Attached<'_>, o: Borrowed<'_, '_>) -> PyResult<String> {
    if !o.is_str() {
        return Err(err::type_error(
            py,
            &format!("name must be a str, not {}", err::type_name(py, o)),
        ));
    }
    let name = args::string(py, "name", o)?;
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(err::value_error(
            py,
            &format!(
                "name must be 1 to {MAX_NAME} characters without control characters, got {name:?}"
            ),
        ));
    }
    Ok(name)
}

/// First thing a new interpreter runs: adopt the creator's `sys.path`.
fn setup_worker(py: Attached<'_>, paths: Option<&Value>) -> Result<(), String> {
    let Some(paths) = paths else { return Ok(()) };
    let r = (|| -> PyResult<()> {
        let list = decode(py, paths)?;
        set_sys_attr(py, c"path", list.borrow())
    })();
    r.map_err(|_| {
        let e = err::take(py);
        err::describe(py, e.borrow())
    })
}

pub(crate) fn destroy<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "destroy", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id == current_id(py) {
        return Err(interpreter_error(
            py,
            &format!("interpreter {id} cannot close itself (it is the current interpreter)"),
        ));
    }
    let removed = registry::remove_if(id, |w| {
        w.is_busy()
            .then(|| format!("interpreter {id} is running; close it once its work is done"))
    });
    let w = match removed {
        Ok(Ok(w)) => w,
        Ok(Err(why)) => return Err(interpreter_error(py, &why)),
        Err(_) => {
            worker_for(py, id, "close")?;
            unreachable!("worker_for raises for a missing interpreter")
        }
    };
    w.stop();
    crate::ffi::tstate::detached(py, || w.join());
    Ok(none(py))
}

/// The owner of interpreter `id` (the `Interpreter` object `create()` returned) is gone:
/// close it once idle, as 3.14's `concurrent.interpreters` does. A no-op if it is already
/// closed or is the calling interpreter.
pub(crate) fn release<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "release", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id != current_id(py) {
        if let Ok(Ok(w)) = registry::remove_if(id, |_| None) {
            registry::release(w);
        }
    }
    Ok(none(py))
}

/// Where interpreter `id` was created (a `WHENCE_*` constant).
fn whence_of(id: i64) -> i64 {
    if id == 0 {
        WHENCE_RUNTIME
    } else if registry::find_known(id).is_some() || registry::get(id).is_ok() {
        WHENCE_MANYGIL
    } else {
        WHENCE_UNKNOWN
    }
}

fn id_whence<'py>(py: Attached<'py>, id: i64) -> PyResult<Owned<'py>> {
    new_tuple(py, vec![new_int(py, id)?, new_int(py, whence_of(id))?])
}

/// `list_all() -> [(id, whence)]`: the main interpreter and every manygil interpreter
/// that still exists (those of `create()`, pools and `serve`), by increasing id.
pub(crate) fn list_all<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "list_all", argv, 0, 0)?;
    let mut ids = vec![0];
    ids.extend(registry::ids());
    ids.extend(registry::known().iter().map(|w| w.id));
    let cur = current_id(py);
    if !ids.contains(&cur) {
        ids.push(cur);
    }
    ids.sort_unstable();
    ids.dedup();
    let items = ids
        .into_iter()
        .map(|id| id_whence(py, id))
        .collect::<PyResult<Vec<_>>>()?;
    new_list(py, items)
}

/// `interp_info(id) -> (name, origin, thread_name) | None`: what interpreter `id` is
/// called, which part of manygil made it ("main" for the main interpreter) and the name
/// of its worker OS thread; None if it is no (longer a) manygil interpreter.
pub(crate) fn interp_info<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "interp_info", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id == 0 {
        return new_tuple(
            py,
            vec![
                new_str(py, "main")?,
                new_str(py, "main")?,
                new_str(py, "MainThread")?,
            ],
        );
    }
    match registry::find_known(id) {
        Some(w) => new_tuple(
            py,
            vec![
                new_str(py, &w.name)?,
                new_str(py, w.origin)?,
                new_str(py, &w.thread_name)?,
            ],
        ),
        None => Ok(none(py)),
    }
}

pub(crate) fn get_current<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "get_current", argv, 0, 0)?;
    id_whence(py, current_id(py))
}

pub(crate) fn get_main<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "get_main", argv, 0, 0)?;
    id_whence(py, 0)
}

pub(crate) fn whence<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "whence", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id != 0 && id != current_id(py) && registry::find_known(id).is_none() {
        worker_for(py, id, "inspect")?;
    }
    new_int(py, whence_of(id))
}

pub(crate) fn is_running<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "is_running", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id == 0 || id == current_id(py) {
        return Ok(boolean(py, true));
    }
    if let Some(w) = registry::find_known(id) {
        return Ok(boolean(py, w.is_running()));
    }
    let w = worker_for(py, id, "inspect")?;
    Ok(boolean(py, w.is_running()))
}

pub(crate) fn is_shareable<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "is_shareable", argv, 1, 1)?;
    let ok = encode(argv[0], EncodeMode::NativeOnly).is_ok();
    if !ok {
        err::clear(py);
    }
    Ok(boolean(py, ok))
}

pub(crate) fn roundtrip<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "roundtrip", argv, 1, 1)?;
    let v = encode(argv[0], EncodeMode::Full)?;
    decode(py, &v)
}

/// How often [`close_all`] interrupts the jobs still running (a job may catch one).
const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

/// Stop every worker, interrupting running jobs, and join those that have ended by
/// `deadline` (`None`: wait for all). Returns the workers still running then, not joined:
/// their job is stuck in code that does not respond to interruption (a blocking C call).
///
/// The interrupts are sent from a helper thread, so that a job stuck in C *with its GIL
/// held* (which blocks an interrupter until it returns) cannot hold up the caller past
/// `deadline`; that thread is left behind only together with such a worker.
///
/// Must be called with no thread state attached.
pub(crate) fn close_all(
    workers: &[Arc<WorkerShared>],
    deadline: Option<std::time::Instant>,
) -> Vec<Arc<WorkerShared>> {
    for w in workers {
        w.stop();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let interrupter = {
        let workers = workers.to_vec();
        let done = done.clone();
        std::thread::Builder::new()
            .name("manygil-exit-interrupt".to_owned())
            .spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    for w in workers.iter().filter(|w| w.is_running()) {
                        // SAFETY: this helper thread never has a thread state attached.
                        unsafe { w.interrupt(0, InterruptReason::Shutdown) };
                    }
                    std::thread::sleep(INTERRUPT_EVERY);
                }
            })
    };
    if interrupter.is_err() {
        // No thread for it: interrupt once from here (may wait for a GIL-holding job).
        for w in workers.iter().filter(|w| w.is_running()) {
            // SAFETY: called with no thread state attached (caller's duty).
            unsafe { w.interrupt(0, InterruptReason::Shutdown) };
        }
    }
    let mut left = Vec::new();
    for w in workers {
        if w.wait_exited(deadline) {
            w.join();
        } else {
            left.push(w.clone());
        }
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    if let Ok(t) = interrupter {
        if left.is_empty() {
            let _ = t.join();
        }
    }
    left
}

pub(crate) fn after_fork_child<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "after_fork_child", argv, 0, 0)?;
    crate::interp::lifecycle::reset_after_fork();
    registry::forget_after_fork();
    Ok(none(py))
}

/// `set_thread_name(name)`: name the calling OS thread (what `top -H` and py-spy show; the
/// first 15 bytes are kept). For threads that Python starts, where 3.13's `threading` does
/// not set it.
pub(crate) fn set_thread_name<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "set_thread_name", argv, 1, 1)?;
    let name = args::string(py, "name", argv[0])?;
    worker::name_this_thread(&name);
    Ok(none(py))
}
