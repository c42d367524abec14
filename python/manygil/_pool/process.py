"""What a process worker of ``Pool(fallback="process")`` runs (a forkserver/spawn child of
``manygil._pool.procworkers``).

:func:`serve` runs the pool's initializer, then one task at a time from its pipe. A task's
timeout is enforced in the child with ``SIGALRM`` (the parent also fails the future at the
deadline and kills the child if the task has not stopped a grace period later), and a
running task is cancelled with ``SIGUSR1``: the parent writes the task's token into the
child's shared cancel target and then signals the child, which raises only if that token is
the one it runs (or checks it when the task starts), so a late signal never interrupts the
next task.

Ctrl-C in a terminal signals the whole process group: the children ignore ``SIGINT`` and
leave it to the parent, which cancels or interrupts their tasks.
"""

from __future__ import annotations

import pickle
import signal

TIMEOUT_MESSAGE = "the task ran past its timeout and was interrupted"
CANCEL_MESSAGE = "the task was cancelled while running"

#: The first word of the reply of a child whose initializer raised.
INIT_FAILED = "init-failed"

# Set by `serve` in each child: its cancel target (a shared int) and the running token.
_cancel = None
_token = 0


def serve(conn, cancel, setup: bytes) -> None:
    """The child's main loop: ``(call, args)`` pickled in, ``(ok, value)`` pickled out; an
    empty message (or the parent's end of the pipe closing) ends it. ``setup`` is the
    pickled ``(initializer, initargs)``. Functions and classes of the parent's script come
    by value (``manygil._wire.pickle.dumps_for_process``): this process never imports it."""
    global _cancel
    _cancel = cancel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGUSR1, _on_cancel)
    try:
        initializer, initargs = pickle.loads(setup)
    except BaseException as exc:
        _send(conn, INIT_FAILED, exc)
        return
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            _send(conn, INIT_FAILED, exc)
            return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:
            return
        try:
            call, args = pickle.loads(data)
            ok, value = True, call(*args)
        except BaseException as exc:
            ok, value = False, exc
        del data
        _send(conn, ok, value)
        del value


def _send(conn, ok, value) -> None:
    # By value, as the tasks came: a result of a class of the parent's script goes back
    # as that class (its tracker id), which pickling by name could not find here.
    from .._wire.pickle import dumps_for_process

    if ok is not True:
        value = _with_traceback(value)
    try:
        data = dumps_for_process((ok, value))
    except BaseException as exc:  # an unpicklable result or exception
        data = dumps_for_process((False, _with_traceback(exc)))
    conn.send_bytes(data)


def _with_traceback(exc: BaseException):
    """``exc`` pickled with its traceback as text (its ``__cause__`` in the parent), as
    ``ProcessPoolExecutor`` sends it."""
    try:
        from concurrent.futures.process import _ExceptionWithTraceback
    except ImportError:
        return exc
    return _ExceptionWithTraceback(exc, exc.__traceback__)


def _on_alarm(signum, frame):
    if _token:
        raise TimeoutError(TIMEOUT_MESSAGE)


def _on_cancel(signum, frame):
    if _token and _cancel is not None and _cancel.value == _token:
        _cancel.value = 0
        import concurrent.futures

        raise concurrent.futures.CancelledError(CANCEL_MESSAGE)


class _Running:
    """Marks ``token`` as running in this child and arms the timeout."""

    def __init__(self, token: int, timeout: float | None):
        self.token, self.timeout = token, timeout

    def __enter__(self):
        global _token
        _token = self.token
        if _cancel is not None and _cancel.value == self.token:  # cancelled before it started
            _token = 0
            import concurrent.futures

            raise concurrent.futures.CancelledError(CANCEL_MESSAGE)
        if self.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 1e-6))

    def __exit__(self, *exc):
        global _token
        if self.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _token = 0


def run_call(token: int, timeout: float | None, fn, args, kwargs):
    """``fn(*args, **kwargs)`` under the task's timeout."""
    with _Running(token, timeout):
        return fn(*args, **kwargs)


def run_chunk(token: int, timeout: float | None, fn, items):
    """``[fn(*a) for a in items]`` (one ``map`` chunk) under the task's timeout."""
    with _Running(token, timeout):
        return [fn(*a) for a in items]
