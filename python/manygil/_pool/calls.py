"""Small call wrappers that run *inside* the pool's interpreters for the Dask and joblib
integrations (``manygil.dask``, ``manygil.joblib``).

They are sent by module and name, so this module must import in any own-GIL interpreter:
it imports nothing beyond the standard library (never dask, distributed or joblib).
"""

from __future__ import annotations

import threading
import time


def call_batch(items: list) -> list:
    """joblib's batch: ``[func(*args, **kwargs) for func, args, kwargs in items]``."""
    return [func(*args, **kwargs) for func, args, kwargs in items]


def call_batch_indexed(funcs: tuple, rows: list) -> list:
    """joblib's batch with each function sent once: ``[funcs[i](*args, **kwargs) for i,
    args, kwargs in rows]``."""
    return [funcs[i](*args, **kwargs) for i, args, kwargs in rows]


def call_timed(func, args: tuple, kwargs: dict) -> tuple:
    """``func(*args, **kwargs)`` with its wall-clock start and stop and the thread that ran
    it: ``(result, start, stop, thread_ident)``. Exceptions propagate unchanged."""
    start = time.time()
    result = func(*args, **kwargs)
    return result, start, time.time(), threading.get_ident()


def call_node_timed(node, values: dict) -> tuple:
    """A Dask graph node that nests other tasks (``node(values)``, run here with the
    ``dask._task_spec`` of this interpreter), timed like :func:`call_timed`."""
    start = time.time()
    result = node(values)
    return result, start, time.time(), threading.get_ident()


def by_value(func, frameworks: tuple[str, ...] = ()) -> bool:
    """Whether ``func`` should travel by value rather than by module and name:
    defined in the main script (whose top level may import what does not load in an
    interpreter, or which a Dask client sent by value), in a function, or a lambda; or
    defined in a module that imports one of ``frameworks`` (``"joblib"``, ``"distributed"``:
    such a module cannot be imported in an interpreter)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "") or ""
    if module in ("__main__", "__mp_main__") or "<" in qualname:
        return True
    return bool(frameworks) and isinstance(module, str) and _imports_any(module, frameworks)


_imports_seen: dict = {}  # (module name, frameworks) -> bool


def _imports_any(modname: str, frameworks: tuple[str, ...]) -> bool:
    """Whether module ``modname`` holds a module, class or function of ``frameworks``
    (``import joblib``, ``from joblib import Parallel``...)."""
    import sys
    import types

    key = (modname, frameworks)
    seen = _imports_seen.get(key)
    if seen is not None:
        return seen
    found = False
    mod = sys.modules.get(modname)
    for value in list(vars(mod).values()) if mod is not None else ():
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            name = getattr(value, "__module__", None)
        else:
            continue
        if isinstance(name, str) and name.partition(".")[0] in frameworks:
            found = True
            break
    _imports_seen[key] = found
    return found


def value_copy(func):
    """A copy of a plain function that is sent by value (code, referenced globals, closure)
    because it is not the object found by its module and name."""
    import types

    if not isinstance(func, types.FunctionType):
        return func
    copy = types.FunctionType(
        func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__dict__.update(func.__dict__)
    return copy


def call_timed_pickled(blob: bytes, args: tuple, kwargs: dict) -> tuple:
    """:func:`call_timed` of a function pickled by value with cloudpickle (code, referenced
    globals and closure cells; modules by reference)."""
    import pickle

    return call_timed(pickle.loads(blob), args, kwargs)


def call_node_timed_pickled(blob: bytes, values: dict) -> tuple:
    """:func:`call_node_timed` of a graph node pickled with cloudpickle."""
    import pickle

    return call_node_timed(pickle.loads(blob), values)


def call_batch_pickled(blob: bytes) -> list:
    """:func:`call_batch` over items pickled by value (``manygil._wire.pickle.pickle_bytes``)."""
    import pickle

    return call_batch(pickle.loads(blob))
