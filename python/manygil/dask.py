"""Dask distributed workers that run their tasks in manygil's own-GIL interpreters.

Register :class:`PoolPlugin` with a client, or preload this module in workers started from the
command line::

    client.register_plugin(manygil.dask.PoolPlugin())          # executor "manygil"
    with dask.annotate(executor="manygil"):
        futures = client.map(cpu_bound, items)

    dask worker tcp://host:8786 --nthreads 4 --preload manygil.dask --manygil-default

Each worker gets a ``manygil.Pool`` with one interpreter per worker thread (``nthreads``) and
a :class:`PoolExecutor` that the worker uses like its thread pool. The worker itself (its
event loop, state machine, data, comms) stays in the main interpreter; only each task's
function and arguments cross into an interpreter, and the result crosses back. Tasks run
truly in parallel, in one process, at a thread worker's memory cost.

For Dask's local scheduler no plugin is needed: pass a pool, ``dask.compute(...,
scheduler=pool)`` or ``dask.config.set(scheduler=pool)``.

What a task may use: anything that imports in an own-GIL interpreter (pure Python, most of
the standard library, dask itself); not numpy or other extensions that do not support
sub-interpreters (the task fails with an ImportError that says so), and not ``distributed``
(no ``get_worker()``, ``worker_client()`` or secede from inside such a task). Coroutine tasks
stay on the worker's event loop as usual.

Importing this module imports ``distributed``; ``import manygil`` never does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time
import weakref

import click
import cloudpickle
from distributed import WorkerPlugin
from distributed.core import error_message
from distributed.sizeof import safe_sizeof
from distributed.worker import _run_task_simple

from ._errors import NotShareableError
from ._pool.calls import (
    by_value,
    call_node_timed_pickled,
    call_timed,
    call_timed_pickled,
    value_copy,
)
from ._wire.refusal import UNRESOLVED_ATTR, refused_extension
from ._wire.remote import RemoteTraceback
from .pool import Pool, _check_timeout

__all__ = ["PoolPlugin", "PoolExecutor", "dask_setup", "TASK_TIMEOUT_ANNOTATION"]

#: ``dask.annotate(task_timeout=seconds)``: interrupt a task running longer in its interpreter
#: (it fails with ``TimeoutError``); overrides the plugin's ``task_timeout``.
TASK_TIMEOUT_ANNOTATION = "task_timeout"

_RESERVED_NAMES = ("default", "offload", "actor")


class _TaskFuture(cf.Future):
    """The future a worker awaits; cancelling it interrupts the task in its interpreter."""

    _inner: cf.Future | None = None

    def cancel(self) -> bool:
        """Cancel this future if it has not started (as ``Future.cancel``), and the pool
        task behind it too; return whether it was cancelled. Never blocks."""
        if not super().cancel():
            return False
        inner = self._inner
        if inner is not None:
            inner.cancel()
        return True


class PoolExecutor(cf.Executor):
    """The executor :class:`PoolPlugin` installs on a Dask worker.

    A worker hands every task to an executor that is not a thread pool as
    ``submit(distributed.worker._run_task_simple, task, data, delay)``. This executor never
    runs that function: it unpacks the task, sends only the user's function and its
    arguments to the pool (a task that nests other tasks travels whole and runs with the
    interpreter's own ``dask``), and builds the worker's result message (timings, size,
    exception and traceback) back in the main interpreter. Anything else the worker submits
    (its own housekeeping) runs in a helper thread of the main interpreter.

    Args:
        pool: the pool that runs the tasks (shut down with this executor).
        worker: the worker, to read a task's ``task_timeout`` annotation (optional).
        fallback: ``"threads"`` (what :class:`PoolPlugin` passes by default): a task whose
            function cannot be loaded in an own-GIL interpreter (it needs numpy, Pillow...:
            an extension that refuses them) runs in a thread of this worker's process
            instead, as it would without the plugin; so do that function's later tasks.
            ``None``: such a task fails with the ImportError.
    """

    def __init__(self, pool: Pool, worker=None, *, fallback: str | None = None):
        if not isinstance(pool, Pool):
            raise TypeError(f"pool must be a manygil.Pool, not {type(pool).__name__}")
        if fallback not in (None, "threads"):
            raise ValueError(f'fallback must be None or "threads", got {fallback!r}')
        self.pool = pool
        self.fallback = fallback
        self._max_workers = pool.max_workers
        self._worker = worker
        self._lock = threading.Lock()
        self._inner: set = set()  # pool futures of the tasks not finished yet
        self._helper: cf.ThreadPoolExecutor | None = None
        self._threads: cf.ThreadPoolExecutor | None = None  # the fallback's, made on need
        self._refused: dict = {}  # functions refused by interpreters -> the extension
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Run a worker's task in the pool, or any other callable in a helper thread.

        Raises RuntimeError after shutdown. A task whose function or arguments cannot be sent
        to an interpreter fails (as a task) with ``NotShareableError``.
        """
        if self._shutdown:
            raise RuntimeError("cannot schedule new tasks after shutdown")
        if fn is _run_task_simple:
            return self._submit_task(*args, **kwargs)
        with self._lock:
            if self._helper is None:
                self._helper = cf.ThreadPoolExecutor(1, thread_name_prefix="manygil-dask")
            helper = self._helper
        return helper.submit(fn, *args, **kwargs)

    def _submit_task(self, task, data, time_delay=0.0) -> cf.Future:
        outer = _TaskFuture()
        submitted = time.time()
        try:
            call = _task_call(task, data)
            if call is None:  # a data node or an alias: no user code, evaluate here
                result = task(data)
                outer.set_result(_finished(result, submitted, time.time(), time_delay))
                return outer
            fn, args = call
            timeout = self._timeout_for(task)
            if self.fallback is not None and _fallback_key(args) in self._refused:
                return self._in_thread(outer, fn, args, submitted, time_delay)
            try:
                inner = self.pool.apply(fn, args, timeout=timeout)
            except NotShareableError as e:
                # An argument manygil cannot send (a lambda handed to a dask function...):
                # send the whole task with cloudpickle, as Dask itself does.
                try:
                    whole = (cloudpickle.dumps(task), _values_for(task, data))
                except Exception:
                    raise e from None
                inner = self.pool.apply(call_node_timed_pickled, whole, timeout=timeout)
        except BaseException as e:  # NotShareableError, KeyError...: the task fails
            outer.set_result(_erred(e, submitted, time_delay))
            return outer
        with self._lock:
            self._inner.add(inner)
        outer._inner = inner
        if outer.cancelled():
            inner.cancel()
        inner.add_done_callback(lambda f: self._deliver(outer, f, submitted, time_delay, fn, args))
        return outer

    def _in_thread(self, outer, fn, args, submitted, time_delay):
        """Run ``fn(*args)`` in a thread of this process (the fallback); completes
        ``outer`` like a pool task."""
        with self._lock:
            if self._threads is None:
                self._threads = cf.ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix="manygil-dask-fallback"
                )
            threads = self._threads
        inner = threads.submit(fn, *args)  # fn: a call_timed* wrapper, as for the pool
        inner.add_done_callback(lambda f: self._deliver(outer, f, submitted, time_delay))
        return outer

    def _rerouted(self, outer, inner, submitted, time_delay, fn, args) -> bool:
        """If ``inner`` failed because ``fn`` cannot be loaded in an interpreter (before it
        ran), run it in a thread instead (True)."""
        if self.fallback is None or fn is None or not inner.done() or inner.cancelled():
            return False
        exc = inner.exception()
        if exc is None or not getattr(exc, UNRESOLVED_ATTR, False):
            return False
        extension = refused_extension(exc)
        if extension is None:
            return False
        with self._lock:
            if self._shutdown:
                return False
            self._refused.setdefault(_fallback_key(args), extension)
        self._in_thread(outer, fn, args, submitted, time_delay)
        return True

    def _timeout_for(self, task) -> float | None:
        worker = self._worker
        if worker is None:
            return None
        ts = worker.state.tasks.get(getattr(task, "key", None))
        if ts is None or not ts.annotations:
            return None
        value = ts.annotations.get(TASK_TIMEOUT_ANNOTATION)
        return _check_timeout(f"annotation {TASK_TIMEOUT_ANNOTATION!r}", value)

    def _deliver(
        self, outer: _TaskFuture, inner: cf.Future, submitted, time_delay, fn=None, args=()
    ) -> None:
        with self._lock:
            self._inner.discard(inner)
        if outer.done():
            return
        if self._rerouted(outer, inner, submitted, time_delay, fn, args):
            return
        try:
            try:
                result, start, stop, _ = inner.result()
            except BaseException as e:
                msg = _erred(e, submitted, time_delay)
            else:
                msg = _finished(result, start, stop, time_delay)
        except BaseException as e:  # building the message failed (sizeof...): fail the task
            msg = _erred(e, submitted, time_delay)
        try:
            outer.set_result(msg)
        except cf.InvalidStateError:
            pass  # cancelled meanwhile

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = True) -> None:
        """Stop the pool. The worker calls this when it closes: queued tasks are cancelled
        and running ones interrupted (their futures fail with ``CancelledError``) unless
        ``cancel_futures=False``; with ``wait``, block until every interpreter has ended."""
        with self._lock:
            self._shutdown = True
            inner = list(self._inner) if cancel_futures else []
            helper, self._helper = self._helper, None
            threads, self._threads = self._threads, None
        for f in inner:
            f.cancel()
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        for ex in (helper, threads):
            if ex is not None:
                ex.shutdown(wait=wait, cancel_futures=cancel_futures)


