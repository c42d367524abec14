"""Task functions and deterministic inputs of the benchmark scenarios.

Everything here runs inside workers (threads, processes, sub-interpreters), so the module
is pure Python, imports only the standard library, and never imports ``manygil``. Task
functions are module-level so that every backend can send them by reference
(module + qualified name). No function here blocks except :func:`fetch` (network I/O
with a timeout) and :func:`warmup` (a bounded wait on a filesystem barrier).
"""

import hashlib
import html
import json
import os
import threading
import time
import urllib.parse
import urllib.request

#: Sizes per mode. Task counts are fixed (they do not follow ``--workers``) so that the
#: expected results below stay valid; pick a mode, not a size.
PARAMS = {
    "web": {
        "quick": {"requests": 300, "items": 300},
        "full": {"requests": 3000, "items": 300},
    },
    "image": {
        "quick": {"images": 16, "width": 192, "height": 192},
        "full": {"images": 32, "width": 512, "height": 512},
    },
    "download": {
        "quick": {"requests": 24, "latency_ms": 20, "body_bytes": 16384},
        "full": {"requests": 96, "latency_ms": 20, "body_bytes": 65536},
    },
    "micro": {
        "quick": {
            "roundtrips": 200,
            "tiny_tasks": 20000,
            "chunksize": 256,
            "transfer_mib": 16,
            "cpu_tasks": 16,
            "cpu_loops": 300000,
        },
        "full": {
            "roundtrips": 2000,
            "tiny_tasks": 200000,
            "chunksize": 256,
            "transfer_mib": 16,
            "cpu_tasks": 32,
            "cpu_loops": 1500000,
        },
    },
}


# --- helpers -------------------------------------------------------------------------------


def combine(digests):
    """Return one sha256 hex digest over a sequence of strings, in order."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
        h.update(b"\n")
    return h.hexdigest()


# --- micro ---------------------------------------------------------------------------------


def noop():
    """Do nothing; used to time one round trip through an executor."""
    return None


def script_noop():
    """A ``noop`` defined as in a user's script (its ``__module__`` is ``__main__``), so
    that it travels by value as the README quick start's functions do; like most script
    functions it reads a global of the script."""
    ns = {"__name__": "__main__", "NOTHING": None}
    exec("def noop():\n    return NOTHING\n", ns)
    return ns["noop"]


def square(x):
    """Return ``x * x``; a tiny task for throughput through ``map``."""
    return x * x


def nbytes(data):
    """Return ``(size, first byte, last byte)`` of any buffer (bytes, memoryview, ...)."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view.nbytes, view[0], view[-1]


def transfer_payload(mib):
    """Return ``mib`` MiB of bytes with a known first and last byte (1 and 2)."""
    size = mib * 1024 * 1024
    return b"\x01" + bytes(size - 2) + b"\x02"


def spin(loops, seed):
    """CPU-bound pure-Python loop (an LCG); returns the final 32-bit state."""
    x = seed
    for i in range(loops):
        x = (x * 1103515245 + 12345 + i) & 0xFFFFFFFF
    return x


def warmup(barrier_dir, parties, timeout=120.0):
    """Register in ``barrier_dir`` then wait until ``parties`` tasks have registered.

    A filesystem barrier that works the same across threads, processes and
    sub-interpreters; it forces each of ``parties`` workers to hold one task at once, so
    a pool has started all of its workers when every call has returned. Blocks at most
    ``timeout`` seconds, then raises :class:`TimeoutError` (or :class:`OSError` once the
    directory is gone). Returns the worker's identity, ``"<pid>:<thread id>"``.
    """
    marker = os.path.join(barrier_dir, os.urandom(8).hex())
    with open(marker, "w"):
        pass
    deadline = time.monotonic() + timeout
    while len(os.listdir(barrier_dir)) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"warm-up barrier: fewer than {parties} workers started")
        time.sleep(0.001)
    return f"{os.getpid()}:{threading.get_ident()}"


# --- scenario 1: web -----------------------------------------------------------------------

