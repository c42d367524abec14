"""Exchanging data between interpreters, measured in one run, as ratios against the
baseline of two threads of one interpreter:

- round trip of a small item through two queues (ping-pong with an echo on the other side):
  manygil.Queue between two interpreters, queue.Queue between two threads (baseline),
  multiprocessing.Queue between two processes, and 3.14's concurrent.interpreters queues;
- queue throughput (items/s, one producer and one consumer on the two sides);
- passing 64 MiB to another interpreter as a call argument: a manygil.SharedBuffer (a
  handle) against bytes (copied);
- lock hand-off latency: two locks used as signals, passed back and forth between two
  interpreters (manygil.Lock) and between two threads (threading.Lock, baseline).

    python bench/bench_exchange.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import statistics
import sys
import threading
import time

import manygil

# --- the other side, as source (run with exec in every kind of interpreter) --------------

ECHO = """
for _ in range(n):
    qout.put(qin.get())
"""

CONSUME = """
for _ in range(n):
    qin.get()
"""

HANDOFF = """
for _ in range(n):
    a.acquire()
    b.release()
"""


def _run_source(source, ns):
    exec(source, dict(ns))


def _mp_echo(qin, qout, n):
    for _ in range(n):
        qout.put(qin.get())


def _mp_consume(qin, n):
    for _ in range(n):
        qin.get()


def _sized(n):
    return len(n)


# --- measurements ------------------------------------------------------------------------


def _round_trip_us(put, get, n):
    """Median over batches of the per-item time of put() then get()."""
    batch = max(1, n // 5)
    samples = []
    done = 0
    while done < n:
        k = min(batch, n - done)
        t0 = time.perf_counter()
        for i in range(k):
            put(i)
            get()
        samples.append((time.perf_counter() - t0) / k * 1e6)
        done += k
    return statistics.median(samples)


def _throughput(put, n):
    t0 = time.perf_counter()
    for i in range(n):
        put(i)
    return t0


def bench_round_trips(n, results):
    # Threads (baseline).
    a, b = queue.Queue(), queue.Queue()
    t = threading.Thread(target=_run_source, args=(ECHO, {"qin": a, "qout": b, "n": n + 100}))
    t.start()
    for i in range(100):
        a.put(i)
        b.get()
    results["round trip"]["queue.Queue, 2 threads"] = _round_trip_us(a.put, b.get, n)
    t.join()

    # manygil: main interpreter <-> one manygil interpreter.
    a, b = manygil.Queue(), manygil.Queue()
    interp = manygil.create()
    interp.prepare_main(qin=a, qout=b, n=n + 100)
    t = threading.Thread(target=interp.exec, args=(ECHO,))
    t.start()
    for i in range(100):
        a.put(i)
        b.get()
    results["round trip"]["manygil.Queue, 2 interpreters"] = _round_trip_us(a.put, b.get, n)
    t.join()
    interp.close()


def bench_stdlib_round_trip(n, results):
    try:
        from concurrent import interpreters as stdlib
    except ImportError:
        return
    a, b = stdlib.create_queue(), stdlib.create_queue()
    interp = stdlib.create()
    interp.prepare_main(qin=a, qout=b, n=n + 10)
    t = threading.Thread(target=interp.exec, args=(ECHO,))
    t.start()
    for i in range(10):
        a.put(i)
        b.get()
    results["round trip"]["stdlib interpreters queue (get polls every 10 ms)"] = _round_trip_us(
        a.put, b.get, n
    )
    t.join()
    interp.close()


def bench_mp_round_trip(n, results, ctx):
    a, b = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_mp_echo, args=(a, b, n + 100))
    p.start()
    for i in range(100):
        a.put(i)
        b.get()
    results["round trip"]["multiprocessing.Queue, 2 processes"] = _round_trip_us(a.put, b.get, n)
    p.join()


def bench_throughput(n, results, ctx):
    # Threads (baseline): main produces, a thread consumes; bounded so both run.
    q = queue.Queue(1024)
    t = threading.Thread(target=_run_source, args=(CONSUME, {"qin": q, "n": n}))
    t.start()
    t0 = _throughput(q.put, n)
    t.join()
    results["throughput"]["queue.Queue, 2 threads"] = n / (time.perf_counter() - t0)

    q = manygil.Queue(1024)
    interp = manygil.create()
    interp.prepare_main(qin=q, n=n)
    t = threading.Thread(target=interp.exec, args=(CONSUME,))
    t.start()
    t0 = _throughput(q.put, n)
    t.join()
    results["throughput"]["manygil.Queue, 2 interpreters"] = n / (time.perf_counter() - t0)
    interp.close()

    m = max(1000, n // 4)
    q = ctx.Queue(1024)
    p = ctx.Process(target=_mp_consume, args=(q, m))
    p.start()
    t0 = _throughput(q.put, m)
    p.join()
    results["throughput"]["multiprocessing.Queue, 2 processes"] = m / (time.perf_counter() - t0)

    try:
        from concurrent import interpreters as stdlib
    except ImportError:
        return
    m = max(1000, n // 10)
    q = stdlib.create_queue(1024)
    interp = stdlib.create()
    interp.prepare_main(qin=q, n=m)
    t = threading.Thread(target=interp.exec, args=(CONSUME,))
    t.start()
    t0 = _throughput(q.put, m)
    t.join()
    results["throughput"]["stdlib interpreters queue"] = m / (time.perf_counter() - t0)
    interp.close()


def bench_big_argument(results, repeats):
    size = 64 << 20
    interp = manygil.create()
    buf = manygil.SharedBuffer(size)
    data = bytes(size)
    interp.call(_sized, b"warm up")
    for name, arg in (("64 MiB SharedBuffer", buf), ("64 MiB bytes", data)):
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            assert interp.call(_sized, arg) == size
            samples.append((time.perf_counter() - t0) * 1e6)
        results["call(f, 64 MiB)"][name] = statistics.median(samples)
    interp.close()


def bench_lock_handoff(n, results):
    for name, make in (
        ("threading.Lock, 2 threads", threading.Lock),
        ("manygil.Lock, 2 interpreters", manygil.Lock),
    ):
        a, b = make(), make()
        a.acquire()
        b.acquire()
        ns = {"a": a, "b": b, "n": n}
        if make is manygil.Lock:
            interp = manygil.create()
            interp.prepare_main(ns)
            t = threading.Thread(target=interp.exec, args=(HANDOFF,))
        else:
            interp = None
            t = threading.Thread(target=_run_source, args=(HANDOFF, ns))
        t.start()
        t0 = time.perf_counter()
        for _ in range(n):
            a.release()  # hand a to the other side...
            b.acquire()  # ...which hands b back
        # Two hand-offs per iteration.
        results["lock hand-off"][name] = (time.perf_counter() - t0) / n / 2 * 1e6
        t.join()
        if interp is not None:
            interp.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    args = ap.parse_args(argv)
    n = 5_000 if args.quick else 20_000
    results: dict[str, dict[str, float]] = {
        "round trip": {},
        "throughput": {},
        "call(f, 64 MiB)": {},
        "lock hand-off": {},
    }
    ctx = multiprocessing.get_context("forkserver")
    # Processes first: no manygil interpreter may be alive while the forkserver forks.
    bench_mp_round_trip(n // 4, results, ctx)
    bench_round_trips(n, results)
    bench_stdlib_round_trip(20 if args.quick else 100, results)
    bench_throughput(n * 5, results, ctx)
    bench_big_argument(results, 3 if args.quick else 7)
    bench_lock_handoff(n, results)

    print(f"Python {sys.version.split()[0]}; medians; ratio = time / baseline (lower is better)")
    units = {
        "round trip": ("us", "queue.Queue, 2 threads"),
        "throughput": ("items/s", "queue.Queue, 2 threads"),
        "call(f, 64 MiB)": ("us", "64 MiB bytes"),
        "lock hand-off": ("us", "threading.Lock, 2 threads"),
    }
    for section, rows in results.items():
        unit, base_name = units[section]
        base = rows.get(base_name)
        print(f"\n{section} ({unit})")
        for name, v in rows.items():
            if unit == "items/s":
                ratio = f"{base / v:10.3g}x" if base else ""
                print(f"  {name:52} {v:14,.0f} {ratio}")
            else:
                ratio = f"{v / base:10.3g}x" if base else ""
                print(f"  {name:52} {v:14.2f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
