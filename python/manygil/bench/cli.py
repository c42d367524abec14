"""Command line of the benchmark: parse options, run, print the table, write JSON/plot."""

import argparse
import json
import os
import sys

from manygil.bench import backends, plot, report, runner, table
from manygil.bench.progress import Progress

SCENARIOS = ("web", "image", "download", "micro")
# Run only when named: needs the peer servers and wrk of toolchain/peers.sh.
EXTRA_SCENARIOS = ("serve",)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def default_workers():
    """The number of CPUs this process may use."""
    count = os.process_cpu_count() if hasattr(os, "process_cpu_count") else os.cpu_count()
    return count or 1


def parser():
    p = argparse.ArgumentParser(
        prog="python -m manygil bench",
        description="Compare serial, threads, processes, stdlib sub-interpreters and manygil "
        "on pure-Python workloads, on this machine. Every result is verified.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (< 45 s)")
    p.add_argument(
        "--scenario",
        nargs="+",
        action="extend",
        choices=SCENARIOS + EXTRA_SCENARIOS,
        metavar="NAME",
        help=f"scenarios to run (default: all but serve): {', '.join(SCENARIOS + EXTRA_SCENARIOS)}",
    )
    p.add_argument(
        "--backend",
        nargs="+",
        action="extend",
        choices=backends.NAMES,
        metavar="NAME",
        help=f"backends to compare (default: all): {', '.join(backends.NAMES)}",
    )
    p.add_argument(
        "--workers", type=_positive_int, metavar="N", help="workers per pool (default: usable CPUs)"
    )
    p.add_argument(
        "--repeat", type=_positive_int, metavar="N", help="repeats (default: 2 quick, 3 full)"
    )
    p.add_argument("--json", metavar="PATH", help="write all measurements as JSON")
    p.add_argument("--plot", metavar="PATH.png", help="write bar charts (needs matplotlib)")
    p.add_argument(
        "--start-method",
        choices=("forkserver", "spawn"),
        help="multiprocessing start method for 'processes' (default: the platform's, "
        "unless it is fork: forkserver)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    return p


def main(argv=None):
    """Run the benchmark command; returns the exit code.

    0: done, every result verified; 1: a backend returned a wrong result or an output
    file could not be written; 2: bad command line; 130: interrupted (Ctrl-C).
    Blocks for the whole run. Pools and the loopback server are always shut down.
    """
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    mode = "quick" if args.quick else "full"
    wanted = set(args.scenario or SCENARIOS)
    if "serve" in wanted:
        # manygil serve against gunicorn and granian with a Flask app (WSGI:
        # manygil.bench.serve_bench), then against uvicorn, granian and hypercorn with a
        # raw ASGI app (manygil.bench.serve_asgi_bench), over HTTP and WebSocket.
        from manygil.bench import serve_asgi_bench, serve_bench

        serve_args = ["--quick"] if args.quick else []
        if args.workers:
            serve_args += ["--workers", str(args.workers)]
        if args.repeat:
            serve_args += ["--repeat", str(args.repeat)]
        serve_status = serve_bench.main(serve_args)
        print()
        serve_status = serve_asgi_bench.main(serve_args) or serve_status
        if wanted == {"serve"}:
            return serve_status
        wanted.discard("serve")
    else:
        serve_status = 0
    chosen = set(args.backend or backends.NAMES)
    config = runner.Config(
        mode=mode,
        scenarios=[s for s in SCENARIOS if s in wanted],
        backends=[b for b in backends.NAMES if b in chosen],
        workers=args.workers or default_workers(),
        repeat=args.repeat or (2 if args.quick else 3),
        start_method=args.start_method,
    )
    progress = Progress(enabled=not args.no_progress)
    try:
        run = runner.run(config, progress)
    except KeyboardInterrupt:
        progress.note("interrupted: pools shut down, server stopped")
        return 130
    finally:
        progress.close()
    machine = report.machine_facts()
    print(table.table(run, machine))
    status = 1 if run.failures or serve_status else 0
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(report.to_json(run, machine), f, indent=2)
                f.write("\n")
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc}", file=sys.stderr)
            status = 1
    if args.plot:
        try:
            message = plot.plot(run, args.plot)
        except OSError as exc:
            message, status = f"error: cannot write {args.plot}: {exc}", 1
        if message:
            print(message, file=sys.stderr)
    return status
