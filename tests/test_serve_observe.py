"""``manygil serve`` seen from outside (issue 24, items 6-9): thread names, the
application's log records with the access log in the main interpreter, ``--profile``, and
the snapshot signal. Real servers on 127.0.0.1 serving tests/serve_observe_apps.py."""

from __future__ import annotations

import json
import os
import pstats
import signal
import subprocess
import sys
import threading

from conftest import wait_for_state, write_script
from serve_helpers import HERE, Served

APP = "serve_observe_apps:app"


def test_request_threads_are_named_for_threading_and_the_os():
    s = Served("--workers", "1", "--threads", "2", app=APP)
    try:
        status, body = s.get("/names")
        assert status == 200
        interp, thread, os_name = body.decode().split()
        assert thread in (f"manygil-s{interp}.1", f"manygil-s{interp}.2")
        assert os_name == thread
    finally:
        assert s.stop() == 0


def test_the_command_line_writes_app_records_formatted_in_main_with_the_access_log():
    # The records travel to the main interpreter's stderr handler; the access lines, which
    # that handler would write unchanged, are written by the front to the same stream.
    s = Served("--workers", "1", "--access-log", app=APP)
    try:
        assert s.get("/log?msg=hello&level=30") == (200, b"logged")
        assert s.get("/log?msg=quiet&level=10") == (200, b"logged")  # below --log-level info
        status, body = s.get("/names")
        interp = body.split()[0].decode()
    finally:
        assert s.stop() == 0
    lines = s.err.splitlines()
    (record,) = [line for line in lines if "app says" in line]
    # Formatted in the main interpreter: time, level, the worker and its request thread.
    assert record.endswith(
        f"WARNING [serve-1.worker-1 manygil-s{interp}.1] observe.app: app says hello"
    ), record
    access = [line for line in lines if '"GET /log?msg=hello&level=30 HTTP/1.1" 200 ' in line]
    assert len(access) == 1, s.err
    assert "app says quiet" not in s.err


SERVE_WITH_A_HANDLER = """
import json, logging, sys, threading, urllib.request
from manygil.serve import serve

class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

keep = Keep()
logging.basicConfig(level=logging.INFO, handlers=[keep])
stop = threading.Event()

def ready(addrs):
    def client():
        for msg in ("one", "two"):
            urllib.request.urlopen(f"{addrs[0]}/log?msg={msg}&level=20").read()
        stop.set()
    threading.Thread(target=client).start()

serve("serve_observe_apps:app", workers=1, bind="127.0.0.1:0", access_log=True,
      ready=ready, stop=stop)
json.dump([(r.name, r.getMessage(), getattr(r, "manygil_interpreter", None), r.threadName)
           for r in keep.records], sys.stdout)
"""


def test_serve_from_python_hands_both_to_the_callers_handler(tmp_path):
    path = write_script(tmp_path, SERVE_WITH_A_HANDLER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, *(p for p in sys.path if p)]))
    r = subprocess.run(
        [sys.executable, path], capture_output=True, text=True, env=env, cwd=HERE, timeout=120
    )
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    app = [rec for rec in records if rec[0] == "observe.app"]
    assert [rec[1] for rec in app] == ["app says one", "app says two"]
    assert all(rec[2] == "serve-1.worker-1" and rec[3].startswith("manygil-s") for rec in app)
    access = [rec[1] for rec in records if rec[0] == "manygil.serve.access"]
    assert len(access) == 2 and all('"GET /log?msg=' in line for line in access), records
    assert "app says" not in r.stderr and "GET /log" not in r.stderr, "nothing bypassed it"


def test_no_forward_logging_leaves_the_workers_logging_alone():
    s = Served("--workers", "1", "--no-forward-logging", app=APP)
    try:
        assert s.get("/log?msg=raw&level=30") == (200, b"logged")
    finally:
        assert s.stop() == 0
    # The worker's own logging.lastResort: the bare message, no server format.
    assert "app says raw" in s.err.splitlines()


def test_profile_writes_the_merged_statistics_of_every_worker(tmp_path):
    out = tmp_path / "serve.pstats"
    s = Served("--workers", "2", "--profile", str(out), app=APP)
    try:
        for _ in range(6):
            assert s.get("/work?n=2000")[0] == 200
    finally:
        assert s.stop() == 0
    assert f"profile of 2 worker interpreter(s) written to {out}" in s.err
    stats = pstats.Stats(str(out)).stats
    (key,) = [k for k in stats if k[2] == "route_work"]
    assert key[0].endswith("serve_observe_apps.py")
    calls = stats[key][1]
    assert calls == 6, "every request to the route, from both workers"


def test_profile_refuses_a_path_it_cannot_write(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "manygil", "serve", APP, "--no-supervise", "--profile",
         str(tmp_path / "missing" / "out.pstats")],
        cwd=HERE, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )  # fmt: skip
    assert r.returncode == 1
    assert "cannot write there" in r.stderr


def test_sigusr1_prints_what_every_worker_answers(tmp_path):
    s = Served("--workers", "2", app=APP)
    started, release = tmp_path / "started", tmp_path / "release"
    result: list = []
    client = threading.Thread(
        target=lambda: result.append(s.get(f"/hold?started={started}&release={release}"))
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(s.proc.stderr), daemon=True)
    try:
        client.start()
        wait_for_state(started.exists, "the request to start")
        reader.start()
        s.proc.send_signal(signal.SIGUSR1)  # the supervisor passes it on to the server
        wait_for_state(lambda: any("in hold_here" in line for line in err), "the snapshot")
        release.touch()
        client.join(60)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(60) == 0
        reader.join(60)
    finally:
        s.proc.kill()
    assert result == [(200, b"released")]
    text = "".join(err)
    assert "serve serve-1 (serve_observe_apps:app, WSGI): 2 worker(s); requests in flight 1" in text
    assert f"request GET /hold?started={started}&release={release} on thread manygil-s" in text
    assert "serve-1.worker-1" in text and "serve-1.worker-2" in text
    assert "no request in flight" in text, "the idle worker is listed too"
    assert 'serve_observe_apps.py", line' in text and "in app" in text
