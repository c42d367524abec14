//! The functions of `manygil._native`. Each checks its arguments, does its work in Rust
//! (waiting with the GIL released), and reports errors as the exceptions documented in
//! `manygil/_native.pyi`.

use std::sync::Arc;
use std::time::Duration;

use manygil_core::worker::{completion, Completion, WaitError};
use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;
use crate::interp::jobs::{self, Outcome};
use crate::interp::registry::{self, Missing};
use crate::interp::worker::{self, InterruptReason, WorkerShared};

use super::{args, guard, is_main_interpreter};

/// `whence` values, as in 3.14's `_interpreters` (plus manygil's own).
pub(crate) const WHENCE_UNKNOWN: i64 = 0;
pub(crate) const WHENCE_RUNTIME: i64 = 1;
pub(crate) const WHENCE_MANYGIL: i64 = 100;

/// How long to wait for an interrupted job to stop before reporting it as stuck.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Define a METH_FASTCALL entry point around `fn(py, module, args) -> PyResult<Owned>`.
macro_rules! entry {
    ($c_name:ident => $body:path) => {
        unsafe extern "C" fn $c_name(
            module: *mut PyObject,
            argv: *mut *mut PyObject,
            nargs: Py_ssize_t,
        ) -> *mut PyObject {
            // SAFETY: exactly the arguments CPython passed to this running entry point.
            let argv = unsafe { fastcall_args(argv, nargs) };
            guard(|py| $body(py, module, argv))
        }
    };
}

/// A METH_FASTCALL `PyMethodDef` (shared by the module's functions and its types' methods).
macro_rules! method {
    ($name:literal, $c_name:ident, $doc:literal) => {
        PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFast: $c_name,
            },
            ml_flags: METH_FASTCALL,
            ml_doc: $doc.as_ptr(),
        }
    };
}

pub(crate) use method;

entry!(c_create => create);
entry!(c_destroy => destroy);
entry!(c_list_all => list_all);
entry!(c_get_current => get_current);
entry!(c_get_main => get_main);
entry!(c_whence => whence);
entry!(c_is_running => is_running);
entry!(c_call => call_fn);
entry!(c_exec => exec_fn);
entry!(c_set_main_attrs => set_main_attrs);
entry!(c_submit => submit);
entry!(c_interrupt => interrupt);
entry!(c_is_shareable => is_shareable);
entry!(c_roundtrip => roundtrip);
entry!(c_shutdown => shutdown);
entry!(c_after_fork_child => after_fork_child);
entry!(c_set_main_script => set_main_script);
entry!(c_main_script => main_script);

/// The method table (static C data; CPython only reads it).
pub(crate) static mut METHODS: [PyMethodDef; 19] = [
    method!(c"create", c_create, c"create($module, sys_path=None, /)\n--\n\nCreate an own-GIL interpreter on its own thread; return its id."),
    method!(c"destroy", c_destroy, c"destroy($module, id, /)\n--\n\nEnd an idle interpreter and join its thread."),
    method!(c"list_all", c_list_all, c"list_all($module, /)\n--\n\n(id, whence) of the main and every manygil interpreter."),
    method!(c"get_current", c_get_current, c"get_current($module, /)\n--\n\n(id, whence) of the interpreter the caller runs in."),
    method!(c"get_main", c_get_main, c"get_main($module, /)\n--\n\n(id, whence) of the main interpreter."),
    method!(c"whence", c_whence, c"whence($module, id, /)\n--\n\nWhere interpreter id was created (a WHENCE_* constant)."),
    method!(c"is_running", c_is_running, c"is_running($module, id, /)\n--\n\nWhether interpreter id is executing a job now."),
    method!(c"call", c_call, c"call($module, id, callable, args, kwargs, timeout=None, /)\n--\n\nCall callable(*args, **kwargs) in interpreter id and block (GIL released) until done. Returns (True, result) or (False, exception record); past timeout the call is interrupted."),
    method!(c"exec", c_exec, c"exec($module, id, source, timeout=None, /)\n--\n\nRun source in the __main__ of interpreter id; returns (True, None) or (False, exception record)."),
    method!(c"set_main_attrs", c_set_main_attrs, c"set_main_attrs($module, id, ns, /)\n--\n\nBind the items of dict ns into the __main__ of interpreter id."),
    method!(c"submit", c_submit, c"submit($module, id, callable, args, kwargs, /)\n--\n\nStart callable(*args, **kwargs) in interpreter id; return a PendingCall."),
    method!(c"interrupt", c_interrupt, c"interrupt($module, id, /)\n--\n\nRaise KeyboardInterrupt in the interpreter's running job."),
    method!(c"is_shareable", c_is_shareable, c"is_shareable($module, obj, /)\n--\n\nWhether obj crosses interpreters natively (no pickle, no reference)."),
    method!(c"roundtrip", c_roundtrip, c"roundtrip($module, obj, /)\n--\n\nEncode then decode obj (codec test helper)."),
    method!(c"shutdown", c_shutdown, c"shutdown($module, /)\n--\n\nClose every manygil interpreter (atexit hook of the main interpreter)."),
    method!(c"after_fork_child", c_after_fork_child, c"after_fork_child($module, /)\n--\n\nForget the interpreters of the parent process (os.register_at_fork hook)."),
    method!(c"set_main_script", c_set_main_script, c"set_main_script($module, path, module, /)\n--\n\nRecord the main script (path, or module name for -m) for other interpreters."),
    method!(c"main_script", c_main_script, c"main_script($module, /)\n--\n\n(path, module) recorded by set_main_script."),
    PyMethodDef::zeroed(),
];

