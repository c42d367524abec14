"""Statistics over a :class:`runner.Run`, machine facts, and the JSON document (--json)."""

import datetime
import os
import platform
import statistics
import sys
import sysconfig

SCHEMA_VERSION = 1
REFERENCES = ("threads", "processes")


# --- statistics ----------------------------------------------------------------------------


def stats(cell, better):
    """Return ``{min, median, max, best}`` of a cell's values (``None`` when it has none)."""
    if not cell.values:
        return {"min": None, "median": None, "max": None, "best": None}
    lo, hi = min(cell.values), max(cell.values)
    return {
        "min": lo,
        "median": statistics.median(cell.values),
        "max": hi,
        "best": lo if better == "lower" else hi,
    }


def best(run, metric_id, backend):
    """The best value of a metric on a backend, or ``None`` unless it completed."""
    cell = run.cells.get(metric_id, {}).get(backend)
    if cell is None or cell.status != "ok":
        return None
    return stats(cell, run.metrics[metric_id].better)["best"]


def speedups(run):
    """CPU speedup vs serial per backend from ``micro.cpu`` (``None`` where unknown)."""
    base = best(run, "micro.cpu", "serial")
    out = {}
    for b in run.backends:
        value = best(run, "micro.cpu", b.name)
        out[b.name] = base / value if base and value else None
    return out


def advantage(value, ref, better):
    """How many times better ``value`` is than ``ref`` (> 1: better), or ``None``."""
    if value is None or ref is None or value <= 0 or ref <= 0:
        return None
    return ref / value if better == "lower" else value / ref


def best_for(run, metric_id):
    """Name of the backend with the best value of ``metric_id`` (``None`` if none)."""
    better = run.metrics[metric_id].better
    scored = [(best(run, metric_id, b.name), b.name) for b in run.backends]
    scored = [(v, n) for v, n in scored if v is not None]
    if not scored:
        return None
    return (min if better == "lower" else max)(scored)[1]


# --- machine facts -------------------------------------------------------------------------


def machine_facts():
    """Facts about this machine and interpreter that the numbers depend on."""
    cfg = sysconfig.get_config_var
    if hasattr(os, "process_cpu_count"):
        usable = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
    else:
        usable = os.cpu_count()
    try:
        from importlib.metadata import version

        manygil_version = version("manygil")
    except Exception:
        manygil_version = None
    gil_enabled = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    return {
        "cpu_count": os.cpu_count(),
        "process_cpu_count": usable,
        "python_version": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "gil_enabled": gil_enabled,
        "build_flags": {
            "Py_GIL_DISABLED": bool(cfg("Py_GIL_DISABLED")),
            "Py_DEBUG": bool(cfg("Py_DEBUG")),
            "Py_ENABLE_SHARED": bool(cfg("Py_ENABLE_SHARED")),
            "WITH_PYMALLOC": bool(cfg("WITH_PYMALLOC")),
        },
        "platform": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "manygil_version": manygil_version,
    }


# --- JSON ----------------------------------------------------------------------------------


def to_json(run, machine):
    """Return the JSON document (a dict) described in docs/bench.md."""
    cfg = run.config
    metrics = {}
    for mid, m in run.metrics.items():
        cells = {}
        for b in run.backends:
            cell = run.cells[mid][b.name]
            cells[b.name] = {
                "status": cell.status,
                "reason": cell.reason,
                **stats(cell, m.better),
                "repeats": list(cell.values),
                "result": cell.result,
            }
        metrics[mid] = {
            "scenario": mid.split(".")[0],
            "label": m.label,
            "unit": m.unit,
            "better": m.better,
            "expected": m.expected,
            "backends": cells,
        }
    scenario_metrics = [mid for mid in run.metrics if not mid.startswith(("pool.", "micro."))]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "manygil.bench",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(run.seconds, 3),
        "ok": not run.failures,
        "failures": list(run.failures),
        "config": {
            "mode": cfg.mode,
            "workers": cfg.workers,
            "repeat": cfg.repeat,
            "scenarios": list(run.scenarios),
            "backends": [b.name for b in run.backends],
            "start_method": next(
                (b.start_method for b in run.backends if b.name == "processes"), None
            ),
        },
        "machine": machine,
        "server": {"host": "127.0.0.1", "port": run.server_port},
        "backends": {
            b.name: {
                "available": b.unavailable() is None,
                "reason": b.unavailable(),
                "note": b.note,
                "shares_memory": b.shares_memory,
            }
            for b in run.backends
        },
        "scenarios": {
            name: {
                "title": sc.title,
                "description": sc.description,
                "params": sc.params,
                "metrics": [m.id for m in sc.metrics],
            }
            for name, sc in run.scenarios.items()
        },
        "metrics": metrics,
        "summary": {
            "speedup_vs_serial": speedups(run),
            "best_for": {mid: best_for(run, mid) for mid in scenario_metrics},
        },
    }
