"""Where the memory of a ``manygil serve`` worker goes, measured in one run.

1. Whole servers (the process tree, as ``bench_serve.py`` measures it): manygil serve and
   gunicorn sync at 1 and N workers on the Flask app of the serve benchmark, after
   ``--load`` seconds of wrk on each route; the per-worker increment is
   (tree(N) - tree(1)) / (N - 1). Also before the load (what serving adds) and manygil at N
   workers with ``--threads 2`` (what one more request thread per worker adds).
2. In this process, N interpreters at a time, after ``malloc_trim``: a bare interpreter
   (and 3.14's ``concurrent.interpreters`` one for reference), importing the app in it,
   what manygil's worker side adds on top (``_serve_worker.load``), what ``gc.collect()``
   and ``sys._clear_internal_caches()`` give back after loading, and the same for a plain
   WSGI function app; blocked threads in the main interpreter and in workers.

PSS (each page shared by several processes divided among them) of this process and of
server trees, in MiB per worker; for trees also its anonymous part (heap and stacks,
which unrelated processes mapping the same files do not move) and USS. Part 1 needs wrk
and gunicorn (toolchain/peers.sh).

    python bench/bench_serve_memory.py [--workers N] [--load S] [--skip-servers]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

from manygil import _native
from manygil._serve import worker as _serve_worker
from manygil.bench import serve_bench as sb
from manygil.interpreters import create
from procstat import memory_kib

FLASK_APP = "manygil.bench.flask_app:app"
PLAIN_APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]
"""


def _mem() -> dict:
    """This process's memory in MiB after giving freed allocator memory back."""
    _native.serve_release_memory()
    return {k: v / 1024 for k, v in memory_kib().items()}


class Split:
    """Rows of (what, PSS and USS in MiB per worker, or per ``per``) from differences of
    this process's memory."""

    def __init__(self, n: int):
        self.n = n
        self.rows: list[tuple[str, float, float]] = []
        self.last = _mem()

    def step(self, what: str, per: int | None = None) -> None:
        now, per = _mem(), per or self.n
        self.rows.append(
            (
                what,
                (now["pss"] - self.last["pss"]) / per,
                (now["uss"] - self.last["uss"]) / per,
            )
        )
        self.last = now

    def skip(self) -> None:
        self.last = _mem()


def _modules() -> int:
    import sys

    return len(sys.modules)


def _has(name: str) -> bool:
    import sys

    return name in sys.modules


def in_process(n: int) -> list[tuple[str, float, float]]:
    try:
        from concurrent import interpreters as stdlib
    except ImportError:
        stdlib = None
    s = Split(n)
    if stdlib is not None:
        ref = [stdlib.create() for _ in range(n)]
        s.step("CPython's own bare interpreter (concurrent.interpreters.create)")
        for i in ref:
            i.close()
        s.skip()

    interps = [create() for _ in range(n)]
    s.step("bare interpreter (manygil create)")
    module = FLASK_APP.partition(":")[0]
    for i in interps:
        i.exec(f"import {module}")
    s.step(f"Flask app: import {module} ({interps[0].call(_modules)} modules)")
    for i in interps:
        assert i.call(_serve_worker.load, FLASK_APP) is None
    s.step("Flask app: manygil's worker side on top (_serve_worker.load)")
    for i in interps:
        i.exec("import gc, sys; gc.collect(); sys._clear_internal_caches()")
    s.step("Flask app: then gc.collect() + sys._clear_internal_caches()")

    def block(seconds: float) -> None:
        import time

        time.sleep(seconds)

    # Threads are small: 4 per interpreter, for a measurable difference.
    ts = [threading.Thread(target=i.call, args=(block, 2.0)) for i in interps * 4]
    for t in ts:
        t.start()
    time.sleep(1.0)
    s.step("a main-interpreter thread blocked in Interpreter.call", per=len(ts))
    for t in ts:
        t.join()
    s.skip()
    for i in interps:
        i.exec(
            "import threading, time\n"
            "_ts = [threading.Thread(target=time.sleep, args=(2,)) for _ in range(4)]\n"
            "for _t in _ts: _t.start()"
        )
    time.sleep(0.5)
    s.step("a request thread in a worker (threading.Thread, blocked)", per=4 * n)
    for i in interps:
        i.exec("for _t in _ts: _t.join()")
        i.close()
    s.skip()

    interps = [create() for _ in range(n)]
    s.skip()
    for i in interps:
        i.exec("import plain_wsgi_app")
    s.step("plain WSGI function app: import it")
    for i in interps:
        assert i.call(_serve_worker.load, "plain_wsgi_app:app") is None
    inspect = interps[0].call(_has, "inspect")
    s.step(
        "plain WSGI function app: manygil's worker side on top"
        + (" (imports inspect)" if inspect else "")
    )
    for i in interps:
        i.close()
    return s.rows


