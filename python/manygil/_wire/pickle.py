"""What the codec sends when it cannot copy an object natively: pickle protocol 5, with
functions and classes of scripts encoded by manygil itself and every manygil handle as a
persistent ID. (The receiving side is :mod:`manygil._wire.unpickle`.)

- **By reference** (module and name): functions and classes importable by name in a module
  other than ``__main__``; the receiver imports the module.
- **By value**: functions, lambdas, closures and classes defined in ``__main__`` (a script,
  ``-c``, stdin, the REPL, IPython/Jupyter) or local to a function. A function travels as
  its marshalled code (file name and line numbers kept, so tracebacks point at the
  caller's file), the values of the globals it reads and of its closure cells, its
  defaults, keyword defaults, ``__dict__``, name, qualname, module, doc and annotations,
  *as they are when the function is sent* (snapshots, as in Dask and loky); modules stay
  references, and the submodules it reaches through them are imported with it. Code that
  has no file on disk (stdin, ``-c``, the REPL, a notebook cell) takes its source lines
  along for the receiver's ``linecache``. A class travels as its bases and class
  dictionary, under a tracker id: an instance that comes back to the interpreter its
  class came from is of that very class. The user's script is never run again in
  another interpreter. The receiver needs only ``pickle`` and ``manygil._wire.unpickle``.
- **cloudpickle, as a fallback** (imported on first need): what the native encoding does
  not express — a class of ``__main__`` with a metaclass other than ``type`` (an
  ``Enum``, an ``ABC``), a module that cannot be imported by name, any object the plain
  pickler refuses but cloudpickle accepts. Plain functions, lambdas and closures never
  need it.
- **Handles** (``Queue``, ``SharedBuffer``, the locks, ``Event``, ``Condition``,
  ``Barrier``, ``AtomicInt``) anywhere inside a pickled object, including bound methods
  such as ``event.wait``, are persistent IDs: the message carries the handle itself (its
  Rust state, alive exactly as long as the message), and the receiver gets the same
  queue, lock or event.

No cost after the first send of a function:

- The sender keeps each by-value function's encoding for as long as the function object
  lives, and reuses it while nothing the encoding captured has changed. "Changed" is
  checked by identity: the function's code, defaults, keyword defaults, ``__dict__``,
  closure cells, the globals it reads (and, recursively, those of the ``__main__``
  functions, classes, lists, dicts, sets and plain instances it uses, item by item and
  attribute by attribute). A function that captures an object whose contents cannot be
  checked that way (a bytearray, an object with its own ``__reduce__`` or
  ``__getstate__``...) as a global, closure cell, default or attribute is encoded again at
  every send, so workers always get the current value.
- Each receiving interpreter keeps the functions it decoded (the most recent 256) by a
  digest of their encoding and of the handles they carry, and reuses the same function
  object for the same encoding. A function's snapshot of globals therefore lives in that
  worker across calls: a task that changes a global of its function changes that worker's
  copy only. A class is built once per interpreter (by tracker id): a later send of a
  class already there reuses the class, with the attributes it had when first sent.
"""

from __future__ import annotations

import functools
import marshal
import operator
import os
import sys
import types
from _io import BytesIO, TextIOWrapper

# The C pickler itself: `pickle` (the Python module) would add itself and `struct` to the
# main interpreter of every script that sends a function, for nothing used here.
from _pickle import Pickler as _StdPickler
from operator import is_ as _is

from .. import _native
from . import unpickle as _unpickle

try:  # the bare module: hashlib would load OpenSSL too (~4 MiB), for one digest
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a CPython built without it
    from hashlib import blake2b

PROTOCOL = 5

_HANDLE_TYPES = frozenset(
    {
        _native.Queue,
        _native.SharedBuffer,
        _native.Lock,
        _native.RLock,
        _native.Semaphore,
        _native.BoundedSemaphore,
        _native.Event,
        _native.Condition,
        _native.Barrier,
        _native.AtomicInt,
    }
)

