"""Pickle (protocol 5) as the codec's fallback, with ``__main__`` meaning the main script.

In every interpreter, a class pickled as ``__main__.X`` is looked up first in the
interpreter's own ``__main__``, then in the main script loaded as ``__mp_main__``; in the
main interpreter ``__mp_main__.X`` (sent back by a worker) means ``__main__.X``.
"""

from __future__ import annotations

import io
import pickle

PROTOCOL = 5


def dumps(obj) -> bytes:
    """Pickle ``obj``; raises whatever pickle raises for unpicklable objects."""
    return pickle.dumps(obj, PROTOCOL)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in ("__main__", "__mp_main__"):
            from ._mainscript import find_in_main

            return find_in_main(name)
        return super().find_class(module, name)


def loads(data: bytes):
    """Unpickle ``data`` produced by :func:`dumps` in any interpreter."""
    return _Unpickler(io.BytesIO(data)).load()
