"""manygil's exception classes."""

from __future__ import annotations

__all__ = [  # and BrokenPool, defined lazily below
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "FallbackWarning",
]


# Made by the native module in each interpreter (with these stdlib bases), so that Rust
# raises them without looking anything up: see crates/manygil-python/src/handles/errors.rs.
from ._native import (  # noqa: E402
    InterpreterError,  # Exception
    InterpreterNotFoundError,  # InterpreterError
    NotShareableError,  # TypeError
)


class FallbackWarning(RuntimeWarning):
    """A ``Pool(fallback="process")`` sends a function's tasks to process workers, because
    a module it needs (named in the message) cannot be imported in an own-GIL interpreter.
    Issued once per top-level module and pool."""


_EXEC_FAILURE_STR = """
{superstr}

Uncaught in the interpreter:

{formatted}
""".strip()


class ExecutionFailed(InterpreterError):
    """An unhandled exception happened during ``exec()`` or ``call()``.

    ``excinfo`` summarizes it (``type`` with ``__name__``/``__qualname__``/``__module__``,
    ``msg``, ``formatted``, ``errdisplay``), as in 3.14's ``concurrent.interpreters``.
    Where the original exception could be rebuilt it is chained as ``__cause__``.
    """

    def __init__(self, excinfo):
        msg = excinfo.formatted
        if not msg:
            if excinfo.type and excinfo.msg:
                msg = f"{excinfo.type.__name__}: {excinfo.msg}"
            else:
                msg = excinfo.type.__name__ or excinfo.msg
        super().__init__(msg)
        self.excinfo = excinfo

    def __str__(self):
        try:
            formatted = self.excinfo.errdisplay
        except Exception:
            return super().__str__()
        if not formatted:
            return super().__str__()
        return _EXEC_FAILURE_STR.format(superstr=super().__str__(), formatted=formatted)


def __getattr__(name: str):
    # BrokenPool subclasses concurrent.futures.BrokenExecutor; defining it lazily keeps
    # `import manygil` (done in every interpreter that decodes an error) light.
    if name == "BrokenPool":
        from concurrent.futures import BrokenExecutor

        class BrokenPool(BrokenExecutor):
            """A ``manygil.Pool`` cannot go on (e.g. an initializer raised); the message
            says why."""

        BrokenPool.__module__ = __name__
        globals()["BrokenPool"] = BrokenPool
        return BrokenPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
