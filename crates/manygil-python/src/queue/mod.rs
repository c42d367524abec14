//! `manygil.Queue`: a handle on a [`Queue<Value>`] of the core, shared by every
//! interpreter. Items are encoded when put (so an unshareable item raises before the queue
//! changes) and decoded into the getting interpreter.

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use manygil_core::queue::{wait_any, Callback, GetError, PutError, Queue, SubscriptionId};
use manygil_core::Value;

use crate::codec::{decode, encode, EncodeMode};
use crate::ffi::err::{self, PyErrSet, PyResult};
use crate::ffi::raw::{PyExc_OSError, PyObject, Py_tp_iter, Py_tp_iternext};
use crate::ffi::{boolean, new_int, none, Attached, Borrowed, Owned};

use crate::ffi::args::{self, Call};
use crate::ffi::entry::guard;
use crate::handles::blocking::block_on;
use crate::handles::errors::{self, Exc};
use crate::handles::handle_type;
use crate::runtime::py_names::{PyName, QUEUE_AGET, QUEUE_APUT};

handle_type! {
    name: c"manygil.Queue",
    state: Handle::Queue(Arc<Queue<Value>>),
    new: queue_new,
    of: queue_of,
    doc: c"Queue(maxsize=0)
--

A FIFO queue shared by every interpreter and thread of the process (multi-producer,
multi-consumer).

maxsize > 0 bounds the number of items (put blocks while full); 0 means unbounded; a
negative maxsize raises ValueError. Items are copied through manygil's codec as they are
put (unshareable ones raise NotShareableError and leave the queue unchanged) and rebuilt
in the interpreter that gets them; manygil handles (queues, buffers, locks, ...) travel
as themselves. Passing the queue to another interpreter (call argument, prepare_main, or
another queue) gives that interpreter the same queue.

Blocking calls release the GIL and wake as soon as the queue changes; Ctrl-C in the main
thread interrupts them. close() ends the queue: later puts raise QueueClosed, gets drain
what is left and then raise QueueClosed, and iteration stops.",
    methods: [
        call c"put" => c_put(put), c"put($self, obj, block=True, timeout=None)\n--\n\nPut obj at the end of the queue.\n\nIf the queue is full, block (with the GIL released) until there is room, for at most\ntimeout seconds (None: forever); raise QueueFull if it is still full then, or at once\nif block is false. Raise QueueClosed if the queue is (or becomes) closed, and\nNotShareableError if obj cannot be shared; the queue is unchanged in every case.";
        call c"put_nowait" => c_put_nowait(put_nowait), c"put_nowait($self, obj, /)\n--\n\nPut obj without blocking: put(obj, block=False).";
        call c"get" => c_get(get), c"get($self, block=True, timeout=None)\n--\n\nRemove and return the oldest item.\n\nIf the queue is empty, block (with the GIL released) until an item arrives, for at most\ntimeout seconds (None: forever); raise QueueEmpty if none came, or at once if block is\nfalse. Once the queue is closed, the remaining items are still returned, then\nQueueClosed is raised.";
        noargs c"get_nowait" => c_get_nowait(get_nowait), c"get_nowait($self, /)\n--\n\nRemove and return the oldest item without blocking: get(block=False).";
        noargs c"qsize" => c_qsize(qsize), c"qsize($self, /)\n--\n\nThe number of items (a snapshot: other threads may change it at once).";
        noargs c"empty" => c_empty(empty), c"empty($self, /)\n--\n\nWhether the queue holds no item (a snapshot).";
        noargs c"full" => c_full(full), c"full($self, /)\n--\n\nWhether the queue is bounded and holds maxsize items (a snapshot).";
        noargs c"close" => c_close(close), c"close($self, /)\n--\n\nClose the queue in every interpreter; idempotent.\n\nWaiting putters raise QueueClosed; waiting getters get the remaining items, then\nQueueClosed.";
        noargs c"aget" => c_aget(aget), c"aget($self, /)\n--\n\nasync: remove and return the oldest item.\n\nAwait it inside a running asyncio loop: the loop is never blocked (it is woken through\nan eventfd when the queue changes). Raises QueueClosed as get() does; cancelling the\nawait takes nothing from the queue.";
        call c"aput" => c_aput(aput), c"aput($self, obj, /)\n--\n\nasync: put obj, waiting for room without blocking the event loop.\n\nRaises QueueClosed and NotShareableError as put() does; cancelling the await puts\nnothing.";
        call c"_subscribe" => c_subscribe(subscribe), c"_subscribe($self, fd, space, /)\n--\n\nWrite 8 bytes (an eventfd increment) to a duplicate of fd after every put and at close\n(space=False), or after every get and at close (space=True); returns an id for\n_unsubscribe. The duplicate is closed once unsubscribed.";
        call c"_unsubscribe" => c_unsubscribe(unsubscribe), c"_unsubscribe($self, id, /)\n--\n\nUndo _subscribe; returns whether the subscription existed.";
        call_static c"_wait_any" => c_wait_any(wait_any_fn), c"_wait_any(queues, timeout=None, /)\n--\n\nIndex of the first queue that has an item or is closed, or None at the timeout.";
    ],
    getters: [
        get c"maxsize" => g_maxsize(maxsize), c"The capacity given at creation (0: unbounded).";
        get c"closed" => g_closed(closed), c"Whether close() was called (in any interpreter).";
        get c"_getters_waiting" => g_getters_waiting(getters_waiting), c"Threads blocked in get() now, in every interpreter (a snapshot, for tests).";
        get c"_putters_waiting" => g_putters_waiting(putters_waiting), c"Threads blocked in put() now, in every interpreter (a snapshot, for tests).";
        get c"_n_subscribed" => g_n_subscribed(n_subscribed), c"Readiness subscriptions for items (aget, wait_any) now (a snapshot, for tests).";
    ],
    slots: [Py_tp_iter => queue_iter, Py_tp_iternext => queue_next],
}

