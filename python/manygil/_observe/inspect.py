"""Looking into a live process: what each worker interpreter of every ``Pool`` and
``manygil serve`` runs now, with its Python stacks (issue 24, item 9).

:func:`pool_snapshot` and :func:`serve_snapshot` build plain dicts (JSON-able); the stacks
are read inside each interpreter by ``_native.inspect``, which never waits for a worker
past the timeout (a worker stuck in C code holding its GIL is reported with its last known
task and "no answer"). :func:`enable_inspect_signal` makes a signal print the snapshot of
everything in the process, as ``faulthandler.register`` prints tracebacks (``faulthandler``
itself cannot be imported in own-GIL interpreters, nor see their stacks).

Only the main interpreter has pools and servers; this module is used there.
"""

from __future__ import annotations

import os
import sys
import time
import weakref

from .. import _native

__all__ = [
    "snapshot_all",
    "format_snapshot",
    "enable_inspect_signal",
    "disable_inspect_signal",
    "DEFAULT_TIMEOUT",
]

# How long a snapshot waits for the workers' stacks, in all (seconds).
DEFAULT_TIMEOUT = 0.5

# Pools and servers of this process, for snapshot_all (not kept alive by being listed).
_pools: weakref.WeakSet = weakref.WeakSet()
_servers: weakref.WeakSet = weakref.WeakSet()


def register_pool(pool) -> None:
    _pools.add(pool)


def register_server(server) -> None:
    _servers.add(server)


def unregister_server(server) -> None:
    _servers.discard(server)


def _check_timeout(timeout) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not 0 <= timeout <= 3600:
        raise ValueError(f"timeout must be between 0 and 3600 seconds, got {timeout!r}")
    return float(timeout)


