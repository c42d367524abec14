"""A Starlette application with WebSocket endpoints, served by ``manygil serve`` in
tests/test_serve_websocket.py."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"started": "yes"}


async def home(request):
    return PlainTextResponse("starlette http")


async def echo(websocket: WebSocket):
    """Echo text and bytes; the first message gets the lifespan state prepended."""
    await websocket.accept(
        subprotocol="chat.v1" if "chat.v1" in websocket.scope["subprotocols"] else None
    )
    try:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") is not None:
                await websocket.send_text(f"{websocket.state.started}:{msg['text']}")
            else:
                await websocket.send_bytes(msg["bytes"])
    except WebSocketDisconnect:
        return


async def json_sum(websocket: WebSocket):
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"sum": sum(data["numbers"])})
    await websocket.close(code=4000, reason="done")


async def refuse(websocket: WebSocket):
    await websocket.close(code=1008)


app = Starlette(
    routes=[
        Route("/", home),
        WebSocketRoute("/ws", echo),
        WebSocketRoute("/sum", json_sum),
        WebSocketRoute("/refuse", refuse),
    ],
    lifespan=lifespan,
)