def _fallback_key(args):
    """What identifies a task's function: the first argument of its call_timed* wrapper
    (the function, or its by-value pickle), keyed as the process fallback keys functions."""
    from ._pool.fallback import _key

    return _key(args[0])


def _finished(result, start, stop, time_delay) -> dict:
    return {
        "op": "task-finished",
        "status": "OK",
        "result": result,
        "nbytes": safe_sizeof(result),
        "type": type(result) if result is not None else None,
        "start": start + time_delay,
        "stop": stop + time_delay,
        "thread": threading.get_ident(),
    }


def _erred(exc: BaseException, start, time_delay) -> dict:
    # error_message reads the exception from sys.exc_info(). The traceback that matters is
    # the interpreter's, carried as the exception's __cause__ (a RemoteTraceback); the
    # frames of this process (pool, futures) would only be noise.
    try:
        raise exc
    except BaseException as e:
        e.__traceback__ = None
        msg = error_message(e)
    cause = exc.__cause__
    if isinstance(cause, RemoteTraceback):
        msg["traceback_text"] = cause.tb
    msg["op"] = "task-erred"
    msg["actual_exception"] = exc
    msg["start"] = start + time_delay
    msg["stop"] = time.time() + time_delay
    msg["thread"] = threading.get_ident()
    return msg


