"""Process exit (main interpreter only): close every manygil interpreter before CPython
finalizes, and end the process promptly if one of them cannot be stopped.

The main interpreter must not finalize while another interpreter's thread still exists
(CPython then tears down an interpreter under a running thread: gh-126016, gh-122517).
A task stuck in one C call (``time.sleep``, a blocking ``recv``, a long C computation)
ignores interrupts until the call returns; CPython retries such calls after a signal
(PEP 475) and only the main thread of the main interpreter runs signal handlers, so
nothing can make it return early. Rather than waiting for it, the exit hook waits a short
grace period after interrupting it, then ends the process *without finalizing*: see
``docs/reliability.md``, "Process exit with a task stuck in C".
"""

from __future__ import annotations

import os
import signal
import sys

from .. import _native


def at_exit() -> None:
    """The atexit hook: stop every pool and interpreter; if some are still stuck after the
    grace period, end the process now with the status it would have had."""
    stuck = _native.shutdown()
    if stuck:
        end_process_without_finalizing(stuck)


# The code of the last SystemExit that left a `with Pool()` block (see note_system_exit).
_system_exit_code: object = None


def note_system_exit(exc: BaseException) -> None:
    """Remember the code of a ``SystemExit`` that is leaving a ``with Pool()`` block: CPython
    drops it before exit hooks run, and :func:`exit_status` needs it if the process must
    end without finalizing."""
    global _system_exit_code
    if isinstance(exc, SystemExit):
        _system_exit_code = exc.code


def exit_status() -> int | None:
    """The status CPython is about to exit with, as far as an exit hook can know it:
    ``None`` for an uncaught ``KeyboardInterrupt`` (CPython then kills itself with SIGINT),
    1 for another uncaught exception (its traceback is already printed), the code of a
    ``SystemExit`` that left a ``with Pool()`` block, else 0.

    A ``sys.exit(n)`` elsewhere is not visible to exit hooks (CPython drops the
    ``SystemExit`` before running them): it counts as 0 here.
    """
    exc = getattr(sys, "last_exc", None)  # set by the top level's traceback printing
    if exc is not None:
        return None if isinstance(exc, KeyboardInterrupt) else 1
    code = _system_exit_code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1  # sys.exit("message"): CPython prints it and exits with 1


def end_process_without_finalizing(stuck: list[int]) -> None:
    """Report the stuck interpreters, flush the main interpreter's standard streams and end
    the process at once (``os._exit``), with :func:`exit_status`."""
    try:
        status = exit_status()
        ids = ", ".join(map(str, stuck))
        sys.stderr.write(
            f"manygil: at exit, interpreter(s) {ids} still run code that does not stop (a "
            "blocking C call, or a thread a task left running); ending the process without "
            "finalizing Python (see docs/reliability.md)\n"
        )
    except BaseException:
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass
    if status is None:
        # As CPython does after an uncaught KeyboardInterrupt: die by SIGINT, so that the
        # parent (a shell, a test runner) sees the signal.
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            pass
        status = 128 + signal.SIGINT
    os._exit(status)
