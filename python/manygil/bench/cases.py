"""Scenario drivers: what the main process submits, what it times, what it must get back.

A :class:`Scenario` prepares its inputs once (untimed) and has one or more :class:`Metric`
whose ``run(executor, backend, data)`` returns ``(value, result)``: the measured value in
the metric's unit and a JSON-able result that must equal ``metric.expected``. ``run``
blocks until every task it submitted has finished and re-raises the first task error.
"""

import time
from dataclasses import dataclass, field

from manygil.bench import scenarios as s

#: Expected results, computed once by calling the task functions serially (see
#: tests/test_bench.py, which recomputes them); a backend must reproduce them exactly.
EXPECTED = {
    ("web", "quick"): "2612a3732b7f3ebc64f6f94aaf282a80faa948aa9e5f2b048a3a28bff290b63b",
    ("web", "full"): "eb457dac25d896d20f905dd2c07d32d4e22c72c07ba4bd0716faecf4a02ce54d",
    ("image", "quick"): [
        "a035d27a477f707a",
        "5d4b71b2cf10763a",
        "662cb5fb8e206cc7",
        "e9152a0344b7a7fc",
        "2a903519da565353",
        "0266afa486009b5e",
        "640698567f246b79",
        "f8d0bba3c8a5ee9b",
        "162b2fb20ce8c317",
        "1b01134ed682500f",
        "e1dfca027bfda7e0",
        "9c0e4c04954fde3d",
        "72135f783437bdc1",
        "d1128b9d5700d3ab",
        "52a32ab9cb2c5b71",
        "5d096203b442c75c",
    ],
    ("image", "full"): [
        "da05f4ec9e571c77",
        "073699545f3ad747",
        "92c973e5c42990e1",
        "fd14a9482c7cde1c",
        "e57e53d0641f9e1b",
        "0120dd2cdba24ea0",
        "3982e1064dc01596",
        "ce6ce05d9569b94b",
        "6c26401d2e48b3b5",
        "030fabf7ea810256",
        "f0aa489134373e4b",
        "c6107a4d4d88af0f",
        "86de7d2d44b8b169",
        "5cfe1aa7063355b1",
        "3af05414990f264c",
        "e0d6294152901d1b",
        "cd553ae2bd697dc0",
        "9d30df9c8c993185",
        "6d86bbfd82c8418f",
        "aade6b8c8eda7f59",
        "2054ad4ce35647af",
        "350dc5012baa5a7f",
        "ac492c8348778050",
        "edfb90eaa7c20301",
        "ecaff92bb196cf44",
        "3dd728823642f959",
        "06cc108b15810f23",
        "4d6a9168f3563f88",
        "74079fac1e9745dc",
        "b9310b1c64e01dea",
        "a1c11dc543417e82",
        "a7059982cd2f980d",
    ],
    ("download", "quick"): "ad2c9a18820bc21d7c94531630e1a2d6607bbc492358393b83edb9613ce4d08c",
    ("download", "full"): "321594ac9766685f308a7f8387f8e1002c737a88ae1f25e487cf220ab45d2535",
    ("micro.cpu", "quick"): "26dd66a36ffd1aedea45e10000e9559ed772ef79b486e4b9555334762d54dbea",
    ("micro.cpu", "full"): "61c234e3bfbf18a2c5b31b951123c253e442f88a26d74f15e0d03f4cc59f4b0a",
}


@dataclass
class Metric:
    id: str
    label: str
    unit: str
    run: object
    expected: object
    better: str = "lower"  # or "higher"
    needs_shared_memory: bool = False
    needs_script_functions: bool = False


@dataclass
class Scenario:
    name: str
    title: str
    description: str
    params: dict
    prepare: object  # (params, server_or_None) -> data
    metrics: list = field(default_factory=list)
    needs_server: bool = False


def _gather(futures):
    return [f.result() for f in futures]


# --- drivers -------------------------------------------------------------------------------


def run_web(ex, backend, queries):
    t0 = time.perf_counter()
    digests = _gather([ex.submit(s.handle_request, q) for q in queries])
    return time.perf_counter() - t0, s.combine(digests)


def run_image(ex, backend, data):
    images, width, height = data
    t0 = time.perf_counter()
    futures = [ex.submit(s.blur_downsize, backend.share(img), width, height) for img in images]
    checksums = _gather(futures)
    return time.perf_counter() - t0, checksums


def run_download(ex, backend, urls):
    t0 = time.perf_counter()
    digests = list(ex.map(s.fetch, urls))
    return time.perf_counter() - t0, s.combine(digests)


def run_roundtrip(ex, backend, data):
    n = data["params"]["roundtrips"]
    nones = 0
    t0 = time.perf_counter()
    for _ in range(n):
        nones += ex.submit(s.noop).result() is None
    return (time.perf_counter() - t0) / n * 1e6, nones


def run_roundtrip_script(ex, backend, data):
    """As :func:`run_roundtrip`, with a function defined in ``__main__`` (the README quick
    start's style: a function of the user's script, sent by value)."""
    n = data["params"]["roundtrips"]
    fn = s.script_noop()
    nones = sum(ex.submit(fn).result() is None for _ in range(min(n, 5)))  # first sends
    t0 = time.perf_counter()
    for _ in range(n):
        nones += ex.submit(fn).result() is None
    return (time.perf_counter() - t0) / n * 1e6, nones - min(n, 5)


