"""``python -m manygil serve`` with ASGI applications: a real server process, real HTTP
and WebSocket clients on 127.0.0.1, the apps of serve_asgi_apps.py (raw ASGI 3), Starlette,
Django's ASGI handler and Quart apps, and serve_asgi_spec_app.py, which checks every scope
and event it receives against the ASGI specification."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys

import pytest
from serve_helpers import HERE, Served, _env, run_serve
from waiting import run_threads

APP = "serve_asgi_apps:app"


def test_interface_is_detected_and_announced():
    s = Served("--workers", "1", app=APP)
    try:
        assert s.get("/hello") == (200, b"hello")
    finally:
        assert s.stop() == 0, s.err
    w = Served("--workers", "1", app="serve_asgi_apps:wsgi_app")
    try:
        assert w.get("/") == (200, b"plain wsgi")
    finally:
        assert w.stop() == 0, w.err
    o = Served("--workers", "1", app="serve_asgi_apps:callable_app")
    try:
        assert o.get("/") == (200, b"object app")
    finally:
        assert o.stop() == 0, o.err


def test_an_ambiguous_callable_is_refused_with_a_hint():
    r = run_serve("serve_asgi_apps:ambiguous", "--bind", "127.0.0.1:0")
    assert r.returncode == 1
    assert "cannot tell whether serve_asgi_apps:ambiguous is a WSGI or an ASGI" in r.stderr
    assert "--interface" in r.stderr


def test_the_start_line_names_the_interface():
    for app, name in ((APP, "(ASGI)"), ("serve_asgi_apps:wsgi_app", "(WSGI)")):
        p = subprocess.Popen(
            [sys.executable, "-m", "manygil", "serve", app, "--bind", "127.0.0.1:0"],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        line = p.stdout.readline()
        p.terminate()
        p.communicate(timeout=60)
        assert f"{app} {name} listening on http://127.0.0.1:" in line, line
        assert p.returncode == 0


def test_hello_keep_alive_and_json_scope(served):
    s = served("--workers", "2", app=APP)
    c = s.conn()
    for _ in range(5):
        c.request("GET", "/hello")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"hello")
        assert r.getheader("Content-Type") == "text/plain"
    c.close()
    status, headers, body = s.request(
        "GET",
        "/scope/a%20b/%E2%82%AC?x=1&y=%20",
        headers={"X-Custom": "v1", "X-Multi": "a", "Cookie": "c=1"},
    )
    assert status == 200 and headers["content-type"] == "application/json"
    scope = json.loads(body)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope/a b/€"
    assert scope["raw_path"] == "/scope/a%20b/%E2%82%AC"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["header_types"] == ["bytes"]
    hdrs = scope["headers"]
    assert ["x-custom", "v1"] in hdrs and ["cookie", "c=1"] in hdrs
    assert ["host", f"{s.host}:{s.port}"] in hdrs
    assert all(n == n.lower() for n, _ in hdrs)
    assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
    assert scope["server"] == ["127.0.0.1", s.port]
    # state: a copy of what the lifespan startup stored.
    assert scope["state"]["greeting"] == "hello from lifespan"


def test_response_headers_as_any_bytes_like_pairs_and_str_ones_refused(served):
    s = served("--workers", "1", app=APP)
    status, headers, body = s.request("GET", "/header-kinds")
    assert (status, body) == (299, b"ok")
    got = {k.lower(): v for k, v in headers.items()}
    assert (got["x-bytearray"], got["x-bytes"], got["content-length"]) == ("yes", "1", "2")
    status, _, _ = s.request("GET", "/str-header")
    assert status == 500
    assert s.get("/hello") == (200, b"hello")
    s.stop()
    assert "a response header name must be bytes, not str" in s.err
    assert "GET /str-header" in s.err


def test_repeated_headers_stay_separate_and_http_10(served):
    s = served("--workers", "1", app=APP)
    sock = socket.create_connection((s.host, s.port), timeout=60)
    sock.sendall(b"GET /json HTTP/1.0\r\nX-A: 1\r\nX-A: 2\r\nX_Under: u\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
    scope = json.loads(body)
    assert scope["http_version"] == "1.0"
    assert [h for h in scope["headers"] if h[0] == "x-a"] == [["x-a", "1"], ["x-a", "2"]]


def test_streaming_request_body_echo(served):
    s = served("--workers", "1", app=APP)
    # A chunked upload in several pieces, each echoed back as it arrives.
    c = s.conn()
    c.putrequest("POST", "/echo")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    pieces = [b"one,", b"two,", b"three"]
    for p in pieces:
        c.send(b"%x\r\n%s\r\n" % (len(p), p))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200
    echoed, _, messages = body.rpartition(b"|")
    assert echoed == b"one,two,three"
    assert int(messages) >= 1
    # A body with a Content-Length, larger than one read chunk.
    big = os.urandom(300_000)
    status, _, body = s.request("POST", "/echo", body=big)
    assert status == 200
    echoed, _, messages = body.rpartition(b"|")
    assert echoed == big and int(messages) >= 2


def test_streaming_response(served):
    s = served("--workers", "1", app=APP)
    c = s.conn()
    c.request("GET", "/stream?20")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("X-Stream") == "yes"
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert r.read() == b"".join(b"chunk%d\n" % i for i in range(20))
    # The connection is reusable after a streamed answer.
    c.request("GET", "/hello")
    assert c.getresponse().read() == b"hello"
    c.close()


def test_requests_run_concurrently_in_one_worker(served):
    s = served("--workers", "1", app=APP)
    # Each /concurrent request answers only once the other one arrived: with one worker
    # interpreter this needs its loop to serve both at once.
    c1, c2 = s.conn(), s.conn()
    c1.request("GET", "/concurrent")
    c2.request("GET", "/concurrent")
    assert c1.getresponse().read() == b"met"
    assert c2.getresponse().read() == b"met"
    c1.close()
    c2.close()


def test_disconnect_is_delivered(served):
    s = served("--workers", "1", app=APP)
    c = s.conn()
    c.request("GET", "/wait-disconnect")
    r = c.getresponse()
    assert r.status == 200 and r.readline() == b"waiting\n"
    # The app now waits in receive(); going away must wake it with http.disconnect.
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    # /disconnects answers once the app saw it (or after 30 s, empty).
    _, body = s.get("/disconnects")
    assert json.loads(body) == ["http.disconnect"]


def test_a_client_leaving_mid_upload_gives_http_disconnect(served):
    s = served("--workers", "1", app=APP)
    c = s.conn()
    c.putrequest("POST", "/upload-until-disconnect")
    c.putheader("Content-Length", "100000")
    c.endheaders()
    c.send(b"x" * 1000)
    r = c.getresponse()
    assert r.status == 200 and r.readline() == b"reading\n"
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    _, body = s.get("/disconnects")
    assert json.loads(body) == ["http.disconnect"]
    assert s.get("/hello") == (200, b"hello")


def test_app_exception_gives_500_and_the_worker_keeps_serving(served):
    s = served("--workers", "1", app=APP)
    status, body = s.get("/error")
    assert (status, body) == (500, b"Internal Server Error\n")
    status, body = s.get("/no-response")
    assert status == 500
    assert s.get("/hello") == (200, b"hello")
    s.stop()
    assert "RuntimeError: boom before the response" in s.err
    assert "GET /error" in s.err
    assert "returned without sending a response" in s.err


def test_a_body_longer_than_its_content_length_is_never_sent(served):
    s = served("--workers", "1", app=APP)
    # Pipelined: the excess must not be read as the start of the next response.
    sock = socket.create_connection((s.host, s.port), timeout=60)
    sock.sendall(b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if data.endswith(b"hello"):
            break
    sock.close()
    assert b"abcdef" not in data
    assert data.startswith(b"HTTP/1.1 500")
    s.stop()
    assert "more bytes (6) than its Content-Length (3)" in s.err


def test_exception_mid_stream_cuts_the_connection(served):
    s = served("--workers", "1", app=APP)
    c = s.conn()
    c.request("GET", "/error-mid-stream")
    # Never a complete response: cut after the head, or before it reached the socket.
    try:
        r = c.getresponse()
        assert r.status == 200
        with pytest.raises(http.client.IncompleteRead):
            r.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    c.close()
    assert s.get("/hello") == (200, b"hello")


def test_timeout_answers_504_and_cancels_the_task(served):
    s = served("--workers", "1", "--timeout", "1", app=APP)
    status, _ = s.get("/sleep?30")
    assert status == 504
    assert s.get("/hello") == (200, b"hello")
    s.stop()
    assert "ran past --timeout" in s.err


def test_a_timeout_while_the_body_is_awaited_gives_504(served):
    s = served("--workers", "1", "--timeout", "1", app=APP)
    # Declares 100 bytes, sends 10: the app waits in receive() (a pool thread in a native
    # read) until the deadline.
    sock = socket.create_connection((s.host, s.port), timeout=60)
    sock.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 504"), data
    for _ in range(3):
        assert s.get("/hello") == (200, b"hello")


def test_body_over_max_body_gets_413(served):
    s = served("--workers", "1", "--max-body", "1000", app=APP)
    status, _, _ = s.request("POST", "/echo", body=b"x" * 5000)
    assert status == 413
    # Chunked: the limit is found while reading.
    c = s.conn()
    c.putrequest("POST", "/hello")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (3000, b"y" * 3000))
    r = c.getresponse()
    assert r.status == 413
    c.close()


def test_a_websocket_request_to_an_http_only_app_gets_500(served):
    # The app asserts scope["type"] == "http": it raises before accepting (500).
    s = served("--workers", "1", app=APP)
    status, _, _ = s.request(
        "GET",
        "/hello",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert status == 500
    assert s.get("/hello") == (200, b"hello")


def test_lifespan_startup_and_shutdown(tmp_path, served):
    marker = tmp_path / "shutdown.txt"
    os.environ["ASGI_SHUTDOWN_FILE"] = str(marker)
    try:
        s = served("--workers", "2", app=APP)
    finally:
        del os.environ["ASGI_SHUTDOWN_FILE"]
    _, _, body = s.request("GET", "/json")
    assert json.loads(body)["state"]["greeting"] == "hello from lifespan"
    assert s.stop() == 0, s.err
    # One shutdown per worker interpreter.
    assert marker.read_text() == "shutdown\n" * 2


def test_app_without_lifespan_support_is_fine(served):
    s = served("--workers", "1", app="serve_asgi_apps:no_lifespan")
    assert s.get("/") == (200, b"no lifespan here")


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("failing_startup", "database unreachable"),
        ("raising_startup", "ValueError: config missing"),
    ],
)
def test_lifespan_startup_failure_stops_the_server(app, message):
    r = run_serve(f"serve_asgi_apps:{app}", "--bind", "127.0.0.1:0", "--workers", "1")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"manygil serve: lifespan startup of serve_asgi_apps:{app} failed")
    assert message in last


def test_forced_interface(served):
    s = served("--workers", "1", "--interface", "asgi", app=APP)
    assert s.get("/hello") == (200, b"hello")
    r = run_serve("serve_asgi_apps:app", "--interface", "nope")
    assert r.returncode == 2 and "--interface" in r.stderr


def test_max_requests_per_worker_recycles(served):
    s = served("--workers", "1", "--max-requests-per-worker", "3", app=APP)
    pids = set()
    for _ in range(10):
        status, _, body = s.request("GET", "/json")
        assert status == 200
        pids.add(json.loads(body)["state"]["pid"])
    assert len(pids) == 1


# ---- Starlette ----------------------------------------------------------------------


def test_starlette_routes(served):
    pytest.importorskip("starlette")
    s = served("--workers", "2", app="serve_starlette_app:app")
    status, headers, body = s.request("GET", "/")
    assert status == 200 and json.loads(body) == {"hello": "starlette", "started": True}
    status, _, body = s.request("GET", "/items/42?q=x")
    assert status == 200 and json.loads(body) == {"item": 42, "q": "x"}
    status, _, body = s.request(
        "POST", "/echo", body=b'{"a": 1}', headers={"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body) == {"got": {"a": 1}}
    status, _, body = s.request("GET", "/stream")
    assert status == 200 and body == b"0\n1\n2\n"
    status, headers, body = s.request("HEAD", "/text")
    assert (status, body) == (200, b"")
    assert {k.lower(): v for k, v in headers.items()}["content-length"] == "4"
    status, _, _ = s.request("GET", "/missing")
    assert status == 404
    status, _, _ = s.request("GET", "/boom")
    assert status == 500


def test_django_asgi_handler(served):
    pytest.importorskip("django")
    # Django's handler refuses the lifespan scope before receiving anything: served
    # without lifespan.
    s = served("--workers", "2", app="serve_django_asgi_app:application")
    assert s.get("/") == (200, b"Hello from Django")
    status, _, body = s.request("POST", "/echo?q=1", body=b"payload")
    assert status == 200
    assert json.loads(body) == {"method": "POST", "body": "payload", "q": "1"}
    for _ in range(3):
        status, body = s.get("/whoami")
        assert status == 200 and int(body) > 0


# ---- Quart --------------------------------------------------------------------------


def test_quart_routes_json_websocket_and_lifespan(served, tmp_path):
    pytest.importorskip("quart")
    websockets_sync = pytest.importorskip("websockets.sync.client")
    shutdown_file = tmp_path / "shutdown"
    os.environ["QUART_SHUTDOWN_FILE"] = str(shutdown_file)
    try:
        s = served("--workers", "2", app="serve_quart_app:app")
    finally:
        del os.environ["QUART_SHUTDOWN_FILE"]
    assert s.get("/") == (200, b"hello from quart")
    # before_serving ran once in the worker answering, before it answered.
    status, headers, body = s.request("GET", "/items/7?q=x")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"item": 7, "q": "x", "started": True}
    status, _, body = s.request(
        "POST", "/echo", body=b'{"a": [1, 2]}', headers={"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body) == {"got": {"a": [1, 2]}, "method": "POST"}
    assert s.get("/missing")[0] == 404
    assert s.get("/boom")[0] == 500
    with websockets_sync.connect(f"ws://{s.host}:{s.port}/ws", open_timeout=30) as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "HELLO"
        ws.send(b"\x00\xffbin")
        assert ws.recv(timeout=30) == b"\x00\xffbin"
    assert s.stop() == 0, s.err
    # after_serving ran in both workers at the stop, each after its before_serving.
    assert shutdown_file.read_text().splitlines() == ["after_serving 1", "after_serving 1"]
    assert "quart handler failed" in s.err


def test_many_clients_mixing_bodies_and_streams(served):

    s = served("--workers", "2", app=APP)
    payload = os.urandom(100_000)

    def client(i: int) -> None:
        c = s.conn()
        for j in range(5):
            kind = (i + j) % 3
            if kind == 0:
                c.request("GET", "/hello")
                expect = b"hello"
            elif kind == 1:
                c.request("POST", "/echo", body=payload)
                expect = None
            else:
                c.request("GET", "/stream?50")
                expect = b"".join(b"chunk%d\n" % k for k in range(50))
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (r.status, body[:200])
            if expect is None:
                assert body.rpartition(b"|")[0] == payload
            else:
                assert body == expect
        c.close()

    run_threads(client, args=[(i,) for i in range(48)])


# ---- in-process: interface detection, lifespan bounds ----------------------------------


def test_interface_detection_rules():
    import functools
    import wsgiref.validate

    from manygil._serve.worker import _detect_interface

    async def asgi(scope, receive, send):
        pass

    class Instance:
        async def __call__(self, scope, receive, send):
            pass

    def wsgi(environ, start_response):
        pass

    def three(a, b, c):
        pass

    assert _detect_interface(asgi) == "asgi"
    assert _detect_interface(Instance()) == "asgi"
    assert _detect_interface(functools.partial(asgi)) == "asgi"
    assert _detect_interface(wsgi) == "wsgi"
    assert _detect_interface(wsgiref.validate.validator(wsgi)) == "wsgi"  # *args wrapper
    assert _detect_interface(three) is None
    assert _detect_interface(len) == "wsgi"  # no signature: as before ASGI support


def test_a_lifespan_startup_that_hangs_is_bounded(monkeypatch):
    import asyncio

    from manygil._serve import asgi as _serve_asgi

    async def hangs(scope, receive, send):
        await receive()
        await asyncio.Event().wait()

    monkeypatch.setattr(_serve_asgi, "STARTUP_TIMEOUT", 0.2)
    error = _serve_asgi.start(hangs, "mod:hangs")
    assert (
        error
        == "lifespan startup of mod:hangs failed: lifespan.startup did not complete within 0.2s"
    )
    assert _serve_asgi._loop is None  # closed


# ---- the ASGI specification: what the server gives the application -----------------------


def _spec_scope(**changes):
    """A valid HTTP scope (as the spec describes it), with ``changes`` applied."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a b/€",
        "raw_path": b"/a%20b/%E2%82%AC",
        "query_string": b"x=1",
        "root_path": "",
        "headers": [(b"host", b"h"), (b"x-a", b"1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    scope.update(changes)
    return scope


def test_the_spec_checker_finds_what_breaks_the_spec():
    # The checker the next test runs inside the server: it passes a valid scope and event,
    # and names each kind of fault (so that its silence below means something).
    pytest.importorskip("asgiref")
    import serve_asgi_spec_app as spec

    assert spec.check_scope(_spec_scope()) == []
    assert spec.check_event("http", {"type": "http.request", "body": b"", "more_body": False}) == []
    faults = {
        "asgi": {"asgi": {"version": "2.0"}},
        "http_version": {"http_version": "HTTP/1.1"},
        "method": {"method": "get"},
        "raw_path": {"raw_path": "/a%20b/%E2%82%AC"},
        "path": {"path": "/a%20b/€"},
        "query_string": {"query_string": "x=1"},
        "'?'": {"query_string": b"?x=1"},
        "root_path": {"root_path": b""},
        "lower-cased": {"headers": [(b"Host", b"h")]},
        "must be bytes": {"headers": [("host", "h")]},
        "client": {"client": "127.0.0.1:5000"},
        "IP address": {"client": ("localhost", 5000)},
        "server": {"server": ("127.0.0.1", "8000")},
        "state": {"state": []},
        "no spec defines": {"environ": {}},
    }
    for needle, change in faults.items():
        found = spec.check_scope(_spec_scope(**change))
        assert any(needle in f for f in found), (change, found)
    assert spec.check_event("http", {"type": "http.request", "body": "x"})
    assert spec.check_event("http", {"type": "websocket.receive", "text": "x"})
    assert spec.check_event("websocket", {"type": "websocket.receive", "text": "a", "bytes": b"a"})
    assert spec.check_event("websocket", {"type": "websocket.disconnect", "code": "1000"})


def test_scopes_and_events_follow_the_asgi_spec(served, tmp_path, monkeypatch):
    """Every scope and event the application receives over real HTTP and WebSocket
    connections, and through the lifespan, checked against the spec in the worker
    (serve_asgi_spec_app.py); the values against what the client sent."""
    pytest.importorskip("asgiref")
    websockets_sync = pytest.importorskip("websockets.sync.client")
    from waiting import wait_for_state

    shutdown_file = tmp_path / "shutdown.json"
    monkeypatch.setenv("SPEC_SHUTDOWN_FILE", str(shutdown_file))
    s = served("--workers", "1", app="serve_asgi_spec_app:app")

    # GET with percent-escapes, UTF-8, a query, mixed-case and repeated headers.
    status, _, body = s.request(
        "GET",
        "/p/a%20b/%E2%82%AC%2F?x=1&y=%20&z",
        headers={"X-Mixed-Case": "V", "Cookie": "a=1"},
    )
    got = json.loads(body)
    assert status == 200 and got["violations"] == []
    sc = got["scope"]
    assert sc["path"] == "/p/a b/€/" and sc["raw_path"] == "/p/a%20b/%E2%82%AC%2F"
    assert sc["query_string"] == "x=1&y=%20&z" and sc["root_path"] == ""
    assert ["x-mixed-case", "V"] in sc["headers"] and ["cookie", "a=1"] in sc["headers"]
    assert sc["client"][0] == "127.0.0.1" and sc["server"] == ["127.0.0.1", s.port]
    assert got["state_token"] == "from lifespan" and not got["state_leaked"]

    # A chunked upload: several http.request events, then http.disconnect.
    c = s.conn()
    c.request("POST", "/upload", body=iter([b"a" * 70_000, b"b" * 5, b"c" * 100_000]),
              encode_chunked=True)  # fmt: skip
    r = c.getresponse()
    got = json.loads(r.read())
    c.close()
    assert r.status == 200 and got["violations"] == [] and got["body_length"] == 170_005
    assert not got["state_leaked"]  # the key the last request added is not in this copy

    # HTTP/1.0 with repeated headers, on a raw socket.
    sock = socket.create_connection((s.host, s.port), timeout=60)
    sock.sendall(b"PUT /raw HTTP/1.0\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 3\r\n\r\nabc")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    got = json.loads(data.partition(b"\r\n\r\n")[2])
    assert got["violations"] == [] and got["scope"]["http_version"] == "1.0"
    assert got["scope"]["method"] == "PUT" and got["body_length"] == 3
    assert [h for h in got["scope"]["headers"] if h[0] == "x-a"] == [["x-a", "1"], ["x-a", "2"]]

    # A WebSocket: its scope, connect, text and binary receives, and the disconnect.
    url = f"ws://{s.host}:{s.port}/ws/%C3%A9?q=1"
    with websockets_sync.connect(url, open_timeout=30, additional_headers={"X-WS": "y"}) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=30) == "héllo"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=30) == b"\x00\x01"
        ws.send("report")
        assert json.loads(ws.recv(timeout=30)) == []
        ws.close(4001, "bye")

    def report() -> dict:
        return json.loads(s.get("/report")[1])

    wait_for_state(
        lambda: report()["checked"].get("websocket.disconnect") == 1,
        lambda: f"the websocket.disconnect event was checked: {report()}",
        poll=0.02,
    )
    rep = report()
    assert rep["violations"] == []
    for what in (
        "lifespan scope", "lifespan.startup", "http scope", "http.request", "http.disconnect",
        "websocket scope", "websocket.connect", "websocket.receive.text",
        "websocket.receive.bytes", "websocket.disconnect",
    ):  # fmt: skip
        assert rep["checked"].get(what, 0) >= 1, (what, rep["checked"])
    assert rep["checked"]["http.request"] >= 5  # the chunked upload came in several events

    assert s.stop() == 0, s.err
    final = json.loads(shutdown_file.read_text())
    assert final["violations"] == [] and final["checked"]["lifespan.shutdown"] == 1
