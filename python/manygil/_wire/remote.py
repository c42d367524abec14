"""Exceptions across interpreters: captured as plain data where raised, rebuilt where
the result is read."""

from __future__ import annotations

import types

from .._errors import ExecutionFailed
from .refusal import explain as _explain_refusal


def capture(exc: BaseException) -> tuple:
    """Describe ``exc`` as ``(name, qualname, module, msg, formatted, errdisplay, pickled)``."""
    _explain_refusal(exc)
    tp = type(exc)
    try:
        msg = str(exc)
    except Exception:
        msg = "<exception str() failed>"
    # Imported here: on 3.14 traceback pulls in _colorize, dataclasses and inspect
    # (~3.5 MiB per interpreter), which an interpreter that never fails should not pay for.
    import traceback

    formatted = "".join(traceback.format_exception_only(tp, exc)).rstrip("\n")
    errdisplay = "".join(traceback.format_exception(tp, exc, exc.__traceback__)).rstrip("\n")
    try:
        from .pickle import pickle_bytes

        pickled = pickle_bytes(exc)
    except Exception:
        pickled = None
    module = tp.__module__
    return (tp.__name__, tp.__qualname__, module, msg, formatted, errdisplay, pickled)


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in another interpreter."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


def excinfo(record: tuple) -> types.SimpleNamespace:
    """The 3.14-style ``excinfo`` namespace of an exception record."""
    name, qualname, module, msg, formatted, errdisplay, _ = record
    return types.SimpleNamespace(
        type=types.SimpleNamespace(__name__=name, __qualname__=qualname, __module__=module),
        msg=msg,
        formatted=formatted,
        errdisplay=errdisplay,
    )


def rebuild(record: tuple) -> BaseException:
    """The original exception rebuilt in this interpreter, with the remote traceback as its
    ``__cause__`` (as ProcessPoolExecutor does); ``ExecutionFailed`` when it cannot be
    rebuilt (its class is not importable here, or it does not unpickle)."""
    pickled = record[6]
    exc = None
    if pickled is not None:
        try:
            from .unpickle import loads

            exc = loads(pickled)
        except Exception:
            exc = None
    if exc is None and pickled is None:
        exc = _builtin_exception(record[0], record[2], record[3])
    if not isinstance(exc, BaseException):
        return ExecutionFailed(excinfo(record))
    if record[5]:
        exc.__cause__ = RemoteTraceback(record[5])
    return exc


def _builtin_exception(name: str, module: str, msg: str) -> BaseException | None:
    """Interrupt records (timeouts, cancellation, Ctrl-C) carry no pickle: rebuild them."""
    if name == "CancelledError":
        import concurrent.futures

        return concurrent.futures.CancelledError(msg)
    if module != "builtins":
        return None
    import builtins

    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            return cls(msg) if msg else cls()
        except Exception:
            return None
    return None
