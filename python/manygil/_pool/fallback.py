"""``Pool(fallback="process")``: run in process workers the tasks whose function cannot be
loaded in an own-GIL interpreter because a module it needs is a non-isolated extension
(numpy, Pillow, any PyO3 module, ...).

Only a failure raised *before the callable ran* (while the worker imported the function's
module or decoded its arguments: the worker tags it ``_manygil_unresolved``) and caused by
such a refusal is retried in a process, so nothing the task did is done twice. A task that
fails later (say, it imports numpy inside its body) is reported as it failed. Once a
function has been refused, its later tasks go straight to the processes.

The process workers (``manygil._pool.procworkers``), as many as the pool's ``max_workers``,
start as tasks arrive with the ``forkserver`` start method (``spawn`` where unavailable):
``fork`` is refused while manygil interpreters live. A process that dies (``kill -9``,
``os._exit``, a segfault) fails only the task it ran, naming the signal or exit code, and is
replaced; a task past its timeout, or cancelled while running, that does not stop within a
grace period has its process killed and replaced. Their tasks count in ``Pool.stats()``.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import threading
import time
import warnings

from .._errors import FallbackWarning
from .._wire.refusal import UNRESOLVED_ATTR, refused_extension, top_level
from . import process as _process
from . import procworkers as _procworkers

#: Functions remembered as loading fine in interpreters (oldest forgotten first).
_MAX_KNOWN = 1024


def _key(fn):
    try:
        hash(fn)
    except TypeError:
        return ("id", id(fn))
    return fn


def _describe(fn) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{name}" if module else name


class ProcessFallback:
    """The process side of one ``Pool(fallback="process")``. Thread-safe."""

    def __init__(
        self, max_workers, initializer, initargs, max_tasks_per_worker, task_timeout, config=None
    ):
        self._max_workers = max_workers
        # The pool's InterpreterConfig: functions are probed in an interpreter like its
        # workers (None: the default).
        self._config_values = None if config is None else config._values()
        self._initializer = initializer
        self._initargs = initargs
        self._max_tasks = max_tasks_per_worker
        self._task_timeout = task_timeout
        self._lock = threading.Lock()
        # Guarded by _lock: the process workers (None until first needed), whether
        # shutdown was asked, the functions sent to processes (-> the refusing extension),
        # the top-level modules already warned about, and the tasks sent.
        self._executor = None
        self._closed = False
        self._bound: dict = {}
        self._good: dict = {}
        self._warned: set[str] = set()
        self._count = 0
        # The interpreter where new functions are resolved (created on first need).
        self._probe_lock = threading.Lock()
        self._probe_id = None

    # --- routing -------------------------------------------------------------------------

    def route(self, future, fn, args, kwargs, timeout) -> bool:
        """``Pool.submit``'s hook: remember the task on ``future`` (to reroute it if it
        fails to start in an interpreter), and start it in a process if ``fn`` is known to
        need one (True)."""
        future._fallback = self
        future._task = (fn, args, kwargs, timeout)
        # warnings' stack: bind, classify, route, Pool._submit, Pool.submit, the caller.
        if self.classify(fn, stacklevel=6) is None:
            return False
        self.start(future, fn, args, kwargs, timeout)
        return True

    def is_bound(self, fn) -> bool:
        """Whether ``fn``'s tasks go to the processes (known already, no probe)."""
        return _key(fn) in self._bound

    def classify(self, fn, stacklevel: int = 3) -> str | None:
        """The extension that keeps ``fn`` out of own-GIL interpreters (its tasks go to the
        processes), or None. A function seen for the first time is resolved once in a
        probe interpreter (importing its module, nothing is called); warns (FallbackWarning)
        the first time a top-level module is refused. Raises NotShareableError if ``fn``
        cannot be sent to an interpreter at all."""
        key = _key(fn)
        with self._lock:
            if key in self._bound:
                return self._bound[key]
            if key in self._good:
                return None
        extension = self._probe(fn)
        if extension is None:
            with self._lock:
                if len(self._good) >= _MAX_KNOWN:
                    self._good.pop(next(iter(self._good)))
                self._good[key] = None
            return None
        self.bind(fn, extension, stacklevel=stacklevel)
        return extension

    def _probe(self, fn) -> str | None:
        import sys

        from .. import _native
        from .._wire.refusal import resolved
        from .._wire.remote import rebuild

        with self._probe_lock:
            if self._probe_id is None:
                self._probe_id = _native.create(list(sys.path), None, None, self._config_values)
            ok, value = _native.call(self._probe_id, resolved, (fn,), {})
        if ok:
            return None
        return self.refusal(rebuild(value))

    def refusal(self, exc: BaseException) -> str | None:
        """The refusing extension if ``exc`` says the task never started because of one."""
        if not getattr(exc, UNRESOLVED_ATTR, False):
            return None
        return refused_extension(exc)

    def bind(self, fn, extension: str, stacklevel: int = 2) -> None:
        """Send ``fn``'s tasks to processes from now on; warn once per top-level module.

        Raises the FallbackWarning if the warning filters turn it into an error."""
        top = top_level(extension)
        key = _key(fn)
        with self._lock:
            self._bound[key] = extension
            self._good.pop(key, None)
            first = top not in self._warned
            self._warned.add(top)
        if first:
            warnings.warn(
                FallbackWarning(
                    f"{top} cannot be imported in an own-GIL interpreter (its extension "
                    f"module {extension} does not support it): tasks of {_describe(fn)} "
                    "run in this pool's process workers"
                ),
                stacklevel=stacklevel,
            )

    def reroute(self, future, exc: BaseException) -> bool:
        """Called with the exception of a task that failed in an interpreter: if it never
        started because of a refusal, run it in a process (True); else False."""
        extension = self.refusal(exc)
        task = future._task
        if extension is None or task is None or future.cancelled():
            return False
        fn, args, kwargs, timeout = task
        try:
            self.bind(fn, extension)
        except Warning as warning:  # warnings turned into errors: the task fails with it
            future._deliver(None, warning)
            return True
        self.start(future, fn, args, kwargs, timeout, deliver_errors=True)
        return True

    @property
    def count(self) -> int:
        """How many tasks (``map`` chunks count one each) were sent to processes."""
        return self._count

    # --- the executor --------------------------------------------------------------------

    def _get_executor(self) -> _procworkers.ProcessWorkers:
        with self._lock:
            if self._closed:
                raise RuntimeError(
                    "cannot run the task in a process worker: the pool was shut down"
                )
            if self._executor is None:
                import multiprocessing

                methods = multiprocessing.get_all_start_methods()
                ctx = multiprocessing.get_context(
                    "forkserver" if "forkserver" in methods else "spawn"
                )
                self._executor = _procworkers.ProcessWorkers(
                    ctx, self._max_workers, self._initializer, self._initargs, self._max_tasks
                )
            self._count += 1
            return self._executor

    def counts(self) -> dict | None:
        """A consistent snapshot of the process workers' counters (None before the first
        process task); see ``Pool.stats``."""
        with self._lock:
            executor = self._executor
        return None if executor is None else executor.counts()

    def _timeout(self, timeout):
        return self._task_timeout if timeout is None else timeout

    def start(self, future, fn, args, kwargs, timeout, deliver_errors=False) -> None:
        """Run ``fn(*args, **kwargs)`` in a process; its outcome completes ``future`` (a
        ``manygil.pool._PoolFuture`` still pending). A failure to start (the pool was shut
        down) is raised, or delivered to ``future`` with ``deliver_errors`` (a task
        rerouted from an interpreter)."""
        try:
            executor = self._get_executor()
            pf = executor.submit(
                self._timeout(timeout),
                _process.run_call,
                fn,
                args,
                kwargs,
                rerouted=deliver_errors,
            )
        except BaseException as exc:
            if not deliver_errors:
                raise
            future._deliver(None, exc)
            return
        future._process = (self, pf)
        pf.add_done_callback(lambda pf: _transfer(pf, future))

    def start_chunk(self, fn, items, timeout=None, rerouted=False) -> ProcessCall:
        """Run one ``map`` chunk in a process; wait on the returned call."""
        executor = self._get_executor()
        pf = executor.submit(
            self._timeout(timeout), _process.run_chunk, fn, items, rerouted=rerouted
        )
        return ProcessCall(pf)

    def interrupt_all(self) -> None:
        """Cancel every process task not done yet (queued: dropped; running: interrupted),
        as ``Pool.__exit__`` does on KeyboardInterrupt / SystemExit."""
        with self._lock:
            executor = self._executor
        if executor is not None:
            executor.interrupt_all()

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        """Stop the process workers (after the interpreters: a task failing there may
        still be rerouted until then) and close the probe interpreter."""
        from .. import _native

        with self._lock:
            self._closed = True
            executor = self._executor
        with self._probe_lock:
            probe, self._probe_id = self._probe_id, None
        if probe is not None:
            try:
                _native.destroy(probe)
            except Exception:
                pass
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=cancel_futures)


