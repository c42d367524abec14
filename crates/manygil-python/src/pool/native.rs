//! `PoolCore`: the native half of `manygil.Pool` (the Python class keeps the
//! `concurrent.futures.Executor` protocol; this type owns the workers).
//!
//! Created with `PoolCore(workers, sys_path, initializer, initargs, max_tasks_per_worker,
//! task_timeout)`; a heap type per interpreter (made by `create_type`, exposed as a module
//! attribute), instances hold an `Arc` of the Rust pool only.

use std::ffi::{c_int, c_void};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use manygil_core::worker::completion;
use manygil_core::Value;

use super::{Payload, Pool, PoolConfig, Refused, Reply, Task};
use crate::codec::{encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::*;
use crate::interp::jobs::Outcome;
use crate::interp::worker::InterruptReason;
use crate::runtime::main_ref::{self, MainRef};

use crate::ffi::args;
use crate::ffi::entry::{guard, method};
use crate::interp::calls::encode_call;

/// Instance layout.
#[repr(C)]
struct PoolObject {
    /// The object header.
    ob_base: PyObject,
    /// `Arc::into_raw` of the pool; NULL only after dealloc.
    pool: *const Pool,
}

macro_rules! pool_entry {
    ($c_name:ident => $body:ident) => {
        unsafe extern "C" fn $c_name(
            slf: *mut PyObject,
            argv: *mut *mut PyObject,
            nargs: Py_ssize_t,
        ) -> *mut PyObject {
            // SAFETY: exactly the arguments CPython passed to this running method.
            let argv = unsafe { fastcall_args(argv, nargs) };
            // SAFETY: `slf` is a PoolCore instance (a method of our type).
            let pool = unsafe { pool_of(slf) };
            guard(|py| $body(py, slf, &pool, argv))
        }
    };
}

pool_entry!(c_submit => submit);
pool_entry!(c_submit_chunk => submit_chunk);
pool_entry!(c_cancel => cancel);
pool_entry!(c_cancel_all => cancel_all);
pool_entry!(c_shutdown => shutdown);
pool_entry!(c_stats => stats);
pool_entry!(c_broken => broken);
pool_entry!(c_is_running => is_running);

/// Create the `PoolCore` type for `module`'s interpreter.
pub(crate) fn create_type(py: Attached<'_>, module: *mut PyObject) -> PyResult<Owned> {
    static mut METHODS: [PyMethodDef; 9] = [
        method!(c"is_running", c_is_running, c"is_running($self, seq, /)\n--\n\nWhether task seq runs now."),
        method!(c"submit", c_submit, c"submit($self, future, fn, args, kwargs, timeout, /)\n--\n\nQueue fn(*args, **kwargs); its outcome completes future. Returns the task number."),
        method!(c"submit_chunk", c_submit_chunk, c"submit_chunk($self, fn, items, timeout, /)\n--\n\nQueue [fn(*a) for a in items] as one task; returns a PendingCall."),
        method!(c"cancel", c_cancel, c"cancel($self, seq, /)\n--\n\nInterrupt task seq if running (True), else skip it when dequeued."),
        method!(c"cancel_all", c_cancel_all, c"cancel_all($self, interrupt, /)\n--\n\nCancel all queued tasks; interrupt running ones if interrupt."),
        method!(c"shutdown", c_shutdown, c"shutdown($self, wait, /)\n--\n\nStop taking tasks; with wait, join the workers."),
        method!(c"stats", c_stats, c"stats($self, /)\n--\n\nActivity counters."),
        method!(c"broken", c_broken, c"broken($self, /)\n--\n\nWhy the pool is broken, or None."),
        PyMethodDef::zeroed(),
    ];
    static mut SLOTS: [PyType_Slot; 4] = [
        PyType_Slot {
            slot: Py_tp_new,
            pfunc: pool_new as *mut c_void,
        },
        PyType_Slot {
            slot: Py_tp_dealloc,
            pfunc: pool_dealloc as *mut c_void,
        },
        PyType_Slot {
            slot: Py_tp_methods,
            pfunc: (&raw mut METHODS).cast(),
        },
        PyType_Slot {
            slot: 0,
            pfunc: std::ptr::null_mut(),
        },
    ];
    static mut SPEC: PyType_Spec = PyType_Spec {
        name: c"manygil._native.PoolCore".as_ptr(),
        basicsize: std::mem::size_of::<PoolObject>() as c_int,
        itemsize: 0,
        flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE) as _,
        slots: (&raw mut SLOTS).cast(),
    };
    // SAFETY: attached; the spec is static data CPython only reads; `module` is ours.
    unsafe {
        Owned::from_new(
            py,
            PyType_FromModuleAndSpec(module, &raw mut SPEC, std::ptr::null_mut()),
        )
    }
}

