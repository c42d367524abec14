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


def run_threads(target, count: int | None = None, *, args=None, timeout: float = 120.0) -> None:
    """Run ``target`` on ``count`` threads at once (``target()``), or on one thread per
    item of ``args`` (``target(*item)``), and wait for all of them.

    Fails if a thread is still running ``timeout`` seconds after the start (a bound no
    correct run comes near), or if a thread raised (the first exception is chained, and
    the message lists them all), so callers need no list of errors of their own.
    """
    import threading

    calls = [()] * count if args is None else [tuple(a) for a in args]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(*a) -> None:
        try:
            target(*a)
        except BaseException as e:  # noqa: BLE001 - reported below, from the caller's thread
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=run, args=a) for a in calls]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = sum(t.is_alive() for t in threads)
    if alive:
        raise AssertionError(
            f"{alive} of {len(threads)} thread(s) still running after {timeout:g} s"
        )
    if errors:
        raise AssertionError(f"{len(errors)} thread(s) raised: {errors!r}") from errors[0]