fn queue_new(py: Attached<'_>, call: &Call<'_, '_>) -> PyResult<Arc<Queue<Value>>> {
    let [maxsize] = call.bind(py, "Queue", [c"maxsize"], 0)?;
    let maxsize = match maxsize {
        Some(m) => args::count(py, "maxsize", m)?,
        None => 0,
    };
    Ok(Arc::new(Queue::new(maxsize)))
}

fn raise_queue(py: Attached<'_>, exc: Exc, msg: &str) -> PyErrSet {
    errors::raise(py, exc, msg)
}

fn closed_error(py: Attached<'_>) -> PyErrSet {
    raise_queue(py, Exc::QueueClosed, "the queue is closed")
}

/// `block`/`timeout` as one wait bound: `Some(ZERO)` for a non-blocking call.
fn wait_bound(
    py: Attached<'_>,
    block: Option<Borrowed<'_, '_>>,
    timeout: Option<Borrowed<'_, '_>>,
) -> PyResult<Option<Duration>> {
    if !args::truth(block, true)? {
        return Ok(Some(Duration::ZERO));
    }
    args::timeout(py, timeout)
}

fn put<'py>(py: Attached<'py>, q: &Queue<Value>, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [obj, block, timeout] = call.bind(py, "put", [c"obj", c"block", c"timeout"], 1)?;
    let wait = wait_bound(py, block, timeout)?;
    put_item(py, q, obj.ok_or(PyErrSet)?, wait)
}

fn put_nowait<'py>(
    py: Attached<'py>,
    q: &Queue<Value>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [obj] = call.bind(py, "put_nowait", [c"obj"], 1)?;
    put_item(py, q, obj.ok_or(PyErrSet)?, Some(Duration::ZERO))
}

