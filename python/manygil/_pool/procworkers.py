"""The process workers of ``Pool(fallback="process")``: a small process pool that survives
its processes.

``ProcessPoolExecutor`` is broken for good once one of its processes dies (``kill -9``,
``os._exit``, a segfault) and cannot stop a task that ignores ``SIGALRM`` or computes in C.
Here each worker is a thread of this process driving one child process at a time over a
pipe: it sends one task, then waits for the reply, the child's death, the task's deadline
or a wake-up (a cancel) — with no polling. So:

- a child that dies fails only the task it was running, with ``BrokenProcessPool`` naming
  the signal or exit code; the next task starts a fresh child;
- at its timeout a task's future fails with ``TimeoutError`` (the child's ``SIGALRM``
  interrupts the task itself); a ``cancel()`` of a running task cancels its future at once
  and interrupts it (``SIGUSR1``); if the task has not stopped :data:`GRACE` seconds later,
  its child is killed and replaced;
- the counters (:meth:`ProcessWorkers.counts`) are changed under one lock, so a snapshot
  always adds up: ``submitted == done + failed + cancelled + running + queued``.

The child side is :func:`manygil._pool.process.serve`.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import os
import pickle
import signal
import sys
import threading
import time
import weakref
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import connection

from .._wire.pickle import dumps_for_process
from . import process as _process

# Serializes child starts while the script is hidden from multiprocessing.
_START_LOCK = threading.Lock()


@contextlib.contextmanager
def _script_hidden():
    """multiprocessing's spawn and forkserver children run the parent's main script again
    (as ``__mp_main__``) so that functions pickled by name can be found there: an unguarded
    script would run its top level (creating pools...) in every child, and a script of
    ``-c`` or a notebook cannot be found at all. Ours never need it: functions and classes
    of the script travel by value. So while a child starts, ``__main__`` shows
    multiprocessing neither a file nor a module spec to run (the forkserver, started by the
    first child, does not preload it either); both come back at once after."""
    main = sys.modules.get("__main__")
    with _START_LOCK:
        saved = {a: main.__dict__[a] for a in ("__file__", "__spec__") if a in vars(main)}
        try:
            main.__dict__.pop("__file__", None)
            if "__spec__" in saved:
                main.__spec__ = None
            yield
        finally:
            main.__dict__.update(saved)


#: How long an interrupted task (timed out or cancelled) may take to stop before its
#: process is killed and replaced (the interpreter pool's watchdog grants the same).
GRACE = 2.0

_QUEUED, _RUNNING = "queued", "running"

_COUNTERS = (
    "submitted",
    "done",
    "failed",
    "cancelled",
    "running",
    "queued",
    "rerouted",
    "replaced",
    "recycled",
)


class _Future(cf.Future):
    """A process task's future: ``cancel()`` also cancels a running task (interrupting it,
    then killing its process if it does not stop)."""

    _item = None

    def cancel(self) -> bool:
        item = self._item
        if item is None:
            return super().cancel()
        return item.pool.cancel(item)

    def running(self) -> bool:
        item = self._item
        return item is not None and item.state == _RUNNING and not self.done()

    def _cancel_now(self) -> bool:
        return super().cancel()


class _Item:
    """One task: what to call, its timeout, its future and where it is."""

    __slots__ = ("pool", "call", "args", "timeout", "future", "state", "settled", "worker", "token")

    def __init__(self, pool, call, args, timeout):
        self.pool, self.call, self.args, self.timeout = pool, call, args, timeout
        self.future = _Future()
        self.future._item = self
        self.state = _QUEUED
        self.settled = False  # the future's outcome is decided (and counted)
        self.worker = None
        self.token = None  # set once it is sent to a child


class ProcessWorkers:
    """Up to ``max_workers`` child processes of context ``ctx``, started as tasks arrive."""

    def __init__(self, ctx, max_workers, initializer, initargs, max_tasks_per_worker):
        self._ctx = ctx
        self._max_workers = max_workers
        self._initializer = initializer
        self._initargs = initargs
        self._max_tasks = max_tasks_per_worker
        self._cond = threading.Condition()
        # Guarded by _cond: queued items, the worker threads, how many wait for work,
        # whether shutdown was asked, why the workers are broken, and the counters.
        self._queue: collections.deque = collections.deque()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._broken: BaseException | None = None
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._tokens = 0
        self._live: set = set()  # the _Worker of each thread
        _at_exit(self)

    # --- the caller's side ------------------------------------------------------------

    def submit(self, timeout, call, *args, rerouted: bool = False) -> _Future:
        """Run ``call(token, timeout, *args)`` in a child (see ``_process.run_call``).

        Raises RuntimeError after shutdown, BrokenProcessPool if the initializer failed.
        ``rerouted``: the task was counted as failed by the interpreter pool first (its
        function could not be loaded there); :meth:`counts` reports it once."""
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._broken is not None:
                raise BrokenProcessPool(str(self._broken)) from self._broken
            item = _Item(self, call, args, timeout)
            self._queue.append(item)
            self._count(submitted=1, queued=1, rerouted=int(rerouted))
            if len(self._queue) > self._idle and len(self._threads) < self._max_workers:
                t = threading.Thread(target=self._work, name="manygil-process-worker", daemon=True)
                self._threads.append(t)
                t.start()
            else:
                self._cond.notify()
        return item.future

    def cancel(self, item: _Item) -> bool:
        """Cancel a task: a queued one is dropped, a running one is interrupted (and its
        process killed if it has not stopped :data:`GRACE` seconds later)."""
        with self._cond:
            if item.settled:
                return item.future.cancelled()
            if item.state == _QUEUED:
                self._queue.remove(item)
            else:
                item.worker.interrupt(item)
            self._settle(item, "cancelled")
        item.future._cancel_now()
        return True

    def interrupt_all(self) -> None:
        """Cancel every task not done yet (queued: dropped; running: interrupted)."""
        with self._cond:
            items = list(self._queue)
            items += [w.item for w in self._live if w.item is not None]
        for item in items:
            item.future.cancel()

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        """Take no more tasks; queued ones still run unless ``cancel_futures``. With
        ``wait``, return once every child has ended (a stuck task costs :data:`GRACE`
        at most after its timeout or cancellation)."""
        with self._cond:
            self._closed = True
            dropped = list(self._queue) if cancel_futures else []
            for item in dropped:
                self._queue.remove(item)
                self._settle(item, "cancelled")
            self._cond.notify_all()
            threads = list(self._threads)
        for item in dropped:
            item.future._cancel_now()
        if wait:
            for t in threads:
                if t is not threading.current_thread():
                    t.join()

    def counts(self) -> dict:
        """A consistent snapshot of the counters."""
        with self._cond:
            return dict(self._counts)

    # --- bookkeeping (with _cond held) ----------------------------------------------------

    def _count(self, **deltas) -> None:
        for key, delta in deltas.items():
            self._counts[key] += delta

    def _settle(self, item: _Item, outcome: str) -> bool:
        """Decide ``item``'s outcome (``done``/``failed``/``cancelled``) once; the first
        decision wins (a reply arriving after a timeout is dropped)."""
        if item.settled:
            return False
        item.settled = True
        self._count(**{item.state: -1, outcome: 1})
        return True

    # --- a worker thread ------------------------------------------------------------------

    def _work(self) -> None:
        w = _Worker(self)
        with self._cond:
            self._live.add(w)
        try:
            while True:
                with self._cond:
                    self._idle += 1
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    self._idle -= 1
                    if not self._queue:
                        return
                    item = self._queue.popleft()
                    self._count(queued=-1, running=1)
                    item.state, item.worker = _RUNNING, w
                    w.item, w.kill_at = item, None
                    self._tokens += 1
                    token = self._tokens
                try:
                    w.run(item, token)
                except BaseException as exc:  # a bug of ours: the task must not stay pending
                    self._complete(item, "failed", exc)
                    raise
                finally:
                    with self._cond:
                        w.item = None
        finally:
            w.stop()
            w.close()
            with self._cond:
                self._live.discard(w)
                self._threads.remove(threading.current_thread())

    def _complete(self, item: _Item, outcome: str, value) -> None:
        """Settle ``item`` as ``outcome`` and complete its future, unless already settled."""
        with self._cond:
            if not self._settle(item, outcome):
                return
        if outcome == "done":
            item.future.set_result(value)
        else:
            item.future.set_exception(value)

    def _break(self, exc: BaseException) -> None:
        """The initializer failed: fail the queued tasks and refuse new ones."""
        with self._cond:
            self._broken = exc
            dropped = list(self._queue)
            self._queue.clear()
            for item in dropped:
                self._settle(item, "failed")
        for item in dropped:
            item.future.set_exception(_broken_error(exc))


# Every ProcessWorkers not yet shut down; at exit (before threading joins its non-daemon
# threads, as ProcessPoolExecutor does) they finish their queued tasks and their children
# end: multiprocessing's own exit hook would otherwise wait for idle children forever.
_ALL: weakref.WeakSet = weakref.WeakSet()
_hooked = False


def _at_exit(workers: ProcessWorkers) -> None:
    global _hooked
    _ALL.add(workers)
    if not _hooked:
        _hooked = True
        threading._register_atexit(_shutdown_all)


def _shutdown_all() -> None:
    for workers in list(_ALL):
        workers.shutdown(wait=True, cancel_futures=False)


def _broken_error(exc: BaseException) -> BrokenProcessPool:
    err = BrokenProcessPool(
        f"the initializer of the process workers raised {type(exc).__name__}: {exc}"
    )
    err.__cause__ = exc
    return err


def _death(pid: int, code) -> BrokenProcessPool:
    """The error of a task whose process died under it, naming the signal or exit code."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        how = f"was killed by signal {-code} ({name})"
    else:
        how = f"exited with code {code}"
    return BrokenProcessPool(
        f"the process worker (pid {pid}) running the task {how}; "
        "a fresh process replaces it for the next tasks"
    )


