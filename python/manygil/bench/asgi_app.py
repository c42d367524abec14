"""The raw ASGI application of bench/bench_serve_asgi.py: a hello route, a pure-Python
CPU route and a WebSocket echo, with lifespan support (as a framework would have)."""


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
    if scope["path"] == "/cpu":
        body = str(sum(i * i % 7 for i in range(20_000))).encode()
    else:
        body = b"Hello, World!"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
