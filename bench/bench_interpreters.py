"""Interpreter-level costs, measured in one run: create+destroy, the round trip of
``interp.call(noop)``, and RSS per idle interpreter — manygil against 3.14's stdlib
``concurrent.interpreters`` (when this Python has it) and against a thread hop
(``ThreadPoolExecutor``) as the baseline every number is divided by.

    python bench/bench_interpreters.py [--calls N] [--interps N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time

import manygil
from procstat import rss_kib


def noop():
    return None


def _per_call_us(call, n: int, repeats: int = 5) -> tuple[float, float]:
    """(min, median) microseconds per call over `repeats` batches of `n` calls."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return min(samples), statistics.median(samples)


def _create_destroy_ms(create, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        i = create()
        i.close()
        samples.append((time.perf_counter() - t0) * 1e3)
    return min(samples), statistics.median(samples)


def _rss_per_idle_mib(create, n: int) -> float:
    before = rss_kib()
    interps = [create() for _ in range(n)]
    for i in interps:
        i.exec("pass")
    per = (rss_kib() - before) / n / 1024
    for i in interps:
        i.close()
    return per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per timing batch")
    ap.add_argument("--interps", type=int, default=8, help="interpreters for create/RSS")
    args = ap.parse_args(argv)

    try:
        from concurrent import interpreters as stdlib
    except ImportError:
        stdlib = None

    rows: list[tuple[str, str, float, float]] = []
    with concurrent.futures.ThreadPoolExecutor(1) as tpe:
        tpe.submit(noop).result()
        base = _per_call_us(lambda: tpe.submit(noop).result(), args.calls)
    rows.append(("round trip", "ThreadPoolExecutor (baseline)", *base))

    i = manygil.create()
    i.call(noop)
    rows.append(
        ("round trip", "manygil Interpreter.call", *_per_call_us(lambda: i.call(noop), args.calls))
    )
    i.close()
    if stdlib is not None:
        s = stdlib.create()
        s.call(noop)
        rows.append(
            (
                "round trip",
                "stdlib Interpreter.call",
                *_per_call_us(lambda: s.call(noop), args.calls),
            )
        )
        s.close()

    rows.append(("create+destroy", "manygil", *_create_destroy_ms(manygil.create, args.interps)))
    if stdlib is not None:
        rows.append(("create+destroy", "stdlib", *_create_destroy_ms(stdlib.create, args.interps)))

    print(f"Python {sys.version.split()[0]}; {args.calls} calls per batch, min/median of 5 batches")
    print(f"{'measure':16} {'what':32} {'min':>10} {'median':>10} {'vs baseline':>12}")
    for measure, what, lo, med in rows:
        unit = "us" if measure == "round trip" else "ms"
        ratio = f"{med / base[1]:.2f}x" if measure == "round trip" else ""
        print(f"{measure:16} {what:32} {lo:8.1f}{unit} {med:8.1f}{unit} {ratio:>12}")
    rss = _rss_per_idle_mib(manygil.create, args.interps)
    print(f"{'RSS idle':16} {'manygil, per interpreter':32} {rss:8.2f}MiB")
    if stdlib is not None:
        rss_s = _rss_per_idle_mib(stdlib.create, args.interps)
        print(f"{'RSS idle':16} {'stdlib, per interpreter':32} {rss_s:8.2f}MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
