"""The ``serve`` scenario of ``python -m manygil bench``: the same Flask app behind
gunicorn (sync and gthread workers), granian (WSGI) and ``manygil serve``, loaded by
``wrk`` on 127.0.0.1, one server at a time, interleaved.

Reports req/s, p50/p99 latency and the memory of each server's whole process tree, and
ratios against the best peer on each route. Memory is measured again at 2 and 8 workers
(``--memory-workers``), each server loaded for a few seconds first: RSS (which counts a
page shared by forked processes once per process), PSS (each shared page divided among
the processes mapping it: the fair total) and USS (pages of one process only). Peers come
from ``toolchain/peers.sh`` (``make peers``); a missing peer is reported and skipped.

    python -m manygil bench --scenario serve [--workers N] [--quick]
    python bench/bench_serve.py [--workers N] [--memory-workers 2,8] [--duration S]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

APP = "manygil.bench.flask_app:app"
ROUTES = {"hello": "/", "cpu": "/cpu"}
SERVERS = ("gunicorn-sync", "gunicorn-gthread", "granian", "manygil")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str | None:
    """A console script of this Python's environment, or on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def _command(
    server: str,
    workers: int,
    threads: int,
    port: int,
    *,
    app: str = APP,
    interface: str = "wsgi",
    manygil_args: tuple[str, ...] = (),
    granian_args: tuple[str, ...] = (),
) -> list[str] | None:
    """The command line of ``server`` (gunicorn, gunicorn-gthread, granian or manygil)
    serving ``app`` on 127.0.0.1:``port``, or None when it is not installed. ``interface``
    is granian's ("wsgi" or "asgi"); ``manygil_args`` and ``granian_args`` go at the end of
    those two servers' options (static routes, for example)."""
    addr = f"127.0.0.1:{port}"
    if server.startswith("gunicorn"):
        gunicorn = _bin("gunicorn")
        if gunicorn is None:
            return None
        cmd = [gunicorn, "--workers", str(workers), "--bind", addr, "--log-level", "warning"]
        if server == "gunicorn-gthread":
            cmd += ["--worker-class", "gthread", "--threads", str(threads)]
        return [*cmd, app]
    if server == "granian":
        granian = _bin("granian")
        if granian is None:
            return None
        return [
            granian, "--interface", interface, "--workers", str(workers), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", *granian_args, app,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "manygil", "serve", app, "--workers", str(workers),
        "--bind", addr, *manygil_args,
    ]  # fmt: skip


