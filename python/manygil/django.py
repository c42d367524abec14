"""Django integration: ``manygil.django.SharedCache``, a cache backend shared by every
worker interpreter of ``manygil serve`` (or of a ``Pool``), where Django's ``locmem``
backend would give each worker its own cache::

    CACHES = {
        "default": {
            "BACKEND": "manygil.django.SharedCache",
            "LOCATION": "default",            # the shared cache's name
            "TIMEOUT": 300,                   # as for every Django backend
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

Keys are made and validated as Django's other backends do (``KEY_PREFIX``, ``VERSION``,
``KEY_FUNCTION``); values are copied through manygil's codec (no pickling for plain data).
``incr`` is atomic across workers. Entries past ``MAX_ENTRIES`` are evicted least recently
used first (``CULL_FREQUENCY`` does not apply).
"""

from __future__ import annotations

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from .cache import Cache

__all__ = ["SharedCache"]


class SharedCache(BaseCache):
    """A Django cache backend on :class:`manygil.cache.Cache` (see the module docs)."""

    def __init__(self, name, params):
        super().__init__(params)
        self._cache = Cache(
            f"django:{name or 'default'}", max_entries=self._max_entries, default_timeout=None
        )

    def _ttl(self, timeout):
        """Django's timeout (DEFAULT_TIMEOUT, None = forever, seconds) as the cache's."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else max(0.0, float(timeout))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        return self._cache.add(key, value, self._ttl(timeout))

    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        return self._cache.get(key, default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        self._cache.set(key, value, self._ttl(timeout))

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        return self._cache.touch(key, self._ttl(timeout))

    def delete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        return self._cache.delete(key)

    def has_key(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        return key in self._cache

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        try:
            return self._cache.incr(key, delta)
        except KeyError:
            raise ValueError(f"Key '{key}' not found") from None

    def clear(self):
        self._cache.clear()
