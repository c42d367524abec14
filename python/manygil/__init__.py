"""manygil: use every core from Python with own-GIL sub-interpreters (PEP 684).

``manygil.interpreters`` mirrors 3.14's ``concurrent.interpreters`` on 3.13+.
``manygil.Interpreter`` / ``manygil.create`` are its main names, re-exported here.
"""

import os as _os

# Where each public name lives, imported on first access (PEP 562): an interpreter that
# only decodes a function of a script imports ``manygil._wire.unpickle``, hence this package,
# and must not pay for the pool, queues, ``threading`` or even the native module (whose
# exception types derive from ``queue``'s) it never uses.
_LAZY = {
    "SharedBuffer": "._native",
    "ExecutionFailed": "._errors",
    "FallbackWarning": "._errors",
    "InterpreterError": "._errors",
    "InterpreterNotFoundError": "._errors",
    "NotShareableError": "._errors",
    "BrokenPool": "._errors",
    "Queue": "._queue",
    "QueueClosed": "._queue",
    "QueueEmpty": "._queue",
    "QueueError": "._queue",
    "QueueFull": "._queue",
    "wait_any": "._queue",
    "AtomicInt": "._native",
    "Barrier": "._native",
    "BoundedSemaphore": "._native",
    "Condition": "._native",
    "Event": "._native",
    "Lock": "._native",
    "RLock": "._native",
    "Semaphore": "._native",
    "Interpreter": ".interpreters",
    "InterpreterConfig": "._config",
    "create": ".interpreters",
    "get_current": ".interpreters",
    "get_main": ".interpreters",
    "is_shareable": ".interpreters",
    "list_all": ".interpreters",
    "Pool": ".pool",
    "snapshot_all": "._observe.inspect",
    "format_snapshot": "._observe.inspect",
    "enable_inspect_signal": "._observe.inspect",
    "disable_inspect_signal": "._observe.inspect",
}

__all__ = [
    "Interpreter",
    "InterpreterConfig",
    "create",
    "get_current",
    "get_main",
    "list_all",
    "is_shareable",
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "Queue",
    "QueueError",
    "QueueEmpty",
    "QueueFull",
    "QueueClosed",
    "wait_any",
    "SharedBuffer",
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Condition",
    "Barrier",
    "AtomicInt",
    "Pool",
    "BrokenPool",
    "FallbackWarning",
    "snapshot_all",
    "format_snapshot",
    "enable_inspect_signal",
    "disable_inspect_signal",
]

# The installed distribution's version (pyproject.toml is its one source), read from the
# package metadata on first access: importlib.metadata is too slow to import in every
# interpreter a pool starts.
__version__: str


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        if name == "SharedBuffer":
            _register_buffer_pickling(value)
        return value
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            globals()[name] = value = version("manygil")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            value = "0+unknown"
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY, "__version__"})


def _init_main_interpreter() -> None:
    """Main interpreter only: close every interpreter at exit (before CPython finalizes),
    make forked children forget the parent's, and pickle SharedBuffers for processes."""
    import atexit

    from . import _native
    from ._pool.exit import at_exit

    atexit.register(at_exit)
    _os.register_at_fork(after_in_child=_native.after_fork_child)
    _register_buffer_pickling(_native.SharedBuffer)


def _register_buffer_pickling(shared_buffer) -> None:
    """Pickling a SharedBuffer (for another process) sends its memory, not a copy."""
    import copyreg

    from ._wire.buffer_share import reduce

    copyreg.pickle(shared_buffer, reduce)


def _in_main_interpreter() -> bool:
    try:
        import _interpreters  # a few KiB, where manygil._native would pull in queue
    except ImportError:  # pragma: no cover - every supported CPython has it
        from . import _native

        return _native.get_current()[0] == 0
    return _interpreters.get_current()[0] == 0


if _in_main_interpreter():
    _init_main_interpreter()
