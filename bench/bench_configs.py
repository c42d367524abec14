"""The interpreter presets side by side (``manygil.InterpreterConfig``: "isolated", the
default, against "legacy"), measured in one run:

- parallel speedup: a CPU-bound pure-Python function, the same tasks on a 2-worker pool
  against a 1-worker pool of the same preset, best of interleaved rounds (threads of one
  GIL as the baseline: ~1.0), and the CPU cores the process kept busy meanwhile (one GIL:
  at most 1);
- start-up: ``create()`` until the interpreter is ready, and ``close()``, per interpreter;
- round trip of ``Interpreter.call(noop)``;
- memory per idle interpreter, RSS and PSS (``procstat``), in a fresh process per preset;
- which extension modules load, in a fresh process per preset: in a first interpreter,
  then in a second one while the first is alive (some load once per process only);
- numpy work: what a 2-worker legacy pool does with it (in a fresh process), against the
  speedup of ``Pool(fallback="process")`` (process workers), 2 workers against 1.

Ratios are against the "isolated" row (speedup against its own 1-worker pool). Other jobs
on the machine shrink the speedups (they only ever slow a run down: best-of times are
kept); the load average is printed first.

    python bench/bench_configs.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import time

import manygil
from procstat import memory_kib

PRESETS = ("isolated", "legacy")

# (module, what it is): stdlib single-phase or isolated-ready modules, and third-party
# ones installed by toolchain/requirements-extras.txt.
EXTENSIONS = (
    ("_decimal", "stdlib decimal (multi-phase, per-interpreter GIL)"),
    ("_datetime", "stdlib datetime"),
    ("_ctypes", "stdlib ctypes"),
    ("_sqlite3", "stdlib sqlite3"),
    ("readline", "stdlib readline (single-phase)"),
    ("_curses", "stdlib curses (single-phase)"),
    ("faulthandler", "stdlib faulthandler"),
    ("numpy", "numpy"),
    ("PIL._imaging", "Pillow's C core"),
    ("lxml.etree", "lxml (Cython)"),
    ("yaml._yaml", "PyYAML's C loader (Cython)"),
)


def noop():
    return None


def burn(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _arrive(barrier) -> None:
    barrier.wait(60)


def speedup(make, tasks: int, size: int, repeats: int) -> tuple[float, float]:
    """``tasks`` burns of ``size`` on 1 worker and on 2, interleaved ``repeats`` times (a
    machine whose load changes affects both alike). Returns the best 1-worker time over
    the best 2-worker time (other jobs on the machine only ever slow a run down), and the
    most CPU cores the process kept busy during a 2-worker run (process CPU seconds / wall
    seconds: at most 1 under one GIL)."""
    expected = burn(size)
    with make(1) as one, make(2) as two:
        for pool, workers in ((one, 1), (two, 2)):
            # Start every worker (they start as work waits: tasks that wait for each other
            # need them all) and give each this module's functions.
            gate = manygil.Barrier(workers)
            list(pool.map(_arrive, [gate] * workers))
            small = [size // 10] * 4 * workers
            assert list(pool.map(burn, small)) == [burn(size // 10)] * len(small)

        def run(pool):
            # Every task queued at once: the caller then only waits (a map refilling its
            # window would need the caller's GIL meanwhile, which one GIL makes costly).
            cpu = sum(os.times()[:2])
            t = time.perf_counter()
            futures = [pool.submit(burn, size) for _ in range(tasks)]
            assert [f.result() for f in futures] == [expected] * tasks
            wall = time.perf_counter() - t
            return wall, (sum(os.times()[:2]) - cpu) / wall

        ones, twos, busy = [], [], []
        for _ in range(repeats):
            ones.append(run(one)[0])
            t2, cores = run(two)
            twos.append(t2)
            busy.append(cores)
    return min(ones) / min(twos), max(busy)


def startup_ms(preset: str, n: int) -> tuple[float, float]:
    """Median milliseconds of ``create()`` (until ready) and of ``close()``."""
    made, closed = [], []
    for _ in range(n):
        t = time.perf_counter()
        i = manygil.create(config=preset)
        made.append(time.perf_counter() - t)
        t = time.perf_counter()
        i.close()
        closed.append(time.perf_counter() - t)
    return statistics.median(made) * 1e3, statistics.median(closed) * 1e3


def round_trip_us(preset: str, calls: int) -> float:
    with manygil.create(config=preset) as i:
        i.call(noop)
        return _median(lambda: [i.call(noop) for _ in range(calls)], 5) / calls * 1e6


# --- in a fresh process: memory and extensions --------------------------------------------


def child_memory(preset: str, n: int) -> dict:
    """RSS/PSS growth per idle interpreter (each has run ``pass``), KiB."""
    manygil.create(config=preset).close()  # the first one pays for process-wide set-up
    before = memory_kib()
    interps = [manygil.create(config=preset) for _ in range(n)]
    for i in interps:
        i.exec("pass")
    after = memory_kib()
    for i in interps:
        i.close()
    return {k: (after[k] - before[k]) / n for k in ("rss", "pss")}


def _try_import(name):
    import importlib
    import warnings

    warnings.simplefilter("ignore")  # numpy warns about sub-interpreters
    try:
        importlib.import_module(name)
    except ImportError as e:
        return (str(e).strip().splitlines() or ["ImportError"])[-1][:70]
    return None


def child_extensions(preset: str) -> dict:
    """For each extension: None if it loads in both interpreters, else the error of the
    first or the second."""
    import importlib.util

    out = {}
    for name, _ in EXTENSIONS:
        # The top-level package only: finding a submodule would import its package here,
        # and some (yaml) import their extension from it, using up a once-per-process load.
        if importlib.util.find_spec(name.split(".")[0]) is None:
            out[name] = ["not installed", "not installed"]
            continue
        first = manygil.create(config=preset)
        second = manygil.create(config=preset)
        out[name] = [first.call(_try_import, name), second.call(_try_import, name)]
        first.close()
        second.close()
    return out


def crunch_importing(n: int) -> float:
    """``configs_numpy_tasks.crunch`` importing numpy in its body: the main interpreter
    never imports numpy for it (a legacy interpreter could not load it after that)."""
    import warnings

    warnings.simplefilter("ignore")  # numpy warns about sub-interpreters
    import numpy as np

    a = np.arange(64, dtype=np.float64)
    total = 0.0
    for i in range(n):
        total += float((a * (i % 7)).sum())
    return total


def child_numpy_legacy(workers: int, tasks: int) -> dict:
    """numpy tasks on a legacy pool: how many ran, and why the others failed."""
    ok, errors = 0, set()
    with manygil.Pool(workers, config="legacy") as pool:
        # Hold every worker busy at once, so that each gets tasks.
        gate = manygil.Barrier(workers)
        list(pool.map(_arrive, [gate] * workers))
        futures = [pool.submit(crunch_importing, 20_000) for _ in range(tasks)]
        for f in futures:
            e = f.exception(600)
            if e is None:
                ok += 1
            else:
                errors.add(str(e).strip().splitlines()[-1][:80])
    return {"ok": ok, "failed": tasks - ok, "errors": sorted(errors)}


def numpy_fallback_speedup(tasks: int, size: int, repeats: int) -> float:
    """Best time of numpy tasks on a 1-worker ``Pool(fallback="process")`` over the best on
    a 2-worker one, interleaved rounds (the tasks run in its process workers)."""
    import warnings

    import configs_numpy_tasks as t

    expected = t.crunch(size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", manygil.FallbackWarning)
        with (
            manygil.Pool(1, fallback="process") as one,
            manygil.Pool(2, fallback="process") as two,
        ):
            for pool, workers in ((one, 1), (two, 2)):
                # Start the process workers (they start as tasks arrive).
                list(pool.map(t.crunch, [2_000] * 8 * workers))

            def run(pool):
                t0 = time.perf_counter()
                futures = [pool.submit(t.crunch, size) for _ in range(tasks)]
                assert [f.result() for f in futures] == [expected] * tasks
                return time.perf_counter() - t0

            ones, twos = [], []
            for _ in range(repeats):
                ones.append(run(one))
                twos.append(run(two))
            assert one.stats()["fallback"] > 0 and two.stats()["fallback"] > 0
    return min(ones) / min(twos)


def _in_child(what: str, preset: str, n: int) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", what, preset, str(n)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([here, *sys.path])),
        timeout=600,
    )
    if r.returncode != 0:
        raise RuntimeError(f"child {what} {preset} failed: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _verdict(first, second) -> str:
    if first is None and second is None:
        return "yes"
    if first is None:
        return "first only"
    return "no"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("--child", nargs=3, metavar=("WHAT", "PRESET", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        what, preset, n = args.child
        if what == "memory":
            res = child_memory(preset, int(n))
        elif what == "numpy":
            res = child_numpy_legacy(2, int(n))
        else:
            res = child_extensions(preset)
        print(json.dumps(res))
        return 0

    tasks, size, repeats = (4, 300_000, 3) if args.quick else (8, 2_000_000, 5)
    n_interps = 4 if args.quick else 8
    print(
        f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}; "
        f"{repeats} rounds"
    )
    rows = {}
    ratio, cores = speedup(lambda w: cf.ThreadPoolExecutor(w), tasks, size, repeats)
    rows["threads (1 GIL)"] = {"speedup": ratio, "cores": cores}
    for preset in PRESETS:
        ratio, cores = speedup(lambda w, p=preset: manygil.Pool(w, config=p), tasks, size, repeats)
        made, closed = startup_ms(preset, n_interps)
        rows[preset] = {
            "speedup": ratio,
            "cores": cores,
            "create_ms": made,
            "close_ms": closed,
            "call_us": round_trip_us(preset, 500 if args.quick else 2000),
            **_in_child("memory", preset, n_interps),
        }
    base = rows["isolated"]

    print(
        f"\nCPU-bound: {tasks} tasks of burn({size}); speedup of 2 workers against 1 (best "
        f"of {repeats} interleaved rounds each) and CPU cores busy on 2 workers (most)"
    )
    for name, r in rows.items():
        print(f"  {name:18} {r['speedup']:6.2f}x   {r['cores']:5.2f} cores")
    print(f"\nper interpreter (medians over {n_interps} of each; ratios against isolated)")
    print(
        f"  {'preset':10} {'create ms':>10} {'close ms':>9} {'call us':>8} "
        f"{'RSS MiB':>8} {'PSS MiB':>8}   ratios create/call/RSS/PSS"
    )
    for preset in PRESETS:
        r = rows[preset]
        ratios = "/".join(
            f"{r[k] / base[k]:.2f}" if base[k] else "-"
            for k in ("create_ms", "call_us", "rss", "pss")
        )
        print(
            f"  {preset:10} {r['create_ms']:10.2f} {r['close_ms']:9.2f} {r['call_us']:8.1f} "
            f"{r['rss'] / 1024:8.2f} {r['pss'] / 1024:8.2f}   {ratios}"
        )

    print("\nextension modules: loads in a first interpreter, and a second one at the same time?")
    found = {p: _in_child("extensions", p, 0) for p in PRESETS}
    print(f"  {'module':14} {'what':48} " + " ".join(f"{p:>10}" for p in PRESETS))
    notes = {}
    for name, what in EXTENSIONS:
        cells = []
        for p in PRESETS:
            first, second = found[p][name]
            if first == "not installed":
                cells.append("n/a")
                continue
            cells.append(_verdict(first, second))
            if (first or second) and p == "legacy":
                notes[name] = first or second
        print(f"  {name:14} {what:48} " + " ".join(f"{c:>10}" for c in cells))
    for name, why in notes.items():
        print(f"  legacy, {name}: {why}")

    if found["legacy"]["numpy"][0] == "not installed":
        return 0
    np_tasks, np_size = (4, 20_000) if args.quick else (8, 60_000)
    print(f"\nnumpy work ({np_tasks} tasks of {np_size} small-array operations)")
    legacy = _in_child("numpy", "legacy", np_tasks)
    print(
        f"  Pool(2, config='legacy'): {legacy['ok']} of {np_tasks} tasks ran, "
        f"{legacy['failed']} failed: {'; '.join(legacy['errors']) or '-'}"
    )
    ratio = numpy_fallback_speedup(np_tasks, np_size, repeats)
    print(f"  Pool(fallback='process'), 2 workers against 1: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
