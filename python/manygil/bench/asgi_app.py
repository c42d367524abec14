"""The raw ASGI application of the ASGI serve benchmark (``manygil.bench.serve_asgi_bench``,
``bench/bench_serve_asgi.py``): a hello route, a JSON route, a pure-Python CPU route and a
WebSocket echo, with lifespan support (as a framework would have)."""

import json

_HELLO = b"Hello, World!"
_TEXT = [(b"content-type", b"text/plain")]
_JSON = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            kind = msg["type"].replace("lifespan.", "")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "websocket":
        # Echo every message back until the client closes.
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            await send(
                {"type": "websocket.send", "bytes": msg.get("bytes"), "text": msg.get("text")}
            )
    while (await receive()).get("more_body"):
        pass
    path = scope["path"]
    if path == "/json":
        # TechEmpower's JSON test: a small object serialized per request.
        body = json.dumps({"message": "Hello, World!"}).encode()
        headers = _JSON
    elif path == "/cpu":
        body = str(sum(i * i % 7 for i in range(20_000))).encode()
        headers = _TEXT
    else:
        body = _HELLO
        headers = _TEXT
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*headers, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
