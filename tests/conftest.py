"""Shared fixtures: real manygil interpreters, closed after each test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import manygil
import pytest
from waiting import wait_for_state  # noqa: F401  (the tests' one wait helper)

# The Ctrl-C tests send SIGINT to child scripts. A test run started in the background by a
# shell without job control (`make test &` in a script) inherits SIGINT *ignored*, and so
# would every child (Python keeps an inherited SIG_IGN): their Ctrl-C would be lost and
# the tests would time out. A handled signal is reset to the default on exec, so children
# start with Python's usual KeyboardInterrupt handler.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def interp():
    """A fresh manygil interpreter, closed at the end of the test."""
    i = manygil.create()
    yield i
    _close_quietly(i)


@pytest.fixture
def two_interps():
    a, b = manygil.create(), manygil.create()
    yield a, b
    _close_quietly(a)
    _close_quietly(b)


def _close_quietly(i):
    try:
        i.close()
    except manygil.InterpreterNotFoundError:
        pass


def write_script(tmp_path, source: str, name: str = "main_script.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def run_file(path: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a script file with the same Python; sys.path entries of this run are inherited."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run(
        [sys.executable, path, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def sigint_when_ready(path: str, *, settle: float = 0.3, timeout: float = 30):
    """Run script ``path``; once it prints ``ready``, wait ``settle`` seconds and send SIGINT.

    Returns ``(returncode, stdout after "ready", stderr, seconds from the signal to exit)``.
    """
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(
        [sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(settle)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
    return proc.returncode, out, err, elapsed


@pytest.fixture
def served():
    """Start ``manygil serve`` processes: ``served(*options, app="serve_apps:app")`` returns
    a running ``serve_helpers.Served``; each one must exit 0 when the test ends."""
    from serve_helpers import Served

    servers = []

    def start(*args, **kw):
        s = Served(*args, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        assert s.stop() == 0, s.err
