"""WebSocket connections of ASGI applications in ``manygil serve`` (ASGI WebSocket spec
2.4), inside each worker interpreter's event loop.

The front (Rust, on its I/O threads) does the framing: it answers pings, puts fragmented
messages together, enforces ``--ws-max-size`` (close 1009) and runs the close handshake.
Here nothing blocks the loop: ``_native.serve_ws_recv`` / ``serve_ws_send`` return at
once, and when a connection has nothing to receive (or its client is behind) the task
waits for the connection's wake-up, which the front delivers through a socket the loop
watches (``_Worker.on_ws_ready``). Each direction is a bounded queue: an application that
does not read stops the front reading from its client, and one that sends faster than the
client reads waits in ``send()``.

Before the accept the request is still plain HTTP: ``websocket.close`` is answered 403,
an application that returns without accepting gets 403 too, one that raises 500, and the
``websocket.http.response`` extension sends any HTTP answer.
"""

from __future__ import annotations

import asyncio
import sys

from .. import _native
from . import asgi as _serve_asgi

# Connection states.
HANDSHAKE = "handshake"  # websocket.connect not answered yet
CONNECTED = "connected"  # accepted
RESPONSE = "response"  # answered over HTTP (websocket.http.response.*)
CLOSED = "closed"  # closed by either side, or the client left before the accept

_FORBIDDEN = ("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")], b"Forbidden\n")


class WebSocket:
    """One WebSocket request in the loop: the ``receive``/``send`` of its task."""

    __slots__ = ("req", "rid", "state", "connect_sent", "waiters", "ended")

    def __init__(self, req: _serve_asgi._Request):
        self.req = req
        self.rid = req.rid
        self.state = HANDSHAKE
        self.connect_sent = False
        # Futures of tasks waiting for this connection's wake-up (a receiving task and a
        # sending one may wait at once).
        self.waiters: list[asyncio.Future] = []
        self.ended: tuple[int, str] | None = None  # (code, reason) once closed

    def wake(self) -> None:
        """The front has something for this connection (a message, room, its end), or the
        client left before the accept: every waiting task looks again."""
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def _wait(self) -> None:
        w = self.req.worker.loop.create_future()
        self.waiters.append(w)
        try:
            await w
        finally:
            if w in self.waiters:
                self.waiters.remove(w)

    def restart(self) -> None:
        """Close an accepted connection with 1012 ("service restart"): its worker is being
        replaced (``--reload``); the client reconnects to a new one. The application's
        ``receive()`` then gives ``websocket.disconnect`` with that code."""
        if self.state == CONNECTED:
            _native.serve_ws_close(self.rid, 1012, "service restart")
            self.state = CLOSED
            self.ended = (1012, "service restart")
            self.wake()

    def _disconnect(self) -> dict:
        code, reason = self.ended or (1006, "")
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def receive(self) -> dict:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        while self.state == HANDSHAKE and not self.req.gone:
            # Nothing comes before the accept; the client may leave.
            await self._wait()
        if self.state == HANDSHAKE:
            self.state = CLOSED
            self.ended = (1006, "")
        if self.state != CONNECTED:
            return self._disconnect()
        while True:
            got = _native.serve_ws_recv(self.rid)
            kind = type(got)
            if kind is str:
                return {"type": "websocket.receive", "text": got}
            if kind is bytes:
                return {"type": "websocket.receive", "bytes": got}
            if got is None:
                await self._wait()
                if self.state != CONNECTED:
                    return self._disconnect()
                continue
            self.state = CLOSED
            self.ended = got
            return self._disconnect()

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if self.state != CONNECTED:
                if self.state == HANDSHAKE:
                    raise RuntimeError("websocket.send before websocket.accept")
                raise _serve_asgi.ClientDisconnected("the WebSocket is closed")
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
                if type(data) is not str:
                    raise TypeError(
                        "websocket.send needs 'bytes' (bytes) or 'text' (str), got "
                        f"{type(data).__name__}"
                    )
            elif type(data) is not bytes:
                if not isinstance(data, (bytearray, memoryview)):
                    raise TypeError(
                        f"websocket.send bytes must be bytes, not {type(data).__name__}"
                    )
                data = bytes(data)
            while True:
                sent = _native.serve_ws_send(self.rid, data)
                if sent:
                    return
                if sent is None:
                    self.state = CLOSED
                    raise _serve_asgi.ClientDisconnected("the WebSocket is closed")
                await self._wait()
                if self.state != CONNECTED:
                    raise _serve_asgi.ClientDisconnected("the WebSocket is closed")
        if kind == "websocket.accept":
            if self.state != HANDSHAKE:
                raise RuntimeError(f"websocket.accept in state {self.state}")
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self.req.scope["subprotocols"]:
                raise ValueError(
                    f"websocket.accept subprotocol {subprotocol!r} was not offered by the "
                    f"client (offered: {self.req.scope['subprotocols']})"
                )
            if not _native.serve_ws_accept(self.rid, subprotocol, list(message.get("headers", ()))):
                # The client left, or got 504 at --timeout.
                self.state = CLOSED
                self.ended = (1006, "")
                raise _serve_asgi.ClientDisconnected("the client is gone")
            self.state = CONNECTED
            # A receive() already waiting in another task goes on.
            self.wake()
            return
        if kind == "websocket.close":
            code = message.get("code")
            code = 1000 if code is None else code
            reason = message.get("reason") or ""
            if self.state == HANDSHAKE:
                # The spec's rejection: 403.
                self.state = CLOSED
                self.ended = (code, reason)
                self.req.complete = True
                _native.serve_respond(self.rid, *_FORBIDDEN)
            elif self.state == CONNECTED:
                _native.serve_ws_close(self.rid, code, reason)
                self.state = CLOSED
                self.ended = (code, reason)
                self.wake()
            elif self.state == RESPONSE:
                raise RuntimeError("websocket.close after websocket.http.response.start")
            return
        if kind == "websocket.http.response.start":
            if self.state != HANDSHAKE:
                raise RuntimeError(f"websocket.http.response.start in state {self.state}")
            self.state = RESPONSE
            await self.req.send(dict(message, type="http.response.start"))
            return
        if kind == "websocket.http.response.body":
            if self.state != RESPONSE:
                raise RuntimeError("websocket.http.response.body before its start")
            await self.req.send(dict(message, type="http.response.body"))
            if self.req.complete:
                self.state = CLOSED
            return
        raise RuntimeError(f"unexpected ASGI message type {kind!r} for a WebSocket")