def pool_snapshot(pool, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """The snapshot of one pool (see ``Pool.snapshot``)."""
    timeout = _check_timeout(timeout)
    core = pool._core
    workers = _native.inspect(core.worker_ids(), timeout)
    return {
        "kind": "pool",
        "name": core.name(),
        "stats": pool.stats(),
        "workers": workers,
    }


def serve_snapshot(server, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """The snapshot of one running ``manygil serve`` (a ``serve._Server``): its workers
    as in a pool's snapshot, each with ``requests``: what it is answering now
    (``thread``, ``request`` as ``"METHOD /path?query"``, ``running_for`` in seconds)."""
    timeout = _check_timeout(timeout)
    ids = sorted(set(server.running) | set(server.retired))
    requests = _native.serve_requests()
    workers = _native.inspect(ids, timeout)
    for w in workers:
        w["requests"] = [
            {"thread": thread, "request": what, "running_for": secs}
            for interp, thread, what, secs in requests
            if interp == w["id"]
        ]
        w["stuck"] = w["id"] in server.retired
    try:
        in_flight, queued = _native.serve_stats(server.id)
    except ValueError:  # closed meanwhile
        in_flight = queued = 0
    return {
        "kind": "serve",
        "name": server.name,
        "app": server.app,
        "interface": server.interface,
        "stats": {
            "in_flight": in_flight,
            "queued": queued,
            "workers": len(server.running),
            "recycled": server.recycled,
            "stuck": server.stuck(),
        },
        "workers": workers,
    }


def snapshot_all(timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Snapshots of every live ``Pool`` and ``manygil serve`` of this process (a list of
    dicts as ``Pool.snapshot()`` returns). Waits at most about ``timeout`` seconds per
    pool or server for the workers' stacks."""
    out = []
    for pool in list(_pools):
        if pool._shutdown:
            continue
        try:
            out.append(pool_snapshot(pool, timeout))
        except Exception as e:  # noqa: BLE001 - one broken pool must not hide the others
            out.append({"kind": "pool", "name": "?", "error": f"{type(e).__name__}: {e}"})
    for server in list(_servers):
        try:
            out.append(serve_snapshot(server, timeout))
        except Exception as e:  # noqa: BLE001
            out.append({"kind": "serve", "name": "?", "error": f"{type(e).__name__}: {e}"})
    return out


def _seconds(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.1f} s"


def _format_worker(w: dict, lines: list[str], serving: bool) -> None:
    head = f"  interpreter {w['id']} {w['name']} (thread {w['thread']})"
    task = w.get("task")
    if serving:  # a serve worker's task is its serve loop: its requests say more
        if not w.get("requests"):
            head += ": no request in flight"
    elif task is not None:
        what = task["function"] or "a call"
        head += f": running task {task['id']} {what} for {_seconds(task['running_for'])}"
    elif not w.get("requests"):
        head += ": idle"
    if w.get("stuck"):
        head += " [retired: stuck past --stuck-after]"
    lines.append(head)
    for r in w.get("requests", ()):
        lines.append(
            f"    request {r['request']} on thread {r['thread']}, for {_seconds(r['running_for'])}"
        )
    if not w["answered"]:
        lines.append(f"    {w['note']}")
        return
    for t in w["threads"] or ():
        lines.append(f"    thread {t['name'] or '(unnamed)'}:")
        if t["omitted"]:
            lines.append(f"      ... {t['omitted']} outer frame(s) omitted")
        for file, line, function in t["frames"]:
            lines.append(f'      File "{file}", line {line}, in {function}')


def format_snapshot(snapshots: list[dict] | dict) -> str:
    """The text of snapshots (one from ``Pool.snapshot()`` or a list from
    :func:`snapshot_all`), stacks in traceback order (most recent call last)."""
    if isinstance(snapshots, dict):
        snapshots = [snapshots]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"manygil snapshot of process {os.getpid()} at {stamp}"]
    if not snapshots:
        lines.append("  no Pool or manygil serve is running")
    for snap in snapshots:
        if "error" in snap:
            lines.append(f"{snap['kind']} {snap['name']}: snapshot failed: {snap['error']}")
            continue
        s = snap["stats"]
        if snap["kind"] == "pool":
            lines.append(
                f"pool {snap['name']}: {s['workers']} worker(s); submitted {s['submitted']}, "
                f"done {s['done']}, failed {s['failed']}, cancelled {s['cancelled']}, "
                f"running {s['running']}, queued {s['queued']}"
            )
        else:
            lines.append(
                f"serve {snap['name']} ({snap['app']}, {snap['interface'].upper()}): "
                f"{s['workers']} worker(s); requests in flight {s['in_flight']}, queued "
                f"{s['queued']}; recycled {s['recycled']}, stuck {s['stuck']}"
            )
        for w in snap["workers"]:
            _format_worker(w, lines, snap["kind"] == "serve")
    return "\n".join(lines) + "\n"


# ---- the signal -------------------------------------------------------------------------

_signal_state: dict = {}


def enable_inspect_signal(signum=None, *, file=None, timeout: float = DEFAULT_TIMEOUT):
    """On signal ``signum`` (default ``SIGUSR1``), write the snapshot of every ``Pool``
    and ``manygil serve`` of this process (:func:`format_snapshot`) to ``file`` (default:
    ``sys.stderr``, looked up when the signal arrives), as ``faulthandler.register`` does
    for tracebacks: ``kill -USR1 <pid>`` shows what every worker interpreter runs.

    The snapshot is taken on a thread of its own (the signal handler, which Python runs in
    the main thread, only starts it), so a main thread waiting on results is not held up;
    it takes at most about ``timeout`` seconds per pool or server (a worker stuck in C
    code is reported as not answering). Main interpreter, main thread only (as
    ``signal.signal``): ValueError otherwise. Returns the previous handler."""
    import signal
    import threading

    if signum is None:
        signum = signal.SIGUSR1
    timeout = _check_timeout(timeout)
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("enable_inspect_signal() must be called from the main thread")

    def handler(sig, frame):
        threading.Thread(
            target=dump, args=(file, timeout), name="manygil-inspect-dump", daemon=True
        ).start()

    previous = signal.signal(signum, handler)
    _signal_state[signum] = previous
    return previous


def disable_inspect_signal(signum=None) -> None:
    """Restore the handler ``signum`` had before :func:`enable_inspect_signal`."""
    import signal

    if signum is None:
        signum = signal.SIGUSR1
    if signum in _signal_state:
        signal.signal(signum, _signal_state.pop(signum))


def dump(file=None, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Write :func:`snapshot_all`'s text to ``file`` (default ``sys.stderr``) in one
    ``os.write`` when it has a file descriptor (so that it cannot interleave with, or be
    refused by, a write in progress on the same stream)."""
    try:
        text = format_snapshot(snapshot_all(timeout))
    except Exception as e:  # noqa: BLE001 - a signal handler reports, never raises
        text = f"manygil snapshot failed: {type(e).__name__}: {e}\n"
    out = sys.stderr if file is None else file
    data = text.encode("utf-8", "replace")
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        try:
            out.flush()
        except Exception:  # noqa: BLE001
            pass
        while data:
            data = data[os.write(fd, data) :]
    else:
        out.write(text)
        out.flush()
