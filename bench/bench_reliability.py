"""Reliability costs (issue 14), manygil.Pool against concurrent.futures.ThreadPoolExecutor.

Each scenario runs in a fresh subprocess per executor (so peak RSS is the scenario's own),
alternating executors over ``--rounds`` rounds; the median of each is printed with the
manygil/threads ratio:

- ``cancel``: 200 tasks queued behind 2 running ones on 2 workers, then ``cancel()`` on
  each in submission order: time until every future is settled, and how many tasks
  started (a cancelled queued task must never start).
- ``start``: ``Executor(1000)`` and its first result: time and RSS (nothing proportional
  to max_workers may be allocated up front).
- ``map``: ``map(abs, range(200_000))`` with the default chunksize=1 and no buffersize:
  time and peak RSS growth (submission must stay a bounded window ahead of the consumer).
- ``sigint``: Ctrl-C while ``with Executor(1)`` waits for 20 queued 0.2 s tasks: seconds
  from the signal to process exit (for the threads, exit waits for the queued tasks).

Usage: python bench/bench_reliability.py [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

KINDS = ("manygil", "threads")

CHILD = textwrap.dedent(
    """
    import concurrent.futures as cf, json, os, sys, time
    import manygil

    def hwm_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def spin(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    def make(kind, n):
        return manygil.Pool(n) if kind == "manygil" else cf.ThreadPoolExecutor(n)

    def busy(ex):
        if isinstance(ex, manygil.Pool):
            return ex.stats()["running"]
        return sum(1 for t in ex._threads if t.is_alive())

    kind, what = sys.argv[1], sys.argv[2]
    out = {}
    if what == "cancel":
        started = []
        ex = make(kind, 2)
        if kind == "manygil":
            fs = [ex.submit(spin, 0.05) for _ in range(202)]
            while ex.stats()["running"] < 2:
                time.sleep(0.001)
        else:
            fs = [ex.submit(lambda: started.append(1) or spin(0.05)) for _ in range(202)]
            while len(started) < 2:
                time.sleep(0.001)
        t0 = time.perf_counter()
        for f in fs[2:]:
            f.cancel()
        cf.wait(fs, timeout=600)
        out["settle_ms"] = (time.perf_counter() - t0) * 1e3
        if kind == "manygil":
            while (s := ex.stats())["running"] or s["queued"]:
                time.sleep(0.001)
            out["started"] = s["submitted"] - s["cancelled"]
        else:
            out["started"] = len(started)
        ex.shutdown()
    elif what == "start":
        base = rss_kib()
        t0 = time.perf_counter()
        ex = make(kind, 1000)
        ex.submit(abs, -1).result()
        out["ms"] = (time.perf_counter() - t0) * 1e3
        out["rss_mib"] = (rss_kib() - base) / 1024
        ex.shutdown()
    elif what == "map":
        base = rss_kib()
        ex = make(kind, 2)
        t0 = time.perf_counter()
        assert sum(ex.map(abs, range(200_000))) == sum(range(200_000))
        out["s"] = time.perf_counter() - t0
        out["peak_mib"] = (hwm_kib() - base) / 1024
        ex.shutdown()
    elif what == "sigint":
        with make(kind, 1) as ex:
            fs = [ex.submit(spin, 0.2) for _ in range(20)]
            while not busy(ex):
                time.sleep(0.001)
            print("ready", flush=True)
    print(json.dumps(out), flush=True)
    """
)


def run_child(path: str, kind: str, what: str) -> dict:
    p = subprocess.run(
        [sys.executable, path, kind, what], capture_output=True, text=True, timeout=900
    )
    if p.returncode != 0:
        raise RuntimeError(f"{kind} {what} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def sigint_exit_s(path: str, kind: str) -> float:
    """Seconds from SIGINT (sent once the first task runs) to the child's exit."""
    proc = subprocess.Popen(
        [sys.executable, path, kind, "sigint"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} sigint: the child did not start")
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        return time.perf_counter() - t0
    finally:
        proc.kill()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="two rounds")
    a = ap.parse_args(argv)
    rounds = 2 if a.quick else a.rounds
    # SIGINT must reach the children even if this run inherited it ignored.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    results: dict = {}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "reliability_child.py")
        with open(path, "w") as f:
            f.write(CHILD)
        for r in range(rounds):
            kinds = KINDS if r % 2 == 0 else KINDS[::-1]
            for what in ("cancel", "start", "map", "sigint"):
                for kind in kinds:
                    if what == "sigint":
                        res = {"exit_s": sigint_exit_s(path, kind)}
                    else:
                        res = run_child(path, kind, what)
                    for key, value in res.items():
                        results.setdefault((what, key), {}).setdefault(kind, []).append(value)
    print(f"manygil.Pool vs ThreadPoolExecutor, median of {rounds} interleaved rounds")
    print(f"{'scenario':24}{'manygil':>12}{'threads':>12}{'ratio':>10}")
    for (what, key), by_kind in results.items():
        m = statistics.median(by_kind["manygil"])
        t = statistics.median(by_kind["threads"])
        ratio = f"{m / t:9.3f}x" if t else "        —"
        print(f"{what + ' ' + key:24}{m:12.2f}{t:12.2f}{ratio:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
