"""manygil.Pool against the stdlib executors, measured in one run (issue 5's goals).

Reports, as ratios against baselines from the same run: round trip of one trivial task,
tiny tasks per second through chunked map, CPU-bound speedup against serial, a 16 MiB
bytes argument against one memcpy of it, pool start (until every worker answered) and
RSS per idle worker (in a fresh process). Then, on one manygil pool, the same functions sent by value (defined
in ``__main__``) against by reference (importable module), after their first call.

    python bench/bench_pool.py [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

import manygil
from procstat import rss_kib


def noop():
    return None


def square(x):
    return x * x


def nbytes(b):
    return len(b)


def burn(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


# The same functions defined in a `__main__` namespace: sent by value (cloudpickle), however
# this file is run.
_MAIN_NS: dict = {"__name__": "__main__"}
exec("def noop():\n    return None\n\ndef square(x):\n    return x * x\n", _MAIN_NS)


def _module_functions():
    """This file as an importable module (sent by reference)."""
    if __name__ != "__main__":
        return sys.modules[__name__]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    return importlib.import_module("bench_pool")


def _main_vs_module(workers, n_rt, n_map) -> None:
    """Round trip (Pool.submit and Interpreter.call) and chunked map of a `__main__`
    function against a module function, interleaved on the same pool and interpreter."""
    mod = _module_functions()
    kinds = {
        "module": (mod.noop, mod.square),
        "__main__": (_MAIN_NS["noop"], _MAIN_NS["square"]),
    }
    chunk = max(1, n_map // (workers * 8))
    rounds, batch = 25, max(20, n_rt // 10)
    times: dict = {k: {"submit": [], "call": [], "map": []} for k in kinds}

    def per_call(f, n):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - t0) / n * 1e6

    with manygil.Pool(workers) as p, manygil.create() as it:
        for noop_fn, square_fn in kinds.values():  # first calls: encode and decode once
            for _ in range(workers * 4):
                p.submit(noop_fn).result()
            it.call(noop_fn)
            sum(p.map(square_fn, range(workers * 4), chunksize=1))
        # Short batches, alternating kinds (and which goes first), so both see the same
        # machine load; the ratio of each round's pair is what is reported.
        for r in range(rounds):
            order = list(kinds.items())
            if r % 2:
                order.reverse()
            for k, (noop_fn, square_fn) in order:
                times[k]["submit"].append(per_call(lambda f=noop_fn: p.submit(f).result(), batch))
                times[k]["call"].append(per_call(lambda f=noop_fn: it.call(f), batch))
                t0 = time.perf_counter()
                sum(p.map(square_fn, range(n_map // 10), chunksize=max(1, chunk // 10)))
                times[k]["map"].append((time.perf_counter() - t0) / (n_map // 10) * 1e6)
    m, v = times["module"], times["__main__"]
    print("manygil, a __main__ function (by value) vs a module function (by reference),")
    print(f"after the first call; median of {rounds} interleaved rounds:")
    label = {"submit": "Pool round trip", "call": "Interpreter.call", "map": "chunked map/item"}
    for what in ("submit", "call", "map"):
        ratio = statistics.median(b / a for a, b in zip(m[what], v[what], strict=True))
        print(
            f"  {label[what]:18}{statistics.median(v[what]):>9.2f} us vs "
            f"{statistics.median(m[what]):>7.2f} us   __main__/module {ratio:5.3f}x"
        )


def _best(fn, repeats=5):
    xs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return min(xs), statistics.median(xs)


def _executors(workers):
    ctx = multiprocessing.get_context("forkserver")
    out = {
        "threads": lambda: cf.ThreadPoolExecutor(workers),
        "processes": lambda: cf.ProcessPoolExecutor(workers, mp_context=ctx),
        "manygil": lambda: manygil.Pool(workers),
    }
    if hasattr(cf, "InterpreterPoolExecutor"):
        out["interpreters"] = lambda: cf.InterpreterPoolExecutor(workers)
    return out


# How long each start-up task holds its worker: long enough that the executors (all of
# which start workers as work arrives) start one per task.
HOLD_S = 0.05


def _start_ms(make, workers):
    """Construct the executor and wait until every worker has run a task, all at once
    (time.sleep: importable everywhere, so no worker imports this script for it); the
    tasks' own HOLD_S is subtracted."""
    t0 = time.perf_counter()
    ex = make()
    list(ex.map(time.sleep, [HOLD_S] * workers, chunksize=1))
    dt = (time.perf_counter() - t0 - HOLD_S) * 1e3
    return ex, dt