/// Module constants.
pub(crate) fn add_constants(py: Attached<'_>, module: *mut PyObject) -> PyResult<()> {
    for (name, v) in [
        (c"WHENCE_UNKNOWN", WHENCE_UNKNOWN),
        (c"WHENCE_RUNTIME", WHENCE_RUNTIME),
        (c"WHENCE_MANYGIL", WHENCE_MANYGIL),
    ] {
        let _ = py;
        // SAFETY: attached; `module` is our module; name NUL-terminated.
        if unsafe { PyModule_AddIntConstant(module, name.as_ptr(), v as _) } < 0 {
            return Err(PyErrSet);
        }
    }
    Ok(())
}

fn current_id(_py: Attached<'_>) -> i64 {
    // SAFETY: attached.
    unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) }
}

fn interpreter_error(py: Attached<'_>, msg: &str) -> PyErrSet {
    err::raise_manygil(py, c"InterpreterError", msg)
}

/// Look up a manygil interpreter for an operation that needs one.
fn worker_for(py: Attached<'_>, id: i64, action: &str) -> PyResult<Arc<WorkerShared>> {
    match registry::get(id) {
        Ok(w) => Ok(w),
        Err(Missing::ForkedAway) => Err(interpreter_error(
            py,
            &format!(
                "interpreter {id} belonged to the parent process: manygil interpreters do not \
                 survive fork(); create new ones in the child"
            ),
        )),
        Err(Missing::NotFound) if id == 0 => Err(interpreter_error(
            py,
            &format!("cannot {action} the main interpreter: manygil only runs work in interpreters it created"),
        )),
        Err(Missing::NotFound) => Err(err::raise_manygil(
            py,
            c"InterpreterNotFoundError",
            &format!("interpreter {id} not found (it was closed, or was not created by manygil)"),
        )),
    }
}

