"""Task functions in a module that imports a non-isolated extension (readline, in every
CPython build) at its top: own-GIL interpreters cannot load it, processes can."""

from __future__ import annotations

import os
import readline  # noqa: F401  (the point: this import is refused in own-GIL interpreters)
import time


class Box:
    """Instances sent as task arguments make the receiving interpreter import this module."""

    def __init__(self, value):
        self.value = value


def square(x):
    return x * x


def pid():
    return os.getpid()


def raise_value_error(msg):
    raise ValueError(msg)


def sleep_for(seconds):
    time.sleep(seconds)
    return "slept"


def flag_then_sleep(buf, seconds):
    """Set buf[0] = 1 (the test sees it start), then sleep."""
    buf[0] = 1
    time.sleep(seconds)
    return "slept"


def remembered():
    """What the pool's initializer stored in this worker (see ext_helpers.remember)."""
    import ext_helpers

    return ext_helpers.REMEMBERED
