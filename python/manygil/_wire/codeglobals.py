"""Globals for a closure-free function sent as code (``Value::Code``): its module's
namespace when that module can be imported in the receiving interpreter.

Only functions of modules other than ``__main__`` travel this way; ``__main__`` functions
travel by value (see ``manygil._wire.pickle``), so the user's script never runs again.
"""

from __future__ import annotations

import builtins
import importlib


def globals_for(module: str) -> dict:
    """The globals a closure-free function shipped as code runs with."""
    try:
        return importlib.import_module(module).__dict__
    except ImportError as e:
        # The function's module cannot be imported here (it may import an extension that
        # does not support own-GIL interpreters). The function can still use builtins;
        # any other global it reads raises a NameError that says why.
        return _BuiltinsOnly(module, f"{type(e).__name__}: {e}")


class _BuiltinsOnly(dict):
    """Globals of a function shipped as code whose module could not be imported here."""

    def __init__(self, module: str, why: str):
        super().__init__(__builtins__=builtins, __name__=module)
        self._why = why

    def __missing__(self, name):
        try:
            return getattr(builtins, name)
        except AttributeError:
            pass
        raise NameError(
            f"name {name!r} is not defined: this function was sent as code and its module "
            f"{self['__name__']!r} could not be imported in this interpreter ({self._why})",
            name=name,
        )
