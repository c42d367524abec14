"""Run the benchmark: start every pool, interleave backends, repeat, verify, collect.

:func:`run` blocks for the whole benchmark. Task errors and wrong results are recorded
per (metric, backend) cell rather than raised; only :class:`KeyboardInterrupt` (and
errors of the harness itself) propagate, after every pool is shut down and the loopback
server is stopped and joined.
"""

import contextlib
import json
import multiprocessing
import tempfile
import time
from dataclasses import dataclass, field

from manygil.bench import backends as bk
from manygil.bench import cases
from manygil.bench.scenarios import warmup
from manygil.bench.server import LoopbackServer
from manygil.bench.table import fmt

WARMUP_TIMEOUT = 60.0


@dataclass
class Config:
    mode: str  # "quick" | "full"
    scenarios: list
    backends: list
    workers: int
    repeat: int
    start_method: str | None = None


@dataclass
class Cell:
    """Measurements of one metric on one backend."""

    status: str = "ok"  # ok | error | wrong | unavailable | skipped
    reason: str | None = None
    values: list = field(default_factory=list)
    result: object = None


@dataclass
class Run:
    config: Config
    scenarios: dict
    backends: list
    metrics: dict  # metric id -> cases.Metric, in display order
    cells: dict  # metric id -> backend name -> Cell
    failures: list = field(default_factory=list)
    server_port: int | None = None
    seconds: float = 0.0


def pool_metrics(workers):
    """The metrics measured while a pool starts (no scenario of their own)."""
    return [
        cases.Metric("pool.startup", "start-up", "ms", None, workers),
        cases.Metric("pool.rss", "memory per idle worker (RSS)", "MiB", None, workers),
        cases.Metric("pool.pss", "memory per idle worker (PSS)", "MiB", None, workers),
    ]


