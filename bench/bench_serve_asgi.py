"""ASGI: the same raw ASGI app (``manygil/bench/asgi_app.py``) behind uvicorn (asyncio +
h11, and uvloop + httptools) and ``manygil serve``, loaded by ``wrk`` on 127.0.0.1, one
server at a time, interleaved; each server's best run. Then its WebSocket echo: W
connections (``websockets`` client, one asyncio loop) each making R sequential round
trips of a 1 KiB binary message.

    python bench/bench_serve_asgi.py [--workers N] [--duration S] [--connections C] [--repeat R]
        [--ws-connections W] [--ws-round-trips R]

Needs wrk, uvicorn and websockets (``toolchain/peers.sh``; uvloop and httptools for the
second uvicorn).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import time

from manygil.bench.serve_bench import _bin, _free_port, _tree_rss, _wrk, running

APP = "manygil.bench.asgi_app:app"
ROUTES = {"hello": "/", "cpu": "/cpu"}


def _command(server: str, workers: int, port: int) -> list[str] | None:
    if server == "manygil":
        return [
            sys.executable, "-m", "manygil", "serve", APP, "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}",
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
    port = _free_port()
    cmd = _command(server, workers, port)
    if cmd is None:
        return None
    with running(cmd, port) as (proc, base):
        result: dict = {"server": server, "routes": {}}
        rss = 0
        for route, path in ROUTES.items():
            _wrk(base + path, min(1.0, duration), connections, 2)  # warm-up
            result["routes"][route] = _wrk(base + path, duration, connections, 2)
            rss = max(rss, _tree_rss(proc.pid)[0])
        result["rss_mib"] = rss / 2**20
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--ws-connections", type=int, default=16)
    p.add_argument("--ws-round-trips", type=int, default=1000)
    a = p.parse_args(argv)
    best: dict = {}
    for _ in range(a.repeat):
        for server in ("uvicorn", "uvicorn-uvloop", "manygil"):
            r = measure(server, a.workers, a.duration, a.connections)
            if r is None:
                print(f"{server}: not installed, skipped", file=sys.stderr)
                continue
            b = best.setdefault(server, r)
            for route, m in r["routes"].items():
                if m["rps"] > b["routes"][route]["rps"]:
                    b["routes"][route] = m
            b["rss_mib"] = min(b["rss_mib"], r["rss_mib"])
    print(
        f"{a.workers} workers, wrk -t2 -c{a.connections} -d{a.duration:g}s, best of {a.repeat}\n"
        "| server | hello req/s | p50 / p99 ms | CPU req/s | p50 / p99 ms | RSS MiB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for server, r in best.items():
        h, c = r["routes"]["hello"], r["routes"]["cpu"]
        print(
            f"| {server} | {h['rps']:,.0f} | {h['p50_ms']:.1f} / {h['p99_ms']:.1f} "
            f"| {c['rps']:,.0f} | {c['p50_ms']:.1f} / {c['p99_ms']:.1f} | {r['rss_mib']:.0f} |"
        )
    ws_best: dict = {}
    for _ in range(a.repeat):
        for server in ("uvicorn", "uvicorn-uvloop", "manygil"):
            r = measure_ws(server, a.workers, a.ws_connections, a.ws_round_trips)
            if r is not None and r["rps"] > ws_best.get(server, {"rps": 0})["rps"]:
                ws_best[server] = r
    if ws_best:
        print(
            f"\nWebSocket echo, 1 KiB binary messages, {a.ws_connections} connections x "
            f"{a.ws_round_trips} sequential round trips, best of {a.repeat}\n"
            "| server | round trips/s | p50 / p99 ms | vs uvicorn |\n"
            "| --- | ---: | ---: | ---: |"
        )
        base = ws_best.get("uvicorn", {}).get("rps")
        for server, r in ws_best.items():
            ratio = f"{r['rps'] / base:.2f}x" if base else "-"
            print(
                f"| {server} | {r['rps']:,.0f} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {ratio} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
