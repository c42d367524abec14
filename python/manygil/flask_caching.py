"""Flask-Caching integration: ``manygil.flask_caching.SharedCache``, a cache backend shared
by every worker interpreter of ``manygil serve`` (Flask-Caching's ``SimpleCache`` would give
each worker its own)::

    app.config.update(
        CACHE_TYPE="manygil.flask_caching.SharedCache",
        CACHE_DEFAULT_TIMEOUT=300,          # 0: no expiry, as in Flask-Caching
        CACHE_THRESHOLD=10000,              # most entries kept (least recently used go)
        CACHE_MANYGIL_NAME="default",       # the shared cache's name
    )

Values are copied through manygil's codec; ``inc``/``dec`` are atomic across workers.
"""

from __future__ import annotations

from flask_caching.backends.base import BaseCache

from .cache import Cache

__all__ = ["SharedCache"]


class SharedCache(BaseCache):
    """A Flask-Caching backend on :class:`manygil.cache.Cache` (see the module docs)."""

    def __init__(
        self,
        name: str = "default",
        default_timeout: int = 300,
        threshold: int = 500,
        ignore_delete_many_errors: bool = False,
    ):
        super().__init__(default_timeout, ignore_delete_many_errors)
        self._cache = Cache(f"flask:{name}", max_entries=threshold, default_timeout=None)

    @classmethod
    def factory(cls, app, config, args, kwargs):
        kwargs.setdefault("name", config.get("CACHE_MANYGIL_NAME", "default"))
        kwargs.setdefault("default_timeout", config.get("CACHE_DEFAULT_TIMEOUT", 300))
        kwargs.setdefault("threshold", config.get("CACHE_THRESHOLD", 500))
        return cls(*args, **kwargs)

    def _ttl(self, timeout):
        """Flask-Caching's timeout (None: the default; 0: no expiry) as the cache's."""
        if timeout is None:
            timeout = self.default_timeout
        return None if timeout == 0 else max(0.0, float(timeout))

    def get(self, key):
        return self._cache.get(key)

    def set(self, key, value, timeout=None):
        self._cache.set(key, value, self._ttl(timeout))
        return True

    def add(self, key, value, timeout=None):
        return self._cache.add(key, value, self._ttl(timeout))

    def delete(self, key):
        return self._cache.delete(key)

    def has(self, key):
        return key in self._cache

    def clear(self):
        self._cache.clear()
        return True

    def inc(self, key, delta=1):
        """Add ``delta`` atomically (a missing key starts from 0, as Flask-Caching does)."""
        while True:
            try:
                return self._cache.incr(key, delta)
            except KeyError:
                if self._cache.add(key, delta, self._ttl(None)):
                    return delta

    def dec(self, key, delta=1):
        return self.inc(key, -delta)