_MISSING = object()
_LRU_CACHE_WRAPPER = type(functools.lru_cache(lambda: None))
_MAIN_MODULES = ("__main__", "__mp_main__")


class _NeedsCloudpickle(Exception):
    """The native encoding cannot express an object: the whole message goes by cloudpickle."""


class _HandleIds:
    """Persistent IDs for manygil handles: their index in ``handles``."""

    def _init_handles(self):
        self.handles: list = []
        self._index: dict[int, int] = {}

    def persistent_id(self, obj):
        if type(obj) not in _HANDLE_TYPES:
            return None
        i = self._index.get(id(obj))
        if i is None:
            i = self._index[id(obj)] = len(self.handles)
            self.handles.append(obj)
        return i


# --- what goes by reference --------------------------------------------------------------


def _registered_by_value(module: str) -> bool:
    """Whether ``cloudpickle.register_pickle_by_value`` named ``module`` (or a parent)."""
    cp = sys.modules.get("cloudpickle.cloudpickle")
    names = getattr(cp, "_PICKLE_BY_VALUE_MODULES", None)
    while names:
        if module in names:
            return True
        module, dot, _ = module.rpartition(".")
        if not dot:
            return False
    return False


def _by_reference(obj) -> bool:
    """Whether a function or class is found again by module and qualname elsewhere: its
    module is imported and is not ``__main__``, and the name leads back to ``obj``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if type(module) is not str or type(qualname) is not str:
        return False
    if module in _MAIN_MODULES or "<" in qualname or _registered_by_value(module):
        return False
    cur = sys.modules.get(module, _MISSING)
    for part in qualname.split("."):
        if cur is _MISSING:
            return False
        cur = getattr(cur, part, _MISSING)
    return cur is obj


# --- what a function's code reads ----------------------------------------------------------

# Opcode -> how its argument indexes ``co_names`` (a right shift), for the instructions
# that read or write a global; made on first use from `opcode` (not `dis`, which costs
# 0.1 MiB on 3.13/3.14 and 1.2 MiB on 3.15 in the sender's interpreter).
# The second item is EXTENDED_ARG's opcode.
_global_ops: tuple[dict, int] | None = None


def _global_op_shifts() -> tuple[dict, int]:
    global _global_ops
    if _global_ops is None:
        from opcode import opmap

        shifts = {"LOAD_GLOBAL": 1, "STORE_GLOBAL": 0, "DELETE_GLOBAL": 0, "LOAD_NAME": 0}
        shifts["LOAD_FROM_DICT_OR_GLOBALS"] = 0
        ops = {opmap[name]: shift for name, shift in shifts.items() if name in opmap}
        _global_ops = (ops, opmap["EXTENDED_ARG"])
    return _global_ops


# code object -> the global names it (and the code nested in it) uses; bounded.
_globals_of: dict = {}
_GLOBALS_OF_MAX = 4096


def _code_globals(code) -> dict:
    """The global names ``code`` and the functions and classes nested in it read or
    write, in order of first use (a dict of name -> None).

    Reads ``co_code`` (the unspecialized bytecode: two bytes per unit, an opcode and its
    argument, ``EXTENDED_ARG`` units prefixing higher argument bytes, inline caches as
    ``CACHE`` units that match no opcode looked for here) as ``dis.get_instructions``
    would, without importing ``dis``; tests/test_callables.py compares the two on the
    whole stdlib."""
    names = _globals_of.get(code)
    if names is not None:
        return names
    ops, extended = _global_op_shifts()
    co_names = code.co_names
    raw = code.co_code
    names = {}
    ext = 0
    for i in range(0, len(raw), 2):
        op = raw[i]
        arg = raw[i + 1] | ext
        if op == extended:
            ext = arg << 8
            continue
        ext = 0
        shift = ops.get(op)
        if shift is not None:
            names[co_names[arg >> shift]] = None
    for c in code.co_consts:
        if type(c) is types.CodeType:
            names.update(_code_globals(c))
    if len(_globals_of) >= _GLOBALS_OF_MAX:
        del _globals_of[next(iter(_globals_of))]
    _globals_of[code] = names
    return names


def _code_names(code, out: set) -> set:
    """Every name ``code`` and its nested code use (attribute names included)."""
    out.update(code.co_names)
    for c in code.co_consts:
        if type(c) is types.CodeType:
            _code_names(c, out)
    return out


def _submodules(code, values) -> tuple:
    """Submodules that ``code`` reaches through the modules among ``values`` (``import
    os.path`` then ``os.path.join``: the global is ``os``, the receiver needs ``os.path``)."""
    modules = [v for v in values if type(v) is types.ModuleType]
    if not modules:
        return ()
    names = _code_names(code, set())
    found = []
    loaded = list(sys.modules)
    for m in modules:
        prefix = m.__name__ + "."
        for name in loaded:
            if name.startswith(prefix) and name[len(prefix) :].partition(".")[0] in names:
                found.append(name)
    return tuple(found)


def _annotations(fn):
    """``fn.__annotations__``, evaluated (on 3.14+, as strings when evaluating fails)."""
    try:
        return fn.__annotations__
    except Exception:
        import annotationlib

        return annotationlib.get_annotations(fn, format=annotationlib.Format.STRING)


def _source(code):
    """``(filename, lines)`` for code whose file is not on disk, when this interpreter's
    ``linecache`` holds its source: IPython registers cells there, and 3.13+ registers
    ``-c`` programs and REPL inputs by code object."""
    filename = code.co_filename
    lc = sys.modules.get("linecache")
    if lc is None or not filename or os.path.exists(filename):
        return None
    entry = lc.cache.get(filename)
    if entry is not None and len(entry) == 4:
        lines = entry[2]
    else:
        interactive = getattr(lc, "_interactive_cache", {})
        entry = interactive.get((filename, code.co_qualname, code.co_firstlineno))
        if entry is not None and len(entry) == 4:
            lines = entry[2]
        else:
            try:
                lines = lc.getlines(filename)
            except Exception:
                return None
    return (filename, tuple(lines)) if lines else None


# --- the pickler ---------------------------------------------------------------------------


def _std_stream_or_refuse(obj):
    """Standard streams go by name; any other open file is refused (a file open for
    reading would otherwise arrive as a copy of what is left in it)."""
    for name in ("stdout", "stderr", "stdin"):
        if obj is getattr(sys, name, None):
            return _unpickle._std_stream, (name,)
    raise TypeError(
        f"cannot send an open file ({getattr(obj, 'name', '?')!r}) to another interpreter"
    )


def _importable(m) -> bool:
    """Whether module ``m`` is found again by name in another interpreter."""
    name = getattr(m, "__name__", None)
    return (
        type(name) is str
        and name not in _MAIN_MODULES
        and sys.modules.get(name) is m
        and not _registered_by_value(name)
    )


def _module_reduce(m):
    if not _importable(m):
        raise _NeedsCloudpickle(f"module {getattr(m, '__name__', '?')!r} is not importable")
    return _unpickle._module, (m.__name__,)


def _cell_contents(cell):
    """What ``cell`` holds, or ``_MISSING`` for an empty cell (a name not bound yet)."""
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING


def _cell_reduce(cell):
    try:
        return _unpickle._cell, (cell.cell_contents,)
    except ValueError:
        return _unpickle._cell, ()


_DISPATCH = {
    types.ModuleType: _module_reduce,
    types.CodeType: lambda c: (_unpickle._code, (marshal.dumps(c),)),
    types.CellType: _cell_reduce,
    types.MappingProxyType: lambda m: (_unpickle._mappingproxy, (dict(m),)),
    staticmethod: lambda m: (staticmethod, (m.__func__,)),
    classmethod: lambda m: (classmethod, (m.__func__,)),
    property: lambda p: (property, (p.fget, p.fset, p.fdel, p.__doc__)),
    TextIOWrapper: _std_stream_or_refuse,
}

# Module-level singletons that must stay themselves (``dataclasses.fields`` compares by
# identity with the module's sentinels).
_SINGLETONS = {
    "dataclasses": (
        "MISSING",
        "KW_ONLY",
        "_FIELD",
        "_FIELD_CLASSVAR",
        "_FIELD_INITVAR",
        "_HAS_DEFAULT_FACTORY",
    ),
}

# Class attributes not sent: made by the class statement itself (``__dict__``,
# ``__weakref__``, the slots' descriptors), given at creation, or (3.14) rebuilt lazily.
_CLASS_SKIP = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__qualname__",
        "__slots__",
        "__doc__",
        "__annotate_func__",
        "__classdictcell__",
    }
)


class _Pickler(_HandleIds, _StdPickler):
    """The standard pickler, with functions and classes of scripts by value (see the
    module's docstring) and manygil handles as persistent IDs."""

    dispatch_table = _DISPATCH

    def __init__(self, file):
        super().__init__(file, protocol=PROTOCOL)
        self._init_handles()
        # id(globals of the sender) -> the base globals dict the receiver's functions of
        # that module share (kept here so the ids stay valid while pickling).
        self._base_globals: dict[int, tuple] = {}
        self._sources: dict[str, object] = {}
        self._singletons = {}
        for module, names in _SINGLETONS.items():
            m = sys.modules.get(module)
            for name in names if m is not None else ():
                v = getattr(m, name, _MISSING)
                if v is not _MISSING:
                    self._singletons[id(v)] = (module, name)

    def reducer_override(self, obj):
        t = type(obj)
        if t is types.FunctionType:
            return NotImplemented if _by_reference(obj) else self._function_reduce(obj)
        if isinstance(obj, type):
            return NotImplemented if _by_reference(obj) else self._class_reduce(obj)
        if t is _LRU_CACHE_WRAPPER:  # functools.lru_cache/cache of a script function
            if _by_reference(obj):
                return NotImplemented
            params = obj.cache_parameters()
            return _unpickle._lru_cache, (obj.__wrapped__, params["maxsize"], params["typed"])
        found = self._singletons.get(id(obj))
        if found is not None:
            return _unpickle._attr, found
        return NotImplemented

    def _function_reduce(self, fn):
        code = fn.__code__
        g = fn.__globals__
        f_globals = {k: g[k] for k in _code_globals(code) if k in g}
        base = self._base_globals.get(id(g))
        if base is None:
            base = {k: g[k] for k in ("__name__", "__package__", "__file__") if k in g}
            self._base_globals[id(g)] = (base, g)
        else:
            base = base[0]
        cells = {}
        closure = fn.__closure__ or ()
        for i, cell in enumerate(closure):
            try:
                cells[i] = cell.cell_contents
            except ValueError:  # an empty cell (a name not bound yet)
                pass
        source = self._sources.get(code.co_filename, _MISSING)
        if source is _MISSING or source is None:
            source = self._sources[code.co_filename] = _source(code)
        state = {
            "globals": f_globals,
            "submodules": _submodules(code, [*f_globals.values(), *cells.values()]),
            "cells": cells,
            "defaults": fn.__defaults__,
            "kwdefaults": fn.__kwdefaults__,
            "qualname": fn.__qualname__,
            "module": fn.__module__,
            "doc": fn.__doc__,
            "annotations": _annotations(fn),
            "dict": fn.__dict__,
            "source": source,
        }
        args = (marshal.dumps(code), base, fn.__name__, len(closure))
        return _unpickle._function, args, state, None, None, _unpickle._function_setstate

    def _class_reduce(self, cls):
        meta = type(cls)
        if meta is not type:
            raise _NeedsCloudpickle(f"class {cls.__qualname__!r} has metaclass {meta!r}")
        d = cls.__dict__
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        skip = set(_CLASS_SKIP)
        slots = d.get("__slots__")
        if slots is not None:
            namespace["__slots__"] = slots
            skip.update((slots,) if isinstance(slots, str) else slots)
        if "__doc__" in d:
            namespace["__doc__"] = d["__doc__"]
        state = {k: v for k, v in d.items() if k not in skip}
        args = (meta, cls.__name__, cls.__bases__, namespace, _unpickle.tracker_id(cls))
        return _unpickle._class, args, state, None, None, _unpickle._class_setstate


_cloud_pickler = None


def _cloudpickler_class():
    """The fallback pickler (cloudpickle imported on first need): :class:`_Pickler`'s
    encoding wherever it applies — every function still travels natively, with its file,
    lines and source — and cloudpickle's for the rest (an ``Enum`` or ``ABC`` of a
    script, a module that is not importable...)."""
    global _cloud_pickler
    if _cloud_pickler is None:
        import cloudpickle

        class _CloudPickler(_Pickler, cloudpickle.Pickler):
            dispatch_table = cloudpickle.Pickler.dispatch_table.new_child(
                {TextIOWrapper: _std_stream_or_refuse}
            )

            def reducer_override(self, obj):
                try:
                    return _Pickler.reducer_override(self, obj)
                except _NeedsCloudpickle:
                    return cloudpickle.Pickler.reducer_override(self, obj)

        _cloud_pickler = _CloudPickler
    return _cloud_pickler


def _dump_with(pickler_class, obj) -> tuple[bytes, tuple]:
    f = BytesIO()
    p = pickler_class(f)
    p.dump(obj)
    return f.getvalue(), tuple(p.handles)


def _dump(obj) -> tuple[bytes, tuple]:
    """``(pickle bytes, handles)``; raises NotShareableError naming what cannot be sent."""
    try:
        return _dump_with(_Pickler, obj)
    except Exception:
        pass  # not expressible natively (or refused): cloudpickle may still send it
    try:
        return _dump_with(_cloudpickler_class(), obj)
    except Exception as e:
        raise _refusal(obj, e) from e


def dumps_for_process(obj) -> bytes:
    """Pickle ``obj`` for a process worker of ``Pool(fallback="process")``: functions and
    classes of scripts by value with this module's encoding (the process never imports the
    main script: it needs only ``manygil._wire.unpickle``), everything else as
    ``multiprocessing`` pickles it (a ``SharedBuffer`` as its memory file's descriptor).
    Raises NotShareableError naming what cannot be sent."""
    f = BytesIO()
    try:
        _ProcessPickler(f).dump(obj)
    except Exception as e:
        raise _refusal(obj, e) from e
    return f.getvalue()


class _ProcessPickler(_Pickler):
    """:class:`_Pickler` for another process: no persistent IDs (handles cannot cross
    processes; a ``SharedBuffer`` goes by its own reducer), ``multiprocessing``'s reducers
    (descriptors, connections, sockets) under manygil's own."""

    def __init__(self, file):
        import copyreg
        from multiprocessing.reduction import ForkingPickler

        table = copyreg.dispatch_table.copy()
        table.update(ForkingPickler._extra_reducers)
        table.update(_DISPATCH)
        # Before the base initializer: the C pickler reads dispatch_table there.
        self.dispatch_table = table
        super().__init__(file)

    def persistent_id(self, obj):
        return None


def _key(data: bytes, handles: tuple) -> int:
    """A digest of an encoding and of the identity of the handles it carries."""
    h = blake2b(data, digest_size=8)
    for x in handles:
        ident = repr(x) if type(x) is _native.SharedBuffer else hash(x)
        h.update(f"|{type(x).__name__}:{ident}".encode())
    return int.from_bytes(h.digest(), "little")


def dumps(obj) -> tuple[bytes, tuple, int | None]:
    """Encode ``obj`` for another interpreter: ``(pickle bytes, handles, key)``.

    ``key`` is set for functions: receivers may reuse what they decoded for the same key.
    Raises NotShareableError (naming the path to the culprit) if ``obj`` cannot be sent.
    """
    if type(obj) is types.FunctionType:
        entry = _functions.get(id(obj))
        if entry is not None and entry[0]() is obj and _unchanged(obj, entry[2]):
            return entry[1]  # the fast path: the same function, nothing it captured changed
        return _dump_function(obj)
    data, handles = _dump(obj)
    return data, handles, None


def pickle_bytes(obj) -> bytes:
    """Plain pickle bytes of ``obj`` (no handles), for exception records."""
    data, handles = _dump(obj)
    if handles:
        raise TypeError("the object holds manygil handles")
    return data


# --- the sender's cache of function encodings ------------------------------------------

# id(function) -> (weak reference to it, (data, handles, key), probes), oldest first. The
# probes do not hold the function itself, so an entry goes with its function; a function
# that captures itself (a recursive closure) stays until evicted (bounded).
_functions: dict[int, tuple] = {}
_FUNCTIONS_MAX = 1024


def _forget(ref, ident, functions=_functions):
    entry = functions.get(ident)
    if entry is not None and entry[0] is ref:
        del functions[ident]


def _dump_function(fn) -> tuple[bytes, tuple, int]:
    ident = id(fn)
    probes = _probes(fn)
    data, handles = _dump(fn)
    key = _key(data, handles)
    _functions.pop(ident, None)
    if probes is not None:
        import weakref

        if len(_functions) >= _FUNCTIONS_MAX:
            del _functions[next(iter(_functions))]
        ref = weakref.ref(fn, lambda r, ident=ident: _forget(r, ident))
        _functions[ident] = (ref, (data, handles, key), probes)
    return data, handles, key


def _unchanged(fn, probes) -> bool:
    """Whether every probe still sees what it saw: one C-level attrgetter/itemgetter call
    per object or mapping probed, no Python frame per probe."""
    root, checks, missing, (sized, sizes), seqs = probes
    try:
        if not all(map(_is, _ROOT_GETTER(fn), root)):
            return False
        for get, obj, expected in checks:
            if not all(map(_is, get(obj), expected)):
                return False
    except Exception:  # an attribute or key is gone (or an empty cell): changed
        return False
    for mapping, keys in missing:
        if any(map(mapping.__contains__, keys)):
            return False
    if tuple(map(len, sized)) != sizes:
        return False
    for seq, snapshot in seqs:
        if len(seq) != len(snapshot) or not all(map(_is, seq, snapshot)):
            return False
    return True


_IMMUTABLE = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        range,
        slice,
        type(Ellipsis),
        type(NotImplemented),
        types.CodeType,
        types.GetSetDescriptorType,
        types.MemberDescriptorType,
        types.WrapperDescriptorType,
        types.MethodDescriptorType,
        types.ClassMethodDescriptorType,
    }
)
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined in Python