def run_map(ex, backend, data):
    p = data["params"]
    t0 = time.perf_counter()
    total = sum(ex.map(s.square, range(p["tiny_tasks"]), chunksize=p["chunksize"]))
    return p["tiny_tasks"] / (time.perf_counter() - t0), total


def _run_transfer(ex, payload, times=3):
    t0 = time.perf_counter()
    results = [ex.submit(s.nbytes, payload).result() for _ in range(times)]
    return (time.perf_counter() - t0) / times * 1e3, [list(r) for r in results]


def run_transfer(ex, backend, data):
    return _run_transfer(ex, data["payload"])


def run_transfer_shared(ex, backend, data):
    shared = backend.share(data["payload"])  # made before timing: users fill it in place
    return _run_transfer(ex, shared)


def run_cpu(ex, backend, data):
    p = data["params"]
    t0 = time.perf_counter()
    states = _gather([ex.submit(s.spin, p["cpu_loops"], i) for i in range(p["cpu_tasks"])])
    return time.perf_counter() - t0, s.combine(str(x) for x in states)


# --- inputs --------------------------------------------------------------------------------


def _prepare_image(p, server):
    images = [s.make_image(i, p["width"], p["height"]) for i in range(p["images"])]
    return images, p["width"], p["height"]


def _prepare_micro(p, server):
    return {"params": p, "payload": s.transfer_payload(p["transfer_mib"])}


def build(mode):
    """Return the scenarios for ``mode`` ('quick' or 'full'), keyed by name, in run order."""
    P = {name: dict(s.PARAMS[name][mode]) for name in s.PARAMS}
    mp, mib = P["micro"], P["micro"]["transfer_mib"]
    triple = [mib * 1024 * 1024, 1, 2]
    scenarios = [
        Scenario(
            "web",
            "scenario 1: web requests",
            "CPU-bound request handler: parse query, render HTML, json-encode, sha256",
            P["web"],
            lambda p, srv: s.make_queries(p["requests"], p["items"]),
            [Metric("web", "web: wall time", "s", run_web, EXPECTED["web", mode])],
        ),
        Scenario(
            "image",
            "scenario 2: image blur + downsize",
            "pure-Python 3x3 box blur and 2x downsize of synthetic RGB images",
            P["image"],
            _prepare_image,
            [Metric("image", "image: wall time", "s", run_image, EXPECTED["image", mode])],
        ),
        Scenario(
            "download",
            "scenario 3: downloads (I/O-bound)",
            "HTTP GETs from a loopback server that sleeps before answering",
            P["download"],
            lambda p, srv: [srv.url(i) for i in range(p["requests"])],
            [
                Metric(
                    "download", "download: wall time", "s", run_download, EXPECTED["download", mode]
                )
            ],
            needs_server=True,
        ),
        Scenario(
            "micro",
            "micro-benchmarks",
            "per-task overhead, tiny-task throughput, data exchange, CPU speedup",
            mp,
            _prepare_micro,
            [
                Metric("micro.cpu", "CPU batch", "s", run_cpu, EXPECTED["micro.cpu", mode]),
                Metric("micro.roundtrip", "round trip", "us", run_roundtrip, mp["roundtrips"]),
                Metric(
                    "micro.roundtrip_script",
                    "round trip, a function of __main__",
                    "us",
                    run_roundtrip_script,
                    mp["roundtrips"],
                    needs_script_functions=True,
                ),
                Metric(
                    "micro.map",
                    "tiny tasks via map",
                    "tasks/s",
                    run_map,
                    sum(i * i for i in range(mp["tiny_tasks"])),
                    better="higher",
                ),
                Metric("micro.transfer", f"{mib} MiB bytes", "ms", run_transfer, [triple] * 3),
                Metric(
                    "micro.transfer_shared",
                    f"{mib} MiB SharedBuffer",
                    "ms",
                    run_transfer_shared,
                    [triple] * 3,
                    needs_shared_memory=True,
                ),
            ],
        ),
    ]
    return {sc.name: sc for sc in scenarios}


def reference(scenario_name, mode):
    """Compute the expected results of a scenario by direct serial calls (no executor).

    Used to (re)generate :data:`EXPECTED`; needs no server (bodies are computed locally).
    """
    p = s.PARAMS[scenario_name.split(".")[0]][mode]
    if scenario_name == "web":
        return s.combine(s.handle_request(q) for q in s.make_queries(p["requests"], p["items"]))
    if scenario_name == "image":
        images, w, h = _prepare_image(p, None)
        return [s.blur_downsize(img, w, h) for img in images]
    if scenario_name == "download":
        import hashlib

        bodies = (s.body_for(i, p["body_bytes"]) for i in range(p["requests"]))
        return s.combine(hashlib.sha256(b).hexdigest() for b in bodies)
    if scenario_name == "micro.cpu":
        return s.combine(str(s.spin(p["cpu_loops"], i)) for i in range(p["cpu_tasks"]))
    raise KeyError(scenario_name)
