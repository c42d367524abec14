"""Dask and joblib on manygil against their usual parallel setups, in one run (issue 12).

Dask: a LocalCluster worker process with W threads (the default thread executor), W worker
processes with one thread each (the usual way to get CPU parallelism), and one worker
process with W threads whose tasks run in manygil interpreters (manygil.dask.PoolPlugin,
default=True). CPU-bound pure-Python tasks: throughput; tiny tasks: per-task overhead; the
RSS of the worker processes after the run; and the RSS with M idle-but-warmed workers
(process workers against one worker with an M-interpreter pool), where per-worker memory
shows.

joblib: backends "threading", "loky" and "manygil" with n_jobs=W, on tiny tasks (joblib's
auto-batching; a module's function, sent by name, and one of this script, sent by value)
and CPU-bound tasks; memory added to the process tree.

The machine may be shared: absolute numbers move between runs, and a burst of load from
elsewhere can hit one setup. So the setups run side by side in interleaved rounds (the same
tasks on every setup in turn, the order rotating), every number comes with ratios against
the other setups of the same run, and each setup reports the cores it obtained (the CPU
seconds of its processes over the wall time): on 2 cores, parallel setups can only be ~2x
the GIL-bound thread setup when they obtain ~2 cores.

    python bench/bench_scale_out.py [--workers W] [--memory-workers M] [--rounds R]
                                    [--quick] [--json PATH] [--skip dask memory joblib]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import scale_out_tasks as tasks
from procstat import rss_kib

WAIT = 120  # seconds: the bound of every wait on a cluster


def _tree_rss_kib() -> int:
    """RSS of this process's children (recursively), in KiB."""
    import psutil

    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss // 1024
        except psutil.Error:
            pass
    return total


def cores_available(workers: int, seconds: float = 2.0) -> float:
    """How many cores ``workers`` busy-looping processes obtain right now: the most any
    setup of this run can use (on a shared machine, the share the kernel gives this run)."""
    import subprocess

    code = (
        "import time\n"
        f"end = time.monotonic() + {seconds}\n"
        "while time.monotonic() < end:\n"
        "    pass\n"
    )
    before = os.times()
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(workers)]
    for p in procs:
        p.wait()
    wall = time.perf_counter() - t0
    after = os.times()
    used = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return used / wall


# --- Dask ------------------------------------------------------------------------------


def _cluster(setup: str, workers: int):
    """(cluster, client) for one setup; the caller closes both."""
    from distributed import Client, LocalCluster

    if setup == "processes":
        n_workers, threads = workers, 1
    else:
        n_workers, threads = 1, workers
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    )
    client = Client(cluster, timeout=WAIT)
    client.wait_for_workers(n_workers, timeout=WAIT)
    if setup == "manygil":
        import manygil.dask

        replies = client.register_plugin(manygil.dask.PoolPlugin(default=True))
        bad = {a: r for a, r in replies.items() if r.get("status") != "OK"}
        if bad:
            raise RuntimeError(f"PoolPlugin failed on {bad}")
    return cluster, client


def _gather(client, futures):
    return client.gather(futures, errors="raise")


def _warm_up(setup: str, client, slots: int) -> None:
    """Bring every worker slot up: tasks that wait side by side (thread pools and manygil
    pools start their threads and interpreters on demand), then first calls of the CPU task.
    Raises if the manygil worker did not start one interpreter per slot."""
    _gather(client, client.map(time.sleep, [0.2] * (2 * slots), pure=False))
    _gather(client, client.map(tasks.cpu_work, [1000] * (4 * slots), pure=False))
    if setup == "manygil":
        started = sum(client.run(tasks.pool_workers).values())
        if started != slots:
            raise AssertionError(f"dask manygil: {started} interpreters started, not {slots}")


SETUPS = ("threads", "processes", "manygil")