def _slot_names(cls) -> list:
    names = []
    for c in cls.__mro__:
        slots = c.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__"):
                names.append(name)
    return names


_FUNCTION_ATTRS = (
    "__code__",
    "__defaults__",
    "__kwdefaults__",
    "__dict__",
    "__name__",
    "__qualname__",
    "__module__",
    "__doc__",
)
_ROOT_GETTER = operator.attrgetter(*_FUNCTION_ATTRS)


def _probes(fn):
    """What ``fn``'s by-value encoding depends on, as identity checks; None when it
    captures a mutable object (then it is encoded at every send)."""
    attrs: list = []
    items: list = []
    sizes: list = []
    seqs: list = []
    seen: set = set()

    def mapping(m) -> bool:
        sizes.append((m, len(m)))
        ok = True
        for k, v in list(m.items()):
            items.append((m, k, v))
            ok = ok and value(v)
        return ok

    def value(v) -> bool:
        t = type(v)
        if t in _IMMUTABLE or t in _HANDLE_TYPES:
            return True
        if t is tuple or t is frozenset:
            return all(value(x) for x in v)
        if id(v) in seen:
            return True
        seen.add(id(v))
        if t is dict or t is types.MappingProxyType:
            return mapping(v)
        if t is list or t is set:
            seqs.append((v, tuple(v)))
            return all(value(x) for x in v)
        if t is types.FunctionType:
            return function(v)
        if isinstance(v, type):
            return cls(v)
        if t is types.ModuleType:
            return _importable(v)
        if t is types.MethodType:
            return value(v.__func__) and value(v.__self__)
        if t is types.BuiltinFunctionType:
            owner = v.__self__
            return owner is None or type(owner) is types.ModuleType or value(owner)
        if t is staticmethod or t is classmethod:
            return value(v.__func__)
        if t is property:
            return value(v.fget) and value(v.fset) and value(v.fdel)
        return instance(v)

    def instance(v) -> bool:
        # An instance pickled from its attributes alone (no custom reduce or getstate, no
        # builtin container base): its attributes are probed like a function's globals.
        t = type(v)
        if (
            t.__reduce_ex__ is not object.__reduce_ex__
            or t.__reduce__ is not object.__reduce__
            or getattr(t, "__getstate__", None) is not object.__getstate__
            or not all(b is object or b.__flags__ & _HEAPTYPE for b in t.__mro__)
            or not value(t)
        ):
            return False  # a list, dict, set or other object whose contents can change
        attrs.append((v, "__class__", t))
        d = getattr(v, "__dict__", None)
        if d is not None:
            attrs.append((v, "__dict__", d))
            if not mapping(d):
                return False
        for name in _slot_names(t):
            x = getattr(v, name, _MISSING)
            attrs.append((v, name, x))
            if x is not _MISSING and not value(x):
                return False
        return True

    def function(f, root=False) -> bool:
        if not root and _by_reference(f):
            return True
        for name in _FUNCTION_ATTRS:
            attrs.append((f, name, getattr(f, name)))
        if not (mapping(f.__dict__) and value(f.__defaults__)):
            return False
        if f.__kwdefaults__ is not None and not mapping(f.__kwdefaults__):
            return False
        for cell in f.__closure__ or ():
            contents = _cell_contents(cell)
            attrs.append((cell, "cell_contents", contents))
            if contents is not _MISSING and not value(contents):
                return False
        g = f.__globals__
        for name in _code_globals(f.__code__):
            v = g.get(name, _MISSING)
            items.append((g, name, v))
            if v is not _MISSING and not value(v):
                return False
        return True

    def cls(c) -> bool:
        if _by_reference(c):
            return True
        for name in ("__bases__", "__name__", "__qualname__", "__module__"):
            attrs.append((c, name, getattr(c, name)))
        return mapping(c.__dict__) and value(c.__bases__) and value(type(c))

    seen.add(id(fn))
    if not function(fn, root=True):
        return None
    root = tuple(v for _, _, v in attrs[: len(_FUNCTION_ATTRS)])  # fn's own, first
    checks = []
    missing: dict[int, tuple] = {}
    groups: dict[tuple, tuple] = {}
    for obj, name, v in attrs[len(_FUNCTION_ATTRS) :]:
        _, names, values = groups.setdefault((id(obj), "attr"), (obj, [], []))
        names.append(name)
        values.append(v)
    for m, k, v in items:
        if v is _MISSING:
            missing.setdefault(id(m), (m, []))[1].append(k)
            continue
        _, names, values = groups.setdefault((id(m), "item"), (m, [], []))
        names.append(k)
        values.append(v)
    for (_, kind), (obj, names, values) in groups.items():
        make = operator.attrgetter if kind == "attr" else operator.itemgetter
        # Two names at least, so the getter always returns a tuple.
        get = make(*names, names[0]) if len(names) == 1 else make(*names)
        checks.append((get, obj, tuple(values) + ((values[0],) if len(names) == 1 else ())))
    return (
        root,
        tuple(checks),
        tuple((m, tuple(keys)) for m, keys in missing.values()),
        _columns(sizes, 2),
        tuple(seqs),
    )


