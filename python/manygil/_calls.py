"""Small call wrappers that run *inside* the pool's interpreters for the Dask and joblib
integrations (``manygil.dask``, ``manygil.joblib``).

They are sent by module and name, so this module must import in any own-GIL interpreter:
it imports nothing beyond the standard library (never dask, distributed or joblib).
"""

from __future__ import annotations

import threading
import time


def call_batch(items: list) -> list:
    """joblib's batch: ``[func(*args, **kwargs) for func, args, kwargs in items]``."""
    return [func(*args, **kwargs) for func, args, kwargs in items]


def call_timed(func, args: tuple, kwargs: dict) -> tuple:
    """``func(*args, **kwargs)`` with its wall-clock start and stop and the thread that ran
    it: ``(result, start, stop, thread_ident)``. Exceptions propagate unchanged."""
    start = time.time()
    result = func(*args, **kwargs)
    return result, start, time.time(), threading.get_ident()


def call_node_timed(node, values: dict) -> tuple:
    """A Dask graph node that nests other tasks (``node(values)``, run here with the
    ``dask._task_spec`` of this interpreter), timed like :func:`call_timed`."""
    start = time.time()
    result = node(values)
    return result, start, time.time(), threading.get_ident()
