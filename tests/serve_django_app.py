"""A one-file Django project served by tests/test_serve_frameworks.py."""

from serve_django_settings import configure

configure(
    __name__,
    CACHES={
        # One cache for every worker interpreter (manygil), one per worker (Django's own).
        "default": {"BACKEND": "manygil.django.SharedCache", "LOCATION": "serve-test"},
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    },
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return HttpResponse("Hello from Django")


def echo(request):
    return JsonResponse(
        {"method": request.method, "body": request.body.decode(), "q": request.GET.get("q")}
    )


def now(request):
    from django.utils import timezone

    return HttpResponse(timezone.now().isoformat())


def whoami(request):
    import _interpreters

    return HttpResponse(str(_interpreters.get_current()[0]))


def count(request, alias):
    """Count this request in cache `alias`: "<interpreter id> <count>"."""
    import _interpreters

    from django.core.cache import caches

    cache = caches[alias]
    cache.add("hits", 0, timeout=None)
    return HttpResponse(f"{_interpreters.get_current()[0]} {cache.incr('hits')}")


urlpatterns = [
    path("", hello),
    path("echo", echo),
    path("now", now),
    path("whoami", whoami),
    path("count/<str:alias>", count),
]

application = get_wsgi_application()
