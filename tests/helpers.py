"""Module-level functions the tests send into interpreters (found by module + name)."""

from __future__ import annotations

import math
import sys

# A closure-free lambda: not reachable by name, so it travels as code and runs with this
# module's globals.
PI_LAMBDA = lambda: math.pi  # noqa: E731


def identity(x):
    return x


def add(a, b=0, *, c=0):
    return a + b + c


def current_id():
    import manygil

    return manygil.get_current().id


def native_ids():
    """Identities of the native module and its heap type in the calling interpreter."""
    from manygil import _native

    return id(_native), id(_native.PendingCall)


def raise_value_error(*args):
    raise ValueError(*args)


def raise_system_exit(code):
    sys.exit(code)


def raise_keyboard_interrupt():
    raise KeyboardInterrupt


def recurse(n):
    return recurse(n + 1)


def spin(seconds):
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def spin_forever():
    while True:
        pass


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def import_module(name):
    import importlib

    importlib.import_module(name)
    return name


def sqlite_with_python_function():
    """sqlite3 calls Python callbacks through PyGILState_*: must work in an isolate."""
    import sqlite3

    con = sqlite3.connect(":memory:")
    con.create_function("twice", 1, lambda x: 2 * x)
    return con.execute("select twice(21)").fetchone()[0]


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self):
        return hash((self.x, self.y))


class CustomError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code, self.detail = code, detail


def raise_custom(code):
    raise CustomError(code, "detail")


def make_local_class_instance():
    class Local:
        pass

    return Local()


def make_generator():
    return (i for i in range(3))


def main_dict_keys():
    import __main__

    return sorted(k for k in vars(__main__) if not k.startswith("__"))


def main_value(name):
    """``__main__.<name>`` in the calling interpreter."""
    import __main__

    return getattr(__main__, name)


def raise_memory_error():
    raise MemoryError("simulated")


def interp_id_after(seconds=0.0):
    """This interpreter's id (after an optional pause, to spread tasks over workers)."""
    import time

    import manygil

    time.sleep(seconds)
    return manygil.get_current().id


def initializer_sets(value):
    import builtins

    builtins._manygil_test_init = value


def read_initialized():
    import builtins

    return getattr(builtins, "_manygil_test_init", None)


def failing_initializer():
    raise ValueError("error in initializer")


def sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


def square(x):
    return x * x


def spin_forever_arg(_):
    while True:
        pass


def spin_then(seconds, value):
    """Busy-wait in Python code (interruptible), then return ``value``."""
    spin(seconds)
    return value


def stuck_in_c(seconds):
    """Block in one C call (`time.sleep`): before 3.15 interrupts wait until it returns."""
    import time

    time.sleep(seconds)
    return "returned"


def call_into(target_id, *then):
    """Synchronously call ``call_into(*then)`` (or ``add(1, 1)`` at the end) in ``target_id``."""
    from manygil import interpreters

    target = interpreters.Interpreter(target_id)
    if then:
        return target.call(call_into, *then)
    return target.call(add, 1, 1)


def wait_event_then(event, value):
    """Block on a manygil.Event (shared with the caller), then return value."""
    event.wait()
    return value


def spin_unless_zero(x):
    """Return 0 at once; spin (interruptibly) forever for anything else."""
    if x == 0:
        return 0
    while True:
        pass


def read_fd(fd):
    """Block in one C call (``os.read``) until a byte arrives on ``fd``: interrupts cannot
    stop it; the test writes to the pipe to let it go."""
    import os

    return os.read(fd, 1)


def read_fd_through_interrupts(fd):
    """Block in ``os.read`` until a byte arrives on ``fd``, swallowing interrupts (on 3.15+
    an interrupt makes the read return early with it): stuck in C until the test writes."""
    import os

    while True:
        try:
            return os.read(fd, 1)
        except BaseException:
            pass


def ignore_interrupts_until_set(event):
    """Keep running through interrupts (KeyboardInterrupt is swallowed) until ``event``."""
    while not event.is_set():
        try:
            event.wait(0.01)
        except KeyboardInterrupt:
            pass
    return "released"


def double_queue_items(q_in, q_out):
    """Move ``x * 2`` from ``q_in`` to ``q_out`` until a None arrives; return the count."""
    n = 0
    while (x := q_in.get()) is not None:
        q_out.put(x * 2)
        n += 1
    return n


def days_between(start, end):
    """Days from ISO date ``start`` to ``end``; imports datetime where it runs."""
    import datetime

    return (datetime.date.fromisoformat(end) - datetime.date.fromisoformat(start)).days


def modules_loaded(_anything, names):
    """Which of ``names`` are in ``sys.modules`` where this runs (after ``_anything``,
    e.g. a handle, was decoded there)."""
    return [m for m in names if m in sys.modules]


def sleep_through_interrupts(seconds, started=None):
    """Sit in ``time.sleep`` for ``seconds``, whatever interrupts arrive: one that lands
    while the call sleeps is raised only when it returns; one that lands between calls is
    swallowed and the sleep goes on (so the task is stuck in C however the timing falls).
    Sets the manygil.Event ``started`` (if given) once interrupts can no longer stop it."""
    import time

    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            if started is not None:
                started.set()
            time.sleep(left)
        except BaseException:
            pass
    return "slept"


def recv_forever(started=None):
    """Sit in ``recv`` on a socketpair nobody writes to, forever, swallowing interrupts that
    land between calls (CPython retries ``recv`` after a signal itself: PEP 475). Sets the
    manygil.Event ``started`` (if given) once interrupts can no longer stop it."""
    import socket

    a, b = socket.socketpair()  # b stays open (referenced below): recv never gets EOF
    while True:
        try:
            if started is not None:
                started.set()
            a.recv(1)
        except BaseException:
            pass
        b.fileno()


def hold_gil_in_c(seconds, done=None):
    """Sit in one C call *with the GIL held* (libc ``sleep`` through ``ctypes.PyDLL``) for
    ``seconds``: nothing, not even an interrupter, gets this interpreter's GIL meanwhile.
    Sets the manygil.Event ``done`` (if given) once it has returned."""
    import ctypes

    ctypes.PyDLL(None).sleep(seconds)
    if done is not None:
        done.set()
    return "returned"


def ratio(a, b):
    """``a / b`` (ZeroDivisionError for b == 0)."""
    return a / b


def resize_or_write(buf):
    """In another process: try to shrink the buffer's memory file and to write through a
    writable mapping of it; returns what each attempt raised (``None`` if it worked)."""
    import mmap
    import os

    out = []
    try:
        os.ftruncate(buf._fd(), 0)
        out.append(None)
    except OSError as e:
        out.append(e.errno)
    try:
        m = mmap.mmap(buf._fd(), len(buf), prot=mmap.PROT_READ | mmap.PROT_WRITE)
        m[0:1] = b"X"
        m.close()
        out.append(None)
    except (OSError, PermissionError) as e:
        out.append(e.errno)
    return out, buf.writable, bytes(buf[0:3])
