"""numpy tasks: the module imports numpy at its top, so its functions run in process
workers under Pool(fallback="process")."""

from __future__ import annotations

import numpy as np


def total(n):
    return float(np.arange(n, dtype=np.float64).sum())


def fill(buf, value):
    """Write ``value`` into every byte of a SharedBuffer through numpy; return the sum."""
    a = np.frombuffer(buf, dtype=np.uint8)
    a[:] = value
    return int(a.sum(dtype=np.int64))


def read_sum(buf):
    return int(np.frombuffer(buf, dtype=np.uint8).sum(dtype=np.int64))