fn create(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "create", argv, 0, 1)?;
    let paths = match argv.first() {
        // SAFETY: comparing with None.
        Some(&p) if p != unsafe { Py_None() } => {
            if !args::is_instance(p, &raw mut PyList_Type) {
                return Err(err::type_error(
                    py,
                    "sys_path must be a list of str or None",
                ));
            }
            // SAFETY: a valid list of the attached interpreter.
            Some(unsafe { encode(py, p, EncodeMode::NativeOnly) }?)
        }
        _ => None,
    };
    let made = crate::ffi::tstate::detached(py, || {
        worker::spawn(Box::new(move |py| setup_worker(py, paths.as_ref())))
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

/// First thing a new interpreter runs: adopt the creator's `sys.path`.
fn setup_worker(py: Attached<'_>, paths: Option<&Value>) -> Result<(), String> {
    let Some(paths) = paths else { return Ok(()) };
    let r = (|| -> PyResult<()> {
        let list = decode(py, paths)?;
        // SAFETY: attached; name NUL-terminated; PySys_SetObject borrows the list.
        if unsafe { PySys_SetObject(c"path".as_ptr(), list.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
        Ok(())
    })();
    r.map_err(|_| {
        let e = err::take(py);
        err::describe(py, e.as_ptr())
    })
}

fn destroy(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "destroy", argv, 1, 1)?;
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

fn id_whence(py: Attached<'_>, id: i64) -> PyResult<Owned> {
    let whence = if id == 0 {
        WHENCE_RUNTIME
    } else if registry::get(id).is_ok() {
        WHENCE_MANYGIL
    } else {
        WHENCE_UNKNOWN
    };
    new_tuple(py, vec![new_int(py, id)?, new_int(py, whence)?])
}

fn list_all(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "list_all", argv, 0, 0)?;
    let mut ids = vec![0];
    ids.extend(registry::ids());
    let cur = current_id(py);
    if !ids.contains(&cur) {
        ids.push(cur);
    }
    // SAFETY: attached.
    let list = unsafe { Owned::from_new(py, PyList_New(0))? };
    for id in ids {
        let item = id_whence(py, id)?;
        // SAFETY: attached; both valid; PyList_Append does not steal.
        if unsafe { PyList_Append(list.as_ptr(), item.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
    }
    Ok(list)
}

fn get_current(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "get_current", argv, 0, 0)?;
    id_whence(py, current_id(py))
}

fn get_main(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "get_main", argv, 0, 0)?;
    id_whence(py, 0)
}

fn whence(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "whence", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id != 0 && id != current_id(py) {
        worker_for(py, id, "inspect")?;
    }
    let t = id_whence(py, id)?;
    // SAFETY: a 2-tuple we just built; borrowed item kept alive by `t`.
    Ok(unsafe { Owned::from_borrowed(py, PyTuple_GET_ITEM(t.as_ptr(), 1)) })
}

fn is_running(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "is_running", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    if id == 0 || id == current_id(py) {
        return Ok(boolean(py, true));
    }
    let w = worker_for(py, id, "inspect")?;
    Ok(boolean(py, w.is_running()))
}

/// Encode `(callable, args, kwargs)` after checking their types.
pub(crate) fn encode_call(
    py: Attached<'_>,
    func: *mut PyObject,
    a: *mut PyObject,
    kw: *mut PyObject,
) -> PyResult<(Value, Value, Value)> {
    if !args::is_instance(a, &raw mut PyTuple_Type) {
        return Err(err::type_error(
            py,
            &format!("args must be a tuple, not {}", err::type_name(py, a)),
        ));
    }
    if !args::is_instance(kw, &raw mut PyDict_Type) {
        return Err(err::type_error(
            py,
            &format!("kwargs must be a dict, not {}", err::type_name(py, kw)),
        ));
    }
    // SAFETY: attached; `func` is a borrowed argument.
    if unsafe { PyCallable_Check(func) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{} object is not callable", err::type_name(py, func)),
        ));
    }
    // SAFETY: (three calls) valid borrowed arguments of the attached interpreter.
    let f = unsafe { encode(py, func, EncodeMode::Full) }?;
    // SAFETY: as above.
    let a = unsafe { encode(py, a, EncodeMode::Full) }?;
    // SAFETY: as above.
    let kw = unsafe { encode(py, kw, EncodeMode::Full) }?;
    Ok((f, a, kw))
}

/// Record that the calling thread waits synchronously for interpreter `id`; refuse the call
/// (with nothing sent) if that would close a cycle of interpreters waiting on each other.
fn wait_edge(py: Attached<'_>, id: i64) -> PyResult<crate::interp::waits::WaitEdge> {
    let cur = current_id(py);
    let from = registry::get(cur)
        .ok()
        .filter(|w| w.is_current_thread())
        .map(|_| cur);
    crate::interp::waits::WaitEdge::enter(from, id).map_err(|cycle| {
        let path: Vec<String> = cycle.iter().map(i64::to_string).collect();
        interpreter_error(
            py,
            &format!(
                "calling into interpreter {id} would deadlock: interpreters wait for each \
                 other in a cycle ({}), and each runs one job at a time; use call_in_thread \
                 or a Queue instead of a nested synchronous call",
                path.join(" -> ")
            ),
        )
    })
}

/// Send a job to interpreter `id` (not the current one) and return its completion.
fn dispatch(
    py: Attached<'_>,
    id: i64,
    action: &str,
    job: impl for<'p> FnOnce(Attached<'p>, &worker::JobCtx<'_>) -> Outcome + Send + 'static,
) -> PyResult<(Arc<WorkerShared>, u64, Completion<Outcome>)> {
    if id != 0 && id == current_id(py) {
        return Err(interpreter_error(
            py,
            &format!("cannot {action} interpreter {id} from inside itself (it is the current interpreter)"),
        ));
    }
    let w = worker_for(py, id, action)?;
    let (done, result) = completion::<Outcome>();
    let seq = w
        .send(Box::new(move |py, ctx| {
            let outcome = job(py, ctx);
            ctx.mark_done();
            done.complete(outcome);
        }))
        .map_err(|_| {
            err::raise_manygil(
                py,
                c"InterpreterNotFoundError",
                &format!("interpreter {id} was closed"),
            )
        })?;
    Ok((w, seq, result))
}

/// Wait for a dispatched job (interruptibly), applying `timeout` by interrupting it.
fn finish(
    py: Attached<'_>,
    id: i64,
    w: &WorkerShared,
    seq: u64,
    result: &Completion<Outcome>,
    timeout: Option<Duration>,
) -> PyResult<Owned> {
    let outcome = match crate::interp::wait_for_python(py, w, seq, result, timeout)? {
        Ok(o) => o,
        Err(WaitError::Abandoned) => {
            return Err(err::raise_manygil(
                py,
                c"InterpreterNotFoundError",
                &format!("interpreter {id} was closed before the call completed"),
            ))
        }
        Err(WaitError::Timeout) => {
            crate::ffi::tstate::detached(py, || {
                // SAFETY: detached, as `interrupt` requires.
                unsafe { w.interrupt(seq, InterruptReason::Timeout) }
            });
            match crate::interp::wait_for_python(py, w, seq, result, Some(INTERRUPT_GRACE))? {
                Ok(o) => o,
                Err(_) => Err(stuck_record()),
            }
        }
    };
    outcome_to_python(py, outcome)
}

/// The record of a job that ran past its timeout and did not stop when interrupted.
fn stuck_record() -> Value {
    let msg = "the task ran past its timeout and could not be interrupted: it is running code \
               that does not check for signals (e.g. a long C call); its interpreter stays busy \
               until that code returns";
    jobs::exc_record(
        "TimeoutError",
        "builtins",
        msg,
        &format!("TimeoutError: {msg}"),
        "",
        Value::None,
    )
}

/// `(True, result)` or `(False, exception_record)`.
pub(crate) fn outcome_to_python(py: Attached<'_>, outcome: Outcome) -> PyResult<Owned> {
    let (ok, v) = match &outcome {
        Ok(v) => (true, v),
        Err(rec) => (false, rec),
    };
    crate::pool::main_tstate::release_deferred(py);
    let obj = decode(py, v)?;
    // Drop the value's memory while still attached is not required (Rust memory), but do it
    // before building the tuple to keep peak memory low for large results.
    drop(outcome);
    new_tuple(py, vec![boolean(py, ok), obj])
}

fn call_fn(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "call", argv, 4, 5)?;
    let id = args::interp_id(py, argv[0])?;
    let timeout = args::timeout(py, argv.get(4).copied())?;
    let (f, a, kw) = encode_call(py, argv[1], argv[2], argv[3])?;
    let _waiting = wait_edge(py, id)?;
    let (w, seq, result) = dispatch(py, id, "call into", move |py, ctx| {
        jobs::run_call(py, ctx, &f, &a, &kw)
    })?;
    finish(py, id, &w, seq, &result, timeout)
}