def _transfer(pf, future) -> None:
    """Complete ``future`` like ``pf``."""
    if pf.cancelled():
        future._deliver_cancelled()
        return
    exc = pf.exception()
    if exc is None:
        future._deliver(True, pf.result())
    else:
        future._deliver(None, exc)


class ProcessCall:
    """A ``map`` chunk running in a process, waited on like a native chunk call."""

    def __init__(self, pf):
        self._pf = pf

    def wait(self, timeout=None):
        """``(True, results)`` or ``(None, exception)``; TimeoutError if not done in time."""
        try:
            return True, self._pf.result(timeout)
        except cf.TimeoutError:
            if not self._pf.done():
                raise
            return None, self._pf.exception()
        except cf.CancelledError as exc:
            return None, exc
        except BaseException as exc:
            return None, exc

    def interrupt(self) -> None:
        self._pf.cancel()


def map_results(pool, fallback: ProcessFallback, fn, chunks, end_time, buffersize):
    """``Pool.map``'s result iterator for a fallback pool (see ``Pool._map_results``)."""
    from .._wire.remote import rebuild

    pending: collections.deque = collections.deque()
    core = pool._core
    chunks = iter(chunks)
    fallback.classify(fn, stacklevel=5)  # bind, classify, map_results, Pool.map, caller

    def submit(chunk):
        if fallback.is_bound(fn):
            return (fallback.start_chunk(fn, chunk), chunk)
        return (core.submit_chunk(fn, chunk, None), chunk)

    def refill():
        while buffersize is None or len(pending) < buffersize:
            chunk = next(chunks, None)
            if chunk is None:
                return
            pending.append(submit(chunk))

    refill()

    def wait(call):
        try:
            if end_time is None:
                return call.wait()
            return call.wait(max(0.0, end_time - time.monotonic()))
        except BaseException:  # timeout, Ctrl-C: this chunk is dropped too
            call.interrupt()
            raise

    def generator():
        try:
            while pending:
                call, chunk = pending.popleft()
                if buffersize is not None:
                    refill()  # keep `buffersize` chunks in flight while waiting
                ok, value = wait(call)
                if ok is False:
                    value, ok = rebuild(value), None
                    extension = fallback.refusal(value)
                    if extension is not None:
                        fallback.bind(fn, extension)
                        call = fallback.start_chunk(fn, chunk, rerouted=True)
                        ok, value = wait(call)
                del call, chunk
                if not ok:
                    raise value
                # As Pool.map: keep no reference to results already handed over.
                value.reverse()
                while value:
                    yield value.pop()
                del value
        finally:
            for call, _ in pending:
                call.interrupt()

    return generator()
