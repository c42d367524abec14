"""Pickling a ``SharedBuffer`` shares its memory instead of copying it.

Every ``SharedBuffer`` lives in an anonymous memory file (memfd) mapped with
``MAP_SHARED``. Its pickle carries a duplicate of that file's descriptor, wrapped in
``multiprocessing.reduction.DupFd``: when the pickle goes to a process started by
``multiprocessing`` (or ``concurrent.futures.ProcessPoolExecutor``, or the process workers
of ``Pool(fallback="process")``), the receiving process gets the descriptor over a Unix
socket (``SCM_RIGHTS``; from the parent's ``resource_sharer``, or with the child's start
when the buffer is an argument of ``Process``) and maps the same bytes: zero-copy, whatever
the size. Each process's mapping keeps the memory alive on its own, so the memory lives
while any interpreter or process holds a buffer or a view of it.

It is not a serialization of the bytes: a pickle that is never loaded keeps a descriptor
in the sender's ``resource_sharer``, and one loaded by an unrelated process fails
(use ``bytes(buf)`` to save the contents).
"""

from __future__ import annotations

import os


def reduce(buf):
    """``copyreg`` reducer of ``manygil.SharedBuffer``."""
    from multiprocessing.reduction import DupFd

    return (rebuild, (DupFd(buf._fd()), buf.nbytes, not buf.writable))


def rebuild(dupfd, size: int, readonly: bool):
    """A ``SharedBuffer`` on the memory file received through ``dupfd``."""
    from . import SharedBuffer

    fd = dupfd.detach()
    try:
        return SharedBuffer._from_fd(fd, size, readonly)
    finally:
        os.close(fd)