def _proc_stats() -> dict[int, list[str]]:
    """Every live process's ``/proc/PID/stat`` fields after its command name."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stats[int(entry)] = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
    return stats


def _tree(pid: int, stats: dict[int, list[str]]) -> list[int]:
    """``pid`` and all its descendants among ``stats``."""
    children: dict[int, list[int]] = {}
    for p, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(p)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    stats = _proc_stats()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(
        (int(stats[p][11]) + int(stats[p][12])) / tick for p in _tree(pid, stats) if p in stats
    )


def _tree_memory(pid: int) -> dict:
    """``{"rss", "pss", "anon", "uss"}`` in MiB of ``pid`` and all its descendants, from
    smaps_rollup. RSS counts a page shared by several processes once per process; PSS
    divides it among them, also among unrelated processes mapping the same file (the
    python binary, libc), so it moves with what else runs; ``anon`` is the anonymous part
    of PSS (heap, stacks: what the server allocated, shared only by forking), which
    does not; USS counts only the pages of one process."""
    kib = {"rss": 0, "pss": 0, "anon": 0, "uss": 0}
    fields = {
        "Rss": "rss",
        "Pss": "pss",
        "Pss_Anon": "anon",
        "Private_Clean": "uss",
        "Private_Dirty": "uss",
    }
    for p in _tree(pid, _proc_stats()):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in fields:
                        kib[fields[key]] += int(rest.split()[0])
        except OSError:
            pass
    return {k: v / 1024 for k, v in kib.items()}


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f}s")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def _wrk(url: str, duration: float, connections: int, threads: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": _ms(p50.group(1)) if p50 else float("nan"),
        "p99_ms": _ms(p99.group(1)) if p99 else float("nan"),
        "errors": (int(errors.group(1)) if errors else 0),
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
    }


def measure(
    server: str, workers: int, threads: int, duration: float, connections: int
) -> dict | None:
    """One server: start it, load each route, record its memory (the most seen after a
    route), stop it. None if not installed."""
    port = _free_port()
    cmd = _command(server, workers, threads, port)
    if cmd is None:
        return None
    with running(cmd, port) as (proc, base):
        result = {"server": server, "routes": {}}
        mem = dict.fromkeys(("rss", "pss", "anon", "uss"), 0.0)
        for route, path in ROUTES.items():
            _wrk(base + path, min(1.0, duration), connections, 2)  # warm-up
            result["routes"][route] = _wrk(base + path, duration, connections, 2)
            mem = {k: max(v, _tree_memory(proc.pid)[k]) for k, v in mem.items()}
        result.update({f"{k}_mib": v for k, v in mem.items()})
        return result


def measure_memory(
    server: str, workers: int, threads: int, duration: float, connections: int
) -> dict | None:
    """The memory of one server's process tree (MiB: rss, pss, anon, uss) after ``duration``
    seconds of load on each route (the most seen after a route). None if not installed."""
    port = _free_port()
    cmd = _command(server, workers, threads, port)
    if cmd is None:
        return None
    with running(cmd, port) as (proc, base):
        mem = dict.fromkeys(("rss", "pss", "anon", "uss"), 0.0)
        for path in ROUTES.values():
            _wrk(base + path, duration, connections, 2)
            mem = {k: max(v, _tree_memory(proc.pid)[k]) for k, v in mem.items()}
        return mem


@contextlib.contextmanager
def running(cmd: list[str], port: int, env: dict | None = None):
    """A server started with ``cmd`` on ``port`` (in environment ``env``, default this
    process's), once it answers ``/``: (process, base URL). Stopped with SIGTERM (killed
    after 30 s) on leaving."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base + "/", proc)
        yield proc, base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def compile_app_package() -> bool:
    """Byte-compile the ``manygil`` package (which holds the benchmark's app) when this
    Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, ``-B``), as installing a wheel
    does: otherwise every server compiles ``manygil.bench.flask_app`` from source in each
    worker, and manygil serve also its own modules. Returns whether it was needed."""
    if not sys.dont_write_bytecode:
        return False
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # manygil/
    compileall.compile_dir(package, quiet=1)
    return True


def run_memory(
    counts: list[int], threads: int, duration: float, connections: int, servers=SERVERS
) -> dict:
    """``{workers: {server: memory}}`` for each worker count, servers interleaved."""
    out: dict[int, dict] = {}
    for workers in counts:
        out[workers] = {}
        for server in servers:
            mem = measure_memory(server, workers, threads, duration, connections)
            if mem is not None:
                out[workers][server] = mem
    return out


