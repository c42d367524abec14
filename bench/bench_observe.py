"""What observing costs (issue 24, items 6 and 9), measured in one run:

- ``serve(access_log=True)``: lines through the main interpreter's ``logging`` (a handler
  of the caller's on the root logger writing them to stderr: one handler for the
  application's records and the access log) against the front writing them to stderr
  itself (``forward_logging=False``, and what ``python -m manygil serve`` does), against no
  access log; hello-world WSGI, ``wrk`` on 127.0.0.1, variants interleaved; ratios of
  requests/s.
- ``Pool.snapshot()``: its duration with idle workers and with workers running Python,
  against one task's round trip measured in the same run.

    python bench/bench_observe.py [--workers 2] [--duration 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import manygil

HERE = os.path.dirname(os.path.abspath(__file__))


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def noop():
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A server process: serve() with the variant's options; "logging" configures a handler.
SERVER = """
import logging, sys
from manygil.serve import serve

variant, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if variant == "logging":
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
serve("observe_app:app", workers=workers, bind=f"127.0.0.1:{port}",
      access_log=variant != "none", forward_logging=variant != "front",
      ready=lambda addrs: print("listening on", addrs[0], flush=True))
"""


def _serve_rps(variant: str, workers: int, duration: float) -> tuple[float, int, int]:
    """Requests/s of ``wrk -t2 -c32`` against a fresh server of ``variant``, the requests
    wrk made, and the access-log lines the server reported dropped."""
    import tempfile

    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, *(p for p in sys.path if p)]))
    cmd = [sys.executable, "-c", SERVER, variant, str(port), str(workers)]
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert "listening on" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}/"
        urllib.request.urlopen(url).read()
        out = subprocess.run(
            ["wrk", "-t2", "-c32", f"-d{duration:g}s", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        made = int(re.search(r"(\d+) requests in", out).group(1))
    finally:
        proc.terminate()
        proc.wait(60)
    err.seek(0)
    dropped = sum(int(n) for n in re.findall(r"(\d+) access-log line\(s\) dropped", err.read()))
    err.close()
    return rps, made, dropped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    if shutil.which("wrk") is None:
        print("serve: skipped (wrk is not installed: toolchain/peers.sh)")
    else:
        variants = {
            "no access log": "none",
            "access log, front writes stderr": "front",
            "access log through logging": "logging",
        }
        rps: dict[str, list[float]] = {k: [] for k in variants}
        lost = {k: [0, 0] for k in variants}
        for _ in range(a.rounds):
            for name, extra in variants.items():
                r, made, dropped = _serve_rps(extra, a.workers, a.duration)
                rps[name].append(r)
                lost[name][0] += made
                lost[name][1] += dropped
        base = statistics.median(rps["no access log"])
        print(
            f"serve hello, {a.workers} workers, wrk -t2 -c32 -d{a.duration:g}s, median of {a.rounds}:"
        )
        for name, values in rps.items():
            m = statistics.median(values)
            made, dropped = lost[name]
            note = f", {dropped / made:.1%} of access lines dropped" if dropped else ""
            print(f"  {name:34s} {m:9.0f} req/s  ratio {m / base:.2f}{note}")
    with manygil.Pool(a.workers) as pool:
        for _ in range(200):
            pool.submit(noop).result()
        t0 = time.perf_counter()
        n = 2000
        for _ in range(n):
            pool.submit(noop).result()
        trip = (time.perf_counter() - t0) / n
        idle = []
        for _ in range(50):
            t0 = time.perf_counter()
            pool.snapshot(timeout=5)
            idle.append(time.perf_counter() - t0)
        fs = [pool.submit(spin, 30) for _ in range(a.workers)]
        while pool.stats()["running"] < a.workers:
            time.sleep(0.001)
        busy = []
        for _ in range(20):
            t0 = time.perf_counter()
            snap = pool.snapshot(timeout=5)
            busy.append(time.perf_counter() - t0)
            assert all(w["answered"] for w in snap["workers"])
        for f in fs:
            f.cancel()
    print(f"Pool.snapshot(), {a.workers} workers (round trip of one task: {trip * 1e6:.0f} us):")
    for name, values in (("idle workers", idle), ("workers running Python", busy)):
        m = statistics.median(values)
        print(f"  {name:34s} {m * 1e3:9.2f} ms  = {m / trip:.0f} round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
