"""ASGI: the same raw ASGI app (``manygil/bench/asgi_app.py``: hello, JSON, CPU routes and a
WebSocket echo) behind uvicorn (asyncio + h11, and uvloop + httptools), granian
``--interface asgi``, hypercorn and ``manygil serve``, loaded by ``wrk`` on 127.0.0.1;
the ASGI part of ``python -m manygil bench --scenario serve``
(``manygil.bench.serve_asgi_bench``).

    python bench/bench_serve_asgi.py [--workers N] [--duration S] [--connections C] [--repeat R]
        [--ws-connections W] [--ws-round-trips R] [--server NAME] [--quick]

Needs wrk, the peers and websockets (``toolchain/peers.sh``; a missing peer is skipped).
"""

from __future__ import annotations

import sys

from manygil.bench.serve_asgi_bench import main

if __name__ == "__main__":
    sys.exit(main())
