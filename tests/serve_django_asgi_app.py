"""A one-file Django project behind Django's ASGI handler, with async views (asgiref
3.13 ends each request that ran a sync view by starting a daemon thread, which own-GIL
interpreters refuse)."""

from serve_django_settings import configure

configure(__name__)

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


async def hello(request):
    return HttpResponse("Hello from Django")


async def echo(request):
    return JsonResponse(
        {"method": request.method, "body": request.body.decode(), "q": request.GET.get("q")}
    )


async def whoami(request):
    import _interpreters

    return HttpResponse(str(_interpreters.get_current()[0]))


urlpatterns = [path("", hello), path("echo", echo), path("whoami", whoami)]

application = get_asgi_application()