/// A new strong `Arc` to the pool of `slf`.
///
/// # Safety
/// `slf` is a live PoolCore instance.
unsafe fn pool_of(slf: *mut PyObject) -> Arc<Pool> {
    // SAFETY: set by `pool_new` and valid until dealloc; we add a strong count for the copy.
    unsafe {
        let p = (*slf.cast::<PoolObject>()).pool;
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

unsafe extern "C" fn pool_new(
    tp: *mut PyTypeObject,
    argv: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    guard(|py| {
        if !crate::ffi::is_main_interpreter(py) {
            return Err(crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::Interpreter,
                "manygil.Pool can only be created in the main interpreter",
            ));
        }
        // SAFETY: CPython passes the positional arguments as a tuple.
        let n = unsafe { PyTuple_GET_SIZE(argv) };
        if n != 6 {
            return Err(err::type_error(
                py,
                "PoolCore() takes 6 positional arguments",
            ));
        }
        // SAFETY: index < n.
        let item = |i| unsafe { PyTuple_GET_ITEM(argv, i) };
        // SAFETY: attached; an int argument (the Python layer validated it).
        let workers = unsafe { PyLong_AsSsize_t(item(0)) };
        if workers < 1 {
            return Err(err::value_error(py, "max_workers must be greater than 0"));
        }
        // SAFETY: (three encodes) valid borrowed arguments of this interpreter.
        let sys_path = Some(encode(
            unsafe { Borrowed::from_ptr(py, item(1)) },
            EncodeMode::NativeOnly,
        )?);
        // SAFETY: comparing with None.
        let initializer = if item(2) == unsafe { Py_None() } {
            None
        } else {
            // SAFETY: valid borrowed arguments.
            let f = encode(unsafe { Borrowed::from_ptr(py, item(2)) }, EncodeMode::Full)?;
            // SAFETY: as above.
            let a = encode(unsafe { Borrowed::from_ptr(py, item(3)) }, EncodeMode::Full)?;
            Some((f, a))
        };
        // SAFETY: comparing with None.
        let max_tasks = if item(4) == unsafe { Py_None() } {
            None
        } else {
            // SAFETY: attached; an int argument.
            Some(unsafe { PyLong_AsUnsignedLongLong(item(4)) })
        };
        // SAFETY: attached.
        if unsafe { !PyErr_Occurred().is_null() } {
            return Err(PyErrSet);
        }
        let task_timeout = args::timeout(py, Some(item(5)))?;
        let config = PoolConfig {
            workers: workers as usize,
            sys_path,
            initializer,
            max_tasks_per_worker: max_tasks,
            task_timeout,
        };
        let pool = crate::ffi::tstate::detached(py, || Pool::start(config)).map_err(|m| {
            crate::handles::errors::raise(
                py,
                crate::handles::errors::Exc::Interpreter,
                &format!("could not start the pool: {m}"),
            )
        })?;
        // SAFETY: attached; `tp` is our heap type; GenericAlloc zero-fills and increfs it.
        let obj = unsafe { Owned::from_new(py, PyType_GenericAlloc(tp, 0))? };
        // SAFETY: a fresh PoolObject; we own its `pool` field.
        unsafe { (*obj.as_ptr().cast::<PoolObject>()).pool = Arc::into_raw(pool) };
        Ok(obj)
    })
}

unsafe extern "C" fn pool_dealloc(slf: *mut PyObject) {
    // SAFETY: CPython calls dealloc once, attached, when the refcount reaches zero.
    unsafe {
        let tp = Py_TYPE(slf);
        let p = std::mem::replace(&mut (*slf.cast::<PoolObject>()).pool, std::ptr::null());
        if !p.is_null() {
            let pool = Arc::from_raw(p);
            pool.shutdown(false); // workers finish what is queued, then stop
            pool.reap_in_background();
        }
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(slf.cast());
        Py_DECREF(tp.cast());
    }
}

fn refused(py: Attached<'_>, why: Refused) -> PyErrSet {
    match why {
        Refused::ShutDown => err::runtime_error(py, "cannot schedule new futures after shutdown"),
        Refused::Broken(text) => crate::handles::errors::raise(
            py,
            crate::handles::errors::Exc::BrokenPool,
            &format!("the pool is broken: {text}"),
        ),
    }
}

fn submit(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "submit", argv, 5, 5)?;
    main_ref::release_deferred(py);
    let (func, a, kw) = encode_call(py, argv[1], argv[2], argv[3])?;
    let timeout = args::timeout(py, Some(argv[4]))?;
    // SAFETY: PoolCore exists only in the main interpreter (checked in tp_new), which is
    // attached here; the future is a main-interpreter object.
    let fut = unsafe { MainRef::new(py, argv[0]) };
    let task = Task {
        payload: Payload::Call {
            func,
            args: a,
            kwargs: kw,
        },
        timeout,
        reply: Reply::Future(fut),
    };
    match pool.submit(task) {
        Ok(seq) => new_int(py, seq as i64),
        // The refused task was dropped with main attached: its future reference is released.
        Err(why) => Err(refused(py, why)),
    }
}

