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

import pytest
from serve_helpers import Served, request_in_flight
from waiting import wait_for_state


@pytest.fixture(autouse=True)
def no_core_dumps():
    """Server processes killed by SIGSEGV/SIGABRT here leave no core file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts). Reaped between opening its
    stat file and reading it, the read fails with ESRCH: gone too."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wait_gone(pid: int, within: float = 60.0) -> None:
    wait_for_state(lambda: _gone(pid), f"process {pid} ends", timeout=within, poll=0.01)


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
    t, result, release = request_in_flight(s, tmp_path)
    write("two, reloaded")
    s.proc.send_signal(signal.SIGHUP)
    # Every request is answered meanwhile: by the old process, then by the new one (even
    # one on a connection the old process accepted in the instant it stopped, before the
    # request arrived: it gets its first request served).
    seen = []
    while not seen or seen[-1] != b"two, reloaded":
        status, body = s.get("/version")
        assert status == 200
        seen.append(body)
    assert set(seen) <= {b"one", b"two, reloaded"}
    # The old process drains: its request in flight finishes.
    assert t.is_alive()
    release.touch()
    t.join()
    assert result == [(200, b"released")]
    _wait_gone(first)
    assert s.server_pid() != first
    assert s.get("/version") == (200, b"two, reloaded")
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


def _tree(root: int) -> list[int]:
    """``root`` and its descendants."""
    pids, i = [root], 0
    while i < len(pids):
        try:
            with open(f"/proc/{pids[i]}/task/{pids[i]}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):  # gone meanwhile
            pass
        i += 1
    return pids


def _rss_and_threads(pids: list[int]) -> tuple[int, int]:
    """Total resident memory (KiB) and threads of the live processes among ``pids``."""
    rss = threads = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f)
        except (FileNotFoundError, ProcessLookupError):  # gone meanwhile
            continue
        if "VmRSS" in fields:  # not a zombie
            rss += int(fields["VmRSS"].split()[0])
            threads += int(fields["Threads"])
    return rss, threads


def test_memory_and_threads_stay_bounded_under_100_stuck_requests(served):
    # Each stuck request (blocked in a C call, a lock wait): 504 at --timeout, then its worker
    # interpreter is replaced after --stuck-after. Past --max-stuck (default: --workers,
    # 2) the server process asks for a fresh one, and exits once that one serves.
    s = served("--workers", "2", "--timeout", "0.2", "--stuck-after", "0.2")
    first = s.server_pid()
    base_rss, base_threads = _rss_and_threads(_tree(s.proc.pid))
    statuses: dict[str, list[int]] = {"/c-lock?600": [], "/hello": []}
    lock = threading.Lock()
    remaining = iter(range(100))

    def client() -> None:
        # Bounded: 100 stuck requests in all, each followed by a normal one.
        for _ in remaining:
            for path in statuses:
                status, _ = s.get(path)
                with lock:
                    statuses[path].append(status)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for t in clients:
        t.start()
    peak_rss, peak_threads, samples = 0, 0, 0
    while any(t.is_alive() for t in clients):
        rss, threads = _rss_and_threads(_tree(s.proc.pid))
        peak_rss, peak_threads = max(peak_rss, rss), max(peak_threads, threads)
        samples += 1
        clients[0].join(0.02)
    print(
        f"supervisor + server processes: {base_rss // 1024} MiB, {base_threads} threads at "
        f"start; at most {peak_rss // 1024} MiB, {peak_threads} threads ({samples} samples)"
    )
    assert statuses["/c-lock?600"] == [504] * 100
    assert statuses["/hello"] == [200] * 100
    # Measured on 3.14: 47 MiB, 10 threads at start, at most ~225 MiB and ~90 threads (up to
    # 4 server processes at once: the one serving, the one starting, old ones draining).
    # Without the cap, the 100 stuck interpreters took one process to ~520 MiB and ~310
    # threads.
    assert peak_rss < 400 * 1024
    assert peak_threads < 160
    assert s.server_pid() != first
    assert s.stop() == 0
    assert "(--max-stuck 2); asking for a fresh server process" in s.err
    assert "exited with status 75 (too many stuck interpreters)" in s.err


def test_without_supervisor_a_server_past_max_stuck_stops_and_exits_75():
    s = Served(
        *("--workers", "1", "--no-supervise", "--max-stuck", "0"),
        *("--timeout", "0.2", "--stuck-after", "0.2"),
    )
    try:
        assert s.get("/c-lock?600")[0] == 504
        # Stuck past the cap (0): the server stops accepting, and exits with status 75.
        while True:
            try:
                socket.create_connection((s.host, s.port), timeout=60).close()
            except (ConnectionRefusedError, ConnectionResetError):
                break
        assert s.proc.wait(60) == 75
    finally:
        s.proc.kill()
        _, err = s.proc.communicate()
    assert "(--max-stuck 0); stopping (exit status 75: start a fresh process)" in err
    assert "1 worker(s) did not stop (a handler blocked in C?); exiting anyway" in err
