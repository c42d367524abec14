"""``manygil serve --static``: files answered by the HTTP front itself, never by Python;
real server processes, real HTTP clients (http.client, raw sockets) on 127.0.0.1."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import os
import socket
import sys
import threading
import types

import pytest
from serve_helpers import HERE, RawConn, run_serve
from waiting import wait_for_state

APPS = {"wsgi": "serve_static_apps:app", "asgi": "serve_static_apps:asgi_app"}
SECRET = b"TOPSECRET"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A static directory (with a secret beside it, and links in and out of it), and the
    file the test apps record their calls in."""
    calls = tmp_path / "calls"
    calls.write_text("")
    monkeypatch.setenv("MANYGIL_TEST_CALLS", str(calls))
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_bytes(b"body { color: red }\n")
    (root / "app.js").write_bytes(b"console.log('plain')\n")
    (root / "app.js.br").write_bytes(b"BROTLI BYTES")
    (root / "app.js.gz").write_bytes(b"GZIP BYTES")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / ".env").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "escape.txt").symlink_to("../secret.txt")
    (root / "inside.css").symlink_to("css/app.css")
    return types.SimpleNamespace(root=root, calls=calls)


def _serve(served, site, *args: str, interface: str = "wsgi"):
    return served("--workers", "1", "--static", f"/static={site.root}", *args, app=APPS[interface])


def _request(s, method: str, path: str, headers=None, body=None):
    """(status, headers by lower-case name, body)."""
    status, h, data = s.request(method, path, body=body, headers=headers)
    return status, {k.lower(): v for k, v in h.items()}, data


def _calls(site) -> list[str]:
    return site.calls.read_text().splitlines()


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_files_get_their_bytes_type_and_validators_and_the_rest_reaches_the_app(
    served, site, interface
):
    s = _serve(served, site, interface=interface)
    c = s.conn()
    for _ in range(2):  # keep-alive, static and app answers on one connection
        c.request("GET", "/static/css/app.css")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"body { color: red }\n")
        assert r.getheader("Content-Type") == "text/css; charset=utf-8"
        assert r.getheader("Content-Length") == "20"
        assert r.getheader("Accept-Ranges") == "bytes"
        assert r.getheader("ETag").startswith('"')
        mtime = os.stat(site.root / "css" / "app.css").st_mtime
        assert r.getheader("Last-Modified") == email.utils.formatdate(int(mtime), usegmt=True)
        c.request("GET", "/staticfile")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"app:/staticfile")
    c.request("HEAD", "/static/data.bin")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"")
    assert r.getheader("Content-Length") == "1024"
    assert r.getheader("Content-Type") == "application/octet-stream"
    c.request("GET", "/static/inside.css")  # a link that stays inside the directory
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"body { color: red }\n")
    c.close()
    assert _calls(site) == ["/staticfile", "/staticfile"]


def test_conditional_requests_get_304_until_the_file_changes(served, site):
    s = _serve(served, site)
    _, h, _ = _request(s, "GET", "/static/css/app.css")
    etag, modified = h["etag"], h["last-modified"]
    for cond in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"x", W/{etag}'},
        {"If-Modified-Since": modified},
    ):
        status, h304, body = _request(s, "GET", "/static/css/app.css", headers=cond)
        assert (status, body) == (304, b""), cond
        assert h304["etag"] == etag
    assert _request(s, "GET", "/static/css/app.css", headers={"If-None-Match": '"other"'})[0] == 200
    earlier = email.utils.formatdate(
        os.stat(site.root / "css" / "app.css").st_mtime - 60, usegmt=True
    )
    assert (
        _request(s, "GET", "/static/css/app.css", headers={"If-Modified-Since": earlier})[0] == 200
    )
    assert _request(s, "GET", "/static/css/app.css", headers={"If-Match": '"other"'})[0] == 412
    # The file changes: the old tag and date no longer match.
    path = site.root / "css" / "app.css"
    path.write_bytes(b"body { color: blue }\n")
    later = os.stat(path).st_mtime + 120
    os.utime(path, (later, later))
    status, h, body = _request(s, "GET", "/static/css/app.css", headers={"If-None-Match": etag})
    assert (status, body) == (200, b"body { color: blue }\n")
    assert h["etag"] != etag
    status, _, _ = _request(
        s, "GET", "/static/css/app.css", headers={"If-Modified-Since": modified}
    )
    assert status == 200