def run(
    workers: int, threads: int, duration: float, connections: int, repeat: int, servers=SERVERS
) -> dict:
    """Measure every server ``repeat`` times, interleaved; keep each one's best run."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run toolchain/peers.sh (make peers)")
    best: dict[str, dict] = {}
    missing = []
    for _ in range(repeat):
        for server in servers:
            if server in missing:
                continue
            r = measure(server, workers, threads, duration, connections)
            if r is None:
                missing.append(server)
                continue
            prev = best.get(server)
            if prev is None:
                best[server] = r
                continue
            for route, m in r["routes"].items():
                if m["rps"] > prev["routes"][route]["rps"]:
                    prev["routes"][route] = m
            for k in ("rss_mib", "pss_mib", "uss_mib"):
                prev[k] = min(prev[k], r[k])
    return {"results": best, "missing": missing}


def table(data: dict, workers: int, threads: int, duration: float, connections: int) -> str:
    res = data["results"]
    lines = [
        f"serve: same Flask app, {workers} workers (gunicorn gthread: {threads} threads each), "
        f"wrk -t2 -c{connections} -d{duration:g}s on 127.0.0.1, best of the runs",
        f"{'server':18} {'route':6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} "
        f"{'PSS MiB':>8} {'USS MiB':>8}",
    ]
    for server, r in res.items():
        for route, m in r["routes"].items():
            flag = f"  ({m['errors']} non-2xx)" if m["errors"] else ""
            lines.append(
                f"{server:18} {route:6} {m['rps']:9.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} "
                f"{r['rss_mib']:8.0f} {r['pss_mib']:8.0f} {r['uss_mib']:8.0f}{flag}"
            )
    ours = res.get("manygil")
    peers = {k: v for k, v in res.items() if k != "manygil"}
    if ours and peers:
        lines.append("manygil serve against the best peer on each route:")
        for route in ROUTES:
            best_rps = max(peers.items(), key=lambda kv: kv[1]["routes"][route]["rps"])
            best_p99 = min(peers.items(), key=lambda kv: kv[1]["routes"][route]["p99_ms"])
            m = ours["routes"][route]
            lines.append(
                f"  {route:6} req/s x{m['rps'] / best_rps[1]['routes'][route]['rps']:.2f} "
                f"(vs {best_rps[0]}), p99 x{m['p99_ms'] / best_p99[1]['routes'][route]['p99_ms']:.2f} "
                f"(vs {best_p99[0]}; lower is better)"
            )
        if "gunicorn-sync" in peers:
            sync = peers["gunicorn-sync"]
            lines.append(
                f"  RSS x{ours['rss_mib'] / sync['rss_mib']:.2f} of gunicorn sync's process tree "
                f"(PSS x{ours['pss_mib'] / sync['pss_mib']:.2f}: pages its forked processes share "
                "counted once)"
            )
    lines += memory_table(data.get("memory") or {}, data.get("memory_duration", 0.0))
    load = os.getloadavg()
    lines.append(
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"(on {os.cpu_count()} CPUs; above ~CPUs/2 the numbers are noisy: run again)"
    )
    if data["missing"]:
        lines.append(
            f"not installed (skipped): {', '.join(data['missing'])}; run toolchain/peers.sh"
        )
    return "\n".join(lines)


def memory_table(memory: dict, duration: float) -> list[str]:
    """The lines of the memory table: each server's process tree at each worker count."""
    if not memory:
        return []
    lines = [
        f"memory of the whole process tree after {duration:g} s of load on each route (MiB; "
        "PSS: the fair total; anon: its heap and stacks part, which other processes on the "
        "machine do not move):",
        f"{'server':18} {'workers':>7} {'RSS':>7} {'PSS':>7} {'anon':>7} {'USS':>7}",
    ]
    for workers, by_server in memory.items():
        for server, m in by_server.items():
            lines.append(
                f"{server:18} {workers:7d} {m['rss']:7.1f} {m['pss']:7.1f} {m['anon']:7.1f} "
                f"{m['uss']:7.1f}"
            )
    for workers, by_server in memory.items():
        ours, sync = by_server.get("manygil"), by_server.get("gunicorn-sync")
        if ours and sync:
            lines.append(
                f"  {workers} workers: manygil serve PSS x{ours['pss'] / sync['pss']:.2f} of "
                f"gunicorn sync's ({ours['pss'] - sync['pss']:+.1f} MiB; anon "
                f"x{ours['anon'] / sync['anon']:.2f}, RSS x{ours['rss'] / sync['rss']:.2f})"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    p.add_argument("--duration", type=float, default=6.0, help="seconds of load per route")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument(
        "--memory-workers",
        default="2,8",
        metavar="N,N",
        help="worker counts at which memory is measured (default 2,8; empty: skip)",
    )
    p.add_argument(
        "--memory-duration",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds of load on each route before memory is measured (default 3)",
    )
    p.add_argument("--quick", action="store_true", help="2 s per route, one run")
    p.add_argument(
        "--server", action="append", choices=SERVERS, help="servers to run (default: all)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.repeat = 2.0, 1
    try:
        counts = [int(n) for n in args.memory_workers.split(",") if n.strip()]
    except ValueError:
        p.error(f"--memory-workers {args.memory_workers!r}: expected worker counts, e.g. 2,8")
    servers = tuple(args.server or SERVERS)
    if compile_app_package():
        print(
            "bench serve: this Python writes no bytecode: byte-compiled the manygil package "
            "(holding the app), as installing a wheel does",
            file=sys.stderr,
        )
    try:
        data = run(
            args.workers, args.threads, args.duration, args.connections, args.repeat, servers
        )
        data["memory"] = run_memory(
            counts, args.threads, args.memory_duration, args.connections, servers
        )
        data["memory_duration"] = args.memory_duration
    except RuntimeError as e:
        print(f"bench serve: {e}", file=sys.stderr)
        return 1
    print(table(data, args.workers, args.threads, args.duration, args.connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
