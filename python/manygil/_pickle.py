"""What the codec sends when it cannot copy an object natively: pickle protocol 5 through
cloudpickle, with every manygil handle as a persistent ID. (The receiving side, which needs
no cloudpickle, is :mod:`manygil._unpickle`.)

- **By reference** (module and name): functions and classes importable by name in a module
  other than ``__main__``; the receiver imports the module.
- **By value** (cloudpickle): functions, lambdas, closures and classes defined in
  ``__main__`` (a script, ``-c``, stdin, the REPL, IPython/Jupyter) or local to a function.
  Their code travels with the values of the globals they use and of their closure cells,
  *as they are when the function is sent* (snapshots, as in Dask and loky); modules stay
  references. The user's script is never run again in another interpreter.
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
  copy only.
"""

from __future__ import annotations

import io
import operator
import sys
import types
from hashlib import blake2b
from operator import is_ as _is

import cloudpickle

from . import _native

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


def _reduce_file(obj):
    """cloudpickle would copy a file open for reading into a StringIO: refuse instead
    (except the standard streams, which it sends as references)."""
    if obj is sys.stdout or obj is sys.stderr or obj is sys.stdin:
        return cloudpickle.cloudpickle._file_reduce(obj)
    raise TypeError(
        f"cannot send an open file ({getattr(obj, 'name', '?')!r}) to another interpreter"
    )


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler with manygil handles as persistent IDs (their index in
    ``handles``)."""

    dispatch_table = cloudpickle.Pickler.dispatch_table.new_child({io.TextIOWrapper: _reduce_file})

    def __init__(self, file):
        super().__init__(file, protocol=PROTOCOL)
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


def _dump(obj) -> tuple[bytes, tuple]:
    """``(pickle bytes, handles)``; raises NotShareableError naming what cannot be sent."""
    f = io.BytesIO()
    p = _Pickler(f)
    try:
        p.dump(obj)
    except Exception as e:
        raise _refusal(obj, e) from e
    return f.getvalue(), tuple(p.handles)


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


def _by_reference(obj) -> bool:
    try:
        return cloudpickle.cloudpickle._should_pickle_by_reference(obj)
    except Exception:
        return False


def _code_globals(code) -> list:
    try:
        return list(cloudpickle.cloudpickle._extract_code_globals(code))
    except Exception:
        names = list(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                names.extend(_code_globals(c))
        return names


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
            return _by_reference(v)
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
            contents = getattr(cell, "cell_contents", _MISSING)
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
    from ._errors import NotShareableError

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
        _Pickler(io.BytesIO()).dump(obj)
    except Exception as e:
        return e
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
            contents = getattr(cell, "cell_contents", _MISSING)
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
