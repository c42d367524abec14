"""Own-GIL interpreters with the names and behaviour of 3.14's ``concurrent.interpreters``
(PEP 734), on Python 3.13, 3.14 and 3.15.

Each interpreter made by :func:`create` lives on its own OS thread and has its own GIL, so
calls into different interpreters run in parallel (``create(config="legacy")`` makes one
that shares the main interpreter's GIL instead: see ``manygil.InterpreterConfig``). Calls block the calling thread (with its
GIL released) until done; Ctrl-C in the main thread interrupts the call.
"""

from __future__ import annotations

import threading
import weakref

from . import _native
from ._config import InterpreterConfig
from ._config import coerce as _coerce_config
from ._errors import (
    ExecutionFailed,
    InterpreterError,
    InterpreterNotFoundError,
    NotShareableError,
)
from ._queue import Queue, QueueEmpty, QueueError, QueueFull
from ._wire.remote import excinfo as _excinfo
from ._wire.remote import rebuild as _rebuild

__all__ = [
    "InterpreterConfig",
    "get_current",
    "get_main",
    "create",
    "list_all",
    "is_shareable",
    "Interpreter",
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "create_queue",
    "Queue",
    "QueueError",
    "QueueEmpty",
    "QueueFull",
]


def create_queue(maxsize: int = 0) -> Queue:
    """A new queue that every interpreter can use (3.14's ``create_queue``): a
    ``manygil.Queue`` holding at most ``maxsize`` items (0: no limit). Pass it to another
    interpreter (a call argument, ``prepare_main``, inside any object) and it is the same
    queue there. ``get`` raises QueueEmpty on timeout and ``put`` QueueFull, as in 3.14;
    they also are ``queue.Empty`` / ``queue.Full``. ValueError for a negative ``maxsize``."""
    if isinstance(maxsize, bool) or not isinstance(maxsize, int):
        raise TypeError(f"maxsize must be an int, not {type(maxsize).__name__}")
    if maxsize < 0:
        raise ValueError(f"maxsize must be 0 (no limit) or more, got {maxsize}")
    return Queue(maxsize)


def is_shareable(obj) -> bool:
    """Whether ``obj`` crosses interpreters natively (copied without pickle): None, bool,
    int, float, complex, str, bytes, bytearray and tuple/list/dict/set/frozenset of those."""
    return _native.is_shareable(obj)


def create(
    *,
    name: str | None = None,
    config: InterpreterConfig | str | None = None,
    _origin: str = "create",
) -> Interpreter:
    """Return a new idle interpreter (own thread, this process's ``sys.path``).

    ``name`` (default ``interpreter-<id>``) is its :attr:`Interpreter.name`, shown in
    snapshots and logs: 1 to 200 characters, no control characters (else ValueError;
    TypeError if not a str). ``config`` sets it up: an :class:`~manygil.InterpreterConfig`
    or a preset name; ``None`` is ``"isolated"`` (its own GIL: runs in parallel with every
    other interpreter). ``"legacy"`` shares the main interpreter's GIL and allocator so
    that extension modules without sub-interpreter support import, without parallelism
    (docs/configs.md). Blocks until the interpreter is ready (a few ms).

    Raises TypeError/ValueError for a bad ``name`` or ``config`` (nothing is created),
    InterpreterError if CPython cannot create it (e.g. at shutdown).
    """
    import sys

    values = _coerce_config(config)._values()
    id = _native.create(list(sys.path), name, _origin, values)
    return Interpreter(id, _whence=_native.WHENCE_MANYGIL, _owned=True)


def list_all() -> list[Interpreter]:
    """Return the main interpreter and every manygil interpreter that exists now, by
    increasing id: those of :func:`create`, the workers of every ``Pool`` and of
    ``manygil serve`` (:attr:`Interpreter.origin` says which). A pool's or server's
    workers take work only from it: their ``call``/``exec``/``close`` raise
    InterpreterError."""
    out = []
    for id, whence in _native.list_all():
        try:
            out.append(Interpreter(id, _whence=whence))
        except InterpreterNotFoundError:
            pass
    return out


