"""The settings of the one-file Django projects served by the tests."""

import django
from django.conf import settings


def configure(urlconf: str, **extra) -> None:
    """Configure Django with the URLs of module ``urlconf`` (and ``extra`` settings) and
    set it up."""
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only",
        ROOT_URLCONF=urlconf,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
        **extra,
    )
    django.setup()
