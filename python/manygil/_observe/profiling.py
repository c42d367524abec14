"""``Pool.profile()``: cProfile statistics of the tasks run in the workers, merged in the
caller (issue 24, item 8).

While a :class:`Collector` is active, the pool sends each task as :func:`call` (the task's
function under its own ``cProfile.Profile`` in the worker) instead of the function itself;
the worker puts the task's raw statistics (plain tuples and dicts, so they cross natively)
on the collector's ``manygil.Queue`` whether the task returns or raises, and its result
or exception reaches the caller unchanged. When the block ends, the collector merges what
arrived into one ``pstats.Stats``. cProfile in the main interpreter would see only the
caller waiting for results.
"""

from __future__ import annotations


def call(queue, fn, *args, **kwargs):
    """Runs in a worker: ``fn(*args, **kwargs)`` under a profiler whose statistics go to
    ``queue``."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return fn(*args, **kwargs)
    finally:
        profiler.disable()
        profiler.create_stats()
        try:
            queue.put_nowait(profiler.stats)
        except Exception:
            pass  # the block has ended (queue closed): this task is not counted


class _Raw:
    """What ``pstats.Stats`` loads: an object with ``create_stats()`` and ``stats``."""

    def __init__(self, stats: dict):
        self.stats = stats

    def create_stats(self):
        pass


class Collector:
    """The profile of one ``with pool.profile() as prof:`` block: ``prof.stats`` is a
    ``pstats.Stats`` of every task that ended inside the block (``None`` until the block
    ends); ``prof.tasks`` is how many were merged."""

    def __init__(self):
        from .._queue import Queue

        self.queue = Queue()
        self.stats = None
        self.tasks = 0

    def finish(self):
        import pstats

        from .._queue import QueueError

        self.queue.close()
        merged = pstats.Stats()
        while True:
            try:
                raw = self.queue.get_nowait()
            except QueueError:  # empty: closed, so nothing more comes
                break
            merged.add(_Raw(raw))
            self.tasks += 1
        self.stats = merged
        return merged


# ---- manygil serve --profile -----------------------------------------------------------


def start_worker():
    """Runs in a serve worker when it starts serving: a profiler for the whole
    interpreter. From 3.12 cProfile hears every thread of its interpreter
    (``sys.monitoring`` is per interpreter), so one profiler covers all request threads;
    with several threads (or ASGI's loop and I/O threads) their calls interleave, so
    callers and cumulative times are approximate, call counts and own times are not."""
    import cProfile

    profiler = cProfile.Profile()
    try:
        profiler.enable()
    except ValueError:  # another profiler (the application's own?) is active
        return None
    return profiler


def stop_worker(profiler, queue) -> None:
    """Runs in a serve worker when it stops serving (closed or recycled): send its raw
    statistics to the main interpreter."""
    if profiler is None:
        return
    profiler.disable()
    profiler.create_stats()
    try:
        queue.put_nowait(profiler.stats)
    except Exception:  # noqa: BLE001 - the server is gone
        pass


def write_merged(queue, path: str) -> int:
    """Merge every worker's statistics waiting in ``queue`` and write them to ``path``
    (``pstats`` format, for ``python -m pstats`` or snakeviz); returns how many workers'
    statistics were merged (0: nothing written)."""
    import pstats

    from .._queue import QueueError

    queue.close()
    merged = None
    count = 0
    while True:
        try:
            raw = queue.get_nowait()
        except QueueError:  # empty: closed, so nothing more comes
            break
        if merged is None:
            merged = pstats.Stats(_Raw(raw))
        else:
            merged.add(_Raw(raw))
        count += 1
    if merged is not None:
        merged.dump_stats(path)
    return count
