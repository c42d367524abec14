"""Flask and Django applications served by ``manygil serve`` through real HTTP."""

from __future__ import annotations

import concurrent.futures
import datetime
import json

import pytest
from waiting import run_threads

pytest.importorskip("flask")
pytest.importorskip("django")


def test_flask_routes_json_errors_and_concurrency(served):
    s = served("--workers", "2", "--threads", "2", app="serve_flask_app:app")
    assert s.get("/") == (200, b"Hello, World!")
    status, headers, body = s.request(
        "POST", "/json", body=json.dumps([1, 2, 3]), headers={"Content-Type": "application/json"}
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"received": [1, 2, 3], "n": 3}
    assert s.get("/missing")[0] == 404
    assert s.get("/error")[0] == 500
    # A bounded burst from several clients at once: every answer correct.
    results = []

    def client():
        c = s.conn()
        for _ in range(20):
            c.request("GET", "/cpu?n=2000")
            r = c.getresponse()
            results.append((r.status, json.loads(r.read())["total"]))
        c.close()

    run_threads(client, 4)
    expected = sum(i * i % 7 for i in range(2000))
    assert results == [(200, expected)] * 80
    assert s.stop() == 0
    assert "RuntimeError: flask route failed" in s.err


def test_django_routes_and_request_bodies(served):
    s = served("--workers", "2", app="serve_django_app:application")
    assert s.get("/") == (200, b"Hello from Django")
    status, _, body = s.request(
        "POST",
        "/echo?q=search",
        body=b"a=1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert json.loads(body) == {"method": "POST", "body": "a=1&b=2", "q": "search"}
    assert s.get("/nope")[0] == 404
    status, body = s.get("/now")
    assert status == 200 and datetime.datetime.fromisoformat(body.decode()).tzinfo is not None


def test_django_shared_cache_is_one_cache_for_every_worker(served):
    # manygil.django.SharedCache: every worker counts in the same cache, so 40 requests
    # spread over 2 workers count 1..40 (incr is atomic across interpreters); Django's
    # locmem cache gives each worker its own count (issue 22, item 2).
    s = served("--workers", "2", "--threads", "2", app="serve_django_app:application")

    def hammer(alias):
        out = []
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for status, body in ex.map(lambda _: s.get(f"/count/{alias}"), range(40)):
                assert status == 200, body
                interp, n = body.decode().split()
                out.append((interp, int(n)))
        return out

    shared = hammer("default")
    assert sorted(n for _, n in shared) == list(range(1, 41))
    local = hammer("local")
    if len({i for i, _ in local}) > 1:  # both workers answered: each counted on its own
        assert max(n for _, n in local) < 40
    assert s.stop() == 0


@pytest.mark.parametrize("app", ["serve_flask_app:app", "serve_django_app:application"])
def test_framework_workers_are_recycled_and_stopped(served, app):
    """Workers that imported the framework (and datetime) end while others still hold it:
    on recycling and at stop. CPython 3.13 crashed there until manygil made the main
    interpreter import _datetime first (interp/datetime_guard.rs); the fixture checks the
    exit status."""
    s = served("--workers", "2", "--max-requests-per-worker", "3", app=app)
    ids = []
    for _ in range(12):
        status, body = s.get("/whoami")
        assert status == 200
        ids.append(int(body))
    # No worker answers more than 3 requests, so 12 answers came from at least 4.
    assert max(ids.count(i) for i in ids) <= 3 and len(set(ids)) >= 4, ids
