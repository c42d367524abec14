"""Queues shared by every interpreter: the exceptions, ``wait_any`` and the asyncio side of
``Queue.aget`` / ``Queue.aput``.

``manygil.Queue`` itself is the native type (``manygil._native.Queue``); see its docstring.

How ``aget``/``aput`` wait without blocking the event loop: each running loop gets one
:class:`_Waker`, an ``eventfd`` (a pipe where there is none) registered with
``loop.add_reader``. A waiting ``aget`` subscribes the queue to the waker: the queue's Rust
side then writes to (its own duplicate of) the eventfd after every put and at close, from
whichever thread and interpreter changed the queue, without needing any GIL. The loop wakes
on the readable fd, resolves the futures its waiting coroutines sleep on, and each retries
``get_nowait``. No thread per call, no polling; a cancelled ``aget`` takes nothing.
"""

from __future__ import annotations

import os
import weakref

from . import _native

__all__ = [
    "Queue",
    "QueueError",
    "QueueEmpty",
    "QueueFull",
    "QueueClosed",
    "wait_any",
]

Queue = _native.Queue


# QueueError, QueueEmpty (also a queue.Empty), QueueFull (also a queue.Full) and
# QueueClosed (also a queue.ShutDown) are made by the native module in each interpreter.
QueueError = _native.QueueError
QueueEmpty = _native.QueueEmpty
QueueFull = _native.QueueFull
QueueClosed = _native.QueueClosed


def wait_any(queues, timeout=None):
    """Block until one of ``queues`` has an item (or is closed) and return that queue.

    Waits with the GIL released, for at most ``timeout`` seconds (None: forever; a negative
    timeout raises ValueError), and returns None if the timeout passes first. If several
    are ready, the first in ``queues`` order is returned. Nothing is taken: another consumer
    may get the item first, so follow up with ``get_nowait()`` and call again on
    QueueEmpty. Ctrl-C in the main thread interrupts the wait. ``queues`` must be a
    non-empty iterable of manygil.Queue (ValueError if empty, TypeError otherwise).
    """
    queues = list(queues)
    index = _native.Queue._wait_any(queues, timeout)
    return None if index is None else queues[index]


# --- asyncio ---------------------------------------------------------------------------


class _Waker:
    """One event loop's wake-up file descriptor and the futures waiting on it."""

    def __init__(self, loop):
        if hasattr(os, "eventfd"):
            self.rfd = self.wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - Linux has eventfd
            self.rfd, self.wfd = os.pipe()
            os.set_blocking(self.rfd, False)
            os.set_blocking(self.wfd, False)
        self.futures: set = set()
        loop.add_reader(self.rfd, self._ready)
        # Close the descriptors once the loop is gone (the queue side writes to its own
        # duplicates, so closing ours is always safe).
        weakref.finalize(loop, _close_fds, self.rfd, self.wfd)

    def _ready(self):
        try:
            os.read(self.rfd, 4096)
        except BlockingIOError:
            pass
        futures, self.futures = self.futures, set()
        for f in futures:
            if not f.done():
                f.set_result(None)

    def future(self, loop):
        f = loop.create_future()
        self.futures.add(f)
        return f


def _close_fds(rfd, wfd):
    for fd in {rfd, wfd}:
        try:
            os.close(fd)
        except OSError:
            pass


_wakers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _waker(loop) -> _Waker:
    w = _wakers.get(loop)
    if w is None:
        w = _wakers[loop] = _Waker(loop)
    return w


async def _wait_until(q, space: bool, attempt):
    """Run ``attempt()`` until it does not raise QueueEmpty/QueueFull, sleeping on the
    loop's waker in between (the subscription is made before the first retry, so no change
    of the queue can be missed)."""
    import asyncio  # here: asyncio is heavy, and most interpreters never need it

    loop = asyncio.get_running_loop()
    waker = _waker(loop)
    sub = q._subscribe(waker.wfd, space)
    try:
        while True:
            f = waker.future(loop)
            try:
                return attempt()
            except (QueueEmpty, QueueFull):
                pass
            try:
                await f
            finally:
                waker.futures.discard(f)
    finally:
        q._unsubscribe(sub)


async def _aget(q):
    try:
        return q.get_nowait()
    except QueueEmpty:
        pass
    return await _wait_until(q, False, q.get_nowait)


async def _aput(q, obj):
    try:
        return q.put_nowait(obj)
    except QueueFull:
        pass
    return await _wait_until(q, True, lambda: q.put_nowait(obj))