fn submit_chunk(
    py: Attached<'_>,
    slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "submit_chunk", argv, 3, 3)?;
    let (f, items) = (argv[0], argv[1]);
    if !args::is_instance(items, &raw mut PyList_Type) {
        return Err(err::type_error(
            py,
            "items must be a list of argument tuples",
        ));
    }
    // SAFETY: attached; a borrowed argument.
    if unsafe { PyCallable_Check(f) } == 0 {
        return Err(err::type_error(
            py,
            &format!("{} object is not callable", err::type_name(py, f)),
        ));
    }
    // SAFETY: valid borrowed argument.
    let func = encode(unsafe { Borrowed::from_ptr(py, f) }, EncodeMode::Full)?;
    // SAFETY: a list argument of this interpreter.
    // The list and its argument tuples do not count towards the nesting limit.
    let items = match crate::codec::encode_wrapper(
        unsafe { Borrowed::from_ptr(py, items) },
        EncodeMode::Full,
        2,
    )? {
        Value::List(items) => items,
        // The items share objects (a `Value::Graph`): each item is decoded on its own in
        // the worker, so each is encoded on its own (sharing is kept within an item).
        _ => encode_each(py, items)?,
    };
    let timeout = args::timeout(py, Some(argv[2]))?;
    let (done, result) = completion::<Outcome>();
    let task = Task {
        payload: Payload::Chunk { func, items },
        timeout,
        reply: Reply::Slot(done),
    };
    let seq = pool.submit(task).map_err(|why| refused(py, why))?;
    // SAFETY: attached; `slf`'s type was made by PyType_FromModuleAndSpec with our module.
    let module = unsafe { PyType_GetModule(Py_TYPE(slf)) };
    if module.is_null() {
        return Err(PyErrSet);
    }
    crate::interp::pending::new(py, module, pool.clone(), seq, result)
}

/// Encode every item of `list` separately.
fn encode_each(py: Attached<'_>, list: *mut PyObject) -> PyResult<Vec<Value>> {
    let mut out = Vec::new();
    let mut i = 0;
    // SAFETY: `list` is an exact list (checked by the caller); its size is re-read each
    // step (encoding may run user code that changes it).
    while i < unsafe { PyList_GET_SIZE(list) } {
        // SAFETY: attached; a new reference or NULL (IndexError).
        let item = unsafe { Owned::from_new(py, PyList_GetItemRef(list, i))? };
        out.push(crate::codec::encode_wrapper(
            item.borrow(py),
            EncodeMode::Full,
            1,
        )?);
        i += 1;
    }
    Ok(out)
}