fn exec_fn(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "exec", argv, 2, 3)?;
    let id = args::interp_id(py, argv[0])?;
    let source = args::string(py, "code", argv[1])?;
    let timeout = args::timeout(py, argv.get(2).copied())?;
    let _waiting = wait_edge(py, id)?;
    let (w, seq, result) = dispatch(py, id, "run code in", move |py, ctx| {
        jobs::run_exec(py, ctx, &source)
    })?;
    finish(py, id, &w, seq, &result, timeout)
}

fn set_main_attrs(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "set_main_attrs", argv, 2, 2)?;
    let id = args::interp_id(py, argv[0])?;
    if !args::is_instance(argv[1], &raw mut PyDict_Type) {
        return Err(err::type_error(py, "ns must be a dict"));
    }
    // SAFETY: a valid dict argument.
    let ns = unsafe { encode(py, argv[1], EncodeMode::Full) }?;
    let _waiting = wait_edge(py, id)?;
    let (w, seq, result) = dispatch(py, id, "prepare", move |py, ctx| {
        jobs::run_set_main(py, ctx, &ns)
    })?;
    finish(py, id, &w, seq, &result, None)
}

fn submit(py: Attached<'_>, module: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "submit", argv, 4, 4)?;
    let id = args::interp_id(py, argv[0])?;
    let (f, a, kw) = encode_call(py, argv[1], argv[2], argv[3])?;
    let (w, seq, result) = dispatch(py, id, "call into", move |py, ctx| {
        jobs::run_call(py, ctx, &f, &a, &kw)
    })?;
    super::pending::new(py, module, w, seq, result)
}

