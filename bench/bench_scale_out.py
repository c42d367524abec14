"""Dask and joblib on manygil against their usual parallel setups, in one run (issue 12).

Dask: a LocalCluster worker process with W threads (the default thread executor), W worker
processes with one thread each (the usual way to get CPU parallelism), and one worker
process with W threads whose tasks run in manygil interpreters (manygil.dask.PoolPlugin,
default=True). CPU-bound pure-Python tasks: throughput; tiny tasks: per-task overhead; the
RSS of the worker processes after the run; and the RSS with M idle-but-warmed workers
(process workers against one worker with an M-interpreter pool), where per-worker memory
shows.

joblib: backends "threading", "loky" and "manygil" with n_jobs=W, on tiny tasks (joblib's
auto-batching) and CPU-bound tasks; memory added to the process tree.

Every number is reported with ratios against the other setups of the same run: the machine
may be shared, so absolute numbers move between runs.

    python bench/bench_scale_out.py [--workers W] [--memory-workers M] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import scale_out_tasks as tasks

WAIT = 120  # seconds: the bound of every wait on a cluster


def _rss_kib(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


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


def bench_dask(setup: str, workers: int, n_cpu: int, work: int, n_tiny: int) -> dict:
    cluster, client = _cluster(setup, workers)
    try:
        # Warm up every worker slot (imports, interpreters' first calls).
        _gather(client, client.map(tasks.cpu_work, [1000] * (4 * workers), pure=False))
        expected = tasks.cpu_work(work)
        t0 = time.perf_counter()
        out = _gather(client, client.map(tasks.cpu_work, [work] * n_cpu, pure=False))
        cpu_s = time.perf_counter() - t0
        if out != [expected] * n_cpu:
            raise AssertionError(f"dask {setup}: wrong CPU results")
        t0 = time.perf_counter()
        out = _gather(client, client.map(tasks.add_one, range(n_tiny), pure=False))
        tiny_s = time.perf_counter() - t0
        if out != [x + 1 for x in range(n_tiny)]:
            raise AssertionError(f"dask {setup}: wrong tiny-task results")
        rss = sum(client.run(tasks.rss_kib).values())
    finally:
        client.close(timeout=WAIT)
        cluster.close(timeout=WAIT)
    return {
        "cpu_tasks_per_s": n_cpu / cpu_s,
        "tiny_us_per_task": tiny_s / n_tiny * 1e6,
        "rss_mib": rss / 1024,
    }


def bench_dask_memory(setup: str, workers: int) -> float:
    """RSS (MiB) of the worker processes with ``workers`` warmed-up worker slots."""
    cluster, client = _cluster(setup, workers)
    try:
        _gather(client, client.map(tasks.cpu_work, [20_000] * (4 * workers), pure=False))
        return sum(client.run(tasks.rss_kib).values()) / 1024
    finally:
        client.close(timeout=WAIT)
        cluster.close(timeout=WAIT)


# --- joblib ----------------------------------------------------------------------------


def bench_joblib(backend: str, workers: int, n_cpu: int, work: int, n_tiny: int) -> dict:
    import manygil.joblib  # registers "manygil"
    from joblib import Parallel, delayed, parallel_config

    rss0, children0 = _rss_kib(), _tree_rss_kib()
    with parallel_config(backend=backend, n_jobs=workers):
        Parallel()(delayed(tasks.cpu_work)(1000) for _ in range(4 * workers))  # warm up
        t0 = time.perf_counter()
        out = Parallel()(delayed(tasks.add_one)(x) for x in range(n_tiny))
        tiny_s = time.perf_counter() - t0
        if out != [x + 1 for x in range(n_tiny)]:
            raise AssertionError(f"joblib {backend}: wrong tiny-task results")
        expected = tasks.cpu_work(work)
        t0 = time.perf_counter()
        out = Parallel()(delayed(tasks.cpu_work)(work) for _ in range(n_cpu))
        cpu_s = time.perf_counter() - t0
        if out != [expected] * n_cpu:
            raise AssertionError(f"joblib {backend}: wrong CPU results")
        added = (_rss_kib() - rss0) + (_tree_rss_kib() - children0)
    if backend == "loky":
        # loky keeps its worker processes for the next call: stop them so that they do not
        # count for the next backend.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    elif backend == "manygil":
        manygil.joblib._shutdown_shared_pool()
    return {
        "cpu_tasks_per_s": n_cpu / cpu_s,
        "tiny_us_per_task": tiny_s / n_tiny * 1e6,
        "rss_added_mib": added / 1024,
    }


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
    parser.add_argument("--skip", nargs="*", default=[], choices=["dask", "memory", "joblib"])
    args = parser.parse_args(argv)
    w = args.workers
    if args.quick:
        n_cpu, work, n_tiny, n_tiny_joblib = 4 * w, 100_000, 200, 5_000
    else:
        n_cpu, work, n_tiny, n_tiny_joblib = 16 * w, 1_000_000, 2_000, 100_000

    t0 = time.perf_counter()
    tasks.cpu_work(work)
    serial_task_s = time.perf_counter() - t0
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; W={w} workers; CPU task "
        f"~{serial_task_s * 1e3:.0f} ms serial ({n_cpu} tasks); tiny tasks: {n_tiny} (Dask), "
        f"{n_tiny_joblib} (joblib)"
    )
    results: dict = {"workers": w, "serial_task_s": serial_task_s}

    if "dask" not in args.skip:
        dask_rows = {}
        for setup in ("threads", "processes", "manygil"):
            print(f"  dask: {setup}...", file=sys.stderr, flush=True)
            dask_rows[setup] = bench_dask(setup, w, n_cpu, work, n_tiny)
        results["dask"] = dask_rows
        _table(
            f"Dask LocalCluster, W={w}: threads = 1 worker x {w} threads; processes = {w} "
            f"workers x 1 thread; manygil = 1 worker x {w} threads + PoolPlugin(default=True)",
            dask_rows,
            [
                ("cpu_tasks_per_s", "CPU tasks/s", ".2f"),
                ("tiny_us_per_task", "tiny: us/task", ".0f"),
                ("rss_mib", "worker RSS MiB", ".0f"),
            ],
            "threads",
        )
        d = dask_rows
        print(
            f"manygil vs processes: CPU throughput "
            f"{d['manygil']['cpu_tasks_per_s'] / d['processes']['cpu_tasks_per_s']:.2f}x, "
            f"RSS {d['manygil']['rss_mib'] / d['processes']['rss_mib']:.2f}x; "
            f"vs threads: CPU {d['manygil']['cpu_tasks_per_s'] / d['threads']['cpu_tasks_per_s']:.2f}x"
        )

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
        rows = {}
        for backend in ("threading", "loky", "manygil"):
            print(f"  joblib: {backend}...", file=sys.stderr, flush=True)
            rows[backend] = bench_joblib(backend, w, n_cpu, work, n_tiny_joblib)
        results["joblib"] = rows
        _table(
            f"joblib, n_jobs={w}",
            rows,
            [
                ("cpu_tasks_per_s", "CPU tasks/s", ".2f"),
                ("tiny_us_per_task", "tiny: us/task", ".2f"),
                ("rss_added_mib", "RSS added MiB", ".0f"),
            ],
            "threading",
        )
        m, lk = rows["manygil"], rows["loky"]
        print(
            f"manygil vs loky: CPU throughput {m['cpu_tasks_per_s'] / lk['cpu_tasks_per_s']:.2f}x, "
            f"tiny-task cost {m['tiny_us_per_task'] / lk['tiny_us_per_task']:.2f}x, RSS added "
            f"{m['rss_added_mib'] / max(lk['rss_added_mib'], 1):.2f}x"
        )

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