_PAGE = (
    "<!doctype html><html><head><title>Orders of {user}</title></head><body>"
    "<h1>Orders of {user}</h1><p>page {page}, sorted by {sort}</p>"
    "<table>{rows}</table><p>total {total}</p></body></html>"
)
_ROW = '<tr class="{cls}"><td>{i}</td><td>{name}</td><td>{qty}</td><td>{price:.2f}</td></tr>'


def make_queries(requests, items):
    """Return ``requests`` deterministic query strings, each listing ``items`` items."""
    queries = []
    for r in range(requests):
        pairs = [("user", f"user{r % 97}&<co>"), ("page", str(r % 7)), ("sort", "price")]
        pairs += [("item", f"sku-{(r * 31 + i) % 1009}:{(r + i) % 5 + 1}") for i in range(items)]
        queries.append(urllib.parse.urlencode(pairs))
    return queries


def handle_request(query):
    """Handle one web request: parse, render HTML, JSON-encode, hash; returns hex digest."""
    params = urllib.parse.parse_qs(query, strict_parsing=True)
    user = params["user"][0]
    rows = []
    total = 0.0
    for i, item in enumerate(params["item"]):
        name, qty = item.rsplit(":", 1)
        price = (sum(name.encode()) % 1000) / 10 * int(qty)
        total += price
        cls = "odd" if i % 2 else "even"
        rows.append(_ROW.format(cls=cls, i=i, name=html.escape(name), qty=qty, price=price))
    page = _PAGE.format(
        user=html.escape(user),
        page=int(params["page"][0]),
        sort=html.escape(params["sort"][0]),
        rows="".join(rows),
        total=f"{total:.2f}",
    )
    response = {"status": 200, "user": user, "items": len(rows), "html": page}
    body = json.dumps(response, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()


# --- scenario 2: image ---------------------------------------------------------------------


def make_image(index, width, height):
    """Return deterministic RGB pixels (``width * height * 3`` bytes) for image ``index``."""
    rows = []
    for y in range(height):
        base = (y * 7 + index * 41) & 0xFF
        rows.append(
            bytes(
                ((x * 3 + base) ^ (x * y >> 3) ^ (c * 85 + index)) & 0xFF
                for x in range(width)
                for c in range(3)
            )
        )
    return b"".join(rows)


def blur_downsize(pixels, width, height):
    """Box-blur (3x3, edges replicated) then halve an RGB image; returns a 16-hex checksum.

    ``pixels`` is any buffer of ``width * height * 3`` bytes (bytes, or an object exposing
    the buffer protocol such as ``manygil.SharedBuffer``); it is read through a memoryview.
    """
    src = memoryview(pixels)
    if src.format != "B" or src.ndim != 1:
        src = src.cast("B")
    stride = width * 3
    if src.nbytes != stride * height:
        raise ValueError(f"expected {stride * height} bytes, got {src.nbytes}")
    horizontal = []
    for y in range(height):
        row = src[y * stride : (y + 1) * stride].tolist()
        left = row[:3] + row[:-3]
        right = row[3:] + row[-3:]
        horizontal.append([a + b + c for a, b, c in zip(left, row, right, strict=True)])
    out = hashlib.sha256()
    last = height - 1
    for y in range(0, height - 1, 2):
        pair = []
        for yy in (y, y + 1):
            up, mid, down = (
                horizontal[max(yy - 1, 0)],
                horizontal[yy],
                horizontal[min(yy + 1, last)],
            )
            pair.append([(a + b + c) // 9 for a, b, c in zip(up, mid, down, strict=True)])
        summed = [a + b for a, b in zip(pair[0], pair[1], strict=True)]
        line = bytearray(stride // 2)
        for c in range(3):
            even, odd = summed[c::6], summed[3 + c :: 6]
            line[c::3] = bytes([(a + b) // 4 for a, b in zip(even, odd, strict=True)])
        out.update(line)
    return out.hexdigest()[:16]


# --- scenario 3: download ------------------------------------------------------------------


def body_for(index, size):
    """Return the deterministic body the loopback server sends for item ``index``."""
    seed = hashlib.sha256(f"item-{index}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def fetch(url, timeout=30.0):
    """GET ``url`` (blocks up to ``timeout`` s); returns the sha256 hex digest of the body.

    Raises :class:`urllib.error.URLError` on connection errors and on HTTP error codes.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return hashlib.sha256(response.read()).hexdigest()