_NESTED = object()

# Functions pickled by value, by function object: id -> (weak reference, blob). An entry
# goes when its function dies, so the cache never keeps a function (and the globals it
# carries) alive. On a distributed worker every task arrives with a function object of its
# own (each task is unpickled separately), so there it rarely hits; it does when tasks share
# one function object (an in-process cluster, a graph built on the worker).
_by_value_blobs: dict = {}


def _dumps_by_value(func) -> bytes:
    key = id(func)
    entry = _by_value_blobs.get(key)
    if entry is not None and entry[0]() is func:
        return entry[1]
    blob = cloudpickle.dumps(value_copy(func))
    try:
        ref = weakref.ref(func, lambda r, key=key: _forget_blob(key, r))
    except TypeError:  # no weak references to this callable: no caching
        return blob
    _by_value_blobs[key] = (ref, blob)
    return blob


def _forget_blob(key: int, ref) -> None:
    entry = _by_value_blobs.get(key)
    if entry is not None and entry[0] is ref:
        del _by_value_blobs[key]


def _task_call(task, data: dict):
    """What to send to the pool for a Dask graph node: ``(call_timed, (func, args, kwargs))``
    for a plain task (the function by value when the client sent it so), the node pickled
    whole with ``values`` for one that nests other tasks, ``None`` for a data node or an
    alias (no user code to run)."""
    from dask._task_spec import Alias, DataNode, GraphNode, Task, TaskRef

    def plain(a):
        if isinstance(a, TaskRef):
            return data[a.key]
        if isinstance(a, (DataNode, Alias)):
            return a({k: data[k] for k in a.dependencies})
        if isinstance(a, GraphNode):
            return _NESTED
        return a

    if type(task) is Task:
        args = tuple(plain(a) for a in task.args)
        kwargs = {k: plain(v) for k, v in task.kwargs.items()}
        if not any(v is _NESTED for v in args) and not any(v is _NESTED for v in kwargs.values()):
            if by_value(task.func, ("distributed",)):
                # Sent by value by the client (its script, a notebook, a closure: the
                # worker's own main script is not where it lives), or from a module that
                # imports distributed (which does not import in an interpreter).
                return call_timed_pickled, (_dumps_by_value(task.func), args, kwargs)
            return call_timed, (task.func, args, kwargs)
    elif isinstance(task, (DataNode, Alias)):
        return None
    # A node nesting other tasks may hold functions of any kind: cloudpickle it whole.
    return call_node_timed_pickled, (cloudpickle.dumps(task), _values_for(task, data))


def _values_for(task, data: dict) -> dict:
    return {k: data[k] for k in getattr(task, "dependencies", ())}