class _Worker:
    """One worker thread's child process (started on first need, replaced when it dies,
    is killed or has run ``max_tasks_per_worker`` tasks)."""

    def __init__(self, pool: ProcessWorkers):
        self.pool = pool
        self.item: _Item | None = None
        self.proc = None
        self.conn = None
        self.cancel_target = None
        self.tasks = 0
        self.kill_at: float | None = None  # set (under the pool's lock) by interrupt()
        self._wake_r, self._wake_w = os.pipe()

    # Called by ProcessWorkers.cancel with the pool's lock held.
    def interrupt(self, item: _Item) -> None:
        """Interrupt ``item`` (running here) and kill the child if it runs on past GRACE."""
        proc, target = self.proc, self.cancel_target
        if proc is not None and target is not None and item.token is not None:
            # The child raises CancelledError only while it runs this token (or when it
            # starts it), so a late signal never interrupts its next task.
            target.value = item.token
            try:
                os.kill(proc.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        at = time.monotonic() + GRACE
        self.kill_at = at if self.kill_at is None else min(self.kill_at, at)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _start(self) -> None:
        ctx, pool = self.pool._ctx, self.pool
        setup = dumps_for_process((pool._initializer, pool._initargs))
        parent, child = ctx.Pipe()
        self.cancel_target = ctx.RawValue("q", 0)
        proc = ctx.Process(
            target=_process.serve,
            args=(child, self.cancel_target, setup),
            name="manygil-process-worker",
        )
        with _script_hidden():
            proc.start()
        child.close()
        self.proc, self.conn, self.tasks = proc, parent, 0

    def _reap(self, kill: bool) -> None:
        """End the child (killing it if ``kill``) and forget it."""
        proc, conn = self.proc, self.conn
        self.proc = self.conn = self.cancel_target = None
        if proc is None:
            return
        if kill:
            try:
                proc.kill()
            except Exception:
                pass
        proc.join()
        conn.close()
        proc.close()

    def _alive(self) -> bool:
        return self.proc is not None and not connection.wait([self.proc.sentinel], 0)

    def run(self, item: _Item, token: int) -> None:
        """Run ``item`` in the child and settle its future (whatever happens to the child)."""
        pool = self.pool
        try:
            data = dumps_for_process((item.call, (token, item.timeout, *item.args)))
        except BaseException as exc:  # unpicklable function or argument: the task fails
            pool._complete(item, "failed", exc)
            return
        if self.proc is not None and not self._alive():  # died while idle
            self._reap(kill=False)
            with pool._cond:
                pool._count(replaced=1)
        try:
            if self.proc is None:
                self._start()
            with pool._cond:
                item.token = token
                if item.settled:  # cancelled while this child was starting
                    self.kill_at = None
                    return
            self.conn.send_bytes(data)
        except (OSError, ValueError):
            pass  # the child died: the sentinel says how, below
        except BaseException as exc:
            pool._complete(item, "failed", exc)
            return
        self._wait(item, item.timeout)

    def _wait(self, item: _Item, timeout) -> None:
        pool = self.pool
        deadline = None if timeout is None else time.monotonic() + timeout
        waits = [self.conn, self.proc.sentinel, self._wake_r]
        while True:
            with pool._cond:
                kill_at = self.kill_at
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                # The timeout has passed: the future learns it now (the child's SIGALRM
                # interrupts the task); the child is killed if it runs on past GRACE.
                deadline = None
                pool._complete(item, "failed", TimeoutError(_process.TIMEOUT_MESSAGE))
                with pool._cond:
                    at = now + GRACE
                    self.kill_at = kill_at = at if self.kill_at is None else min(self.kill_at, at)
            if kill_at is not None and now >= kill_at:
                self._reap(kill=True)
                with pool._cond:
                    self.kill_at = None
                    pool._count(replaced=1)
                return
            ends = [t for t in (deadline, kill_at) if t is not None]
            ready = connection.wait(waits, None if not ends else max(0.0, min(ends) - now))
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if self.conn in ready:
                try:
                    ok, value = pickle.loads(self.conn.recv_bytes())
                except (EOFError, OSError):
                    ready.append(self.proc.sentinel)  # the child died while replying
                except BaseException as exc:  # a reply this process cannot unpickle
                    self._reply(item, False, exc)
                    return
                else:
                    self._reply(item, ok, value)
                    return
            if self.proc.sentinel in ready:
                pid = self.proc.pid
                self.proc.join()
                code = self.proc.exitcode
                self._reap(kill=False)
                with pool._cond:
                    self.kill_at = None
                    pool._count(replaced=1)
                pool._complete(item, "failed", _death(pid, code))
                return

    def _reply(self, item: _Item, ok, value) -> None:
        pool = self.pool
        with pool._cond:
            self.kill_at = None
        if ok is _process.INIT_FAILED:
            self._reap(kill=False)
            pool._complete(item, "failed", _broken_error(value))
            pool._break(value)
            return
        pool._complete(item, "done" if ok else "failed", value)
        self.tasks += 1
        if pool._max_tasks is not None and self.tasks >= pool._max_tasks:
            self.stop()
            with pool._cond:
                pool._count(recycled=1)

    def stop(self) -> None:
        """Ask an idle child to exit and join it (killed if it has not exited in GRACE)."""
        proc, conn = self.proc, self.conn
        if proc is not None:
            try:
                conn.send_bytes(b"")
            except (OSError, ValueError):
                pass
            proc.join(GRACE)
            self._reap(kill=proc.is_alive())

    def close(self) -> None:
        os.close(self._wake_r)
        os.close(self._wake_w)
