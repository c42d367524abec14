"""The receiving side of :mod:`manygil._wire.pickle`: what the codec calls to rebuild an object
that travelled by pickle, the interpreter's cache of decoded functions, and the
reconstructors that functions and classes sent by value name in their pickles.

Kept apart from the sending side, and free of cloudpickle, so that an interpreter that
receives a function of a script, a lambda or a closure imports ``pickle`` and this module
alone. (What only cloudpickle could encode — see ``manygil._wire.pickle`` — imports cloudpickle
by itself when it is loaded.)

Reconstruction of a function sent by value, in two steps as pickle allows for cycles:

1. :func:`_function` builds it from its marshalled code, the globals dict it shares with
   the other functions of the same module in the same message, its name and empty closure
   cells (nothing here can refer back to the function, so nothing is unfinished);
2. :func:`_function_setstate` then fills the globals it reads, its defaults, closure
   cells, ``__dict__`` and the rest: these may refer to the function itself (a recursive
   function) or to each other.

Classes go the same way (:func:`_class`, :func:`_class_setstate`); each carries a tracker
id, so that a class that comes back to the interpreter it came from is that interpreter's
own class again (``type(result) is Point`` holds in the caller).
"""

import builtins
import marshal
import sys
import types
from _io import BytesIO
from _weakref import ref as _ref


class _FunctoolsUntilImported(types.ModuleType):
    """Stands in for ``functools`` while ``_pickle`` initializes: all it reads there is
    ``functools.partial``, which is ``_functools.partial``, whereas the real module pulls
    in ``collections``, ``reprlib`` and more — about 0.5 MiB and 3 ms per interpreter that
    never uses them. Any other attribute, read by code of another thread of the
    interpreter in that moment, imports the real module and comes from it."""

    def __getattr__(self, name):
        if sys.modules.get("functools") is self:
            del sys.modules["functools"]
        import functools

        return getattr(functools, name)


def _import_c_unpickler():
    """``_pickle.Unpickler`` and ``_pickle.loads``, imported without ``functools`` when
    this interpreter has not imported it yet (see :class:`_FunctoolsUntilImported`)."""
    if "functools" in sys.modules or "_pickle" in sys.modules:
        from _pickle import Unpickler, loads

        return Unpickler, loads
    import _functools

    stand_in = _FunctoolsUntilImported("functools")
    stand_in.partial = _functools.partial
    sys.modules["functools"] = stand_in
    try:
        from _pickle import Unpickler, loads
    finally:
        if sys.modules.get("functools") is stand_in:
            del sys.modules["functools"]
    return Unpickler, loads


try:  # the C unpickler alone: pickle.py pulls in re (and enum) on 3.13, ~1 MiB per worker
    _StdUnpickler, _loads = _import_c_unpickler()
except ImportError:  # pragma: no cover - a CPython built without _pickle
    from pickle import Unpickler as _StdUnpickler
    from pickle import loads as _loads


class _Unpickler(_StdUnpickler):
    """Resolves the persistent IDs of :class:`manygil._wire.pickle._Pickler` (indices into the
    handles that travelled with the data) to this interpreter's handle objects."""

    def __init__(self, file, handles):
        super().__init__(file)
        self._handles = handles

    def persistent_load(self, pid):
        return self._handles[pid]


def loads(data: bytes, handles=(), key: int | None = None):
    """Decode what :func:`manygil._wire.pickle.dumps` produced in any interpreter (``handles``
    are this interpreter's objects for the persistent IDs); remembers keyed objects."""
    if handles:
        obj = _Unpickler(BytesIO(data), handles).load()
    else:
        obj = _loads(data)
    if key is not None:
        if len(_decoded) >= _DECODED_MAX:
            del _decoded[next(iter(_decoded))]
        _decoded[key] = obj
    return obj


def cached(key: int):
    """The object this interpreter last decoded for ``key``, or None."""
    return _decoded.get(key)


_DECODED_MAX = 256
# key -> decoded object, oldest first (bounded: see loads).
_decoded: dict[int, object] = {}


# --- functions --------------------------------------------------------------------------


