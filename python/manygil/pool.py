"""``manygil.Pool``: a ``concurrent.futures.Executor`` whose workers are own-GIL
interpreters in this process.

Tasks travel as Rust-owned copies (importable functions by module and name; functions,
lambdas and closures of ``__main__`` or local to a function by value with manygil's own
encoding (``manygil._wire.pickle``), encoded once per function object and decoded once per
worker; data natively or by pickle,
with manygil handles inside it as the same objects), run truly in parallel, and complete real ``concurrent.futures.Future`` objects
(so ``as_completed``, ``wait``, ``asyncio.wrap_future`` and ``loop.run_in_executor`` work).
Extensions over the stdlib executors:

- ``task_timeout`` / ``apply(..., timeout=)``: a task running past its timeout is
  interrupted *inside its interpreter* (an asynchronous exception), its future gets
  ``TimeoutError`` and the worker is reused.
- ``future.cancel()`` also cancels a *running* task, by interrupting it.
- ``max_tasks_per_worker`` recycles workers; ``stats()`` reports activity;
  ``map(..., progress=True)`` draws a progress bar.

What cannot be interrupted: code blocked inside one C call (``time.sleep`` in a worker, a long
C computation, a blocking read) notices the interrupt only when that call returns to Python.
Its future then gets ``TimeoutError``/``CancelledError``; meanwhile, if it has not stopped
2 s after the interrupt, its worker is retired (it leaves when the call returns) and a fresh
worker takes its place, so the pool keeps its capacity (``stats()["replaced"]``).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import itertools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator

from . import _native
from ._config import InterpreterConfig
from ._config import coerce as _coerce_config
from ._errors import BrokenPool
from ._pool import exit as _exit
from ._wire.remote import rebuild

__all__ = ["Pool", "BrokenPool"]


class _PoolFuture(cf.Future):
    """A ``concurrent.futures.Future`` whose running task can be cancelled (interrupted)."""

    _core = None
    _seq = 0
    _fallback = None  # fallback="process": the ProcessFallback, and the task to reroute
    _task = None
    _process = None  # running in a process: (ProcessFallback, process future)

    def cancel(self) -> bool:
        """Cancel the task: a queued one is dropped, a running one is interrupted in its
        interpreter. Returns False only if the task has already completed."""
        if not super().cancel():
            return False
        core = self._core
        if core is not None:
            core.cancel(self._seq)
        if self._process is not None:
            self._process[1].cancel()
        return True

    def running(self) -> bool:
        """Whether the task is executing in a worker right now."""
        with self._condition:
            if self._state != "PENDING":
                return self._state == "RUNNING"
        if self._process is not None:
            return self._process[1].running()
        core = self._core
        return core is not None and core.is_running(self._seq)

    def result(self, timeout=None):
        """As ``Future.result``; a ``timeout`` of ``inf`` (or too large to matter) waits
        without limit instead of raising OverflowError."""
        if self._state == "PENDING" or self._state == "RUNNING":
            self._spin()
        # Finished with a value: nothing to wait for (both fields are set before _state,
        # under the GIL), so the condition's lock is not taken.
        if self._state == "FINISHED" and self._exception is None:
            return self._result
        try:
            return super().result(_wait_timeout(timeout))
        except KeyboardInterrupt:
            self.cancel()
            raise

    def exception(self, timeout=None):
        """As ``Future.exception``; ``timeout`` as in :meth:`result`."""
        try:
            return super().exception(_wait_timeout(timeout))
        except KeyboardInterrupt:
            self.cancel()
            raise

    def _spin(self):
        """Before going to sleep on the condition: poll (GIL released, about 50 µs at a
        time) while workers keep delivering outcomes, so that a short task's result is
        picked up without a cross-thread wake-up of this thread (what dominates a round
        trip). Gives up as soon as a window passes with no delivery at all."""
        core = self._core
        if core is None or self._process is not None:
            return
        seen = core.deliveries()
        for _ in range(8):
            now = core.spin_for_delivery(seen)
            if self._state not in ("PENDING", "RUNNING") or now == seen:
                return
            seen = now

    # Called by the worker that ran the task, with the main interpreter attached.
    def _deliver(self, ok, value):
        if ok is False and self._fallback is not None:
            value, ok = rebuild(value), None
            if self._fallback.reroute(self, value):
                return
        if not self.set_running_or_notify_cancel():
            return
        if ok:
            self.set_result(value)
        elif ok is None:
            self.set_exception(value)
        else:
            self.set_exception(rebuild(value))

    def _deliver_cancelled(self):
        super().cancel()
        self.set_running_or_notify_cancel()


def _wait_timeout(timeout):
    """A wait's timeout for ``threading``: too large ones (``inf``) become no limit."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 1e9:
        return None
    return timeout


