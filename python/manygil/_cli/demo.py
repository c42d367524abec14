"""``python -m manygil demo``: CPU-bound Python running in parallel in own-GIL
interpreters, next to the same work on threads, measured in the same run."""

from __future__ import annotations

import os
import sys
import threading
import time


def count_primes(limit: int) -> int:
    """A pure-Python CPU-bound kernel (runs in any interpreter)."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def _timed(fn) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _in_threads(fn, args: list) -> list:
    """``[fn(a) for a in args]``, each call on its own thread."""
    out = [None] * len(args)

    def run(k):
        out[k] = fn(args[k])

    ts = [threading.Thread(target=run, args=(k,)) for k in range(len(args))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    from ..interpreters import create

    argparse.ArgumentParser(
        prog="python -m manygil demo",
        description="Count primes in serial, on threads and in manygil interpreters, one job "
        "per CPU, and print the speedups (a few seconds). `python -m manygil bench --quick` "
        "is the full comparison.",
    ).parse_args(argv)
    workers = max(2, os.cpu_count() or 2)
    limit = 250_000
    jobs = [limit] * workers
    print(
        f"manygil demo: count primes below {limit:,} {workers} times "
        f"({workers} workers, Python {'.'.join(map(str, sys.version_info[:3]))})"
    )

    serial_t, serial = _timed(lambda: [count_primes(n) for n in jobs])
    print(f"  serial                      {serial_t:6.2f} s")

    threads_t, threaded = _timed(lambda: _in_threads(count_primes, jobs))
    print(f"  threads (one shared GIL)    {threads_t:6.2f} s   {serial_t / threads_t:4.2f}x")

    interps = [create() for _ in range(workers)]
    try:
        for i in interps:  # warm-up: import the kernel's module in each interpreter
            i.call(count_primes, 10)
        calls = [lambda n, i=i: i.call(count_primes, n) for i in interps]
        interp_t, parallel = _timed(
            lambda: _in_threads(lambda k: calls[k](jobs[k]), list(range(len(jobs))))
        )
    finally:
        for i in interps:
            i.close()
    print(f"  manygil interpreters        {interp_t:6.2f} s   {serial_t / interp_t:4.2f}x")
    if not (serial == threaded == parallel):
        print("  ERROR: the backends disagree on the result")
        return 1
    print(f"  every backend found {serial[0]:,} primes per job")
    return 0
