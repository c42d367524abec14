"""``manygil.cache.Cache``: one cache for every interpreter of the process (issue 22, item 2)."""

from __future__ import annotations

import socket
import uuid

import manygil
import pytest
from manygil.cache import DEFAULT, Cache


def _name():
    return f"test-{uuid.uuid4().hex}"


def _open_and_set(name, key, value):
    from manygil.cache import Cache

    Cache(name).set(key, value)


def _open_and_get(name, key):
    from manygil.cache import Cache

    return Cache(name).get(key, "missing")


def _bump(name, times):
    from manygil.cache import Cache

    c = Cache(name)
    for _ in range(times):
        c.incr("n")


def test_every_interpreter_opening_a_name_shares_one_cache(two_interps):
    a, b = two_interps
    name = _name()
    a.call(_open_and_set, name, "k", {"from": "a", "items": [1, 2]})
    assert b.call(_open_and_get, name, "k") == {"from": "a", "items": [1, 2]}
    assert Cache(name).get("k") == {"from": "a", "items": [1, 2]}
    assert b.call(_open_and_get, _name(), "k") == "missing", "another name, another cache"


def test_incr_is_atomic_across_workers():
    name = _name()
    c = Cache(name)
    c.set("n", 0)
    with manygil.Pool(2) as pool:
        list(pool.map(_bump, [name] * 8, [500] * 8))
    assert c.get("n") == 4000
    assert c.decr("n", 1000) == 3000


def test_get_returns_a_new_copy_each_time():
    c = Cache(_name())
    c.set("list", [1, 2])
    got = c.get("list")
    got.append(3)
    assert c.get("list") == [1, 2]
    assert c.get("list") is not c.get("list")


def test_timeouts_default_none_and_touch():
    c = Cache(_name(), default_timeout=0)
    c.set("default", 1)  # the cache's default: expired at once
    c.set("forever", 2, timeout=None)
    c.set("hour", 3, timeout=3600)
    assert c.get("default") is None and c.get("forever") == 2 and c.get("hour") == 3
    assert c.touch("hour", timeout=0) and c.get("hour") is None
    assert not c.touch("hour")
    assert c.add("x", 1, timeout=-5) and c.get("x") is None, "negative: expired at once"
    assert "forever" in c and "x" not in c


def test_add_get_or_set_and_many():
    c = Cache(_name())
    assert c.add("k", 1) and not c.add("k", 2) and c.get("k") == 1
    assert c.get_or_set("g", lambda: "made") == "made" and c.get_or_set("g", "other") == "made"
    c.set_many({"a": 1, "b": 2}, timeout=DEFAULT)
    assert c.get_many(["a", "b", "zz"]) == {"a": 1, "b": 2}
    c.delete_many(["a", "b"])
    assert c.get_many(["a", "b"]) == {}
    assert c.delete("k") and not c.delete("k")
    c.clear()
    assert c.stats()["entries"] == 0


def test_the_bound_evicts_the_least_recently_used():
    c = Cache(_name(), max_entries=3)
    for k in "abc":
        c.set(k, k)
    c.get("a")  # "b" is now the least recently used
    c.set("d", "d")
    assert [k in c for k in "abcd"] == [True, False, True, True]
    s = c.stats()
    assert (s["entries"], s["evictions"], s["max_entries"]) == (3, 1, 3)


def test_handles_stored_in_the_cache_stay_the_same_objects():
    c = Cache(_name())
    q = manygil.Queue()
    c.set("q", {"queue": q})
    with manygil.create() as it:
        it.call(_put_through_cache, c.name)
    assert q.get(timeout=5) == "via the cache"


def _put_through_cache(name):
    from manygil.cache import Cache

    Cache(name).get("q")["queue"].put("via the cache")


def test_bad_input_is_refused_naming_it():
    name = _name()
    c = Cache(name, max_entries=10)
    with pytest.raises(TypeError, match="key must be a str"):
        c.set(1, "x")
    with pytest.raises(KeyError, match="no live entry"):
        c.incr("missing")
    c.set("s", "text")
    with pytest.raises(TypeError, match="not an int"):
        c.incr("s")
    c.set("big", 2**63 - 1)
    with pytest.raises(OverflowError):
        c.incr("big")
    with pytest.raises(ValueError, match="max_entries=10"):
        Cache(name, max_entries=20)
    with pytest.raises(ValueError, match="at least 1"):
        Cache(_name(), max_entries=0)
    with pytest.raises(ValueError, match="non-negative"):
        Cache(_name(), default_timeout=float("nan"))
    with socket.socket() as s, pytest.raises(manygil.NotShareableError, match="socket"):
        c.set("sock", s)
    assert "sock" not in c


def test_reachable_as_manygil_serve_cache():
    from manygil.serve import cache

    assert cache.Cache is Cache


def test_django_backend_follows_djangos_contract():
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from manygil.django import SharedCache

    c = SharedCache(_name(), {"TIMEOUT": 300, "OPTIONS": {"MAX_ENTRIES": 50}})
    c.set("k", {"v": 1})
    assert c.get("k") == {"v": 1} and c.has_key("k")
    assert c.add("n", 1) and c.incr("n", 5) == 6 and c.decr("n") == 5
    with pytest.raises(ValueError, match="not found"):
        c.incr("nope")
    c.set("gone", 1, timeout=0)
    assert c.get("gone", "default") == "default"
    assert c.touch("k", None) and c.delete("k") and not c.has_key("k")
    c.set_many({"a": 1, "b": 2})
    assert c.get_many(["a", "b"]) == {"a": 1, "b": 2}
    c.clear()
    assert c.get("a") is None


def test_flask_caching_backend_is_shared_and_atomic():
    flask = pytest.importorskip("flask")
    flask_caching = pytest.importorskip("flask_caching")
    app = flask.Flask("t")
    name = _name()
    app.config.update(
        CACHE_TYPE="manygil.flask_caching.SharedCache",
        CACHE_DEFAULT_TIMEOUT=0,
        CACHE_THRESHOLD=100,
        CACHE_MANYGIL_NAME=name,
    )
    cache = flask_caching.Cache(app)
    from manygil.flask_caching import SharedCache

    with app.app_context():
        cache.set("k", [1, 2])
        assert cache.get("k") == [1, 2] and cache.has("k")
        backend = cache.cache
        assert isinstance(backend, SharedCache)
        assert backend.inc("hits") == 1 and backend.inc("hits", 4) == 5 and backend.dec("hits") == 4
        assert cache.add("k", "other") is False
        assert cache.delete("k") and cache.get("k") is None
    # The same entries seen through manygil.cache under the backend's name.
    assert Cache(f"flask:{name}", max_entries=100, default_timeout=None).get("hits") == 4