def _default_workers() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


# Timeouts from this many seconds up mean "no limit" (as inf does).
_NO_LIMIT = 2.0**63 / 1e9


def _check_timeout(name: str, value) -> float | None:
    """A timeout in seconds: None or inf (or any value too large to matter) is no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    # inf (and anything beyond ~292 years, where no deadline can be represented) is no limit.
    return None if seconds >= _NO_LIMIT else seconds


class Pool(cf.Executor):
    """A pool of own-GIL interpreters that runs callables in parallel (``config="legacy"``:
    interpreters sharing the main interpreter's GIL, for isolation without parallelism).

    Args:
        max_workers: most interpreters at once (default: ``os.process_cpu_count()``); at
            most ``sys.maxsize``.
        initializer: called as ``initializer(*initargs)`` at the start of each worker; if it
            raises, the pool is broken: ``submit`` raises ``BrokenPool``.
        max_tasks_per_worker: replace a worker with a fresh interpreter after this many tasks.
        task_timeout: default timeout in seconds for every task (``None``: no limit).
        fallback: ``"process"`` runs in process workers the tasks whose function cannot be
            loaded in an own-GIL interpreter because it needs a non-isolated extension
            module (numpy, Pillow, ...); see docs/extensions.md. ``None`` (default): such
            tasks raise ImportError.
        forward_logging: records that tasks log (once they import ``logging``) go to this
            interpreter's loggers of the same names, at the root level this interpreter
            has when the pool is created, with ``threadName`` the worker thread's
            (``manygil-w<id>``) and ``manygil_interpreter`` the worker's name (see
            ``manygil._observe.logs``). ``False``: each worker's ``logging`` stays its own.
        config: how every worker's interpreter is set up (replacements of stuck or
            recycled workers too): an :class:`~manygil.InterpreterConfig` or a preset
            name; ``None`` is ``"isolated"``. Under ``"legacy"`` (shared GIL, extensions
            not checked) tasks do not run in parallel: see docs/configs.md.

    Raises:
        ValueError: ``max_workers <= 0``, negative timeouts or ``max_tasks_per_worker``,
            an unknown ``fallback``, a bad ``config`` (TypeError for a wrong type), or
            ``fallback="process"`` with a config that does not check extensions.
        InterpreterError: the interpreters could not be created (or not from the main
            interpreter).

    One worker starts in the constructor (a few ms); the others start as tasks arrive while
    every worker is busy, up to ``max_workers`` (as ``ThreadPoolExecutor`` does), so a large
    ``max_workers`` costs nothing until there is that much work. Workers adopt this
    process's ``sys.path``. Any function can be submitted: importable ones are found by module
    and name in the workers; those of ``__main__`` (script, ``-c``, REPL, Jupyter), lambdas and
    closures are sent by value, with a snapshot of the globals and closure variables they
    use as they are at submission (as Dask and loky do; ``manygil._wire.pickle`` tells how the
    encoding is reused without going stale). The script is never run again in a worker,
    so no ``if __name__ == "__main__":`` guard is needed.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        initializer: Callable | None = None,
        initargs: tuple = (),
        max_tasks_per_worker: int | None = None,
        task_timeout: float | None = None,
        fallback: str | None = None,
        forward_logging: bool = True,
        config: InterpreterConfig | str | None = None,
    ):
        if max_workers is None:
            max_workers = _default_workers()
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an int, not {type(max_workers).__name__}")
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_workers > sys.maxsize:
            raise OverflowError(f"max_workers is out of range: it must be at most {sys.maxsize}")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_worker is not None:
            if not isinstance(max_tasks_per_worker, int) or isinstance(max_tasks_per_worker, bool):
                raise TypeError("max_tasks_per_worker must be an int or None")
            if max_tasks_per_worker <= 0:
                raise ValueError("max_tasks_per_worker must be >= 1")
            if max_tasks_per_worker >= 2**64:
                raise OverflowError("max_tasks_per_worker is out of range: it must be below 2**64")
        self._task_timeout = _check_timeout("task_timeout", task_timeout)
        if fallback not in (None, "process"):
            raise ValueError(f'fallback must be None or "process", got {fallback!r}')
        config = _coerce_config(config)
        if fallback == "process" and not config.check_multi_interp_extensions:
            raise ValueError(
                'fallback="process" sends to processes the tasks that extension modules '
                "refuse to run in the workers, but config "
                f"{config!r} does not check extensions (check_multi_interp_extensions=False): "
                "use one or the other"
            )
        self._config = config
        self._max_workers = max_workers
        self._shutdown_lock = threading.Lock()
        self._shutdown = False
        self._profile = None
        worker_init, worker_args = initializer, tuple(initargs)
        self._logs = None
        if forward_logging:
            from ._observe import logs as _logs
            from ._queue import Queue

            self._logs = _logs.Dispatcher(Queue())
            # A pool dropped without shutdown(wait=True) ends its dispatcher when collected.
            weakref.finalize(self, self._logs.close, False)
            level = _logs.Dispatcher.root_level()
            from ._wire.hooks import forward_logging

            worker_init = forward_logging
            worker_args = (self._logs.queue, level, initializer, tuple(initargs))
        try:
            self._core = _native.PoolCore(
                max_workers,
                list(sys.path),
                worker_init,
                worker_args,
                max_tasks_per_worker,
                self._task_timeout,
                config._values(),
            )
        except BaseException:
            if self._logs is not None:
                self._logs.close(wait=False)
            raise
        from ._observe import inspect as _inspect

        _inspect.register_pool(self)
        self._fallback = None
        if fallback == "process":
            from ._pool.fallback import ProcessFallback

            self._fallback = ProcessFallback(
                max_workers,
                initializer,
                tuple(initargs),
                max_tasks_per_worker,
                task_timeout,
                config,
            )

    # --- the Executor protocol ------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Schedule ``fn(*args, **kwargs)``; return a Future for its result.

        Raises NotShareableError (nothing is scheduled) if ``fn`` or an argument cannot be
        sent to another interpreter; RuntimeError after shutdown; BrokenPool if broken.
        """
        return self._submit(fn, args, kwargs, None)

    def apply(self, fn, args=(), kwargs=None, *, timeout=None) -> cf.Future:
        """Like :meth:`submit` with a per-task ``timeout`` in seconds: past it the task is
        interrupted in its interpreter and the future raises ``TimeoutError``."""
        return self._submit(fn, tuple(args), dict(kwargs or {}), _check_timeout("timeout", timeout))

    def _submit(self, fn, args, kwargs, timeout) -> cf.Future:
        f = _PoolFuture()
        if self._fallback is not None and self._fallback.route(f, fn, args, kwargs, timeout):
            return f
        profile = self._profile
        if profile is not None:
            from ._observe.profiling import call

            fn, args = call, (profile.queue, fn, *args)
        f._core = self._core
        f._seq = self._core.submit(f, fn, args, kwargs, timeout)
        return f

    def map(
        self,
        fn,
        *iterables,
        timeout=None,
        chunksize: int = 1,
        buffersize: int | None = None,
        progress: bool = False,
    ) -> Iterator:
        """Return an iterator equivalent to ``map(fn, *iterables)``, computed in parallel.

        Each chunk of ``chunksize`` items travels as one message; results are yielded in
        order. ``timeout`` (seconds, from this call) raises ``TimeoutError`` from
        ``__next__`` when a result is not ready in time; ``buffersize`` bounds how many
        chunks are submitted ahead of the consumer (default: four per worker, at most
        4096), so memory stays bounded however many items there are; chunks are submitted
        as the results are consumed. ``progress=True`` draws a progress bar
        on stderr (tqdm when installed). If the iterator is closed early or raises
        (including KeyboardInterrupt), its remaining chunks are cancelled and running ones
        interrupted.
        """
        # The stdlib's checks and messages (concurrent.futures._base.Executor.map).
        if buffersize is not None and not isinstance(buffersize, int):
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        if isinstance(chunksize, bool) or not isinstance(chunksize, int):
            raise TypeError("chunksize must be an int")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        timeout = _check_timeout("timeout", timeout)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        total = _length_hint(iterables)
        end_time = None if timeout is None else time.monotonic() + timeout
        chunks = _chunks(zip(*iterables, strict=False), chunksize)
        if self._fallback is not None:
            from ._pool.fallback import map_results

            results = map_results(self, self._fallback, fn, chunks, end_time, buffersize)
        else:
            profile = self._profile
            if profile is not None:
                import functools

                from ._observe.profiling import call

                fn = functools.partial(call, profile.queue, fn)
            results = self._map_results(fn, chunks, end_time, buffersize)
        if progress:
            from ._pool.progress import track

            results = track(results, total)
        return results

    def _map_results(self, fn, chunks, end_time, buffersize) -> Iterator:
        pending: collections.deque = collections.deque()
        core = self._core
        # Without buffersize, still bound what is submitted ahead of the consumer (a few
        # chunks per worker): memory stays flat for any number of items.
        ahead = buffersize or min(_MAP_AHEAD_CAP, max(32, 4 * self._max_workers))
        chunks = iter(chunks)

        def refill():
            while len(pending) < ahead:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                pending.append(core.submit_chunk(fn, chunk, None))

        # Submit the first window now, so work starts before the first next().
        refill()

        def generator():
            try:
                while pending:
                    call = pending.popleft()
                    refill()  # keep the window of chunks in flight while waiting
                    try:
                        if end_time is None:
                            ok, value = call.wait()
                        else:
                            ok, value = call.wait(max(0.0, end_time - time.monotonic()))
                    except BaseException:  # timeout, Ctrl-C: this chunk is dropped too,
                        pending.appendleft(call)  # interrupted last (see `finally`)
                        raise
                    del call
                    if not ok:
                        raise rebuild(value)
                    # Hand each result over without keeping a reference to it here: a
                    # result the consumer has dropped must be freed (the stdlib's contract).
                    value.reverse()
                    while value:
                        yield value.pop()
                    del value
            finally:
                # Closed early, failed or interrupted: drop this map's remaining chunks.
                # Latest first, so that every queued chunk is marked cancelled before the
                # running ones (the oldest) are interrupted: a worker freed by an interrupt
                # then skips the queued chunks instead of starting them.
                for call in reversed(pending):
                    call.interrupt()

        return generator()

    @contextlib.contextmanager
    def profile(self):
        """Profile the tasks this pool runs while the block is open::

            with pool.profile() as prof:
                results = list(pool.map(work, items))
            prof.stats.sort_stats("cumulative").print_stats(15)

        Each task submitted (``submit``, ``apply``, ``map``) inside the block runs under
        ``cProfile`` in its worker; ``prof.stats`` is one ``pstats.Stats`` merging every
        task that ended before the block did (a task still running then is not counted),
        ``prof.tasks`` their number. Results and exceptions are unchanged; profiling costs
        what cProfile costs, inside the block only. Tasks that go to the process fallback
        are not profiled. Raises RuntimeError if a block is already open on this pool."""
        from ._observe.profiling import Collector

        if self._profile is not None:
            raise RuntimeError("this pool is already being profiled")
        collector = self._profile = Collector()
        try:
            yield collector
        finally:
            self._profile = None
            collector.finish()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks. Queued tasks still run unless ``cancel_futures``; with
        ``wait``, block (GIL released) until every worker has finished and ended.

        Ctrl-C during the wait raises KeyboardInterrupt at once, after cancelling the queued
        tasks and interrupting the running ones. A worker stuck in a C call that ignored its
        interrupt (see the module docs) is not waited for: it leaves when the call returns,
        and process exit waits for it 2 s, then ends the process without finalizing
        (see docs/reliability.md)."""
        with self._shutdown_lock:
            self._shutdown = True
        if cancel_futures:
            self._core.cancel_all(False)
        try:
            self._core.shutdown(wait)
        except BaseException:
            # Ctrl-C while waiting: stop everything now (queued tasks are dropped, running
            # ones interrupted) and let the KeyboardInterrupt through without waiting more.
            self._core.cancel_all(True)
            if self._fallback is not None:
                self._fallback.shutdown(False, True)
            raise
        if self._fallback is not None:
            self._fallback.shutdown(wait, cancel_futures)
        if self._logs is not None and wait:
            self._logs.close()  # every worker has ended: nothing more will be logged

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, Exception):
            # KeyboardInterrupt / SystemExit: stop everything now instead of waiting.
            _exit.note_system_exit(exc)
            self._core.cancel_all(True)
            if self._fallback is not None:
                self._fallback.interrupt_all()
            self.shutdown(wait=True, cancel_futures=True)
        else:
            self.shutdown(wait=True)
        return False

    # --- extras ---------------------------------------------------------------------------

    async def run(self, fn, /, *args, **kwargs):
        """``await pool.run(fn, *args, **kwargs)``: submit and await the result without
        blocking the event loop."""
        import asyncio

        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def stats(self) -> dict:
        """Counters: ``workers``, ``submitted``, ``done``, ``failed``, ``cancelled``,
        ``running``, ``queued``, ``recycled`` (after ``max_tasks_per_worker``),
        ``replaced`` (stuck in code that did not stop when interrupted) and ``fallback``
        (tasks and map chunks sent to process workers by ``fallback="process"``).

        Process tasks count like interpreter tasks (a task rerouted from an interpreter to
        a process counts once), and ``replaced``/``recycled`` include process workers. At
        every moment ``submitted == done + failed + cancelled + running + queued``; a
        cancelled running task counts as ``cancelled``, a timed-out one as ``failed`` from
        its timeout on, even while it is still stuck in a C call."""
        # The processes' snapshot first: a task rerouted there was counted as failed by
        # the interpreters before, so both snapshots see it and the sums add up.
        procs = None if self._fallback is None else self._fallback.counts()
        stats = self._core.stats()
        if procs is not None:
            for key in ("submitted", "done", "failed", "cancelled", "running", "queued"):
                stats[key] += procs[key]
            stats["replaced"] += procs["replaced"]
            stats["recycled"] += procs["recycled"]
            stats["submitted"] -= procs["rerouted"]
            stats["failed"] -= procs["rerouted"]
        stats["fallback"] = 0 if self._fallback is None else self._fallback.count
        return stats

    def snapshot(self, timeout: float = 0.5) -> dict:
        """What the pool's workers are doing now, as plain data::

            {"kind": "pool", "name": "pool-1", "stats": {...},   # stats() as above
             "workers": [{"id": 3, "name": "pool-1.worker-1", "origin": "pool",
                          "thread": "manygil-w3",                # the OS thread's name
                          "task": {"id": 17, "function": "mymod.work",
                                   "running_for": 2.5} or None,  # None: idle
                          "answered": True, "note": None,
                          "threads": [{"name": "manygil-w3", "omitted": 0,
                                       "frames": [(file, line, function), ...]}]}]}

        Each worker's Python stacks (``frames`` outermost first, as in a traceback) are
        read inside its interpreter; ``manygil.format_snapshot(snap)`` prints them. Blocks
        (GIL released) at most about ``timeout`` seconds (ValueError outside 0..3600): a
        worker that does not let the reader in by then — stuck in a C call that holds its
        GIL — gets ``answered`` False, ``threads`` None and a ``note`` saying so, with its
        last known ``task``. Workers stuck in a task that ignored its interrupt, not yet
        gone, are listed too. Tasks in the process fallback are not shown."""
        from ._observe.inspect import pool_snapshot

        return pool_snapshot(self, timeout)

    @property
    def name(self) -> str:
        """The pool's name, ``pool-<n>`` (numbered in the process); its workers are the
        interpreters ``pool-<n>.worker-<k>``."""
        return self._core.name()

    @property
    def config(self) -> InterpreterConfig:
        """The :class:`~manygil.InterpreterConfig` of every worker's interpreter."""
        return self._config

    @property
    def max_workers(self) -> int:
        """The most workers the pool runs at once (they start as work arrives)."""
        return self._max_workers


# Most chunks a map submits ahead of its consumer when no buffersize is given.
_MAP_AHEAD_CAP = 4096


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _length_hint(iterables) -> int | None:
    if not iterables:
        return 0
    try:
        return min(len(it) for it in iterables)
    except TypeError:
        return None
