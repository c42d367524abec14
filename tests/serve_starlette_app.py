"""A Starlette application served by ``manygil serve`` in tests/test_serve_asgi.py."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"started": True}


async def home(request: Request):
    return JSONResponse({"hello": "starlette", "started": request.state.started})


async def item(request: Request):
    return JSONResponse(
        {"item": request.path_params["item_id"], "q": request.query_params.get("q")}
    )


async def echo(request: Request):
    return JSONResponse({"got": await request.json()})


async def stream(request: Request):
    async def numbers():
        for i in range(3):
            yield f"{i}\n"

    return StreamingResponse(numbers(), media_type="text/plain")


async def boom(request: Request):
    raise RuntimeError("starlette handler failed")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/items/{item_id:int}", item),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/boom", boom),
        Route("/text", lambda request: PlainTextResponse("text")),
    ],
    lifespan=lifespan,
)
