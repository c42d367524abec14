"""Pure-Python task functions for tests/test_fallback.py and tests/test_shared_buffer.py:
unlike ``refused_helpers``, this module itself loads in own-GIL interpreters, so its
functions run in interpreters until something they do needs a process."""

from __future__ import annotations

import importlib


def count_then_import(buf, name):
    """Count a run in buf[0], then import ``name`` (fails mid-run if it is refused)."""
    buf[0] += 1
    importlib.import_module(name)
    return "imported"


def box_value(box):
    return box.value


def write_byte(buf, at, value):
    buf[at] = value
    return bytes(buf[:4])


def new_buffer(data):
    """Return a SharedBuffer made here (in a process: the parent maps the same file)."""
    import manygil

    return manygil.SharedBuffer.from_bytes(data)


REMEMBERED = None


def remember(value):
    """A pool initializer: set a module global in each worker."""
    global REMEMBERED
    REMEMBERED = value