fn cancel(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "cancel", argv, 1, 1)?;
    // SAFETY: attached; an int argument.
    let seq = unsafe { PyLong_AsUnsignedLongLong(argv[0]) };
    // SAFETY: attached.
    if unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    let running = crate::ffi::tstate::detached(py, || pool.cancel(seq, InterruptReason::Cancelled));
    Ok(boolean(py, running))
}

fn cancel_all(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "cancel_all", argv, 1, 1)?;
    // SAFETY: attached; any object's truth value.
    let interrupt = unsafe { PyObject_IsTrue(argv[0]) } > 0;
    crate::ffi::tstate::detached(py, || pool.cancel_all(interrupt));
    Ok(none(py))
}

fn shutdown(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "shutdown", argv, 1, 1)?;
    // SAFETY: attached; any object's truth value.
    let wait = unsafe { PyObject_IsTrue(argv[0]) } > 0;
    crate::ffi::tstate::detached(py, || pool.shutdown(false));
    if wait {
        let waited = wait_for_workers(py, pool);
        main_ref::release_deferred(py);
        waited?;
        pool.forget_if_joined();
    } else {
        pool.reap_in_background();
    }
    main_ref::release_deferred(py);
    Ok(none(py))
}

/// Wait until the pool's workers have ended (not those stuck in a C call: they leave when
/// it returns). In the main thread of the main interpreter the wait is cut into slices so
/// that Ctrl-C raises `KeyboardInterrupt` promptly (the workers go on; the caller decides
/// what to cancel).
fn wait_for_workers(py: Attached<'_>, pool: &Arc<Pool>) -> PyResult<()> {
    const SLICE: std::time::Duration = std::time::Duration::from_millis(20);
    if !crate::runtime::main_thread::is_current(py) {
        crate::ffi::tstate::detached(py, || pool.join_workers(None));
        return Ok(());
    }
    loop {
        let done = crate::ffi::tstate::detached(py, || {
            pool.join_workers(std::time::Instant::now().checked_add(SLICE))
        });
        if done {
            return Ok(());
        }
        // Completions delivered meanwhile may have dropped references to release.
        main_ref::release_deferred(py);
        // SAFETY: attached; runs the signal handlers (main thread of main).
        if unsafe { PyErr_CheckSignals() } < 0 {
            return Err(PyErrSet);
        }
    }
}

fn stats(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "stats", argv, 0, 0)?;
    let s = &pool.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as i64;
    let running = pool.running() as i64;
    let started = load(&s.started);
    let finished = load(&s.succeeded) + load(&s.failed);
    let rows = [
        (c"workers", pool.worker_count() as i64),
        (c"submitted", load(&s.submitted)),
        (c"done", load(&s.succeeded)),
        (c"failed", load(&s.failed)),
        (c"cancelled", load(&s.cancelled)),
        (c"running", running.max(started - finished).max(0)),
        (c"queued", pool.queued() as i64),
        (c"recycled", load(&s.recycled)),
        (c"replaced", load(&s.replaced)),
    ];
    // SAFETY: attached.
    let d = unsafe { Owned::from_new(py, PyDict_New())? };
    for (k, v) in rows {
        let v = new_int(py, v)?;
        // SAFETY: attached; NUL-terminated key; does not steal.
        if unsafe { PyDict_SetItemString(d.as_ptr(), k.as_ptr(), v.as_ptr()) } < 0 {
            return Err(PyErrSet);
        }
    }
    Ok(d)
}

fn broken(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "broken", argv, 0, 0)?;
    match pool.broken() {
        Some(t) => new_str(py, &t),
        None => Ok(none(py)),
    }
}

fn is_running(
    py: Attached<'_>,
    _slf: *mut PyObject,
    pool: &Arc<Pool>,
    argv: &[*mut PyObject],
) -> PyResult<Owned> {
    args::positional(py, "is_running", argv, 1, 1)?;
    // SAFETY: attached; an int argument.
    let seq = unsafe { PyLong_AsUnsignedLongLong(argv[0]) };
    // SAFETY: attached.
    if unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    Ok(boolean(py, pool.is_running(seq)))
}
