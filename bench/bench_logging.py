"""The cost of forwarding worker log records to the main interpreter (issue 24, item 6):
tasks that log one record each, through ``Pool(forward_logging=True)`` (the default) and
``False``, interleaved rounds on the same machine; ratio of medians.

    python bench/bench_logging.py [--tasks 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import manygil


def log_once(i, work=0):
    import logging

    total = sum(range(work))  # the task's own work
    logging.getLogger("bench.task").warning("task %d done", i)
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=int, nargs="+", default=[0, 5000], help="sum(range(N)) per task")
    a = ap.parse_args(argv)
    # Main handles forwarded records (formatting them) but writes nowhere.
    handler = logging.NullHandler()
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    pools = {f: manygil.Pool(a.workers, forward_logging=f) for f in (True, False)}
    print(
        f"Python {sys.version.split()[0]}, {a.workers} workers, {a.tasks} tasks logging one "
        f"WARNING each (main formats nothing, writes nowhere), median of {a.rounds} rounds:"
    )
    try:
        for p in pools.values():
            list(p.map(log_once, range(a.workers * 4), chunksize=1))
        for work in a.work:
            times = {True: [], False: []}
            for r in range(a.rounds):
                for f in (True, False) if r % 2 else (False, True):
                    t0 = time.perf_counter()
                    for fut in [pools[f].submit(log_once, i, work) for i in range(a.tasks)]:
                        fut.result()
                    times[f].append((time.perf_counter() - t0) / a.tasks * 1e6)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(
                f"  task sum(range({work})): forwarded {on:7.2f} us/task, kept in the "
                f"workers {off:7.2f} us/task: {on / off:.3f}x"
            )
    finally:
        for p in pools.values():
            p.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
