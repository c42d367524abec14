"""numpy work for bench/bench_configs.py. numpy is imported at the top, as users write it,
so that ``Pool(fallback="process")`` sends these tasks to its process workers."""

from __future__ import annotations

import numpy as np


def crunch(n: int) -> float:
    """numpy calls on small arrays in a Python loop: the GIL is held most of the time."""
    a = np.arange(64, dtype=np.float64)
    total = 0.0
    for i in range(n):
        total += float((a * (i % 7)).sum())
    return total