fn interrupt(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "interrupt", argv, 1, 1)?;
    let id = args::interp_id(py, argv[0])?;
    let w = worker_for(py, id, "interrupt")?;
    let hit = crate::ffi::tstate::detached(py, || {
        // SAFETY: detached, as `interrupt` requires.
        unsafe { w.interrupt(0, InterruptReason::KeyboardInterrupt) }
    });
    Ok(boolean(py, hit))
}

fn is_shareable(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "is_shareable", argv, 1, 1)?;
    // SAFETY: a valid borrowed argument.
    let ok = unsafe { encode(py, argv[0], EncodeMode::NativeOnly) }.is_ok();
    if !ok {
        // SAFETY: attached.
        unsafe { PyErr_Clear() };
    }
    Ok(boolean(py, ok))
}

fn roundtrip(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "roundtrip", argv, 1, 1)?;
    // SAFETY: a valid borrowed argument.
    let v = unsafe { encode(py, argv[0], EncodeMode::Full) }?;
    decode(py, &v)
}

fn shutdown(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "shutdown", argv, 0, 0)?;
    if !is_main_interpreter(py) {
        return Err(err::runtime_error(
            py,
            "shutdown() can only be called from the main interpreter",
        ));
    }
    // Pools first (their queued tasks still run and complete their futures, as with the
    // stdlib executors), then the interpreters made with create().
    crate::ffi::tstate::detached(py, crate::pool::shutdown_all);
    crate::pool::main_tstate::release_deferred(py);
    let workers = registry::take_all();
    crate::ffi::tstate::detached(py, || close_all(&workers));
    Ok(none(py))
}

/// Stop every worker, interrupting running jobs, and join them all. A job stuck in code
/// that does not check for signals delays exit until it returns; a warning says so.
fn close_all(workers: &[Arc<WorkerShared>]) {
    for w in workers {
        w.stop();
    }
    let start = std::time::Instant::now();
    let mut warned = false;
    loop {
        let busy: Vec<_> = workers.iter().filter(|w| w.is_running()).collect();
        if busy.is_empty() {
            break;
        }
        for w in &busy {
            // SAFETY: called with no thread state attached (see `shutdown`).
            unsafe { w.interrupt(0, InterruptReason::Shutdown) };
        }
        if !warned && start.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "manygil: waiting at exit for {} interpreter(s) running code that does not respond \
                 to interruption",
                busy.len()
            );
            warned = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for w in workers {
        w.join();
    }
}

fn after_fork_child(
    py: Attached<'_>,
    _m: *mut PyObject,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::count(py, "after_fork_child", argv, 0, 0)?;
    crate::interp::lifecycle::reset_after_fork();
    registry::forget_after_fork();
    Ok(none(py))
}

fn set_main_script(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "set_main_script", argv, 2, 2)?;
    if !is_main_interpreter(py) {
        return Err(err::runtime_error(
            py,
            "set_main_script() can only be called from the main interpreter",
        ));
    }
    let path = args::opt_string(py, "path", argv[0])?;
    let module = args::opt_string(py, "module", argv[1])?;
    super::set_main_script(path, module);
    Ok(none(py))
}

fn main_script(py: Attached<'_>, _m: *mut PyObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    args::count(py, "main_script", argv, 0, 0)?;
    let (path, module) = super::main_script();
    let to_obj = |s: Option<String>| match s {
        Some(s) => new_str(py, &s),
        None => Ok(none(py)),
    };
    new_tuple(py, vec![to_obj(path)?, to_obj(module)?])
}
