"""A fresh pool's first results and memory per worker: a function of the user's script
(``__main__``: a def, a lambda, a closure — the README quick start's style) against a
module function, and against the stdlib ``InterpreterPoolExecutor`` (3.14+; with a module
function: it refuses a function of ``__main__``, "args not shareable").

Each case runs in a fresh process whose ``__main__`` is a generated script, as a user's
would be: it starts ``Pool(N)``, gives each worker one task (the task sleeps 50 ms so
that every worker gets one; the sleep is subtracted) and reports the time until all N
results are in, then RSS and PSS per worker (the process's growth over the pool's start,
divided by N) and whether a worker imported cloudpickle. Cases are interleaved over
rounds; ratios are of medians of the same run.

    python bench/bench_first_results.py [--workers 2 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# The script each case runs as __main__. {setup} defines `fn`; {make} builds the pool.
CHILD = """\
import json, os, sys, time
sys.path.insert(0, {here!r})
from procstat import memory_kib

N = {workers}
HOLD = 0.05
{setup}
before = memory_kib()
t0 = time.perf_counter()
with {make} as pool:
    results = [f.result() for f in [pool.submit(fn, HOLD) for _ in range(N)]]
    first_ms = (time.perf_counter() - t0 - HOLD) * 1e3
    after = memory_kib()
    probe = [pool.submit(fn, 0.0, True) for _ in range(N)]
    cloudpickle_in_worker = any(f.result() for f in probe)
assert results == [HOLD] * N, results
print(json.dumps({{
    "first_ms": first_ms,
    "rss_mib": (after["rss"] - before["rss"]) / N / 1024,
    "pss_mib": (after["pss"] - before["pss"]) / N / 1024,
    "cloudpickle": cloudpickle_in_worker,
}}))
"""

# `fn(hold, probe=False)`: sleep `hold`, return it; with probe, say whether cloudpickle is
# loaded where it runs.
BODY = """\
    import time, sys
    if probe:
        return "cloudpickle" in sys.modules
    time.sleep(hold)
    return hold
"""

SETUPS = {
    "module": "from first_results_tasks import fn",
    "def": "def fn(hold, probe=False):\n" + BODY,
    "lambda": (
        "import time\n"
        "fn = lambda hold, probe=False: ('cloudpickle' in sys.modules) if probe "
        "else (time.sleep(hold), hold)[1]"
    ),
    "closure": (
        "def make(scale):\n"
        "    def fn(hold, probe=False):\n"
        "        import time, sys\n"
        "        if probe:\n"
        "            return 'cloudpickle' in sys.modules\n"
        "        time.sleep(hold * scale)\n"
        "        return hold\n"
        "    return fn\n"
        "fn = make(1)"
    ),
}

MANYGIL = ("import manygil", "manygil.Pool(N)")
IPE = ("import concurrent.futures as cf", "cf.InterpreterPoolExecutor(N)")


def _cases() -> dict:
    cases = {f"manygil {k}": (SETUPS[k], MANYGIL) for k in SETUPS}
    if sys.version_info >= (3, 14):
        cases["stdlib IPE module"] = (SETUPS["module"], IPE)
    return cases


def _run(setup, pool, workers, tmp) -> dict:
    imp, make = pool
    script = os.path.join(tmp, "user_script.py")
    with open(script, "w") as f:
        f.write(CHILD.format(here=HERE, workers=workers, setup=imp + "\n" + setup, make=make))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp, HERE, *sys.path]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine: modules' .pyc cached
    out = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, timeout=300, env=env
    )
    if out.returncode != 0:
        raise RuntimeError(f"case failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 8])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    cases = _cases()
    # Installed packages come with .pyc files (pip compiles them); a development checkout
    # of manygil may have none yet.
    import compileall

    import manygil

    compileall.compile_dir(os.path.dirname(manygil.__file__), quiet=1)
    print(
        f"Python {sys.version.split()[0]}; fresh process per case; medians of {a.rounds} "
        "interleaved rounds; memory per worker = growth over the pool's start / N"
    )
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "first_results_tasks.py"), "w") as f:
            f.write(SETUPS["def"])
        for workers in a.workers:
            got: dict = {name: [] for name in cases}
            for r in range(a.rounds):
                order = list(cases.items())
                if r % 2:
                    order.reverse()
                for name, (setup, pool) in order:
                    got[name].append(_run(setup, pool, workers, tmp))
            med = {
                name: {
                    k: statistics.median(x[k] for x in rows)
                    for k in ("first_ms", "rss_mib", "pss_mib")
                }
                for name, rows in got.items()
            }
            base = med["manygil module"]
            ipe = med.get("stdlib IPE module")
            print(f"\n{workers} workers")
            print(
                f"{'':22}{'first results':>14}{'vs module':>11}{'vs IPE':>12}"
                f"{'RSS/worker':>12}{'PSS/worker':>12}  cloudpickle in worker"
            )
            for name, m in med.items():
                vs_ipe = f"{m['first_ms'] / ipe['first_ms']:.2f}x" if ipe else "-"
                print(
                    f"{name:22}{m['first_ms']:>11.1f} ms{m['first_ms'] / base['first_ms']:>10.2f}x"
                    f"{vs_ipe:>12}{m['rss_mib']:>8.2f} MiB{m['pss_mib']:>8.2f} MiB  "
                    f"{any(x['cloudpickle'] for x in got[name])}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
