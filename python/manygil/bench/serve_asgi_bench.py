"""The ASGI part of the ``serve`` scenario of ``python -m manygil bench``: the same raw ASGI
app (``manygil/bench/asgi_app.py``: hello, JSON and a pure-Python CPU route, a WebSocket
echo, lifespan) behind uvicorn (asyncio + h11, and uvloop + httptools), granian
(``--interface asgi``), hypercorn and ``manygil serve``, loaded by ``wrk`` on 127.0.0.1,
one server at a time, interleaved; each server's best run per route.

Reports req/s and p50/p99 latency per route and the ratio of manygil serve against the
best peer on each (req/s, and p99 against the lowest p99); then the WebSocket echo: W
connections (``websockets`` client, one asyncio loop) each making R sequential round
trips of a 1 KiB binary message. Peers come from ``toolchain/peers.sh`` (``make peers``);
a missing one is reported and skipped.

    python -m manygil bench --scenario serve [--workers N] [--quick]
    python bench/bench_serve_asgi.py [--workers N] [--duration S] [--connections C]
        [--repeat R] [--ws-connections W] [--ws-round-trips R] [--server NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import sys
import time

from manygil.bench.serve_bench import (
    _bin,
    _free_port,
    _tree_cpu,
    _tree_memory,
    _wrk,
    compile_app_package,
    running,
)
from manygil.bench.serve_bench import _command as peer_command

APP = "manygil.bench.asgi_app:app"
ROUTES = {"hello": "/", "json": "/json", "cpu": "/cpu"}
SERVERS = ("uvicorn", "uvicorn-uvloop", "granian", "hypercorn", "manygil")
LABELS = {
    "uvicorn": "uvicorn (asyncio, h11)",
    "uvicorn-uvloop": "uvicorn (uvloop, httptools)",
    "granian": "granian --interface asgi",
    "hypercorn": "hypercorn (asyncio)",
    "manygil": "manygil serve",
}


def _command(server: str, workers: int, port: int) -> list[str] | None:
    """The command line of ``server`` serving APP on 127.0.0.1:``port``, or None when it
    is not installed."""
    if server in ("manygil", "granian"):  # serve_bench's commands, with the ASGI app
        return peer_command(server, workers, 1, port, app=APP, interface="asgi")
    if server == "hypercorn":
        hypercorn = _bin("hypercorn")
        if hypercorn is None:
            return None
        return [
            hypercorn, "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", APP,
        ]  # fmt: skip
    uvicorn = _bin("uvicorn")
    if uvicorn is None:
        return None
    fast = server == "uvicorn-uvloop"
    if fast and not (importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")):
        return None
    return [
        uvicorn, APP, "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
        "--loop", "uvloop" if fast else "asyncio", "--http", "httptools" if fast else "h11",
    ]  # fmt: skip


def measure(server: str, workers: int, duration: float, connections: int) -> dict | None:
    """One server: start it, load each route (after a short warm-up), record the memory of
    its process tree (the most seen after a route), stop it. None if not installed."""
    port = _free_port()
    cmd = _command(server, workers, port)
    if cmd is None:
        return None
    with running(cmd, port) as (proc, base):
        result: dict = {"server": server, "routes": {}}
        mem = dict.fromkeys(("rss", "pss"), 0.0)
        for route, path in ROUTES.items():
            _wrk(base + path, min(1.0, duration), connections, 2)  # warm-up
            cpu = _tree_cpu(proc.pid)
            result["routes"][route] = m = _wrk(base + path, duration, connections, 2)
            # CPU per request of the whole process tree: on a busy machine req/s follows
            # each server's share of the CPUs, CPU per request is its own cost.
            m["cpu_us"] = (_tree_cpu(proc.pid) - cpu) / max(m["rps"] * duration, 1) * 1e6
            now = _tree_memory(proc.pid)
            mem = {k: max(v, now[k]) for k, v in mem.items()}
        result.update({f"{k}_mib": v for k, v in mem.items()})
        return result


async def _ws_clients(url: str, connections: int, round_trips: int) -> tuple[float, list[float]]:
    """(seconds, round-trip times) of ``connections`` clients each making ``round_trips``
    sequential 1 KiB echo round trips, all connected before the clock starts."""
    from websockets.asyncio.client import connect

    payload = os.urandom(1024)
    conns = [await connect(url, max_size=None, compression=None) for _ in range(connections)]
    times: list[float] = []

    async def one(ws) -> None:
        for _ in range(round_trips):
            t = time.perf_counter()
            await ws.send(payload)
            if await ws.recv() != payload:
                raise AssertionError("echo mismatch")
            times.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(one(ws) for ws in conns))
    elapsed = time.perf_counter() - start
    for ws in conns:
        await ws.close()
    return elapsed, times


def measure_ws(server: str, workers: int, connections: int, round_trips: int) -> dict | None:
    """The WebSocket echo against one server; None if it (or the client) is missing."""
    if importlib.util.find_spec("websockets") is None:
        return None
    port = _free_port()
    cmd = _command(server, workers, port)
    if cmd is None:
        return None
    with running(cmd, port):
        url = f"ws://127.0.0.1:{port}/ws"
        asyncio.run(_ws_clients(url, min(connections, 4), 50))  # warm-up
        elapsed, times = asyncio.run(_ws_clients(url, connections, round_trips))
    times.sort()
    return {
        "server": server,
        "rps": len(times) / elapsed,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[min(len(times) - 1, len(times) * 99 // 100)] * 1000,
    }


def run(
    workers: int,
    duration: float,
    connections: int,
    repeat: int,
    ws_connections: int,
    ws_round_trips: int,
    servers=SERVERS,
) -> dict:
    """Measure every server ``repeat`` times, interleaved, keeping each one's best run per
    route; then the WebSocket echo the same way (``ws_connections`` 0: skipped)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run toolchain/peers.sh (make peers)")
    best: dict[str, dict] = {}
    missing: list[str] = []
    for _ in range(repeat):
        for server in servers:
            if server in missing:
                continue
            r = measure(server, workers, duration, connections)
            if r is None:
                missing.append(server)
                continue
            prev = best.setdefault(server, r)
            for route, m in r["routes"].items():
                if m["rps"] > prev["routes"][route]["rps"]:
                    prev["routes"][route] = m
            for k in ("rss_mib", "pss_mib"):
                prev[k] = min(prev[k], r[k])
    ws: dict[str, dict] = {}
    for _ in range(repeat if ws_connections else 0):
        for server in servers:
            if server in missing:
                continue
            r = measure_ws(server, workers, ws_connections, ws_round_trips)
            if r is not None and r["rps"] > ws.get(server, {"rps": 0.0})["rps"]:
                ws[server] = r
    return {"results": best, "ws": ws, "missing": missing}


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def table(data: dict, workers: int, duration: float, connections: int, repeat: int) -> str:
    """The results as Markdown tables (the form docs/serve.md quotes)."""
    res = data["results"]
    lines = [
        f"serve (ASGI): the raw ASGI app of manygil/bench/asgi_app.py, {workers} workers, "
        f"wrk -t2 -c{connections} -d{duration:g}s on 127.0.0.1, best of {repeat} per route",
        "",
        "| server | "
        + " | ".join(f"{r} req/s | p50 / p99 ms | CPU us/req" for r in ROUTES)
        + " | PSS MiB |",
        "| --- |" + " ---: | ---: | ---: |" * len(ROUTES) + " ---: |",
    ]
    for server, r in res.items():
        cells = []
        for route in ROUTES:
            m = r["routes"][route]
            flag = f" ({m['errors']} non-2xx)" if m["errors"] else ""
            cells.append(
                f"{m['rps']:,.0f}{flag} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {m['cpu_us']:.0f}"
            )
        lines.append(f"| {LABELS[server]} | " + " | ".join(cells) + f" | {r['pss_mib']:.0f} |")
    ours = res.get("manygil")
    peers = {k: v for k, v in res.items() if k != "manygil"}
    if ours and peers:
        lines += ["", "manygil serve against the best peer on each route:", ""]
        lines += [
            "| route | req/s ratio | best peer (req/s) | p99 ratio | lowest p99 peer "
            "| CPU/req ratio | leanest peer (CPU us/req) |"
        ]
        lines += ["| --- | ---: | --- | ---: | --- | ---: | --- |"]
        for route in ROUTES:
            fast = max(peers, key=lambda s: peers[s]["routes"][route]["rps"])
            low = min(peers, key=lambda s: peers[s]["routes"][route]["p99_ms"])
            lean = min(peers, key=lambda s: peers[s]["routes"][route]["cpu_us"])
            m = ours["routes"][route]
            f, lo = peers[fast]["routes"][route], peers[low]["routes"][route]
            le = peers[lean]["routes"][route]
            lines.append(
                f"| {route} | {_ratio(m['rps'], f['rps'])} | {LABELS[fast]} "
                f"({f['rps']:,.0f}) | {_ratio(m['p99_ms'], lo['p99_ms'])} | {LABELS[low]} "
                f"({lo['p99_ms']:.1f} ms) | {_ratio(m['cpu_us'], le['cpu_us'])} | "
                f"{LABELS[lean]} ({le['cpu_us']:.0f}) |"
            )
    ws = data.get("ws") or {}
    if ws:
        lines += [
            "",
            "WebSocket echo, 1 KiB binary messages, sequential round trips per connection:",
            "",
            "| server | round trips/s | p50 / p99 ms | manygil serve vs it |",
            "| --- | ---: | ---: | ---: |",
        ]
        mine = ws.get("manygil")
        for server, r in ws.items():
            vs = _ratio(mine["rps"], r["rps"]) if mine and server != "manygil" else "-"
            lines.append(
                f"| {LABELS[server]} | {r['rps']:,.0f} | {r['p50_ms']:.2f} / "
                f"{r['p99_ms']:.2f} | {vs} |"
            )
    load = os.getloadavg()
    lines.append(
        f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"(on {os.cpu_count()} CPUs; above ~CPUs/2 the numbers are noisy: run again)"
    )
    if data["missing"]:
        lines.append(
            f"not installed (skipped): {', '.join(data['missing'])}; run toolchain/peers.sh"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_serve_asgi", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0, help="seconds of load per route")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--ws-connections", type=int, default=16, help="0: no WebSocket echo")
    p.add_argument("--ws-round-trips", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="2 s per route, one run, fewer trips")
    p.add_argument(
        "--server", action="append", choices=SERVERS, help="servers to run (default: all)"
    )
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.repeat, a.ws_round_trips = 2.0, 1, min(a.ws_round_trips, 200)
    if compile_app_package():
        print(
            "bench serve (ASGI): this Python writes no bytecode: byte-compiled the manygil "
            "package (holding the app), as installing a wheel does",
            file=sys.stderr,
        )
    try:
        data = run(
            a.workers,
            a.duration,
            a.connections,
            a.repeat,
            a.ws_connections,
            a.ws_round_trips,
            tuple(a.server or SERVERS),
        )
    except RuntimeError as e:
        print(f"bench serve (ASGI): {e}", file=sys.stderr)
        return 1
    print(table(data, a.workers, a.duration, a.connections, a.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