def _settled(pid: int, within: float = 20.0) -> dict:
    """The tree's memory once it stops changing (a server answers before all its workers
    have loaded the application)."""
    deadline = time.monotonic() + within
    last = sb._tree_memory(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sb._tree_memory(pid)
        if abs(now["uss"] - last["uss"]) < 0.1:
            return now
        last = now
    return last


KEYS = ("pss", "anon", "uss")


def servers(n: int, load: float) -> list[tuple]:
    """Rows of (what, PSS, anonymous PSS, USS in MiB) for whole server trees."""
    rows = []

    def tree(server: str, workers: int, extra=(), loaded=True) -> dict:
        port = sb._free_port()
        cmd = sb._command(server, workers, 8, port)
        if cmd is None:
            raise SystemExit(f"{server} is not installed: run toolchain/peers.sh")
        with sb.running([*cmd, *extra], port) as (proc, base):
            mem = _settled(proc.pid)
            if loaded:
                for path in sb.ROUTES.values():
                    sb._wrk(base + path, load, 32, 2)
                    now = sb._tree_memory(proc.pid)
                    mem = {k: max(v, now[k]) for k, v in mem.items()}
            return mem

    def row(what: str, m: dict) -> None:
        rows.append((what, *(m[k] for k in KEYS)))

    many_of = {}
    for server in ("manygil", "gunicorn-sync"):
        one, many = tree(server, 1), tree(server, n)
        idle = tree(server, n, loaded=False)
        many_of[server] = many
        step = {k: (many[k] - one[k]) / (n - 1) for k in KEYS}
        row(f"{server}: tree at 1 worker", one)
        row(f"{server}: tree at {n} workers", many)
        row(f"{server}: per-worker increment", step)
        row(f"{server}: base (tree at 1 worker - increment)", {k: one[k] - step[k] for k in KEYS})
        row(
            f"{server}: what {load:g} s of load per route added, per worker",
            {k: (many[k] - idle[k]) / n for k in KEYS},
        )
    two = tree("manygil", n, extra=["--threads", "2"])
    row(
        "manygil: one more request thread per worker (--threads 2)",
        {k: (two[k] - many_of["manygil"][k]) / n for k in KEYS},
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--load", type=float, default=3.0, help="seconds of wrk per route")
    p.add_argument("--skip-servers", action="store_true", help="only the in-process part")
    args = p.parse_args(argv)
    if sb.compile_app_package():
        print("(this Python writes no bytecode: byte-compiled the manygil package, as a wheel is)")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "plain_wsgi_app.py"), "w") as f:
            f.write(PLAIN_APP)
        sys.path.insert(0, d)  # interpreters created from now on copy sys.path
        rows = in_process(args.workers)
    print(f"In this process, {args.workers} interpreters at a time (MiB per worker):")
    print(f"  {'':72} {'PSS':>6} {'USS':>6}")
    for what, pss, uss in rows:
        print(f"  {what:72} {pss:6.2f} {uss:6.2f}")
    if not args.skip_servers:
        print(f"Whole process trees, Flask app ({sb.APP}), MiB:")
        print(f"  {'':72} {'PSS':>6} {'anon':>6} {'USS':>6}")
        for what, pss, anon, uss in servers(args.workers, args.load):
            print(f"  {what:72} {pss:6.2f} {anon:6.2f} {uss:6.2f}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
