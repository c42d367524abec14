"""Pure-Python task functions for the Dask and joblib tests (importable by module and name,
in the tests' process, in Dask worker processes and in every interpreter)."""

from __future__ import annotations

import os
import time


def where() -> tuple[int, int]:
    """(process id, interpreter id) of the caller."""
    import manygil

    return os.getpid(), manygil.get_current().id


def square_where(x):
    """``(x * x, interpreter id)``."""
    import manygil

    return x * x, manygil.get_current().id


def total(pairs):
    """Sum of the first items of ``pairs`` and the set of interpreter ids that made them."""
    import manygil

    return sum(p[0] for p in pairs), {p[1] for p in pairs} | {manygil.get_current().id}


def tag(record: dict) -> dict:
    """The record with the interpreter that handled it."""
    import manygil

    return {**record, "interp": manygil.get_current().id}


def is_adult(record: dict) -> bool:
    return record["age"] >= 18


def add_age(acc: int, record: dict) -> int:
    return acc + record["age"]


def add(a, b):
    return a + b


def fail(message):
    raise ValueError(message)


def spin(seconds):
    """Busy-loop (interruptible) for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def cpu_work(n):
    """A CPU-bound pure-Python kernel."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def pool_size(dask_worker, name="manygil"):
    """Run with ``client.run``: the size of the worker's manygil pool (None: none)."""
    executor = dask_worker.executors.get(name)
    pool = getattr(executor, "pool", None)
    return None if pool is None else pool.max_workers


def executor_names(dask_worker):
    """Run with ``client.run``: the worker's executors by name, with their class names."""
    return {name: type(e).__name__ for name, e in dask_worker.executors.items()}


def add_one(x):
    return x + 1


_MARKER = None


def set_marker(value):
    """A pool initializer: remember ``value`` in this interpreter."""
    global _MARKER
    _MARKER = value


def read_marker():
    return _MARKER


def fail_on_7(x):
    return fail(x) if x == "item 7" else x


def spin_or_fail(x):
    if x == "stop":
        raise ValueError("stop")
    return spin(x)


def apply(fn, x):
    return fn(x)


def meet(directory, me, others, timeout):
    """Arrive at a rendezvous: create ``directory/me``, then wait (at most ``timeout``
    seconds, polling) until the files of ``others`` exist too. Returns ``(process id,
    interpreter id)``; raises TimeoutError naming the ones that never came, which is what
    happens when the tasks do not run at the same time."""
    import manygil

    with open(os.path.join(directory, str(me)), "w"):
        pass
    end = time.monotonic() + timeout
    while True:
        missing = [o for o in others if not os.path.exists(os.path.join(directory, str(o)))]
        if not missing:
            return os.getpid(), manygil.get_current().id
        if time.monotonic() > end:
            raise TimeoutError(f"task {me}: tasks {missing} never started alongside it")
        time.sleep(0.01)
