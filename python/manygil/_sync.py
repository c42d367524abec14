"""Synchronization primitives shared by every interpreter, with :mod:`threading`'s names
and semantics: ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``, ``Event``,
``Condition``, ``Barrier``, plus ``AtomicInt``.

They are native types (``manygil._native``); see their docstrings. Passing one to another
interpreter (call argument, ``prepare_main``, a queue) gives it the same primitive. Every
wait releases the GIL; Ctrl-C in the main thread interrupts it, and in an interpreter made
by manygil, ``Interpreter`` interrupts (call timeouts, Ctrl-C forwarded to a call, exit)
reach it within about 0.1 s. ``RLock`` ownership is per thread *and* interpreter.
"""

from __future__ import annotations

from threading import BrokenBarrierError

from ._native import (
    AtomicInt,
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    Lock,
    RLock,
    Semaphore,
)

__all__ = [
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Condition",
    "Barrier",
    "BrokenBarrierError",
    "AtomicInt",
]