def get_current() -> Interpreter:
    """Return the interpreter the calling code runs in."""
    id, whence = _native.get_current()
    return Interpreter(id, _whence=whence)


def get_main() -> Interpreter:
    """Return the main interpreter."""
    id, whence = _native.get_main()
    return Interpreter(id, _whence=whence)


_known: weakref.WeakValueDictionary[int, Interpreter] = weakref.WeakValueDictionary()

_WHENCE_TO_STR = {
    _native.WHENCE_UNKNOWN: "unknown",
    _native.WHENCE_RUNTIME: "runtime init",
    _native.WHENCE_MANYGIL: "manygil",
}


class Interpreter:
    """A single Python interpreter.

    ``id`` is the process-unique interpreter id; ``whence`` says where it was created
    (``"runtime init"`` for the main interpreter, ``"manygil"`` for those from
    :func:`create`). Only manygil's interpreters accept ``close``, ``prepare_main``,
    ``exec`` and ``call``. Usable as a context manager that closes the interpreter.

    Ownership: the object :func:`create` returns owns its interpreter. When that object
    is garbage-collected the interpreter is closed once its queued work is done (as 3.14's
    ``concurrent.interpreters`` does). Objects obtained otherwise (``Interpreter(id)``,
    :func:`list_all`, or one sent to another interpreter) do not own it: keep the created
    object alive for as long as the interpreter is needed, or close it explicitly.
    """

    def __new__(cls, id, /, _whence=None, _owned=False):
        if not isinstance(id, int) or isinstance(id, bool):
            raise TypeError(f"id must be an int, got {id!r}")
        id = int(id)
        self = _known.get(id)
        if self is None:
            if _whence is None:
                _whence = _native.whence(id)
            self = super().__new__(cls)
            self._id = id
            self._whence = _whence
            self._owned = _owned
            _known[id] = self
        return self

    def __del__(self):
        # The object create() returned owns its interpreter (as in 3.14's
        # concurrent.interpreters): once it is gone, so is the interpreter (when idle).
        if getattr(self, "_owned", False):
            self._owned = False
            try:
                _native.release(self._id)
            except Exception:  # e.g. during interpreter shutdown
                pass

    def __repr__(self):
        return f"{type(self).__name__}({self._id})"

    def __hash__(self):
        return hash(self._id)

    def __reduce__(self):
        return (type(self), (self._id,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        except InterpreterNotFoundError:
            pass

    @property
    def id(self) -> int:
        """The process-unique interpreter id (0 is the main interpreter)."""
        return self._id

    @property
    def config(self) -> InterpreterConfig | None:
        """The :class:`~manygil.InterpreterConfig` the interpreter was created with;
        None for the main interpreter. Raises InterpreterNotFoundError once it is
        closed."""
        values = _native.interpreter_config(self._id)
        if values is None:
            return None
        return InterpreterConfig._from_values(values)

    @property
    def whence(self) -> str:
        """Where the interpreter was created: "runtime init", "manygil" or "unknown"."""
        return _WHENCE_TO_STR.get(self._whence, "unknown")

    def _info(self) -> tuple[str, str, str] | None:
        info = getattr(self, "_cached_info", None)
        if info is None:
            info = _native.interp_info(self._id)
            if info is not None:
                self._cached_info = info
        return info

    @property
    def name(self) -> str:
        """The interpreter's name: ``"main"``, the ``name`` given to :func:`create`
        (default ``interpreter-<id>``), ``pool-<n>.worker-<k>`` for a ``Pool``'s workers,
        ``serve-<n>.worker-<k>`` for ``manygil serve``'s. Read once, the first time it is
        asked for: an interpreter that had already ended (or that manygil did not make)
        is ``interpreter-<id>``."""
        info = self._info()
        return f"interpreter-{self._id}" if info is None else info[0]

    @property
    def origin(self) -> str:
        """Which part of manygil made it: ``"main"`` (the main interpreter), ``"create"``
        (:func:`create`), ``"pool"`` (a ``Pool``'s worker), ``"serve"`` (a worker of
        ``manygil serve``); ``"unknown"`` if it had ended when first asked, or if manygil did
        not make it."""
        info = self._info()
        return "unknown" if info is None else info[1]

    @property
    def thread_name(self) -> str | None:
        """The name of the OS thread the interpreter runs on (``manygil-w<id>``, as
        ``top -H``, ``ps -L`` and py-spy show it; ``"MainThread"`` for the main
        interpreter), or None if it had ended when first asked."""
        info = self._info()
        return None if info is None else info[2]

    def is_running(self) -> bool:
        """Whether the interpreter is executing code right now."""
        return _native.is_running(self._id)

    def close(self) -> None:
        """Finalize and destroy the interpreter, joining its thread.

        This blocks until the interpreter has finished (including its own atexit handlers
        and non-daemon threads). Raises InterpreterError if it is running or is the
        current interpreter, InterpreterNotFoundError if it is already closed.
        """
        _native.destroy(self._id)

    def prepare_main(self, ns=None, /, **kwargs) -> None:
        """Bind the given values into the interpreter's ``__main__`` (copied through the
        codec; raises NotShareableError, with nothing bound, if one cannot be shared)."""
        ns = dict(ns, **kwargs) if ns is not None else kwargs
        ok, value = _native.set_main_attrs(self._id, ns)
        if not ok:
            raise ExecutionFailed(_excinfo(value))

    def exec(self, code, /) -> None:
        """Run source code in the interpreter's ``__main__`` namespace.

        The code is compiled here first, so a syntax error raises SyntaxError at once.
        If the code raises, ExecutionFailed is raised summarizing the exception (the
        rebuilt original, where possible, is its ``__cause__``).

        This blocks the current Python thread until done; other threads (and
        interpreters) keep running. Ctrl-C in the main thread interrupts the code.
        """
        if not isinstance(code, str):
            raise TypeError(f"exec() expects source code as a str, got {type(code).__name__}")
        compile(code, "<string>", "exec")
        ok, value = _native.exec(self._id, code)
        if not ok:
            _raise_failed(value)

    def call(self, callable, /, *args, **kwargs):
        """Call ``callable(*args, **kwargs)`` in the interpreter and return its result.

        ``callable`` is the object that runs, never a namesake found in the interpreter:
        functions and classes importable from a module travel by reference (module and
        name); those of ``__main__`` (a script, ``-c``, the REPL, Jupyter), lambdas,
        closures and local functions travel by value (``manygil._wire.pickle``), carrying a
        snapshot of the globals and closure variables they use as they are at this call
        (as Dask and loky do); values travel natively or by pickle, and manygil handles
        anywhere inside them are the same objects there. The script is never run again.
        Something that cannot be sent (a socket, an open file, a generator, a
        ``threading`` lock...) raises NotShareableError naming the path to it, before
        anything is sent. If the call raises, ExecutionFailed is raised (the rebuilt
        original exception is its ``__cause__``). Blocks like :meth:`exec`.
        """
        ok, value = _native.call(self._id, callable, args, kwargs)
        if not ok:
            _raise_failed(value)
        return value

    def call_in_thread(self, callable, /, *args, **kwargs) -> threading.Thread:
        """Start and return a thread that calls ``callable`` in the interpreter.

        The return value and any raised exception are discarded.
        """
        t = threading.Thread(target=self._call_quietly, args=(callable, args, kwargs))
        t.start()
        return t

    def _call_quietly(self, callable, args, kwargs):
        _native.call(self._id, callable, args, kwargs)


def _raise_failed(record):
    info = _excinfo(record)
    original = _rebuild(record)
    failure = ExecutionFailed(info)
    if isinstance(original, ExecutionFailed):
        raise failure
    raise failure from original
