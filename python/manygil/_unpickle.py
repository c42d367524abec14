"""The receiving side of :mod:`manygil._pickle`: what the codec calls to rebuild an object
that travelled by pickle, and the interpreter's cache of decoded functions.

Kept apart from the sending side so that an interpreter that only receives pickled
objects imports ``pickle`` alone, not cloudpickle (several MiB per interpreter): what
cloudpickle wrote imports cloudpickle by itself when it is loaded.
"""

from __future__ import annotations

import io
import pickle


class _Unpickler(pickle.Unpickler):
    """Resolves the persistent IDs of :class:`manygil._pickle._Pickler` (indices into the
    handles that travelled with the data) to this interpreter's handle objects."""

    def __init__(self, file, handles):
        super().__init__(file)
        self._handles = handles

    def persistent_load(self, pid):
        return self._handles[pid]


def loads(data: bytes, handles=(), key: int | None = None):
    """Decode what :func:`manygil._pickle.dumps` produced in any interpreter (``handles``
    are this interpreter's objects for the persistent IDs); remembers keyed objects."""
    if handles:
        obj = _Unpickler(io.BytesIO(data), handles).load()
    else:
        obj = pickle.loads(data)
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
