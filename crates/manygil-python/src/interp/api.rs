//! The interpreter functions of `manygil._native` (create, destroy, list_all, whence,
//! call, exec, submit, interrupt, ...; the waiting behind calls is in `calls`). Each checks
//! its arguments, does its work in Rust (waiting with the GIL released), and reports errors
//! as the exceptions documented in `manygil/_native.pyi`. Their entry points and method
//! table are in `module::methods`.

use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::args;
use crate::ffi::err::{self, PyResult};
use crate::ffi::raw::{PyDict_Type, PyList_Type};
use crate::ffi::{
    boolean, new_int, new_list, new_str, new_tuple, none, set_sys_attr, Attached, Borrowed, Owned,
};

use super::calls::{dispatch, run_and_wait};
use super::convert::encode_call;
use super::jobs;
use super::lookup::{current_id, interpreter_error, worker_for};
use super::registry;
use super::worker::{self, InterruptReason};

/// `whence` values, as in 3.14's `_interpreters` (plus manygil's own).
pub(crate) const WHENCE_UNKNOWN: i64 = 0;
pub(crate) const WHENCE_RUNTIME: i64 = 1;
pub(crate) const WHENCE_MANYGIL: i64 = 100;

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
    } else if worker::find_known(id).is_some() || registry::get(id).is_ok() {
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
    ids.extend(worker::known().iter().map(|w| w.id));
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
    match worker::find_known(id) {
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
    if id != 0 && id != current_id(py) && worker::find_known(id).is_none() {
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
    if let Some(w) = worker::find_known(id) {
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

pub(crate) fn call_fn<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "call", argv, 4, 5)?;
    let id = args::interp_id(py, argv[0])?;
    let timeout = args::timeout(py, argv.get(4).copied())?;
    let (f, a, kw) = encode_call(py, argv[1], argv[2], argv[3])?;
    let label = super::inspect::function_label(argv[1]);
    run_and_wait(py, id, "call into", timeout, move |py, ctx| {
        ctx.worker().set_job_label(Some(label));
        jobs::run_call(py, ctx, &f, &a, &kw)
    })
}

pub(crate) fn exec_fn<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    args::positional(py, "exec", argv, 2, 3)?;
    let id = args::interp_id(py, argv[0])?;
    let source = args::string(py, "code", argv[1])?;
    let timeout = args::timeout(py, argv.get(2).copied())?;
    run_and_wait(py, id, "run code in", timeout, move |py, ctx| {
        ctx.worker().set_job_label(Some("exec()".into()));
        jobs::run_exec(py, ctx, &source)
    })
}

pub(crate) fn set_main_attrs<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id, ns] = args::exact(py, "set_main_attrs", argv)?;
    let id = args::interp_id(py, id)?;
    if !ns.is_instance(&raw mut PyDict_Type) {
        return Err(err::type_error(py, "ns must be a dict"));
    }
    let ns = encode(ns, EncodeMode::Full)?;
    run_and_wait(py, id, "prepare", None, move |py, ctx| {
        jobs::run_set_main(py, ctx, &ns)
    })
}

pub(crate) fn submit<'py>(
    py: Attached<'py>,
    module: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id, f, a, kw] = args::exact(py, "submit", argv)?;
    let id = args::interp_id(py, id)?;
    let label = super::inspect::function_label(f);
    let (f, a, kw) = encode_call(py, f, a, kw)?;
    let (w, seq, result) = dispatch(py, id, "call into", move |py, ctx| {
        ctx.worker().set_job_label(Some(label));
        jobs::run_call(py, ctx, &f, &a, &kw)
    })?;
    super::pending::new(py, module, w, seq, result)
}

pub(crate) fn interrupt<'py>(
    py: Attached<'py>,
    _m: Borrowed<'_, 'py>,
    argv: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let [id] = args::exact(py, "interrupt", argv)?;
    let id = args::interp_id(py, id)?;
    let w = worker_for(py, id, "interrupt")?;
    let hit = crate::ffi::tstate::detached_with(py, |d| {
        w.interrupt(d, 0, InterruptReason::KeyboardInterrupt)
    });
    Ok(boolean(py, hit))
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