def _idle_rss_mib(name, workers) -> float:
    """RSS per idle worker of executor `name`, measured in a fresh process (in this one,
    memory freed by the executors measured before would be reused and hide the cost)."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-of", name, "--workers", str(workers)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(out.stdout.split()[-1])


def _print_idle_rss(name, workers) -> None:
    """The --rss-of mode: start `name` with every worker up, print MiB per worker."""
    before = rss_kib()
    ex, _ = _start_ms(_executors(workers)[name], workers)
    if name == "processes":
        kids = multiprocessing.active_children()
        mib = sum(rss_kib(p.pid) for p in kids) / max(1, len(kids)) / 1024
    else:
        mib = (rss_kib() - before) / workers / 1024
    ex.shutdown(wait=True)
    print(f"{mib:.2f}")


def _measure(ex, workers, n_rt, n_map, cpu_n, payload) -> dict:
    """Round trip, chunked map rate, CPU-bound wall time and a 16 MiB argument on `ex`."""
    r = {}
    ex.submit(noop).result()
    r["rt_us"] = _best(lambda: [ex.submit(noop).result() for _ in range(n_rt)])[0] / n_rt * 1e6
    chunk = max(1, n_map // (workers * 8))
    t = _best(lambda: sum(ex.map(square, range(n_map), chunksize=chunk)), 3)[0]
    r["map_per_s"] = n_map / t
    r["cpu_s"] = _best(lambda: list(ex.map(burn, [cpu_n] * workers)), 2)[0]
    r["bytes_ms"] = _best(lambda: ex.submit(nbytes, payload).result(), 3)[0] * 1e3
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument(
        "--callables-only", action="store_true", help="only the __main__ vs module comparison"
    )
    ap.add_argument("--rss-of", help=argparse.SUPPRESS)  # internal: see _idle_rss_mib
    a = ap.parse_args(argv)
    if a.rss_of:
        _print_idle_rss(a.rss_of, a.workers)
        return 0
    n_rt = 500 if a.quick else 3000
    n_map = 200_000 if a.quick else 1_000_000
    payload = os.urandom(16 << 20)
    cpu_n = 2_000_000 if a.quick else 6_000_000
    if a.callables_only:
        _main_vs_module(a.workers, n_rt, n_map)
        return 0

    serial_cpu = _best(lambda: [burn(cpu_n) for _ in range(a.workers)], 2)[0]
    memcpy = _best(lambda: bytearray(payload), 5)[0]
    rows = {}
    for name, make in _executors(a.workers).items():
        ex, start_ms = _start_ms(make, a.workers)
        r = {"start_ms": start_ms}
        # RSS per idle worker, right after start-up (before any task imports this script)
        if name != "threads":
            r["rss_mib"] = _idle_rss_mib(name, a.workers)
        r.update(_measure(ex, a.workers, n_rt, n_map, cpu_n, payload))
        ex.shutdown(wait=True)
        rows[name] = r

    t = rows["threads"]
    print(
        f"Python {sys.version.split()[0]}, {a.workers} workers, best of repeats; "
        f"serial CPU {serial_cpu:.2f}s, one 16 MiB memcpy {memcpy * 1e3:.2f} ms"
    )
    hdr = f"{'':14}{'round trip':>16}{'map tasks/s':>22}{'CPU speedup':>14}"
    print(hdr + f"{'16 MiB arg':>22}{'start':>10}{'RSS/worker':>12}")
    for name, r in rows.items():
        rss = f"{r['rss_mib']:.1f} MiB" if "rss_mib" in r else "-"
        print(
            f"{name:14}{r['rt_us']:8.1f} us {r['rt_us'] / t['rt_us']:4.2f}x"
            f"{r['map_per_s']:>14,.0f} {r['map_per_s'] / t['map_per_s']:5.1f}x"
            f"{serial_cpu / r['cpu_s']:>13.2f}x"
            f"{r['bytes_ms']:>10.2f} ms {r['bytes_ms'] / (memcpy * 1e3):5.2f}xcpy"
            f"{r['start_ms']:>8.1f}ms{rss:>12}"
        )
    print("ratios: round trip and map vs threads; 16 MiB vs one memcpy; speedup vs serial")
    _main_vs_module(a.workers, n_rt, n_map)
    return 0


if __name__ == "__main__":
    sys.exit(main())