class PoolPlugin(WorkerPlugin):
    """A worker plugin that gives each Dask worker a ``manygil.Pool`` executor.

    Args:
        max_workers: interpreters per worker; default and cap: the worker's ``nthreads``
            (the worker never runs more tasks at once than that).
        default: also make it the worker's default executor, so every task runs in an
            interpreter without annotations (the worker's thread pool is restored when the
            plugin is removed).
        name: the executor's name, for ``dask.annotate(executor=name)``.
        task_timeout: interrupt tasks running longer than this many seconds (they fail with
            ``TimeoutError``); the annotation ``task_timeout`` overrides it per task.
        fallback: ``"threads"`` (default): a task whose function needs an extension module
            that refuses own-GIL interpreters (numpy, Pillow, pandas...) runs in the worker's
            own threads, as without the plugin; ``None``: it fails with the ImportError.

    Register it with ``client.register_plugin(PoolPlugin(...))``: workers that join later
    get it too, and a restarted worker sets it up again. The pool is shut down (running
    tasks interrupted) when the worker closes or the plugin is removed. Raises ValueError or
    TypeError for bad arguments; a worker on which the pool cannot start reports the error
    to ``register_plugin``.
    """

    idempotent = False

    def __init__(
        self,
        max_workers: int | None = None,
        default: bool = False,
        name: str = "manygil",
        *,
        task_timeout: float | None = None,
        fallback: str | None = "threads",
    ):
        if fallback not in (None, "threads"):
            raise ValueError(f'fallback must be None or "threads", got {fallback!r}')
        if max_workers is not None:
            if isinstance(max_workers, bool) or not isinstance(max_workers, int):
                raise TypeError(
                    f"max_workers must be an int or None, not {type(max_workers).__name__}"
                )
            if max_workers <= 0:
                raise ValueError("max_workers must be greater than 0")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if name in _RESERVED_NAMES:
            raise ValueError(
                f"name {name!r} is one of the worker's own executors {_RESERVED_NAMES}; "
                "pass default=True to run every task in the pool"
            )
        self.max_workers = max_workers
        self.default = bool(default)
        self.executor_name = name
        self.task_timeout = _check_timeout("task_timeout", task_timeout)
        self.fallback = fallback
        # The plugin's registration name: registering another PoolPlugin for the same
        # executor name replaces this one.
        self.name = f"manygil-pool-{name}"

    def setup(self, worker) -> None:
        """Start the pool on ``worker`` and install its executor."""
        nthreads = worker.state.nthreads
        size = nthreads if self.max_workers is None else min(self.max_workers, nthreads)
        executor = PoolExecutor(
            Pool(size, task_timeout=self.task_timeout), worker=worker, fallback=self.fallback
        )
        worker.executors[self.executor_name] = executor
        if self.default:
            worker._manygil_previous_default = worker.executors.get("default")
            worker.executors["default"] = executor

    async def teardown(self, worker) -> None:
        """Uninstall the executor (restoring the worker's default) and stop its pool."""
        executor = worker.executors.get(self.executor_name)
        if not isinstance(executor, PoolExecutor):
            return
        del worker.executors[self.executor_name]
        if worker.executors.get("default") is executor:
            previous = getattr(worker, "_manygil_previous_default", None)
            if previous is not None:
                worker.executors["default"] = previous
            else:
                del worker.executors["default"]
        await asyncio.to_thread(executor.shutdown, wait=True)


@click.command(name="manygil")
@click.option(
    "--manygil-max-workers",
    type=int,
    default=None,
    help="Interpreters per worker (default and cap: --nthreads).",
)
@click.option(
    "--manygil-default",
    is_flag=True,
    default=False,
    help="Run every task in the interpreters (make it the default executor).",
)
@click.option(
    "--manygil-name",
    default="manygil",
    show_default=True,
    help="Executor name for dask.annotate(executor=...).",
)
@click.option(
    "--manygil-task-timeout",
    type=float,
    default=None,
    help="Interrupt tasks running longer than this many seconds.",
)
async def dask_setup(
    worker, manygil_max_workers, manygil_default, manygil_name, manygil_task_timeout
):
    """``dask worker ... --preload manygil.dask [--manygil-default] ...``: install
    :class:`PoolPlugin` on a worker started from the command line."""
    from distributed import Worker

    if not isinstance(worker, Worker):
        raise TypeError(
            f"--preload manygil.dask is for workers (dask worker ... --preload manygil.dask), "
            f"not {type(worker).__name__}"
        )
    plugin = PoolPlugin(
        manygil_max_workers,
        default=manygil_default,
        name=manygil_name,
        task_timeout=manygil_task_timeout,
    )
    await worker.plugin_add(plugin=plugin, catch_errors=False)
