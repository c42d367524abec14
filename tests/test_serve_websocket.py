"""WebSockets of ASGI applications under ``python -m manygil serve``: a real server
process, the ``websockets`` client (and raw sockets) on 127.0.0.1, against the raw apps
of serve_websocket_apps.py and the Starlette app of serve_websocket_starlette.py."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time

import pytest
from serve_helpers import Served
from waiting import run_threads

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

APP = "serve_websocket_apps:app"


def _url(s: Served, path: str) -> str:
    return f"ws://{s.host}:{s.port}{path}"


def _ws(s: Served, path: str, **kw):
    kw.setdefault("open_timeout", 30)
    kw.setdefault("close_timeout", 10)
    return connect(_url(s, path), **kw)


def _log(s: Served, want: str, timeout: float = 30.0) -> list[str]:
    """GET /log until a line starting with ``want`` shows up (bounded), and return it all."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = s.get("/log")
        assert status == 200
        lines = json.loads(body)
        if any(line.startswith(want) for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def _closed_by_server(ws) -> ConnectionClosed:
    """Read until the server closes; return the ConnectionClosed."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=30)
    return info.value


# ---- messages ---------------------------------------------------------------------------


def test_echo_text_and_binary_and_the_scope(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/echo?x=1", additional_headers={"X-Custom": "abc"}) as ws:
        assert ws.response.headers["x-echo"] == "yes"
        ws.send("héllo wörld")
        assert ws.recv(timeout=30) == "héllo wörld"
        ws.send(b"\x00\x01binary\xff")
        assert ws.recv(timeout=30) == b"\x00\x01binary\xff"
        ws.send("")
        assert ws.recv(timeout=30) == ""
        ws.send("scope")
        scope = json.loads(ws.recv(timeout=30))
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["path"] == "/echo" and scope["raw_path"] == "/echo"
    assert scope["query_string"] == "x=1"
    assert scope["scheme"] == "ws" and scope["http_version"] == "1.1"
    assert scope["subprotocols"] == []
    assert scope["headers"]["x-custom"] == "abc"
    assert scope["headers"]["upgrade"].lower() == "websocket"
    assert scope["client"][0] == "127.0.0.1" and scope["server"] == ["127.0.0.1", s.port]
    assert scope["state"] == {"greeting": "hi"}
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    # The same server still answers plain HTTP.
    assert s.get("/") == (200, b"plain http")


def test_a_large_fragmented_message_is_put_together(served):
    s = served("--workers", "1", app=APP)
    parts = [os.urandom(256 * 1024) for _ in range(8)]
    with _ws(s, "/echo", max_size=None) as ws:
        ws.send(iter(parts))  # one message in 8 frames
        assert ws.recv(timeout=60) == b"".join(parts)
        text = ["α" * 50_000, "β" * 50_000, "γ"]
        ws.send(iter(text))
        assert ws.recv(timeout=60) == "".join(text)


def test_ping_is_answered_by_the_front(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/echo") as ws:
        pong = ws.ping(b"marco")
        assert pong.wait(30)
        ws.send("still open")
        assert ws.recv(timeout=30) == "still open"


def test_a_message_over_ws_max_size_closes_with_1009(served):
    s = served("--workers", "1", "--ws-max-size", "65536", app=APP)
    with _ws(s, "/echo") as ws:
        ws.send(b"a" * 65536)
        assert len(ws.recv(timeout=30)) == 65536
        try:
            ws.send(b"b" * 200_000)
        except ConnectionClosed:
            pass
        closed = _closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1009
    assert "echo disconnect 1009 message too big" in _log(s, "echo disconnect 1009")
    # The server goes on.
    with _ws(s, "/echo") as ws:
        ws.send("next")
        assert ws.recv(timeout=30) == "next"


# ---- handshake ----------------------------------------------------------------------------


def test_subprotocol_negotiation(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/echo", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        ws.send("scope")
        assert json.loads(ws.recv(timeout=30))["subprotocols"] == ["chat.v1", "chat.v2"]
    with _ws(s, "/echo") as ws:
        assert ws.subprotocol is None


def test_a_receive_waiting_before_the_accept_goes_on_after_it(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/reader-first") as ws:
        ws.send("first")
        assert ws.recv(timeout=30) == "got first"


def test_close_before_accept_is_a_403(served):
    s = served("--workers", "1", app=APP)
    for path in ("/reject", "/no-accept"):
        with pytest.raises(InvalidStatus) as info:
            _ws(s, path)
        assert info.value.response.status_code == 403, path


def test_the_http_response_extension(served):
    s = served("--workers", "1", app=APP)
    with pytest.raises(InvalidStatus) as info:
        _ws(s, "/http-response")
    r = info.value.response
    assert r.status_code == 401
    assert r.headers["x-why"] == "token"
    assert r.body == b"log in first"


def test_an_exception_before_accept_is_a_500(served):
    s = served("--workers", "1", app=APP)
    with pytest.raises(InvalidStatus) as info:
        _ws(s, "/raise-before")
    assert info.value.response.status_code == 500
    assert s.get("/") == (200, b"plain http")
    assert s.stop() == 0
    assert "RuntimeError: ws boom before accept" in s.err


def test_an_exception_after_accept_closes_with_1011_and_a_traceback(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/raise") as ws:
        ws.send("go")
        closed = _closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1011
    with _ws(s, "/echo") as ws:
        ws.send("after")
        assert ws.recv(timeout=30) == "after"
    assert s.stop() == 0
    assert "unhandled exception in WebSocket /raise" in s.err
    assert "Traceback" in s.err and "RuntimeError: ws boom after accept" in s.err


# ---- closing --------------------------------------------------------------------------


def test_the_client_closes_with_a_code_and_reason(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/echo") as ws:
        ws.send("x")
        assert ws.recv(timeout=30) == "x"
        ws.close(4001, "client done")
        # The server echoes the client's close frame.
        assert (ws.close_code, ws.close_reason) == (4001, "client done")
    assert "echo disconnect 4001 client done" in _log(s, "echo disconnect 4001")


def test_the_server_closes_with_the_apps_code_and_reason(served):
    s = served("--workers", "1", app=APP)
    with _ws(s, "/close?code=4321&reason=bye-now") as ws:
        assert ws.recv(timeout=30) == "closing"
        closed = _closed_by_server(ws)
    assert (closed.rcvd.code, closed.rcvd.reason) == (4321, "bye-now")
    assert "close disconnect 4321 bye-now" in _log(s, "close disconnect")


def test_sigterm_closes_open_websockets_with_1001_after_the_grace_period(served):
    s = served("--workers", "1", "--graceful-timeout", "0.5", app=APP)
    with _ws(s, "/sleep") as ws:
        ws.send("hold")  # never answered: /sleep waits for the end
        s.send_signal(15)
        closed = _closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1001
    assert s.stop() == 0, s.err


def test_a_recycled_worker_ends_what_outlives_the_graceful_timeout(served):
    # The WebSocket and the long poll reach the quota of 2: the worker recycles, gives
    # them --graceful-timeout, then closes the WebSocket with 1012 ("service restart")
    # and answers the long poll 503, and its replacement serves. Before, the recycle
    # waited for them without limit, and the only worker slot with it.
    s = served(
        *("--workers", "1", "--max-requests-per-worker", "2"),
        *("--graceful-timeout", "0.5", "--timeout", "0"),
        app=APP,
    )
    with _ws(s, "/sleep") as ws:
        ws.send("hold")  # never answered: /sleep waits for the end
        status, _, body = s.request("GET", "/hang")
        assert (status, body) == (503, b"Service Unavailable\n")
        closed = _closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1012
    # A fresh worker: its log is empty.
    assert s.get("/log") == (200, b"[]")
    assert s.stop() == 0, s.err
    assert "still open after --graceful-timeout 0.5s were ended" in s.err


# ---- many connections, flow control, vanishing clients ----------------------------------


def test_50_concurrent_connections_on_2_workers(served):
    s = served("--workers", "2", app=APP)
    pids = set()

    def client(i: int) -> None:
        with _ws(s, "/echo") as ws:
            for j in range(20):
                if j % 2:
                    data = os.urandom(1 + (i * 37 + j) % 5000)
                else:
                    data = f"client {i} message {j} " * (1 + j)
                ws.send(data)
                assert ws.recv(timeout=60) == data
        with _ws(s, "/pid") as ws:
            pids.add(ws.recv(timeout=60))

    run_threads(client, args=[(i,) for i in range(50)])
    assert len(pids) == 1  # one process, two worker interpreters


def test_a_client_that_does_not_read_holds_the_sender_back(served):
    """The application's send() waits for a client that does not read: what the server
    holds stays bounded (two small queues and the socket buffers), and nothing is lost."""
    s = served("--workers", "1", app=APP)
    n = 1000  # 64 MiB in all
    with _ws(s, f"/flood?{n}", max_size=None, max_queue=1) as ws:
        # Poll until the count stops moving (the sender is held back), bounded.
        last, still, deadline = -1, 0, time.monotonic() + 60
        while still < 10 and time.monotonic() < deadline:
            count = int(s.get("/flooded")[1])
            still = still + 1 if count == last else 0
            last = count
            time.sleep(0.05)
        assert 0 < last < n // 4, last  # at most a few MiB in flight
        for i in range(n):
            msg = ws.recv(timeout=60)
            assert msg == i.to_bytes(4, "big") * 16384
    assert int(s.get("/flooded")[1]) == n


def _raw_handshake(s: Served, path: str) -> socket.socket:
    sock = socket.create_connection((s.host, s.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_client_vanishing_mid_stream_frees_its_connection(served):
    s = served("--workers", "1", app=APP)
    for _ in range(3):
        sock = _raw_handshake(s, "/stream")
        got = b""
        while len(got) < 50_000:
            got += sock.recv(65536)
        # Gone without a close frame, with a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    lines = _log(s, "stream ended")
    deadline = time.monotonic() + 30
    while sum(line.startswith("stream ended") for line in lines) < 3:
        assert time.monotonic() < deadline, lines
        lines = _log(s, "stream ended")
    assert all(line == "stream ended ClientDisconnected" for line in lines), lines
    with _ws(s, "/echo") as ws:
        ws.send("alive")
        assert ws.recv(timeout=30) == "alive"


# ---- Starlette, WSGI ------------------------------------------------------------------


def test_starlette_websocket_endpoints(served):
    pytest.importorskip("starlette")
    s = served("--workers", "2", app="serve_websocket_starlette:app")
    with _ws(s, "/ws", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        ws.send("hi")
        assert ws.recv(timeout=30) == "yes:hi"
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=30) == b"\x01\x02"
    with _ws(s, "/sum") as ws:
        ws.send(json.dumps({"numbers": [1, 2, 3.5]}))
        assert json.loads(ws.recv(timeout=30)) == {"sum": 6.5}
        closed = _closed_by_server(ws)
    assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "done")
    with pytest.raises(InvalidStatus) as info:
        _ws(s, "/refuse")
    assert info.value.response.status_code == 403
    assert s.get("/") == (200, b"starlette http")


def test_a_wsgi_app_answers_an_upgrade_request_as_plain_http(served):
    s = served("--workers", "1", app="serve_apps:app")
    status, _, body = s.request(
        "GET",
        "/hello",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
        },
    )
    assert (status, body) == (200, b"hello")
