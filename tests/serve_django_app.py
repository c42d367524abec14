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


urlpatterns = [path("", hello), path("echo", echo)]

application = get_wsgi_application()
