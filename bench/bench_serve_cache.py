"""A cache shared by every worker: the same cached Django view
(``manygil/bench/django_cache_app.py``) behind ``manygil serve`` with the cache in
``manygil.django.SharedCache``, Django's ``locmem`` (one cache per worker) and Redis (a
server next to it, as process-based servers need), loaded by ``wrk`` with random keys.

Reports per backend the hit rate over the whole run from a cold cache (a key computed by one
worker is a hit in every other only if the cache is shared), req/s and p50/p99 latency.

    python bench/bench_serve_cache.py [--workers N] [--keys K] [--duration S] [--repeat R]

Needs wrk, Django and, for the Redis row, redis-server and the redis package
(``toolchain/peers.sh``); a backend that cannot run here is skipped with a line saying why.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from manygil.bench.serve_bench import _free_port, running

APP = "manygil.bench.django_cache_app:application"

# Random keys; counts the MISS answers per wrk thread and sums them at the end.
LUA = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  misses = 0
  responses = 0
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
  return wrk.format(nil, "/item/" .. math.random(0, KEYS - 1))
end
function response(status, headers, body)
  responses = responses + 1
  -- hyper sends header names in lower case
  if (headers["x-cache"] or headers["X-Cache"]) == "MISS" then
    misses = misses + 1
  end
end
function done(summary, latency, requests)
  local m, r = 0, 0
  for _, t in ipairs(threads) do
    m = m + t:get("misses")
    r = r + t:get("responses")
  end
  io.write(string.format("cache-misses %d of %d\\n", m, r))
  io.write(string.format("p50-us %d p99-us %d\\n", latency:percentile(50), latency:percentile(99)))
end
"""


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on a free port (no persistence): its URL, or None."""
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _load(base: str, lua: str, duration: float, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", "-s", lua, base],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    misses = re.search(r"cache-misses (\d+) of (\d+)", out)
    lat = re.search(r"p50-us (\d+) p99-us (\d+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if not (rps and misses and lat):
        raise RuntimeError(f"wrk output not understood:\n{out}")
    m, n = int(misses.group(1)), int(misses.group(2))
    return {
        "rps": float(rps.group(1)),
        "misses": m,
        "responses": n,
        "hit_rate": 1 - m / n if n else 0.0,
        "p50_ms": int(lat.group(1)) / 1e3,
        "p99_ms": int(lat.group(2)) / 1e3,
        "errors": int(errors.group(1)) if errors else 0,
    }


def measure(backend: str, redis_url, workers, keys, duration, connections, lua) -> dict:
    port = _free_port()
    env = dict(os.environ, MANYGIL_BENCH_CACHE=backend)
    if redis_url:
        env["MANYGIL_BENCH_REDIS_URL"] = redis_url
    cmd = [
        sys.executable, "-m", "manygil", "serve", APP, "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}", "--no-supervise",
    ]  # fmt: skip
    with running(cmd, port, env) as (_proc, base):
        if backend == "redis":  # a cold cache for every run
            import redis

            redis.Redis.from_url(redis_url).flushall()
        return _load(base, lua, duration, connections)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--keys", type=int, default=500)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (toolchain/peers.sh installs it)", file=sys.stderr)
        return 2
    backends = ["shared", "locmem", "redis"]
    try:
        import redis  # noqa: F401
    except ImportError:
        print("redis: the redis package is not installed, row skipped", file=sys.stderr)
        backends.remove("redis")
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        if redis_url is None and "redis" in backends:
            print("redis: redis-server is not installed, row skipped", file=sys.stderr)
            backends.remove("redis")
        lua = os.path.join(tmp, "keys.lua")
        with open(lua, "w") as f:
            f.write(LUA.replace("KEYS", str(a.keys)))
        runs: dict = {b: [] for b in backends}
        for _ in range(a.repeat):  # interleaved, so every backend sees the same machine load
            for b in backends:
                runs[b].append(
                    measure(b, redis_url, a.workers, a.keys, a.duration, a.connections, lua)
                )
    load = os.getloadavg()[0]
    print(
        f"{a.workers} workers, {a.keys} keys, wrk -t2 -c{a.connections} -d{a.duration:g}s "
        f"from a cold cache, best req/s of {a.repeat} (load average {load:.1f})\n"
        "| cache | hit rate | misses | req/s | p50 / p99 ms | vs shared req/s |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    best = {b: max(rs, key=lambda r: r["rps"]) for b, rs in runs.items()}
    ref = best["shared"]["rps"]
    for b, r in best.items():
        print(
            f"| {b} | {r['hit_rate'] * 100:.2f}% | {r['misses']} | {r['rps']:,.0f} | "
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} | {r['rps'] / ref:.2f}x |"
        )
        if r["errors"]:
            print(f"  ({b}: {r['errors']} non-2xx answers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