def test_ranges_get_206_or_416(served, site):
    s = _serve(served, site)
    data = (site.root / "data.bin").read_bytes()
    status, h, body = _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=10-19"})
    assert (status, body) == (206, data[10:20])
    assert h["content-range"] == "bytes 10-19/1024"
    status, h, body = _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=-100"})
    assert (status, body, h["content-range"]) == (206, data[-100:], "bytes 924-1023/1024")
    status, h, body = _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=1000-"})
    assert (status, body) == (206, data[1000:])
    status, h, _ = _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=1024-"})
    assert (status, h["content-range"]) == (416, "bytes */1024")
    # Several ranges, or an If-Range for another version: the whole file.
    status, _, body = _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=0-1,5-6"})
    assert (status, body) == (200, data)
    headers = {"Range": "bytes=0-1", "If-Range": '"old"'}
    assert _request(s, "GET", "/static/data.bin", headers=headers)[:3:2] == (200, data)


def test_a_precompressed_sibling_only_when_the_client_accepts_it(served, site):
    s = _serve(served, site)
    for accept, body, coding in [
        (None, b"console.log('plain')\n", None),
        ("br", b"BROTLI BYTES", "br"),
        ("gzip, deflate, br", b"BROTLI BYTES", "br"),
        ("gzip", b"GZIP BYTES", "gzip"),
        ("br;q=0.5, gzip", b"GZIP BYTES", "gzip"),
        ("br;q=0, gzip;q=0", b"console.log('plain')\n", None),
        ("identity", b"console.log('plain')\n", None),
    ]:
        headers = {"Accept-Encoding": accept} if accept else {}
        status, h, got = _request(s, "GET", "/static/app.js", headers=headers)
        assert (status, got, h.get("content-encoding")) == (200, body, coding), accept
        assert h["vary"] == "Accept-Encoding"
        assert h["content-type"] == "text/javascript; charset=utf-8"
        assert h["content-length"] == str(len(body))
    # No sibling: the file itself, whatever is accepted.
    status, h, got = _request(
        s, "GET", "/static/css/app.css", headers={"Accept-Encoding": "br, gzip"}
    )
    assert (status, got, h.get("content-encoding")) == (200, b"body { color: red }\n", None)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/static/../secret.txt", 400),
        ("/static/css/../../secret.txt", 400),
        ("/static/%2e%2e/secret.txt", 400),
        ("/static/%2E%2E%2Fsecret.txt", 400),
        ("/static/css%2f..%2f..%2fsecret.txt", 400),
        ("/static/..%5csecret.txt", 400),
        ("/static/..\\secret.txt", 400),
        ("/static/x%00.css", 400),
        ("/static//etc/passwd", 400),
        ("/static/" + "%2e%2e/" * 8 + "etc/passwd", 400),
        ("/static/escape.txt", 404),  # a link out of the directory
        ("/static/.env", 404),  # hidden
        ("/static/%2eenv", 404),
        ("/static/css", 404),  # a directory: no listing
        ("/static/css/", 404),
        ("/static/", 404),
        ("/static/missing.css", 404),
    ],
)
def test_traversal_hidden_files_and_directories_are_refused(served, site, target, status):
    s = _serve(served, site)
    c = RawConn(s)
    line, headers, body = c.get(target)
    c.close()
    assert line.split()[1] == str(status).encode(), (target, line, body)
    assert SECRET not in body
    assert _calls(site) == []


