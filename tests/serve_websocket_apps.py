"""Raw ASGI WebSocket applications served by ``manygil serve`` in
tests/test_serve_websocket.py (the Starlette one is in serve_websocket_starlette.py)."""

from __future__ import annotations

import asyncio
import json
import os

# What the WebSocket routes saw, per worker (tests that read it run one worker):
# "<route> <event> <code> <reason>" lines, read back with GET /log.
_log: list[str] = []
# Messages /flood has handed to send() so far.
_flooded = [0]


async def _http(scope, receive, send) -> None:
    if scope["path"] == "/hang":
        # A long poll that never answers: only the server ends it.
        await asyncio.Event().wait()
    if scope["path"] == "/log":
        body = json.dumps(_log).encode()
    elif scope["path"] == "/flooded":
        body = str(_flooded[0]).encode()
    else:
        body = b"plain http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    """Routes by path; see each branch."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hi"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await _http(scope, receive, send)
        return
    assert scope["type"] == "websocket"
    path = scope["path"]
    msg = await receive()
    assert msg["type"] == "websocket.connect", msg
    if path == "/echo":
        # Echo until the client closes; /log gets its close code. The subprotocol is the
        # last one offered; the first text message "scope" is answered with the scope.
        offered = scope["subprotocols"]
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": offered[-1] if offered else None,
                "headers": [(b"x-echo", b"yes")],
            }
        )
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                _log.append(f"echo disconnect {msg['code']} {msg.get('reason', '')}")
                return
            if msg.get("text") == "scope":
                view = {k: v for k, v in scope.items() if k not in ("headers", "state")}
                view["query_string"] = scope["query_string"].decode()
                view["raw_path"] = scope["raw_path"].decode()
                view["headers"] = {n.decode(): v.decode() for n, v in scope["headers"]}
                view["state"] = scope.get("state")
                await send({"type": "websocket.send", "text": json.dumps(view)})
            elif msg.get("text") is not None:
                await send({"type": "websocket.send", "text": msg["text"]})
            else:
                await send({"type": "websocket.send", "bytes": msg["bytes"]})
    elif path == "/close":
        # The server closes with the code and reason of the query (code=N&reason=R).
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&"))
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "closing"})
        await send(
            {"type": "websocket.close", "code": int(query["code"]), "reason": query["reason"]}
        )
        msg = await receive()
        _log.append(f"close disconnect {msg['code']} {msg.get('reason', '')}")
    elif path == "/reject":
        await send({"type": "websocket.close", "code": 1008})
    elif path == "/no-accept":
        return
    elif path == "/http-response":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"x-why", b"token")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log in first"})
    elif path == "/raise-before":
        raise RuntimeError("ws boom before accept")
    elif path == "/raise":
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("ws boom after accept")
    elif path == "/stream":
        # Sends numbered messages until the client is gone; /log says how it ended.
        await send({"type": "websocket.accept"})
        i = 0
        try:
            while True:
                await send({"type": "websocket.send", "text": f"{i:08d}" + "x" * 1000})
                i += 1
        except OSError as e:
            _log.append(f"stream ended {type(e).__name__}")
    elif path == "/flood":
        # Sends N binary messages of 64 KiB as fast as send() takes them.
        n = int(scope["query_string"])
        await send({"type": "websocket.accept"})
        for i in range(n):
            await send({"type": "websocket.send", "bytes": i.to_bytes(4, "big") * 16384})
            _flooded[0] = i + 1
        msg = await receive()
        _log.append(f"flood done {msg['type']}")
    elif path == "/reader-first":
        # A task already waiting in receive() when another accepts goes on.
        got: asyncio.Queue = asyncio.Queue()

        async def reader():
            await got.put(await receive())

        task = asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        await send({"type": "websocket.accept"})
        msg = await got.get()
        await task
        await send({"type": "websocket.send", "text": "got " + msg["text"]})
        await receive()
    elif path == "/pid":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": str(os.getpid())})
        await receive()
    elif path == "/sleep":
        # Accepts, then reads (answering nothing) until the connection ends: a shutdown
        # closes it (1001).
        await send({"type": "websocket.accept"})
        while (msg := await receive())["type"] != "websocket.disconnect":
            await asyncio.sleep(0)
        _log.append(f"sleep {msg['type']} {msg.get('code')}")
    else:
        await send({"type": "websocket.close", "code": 4404})
