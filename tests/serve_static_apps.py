"""Apps for tests/test_serve_static.py: every request that reaches one appends its path
to the file named by $MANYGIL_TEST_CALLS, so a test can prove that a request did not."""

from __future__ import annotations

import os


def _record(path: str) -> None:
    with open(os.environ["MANYGIL_TEST_CALLS"], "a") as f:
        f.write(path + "\n")


def app(environ, start_response):
    """WSGI: answers ``app:PATH``."""
    _record(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app:" + environ["PATH_INFO"].encode("latin-1")]


async def asgi_app(scope, receive, send):
    """ASGI 3: answers ``app:PATH``."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    _record(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"app:" + scope["path"].encode()})