fn put_item<'py>(
    py: Attached<'py>,
    q: &Queue<Value>,
    obj: Borrowed<'_, 'py>,
    wait: Option<Duration>,
) -> PyResult<Owned<'py>> {
    let item = encode(obj, EncodeMode::Full)?;
    let item = match q.try_put(item) {
        Ok(()) => return Ok(none(py)),
        Err(PutError::Closed(_)) => return Err(closed_error(py)),
        Err(PutError::Full(item)) => item,
    };
    if wait == Some(Duration::ZERO) {
        return Err(raise_queue(py, Exc::QueueFull, "the queue is full"));
    }
    let mut slot = Some(item);
    let done = block_on(py, wait, true, |w| {
        let item = slot.take()?;
        match q.put(item, w) {
            Ok(()) => Some(true),
            Err(PutError::Closed(_)) => Some(false),
            Err(PutError::Full(item)) => {
                slot = Some(item);
                None
            }
        }
    })?;
    match done {
        Some(true) => Ok(none(py)),
        Some(false) => Err(closed_error(py)),
        None => Err(raise_queue(py, Exc::QueueFull, "the queue is full")),
    }
}

fn get<'py>(py: Attached<'py>, q: &Queue<Value>, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [block, timeout] = call.bind(py, "get", [c"block", c"timeout"], 0)?;
    let wait = wait_bound(py, block, timeout)?;
    get_item(py, q, wait)
}

fn get_nowait<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    get_item(py, q, Some(Duration::ZERO))
}

/// Take one item, waiting at most `wait`, as a Rust result (no exception set for
/// `Empty`/`Closed`).
fn take(
    py: Attached<'_>,
    q: &Queue<Value>,
    wait: Option<Duration>,
) -> PyResult<Result<Value, GetError>> {
    match q.try_get() {
        Err(GetError::Empty) if wait != Some(Duration::ZERO) => {}
        other => return Ok(other),
    }
    let got = block_on(py, wait, true, |w| match q.get(w) {
        Err(GetError::Empty) => None,
        other => Some(other),
    })?;
    Ok(got.unwrap_or(Err(GetError::Empty)))
}

fn get_item<'py>(
    py: Attached<'py>,
    q: &Queue<Value>,
    wait: Option<Duration>,
) -> PyResult<Owned<'py>> {
    match take(py, q, wait)? {
        Ok(v) => decode(py, &v),
        Err(GetError::Empty) => Err(raise_queue(py, Exc::QueueEmpty, "the queue is empty")),
        Err(GetError::Closed) => Err(closed_error(py)),
    }
}

fn qsize<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    new_int(py, q.len() as i64)
}

fn empty<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    Ok(boolean(py, q.is_empty()))
}

fn full<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    Ok(boolean(py, q.is_full()))
}

fn close<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    // Closing wakes subscribers, which only write to file descriptors: no GIL needed, but
    // nothing is gained by releasing it for so short a call.
    q.close();
    Ok(none(py))
}

fn maxsize<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    new_int(py, q.maxsize() as i64)
}

fn closed<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    Ok(boolean(py, q.is_closed()))
}

fn getters_waiting<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    new_int(py, q.getters_waiting() as i64)
}

fn putters_waiting<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    new_int(py, q.putters_waiting() as i64)
}

fn n_subscribed<'py>(py: Attached<'py>, q: &Queue<Value>) -> PyResult<Owned<'py>> {
    new_int(py, q.n_subscribed() as i64)
}

/// Call `helper(self, *rest)`, a function of `manygil._queue` (the asyncio side lives in
/// Python).
fn delegate<'py>(
    py: Attached<'py>,
    helper: PyName,
    slf: Borrowed<'_, 'py>,
    rest: &[Borrowed<'_, 'py>],
) -> PyResult<Owned<'py>> {
    let f = helper.get(py)?;
    let args: Vec<Borrowed<'_, '_>> = std::iter::once(slf).chain(rest.iter().copied()).collect();
    f.borrow().call(&args)
}

fn aget<'py>(py: Attached<'py>, slf: Borrowed<'_, 'py>) -> PyResult<Owned<'py>> {
    queue_of(py, slf)?;
    delegate(py, QUEUE_AGET, slf, &[])
}

