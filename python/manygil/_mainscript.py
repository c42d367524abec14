"""The user's main script, as seen from every interpreter.

The main interpreter records where ``__main__`` came from (``manygil._native.main_script``).
Other interpreters load it once, on first need, under the name ``__mp_main__`` (as
multiprocessing's spawn does), so code under ``if __name__ == "__main__":`` does not run
again.
"""

from __future__ import annotations

import builtins
import importlib
import runpy
import sys
import types

from . import _native


def record_main_script() -> None:
    """Remember ``__main__``'s file or module name (main interpreter only)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    modname = getattr(spec, "name", None) if spec is not None else None
    path = getattr(main, "__file__", None)
    if modname == "__main__":
        modname = None
    _native.set_main_script(path, modname)


def main_module() -> types.ModuleType:
    """The main script's module in this interpreter (loaded as ``__mp_main__`` if needed).

    Raises ``LookupError`` when there is no main script to load (interactive session, ``-c``).
    """
    if _native.get_current()[0] == 0:
        return sys.modules["__main__"]
    mod = sys.modules.get("__mp_main__")
    if mod is not None:
        return mod
    path, modname = _native.main_script()
    if modname is not None:
        mod = types.ModuleType("__mp_main__")
        real = importlib.import_module(modname)
        mod.__dict__.update(real.__dict__)
    elif path is not None:
        mod = types.ModuleType("__mp_main__")
        mod.__file__ = path
        sys.modules["__mp_main__"] = mod
        try:
            mod.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
        except BaseException:
            del sys.modules["__mp_main__"]
            raise
    else:
        raise LookupError(
            "the main script cannot be loaded in this interpreter: the program has no main "
            "file (interactive session or -c); define shared functions in a module"
        )
    sys.modules["__mp_main__"] = mod
    return mod


def find_in_main(qualname: str):
    """``__main__.<qualname>``: this interpreter's ``__main__`` first, then the script."""
    obj = sys.modules.get("__main__")
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except AttributeError:
        pass
    obj = main_module()
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def globals_for(module: str) -> dict:
    """The globals a closure-free function shipped as code runs with."""
    if module == "__main__":
        if _native.get_current()[0] != 0:
            try:
                return main_module().__dict__
            except LookupError:
                pass
        return sys.modules["__main__"].__dict__
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