def _columns(rows: list, n: int) -> tuple:
    return tuple(zip(*rows, strict=True)) if rows else ((),) * n


# --- refusals ---------------------------------------------------------------------------


def _type_name(obj) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _label(obj) -> str:
    if isinstance(obj, (types.FunctionType, type)):
        return getattr(obj, "__qualname__", "?")
    return f"<{_type_name(obj)} object>"


def _refusal(obj, error: BaseException) -> Exception:
    """NotShareableError naming the path from ``obj`` to the part that cannot be sent."""
    from .._errors import NotShareableError

    if isinstance(error, NotShareableError):
        return error
    path, culprit, why = _label(obj), obj, error
    for _ in range(64):  # how deep the search may go
        step = _failing_part(culprit)
        if step is None:
            break
        suffix, culprit, why = step
        path += suffix
    return NotShareableError(
        f"{path}: {_type_name(culprit)} cannot be sent to another interpreter "
        f"({type(why).__name__}: {why}); pass what it is made from instead, or create it "
        "in the interpreter that uses it"
    )


def _fails(obj):
    try:
        _dump_with(_Pickler, obj)
        return None
    except Exception as e:
        error = e
    try:
        _dump_with(_cloudpickler_class(), obj)
    except Exception:
        return error
    return None


def _parts(obj):
    """``(path suffix, part)`` for what pickling ``obj`` pickles."""
    t = type(obj)
    if t is types.FunctionType:
        if _by_reference(obj):
            return
        g = obj.__globals__
        for name in _code_globals(obj.__code__):
            if name in g:
                yield f".__globals__[{name!r}]", g[name]
        for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=False):
            contents = _cell_contents(cell)
            if contents is not _MISSING:
                yield f".__closure__[{name!r}]", contents
        for i, d in enumerate(obj.__defaults__ or ()):
            yield f".__defaults__[{i}]", d
        for k, d in (obj.__kwdefaults__ or {}).items():
            yield f".__kwdefaults__[{k!r}]", d
        for k, d in obj.__dict__.items():
            yield f".{k}", d
        return
    if t is types.MethodType:
        yield ".__self__", obj.__self__
        yield ".__func__", obj.__func__
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for i, x in enumerate(obj):
            yield f"[{i}]", x
        return
    if isinstance(obj, dict):
        for k, x in obj.items():
            yield f"[{k!r}]", x
        return
    if isinstance(obj, type):
        if not _by_reference(obj):
            for k, x in list(obj.__dict__.items()):
                yield f".{k}", x
        return
    try:
        state = obj.__reduce_ex__(PROTOCOL)
    except Exception:
        return
    if not isinstance(state, tuple):
        return
    if len(state) > 1 and isinstance(state[1], tuple):
        for i, x in enumerate(state[1]):
            if x is not t:
                yield f".__reduce_ex__()[1][{i}]", x
    if len(state) > 2:
        st = state[2]
        if isinstance(st, tuple) and len(st) == 2:  # (dict, slots)
            st = {**(st[0] or {}), **(st[1] or {})}
        if isinstance(st, dict):
            for k, x in st.items():
                yield f".{k}", x


def _failing_part(obj):
    """``(path suffix, part, error)`` of the first part of ``obj`` that cannot be sent."""
    try:
        for suffix, part in _parts(obj):
            if part is obj:
                continue
            err = _fails(part)
            if err is not None:
                return suffix, part, err
    except Exception:
        return None
    return None
