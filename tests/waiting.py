"""The one way the tests wait: on observable state, polled, with a deadline (never a sleep
and then an assert). Plain stdlib, so it imports anywhere: the test process, interpreters
made by manygil, the scripts the tests run, a server's worker interpreters."""

from __future__ import annotations

import time


def wait_for_state(ready, what, timeout: float = 60.0, poll: float = 0.001) -> None:
    """Return once ``ready()`` is true, checking it every ``poll`` seconds.

    Fails (``AssertionError: never happened: <what>``) after ``timeout`` seconds, a bound
    no correct run comes near: it exists so that a broken run fails instead of hanging.
    ``what`` is a str, or a function returning one (called only then, so it can say what
    was seen last).
    """
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            raise AssertionError(f"never happened: {what() if callable(what) else what}")
        time.sleep(poll)
