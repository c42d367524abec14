"""The Django application of the shared-cache benchmark (``bench/bench_serve_cache.py``):
one view whose result is cached, with the cache backend chosen by the environment.

``MANYGIL_BENCH_CACHE``: ``shared`` (``manygil.django.SharedCache``, one cache for every
worker interpreter), ``locmem`` (Django's per-process cache: one per worker interpreter
here, one per process under a process-based server) or ``redis`` (Django's ``RedisCache``
at ``MANYGIL_BENCH_REDIS_URL``).

Routes: ``/`` (ok, for readiness) and ``/item/<n>``: the cached value for key ``n``; on a
miss it is computed (pure-Python arithmetic, about 1-2 ms on one core) and stored. The
``X-Cache`` header says ``HIT`` or ``MISS``.
"""

import os

import django
from django.conf import settings
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path

# Room for every key (Django's default MAX_ENTRIES, 300, would evict and skew the hit rate).
ROOM = {"MAX_ENTRIES": 100_000}
BACKENDS = {
    "shared": {"BACKEND": "manygil.django.SharedCache", "LOCATION": "bench", "OPTIONS": ROOM},
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": ROOM},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("MANYGIL_BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    },
}

MISS_LOOPS = 20_000


def ok(request):
    return HttpResponse("ok")


def item(request, n):
    key = f"item:{n}"
    value = cache.get(key)
    hit = value is not None
    if not hit:
        total = 0
        for i in range(MISS_LOOPS):
            total += (i * n) % 7
        value = f"{n}:{total}"
        cache.set(key, value, 300)
    response = HttpResponse(value)
    response["X-Cache"] = "HIT" if hit else "MISS"
    return response


urlpatterns = [path("", ok), path("item/<int:n>", item)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    CACHES={"default": BACKENDS[os.environ.get("MANYGIL_BENCH_CACHE", "shared")]},
)
django.setup()
application = get_wsgi_application()
