"""A joblib parallel backend whose workers are manygil's own-GIL interpreters.

``import manygil.joblib`` registers the backend ``"manygil"``::

    import joblib
    import manygil.joblib  # noqa: F401  (registers the backend)

    with joblib.parallel_config(backend="manygil", n_jobs=4):
        results = joblib.Parallel()(joblib.delayed(f)(x) for x in data)

Each batch that joblib's auto-batching forms travels to a ``manygil.Pool`` as one task: only
the ``(function, args, kwargs)`` items cross into the interpreter (joblib itself stays in the
main interpreter: it does not import in own-GIL interpreters). Results come back in order,
an exception raised by a task is raised by ``Parallel`` (with the remote traceback as its
``__cause__``), and ``Parallel(timeout=...)`` or a failing task cancels the batches still
queued and interrupts the running ones.

Functions defined in the main script or in a module that imports joblib (neither can be
imported in an interpreter), closures and lambdas travel by value, with manygil's own
encoding (as loky sends them, without cloudpickle in the workers); other module-level
functions by module and name.

The backend never claims shared memory (``require="sharedmem"`` makes joblib pick its
threading backend instead). ``n_jobs=-1`` means one interpreter per CPU (``joblib.cpu_count()``);
``n_jobs=None`` inside ``parallel_config(backend="manygil")`` means the same; ``n_jobs=1``
runs sequentially in the calling thread, as joblib's other backends do.

The pool is created on first use and reused by later ``Parallel`` calls with the same
``n_jobs`` (as loky reuses its executor); pass ``ManygilBackend(pool=my_pool)`` to
``parallel_config(backend=...)`` to run on a pool of your own (an ``initializer``,
``task_timeout``...). Tasks cannot start nested ``Parallel`` calls (joblib does not import in
the interpreters).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import threading

from joblib import cpu_count
from joblib._parallel_backends import (
    AutoBatchingMixin,
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
)
from joblib.parallel import register_parallel_backend

from ._errors import NotShareableError
from ._pool.calls import by_value, call_batch_indexed, call_batch_pickled, value_copy
from .pool import Pool

__all__ = ["ManygilBackend", "BACKEND_NAME"]

BACKEND_NAME = "manygil"

# A module that imports these cannot be imported in an interpreter: its functions travel
# by value.
_FRAMEWORKS = ("joblib",)

# The pool shared by every ManygilBackend that was not given one: (size, Pool) or None.
_shared: tuple[int, Pool] | None = None
_shared_lock = threading.Lock()


def _shared_pool(size: int) -> Pool:
    """The shared pool with ``size`` workers, created (and a pool of another size retired:
    its queued and running tasks still finish) when needed."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared[0] == size:
            return _shared[1]
        old = _shared
        pool = Pool(size)
        _shared = (size, pool)
    if old is not None:
        old[1].shutdown(wait=False)
    return pool


@atexit.register
def _shutdown_shared_pool() -> None:
    global _shared
    with _shared_lock:
        old, _shared = _shared, None
    if old is not None:
        old[1].shutdown(wait=True, cancel_futures=True)


def _pickled(items) -> bytes:
    """The batch as one pickle, functions by value (manygil's own encoding: the worker
    needs no cloudpickle to load it)."""
    from ._wire.pickle import pickle_bytes

    return pickle_bytes(list(items))


def _submit_batch(pool: Pool, items) -> cf.Future:
    """Send a batch of ``(func, args, kwargs)`` items as one task."""
    # A batch usually repeats one function: decide (and copy) once per function object, so
    # that a function sent by value is pickled once per batch, not once per item.
    funcs = {id(f): f for f, _, _ in items}
    copies = {i: value_copy(f) for i, f in funcs.items() if by_value(f, _FRAMEWORKS)}
    if copies:
        # Functions of the main script or of modules that import joblib (neither loads in
        # an interpreter), closures and lambdas travel by value, as loky sends them.
        items = [(copies.get(id(f), f), a, k) for f, a, k in items]
        return pool.submit(call_batch_pickled, _pickled(items))
    # Each function crosses once (the codec encodes a function per occurrence); the items
    # refer to it by index.
    index = {key: i for i, key in enumerate(funcs)}
    rows = [(index[id(f)], a, k) for f, a, k in items]
    try:
        return pool.submit(call_batch_indexed, tuple(funcs.values()), rows)
    except NotShareableError as e:
        # Something the codec cannot send (a lambda inside an argument...): try pickling
        # the whole batch; if that fails too, say what manygil said.
        try:
            blob = _pickled(items)
        except Exception:
            raise e from None
        return pool.submit(call_batch_pickled, blob)


class ManygilBackend(AutoBatchingMixin, ParallelBackendBase):
    """joblib backend running each batch in a ``manygil.Pool`` interpreter.

    Args:
        pool: run on this pool instead of the shared one (its ``max_workers`` caps
            ``n_jobs``). The backend never shuts a given pool down.
        nesting_level, inner_max_num_threads: as for joblib's other backends.

    ``configure`` raises ``ValueError`` for ``n_jobs=0``; ``submit`` raises
    ``manygil.NotShareableError`` (nothing scheduled) when a function or argument cannot be
    sent to an interpreter.
    """

    default_n_jobs = -1
    supports_retrieve_callback = True
    supports_sharedmem = False
    uses_threads = False

    def __init__(self, nesting_level=None, inner_max_num_threads=None, pool=None, **kwargs):
        if pool is not None and not isinstance(pool, Pool):
            raise TypeError(f"pool must be a manygil.Pool, not {type(pool).__name__}")
        super().__init__(
            nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **kwargs
        )
        self._given_pool = pool
        self._pool: Pool | None = None
        self._futures: set = set()
        self._futures_lock = threading.Lock()

    def effective_n_jobs(self, n_jobs):
        """The number of interpreters ``n_jobs`` asks for: negative values count back from
        the number of CPUs (``-1``: all of them), capped by a given pool's size."""
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
            raise TypeError(f"n_jobs must be an int or None, not {type(n_jobs).__name__}")
        if n_jobs < 0:
            n_jobs = max(cpu_count() + 1 + n_jobs, 1)
        if self._given_pool is not None:
            n_jobs = min(n_jobs, self._given_pool.max_workers)
        return n_jobs

    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **backend_kwargs):
        """Pick the pool for this ``Parallel`` call; return its number of workers. One job
        falls back to joblib's sequential backend."""
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        self._pool = self._given_pool if self._given_pool is not None else _shared_pool(n_jobs)
        return n_jobs

    def submit(self, func, callback=None):
        """Send one batch to the pool; return its ``concurrent.futures.Future``."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("ManygilBackend.submit called before configure")
        items = getattr(func, "items", None)
        future = pool.submit(func) if items is None else _submit_batch(pool, items)
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _forget(self, future) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def retrieve_result_callback(self, future):
        """The batch's list of results, or the task's exception raised."""
        return future.result()

    def abort_everything(self, ensure_ready=True):
        """Cancel the batches still queued and interrupt the running ones; the pool stays
        usable for later calls."""
        with self._futures_lock:
            futures = list(self._futures)
        for future in futures:
            future.cancel()

    def terminate(self):
        """End of a ``Parallel`` call: keep the pool for the next one."""
        self._pool = None
        self.reset_batch_stats()


register_parallel_backend(BACKEND_NAME, ManygilBackend)
