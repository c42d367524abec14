"""ASGI applications served by ``manygil serve`` in tests/test_serve_asgi.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os


async def _body(receive) -> bytes:
    chunks = []
    while True:
        msg = await receive()
        assert msg["type"] == "http.request", msg
        chunks.append(msg["body"])
        if not msg.get("more_body"):
            return b"".join(chunks)


async def _answer(send, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Disconnects seen by /wait-disconnect, reported by /disconnects (per worker: tests use 1).
_disconnects: list[str] = []


async def app(scope, receive, send):
    """A raw ASGI 3 application with lifespan support."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello from lifespan"
                scope["state"]["pid"] = os.getpid()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                path = os.environ.get("ASGI_SHUTDOWN_FILE")
                if path:
                    with open(path, "a") as f:
                        f.write("shutdown\n")
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/hello":
        await _body(receive)
        await _answer(send, 200, b"hello")
    elif path == "/json" or path.startswith("/scope"):
        await _body(receive)
        view = {
            k: v
            for k, v in scope.items()
            if k not in ("headers", "raw_path", "query_string", "state")
        }
        view["raw_path"] = scope["raw_path"].decode("latin-1")
        view["query_string"] = scope["query_string"].decode("latin-1")
        view["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        view["header_types"] = sorted({type(x).__name__ for h in scope["headers"] for x in h})
        view["state"] = scope.get("state")
        await _answer(send, 200, json.dumps(view).encode(), b"application/json")
    elif path == "/echo":
        # Streams the request body back as it arrives, one response chunk per message.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        messages = 0
        while True:
            msg = await receive()
            assert msg["type"] == "http.request"
            messages += 1
            if msg["body"]:
                await send({"type": "http.response.body", "body": msg["body"], "more_body": True})
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.body", "body": f"|{messages}".encode()})
    elif path == "/stream":
        n = int(scope["query_string"] or b"5")
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-stream", b"yes")]}
        )
        for i in range(n):
            await send({"type": "http.response.body", "body": b"chunk%d\n" % i, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/wait-disconnect":
        # An event stream: a first event, then nothing until the client goes away.
        await _body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting\n", "more_body": True})
        msg = await receive()  # returns once the client is gone
        _disconnects.append(msg["type"])
        _disconnected().set()
    elif path == "/upload-until-disconnect":
        # Answers at once (so the client knows it runs), then reads the body to its end.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"reading\n", "more_body": True})
        while True:
            msg = await receive()
            if msg["type"] != "http.request" or not msg.get("more_body"):
                break
        _disconnects.append(msg["type"])
        _disconnected().set()
    elif path == "/disconnects":
        # Waits (bounded) for /wait-disconnect to see its client go.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_disconnected().wait(), 30)
        await _answer(send, 200, json.dumps(_disconnects).encode())
    elif path == "/sleep":
        await _body(receive)
        await asyncio.sleep(float(scope["query_string"] or b"1"))
        await _answer(send, 200, b"slept")
    elif path == "/concurrent":
        # Two requests meet here: each answers only once both arrived (one worker).
        ev = _meeting()
        ev[0] += 1
        if ev[0] >= 2:
            ev[1].set()
        await asyncio.wait_for(ev[1].wait(), 30)
        await _answer(send, 200, b"met")
    elif path == "/error":
        raise RuntimeError("boom before the response")
    elif path == "/error-mid-stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom mid-stream")
    elif path == "/no-response":
        return
    elif path == "/header-kinds":
        # Header pairs as lists and tuples of bytes-like objects, from a generator.
        headers = (
            h
            for h in (
                [bytearray(b"x-bytearray"), memoryview(b"yes")],
                (b"x-bytes", b"1"),
                (b"content-length", bytearray(b"2")),
            )
        )
        await send({"type": "http.response.start", "status": 299, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/str-header":
        await send({"type": "http.response.start", "status": 200, "headers": [("x-a", "b")]})
    elif path == "/too-long":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]}
        )
        await send({"type": "http.response.body", "body": b"abcdef"})
    else:
        await _answer(send, 404, b"not found")


_meet: list = []
_disconnect_event: list = []


def _disconnected() -> asyncio.Event:
    if not _disconnect_event:
        _disconnect_event.append(asyncio.Event())
    return _disconnect_event[0]


def _meeting():
    if not _meet:
        _meet.append([0, asyncio.Event()])
    return _meet[0]


async def no_lifespan(scope, receive, send):
    """An application that does not support lifespan (raises on it, as many do)."""
    assert scope["type"] == "http", "only HTTP"
    await _answer(send, 200, b"no lifespan here")


async def failing_startup(scope, receive, send):
    if scope["type"] == "lifespan":
        msg = await receive()
        assert msg["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await _answer(send, 200, b"never")


async def raising_startup(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        raise ValueError("config missing")
    await _answer(send, 200, b"never")


class CallableASGI:
    """An object whose ``__call__`` is a coroutine function: detected as ASGI."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        await _answer(send, 200, b"object app")


callable_app = CallableASGI()


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"plain wsgi"]


def ambiguous(a, b, c):
    return None