def _function(code: bytes, base_globals: dict, name: str, ncells: int):
    """A function sent by value, before its state: code, globals, name, empty cells."""
    base_globals.setdefault("__builtins__", builtins)
    closure = tuple(types.CellType() for _ in range(ncells)) if ncells else None
    return types.FunctionType(marshal.loads(code), base_globals, name, None, closure)


def _function_setstate(fn, state: dict):
    """Fill what :func:`_function` left out (see ``manygil._wire.pickle._function_reduce``)."""
    fn.__globals__.update(state["globals"])
    for module in state["submodules"]:
        __import__(module)
    for i, value in state["cells"].items():
        fn.__closure__[i].cell_contents = value
    fn.__defaults__ = state["defaults"]
    fn.__kwdefaults__ = state["kwdefaults"]
    fn.__qualname__ = state["qualname"]
    fn.__module__ = state["module"]
    fn.__doc__ = state["doc"]
    if state["annotations"]:
        fn.__annotations__ = state["annotations"]
    if state["dict"]:
        fn.__dict__.update(state["dict"])
    source = state["source"]
    if source is not None:
        _add_source(*source)
    return fn


def _add_source(filename: str, lines: tuple) -> None:
    """Give this interpreter's ``linecache`` the source of code that has no file (stdin,
    ``-c``, the REPL, a notebook cell), so tracebacks and pdb show its lines."""
    import linecache

    if filename not in linecache.cache:
        # mtime None: linecache.checkcache keeps the entry (there is no file to compare).
        linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)


# --- classes ----------------------------------------------------------------------------

# tracker id -> weak reference to the class; id(class) -> (weak reference, tracker id).
# Both directions, so a class keeps one id in this interpreter whether it was defined here
# or decoded here. Entries go with their class.
_classes: dict[str, object] = {}
_class_ids: dict[int, tuple] = {}
# ids of the classes that _class created and _class_setstate has not filled yet.
_unfilled: set[int] = set()


def tracker_id(cls) -> str:
    """The id this interpreter knows ``cls`` by, made on first use."""
    entry = _class_ids.get(id(cls))
    if entry is not None and entry[0]() is cls:
        return entry[1]
    import os

    ident = os.urandom(16).hex()
    _track(cls, ident)
    return ident


def _track(cls, ident: str) -> None:
    key = id(cls)

    def forget(r, key=key, ident=ident):
        if _class_ids.get(key, (None,))[0] is r:
            del _class_ids[key]
        if _classes.get(ident) is r:
            del _classes[ident]

    r = _ref(cls, forget)
    _class_ids[key] = (r, ident)
    _classes[ident] = r


def _class(metaclass, name: str, bases: tuple, namespace: dict, ident: str):
    """A class sent by value: this interpreter's class of that tracker id if it has one
    (then the state is not applied again), else a new class of ``metaclass`` with the
    namespace entries that must exist at creation (``__slots__``, ``__module__``...)."""
    r = _classes.get(ident)
    existing = r() if r is not None else None
    if existing is not None:
        return existing
    cls = types.new_class(name, bases, {"metaclass": metaclass}, lambda ns: ns.update(namespace))
    _track(cls, ident)
    _unfilled.add(id(cls))
    return cls


def _class_setstate(cls, state: dict):
    """Set the class attributes of a class :func:`_class` created (not of one it found)."""
    if id(cls) not in _unfilled:
        return cls
    _unfilled.discard(id(cls))
    for name, value in state.items():
        setattr(cls, name, value)
    return cls


# --- small objects plain pickle has no reduction for -------------------------------------


def _module(name: str):
    """The module ``name``, imported here."""
    __import__(name)
    return sys.modules[name]


def _attr(module: str, name: str):
    """A module-level object found by name (the sentinels of ``dataclasses``...)."""
    return getattr(_module(module), name)


def _lru_cache(fn, maxsize, typed: bool):
    """``functools.lru_cache`` around a function sent by value (an empty cache)."""
    import functools

    return functools.lru_cache(maxsize=maxsize, typed=typed)(fn)


def _code(data: bytes):
    return marshal.loads(data)


def _cell(*contents):
    return types.CellType(*contents)


def _mappingproxy(d: dict):
    return types.MappingProxyType(d)


def _std_stream(name: str):
    return getattr(sys, name)