fn aput<'py>(
    py: Attached<'py>,
    slf: Borrowed<'_, 'py>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [obj] = call.bind(py, "aput", [c"obj"], 1)?;
    queue_of(py, slf)?;
    delegate(py, QUEUE_APUT, slf, &[obj.ok_or(PyErrSet)?])
}

fn subscribe<'py>(
    py: Attached<'py>,
    q: &Queue<Value>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [fd, space] = call.bind(py, "_subscribe", [c"fd", c"space"], 2)?;
    let fd = args::int(py, "fd", fd.ok_or(PyErrSet)?)?;
    let space = args::truth(space, false)?;
    let fd = i32::try_from(fd)
        .ok()
        .filter(|&f| f >= 0)
        .ok_or_else(|| err::value_error(py, &format!("invalid file descriptor {fd}")))?;
    // SAFETY: `fd` is not -1; it is only duplicated (F_DUPFD_CLOEXEC), which fails cleanly
    // with EBADF if it is not open.
    let dup = unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .map_err(|e| {
            // SAFETY: builtin exception class.
            unsafe { err::raise(py, PyExc_OSError, &format!("cannot use fd {fd}: {e}")) }
        })?;
    let file = std::fs::File::from(dup);
    // The callback owns its duplicate, so it can never write to a descriptor number that
    // was closed and reused by the Python side; it is closed when the subscription goes.
    let callback: Callback = Arc::new(move || {
        let _ = (&file).write(&1u64.to_ne_bytes());
    });
    let id = if space {
        q.subscribe_space(callback)
    } else {
        q.subscribe(callback)
    };
    new_int(py, id.as_u64() as i64)
}

fn unsubscribe<'py>(
    py: Attached<'py>,
    q: &Queue<Value>,
    call: &Call<'_, 'py>,
) -> PyResult<Owned<'py>> {
    let [id] = call.bind(py, "_unsubscribe", [c"id"], 1)?;
    let id = args::int(py, "id", id.ok_or(PyErrSet)?)?;
    Ok(boolean(
        py,
        q.unsubscribe(SubscriptionId::from_u64(id as u64)),
    ))
}

fn wait_any_fn<'py>(py: Attached<'py>, call: &Call<'_, 'py>) -> PyResult<Owned<'py>> {
    let [queues, timeout] = call.bind(py, "wait_any", [c"queues", c"timeout"], 1)?;
    let queues = queues.ok_or(PyErrSet)?;
    let timeout = args::timeout(py, timeout)?;
    let seq = queues.to_sequence(c"queues must be an iterable of manygil.Queue")?;
    // SAFETY: a list or tuple we own; `queue_of` runs no Python code.
    let items = unsafe { seq.borrow().sequence_items() };
    let mut held: Vec<Arc<Queue<Value>>> = Vec::with_capacity(items.len());
    for &item in items {
        held.push(queue_of(py, item)?.clone());
    }
    if held.is_empty() {
        return Err(err::value_error(py, "wait_any() needs at least one queue"));
    }
    let refs: Vec<&Queue<Value>> = held.iter().map(|q| &**q).collect();
    let found = match wait_any(&refs, Some(Duration::ZERO)) {
        Some(i) => Some(i),
        None if timeout == Some(Duration::ZERO) => None,
        None => block_on(py, timeout, false, |w| wait_any(&refs, w))?,
    };
    match found {
        Some(i) => new_int(py, i as i64),
        None => Ok(none(py)),
    }
}

unsafe extern "C" fn queue_iter(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: `slf` is a live Queue; iter(q) returns q itself.
    guard(|py| Ok(unsafe { Owned::from_borrowed(py, slf) }))
}

unsafe extern "C" fn queue_next(slf: *mut PyObject) -> *mut PyObject {
    guard(|py| {
        // SAFETY: the Queue CPython iterates, alive for the call.
        let q = queue_of(py, unsafe { Borrowed::from_ptr(py, slf) })?;
        match take(py, q, None)? {
            Ok(v) => decode(py, &v),
            // NULL with no exception set: the iteration is over.
            Err(_) => Err(PyErrSet),
        }
    })
}