def test_only_get_and_head(served, site):
    s = _serve(served, site)
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        status, h, _ = _request(s, method, "/static/app.js", body=b"x")
        assert (status, h["allow"]) == (405, "GET, HEAD"), method
    assert _calls(site) == []


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_python_never_runs_for_static_requests(served, site, interface):
    s = _serve(served, site, interface=interface)
    _, h, _ = _request(s, "GET", "/static/app.js")
    for method, path, headers in [
        ("GET", "/static/app.js", {}),
        ("HEAD", "/static/app.js", {}),
        ("GET", "/static/app.js", {"If-None-Match": h["etag"]}),
        ("GET", "/static/app.js", {"Range": "bytes=0-3"}),
        ("GET", "/static/app.js", {"Range": "bytes=9999-"}),
        ("GET", "/static/app.js", {"Accept-Encoding": "br"}),
        ("GET", "/static/missing", {}),
        ("GET", "/static/.env", {}),
        ("GET", "/static/%2e%2e/x", {}),
        ("POST", "/static/app.js", {}),
        ("GET", "/st%61tic/app.js", {}),  # the prefix, percent-encoded
    ]:
        status, _, _ = _request(s, method, path, headers=headers)
        assert status in (200, 206, 304, 400, 404, 405, 416), (method, path, status)
    assert _calls(site) == []
    # The app does run for everything else (so the record above could have caught it).
    assert _request(s, "GET", "/hello")[0] == 200
    assert _calls(site) == ["/hello"]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_large_file_is_streamed_not_read_whole(served, site):
    size = 20 * 1024 * 1024
    data = os.urandom(size)
    (site.root / "large.bin").write_bytes(data)
    s = _serve(served, site, "--no-supervise")
    assert s.get("/static/css/app.css")[0] == 200
    before = _rss_kib(s.proc.pid)
    sock = socket.create_connection((s.host, s.port), timeout=60)
    sock.sendall(b"GET /static/large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while len(got) < 1024 * 1024:
        chunk = sock.recv(65536)
        assert chunk
        got += chunk
    # The client stopped reading with 19 MiB to go: the server holds a few chunks of it
    # at most, not the file.
    during = _rss_kib(s.proc.pid)
    assert during - before < 8 * 1024, (before, during)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
        if got.endswith(data[-64:]) and len(got) >= size:
            break
    sock.close()
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert f"content-length: {size}".encode() in head.lower()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()


def test_static_requests_are_in_the_access_log(served, site):
    s = _serve(served, site, "--access-log")
    assert _request(s, "GET", "/static/data.bin", headers={"Range": "bytes=0-9"})[0] == 206
    assert _request(s, "GET", "/static/nope")[0] == 404
    assert s.stop() == 0
    assert '"GET /static/data.bin HTTP/1.1" 206 10 ' in s.err
    assert '"GET /static/nope HTTP/1.1" 404 ' in s.err


@pytest.mark.parametrize(
    ("static", "message"),
    [
        ("/static={missing}", "directory '{missing}' for /static does not exist"),
        ("/static={file}", "for /static is not a directory"),
        (
            "static",
            "--static 'static': expected URL_PREFIX=DIRECTORY, e.g. --static /static=./static",
        ),
        ("/={root}", 'URL prefix "/" would send every request to the files'),
        ("assets={root}", 'URL prefix "assets" must start with /'),
    ],
)
def test_bad_static_options_are_startup_errors(site, static, message):
    values = {
        "missing": str(site.root / "nope"),
        "file": str(site.root / "app.js"),
        "root": str(site.root),
    }
    r = run_serve(
        APPS["wsgi"], "--bind", "127.0.0.1:0", "--workers", "1", "--static", static.format(**values)
    )
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]

    def unquoted(text: str) -> str:  # Rust quotes with ", Python with '
        return text.replace('"', "").replace("'", "")

    assert last.startswith("manygil serve: "), r.stderr
    assert unquoted(message.format(**values)) in unquoted(last), r.stderr
    assert _calls(site) == []


def test_a_client_that_stops_reading_a_large_file_is_cut_off(site):
    import manygil.serve as ms

    (site.root / "large.bin").write_bytes(b"x" * (64 * 1024 * 1024))
    sys.path.insert(0, HERE)
    stop, ready, addrs = threading.Event(), threading.Event(), []

    def on_ready(a):
        addrs.extend(a)
        ready.set()

    t = threading.Thread(
        target=ms.serve,
        args=(APPS["wsgi"],),
        kwargs=dict(
            workers=1,
            bind="127.0.0.1:0",
            ready=on_ready,
            stop=stop,
            header_timeout=1.0,  # also the stall limit of a response
            static={"/static": str(site.root)},
        ),
    )
    t.start()
    try:
        assert ready.wait(120)
        host, port = addrs[0].removeprefix("http://").rsplit(":", 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.sendall(b"GET /static/large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")

        def open_in_this_process() -> bool:
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}").endswith("large.bin"):
                        return True
                except OSError:
                    pass
            return False

        assert open_in_this_process()
        # Not reading: within a few stall limits the server drops the connection and
        # closes the file.
        wait_for_state(
            lambda: not open_in_this_process(), "the server closes the file", timeout=30, poll=0.05
        )
        received = 100
        sock.settimeout(30)
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        sock.close()
        assert received < 64 * 1024 * 1024
        # The server still serves.
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/static/css/app.css")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        stop.set()
        t.join(120)
        sys.path.remove(HERE)
    assert not t.is_alive()
