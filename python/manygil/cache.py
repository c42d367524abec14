"""``manygil.cache.Cache`` (also ``manygil.serve.cache``): a key-value cache shared by every
interpreter of the process — every worker of a ``Pool`` or of ``manygil serve``.

A process-based server needs Redis or memcached for this (a per-process ``locmem`` cache
disagrees between workers); here the cache lives in Rust memory the workers share. Values
are copied through manygil's codec: ``set`` stores a copy, each ``get`` returns a new
object, so no interpreter ever shares a mutable object with another. Keys are ``str``.

Opening ``Cache(name)`` in any interpreter gives the same cache; it lives as long as the
process. Every operation takes one short lock and never blocks on anything else.
Backends for frameworks: ``manygil.django.SharedCache`` (Django) and
``manygil.flask_caching.SharedCache`` (Flask-Caching).
"""

from __future__ import annotations

from . import _native

__all__ = ["Cache", "DEFAULT"]


class _Default:
    def __repr__(self):
        return "DEFAULT"


#: ``timeout=DEFAULT``: the cache's ``default_timeout``.
DEFAULT = _Default()


def _ttl(timeout):
    """The native timeout: None = the cache's default, inf = forever, else seconds."""
    if timeout is DEFAULT:
        return None
    if timeout is None:
        return float("inf")
    return max(0.0, float(timeout))


class Cache:
    """The process-wide cache called ``name``, made on first use with at most
    ``max_entries`` entries (the least recently used go first) whose entries live
    ``default_timeout`` seconds unless set with their own (``None``: until evicted).

    Raises ValueError if a cache of that name exists with other settings, or for
    ``max_entries`` < 1. A ``timeout`` argument is seconds (0 or less: expired at once),
    ``None`` for no expiry, or ``DEFAULT``. Storing a value that cannot be sent to another
    interpreter (a socket, a generator...) raises NotShareableError naming it.
    """

    __slots__ = ("_core", "name")

    def __init__(self, name: str = "default", *, max_entries: int = 1024, default_timeout=300.0):
        self.name = name
        self._core = _native.CacheCore(
            name, max_entries, float("inf") if default_timeout is None else default_timeout
        )

    def get(self, key: str, default=None):
        """A new copy of the value under ``key``, or ``default`` if none is live."""
        return self._core.get(key, default)

    def set(self, key: str, value, timeout=DEFAULT) -> None:
        """Store a copy of ``value`` under ``key``."""
        self._core.set(key, value, _ttl(timeout))

    def add(self, key: str, value, timeout=DEFAULT) -> bool:
        """:meth:`set` only if ``key`` has no live entry; returns whether it stored."""
        return self._core.add(key, value, _ttl(timeout))

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether a live entry was there."""
        return self._core.delete(key)

    def touch(self, key: str, timeout=DEFAULT) -> bool:
        """Give the live entry under ``key`` a new timeout; returns whether there was one."""
        return self._core.touch(key, _ttl(timeout))

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the int under ``key`` atomically (across every interpreter) and
        return the new value. KeyError if there is no live entry, TypeError if it is not an
        int of at most 64 bits, OverflowError if the sum is not."""
        return self._core.incr(key, delta)

    def decr(self, key: str, delta: int = 1) -> int:
        """``incr(key, -delta)``."""
        return self._core.incr(key, -delta)

    def get_or_set(self, key: str, default, timeout=DEFAULT):
        """The value under ``key``; if none is live, ``default`` (called first if callable)
        is stored and returned (another interpreter's concurrent store wins)."""
        missing = _MISSING
        value = self._core.get(key, missing)
        if value is not missing:
            return value
        value = default() if callable(default) else default
        if self._core.add(key, value, _ttl(timeout)):
            return value
        found = self._core.get(key, missing)
        return value if found is missing else found

    def get_many(self, keys) -> dict:
        """``{key: value}`` for the keys with a live entry."""
        missing = _MISSING
        out = {}
        for k in keys:
            v = self._core.get(k, missing)
            if v is not missing:
                out[k] = v
        return out

    def set_many(self, mapping: dict, timeout=DEFAULT) -> None:
        ttl = _ttl(timeout)
        for k, v in mapping.items():
            self._core.set(k, v, ttl)

    def delete_many(self, keys) -> None:
        for k in keys:
            self._core.delete(k)

    def clear(self) -> None:
        """Remove every entry (for every interpreter)."""
        self._core.clear()

    def __contains__(self, key: str) -> bool:
        return self._core.get(key, _MISSING) is not _MISSING

    def stats(self) -> dict:
        """``{"entries", "hits", "misses", "evictions", "max_entries"}``, a snapshot."""
        entries, hits, misses, evictions, max_entries = self._core.stats()
        return {
            "entries": entries,
            "hits": hits,
            "misses": misses,
            "evictions": evictions,
            "max_entries": max_entries,
        }

    def __repr__(self):
        return f"<manygil.cache.Cache {self.name!r} {self.stats()}>"


class _Missing:
    pass


_MISSING = _Missing()