def bench_dask(workers: int, n_cpu: int, work: int, n_tiny: int, rounds: int) -> dict:
    """The three setups side by side: their clusters all up, then ``rounds`` rounds that
    each run the same CPU-bound and tiny tasks on every setup in turn (the order rotates),
    so that a burst of load from elsewhere on a shared machine hits one round of every
    setup rather than one setup's whole measurement. Per setup: the median over rounds of
    the CPU throughput and of the cores the worker processes obtained (their CPU seconds
    over the wall time), the per-round throughput ratios against threads, and the tiny
    tasks' cost over all rounds."""
    clusters: dict = {}
    try:
        for setup in SETUPS:
            clusters[setup] = _cluster(setup, workers)
        expected = tasks.cpu_work(work)
        for setup, (_, client) in clusters.items():
            _warm_up(setup, client, workers)
        rows = {s: {"cpu_rounds": [], "cores_rounds": [], "tiny_s": 0.0} for s in SETUPS}
        tiny_per_round = max(n_tiny // rounds, 1)
        for r in range(rounds):
            order = SETUPS[r % len(SETUPS) :] + SETUPS[: r % len(SETUPS)]
            for setup in order:
                client = clusters[setup][1]
                row = rows[setup]
                cpu0 = sum(client.run(tasks.cpu_seconds).values())
                t0 = time.perf_counter()
                out = _gather(client, client.map(tasks.cpu_work, [work] * n_cpu, pure=False))
                cpu_s = time.perf_counter() - t0
                used = sum(client.run(tasks.cpu_seconds).values()) - cpu0
                if out != [expected] * n_cpu:
                    raise AssertionError(f"dask {setup}: wrong CPU results")
                row["cpu_rounds"].append(n_cpu / cpu_s)
                row["cores_rounds"].append(used / cpu_s)
                t0 = time.perf_counter()
                out = _gather(client, client.map(tasks.add_one, range(tiny_per_round), pure=False))
                row["tiny_s"] += time.perf_counter() - t0
                if out != [x + 1 for x in range(tiny_per_round)]:
                    raise AssertionError(f"dask {setup}: wrong tiny-task results")
        for setup, (_, client) in clusters.items():
            rows[setup]["rss_mib"] = sum(client.run(tasks.rss_kib).values()) / 1024
    finally:
        for cluster, client in clusters.values():
            client.close(timeout=WAIT)
            cluster.close(timeout=WAIT)
    base = rows["threads"]["cpu_rounds"]
    for row in rows.values():
        row["cpu_tasks_per_s"] = statistics.median(row["cpu_rounds"])
        row["cores_used"] = statistics.median(row["cores_rounds"])
        # Tasks per CPU-second: the setup's efficiency, whatever share of the machine it got.
        row["tasks_per_cpu_s"] = statistics.median(
            x / c for x, c in zip(row["cpu_rounds"], row["cores_rounds"], strict=True) if c > 0
        )
        row["ratio_rounds"] = [x / b for x, b in zip(row["cpu_rounds"], base, strict=True)]
        row["tiny_us_per_task"] = row.pop("tiny_s") / (tiny_per_round * rounds) * 1e6
    return rows


def bench_dask_memory(setup: str, workers: int) -> float:
    """RSS (MiB) of the worker processes with ``workers`` warmed-up worker slots."""
    cluster, client = _cluster(setup, workers)
    try:
        _warm_up(setup, client, workers)
        _gather(client, client.map(tasks.cpu_work, [20_000] * (4 * workers), pure=False))
        return sum(client.run(tasks.rss_kib).values()) / 1024
    finally:
        client.close(timeout=WAIT)
        cluster.close(timeout=WAIT)


# --- joblib ----------------------------------------------------------------------------


BACKENDS = ("threading", "loky", "manygil")


def add_one_here(x: int) -> int:
    """A tiny task defined in the script (``__main__``): it travels by value."""
    return x + 1


def _tree_cpu_s() -> float:
    """CPU seconds (user + system) used by this process and its live children."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def bench_joblib(workers: int, n_cpu: int, work: int, n_tiny: int, rounds: int) -> dict:
    """The three backends with n_jobs=workers: each warmed up in turn (the memory it adds
    to the process tree is measured then), then ``rounds`` interleaved rounds of the same
    tiny and CPU-bound tasks on every backend (the order rotates). Per backend: the median
    CPU throughput and cores obtained over the rounds, the per-round throughput ratios
    against threading, and the tiny tasks' cost over all rounds."""
    import manygil.joblib  # registers "manygil"
    from joblib import Parallel, delayed, parallel_config

    rows = {
        b: {"cpu_rounds": [], "cores_rounds": [], "tiny_s": 0.0, "tiny_script_s": 0.0}
        for b in BACKENDS
    }
    try:
        for backend in BACKENDS:
            rss0, children0 = rss_kib(), _tree_rss_kib()
            with parallel_config(backend=backend, n_jobs=workers):
                # Side by side first: the pools start their workers on demand.
                Parallel(batch_size=1)(delayed(time.sleep)(0.2) for _ in range(2 * workers))
                Parallel()(delayed(tasks.cpu_work)(1000) for _ in range(4 * workers))
                Parallel()(delayed(add_one_here)(x) for x in range(4 * workers))  # unpickling
            added = (rss_kib() - rss0) + (_tree_rss_kib() - children0)
            if backend == "manygil":
                started = manygil.joblib._shared[1].stats()["workers"]
                if started != workers:
                    raise AssertionError(f"joblib manygil: {started} interpreters, not {workers}")
            rows[backend]["rss_added_mib"] = added / 1024
        expected = tasks.cpu_work(work)
        tiny_per_round = max(n_tiny // rounds, 1)
        for r in range(rounds):
            for backend in BACKENDS[r % 3 :] + BACKENDS[: r % 3]:
                row = rows[backend]
                with parallel_config(backend=backend, n_jobs=workers):
                    t0 = time.perf_counter()
                    out = Parallel()(delayed(tasks.add_one)(x) for x in range(tiny_per_round))
                    row["tiny_s"] += time.perf_counter() - t0
                    if out != [x + 1 for x in range(tiny_per_round)]:
                        raise AssertionError(f"joblib {backend}: wrong tiny-task results")
                    # A function of the script itself: loky and manygil send it by value.
                    t0 = time.perf_counter()
                    out = Parallel()(delayed(add_one_here)(x) for x in range(tiny_per_round))
                    row["tiny_script_s"] += time.perf_counter() - t0
                    if out != [x + 1 for x in range(tiny_per_round)]:
                        raise AssertionError(f"joblib {backend}: wrong tiny-task results")
                    cpu0 = _tree_cpu_s()
                    t0 = time.perf_counter()
                    out = Parallel()(delayed(tasks.cpu_work)(work) for _ in range(n_cpu))
                    cpu_s = time.perf_counter() - t0
                    used = _tree_cpu_s() - cpu0
                    if out != [expected] * n_cpu:
                        raise AssertionError(f"joblib {backend}: wrong CPU results")
                row["cpu_rounds"].append(n_cpu / cpu_s)
                row["cores_rounds"].append(used / cpu_s)
    finally:
        # loky keeps its worker processes for the next call, manygil its pool.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
        manygil.joblib._shutdown_shared_pool()
    base = rows["threading"]["cpu_rounds"]
    for row in rows.values():
        row["cpu_tasks_per_s"] = statistics.median(row["cpu_rounds"])
        row["cores_used"] = statistics.median(row["cores_rounds"])
        # Tasks per CPU-second: the setup's efficiency, whatever share of the machine it got.
        row["tasks_per_cpu_s"] = statistics.median(
            x / c for x, c in zip(row["cpu_rounds"], row["cores_rounds"], strict=True) if c > 0
        )
        row["ratio_rounds"] = [x / b for x, b in zip(row["cpu_rounds"], base, strict=True)]
        row["tiny_us_per_task"] = row.pop("tiny_s") / (tiny_per_round * rounds) * 1e6
        row["tiny_script_us_per_task"] = row.pop("tiny_script_s") / (tiny_per_round * rounds) * 1e6
    return rows


# --- report ----------------------------------------------------------------------------


def _table(title: str, rows: dict, columns: list[tuple[str, str, str]], base: str) -> None:
    print(f"\n{title}")
    header = f"{'':<12}" + "".join(f"{label:>22}" for _, label, _ in columns)
    print(header)
    for name, row in rows.items():
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            if value is None:
                cells.append(f"{'-':>22}")
                continue
            ref = rows[base].get(key)
            if ref is None or ref <= 1:  # e.g. ~0 MiB added by threads: no useful ratio
                cells.append(f"{format(value, fmt):>12}        ")
            else:
                cells.append(f"{format(value, fmt):>12} ({value / ref:5.2f}x)")
        print(f"{name:<12}" + "".join(cells))
    print(f"(ratios: against {base!r} of this run)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.process_cpu_count() or 2)
    parser.add_argument("--memory-workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--json", help="write the measurements to this file")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of the Dask measurements"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["dask", "memory", "joblib"])
    args = parser.parse_args(argv)
    w = args.workers
    if args.quick:
        n_cpu, work, n_tiny, n_tiny_joblib = 4 * w, 100_000, 200, 5_000
    else:
        n_cpu, work, n_tiny, n_tiny_joblib = 16 * w, 1_000_000, 2_000, 100_000

    t0 = time.process_time()
    tasks.cpu_work(work)
    serial_task_s = time.process_time() - t0
    available = [cores_available(w)]
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {w} busy processes obtain "
        f"{available[0]:.2f} cores; W={w} workers; CPU task ~{serial_task_s * 1e3:.0f} ms "
        f"CPU ({n_cpu} tasks); tiny tasks: {n_tiny} (Dask), {n_tiny_joblib} (joblib)"
    )
    results: dict = {"workers": w, "serial_task_s": serial_task_s, "cores_available": available}

    if "dask" not in args.skip:
        print("  dask: starting the three clusters...", file=sys.stderr, flush=True)
        dask_rows = bench_dask(w, n_cpu, work, n_tiny, args.rounds)
        results["dask"] = dask_rows
        _table(
            f"Dask LocalCluster, W={w}: threads = 1 worker x {w} threads; processes = {w} "
            f"workers x 1 thread; manygil = 1 worker x {w} threads + PoolPlugin(default=True); "
            f"medians of {args.rounds} interleaved rounds",
            dask_rows,
            [
                ("cpu_tasks_per_s", "CPU tasks/s", ".2f"),
                ("cores_used", "cores obtained", ".2f"),
                ("tasks_per_cpu_s", "tasks/CPU-s", ".2f"),
                ("tiny_us_per_task", "tiny: us/task", ".0f"),
                ("rss_mib", "worker RSS MiB", ".0f"),
            ],
            "threads",
        )
        d = dask_rows
        for setup in ("processes", "manygil"):
            print(
                f"{setup} / threads, per round: "
                + " ".join(f"{x:.2f}" for x in d[setup]["ratio_rounds"])
                + "; cores obtained per round: "
                + " ".join(f"{x:.2f}" for x in d[setup]["cores_rounds"])
                + f" (threads: {' '.join(f'{x:.2f}' for x in d['threads']['cores_rounds'])})"
            )
        print(
            f"manygil vs processes: CPU throughput "
            f"{d['manygil']['cpu_tasks_per_s'] / d['processes']['cpu_tasks_per_s']:.2f}x, "
            f"RSS {d['manygil']['rss_mib'] / d['processes']['rss_mib']:.2f}x; "
            f"vs threads: CPU {d['manygil']['cpu_tasks_per_s'] / d['threads']['cpu_tasks_per_s']:.2f}x"
        )
        print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    if "memory" not in args.skip and not args.quick:
        m = args.memory_workers
        mem = {}
        for setup in ("threads", "processes", "manygil"):
            print(f"  dask memory: {setup} x {m}...", file=sys.stderr, flush=True)
            mem[setup] = {"rss_mib": bench_dask_memory(setup, m)}
        results["dask_memory"] = {"workers": m, **mem}
        _table(
            f"Dask worker RSS with {m} warmed-up worker slots",
            mem,
            [("rss_mib", "worker RSS MiB", ".0f")],
            "processes",
        )

    if "joblib" not in args.skip:
        print("  joblib...", file=sys.stderr, flush=True)
        rows = bench_joblib(w, n_cpu, work, n_tiny_joblib, args.rounds)
        results["joblib"] = rows
        _table(
            f"joblib, n_jobs={w}; medians of {args.rounds} interleaved rounds",
            rows,
            [
                ("cpu_tasks_per_s", "CPU tasks/s", ".2f"),
                ("cores_used", "cores obtained", ".2f"),
                ("tasks_per_cpu_s", "tasks/CPU-s", ".2f"),
                ("tiny_us_per_task", "tiny: us/task", ".2f"),
                ("tiny_script_us_per_task", "tiny, script fn", ".2f"),
                ("rss_added_mib", "RSS added MiB", ".0f"),
            ],
            "threading",
        )
        for backend in ("loky", "manygil"):
            print(
                f"{backend} / threading, per round: "
                + " ".join(f"{x:.2f}" for x in rows[backend]["ratio_rounds"])
                + "; cores obtained per round: "
                + " ".join(f"{x:.2f}" for x in rows[backend]["cores_rounds"])
            )
        m, lk = rows["manygil"], rows["loky"]
        print(
            f"manygil vs loky: CPU throughput {m['cpu_tasks_per_s'] / lk['cpu_tasks_per_s']:.2f}x, "
            f"tiny-task cost {m['tiny_us_per_task'] / lk['tiny_us_per_task']:.2f}x, RSS added "
            f"{m['rss_added_mib'] / max(lk['rss_added_mib'], 1):.2f}x"
        )
        print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    available.append(cores_available(w))
    print(
        f"\n{w} busy processes obtained {available[0]:.2f} cores before the run, "
        f"{available[1]:.2f} after (load {' '.join(f'{x:.1f}' for x in os.getloadavg())}): "
        f"a parallel setup can approach {w}x the GIL-bound threads only when it obtains "
        f"~{w} cores"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
