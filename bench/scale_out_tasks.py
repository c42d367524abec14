"""Task functions of bench_scale_out.py: a module of their own, importable by module and name
in Dask worker processes and in every interpreter (the bench script itself imports
distributed, which does not import in own-GIL interpreters)."""

from __future__ import annotations


def cpu_work(n: int) -> int:
    """A CPU-bound pure-Python kernel (about 25 ns per step on CPython 3.14 here)."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def add_one(x: int) -> int:
    """A tiny task."""
    return x + 1


def rss_kib() -> int:
    """This process's resident set size in KiB (run in a worker's main interpreter)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far, all its threads (the
    interpreters of a manygil pool included): how much of the machine a setup obtained."""
    import os

    t = os.times()
    return t.user + t.system


def pool_workers(dask_worker, name: str = "manygil") -> int:
    """How many interpreters the worker's manygil pool has started (0 without one)."""
    executor = dask_worker.executors.get(name)
    pool = getattr(executor, "pool", None)
    return 0 if pool is None else pool.stats()["workers"]