async def serve(req: _serve_asgi._Request, app) -> None:
    """Run the application for the WebSocket request ``req``."""
    ws = req.ws = WebSocket(req)
    scope = req.scope
    try:
        await app(scope, ws.receive, ws.send)
    except _serve_asgi.ClientDisconnected:
        pass
    except asyncio.CancelledError:
        # Timeout before the accept (the client got 504) or shutdown (the front closes
        # open connections with 1001).
        if req.cancelled == "timeout" and ws.state == HANDSHAKE:
            print(
                f"manygil serve: WebSocket {scope.get('path')} was not accepted within "
                "--timeout: answered 504, its task cancelled",
                file=sys.stderr,
            )
        return
    except BaseException as e:  # noqa: BLE001 - answered below
        if req.gone and ws.state == HANDSHAKE:
            return
        _serve_asgi._log_error(scope, "unhandled exception", e)
        if ws.state == CONNECTED:
            # The spec's "internal error".
            _native.serve_ws_close(ws.rid, 1011, "")
            ws.state = CLOSED
        elif ws.state == HANDSHAKE:
            await req._error_response()
        elif ws.state == RESPONSE and not req.complete:
            if req.streaming:
                await req._idle()
                _native.serve_abort(req.rid)
            else:
                await req._error_response()
        return
    if ws.state == HANDSHAKE and not req.gone:
        # Returned without accepting: rejected, as a close would have.
        req.complete = True
        _native.serve_respond(req.rid, *_FORBIDDEN)
    elif ws.state == RESPONSE and not req.complete and not req.gone:
        _serve_asgi._log_error(scope, "the application returned before completing its response")
        if req.streaming:
            await req._idle()
            _native.serve_abort(req.rid)
        else:
            await req._error_response()
    # An accepted connection still open is closed with 1000 when the request is done.
