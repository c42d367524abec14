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
    """``copyreg`` reducer of ``manygil.SharedBuffer``. A read-only handle sends a
    descriptor opened read-only: the receiving process maps it read-only and cannot write
    through it (the memory file's size is sealed, so no process can resize it either)."""
    from multiprocessing.reduction import DupFd

    if buf.writable:
        return (rebuild, (DupFd(buf._fd()), buf.nbytes, False))
    from multiprocessing.context import get_spawning_popen

    fd = os.open(f"/proc/self/fd/{buf._fd()}", os.O_RDONLY | os.O_CLOEXEC)
    shared = DupFd(fd)
    if get_spawning_popen() is None:
        os.close(fd)  # the resource sharer holds its own duplicate
    # (else the process being started inherits fd itself: it stays open in this one)
    return (rebuild, (shared, buf.nbytes, True))


def rebuild(dupfd, size: int, readonly: bool):
    """A ``SharedBuffer`` on the memory file received through ``dupfd``."""
    from .._native import SharedBuffer

    fd = dupfd.detach()
    try:
        return SharedBuffer._from_fd(fd, size, readonly)
    finally:
        os.close(fd)
