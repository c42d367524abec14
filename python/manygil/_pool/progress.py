"""Progress bars for ``Pool.map(..., progress=True)``: tqdm when installed, else a small
built-in bar on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator


def track(results: Iterator, total: int | None) -> Iterator:
    """Yield from ``results`` while drawing progress on stderr."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield from _builtin(results, total)
        return
    with tqdm(total=total, file=sys.stderr) as bar:
        for r in results:
            bar.update(1)
            yield r


def _builtin(results: Iterator, total: int | None) -> Iterator:
    out = sys.stderr
    done, last, start = 0, 0.0, time.monotonic()

    def draw(final=False):
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r[{bar}] {done}/{total} {rate:,.0f}/s"
        else:
            line = f"\r{done} done {rate:,.0f}/s"
        out.write(line + ("\n" if final else ""))
        out.flush()

    try:
        for r in results:
            done += 1
            now = time.monotonic()
            if now - last > 0.1:
                last = now
                draw()
            yield r
    finally:
        draw(final=True)
