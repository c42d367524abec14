"""manygil serve against gunicorn (sync, gthread) and granian on the same Flask app.

The benchmark itself lives in ``manygil.bench.serve_bench`` (also run by
``python -m manygil bench --scenario serve``); install the peers with
``toolchain/peers.sh`` first.

    python bench/bench_serve.py [--workers N] [--duration S] [--connections C] [--quick]
"""

from __future__ import annotations

import sys

from manygil.bench.serve_bench import main

if __name__ == "__main__":
    sys.exit(main())
