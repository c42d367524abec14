"""Task functions in a module that imports a non-isolated extension (readline, in every
CPython build) at its top: own-GIL interpreters cannot load it, processes can."""

from __future__ import annotations

import os
import readline  # noqa: F401  (the point: this import is refused in own-GIL interpreters)
import time


class Box:
    """Instances sent as task arguments make the receiving interpreter import this module."""

    def __init__(self, value):
        self.value = value


def square(x):
    return x * x


def pid():
    return os.getpid()


def raise_value_error(msg):
    raise ValueError(msg)


def sleep_for(seconds):
    time.sleep(seconds)
    return "slept"


def flag_then_sleep(buf, seconds):
    """Set buf[0] = 1 (the test sees it start), then sleep."""
    buf[0] = 1
    time.sleep(seconds)
    return "slept"


def flag_then_wait(flags, i):
    """Set flags[i] = 1 (the test sees it run), then wait until the test sets flags[0]."""
    from waiting import wait_for_state

    flags[i] = 1
    wait_for_state(lambda: flags[0] == 1, "the test releases the task", timeout=120)
    return "released"


def remembered():
    """What the pool's initializer stored in this worker (see ext_helpers.remember)."""
    import ext_helpers

    return ext_helpers.REMEMBERED


def die_by_signal(signum):
    """End this process worker by a signal (kill -9: SIGKILL, a segfault: SIGSEGV)."""
    import signal

    if signum != signal.SIGKILL:
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(60)  # the signal ends the process before this returns


def exit_now(code):
    """End this process worker at once, as a library calling os._exit does."""
    os._exit(code)


def block_alarm_then_sleep(buf, seconds):
    """Block SIGALRM (which enforces a process task's timeout), set buf[0] = 1, sleep."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    buf[0] = 1
    time.sleep(seconds)
    return "slept"


def pbkdf2(iterations, started=None):
    """A long computation in one C call (hashlib releases the GIL and checks no signal);
    sets started[0] = 1 first if given."""
    import hashlib

    if started is not None:
        started[0] = 1
    return hashlib.pbkdf2_hmac("sha256", b"password", b"salt", iterations).hex()


def segfault():
    """Crash this process worker with a real segmentation fault (reading address 0)."""
    import ctypes

    ctypes.string_at(0)