def _describe(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 300 else text[:297] + "..."


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def start_pool(backend, workers):
    """Start ``backend``'s executor and wait until all ``workers`` workers run a task.

    Returns ``(executor, startup_ms, {"rss": MiB per worker or None, "pss": ...},
    distinct_workers_seen)``. PSS shares each page among the processes that map it, so
    forked workers are not charged for what they share with their parent (RSS would).
    Blocks at most about :data:`WARMUP_TIMEOUT` seconds; on any error the executor is
    shut down and the error re-raised.
    """
    before = {p.pid for p in multiprocessing.active_children()}
    kinds = {"rss": bk.rss_kib, "pss": bk.pss_kib}
    mem_before = {k: read() for k, read in kinds.items()}
    t0 = time.perf_counter()
    executor = backend.start(workers)
    try:
        with tempfile.TemporaryDirectory(prefix="manygil-bench-") as barrier:
            futures = [
                executor.submit(warmup, barrier, workers, WARMUP_TIMEOUT) for _ in range(workers)
            ]
            started = len({f.result() for f in futures})  # distinct workers
        startup_ms = (time.perf_counter() - t0) * 1e3
        pids = backend.worker_pids(executor, before)
        memory = {}
        for k, read in kinds.items():
            after, children = read(), [read(pid) for pid in pids]
            if mem_before[k] is None or after is None or None in children:
                memory[k] = None
            else:
                memory[k] = (after - mem_before[k] + sum(children)) / workers / 1024
    except BaseException:
        shutdown(executor)
        raise
    return executor, startup_ms, memory, started


def shutdown(executor):
    """Shut ``executor`` down, cancelling queued tasks; blocks until running ones finish."""
    try:
        executor.shutdown(wait=True, cancel_futures=True)
    except TypeError:  # an executor without cancel_futures
        executor.shutdown(wait=True)


def _initial_cells(metrics, backends):
    cells = {}
    for m in metrics.values():
        row = cells[m.id] = {}
        for b in backends:
            reason = b.unavailable()
            if reason:
                row[b.name] = Cell("unavailable", reason)
            elif m.id.startswith("pool.") and not b.parallel:
                row[b.name] = Cell("skipped", "no workers")
            elif m.needs_shared_memory and not b.shares_memory:
                row[b.name] = Cell("skipped", "no shared buffer (bytes are copied)")
            elif m.needs_script_functions and b.refuses_script_functions:
                row[b.name] = Cell("skipped", b.refuses_script_functions)
            else:
                row[b.name] = Cell()
    return cells


def run(config, progress):
    """Run the benchmark described by ``config``; returns a :class:`Run`."""
    t_start = time.perf_counter()
    selected = cases.build(config.mode)
    scenarios = {name: sc for name, sc in selected.items() if name in config.scenarios}
    backends = [bk.make(name, config.start_method) for name in config.backends]
    metrics = {m.id: m for m in pool_metrics(config.workers)}
    for sc in scenarios.values():
        metrics.update((m.id, m) for m in sc.metrics)
    result = Run(config, scenarios, backends, metrics, _initial_cells(metrics, backends))
    for b in backends:
        if b.unavailable():
            progress.note(f"{b.name}: {b.unavailable()}")

    with contextlib.ExitStack() as stack:
        server = None
        if any(sc.needs_server for sc in scenarios.values()):
            p = scenarios["download"].params
            server = stack.enter_context(LoopbackServer(p["latency_ms"], p["body_bytes"]))
            result.server_port = server.port
            progress.done(f"loopback server on 127.0.0.1:{server.port}")
        progress.step("preparing inputs")
        data = {name: sc.prepare(sc.params, server) for name, sc in scenarios.items()}
        active = [b for b in backends if not b.unavailable()]
        for rep in range(config.repeat):
            shift = rep % len(active) if active else 0
            order = active[shift:] + active[:shift]  # rotate to spread order effects
            _run_repeat(result, scenarios, data, order, rep, progress)
    result.seconds = time.perf_counter() - t_start
    return result


def _run_repeat(result, scenarios, data, order, rep, progress):
    cfg, cells = result.config, result.cells
    tag = f"repeat {rep + 1}/{cfg.repeat}"
    pools, failed = {}, {}
    try:
        for b in order:
            progress.step(f"{tag} · starting {b.name}")
            if not b.parallel:
                pools[b.name] = b.start(cfg.workers)
                continue
            try:
                ex, startup_ms, memory, started = start_pool(b, cfg.workers)
            except Exception as exc:
                failed[b.name] = f"pool failed to start: {_describe(exc)}"
                progress.note(f"error: {b.name}: {failed[b.name]}")
                for row in cells.values():
                    if row[b.name].status == "ok":
                        row[b.name].status, row[b.name].reason = "error", failed[b.name]
                continue
            pools[b.name] = ex
            _record(result, "pool.startup", b, startup_ms, started, progress, tag)
            for kind, mib in memory.items():
                if mib is None:
                    cells[f"pool.{kind}"][b.name] = Cell("skipped", "/proc/<pid> not readable")
                else:
                    _record(result, f"pool.{kind}", b, mib, started, progress, tag)
        for sc in scenarios.values():
            for m in sc.metrics:
                for b in order:
                    cell = cells[m.id][b.name]
                    if cell.status != "ok":
                        continue
                    progress.step(f"{tag} · {m.id} · {b.name}")
                    try:
                        value, res = m.run(pools[b.name], b, data[sc.name])
                    except Exception as exc:
                        _fail(result, b, m.id, _describe(exc), progress)
                        continue
                    _record(result, m.id, b, value, res, progress, tag)
    finally:
        for name, ex in pools.items():
            progress.step(f"{tag} · stopping {name}")
            try:
                shutdown(ex)
            except Exception as exc:  # keep stopping the others
                progress.note(f"error: {name}: shutdown failed: {_describe(exc)}")


def _fail(result, backend, metric_id, reason, progress):
    cell = result.cells[metric_id][backend.name]
    cell.status, cell.reason = "error", reason  # values of earlier repeats are kept
    progress.note(f"error: {backend.name} · {metric_id}: {reason}")


def _record(result, metric_id, backend, value, res, progress, tag):
    metric = result.metrics[metric_id]
    cell = result.cells[metric_id][backend.name]
    res = json.loads(json.dumps(res))
    if res != metric.expected:
        cell.status = "wrong"
        cell.reason = f"expected {_short(metric.expected)}, got {_short(res)}"
        cell.result = res
        scenario = metric_id.split(".")[0]
        message = (
            f"wrong result: backend {backend.name!r}, scenario {scenario!r} "
            f"(metric {metric_id}): {cell.reason}"
        )
        result.failures.append(message)
        progress.note(message)
        return
    cell.values.append(value)
    cell.result = res
    progress.done(f"{tag} · {metric_id} · {backend.name}: {fmt(value, metric.unit)}")
