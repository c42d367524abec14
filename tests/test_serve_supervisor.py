"""The supervisor of ``python -m manygil serve``: a parent process that holds the sockets,
restarts a server process that died, reloads on SIGHUP and replaces a server process with
too many stuck interpreters (``--max-stuck``)."""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import threading
import time

import pytest
from serve_helpers import Served


@pytest.fixture(autouse=True)
def no_core_dumps():
    """Server processes killed by SIGSEGV/SIGABRT here leave no core file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not _gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        threading.Event().wait(0.01)


class Load:
    """``clients`` threads sending GET /whoami, one connection per request, until
    :meth:`finish` (at most ``limit`` requests each): counts what happened."""

    def __init__(self, s: Served, clients: int = 4, limit: int = 2000):
        self.s = s
        self.limit = limit
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.pids: set[int] = set()
        self.answered = 0
        self.refused = 0
        self.lost: list[BaseException] = []  # requests cut by the crash
        self.other: list[object] = []
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def client(self) -> None:
        for _ in range(self.limit):
            if self.done.is_set():
                return
            c = http.client.HTTPConnection(self.s.host, self.s.port, timeout=60)
            try:
                c.request("GET", "/whoami")
                r = c.getresponse()
                status, body = r.status, r.read()
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                continue
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                with self.lock:
                    self.lost.append(e)
                continue
            finally:
                c.close()
            with self.lock:
                if status == 200:
                    self.answered += 1
                    self.pids.add(int(body.split()[1]))
                else:
                    self.other.append((status, body))

    def wait_for(self, predicate) -> None:
        """Until ``predicate()`` holds (checked after each answer) or the clients are done."""
        while not predicate():
            if not any(t.is_alive() for t in self.threads):
                raise AssertionError("the load ended before the condition held")
            self.threads[0].join(0.01)

    def finish(self) -> None:
        self.done.set()
        for t in self.threads:
            t.join()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT])
def test_a_server_process_that_dies_under_load_is_restarted_on_the_same_socket(served, sig):
    s = served("--workers", "2")
    first = s.server_pid()
    assert first != s.proc.pid  # served by the supervisor's child
    load = Load(s)
    load.wait_for(lambda: load.answered >= 20)
    os.kill(first, sig)
    # Served by a new process: connections made meanwhile waited in the socket's queue.
    load.wait_for(lambda: len(load.pids) == 2)
    load.finish()
    assert load.refused == 0
    assert load.other == []
    assert len(load.lost) <= 4  # at most the requests the dead process had accepted
    assert first in load.pids and s.server_pid() != first
    assert s.stop() == 0
    name = signal.Signals(sig).name
    assert f"server process {first} was killed by {name} ({signal.strsignal(sig)})" in s.err
    assert "restarting it\n" in s.err


def test_os_exit_in_a_handler_restarts_the_server_process(served):
    s = served("--workers", "1")
    first = s.server_pid()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        s.get("/exit?7")
    assert s.get("/hello") == (200, b"hello")
    assert s.server_pid() != first
    assert s.stop() == 0
    assert f"server process {first} exited with status 7" in s.err


def test_a_crash_loop_backs_off(served):
    s = served("--workers", "1")
    pids = []
    for _ in range(4):
        pids.append(s.server_pid())
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            s.get("/exit")
    assert s.get("/hello") == (200, b"hello")
    assert len(set(pids)) == 4
    assert s.stop() == 0
    restarts = [line for line in s.err.splitlines() if "restarting it" in line]
    assert restarts == [
        "manygil serve: restarting it",
        "manygil serve: restarting it in 0.5 s (2 crashes in a row; backing off)",
        "manygil serve: restarting it in 1 s (3 crashes in a row; backing off)",
        "manygil serve: restarting it in 2 s (4 crashes in a row; backing off)",
    ], s.err


def test_sighup_reloads_the_application_in_a_new_process(served, tmp_path):
    app = tmp_path / "reloaded_app.py"

    def write(version: str) -> None:
        app.write_text(
            "from serve_apps import raw_app\n"
            f"VERSION = {version!r}\n"
            "def app(environ, start_response):\n"
            "    if environ['PATH_INFO'] == '/version':\n"
            "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "        return [VERSION.encode()]\n"
            "    return raw_app(environ, start_response)\n"
        )

    write("one")
    s = served("--workers", "2", app="reloaded_app:app", path=str(tmp_path))
    first = s.server_pid()
    assert s.get("/version") == (200, b"one")
    # A request in flight in the old process when the reload starts.
    started, release = tmp_path / "started", tmp_path / "release"
    result = []
    t = threading.Thread(
        target=lambda: result.append(s.get(f"/block?started={started}&release={release}"))
    )
    t.start()
    while not started.exists():
        t.join(0.01)
    write("two, reloaded")
    s.proc.send_signal(signal.SIGHUP)
    # Every request is answered meanwhile: by the old process, then by the new one.
    seen = []
    while not seen or seen[-1] != b"two, reloaded":
        status, body = s.get("/version")
        assert status == 200
        seen.append(body)
    assert set(seen) <= {b"one", b"two, reloaded"}
    assert s.server_pid() != first
    # The old process drains: its request in flight finishes.
    assert t.is_alive()
    release.touch()
    t.join()
    assert result == [(200, b"released")]
    _wait_gone(first)
    assert s.stop() == 0
    assert f"stopping server process {first} gracefully" in s.err
    assert f"previous server process {first} exited with status 0" in s.err


def test_sigterm_stops_the_supervisor_and_its_server_process_with_exit_0(served):
    s = served("--workers", "1")
    pid = s.server_pid()
    assert s.stop(signal.SIGTERM) == 0
    assert _gone(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((s.host, s.port), timeout=60).close()


def test_the_server_process_stops_when_the_supervisor_is_killed():
    s = Served("--workers", "1")
    try:
        pid = s.server_pid()
        s.proc.kill()
        s.proc.wait()
        # The server process notices, stops gracefully, closing the last copy of the socket.
        _wait_gone(pid)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((s.host, s.port), timeout=60).close()
    finally:
        s.proc.kill()
        s.proc.communicate()


def test_a_unix_socket_survives_a_crash_of_the_server_process(served, tmp_path):
    path = str(tmp_path / "s.sock")
    s = served("--workers", "1", "--uds", path)
    os.kill(s.server_pid(), signal.SIGKILL)

    def get_unix() -> bytes:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(60)
            sock.connect(path)
            sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        return out

    out = get_unix()
    assert out.startswith(b"HTTP/1.0 200 ") and out.endswith(b"hello")
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_no_supervise_serves_in_the_process_itself(served):
    s = served("--workers", "1", "--no-supervise")
    assert s.server_pid() == s.proc.pid
