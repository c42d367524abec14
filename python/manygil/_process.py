"""What a process worker of ``Pool(fallback="process")`` runs (in a spawned/forkserver child).

A task's timeout is enforced in the child with ``SIGALRM`` (the tasks of a
``ProcessPoolExecutor`` run in the child's main thread), and a running task is cancelled
with ``SIGUSR1``: the parent writes the task's token into the child's slot of a shared
board and then signals the child, which raises only if that token is still the one it
runs, so a late signal never interrupts the next task. A task cancelled after the
executor handed it to a child but before it started is listed in the board's ring of
cancelled tokens, which a child reads before starting a task.

The board is a shared ``multiprocessing.Array("q")``: ``SLOTS`` triples ``(pid, running
token, cancel target)`` then ``RING`` cancelled tokens and the ring's next index.
"""

from __future__ import annotations

import os
import signal

TIMEOUT_MESSAGE = "the task ran past its timeout and was interrupted"
CANCEL_MESSAGE = "the task was cancelled while running"

RING = 64

# Set by `init` in each child: the shared board and this child's slot in it.
_board = None
_slot = -1


def new_board(ctx, workers: int):
    """The shared board for a process pool of ``workers`` (room for replaced children)."""
    return ctx.Array("q", 3 * 2 * workers + RING + 1)


def _slots(board) -> range:
    return range(0, len(board) - RING - 1, 3)


def init(board, initializer, initargs) -> None:
    """The child's initializer: take a slot on ``board``, install the signal handlers, then
    run the pool's own initializer (if it raises, the process pool is broken)."""
    global _board, _slot
    _board = board
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGUSR1, _on_cancel)
    pid = os.getpid()
    with board.get_lock():
        for i in _slots(board):
            if board[i] == 0 or not _alive(board[i]):
                board[i], board[i + 1], board[i + 2] = pid, 0, 0
                _slot = i
                break
    if initializer is not None:
        initializer(*initargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _on_alarm(signum, frame):
    raise TimeoutError(TIMEOUT_MESSAGE)


def _on_cancel(signum, frame):
    if _board is None or _slot < 0:
        return
    with _board.get_lock():
        token, target = _board[_slot + 1], _board[_slot + 2]
        hit = token != 0 and token == target
        if hit:
            _board[_slot + 2] = 0
    if hit:
        import concurrent.futures

        raise concurrent.futures.CancelledError(CANCEL_MESSAGE)


class _Running:
    """Marks ``token`` as running on this child's slot and arms the timeout."""

    def __init__(self, token: int, timeout: float | None):
        self.token, self.timeout = token, timeout

    def __enter__(self):
        if _board is not None and _slot >= 0:
            with _board.get_lock():
                ring = _board[len(_board) - RING - 1 : len(_board) - 1]
                if self.token in ring:
                    import concurrent.futures

                    raise concurrent.futures.CancelledError(CANCEL_MESSAGE)
                _board[_slot + 1], _board[_slot + 2] = self.token, 0
        if self.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 1e-6))

    def __exit__(self, *exc):
        if self.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if _board is not None and _slot >= 0:
            with _board.get_lock():
                _board[_slot + 1], _board[_slot + 2] = 0, 0


def run_call(token: int, timeout: float | None, fn, args, kwargs):
    """``fn(*args, **kwargs)`` under the task's timeout."""
    with _Running(token, timeout):
        return fn(*args, **kwargs)


def run_chunk(token: int, timeout: float | None, fn, items):
    """``[fn(*a) for a in items]`` (one ``map`` chunk) under the task's timeout."""
    with _Running(token, timeout):
        return [fn(*a) for a in items]


def cancel(board, token: int) -> bool:
    """Parent side: interrupt the running task ``token``, or make a child skip it if it has
    not started; True if a running task was signalled."""
    with board.get_lock():
        for i in _slots(board):
            if board[i] != 0 and board[i + 1] == token:
                board[i + 2] = token
                pid = board[i]
                break
        else:
            # Not started yet (or already done): a child will skip it.
            at = len(board) - 1
            board[at - RING + board[at] % RING] = token
            board[at] = (board[at] + 1) % RING
            return False
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return False
    return True
