"""A one-file Django project served by tests/test_serve_frameworks.py."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

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


urlpatterns = [path("", hello), path("echo", echo), path("now", now), path("whoami", whoami)]

application = get_wsgi_application()
