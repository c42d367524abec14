"""Reload latency: from saving a source file to the first response of the new code.

Three ways to get new code served, interleaved round by round, each from its own server
started once (median and 90th percentile over the rounds, and the ratio of each median to
``manygil serve --reload``'s):

- ``manygil --reload``: ``manygil serve --reload`` (new worker interpreters, same process);
- ``manygil SIGHUP``: ``manygil serve`` and SIGHUP to its supervisor once the file is
  saved (a new server process, as gunicorn's reload);
- ``uvicorn --reload``: uvicorn with watchfiles (a new process per change), where
  installed (``toolchain/peers.sh``).

The application is a small module written into a temporary directory (``--app plain``),
or the same importing Flask (``--app flask``: uvicorn serves it through its WSGI
interface). A round saves a new version, then asks for ``/version`` on fresh connections
until the new one answers.

    python bench/bench_serve_reload.py [--rounds N] [--app plain|flask] [--workers N]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from manygil.bench.serve_bench import _bin, _free_port

PLAIN = """\
VERSION = {version!r}
def app(environ, start_response):
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

FLASK = """\
import flask
VERSION = {version!r}
app = flask.Flask(__name__)
@app.route("/version")
def version():
    return VERSION
"""


class Server:
    """One server process serving ``reload_app:app`` from ``directory``; stderr followed."""

    def __init__(self, kind: str, directory: str, workers: int):
        self.kind = kind
        self.port = _free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([directory, *sys.path]))
        addr = ["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)]
        if kind == "manygil --reload":
            cmd = [sys.executable, "-m", "manygil", "serve", "reload_app:app", "--reload", *addr]
        elif kind == "manygil SIGHUP":
            cmd = [sys.executable, "-m", "manygil", "serve", "reload_app:app", *addr]
        else:
            cmd = [
                _bin("uvicorn"), "reload_app:app", "--interface", "wsgi", "--reload",
                "--reload-dir", directory, "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "info", "--no-access-log",
            ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            cwd=directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.seen = threading.Condition()
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        for line in self.proc.stderr:
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()

    def wait_log(self, text: str, count: int, within: float = 60.0) -> None:
        with self.seen:
            ok = self.seen.wait_for(lambda: sum(text in x for x in self.lines) >= count, within)
        if not ok:
            raise RuntimeError(f"{self.kind}: never logged {text!r} x{count}: {self.lines[-20:]}")

    def get(self) -> bytes | None:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", "/version", headers={"Connection": "close"})
            r = c.getresponse()
            return r.read() if r.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            c.close()

    def wait_for(self, version: str, within: float = 60.0) -> float:
        """Poll until ``version`` answers; the time it took (s)."""
        start = time.monotonic()
        want = version.encode()
        while self.get() != want:
            if time.monotonic() - start > within:
                raise RuntimeError(f"{self.kind}: {version!r} never served")
        return time.monotonic() - start

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _settled(s: Server, round_no: int) -> None:
    """Wait until the reload of round ``round_no`` (1-based) is over: the old process or
    workers gone, so that the next round starts from a quiet server."""
    if s.kind == "manygil --reload":
        s.wait_log("reloaded in", round_no)
    elif s.kind == "manygil SIGHUP":
        s.wait_log("previous server process", round_no)
    else:
        s.wait_log("Started server process", round_no + 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--app", choices=("plain", "flask"), default="plain")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    template = PLAIN if a.app == "plain" else FLASK
    kinds = ["manygil --reload", "manygil SIGHUP"]
    if _bin("uvicorn") and importlib.util.find_spec("watchfiles"):
        kinds.append("uvicorn --reload")
    else:
        print("uvicorn or watchfiles not installed: uvicorn --reload skipped", file=sys.stderr)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as top:
        servers = {}
        try:
            for k in kinds:
                d = os.path.join(top, k.split()[0] + k.split()[1].strip("-"))
                os.mkdir(d)
                with open(os.path.join(d, "reload_app.py"), "w") as f:
                    f.write(template.format(version="v0"))
                s = servers[k] = Server(k, d, a.workers)
                s.directory = d
                s.wait_for("v0")
            for r in range(1, a.rounds + 1):
                for k in kinds:
                    s = servers[k]
                    version = f"v{r}" + "." * r  # a new length each time (see the tests)
                    path = os.path.join(s.directory, "reload_app.py")
                    with open(path, "w") as f:
                        f.write(template.format(version=version))
                    start = time.monotonic()
                    if k == "manygil SIGHUP":
                        s.proc.send_signal(signal.SIGHUP)
                    s.wait_for(version)
                    times[k].append(time.monotonic() - start)
                    _settled(s, r)
        finally:
            for s in servers.values():
                s.stop()
    base = statistics.median(times["manygil --reload"])
    print(
        f"save -> first new response, {a.app} app, {a.workers} workers, {a.rounds} rounds "
        f"(load {load} at start)\n"
        "| how | median ms | p90 ms | median / manygil --reload |\n| --- | ---: | ---: | ---: |"
    )
    for k in kinds:
        t = sorted(times[k])
        med = statistics.median(t)
        p90 = t[min(len(t) - 1, int(0.9 * len(t)))]
        print(f"| {k} | {med * 1000:.0f} | {p90 * 1000:.0f} | {med / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
