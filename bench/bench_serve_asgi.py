"""ASGI: the same raw ASGI app (``manygil/bench/asgi_app.py``) behind uvicorn (asyncio +
h11, and uvloop + httptools) and ``manygil serve``, loaded by ``wrk`` on 127.0.0.1, one
server at a time, interleaved; each server's best run.

    python bench/bench_serve_asgi.py [--workers N] [--duration S] [--connections C] [--repeat R]

Needs wrk and uvicorn (``toolchain/peers.sh``; uvloop and httptools for the second uvicorn).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
