"""A Quart application served by ``manygil serve`` in tests/test_serve_asgi.py: routes,
JSON in and out, a WebSocket route, and ``before_serving``/``after_serving`` (run by the
ASGI lifespan protocol in each worker)."""

from __future__ import annotations

import os

from quart import Quart, jsonify, request, websocket

app = Quart(__name__)
served: list[str] = []


@app.before_serving
async def startup() -> None:
    # Runs in each worker before it serves anything (lifespan.startup).
    served.append("started")
    app.config["STARTED_PID"] = os.getpid()


@app.after_serving
async def shutdown() -> None:
    # Runs in each worker when it stops (lifespan.shutdown): leaves a line the test reads.
    path = os.environ.get("QUART_SHUTDOWN_FILE")
    if path:
        with open(path, "a") as f:
            f.write(f"after_serving {len(served)}\n")


@app.route("/")
async def home():
    return "hello from quart"


@app.route("/items/<int:item_id>")
async def item(item_id: int):
    return jsonify(item=item_id, q=request.args.get("q"), started=served == ["started"])


@app.route("/echo", methods=["POST"])
async def echo():
    return {"got": await request.get_json(), "method": request.method}


@app.route("/boom")
async def boom():
    raise RuntimeError("quart handler failed")


@app.websocket("/ws")
async def ws():
    # Echoes text back upper-cased, and binary as is, until the client closes.
    while True:
        data = await websocket.receive()
        await websocket.send(data.upper() if isinstance(data, str) else data)
