"""``manygil serve`` processes for the tests (tests/test_serve*.py; the ``served`` fixture
is in conftest.py): real servers on 127.0.0.1, serving the apps of this directory."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys

from waiting import wait_for_state

HERE = os.path.dirname(os.path.abspath(__file__))


class Served:
    """A ``manygil serve`` process, its address, and its stderr once stopped."""

    def __init__(
        self, *args: str, app: str = "serve_apps:app", path: str | None = None, follow=False
    ):
        """Start ``manygil serve app --bind 127.0.0.1:0 *args``; ``path``: a directory put
        first on the server's sys.path; ``follow``: read stderr as it comes (see
        :meth:`wait_err`)."""
        env = _env()
        if path:
            env["PYTHONPATH"] = os.pathsep.join([path, env["PYTHONPATH"]])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "manygil", "serve", app, "--bind", "127.0.0.1:0", *args],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"server did not start: {line}{out}{err}")
        url = line.split("listening on ")[1].split()[0].rstrip(",")
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.err = ""
        self.signalled = False
        self.follower = None
        if follow:
            import threading

            self.lines: list[str] = []
            self.seen = threading.Condition()
            self.follower = threading.Thread(target=self._follow, daemon=True)
            self.follower.start()

    def _follow(self) -> None:
        for line in self.proc.stderr:
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()

    def wait_err(self, text: str, count: int = 1, within: float = 60.0) -> list[str]:
        """With ``follow``: wait until ``count`` lines of stderr contain ``text``, and
        return them (fails after ``within`` seconds, with what stderr said)."""
        with self.seen:
            ok = self.seen.wait_for(
                lambda: len([x for x in self.lines if text in x]) >= count, within
            )
            assert ok, f"stderr never said {text!r} {count} time(s):\n{''.join(self.lines)}"
            return [x for x in self.lines if text in x]

    def stderr_so_far(self) -> str:
        """With ``follow``: what stderr said so far."""
        with self.seen:
            return "".join(self.lines)

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, bytes]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path: str) -> tuple[int, bytes]:
        status, _, body = self.request("GET", path)
        return status, body

    def server_pid(self) -> int:
        """The pid of the process that answers requests (the supervisor's child, or the
        process itself with --no-supervise)."""
        status, body = self.get("/whoami")
        assert status == 200, body
        return int(body.split()[1])

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` (SIGTERM/SIGINT start a graceful stop); :meth:`stop` then only waits."""
        self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM) -> int:
        """Stop the server with ``sig`` (unless already signalled: a second signal could
        reach it after it restored the default handlers on its way out) and wait."""
        if self.proc.poll() is None and not self.signalled:
            self.send_signal(sig)
        try:
            if self.follower is not None:
                self.proc.wait(timeout=60)
                self.follower.join(60)
                self.err = self.stderr_so_far()
            else:
                _, self.err = self.proc.communicate(timeout=60)
        finally:
            self.proc.kill()
        return self.proc.returncode


class RawConn:
    """One keep-alive connection read byte by byte as sent: unlike ``http.client``, which
    drops what follows a response in its buffer, every byte the server sent after a
    response is read as the start of the next one."""

    def __init__(self, s: Served):
        self.sock = socket.create_connection((s.host, s.port), timeout=60)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def get(self, target: str) -> tuple[bytes, dict[str, str], bytes]:
        """Send ``GET target`` and read the next response (see :meth:`response`)."""
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return self.response()

    def response(self) -> tuple[bytes, dict[str, str], bytes]:
        """The next response as (status line, lower-case headers, body), the body read up
        to its Content-Length or to the end of the connection."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a response head: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n and self._fill():
                pass
        else:
            while self._fill():
                pass
            n = len(self.buf)
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self) -> bool:
        """Whether the server closed the connection with nothing more sent."""
        return not self.buf and not self._fill()


def run_serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m manygil serve *args`` to its end (for startup failures)."""
    return subprocess.run(
        [sys.executable, "-m", "manygil", "serve", *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _env() -> dict[str, str]:
    """This run's environment, with its sys.path for the server process."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def request_in_flight(s: Served, tmp_path) -> tuple:
    """Send ``GET /block`` (tests/serve_apps.py) from a thread and return once its handler
    runs: ``(thread, result, release)``; touch ``release`` to let it answer, then join the
    thread: ``result`` holds its ``(status, body)``."""
    import threading

    started, release = tmp_path / "started", tmp_path / "release"
    result: list = []
    t = threading.Thread(
        target=lambda: result.append(s.get(f"/block?started={started}&release={release}"))
    )
    t.start()
    wait_for_state(started.exists, "the /block handler runs", poll=0.01)
    return t, result, release
